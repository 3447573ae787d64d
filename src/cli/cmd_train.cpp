// `mlaas train CONFIG`: reads the dataset through the data layer, trains on libtorch, writes the
// model bundle (model.onnx, model.json, metrics.json, metrics.svg) and optionally uploads it to a
// server as a new version. See docs/training.md and docs/cli.md#training-train.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/command.hpp"
#include "core/model_names.hpp"
#include "core/result.hpp"

#ifdef MLAAS_HAVE_TRAIN
#include <nlohmann/json.hpp>

#include "client/client.hpp"
#include "train/bundle.hpp"
#include "train/config.hpp"
#include "train/from_dataset.hpp"
#include "train/trainer.hpp"
#endif

namespace {

struct TrainArgs {
  std::string config;
  std::string out;
  int epochs = 0;
  int threads = 0;
  std::uint64_t limit = 0;
  bool resume = false;
  bool quiet = false;
  std::string name;
  std::string upload;
  std::string token;
  std::string tokenFile;
  std::string alias;
};

#ifdef MLAAS_HAVE_TRAIN

namespace fs = std::filesystem;
using namespace mlaas;

std::string readText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The bundle folder must be creatable before an hour of training ends in "filesystem error:
/// cannot create directories: Not a directory": refuses a path that is a file, or whose nearest
/// existing folder above it is a file or not writable. Creates nothing.
void checkOutputFolder(const fs::path& out) {
  std::error_code error;
  const auto status = fs::status(out, error);
  if (fs::exists(status)) {
    if (!fs::is_directory(status))
      cli::usageError(fmt::format("--out {}: exists and is not a folder (the bundle is a folder: model.onnx, "
                                  "model.json, checkpoints/ ...)",
                                  out.string()));
    if (::access(out.c_str(), W_OK | X_OK) != 0)
      throw core::Exception(core::Errc::permission_denied, fmt::format("--out {}: cannot write in this folder: {}",
                                                                       out.string(), std::strerror(errno)));
    return;
  }
  // The nearest ancestor that exists is where the folders will be created.
  fs::path above = out.parent_path();
  while (!above.empty() && !fs::exists(above, error)) above = above.parent_path();
  if (above.empty()) above = ".";
  if (!fs::is_directory(above, error))
    cli::usageError(
        fmt::format("--out {}: cannot create it: {} is a file, not a folder", out.string(), above.string()));
  if (::access(above.c_str(), W_OK | X_OK) != 0)
    throw core::Exception(core::Errc::permission_denied, fmt::format("--out {}: cannot create it in {}: {}",
                                                                     out.string(), above.string(),
                                                                     std::strerror(errno)));
}

/// What the server says before any event is read, so that a wrong URL, a missing or refused
/// token or a name the server refuses fails in seconds instead of after the run: an upload's dry
/// run, which checks the token and the name and stores nothing.
void checkUploadTarget(const TrainArgs& args, const std::string& name) {
  if (!args.alias.empty()) {
    // The server's own rule (a probe of it would move an alias).
    if (!core::isValidAlias(args.alias))
      cli::usageError(fmt::format("--alias \"{}\": use 1-64 of [A-Za-z0-9_-], starting with a letter", args.alias));
  }
  auto options = client::optionsFromCommandLine(args.upload, args.token, args.tokenFile);
  options.requestTimeout = std::chrono::seconds(15);
  const client::Client server(options);
  const auto probe = server.checkUpload(name);
  if (probe) return;
  const auto& error = probe.error();
  // A server older than dry runs ignores the flag and refuses the empty body after checking the
  // token and the name, storing nothing: the same answer for this purpose.
  if (error.httpStatus == 400 && error.message.find("the ONNX file is empty") != std::string::npos) return;
  std::string why;
  switch (error.httpStatus) {
    case 0: why = fmt::format("cannot reach the server: {}", error.message); break;
    case 401:
      why = fmt::format("{} (give --token, --token-file or $MLAAS_TOKEN)", error.describe());
      break;
    case 403: why = fmt::format("{} (--token, --token-file or $MLAAS_TOKEN)", error.describe()); break;
    default: why = fmt::format("the server refuses an upload of '{}': {}", name, error.describe());
  }
  throw core::Exception(error.code, fmt::format("--upload {}: {}; checked before training, nothing was read",
                                                args.upload, why));
}

/// Sends model.onnx with model.json's metadata as a new version; points the alias at it.
void uploadBundle(const TrainArgs& args, const train::BundleFiles& files, const std::string& name) {
  client::Client server(client::optionsFromCommandLine(args.upload, args.token, args.tokenFile));
  const auto metadata =
      client::bundleUploadMetadata(nlohmann::json::parse(readText(files.modelJson)), files.modelJson.string());
  auto card = server.uploadFile(name, files.onnx, metadata);
  if (!card)
    throw core::Exception(card.error().toCore().withContext(fmt::format("uploading {} to {}", name, args.upload)));
  std::cout << fmt::format("uploaded {} version {} to {}\n", card->name, card->version, args.upload);
  if (!args.alias.empty()) {
    auto alias = server.setAlias(card->name, args.alias, card->version);
    if (!alias)
      throw core::Exception(
          alias.error().toCore().withContext(fmt::format("setting alias {}@{}", card->name, args.alias)));
    std::cout << fmt::format("alias {}@{} -> version {}\n", card->name, args.alias, card->version);
  }
}

/// A classifier trained on two classes but validated on one: training works (the loss still
/// picks the best epoch) but the AUC is undefined, so say why metrics.json has null there.
void warnSingleClassValidation(const train::ModelConfig& model, const train::TensorSet& validation) {
  if (model.task == train::Task::regression || validation.events == 0) return;
  const float first = validation.labels.front();
  for (const float label : validation.labels)
    if (train::classOf(label, model.task) != train::classOf(first, model.task)) return;
  std::cerr << fmt::format("mlaas: warning: all {} validation events have label {}: the validation AUC is undefined "
                           "(null in metrics.json); the validation loss still picks the best epoch\n",
                           validation.events, first);
}

void runTrain(const TrainArgs& args) {
  const fs::path configPath(args.config);
  auto config = train::loadTrainConfig(configPath);  // model/training errors first: no reading wasted
  if (args.epochs > 0) config.training.epochs = args.epochs;
  if (args.threads > 0) config.training.threads = args.threads;
  if (args.alias.size() > 0 && args.upload.empty()) cli::usageError("--alias needs --upload URL");
  const std::string name = args.name.empty() ? configPath.stem().string() : args.name;
  const fs::path out = args.out.empty() ? fs::path(name + "-model") : fs::path(args.out);
  const bool progress = !args.quiet && isatty(STDERR_FILENO) != 0;
  checkOutputFolder(out);
  if (!args.upload.empty()) checkUploadTarget(args, name);

  train::BundleInfo info;
  info.started = train::utcNow();
  if (!args.quiet) std::cerr << fmt::format("reading {} ...\n", args.config);
  auto data = train::loadDataset(
      configPath,
      train::LoadOptions{.threads = static_cast<std::size_t>(config.training.threads), .limit = args.limit});
  if (data.train.events == 0)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("{}: the training split has no events", args.config));
  train::TensorSet trainSet;
  train::TensorSet validationSet;
  if (data.validation.events > 0) {
    trainSet = std::move(data.train);
    validationSet = std::move(data.validation);
  } else {
    // No validation split in the dataset config: hold out training.validation_fraction.
    auto split = train::splitTrainValidation(data.train, config.training.validationFraction, config.training.seed);
    trainSet = std::move(split.train);
    validationSet = std::move(split.validation);
  }
  if (!args.quiet)
    std::cerr << fmt::format(
        "{} training and {} validation events ({} representation); stats {:.2f} s, batches {:.2f} s\n", trainSet.events,
        validationSet.events, data.representation, data.statsSeconds, data.loadSeconds);
  warnSingleClassValidation(config.model, validationSet);

