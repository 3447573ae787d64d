#include "client/client.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "client/http.hpp"
#include "client/oip_codec.hpp"

namespace mlaas::client {
namespace {

using core::Errc;
using nlohmann::json;

// Metadata travels in a header when small; larger metadata (a preprocessing spec) goes as a
// multipart part, since servers cap header sizes at a few KiB.
constexpr std::size_t kMaxMetadataHeader = 4096;

/// Thrown inside response decoding for a body that does not have the documented form;
/// caught at the call boundary and returned as Errc::corrupt.
struct BadResponse {
  std::string message;
};

const json& field(const json& object, std::string_view key) {
  static const json null;
  if (!object.is_object()) throw BadResponse{"expected a JSON object"};
  const auto it = object.find(key);
  return it == object.end() ? null : *it;
}

std::string getString(const json& object, std::string_view key) {
  const auto& value = field(object, key);
  if (value.is_null()) return {};
  if (!value.is_string()) throw BadResponse{fmt::format("'{}' is not a string", key)};
  return value.get<std::string>();
}

std::int64_t getInt(const json& object, std::string_view key) {
  const auto& value = field(object, key);
  if (value.is_null()) return 0;
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_string()) {  // OIP spells versions as strings
    const auto text = value.get<std::string>();
    std::int64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc{} && end == text.data() + text.size()) return number;
  }
  throw BadResponse{fmt::format("'{}' is not an integer", key)};
}

std::vector<std::string> getStrings(const json& object, std::string_view key) {
  const auto& value = field(object, key);
  std::vector<std::string> out;
  if (value.is_null()) return out;
  if (!value.is_array()) throw BadResponse{fmt::format("'{}' is not an array", key)};
  for (const auto& item : value) {
    if (item.is_string()) out.push_back(item.get<std::string>());
    else if (item.is_number_integer()) out.push_back(std::to_string(item.get<std::int64_t>()));
    else throw BadResponse{fmt::format("'{}' has a non-string entry", key)};
  }
  return out;
}

std::map<std::string, std::string> getStringMap(const json& object, std::string_view key) {
  const auto& value = field(object, key);
  std::map<std::string, std::string> out;
  if (value.is_null()) return out;
  if (!value.is_object()) throw BadResponse{fmt::format("'{}' is not an object", key)};
  for (const auto& [k, v] : value.items()) out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return out;
}

std::vector<TensorSpec> getTensorSpecs(const json& object, std::string_view key) {
  const auto& value = field(object, key);
  std::vector<TensorSpec> out;
  if (value.is_null()) return out;
  if (!value.is_array()) throw BadResponse{fmt::format("'{}' is not an array", key)};
  for (const auto& item : value) {
    TensorSpec spec{getString(item, "name"), getString(item, "datatype"), {}};
    const auto& shape = field(item, "shape");
    if (shape.is_array())
      for (const auto& dim : shape) {
        if (!dim.is_number_integer()) throw BadResponse{"a shape entry is not an integer"};
        spec.shape.push_back(dim.get<std::int64_t>());
      }
    out.push_back(std::move(spec));
  }
  return out;
}

ModelCard cardFromJson(const json& j) {
  ModelCard card;
  card.name = getString(j, "name");
  card.version = getInt(j, "version");
  card.created = getString(j, "created");
  card.size = static_cast<std::uint64_t>(getInt(j, "size"));
  card.sha256 = getString(j, "sha256");
  card.platform = getString(j, "platform");
  card.inputs = getTensorSpecs(j, "inputs");
  card.outputs = getTensorSpecs(j, "outputs");
  card.description = getString(j, "description");
  card.labels = getStrings(j, "labels");
  card.tags = getStringMap(j, "tags");
  card.aliases = getStrings(j, "aliases");
  if (const auto& metrics = field(j, "metrics"); metrics.is_object())
    for (const auto& [k, v] : metrics.items())
      if (v.is_number()) card.metrics[k] = v.get<double>();
  card.provenance = field(j, "provenance");
  card.preprocessing = field(j, "preprocessing");
  if (const auto& batching = field(j, "batching"); batching.is_object())
    card.batching = BatchingPolicy{getInt(batching, "max_batch_size"), getInt(batching, "max_queue_delay_us")};
  return card;
}

