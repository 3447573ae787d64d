// Remote sources against real servers on loopback: every corpus file must read byte-identically as
// a path, an http:// URL and a root:// URL, whatever the ranges; failures give clear errors.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <algorithm>
#include <cstring>
#include <future>
#include <map>
#include <optional>
#include <random>

#include "io/credentials.hpp"
#include "io/remote.hpp"
#include "io/source.hpp"
#include "remote_servers.hpp"
#include "test_support.hpp"

using namespace mlaas;

namespace {

std::string text(const std::vector<std::byte>& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

/// Ranges that exercise every path: the head and tail blocks, the middle, ranges straddling the
/// cache edges, many small scattered ones (vector / multi-range reads) and one big one.
std::vector<io::ByteRange> interestingRanges(std::uint64_t size, unsigned seed) {
  std::vector<io::ByteRange> ranges;
  auto add = [&](std::uint64_t offset, std::uint64_t n) {
    if (offset >= size) return;
    ranges.push_back({offset, std::min(n, size - offset)});
  };
  add(0, 64);
  add(size > 100 ? size - 100 : 0, 100);
  add(size / 2, 4096);
  add(size > 300000 ? 256 * 1024 - 10 : size / 3, 20);  // across the end of the head block
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 40; ++i) add(rng() % std::max<std::uint64_t>(size, 1), 1 + rng() % 3000);
  add(size / 4, size / 2);
  return ranges;
}

/// Reads ranges through `source` in one read() call and compares with the local file.
void expectSameBytes(io::Source& source, io::Source& local, const std::vector<io::ByteRange>& ranges) {
  std::vector<std::vector<std::byte>> remoteBytes(ranges.size()), localBytes(ranges.size());
  std::vector<io::ReadRequest> remoteRequests, localRequests;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    remoteBytes[i].resize(ranges[i].size);
    localBytes[i].resize(ranges[i].size);
    remoteRequests.push_back({ranges[i].offset, remoteBytes[i]});
    localRequests.push_back({ranges[i].offset, localBytes[i]});
  }
  auto readRemote = source.read(remoteRequests);
  ASSERT_TRUE(readRemote) << readRemote.error().message;
  ASSERT_TRUE(local.read(localRequests));
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    ASSERT_TRUE(remoteBytes[i] == localBytes[i])
        << source.name() << ": bytes differ in [" << ranges[i].offset << ", " << ranges[i].end() << ")";
  }
}

void expectEveryCorpusFileIdentical(const std::function<std::string(const std::string&)>& urlOf,
                                    const io::SourceOptions& options) {
  const auto files = test::corpusRootFiles();
  ASSERT_FALSE(files.empty());
  for (const auto& path : files) {
    SCOPED_TRACE(path.filename().string());
    auto local = io::open(path.string());
    ASSERT_TRUE(local);
    auto remote = io::open(urlOf(path.filename().string()), options);
    ASSERT_TRUE(remote) << remote.error().message;
    ASSERT_EQ((*remote)->size(), (*local)->size());
    auto whole = (*remote)->readRange(0, (*remote)->size());
    ASSERT_TRUE(whole) << whole.error().message;
    ASSERT_TRUE(*whole == *(*local)->readRange(0, (*local)->size()));
    expectSameBytes(**remote, **local, interestingRanges((*local)->size(), 7));
    // The same through prefetch: hint first, then read.
    const auto ranges = interestingRanges((*local)->size(), 11);
    (*remote)->prefetch(ranges);
    expectSameBytes(**remote, **local, ranges);
  }
}

io::SourceOptions quickFailing() {
  io::SourceOptions options;
  options.retries = 1;
  options.retryBackoffSeconds = 0.05;
  options.timeoutSeconds = 10;
  return options;
}

io::SourceOptions noCache() {
  io::SourceOptions options;
  options.headBytes = 0;
  options.tailBytes = 0;
  options.smallReadBlockBytes = 0;
  return options;
}

class HttpSource : public ::testing::Test {
 protected:
  void SetUp() override {
    MLAAS_REQUIRE_CORPUS();
    if (!test::haveProgram("nginx")) GTEST_SKIP() << "nginx is not installed (Debian package nginx)";
    server_ = std::make_unique<test::NginxServer>(test::testdataDir().value() / "root");
    ASSERT_TRUE(server_->start()) << "nginx did not start: " << server_->log();
  }
  std::unique_ptr<test::NginxServer> server_;
};

