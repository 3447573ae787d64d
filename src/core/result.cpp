#include "core/result.hpp"

namespace mlaas::core {

std::string_view errcName(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_argument: return "invalid argument";
    case Errc::not_found: return "not found";
    case Errc::corrupt: return "corrupt data";
    case Errc::unsupported: return "unsupported";
    case Errc::io: return "I/O error";
    case Errc::timeout: return "timeout";
    case Errc::unavailable: return "unavailable";
    case Errc::resource_exhausted: return "resource exhausted";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::permission_denied: return "permission denied";
    case Errc::conflict: return "conflict";
    case Errc::cancelled: return "cancelled";
    case Errc::internal: return "internal error";
  }
  return "unknown error";
}

Error Error::withContext(std::string_view context) const& {
  return Error{code, std::string(context) + ": " + message};
}

Error Error::withContext(std::string_view context) && {
  message.insert(0, std::string(context) + ": ");
  return std::move(*this);
}

Exception::Exception(Error error) : std::runtime_error(error.message), error_(std::move(error)) {}

}  // namespace mlaas::core