ModelSummary summaryFromJson(const json& j) {
  ModelSummary summary;
  summary.name = getString(j, "name");
  summary.latestVersion = getInt(j, "latest_version");
  if (const auto& versions = field(j, "versions"); versions.is_array())
    for (const auto& v : versions) summary.versions.push_back(v.is_number_integer() ? v.get<std::int64_t>() : 0);
  if (const auto& aliases = field(j, "aliases"); aliases.is_object())
    for (const auto& [k, v] : aliases.items()) summary.aliases[k] = v.is_number_integer() ? v.get<std::int64_t>() : 0;
  summary.tags = getStringMap(j, "tags");
  summary.description = getString(j, "description");
  summary.created = getString(j, "created");
  summary.updated = getString(j, "updated");
  return summary;
}

json metadataToJson(const UploadMetadata& metadata) {
  json j = json::object();
  if (metadata.description) j["description"] = *metadata.description;
  if (!metadata.labels.empty()) j["labels"] = metadata.labels;
  if (!metadata.tags.empty()) j["tags"] = metadata.tags;
  if (!metadata.metrics.empty()) j["metrics"] = metadata.metrics;
  if (!metadata.provenance.is_null()) j["provenance"] = metadata.provenance;
  if (!metadata.preprocessing.is_null()) j["preprocessing"] = metadata.preprocessing;
  if (metadata.batching)
    j["batching"] = {{"max_batch_size", metadata.batching->maxBatchSize},
                     {"max_queue_delay_us", metadata.batching->maxQueueDelayUs}};
  return j;
}

/// A multipart boundary that does not occur in any part.
std::string chooseBoundary(std::string_view a, std::string_view b) {
  for (unsigned n = 0;; ++n) {
    auto boundary = fmt::format("mlaas-boundary-{:08x}", 0x5bd1e995u * (n + 1));
    if (a.find(boundary) == std::string_view::npos && b.find(boundary) == std::string_view::npos) return boundary;
  }
}

std::string modelPath(std::string_view name) { return "/api/v1/models/" + percentEncode(name); }

/// /v2/models/{name}[/versions/{v}] or /v2/models/{name}@{alias}.
Result<std::string> oipModelPath(std::string_view reference) {
  try {
    const auto ref = ModelRef::parse(reference);
    auto path = "/v2/models/" + percentEncode(ref.name);
    if (ref.alias) path += "@" + percentEncode(*ref.alias);
    if (ref.version) path += fmt::format("/versions/{}", *ref.version);
    return path;
  } catch (const core::Exception& e) {
    return Error{e.code(), 0, e.what()};
  }
}

/// /v2/repository/models/{name} or .../{name}@{alias} (no version form in this extension).
Result<std::string> repositoryModelPath(std::string_view reference) {
  try {
    const auto ref = ModelRef::parse(reference);
    if (ref.version)
      return Error{Errc::invalid_argument, 0,
                   fmt::format("'{}': the repository extension takes a name or name@alias, not a version", reference)};
    auto path = "/v2/repository/models/" + percentEncode(ref.name);
    if (ref.alias) path += "@" + percentEncode(*ref.alias);
    return path;
  } catch (const core::Exception& e) {
    return Error{e.code(), 0, e.what()};
  }
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  std::unique_ptr<HttpTransport> transport;

  /// Sends and turns an HTTP error status into an Error with the server's message.
  Result<HttpResponse> call(HttpRequest request) const {
    auto response = transport->send(request);
    if (!response) return response;
    if (response->status >= 400) {
      std::string message;
      const json body = json::parse(response->body, nullptr, false);
      if (body.is_object() && body.contains("error") && body["error"].is_string())
        message = body["error"].get<std::string>();
      else if (!response->body.empty())
        message = response->body.substr(0, 500);
      else
        message = fmt::format("{} {} failed", request.method, request.target);
      return Error{errcForHttpStatus(response->status), response->status, std::move(message)};
    }
    return response;
  }

  /// call() and decode the JSON body with `decode`, which may throw BadResponse.
  template <class T, class Decode>
  Result<T> callJson(HttpRequest request, Decode&& decode) const {
    const auto method = request.method;
    const auto target = request.target;
    auto response = call(std::move(request));
    if (!response) return std::move(response).error();
    const json body = response->body.empty() ? json(nullptr) : json::parse(response->body, nullptr, false);
    auto bad = [&](std::string_view why) {
      return Error{Errc::corrupt, response->status,
                   fmt::format("unexpected response to {} {}: {}", method, target, why)};
    };
    if (body.is_discarded()) return bad("not JSON");
    try {
      return decode(body);
    } catch (const BadResponse& e) {
      return bad(e.message);
    } catch (const json::exception& e) {
      return bad(e.what());
    }
  }

  Result<void> callVoid(HttpRequest request) const {
    auto response = call(std::move(request));
    if (!response) return std::move(response).error();
    return {};
  }

  static HttpRequest jsonRequest(std::string method, std::string target, const json& body, bool idempotent = true) {
    HttpRequest request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = body.dump();
    request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    request.idempotent = idempotent;
    return request;
  }
  static HttpRequest getRequest(std::string target, bool idempotent = true) {
    HttpRequest request;
    request.method = "GET";
    request.target = std::move(target);
    request.headers = {{"Accept", "application/json"}};
    request.idempotent = idempotent;
    return request;
  }
  static HttpRequest deleteRequest(std::string target) {
    HttpRequest request = getRequest(std::move(target));
    request.method = "DELETE";
    return request;
  }
};

