// Subcommand registry for the `mlaas` tool. Each command lives in its own cmd_*.cpp, compiled
// into the executable, and registers itself with MLAAS_CLI_COMMAND; main.cpp knows none of them.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <span>
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

}  // namespace mlaas::cli

#define MLAAS_CLI_COMMAND(id, setup) static const ::mlaas::cli::Registrar mlaas_cli_registrar_##id(#id, setup)
