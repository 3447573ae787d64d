#include "train/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <numbers>
#include <optional>
#include <set>
#include <sstream>

#include "core/result.hpp"
#include "core/yaml_keys.hpp"

namespace mlaas::train {

std::string_view name(ModelKind kind) noexcept {
  switch (kind) {
    case ModelKind::mlp: return "mlp";
    case ModelKind::deepsets: return "deepsets";
    case ModelKind::cnn: return "cnn";
  }
  return "?";
}
std::string_view name(Task task) noexcept {
  switch (task) {
    case Task::binary: return "binary";
    case Task::multiclass: return "multiclass";
    case Task::regression: return "regression";
  }
  return "?";
}
std::string_view name(Activation activation) noexcept {
  switch (activation) {
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
    case Activation::elu: return "elu";
  }
  return "?";
}
std::string_view name(Pooling pooling) noexcept {
  switch (pooling) {
    case Pooling::sum: return "sum";
    case Pooling::mean: return "mean";
    case Pooling::max: return "max";
  }
  return "?";
}
std::string_view name(OptimizerKind optimizer) noexcept {
  switch (optimizer) {
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::sgd: return "sgd";
  }
  return "?";
}
std::string_view name(Schedule schedule) noexcept {
  switch (schedule) {
    case Schedule::constant: return "constant";
    case Schedule::step: return "step";
    case Schedule::cosine: return "cosine";
  }
  return "?";
}

double learningRateAt(const TrainingConfig& training, int epoch) noexcept {
  switch (training.schedule) {
    case Schedule::constant: return training.learningRate;
    case Schedule::step:
      return training.learningRate * std::pow(training.gamma, epoch / std::max(1, training.stepEpochs));
    case Schedule::cosine: {
      // Reaches minLearningRate after the last epoch, so the last epoch still learns.
      const double progress =
          std::min(1.0, static_cast<double>(epoch) / static_cast<double>(std::max(1, training.epochs)));
      return training.minLearningRate +
             0.5 * (training.learningRate - training.minLearningRate) * (1.0 + std::cos(std::numbers::pi * progress));
    }
  }
  return training.learningRate;
}

namespace {

/// Reads one section, remembering the file and the key path for messages.
class Reader {
 public:
  Reader(const std::string& source, YAML::Node node, std::string path)
      : source_(source), node_(std::move(node)), path_(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& key, const std::string& what) const {
    std::string where = source_;
    if (at.IsDefined() && at.Mark().line >= 0)
      where += fmt::format(":{}:{}", at.Mark().line + 1, at.Mark().column + 1);
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: {}: {}", where, key, what));
  }

  [[nodiscard]] std::string key(const std::string& name) const { return path_ + "." + name; }

  /// Fails on keys other than the known ones.
  void checkKeys(const std::set<std::string>& known) const {
    if (!node_.IsMap()) fail(node_, path_, "expected a mapping");
    for (const auto& item : node_) {
      const auto name = item.first.as<std::string>();
      if (!known.contains(name)) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        fail(item.first, key(name), fmt::format("unknown key (known: {})", list));
      }
    }
  }

  [[nodiscard]] YAML::Node get(const std::string& name) const { return node_[name]; }

  template <class T>
  T scalar(const std::string& name, T fallback, const char* expected) const {
    const auto value = node_[name];
    if (!value.IsDefined() || value.IsNull()) return fallback;
    if (!value.IsScalar()) fail(value, key(name), fmt::format("expected {}", expected));
    try {
      return value.as<T>();
    } catch (const YAML::Exception&) {
      fail(value, key(name), fmt::format("expected {}, got '{}'", expected, value.Scalar()));
    }
  }

  std::int64_t positiveInt(const std::string& name, std::int64_t fallback) const {
    const auto v = scalar<std::int64_t>(name, fallback, "a positive integer");
    if (v <= 0) fail(node_[name], key(name), fmt::format("expected a positive integer, got {}", v));
    return v;
  }
  std::int64_t nonNegativeInt(const std::string& name, std::int64_t fallback) const {
    const auto v = scalar<std::int64_t>(name, fallback, "a non-negative integer");
    if (v < 0) fail(node_[name], key(name), fmt::format("expected a non-negative integer, got {}", v));
    return v;
  }
  double number(const std::string& name, double fallback, double lo, double hi, bool loOpen = false) const {
    const auto v = scalar<double>(name, fallback, "a number");
    if (!std::isfinite(v) || v < lo || v > hi || (loOpen && v == lo))
      fail(node_[name], key(name),
           fmt::format("expected a number in {}{}, {}], got {}", loOpen ? "(" : "[", lo, hi, v));
    return v;
  }
  bool boolean(const std::string& name, bool fallback) const {
    return scalar<bool>(name, fallback, "true or false");
  }