ClientOptions optionsFromCommandLine(const std::string& server, const std::string& token,
                                     const std::string& tokenFile) {
  ClientOptions options;
  if (!server.empty()) options.url = server;
  else if (const char* env = std::getenv("MLAAS_SERVER"); env && *env) options.url = env;
  if (!token.empty()) {
    options.token = token;
  } else if (!tokenFile.empty()) {
    std::ifstream file(tokenFile);
    if (!file) throw core::Exception(Errc::not_found, fmt::format("{}: cannot read the token file", tokenFile));
    std::string line;
    while (std::getline(file, line)) {
      const auto begin = line.find_first_not_of(" \t\r");
      if (begin == std::string::npos || line[begin] == '#') continue;
      options.token = line.substr(begin, line.find_last_not_of(" \t\r") + 1 - begin);
      break;
    }
    if (options.token.empty())
      throw core::Exception(Errc::invalid_argument, fmt::format("{}: the token file holds no token", tokenFile));
  } else if (const char* env = std::getenv("MLAAS_TOKEN"); env && *env) {
    options.token = env;
  }
  return options;
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  auto endpoint = Endpoint::parse(options.url);
  if (!endpoint) throw core::Exception(endpoint.error().toCore());
  TransportOptions transport;
  transport.token = options.token;
  transport.connectTimeout = options.connectTimeout;
  transport.requestTimeout = options.requestTimeout;
  transport.maxRetries = options.maxRetries;
  transport.retryBackoff = options.retryBackoff;
  transport.maxIdleConnections = options.maxIdleConnections;
  transport.maxResponseBytes = options.maxResponseBytes;
  transport.caFile = options.caFile;
  transport.insecure = options.insecure;
  impl_->transport = std::make_unique<HttpTransport>(std::move(*endpoint), std::move(transport));
  impl_->options = std::move(options);
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const ClientOptions& Client::options() const noexcept { return impl_->options; }

ClientStats Client::stats() const {
  const auto s = impl_->transport->stats();
  return ClientStats{s.requests, s.connectionsOpened, s.retries};
}

// ---- repository ------------------------------------------------------------------------------

namespace {
/// POST name/versions with the model as the body and the metadata in a header, or both as
/// multipart parts when the metadata is too long for a header.
HttpRequest uploadRequest(std::string_view name, std::string_view onnx, const UploadMetadata& metadata,
                          bool dryRun) {
  HttpRequest request;
  request.method = "POST";
  request.target = modelPath(name) + "/versions" + (dryRun ? "?dry_run=true" : "");
  request.idempotent = dryRun;  // a retried upload could store the model twice; a dry run stores nothing
  request.headers = {{"Accept", "application/json"}};
  const auto meta = metadataToJson(metadata);
  const auto metaText = meta.empty() ? std::string() : meta.dump(-1, ' ', /*ensure_ascii=*/true);
  if (metaText.size() <= kMaxMetadataHeader) {
    request.headers.emplace_back("Content-Type", "application/octet-stream");
    if (!metaText.empty()) request.headers.emplace_back("X-Mlaas-Metadata", metaText);
    request.body = std::string(onnx);
  } else {
    const auto boundary = chooseBoundary(onnx, metaText);
    request.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + boundary);
    request.body = fmt::format(
        "--{0}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{1}\r\n"
        "--{0}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"model.onnx\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n",
        boundary, metaText);
    request.body += onnx;
    request.body += fmt::format("\r\n--{}--\r\n", boundary);
  }
  return request;
}
}  // namespace

