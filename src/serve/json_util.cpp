#include "serve/json_util.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace mlaas::serve::detail {

nlohmann::json specToJson(const TensorSpec& spec) {
  return {{"name", spec.name}, {"datatype", std::string(dataTypeName(spec.type))}, {"shape", spec.shape}};
}

nlohmann::json signatureToJson(const ModelSignature& signature) {
  nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
  for (const auto& s : signature.inputs) inputs.push_back(specToJson(s));
  for (const auto& s : signature.outputs) outputs.push_back(specToJson(s));
  return {{"inputs", inputs}, {"outputs", outputs}};
}

ModelSignature signatureFromJson(const nlohmann::json& json) {
  ModelSignature signature;
  auto read = [](const nlohmann::json& list, std::vector<TensorSpec>& out) {
    for (const auto& item : list) {
      TensorSpec spec;
      spec.name = item.at("name").get<std::string>();
      spec.type = parseDataType(item.at("datatype").get<std::string>()).value_or(DataType::fp32);
      spec.shape = item.at("shape").get<std::vector<std::int64_t>>();
      out.push_back(std::move(spec));
    }
  };
  read(json.at("inputs"), signature.inputs);
  read(json.at("outputs"), signature.outputs);
  return signature;
}

std::string nowRfc3339() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec);
}

std::string errorBody(std::string_view message) {
  return nlohmann::json{{"error", std::string(message)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mlaas::serve::detail
