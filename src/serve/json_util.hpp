// nlohmann::json helpers private to this module (signature <-> JSON, time stamps).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "serve/runtime.hpp"

namespace mlaas::serve::detail {

nlohmann::json specToJson(const TensorSpec& spec);
nlohmann::json signatureToJson(const ModelSignature& signature);  // {"inputs": [...], "outputs": [...]}
ModelSignature signatureFromJson(const nlohmann::json& json);
/// Now as RFC 3339 UTC, second precision.
std::string nowRfc3339();
/// {"error": message}
std::string errorBody(std::string_view message);

}  // namespace mlaas::serve::detail
