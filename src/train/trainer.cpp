// The only translation unit with libtorch: the networks, the loop, checkpoints and predictions.
#include "train/trainer.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/result.hpp"

namespace mlaas::train {

namespace {

namespace F = torch::nn::functional;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void badInput(const std::string& message) {
  throw core::Exception(core::Errc::invalid_argument, message);
}

torch::Tensor activate(const torch::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::relu: return torch::relu(x);
    case Activation::tanh: return torch::tanh(x);
    case Activation::sigmoid: return torch::sigmoid(x);
    case Activation::elu: return torch::elu(x);
  }
  return x;
}

/// Mixes the run seed with an epoch number so that every epoch's shuffle and dropout depend only
/// on (seed, epoch): a resumed run replays the same randomness without saving generator states.
std::uint64_t epochSeed(std::uint64_t seed, int epoch) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(epoch + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// The network; see docs/training.md#the-networks. Inputs are standardized with buffers computed
/// from the training set, masked entries are zeroed, then each input becomes a slice of the head's
/// input: vector inputs directly (plus their masks), groups through the per-object network and
/// masked pooling, images through the convolutions.
struct Net : torch::nn::Module {
  struct Branch {
    torch::Tensor mean;
    torch::Tensor scale;
    std::vector<torch::nn::Linear> objectNet;
    std::vector<torch::nn::Conv2d> convNet;
  };

  Net(const ModelConfig& modelConfig, const std::vector<InputSpec>& inputSpecs, std::int64_t outputs)
      : model(modelConfig), inputs(inputSpecs) {
    std::int64_t headInputs = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& spec = inputs[i];
      Branch branch;
      const std::int64_t features = spec.kind == InputKind::vector ? spec.shape[0]
                                    : spec.kind == InputKind::group ? spec.shape[1]
                                                                    : spec.shape[0];
      auto statShape = spec.kind == InputKind::image ? std::vector<std::int64_t>{features, 1, 1}
                                                     : std::vector<std::int64_t>{features};
      branch.mean = register_buffer(fmt::format("input{}_mean", i), torch::zeros(statShape));
      branch.scale = register_buffer(fmt::format("input{}_scale", i), torch::ones(statShape));
      switch (spec.kind) {
        case InputKind::vector: headInputs += spec.masked ? 2 * features : features; break;
        case InputKind::group: {
          std::int64_t width = features;
          for (std::size_t k = 0; k < model.objectHidden.size(); ++k) {
            branch.objectNet.push_back(register_module(fmt::format("input{}_object{}", i, k),
                                                       torch::nn::Linear(width, model.objectHidden[k])));
            width = model.objectHidden[k];
          }
          headInputs += width;
          break;
        }
        case InputKind::image: {
          std::int64_t channels = features;
          std::int64_t height = spec.shape[1];
          std::int64_t width = spec.shape[2];
          for (std::size_t k = 0; k < model.channels.size(); ++k) {
            branch.convNet.push_back(register_module(
                fmt::format("input{}_conv{}", i, k),
                torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, model.channels[k], model.kernel)
                                      .padding(model.kernel / 2))));
            channels = model.channels[k];
            height /= 2;
            width /= 2;
            if (height < 1 || width < 1)
              badInput(fmt::format("model.channels: {} convolution+pooling stages shrink the {}x{} image '{}' below "
                                   "1x1; use at most {} stages",
                                   model.channels.size(), spec.shape[1], spec.shape[2], spec.name, k));
          }
          headInputs += channels * height * width;
          break;
        }
      }
      branches.push_back(std::move(branch));
    }
    std::int64_t width = headInputs;
    for (std::size_t k = 0; k < model.hidden.size(); ++k) {
      head.push_back(register_module(fmt::format("head{}", k), torch::nn::Linear(width, model.hidden[k])));
      width = model.hidden[k];
    }
    head.push_back(register_module(fmt::format("head{}", model.hidden.size()), torch::nn::Linear(width, outputs)));
  }

  /// values[i]: [B, shape...]; masks[i]: float [B, maskPerEvent] or undefined. Returns logits.
  torch::Tensor forward(const std::vector<torch::Tensor>& values, const std::vector<torch::Tensor>& masks) {
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& spec = inputs[i];
      auto& branch = branches[i];
      auto x = (values[i] - branch.mean) / branch.scale;
      const auto& mask = masks[i];
      switch (spec.kind) {
        case InputKind::vector:
          if (mask.defined()) {
            // masked_fill, not x * mask: padding may be NaN, and NaN * 0 is NaN.
            parts.push_back(x.masked_fill(mask == 0, 0.0));
            parts.push_back(mask);
          } else {
            parts.push_back(x);
          }
          break;
        case InputKind::group: {
          torch::Tensor objectMask;
          if (mask.defined()) {
            objectMask = mask.unsqueeze(2);
            x = x.masked_fill(objectMask == 0, 0.0);
          }
          for (auto& layer : branch.objectNet) x = activate(layer->forward(x), model.activation);
          if (mask.defined()) x = x * objectMask;
          parts.push_back(pool(x, mask, objectMask));
          break;
        }
        case InputKind::image:
          for (auto& conv : branch.convNet)
            x = F::max_pool2d(activate(conv->forward(x), model.activation), F::MaxPool2dFuncOptions(2));
          parts.push_back(x.flatten(1));
          break;
      }
    }
    auto z = parts.size() == 1 ? parts.front() : torch::cat(parts, 1);
    for (std::size_t k = 0; k + 1 < head.size(); ++k) {
      z = activate(head[k]->forward(z), model.activation);
      if (model.dropout > 0) z = torch::dropout(z, model.dropout, is_training());
    }
    return head.back()->forward(z);
  }

  torch::Tensor pool(const torch::Tensor& x, const torch::Tensor& mask, const torch::Tensor& objectMask) const {
    switch (model.pooling) {
      case Pooling::sum: return x.sum(1);
      case Pooling::mean:
        if (!mask.defined()) return x.mean(1);
        return x.sum(1) / mask.sum(1, true).clamp_min(1.0);
      case Pooling::max: {
        if (!mask.defined()) return std::get<0>(x.max(1));
        const auto pooled = std::get<0>(x.masked_fill(objectMask == 0, -std::numeric_limits<float>::infinity()).max(1));
        // An event without objects pools to 0, not -inf.
        return torch::where(mask.sum(1, true) > 0, pooled, torch::zeros_like(pooled));
      }
    }
    return x.sum(1);
  }

  ModelConfig model;
  std::vector<InputSpec> inputs;
  std::vector<Branch> branches;
  std::vector<torch::nn::Linear> head;
};

