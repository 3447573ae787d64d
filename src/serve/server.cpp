// Routing and handlers of the mlaas server (docs/http-api.md is the contract).
#include "serve/server.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "serve/ascii.hpp"
#include "serve/codec.hpp"
#include "serve/engine.hpp"
#include "serve/http.hpp"
#include "serve/image.hpp"
#include "serve/json_util.hpp"
#include "serve/metrics.hpp"
#include "serve/predict_events.hpp"
#include "serve/upload_formats.hpp"

namespace mlaas::serve {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using detail::lowerCopy;

namespace {

int statusOf(core::Errc code) {
  switch (code) {
    case core::Errc::invalid_argument: return 400;
    case core::Errc::corrupt: return 400;
    case core::Errc::not_found: return 404;
    case core::Errc::unsupported: return 501;
    case core::Errc::unavailable: return 503;
    case core::Errc::resource_exhausted: return 429;
    case core::Errc::unauthenticated: return 401;
    case core::Errc::permission_denied: return 403;
    case core::Errc::conflict: return 409;
    case core::Errc::timeout: return 504;
    default: return 500;
  }
}

HttpResponse jsonResponse(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse errorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = detail::errorBody(message);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  // A full queue drains within milliseconds; one second is the smallest delay the header can say.
  if (status == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

HttpResponse errorResponse(const core::Error& error) { return errorResponse(statusOf(error.code), error.message); }

/// Query parameter value (percent-decoded) or nullopt.
std::optional<std::string> queryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      auto value = percentDecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (value) return *value;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

bool constantTimeEqual(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<std::size_t>(1, b.size())]);
  return diff == 0;
}

json cardJson(const ModelRecord& model, const VersionRecord& v) {
  json card = json::parse(v.metadataJson, nullptr, false);
  if (!card.is_object()) card = json::object();
  json aliases = json::array();
  for (const auto& [alias, version] : model.aliases)
    if (version == v.version) aliases.push_back(alias);
  json sig = detail::signatureToJson(v.signature);
  card["name"] = v.name;
  card["version"] = v.version;
  card["created"] = v.created;
  card["size"] = v.size;
  card["sha256"] = v.sha256;
  card["platform"] = "onnxruntime_onnx";
  card["inputs"] = sig["inputs"];
  card["outputs"] = sig["outputs"];
  card["tags"] = v.tags;
  card["aliases"] = aliases;
  card["batching"] = {{"max_batch_size", v.batching.maxBatchSize}, {"max_queue_delay_us", v.batching.maxQueueDelayUs}};
  if (!card.contains("description")) card["description"] = "";
  if (!card.contains("labels")) card["labels"] = json::array();
  return card;
}

json modelSummaryJson(const ModelRecord& model) {
  json versions = json::array();
  for (const auto& [v, record] : model.versions) versions.push_back(v);
  auto latest = model.latest();
  return {{"name", model.name},
          {"latest_version", latest ? latest->version : 0},
          {"versions", versions},
          {"aliases", model.aliases},
          {"tags", model.tags},
          {"description", latest ? latest->description : ""},
          {"created", model.created},
          {"updated", model.updated}};
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> parts;
  parts.reserve(8);  // every route has at most 8 segments: one allocation per request, not three
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!part.empty()) {
      auto decoded = percentDecode(part, false);
      parts.push_back(decoded ? *decoded : std::string("\x01"));  // an undecodable segment never matches a name
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

}  // namespace

enum class Access { open, read, infer, write };

struct Server::Impl {
  ServerConfig config;
  Repository repository;
  ModelCache cache;
  Metrics metrics;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<HttpServer> http;
  Clock::time_point started = Clock::now();

  explicit Impl(ServerConfig c)
      : config(std::move(c)), repository(config.dataDir, config.batching), cache(repository, config.cacheBytes) {}

  // ---- helpers ------------------------------------------------------------------------------
  std::optional<HttpResponse> authorize(const HttpRequest& req, Access access) const {
    if (config.tokens.empty() || access == Access::open) return std::nullopt;
    if (access == Access::read && !config.requireTokenForRead) return std::nullopt;
    if (access == Access::infer && !config.requireTokenForInference) return std::nullopt;
    std::string_view auth = req.header("authorization");
    if (auth.empty()) return errorResponse(401, "this endpoint needs a bearer token (Authorization: Bearer <token>)");
    if (auth.size() < 7 || lowerCopy(auth.substr(0, 7)) != "bearer ")
      return errorResponse(401, "the Authorization header must be 'Bearer <token>'");
    std::string_view token = auth.substr(7);
    bool ok = false;
    for (const auto& t : config.tokens) ok |= constantTimeEqual(token, t);
    if (!ok) return errorResponse(403, "the bearer token is not valid for this server");
    return std::nullopt;
  }

  core::Result<std::shared_ptr<const VersionRecord>> resolve(std::string_view refText, std::string_view version = {}) {
    auto ref = parseModelRef(refText);
    if (!ref) return core::fail(ref.error());
    if (!version.empty()) {
      if (!ref->alias.empty() || ref->version)
        return core::fail(core::Errc::invalid_argument, "give either an alias or a version, not both");
      auto v = parseVersion(version);
      if (!v) return core::fail(v.error());
      ref->version = *v;
    }
    return repository.resolve(*ref);
  }

