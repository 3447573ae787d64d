#include "train/from_dataset.hpp"

#include <fmt/format.h>
#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "core/result.hpp"
#include "data/config.hpp"
#include "data/dataset.hpp"
#include "data/plan.hpp"
#include "data/specs.hpp"
#include "data/transform.hpp"

namespace mlaas::train {

namespace {

using Clock = std::chrono::steady_clock;

bool isUrl(const std::string& path) { return path.find("://") != std::string::npos && path.rfind("file://", 0) != 0; }

/// Copies one split's batches into a TensorSet, deriving the InputSpecs from the first batch;
/// `origins` gets each event's file and entry (for messages about an event).
TensorSet collect(data::Dataset& dataset, const data::Transform& transform, const std::string& splitName,
                  std::vector<data::EventRef>& origins) {
  TensorSet set;
  const auto& tensorSpecs = transform.tensorSpecs();
  const auto& maskSpecs = transform.maskSpecs();
  std::vector<std::size_t> maskOf;  // per tensor: index into maskSpecs, or npos
  for (const auto& spec : tensorSpecs) {
    InputSpec input;
    input.name = spec.name;
    for (const auto d : spec.shape) input.shape.push_back(static_cast<std::int64_t>(d));
    input.kind = spec.shape.size() == 1   ? InputKind::vector
                 : spec.shape.size() == 2 ? InputKind::group
                                          : InputKind::image;
    if (spec.shape.size() > 3 || spec.shape.empty())
      throw core::Exception(core::Errc::unsupported,
                            fmt::format("dataset tensor '{}' has {} dimensions per event; training takes 1 to 3",
                                        spec.name, spec.shape.size()));
    std::size_t mask = std::string::npos;
    for (std::size_t m = 0; m < maskSpecs.size(); ++m) {
      const auto& candidate = maskSpecs[m];
      const bool named =
          candidate.name == spec.name + "_mask" || (input.kind == InputKind::vector && candidate.name == "mask");
      if (named && !candidate.shape.empty() && candidate.shape.front() == spec.shape.front() &&
          input.kind != InputKind::image)
        mask = m;
    }
    if (mask != std::string::npos) {
      input.masked = true;
      input.maskInput = maskSpecs[mask].name;
    }
    // Feature names for model.json and for messages (checkFinite): the vector layout's columns, the
    // flat features, or a group's members.
    if (input.kind == InputKind::vector && input.name == "features") input.featureNames = transform.vectorColumns();
    if (input.kind == InputKind::vector && input.name == "flat") input.featureNames = transform.plan().flatFeatures();
    if (input.kind == InputKind::group)
      for (const auto& group : transform.plan().groups())
        if (group.name == input.name) input.featureNames = group.members;
    maskOf.push_back(mask);
    set.inputs.push_back(std::move(input));
  }
  set.values.resize(set.inputs.size());
  set.masks.resize(set.inputs.size());
  dataset.start(0);
  while (true) {
    auto next = dataset.next();
    if (!next)
      throw core::Exception(std::move(next).error().withContext(fmt::format("reading the {} split", splitName)));
    const data::Batch* batch = *next;
    if (batch == nullptr) break;
    for (std::size_t i = 0; i < set.inputs.size(); ++i) {
      const auto values = batch->tensor(i);
      set.values[i].insert(set.values[i].end(), values.begin(), values.end());
      if (maskOf[i] != std::string::npos) {
        const auto mask = batch->mask(maskOf[i]);
        set.masks[i].insert(set.masks[i].end(), mask.begin(), mask.end());
      }
    }
    set.labels.insert(set.labels.end(), batch->labels.begin(),
                      batch->labels.begin() + static_cast<std::ptrdiff_t>(batch->rows));
    set.weights.insert(set.weights.end(), batch->weights.begin(),
                       batch->weights.begin() + static_cast<std::ptrdiff_t>(batch->rows));
    origins.insert(origins.end(), batch->events.begin(),
                   batch->events.begin() + static_cast<std::ptrdiff_t>(batch->rows));
    set.events += static_cast<std::int64_t>(batch->rows);
  }
  return set;
}

/// "the label (inputs.label: {branch: label})": what checkFinite calls the labels and weights.
FiniteNames finiteNames(const data::DatasetConfig& config, const std::filesystem::path& configPath) {
  FiniteNames names;
  names.source = configPath.string();
  if (!config.labelBranch.empty())
    names.label = fmt::format("the label (inputs.label: {{branch: {}}})", config.labelBranch);
  else if (!config.labelExpression.empty())
    names.label = fmt::format("the label (inputs.label: {{expression: '{}'}})", config.labelExpression);
  if (!config.weight.empty()) names.weight = fmt::format("the event weight (inputs.weight: '{}')", config.weight);
  return names;
}

}  // namespace

std::string datasetPart(std::string_view yamlText) {
  std::string text(yamlText);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception&) {
    return text;  // the data layer reports the syntax error with its position
  }
  if (!root.IsMap()) return text;
  // Top-level keys in document order with their lines; a section runs to the next key.
  std::vector<std::pair<int, std::string>> keys;
  for (const auto& item : root) keys.emplace_back(item.first.Mark().line, item.first.as<std::string>());
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (keys[k].second != "model" && keys[k].second != "training") continue;
    const auto begin = static_cast<std::size_t>(std::max(0, keys[k].first));
    const auto end = k + 1 < keys.size() ? static_cast<std::size_t>(keys[k + 1].first) : lines.size();
    for (std::size_t l = begin; l < end && l < lines.size(); ++l) lines[l].clear();
  }
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

