// serve::HttpServer on its own: a request gets exactly one response whatever its handler does
// with the responder (answers and then throws, throws first, answers twice, from another thread),
// and the connection keeps serving the next request in order.
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "http_fixture.hpp"
#include "serve/http.hpp"

namespace mlaas::serve {
namespace {

HttpResponse text(std::string body) {
  HttpResponse r;
  r.contentType = "text/plain";
  r.body = std::move(body);
  return r;
}

void handle(HttpRequest&& req, Responder respond) {
  if (req.path == "/answer-then-throw") {
    respond(text("answered"));
    throw std::runtime_error("thrown after the answer");
  }
  if (req.path == "/throw") throw std::runtime_error("thrown before any answer");
  if (req.path == "/twice") {
    respond(text("first"));
    respond(text("second"));
    return;
  }
  if (req.path == "/twice-from-another-thread") {
    std::thread([&respond] {
      respond(text("first"));
      respond(text("second"));
    }).join();
    return;
  }
  if (req.path == "/answer-from-another-thread-then-throw") {
    std::thread([&respond] { respond(text("answered")); }).join();
    throw std::runtime_error("thrown after the answer");
  }
  if (req.path == "/deferred-task-throws") {
    std::function<void()> task = [] { throw std::runtime_error("a deferred task failed"); };
    if (!deferToEndOfIoRound(task)) throw std::logic_error("not on an I/O thread");
  }
  respond(text("plain"));
}

TEST(HttpServer, EveryRequestGetsOneResponseWhateverItsHandlerDoesWithTheResponder) {
  HttpOptions options;
  options.port = 0;
  options.ioThreads = 1;
  options.accessLog = false;
  HttpServer server(options, handle);
  server.start();
  test::RawConnection connection(server.port());
  auto exchange = [&](const std::string& path) {
    connection.send(test::formatRequest("GET", path));
    auto r = connection.read();
    if (!r) throw std::runtime_error("no response to " + path);
    return *r;
  };
  struct Expected {
    std::string path;
    int status;
    std::string bodyPart;
  };
  for (const auto& [path, status, bodyPart] :
       {Expected{"/answer-then-throw", 200, "answered"},
        Expected{"/throw", 500, "internal error: thrown before any answer"}, Expected{"/twice", 200, "first"},
        Expected{"/twice-from-another-thread", 200, "first"},
        Expected{"/answer-from-another-thread-then-throw", 200, "answered"},
        // the task throws on the I/O thread after the answer: the thread must go on serving
        Expected{"/deferred-task-throws", 200, "plain"}}) {
    SCOPED_TRACE(path);
    auto r = exchange(path);
    EXPECT_EQ(r.status, status);
    EXPECT_NE(r.body.find(bodyPart), std::string::npos) << r.body;
    // The next response on the connection is the next request's: nothing else was written.
    auto next = exchange("/plain");
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, "plain");
  }
  server.shutdown(std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace mlaas::serve
