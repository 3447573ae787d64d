// `mlaas serve` as a process: flags and config errors, curl against every endpoint family,
// TFaaS bundles (and hostile ones), kill -9 during an upload, graceful SIGTERM.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "test_support.hpp"

namespace mlaas::test {
namespace {

struct Curl {
  int status = 0;
  std::string body;
};

/// curl with the status code appended on its own last line.
Curl curl(std::vector<std::string> args) {
  std::vector<std::string> argv{"curl", "-s", "-S", "-w", "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  Curl c;
  auto nl = r.out.rfind('\n');
  if (nl == std::string::npos) return c;
  c.status = std::atoi(r.out.c_str() + nl + 1);
  c.body = r.out.substr(0, nl);
  return c;
}

class ServeProcess {
 public:
  ServeProcess(const TempDir& dir, std::vector<std::string> extra = {}) : port_(freeLoopbackPort()) {
    writeFile(dir / "tokens.txt", "# admin tokens\ns3cret\n");
    std::vector<std::string> argv{mlaasBinary().string(), "serve", "--listen", "127.0.0.1:" + std::to_string(port_),
                                  "--data-dir", (dir / "data").string(), "--token-file", (dir / "tokens.txt").string(),
                                  "--io-threads", "2", "--inference-threads", "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Process>(argv, dir / "serve.log");
    ready_ = waitForPort(port_);
  }
  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] int port() const { return port_; }
  Process& process() { return *process_; }

 private:
  int port_;
  std::unique_ptr<Process> process_;
  bool ready_ = false;
};

fs::path makeMlp(const TempDir& dir, const std::string& name, const std::string& layers, int seed = 1) {
  auto out = dir / name;
  auto r = run({mlaasBinary().string(), "model", "mlp", "--layers", layers, "--out", out.string(), "--seed",
                std::to_string(seed)});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return out;
}

const std::string kAuth = "Authorization: Bearer s3cret";

TEST(CliServe, HelpDocumentsTheFlags) {
  auto r = run({mlaasBinary().string(), "serve", "--help"});
  ASSERT_EQ(r.exitCode, 0);
  for (const char* flag :
       {"--config", "--listen", "--data-dir", "--token-file", "--io-threads", "--inference-threads", "--max-body-bytes",
        "--max-batch-size", "--max-queue-delay-us", "--inline", "--io-batch-max-us"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  const auto bad = run({mlaasBinary().string(), "serve", "--io-batch-max-us", "-5"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("--io-batch-max-us"), std::string::npos) << bad.err;
}

// Flags get the checks of their config keys (findings #4): out-of-range values are usage errors
// naming the flag and the key. --listen 0.0.0.0 without tokens makes a server that skipped the
// check exit too (1, "without tokens") instead of running: the test cannot hang on old code.
TEST(CliServe, FlagsGetTheConfigKeysChecks) {
  TempDir dir;
  struct Case {
    std::vector<std::string> flag;
    std::string message;
  };
  const std::vector<Case> cases{
      {{"--max-batch-size", "-5"}, "--max-batch-size: key 'batching.max_batch_size': -5 is outside [1, 1000000]"},
      {{"--max-batch-size", "0"}, "--max-batch-size: key 'batching.max_batch_size': 0 is outside"},
      {{"--max-queue-delay-us", "-100"}, "--max-queue-delay-us: key 'batching.max_queue_delay_us': -100 is outside"},
      {{"--max-body-bytes", "0"}, "--max-body-bytes: key 'limits.max_body_bytes': 0 is outside"},
      {{"--max-queue", "0"}, "--max-queue: key 'limits.max_queue': 0 is outside"},
      {{"--io-threads", "-1"}, "--io-threads: key 'threads.io': -1 is outside [0, 256]"},
      {{"--intra-op-threads", "0"}, "--intra-op-threads: key 'threads.intra_op': 0 is outside"},
      {{"--io-batch-max-us", "-5"}, "--io-batch-max-us: key 'threads.io_batch_max_us': -5 is outside"},
      {{"--listen", "nonsense"}, "--listen: listen address 'nonsense': expected HOST:PORT"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flag[0] + " " + c.flag[1]);
    std::vector<std::string> argv{mlaasBinary().string(), "serve", "--data-dir", (dir / "d").string()};
    if (c.flag[0] != "--listen") argv.insert(argv.end(), {"--listen", "0.0.0.0:0"});
    argv.insert(argv.end(), c.flag.begin(), c.flag.end());
    const auto r = run(argv);
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_NE(r.err.find("mlaas: error: " + c.message), std::string::npos) << r.err;
  }
  // 0 threads means the hardware's count, as for the config key; the help says so.
  const auto help = run({mlaasBinary().string(), "serve", "--help"});
  EXPECT_NE(help.out.find("0: hardware threads"), std::string::npos) << help.out;
}

// An IPv6 listen address is printed as a URL with brackets (findings #25).
TEST(CliServe, Ipv6ListenAddressIsPrintedWithBrackets) {
  TempDir dir;
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool ipv6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (probe >= 0) ::close(probe);
  if (!ipv6) GTEST_SKIP() << "no IPv6 loopback here";
  Process server({mlaasBinary().string(), "serve", "--listen", "[::1]:0", "--data-dir", (dir / "d").string(),
                  "--no-access-log"},
                 dir / "serve.log");
  // Poll the log for the line (bounded), as waitForPort polls a port.
  const std::regex url(R"(listening on http://\[::1\]:[0-9]+\n)");
  bool found = false;
  for (int round = 0; round < 3000 && !found && server.running(); ++round) {
    found = fs::exists(dir / "serve.log") && std::regex_search(readFile(dir / "serve.log"), url);  // the child makes it
    if (!found) ::usleep(10'000);
  }
  EXPECT_TRUE(found) << readFile(dir / "serve.log");
  EXPECT_EQ(server.stop(), 0);
}

TEST(CliServe, BadConfigsFailWithTheKeyNamed) {
  TempDir dir;
  writeFile(dir / "bad.yaml", "listen: 127.0.0.1:0\nlimits:\n  max_body_bytez: 10\n");
  auto r = run({mlaasBinary().string(), "serve", "--config", (dir / "bad.yaml").string()});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("limits.max_body_bytez"), std::string::npos) << r.err;
  writeFile(dir / "type.yaml", "threads:\n  io: many\n");
  r = run({mlaasBinary().string(), "serve", "--config", (dir / "type.yaml").string()});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("threads.io"), std::string::npos) << r.err;
  r = run({mlaasBinary().string(), "serve", "--listen", "0.0.0.0:0", "--data-dir", (dir / "d").string()});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("without tokens"), std::string::npos) << r.err;
  r = run({mlaasBinary().string(), "serve", "--listen", "nonsense"});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("HOST:PORT"), std::string::npos) << r.err;
  r = run({mlaasBinary().string(), "serve", "--token-file", (dir / "missing.txt").string()});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos) << r.err;
}

TEST(CliServe, CurlUploadInferAndTfaasAgree) {
  TempDir dir;
  ServeProcess server(dir, {"--no-access-log"});
  ASSERT_TRUE(server.ready()) << readFile(dir / "serve.log");
  auto model = makeMlp(dir, "tfaas.onnx", "42,128,128,128,64,64,1");
  auto up = curl({"-X", "POST", "-H", kAuth, "-H", "Content-Type: application/octet-stream", "--data-binary",
                  "@" + model.string(), server.url("/api/v1/models/tfaas/versions")});
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_NE(up.body.find("\"version\":1"), std::string::npos);
  auto multipart = curl({"-H", kAuth, "-F", "file=@" + model.string(), "-F", R"(metadata={"description":"form"})",
                         server.url("/api/v1/models/tfaas/versions")});
  ASSERT_EQ(multipart.status, 201) << multipart.body;
  EXPECT_NE(multipart.body.find("\"version\":2"), std::string::npos);

  std::string values = "[";
  for (int i = 0; i < 42; ++i) values += (i ? "," : "") + std::to_string(0.01 * i);
  values += "]";
  auto oip = curl({"-H", "Content-Type: application/json", "-d",
                   R"({"inputs":[{"name":"input","shape":[1,42],"datatype":"FP32","data":)" + values + "}]}",
                   server.url("/v2/models/tfaas/versions/1/infer")});
  ASSERT_EQ(oip.status, 200) << oip.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(oip.body, m, std::regex(R"("data":\[([^\]]+)\])")));
  std::string oipValue = m[1];
  auto tfaas =
      curl({"-d", R"({"keys":[],"values":)" + values + R"(,"model":"tfaas/versions/1"})", server.url("/json")});
  ASSERT_EQ(tfaas.status, 200) << tfaas.body;
  EXPECT_EQ(tfaas.body, "[" + oipValue + "]");

