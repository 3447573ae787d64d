// The repository on its own: versions, aliases, tags, search, durability across reopening,
// and cleanup of interrupted uploads.
#include <gtest/gtest.h>

#include <filesystem>

#include "onnx_fixture.hpp"
#include "serve/repository.hpp"
#include "test_support.hpp"

namespace mlaas::serve {
namespace {

TEST(Repository, GlobMatch) {
  EXPECT_TRUE(globMatch("jets*", "jets-tagger"));
  EXPECT_TRUE(globMatch("*s", "muons"));
  EXPECT_TRUE(globMatch("m?ons", "muons"));
  EXPECT_FALSE(globMatch("jets", "jets-tagger"));
  EXPECT_TRUE(globMatch("*", ""));
}

TEST(Repository, SearchByNameTagAliasAndText) {
  ::mlaas::test::TempDir dir;
  Repository repo(dir.path(), {});
  ASSERT_TRUE(repo.addVersion("jets-tagger", test::mlpModel({4, 1}), R"({"description":"b-tagging"})"));
  ASSERT_TRUE(repo.addVersion("muons", test::mlpModel({4, 1}), ""));
  ASSERT_TRUE(repo.setModelTag("muons", "owner", "cms"));
  ASSERT_TRUE(repo.setAlias("muons", "staging", 1));
  EXPECT_EQ(repo.search("name:jets*").value(), std::vector<std::string>{"jets-tagger"});
  EXPECT_EQ(repo.search("tag:owner=cms").value(), std::vector<std::string>{"muons"});
  EXPECT_EQ(repo.search("alias:staging").value(), std::vector<std::string>{"muons"});
  EXPECT_EQ(repo.search("B-TAGGING").value(), std::vector<std::string>{"jets-tagger"});
  EXPECT_EQ(repo.search("").value().size(), 2u);
}

TEST(Repository, VersionsSurviveReopeningAndLeftoversAreRemoved) {
  ::mlaas::test::TempDir dir;
  std::string onnx = test::mlpModel({4, 2});
  {
    Repository repo(dir.path(), {});
    ASSERT_TRUE(repo.addVersion("m", onnx, ""));
    ASSERT_TRUE(repo.addVersion("m", onnx, ""));
    ASSERT_TRUE(repo.setAlias("m", "prod", 1));
  }
  // What a crash mid-upload leaves: a temporary file and an unreferenced blob.
  ::mlaas::test::writeFile(dir / "tmp" / "upload-0000.tmp", "partial");
  ::mlaas::test::writeFile(dir / "blobs" / "deadbeef.onnx", "orphan");
  Repository repo(dir.path(), {});
  auto v = repo.resolve(parseModelRef("m@prod").value());
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)->version, 1);
  EXPECT_EQ(repo.readModelFile(**v).value(), onnx);
  EXPECT_EQ(repo.resolve(parseModelRef("m").value()).value()->version, 2);
  EXPECT_FALSE(std::filesystem::exists(dir / "tmp" / "upload-0000.tmp"));
  EXPECT_FALSE(std::filesystem::exists(dir / "blobs" / "deadbeef.onnx"));
  // Deleting a version removes its aliases; the shared blob stays for version 2.
  ASSERT_TRUE(repo.deleteVersion("m", 1));
  auto gone = repo.resolve(parseModelRef("m@prod").value());
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::Errc::not_found);
  EXPECT_TRUE(repo.readModelFile(*repo.resolve(parseModelRef("m").value()).value()));
}

TEST(Repository, ModelReferencesParseAndReject) {
  auto plain = parseModelRef("tfaas").value();
  EXPECT_EQ(plain.name, "tfaas");
  auto versioned = parseModelRef("tfaas/versions/3").value();
  EXPECT_EQ(versioned.version, 3);
  auto aliased = parseModelRef("tfaas@production").value();
  EXPECT_EQ(aliased.alias, "production");
  for (const char* bad : {"", "../etc", "a/b", "a@1x", "a/versions/0", "a/versions/x", ".hidden", "a..b"})
    EXPECT_FALSE(parseModelRef(bad)) << bad;
}

TEST(Repository, BadMetadataNamesTheKey) {
  for (auto [meta, key] : {std::pair{R"({"labels":"x"})", "labels"}, std::pair{R"({"tags":{"a":1}})", "tags"},
                           std::pair{R"({"batching":{"max_batch_size":0}})", "batching.max_batch_size"},
                           std::pair{R"({"metrics":{"auc":"high"}})", "metrics"}, std::pair{"[1]", "JSON object"}}) {
    auto r = validateMetadata(meta);
    ASSERT_FALSE(r) << meta;
    EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  }
}

// A damaged catalog: the message named the file but then printed the whole SQL schema.
TEST(Repository, ACorruptCatalogNamesTheFileAndTheProblemWithoutTheSchema) {
  ::mlaas::test::TempDir dir;
  ::mlaas::test::writeFile(dir / "catalog.sqlite", std::string(4096, 'z'));
  try {
    Repository repo(dir.path(), {});
    ADD_FAILURE() << "a corrupt catalog was opened";
  } catch (const core::Exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((dir / "catalog.sqlite").string()), std::string::npos) << message;
    EXPECT_NE(message.find("file is not a database"), std::string::npos) << message;
    EXPECT_EQ(message.find("CREATE TABLE"), std::string::npos) << message;
    EXPECT_LT(message.size(), 400u) << message;
  }
}

TEST(Repository, DeletingTheLastVersionDeletesTheModelAndANewUploadStartsAtOne) {
  ::mlaas::test::TempDir dir;
  Repository repo(dir.path(), {});
  ASSERT_TRUE(repo.addVersion("m", test::mlpModel({4, 1}), R"({"tags":{"stage":"dev"}})"));
  ASSERT_TRUE(repo.setModelTag("m", "owner", "cms"));
  EXPECT_EQ(repo.deleteVersion("m", 1).value(), true);
  EXPECT_EQ(repo.snapshot()->models.count("m"), 0u);
  EXPECT_EQ(repo.deleteModel("m").error().code, core::Errc::not_found);
  auto again = repo.addVersion("m", test::mlpModel({4, 1}), "").value();
  EXPECT_EQ(again->version, 1);
  EXPECT_TRUE(repo.snapshot()->models.at("m").tags.empty());
  EXPECT_TRUE(again->tags.empty());
}

}  // namespace
}  // namespace mlaas::serve