  const auto outputs = train::resolveOutputs(config.model, trainSet);
  train::Trainer trainer(config, trainSet.inputs, outputs);
  train::FitOptions fit;
  fit.checkpointDir = out / "checkpoints";
  fit.resume = args.resume;
  fit.progress = progress;
  if (!args.quiet && !progress)
    fit.onEpoch = [&](const train::EpochMetrics& m) {
      std::cerr << fmt::format("epoch {}/{} loss {:.4f} val_loss {:.4f}{} {:.0f} ev/s\n", m.epoch,
                               config.training.epochs, m.trainLoss, m.validationLoss,
                               std::isfinite(m.validationAuc) ? fmt::format(" val_auc {:.4f}", m.validationAuc) : "",
                               m.eventsPerSecond);
    };
  const auto& history = trainer.fit(trainSet, validationSet, fit);

  info.name = name;
  info.mlaasVersion = MLAAS_VERSION;
  info.configPath = args.config;
  info.datasetConfigText = data.configText;
  info.representation = data.representation;
  info.specsJson = data.specsJson;
  info.files = data.files;
  info.trainingEvents = trainSet.events;
  info.validationEvents = validationSet.events;
  info.finished = train::utcNow();
  const auto files = train::writeBundle(out, trainer, info);

  std::cout << fmt::format("wrote {} ({} parameters, best epoch {} of {}", files.onnx.string(),
                           trainer.parameterCount(), history.bestEpoch, history.epochs.size());
  if (history.bestEpoch > 0) {
    const auto& best = history.epochs[static_cast<std::size_t>(history.bestEpoch - 1)];
    std::cout << fmt::format(", validation loss {:.4f}", best.validationLoss);
    if (std::isfinite(best.validationAuc)) std::cout << fmt::format(", AUC {:.4f}", best.validationAuc);
  }
  std::cout << ")\n";
  if (!args.upload.empty()) uploadBundle(args, files, name);
}

