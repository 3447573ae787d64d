// Request decoders and response encoders: OIP v2 JSON and binary tensor extension, TFaaS JSON
// and protobuf. Pure functions of bytes, so they are fuzzed directly (fuzz/serve).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "serve/tensor.hpp"

namespace mlaas::serve {

struct InferRequest {
  std::string id;
  std::vector<Tensor> inputs;
  std::vector<std::string> outputs;       ///< requested outputs; empty = all
  std::set<std::string> binaryOutputs;    ///< outputs asked for with "binary_data": true
  bool binaryOutputAll = false;           ///< request parameter "binary_data_output": true
  bool usedBinaryInput = false;
};

/// Decodes an OIP inference request. `jsonLength` is the Inference-Header-Content-Length header
/// when present (binary tensor extension): the JSON is body[0, jsonLength) and binary tensor data
/// follows.
core::Result<InferRequest> decodeInferRequest(std::string_view body, std::optional<std::size_t> jsonLength);

struct EncodedBody {
  std::string body;
  std::string contentType = "application/json";
  std::optional<std::size_t> jsonLength;  ///< set when binary outputs follow the JSON
};

/// Encodes the response: the requested outputs (all when none requested; unknown names give
/// invalid_argument), binary where the request asked for it.
core::Result<EncodedBody> encodeInferResponse(std::string_view modelName, std::string_view version,
                                              const InferRequest& request, std::vector<Tensor> outputs);

/// TFaaS /json request.
struct TfaasRequest {
  std::string model;
  std::vector<std::vector<double>> rows;
  bool batch = false;  ///< "values" was an array of arrays
};
core::Result<TfaasRequest> decodeTfaasJson(std::string_view body);
/// tfaaspb.Row
core::Result<TfaasRequest> decodeTfaasProto(std::string_view body);
/// JSON array of floats (one row) or array of arrays (batch) from the first output.
std::string encodeTfaasJson(const Tensor& output, bool batch);
/// tfaaspb.Predictions with one Class per value of the first row (or of all rows for a batch).
std::string encodeTfaasProto(const Tensor& output, const std::vector<std::string>& labels);

/// Converts rows of doubles into a tensor of the given type with shape [rows, columns] (or the
/// model's input rank when it is 1); fails when rows differ in length.
core::Result<Tensor> rowsToTensor(const std::vector<std::vector<double>>& rows, const TensorSpec& spec);

/// JSON has no NaN or infinity. Every JSON answer of the server (OIP, TFaaS /json and /image,
/// predict-events) writes a non-finite float as one of the strings "NaN", "Infinity" and
/// "-Infinity", the spelling of the protobuf JSON mapping (what a gRPC-JSON gateway of the
/// protocol writes): the text stays standard JSON and, unlike null, NaN and inf stay apart. The
/// binary tensor extension carries the raw bits. Inputs are refused: a client sends such values
/// binary (docs/http-api.md#non-finite-values).
std::string_view nonFiniteJsonString(double value);

/// Output values converted to double (for TFaaS responses).
std::vector<double> tensorToDoubles(const Tensor& tensor);

}  // namespace mlaas::serve
