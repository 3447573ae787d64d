// The mlaas inference server: configuration, and the Server that wires the HTTP layer, the
// repository, the session cache and the scheduler together. Thread owners (see
// docs/serving.md#threads): HttpServer (I/O threads), Scheduler (inference threads), ONNX
// Runtime's global intra-op pool (configured here, once per process).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "serve/repository.hpp"

namespace mlaas::serve {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8083;  ///< 0 = a free port (tests)
  std::filesystem::path dataDir = "mlaas-data";
  std::size_t ioThreads = 0;         ///< 0 = hardware threads
  std::size_t inferenceThreads = 0;  ///< 0 = hardware threads; see inlineInference
  bool inlineInference = false;      ///< run inference on the I/O threads (no batching, least latency)
  std::size_t intraOpThreads = 1;    ///< ORT global intra-op pool
  /// Batches of a version whose recent runs took less than this run on the I/O thread that read
  /// their requests, at the end of its event-loop round (0 = always on inference threads).
  std::chrono::microseconds ioBatchMaxRunTime{1000};
  /// Such a batch runs as soon as it holds this many rows, before the round ends (0 = at the end).
  /// Embedders only, no YAML key or flag (docs/serving.md#threads says when it may help).
  std::int64_t ioBatchFlushRows = 0;
  std::size_t maxBodyBytes = 64u << 20;
  std::chrono::milliseconds headerTimeout{10'000};
  std::chrono::milliseconds bodyTimeout{60'000};
  std::chrono::milliseconds shutdownGrace{30'000};
  std::size_t maxQueue = 1024;  ///< per model version
  std::size_t cacheBytes = std::size_t{4} << 30;
  BatchingPolicy batching{64, 0};
  std::vector<std::string> tokens;
  bool requireTokenForRead = false;
  bool requireTokenForInference = false;
  bool accessLog = true;
};

/// Reads a YAML config (keys in docs/serving.md); throws core::Exception naming the file and key.
ServerConfig loadServerConfig(const std::filesystem::path& file);
/// Applies a YAML config on top of `config`.
void applyServerConfigYaml(ServerConfig& config, const std::string& yamlText, const std::string& sourceName,
                           const std::filesystem::path& baseDir);
/// One token per line; blank lines and lines starting with '#' ignored. Throws when unreadable or empty.
std::vector<std::string> readTokenFile(const std::filesystem::path& file);
/// "HOST:PORT" (IPv6 as "[::1]:PORT") into config.host/port; throws invalid_argument.
void parseListen(ServerConfig& config, const std::string& listen);
/// Refuses a non-loopback listen address without tokens and inconsistent thread settings.
void validateServerConfig(const ServerConfig& config);

class Server {
 public:
  /// Opens the repository (creating the data directory); validates the config.
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts serving; throws core::Exception when the address is taken.
  void start();
  [[nodiscard]] int port() const noexcept;
  /// Graceful: stops accepting, finishes in-flight requests (up to shutdownGrace), stops threads.
  void shutdown();
  /// Operations hook for embedders and tests (not reachable over HTTP): while paused, inference
  /// threads start no new work, so requests queue up to limits.max_queue and get 429 beyond it.
  /// No effect with inline inference.
  void pauseInference();
  void resumeInference();
  /// Inference requests waiting for a thread, over all models (0 before start()).
  [[nodiscard]] std::size_t queuedRequests() const;
  [[nodiscard]] Repository& repository() noexcept;
  [[nodiscard]] const ServerConfig& config() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaas::serve
