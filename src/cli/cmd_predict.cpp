// `mlaas predict`: run a model.
//   --input FILE.json                 an Open Inference Protocol request file, through a server;
//   --root FILES... --out scores.root raw events of ROOT files -> a friend tree of scores, either
//                                     in-process from a bundle folder (--model DIR: model.onnx +
//                                     model.json) or through a server's predict-events endpoint
//                                     (--model REF), both with the training-time preprocessing.
// docs/cli.md#predict.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/output_guard.hpp"
#include "client/client.hpp"
#include "client/oip_codec.hpp"
#include "core/result.hpp"
#include "data/dataset.hpp"
#include "data/json_events.hpp"
#include "root/writer.hpp"
#include "serve/predict_events.hpp"
#include "serve/runtime.hpp"

namespace {

using mlaas::core::Errc;
using mlaas::core::Exception;
namespace client = mlaas::client;
namespace data = mlaas::data;
namespace root = mlaas::root;
namespace serve = mlaas::serve;
using Clock = std::chrono::steady_clock;

struct PredictArgs {
  std::string server;
  std::string token;
  std::string tokenFile;
  std::string model;
  std::string input;
  std::string output;
  std::vector<std::string> rootFiles;
  std::string tree;
  std::string outTree;
  std::string out;
  std::size_t batch = 10000;
  std::size_t threads = 1;
  bool binary = false;
  bool compact = false;
  bool quiet = false;
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

client::ClientOptions clientOptions(const PredictArgs& args) {
  auto options = client::optionsFromCommandLine(args.server, args.token, args.tokenFile);
  options.requestTimeout = std::chrono::milliseconds(static_cast<std::int64_t>(args.timeoutSeconds * 1000));
  return options;
}

void runOipPredict(const PredictArgs& args) {
  if (args.input.empty())
    throw Exception(Errc::invalid_argument,
                    "give --input FILE.json (an OIP inference request) or --root FILES --out FILE");
  if (!args.output.empty()) {
    std::vector<mlaas::cli::ReadFile> reads;
    if (args.input != "-") reads.push_back({"the request file", args.input});
    if (!args.tokenFile.empty()) reads.push_back({"the token file", args.tokenFile});
    mlaas::cli::refuseOverwritingInputs("--output", args.output, reads);
  }
  auto request = client::parseInferRequestJson(readInput(args.input));
  if (!request) throw Exception(request.error().code, fmt::format("{}: {}", args.input, request.error().message));
  const client::Client client(clientOptions(args));
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

// ---- --root: scores for every entry of ROOT files ------------------------------------------------

/// Scores of `rows` events: `width` floats per event, row-major.
struct Scores {
  std::size_t width = 0;
  std::vector<float> values;
};

/// Runs one chunk of raw columns through a model: in-process or through a server.
class Scorer {
 public:
  virtual ~Scorer() = default;
  [[nodiscard]] virtual const serve::EventPreprocessor& preprocessor() const = 0;
  [[nodiscard]] virtual std::vector<std::string> labels() const = 0;
  [[nodiscard]] virtual std::string describe() const = 0;
  virtual Scores score(const std::vector<root::Column>& columns, std::size_t rows) = 0;
};

Scores scoresFromTensor(const serve::Tensor& output, std::size_t rows) {
  if (output.type != serve::DataType::fp32 || output.shape.empty() ||
      output.shape[0] != static_cast<std::int64_t>(rows))
    throw Exception(Errc::invalid_argument,
                    fmt::format("the model's output '{}' is {} {}; predict --root wants FP32 [{}, k]", output.name,
                                serve::dataTypeName(output.type), serve::shapeToString(output.shape), rows));
  Scores scores;
  scores.width = 1;
  for (std::size_t d = 1; d < output.shape.size(); ++d) scores.width *= static_cast<std::size_t>(output.shape[d]);
  scores.values.resize(rows * scores.width);
  if (output.data.size() < scores.values.size() * sizeof(float))
    throw Exception(Errc::internal, fmt::format("output '{}' holds fewer bytes than its shape", output.name));
  std::memcpy(scores.values.data(), output.data.data(), scores.values.size() * sizeof(float));
  return scores;
}

class BundleScorer final : public Scorer {
 public:
  BundleScorer(const std::filesystem::path& dir, std::size_t threads) : dir_(dir) {
    const auto onnxPath = dir / "model.onnx";
    if (!std::filesystem::exists(onnxPath) || !std::filesystem::exists(dir / "model.json"))
      throw Exception(Errc::not_found,
                      fmt::format("{}: not a model bundle (needs model.onnx and model.json, as 'mlaas train' writes)",
                                  dir.string()));
    preprocessor_ = serve::EventPreprocessor::fromModelJson(dir / "model.json");
    serve::configureRuntime(serve::RuntimeOptions{static_cast<int>(std::max<std::size_t>(1, threads))});
    std::ifstream in(onnxPath, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (!in) throw Exception(Errc::io, fmt::format("{}: cannot read", onnxPath.string()));
    model_ = serve::LoadedModel::load(bytes.str(), onnxPath.string()).value();
  }
  [[nodiscard]] const serve::EventPreprocessor& preprocessor() const override { return *preprocessor_; }
  [[nodiscard]] std::vector<std::string> labels() const override { return preprocessor_->labels(); }
  [[nodiscard]] std::string describe() const override { return fmt::format("bundle {} (in-process)", dir_.string()); }
  Scores score(const std::vector<root::Column>& columns, std::size_t rows) override {
    auto inputs = preprocessor_->tensors(columns, model_->signature());
    if (!inputs) throw Exception(inputs.error());
    auto outputs = model_->run(*inputs);
    if (!outputs) throw Exception(outputs.error());
    if (outputs->empty()) throw Exception(Errc::invalid_argument, "the model has no outputs");
    return scoresFromTensor(outputs->front(), rows);
  }

 private:
  std::filesystem::path dir_;
  std::shared_ptr<const serve::EventPreprocessor> preprocessor_;
  std::shared_ptr<const serve::LoadedModel> model_;
};

/// Sends the events' raw branches as JSON to predict-events: the server applies the stored
/// preprocessing, so this checks the server path end to end (docs/cli.md#predict).
class ServerScorer final : public Scorer {
 public:
  ServerScorer(const PredictArgs& args) : client_(clientOptions(args)), reference_(args.model) {
    const auto card = client_.getCard(reference_).value();
    if (card.preprocessing.is_null())
      throw Exception(Errc::conflict, fmt::format("model {} has no preprocessing spec, so it cannot take raw events "
                                                  "(train it with 'mlaas train --upload')",
                                                  reference_));
    preprocessor_ = serve::EventPreprocessor::compile(card.preprocessing.dump(), fmt::format("model {}", reference_));
    labels_ = card.labels;
    resolved_ = fmt::format("{}/versions/{}", card.name, card.version);
  }
  [[nodiscard]] const serve::EventPreprocessor& preprocessor() const override { return *preprocessor_; }
  [[nodiscard]] std::vector<std::string> labels() const override { return labels_; }
  [[nodiscard]] std::string describe() const override {
    return fmt::format("{} ({}) on {} via predict-events", reference_, resolved_, client_.options().url);
  }
  Scores score(const std::vector<root::Column>& columns, std::size_t rows) override {
    std::vector<root::Column> wanted;
    for (const auto& name : preprocessor_->branches())
      for (const auto& column : columns)
        if (column.name == name) wanted.push_back(column);
    auto events = data::columnsToJsonEvents(wanted, 0, rows);
    if (!events) throw Exception(events.error());
    auto response = client_.predictEvents(reference_, *events);
    if (!response) throw Exception(response.error().toCore());
    const auto& outputs = (*response)["outputs"];
    if (!outputs.is_array() || outputs.empty()) throw Exception(Errc::corrupt, "predict-events answered no outputs");
    const auto& first = outputs.front();
    Scores scores;
    const auto shape = first.value("shape", std::vector<std::int64_t>{});
    if (shape.empty() || shape[0] != static_cast<std::int64_t>(rows))
      throw Exception(Errc::corrupt,
                      fmt::format("predict-events answered shape {} for {} events", serve::shapeToString(shape), rows));
    scores.width = 1;
    for (std::size_t d = 1; d < shape.size(); ++d) scores.width *= static_cast<std::size_t>(shape[d]);
    const auto& values = first["data"];
    if (!values.is_array() || values.size() != rows * scores.width)
      throw Exception(Errc::corrupt, "predict-events answered a data list that does not match its shape");
    scores.values.reserve(values.size());
    for (const auto& v : values) scores.values.push_back(v.is_number() ? v.get<float>() : std::nanf(""));
    return scores;
  }

 private:
  client::Client client_;
  std::string reference_;
  std::string resolved_;
  std::shared_ptr<const serve::EventPreprocessor> preprocessor_;
  std::vector<std::string> labels_;
};

/// "score" for one output; else "score_<label>" with the label made a valid branch name.
std::vector<std::string> scoreNames(std::size_t width, const std::vector<std::string>& labels) {
  if (width == 1) return {"score"};
  std::vector<std::string> names;
  for (std::size_t k = 0; k < width; ++k) {
    std::string label = k < labels.size() && labels.size() == width ? labels[k] : std::to_string(k);
    for (auto& c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    names.push_back(label);
  }
  return names;
}

/// Identifier branches of the source, in this order, when every input has them as scalars.
std::vector<data::BranchInfo> identifierBranches(const std::vector<data::TreeSourcePtr>& trees) {
  std::vector<data::BranchInfo> ids;
  for (const char* name : {"run", "luminosityBlock", "event"}) {
    std::optional<data::BranchInfo> found;
    bool everywhere = true;
    for (const auto& tree : trees) {
      std::optional<data::BranchInfo> here;
      for (const auto& info : tree->schema())
        if (info.name == name && info.list.empty() && info.unsupported.empty() && info.type != root::DType::string)
          here = info;
      everywhere = everywhere && here && (!found || found->type == here->type);
      if (here && !found) found = here;
    }
    if (found && everywhere) ids.push_back(*found);
  }
  return ids;
}

/// A --model value that can only mean a file or folder: it holds '/' outside the NAME/versions/N
/// form, ends in .onnx, or names something that exists. A server's model name never looks so.
bool looksLikePath(const std::string& model) {
  if (model.size() >= 5 && model.compare(model.size() - 5, 5, ".onnx") == 0) return true;
  std::error_code error;
  if (std::filesystem::exists(model, error)) return true;
  if (model.find('/') == std::string::npos) return false;
  try {
    (void)client::ModelRef::parse(model);
    return false;  // NAME/versions/N
  } catch (const Exception&) {
    return true;
  }
}

/// Without --server: an existing folder is a bundle; a value that looks like a path but is no
/// folder is an error naming it (not a server lookup that fails with "cannot connect"); anything
/// else is a server's model. With --server the value is always a server's model (a folder named
/// like the model in the current directory must not change what runs).
std::unique_ptr<Scorer> openScorer(const PredictArgs& args) {
  if (!args.server.empty()) return std::make_unique<ServerScorer>(args);
  std::error_code error;
  if (std::filesystem::is_directory(args.model, error)) return std::make_unique<BundleScorer>(args.model, args.threads);
  if (looksLikePath(args.model))
    throw Exception(
        Errc::not_found,
        fmt::format(
            "--model {}: {}; a bundle is the folder 'mlaas train' writes (model.onnx + model.json), "
            "a server's model is NAME, NAME/versions/N or NAME@alias",
            args.model,
            std::filesystem::exists(args.model, error) ? "a file, not a bundle folder" : "no such bundle folder"));
  try {
    return std::make_unique<ServerScorer>(args);
  } catch (const Exception& e) {
    // No server or no such model there: the user may have meant a folder, so say none is here.
    if (e.code() != Errc::io && e.code() != Errc::not_found) throw;
    throw Exception(e.code(), fmt::format("{} (--model {}: no folder of that name here, so it was taken as a "
                                          "server's model)",
                                          e.what(), args.model));
  }
}

void runRootPredict(const PredictArgs& args) {
  if (args.out.empty())
    throw Exception(Errc::invalid_argument, "--root needs --out FILE.root (the friend tree of scores)");
  {
    // Before any work: the friend tree replaces whatever --out names, so it must not be an input.
    std::vector<mlaas::cli::ReadFile> reads;
    for (const auto& path : args.rootFiles) reads.push_back({"the input", path});
    std::error_code error;
    if (args.server.empty() && std::filesystem::is_directory(args.model, error)) {
      reads.push_back({"the bundle's model", (std::filesystem::path(args.model) / "model.onnx").string()});
      reads.push_back({"the bundle's model.json", (std::filesystem::path(args.model) / "model.json").string()});
    }
    if (!args.tokenFile.empty()) reads.push_back({"the token file", args.tokenFile});
    mlaas::cli::refuseOverwritingInputs("--out", args.out, reads);
  }
  const auto start = Clock::now();
  std::unique_ptr<Scorer> scorer = openScorer(args);
  const auto& pre = scorer->preprocessor();
  const std::string treeName = args.tree.empty() ? pre.tree() : args.tree;

  std::vector<data::TreeSourcePtr> trees;
  std::uint64_t total = 0;
  for (const auto& path : args.rootFiles) {
    trees.push_back(data::openTree(path, treeName));
    total += trees.back()->entries();
    const auto schema = trees.back()->schema();
    for (const auto& want : pre.schema()) {
      auto it =
          std::find_if(schema.begin(), schema.end(), [&](const data::BranchInfo& b) { return b.name == want.name; });
      if (it == schema.end())
        throw Exception(Errc::invalid_argument, fmt::format("{}: tree '{}' has no branch '{}' that the model reads",
                                                            path, treeName, want.name));
    }
  }
  const auto ids = identifierBranches(trees);
  std::vector<root::BranchSpec> idSpecs;
  for (const auto& id : ids) idSpecs.push_back(root::BranchSpec::scalar(id.name, id.type));
  if (ids.empty()) idSpecs.push_back(root::BranchSpec::scalar("entry", root::DType::uint64));
  std::vector<std::string> branches = pre.branches();
  for (const auto& id : ids)
    if (std::find(branches.begin(), branches.end(), id.name) == branches.end()) branches.push_back(id.name);

  // The friend tree goes in the top folder (the writer writes no folders): one/two/tree -> tree_scores.
  const std::string outTree =
      args.outTree.empty() ? treeName.substr(treeName.rfind('/') + 1) + "_scores" : args.outTree;
  root::FileWriter file(args.out);
  std::unique_ptr<root::FriendTreeWriter> friendTree;
  std::vector<std::string> names;
  std::vector<root::BranchSpec> outputSpecs;
  std::uint64_t globalEntry = 0;
  for (std::size_t f = 0; f < trees.size(); ++f) {
    const auto& tree = *trees[f];
    for (std::uint64_t begin = 0; begin < tree.entries(); begin += args.batch) {
      const std::uint64_t end = std::min<std::uint64_t>(tree.entries(), begin + args.batch);
      const auto rows = static_cast<std::size_t>(end - begin);
      auto columns = tree.read(branches, begin, end);
      const auto scores = scorer->score(columns, rows);
      if (!friendTree) {
        names = scoreNames(scores.width, scorer->labels());
        outputSpecs = root::FriendTreeWriter::scoreBranches(names.size() == 1 ? std::vector<std::string>{} : names);
        friendTree = std::make_unique<root::FriendTreeWriter>(file, outTree, total, idSpecs, outputSpecs);
      } else if (scores.width != names.size()) {
        throw Exception(Errc::internal, "the model's output width changed between batches");
      }
      // Identifier columns numbered in the friend tree's entries (files follow each other).
      std::vector<root::Column> idColumns;
      for (const auto& id : ids)
        for (auto& column : columns)
          if (column.name == id.name) {
            idColumns.push_back(column);
            idColumns.back().firstEntry = globalEntry;
          }
      if (ids.empty()) {
        root::Column entry;
        entry.name = "entry";
        entry.type = root::DType::uint64;
        entry.firstEntry = globalEntry;
        entry.entries = rows;
        entry.data.resize(rows * sizeof(std::uint64_t));
        auto values = entry.mutableValues<std::uint64_t>();
        for (std::size_t r = 0; r < rows; ++r) values[r] = globalEntry + r;
        idColumns.push_back(std::move(entry));
      }
      std::vector<root::Column> outColumns;
      for (std::size_t k = 0; k < names.size(); ++k) {
        root::Column column;
        column.name = outputSpecs[k].name;
        column.type = root::DType::float32;
        column.firstEntry = globalEntry;
        column.entries = rows;
        column.data.resize(rows * sizeof(float));
        auto values = column.mutableValues<float>();
        for (std::size_t r = 0; r < rows; ++r) values[r] = scores.values[r * scores.width + k];
        outColumns.push_back(std::move(column));
      }
      friendTree->append(idColumns, outColumns);
      globalEntry += rows;
    }
  }
  if (!friendTree) throw Exception(Errc::invalid_argument, "the inputs have no entries to score");
  friendTree->finish();
  file.close();
  if (!args.quiet) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::string branchList;
    for (const auto& spec : idSpecs) branchList += spec.name + " ";
    for (const auto& spec : outputSpecs) branchList += spec.name + " ";
    std::cout << fmt::format(
        "{}: tree '{}' with {} entries ({}) from {} file(s) of '{}', model {}, {:.2f} s ({:.0f} events/s)\n", args.out,
        outTree, globalEntry, branchList.substr(0, branchList.size() - 1), trees.size(), treeName, scorer->describe(),
        seconds, seconds > 0 ? static_cast<double>(globalEntry) / seconds : 0.0);
  }
}

void runPredict(const PredictArgs& args) {
  if (!args.rootFiles.empty()) {
    if (!args.input.empty())
      throw Exception(Errc::invalid_argument, "give either --input (OIP request) or --root (ROOT files), not both");
    return runRootPredict(args);
  }
  runOipPredict(args);
}

void setupPredict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand(
      "predict", "Run a model: an OIP request file through a server, or ROOT files into a friend tree of scores");
  cmd->add_option("--model", args->model,
                  "Model: name, name/versions/N or name@alias on a server; or, with --root and no --server, a bundle "
                  "folder (model.onnx + model.json). A value with '/' (other than name/versions/N), ending in .onnx "
                  "or naming an existing file is a path and must be a bundle folder")
      ->required();
  cmd->add_option("--input", args->input, "OIP JSON inference request ({\"inputs\": [...]}); '-' reads stdin");
  cmd->add_flag("--binary", args->binary, "Send and receive tensors with the binary tensor extension");
  cmd->add_option("--output", args->output, "Write the response JSON here instead of stdout (--input)");
  cmd->add_flag("--compact", args->compact, "One-line JSON");
  cmd->add_option("--root", args->rootFiles, "ROOT files to score, every entry, in order (with --out)");
  cmd->add_option("--tree", args->tree, "Tree to read (default: the tree the model was trained on)");
  cmd->add_option("--out", args->out, "The friend tree file to write (--root)");
  cmd->add_option("--out-tree", args->outTree, "Name of the friend tree (default: <tree>_scores)");
  cmd->add_option("--batch", args->batch, "Entries per inference call or request (--root)")
      ->check(mlaas::cli::atLeast(1))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "ONNX Runtime threads for an in-process bundle (--root)")
      ->capture_default_str();
  cmd->add_flag("--quiet", args->quiet, "No summary line (--root)");
  cmd->add_option("--server", args->server, "Server URL (default: env MLAAS_SERVER, else http://127.0.0.1:8083)");
  cmd->add_option("--token", args->token, "Bearer token (default: env MLAAS_TOKEN)");
  cmd->add_option("--token-file", args->tokenFile, "File whose first non-comment line is the bearer token");
  cmd->add_option("--timeout", args->timeoutSeconds, "Seconds to wait for each response")
      ->check(mlaas::cli::positiveNumber())
      ->capture_default_str();
  cmd->callback([args] { runPredict(*args); });
}

}  // namespace

MLAAS_CLI_COMMAND(predict, setupPredict);
