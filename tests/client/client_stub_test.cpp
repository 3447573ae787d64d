// The client against a scripted stub server: request formatting, keep-alive, retries,
// timeouts and error mapping (things the real server cannot be made to do on demand).
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/client.hpp"
#include "client/http.hpp"
#include "stub_server.hpp"
#include "test_support.hpp"

using namespace mlaas;
using client::Client;
using client::ClientOptions;
using core::Errc;
using nlohmann::json;
using test::StubRequest;
using test::StubResponse;
using test::StubServer;

namespace {

ClientOptions fastOptions(const std::string& url) {
  ClientOptions options;
  options.url = url;
  options.retryBackoff = std::chrono::milliseconds(1);
  options.connectTimeout = std::chrono::seconds(5);
  options.requestTimeout = std::chrono::seconds(20);
  return options;
}

const char* kCard = R"({"name":"demo","version":3,"created":"2026-11-27T15:40:00Z","size":1234,
  "sha256":"ab12","platform":"onnxruntime_onnx",
  "inputs":[{"name":"input","datatype":"FP32","shape":[-1,42]}],
  "outputs":[{"name":"output","datatype":"FP32","shape":[-1,1]}],
  "description":"ttbar","labels":["signal"],"tags":{"stage":"test"},"aliases":["production"],
  "metrics":{"auc":0.91},"provenance":{"commit":"abc"},"preprocessing":{"scale":[1,2]},
  "batching":{"max_batch_size":64,"max_queue_delay_us":500}})";

}  // namespace

TEST(ClientStub, UploadSendsRawBodyTokenAndMetadataHeaderAndDecodesTheCard) {
  StubServer stub([](const StubRequest&) { return StubResponse{201, kCard}; });
  auto options = fastOptions(stub.url());
  options.token = "s3cret";
  Client client(options);
  client::UploadMetadata metadata;
  metadata.description = "ttbar";
  metadata.tags = {{"stage", "test"}};
  metadata.metrics = {{"auc", 0.91}};
  const std::string onnx("\x08\x08\x12\x05mlaas\0binary", 17);
  auto card = client.upload("demo", onnx, metadata);
  ASSERT_TRUE(card) << card.error().describe();
  EXPECT_EQ(card->name, "demo");
  EXPECT_EQ(card->version, 3);
  EXPECT_EQ(card->size, 1234u);
  ASSERT_EQ(card->inputs.size(), 1u);
  EXPECT_EQ(card->inputs[0].shape, (std::vector<std::int64_t>{-1, 42}));
  EXPECT_EQ(card->outputs[0].datatype, "FP32");
  EXPECT_EQ(card->labels, std::vector<std::string>{"signal"});
  EXPECT_EQ(card->tags.at("stage"), "test");
  EXPECT_EQ(card->aliases, std::vector<std::string>{"production"});
  EXPECT_DOUBLE_EQ(card->metrics.at("auc"), 0.91);
  EXPECT_EQ(card->provenance["commit"], "abc");
  EXPECT_EQ(card->preprocessing["scale"][1], 2);
  ASSERT_TRUE(card->batching);
  EXPECT_EQ(card->batching->maxBatchSize, 64);

  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/v1/models/demo/versions");
  EXPECT_EQ(r.headers.at("authorization"), "Bearer s3cret");
  EXPECT_EQ(r.headers.at("content-type"), "application/octet-stream");
  EXPECT_EQ(r.body, onnx);  // byte-exact, embedded NUL included
  const auto sent = json::parse(r.headers.at("x-mlaas-metadata"));
  EXPECT_EQ(sent, json::parse(R"({"description":"ttbar","tags":{"stage":"test"},"metrics":{"auc":0.91}})"));
}

