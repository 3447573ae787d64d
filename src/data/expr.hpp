// The expression language of dataset configs: selections and new variables.
//
//   nJet >= 2 && MET_pt > 20 && count(Jet_pt > 30) >= 1
//   Jet_ptRel = Jet_pt / sum(Jet_pt)            (a per-object variable)
//
// Grammar (lowest precedence first): `a || b` (also `or`), `a && b` (`and`), `== !=`,
// `< <= > >=`, `+ -`, `* / %`, unary `- !` (`not`), `a ** b` (right-associative), postfix
// `x[k]` (k a non-negative integer literal: the k-th object, NaN when absent), calls `f(a, ...)`,
// parentheses, numbers, `true`/`false`, identifiers (branch or variable names; letters, digits,
// `_` and `.`).
//
// Types are checked once, when an expression is compiled against a Schema: every value is a
// number or a boolean, and either event-level (one per event) or object-level (a list per event,
// belonging to one named list, e.g. the jets counted by nJet). Element-wise operations need
// operands of the same list or an event-level operand (which is broadcast). Booleans promote to
// numbers in arithmetic; numbers never silently become booleans (`&&`, `!`, count, any, all and a
// selection need booleans, i.e. comparisons).
//
// Functions:
//   aggregates over a list -> event level: count(bool), any(bool), all(bool), len(x),
//     sum(x), mean(x), min(x), max(x)   (min/max/mean of an empty list are NaN)
//   element-wise, one argument: abs sqrt exp log log10 sin cos tan asin acos atan sinh cosh tanh
//     asinh acosh atanh floor ceil round
//   element-wise, two arguments: atan2 pow hypot fmod, min(a, b), max(a, b)
//   where(cond, a, b): a where cond is true, else b
//
// A compiled Expression is immutable and may be evaluated from several threads at once.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "data/array.hpp"

namespace mlaas::data {

enum class ValueKind : std::uint8_t { number, boolean };

struct ExprType {
  ValueKind kind = ValueKind::number;
  /// Empty for event-level values; otherwise the list the value belongs to (e.g. "nJet").
  std::string list;

  [[nodiscard]] bool isObject() const noexcept { return !list.empty(); }
  friend bool operator==(const ExprType&, const ExprType&) = default;
};

/// "number", "boolean", "number per object of nJet", ...
std::string describe(const ExprType& type);

/// What identifiers mean: name -> type. Built from the tree's branches and earlier variables.
using Schema = std::map<std::string, ExprType, std::less<>>;

struct ExprNode;  // the compiled program (internal)

class Expression {
 public:
  /// Parses and type-checks `text`. Throws core::Exception(invalid_argument) whose message names
  /// the 1-based column and what was expected, e.g. "column 9: unknown name 'Jet_ptt'".
  static Expression compile(std::string_view text, const Schema& schema);
  /// Parses only (no names resolved): for syntax checks before any file is opened. Same errors.
  static void checkSyntax(std::string_view text);

  [[nodiscard]] const ExprType& type() const noexcept { return type_; }
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  /// Every identifier the expression reads, sorted, without duplicates.
  [[nodiscard]] const std::vector<std::string>& inputs() const noexcept { return inputs_; }

  /// Evaluates over a chunk whose arrays hold every input. Fails (never throws) when an input is
  /// missing or when two lists that should match have different lengths in some event.
  [[nodiscard]] core::Result<Array> evaluate(const Chunk& chunk) const;

 private:
  std::string text_;
  ExprType type_;
  std::vector<std::string> inputs_;
  std::shared_ptr<const ExprNode> root_;
};

}  // namespace mlaas::data