class XrootdSource : public ::testing::Test {
 protected:
  void SetUp() override {
    MLAAS_REQUIRE_CORPUS();
    server_ = std::make_unique<test::XrootdServer>(test::testdataDir().value() / "root");
    if (auto why = server_->unavailableReason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(server_->start()) << "xrootd did not start";
  }
  std::unique_ptr<test::XrootdServer> server_;
};

}  // namespace

TEST(RemoteOpen, UnknownSchemeIsUnsupportedNamingTheUrl) {
  auto src = io::open("s3://bucket/file.root");
  ASSERT_FALSE(src);
  EXPECT_EQ(src.error().code, core::Errc::unsupported);
  EXPECT_NE(src.error().message.find("s3://bucket/file.root"), std::string::npos);
  EXPECT_TRUE(io::isRemoteUrl("root://host//a.root"));
  EXPECT_TRUE(io::isRemoteUrl("https://host/a.root"));
  EXPECT_FALSE(io::isRemoteUrl("/data/a.root"));
}

TEST_F(HttpSource, EveryCorpusFileReadsIdenticallyToLocal) {
  expectEveryCorpusFileIdentical([&](const std::string& name) { return server_->url(name); }, {});
}

TEST_F(HttpSource, EveryCorpusFileReadsIdenticallyWithoutCacheOrCoalescing) {
  auto options = noCache();
  options.coalesceGap = 0;
  expectEveryCorpusFileIdentical([&](const std::string& name) { return server_->url(name); }, options);
}

TEST_F(HttpSource, ServerWithoutMultipartFallsBackToSingleRanges) {
  // /single/ has max_ranges 1: nginx answers a multi-range request with the whole file (200).
  auto options = noCache();
  options.coalesceGap = 0;
  expectEveryCorpusFileIdentical([&](const std::string& name) { return server_->url("single/" + name); }, options);
}