  // ---- inference ----------------------------------------------------------------------------
  /// Decoded, matched inputs → scheduler; `encode` turns outputs into the response.
  /// `respond` stays the handler's (handle() owns it and answers when anything here throws): it
  /// answers every failure before the scheduler takes the request, and the scheduler's callback,
  /// which holds its own copy, answers from then on.
  void infer(std::shared_ptr<const VersionRecord> version, std::vector<Tensor> inputs, std::string protocol,
             Clock::time_point begin, Responder& respond,
             std::function<core::Result<HttpResponse>(std::vector<Tensor>)> encode) {
    auto fail = [&](const core::Error& error) {
      int status = statusOf(error.code);
      metrics.record({version->name, std::to_string(version->version), protocol, status, {}, {}, {}, 0});
      respond(errorResponse(status, error.message));
    };
    auto model = cache.get(*version);
    if (!model) return fail(model.error());
    auto matched = matchInputs((*model)->signature(), std::move(inputs), version->label());
    if (!matched) return fail(matched.error());
    auto submitted = scheduler->submit(
        *model, version->batching, std::move(*matched),
        [this, version, protocol, begin, respond, encode = std::move(encode)](core::Result<std::vector<Tensor>> result,
                                                                              const InferenceTiming& timing) {
          // Runs on an inference or I/O thread, inside a batch: it answers whatever encoding throws.
          HttpResponse response;
          try {
            Metrics::Sample sample;
            sample.model = version->name;
            sample.version = std::to_string(version->version);
            sample.protocol = protocol;
            sample.queue = timing.queue;
            sample.compute = timing.compute;
            sample.batchRows = timing.batchRows;
            sample.rows = timing.rows;
            if (!result) {
              response = errorResponse(result.error());
            } else {
              auto encoded = encode(std::move(*result));
              response = encoded ? std::move(*encoded) : errorResponse(encoded.error());
            }
            sample.status = response.status;
            sample.total = Clock::now() - begin;
            metrics.record(sample);
          } catch (const std::exception& e) {
            spdlog::error("{}: encoding the response: {}", version->label(), e.what());
            response = errorResponse(500, fmt::format("internal error: {}", e.what()));
          }
          respond(std::move(response));
        });
    if (!submitted) fail(submitted.error());
  }

  void oipInfer(HttpRequest& req, Responder& respond, const std::string& modelText, const std::string& versionText) {
    auto begin = Clock::now();
    auto version = resolve(modelText, versionText);
    if (!version) return respond(errorResponse(version.error()));
    std::optional<std::size_t> jsonLength;
    if (auto h = req.header("inference-header-content-length"); !h.empty()) {
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(h.data(), h.data() + h.size(), n);
      if (ec != std::errc{} || end != h.data() + h.size())
        return respond(errorResponse(400, "Inference-Header-Content-Length is not a number"));
      jsonLength = n;
    }
    auto decoded = decodeInferRequest(req.body, jsonLength);
    std::string protocol = jsonLength ? "v2-binary" : "v2";
    if (!decoded) {
      metrics.record({(*version)->name, std::to_string((*version)->version), protocol, 400, {}, {}, {}, 0});
      return respond(errorResponse(decoded.error()));
    }
    auto request = std::make_shared<InferRequest>(std::move(*decoded));
    auto inputs = std::move(request->inputs);
    auto record = *version;
    infer(record, std::move(inputs), protocol, begin, respond,
          [record, request](std::vector<Tensor> outputs) -> core::Result<HttpResponse> {
            auto encoded =
                encodeInferResponse(record->name, std::to_string(record->version), *request, std::move(outputs));
            if (!encoded) return core::fail(encoded.error());
            HttpResponse r;
            r.contentType = encoded->contentType;
            r.body = std::move(encoded->body);
            if (encoded->jsonLength)
              r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*encoded->jsonLength));
            return r;
          });
  }

