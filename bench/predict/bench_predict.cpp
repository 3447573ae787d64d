// Raw-event inference on a generated sample (the demo's dataset config, an MLP on its 38 features),
// batches of 10,000 events, every path measured in the same run:
//   read      the branches the model reads, nothing else (the floor: TreeSource::read)
//   bundle    read + preprocessing (Plan::prepare, Transform::apply) + ONNX Runtime: `predict --root`
//   to JSON   read + events as JSON text (what the client does)
//   json      read + events as JSON text + parsed back into columns + preprocessing + ORT: the
//             server's work for predict-events without the network
//   http      read + JSON + POST predict-events to an in-process server on loopback: `predict
//             --root --server`
// Figures: events/s and each path's rate as a ratio to the one above it.
//   bench_predict [EVENTS=100000]
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "client/client.hpp"
#include "data/config.hpp"
#include "data/dataset.hpp"
#include "data/json_events.hpp"
#include "onnx/model_builder.hpp"
#include "root/generate.hpp"
#include "serve/predict_events.hpp"
#include "serve/server.hpp"

namespace fs = std::filesystem;
using namespace mlaas;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kConfig = R"(inputs:
  tree: Events
  files: [sample.root]
  label: {branch: label}
features:
  flat: [MET_pt, MET_phi]
  groups:
    jets: {branches: [Jet_pt, Jet_eta, Jet_phi, Jet_mass, Jet_btagDeepB], length: 6, sort_by: Jet_pt}
    muons: {branches: [Muon_pt, Muon_eta, Muon_phi], length: 2}
representation: vector
normalization: standard
split: {train: 1.0, by: entry}
)";

/// Best of three passes over the file in batches; returns events/s.
double rate(std::uint64_t events, std::uint64_t batch, const std::function<void(std::uint64_t, std::uint64_t)>& work) {
  double best = 1e300;
  for (int pass = 0; pass < 3; ++pass) {
    const auto start = Clock::now();
    for (std::uint64_t b = 0; b < events; b += batch) work(b, std::min(events, b + batch));
    best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
  }
  return static_cast<double>(events) / best;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const std::uint64_t events = argc > 1 ? std::stoull(argv[1]) : 100000;
  constexpr std::uint64_t kBatch = 10000;
  char pattern[] = "/tmp/mlaas-bench-predict-XXXXXX";
  const fs::path dir = mkdtemp(pattern);
  try {
    root::GenerateOptions generate;
    generate.events = events;
    root::generateFile((dir / "sample.root").string(), generate);
    std::ofstream(dir / "dataset.yaml") << kConfig;
    const auto config = data::DatasetConfig::load(dir / "dataset.yaml");
    auto dataInputs = data::openInputs(config);
    const auto plan = data::Plan::build(config, dataInputs.schema);
    const auto specs = data::computeSpecs(*plan, dataInputs);
    const nlohmann::json preprocessing = {{"representation", "vector"},
                                          {"dataset_config", kConfig},
                                          {"specs", nlohmann::json::parse(specs.toJson(*plan))}};
    const auto pre = serve::EventPreprocessor::compile(preprocessing.dump(), "bench");
    const auto width = static_cast<std::int64_t>(pre->transform().tensorSpecs().at(0).width());
    onnx::MlpSpec mlp;
    mlp.layers = {width, 64, 64, 1};
    mlp.inputName = "features";
    const auto onnxBytes = onnx::buildRandomMlp(mlp);
    const auto model = serve::LoadedModel::load(onnxBytes, "bench").value();
    const auto tree = data::openTree((dir / "sample.root").string(), "Events");
    const auto& branches = pre->branches();

    const double read =
        rate(events, kBatch, [&](std::uint64_t b, std::uint64_t e) { (void)tree->read(branches, b, e); });
    const double bundle = rate(events, kBatch, [&](std::uint64_t b, std::uint64_t e) {
      auto inputs = pre->tensors(tree->read(branches, b, e), model->signature()).value();
      (void)model->run(inputs).value();
    });
    const double encode = rate(events, kBatch, [&](std::uint64_t b, std::uint64_t e) {
      (void)data::columnsToJsonEvents(tree->read(branches, b, e), 0, e - b).value();
    });
    const double json = rate(events, kBatch, [&](std::uint64_t b, std::uint64_t e) {
      const auto text = data::columnsToJsonEvents(tree->read(branches, b, e), 0, e - b).value();
      auto columns = data::columnsFromJsonEvents(text, pre->schema(), branches, kBatch).value();
      auto inputs = pre->tensors(columns.columns, model->signature()).value();
      (void)model->run(inputs).value();
    });

    serve::ServerConfig serverConfig;
    serverConfig.port = 0;
    serverConfig.dataDir = dir / "data";
    serverConfig.accessLog = false;
    serve::Server server(serverConfig);
    server.start();
    (void)server.repository()
        .addVersion("bench", onnxBytes, nlohmann::json{{"preprocessing", preprocessing}}.dump())
        .value();
    client::ClientOptions options;
    options.url = fmt::format("http://127.0.0.1:{}", server.port());
    const client::Client client(options);
    std::uint64_t bytes = 0;
    const double http = rate(events, kBatch, [&](std::uint64_t b, std::uint64_t e) {
      const auto text = data::columnsToJsonEvents(tree->read(branches, b, e), 0, e - b).value();
      bytes += text.size();
      (void)client.predictEvents("bench", text).value();
    });
    server.shutdown();

    fmt::print("bench_predict: {} events ({} branches, {} features), batches of {}, best of 3\n", events,
               branches.size(), width, kBatch);
    fmt::print("  read only          {:>10.0f} events/s\n", read);
    fmt::print("  bundle (in process){:>10.0f} events/s   {:.2f} of the raw read\n", bundle, bundle / read);
    fmt::print("  read + to JSON     {:>10.0f} events/s   {:.2f} of the raw read (the client's share)\n", encode,
               encode / read);
    fmt::print("  json round trip    {:>10.0f} events/s   {:.2f} of in-process\n", json, json / bundle);
    fmt::print("  http predict-events{:>10.0f} events/s   {:.2f} of in-process ({:.0f} bytes of JSON per event)\n",
               http, http / bundle, static_cast<double>(bytes) / (3.0 * static_cast<double>(events)));
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_predict: {}\n", e.what());
    fs::remove_all(dir);
    return 1;
  }
  fs::remove_all(dir);
  return 0;
}