struct Batch {
  std::vector<torch::Tensor> values;
  std::vector<torch::Tensor> masks;
  torch::Tensor target;  ///< binary: float [B,1]; multiclass: int64 [B]; regression: float [B,W]
  torch::Tensor weight;  ///< float [B]: event weight x class weight
  std::int64_t size = 0;
};

/// An event's weight in the loss and the metrics: its event weight (when model.event_weights)
/// times its class's weight. May be negative (NLO samples).
double lossWeight(const TensorSet& set, std::int64_t event, const ModelConfig& model) {
  const auto e = static_cast<std::size_t>(event);
  double w = model.eventWeights && !set.weights.empty() ? set.weights[e] : 1.0;
  if (!model.classWeights.empty() && model.task != Task::regression) {
    const auto label = set.labels[e];
    w *= model.classWeights[static_cast<std::size_t>(classOf(label, model.task))];
  }
  return w;
}

/// Copies the listed events into fresh tensors (the "loading" part of a step).
Batch gather(const TensorSet& set, std::span<const std::int64_t> events, const ModelConfig& model) {
  Batch batch;
  const auto n = static_cast<std::int64_t>(events.size());
  batch.size = n;
  for (std::size_t i = 0; i < set.inputs.size(); ++i) {
    const auto& spec = set.inputs[i];
    std::vector<std::int64_t> shape{n};
    shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
    auto values = torch::empty(shape, torch::kFloat32);
    const auto per = spec.valuesPerEvent();
    auto* dest = values.data_ptr<float>();
    for (std::int64_t b = 0; b < n; ++b)
      std::memcpy(dest + b * per, set.values[i].data() + events[static_cast<std::size_t>(b)] * per,
                  static_cast<std::size_t>(per) * sizeof(float));
    batch.values.push_back(std::move(values));
    if (spec.masked) {
      const auto maskPer = spec.maskPerEvent();
      auto mask = torch::empty({n, maskPer}, torch::kUInt8);
      auto* mdest = mask.data_ptr<std::uint8_t>();
      for (std::int64_t b = 0; b < n; ++b)
        std::memcpy(mdest + b * maskPer, set.masks[i].data() + events[static_cast<std::size_t>(b)] * maskPer,
                    static_cast<std::size_t>(maskPer));
      batch.masks.push_back((mask != 0).to(torch::kFloat32));
    } else {
      batch.masks.emplace_back();
    }
  }
  auto weight = torch::ones({n}, torch::kFloat32);
  auto* w = weight.data_ptr<float>();
  if (model.eventWeights && !set.weights.empty())
    for (std::int64_t b = 0; b < n; ++b)
      w[b] = set.weights[static_cast<std::size_t>(events[static_cast<std::size_t>(b)])];
  if (model.task == Task::multiclass) {
    batch.target = torch::empty({n}, torch::kInt64);
    auto* t = batch.target.data_ptr<std::int64_t>();
    for (std::int64_t b = 0; b < n; ++b)
      t[b] = static_cast<std::int64_t>(set.labels[static_cast<std::size_t>(events[static_cast<std::size_t>(b)])]);
    if (!model.classWeights.empty())
      for (std::int64_t b = 0; b < n; ++b)
        w[b] *= static_cast<float>(model.classWeights[static_cast<std::size_t>(t[b])]);
  } else {
    const auto width = set.labelWidth;
    batch.target = torch::empty({n, width}, torch::kFloat32);
    auto* t = batch.target.data_ptr<float>();
    for (std::int64_t b = 0; b < n; ++b)
      std::memcpy(t + b * width, set.labels.data() + events[static_cast<std::size_t>(b)] * width,
                  static_cast<std::size_t>(width) * sizeof(float));
    if (model.task == Task::binary && !model.classWeights.empty())
      for (std::int64_t b = 0; b < n; ++b)
        w[b] *= static_cast<float>(model.classWeights[t[b] > 0.5F ? 1 : 0]);
  }
  batch.weight = std::move(weight);
  return batch;
}