Result<ModelCard> Client::upload(std::string_view name, std::string_view onnx, const UploadMetadata& metadata) const {
  return impl_->callJson<ModelCard>(uploadRequest(name, onnx, metadata, false),
                                    [](const json& body) { return cardFromJson(body); });
}

Result<UploadCheck> Client::checkUpload(std::string_view name, std::string_view onnx,
                                        const UploadMetadata& metadata) const {
  // A server older than dry runs would store a model sent with the flag: the model goes only to a
  // server that has just answered an empty dry run as one (an old one refuses the empty body).
  if (!onnx.empty()) {
    auto probe = checkUpload(name, {}, metadata);
    if (!probe && probe.error().httpStatus == 400 &&
        probe.error().message.find("the ONNX file is empty") != std::string::npos)
      return Error{Errc::unsupported, 400,
                   "the server does not support dry runs (it ignored dry_run and refused the empty probe); "
                   "the model was not sent"};
    if (!probe) return probe;
  }
  return impl_->callJson<UploadCheck>(uploadRequest(name, onnx, metadata, true), [](const json& body) {
    if (!body.is_object() || body.value("dry_run", false) != true)
      throw BadResponse{"the server did not answer as a dry run (a server without dry_run stores what it is sent)"};
    return UploadCheck{body.value("name", std::string()), body.value("version", std::int64_t{0}),
                       body.value("model_checked", false)};
  });
}

Result<ModelCard> Client::upload(std::string_view name, std::span<const std::uint8_t> onnx,
                                 const UploadMetadata& metadata) const {
  return upload(name, std::string_view(reinterpret_cast<const char*>(onnx.data()), onnx.size()), metadata);
}

Result<ModelCard> Client::uploadFile(std::string_view name, const std::filesystem::path& onnxFile,
                                     const UploadMetadata& metadata) const {
  std::ifstream file(onnxFile, std::ios::binary);
  if (!file) return Error{Errc::not_found, 0, fmt::format("{}: cannot open the model file", onnxFile.string())};
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return Error{Errc::io, 0, fmt::format("{}: read failed", onnxFile.string())};
  return upload(name, std::string_view(bytes), metadata);
}

Result<std::vector<ModelSummary>> Client::listModels(std::string_view query) const {
  auto target = std::string("/api/v1/models");
  if (!query.empty()) target += "?q=" + percentEncode(query);
  return impl_->callJson<std::vector<ModelSummary>>(Impl::getRequest(target), [](const json& body) {
    std::vector<ModelSummary> out;
    const auto& models = field(body, "models");
    if (!models.is_array()) throw BadResponse{"no 'models' array"};
    for (const auto& model : models) out.push_back(summaryFromJson(model));
    return out;
  });
}

Result<ModelDetails> Client::getModel(std::string_view name) const {
  return impl_->callJson<ModelDetails>(Impl::getRequest(modelPath(name)), [](const json& body) {
    ModelDetails details{summaryFromJson(body), {}};
    if (const auto& cards = field(body, "cards"); cards.is_array())
      for (const auto& card : cards) details.cards.push_back(cardFromJson(card));
    return details;
  });
}

Result<ModelCard> Client::getVersion(std::string_view name, std::int64_t version) const {
  return impl_->callJson<ModelCard>(Impl::getRequest(fmt::format("{}/versions/{}", modelPath(name), version)),
                                    [](const json& body) { return cardFromJson(body); });
}