  void tfaasInfer(HttpRequest& req, Responder& respond, bool proto) {
    auto begin = Clock::now();
    auto decoded = proto ? decodeTfaasProto(req.body) : decodeTfaasJson(req.body);
    if (!decoded) return respond(errorResponse(decoded.error()));
    if (decoded->model.empty())
      return respond(errorResponse(400, "TFaaS request names no model (\"model\" field)"));
    auto version = resolve(decoded->model);
    if (!version) return respond(errorResponse(version.error()));
    auto record = *version;
    if (record->signature.inputs.size() != 1)
      return respond(errorResponse(400, fmt::format("model {} has {} inputs; TFaaS requests feed exactly one",
                                                    record->label(), record->signature.inputs.size())));
    auto tensor = rowsToTensor(decoded->rows, record->signature.inputs[0]);
    if (!tensor) return respond(errorResponse(tensor.error()));
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(*tensor));
    bool batch = decoded->batch;
    infer(record, std::move(inputs), proto ? "tfaas-proto" : "tfaas-json", begin, respond,
          [record, batch, proto](std::vector<Tensor> outputs) -> core::Result<HttpResponse> {
            if (outputs.empty()) return core::fail(core::Errc::internal, "model has no outputs");
            HttpResponse r;
            if (proto) {
              r.contentType = "application/octet-stream";
              r.body = encodeTfaasProto(outputs[0], record->labels);
            } else {
              r.body = encodeTfaasJson(outputs[0], batch);
            }
            return r;
          });
  }

  /// TFaaS /image: multipart form with an `image` file and a `model` name (docs/http-api.md).
  void tfaasImage(HttpRequest& req, Responder& respond) {
    auto begin = Clock::now();
    auto boundary = multipartBoundary(req.header("content-type"));
    if (!boundary)
      return respond(errorResponse(400, "/image expects multipart/form-data with an 'image' file and a 'model' field"));
    auto form = parseMultipart(req.body, *boundary);
    if (!form) return respond(errorResponse(form.error()));
    const FormPart* image = nullptr;
    std::string modelName;
    for (const auto& part : *form) {
      if (part.name == "image") image = &part;
      else if (part.name == "model") modelName = part.body;
    }
    if (!image) return respond(errorResponse(400, "/image form has no 'image' file part"));
    if (modelName.empty()) return respond(errorResponse(400, "/image form has no 'model' field"));
    auto version = resolve(modelName);
    if (!version) return respond(errorResponse(version.error()));
    auto record = *version;
    if (record->signature.inputs.size() != 1)
      return respond(errorResponse(400, fmt::format("model {} has {} inputs; /image feeds exactly one", record->label(),
                                                    record->signature.inputs.size())));
    std::size_t imgChannels = 0;
    json meta = json::parse(record->metadataJson, nullptr, false);
    if (meta.is_object()) {
      const json* params = nullptr;
      if (auto p = meta.find("provenance"); p != meta.end() && p->is_object())
        if (auto t = p->find("tfaas_params"); t != p->end() && t->is_object()) params = &*t;
      if (params) {
        if (auto c = params->find("img_channels");
            c != params->end() && c->is_number_integer() && c->get<std::int64_t>() > 0)
          imgChannels = c->get<std::size_t>();
      }
    }
    constexpr std::size_t kMaxImagePixels = std::size_t{1} << 24;  // 4096 x 4096
    auto tensor =
        imageToTensor(image->body, record->signature.inputs[0], imgChannels, record->label(), kMaxImagePixels);
    if (!tensor) {
      metrics.record({record->name, std::to_string(record->version), "tfaas-image", 400, {}, {}, {}, 0});
      return respond(errorResponse(tensor.error()));
    }
    std::vector<Tensor> inputs;
    inputs.push_back(std::move(*tensor));
    infer(record, std::move(inputs), "tfaas-image", begin, respond,
          [record, filename = image->filename](std::vector<Tensor> outputs) -> core::Result<HttpResponse> {
            if (outputs.empty()) return core::fail(core::Errc::internal, "model has no outputs");
            HttpResponse r;
            if (record->labels.empty()) {
              r.body = encodeTfaasJson(outputs[0], false);  // TF2 style: the bare output row
              return r;
            }
            // TF1 style: the five most probable labels of the first row.
            auto values = tensorToDoubles(outputs[0]);
            std::size_t perRow = outputs[0].shape.size() >= 2
                                     ? static_cast<std::size_t>(std::max<std::int64_t>(outputs[0].shape.back(), 0))
                                     : values.size();
            perRow = std::min(perRow, values.size());
            std::vector<std::size_t> order(perRow);
            for (std::size_t i = 0; i < perRow; ++i) order[i] = i;
            std::size_t top = std::min<std::size_t>(5, perRow);
            std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(top), order.end(),
                              [&](std::size_t a, std::size_t b) {
                                // NaN last: a comparator that NaN breaks is not a strict weak order
                                if (std::isnan(values[a]) || std::isnan(values[b]))
                                  return !std::isnan(values[a]) && std::isnan(values[b]);
                                return values[a] > values[b];
                              });
            json labels = json::array();
            for (std::size_t k = 0; k < top; ++k) {
              std::size_t i = order[k];
              labels.push_back({{"label", i < record->labels.size() ? record->labels[i] : std::to_string(i)},
                                {"probability", std::isfinite(values[i]) ? json(values[i])
                                                         : json(std::string(nonFiniteJsonString(values[i])))}});
            }
            r.body =
                json({{"filename", filename}, {"labels", labels}}).dump(-1, ' ', false, json::error_handler_t::replace);
            return r;
          });
  }

  // ---- repository API -----------------------------------------------------------------------
  static bool isMultipart(const HttpRequest& req) {
    return lowerCopy(req.header("content-type")).rfind("multipart/form-data", 0) == 0;
  }

  /// The parts of a multipart/form-data body.
  static core::Result<std::vector<FormPart>> formParts(const HttpRequest& req) {
    auto boundary = multipartBoundary(req.header("content-type"));
    if (!boundary) return core::fail(boundary.error());
    return parseMultipart(req.body, *boundary);
  }

  HttpResponse upload(const std::string& name, const HttpRequest& req) {
    // ?dry_run=true: every check of an upload (token, name, metadata, the model if one is sent),
    // nothing stored; `mlaas train --upload` asks it before reading any event.
    bool dryRun = false;
    if (auto flag = queryParam(req.query, "dry_run")) {
      if (*flag == "true" || *flag == "1") {
        dryRun = true;
      } else if (*flag != "false" && *flag != "0") {
        return errorResponse(400, fmt::format("dry_run='{}': use true or false", *flag));
      }
    }
    std::string metadata;
    std::string onnx;
    if (isMultipart(req)) {
      auto parts = formParts(req);
      if (!parts) return errorResponse(parts.error());
      bool haveFile = false;
      for (auto& part : *parts) {
        if (part.name == "file" || part.name == "model") {
          onnx = std::move(part.body);
          haveFile = true;
        } else if (part.name == "metadata") {
          metadata = std::move(part.body);
        }
      }
      if (!haveFile) return errorResponse(400, "multipart upload has no part named 'file' (or 'model')");
    } else {
      onnx = req.body;
      if (auto h = req.header("x-mlaas-metadata"); !h.empty())
        metadata = std::string(h);
      else if (auto q = queryParam(req.query, "metadata"))
        metadata = *q;
    }
    if (dryRun) {
      auto version = repository.checkVersion(name, onnx, metadata);
      if (!version) return errorResponse(version.error());
      return jsonResponse(200, json{{"dry_run", true},
                                    {"name", name},
                                    {"version", *version},
                                    {"model_checked", !onnx.empty()}});
    }
    return store(name, onnx, metadata);
  }

  HttpResponse store(const std::string& name, std::string_view onnx, const std::string& metadata) {
    auto added = repository.addVersion(name, onnx, metadata);
    if (!added) return errorResponse(added.error());
    auto catalog = repository.snapshot();
    spdlog::info("stored {} ({} bytes, sha256 {})", (*added)->label(), (*added)->size, (*added)->sha256);
    return jsonResponse(201, cardJson(catalog->models.at(name), **added));
  }

  HttpResponse tfaasUpload(const HttpRequest& req) {
    if (isMultipart(req)) {
      auto parts = formParts(req);
      if (!parts) return errorResponse(parts.error());
      std::string name, model, labels;
      json params = json::object();
      bool haveModel = false;
      for (auto& part : *parts) {
        if (part.name == "name") name = part.body;
        else if (part.name == "model") {
          model = std::move(part.body);
          haveModel = true;
          if (lowerCopy(req.header("content-encoding")) == "base64") {
            auto decoded = base64Decode(model);
            if (!decoded) return errorResponse(decoded.error());
            model = std::move(*decoded);
          }
        } else if (part.name == "labels") labels = part.body;
        else if (part.name == "params") {
          params = json::parse(part.body, nullptr, false);
          if (!params.is_object()) return errorResponse(400, "form part 'params' is not a JSON object");
        }
      }
      for (const char* key : {"name", "model", "labels"})
        if (auto bad = paramsString(params, key, "form part 'params'"); !bad) return errorResponse(bad.error());
      if (name.empty() && params.contains("name")) name = params["name"].get<std::string>();
      if (name.empty()) return errorResponse(400, "TFaaS upload form has no 'name' field");
      if (params.contains("name") && params["name"].is_string() && params["name"].get<std::string>() != name)
        return errorResponse(400, fmt::format("params.json name '{}' differs from the form name '{}'",
                                              params["name"].get<std::string>(), name));
      if (!haveModel) return errorResponse(400, "TFaaS upload form has no 'model' file");
      return store(name, model, tfaasMetadata(params, labels));
    }
    auto bundle = readBundle(req.body, config.maxBodyBytes);
    if (!bundle) {
      // A bundle that inflates past the limit is too large, not 'busy': 413, never the 429 that
      // tells a client to retry the same bytes.
      const auto& error = bundle.error();
      return errorResponse(error.code == core::Errc::resource_exhausted ? 413 : statusOf(error.code), error.message);
    }
    json params = json::object();
    if (auto it = bundle->files.find("params.json"); it != bundle->files.end()) {
      params = json::parse(it->second, nullptr, false);
      if (!params.is_object())
        return errorResponse(400, fmt::format("bundle {}: params.json is not a JSON object", bundle->name));
    }
    for (const char* key : {"name", "model", "labels"})
      if (auto bad = paramsString(params, key, fmt::format("bundle {}: params.json", bundle->name)); !bad)
        return errorResponse(bad.error());
    std::string modelFile = params.value("model", std::string());
    if (modelFile.empty() || !bundle->files.count(modelFile)) modelFile = "model.onnx";
    auto model = bundle->files.find(modelFile);
    if (model == bundle->files.end())
      return errorResponse(
          400, fmt::format("bundle {}: no model.onnx (nor the file named by params.json \"model\")", bundle->name));
    std::string labelsText;
    std::string labelsFile = params.value("labels", std::string("labels.txt"));
    if (auto it = bundle->files.find(labelsFile); it != bundle->files.end()) labelsText = it->second;
    return store(bundle->name, model->second, tfaasMetadata(params, labelsText));
  }

  /// TFaaS params.json keys we read as text: a number or object there is the caller's mistake
  /// (400 naming the key), not the type_error json::value would throw.
  static core::Result<void> paramsString(const json& params, const char* key, std::string_view where) {
    if (auto it = params.find(key); it != params.end() && !it->is_string())
      return core::fail(core::Errc::invalid_argument, fmt::format("{}: \"{}\" must be a string", where, key));
    return {};
  }

  static core::Result<std::string> base64Decode(std::string_view in) {
    std::string out;
    int value = 0, bits = -8;
    for (char c : in) {
      int d;
      if (c >= 'A' && c <= 'Z') d = c - 'A';
      else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
      else if (c >= '0' && c <= '9') d = c - '0' + 52;
      else if (c == '+' || c == '-') d = 62;
      else if (c == '/' || c == '_') d = 63;
      else if (c == '=' || c == '\r' || c == '\n' || c == ' ') continue;
      else return core::fail(core::Errc::invalid_argument, "model part is not valid base64");
      value = (value << 6) + d;
      bits += 6;
      if (bits >= 0) {
        out += static_cast<char>((value >> bits) & 0xff);
        bits -= 8;
      }
    }
    return out;
  }

  /// TFaaS params.json (either key spelling) and labels file → our metadata JSON.
  static std::string tfaasMetadata(const json& params, const std::string& labelsText) {
    json meta = json::object();
    if (params.contains("description") && params["description"].is_string())
      meta["description"] = params["description"];
    json labels = json::array();
    std::size_t start = 0;
    while (start < labelsText.size()) {
      auto end = labelsText.find('\n', start);
      std::string line = labelsText.substr(start, end == std::string::npos ? std::string::npos : end - start);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) labels.push_back(line);
      if (end == std::string::npos) break;
      start = end + 1;
    }
    if (!labels.empty()) meta["labels"] = labels;
    json tfaas = json::object();
    auto copy = [&](const char* snake, const char* camel) {
      if (params.contains(snake)) tfaas[snake] = params[snake];
      else if (params.contains(camel)) tfaas[snake] = params[camel];
    };
    copy("input_node", "inputNode");
    copy("output_node", "outputNode");
    copy("img_channels", "imgChannels");
    for (const char* key : {"model", "labels", "op", "input_name", "output_name", "options"})
      if (params.contains(key)) tfaas[key] = params[key];
    if (!tfaas.empty()) meta["provenance"] = {{"tfaas_params", tfaas}};
    return meta.dump();
  }

  json tfaasParams(const ModelRecord& model) const {
    auto v = model.latest();
    json params = {{"name", model.name}, {"model", "model.onnx"}, {"labels", v->labels.empty() ? "" : "labels.txt"},
                   {"inputNode", v->signature.inputs.empty() ? "" : v->signature.inputs[0].name},
                   {"outputNode", v->signature.outputs.empty() ? "" : v->signature.outputs[0].name},
                   {"description", v->description}, {"timestamp", v->created}, {"version", v->version}};
    return params;
  }

  HttpResponse tagRequest(const HttpRequest& req, const std::string& name, std::int64_t version,
                          const std::string& key) {
    if (req.method == "DELETE") {
      auto r = version ? repository.deleteVersionTag(name, version, key) : repository.deleteModelTag(name, key);
      if (!r) return errorResponse(r.error());
      return jsonResponse(200, {{"deleted", key}});
    }
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("value") || !body["value"].is_string())
      return errorResponse(400, "tag body must be {\"value\": \"...\"}");
    std::string value = body["value"];
    auto r = version ? repository.setVersionTag(name, version, key, value) : repository.setModelTag(name, key, value);
    if (!r) return errorResponse(r.error());
    return jsonResponse(200, {{"key", key}, {"value", value}});
  }

  static HttpResponse methodNotAllowed(std::string_view allow) {
    auto r = errorResponse(405, fmt::format("method not allowed here (allowed: {})", allow));
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
  }

  // ---- routing ------------------------------------------------------------------------------
  /// The one owner of `respond`: every route and handler below borrows it (Responder&) and none
  /// moves it away, so the catch at the end can always answer what throws.
  void handle(HttpRequest&& reqIn, Responder respond) {
    HttpRequest req = std::move(reqIn);
    metrics.countRequest();
    auto parts = splitPath(req.path);
    auto need = [&](Access access) {
      if (auto denied = authorize(req, access)) {
        respond(std::move(*denied));
        return false;
      }
      return true;
    };
    const std::string& m = req.method;
    auto is = [&](std::initializer_list<std::string_view> expect) {
      if (parts.size() != expect.size()) return false;
      std::size_t i = 0;
      for (auto e : expect) {
        if (e != "*" && parts[i] != e) return false;
        ++i;
      }
      return true;
    };
    try {
      if (parts.empty())
        return respond(errorResponse(404, "no endpoint at /; see docs/http-api.md (/v2, /api/v1/models)"));
      // -- operations
      if (is({"metrics"})) {
        if (m != "GET") return respond(methodNotAllowed("GET"));
        HttpResponse r;
        r.contentType = "text/plain; version=0.0.4";
        r.body = metrics.render(cache.loadedCount(), cache.loadedBytes());
        return respond(std::move(r));
      }
      if (parts[0] == "v2") return routeV2(req, parts, respond, need);
      if (parts[0] == "api") return routeApi(req, parts, respond, need);
      // -- TFaaS
      if (is({"json"}) || is({"predict", "json"}) || is({"proto"}) || is({"predict", "proto"})) {
        if (m != "POST") return respond(methodNotAllowed("POST"));
        if (!need(Access::infer)) return;
        return tfaasInfer(req, respond, parts.back() == "proto");
      }
      if (is({"image"}) || is({"predict", "image"})) {
        if (m != "POST") return respond(methodNotAllowed("POST"));
        if (!need(Access::infer)) return;
        return tfaasImage(req, respond);
      }
      if (is({"upload"}) || is({"bundle"})) {
        if (m != "POST") return respond(methodNotAllowed("POST"));
        if (!need(Access::write)) return;
        return respond(tfaasUpload(req));
      }
      if (is({"models"})) {
        if (m != "GET") return respond(methodNotAllowed("GET"));
        if (!need(Access::read)) return;
        json list = json::array();
        for (const auto& [name, model] : repository.snapshot()->models)
          if (!model.versions.empty()) list.push_back(tfaasParams(model));
        return respond(jsonResponse(200, list));
      }
      if (is({"delete", "*"}) || is({"delete"})) {
        if (m != "DELETE" && m != "POST") return respond(methodNotAllowed("DELETE"));
        if (!need(Access::write)) return;
        std::string name = parts.size() == 2 ? parts[1] : "";
        if (name.empty()) {
          if (auto q = queryParam(req.query, "model")) name = *q;
          auto boundary = multipartBoundary(req.header("content-type"));
          if (name.empty() && boundary) {
            auto form = parseMultipart(req.body, *boundary);
            if (!form) return respond(errorResponse(form.error()));
            for (const auto& p : *form)
              if (p.name == "model") name = p.body;
          }
          if (name.empty())
            return respond(errorResponse(400, "name the model: DELETE /delete/{model} or form field 'model'"));
        }
        auto r = repository.deleteModel(name);
        if (!r) return respond(errorResponse(r.error()));
        cache.unload(name);
        return respond(jsonResponse(200, {{"deleted", name}}));
      }
      if (is({"params", "*"})) {
        if (m != "GET") return respond(methodNotAllowed("GET"));
        if (!need(Access::read)) return;
        auto version = resolve(parts[1]);
        if (!version) return respond(errorResponse(version.error()));
        return respond(jsonResponse(200, tfaasParams(repository.snapshot()->models.at((*version)->name))));
      }
      if (is({"status"})) {
        if (m != "GET") return respond(methodNotAllowed("GET"));
        if (!need(Access::read)) return;
        auto uptime = std::chrono::duration<double>(Clock::now() - started).count();
        return respond(jsonResponse(200, {{"uptime", uptime},
                                          {"requests", metrics.requests()},
                                          {"models", repository.snapshot()->models.size()},
                                          {"loaded_models", cache.loadedCount()},
                                          {"memory", {{"rss", residentBytes()}}}}));
      }
      return respond(errorResponse(404, fmt::format("no endpoint {} {}", m, req.path.substr(0, 200))));
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", m, req.path.substr(0, 200), e.what());
      return respond(errorResponse(500, fmt::format("internal error: {}", e.what())));
    }
  }

  template <class Need>
  void routeV2(HttpRequest& req, const std::vector<std::string>& p, Responder& respond, Need& need) {
    const std::string& m = req.method;
    if (p.size() == 1) {
      if (m != "GET") return respond(methodNotAllowed("GET"));
      if (!need(Access::read)) return;
      return respond(jsonResponse(200, {{"name", "mlaas"},
                                        {"version", MLAAS_SERVE_VERSION},
                                        {"extensions", {"binary_tensor_data", "model_repository"}}}));
    }
    if (p.size() == 3 && p[1] == "health" && (p[2] == "live" || p[2] == "ready")) {
      if (m != "GET") return respond(methodNotAllowed("GET"));
      if (p[2] == "live") return respond(jsonResponse(200, {{"live", true}}));
      bool ready = !http || !http->stopping();
      return respond(jsonResponse(ready ? 200 : 503, {{"ready", ready}}));
    }
    if (p.size() >= 3 && p[1] == "models") {
      std::string model = p[2];
      std::string version;
      std::size_t i = 3;
      if (p.size() >= 5 && p[3] == "versions") {
        version = p[4];
        i = 5;
      }
      std::string action = i < p.size() ? p[i] : "";
      if (i + (action.empty() ? 0 : 1) != p.size())
        return respond(errorResponse(404, "no such endpoint under /v2/models"));
      if (action == "infer") {
        if (m != "POST") return respond(methodNotAllowed("POST"));
        if (!need(Access::infer)) return;
        return oipInfer(req, respond, model, version);
      }
      if (action.empty() || action == "ready") {
        if (m != "GET") return respond(methodNotAllowed("GET"));
        if (!need(Access::read)) return;
        auto record = resolve(model, version);
        if (!record) return respond(errorResponse(record.error()));
        if (action == "ready") return respond(jsonResponse(200, {{"name", model}, {"ready", true}}));
        json versions = json::array();
        for (const auto& [v, r] : repository.snapshot()->models.at((*record)->name).versions)
          versions.push_back(std::to_string(v));
        json sig = detail::signatureToJson((*record)->signature);
        return respond(jsonResponse(200, {{"name", model}, {"versions", versions}, {"platform", "onnxruntime_onnx"},
                                          {"inputs", sig["inputs"]}, {"outputs", sig["outputs"]}}));
      }
      return respond(errorResponse(404, fmt::format("no endpoint /v2/models/.../{}", action.substr(0, 100))));
    }
    if (p.size() == 3 && p[1] == "repository" && p[2] == "index") {
      if (m != "POST") return respond(methodNotAllowed("POST"));
      if (!need(Access::read)) return;
      bool readyOnly = false;
      if (!req.body.empty()) {
        json body = json::parse(req.body, nullptr, false);
        if (!body.is_object()) return respond(errorResponse(400, "repository index body must be a JSON object"));
        // Read by hand: json::value throws type_error on {"ready": "yes"}, which reached the
        // catch-all as a 500 for what is the caller's mistake.
        if (auto ready = body.find("ready"); ready != body.end()) {
          if (!ready->is_boolean())
            return respond(errorResponse(400, "repository index body: \"ready\" must be true or false"));
          readyOnly = ready->get<bool>();
        }
      }
      json list = json::array();
      for (const auto& [name, model] : repository.snapshot()->models)
        for (const auto& [v, record] : model.versions) {
          bool loaded = cache.isLoaded(*record);
          if (readyOnly && !loaded) continue;
          list.push_back({{"name", name}, {"version", std::to_string(v)}, {"state", loaded ? "READY" : "UNAVAILABLE"},
                          {"reason", loaded ? "" : "not loaded"}});
        }
      return respond(jsonResponse(200, list));
    }
    if (p.size() == 5 && p[1] == "repository" && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
      if (m != "POST") return respond(methodNotAllowed("POST"));
      if (!need(Access::write)) return;
      auto record = resolve(p[3]);
      if (!record) return respond(errorResponse(record.error()));
      if (p[4] == "load") {
        auto loaded = cache.get(**record);
        if (!loaded) return respond(errorResponse(loaded.error()));
      } else {
        auto ref = parseModelRef(p[3]);
        cache.unload((*record)->name, ref->alias.empty() && !ref->version ? 0 : (*record)->version);
      }
      return respond(jsonResponse(200, json::object()));
    }
    return respond(errorResponse(404, fmt::format("no endpoint {} {}", m, req.path.substr(0, 200))));
  }

  template <class Need>
  void routeApi(HttpRequest& req, const std::vector<std::string>& p, Responder& respond, Need& need) {
    const std::string& m = req.method;
    if (p.size() < 3 || p[1] != "v1" || p[2] != "models")
      return respond(errorResponse(404, fmt::format("no endpoint {} {}", m, req.path.substr(0, 200))));
    auto catalog = repository.snapshot();
    if (p.size() == 3) {
      if (m != "GET") return respond(methodNotAllowed("GET"));
      if (!need(Access::read)) return;
      auto names = repository.search(queryParam(req.query, "q").value_or(""));
      if (!names) return respond(errorResponse(names.error()));
      json list = json::array();
      for (const auto& name : *names) list.push_back(modelSummaryJson(catalog->models.at(name)));
      return respond(jsonResponse(200, {{"models", list}}));
    }
    const std::string& name = p[3];
    if (p.size() == 4) {
      if (name.find('@') != std::string::npos) {  // name@alias → the card
        if (m != "GET") return respond(methodNotAllowed("GET"));
        if (!need(Access::read)) return;
        auto record = resolve(name);
        if (!record) return respond(errorResponse(record.error()));
        return respond(jsonResponse(200, cardJson(repository.snapshot()->models.at((*record)->name), **record)));
      }
      if (m == "GET") {
        if (!need(Access::read)) return;
        if (auto bad = checkModelName(name); !bad) return respond(errorResponse(bad.error()));
        auto it = catalog->models.find(name);
        if (it == catalog->models.end() || it->second.versions.empty())
          return respond(errorResponse(404, fmt::format("model '{}' not found", name)));
        json out = modelSummaryJson(it->second);
        json cards = json::array();
        for (const auto& [v, record] : it->second.versions) cards.push_back(cardJson(it->second, *record));
        out["cards"] = cards;
        return respond(jsonResponse(200, out));
      }
      if (m == "DELETE") {
        if (!need(Access::write)) return;
        auto r = repository.deleteModel(name);
        if (!r) return respond(errorResponse(r.error()));
        cache.unload(name);
        return respond(jsonResponse(200, {{"deleted", name}}));
      }
      return respond(methodNotAllowed("GET, DELETE"));
    }
    const std::string& section = p[4];
    // Raw events through the version's training-time preprocessing (serve/predict_events.hpp):
    // {ref}/predict-events or {name}/versions/{v}/predict-events.
    if ((section == "predict-events" && p.size() == 5) ||
        (section == "versions" && p.size() == 7 && p[6] == "predict-events")) {
      if (m != "POST") return respond(methodNotAllowed("POST"));
      if (!need(Access::infer)) return;
      auto begin = Clock::now();
      auto record = resolve(name, p.size() == 7 ? p[5] : std::string());
      if (!record) return respond(errorResponse(record.error()));
      auto events = decodeEventsRequest(**record, req.body);
      if (!events) {
        const auto& error = events.error();
        return respond(
            errorResponse(error.code == core::Errc::resource_exhausted ? 413 : statusOf(error.code), error.message));
      }
      auto version = *record;
      std::string ref = p.size() == 7 ? fmt::format("{}/versions/{}", name, p[5]) : name;
      return infer(version, std::move(events->inputs), "predict-events", begin, respond,
                   [version, ref, count = events->events](std::vector<Tensor> outputs) -> core::Result<HttpResponse> {
                     auto body = encodeEventsResponse(*version, ref, count, outputs);
                     if (!body) return core::fail(body.error());
                     HttpResponse r;
                     r.body = std::move(*body);
                     return r;
                   });
    }
    if (section == "versions") {
      if (p.size() == 5) {
        if (m == "POST") {
          if (!need(Access::write)) return;
          return respond(upload(name, req));
        }
        if (m != "GET") return respond(methodNotAllowed("GET, POST"));
        if (!need(Access::read)) return;
        auto it = catalog->models.find(name);
        if (it == catalog->models.end() || it->second.versions.empty())
          return respond(errorResponse(404, fmt::format("model '{}' not found", name)));
        json cards = json::array();
        for (const auto& [v, record] : it->second.versions) cards.push_back(cardJson(it->second, *record));
        return respond(jsonResponse(200, {{"versions", cards}}));
      }
      auto version = parseVersion(p[5]);
      if (!version) return respond(errorResponse(version.error()));
      if (p.size() == 6) {
        if (m == "GET") {
          if (!need(Access::read)) return;
          auto record = resolve(name, p[5]);
          if (!record) return respond(errorResponse(record.error()));
          return respond(jsonResponse(200, cardJson(repository.snapshot()->models.at(name), **record)));
        }
        if (m == "DELETE") {
          if (!need(Access::write)) return;
          auto r = repository.deleteVersion(name, *version);
          if (!r) return respond(errorResponse(r.error()));
          cache.unload(name, *version);
          return respond(jsonResponse(
              200, {{"deleted", fmt::format("{}/versions/{}", name, *version)}, {"model_deleted", *r}}));
        }
        return respond(methodNotAllowed("GET, DELETE"));
      }
      if (p.size() == 8 && p[6] == "tags") {
        if (m != "PUT" && m != "DELETE") return respond(methodNotAllowed("PUT, DELETE"));
        if (!need(Access::write)) return;
        return respond(tagRequest(req, name, *version, p[7]));
      }
    }
    if (section == "aliases" && p.size() == 6) {
      const std::string& alias = p[5];
      if (m == "PUT") {
        if (!need(Access::write)) return;
        json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer())
          return respond(errorResponse(400, "alias body must be {\"version\": N}"));
        auto version = body["version"].get<std::int64_t>();
        auto r = repository.setAlias(name, alias, version);
        if (!r) return respond(errorResponse(r.error()));
        return respond(jsonResponse(200, {{"name", name}, {"alias", alias}, {"version", version}}));
      }
      if (m == "DELETE") {
        if (!need(Access::write)) return;
        auto r = repository.deleteAlias(name, alias);
        if (!r) return respond(errorResponse(r.error()));
        return respond(jsonResponse(200, {{"deleted", name + "@" + alias}}));
      }
      return respond(methodNotAllowed("PUT, DELETE"));
    }
    if (section == "tags" && p.size() == 6) {
      if (m != "PUT" && m != "DELETE") return respond(methodNotAllowed("PUT, DELETE"));
      if (!need(Access::write)) return;
      return respond(tagRequest(req, name, 0, p[5]));
    }
    return respond(errorResponse(404, fmt::format("no endpoint {} {}", m, req.path.substr(0, 200))));
  }
};