torch::Tensor perEventLoss(const torch::Tensor& logits, const torch::Tensor& target, Task task) {
  switch (task) {
    case Task::binary:
      return F::binary_cross_entropy_with_logits(logits, target,
                                                 F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
          .squeeze(1);
    case Task::multiclass:
      return F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    case Task::regression: return (logits - target).pow(2).mean(1);
  }
  return {};
}

torch::Tensor outputActivation(const torch::Tensor& logits, Task task) {
  switch (task) {
    case Task::binary: return torch::sigmoid(logits);
    case Task::multiclass: return torch::softmax(logits, 1);
    case Task::regression: return logits;
  }
  return logits;
}

/// Events per second, loss and ETA on one stderr line, redrawn at most 10 times a second.
class ProgressBar {
 public:
  ProgressBar(bool enabled, int epoch, int epochs, std::int64_t events)
      : enabled_(enabled), epoch_(epoch), epochs_(epochs), events_(events), start_(Clock::now()) {}

  void update(std::int64_t done, double loss) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (done < events_ && now - lastDraw_ < std::chrono::milliseconds(100)) return;
    lastDraw_ = now;
    const double elapsed = secondsSince(start_);
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(events_ - done) / rate : 0;
    const int width = 30;
    const int filled = events_ > 0 ? static_cast<int>(width * done / events_) : width;
    std::fprintf(stderr, "\repoch %d/%d [%s%s] %3d%% %10.0f ev/s loss %.4f ETA %ds   ", epoch_, epochs_,
                 std::string(static_cast<std::size_t>(filled), '=').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), ' ').c_str(),
                 events_ > 0 ? static_cast<int>(100 * done / events_) : 100, rate, loss, static_cast<int>(eta + 0.5));
    std::fflush(stderr);
  }

  void finish(const EpochMetrics& m) const {
    if (!enabled_) return;
    std::string line = fmt::format("\repoch {}/{}  loss {:.4f}  val_loss {:.4f}", m.epoch, epochs_, m.trainLoss,
                                   m.validationLoss);
    if (std::isfinite(m.validationAccuracy)) line += fmt::format("  val_acc {:.4f}", m.validationAccuracy);
    if (std::isfinite(m.validationAuc)) line += fmt::format("  val_auc {:.4f}", m.validationAuc);
    line += fmt::format("  {:.0f} ev/s  {:.1f} s  lr {:.3g}", m.eventsPerSecond, m.seconds, m.learningRate);
    std::fprintf(stderr, "%-110s\n", line.c_str());
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  int epoch_;
  int epochs_;
  std::int64_t events_;
  Clock::time_point start_;
  Clock::time_point lastDraw_{};
};

nlohmann::json jsonNumber(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double fromJson(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : kNoValue; }

std::string layoutFingerprint(const TrainConfig& config, const std::vector<InputSpec>& inputs, std::int64_t outputs) {
  std::string out = fmt::format("{}/{}/{}", name(config.model.kind), name(config.model.task), outputs);
  for (const auto& spec : inputs)
    out +=
        fmt::format(";{}:{}:[{}]:{}", spec.name, static_cast<int>(spec.kind), fmt::join(spec.shape, ","), spec.masked);
  out += fmt::format(";hidden[{}];object[{}];channels[{}];k{};{}", fmt::join(config.model.hidden, ","),
                     fmt::join(config.model.objectHidden, ","), fmt::join(config.model.channels, ","),
                     config.model.kernel, name(config.training.optimizer));
  return out;
}

}  // namespace

std::int64_t resolveOutputs(const ModelConfig& model, const TensorSet& train) {
  switch (model.task) {
    case Task::binary:
      if (train.labelWidth != 1)
        badInput(fmt::format("model.task: binary needs one label per event, the data has {}", train.labelWidth));
      for (std::size_t i = 0; i < train.labels.size(); ++i)
        if (train.labels[i] != 0.0F && train.labels[i] != 1.0F)
          badInput(fmt::format("model.task: binary needs labels 0 or 1, event {} has {}", i, train.labels[i]));
      return 1;
    case Task::multiclass: {
      if (train.labelWidth != 1)
        badInput(
            fmt::format("model.task: multiclass needs one class index per event, the data has {}", train.labelWidth));
      std::int64_t classes = 0;
      for (std::size_t i = 0; i < train.labels.size(); ++i) {
        const float label = train.labels[i];
        if (!(label >= 0.0F) || label != std::floor(label) || label > 1e6F)
          badInput(fmt::format("model.task: multiclass needs class indices, event {} has {}", i, label));
        classes = std::max(classes, static_cast<std::int64_t>(label) + 1);
      }
      if (model.outputs > 0) {
        if (classes > model.outputs)
          badInput(fmt::format("model.outputs: {} classes configured but the data has class index {}", model.outputs,
                               classes - 1));
        classes = model.outputs;
      }
      if (classes < 2) badInput("model.task: multiclass needs at least 2 classes (set model.outputs)");
      if (!model.classWeights.empty() && static_cast<std::int64_t>(model.classWeights.size()) != classes)
        badInput(fmt::format("model.class_weights: expected {} weights (one per class), got {}", classes,
                             model.classWeights.size()));
      return classes;
    }
    case Task::regression:
      if (model.outputs > 0 && model.outputs != train.labelWidth)
        badInput(fmt::format("model.outputs: {} configured but the data has {} targets per event", model.outputs,
                             train.labelWidth));
      return train.labelWidth;
  }
  return 1;
}

struct Trainer::Impl {
  TrainConfig config;
  std::vector<InputSpec> inputs;
  std::int64_t outputs = 1;
  std::shared_ptr<Net> net;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<torch::Tensor> bestState;  ///< parameters then buffers, as in stateTensors()
  TrainHistory history;