// A server older than dry runs ignores ?dry_run: it would store a model sent with it. checkUpload
// sends the model only after an empty dry run came back as one.
TEST(ClientStub, CheckUploadNeverSendsAModelToAServerWithoutDryRuns) {
  StubServer old([](const StubRequest& r) {
    return r.body.empty() ? StubResponse{400, R"({"error": "model 'demo': the ONNX file is empty"})"}
                          : StubResponse{201, kCard};
  });
  Client client(fastOptions(old.url()));
  auto refused = client.checkUpload("demo", std::string_view("onnx bytes"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().httpStatus, 400);
  EXPECT_NE(refused.error().message.find("does not support dry runs"), std::string::npos) << refused.error().message;
  ASSERT_EQ(old.requests().size(), 1u);  // only the empty probe
  EXPECT_TRUE(old.requests()[0].body.empty());
  EXPECT_EQ(old.requests()[0].target, "/api/v1/models/demo/versions?dry_run=true");

  StubServer storing([](const StubRequest&) { return StubResponse{201, kCard}; });  // answers like an upload
  Client client2(fastOptions(storing.url()));
  auto notADryRun = client2.checkUpload("demo");
  ASSERT_FALSE(notADryRun);
  EXPECT_NE(notADryRun.error().message.find("did not answer as a dry run"), std::string::npos)
      << notADryRun.error().message;

  StubServer current([](const StubRequest&) {
    return StubResponse{200, R"({"dry_run": true, "name": "demo", "version": 4, "model_checked": false})"};
  });
  Client client3(fastOptions(current.url()));
  auto ok = client3.checkUpload("demo", std::string_view("onnx bytes"));
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->version, 4);
  ASSERT_EQ(current.requests().size(), 2u);  // the empty probe, then the model
  EXPECT_EQ(current.requests()[1].body, "onnx bytes");
}

TEST(ClientStub, LargeMetadataTravelsAsMultipart) {
  StubServer stub([](const StubRequest&) { return StubResponse{201, kCard}; });
  Client client(fastOptions(stub.url()));
  client::UploadMetadata metadata;
  metadata.preprocessing = json::object();
  for (int i = 0; i < 500; ++i) metadata.preprocessing["feature" + std::to_string(i)] = {{"mean", i}, {"std", 1.5}};
  const std::string onnx = "ONNX-BYTES";
  ASSERT_TRUE(client.upload("demo", onnx, metadata));
  const auto r = stub.requests().at(0);
  const auto& type = r.headers.at("content-type");
  ASSERT_EQ(type.rfind("multipart/form-data; boundary=", 0), 0u) << type;
  const auto boundary = type.substr(type.find('=') + 1);
  EXPECT_EQ(r.headers.count("x-mlaas-metadata"), 0u);
  // The metadata part holds the JSON, the file part the exact bytes, and the body ends properly.
  const auto metaStart = r.body.find("name=\"metadata\"");
  const auto fileStart = r.body.find("name=\"file\"");
  ASSERT_NE(metaStart, std::string::npos);
  ASSERT_NE(fileStart, std::string::npos);
  const auto jsonBegin = r.body.find("\r\n\r\n", metaStart) + 4;
  const auto jsonEnd = r.body.find("\r\n--" + boundary, jsonBegin);
  EXPECT_EQ(json::parse(r.body.substr(jsonBegin, jsonEnd - jsonBegin))["preprocessing"], metadata.preprocessing);
  const auto fileBegin = r.body.find("\r\n\r\n", fileStart) + 4;
  EXPECT_EQ(r.body.substr(fileBegin, onnx.size()), onnx);
  EXPECT_EQ(r.body.substr(fileBegin + onnx.size()), "\r\n--" + boundary + "--\r\n");
}

TEST(ClientStub, KeepAliveReusesOneConnectionForSequentialCalls) {
  StubServer stub([](const StubRequest&) { return StubResponse{200, R"({"models":[]})"}; });
  Client client(fastOptions(stub.url()));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client.listModels());
  EXPECT_EQ(stub.connections(), 1);
  EXPECT_EQ(client.stats().connectionsOpened, 1u);
  EXPECT_EQ(client.stats().requests, 10u);
}

TEST(ClientStub, ConnectionCloseAndSilentlyClosedIdleConnectionsAreReplaced) {
  std::atomic<int> mode{0};
  StubServer stub([&](const StubRequest&) {
    StubResponse response{201, kCard};
    response.close = mode == 0;
    response.silentClose = mode == 1;
    return response;
  });
  Client client(fastOptions(stub.url()));
  ASSERT_TRUE(client.getVersion("demo", 3));
  ASSERT_TRUE(client.getVersion("demo", 3));
  EXPECT_EQ(stub.connections(), 2);  // "Connection: close" honoured
  mode = 1;
  ASSERT_TRUE(client.getVersion("demo", 3));
  ASSERT_TRUE(stub.waitForAllClosed());
  // The pooled connection is dead; even a POST (never retried) must go out on a fresh one.
  auto card = client.upload("demo", std::string_view("bytes"));
  ASSERT_TRUE(card) << card.error().describe();
  EXPECT_EQ(client.stats().retries, 0u);
  EXPECT_EQ(stub.connections(), 4);
}

