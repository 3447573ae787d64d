// `mlaas serve`: the inference server (docs/serving.md, docs/http-api.md).
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <pthread.h>

#include "cli/command.hpp"
#include "core/result.hpp"
#include "serve/server.hpp"

namespace {

// Signed, so that "-5" reaches the config key's range check instead of wrapping around.
struct ServeOptions {
  std::string config, listen, dataDir, tokenFile;
  std::optional<std::int64_t> ioThreads, inferenceThreads, intraOp, maxBodyBytes, maxQueue;
  std::optional<std::int64_t> maxBatchSize, maxQueueDelayUs, ioBatchMaxUs;
  bool inlineInference = false, noAccessLog = false, requireTokenForRead = false, requireTokenForInference = false;
};

/// Applies a flag through its config key (docs/serving.md) with applyServerConfigYaml, so a flag
/// gets exactly the YAML key's checks (ranges, what 0 means); a refused value is a usage error
/// that names the flag and the key: "--max-batch-size: key 'batching.max_batch_size': -5 is outside
/// [1, 1000000]".
void applyFlag(mlaas::serve::ServerConfig& config, const std::string& flag, const char* section, const char* key,
               const std::optional<std::int64_t>& value) {
  if (!value) return;
  try {
    mlaas::serve::applyServerConfigYaml(config, fmt::format("{}: {{{}: {}}}", section, key, *value), flag, ".");
  } catch (const mlaas::core::Exception& e) {
    mlaas::cli::usageError(e.what());
  }
}

void runServe(const ServeOptions& o) {
  using namespace mlaas::serve;
  ServerConfig config = o.config.empty() ? ServerConfig{} : loadServerConfig(o.config);
  if (!o.listen.empty()) {
    try {
      parseListen(config, o.listen);
    } catch (const mlaas::core::Exception& e) {
      mlaas::cli::usageError(fmt::format("--listen: {}", e.what()));
    }
  }
  if (!o.dataDir.empty()) config.dataDir = o.dataDir;
  if (!o.tokenFile.empty()) {
    auto tokens = readTokenFile(o.tokenFile);
    config.tokens.insert(config.tokens.end(), tokens.begin(), tokens.end());
  }
  applyFlag(config, "--io-threads", "threads", "io", o.ioThreads);
  applyFlag(config, "--inference-threads", "threads", "inference", o.inferenceThreads);
  applyFlag(config, "--intra-op-threads", "threads", "intra_op", o.intraOp);
  applyFlag(config, "--io-batch-max-us", "threads", "io_batch_max_us", o.ioBatchMaxUs);
  applyFlag(config, "--max-body-bytes", "limits", "max_body_bytes", o.maxBodyBytes);
  applyFlag(config, "--max-queue", "limits", "max_queue", o.maxQueue);
  applyFlag(config, "--max-batch-size", "batching", "max_batch_size", o.maxBatchSize);
  applyFlag(config, "--max-queue-delay-us", "batching", "max_queue_delay_us", o.maxQueueDelayUs);
  if (o.inlineInference) config.inlineInference = true;
  if (o.noAccessLog) config.accessLog = false;
  if (o.requireTokenForRead) config.requireTokenForRead = true;
  if (o.requireTokenForInference) config.requireTokenForInference = true;

  // Block the stop signals before any thread starts so every thread inherits the mask and this
  // thread alone receives them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Server server(std::move(config));
  server.start();
  // An IPv6 host goes in brackets in a URL (RFC 3986): http://[::1]:8083.
  const auto& host = server.config().host;
  const bool ipv6 = host.find(':') != std::string::npos;
  std::cout << "mlaas serve: listening on http://" << (ipv6 ? "[" : "") << host << (ipv6 ? "]" : "") << ":"
            << server.port() << std::endl;
  int received = 0;
  sigwait(&signals, &received);
  std::cerr << "mlaas serve: signal " << received << ", finishing in-flight requests" << std::endl;
  server.shutdown();
}

void setupServe(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Run the model server (OIP v2, TFaaS endpoints, model repository)");
  cmd->footer(
      "Endpoints: docs/http-api.md. Config keys: docs/serving.md. Flags override the config file.\n"
      "Without tokens the server only listens on loopback addresses; mutating endpoints need a token when any is set.\n"
      "SIGTERM/SIGINT: stop accepting, finish in-flight requests (limits.shutdown_grace_ms), exit 0.");
  cmd->add_option("--config", options->config, "YAML config file (docs/serving.md)");
  cmd->add_option("--listen", options->listen,
                  "HOST:PORT to listen on (default 127.0.0.1:8083; port 0 = any free port)");
  cmd->add_option("--data-dir", options->dataDir,
                  "Data directory: SQLite catalog and model files (default ./mlaas-data)");
  cmd->add_option("--token-file", options->tokenFile,
                  "File with one bearer token per line; required to listen beyond loopback");
  cmd->add_option("--io-threads", options->ioThreads, "HTTP I/O threads, 0-256 (default and 0: hardware threads)");
  cmd->add_option("--inference-threads", options->inferenceThreads,
                  "Inference threads, 0-256 (default and 0: hardware threads)");
  cmd->add_option("--intra-op-threads", options->intraOp, "ONNX Runtime global intra-op threads, 1-256 (default 1)");
  cmd->add_flag("--inline", options->inlineInference,
                "Run all inference on the I/O threads (batched per event-loop round; no inference threads)");
  cmd->add_option("--io-batch-max-us", options->ioBatchMaxUs,
                  "Versions whose batches run faster than this run them on the I/O thread that read them (default "
                  "1000; 0 = never)");
  cmd->add_option("--max-body-bytes", options->maxBodyBytes,
                  "Request body limit in bytes, at least 1024 (default 67108864; beyond it: 413)");
  cmd->add_option("--max-queue", options->maxQueue,
                  "Queued requests per model version before 429, at least 1 (default 1024)");
  cmd->add_option("--max-batch-size", options->maxBatchSize,
                  "Default dynamic batching limit in rows, 1-1000000 (default 64; 1 = off)");
  cmd->add_option("--max-queue-delay-us", options->maxQueueDelayUs,
                  "Default time an under-full batch waits, 0-10000000 (default 0)");
  cmd->add_flag("--no-access-log", options->noAccessLog, "Do not log one line per request");
  cmd->add_flag("--require-token-for-read", options->requireTokenForRead, "Listing and metadata need a token too");
  cmd->add_flag("--require-token-for-inference", options->requireTokenForInference, "Inference needs a token too");
  cmd->callback([options] { runServe(*options); });
}

}  // namespace

MLAAS_CLI_COMMAND(serve, setupServe);