Server::Server(ServerConfig config) {
  validateServerConfig(config);
  RuntimeOptions runtime;
  runtime.intraOpThreads = static_cast<int>(config.intraOpThreads);
  configureRuntime(runtime);
  impl_ = std::make_unique<Impl>(std::move(config));
}

Server::~Server() { shutdown(); }

void Server::start() {
  auto& impl = *impl_;
  // spdlog creates its registry on first use, inside libspdlog, where TSan cannot see the static
  // initialisation's ordering; creating it before any server thread exists orders it for everyone.
  spdlog::default_logger_raw();
  std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  std::size_t inference =
      impl.config.inlineInference ? 0 : (impl.config.inferenceThreads ? impl.config.inferenceThreads : cores);
  impl.scheduler = std::make_unique<Scheduler>(inference, impl.config.maxQueue);
  impl.scheduler->runSmallBatchesOnIoThreads(&deferToEndOfIoRound, impl.config.ioBatchMaxRunTime,
                                             impl.config.ioBatchFlushRows);
  HttpOptions options;
  options.host = impl.config.host;
  options.port = impl.config.port;
  options.ioThreads = impl.config.ioThreads ? impl.config.ioThreads : cores;
  options.maxBodyBytes = impl.config.maxBodyBytes;
  options.headerTimeout = impl.config.headerTimeout;
  options.bodyTimeout = impl.config.bodyTimeout;
  options.accessLog = impl.config.accessLog;
  impl.http = std::make_unique<HttpServer>(options, [&impl](HttpRequest&& req, Responder respond) {
    impl.handle(std::move(req), std::move(respond));
  });
  impl.http->start();
  spdlog::info(
      "mlaas serve: listening on {}:{} (data {}, {} I/O threads, {} inference threads{}, ORT {} intra-op, "
      "tokens {})",
      impl.config.host, impl.http->port(), impl.config.dataDir.string(), options.ioThreads, inference,
      inference == 0 ? " (inline)" : "", impl.config.intraOpThreads, impl.config.tokens.empty() ? "off" : "on");
}

