// The C++ client of the mlaas server: one typed call per endpoint of docs/http-api.md.
//
// Thread safety: a Client may be shared by any number of threads; every method is safe to call
// concurrently. Each call borrows one keep-alive connection from the client's pool for its
// duration (a new one is opened when none is idle) and returns it afterwards.
//
// Failures never throw: every call returns client::Result<T> whose Error carries the Errc, the
// HTTP status (0 when no response arrived) and the server's message. Idempotent calls (GET, PUT,
// DELETE and inference, which has no side effects) are retried on connection failures, timeouts,
// 429, 502, 503 and 504 with exponential backoff; uploads and other POSTs that change state are
// never retried.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/result.hpp"
#include "client/types.hpp"

namespace mlaas::client {

struct ClientOptions {
  std::string url = "http://127.0.0.1:8083";  ///< http[s]://host[:port][/prefix]
  std::string token;                           ///< bearer token; empty: none sent
  std::chrono::milliseconds connectTimeout{5000};
  std::chrono::milliseconds requestTimeout{60000};  ///< one deadline for sending and receiving
  int maxRetries = 3;                                ///< extra attempts for idempotent calls
  std::chrono::milliseconds retryBackoff{100};       ///< first pause; doubles, at most 2 s
  std::size_t maxIdleConnections = 16;
  std::uint64_t maxResponseBytes = std::uint64_t{1} << 30;
  /// https: PEM file of CA certificates to trust; empty: env MLAAS_CA_FILE, else the system
  /// store (OpenSSL's default, which honours SSL_CERT_FILE / SSL_CERT_DIR).
  std::string caFile;
  bool insecure = false;  ///< https without certificate verification (never for production)
};

/// Connection counters, for tests and diagnostics.
struct ClientStats {
  std::uint64_t requests = 0;           ///< HTTP exchanges attempted (retries included)
  std::uint64_t connectionsOpened = 0;  ///< TCP connections made
  std::uint64_t retries = 0;
};

/// Options for command-line tools: server = `server`, else env MLAAS_SERVER, else the default;
/// token = `token`, else the first non-empty line of `tokenFile`, else env MLAAS_TOKEN.
/// Throws core::Exception naming the token file when it cannot be read or holds no token.
ClientOptions optionsFromCommandLine(const std::string& server, const std::string& token,
                                     const std::string& tokenFile);

class Client {
 public:
  /// Throws core::Exception(invalid_argument) for a URL that is not http[s]://host[:port][/prefix]
  /// or a CA file that cannot be loaded.
  explicit Client(ClientOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // ---- model repository (/api/v1) ----
  Result<ModelCard> upload(std::string_view name, std::span<const std::uint8_t> onnx,
                           const UploadMetadata& metadata = {}) const;
  Result<ModelCard> upload(std::string_view name, std::string_view onnx, const UploadMetadata& metadata = {}) const;
  /// An upload's dry run (`?dry_run=true`): the token, the name, the metadata and, when `onnx` is
  /// not empty, the model are checked as an upload checks them; nothing is stored. Safe to retry.
  Result<UploadCheck> checkUpload(std::string_view name, std::string_view onnx = {},
                                  const UploadMetadata& metadata = {}) const;
  /// Reads the file first; a missing file is Errc::not_found with httpStatus 0.
  Result<ModelCard> uploadFile(std::string_view name, const std::filesystem::path& onnxFile,
                               const UploadMetadata& metadata = {}) const;
  /// Every model; `query` uses the server's search terms (name:GLOB, tag:K[=V], alias:A, words).
  Result<std::vector<ModelSummary>> listModels(std::string_view query = {}) const;
  Result<ModelDetails> getModel(std::string_view name) const;
  /// The card of `name` (latest), `name/versions/N` or `name@alias`.
  Result<ModelCard> getCard(std::string_view reference) const;
  Result<ModelCard> getVersion(std::string_view name, std::int64_t version) const;
  Result<std::vector<ModelCard>> listVersions(std::string_view name) const;
  Result<AliasInfo> setAlias(std::string_view name, std::string_view alias, std::int64_t version) const;
  Result<void> deleteAlias(std::string_view name, std::string_view alias) const;
  Result<void> setModelTag(std::string_view name, std::string_view key, std::string_view value) const;
  Result<void> deleteModelTag(std::string_view name, std::string_view key) const;
  Result<void> setVersionTag(std::string_view name, std::int64_t version, std::string_view key,
                             std::string_view value) const;
  Result<void> deleteVersionTag(std::string_view name, std::int64_t version, std::string_view key) const;
  Result<void> deleteVersion(std::string_view name, std::int64_t version) const;
  Result<void> deleteModel(std::string_view name) const;

  // ---- Open Inference Protocol v2 ----
  Result<ServerInfo> serverInfo() const;
  /// true when /v2/health/live (ready) answers 200.
  Result<bool> live() const;
  Result<bool> ready() const;
  Result<ModelMetadata> modelMetadata(std::string_view reference) const;
  Result<bool> modelReady(std::string_view reference) const;
  Result<InferResponse> infer(std::string_view reference, const InferRequest& request,
                              Encoding encoding = Encoding::json) const;
  Result<std::vector<RepositoryEntry>> repositoryIndex(bool readyOnly = false) const;
  Result<void> loadModel(std::string_view reference) const;
  Result<void> unloadModel(std::string_view reference) const;

  // ---- TFaaS compatibility ----
  /// POST /json with one row: the model's output row.
  Result<std::vector<double>> tfaasPredict(std::string_view reference, const std::vector<std::string>& keys,
                                           std::span<const double> values) const;
  /// POST /json with a batch of rows: one output row per input row.
  Result<std::vector<std::vector<double>>> tfaasPredictBatch(std::string_view reference,
                                                             const std::vector<std::string>& keys,
                                                             const std::vector<std::vector<double>>& rows) const;
  Result<std::vector<TfaasParams>> tfaasModels() const;
  /// POST /image (multipart: `image` = the PNG or JPEG bytes, sent as `filename`; `model`).
  Result<TfaasImageResult> tfaasImage(std::string_view reference, std::string_view image,
                                      std::string_view filename = "image") const;

  // ---- raw events (src/client/predict_events.cpp) ----
  /// POST /api/v1/models/{ref}/predict-events with `eventsJson` ({"events": [...]} or a bare
  /// array of event objects); the server's answer (model_name, model_version, labels, outputs).
  Result<nlohmann::json> predictEvents(std::string_view reference, std::string_view eventsJson) const;

  [[nodiscard]] ClientStats stats() const;
  [[nodiscard]] const ClientOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlaas::client
