// https in both clients: nginx as a TLS reverse proxy (its own -p prefix, a self-signed
// certificate for "localhost" made by the openssl CLI here) in front of the real `mlaas serve`.
// With the certificate as CA the calls succeed (SNI and host name checked); without it, or for a
// name the certificate does not carry, they fail with a certificate error and are not retried.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>

#include "client/client.hpp"
#include "real_server.hpp"

using namespace mlaas;
using client::Client;
using client::ClientOptions;
using core::Errc;

namespace {

bool haveProgram(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

using test::ScopedEnv;

/// nginx terminating TLS on a free loopback port and proxying to the mlaas server; its access
/// log records the SNI name each request came with.
class TlsProxy {
 public:
  TlsProxy(int upstreamPort, const test::TempDir& certs) : port_(test::freeLoopbackPort()) {
    for (const char* sub : {"logs", "tmp"}) std::filesystem::create_directories(prefix_ / sub);
    const auto p = prefix_.path().string();
    const auto c = certs.path().string();
    test::writeFile(prefix_ / "nginx.conf",
                    "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + p + "/nginx.pid;\nerror_log " + p +
                        "/logs/error.log;\nevents { worker_connections 64; }\nhttp {\n"
                        "  log_format sni '$ssl_server_name $request $status';\n  access_log " +
                        p +
                        "/logs/access.log sni;\n"
                        "  client_body_temp_path " +
                        p + "/tmp/body;\n  proxy_temp_path " + p +
                        "/tmp/proxy;\n"
                        "  fastcgi_temp_path " +
                        p + "/tmp/fastcgi;\n  uwsgi_temp_path " + p +
                        "/tmp/uwsgi;\n"
                        "  scgi_temp_path " +
                        p +
                        "/tmp/scgi;\n  client_max_body_size 64m;\n"
                        "  server {\n    listen 127.0.0.1:" +
                        std::to_string(port_) +
                        " ssl;\n"
                        "    ssl_certificate " +
                        c + "/cert.pem;\n    ssl_certificate_key " + c +
                        "/key.pem;\n"
                        "    location / { proxy_pass http://127.0.0.1:" +
                        std::to_string(upstreamPort) +
                        ";\n"
                        "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\"; }\n  }\n}\n");
    process_ = std::make_unique<test::Process>(
        std::vector<std::string>{"nginx", "-p", p, "-c", (prefix_ / "nginx.conf").string(), "-e",
                                 p + "/logs/error.log"},
        prefix_ / "logs/stdout.log");
    ready_ = test::waitForPort(port_, std::chrono::seconds(20));
  }
  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string accessLog() const { return test::readFile(prefix_ / "logs/access.log"); }
  [[nodiscard]] std::string errorLog() const { return test::readFile(prefix_ / "logs/error.log"); }

 private:
  test::TempDir prefix_;
  int port_;
  std::unique_ptr<test::Process> process_;
  bool ready_ = false;
};

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveProgram("nginx") || !haveProgram("openssl")) GTEST_SKIP() << "needs nginx and openssl";
    const auto d = certs_.path().string();
    // Valid for the name "localhost" only: https://127.0.0.1 must fail the host check.
    const std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d + "/key.pem -out " + d +
        "/cert.pem -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << "openssl could not make a certificate";
    ASSERT_TRUE(server_.ready()) << server_.log();
    proxy_ = std::make_unique<TlsProxy>(server_.port(), certs_);
    ASSERT_TRUE(proxy_->ready()) << proxy_->errorLog();
  }
  [[nodiscard]] std::string url(const std::string& host = "localhost") const {
    return "https://" + host + ":" + std::to_string(proxy_->port());
  }
  [[nodiscard]] std::string caFile() const { return (certs_ / "cert.pem").string(); }

  test::TempDir certs_;
  test::RealServer server_;
  std::unique_ptr<TlsProxy> proxy_;
  // No CA from the environment unless a test sets one.
  ScopedEnv env_{{{"MLAAS_CA_FILE", std::nullopt}, {"SSL_CERT_FILE", std::nullopt}, {"SSL_CERT_DIR", std::nullopt}}};
};