TEST(ClientStub, IdempotentCallsRetryTransientStatusesWithTheServersMessage) {
  std::atomic<int> calls{0};
  StubServer stub([&](const StubRequest&) {
    if (++calls <= 2) return StubResponse{503, R"({"error":"shutting down"})"};
    return StubResponse{
        200, R"({"models":[{"name":"demo","latest_version":2,"versions":[1,2],"aliases":{"production":1}}]})"};
  });
  Client client(fastOptions(stub.url()));
  auto models = client.listModels("tag:stage=test demo");
  ASSERT_TRUE(models) << models.error().describe();
  ASSERT_EQ(models->size(), 1u);
  EXPECT_EQ((*models)[0].latestVersion, 2);
  EXPECT_EQ((*models)[0].versions, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ((*models)[0].aliases.at("production"), 1);
  EXPECT_EQ(client.stats().retries, 2u);
  EXPECT_EQ(stub.requests().at(0).target, "/api/v1/models?q=tag%3Astage%3Dtest%20demo");

  calls = -100;  // from now on always 503
  auto options = fastOptions(stub.url());
  options.maxRetries = 2;
  Client limited(options);
  auto failed = limited.listModels();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::unavailable);
  EXPECT_EQ(failed.error().httpStatus, 503);
  EXPECT_EQ(failed.error().message, "shutting down");
  EXPECT_EQ(failed.error().describe(), "HTTP 503: shutting down");
  EXPECT_EQ(limited.stats().requests, 3u);
}

TEST(ClientStub, UploadsAreNeverRetried) {
  StubServer stub([](const StubRequest&) { return StubResponse{503, R"({"error":"busy"})"}; });
  Client client(fastOptions(stub.url()));
  auto card = client.upload("demo", std::string_view("bytes"));
  ASSERT_FALSE(card);
  EXPECT_EQ(card.error().httpStatus, 503);
  EXPECT_EQ(stub.requests().size(), 1u);
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST(ClientStub, ErrorStatusesMapToErrcWithTheServersMessage) {
  StubServer stub([](const StubRequest& r) {
    if (r.target.find("missing") != std::string::npos)
      return StubResponse{404, R"({"error":"unknown model 'missing'"})"};
    if (r.method == "PUT") return StubResponse{401, R"({"error":"a token is required"})"};
    if (r.method == "DELETE") return StubResponse{403, R"({"error":"token not accepted"})"};
    return StubResponse{400, "plain text problem", "text/plain"};
  });
  Client client(fastOptions(stub.url()));
  auto missing = client.getModel("missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().httpStatus, 404);
  EXPECT_EQ(missing.error().message, "unknown model 'missing'");
  try {
    (void)missing.value();
    ADD_FAILURE() << "value() of an error must throw";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), Errc::not_found);
    EXPECT_STREQ(e.what(), "HTTP 404: unknown model 'missing'");
  }
  auto alias = client.setAlias("demo", "production", 1);
  EXPECT_EQ(alias.error().code, Errc::unauthenticated);
  EXPECT_EQ(alias.error().message, "a token is required");
  auto deleted = client.deleteModel("demo");
  EXPECT_EQ(deleted.error().code, Errc::permission_denied);
  auto bad = client.getModel("demo");
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().message, "plain text problem");
  EXPECT_EQ(client.stats().retries, 0u);  // 4xx are final
}

TEST(ClientStub, MalformedResponsesAreCorruptNotCrashes) {
  StubServer stub([](const StubRequest& r) {
    if (r.target == "/v2") return StubResponse{200, "{not json"};
    if (r.target.ends_with("/ready")) return StubResponse{200, R"({"ready":"yes"})"};
    return StubResponse{200, R"({"models":{"name":1}})"};
  });
  Client client(fastOptions(stub.url()));
  auto info = client.serverInfo();
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::corrupt);
  EXPECT_NE(info.error().message.find("not JSON"), std::string::npos);
  auto models = client.listModels();
  EXPECT_EQ(models.error().code, Errc::corrupt);
  EXPECT_NE(models.error().message.find("'models'"), std::string::npos) << models.error().message;
  auto ready = client.modelReady("demo");
  EXPECT_EQ(ready.error().code, Errc::corrupt);
}

TEST(ClientStub, RequestTimeoutIsReported) {
  StubServer stub([](const StubRequest&) { return StubResponse{.hang = true}; });
  auto options = fastOptions(stub.url());
  options.requestTimeout = std::chrono::milliseconds(200);
  options.maxRetries = 1;
  Client client(options);
  auto models = client.listModels();
  ASSERT_FALSE(models);
  EXPECT_EQ(models.error().code, Errc::timeout);
  EXPECT_EQ(models.error().httpStatus, 0);
  EXPECT_NE(models.error().message.find("no complete response within 200 ms"), std::string::npos)
      << models.error().message;
  EXPECT_EQ(client.stats().retries, 1u);
}