Result<ModelCard> Client::getCard(std::string_view reference) const {
  ModelRef ref;
  try {
    ref = ModelRef::parse(reference);
  } catch (const core::Exception& e) {
    return Error{e.code(), 0, e.what()};
  }
  if (ref.version) return getVersion(ref.name, *ref.version);
  if (ref.alias)
    return impl_->callJson<ModelCard>(Impl::getRequest(modelPath(ref.name) + "@" + percentEncode(*ref.alias)),
                                      [](const json& body) { return cardFromJson(body); });
  auto details = getModel(ref.name);
  if (!details) return std::move(details).error();
  for (auto& card : details->cards)
    if (card.version == details->summary.latestVersion) return std::move(card);
  return Error{
      Errc::corrupt, 200,
      fmt::format("model '{}' lists latest version {} without its card", ref.name, details->summary.latestVersion)};
}

Result<std::vector<ModelCard>> Client::listVersions(std::string_view name) const {
  return impl_->callJson<std::vector<ModelCard>>(Impl::getRequest(modelPath(name) + "/versions"), [](const json& body) {
    std::vector<ModelCard> out;
    const auto& versions = field(body, "versions");
    if (!versions.is_array()) throw BadResponse{"no 'versions' array"};
    for (const auto& card : versions) out.push_back(cardFromJson(card));
    return out;
  });
}

Result<AliasInfo> Client::setAlias(std::string_view name, std::string_view alias, std::int64_t version) const {
  return impl_->callJson<AliasInfo>(
      Impl::jsonRequest("PUT", modelPath(name) + "/aliases/" + percentEncode(alias), json{{"version", version}}),
      [](const json& body) {
        return AliasInfo{getString(body, "name"), getString(body, "alias"), getInt(body, "version")};
      });
}

Result<void> Client::deleteAlias(std::string_view name, std::string_view alias) const {
  return impl_->callVoid(Impl::deleteRequest(modelPath(name) + "/aliases/" + percentEncode(alias)));
}

Result<void> Client::setModelTag(std::string_view name, std::string_view key, std::string_view value) const {
  return impl_->callVoid(
      Impl::jsonRequest("PUT", modelPath(name) + "/tags/" + percentEncode(key), json{{"value", std::string(value)}}));
}

Result<void> Client::deleteModelTag(std::string_view name, std::string_view key) const {
  return impl_->callVoid(Impl::deleteRequest(modelPath(name) + "/tags/" + percentEncode(key)));
}

Result<void> Client::setVersionTag(std::string_view name, std::int64_t version, std::string_view key,
                                   std::string_view value) const {
  return impl_->callVoid(
      Impl::jsonRequest("PUT", fmt::format("{}/versions/{}/tags/{}", modelPath(name), version, percentEncode(key)),
                        json{{"value", std::string(value)}}));
}

Result<void> Client::deleteVersionTag(std::string_view name, std::int64_t version, std::string_view key) const {
  return impl_->callVoid(
      Impl::deleteRequest(fmt::format("{}/versions/{}/tags/{}", modelPath(name), version, percentEncode(key))));
}

Result<void> Client::deleteVersion(std::string_view name, std::int64_t version) const {
  return impl_->callVoid(Impl::deleteRequest(fmt::format("{}/versions/{}", modelPath(name), version)));
}

Result<void> Client::deleteModel(std::string_view name) const {
  return impl_->callVoid(Impl::deleteRequest(modelPath(name)));
}

// ---- Open Inference Protocol ---------------------------------------------------------------------

Result<ServerInfo> Client::serverInfo() const {
  return impl_->callJson<ServerInfo>(Impl::getRequest("/v2"), [](const json& body) {
    return ServerInfo{getString(body, "name"), getString(body, "version"), getStrings(body, "extensions")};
  });
}

namespace {
/// 200 -> true, 503 -> false (a server that is up but not ready), anything else an error.
Result<bool> healthProbe(const HttpTransport& transport, std::string target) {
  HttpRequest request;
  request.target = std::move(target);
  request.idempotent = false;  // a probe reports the state now; retrying would hide it
  auto response = transport.send(request);
  if (!response) return std::move(response).error();
  if (response->status == 200) return true;
  if (response->status == 503) return false;
  return Error{errcForHttpStatus(response->status), response->status,
               fmt::format("GET {} answered {}", request.target, response->status)};
}
}  // namespace

