// `mlaas model mlp`: writes a seeded random MLP as ONNX (benchmark and test models).
#include <fmt/format.h>

#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "core/result.hpp"
#include "onnx/model_builder.hpp"

namespace {

using mlaas::core::Errc;
using mlaas::core::Exception;

std::vector<std::int64_t> parseLayers(const std::string& text) {
  std::vector<std::int64_t> layers;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size())
      throw Exception(Errc::invalid_argument,
                      fmt::format("--layers: '{}' is not a number in '{}' (expected e.g. 42,128,64,1)", item, text));
    layers.push_back(value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return layers;
}

struct MlpOptions {
  std::string layers;
  std::string out;
  std::uint64_t seed = 1;
  std::string activation = "relu";
  std::string output = "sigmoid";
  std::string inputName = "input";
  std::string outputName = "output";
};

void runMlp(const MlpOptions& options) {
  mlaas::onnx::MlpSpec spec;
  spec.layers = parseLayers(options.layers);
  spec.seed = options.seed;
  spec.hidden = mlaas::onnx::parseActivation(options.activation);
  spec.output = mlaas::onnx::parseActivation(options.output);
  spec.inputName = options.inputName;
  spec.outputName = options.outputName;
  const auto bytes = mlaas::onnx::buildRandomMlp(spec);
  std::ofstream file(options.out, std::ios::binary | std::ios::trunc);
  if (!file) throw Exception(Errc::io, fmt::format("{}: cannot open for writing", options.out));
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) throw Exception(Errc::io, fmt::format("{}: write failed", options.out));
  std::int64_t parameters = 0;
  for (std::size_t i = 1; i < spec.layers.size(); ++i)
    parameters += spec.layers[i - 1] * spec.layers[i] + spec.layers[i];
  std::cout << fmt::format("wrote {} ({} bytes, {} parameters, input '{}' [batch,{}], output '{}' [batch,{}])\n",
                           options.out, bytes.size(), parameters, spec.inputName, spec.layers.front(),
                           spec.outputName, spec.layers.back());
}

void setupModel(CLI::App& app) {
  auto* model = app.add_subcommand("model", "Build ONNX models");
  model->require_subcommand(1);
  auto options = std::make_shared<MlpOptions>();
  auto* mlp = model->add_subcommand("mlp", "Write a multilayer perceptron with seeded random (Glorot) weights");
  mlp->add_option("--layers", options->layers, "Layer sizes including input and output, e.g. 42,128,128,128,64,64,1")
      ->required();
  mlp->add_option("--out", options->out, "Output .onnx file")->required();
  mlp->add_option("--seed", options->seed, "Seed of the weights (same seed, same model)")->capture_default_str();
  mlp->add_option("--activation", options->activation, "Hidden activation: none, relu, tanh, sigmoid, softmax")
      ->capture_default_str();
  mlp->add_option("--output", options->output, "Output activation: none, relu, tanh, sigmoid, softmax")
      ->capture_default_str();
  mlp->add_option("--input-name", options->inputName, "Name of the input tensor")->capture_default_str();
  mlp->add_option("--output-name", options->outputName, "Name of the output tensor")->capture_default_str();
  mlp->callback([options] { runMlp(*options); });
}

}  // namespace

MLAAS_CLI_COMMAND(model, setupModel);