  /// Every parameter and buffer by name, in a fixed order (checkpoints, best weights).
  std::vector<std::pair<std::string, torch::Tensor>> stateTensors() const {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : net->named_parameters()) out.emplace_back(item.key(), item.value());
    for (const auto& item : net->named_buffers()) out.emplace_back(item.key(), item.value());
    return out;
  }

  void rememberBest() {
    torch::NoGradGuard noGrad;
    bestState.clear();
    for (const auto& [key, tensor] : stateTensors()) bestState.push_back(tensor.detach().clone());
  }

  void restoreBest() {
    if (bestState.empty()) return;
    torch::NoGradGuard noGrad;
    const auto state = stateTensors();
    for (std::size_t i = 0; i < state.size(); ++i) state[i].second.copy_(bestState[i]);
  }

  void checkCompatible(const TensorSet& set, const char* what) const {
    set.validate();
    if (set.inputs.size() != inputs.size())
      badInput(fmt::format("{} set: {} inputs, the model has {}", what, set.inputs.size(), inputs.size()));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& a = set.inputs[i];
      const auto& b = inputs[i];
      if (a.name != b.name || a.kind != b.kind || a.shape != b.shape || a.masked != b.masked)
        badInput(fmt::format("{} set: input {} is '{}' [{}]{}, the model expects '{}' [{}]{}", what, i, a.name,
                             fmt::join(a.shape, ","), a.masked ? " with mask" : "", b.name, fmt::join(b.shape, ","),
                             b.masked ? " with mask" : ""));
    }
    if (config.model.task == Task::multiclass) {
      for (std::size_t i = 0; i < set.labels.size(); ++i)
        if (set.labels[i] < 0 || set.labels[i] >= static_cast<float>(outputs) ||
            set.labels[i] != std::floor(set.labels[i]))
          badInput(fmt::format("{} set: event {} has class {} outside 0..{}", what, i, set.labels[i], outputs - 1));
    } else if (set.labelWidth != (config.model.task == Task::binary ? 1 : outputs)) {
      badInput(fmt::format("{} set: {} labels per event, the model has {} outputs", what, set.labelWidth, outputs));
    }
  }

  /// Per-feature mean and standard deviation over present entries of the training set.
  void computeStandardization(const TensorSet& train) {
    torch::NoGradGuard noGrad;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& spec = inputs[i];
      const auto features = net->branches[i].mean.numel();
      std::vector<double> sum(static_cast<std::size_t>(features), 0.0);
      std::vector<double> sumSq(sum.size(), 0.0);
      std::vector<double> count(sum.size(), 0.0);
      const auto& values = train.values[i];
      const auto& mask = train.masks[i];
      const auto per = spec.valuesPerEvent();
      for (std::int64_t e = 0; e < train.events; ++e) {
        const float* row = values.data() + e * per;
        for (std::int64_t j = 0; j < per; ++j) {
          std::int64_t feature = 0;
          bool present = true;
          switch (spec.kind) {
            case InputKind::vector:
              feature = j;
              present = !spec.masked || mask[static_cast<std::size_t>(e * per + j)] != 0;
              break;
            case InputKind::group:
              feature = j % spec.shape[1];
              present = !spec.masked || mask[static_cast<std::size_t>(e * spec.shape[0] + j / spec.shape[1])] != 0;
              break;
            case InputKind::image: feature = j / (spec.shape[1] * spec.shape[2]); break;
          }
          if (!present || !std::isfinite(row[j])) continue;
          const auto f = static_cast<std::size_t>(feature);
          sum[f] += row[j];
          sumSq[f] += static_cast<double>(row[j]) * row[j];
          count[f] += 1;
        }
      }
      auto mean = torch::zeros({features});
      auto scale = torch::ones({features});
      for (std::int64_t f = 0; f < features; ++f) {
        const auto k = static_cast<std::size_t>(f);
        if (count[k] == 0) continue;
        const double m = sum[k] / count[k];
        const double var = std::max(0.0, sumSq[k] / count[k] - m * m);
        mean[f] = m;
        // A constant feature keeps scale 1 instead of dividing by ~0.
        scale[f] = std::sqrt(var) > 1e-6 * std::max(1.0, std::abs(m)) ? std::sqrt(var) : 1.0;
      }
      net->branches[i].mean.copy_(mean.view(net->branches[i].mean.sizes()));
      net->branches[i].scale.copy_(scale.view(net->branches[i].scale.sizes()));
    }
  }

  void setLearningRate(double lr) {
    for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);
  }

  struct Evaluation {
    double loss = kNoValue;
    double accuracy = kNoValue;
    double auc = kNoValue;
    std::vector<float> probabilities;  ///< events x outputs
  };

  /// Forward over a set in eval mode (no dropout, no gradients).
  Evaluation evaluate(const TensorSet& set) const {
    Evaluation out;
    if (set.events == 0) return out;
    torch::NoGradGuard noGrad;
    net->eval();
    const auto batchSize = std::max<std::int64_t>(config.training.batchSize, 1024);
    std::vector<std::int64_t> index(static_cast<std::size_t>(set.events));
    for (std::int64_t e = 0; e < set.events; ++e) index[static_cast<std::size_t>(e)] = e;
    double lossSum = 0;
    double weightSum = 0;
    out.probabilities.reserve(static_cast<std::size_t>(set.events * outputs));
    for (std::int64_t begin = 0; begin < set.events; begin += batchSize) {
      const auto n = std::min(batchSize, set.events - begin);
      auto batch = gather(set, std::span(index.data() + begin, static_cast<std::size_t>(n)), config.model);
      const auto logits = net->forward(batch.values, batch.masks);
      const auto losses = perEventLoss(logits, batch.target, config.model.task);
      lossSum += (losses * batch.weight).sum().item<double>();
      weightSum += batch.weight.sum().item<double>();
      const auto probs = outputActivation(logits, config.model.task).contiguous();
      out.probabilities.insert(out.probabilities.end(), probs.data_ptr<float>(),
                               probs.data_ptr<float>() + probs.numel());
    }
    out.loss = weightSum > 0 ? lossSum / weightSum : kNoValue;
    if (config.model.task != Task::regression) {
      out.accuracy = accuracyOf(out.probabilities, set);
      out.auc = meanAuc(out.probabilities, set);
    }
    return out;
  }

  [[nodiscard]] std::int64_t predictedClass(const float* row) const {
    if (outputs == 1) return row[0] > 0.5F ? 1 : 0;
    return static_cast<std::int64_t>(std::max_element(row, row + outputs) - row);
  }

  double accuracyOf(const std::vector<float>& probabilities, const TensorSet& set) const {
    double right = 0;
    double total = 0;
    for (std::int64_t e = 0; e < set.events; ++e) {
      const double w = set.weights.empty() ? 1.0 : set.weights[static_cast<std::size_t>(e)];
      const auto truth = static_cast<std::int64_t>(set.labels[static_cast<std::size_t>(e)] > 0.5F && outputs == 1
                                                       ? 1
                                                       : set.labels[static_cast<std::size_t>(e)]);
      if (predictedClass(probabilities.data() + e * outputs) == truth) right += w;
      total += w;
    }
    return total > 0 ? right / total : kNoValue;
  }

  /// One-vs-rest inputs for class c (binary: the single output vs label 1).
  void oneVsRest(const std::vector<float>& probabilities, const TensorSet& set, std::int64_t c,
                 std::vector<float>& scores, std::vector<std::uint8_t>& positive) const {
    scores.resize(static_cast<std::size_t>(set.events));
    positive.resize(static_cast<std::size_t>(set.events));
    for (std::int64_t e = 0; e < set.events; ++e) {
      const auto k = static_cast<std::size_t>(e);
      scores[k] = probabilities[static_cast<std::size_t>(e * outputs + (outputs == 1 ? 0 : c))];
      positive[k] =
          outputs == 1 ? (set.labels[k] > 0.5F ? 1 : 0) : (static_cast<std::int64_t>(set.labels[k]) == c ? 1 : 0);
    }
  }

  double meanAuc(const std::vector<float>& probabilities, const TensorSet& set) const {
    std::vector<float> scores;
    std::vector<std::uint8_t> positive;
    double sum = 0;
    int count = 0;
    for (std::int64_t c = outputs == 1 ? 1 : 0; c < std::max<std::int64_t>(outputs, 2); ++c) {
      oneVsRest(probabilities, set, c, scores, positive);
      const double auc = rocAuc(scores, positive, set.weights);
      if (std::isfinite(auc)) sum += auc, ++count;
    }
    return count > 0 ? sum / count : kNoValue;
  }

  void finalRoc(const TensorSet& validation, const std::vector<std::string>& classNames) {
    history.roc.clear();
    if (config.model.task == Task::regression || validation.events == 0) return;
    const auto evaluation = evaluate(validation);
    std::vector<float> scores;
    std::vector<std::uint8_t> positive;
    for (std::int64_t c = outputs == 1 ? 1 : 0; c < std::max<std::int64_t>(outputs, 2); ++c) {
      oneVsRest(evaluation.probabilities, validation, c, scores, positive);
      auto curve = rocCurve(scores, positive, validation.weights);
      if (outputs == 1)
        curve.label = classNames.empty() ? std::string("signal") : classNames.back();
      else
        curve.label = static_cast<std::size_t>(c) < classNames.size() ? classNames[static_cast<std::size_t>(c)]
                                                                      : fmt::format("class {}", c);
      history.roc.push_back(std::move(curve));
    }
  }

  // ---- checks before the first epoch, and the stop when the loss diverges ----

  /// A classifier needs events of at least two classes to learn anything: trained on one, it
  /// learns a constant, its AUC is undefined and the bundle would look like a result.
  void checkClasses(const TensorSet& train) const {
    if (config.model.task == Task::regression) return;
    std::vector<std::int64_t> perClass(static_cast<std::size_t>(std::max<std::int64_t>(outputs, 2)), 0);
    for (const float label : train.labels) {
      const auto cls = classOf(label, config.model.task);
      if (cls >= 0 && static_cast<std::size_t>(cls) < perClass.size()) ++perClass[static_cast<std::size_t>(cls)];
    }
    const auto present = std::count_if(perClass.begin(), perClass.end(), [](std::int64_t n) { return n > 0; });
    if (present >= 2) return;
    const auto only = std::find_if(perClass.begin(), perClass.end(), [](std::int64_t n) { return n > 0; });
    badInput(fmt::format("training set: all {} events have label {}: a {} classifier needs events of at least two "
                         "classes (check inputs.label, the per-file labels and the selection)",
                         train.events, only - perClass.begin(), name(config.model.task)));
  }

  /// The sum of the loss weights of a set (event x class weight); refuses a sum that is not
  /// positive: every loss and metric divides by it.
  double totalWeight(const TensorSet& set, const char* what) const {
    double total = 0;
    for (std::int64_t e = 0; e < set.events; ++e) total += lossWeight(set, e, config.model);
    if (!(total > 0))
      badInput(fmt::format("{} set: the event weights{} of its {} events sum to {}; the loss and the metrics are "
                           "weighted means and need a positive total (negative weights are fine where the sum stays "
                           "positive; model.event_weights: false ignores them)",
                           what, config.model.classWeights.empty() ? "" : " x class weights", set.events, total));
    return total;
  }

  /// Stops the run: a NaN or infinite loss never comes back, and training on would only hide it.
  [[noreturn]] void diverged(const std::string& what, int epoch, const std::filesystem::path& checkpointDir) const {
    std::string checkpoint;
    if (!checkpointDir.empty() && epoch > 0)
      checkpoint = fmt::format("; {} holds epoch {}, the last good one", (checkpointDir / "checkpoint.pt").string(),
                               epoch);
    throw core::Exception(
        core::Errc::invalid_argument,
        fmt::format("{}: training diverged (every input value is finite, so the network's weights or the "
                    "loss overflowed): try a lower training.learning_rate (this epoch's is {:.3g}), regression targets "
                    "or class weights of smaller magnitude, or a normalization for features with huge values{}",
                    what, learningRateAt(config.training, epoch), checkpoint));
  }

  // ---- checkpoints: checkpoint.pt (tensors, optimizer) + checkpoint.json (history) ----

  void saveCheckpoint(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    torch::serialize::OutputArchive archive;
    for (const auto& [key, tensor] : stateTensors()) archive.write("model/" + key, tensor);
    const auto state = stateTensors();
    for (std::size_t i = 0; i < bestState.size() && i < state.size(); ++i)
      archive.write("best/" + state[i].first, bestState[i]);
    torch::serialize::OutputArchive optimizerArchive;
    optimizer->save(optimizerArchive);
    archive.write("optimizer", optimizerArchive);
    const auto tensorsTmp = dir / "checkpoint.pt.tmp";
    archive.save_to(tensorsTmp.string());

    nlohmann::json meta;
    meta["format"] = 1;
    meta["layout"] = layoutFingerprint(config, inputs, outputs);
    meta["best_epoch"] = history.bestEpoch;
    meta["best_validation_loss"] = jsonNumber(history.bestValidationLoss);
    meta["epochs_without_improvement"] = history.epochsWithoutImprovement;
    meta["stopped_early"] = history.stoppedEarly;
    auto& epochs = meta["epochs"] = nlohmann::json::array();
    for (const auto& e : history.epochs)
      epochs.push_back({e.epoch, jsonNumber(e.learningRate), jsonNumber(e.trainLoss), jsonNumber(e.validationLoss),
                        jsonNumber(e.trainAccuracy), jsonNumber(e.validationAccuracy), jsonNumber(e.validationAuc),
                        e.seconds, e.loadSeconds, e.computeSeconds, e.eventsPerSecond});
    const auto metaTmp = dir / "checkpoint.json.tmp";
    {
      std::ofstream out(metaTmp, std::ios::trunc);
      out << meta.dump(1) << "\n";
      if (!out) throw core::Exception(core::Errc::io, fmt::format("{}: cannot write the checkpoint", metaTmp.string()));
    }
    // Renames last, tensors first: a crash leaves either the old or the new pair readable.
    std::filesystem::rename(tensorsTmp, dir / "checkpoint.pt");
    std::filesystem::rename(metaTmp, dir / "checkpoint.json");
  }

  /// Returns false when dir has no checkpoint.
  bool loadCheckpoint(const std::filesystem::path& dir) {
    const auto metaPath = dir / "checkpoint.json";
    const auto tensorsPath = dir / "checkpoint.pt";
    if (!std::filesystem::exists(metaPath) || !std::filesystem::exists(tensorsPath)) return false;
    nlohmann::json meta;
    try {
      std::ifstream in(metaPath);
      meta = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw core::Exception(core::Errc::corrupt, fmt::format("{}: not a checkpoint: {}", metaPath.string(), e.what()));
    }
    if (meta.value("layout", std::string()) != layoutFingerprint(config, inputs, outputs))
      throw core::Exception(core::Errc::conflict,
                            fmt::format("{}: the checkpoint is for a different model or data layout ({}), this run "
                                        "has {}",
                                        metaPath.string(), meta.value("layout", std::string("?")),
                                        layoutFingerprint(config, inputs, outputs)));
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(tensorsPath.string());
      torch::NoGradGuard noGrad;
      const auto state = stateTensors();
      for (const auto& [key, tensor] : state) {
        torch::Tensor loaded;
        archive.read("model/" + key, loaded);
        tensor.copy_(loaded);
      }
      bestState.clear();
      for (const auto& [key, tensor] : state) {
        torch::Tensor loaded;
        if (!archive.try_read("best/" + key, loaded)) {
          bestState.clear();
          break;
        }
        bestState.push_back(loaded.clone());
      }
      torch::serialize::InputArchive optimizerArchive;
      archive.read("optimizer", optimizerArchive);
      optimizer->load(optimizerArchive);
      history = TrainHistory{};
      history.bestEpoch = meta.at("best_epoch").get<int>();
      history.bestValidationLoss = meta.at("best_validation_loss").is_number()
                                       ? meta.at("best_validation_loss").get<double>()
                                       : std::numeric_limits<double>::infinity();
      history.epochsWithoutImprovement = meta.at("epochs_without_improvement").get<int>();
      history.stoppedEarly = meta.at("stopped_early").get<bool>();
      for (const auto& e : meta.at("epochs")) {
        EpochMetrics m;
        m.epoch = e.at(0).get<int>();
        m.learningRate = fromJson(e.at(1));
        m.trainLoss = fromJson(e.at(2));
        m.validationLoss = fromJson(e.at(3));
        m.trainAccuracy = fromJson(e.at(4));
        m.validationAccuracy = fromJson(e.at(5));
        m.validationAuc = fromJson(e.at(6));
        m.seconds = fromJson(e.at(7));
        m.loadSeconds = fromJson(e.at(8));
        m.computeSeconds = fromJson(e.at(9));
        m.eventsPerSecond = fromJson(e.at(10));
        history.epochs.push_back(m);
      }
    } catch (const core::Exception&) {
      throw;
    } catch (const std::exception& e) {
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: cannot restore the checkpoint: {}", dir.string(), e.what()));
    }
    return true;
  }
};