  template <class E>
  E choice(const std::string& name, E fallback, std::initializer_list<E> options) const {
    const auto value = node_[name];
    if (!value.IsDefined() || value.IsNull()) return fallback;
    const auto text = value.IsScalar() ? value.Scalar() : std::string("<not a scalar>");
    std::string list;
    for (const auto option : options) {
      if (text == mlaas::train::name(option)) return option;
      list += (list.empty() ? "" : ", ") + std::string(mlaas::train::name(option));
    }
    fail(value, key(name), fmt::format("expected one of {}, got '{}'", list, text));
  }

  std::vector<std::int64_t> positiveList(const std::string& name, std::vector<std::int64_t> fallback,
                                         bool allowEmpty) const {
    const auto value = node_[name];
    if (!value.IsDefined() || value.IsNull()) return fallback;
    if (!value.IsSequence()) fail(value, key(name), "expected a list of positive integers");
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto item = value[i];
      const auto itemKey = fmt::format("{}[{}]", key(name), i);
      std::int64_t v = 0;
      try {
        v = item.as<std::int64_t>();
      } catch (const YAML::Exception&) {
        fail(item, itemKey,
             fmt::format("expected a positive integer, got '{}'", item.IsScalar() ? item.Scalar() : "?"));
      }
      if (v <= 0 || v > 1'000'000)
        fail(item, itemKey, fmt::format("expected a positive integer up to 1000000, got {}", v));
      out.push_back(v);
    }
    if (out.empty() && !allowEmpty) fail(value, key(name), "expected at least one size");
    return out;
  }

  std::vector<double> weightList(const std::string& name) const {
    const auto value = node_[name];
    if (!value.IsDefined() || value.IsNull()) return {};
    if (!value.IsSequence()) fail(value, key(name), "expected a list of non-negative numbers");
    std::vector<double> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto item = value[i];
      const auto itemKey = fmt::format("{}[{}]", key(name), i);
      double v = -1;
      try {
        v = item.as<double>();
      } catch (const YAML::Exception&) {
        fail(item, itemKey, "expected a non-negative number");
      }
      if (!std::isfinite(v) || v < 0) fail(item, itemKey, fmt::format("expected a non-negative number, got {}", v));
      out.push_back(v);
    }
    return out;
  }

  const YAML::Node& node() const { return node_; }

 private:
  const std::string& source_;
  YAML::Node node_;
  std::string path_;
};

ModelConfig parseModel(const Reader& r) {
  r.checkKeys({"kind", "task", "outputs", "hidden", "activation", "dropout", "object_hidden", "pooling", "channels",
               "kernel", "class_weights", "event_weights", "classes"});
  ModelConfig m;
  m.kind = r.choice("kind", m.kind, {ModelKind::mlp, ModelKind::deepsets, ModelKind::cnn});
  m.task = r.choice("task", m.task, {Task::binary, Task::multiclass, Task::regression});
  m.outputs = r.nonNegativeInt("outputs", m.outputs);
  m.hidden = r.positiveList("hidden", m.hidden, true);
  m.activation = r.choice("activation", m.activation,
                          {Activation::relu, Activation::tanh, Activation::sigmoid, Activation::elu});
  m.dropout = r.number("dropout", m.dropout, 0.0, 0.95);
  m.objectHidden = r.positiveList("object_hidden", m.objectHidden, false);
  m.pooling = r.choice("pooling", m.pooling, {Pooling::sum, Pooling::mean, Pooling::max});
  m.channels = r.positiveList("channels", m.channels, false);
  m.kernel = r.positiveInt("kernel", m.kernel);
  if (m.kernel % 2 == 0 || m.kernel > 15)
    r.fail(r.get("kernel"), r.key("kernel"), fmt::format("expected an odd size up to 15, got {}", m.kernel));
  m.classWeights = r.weightList("class_weights");
  m.eventWeights = r.boolean("event_weights", m.eventWeights);
  if (const auto classes = r.get("classes"); classes.IsDefined() && !classes.IsNull()) {
    if (!classes.IsSequence()) r.fail(classes, r.key("classes"), "expected a list of class names");
    for (std::size_t i = 0; i < classes.size(); ++i) {
      if (!classes[i].IsScalar() || classes[i].Scalar().empty())
        r.fail(classes[i], fmt::format("{}[{}]", r.key("classes"), i), "expected a non-empty name");
      m.classNames.push_back(classes[i].Scalar());
    }
    const auto n = static_cast<std::int64_t>(m.classNames.size());
    if (m.task == Task::binary && n != 1 && n != 2)
      r.fail(classes, r.key("classes"), fmt::format("a binary task has 1 name (the positive class) or 2, got {}", n));
    if (m.task == Task::multiclass && m.outputs > 0 && n != m.outputs)
      r.fail(classes, r.key("classes"), fmt::format("expected {} names (one per output), got {}", m.outputs, n));
    if (m.task == Task::multiclass && m.outputs == 0) m.outputs = n;
    if (m.task == Task::regression && m.outputs > 0 && n != m.outputs)
      r.fail(classes, r.key("classes"), fmt::format("expected {} target names, got {}", m.outputs, n));
  }
  if (m.task == Task::binary && m.outputs > 1)
    r.fail(r.get("outputs"), r.key("outputs"), fmt::format("a binary task has 1 output, got {}", m.outputs));
  if (m.task == Task::binary && !m.classWeights.empty() && m.classWeights.size() != 2)
    r.fail(r.get("class_weights"), r.key("class_weights"),
           fmt::format("a binary task takes 2 class weights (negative, positive), got {}", m.classWeights.size()));
  if (m.task == Task::regression && !m.classWeights.empty())
    r.fail(r.get("class_weights"), r.key("class_weights"), "a regression task has no classes");
  if (m.task == Task::multiclass && m.outputs > 0 && !m.classWeights.empty() &&
      static_cast<std::int64_t>(m.classWeights.size()) != m.outputs)
    r.fail(r.get("class_weights"), r.key("class_weights"),
           fmt::format("expected {} class weights (one per output), got {}", m.outputs, m.classWeights.size()));
  return m;
}

