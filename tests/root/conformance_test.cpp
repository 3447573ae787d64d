// Conformance: every branch JSROOT read from every TTree file of the corpus (expected/*.json.gz)
// is read by us with identical values (float32 compared as float32, 64-bit integers above 2^53
// loosely, since JavaScript cannot hold them exactly).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "root/dump.hpp"
#include "root/tree.hpp"
#include "jsroot_compare.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

using nlohmann::json;

std::vector<std::string> expectedFiles() {
  std::vector<std::string> out;
  const auto dir = test::testdataDir();
  if (!dir) return {"(corpus absent)"};
  for (const auto& entry : std::filesystem::directory_iterator(*dir / "expected")) {
    const auto name = entry.path().filename().string();
    if (name.size() > 8 && name.ends_with(".json.gz")) out.push_back(name.substr(0, name.size() - 8));
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool allNull(const json& values) {
  for (const auto& v : values)
    if (!v.is_null()) return false;
  return true;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, EveryBranchJsrootReadMatches) {
  MLAAS_REQUIRE_CORPUS();
  const auto name = GetParam();
  const auto expected = json::parse(test::readFile(*test::testdataDir() / "expected" / (name + ".json.gz")));
  const auto file = File::open(test::corpusFile(name + ".root").string());
  std::size_t compared = 0, unsupported = 0, values = 0;
  std::set<std::string> reasons;
  for (const auto& [treePath, treeJson] : expected.items()) {
    Tree tree = [&] {
      try {
        return file->tree(treePath);
      } catch (const core::Exception& e) {
        ADD_FAILURE() << "tree " << treePath << ": " << e.what();
        throw;
      }
    }();
    EXPECT_EQ(tree.entries(), treeJson["entries"].get<std::uint64_t>()) << treePath;
    for (const auto& [branchName, b] : treeJson["branches"].items()) {
      const auto* info = tree.branch(branchName);
      // A std::map branch is two columns, keys and values; JSROOT gives each entry's pairs (as
      // nulls: its objects are not plain values), so both must have that many items per entry.
      std::vector<std::string> columns{branchName};
      if (!info && tree.branch(branchName + ".first")) {
        info = tree.branch(branchName + ".first");
        columns = {branchName + ".first", branchName + ".second"};
      }
      if (!b.contains("values") || allNull(b["values"])) continue;  // JSROOT's own limit
      ASSERT_NE(info, nullptr) << treePath << ": we do not list branch " << branchName;
      EXPECT_EQ(info->title, b["title"].get<std::string>()) << branchName;
      EXPECT_EQ(info->className, b["class"].get<std::string>()) << branchName;
      EXPECT_EQ(info->leafClass, b["leaf"].get<std::string>()) << branchName;
      if (!info->supported) {
        ++unsupported;
        reasons.insert(branchName + " (" + info->unsupportedReason + ")");
        continue;
      }
      for (const auto& columnName : columns) {
        Column col;
        try {
          col = tree.read(columnName, {0, tree.entries()});
        } catch (const core::Exception& e) {
          ADD_FAILURE() << treePath << "/" << columnName << ": " << e.what();
          continue;
        }
        const auto& ev = b["values"];
        ASSERT_EQ(col.entries, ev.size()) << branchName;
        std::string first;
        for (std::size_t i = 0; i < ev.size() && first.empty(); ++i) {
          std::string ours;
          appendEntryJson(col, i, ours);
          json oj;
          try {
            oj = json::parse(ours);
          } catch (const std::exception& ex) {
            first = "entry " + std::to_string(i) + ": our JSON does not parse: " + ours;
            break;
          }
          first = compare(ev[i], oj, col.type, treePath + "/" + columnName + " entry " + std::to_string(i));
          ++values;
        }
        EXPECT_EQ(first, "");
      }
      ++compared;
    }
  }
  RecordProperty("branches_compared", static_cast<int>(compared));
  std::string list;
  for (const auto& r : reasons) list += "\n  " + r;
  std::cout << name << ": " << compared << " branches identical to JSROOT, " << unsupported
            << " JSROOT-read branches unsupported by us" << list << "\n";
  // Branches JSROOT reads that we do not: only the allowed kinds (none of the numeric/string/vector kinds).
  for (const auto& r : reasons) {
    EXPECT_TRUE(r.find("split collection") != std::string::npos || r.find("bitset") != std::string::npos ||
                r.find("leaf-list") != std::string::npos || r.find("map<") != std::string::npos ||
                r.find("ElementLink<") != std::string::npos)
        << "unexpectedly unsupported: " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, Conformance, ::testing::ValuesIn(expectedFiles()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string n = param.param;
                           for (auto& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace mlaas::root
