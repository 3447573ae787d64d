// Whatever a server sends (or a request file holds), the decoders return a value or an error:
// no crash, no unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "client/oip_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const auto mode = data[0] % 3;
  const std::size_t split = (static_cast<std::size_t>(data[1]) << 8 | data[2]);
  const std::string_view body(reinterpret_cast<const char*>(data + 3), size - 3);
  namespace client = mlaas::client;
  if (mode == 0) {
    auto request = client::parseInferRequestJson(body);
    if (request) (void)client::encodeInferRequest(*request, client::Encoding::binary);
  } else {
    auto response = client::decodeInferResponse(body, mode == 1 ? std::optional<std::size_t>{} : std::optional<std::size_t>{split});
    if (response) (void)client::formatInferResponseJson(*response);
  }
  return 0;
}