TEST_F(HttpSource, MultiRangeReadIsOneRoundTrip) {
  auto options = noCache();
  options.coalesceGap = 0;
  const auto path = test::corpusFile("uproot-HZZ.root");
  auto remote = io::open(server_->url("uproot-HZZ.root"), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(path.string());
  const auto before = (*remote)->stats().roundTrips;
  std::vector<io::ByteRange> ranges;
  for (std::uint64_t at = 1000; at + 100 < (*local)->size() && ranges.size() < 50; at += 2000)
    ranges.push_back({at, 100});
  ASSERT_EQ(ranges.size(), 50u);
  expectSameBytes(**remote, **local, ranges);
  EXPECT_EQ((*remote)->stats().roundTrips - before, 1u) << "50 ranges should travel in one multipart request";
}

TEST_F(HttpSource, OpenFetchesHeadAndTailInTwoRoundTripsAndServesMetadataFromThem) {
  auto remote = io::open(server_->url("uproot-issue79.root"));
  ASSERT_TRUE(remote) << remote.error().message;
  const auto size = (*remote)->size();
  ASSERT_GT(size, 2u * 1024 * 1024) << "the test needs a file larger than head + tail";
  EXPECT_EQ((*remote)->stats().roundTrips, 2u);
  ASSERT_TRUE((*remote)->readRange(0, 512));           // ROOT header and top directory
  ASSERT_TRUE((*remote)->readRange(size - 4000, 4000));  // keys list and streamers
  EXPECT_EQ((*remote)->stats().roundTrips, 2u);
  EXPECT_EQ((*remote)->stats().cacheHits, 2u);
}

TEST_F(HttpSource, PrefetchedRangesAreServedWithoutNewRequests) {
  auto options = noCache();
  auto remote = io::open(server_->url("uproot-Zmumu.root"), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(test::corpusFile("uproot-Zmumu.root").string());
  const std::vector<io::ByteRange> ranges{{1000, 500}, {20000, 3000}, {60000, 100}};
  (*remote)->prefetch(ranges);
  expectSameBytes(**remote, **local, ranges);
  const auto stats = (*remote)->stats();
  EXPECT_EQ(stats.roundTrips, 2u) << "the open probe and one multi-range prefetch";
  EXPECT_EQ(stats.cacheHits, 3u);
}

TEST_F(HttpSource, FollowsRedirects) {
  auto remote = io::open(server_->url("redirect/uproot-HZZ.root"));
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(test::corpusFile("uproot-HZZ.root").string());
  ASSERT_EQ((*remote)->size(), (*local)->size());
  expectSameBytes(**remote, **local, interestingRanges((*local)->size(), 3));
}

TEST_F(HttpSource, MissingFileIsNotFoundNamingTheUrl) {
  const auto url = server_->url("no-such-file.root");
  auto remote = io::open(url, quickFailing());
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().code, core::Errc::not_found);
  EXPECT_NE(remote.error().message.find(url), std::string::npos) << remote.error().message;
  EXPECT_NE(remote.error().message.find("404"), std::string::npos) << remote.error().message;
}

TEST_F(HttpSource, ServerRestartMidReadResumes) {
  io::SourceOptions options = noCache();
  options.retries = 10;
  options.retryBackoffSeconds = 0.05;
  auto remote = io::open(server_->url("uproot-HZZ.root"), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(test::corpusFile("uproot-HZZ.root").string());
  expectSameBytes(**remote, **local, {{0, 10000}});
  server_->stop();
  // The read starts while the server is down and must finish once it is back.
  auto pending = std::async(std::launch::async, [&] {
    expectSameBytes(**remote, **local, {{10000, 50000}, {90000, 7}});
  });
  // Restart only once the read has failed against the stopped server at least once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*remote)->stats().retries == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a condition, not timing
  EXPECT_GT((*remote)->stats().retries, 0u);
  ASSERT_TRUE(server_->start());
  pending.get();
}

TEST(HttpFailures, RefusedConnectionIsUnavailableNamingTheUrl) {
  const auto url = "http://127.0.0.1:" + std::to_string(test::freeLoopbackPort()) + "/x.root";
  auto remote = io::open(url, quickFailing());
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().code, core::Errc::unavailable);
  EXPECT_NE(remote.error().message.find(url), std::string::npos) << remote.error().message;
  EXPECT_NE(remote.error().message.find("after 2 attempts"), std::string::npos) << remote.error().message;
}

namespace {

/// A 10000-byte file 0,1,2,...; answers single ranges, optionally misbehaving past the head.
std::string fileBytes() {
  std::string bytes(10000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 % 251);
  return bytes;
}

enum class Misbehaviour { truncate, wrongRange, noRangeHeader };

std::string scriptedReply(const std::string& range, Misbehaviour how) {
  static const std::string file = fileBytes();
  std::uint64_t first = 0, last = 0;
  if (std::sscanf(range.c_str(), "bytes=%lu-%lu", &first, &last) != 2 || last >= file.size()) {
    return "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10000\r\nContent-Length: 0\r\n\r\n";
  }
  const bool probe = first == 0;
  std::uint64_t sendFirst = first;
  const std::uint64_t length = last - first + 1;
  if (!probe && how == Misbehaviour::wrongRange) sendFirst = first + 1;  // off by one byte
  std::string head = "HTTP/1.1 206 Partial Content\r\nContent-Length: " + std::to_string(length) + "\r\n";
  if (probe || how != Misbehaviour::noRangeHeader) {
    head += "Content-Range: bytes " + std::to_string(sendFirst) + "-" + std::to_string(sendFirst + length - 1) +
            "/10000\r\n";
  }
  head += "Connection: close\r\n\r\n";
  std::string body = file.substr(sendFirst, length);
  if (!probe && how == Misbehaviour::truncate) body.resize(length / 2);  // fewer bytes than promised
  return head + body;
}

void expectClearReadFailure(Misbehaviour how, const std::string& expectedWords) {
  test::ScriptedHttpServer server([how](const std::string& range) { return scriptedReply(range, how); });
  auto options = quickFailing();
  options.headBytes = 100;
  options.tailBytes = 0;
  options.smallReadBlockBytes = 0;
  const auto url = server.url("file.bin");
  auto remote = io::open(url, options);
  ASSERT_TRUE(remote) << remote.error().message;
  EXPECT_EQ((*remote)->size(), 10000u);
  std::vector<std::byte> dest(1000, std::byte{0x55});
  const io::ReadRequest request{5000, dest};
  auto result = (*remote)->read(std::span(&request, 1));
  ASSERT_FALSE(result) << "partial or misplaced data must never be returned as data";
  EXPECT_NE(result.error().message.find(url), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("[5000, 6000)"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find(expectedWords), std::string::npos) << result.error().message;
}

}  // namespace

TEST(HttpFailures, TruncatedResponseIsAnErrorNamingUrlAndRange) {
  expectClearReadFailure(Misbehaviour::truncate, "truncated");
}

TEST(HttpFailures, ResponseForAnotherRangeIsAnError) {
  expectClearReadFailure(Misbehaviour::wrongRange, "does not contain every requested byte");
}

TEST(HttpFailures, PartialContentWithoutContentRangeIsAnError) {
  expectClearReadFailure(Misbehaviour::noRangeHeader, "without a valid Content-Range");
}

namespace {
std::string honestReply(const std::string& range) {
  std::uint64_t first = 0, last = 0;
  static const std::string file = fileBytes();
  if (std::sscanf(range.c_str(), "bytes=%lu-%lu", &first, &last) != 2) return std::string("HTTP/1.1 400 Bad\r\n\r\n");
  last = std::min<std::uint64_t>(last, file.size() - 1);
  return "HTTP/1.1 206 Partial Content\r\nContent-Length: " + std::to_string(last - first + 1) +
         "\r\nContent-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) +
         "/10000\r\nConnection: close\r\n\r\n" + file.substr(first, last - first + 1);
}
}  // namespace

TEST(HttpFailures, ConnectionDroppedMidBodyIsRetriedAndTheReadCompletes) {
  // The first data response dies half-way (a server crash mid-transfer); the retry succeeds.
  std::atomic<int> dataRequests{0};
  test::ScriptedHttpServer server([&](const std::string& range) {
    const bool probe = range.rfind("bytes=0-", 0) == 0;
    if (!probe && dataRequests.fetch_add(1) == 0) return scriptedReply(range, Misbehaviour::truncate);
    return honestReply(range);
  });
  auto options = quickFailing();
  options.headBytes = 100;
  options.tailBytes = 0;
  options.smallReadBlockBytes = 0;
  auto remote = io::open(server.url("file.bin"), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto bytes = (*remote)->readRange(5000, 1000);
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(text(*bytes), fileBytes().substr(5000, 1000));
  EXPECT_EQ((*remote)->stats().retries, 1u);
  EXPECT_EQ(dataRequests.load(), 2);
}

TEST(HttpFailures, ScriptedServerServesCorrectBytesWhenHonest) {
  // The control for the three tests above: the same server without misbehaviour reads fine.
  test::ScriptedHttpServer server(honestReply);
  auto options = quickFailing();
  options.httpMultiRange = false;
  auto remote = io::open(server.url("file.bin"), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto bytes = (*remote)->readRange(5000, 1000);
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(text(*bytes), fileBytes().substr(5000, 1000));
}

TEST_F(XrootdSource, EveryCorpusFileReadsIdenticallyToLocal) {
  expectEveryCorpusFileIdentical([&](const std::string& name) { return server_->url(name); }, {});
}

TEST_F(XrootdSource, VectorReadsStayWithinServerLimits) {
  // 3000 separate chunks: more than the server's 1024 per kXR_readv, so the source must split.
  auto options = noCache();
  options.coalesceGap = 0;
  const auto name = "uproot-issue79.root";
  auto remote = io::open(server_->url(name), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(test::corpusFile(name).string());
  std::vector<io::ByteRange> ranges;
  for (std::uint64_t at = 0; ranges.size() < 3000; at += 97) ranges.push_back({at, 16});
  ranges.push_back({300000, 3 * 1024 * 1024});  // larger than one chunk (2 MiB)
  const auto before = (*remote)->stats().roundTrips;
  expectSameBytes(**remote, **local, ranges);
  EXPECT_GE((*remote)->stats().roundTrips - before, 3u);
  // Tighter limits than the server's: still identical.
  options.xrootdMaxChunks = 7;
  options.xrootdMaxChunkSize = 1000;
  auto tight = io::open(server_->url(name), options);
  ASSERT_TRUE(tight) << tight.error().message;
  expectSameBytes(**tight, **local, interestingRanges((*local)->size(), 5));
}

TEST_F(XrootdSource, OpenIsTwoRoundTripsAndServesMetadataFromCache) {
  auto remote = io::open(server_->url("uproot-issue79.root"));
  ASSERT_TRUE(remote) << remote.error().message;
  EXPECT_EQ((*remote)->stats().roundTrips, 2u) << "open (with stat) and one vector read of head and tail";
  const auto size = (*remote)->size();
  ASSERT_TRUE((*remote)->readRange(0, 512));
  ASSERT_TRUE((*remote)->readRange(size - 4000, 4000));
  EXPECT_EQ((*remote)->stats().roundTrips, 2u);
}

TEST_F(XrootdSource, MissingFileIsNotFoundNamingTheUrl) {
  const auto url = server_->url("no-such-file.root");
  auto remote = io::open(url, quickFailing());
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().code, core::Errc::not_found);
  EXPECT_NE(remote.error().message.find(url), std::string::npos) << remote.error().message;
}

TEST_F(XrootdSource, ServerRestartMidReadResumes) {
  io::SourceOptions options = noCache();
  options.retries = 10;
  options.retryBackoffSeconds = 0.05;
  auto remote = io::open(server_->url("uproot-HZZ.root"), options);
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(test::corpusFile("uproot-HZZ.root").string());
  expectSameBytes(**remote, **local, {{0, 10000}});
  server_->stop();
  auto pending = std::async(std::launch::async, [&] {
    expectSameBytes(**remote, **local, {{10000, 50000}, {90000, 7}});
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*remote)->stats().retries == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a condition, not timing
  EXPECT_GT((*remote)->stats().retries, 0u);
  ASSERT_TRUE(server_->start());
  pending.get();
}

TEST(XrootdFailures, RefusedConnectionIsUnavailableNamingTheUrl) {
  const auto url = "root://127.0.0.1:" + std::to_string(test::freeLoopbackPort()) + "//x.root";
  auto remote = io::open(url, quickFailing());
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().code, core::Errc::unavailable) << remote.error().message;
  EXPECT_NE(remote.error().message.find(url), std::string::npos) << remote.error().message;
}

TEST(Credentials, BearerTokenDiscoveryFollowsTheWlcgOrder) {
  test::TempDir tmp;
  test::writeFile(tmp / "token-file", "  from-file\n");
  test::writeFile(tmp / "bt_u4242", "from-runtime-dir\n");
  std::map<std::string, std::string> vars;
  const io::EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  vars = {{"BEARER_TOKEN", " from-env "}, {"BEARER_TOKEN_FILE", (tmp / "token-file").string()},
          {"XDG_RUNTIME_DIR", tmp.path().string()}};
  auto token = io::discoverBearerToken(env, 4242);
  ASSERT_TRUE(token && *token);
  EXPECT_EQ((*token)->token, "from-env");
  vars.erase("BEARER_TOKEN");
  token = io::discoverBearerToken(env, 4242);
  ASSERT_TRUE(token && *token);
  EXPECT_EQ((*token)->token, "from-file");
  vars.erase("BEARER_TOKEN_FILE");
  token = io::discoverBearerToken(env, 4242);
  ASSERT_TRUE(token && *token);
  EXPECT_EQ((*token)->token, "from-runtime-dir");
  EXPECT_EQ((*token)->origin, (tmp / "bt_u4242").string());
  vars.erase("XDG_RUNTIME_DIR");
  token = io::discoverBearerToken(env, 4242);  // /tmp/bt_u4242 does not exist
  ASSERT_TRUE(token);
  EXPECT_FALSE(*token);
}

TEST(Credentials, UnreadableBearerTokenFileIsAnErrorNamingIt) {
  const io::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "BEARER_TOKEN_FILE") return std::string("/nonexistent/token");
    return std::nullopt;
  };
  auto token = io::discoverBearerToken(env, 4242);
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error().code, core::Errc::unauthenticated);
  EXPECT_NE(token.error().message.find("/nonexistent/token"), std::string::npos);
}

TEST(Credentials, X509ProxyAndCaDirComeFromTheEnvironment) {
  const io::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "X509_USER_PROXY") return std::string("/p/proxy.pem");
    if (name == "X509_CERT_DIR") return std::string("/p/certificates");
    return std::nullopt;
  };
  const auto found = io::discoverX509(env, 4242);
  EXPECT_EQ(found.proxyFile, "/p/proxy.pem");
  EXPECT_EQ(found.caDir, "/p/certificates");
}

