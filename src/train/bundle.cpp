#include "train/bundle.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "train/onnx_export.hpp"

namespace mlaas::train {

namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

void writeText(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = std::filesystem::path(path.string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) throw core::Exception(core::Errc::io, fmt::format("{}: cannot write", tmp.string()));
  }
  std::filesystem::rename(tmp, path);
}

json modelSection(const ModelConfig& m) {
  return {{"kind", std::string(name(m.kind))},
          {"task", std::string(name(m.task))},
          {"hidden", m.hidden},
          {"activation", std::string(name(m.activation))},
          {"dropout", m.dropout},
          {"object_hidden", m.objectHidden},
          {"pooling", std::string(name(m.pooling))},
          {"channels", m.channels},
          {"kernel", m.kernel},
          {"class_weights", m.classWeights},
          {"event_weights", m.eventWeights},
          {"classes", m.classNames}};
}

json trainingSection(const TrainingConfig& t) {
  return {{"optimizer", std::string(name(t.optimizer))},
          {"learning_rate", t.learningRate},
          {"momentum", t.momentum},
          {"weight_decay", t.weightDecay},
          {"schedule", std::string(name(t.schedule))},
          {"step_epochs", t.stepEpochs},
          {"gamma", t.gamma},
          {"min_learning_rate", t.minLearningRate},
          {"epochs", t.epochs},
          {"batch_size", t.batchSize},
          {"patience", t.patience},
          {"min_delta", t.minDelta},
          {"validation_fraction", t.validationFraction},
          {"seed", t.seed},
          {"threads", t.threads}};
}

}  // namespace

std::string utcNow() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::vector<std::string> outputLabels(const Trainer& trainer) {
  const auto& names = trainer.config().model.classNames;
  const auto outputs = trainer.outputs();
  std::vector<std::string> labels;
  if (trainer.config().model.task == Task::binary) {
    labels.push_back(names.empty() ? "signal" : names.back());  // the output is P(positive class)
    return labels;
  }
  for (std::int64_t k = 0; k < outputs; ++k)
    labels.push_back(static_cast<std::size_t>(k) < names.size() ? names[static_cast<std::size_t>(k)]
                     : trainer.config().model.task == Task::multiclass ? fmt::format("class {}", k)
                                                                        : fmt::format("target {}", k));
  return labels;
}

std::string modelJson(const Trainer& trainer, const BundleInfo& info) {
  const auto& history = trainer.history();
  json doc;
  doc["format"] = "mlaas-model/1";
  doc["name"] = info.name;
  doc["created"] = info.finished.empty() ? utcNow() : info.finished;
  doc["task"] = std::string(name(trainer.config().model.task));
  doc["model"] = modelSection(trainer.config().model);
  doc["training"] = trainingSection(trainer.config().training);
  doc["parameters"] = trainer.parameterCount();

  auto& inputs = doc["inputs"] = json::array();
  for (const auto& spec : trainer.inputs()) {
    std::vector<std::int64_t> shape{-1};
    shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
    const char* kind = spec.kind == InputKind::vector ? "vector" : spec.kind == InputKind::group ? "group" : "image";
    json input{{"name", spec.name}, {"datatype", "FP32"}, {"shape", shape}, {"kind", kind}};
    if (!spec.featureNames.empty()) input["features"] = spec.featureNames;
    inputs.push_back(input);
    if (spec.masked)
      inputs.push_back({{"name", spec.maskName()},
                        {"datatype", "UINT8"},
                        {"shape", std::vector<std::int64_t>{-1, spec.maskPerEvent()}},
                        {"kind", "mask"},
                        {"mask_of", spec.name}});
  }
  doc["outputs"] = json::array({{{"name", "output"},
                                 {"datatype", "FP32"},
                                 {"shape", std::vector<std::int64_t>{-1, trainer.outputs()}},
                                 {"activation", trainer.config().model.task == Task::binary       ? "sigmoid"
                                                : trainer.config().model.task == Task::multiclass ? "softmax"
                                                                                                   : "none"}}});
  doc["labels"] = outputLabels(trainer);

  json metrics;
  metrics["epochs"] = static_cast<int>(history.epochs.size());
  metrics["best_epoch"] = history.bestEpoch;
  metrics["stopped_early"] = history.stoppedEarly;
  if (history.bestEpoch > 0) {
    const auto& best = history.epochs[static_cast<std::size_t>(history.bestEpoch - 1)];
    metrics["validation_loss"] = number(best.validationLoss);
    metrics["validation_accuracy"] = number(best.validationAccuracy);
    metrics["validation_auc"] = number(best.validationAuc);
    metrics["train_loss"] = number(best.trainLoss);
  }
  doc["metrics"] = metrics;

  json preprocessing;
  preprocessing["representation"] = info.representation;
  preprocessing["dataset_config"] = info.datasetConfigText;
  preprocessing["specs"] = info.specsJson.empty() ? json(nullptr) : json::parse(info.specsJson);
  doc["preprocessing"] = preprocessing;

  json provenance;
  provenance["config"] = info.configPath;
  provenance["mlaas_version"] = info.mlaasVersion;
  provenance["started"] = info.started;
  provenance["finished"] = info.finished;
  provenance["training_events"] = info.trainingEvents;
  provenance["validation_events"] = info.validationEvents;
  auto& files = provenance["input_files"] = json::array();
  for (const auto& f : info.files) {
    json file{{"path", f.path}, {"size", f.size}, {"entries", f.entries}};
    if (!f.xxh3.empty()) file["xxh3_128"] = f.xxh3;
    files.push_back(file);
  }
  doc["provenance"] = provenance;
  return doc.dump(2) + "\n";
}

BundleFiles writeBundle(const std::filesystem::path& dir, const Trainer& trainer, const BundleInfo& info) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw core::Exception(core::Errc::io,
                          fmt::format("{}: cannot create the bundle folder: {}", dir.string(), ec.message()));
  BundleFiles files{dir / "model.onnx", dir / "model.json", dir / "metrics.json", dir / "metrics.svg"};
  ExportOptions exportOptions;
  exportOptions.producerVersion = info.mlaasVersion;
  exportOptions.metadata["mlaas.task"] = std::string(name(trainer.config().model.task));
  exportOptions.metadata["mlaas.model"] = std::string(name(trainer.config().model.kind));
  exportOptions.metadata["mlaas.labels"] = json(outputLabels(trainer)).dump();
  writeText(files.onnx,
            exportOnnx(trainer.config().model, trainer.inputs(), trainer.outputs(), trainer.weights(), exportOptions));
  writeText(files.modelJson, modelJson(trainer, info));
  writeText(files.metricsJson, historyJson(trainer.history(), trainer.config()));
  writeText(files.metricsSvg, historySvg(trainer.history(), fmt::format("{}: {} {}", info.name,
                                                                         name(trainer.config().model.kind),
                                                                         name(trainer.config().model.task))));
  return files;
}

}  // namespace mlaas::train