  EXPECT_EQ(curl({server.url("/v2/health/ready")}).status, 200);
  EXPECT_EQ(curl({server.url("/v2/models/tfaas")}).status, 200);
  auto metrics = curl({server.url("/metrics")});
  EXPECT_NE(metrics.body.find("protocol=\"tfaas-json\""), std::string::npos);
  EXPECT_EQ(curl({"-X", "DELETE", server.url("/api/v1/models/tfaas/versions/2")}).status, 401);
  EXPECT_EQ(curl({"-X", "DELETE", "-H", kAuth, server.url("/api/v1/models/tfaas/versions/2")}).status, 200);
  EXPECT_EQ(server.process().stop(SIGTERM), 0);
}

TEST(CliServe, TfaasBundlesAndHostileArchives) {
  TempDir dir;
  ServeProcess server(dir, {"--no-access-log"});
  ASSERT_TRUE(server.ready());
  fs::create_directories(dir / "bundle" / "mnist");
  makeMlp(dir, "bundle/mnist/net.onnx", "4,8,2");
  writeFile(dir / "bundle" / "mnist" / "params.json",
            R"({"name":"mnist","model":"net.onnx","inputNode":"input","description":"bundled"})");
  writeFile(dir / "bundle" / "mnist" / "labels.txt", "zero\none\n");
  ASSERT_EQ(run({"tar", "czf", (dir / "mnist.tar.gz").string(), "-C", (dir / "bundle").string(), "mnist"}).exitCode, 0);
  auto up = curl({"-H", kAuth, "-H", "Content-Encoding: gzip", "-H", "Content-Type: application/octet-stream",
                  "--data-binary", "@" + (dir / "mnist.tar.gz").string(), server.url("/upload")});
  ASSERT_EQ(up.status, 201) << up.body;
  EXPECT_NE(up.body.find("\"labels\":[\"zero\",\"one\"]"), std::string::npos) << up.body;
  auto params = curl({server.url("/params/mnist")});
  EXPECT_NE(params.body.find("bundled"), std::string::npos);

  // Hostile bundles: a path escaping with "..", an absolute path, a symlink.
  auto script = R"(
import io, sys, tarfile
kind, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w:gz") as t:
    data = b"x" * 10
    if kind == "dotdot":
        info = tarfile.TarInfo("m/../../evil.onnx"); info.size = len(data); t.addfile(info, io.BytesIO(data))
    elif kind == "absolute":
        info = tarfile.TarInfo("/etc/evil.onnx"); info.size = len(data); t.addfile(info, io.BytesIO(data))
    else:
        info = tarfile.TarInfo("m/model.onnx"); info.type = tarfile.SYMTYPE; info.linkname = "/etc/passwd"; t.addfile(info)
)";
  writeFile(dir / "hostile.py", script);
  for (const std::string kind : {"dotdot", "absolute", "symlink"}) {
    auto file = dir / (kind + ".tar.gz");
    ASSERT_EQ(run({"python3", (dir / "hostile.py").string(), kind, file.string()}).exitCode, 0);
    auto r = curl({"-H", kAuth, "--data-binary", "@" + file.string(), server.url("/upload")});
    EXPECT_EQ(r.status, 400) << kind << ": " << r.body;
    EXPECT_NE(r.body.find("bundle: entry"), std::string::npos) << r.body;
  }
  EXPECT_FALSE(fs::exists(dir / "evil.onnx"));
  auto junk = curl({"-H", kAuth, "--data-binary", "not a tar at all", server.url("/upload")});
  EXPECT_EQ(junk.status, 400);
  EXPECT_EQ(curl({server.url("/v2/health/live")}).status, 200);
}