TEST(ClientStub, RefusedConnectionIsAnIoErrorAfterRetries) {
  const int port = test::freeLoopbackPort();  // nothing listens there
  auto options = fastOptions("http://127.0.0.1:" + std::to_string(port));
  options.maxRetries = 2;
  Client client(options);
  auto live = client.serverInfo();
  ASSERT_FALSE(live);
  EXPECT_EQ(live.error().code, Errc::io);
  EXPECT_EQ(live.error().httpStatus, 0);
  EXPECT_NE(live.error().message.find("cannot connect to http://127.0.0.1:" + std::to_string(port)), std::string::npos)
      << live.error().message;
  EXPECT_EQ(client.stats().retries, 2u);
}

TEST(ClientStub, DroppedConnectionAndOversizedResponse) {
  StubServer stub([](const StubRequest& r) {
    if (r.target == "/v2") return StubResponse{.drop = true};
    return StubResponse{200, std::string(4096, ' ') + R"({"models":[]})"};
  });
  auto options = fastOptions(stub.url());
  options.maxRetries = 0;
  options.maxResponseBytes = 1024;
  Client client(options);
  auto info = client.serverInfo();
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, Errc::io);
  auto models = client.listModels();
  ASSERT_FALSE(models);
  EXPECT_EQ(models.error().code, Errc::resource_exhausted);
}

TEST(ClientStub, PathsEncodeNamesAndReferences) {
  StubServer stub([](const StubRequest& r) {
    if (r.target.ends_with("/ready")) return StubResponse{200, R"({"name":"x","ready":true})"};
    if (r.target.starts_with("/v2/models"))
      return StubResponse{200,
                          R"({"name":"x","versions":["1"],"platform":"onnxruntime_onnx","inputs":[],"outputs":[]})"};
    return StubResponse{200, kCard};
  });
  Client client(fastOptions(stub.url()));
  ASSERT_TRUE(client.getCard("demo@production"));
  ASSERT_TRUE(client.getCard("demo/versions/7"));
  ASSERT_TRUE(client.modelMetadata("demo@staging"));
  ASSERT_TRUE(client.modelMetadata("demo/versions/2"));
  auto ready = client.modelReady("demo");
  ASSERT_TRUE(ready);
  EXPECT_TRUE(*ready);
  ASSERT_TRUE(client.setVersionTag("demo", 2, "a b", "v"));
  ASSERT_TRUE(client.deleteAlias("demo", "production"));
  const auto requests = stub.requests();
  ASSERT_EQ(requests.size(), 7u);
  EXPECT_EQ(requests[0].target, "/api/v1/models/demo@production");
  EXPECT_EQ(requests[1].target, "/api/v1/models/demo/versions/7");
  EXPECT_EQ(requests[2].target, "/v2/models/demo@staging");
  EXPECT_EQ(requests[3].target, "/v2/models/demo/versions/2");
  EXPECT_EQ(requests[4].target, "/v2/models/demo/ready");
  EXPECT_EQ(requests[5].method, "PUT");
  EXPECT_EQ(requests[5].target, "/api/v1/models/demo/versions/2/tags/a%20b");
  EXPECT_EQ(json::parse(requests[5].body), json::parse(R"({"value":"v"})"));
  EXPECT_EQ(requests[6].method, "DELETE");

  auto badRef = client.getCard("demo@");
  ASSERT_FALSE(badRef);
  EXPECT_EQ(badRef.error().code, Errc::invalid_argument);
  EXPECT_EQ(stub.requests().size(), 7u);  // rejected before sending
}

