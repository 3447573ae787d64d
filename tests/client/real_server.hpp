// Starts the real `mlaas serve` on a free loopback port with a fresh data directory and an
// admin token, and stops it when the test ends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace mlaas::test {

class RealServer {
 public:
  static constexpr const char* kToken = "client-test-token";

  explicit RealServer(std::vector<std::string> extra = {}) : port_(freeLoopbackPort()) {
    writeFile(dir_ / "tokens", std::string(kToken) + "\n");
    std::vector<std::string> argv{mlaasBinary().string(),
                                  "serve",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port_),
                                  "--data-dir",
                                  (dir_ / "data").string(),
                                  "--token-file",
                                  (dir_ / "tokens").string(),
                                  "--no-access-log"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Process>(argv, dir_ / "serve.log");
    ready_ = waitForPort(port_);
  }

  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string log() const { return readFile(dir_ / "serve.log"); }
  [[nodiscard]] const TempDir& dir() const { return dir_; }
  Process& process() { return *process_; }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Process> process_;
  bool ready_ = false;
};

}  // namespace mlaas::test
