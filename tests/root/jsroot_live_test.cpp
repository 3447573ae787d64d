// Runs JSROOT itself (node + .deps/node_modules/jsroot) on a few corpus files and compares what it
// reads with our columns: the oracle is live, not only the stored expected/ files.
#include <gtest/gtest.h>

#include "jsroot_compare.hpp"
#include "root/dump.hpp"
#include "root/tree.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

TEST(JsrootLive, SameValuesAsJsroot) {
  MLAAS_REQUIRE_CORPUS();
  const auto jsroot = test::sourceDir() / ".deps/node_modules/jsroot";
  if (!std::filesystem::exists(jsroot / "modules/io.mjs"))
    GTEST_SKIP() << "JSROOT not installed in .deps (run scripts/bootstrap)";
  if (test::run({"/bin/sh", "-c", "command -v node"}).exitCode != 0) GTEST_SKIP() << "node is not on PATH";
  const auto script = test::sourceDir() / "tests/root/jsroot_dump.mjs";
  struct Case {
    const char* file;
    const char* tree;
    const char* branches;
  };
  for (const Case& c :
       {Case{"uproot-HZZ-zstd.root", "events", "NJet,Jet_Px,Jet_ID,MET_px,EventWeight"},
        Case{"uproot-sample-5.30.00-lzma.root", "sample", "n,ai2,Au8,f8,af4,str,b"},
        Case{"uproot-stl_containers.root", "tree", "vector_int32,vector_vector_int32,vector_string,string"},
        // std::map branches as key and value columns (the script reads the map and
        // prints each pair's first or second)
        Case{"uproot-stl_containers.root", "tree",
             "map_int32_int16.first,map_int32_int16.second,map_string_int16.first,map_string_int16.second,"
             "map_string_string.first,map_string_string.second,map_string_tstring.first,"
             "map_string_tstring.second"},
        // maps whose values are containers (each value with its own header)
        Case{"uproot-stl_containers.root", "tree",
             "map_int32_vector_int16.first,map_int32_vector_int16.second,map_int32_vector_string.second,"
             "map_int32_set_int16.second,map_int32_set_string.second,map_string_vector_int16.first,"
             "map_string_vector_int16.second,map_string_vector_string.second,map_string_set_int16.second,"
             "map_string_set_string.second,map_int32_vector_vector_int16.second,"
             "map_int32_vector_set_int16.second"}}) {
    SCOPED_TRACE(c.file);
    const auto path = test::corpusFile(c.file).string();
    const auto r = test::run({"node", script.string(), jsroot.string(), path, c.tree, c.branches});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto theirs = json::parse(r.out)[c.tree];
    const auto tree = File::open(path)->tree(c.tree);
    EXPECT_EQ(theirs["entries"].get<std::uint64_t>(), tree.entries());
    for (const auto& [name, b] : theirs["branches"].items()) {
      ASSERT_TRUE(b.contains("values")) << name << ": " << b.dump();
      const auto col = tree.read(name, {0, tree.entries()});
      ASSERT_EQ(col.entries, b["values"].size()) << name;
      for (std::size_t i = 0; i < col.entries; ++i) {
        std::string ours;
        appendEntryJson(col, i, ours);
        const auto diff = compare(b["values"][i], json::parse(ours), col.type, name + " entry " + std::to_string(i));
        ASSERT_EQ(diff, "");
      }
    }
  }
}

}  // namespace
}  // namespace mlaas::root