Trainer::Trainer(TrainConfig config, std::vector<InputSpec> inputs, std::int64_t outputs)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  impl_->inputs = std::move(inputs);
  impl_->outputs = outputs;
  const auto& model = impl_->config.model;
  if (outputs <= 0 || outputs > 100000) badInput(fmt::format("model.outputs: {} is out of range (1..100000)", outputs));
  if (model.task == Task::binary && outputs != 1)
    badInput(fmt::format("model.outputs: a binary task has 1 output, got {}", outputs));
  if (impl_->inputs.empty()) badInput("model: the data has no inputs");
  int groups = 0;
  int images = 0;
  for (const auto& spec : impl_->inputs) {
    spec.validate();
    groups += spec.kind == InputKind::group ? 1 : 0;
    images += spec.kind == InputKind::image ? 1 : 0;
  }
  switch (model.kind) {
    case ModelKind::mlp:
      if (groups + images > 0)
        badInput("model.kind: mlp takes the 'vector' representation only; use deepsets for groups and cnn for images");
      break;
    case ModelKind::deepsets:
      if (groups == 0) badInput("model.kind: deepsets needs a 'groups' input (objects with a mask)");
      if (images > 0) badInput("model.kind: deepsets cannot take an image input; use cnn");
      break;
    case ModelKind::cnn:
      if (images == 0) badInput("model.kind: cnn needs an 'image' input");
      if (groups > 0) badInput("model.kind: cnn cannot take a group input; use deepsets");
      break;
  }
  if (impl_->config.training.threads > 0) torch::set_num_threads(impl_->config.training.threads);
  torch::manual_seed(impl_->config.training.seed);
  impl_->net = std::make_shared<Net>(model, impl_->inputs, outputs);
  const auto& training = impl_->config.training;
  if (training.optimizer == OptimizerKind::adam) {
    impl_->optimizer = std::make_unique<torch::optim::Adam>(
        impl_->net->parameters(), torch::optim::AdamOptions(training.learningRate).weight_decay(training.weightDecay));
  } else {
    impl_->optimizer = std::make_unique<torch::optim::SGD>(
        impl_->net->parameters(),
        torch::optim::SGDOptions(training.learningRate).momentum(training.momentum).weight_decay(training.weightDecay));
  }
}