std::string fileChecksum(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Exception(core::Errc::not_found, fmt::format("{}: cannot open for the checksum", path.string()));
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) XXH3_128bits_update(state, buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  const auto hash = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  return fmt::format("{:016x}{:016x}", hash.high64, hash.low64);
}

LoadedDataset loadDataset(const std::filesystem::path& configPath, const LoadOptions& options) {
  std::ifstream in(configPath, std::ios::binary);
  if (!in) throw core::Exception(core::Errc::not_found, fmt::format("{}: cannot open the config", configPath.string()));
  std::ostringstream raw;
  raw << in.rdbuf();
  LoadedDataset out;
  out.configText = datasetPart(raw.str());
  const auto folder = configPath.has_parent_path() ? configPath.parent_path() : std::filesystem::path(".");
  const auto config = data::DatasetConfig::parse(out.configText, configPath.filename().string(), folder);
  out.representation = std::string(data::toString(config.representation));

  const auto statsStart = Clock::now();
  auto inputs = data::openInputs(config);
  auto plan = data::Plan::build(config, inputs.schema);
  const auto specs = data::computeSpecs(*plan, inputs, data::StatsOptions{options.threads});
  out.statsSeconds = std::chrono::duration<double>(Clock::now() - statsStart).count();
  out.specsJson = specs.toJson(*plan);
  auto transform = std::make_shared<const data::Transform>(plan, specs);

  const auto loadStart = Clock::now();
  std::vector<data::EventRef> trainOrigins;
  std::vector<data::EventRef> validationOrigins;
  {
    data::Dataset train(
        plan, transform, inputs,
        data::DatasetOptions{.split = data::Split::train, .limit = options.limit, .threads = options.threads});
    out.train = collect(train, *transform, "train", trainOrigins);
    out.entriesRead += train.counters().entriesRead;
  }
  if (config.split.validation > 0) {
    data::Dataset validation(plan, transform, inputs,
                             data::DatasetOptions{.split = data::Split::validation, .limit = options.limit,
                                                  .shuffle = false, .threads = options.threads});
    out.validation = collect(validation, *transform, "validation", validationOrigins);
  } else {
    out.validation = out.train.emptyLike();
  }
  out.loadSeconds = std::chrono::duration<double>(Clock::now() - loadStart).count();

  // NaN or inf that the network would take as present values (Jet_pt[0] of an event without
  // jets, x / 0, a NaN weight) would make every output, loss and metric NaN: refuse them here,
  // where the file and entry of each event are still known.
  auto locate = [&](const std::vector<data::EventRef>& origins) {
    return [&inputs, &origins](std::int64_t event) {
      const auto& ref = origins.at(static_cast<std::size_t>(event));
      const auto& path = ref.file < inputs.records.size() ? inputs.records[ref.file].path : std::string("?");
      return fmt::format("{} entry {}", path, ref.entry);
    };
  };
  const std::vector<FiniteCheck> checks{{"training", &out.train, locate(trainOrigins)},
                                        {"validation", &out.validation, locate(validationOrigins)}};
  out.train.validate();  // sizes first: checkFinite indexes by them
  out.validation.validate();
  checkFinite(checks, finiteNames(config, configPath));

  for (const auto& record : inputs.records) {
    InputFileRecord file{record.path, record.size, record.entries, {}};
    if (options.checksums && !isUrl(record.path)) file.xxh3 = fileChecksum(record.path);
    out.files.push_back(std::move(file));
  }
  return out;
}

}  // namespace mlaas::train