TEST(ClientStub, BinaryInferenceSendsRawTensorsAndDecodesBinaryOutputs) {
  StubServer stub([](const StubRequest& r) {
    // Echo the input bytes back as a binary FP32 output named "output".
    const auto jsonLength = std::stoul(r.headers.at("inference-header-content-length"));
    const auto header = json::parse(r.body.substr(0, jsonLength));
    const auto blob = r.body.substr(jsonLength);
    json out = {{"model_name", "demo"}, {"model_version", "1"}, {"id", header["id"]},
                {"outputs", {{{"name", "output"}, {"datatype", "FP32"}, {"shape", header["inputs"][0]["shape"]},
                              {"parameters", {{"binary_data_size", blob.size()}}}}}}};
    const auto text = out.dump();
    // In another case than the client asks for it: header names are case-insensitive.
    return StubResponse{200, text + blob, "application/octet-stream",
                        {{"INFERENCE-header-CONTENT-length", std::to_string(text.size())}}};
  });
  Client client(fastOptions(stub.url()));
  client::InferRequest request;
  request.id = "r1";
  const std::vector<float> values = {0.5f, -1.25f, 3.0f, 1e-30f};
  request.inputs.push_back(client::Tensor::of<float>("input", {2, 2}, values));
  request.outputs = {"output"};
  auto response = client.infer("demo", request, client::Encoding::binary);
  ASSERT_TRUE(response) << response.error().describe();
  EXPECT_EQ(response->id, "r1");
  EXPECT_EQ(response->modelVersion, "1");
  const auto* output = response->output("output");
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(output->shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(output->values<float>(), values);  // bit-exact through the binary path

  const auto r = stub.requests().at(0);
  EXPECT_EQ(r.target, "/v2/models/demo/infer");
  const auto jsonLength = std::stoul(r.headers.at("inference-header-content-length"));
  const auto header = json::parse(r.body.substr(0, jsonLength));
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"], 16);
  EXPECT_EQ(header["parameters"]["binary_data_output"], true);
  EXPECT_FALSE(header["inputs"][0].contains("data"));
  EXPECT_EQ(r.body.size(), jsonLength + 16);
}

TEST(ClientStub, ConcurrentCallsShareThePoolSafely) {
  std::atomic<int> served{0};
  StubServer stub([&](const StubRequest&) {
    ++served;
    return StubResponse{200, R"({"live":true})"};
  });
  auto options = fastOptions(stub.url());
  options.maxIdleConnections = 4;
  Client client(options);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto live = client.live();
        if (!live || !*live) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(served.load(), 200);
  EXPECT_EQ(client.stats().requests, 200u);
  EXPECT_LE(client.stats().connectionsOpened, 200u);
  EXPECT_GE(client.stats().connectionsOpened, 1u);
}

TEST(ClientEndpoint, ParsesUrlsAndRejectsBadOnes) {
  auto a = client::Endpoint::parse("http://127.0.0.1:8083");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8083);
  EXPECT_EQ(a->prefix, "");
  auto b = client::Endpoint::parse("http://models.cern.ch/mlaas/");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 80);
  EXPECT_EQ(b->prefix, "/mlaas");
  auto c = client::Endpoint::parse("[::1]:9000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 9000);
  auto d = client::Endpoint::parse("https://models.cern.ch/mlaas");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->tls);
  EXPECT_EQ(d->port, 443);
  EXPECT_EQ(d->prefix, "/mlaas");
  EXPECT_FALSE(b->tls);
  for (const char* bad : {"ftp://x", "http://", "http://h:0", "http://h:70000", "http://h:x1",
                          "http://u:p@h", "http://h/?q=1", "http://[::1"}) {
    auto parsed = client::Endpoint::parse(bad);
    EXPECT_FALSE(parsed) << bad;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code, Errc::invalid_argument) << bad;
    }
  }
  EXPECT_THROW(Client(ClientOptions{.url = "ftp://secure"}), core::Exception);
}

namespace {

/// A server that answers as soon as it has the request head and closes without reading the
/// body, as a server refusing a body over its limit may: the client's write then fails.
class EarlyAnswerServer {
 public:
  explicit EarlyAnswerServer(std::string response) : response_(std::move(response)) {
    namespace net = boost::asio;
    acceptor_.open(net::ip::tcp::v4());
    acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      std::string head;
      char chunk[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const auto n = socket.read_some(boost::asio::buffer(chunk), ec);
        if (ec) return;
        head.append(chunk, n);
      }
      boost::asio::write(socket, boost::asio::buffer(response_), ec);
      socket.close(ec);  // unread body bytes: the kernel answers the client's next ones with a reset
    });
  }
  ~EarlyAnswerServer() {
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // ends an accept still waiting (as StubServer does)
    thread_.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string response_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace

// An upload over the server's limit showed as "sending the request failed: Broken pipe": the
// client gave up on the write error without reading the 413 the server had sent.
TEST(ClientStub, AnEarlyAnswerToABodyStillBeingSentIsReportedNotTheBrokenPipe) {
  const std::string message = R"({"error":"request body larger than the limit of 4096 bytes"})";
  EarlyAnswerServer server("HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(message.size()) + "\r\nConnection: close\r\n\r\n" + message);
  Client client(fastOptions(server.url()));
  auto card = client.upload("huge", std::string(64u << 20, 'x'));
  ASSERT_FALSE(card);
  EXPECT_EQ(card.error().httpStatus, 413) << card.error().describe();
  EXPECT_NE(card.error().message.find("larger than the limit of 4096 bytes"), std::string::npos)
      << card.error().describe();
}