namespace {

/// A self-signed certificate for 127.0.0.1 and a CA folder (hashed, as X509_CERT_DIR) trusting it.
bool makeCertificate(const test::TempDir& dir) {
  const auto d = dir.path().string();
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d + "/key.pem -out " + d +
      "/cert.pem -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 && mkdir -p " + d +
      "/ca " + d + "/empty-ca && cp " + d + "/cert.pem " + d + "/ca/ && openssl rehash " + d + "/ca >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

using test::ScopedEnv;

class HttpsSource : public ::testing::Test {
 protected:
  void SetUp() override {
    MLAAS_REQUIRE_CORPUS();
    if (!test::haveProgram("nginx") || !test::haveProgram("openssl")) GTEST_SKIP() << "needs nginx and openssl";
    ASSERT_TRUE(makeCertificate(certs_));
    server_ = std::make_unique<test::NginxServer>(test::testdataDir().value() / "root");
    server_->enableTls(certs_ / "cert.pem", certs_ / "key.pem", "sekret-token");
    ASSERT_TRUE(server_->start()) << "nginx did not start: " << server_->log();
  }
  test::TempDir certs_;
  std::unique_ptr<test::NginxServer> server_;
};

}  // namespace

TEST_F(HttpsSource, BearerTokenFromTheEnvironmentIsSentOverTls) {
  ScopedEnv env({{"BEARER_TOKEN", "sekret-token"}, {"BEARER_TOKEN_FILE", std::nullopt},
                 {"X509_CERT_DIR", (certs_ / "ca").string()}, {"X509_USER_PROXY", std::nullopt}});
  const auto url = server_->url("uproot-HZZ.root");
  ASSERT_EQ(url.rfind("https://", 0), 0u);
  auto remote = io::open(url);
  ASSERT_TRUE(remote) << remote.error().message;
  auto local = io::open(test::corpusFile("uproot-HZZ.root").string());
  ASSERT_EQ((*remote)->size(), (*local)->size());
  expectSameBytes(**remote, **local, interestingRanges((*local)->size(), 13));
}

TEST_F(HttpsSource, TokenFileIsFoundToo) {
  test::TempDir tmp;
  test::writeFile(tmp / "token", "sekret-token\n");
  ScopedEnv env({{"BEARER_TOKEN", std::nullopt}, {"BEARER_TOKEN_FILE", (tmp / "token").string()},
                 {"X509_CERT_DIR", (certs_ / "ca").string()}, {"X509_USER_PROXY", std::nullopt}});
  auto remote = io::open(server_->url("uproot-HZZ.root"));
  ASSERT_TRUE(remote) << remote.error().message;
}

TEST_F(HttpsSource, WrongTokenIsUnauthenticated) {
  ScopedEnv env({{"BEARER_TOKEN", "wrong"}, {"X509_CERT_DIR", (certs_ / "ca").string()}});
  const auto url = server_->url("uproot-HZZ.root");
  auto remote = io::open(url, quickFailing());
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().code, core::Errc::unauthenticated) << remote.error().message;
  EXPECT_NE(remote.error().message.find(url), std::string::npos) << remote.error().message;
  EXPECT_NE(remote.error().message.find("401"), std::string::npos) << remote.error().message;
}

TEST_F(HttpsSource, UntrustedCertificateIsRefused) {
  ScopedEnv env({{"BEARER_TOKEN", "sekret-token"}, {"X509_CERT_DIR", (certs_ / "empty-ca").string()}});
  const auto url = server_->url("uproot-HZZ.root");
  auto remote = io::open(url, quickFailing());
  ASSERT_FALSE(remote);
  EXPECT_EQ(remote.error().code, core::Errc::unauthenticated) << remote.error().message;
  EXPECT_NE(remote.error().message.find(url), std::string::npos) << remote.error().message;
}