int Server::port() const noexcept { return impl_->http ? impl_->http->port() : 0; }

void Server::shutdown() {
  if (!impl_ || !impl_->http) return;
  // Shutdown overrides a pause: requests queued while paused run, and are answered within the grace.
  impl_->scheduler->resume();
  impl_->http->shutdown(impl_->config.shutdownGrace);
  // The grace is over and the I/O threads are gone: what is still queued is answered 'shutting
  // down' without running. Then the inference threads are joined (after the batches they are
  // running) before the HTTP server goes: what they answer goes to connections (and io_contexts)
  // that must still exist.
  impl_->scheduler->abandonQueued();
  impl_->scheduler.reset();
  // Destroys the tasks left in the I/O threads' event loops: a round among them answers its
  // requests 'shutting down', to responders that drop it.
  impl_->http.reset();
}

void Server::pauseInference() {
  if (impl_->scheduler) impl_->scheduler->pause();
}

void Server::resumeInference() {
  if (impl_->scheduler) impl_->scheduler->resume();
}

std::size_t Server::queuedRequests() const { return impl_->scheduler ? impl_->scheduler->queued() : 0; }

Repository& Server::repository() noexcept { return impl_->repository; }
const ServerConfig& Server::config() const noexcept { return impl_->config; }

}  // namespace mlaas::serve
