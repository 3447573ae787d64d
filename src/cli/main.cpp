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
}  // namespace

Registrar::Registrar(std::string name, CommandSetup setup) { registry().emplace(std::move(name), std::move(setup)); }

std::span<char* const> invocation() { return startArguments; }

}  // namespace mlaas::cli

int main(int argc, char** argv) {
  mlaas::cli::startArguments =
      std::span<char* const>(argv, static_cast<std::size_t>(argc) + 1);  // with argv[argc] == nullptr
  CLI::App app{"mlaas: machine learning as a service for high-energy physics", "mlaas"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mlaas ") + MLAAS_VERSION);
  for (auto& [name, setup] : mlaas::cli::registry()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the usage error
    return code == 0 ? 0 : 2;      // usage errors exit 2, as docs/cli.md says
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
