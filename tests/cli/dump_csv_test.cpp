// `mlaas dump --format csv` on corpus files: strings and NaN come out as plain CSV fields, the
// values JSROOT reads (testdata/expected*/), not their JSON spelling.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace mlaas::test;
using nlohmann::json;

namespace {

CommandResult dumpCsv(const std::string& file, std::vector<std::string> extra) {
  std::vector<std::string> args{mlaasBinary().string(), "dump", corpusFile(file).string(), "--format", "csv"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run(args);
}

// The CSV a reader of the values JSROOT gives expects: "entry,<name>" then "<entry>,<text>".
std::string expectedCsv(const std::string& name, const json& values, std::size_t count) {
  std::string out = "entry," + name + "\n";
  for (std::size_t e = 0; e < count; ++e) out += std::to_string(e) + "," + values.at(e).get<std::string>() + "\n";
  return out;
}

}  // namespace

TEST(CliDumpCsv, RNTupleStringsArePlainFields) {
  MLAAS_REQUIRE_CORPUS();
  const auto expected =
      json::parse(readFile(*testdataDir() / "expected-rntuple/ntpl001_staff_rntuple_v1-0-0-0.json.gz"));
  const auto& values = expected.at("Staff").at("fields").at("Nation").at("values");
  auto r =
      dumpCsv("ntpl001_staff_rntuple_v1-0-0-0.root", {"--tree", "Staff", "--branches", "Nation", "--entries", "0:3"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, expectedCsv("Nation", values, 3));
  EXPECT_EQ(r.out.find('"'), std::string::npos) << r.out;  // country codes need no quoting
}

TEST(CliDumpCsv, NaNIsAPlainField) {
  MLAAS_REQUIRE_CORPUS();
  const auto expected = json::parse(readFile(*testdataDir() / "expected/nanoAOD_2015_CMS_Open_Data_ttbar.json.gz"));
  const auto& values = expected.at("Events").at("branches").at("HTXS_Higgs_y").at("values");
  ASSERT_EQ(values.at(0), "nan");  // JSROOT writes NaN as the string "nan"
  auto r = dumpCsv("nanoAOD_2015_CMS_Open_Data_ttbar.root",
                   {"--tree", "Events", "--branches", "HTXS_Higgs_y", "--entries", "0:3"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, expectedCsv("HTXS_Higgs_y", values, 3));
}