Trainer::~Trainer() = default;
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;

const TrainHistory& Trainer::fit(const TensorSet& train, const TensorSet& validation, const FitOptions& options) {
  auto& impl = *impl_;
  impl.checkCompatible(train, "training");
  impl.checkCompatible(validation, "validation");
  if (train.events == 0) badInput("training set: no events");
  const std::vector<FiniteCheck> finiteChecks{{"training", &train, {}}, {"validation", &validation, {}}};
  checkFinite(finiteChecks);
  impl.checkClasses(train);
  // The loss of a batch is its weighted sum over (batch events x the training set's mean weight):
  // an unbiased estimate of the weighted mean loss that never divides by a batch's own sum of
  // weights, which NLO samples' negative weights can bring near 0 or below.
  const double meanWeight = impl.totalWeight(train, "training") / static_cast<double>(train.events);
  if (validation.events > 0) (void)impl.totalWeight(validation, "validation");
  const auto& training = impl.config.training;
  if (training.threads > 0) torch::set_num_threads(training.threads);

  bool resumed = false;
  if (options.resume && !options.checkpointDir.empty()) resumed = impl.loadCheckpoint(options.checkpointDir);
  if (!resumed) {
    impl.history = TrainHistory{};
    impl.computeStandardization(train);
  }
  auto& history = impl.history;
  const int firstEpoch = static_cast<int>(history.epochs.size());
  bool stop = history.stoppedEarly;
  for (int epoch = firstEpoch; epoch < training.epochs && !stop; ++epoch) {
    if (options.stopAfterEpoch > 0 && epoch >= options.stopAfterEpoch) break;
    const auto epochStart = Clock::now();
    EpochMetrics metrics;
    metrics.epoch = epoch + 1;
    metrics.learningRate = learningRateAt(training, epoch);
    impl.setLearningRate(metrics.learningRate);
    const auto seed = epochSeed(training.seed, epoch);
    torch::manual_seed(seed);
    const auto order = seededPermutation(train.events, seed);

    impl.net->train();
    ProgressBar bar(options.progress, epoch + 1, training.epochs, train.events);
    double lossSum = 0;
    double weightSum = 0;
    double right = 0;
    double total = 0;
    for (std::int64_t begin = 0; begin < train.events; begin += training.batchSize) {
      const auto n = std::min(training.batchSize, train.events - begin);
      const auto loadStart = Clock::now();
      auto batch = gather(train, std::span(order.data() + begin, static_cast<std::size_t>(n)), impl.config.model);
      metrics.loadSeconds += secondsSince(loadStart);

      const auto computeStart = Clock::now();
      const auto logits = impl.net->forward(batch.values, batch.masks);
      const auto losses = perEventLoss(logits, batch.target, impl.config.model.task);
      const auto weightedLoss = (losses * batch.weight).sum();
      const double weightedLossValue = weightedLoss.item<double>();
      if (!std::isfinite(weightedLossValue))
        impl.diverged(fmt::format("epoch {}, batch {} of {}: the training loss is {}", epoch + 1,
                                  begin / training.batchSize + 1,
                                  (train.events + training.batchSize - 1) / training.batchSize, weightedLossValue),
                      epoch, options.checkpointDir);
      const auto loss = weightedLoss / (static_cast<double>(n) * meanWeight);
      impl.optimizer->zero_grad();
      loss.backward();
      impl.optimizer->step();
      metrics.computeSeconds += secondsSince(computeStart);

      const double w = batch.weight.sum().item<double>();
      lossSum += weightedLossValue;
      weightSum += w;
      if (impl.config.model.task != Task::regression) {
        torch::NoGradGuard noGrad;
        const auto predicted = impl.outputs == 1 ? (logits.squeeze(1) > 0).to(torch::kInt64) : logits.argmax(1);
        const auto truth = impl.outputs == 1 ? (batch.target.squeeze(1) > 0.5).to(torch::kInt64) : batch.target;
        right += (predicted == truth).to(torch::kFloat32).mul(batch.weight).sum().item<double>();
        total += w;
      }
      bar.update(begin + n, weightSum > 0 ? lossSum / weightSum : 0.0);
    }
    metrics.trainLoss = weightSum > 0 ? lossSum / weightSum : kNoValue;
    if (total > 0) metrics.trainAccuracy = right / total;
    metrics.eventsPerSecond =
        static_cast<double>(train.events) / std::max(1e-9, metrics.loadSeconds + metrics.computeSeconds);

    const auto evaluation = impl.evaluate(validation.events > 0 ? validation : train);
    if (!std::isfinite(evaluation.loss))
      impl.diverged(fmt::format("epoch {}: the validation loss is {}", epoch + 1, evaluation.loss), epoch,
                    options.checkpointDir);
    metrics.validationLoss = evaluation.loss;
    metrics.validationAccuracy = evaluation.accuracy;
    metrics.validationAuc = evaluation.auc;
    metrics.seconds = secondsSince(epochStart);

    if (std::isfinite(metrics.validationLoss) &&
        metrics.validationLoss < history.bestValidationLoss - training.minDelta) {
      history.bestValidationLoss = metrics.validationLoss;
      history.bestEpoch = metrics.epoch;
      history.epochsWithoutImprovement = 0;
      impl.rememberBest();
    } else {
      ++history.epochsWithoutImprovement;
      if (training.patience > 0 && history.epochsWithoutImprovement >= training.patience) stop = true;
    }
    history.stoppedEarly = stop;
    history.epochs.push_back(metrics);
    bar.finish(metrics);
    if (!options.checkpointDir.empty()) impl.saveCheckpoint(options.checkpointDir);
    if (options.onEpoch) options.onEpoch(metrics);
  }
  impl.restoreBest();
  impl.finalRoc(validation.events > 0 ? validation : train,
                options.classNames.empty() ? impl.config.model.classNames : options.classNames);
  return history;
}