Result<bool> Client::live() const { return healthProbe(*impl_->transport, "/v2/health/live"); }
Result<bool> Client::ready() const { return healthProbe(*impl_->transport, "/v2/health/ready"); }

Result<ModelMetadata> Client::modelMetadata(std::string_view reference) const {
  auto path = oipModelPath(reference);
  if (!path) return std::move(path).error();
  return impl_->callJson<ModelMetadata>(Impl::getRequest(*path), [](const json& body) {
    return ModelMetadata{getString(body, "name"), getStrings(body, "versions"), getString(body, "platform"),
                         getTensorSpecs(body, "inputs"), getTensorSpecs(body, "outputs")};
  });
}

Result<bool> Client::modelReady(std::string_view reference) const {
  auto path = oipModelPath(reference);
  if (!path) return std::move(path).error();
  return impl_->callJson<bool>(Impl::getRequest(*path + "/ready"), [](const json& body) {
    const auto& ready = field(body, "ready");
    if (!ready.is_boolean()) throw BadResponse{"no boolean 'ready'"};
    return ready.get<bool>();
  });
}

Result<InferResponse> Client::infer(std::string_view reference, const InferRequest& request, Encoding encoding) const {
  auto path = oipModelPath(reference);
  if (!path) return std::move(path).error();
  auto encoded = encodeInferRequest(request, encoding);
  if (!encoded) return std::move(encoded).error();
  HttpRequest http;
  http.method = "POST";
  http.target = *path + "/infer";
  http.idempotent = true;  // inference has no side effects: safe to repeat
  http.body = std::move(encoded->body);
  if (encoded->binary) {
    http.headers = {{"Content-Type", "application/octet-stream"},
                    {"Inference-Header-Content-Length", std::to_string(encoded->jsonLength)}};
  } else {
    http.headers = {{"Content-Type", "application/json"}};
  }
  auto response = impl_->call(std::move(http));
  if (!response) return std::move(response).error();
  std::optional<std::size_t> headerLength;
  if (const auto text = response->header("Inference-Header-Content-Length"); !text.empty()) {
    std::size_t length = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (ec != std::errc{} || end != text.data() + text.size())
      return Error{Errc::corrupt, response->status, fmt::format("bad Inference-Header-Content-Length '{}'", text)};
    headerLength = length;
  }
  auto decoded = decodeInferResponse(response->body, headerLength);
  if (!decoded) {
    auto error = std::move(decoded).error();
    error.httpStatus = response->status;
    return error;
  }
  return decoded;
}

Result<std::vector<RepositoryEntry>> Client::repositoryIndex(bool readyOnly) const {
  return impl_->callJson<std::vector<RepositoryEntry>>(
      Impl::jsonRequest("POST", "/v2/repository/index", json{{"ready", readyOnly}}), [](const json& body) {
        if (!body.is_array()) throw BadResponse{"not an array"};
        std::vector<RepositoryEntry> out;
        for (const auto& entry : body)
          out.push_back(RepositoryEntry{getString(entry, "name"),
                                        field(entry, "version").is_number_integer()
                                            ? std::to_string(getInt(entry, "version"))
                                            : getString(entry, "version"),
                                        getString(entry, "state"), getString(entry, "reason")});
        return out;
      });
}

Result<void> Client::loadModel(std::string_view reference) const {
  auto path = repositoryModelPath(reference);
  if (!path) return std::move(path).error();
  return impl_->callVoid(Impl::jsonRequest("POST", *path + "/load", json::object()));
}

Result<void> Client::unloadModel(std::string_view reference) const {
  auto path = repositoryModelPath(reference);
  if (!path) return std::move(path).error();
  return impl_->callVoid(Impl::jsonRequest("POST", *path + "/unload", json::object()));
}

// ---- TFaaS -----------------------------------------------------------------------------------

