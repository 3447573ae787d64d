#include <filesystem>
#include <iostream>
#include <map>

#include "cli/command.hpp"
#include "core/result.hpp"

namespace mlaas::cli {
namespace {
std::map<std::string, CommandSetup>& registry() {
  static std::map<std::string, CommandSetup> commands;  // sorted: stable help output
  return commands;
}
std::span<char* const> startArguments;

/// "mlaas models" for a subcommand, from the chain of parents.
std::string commandPath(const CLI::App* app) {
  std::string path = app->get_name();
  for (const CLI::App* parent = app->get_parent(); parent != nullptr; parent = parent->get_parent())
    path = parent->get_name() + " " + path;
  return path;
}

/// CLI11 (2.1) converts "-1" for an unsigned option to 2^64-1: every unsigned option refuses a
/// minus sign before conversion, whoever registered it.
void refuseNegativeUnsigned(CLI::App& app) {
  for (CLI::Option* option : app.get_options())
    if (option->get_type_name() == "UINT")
      option->check(CLI::Validator(
          [](std::string& text) -> std::string {
            const auto first = text.find_first_not_of(" \t");
            if (first != std::string::npos && text[first] == '-') return "must not be negative, got " + text;
            return {};
          },
          "", "NonNegative"));
  for (CLI::App* sub : app.get_subcommands({})) refuseNegativeUnsigned(*sub);
}

/// Usage errors as "mlaas: error: ..." like every other error, and an unknown subcommand named
/// (CLI11 only says "A subcommand is required").
std::string usageMessage(const CLI::App* top, const CLI::Error& error) {
  const CLI::App* deepest = top;
  while (!deepest->get_subcommands().empty()) deepest = deepest->get_subcommands().front();
  std::string message = error.what();
  const auto extra = deepest->remaining();
  if (error.get_name() == "RequiredError" && deepest->get_require_subcommand_min() > 0 && !extra.empty()) {
    std::string known;
    for (const CLI::App* sub : deepest->get_subcommands({})) known += (known.empty() ? "" : ", ") + sub->get_name();
    message = "unknown subcommand '" + extra.front() + "' of '" + commandPath(deepest) + "' (known: " + known + ")";
  }
  return "mlaas: error: " + message + "\nRun '" + commandPath(deepest) + " --help' for more information.\n";
}
}  // namespace

Registrar::Registrar(std::string name, CommandSetup setup) { registry().emplace(std::move(name), std::move(setup)); }

std::span<char* const> invocation() { return startArguments; }

}  // namespace mlaas::cli

int main(int argc, char** argv) {
  mlaas::cli::startArguments =
      std::span<char* const>(argv, static_cast<std::size_t>(argc) + 1);  // with argv[argc] == nullptr
  // The program's own name in usage lines: `mlaas` or `mlaas-train` (the same front end).
  const std::string program = argc > 0 ? std::filesystem::path(argv[0]).filename().string() : "mlaas";
  CLI::App app{"mlaas: machine learning as a service for high-energy physics", program.empty() ? "mlaas" : program};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mlaas ") + MLAAS_VERSION);
  app.failure_message(mlaas::cli::usageMessage);
  for (auto& [name, setup] : mlaas::cli::registry()) setup(app);
  mlaas::cli::refuseNegativeUnsigned(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);                          // prints help, version or the usage error
    return code == 0 ? 0 : mlaas::cli::kUsageExitCode;  // usage errors exit 2, as docs/cli.md says
  } catch (const mlaas::cli::ExitError& e) {
    if (!e.message.empty()) std::cerr << "mlaas: " << e.message << "\n";
    return e.code;
  } catch (const mlaas::core::Exception& e) {
    std::cerr << "mlaas: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mlaas: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
