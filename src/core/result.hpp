// Result<T>: the error channel for hot paths, threads and the network (std::expected-style,
// since GCC 12 in C++20 mode has no <expected>). Bad files and configs throw core::Exception at
// load time instead; assertions are only for programmer errors. See docs/architecture.md#errors.
#pragma once

#include <cassert>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace mlaas::core {

/// What kind of failure; maps onto exit codes and HTTP statuses at the edges.
enum class Errc {
  invalid_argument,    ///< bad input from the caller (400)
  not_found,           ///< no such file, object, model, version (404)
  corrupt,             ///< data that contradicts the format (422 / exit 1)
  unsupported,         ///< valid but not implemented by us (501)
  io,                  ///< the operating system or a transport failed
  timeout,             ///< a deadline passed
  unavailable,         ///< transient: try again (503)
  resource_exhausted,  ///< queue full, too large (429 / 413)
  unauthenticated,     ///< no or wrong credentials (401)
  permission_denied,   ///< credentials without the right (403)
  conflict,            ///< the state does not allow it (409)
  cancelled,           ///< stopped on request
  internal,            ///< a bug of ours
};

std::string_view errcName(Errc code) noexcept;

struct Error {
  Errc code = Errc::internal;
  std::string message;

  /// Prefixes context ("file.root: ") so that messages read outermost first.
  [[nodiscard]] Error withContext(std::string_view context) const&;
  [[nodiscard]] Error withContext(std::string_view context) &&;
};

/// The exception form of Error, for load-time failures and for Result::value() on an error.
class Exception : public std::runtime_error {
 public:
  explicit Exception(Error error);
  Exception(Errc code, std::string message) : Exception(Error{code, std::move(message)}) {}
  [[nodiscard]] Errc code() const noexcept { return error_.code; }
  [[nodiscard]] const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

/// Marker for constructing a failed Result: `return core::fail(Errc::io, "...")`.
struct Failure {
  Error error;
};
[[nodiscard]] inline Failure fail(Errc code, std::string message) {
  return Failure{Error{code, std::move(message)}};
}
[[nodiscard]] inline Failure fail(Error error) { return Failure{std::move(error)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, Result>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, Failure>)
  Result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  Result(Failure failure) : state_(std::in_place_index<1>, std::move(failure.error)) {}  // NOLINT

  [[nodiscard]] bool hasValue() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return hasValue(); }

  /// The value, or throws Exception with the error: for callers at a load-time boundary.
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
  T& operator*() & noexcept {
    assert(hasValue());
    return *std::get_if<0>(&state_);
  }
  const T& operator*() const& noexcept {
    assert(hasValue());
    return *std::get_if<0>(&state_);
  }
  T&& operator*() && noexcept {
    assert(hasValue());
    return std::move(*std::get_if<0>(&state_));
  }
  T* operator->() noexcept { return &**this; }
  const T* operator->() const noexcept { return &**this; }

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
    if (!hasValue()) throw Exception(std::get<1>(state_));
  }
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Failure failure) : error_(std::move(failure.error)), failed_(true) {}  // NOLINT
  [[nodiscard]] bool hasValue() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return hasValue(); }
  void value() const {
    if (failed_) throw Exception(error_);
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

}  // namespace mlaas::core

/// Propagates a failed Result from the enclosing function; evaluates to nothing on success.
#define MLAAS_TRY(expr)                                                       \
  do {                                                                        \
    if (auto&& mlaas_try_result_ = (expr); !mlaas_try_result_.hasValue())     \
      return ::mlaas::core::fail(std::move(mlaas_try_result_).error());       \
  } while (false)
