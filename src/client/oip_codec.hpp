// Open Inference Protocol v2 bodies <-> typed tensors: JSON (`data` arrays, flat or nested) and
// the binary tensor extension (JSON header + raw little-endian blobs). Used by Client::infer
// and by `mlaas predict` to read request files.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "client/result.hpp"
#include "client/types.hpp"

namespace mlaas::client {

/// A request body ready to send: with Encoding::binary, `jsonLength` is the value of the
/// Inference-Header-Content-Length header (the JSON part's length).
struct EncodedBody {
  std::string body;
  std::size_t jsonLength = 0;
  bool binary = false;
};

/// Fails (invalid_argument) when a tensor's element count does not match its shape, or FP16
/// data is asked for as JSON.
Result<EncodedBody> encodeInferRequest(const InferRequest& request, Encoding encoding);

/// Parses a response body; headerLength is Inference-Header-Content-Length when present.
/// Every size is checked against the body before anything is allocated (Errc::corrupt).
Result<InferResponse> decodeInferResponse(std::string_view body, std::optional<std::size_t> headerLength);

/// Parses an OIP JSON inference request (the file `mlaas predict --input` reads).
Result<InferRequest> parseInferRequestJson(std::string_view json);

/// The response as OIP JSON with inline `data` (what `mlaas predict` prints).
std::string formatInferResponseJson(const InferResponse& response, int indent = -1);

}  // namespace mlaas::client