std::vector<float> Trainer::predict(const TensorSet& events) const {
  impl_->checkCompatible(events, "prediction");
  return impl_->evaluate(events).probabilities;
}

const TrainConfig& Trainer::config() const noexcept { return impl_->config; }
const std::vector<InputSpec>& Trainer::inputs() const noexcept { return impl_->inputs; }
std::int64_t Trainer::outputs() const noexcept { return impl_->outputs; }
const TrainHistory& Trainer::history() const noexcept { return impl_->history; }

std::int64_t Trainer::parameterCount() const {
  std::int64_t n = 0;
  for (const auto& p : impl_->net->parameters()) n += p.numel();
  return n;
}

namespace {
std::vector<float> toVector(const torch::Tensor& t) {
  const auto c = t.detach().contiguous().to(torch::kFloat32);
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}
DenseLayer dense(const torch::nn::Linear& layer) {
  return DenseLayer{layer->weight.size(1), layer->weight.size(0), toVector(layer->weight), toVector(layer->bias)};
}
}  // namespace

NetworkWeights Trainer::weights() const {
  NetworkWeights out;
  const auto& net = *impl_->net;
  for (const auto& branch : net.branches) {
    InputWeights w;
    w.mean = toVector(branch.mean);
    w.scale = toVector(branch.scale);
    for (const auto& layer : branch.objectNet) w.objectNet.push_back(dense(layer));
    for (const auto& conv : branch.convNet)
      w.convNet.push_back(ConvLayer{conv->weight.size(1), conv->weight.size(0), conv->weight.size(2),
                                    toVector(conv->weight), toVector(conv->bias)});
    out.inputs.push_back(std::move(w));
  }
  for (const auto& layer : net.head) out.head.push_back(dense(layer));
  return out;
}

}  // namespace mlaas::train
