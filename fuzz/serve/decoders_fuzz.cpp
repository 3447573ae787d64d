// libFuzzer entry for the server's request decoders: none may crash, hang or allocate beyond the
// input's size, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/codec.hpp"
#include "serve/image.hpp"
#include "serve/names.hpp"
#include "serve/upload_formats.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mlaas::serve;
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 8) {
    case 0: (void)decodeInferRequest(input, std::nullopt); break;
    case 1: {  // binary extension: the next two bytes give the JSON length
      if (input.size() < 2) break;
      std::size_t jsonLength = static_cast<std::uint8_t>(input[0]) | (static_cast<std::size_t>(static_cast<std::uint8_t>(input[1])) << 8);
      (void)decodeInferRequest(input.substr(2), jsonLength);
      break;
    }
    case 2: (void)decodeTfaasJson(input); break;
    case 3: (void)decodeTfaasProto(input); break;
    case 4: (void)parseMultipart(input, "BOUNDARY"); break;
    case 5: (void)readBundle(input, 1u << 20); break;
    case 6:
      (void)parseModelRef(input);
      (void)percentDecode(input, true);
      break;
    case 7: {  // /image: PNG or JPEG into a tensor of any size, grey and colour
      (void)imageToTensor(input, TensorSpec{"x", DataType::fp32, {-1, -1, -1, 3}}, 0, "fuzz", 1u << 20);
      (void)imageToTensor(input, TensorSpec{"x", DataType::uint8, {1, 1, -1, -1}}, 0, "fuzz", 1u << 20);
      break;
    }
  }
  return 0;
}
