// SHA-256 (FIPS 180-4) for content-addressing stored model files and the model card's digest.
#pragma once

#include <string>
#include <string_view>

namespace mlaas::serve {

/// Lower-case hex digest of data.
std::string sha256Hex(std::string_view data);

}  // namespace mlaas::serve