#else

/// libtorch takes ~0.6 s to load and register its operators, so the `mlaas` executable does not
/// link it: `train` runs in `mlaas-train`, built next to it, which gets this very command line
/// (its arguments were already checked here, so usage errors stay fast).
[[noreturn]] void handOverToTrainExecutable() {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  const fs::path helper =
      (error ? fs::path(mlaas::cli::invocation()[0]).parent_path() : self.parent_path()) / "mlaas-train";
  if (!fs::exists(helper, error))
    throw mlaas::cli::ExitError{1, fmt::format("error: train: {} not found: this mlaas was built without libtorch "
                                               "(MLAAS_WITH_TORCH=OFF), or the two executables were separated",
                                               helper.string())};
  const auto argv = mlaas::cli::invocation();
  ::execv(helper.c_str(), argv.data());
  throw mlaas::cli::ExitError{1, fmt::format("error: train: cannot run {}: {}", helper.string(), std::strerror(errno))};
}

#endif

void setupTrain(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "train", "Train a model on a dataset config (model: and training: sections) and write a bundle");
  cmd->add_option("config", args->config, "YAML: the dataset config plus model: and training: (docs/training.md)")
      ->required();
  cmd->add_option("--out,-o", args->out, "Bundle folder (default: <config name>-model)");
  // The ranges of training.epochs and training.threads (CLI::PositiveNumber's message printed
  // 'Value 0 not in range 0.000000 to 1.797e308').
  cmd->add_option("--epochs", args->epochs, "Override training.epochs (1 to 100000)")
      ->check(mlaas::cli::atLeast(1, 100000));
  cmd->add_option("--threads", args->threads, "Override training.threads (torch and data pipeline; 1 to 1024)")
      ->check(mlaas::cli::atLeast(1, 1024));
  cmd->add_option("--limit", args->limit, "Read at most this many events per split (quick runs)");
  cmd->add_flag("--resume", args->resume, "Continue from <out>/checkpoints when present");
  cmd->add_flag("--quiet,-q", args->quiet, "No progress on stderr");
  cmd->add_option("--name", args->name, "Model name (default: the config's file name without extension)");
  cmd->add_option("--upload", args->upload, "Upload the bundle to this server (http://host:port) as a new version");
  cmd->add_option("--token", args->token, "Bearer token for --upload (else --token-file, else $MLAAS_TOKEN)");
  cmd->add_option("--token-file", args->tokenFile, "File whose first line is the bearer token");
  cmd->add_option("--alias", args->alias, "After --upload, point this alias at the new version");
  cmd->callback([args] {
#ifdef MLAAS_HAVE_TRAIN
    runTrain(*args);
#else
    handOverToTrainExecutable();
#endif
  });
}

}  // namespace

MLAAS_CLI_COMMAND(train, setupTrain);
