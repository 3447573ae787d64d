// Client::predictEvents: raw events to the server's preprocessing (docs/http-api.md#predict-events).
// Kept apart from client.cpp (the typed calls of the repository and OIP): it only uses the
// public transport, one exchange per call.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "client/client.hpp"
#include "client/http.hpp"

namespace mlaas::client {

Result<nlohmann::json> Client::predictEvents(std::string_view reference, std::string_view eventsJson) const {
  using nlohmann::json;
  std::string target;
  try {
    const auto ref = ModelRef::parse(reference);
    target = "/api/v1/models/" + percentEncode(ref.name);
    if (ref.alias) target += "@" + percentEncode(*ref.alias);
    if (ref.version) target += fmt::format("/versions/{}", *ref.version);
    target += "/predict-events";
  } catch (const core::Exception& e) {
    return Error{e.code(), 0, e.what()};
  }
  auto endpoint = Endpoint::parse(options().url);
  if (!endpoint) return std::move(endpoint).error();
  TransportOptions transportOptions;
  transportOptions.token = options().token;
  transportOptions.connectTimeout = options().connectTimeout;
  transportOptions.requestTimeout = options().requestTimeout;
  transportOptions.maxRetries = options().maxRetries;
  transportOptions.retryBackoff = options().retryBackoff;
  transportOptions.maxIdleConnections = 1;
  transportOptions.maxResponseBytes = options().maxResponseBytes;
  transportOptions.caFile = options().caFile;
  transportOptions.insecure = options().insecure;
  const HttpTransport transport(std::move(*endpoint), std::move(transportOptions));

  HttpRequest request;
  request.method = "POST";
  request.target = target;
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  request.body.assign(eventsJson);
  request.idempotent = true;  // inference has no side effects

  auto response = transport.send(request);
  if (!response) return std::move(response).error();
  const json body = json::parse(response->body, nullptr, false);
  if (response->status >= 400) {
    std::string message = body.is_object() && body.contains("error") && body["error"].is_string()
                              ? body["error"].get<std::string>()
                              : response->body.substr(0, 500);
    if (message.empty()) message = fmt::format("POST {} failed", target);
    return Error{errcForHttpStatus(response->status), response->status, std::move(message)};
  }
  if (!body.is_object() || !body.contains("outputs"))
    return Error{core::Errc::corrupt, response->status,
                 fmt::format("unexpected response to POST {}: not a predict-events answer", target)};
  return body;
}

}  // namespace mlaas::client
