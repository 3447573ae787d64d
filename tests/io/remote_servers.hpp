// Real servers on loopback for the remote-source tests: nginx (HTTP ranges, multipart) and xrootd,
// each in its own temporary prefix on a free port, stopped when the object dies. Also a tiny
// misbehaving HTTP server for the failure cases no real server produces on request.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace mlaas::test {

inline bool haveProgram(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

/// nginx serving `root` at http://127.0.0.1:<port>/; /single/ is the same folder with
/// multi-range requests disabled (max_ranges 1: the server answers them with the whole file);
/// /redirect/x answers 302 to /x.
class NginxServer {
 public:
  explicit NginxServer(fs::path root, int port = 0) : root_(std::move(root)), port_(port ? port : freeLoopbackPort()) {
    for (const char* sub : {"logs", "tmp"}) fs::create_directories(prefix_ / sub);
    writeConfig();
  }
  /// Serves https:// with this certificate instead; with a token, every request must carry
  /// "Authorization: Bearer <token>" (else 401). Call before start().
  void enableTls(const fs::path& cert, const fs::path& key, const std::string& requiredToken) {
    listen_ = "listen 127.0.0.1:" + std::to_string(port_) + " ssl;\n    ssl_certificate " + cert.string() +
              ";\n    ssl_certificate_key " + key.string() + ";\n";
    if (!requiredToken.empty()) {
      listen_ += "    if ($http_authorization != \"Bearer " + requiredToken + "\") { return 401; }\n";
    }
    scheme_ = "https";
    writeConfig();
  }
  /// Starts (or restarts) the server; false when it did not come up.
  bool start() {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"nginx", "-p", prefix_.path().string(), "-c", (prefix_ / "nginx.conf").string(), "-e",
                                 (prefix_ / "logs/error.log").string()},
        prefix_ / "logs/stdout.log");
    return waitForPort(port_, std::chrono::seconds(20));
  }
  void stop() {
    if (process_) process_->stop();
    process_.reset();
  }
  [[nodiscard]] std::string url(const std::string& path) const {
    return scheme_ + "://127.0.0.1:" + std::to_string(port_) + "/" + path;
  }
  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string log() const { return readFile(prefix_ / "logs/error.log"); }

 private:
  void writeConfig() {
    const auto p = prefix_.path().string();
    const auto listen = listen_.empty() ? "listen 127.0.0.1:" + std::to_string(port_) + ";\n" : listen_;
    writeFile(prefix_ / "nginx.conf",
              "daemon off;\nmaster_process off;\nworker_processes 1;\npid " + p + "/nginx.pid;\nerror_log " + p +
                  "/logs/error.log;\n"
                  "events { worker_connections 256; }\nhttp {\n  access_log " +
                  p + "/logs/access.log;\n  client_body_temp_path " + p + "/tmp/body;\n  proxy_temp_path " + p +
                  "/tmp/proxy;\n  fastcgi_temp_path " + p + "/tmp/fastcgi;\n  uwsgi_temp_path " + p +
                  "/tmp/uwsgi;\n  scgi_temp_path " + p + "/tmp/scgi;\n  keepalive_requests 100000;\n  server {\n    " +
                  listen + "    root " + root_.string() + ";\n    location /single/ { alias " + root_.string() +
                  "/; max_ranges 1; }\n"
                  "    location /redirect/ { rewrite ^/redirect/(.*)$ /$1 redirect; }\n  }\n}\n");
  }

  TempDir prefix_;
  fs::path root_;
  int port_;
  std::string listen_;
  std::string scheme_ = "http";
  std::unique_ptr<Process> process_;
};

/// xrootd serving `root` at root://127.0.0.1:<port>//. xrootd refuses to run as root, so it is
/// started with -R xrootd (the Debian package's user), which needs read access to `root`.
class XrootdServer {
 public:
  explicit XrootdServer(fs::path root, int port = 0) : root_(std::move(root)), port_(port ? port : freeLoopbackPort()) {
    const auto p = prefix_.path().string();
    writeFile(prefix_ / "xrootd.cfg", "xrd.port " + std::to_string(port_) + "\nall.export /\noss.localroot " +
                                          root_.string() + "\nall.adminpath " + p + "/admin\nall.pidpath " + p +
                                          "/run\n");
    if (::geteuid() == 0) {
      if (const passwd* user = ::getpwnam("xrootd")) {
        runAs_ = "xrootd";
        // The temporary prefix is 0700 root; the dropped-privilege server must write there.
        if (::chown(prefix_.path().c_str(), user->pw_uid, user->pw_gid) != 0) runAs_.clear();
      }
    }
  }
  /// Why the server cannot run here, or "" when it can.
  [[nodiscard]] std::string unavailableReason() const {
    if (!haveProgram("xrootd")) return "xrootd is not installed (Debian package xrootd-server)";
    if (::geteuid() == 0 && runAs_.empty()) return "running as root and there is no 'xrootd' user for xrootd -R";
    return {};
  }
  bool start() {
    std::vector<std::string> argv{"xrootd", "-c", (prefix_ / "xrootd.cfg").string(), "-l",
                                  (prefix_ / "xrootd.log").string(), "-n", "mlaas"};
    if (!runAs_.empty()) argv.insert(argv.end(), {"-R", runAs_});
    process_ = std::make_unique<Process>(argv, prefix_ / "stdout.log");
    return waitForPort(port_, std::chrono::seconds(20));
  }
  void stop() {
    if (process_) process_->stop(9);  // a crash, not a graceful shutdown
    process_.reset();
  }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "root://127.0.0.1:" + std::to_string(port_) + "//" + path;
  }
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  TempDir prefix_;
  fs::path root_;
  int port_;
  std::string runAs_;
  std::unique_ptr<Process> process_;
};

/// A one-connection-at-a-time HTTP/1.1 server on loopback whose answers a test scripts:
/// respond(rangeHeader) returns the raw bytes to send; the connection is closed after each.
class ScriptedHttpServer {
 public:
  using Responder = std::function<std::string(const std::string& rangeHeader)>;
  explicit ScriptedHttpServer(Responder respond) : respond_(std::move(respond)) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listenFd_, 16) != 0) {
      throw std::runtime_error("ScriptedHttpServer: cannot listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedHttpServer() {
    stopping_ = true;
    ::shutdown(listenFd_, SHUT_RDWR);
    thread_.join();
    ::close(listenFd_);
  }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + path;
  }
  [[nodiscard]] int requests() const noexcept { return requests_.load(); }

 private:
  void serve() {
    while (!stopping_) {
      pollfd pfd{listenFd_, POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) continue;
      const int fd = ::accept(listenFd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      std::string range;
      if (const auto at = request.find("Range: "); at != std::string::npos) {
        range = request.substr(at + 7, request.find("\r\n", at) - at - 7);
      }
      ++requests_;
      const std::string reply = respond_(range);
      std::size_t sent = 0;
      while (sent < reply.size()) {
        const auto n = ::send(fd, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ::close(fd);
    }
  }

  Responder respond_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace mlaas::test
