// Subcommand registry for the `mlaas` tool. Each command lives in its own cmd_*.cpp, compiled
// into the executable, and registers itself with MLAAS_CLI_COMMAND; main.cpp knows none of them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace mlaas::cli {

/// Adds one subcommand (with options and callback) to the application.
using CommandSetup = std::function<void(CLI::App& app)>;

struct Registrar {
  Registrar(std::string name, CommandSetup setup);
};

/// The command line this process was started with (argv), for commands that hand the whole
/// invocation over to another executable (see cmd_train.cpp).
std::span<char* const> invocation();

/// Thrown by a command to exit with a code after printing message to stderr (if non-empty).
struct ExitError {
  int code = 1;
  std::string message;
};

/// Exit status of a command line that cannot work (docs/cli.md): an unknown command or option, a
/// missing or malformed value, a value outside its range, options that contradict each other, an
/// output that is one of the command's inputs. Errors in files, configs, servers and data exit 1.
inline constexpr int kUsageExitCode = 2;

/// Ends the command with "mlaas: error: MESSAGE" and exit status 2 (see kUsageExitCode); the
/// message names the option.
[[noreturn]] inline void usageError(const std::string& message) {
  throw ExitError{kUsageExitCode, "error: " + message};
}

// CLI11 checks with readable messages: CLI::PositiveNumber says "Value 0 not in range 0.000000 to
// 1.797...e308"; these say "--timeout: must be greater than 0, got -1".

/// `text` as a whole number of the kind `parse` reads (std::stod, std::stoll), or nullopt when it
/// is not one or has anything after it.
template <class Parse>
auto parseWhole(const std::string& text, Parse parse) -> std::optional<decltype(parse(text, nullptr))> {
  std::size_t used = 0;
  try {
    auto value = parse(text, &used);
    if (used != 0 && used == text.size()) return value;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

/// A number greater than 0 (seconds).
inline CLI::Validator positiveNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto value = parseWhole(text, [](const std::string& t, std::size_t* used) { return std::stod(t, used); });
        if (!value) return "expected a number, got '" + text + "'";
        if (!(*value > 0)) return "must be greater than 0, got " + text;
        return {};
      },
      "", "Positive");
}

/// A count: an integer of at least `min` (and at most `max`).
inline CLI::Validator atLeast(long long min, long long max = std::numeric_limits<long long>::max()) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const auto value =
            parseWhole(text, [](const std::string& t, std::size_t* used) { return std::stoll(t, used); });
        if (!value) return "expected an integer, got '" + text + "'";
        if (*value < min) return "must be at least " + std::to_string(min) + ", got " + text;
        if (*value > max) return "must be at most " + std::to_string(max) + ", got " + text;
        return {};
      },
      "", "AtLeast");
}

}  // namespace mlaas::cli

#define MLAAS_CLI_COMMAND(id, setup) static const ::mlaas::cli::Registrar mlaas_cli_registrar_##id(#id, setup)
