// `mlaas predict`: run inference on a server model from an Open Inference Protocol request file.
// (Local prediction from a trained bundle on ROOT files, `--model BUNDLE --root FILES`, is the
// second mode this command leaves room for; it needs the training module.)
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "client/client.hpp"
#include "client/oip_codec.hpp"
#include "core/result.hpp"

namespace {

using mlaas::core::Errc;
using mlaas::core::Exception;
namespace client = mlaas::client;

struct PredictArgs {
  std::string server;
  std::string token;
  std::string tokenFile;
  std::string model;
  std::string input;
  std::string output;
  std::vector<std::string> rootFiles;
  bool binary = false;
  bool compact = false;
  double timeoutSeconds = 60;
};

std::string readInput(const std::string& path) {
  if (path == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Exception(Errc::not_found, fmt::format("{}: cannot read the request file", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void runPredict(const PredictArgs& args) {
  if (!args.rootFiles.empty())
    throw Exception(Errc::unsupported,
                    "predict --root (a trained bundle on ROOT files) needs the training module; use "
                    "--input FILE.json with a server model");
  if (args.input.empty()) throw Exception(Errc::invalid_argument, "give --input FILE.json (an OIP inference request)");
  auto request = client::parseInferRequestJson(readInput(args.input));
  if (!request) throw Exception(request.error().code, fmt::format("{}: {}", args.input, request.error().message));

  auto options = client::optionsFromCommandLine(args.server, args.token, args.tokenFile);
  if (args.timeoutSeconds <= 0) throw Exception(Errc::invalid_argument, "--timeout must be positive");
  options.requestTimeout = std::chrono::milliseconds(static_cast<std::int64_t>(args.timeoutSeconds * 1000));
  const client::Client client(options);
  const auto response =
      client.infer(args.model, *request, args.binary ? client::Encoding::binary : client::Encoding::json).value();
  const auto text = client::formatInferResponseJson(response, args.compact ? -1 : 2) + "\n";
  if (args.output.empty()) {
    std::cout << text;
    return;
  }
  std::ofstream out(args.output, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw Exception(Errc::io, fmt::format("{}: cannot write the response", args.output));
}

void setupPredict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "Run a model on a server with an Open Inference Protocol request file");
  cmd->add_option("--model", args->model, "Model reference: name, name/versions/N or name@alias")->required();
  cmd->add_option("--input", args->input, "OIP JSON inference request ({\"inputs\": [...]}); '-' reads stdin");
  cmd->add_flag("--binary", args->binary, "Send and receive tensors with the binary tensor extension");
  cmd->add_option("--output", args->output, "Write the response JSON here instead of stdout");
  cmd->add_flag("--compact", args->compact, "One-line JSON");
  cmd->add_option("--root", args->rootFiles, "ROOT files for local prediction with a trained bundle (not yet)");
  cmd->add_option("--server", args->server, "Server URL (default: env MLAAS_SERVER, else http://127.0.0.1:8083)");
  cmd->add_option("--token", args->token, "Bearer token (default: env MLAAS_TOKEN)");
  cmd->add_option("--token-file", args->tokenFile, "File whose first line is the bearer token");
  cmd->add_option("--timeout", args->timeoutSeconds, "Seconds to wait for the response")->capture_default_str();
  cmd->callback([args] { runPredict(*args); });
}

}  // namespace

MLAAS_CLI_COMMAND(predict, setupPredict);
