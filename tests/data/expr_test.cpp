#include <gtest/gtest.h>

#include <cmath>

#include "data/expr.hpp"

namespace mlaas::data {
namespace {

// Three events: jets (pt) with 2, 0 and 3 objects; MET per event; muons with 1, 1, 0.
Chunk makeChunk() {
  Chunk chunk;
  chunk.entries = 3;
  auto jets = std::make_shared<Offsets>(Offsets{0, 2, 2, 5});
  auto muons = std::make_shared<Offsets>(Offsets{0, 1, 2, 2});
  chunk.arrays["Jet_pt"] = Array{{50, 20, 10, 40, 35}, jets};
  chunk.arrays["Jet_eta"] = Array{{0.5, -1.0, 2.0, 0.1, -0.3}, jets};
  chunk.arrays["Jet_id"] = Array{{1, 0, 1, 1, 0}, jets};
  chunk.arrays["Muon_pt"] = Array{{25, 5}, muons};
  chunk.arrays["MET_pt"] = Array{{30, 10, 25}, nullptr};
  chunk.arrays["nJet"] = Array{{2, 0, 3}, nullptr};
  return chunk;
}

Schema makeSchema() {
  return {{"Jet_pt", {ValueKind::number, "nJet"}},  {"Jet_eta", {ValueKind::number, "nJet"}},
          {"Jet_id", {ValueKind::boolean, "nJet"}}, {"Muon_pt", {ValueKind::number, "nMuon"}},
          {"MET_pt", {ValueKind::number, ""}},      {"nJet", {ValueKind::number, ""}}};
}

std::vector<double> eval(const std::string& text) {
  auto expression = Expression::compile(text, makeSchema());
  auto result = expression.evaluate(makeChunk());
  EXPECT_TRUE(result.hasValue()) << (result ? "" : result.error().message);
  return result ? result->values : std::vector<double>{};
}

std::string compileError(const std::string& text) {
  try {
    (void)Expression::compile(text, makeSchema());
  } catch (const core::Exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(Expr, SelectionOverFlatAndAggregates) {
  auto expression = Expression::compile("nJet >= 2 && MET_pt > 20 && count(Jet_pt > 30) >= 1", makeSchema());
  EXPECT_EQ(expression.type(), (ExprType{ValueKind::boolean, ""}));
  EXPECT_EQ(expression.inputs(), (std::vector<std::string>{"Jet_pt", "MET_pt", "nJet"}));
  EXPECT_EQ(expression.evaluate(makeChunk())->values, (std::vector<double>{1, 0, 1}));
}

TEST(Expr, Aggregates) {
  EXPECT_EQ(eval("sum(Jet_pt)"), (std::vector<double>{70, 0, 85}));
  EXPECT_EQ(eval("len(Jet_pt)"), (std::vector<double>{2, 0, 3}));
  EXPECT_EQ(eval("count(Jet_id)"), (std::vector<double>{1, 0, 2}));
  EXPECT_EQ(eval("any(Jet_pt > 45)"), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(eval("all(Jet_pt > 15)"), (std::vector<double>{1, 1, 0}));  // all() of nothing is true
  auto maxima = eval("max(Jet_pt)");
  EXPECT_EQ(maxima[0], 50);
  EXPECT_TRUE(std::isnan(maxima[1]));
  EXPECT_EQ(maxima[2], 40);
  auto minima = eval("min(Jet_eta)");
  EXPECT_EQ(minima[0], -1.0);
  EXPECT_EQ(minima[2], -0.3);
  auto means = eval("mean(Jet_pt)");
  EXPECT_DOUBLE_EQ(means[0], 35);
  EXPECT_TRUE(std::isnan(means[1]));
  EXPECT_DOUBLE_EQ(means[2], 85.0 / 3);
}

TEST(Expr, PerObjectArithmeticBroadcastsEventValues) {
  auto expression = Expression::compile("Jet_pt / MET_pt", makeSchema());
  EXPECT_EQ(expression.type().list, "nJet");
  auto result = expression.evaluate(makeChunk());
  ASSERT_TRUE(result.hasValue());
  EXPECT_EQ(result->values, (std::vector<double>{50.0 / 30, 20.0 / 30, 10.0 / 25, 40.0 / 25, 35.0 / 25}));
  EXPECT_EQ(*result->offsets, (Offsets{0, 2, 2, 5}));
}

TEST(Expr, PrecedenceAndFunctions) {
  EXPECT_EQ(eval("1 + 2 * 3 - 4 / 2 + 0 * MET_pt"), (std::vector<double>{5, 5, 5}));
  EXPECT_EQ(eval("-2 ** 2 + 0 * nJet"), (std::vector<double>{-4, -4, -4}));
  EXPECT_EQ(eval("2 ** 3 ** 2 + 0 * nJet"), (std::vector<double>{512, 512, 512}));
  EXPECT_EQ(eval("(1 + 2) * nJet"), (std::vector<double>{6, 0, 9}));
  EXPECT_EQ(eval("max(nJet, 1)"), (std::vector<double>{2, 1, 3}));
  EXPECT_EQ(eval("hypot(3, 4) + 0 * nJet"), (std::vector<double>{5, 5, 5}));
  EXPECT_EQ(eval("where(nJet > 0, MET_pt, -1)"), (std::vector<double>{30, -1, 25}));
  EXPECT_EQ(eval("not (nJet > 0) or MET_pt == 25"), (std::vector<double>{0, 1, 1}));
  auto first = eval("Jet_pt[1]");
  EXPECT_EQ(first[0], 20);
  EXPECT_TRUE(std::isnan(first[1]));
  EXPECT_EQ(first[2], 40);
  EXPECT_EQ(eval("sum(where(Jet_id, Jet_pt, 0))"), (std::vector<double>{50, 0, 50}));
  EXPECT_EQ(eval("1e1 + .5 + 0 * nJet"), (std::vector<double>{10.5, 10.5, 10.5}));
}

TEST(Expr, TypeErrorsArePrecise) {
  EXPECT_EQ(compileError("Jet_ptt > 3"), "column 1: unknown name 'Jet_ptt' (did you mean 'Jet_pt'?)");
  EXPECT_EQ(compileError("Jet_pt + Muon_pt"),
            "column 8: cannot combine objects of different lists: 'Jet_pt' (number per object of 'nJet') and 'Muon_pt' "
            "(number per object of 'nMuon')");
  EXPECT_EQ(compileError("nJet && MET_pt > 3"),
            "column 1: '&&' needs a boolean (a comparison such as x > 0), got 'nJet' (number)");
  EXPECT_EQ(
      compileError("count(Jet_pt)"),
      "column 7: count() needs a boolean (a comparison such as x > 0), got 'Jet_pt' (number per object of 'nJet')");
  EXPECT_EQ(compileError("sum(MET_pt)"), "column 5: sum() aggregates a per-object value, got 'MET_pt' (number)");
  EXPECT_EQ(compileError("foo(nJet)"), "column 1: unknown function 'foo'");
  EXPECT_EQ(compileError("atan2(nJet)"), "column 1: atan2() takes 2 arguments, got 1");
  EXPECT_EQ(compileError("MET_pt[0]"), "column 7: indexing needs a per-object value, got 'MET_pt' (number)");
}

TEST(Expr, SyntaxErrorsArePrecise) {
  EXPECT_EQ(compileError("nJet >= "), "column 9: expected a value, got end of expression");
  EXPECT_EQ(compileError("(nJet > 1"), "column 10: expected ')' to close '(' at column 1, got end of expression");
  EXPECT_EQ(compileError("nJet = 2"), "column 6: unexpected '=' (use '==' to compare)");
  EXPECT_EQ(compileError("nJet > 2 MET_pt"), "column 10: unexpected 'MET_pt' after a complete expression");
  EXPECT_EQ(compileError("nJet $ 2"), "column 6: unexpected character '$'");
  EXPECT_EQ(compileError("Jet_pt[-1]"), "column 8: expected a non-negative integer index, got '-'");
  EXPECT_EQ(compileError("3abc"), "column 2: unexpected 'a' after number '3'");
  EXPECT_EQ(compileError(""), "column 1: expected a value, got end of expression");
  EXPECT_NE(compileError(std::string(100000, '(')).find("expression"), std::string::npos);
}

TEST(Expr, DeepNestingIsRejectedNotOverflowed) {
  std::string deep = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(compileError(deep).find("nested too deeply"), std::string::npos);
  std::string negations(5000, '-');
  EXPECT_NE(compileError(negations + "1").find("nested too deeply"), std::string::npos);
}

TEST(Expr, MismatchedListsAtRuntimeFailCleanly) {
  Schema schema{{"a", {ValueKind::number, "n"}}, {"b", {ValueKind::number, "n"}}};
  auto expression = Expression::compile("a + b", schema);
  Chunk chunk;
  chunk.entries = 2;
  chunk.arrays["a"] = Array{{1, 2, 3}, std::make_shared<Offsets>(Offsets{0, 1, 3})};
  chunk.arrays["b"] = Array{{1, 2, 3}, std::make_shared<Offsets>(Offsets{0, 2, 3})};
  auto result = expression.evaluate(chunk);
  ASSERT_FALSE(result.hasValue());
  EXPECT_EQ(result.error().message,
            "column 3: per-object operands have different lengths in event 0 of the chunk (1 and 2)");
  chunk.arrays.erase("b");
  result = expression.evaluate(chunk);
  ASSERT_FALSE(result.hasValue());
  EXPECT_EQ(result.error().message, "missing input 'b'");
}

}  // namespace
}  // namespace mlaas::data
