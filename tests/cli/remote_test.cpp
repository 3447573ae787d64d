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