TEST_F(Tls, CppClientVerifiesWithTheCaAndSendsSni) {
  ClientOptions options;
  options.url = url();
  options.caFile = caFile();
  options.token = test::RealServer::kToken;
  Client client(options);
  auto info = client.serverInfo();
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_EQ(info->name, "mlaas");
  auto models = client.listModels();
  ASSERT_TRUE(models) << models.error().describe();
  auto live = client.live();
  ASSERT_TRUE(live);
  EXPECT_TRUE(*live);
  EXPECT_EQ(client.stats().connectionsOpened, 1u);  // keep-alive through TLS
  EXPECT_NE(proxy_->accessLog().find("localhost GET /v2 HTTP/1.1 200"), std::string::npos) << proxy_->accessLog();

  // The same through MLAAS_CA_FILE.
  ScopedEnv env({{"MLAAS_CA_FILE", caFile()}});
  Client fromEnv(ClientOptions{.url = url()});
  EXPECT_TRUE(fromEnv.live());
}

TEST_F(Tls, CppClientRefusesAnUnknownCertificateClearlyAndWithoutRetrying) {
  ClientOptions options;
  options.url = url();
  options.maxRetries = 3;
  Client client(options);
  auto info = client.serverInfo();
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::unauthenticated);
  EXPECT_EQ(info.error().httpStatus, 0);
  EXPECT_NE(info.error().message.find("TLS: the certificate of https://localhost:" + std::to_string(proxy_->port()) +
                                      " does not verify: self"),
            std::string::npos)
      << info.error().message;
  EXPECT_EQ(client.stats().retries, 0u);

  // The certificate names localhost, not 127.0.0.1.
  options.url = url("127.0.0.1");
  options.caFile = caFile();
  auto mismatch = Client(options).serverInfo();
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, Errc::unauthenticated);
  EXPECT_NE(mismatch.error().message.find("IP address mismatch"), std::string::npos) << mismatch.error().message;

  // Plain HTTP to the TLS port and TLS to the plain server fail without hanging.
  options.url = "http://127.0.0.1:" + std::to_string(proxy_->port());
  options.maxRetries = 0;
  auto plain = Client(options).serverInfo();
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().httpStatus, 400);  // nginx: "The plain HTTP request was sent to HTTPS port"
  options.url = "https://localhost:" + std::to_string(server_.port());
  auto tlsToPlain = Client(options).serverInfo();
  ASSERT_FALSE(tlsToPlain);
  EXPECT_EQ(tlsToPlain.error().code, Errc::io);
  EXPECT_NE(tlsToPlain.error().message.find("TLS handshake with https://localhost"), std::string::npos)
      << tlsToPlain.error().message;
}

TEST_F(Tls, InsecureSkipsVerificationAndBadCaFilesAreRefused) {
  ClientOptions options;
  options.url = url("127.0.0.1");
  options.insecure = true;
  auto info = Client(options).serverInfo();
  ASSERT_TRUE(info) << info.error().describe();

  options.insecure = false;
  options.caFile = (certs_ / "missing.pem").string();
  try {
    Client client(options);
    FAIL() << "a missing CA file must be refused";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("missing.pem: cannot load CA certificates"), std::string::npos) << e.what();
  }
}

TEST_F(Tls, PythonClientVerifiesWithTheCaAndFailsClearlyWithout) {
  if (test::run({"python3", "-c", "import ssl"}).exitCode != 0) GTEST_SKIP() << "python3 with ssl not found";
  const std::string script = R"PY(
import os, sys
from mlaas_client import Client, MlaasError
url, ca = sys.argv[1], sys.argv[2]
print("name", Client(url, ca_file=ca).server_info()["name"])
print("env", Client(url).live()) if os.environ.get("MLAAS_CA_FILE") else None
try:
    Client(url, ca_file=None, retries=3).server_info()
    print("unverified call succeeded")
except MlaasError as error:
    print("refused", error.status, error)
print("insecure", Client(url.replace("localhost", "127.0.0.1"), insecure=True).live())
)PY";
  test::writeFile(certs_ / "tls_check.py", script);
  std::map<std::string, std::string> env{{"PYTHONPATH", (test::sourceDir() / "python").string()},
                                         {"PYTHONDONTWRITEBYTECODE", "1"}};
  auto result = test::run({"python3", (certs_ / "tls_check.py").string(), url(), caFile()}, env);
  ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("name mlaas"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("refused 0 GET https://localhost:" + std::to_string(proxy_->port()) +
                            "/v2: the server's certificate does not verify: self"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("insecure True"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("unverified call succeeded"), std::string::npos) << result.out;

  env["MLAAS_CA_FILE"] = caFile();
  result = test::run({"python3", (certs_ / "tls_check.py").string(), url(), caFile()}, env);
  EXPECT_NE(result.out.find("env True"), std::string::npos) << result.out << result.err;
}

}  // namespace
