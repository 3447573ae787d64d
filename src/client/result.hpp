// client::Result<T>: like core::Result, but the error also carries the HTTP status and the
// server's own message, so callers can tell a 404 from a refused connection. It is not an alias of
// core::Result (mlaas::client does depend on core): core::Result's error is core::Error, which has
// no room for the status, and turning it into one would drop the status from the client's API.
// toCore() and value() bridge to core's vocabulary where a caller wants it.
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/result.hpp"

namespace mlaas::client {

struct Error {
  core::Errc code = core::Errc::internal;
  int httpStatus = 0;   ///< 0 when no HTTP response came back (connection, timeout, local check)
  std::string message;  ///< the server's {"error": ...} text, or what failed on this side

  /// "HTTP 404: unknown model 'x'" or just the message when there was no response.
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] core::Error toCore() const { return core::Error{code, describe()}; }
};

/// The Errc for an HTTP error status (400 invalid_argument, 404 not_found, 503 unavailable...).
core::Errc errcForHttpStatus(int status) noexcept;

template <class T>
class [[nodiscard]] Result {
 public:
  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, Result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, Error>)
  Result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}       // NOLINT

  [[nodiscard]] bool hasValue() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return hasValue(); }

  /// The value, or throws core::Exception carrying describe(): for CLI-style callers.
  T& value() & {
    throwIfError();
    return std::get<0>(state_);
  }
  const T& value() const& {
    throwIfError();
    return std::get<0>(state_);
  }
  T&& value() && {
    throwIfError();
    return std::get<0>(std::move(state_));
  }
  T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  T* operator->() noexcept { return std::get_if<0>(&state_); }
  const T* operator->() const noexcept { return std::get_if<0>(&state_); }

  [[nodiscard]] const Error& error() const& noexcept {
    assert(!hasValue());
    return *std::get_if<1>(&state_);
  }
  [[nodiscard]] Error&& error() && noexcept {
    assert(!hasValue());
    return std::move(*std::get_if<1>(&state_));
  }

 private:
  void throwIfError() const {
    if (!hasValue()) throw core::Exception(std::get<1>(state_).toCore());
  }
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  [[nodiscard]] bool hasValue() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return hasValue(); }
  void value() const {
    if (failed_) throw core::Exception(error_.toCore());
  }
  [[nodiscard]] const Error& error() const& noexcept {
    assert(failed_);
    return error_;
  }
  [[nodiscard]] Error&& error() && noexcept {
    assert(failed_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace mlaas::client
