// `mlaas inspect`, `mlaas dump` and `mlaas bench read` on the corpus, run as the real executable.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace mlaas {
namespace {

using nlohmann::json;

test::CommandResult mlaas(const std::vector<std::string>& args) {
  std::vector<std::string> argv{test::mlaasBinary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv);
}

TEST(RootReadCli, DumpOfEveryCorpusFileExitsZeroOrNamesWhatIsUnsupported) {
  MLAAS_REQUIRE_CORPUS();
  for (const auto& path : test::corpusRootFiles()) {
    SCOPED_TRACE(path.string());
    const auto r = mlaas({"dump", path.string()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto doc = json::parse(r.out);
    for (const auto& [tree, t] : doc.items()) {
      for (const auto& [name, b] : t["branches"].items()) {
        ASSERT_TRUE(b.contains("values") || b.contains("error")) << name;
        if (b.contains("error")) {
          EXPECT_EQ(b["error"].get<std::string>().rfind("unsupported: ", 0), 0u) << name;
        } else {
          EXPECT_EQ(b["values"].size(), t["entries"].get<std::uint64_t>()) << name;
        }
      }
    }
    if (path.filename().string().find("rntuple") != std::string::npos) {
      EXPECT_NE(r.err.find("RNTuple: not supported yet"), std::string::npos);
    }
  }
}

TEST(RootReadCli, DumpMatchesJsrootLayoutAndSelections) {
  MLAAS_REQUIRE_CORPUS();
  const auto file = test::corpusFile("uproot-sample-6.20.04-zlib.root").string();
  const auto r = mlaas({"dump", file, "--tree", "sample", "--branches", "f4,Af8,str,b", "--entries", "1:3"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto doc = json::parse(r.out);
  const auto expected = json::parse(test::readFile(*test::testdataDir() / "expected/uproot-sample-6.20.04-zlib.json.gz"));
  const auto& b = doc["sample"]["branches"];
  ASSERT_EQ(b.size(), 4u);
  for (const char* name : {"f4", "Af8", "str", "b"}) {
    const auto& ours = b[name];
    const auto& theirs = expected["sample"]["branches"][name];
    EXPECT_EQ(ours["title"], theirs["title"]);
    EXPECT_EQ(ours["leaf"], theirs["leaf"]);
    ASSERT_EQ(ours["values"].size(), 2u);
    EXPECT_EQ(ours["values"][1].dump().size() > 0, true);
  }
  // float32 printed with the shortest form that round-trips as float: -13.9, not -13.899999618530273
  EXPECT_EQ(b["f4"]["values"][0].get<double>(), -13.9);
  EXPECT_EQ(b["str"]["values"][1], expected["sample"]["branches"]["str"]["values"][2]);
  EXPECT_EQ(b["Af8"]["values"][0], expected["sample"]["branches"]["Af8"]["values"][1]);
}

TEST(RootReadCli, DumpCsvAndErrors) {
  MLAAS_REQUIRE_CORPUS();
  const auto file = test::corpusFile("uproot-HZZ-zstd.root").string();
  const auto csv = mlaas({"dump", file, "--branches", "NMuon,MET_px", "--entries", "0:3", "--format", "csv"});
  ASSERT_EQ(csv.exitCode, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("entry,NMuon,MET_px\n0,2,5.912771\n1,1,24.765203\n2,2,", 0), 0u) << csv.out;
  const auto missing = mlaas({"dump", file, "--branches", "nope"});
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_NE(missing.err.find("no branch \"nope\""), std::string::npos) << missing.err;
  test::TempDir dir;
  test::writeFile(dir / "bad.root", "definitely not root");
  const auto bad = mlaas({"dump", (dir / "bad.root").string()});
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_NE(bad.err.find("mlaas: error: "), std::string::npos);
  EXPECT_NE(bad.err.find("bad.root"), std::string::npos);
  const auto range = mlaas({"dump", file, "--entries", "x:y"});
  EXPECT_EQ(range.exitCode, 2);
}

TEST(RootReadCli, InspectListsTreesBranchesAndRntuples) {
  MLAAS_REQUIRE_CORPUS();
  const auto r = mlaas({"inspect", test::corpusFile("uproot-nesteddirs.root").string(), "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto doc = json::parse(r.out);
  std::vector<std::string> paths;
  for (const auto& t : doc["trees"]) paths.push_back(t["path"]);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "one/two/tree"), paths.end());
  for (const auto& t : doc["trees"])
    for (const auto& b : t["branches"]) {
      EXPECT_TRUE(b.contains("interpretation"));
      EXPECT_GE(b["compressed_bytes"].get<std::uint64_t>(), 0u);
    }
  const auto text = mlaas({"inspect", test::corpusFile("uproot-HZZ-lzma.root").string()});
  ASSERT_EQ(text.exitCode, 0);
  EXPECT_NE(text.out.find("Jet_Px"), std::string::npos);
  EXPECT_NE(text.out.find("float32[NJet]"), std::string::npos);
  EXPECT_NE(text.out.find("lzma"), std::string::npos);
  const auto nt = mlaas({"inspect", test::corpusFile("ntpl001_staff_rntuple_v1-0-0-0.root").string()});
  ASSERT_EQ(nt.exitCode, 0) << nt.err;
  EXPECT_NE(nt.out.find("RNTuple: not supported yet"), std::string::npos);
}

TEST(RootReadCli, BenchReadReportsThroughputAndTheDecompressBound) {
  MLAAS_REQUIRE_CORPUS();
  const auto r = mlaas({"bench", "read", test::corpusFile("uproot-HZZ-zlib.root").string(), "--threads", "2", "--repeat",
                        "1", "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto doc = json::parse(r.out);
  EXPECT_EQ(doc["entries"], 2421);
  EXPECT_EQ(doc["threads"], 2);
  EXPECT_GT(doc["uncompressed_bytes"].get<std::uint64_t>(), doc["compressed_bytes"].get<std::uint64_t>());
  EXPECT_GT(doc["seconds"].get<double>(), 0);
  EXPECT_GT(doc["decompress_seconds"].get<double>(), 0);
}

}  // namespace
}  // namespace mlaas
