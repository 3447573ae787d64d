#include <iostream>

#include "cli/command.hpp"

namespace {
void setupVersion(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the mlaas version");
  cmd->callback([] { std::cout << "mlaas " << MLAAS_VERSION << "\n"; });
}
}  // namespace

MLAAS_CLI_COMMAND(version, setupVersion);