TEST(CliServe, KillDuringUploadLosesNothingAndLeavesNoHalfVersion) {
  TempDir dir;
  auto model = makeMlp(dir, "m.onnx", "16,32,1");
  {
    ServeProcess server(dir, {"--no-access-log"});
    ASSERT_TRUE(server.ready());
    ASSERT_EQ(
        curl({"-H", kAuth, "--data-binary", "@" + model.string(), server.url("/api/v1/models/m/versions")}).status,
        201);
    // Start a second upload and kill the server while its body is still arriving.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string bytes = readFile(model);
    std::string head = "POST /api/v1/models/m/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
                       "Content-Length: " + std::to_string(bytes.size()) + "\r\n\r\n";
    std::string partial = head + bytes.substr(0, bytes.size() / 2);
    ASSERT_EQ(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), static_cast<ssize_t>(partial.size()));
    EXPECT_NE(server.process().stop(SIGKILL), 0);
    ::close(fd);
  }
  ServeProcess again(dir, {"--no-access-log"});
  ASSERT_TRUE(again.ready());
  auto versions = curl({again.url("/api/v1/models/m")});
  ASSERT_EQ(versions.status, 200);
  EXPECT_NE(versions.body.find("\"versions\":[1]"), std::string::npos) << versions.body;
  auto infer = curl({"-d", R"({"values":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],"model":"m"})", again.url("/json")});
  EXPECT_EQ(infer.status, 200) << infer.body;
  EXPECT_TRUE(fs::is_empty(dir / "data" / "tmp"));
  std::size_t blobs = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir / "data" / "blobs")) ++blobs;
  EXPECT_EQ(blobs, 1u);
}

}  // namespace
}  // namespace mlaas::test