TrainingConfig parseTraining(const Reader& r) {
  r.checkKeys({"optimizer", "learning_rate", "momentum", "weight_decay", "schedule", "step_epochs", "gamma",
               "min_learning_rate", "epochs", "batch_size", "patience", "min_delta", "validation_fraction", "seed",
               "threads"});
  TrainingConfig t;
  t.optimizer = r.choice("optimizer", t.optimizer, {OptimizerKind::adam, OptimizerKind::sgd});
  t.learningRate = r.number("learning_rate", t.learningRate, 0.0, 10.0, true);
  t.momentum = r.number("momentum", t.momentum, 0.0, 0.9999);
  t.weightDecay = r.number("weight_decay", t.weightDecay, 0.0, 1.0);
  t.schedule = r.choice("schedule", t.schedule, {Schedule::constant, Schedule::step, Schedule::cosine});
  t.stepEpochs = static_cast<int>(r.positiveInt("step_epochs", t.stepEpochs));
  t.gamma = r.number("gamma", t.gamma, 0.0, 1.0, true);
  t.minLearningRate = r.number("min_learning_rate", t.minLearningRate, 0.0, t.learningRate);
  const auto epochs = r.positiveInt("epochs", t.epochs);
  if (epochs > 100000) r.fail(r.get("epochs"), r.key("epochs"), fmt::format("at most 100000 epochs, got {}", epochs));
  t.epochs = static_cast<int>(epochs);
  t.batchSize = r.positiveInt("batch_size", t.batchSize);
  if (t.batchSize > (1 << 22))
    r.fail(r.get("batch_size"), r.key("batch_size"), fmt::format("at most 4194304, got {}", t.batchSize));
  t.patience = static_cast<int>(r.nonNegativeInt("patience", t.patience));
  t.minDelta = r.number("min_delta", t.minDelta, 0.0, 1e9);
  t.validationFraction = r.number("validation_fraction", t.validationFraction, 0.0, 0.9, true);
  t.seed = r.scalar<std::uint64_t>("seed", t.seed, "a non-negative integer");
  const auto threads = r.nonNegativeInt("threads", t.threads);
  if (threads > 1024) r.fail(r.get("threads"), r.key("threads"), fmt::format("at most 1024, got {}", threads));
  t.threads = static_cast<int>(threads);
  return t;
}

}  // namespace

TrainConfig parseTrainConfig(std::string_view yamlText, const std::string& sourceName) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yamlText));
  } catch (const YAML::Exception& e) {
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}:{}:{}: not valid YAML: {}", sourceName,
                                                                    e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  // yaml-cpp keeps both of two equal keys and root["model"] returns the first: a second
  // `training:` block would be ignored without a word. The whole file is checked (the dataset
  // sections too), so a repeated key is reported before any event is read.
  if (const auto duplicate = core::findDuplicateKey(root))
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("{}:{}:{}: {}", sourceName, duplicate->line, duplicate->column,
                                      core::describe(*duplicate)));
  if (!root.IsMap())
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: expected a mapping at the top", sourceName));
  const auto model = root["model"];
  if (!model.IsDefined() || model.IsNull())
    throw core::Exception(
        core::Errc::invalid_argument,
        fmt::format("{}: model: missing section (kind, task, hidden, ...; see docs/training.md)", sourceName));
  TrainConfig config;
  config.model = parseModel(Reader(sourceName, model, "model"));
  const auto training = root["training"];
  if (training.IsDefined() && !training.IsNull())
    config.training = parseTraining(Reader(sourceName, training, "training"));
  return config;
}

TrainConfig loadTrainConfig(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Exception(core::Errc::not_found, fmt::format("{}: cannot open the config", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return parseTrainConfig(text.str(), path.string());
}

}  // namespace mlaas::train
