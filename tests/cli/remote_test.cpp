// A URL works wherever a path does: `mlaas inspect` and `mlaas dump` over http:// and root://
// print what they print for the local file (the name aside), and a dead server is a clear error.
#include <gtest/gtest.h>

#include "../io/remote_servers.hpp"
#include "test_support.hpp"

using namespace mlaas;

namespace {

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

/// Runs `mlaas args... <target>` for the local path and the URL; the outputs must agree.
void expectSameOutput(const std::vector<std::string>& args, const std::string& file, const std::string& url) {
  const auto path = test::corpusFile(file).string();
  auto withTarget = [&](const std::string& target) {
    std::vector<std::string> argv{test::mlaasBinary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(target);
    return test::run(argv);
  };
  const auto local = withTarget(path);
  ASSERT_EQ(local.exitCode, 0) << local.err;
  const auto remote = withTarget(url);
  ASSERT_EQ(remote.exitCode, 0) << remote.err;
  ASSERT_FALSE(local.out.empty());
  EXPECT_EQ(replaceAll(remote.out, url, path), local.out) << "mlaas " << args.front() << " " << url;
}

const std::vector<std::string> kFiles{"uproot-HZZ.root", "uproot-Zmumu-zstd.root", "uproot-issue79.root"};

}  // namespace

TEST(RemoteCli, InspectAndDumpOverHttpMatchLocal) {
  MLAAS_REQUIRE_CORPUS();
  if (!test::haveProgram("nginx")) GTEST_SKIP() << "nginx is not installed (Debian package nginx)";
  test::NginxServer server(test::testdataDir().value() / "root");
  ASSERT_TRUE(server.start()) << server.log();
  for (const auto& file : kFiles) {
    SCOPED_TRACE(file);
    expectSameOutput({"inspect"}, file, server.url(file));
    expectSameOutput({"dump", "--entries", "0:20"}, file, server.url(file));
  }
}

TEST(RemoteCli, InspectAndDumpOverXrootdMatchLocal) {
  MLAAS_REQUIRE_CORPUS();
  test::XrootdServer server(test::testdataDir().value() / "root");
  if (auto why = server.unavailableReason(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(server.start());
  for (const auto& file : kFiles) {
    SCOPED_TRACE(file);
    expectSameOutput({"inspect"}, file, server.url(file));
    expectSameOutput({"dump", "--entries", "0:20"}, file, server.url(file));
  }
}

TEST(RemoteCli, UnreachableServerIsAClearError) {
  const auto url = "http://127.0.0.1:" + std::to_string(test::freeLoopbackPort()) + "/events.root";
  const auto result = test::run({test::mlaasBinary().string(), "inspect", url});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("mlaas: error:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(url), std::string::npos) << result.err;
}

TEST(RemoteCli, MissingRemoteFileIsAClearError) {
  if (!test::haveProgram("nginx")) GTEST_SKIP() << "nginx is not installed (Debian package nginx)";
  MLAAS_REQUIRE_CORPUS();
  test::NginxServer server(test::testdataDir().value() / "root");
  ASSERT_TRUE(server.start()) << server.log();
  const auto url = server.url("no-such-file.root");
  const auto result = test::run({test::mlaasBinary().string(), "inspect", url});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find(url), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("404"), std::string::npos) << result.err;
}

namespace {

/// examples/hzz-vector.yaml reading `input` (a path or URL) instead of the corpus file.
std::string hzzConfig(const std::string& input) {
  auto yaml = test::readFile(test::sourceDir() / "examples" / "hzz-vector.yaml");
  yaml = replaceAll(yaml, "base: ..", "base: .");
  return replaceAll(yaml, "../shared/testdata/root/uproot-HZZ.root", input);
}

/// `mlaas stats` then `mlaas batches --out` for a config; returns the batch folder.
test::fs::path statsAndBatches(const test::TempDir& dir, const std::string& name, const std::string& input) {
  const auto config = dir / (name + ".yaml");
  test::writeFile(config, hzzConfig(input));
  const auto specs = dir / (name + "-specs.json");
  const auto stats = test::run({test::mlaasBinary().string(), "stats", config.string(), "-o", specs.string()});
  EXPECT_EQ(stats.exitCode, 0) << stats.err;
  const auto out = dir / (name + "-batches");
  const auto batches = test::run({test::mlaasBinary().string(), "batches", config.string(), "--specs", specs.string(),
                                  "--out", out.string()});
  EXPECT_EQ(batches.exitCode, 0) << batches.err;
  return out;
}

void expectSameBatches(const test::fs::path& local, const test::fs::path& remote) {
  for (const char* file : {"features.npy", "mask.npy", "labels.npy", "weights.npy"}) {
    ASSERT_TRUE(test::fs::exists(local / file)) << file;
    ASSERT_TRUE(test::fs::exists(remote / file)) << file;
    EXPECT_TRUE(test::readFile(local / file) == test::readFile(remote / file)) << file << " differs";
  }
}

}  // namespace

TEST(RemoteCli, StatsAndBatchesOverUrlsMatchLocal) {
  MLAAS_REQUIRE_CORPUS();
  if (!test::fs::exists(test::sourceDir() / "examples" / "hzz-vector.yaml")) GTEST_SKIP() << "examples/ missing";
  test::TempDir dir;
  const auto local = statsAndBatches(dir, "local", test::corpusFile("uproot-HZZ.root").string());
  if (test::haveProgram("nginx")) {
    test::NginxServer http(test::testdataDir().value() / "root");
    ASSERT_TRUE(http.start()) << http.log();
    expectSameBatches(local, statsAndBatches(dir, "http", http.url("uproot-HZZ.root")));
  }
  test::XrootdServer xrootd(test::testdataDir().value() / "root");
  if (xrootd.unavailableReason().empty()) {
    ASSERT_TRUE(xrootd.start());
    expectSameBatches(local, statsAndBatches(dir, "xrootd", xrootd.url("uproot-HZZ.root")));
  }
}

TEST(RemoteCli, BenchReadOverUrlsReadsWhatLocalReads) {
  MLAAS_REQUIRE_CORPUS();
  if (!test::haveProgram("nginx")) GTEST_SKIP() << "nginx is not installed (Debian package nginx)";
  test::NginxServer http(test::testdataDir().value() / "root");
  ASSERT_TRUE(http.start()) << http.log();
  const auto run = [](const std::string& target) {
    return test::run({test::mlaasBinary().string(), "bench", "read", target, "--repeat", "1"});
  };
  const auto local = run(test::corpusFile("uproot-Zmumu.root").string());
  ASSERT_EQ(local.exitCode, 0) << local.err;
  const auto remote = run(http.url("uproot-Zmumu.root"));
  ASSERT_EQ(remote.exitCode, 0) << remote.err;
  // The first line counts entries, baskets and bytes: the same work, whatever the source.
  const auto firstLine = [](const std::string& out) { return out.substr(0, out.find('\n')); };
  ASSERT_NE(firstLine(local.out).find("entries"), std::string::npos) << local.out;
  EXPECT_EQ(firstLine(remote.out), firstLine(local.out));
}