namespace {
std::vector<double> numberRow(const json& row) {
  if (!row.is_array()) throw BadResponse{"a prediction row is not an array"};
  std::vector<double> out;
  for (const auto& v : row) {
    if (!v.is_number()) throw BadResponse{"a prediction is not a number"};
    out.push_back(v.get<double>());
  }
  return out;
}
}  // namespace

Result<std::vector<double>> Client::tfaasPredict(std::string_view reference, const std::vector<std::string>& keys,
                                                 std::span<const double> values) const {
  const json body = {{"keys", keys}, {"values", std::vector<double>(values.begin(), values.end())},
                     {"model", std::string(reference)}};
  return impl_->callJson<std::vector<double>>(Impl::jsonRequest("POST", "/json", body),
                                              [](const json& response) { return numberRow(response); });
}

Result<std::vector<std::vector<double>>> Client::tfaasPredictBatch(std::string_view reference,
                                                                   const std::vector<std::string>& keys,
                                                                   const std::vector<std::vector<double>>& rows) const {
  const json body = {{"keys", keys}, {"values", rows}, {"model", std::string(reference)}};
  return impl_->callJson<std::vector<std::vector<double>>>(Impl::jsonRequest("POST", "/json", body),
                                                           [](const json& response) {
                                                             if (!response.is_array())
                                                               throw BadResponse{"not an array"};
                                                             std::vector<std::vector<double>> out;
                                                             for (const auto& row : response)
                                                               out.push_back(numberRow(row));
                                                             return out;
                                                           });
}

Result<TfaasImageResult> Client::tfaasImage(std::string_view reference, std::string_view image,
                                            std::string_view filename) const {
  HttpRequest request;
  request.method = "POST";
  request.target = "/image";
  request.idempotent = true;  // inference has no side effects
  const auto boundary = chooseBoundary(image, reference);
  request.headers = {{"Content-Type", "multipart/form-data; boundary=" + boundary}, {"Accept", "application/json"}};
  std::string safeName(filename);
  for (auto& c : safeName)
    if (c == '"' || c == '\r' || c == '\n') c = '_';  // a quoted header parameter
  request.body = fmt::format("--{}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{}\r\n--{}\r\n"
                             "Content-Disposition: form-data; name=\"image\"; filename=\"{}\"\r\n"
                             "Content-Type: application/octet-stream\r\n\r\n",
                             boundary, reference, boundary, safeName);
  request.body.append(image);
  request.body += fmt::format("\r\n--{}--\r\n", boundary);
  return impl_->callJson<TfaasImageResult>(std::move(request), [](const json& body) {
    TfaasImageResult out;
    if (body.is_array()) {
      out.values = numberRow(body);
      return out;
    }
    if (!body.is_object() || !body.contains("labels") || !body["labels"].is_array())
      throw BadResponse{"neither an output row nor a {filename, labels} object"};
    out.filename = getString(body, "filename");
    for (const auto& item : body["labels"]) {
      if (!item.is_object() || !item.contains("probability") || !item["probability"].is_number())
        throw BadResponse{"a label entry has no numeric probability"};
      out.labels.push_back({getString(item, "label"), item["probability"].get<double>()});
    }
    return out;
  });
}

Result<std::vector<TfaasParams>> Client::tfaasModels() const {
  return impl_->callJson<std::vector<TfaasParams>>(Impl::getRequest("/models"), [](const json& body) {
    std::vector<TfaasParams> out;
    if (body.is_null()) return out;  // TFaaS itself answered null for "no models"
    if (!body.is_array()) throw BadResponse{"not an array"};
    for (const auto& item : body) {
      TfaasParams params;
      params.name = getString(item, "name");
      params.model = getString(item, "model");
      if (const auto& labels = field(item, "labels"); labels.is_array()) {
        for (const auto& label : labels)
          params.labels +=
              (params.labels.empty() ? "" : ",") + (label.is_string() ? label.get<std::string>() : label.dump());
      } else {
        params.labels = getString(item, "labels");
      }
      params.inputNode = getString(item, "inputNode");
      params.outputNode = getString(item, "outputNode");
      params.description = getString(item, "description");
      params.timestamp = getString(item, "timestamp");
      out.push_back(std::move(params));
    }
    return out;
  });
}

}  // namespace mlaas::client
