#include "data/config.hpp"

#include <fmt/format.h>
#include <xxhash.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/result.hpp"
#include "core/yaml_keys.hpp"
#include "data/expr.hpp"

namespace mlaas::data {

std::string toString(const Location& at) {
  std::string text = at.file;
  if (at.line > 0) text += fmt::format(":{}:{}", at.line, at.column);
  if (!at.key.empty()) text += (text.empty() ? "" : ": ") + at.key;
  return text;
}

void throwConfigError(const Location& at, const std::string& message) {
  throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: {}", toString(at), message));
}

std::string_view toString(Normalization value) noexcept {
  switch (value) {
    case Normalization::none: return "none";
    case Normalization::minmax: return "minmax";
    case Normalization::standard: return "standard";
    case Normalization::robust: return "robust";
  }
  return "?";
}

std::string_view toString(Representation value) noexcept {
  switch (value) {
    case Representation::vector: return "vector";
    case Representation::groups: return "groups";
    case Representation::image: return "image";
  }
  return "?";
}

namespace {

// Reads YAML nodes with locations; every accessor names the key path in its errors.
class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  Location at(const YAML::Node& node, const std::string& key) const {
    Location location{file_, 0, 0, key};
    const auto mark = node.Mark();
    if (mark.line >= 0) {
      location.line = mark.line + 1;
      location.column = mark.column + 1;
    }
    return location;
  }

  void requireMap(const YAML::Node& node, const std::string& key) const {
    if (!node.IsMap())
      throwConfigError(at(node, key), fmt::format("expected a mapping (key: value), got {}", kindOf(node)));
  }

  // Refuses keys we do not know: a typo must not be silently ignored.
  void checkKeys(const YAML::Node& node, const std::string& key,
                 std::initializer_list<std::string_view> allowed) const {
    requireMap(node, key);
    for (const auto& entry : node) {
      auto name = entry.first.as<std::string>();
      bool known = false;
      for (auto candidate : allowed) known = known || candidate == name;
      if (!known) {
        std::string list;
        for (auto candidate : allowed) list += (list.empty() ? "" : ", ") + std::string(candidate);
        throwConfigError(at(entry.first, join(key, name)), fmt::format("unknown key (expected one of: {})", list));
      }
    }
  }

  static std::string join(const std::string& parent, const std::string& child) {
    return parent.empty() ? child : parent + "." + child;
  }

  static std::string kindOf(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Null: return "nothing";
      case YAML::NodeType::Scalar: return fmt::format("'{}'", node.Scalar());
      case YAML::NodeType::Sequence: return "a list";
      case YAML::NodeType::Map: return "a mapping";
      default: return "an undefined value";
    }
  }

  std::string string(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) throwConfigError(at(node, key), fmt::format("expected a string, got {}", kindOf(node)));
    return node.Scalar();
  }

  double number(const YAML::Node& node, const std::string& key, bool allowNaN = false) const {
    if (!node.IsScalar()) throwConfigError(at(node, key), fmt::format("expected a number, got {}", kindOf(node)));
    const std::string& text = node.Scalar();
    if (allowNaN && (text == "nan" || text == "NaN" || text == ".nan" || text == ".NaN" || text == ".NAN"))
      return std::numeric_limits<double>::quiet_NaN();
    double value = 0;
    if (!YAML::convert<double>::decode(node, value) || std::isnan(value))
      throwConfigError(at(node, key), fmt::format("expected a number, got '{}'", text));
    return value;
  }

  std::size_t count(const YAML::Node& node, const std::string& key, std::size_t minimum, std::size_t maximum) const {
    double value = number(node, key);
    if (value != std::floor(value) || value < static_cast<double>(minimum) || value > static_cast<double>(maximum))
      throwConfigError(at(node, key),
                       fmt::format("expected an integer from {} to {}, got '{}'", minimum, maximum, node.Scalar()));
    return static_cast<std::size_t>(value);
  }

  bool boolean(const YAML::Node& node, const std::string& key) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
      throwConfigError(at(node, key), fmt::format("expected true or false, got {}", kindOf(node)));
    return value;
  }

  std::vector<Pattern> patterns(const YAML::Node& node, const std::string& key) const {
    std::vector<Pattern> out;
    if (node.IsScalar()) {
      out.push_back({node.Scalar(), at(node, key)});
      return out;
    }
    if (!node.IsSequence())
      throwConfigError(at(node, key), fmt::format("expected a list of branch names, got {}", kindOf(node)));
    for (std::size_t i = 0; i < node.size(); ++i) {
      std::string itemKey = fmt::format("{}[{}]", key, i);
      out.push_back({string(node[i], itemKey), at(node[i], itemKey)});
    }
    return out;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

Normalization parseNormalization(const YamlReader& reader, const YAML::Node& node, const std::string& key) {
  auto text = reader.string(node, key);
  if (text == "none") return Normalization::none;
  if (text == "minmax") return Normalization::minmax;
  if (text == "standard") return Normalization::standard;
  if (text == "robust") return Normalization::robust;
  throwConfigError(reader.at(node, key),
                   fmt::format("unknown normalization '{}' (expected none, minmax, standard or robust)", text));
}

void checkExpression(const YamlReader& reader, const YAML::Node& node, const std::string& key,
                     const std::string& text) {
  try {
    Expression::checkSyntax(text);
  } catch (const core::Exception& e) {
    throwConfigError(reader.at(node, key), fmt::format("in expression '{}': {}", text, e.what()));
  }
}

}  // namespace

// The identity of an input (the stats hash, files listed twice): its canonical path (absolute, symlinks and '..'
// resolved), so that the same config reached as 'a.yaml', '$PWD/a.yaml' or 'cfg/a.yaml' hashes
// the same. URLs are their own identity. weakly_canonical keeps a glob's pattern part as written.
std::string inputIdentity(const std::string& path) {
  if (path.find("://") != std::string::npos) return path;
  std::error_code error;
  auto absolute = std::filesystem::absolute(path, error);  // a relative glob has no existing prefix
  if (error) return path;
  auto canonical = std::filesystem::weakly_canonical(absolute, error);
  return error ? absolute.lexically_normal().string() : canonical.string();
}

namespace {

std::string resolvePath(const std::filesystem::path& base, const std::string& path) {
  if (path.find("://") != std::string::npos) return path;  // URLs go to the reader untouched
  std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (base / p).lexically_normal().string();
}

void parseInputs(const YamlReader& reader, const YAML::Node& node, DatasetConfig& config) {
  reader.checkKeys(node, "inputs", {"tree", "files", "files_from", "label", "weight"});
  if (!node["tree"]) throwConfigError(reader.at(node, "inputs"), "missing key 'tree' (the TTree name or path)");
  config.tree = reader.string(node["tree"], "inputs.tree");
  config.treeAt = reader.at(node["tree"], "inputs.tree");
  if (node["files"]) {
    const auto files = node["files"];
    if (files.IsScalar()) {
      config.files.push_back(
          {resolvePath(config.base, files.Scalar()), std::nullopt, reader.at(files, "inputs.files")});
    } else if (files.IsSequence()) {
      for (std::size_t i = 0; i < files.size(); ++i) {
        const auto item = files[i];
        std::string key = fmt::format("inputs.files[{}]", i);
        InputFile input;
        input.at = reader.at(item, key);
        if (item.IsMap()) {
          reader.checkKeys(item, key, {"path", "label"});
          if (!item["path"]) throwConfigError(input.at, "missing key 'path'");
          input.path = resolvePath(config.base, reader.string(item["path"], key + ".path"));
          if (item["label"]) input.label = reader.number(item["label"], key + ".label");
        } else {
          input.path = resolvePath(config.base, reader.string(item, key));
        }
        config.files.push_back(std::move(input));
      }
    } else {
      throwConfigError(reader.at(files, "inputs.files"),
                       fmt::format("expected a path or a list of paths, got {}", YamlReader::kindOf(files)));
    }
  }
  if (node["files_from"]) {
    auto listPath = resolvePath(config.base, reader.string(node["files_from"], "inputs.files_from"));
    std::ifstream list(listPath);
    if (!list)
      throwConfigError(reader.at(node["files_from"], "inputs.files_from"),
                       fmt::format("cannot read the list file '{}'", listPath));
    std::string line;
    int lineNumber = 0;
    auto listFolder = std::filesystem::path(listPath).parent_path();
    while (std::getline(list, line)) {
      ++lineNumber;
      auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#') continue;
      auto last = line.find_last_not_of(" \t\r");
      config.files.push_back({resolvePath(listFolder, line.substr(first, last - first + 1)), std::nullopt,
                              Location{listPath, lineNumber, static_cast<int>(first) + 1, "inputs.files_from"}});
    }
  }
  if (config.files.empty())
    throwConfigError(reader.at(node, "inputs"), "no input files (give 'files' or 'files_from')");
  // A file listed twice would be read, counted and trained on twice: refuse it, by canonical path
  // (a/../a.root, a symlink and an absolute spelling are the same file). Globs are expanded later.
  std::map<std::string, const InputFile*> seenFiles;
  for (const auto& file : config.files) {
    if (file.path.find("://") == std::string::npos && file.path.find_first_of("*?[") != std::string::npos) continue;
    auto [first, inserted] = seenFiles.emplace(inputIdentity(file.path), &file);
    if (!inserted)
      throwConfigError(file.at, fmt::format("file '{}' is listed twice (first at {}): its events would count twice",
                                            file.path, toString(first->second->at)));
  }
  if (node["label"]) {
    const auto label = node["label"];
    config.labelAt = reader.at(label, "inputs.label");
    reader.checkKeys(label, "inputs.label", {"branch", "expression"});
    if (label["branch"] && label["expression"])
      throwConfigError(config.labelAt, "give either 'branch' or 'expression', not both");
    if (label["branch"]) config.labelBranch = reader.string(label["branch"], "inputs.label.branch");
    if (label["expression"]) {
      config.labelExpression = reader.string(label["expression"], "inputs.label.expression");
      checkExpression(reader, label["expression"], "inputs.label.expression", config.labelExpression);
    }
    if (config.labelBranch.empty() && config.labelExpression.empty())
      throwConfigError(config.labelAt, "give 'branch' or 'expression'");
  }
  std::size_t labelled = 0;
  for (const auto& file : config.files) labelled += file.label ? 1 : 0;
  if (labelled != 0 && node["label"])
    throwConfigError(config.labelAt, "labels are given both per file and by 'inputs.label': choose one");
  if (labelled != 0 && labelled != config.files.size()) {
    for (const auto& file : config.files)
      if (!file.label) throwConfigError(file.at, fmt::format("file '{}' has no label while others do", file.path));
  }
  if (node["weight"]) {
    config.weight = reader.string(node["weight"], "inputs.weight");
    config.weightAt = reader.at(node["weight"], "inputs.weight");
    checkExpression(reader, node["weight"], "inputs.weight", config.weight);
  }
}

// A feature named twice would be one column (silently merged) or two equal ones: refuse it.
void refuseRepeatedPatterns(const std::vector<Pattern>& patterns, const std::string& what) {
  std::map<std::string, const Pattern*> seen;
  for (const auto& pattern : patterns) {
    auto [first, inserted] = seen.emplace(pattern.text, &pattern);
    if (!inserted)
      throwConfigError(pattern.at, fmt::format("{} '{}' is listed twice (first at {})", what, pattern.text,
                                               toString(first->second->at)));
  }
}

GroupConfig parseGroup(const YamlReader& reader, const std::string& name, const YAML::Node& node) {
  std::string key = "features.groups." + name;
  GroupConfig group;
  group.name = name;
  group.at = reader.at(node, key);
  reader.checkKeys(node, key, {"branches", "length", "pad", "sort_by", "sort"});
  if (!node["branches"]) throwConfigError(group.at, "missing key 'branches'");
  group.branches = reader.patterns(node["branches"], key + ".branches");
  refuseRepeatedPatterns(group.branches, "member");
  if (group.branches.empty()) throwConfigError(reader.at(node["branches"], key + ".branches"), "no branches");
  if (node["length"]) {
    const auto length = node["length"];
    auto lengthKey = key + ".length";
    auto text = reader.string(length, lengthKey);
    if (text == "auto" || text == "max") {
      group.lengthMode = LengthMode::max;
    } else {
      double value = reader.number(length, lengthKey);
      bool integral = text.find_first_of(".eE") == std::string::npos;
      if (integral && value >= 1 && value <= 100000) {
        group.lengthMode = LengthMode::fixed;
        group.length = static_cast<std::size_t>(value);
      } else if (!integral && value > 0 && value <= 1) {
        group.lengthMode = LengthMode::quantile;
        group.quantile = value;
      } else {
        throwConfigError(
            reader.at(length, lengthKey),
            fmt::format("expected a length from 1 to 100000, 'auto', or a quantile in (0, 1] such as 0.99; got '{}'",
                        text));
      }
    }
  }
  if (node["pad"]) group.pad = reader.number(node["pad"], key + ".pad", /*allowNaN=*/true);
  if (node["sort_by"]) {
    group.sortBy = reader.string(node["sort_by"], key + ".sort_by");
    group.sortAt = reader.at(node["sort_by"], key + ".sort_by");
  }
  if (node["sort"]) {
    auto order = reader.string(node["sort"], key + ".sort");
    if (order != "descending" && order != "ascending")
      throwConfigError(reader.at(node["sort"], key + ".sort"),
                       fmt::format("expected 'descending' or 'ascending', got '{}'", order));
    if (group.sortBy.empty())
      throwConfigError(reader.at(node["sort"], key + ".sort"), "'sort' needs 'sort_by' (the member to sort by)");
    group.sortDescending = order == "descending";
  }
  return group;
}

void parseFeatures(const YamlReader& reader, const YAML::Node& node, DatasetConfig& config) {
  reader.checkKeys(node, "features", {"flat", "identifiers", "groups"});
  if (node["flat"]) config.features = reader.patterns(node["flat"], "features.flat");
  refuseRepeatedPatterns(config.features, "feature");
  if (node["identifiers"]) {
    config.identifiers.clear();
    for (auto& pattern : reader.patterns(node["identifiers"], "features.identifiers"))
      config.identifiers.push_back(pattern.text);
  }
  if (node["groups"]) {
    reader.requireMap(node["groups"], "features.groups");
    for (const auto& entry : node["groups"])
      config.groups.push_back(parseGroup(reader, entry.first.as<std::string>(), entry.second));
  }
  if (config.features.empty() && config.groups.empty())
    throwConfigError(reader.at(node, "features"), "no features: give 'flat' and/or 'groups'");
}

void parseImage(const YamlReader& reader, const YAML::Node& node, DatasetConfig& config) {
  reader.checkKeys(node, "image", {"bins", "x_range", "y_range", "channels"});
  config.imageAt = reader.at(node, "image");
  for (const char* key : {"bins", "x_range", "y_range", "channels"})
    if (!node[key]) throwConfigError(config.imageAt, fmt::format("missing key '{}'", key));
  auto pair = [&](const YAML::Node& value, const std::string& key) {
    if (!value.IsSequence() || value.size() != 2)
      throwConfigError(reader.at(value, key), "expected a list of two numbers");
    return std::pair{reader.number(value[0], key + "[0]"), reader.number(value[1], key + "[1]")};
  };
  auto& image = config.image;
  if (!node["bins"].IsSequence() || node["bins"].size() != 2)
    throwConfigError(reader.at(node["bins"], "image.bins"), "expected [x bins, y bins]");
  image.xBins = reader.count(node["bins"][0], "image.bins[0]", 1, 4096);
  image.yBins = reader.count(node["bins"][1], "image.bins[1]", 1, 4096);
  std::tie(image.xMin, image.xMax) = pair(node["x_range"], "image.x_range");
  std::tie(image.yMin, image.yMax) = pair(node["y_range"], "image.y_range");
  if (!(image.xMin < image.xMax))
    throwConfigError(reader.at(node["x_range"], "image.x_range"), "the range must be [low, high] with low < high");
  if (!(image.yMin < image.yMax))
    throwConfigError(reader.at(node["y_range"], "image.y_range"), "the range must be [low, high] with low < high");
  const auto channels = node["channels"];
  if (!channels.IsSequence() || channels.size() == 0)
    throwConfigError(reader.at(channels, "image.channels"), "expected a list of channels");
  for (std::size_t i = 0; i < channels.size(); ++i) {
    std::string key = fmt::format("image.channels[{}]", i);
    reader.checkKeys(channels[i], key, {"group", "x", "y", "value"});
    ImageChannel channel;
    channel.at = reader.at(channels[i], key);
    for (const char* member : {"group", "x", "y"})
      if (!channels[i][member]) throwConfigError(channel.at, fmt::format("missing key '{}'", member));
    channel.group = reader.string(channels[i]["group"], key + ".group");
    channel.x = reader.string(channels[i]["x"], key + ".x");
    channel.y = reader.string(channels[i]["y"], key + ".y");
    if (channels[i]["value"]) channel.value = reader.string(channels[i]["value"], key + ".value");
    bool known = false;
    for (const auto& group : config.groups) known = known || group.name == channel.group;
    if (!known)
      throwConfigError(reader.at(channels[i]["group"], key + ".group"),
                       fmt::format("no group '{}' in features.groups", channel.group));
    image.channels.push_back(std::move(channel));
  }
}

}  // namespace

DatasetConfig DatasetConfig::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw core::Exception(core::Errc::not_found, fmt::format("{}: cannot read the dataset config", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  auto folder = path.parent_path();
  if (folder.empty()) folder = ".";
  return parse(text.str(), path.string(), folder);
}

DatasetConfig DatasetConfig::parse(const std::string& yaml, const std::string& name,
                                   const std::filesystem::path& folder) {
  YamlReader reader(name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throwConfigError(Location{name, e.mark.line + 1, e.mark.column + 1, ""}, fmt::format("not valid YAML: {}", e.msg));
  }
  // yaml-cpp keeps both entries of a repeated key and node[key] answers the first: a second
  // 'features:' block (or split: {train: 0.8, train: 0.2}) would be silently dropped.
  if (auto duplicate = core::findDuplicateKey(root))
    throwConfigError(Location{name, duplicate->line, duplicate->column, ""}, core::describe(*duplicate));
  DatasetConfig config;
  config.source = Location{name, 0, 0, ""};
  try {
    if (!root.IsMap()) throwConfigError(Location{name, 1, 1, ""}, "expected a mapping with 'inputs' and 'features'");
    // `model` and `training` belong to `mlaas train` (docs/training.md), which validates them: one
    // file serves both `mlaas stats`/`batches` and `mlaas train`.
    reader.checkKeys(root, "",
                     {"base", "inputs", "features", "variables", "selection", "normalization", "representation",
                      "image", "split", "shuffle", "batch", "model", "training"});
    config.base = folder;
    if (root["base"]) config.base = (folder / reader.string(root["base"], "base")).lexically_normal();
    if (!root["inputs"]) throwConfigError(Location{name, 1, 1, ""}, "missing key 'inputs'");
    parseInputs(reader, root["inputs"], config);
    if (!root["features"]) throwConfigError(Location{name, 1, 1, ""}, "missing key 'features'");
    if (root["variables"]) {
      reader.requireMap(root["variables"], "variables");
      for (const auto& entry : root["variables"]) {
        auto varName = entry.first.as<std::string>();
        auto key = "variables." + varName;
        VariableConfig variable{varName, reader.string(entry.second, key), reader.at(entry.second, key)};
        checkExpression(reader, entry.second, key, variable.expression);
        config.variables.push_back(std::move(variable));
      }
    }
    parseFeatures(reader, root["features"], config);
    if (root["selection"]) {
      config.selection = reader.string(root["selection"], "selection");
      config.selectionAt = reader.at(root["selection"], "selection");
      checkExpression(reader, root["selection"], "selection", config.selection);
    }
    if (root["normalization"]) {
      const auto norm = root["normalization"];
      if (norm.IsScalar()) {
        config.normalization = parseNormalization(reader, norm, "normalization");
      } else {
        reader.checkKeys(norm, "normalization", {"default", "features"});
        if (norm["default"])
          config.normalization = parseNormalization(reader, norm["default"], "normalization.default");
        if (norm["features"]) {
          reader.requireMap(norm["features"], "normalization.features");
          for (const auto& entry : norm["features"]) {
            auto feature = entry.first.as<std::string>();
            auto key = "normalization.features." + feature;
            config.normalizationPerFeature[feature] = {parseNormalization(reader, entry.second, key),
                                                       reader.at(entry.first, key)};
          }
        }
      }
    }
    if (root["representation"]) {
      auto text = reader.string(root["representation"], "representation");
      if (text == "vector") config.representation = Representation::vector;
      else if (text == "groups") config.representation = Representation::groups;
      else if (text == "image") config.representation = Representation::image;
      else
        throwConfigError(reader.at(root["representation"], "representation"),
                         fmt::format("unknown representation '{}' (expected vector, groups or image)", text));
    }
    if (root["image"]) {
      if (config.representation != Representation::image)
        throwConfigError(reader.at(root["image"], "image"),
                         fmt::format("an 'image' section with representation '{}' (set representation: image)",
                                     toString(config.representation)));
      parseImage(reader, root["image"], config);
    } else if (config.representation == Representation::image) {
      throwConfigError(reader.at(root["representation"], "representation"),
                       "representation 'image' needs an 'image' section");
    }
    if (config.representation != Representation::vector && config.groups.empty() &&
        config.representation == Representation::groups)
      throwConfigError(reader.at(root["representation"], "representation"),
                       "representation 'groups' needs features.groups");
    if (root["split"]) {
      const auto split = root["split"];
      reader.checkKeys(split, "split", {"train", "validation", "test", "by", "seed"});
      auto& s = config.split;
      s.train = split["train"] ? reader.number(split["train"], "split.train") : 0;
      s.validation = split["validation"] ? reader.number(split["validation"], "split.validation") : 0;
      s.test = split["test"] ? reader.number(split["test"], "split.test") : 0;
      for (auto [value, key] : {std::pair{s.train, "train"}, {s.validation, "validation"}, {s.test, "test"}})
        if (value < 0 || value > 1)
          throwConfigError(reader.at(split[key], std::string("split.") + key), "a fraction must be in [0, 1]");
      if (std::fabs(s.train + s.validation + s.test - 1) > 1e-9)
        throwConfigError(reader.at(split, "split"),
                         fmt::format("train + validation + test must be 1, got {}", s.train + s.validation + s.test));
      if (split["by"]) {
        auto by = reader.string(split["by"], "split.by");
        if (by != "identifiers" && by != "entry")
          throwConfigError(reader.at(split["by"], "split.by"),
                           fmt::format("expected 'identifiers' or 'entry', got '{}'", by));
        s.byIdentifiers = by == "identifiers";
      }
      if (split["seed"])
        s.seed = reader.count(split["seed"], "split.seed", 0, std::numeric_limits<std::uint32_t>::max());
    }
    if (root["shuffle"]) {
      const auto shuffle = root["shuffle"];
      auto& s = config.shuffle;
      if (shuffle.IsScalar()) {
        s.enabled = reader.boolean(shuffle, "shuffle");
      } else {
        reader.checkKeys(shuffle, "shuffle", {"enabled", "seed", "files", "interleave", "buffer"});
        if (shuffle["enabled"]) s.enabled = reader.boolean(shuffle["enabled"], "shuffle.enabled");
        if (shuffle["seed"])
          s.seed = reader.count(shuffle["seed"], "shuffle.seed", 0, std::numeric_limits<std::uint32_t>::max());
        if (shuffle["files"]) s.files = reader.boolean(shuffle["files"], "shuffle.files");
        if (shuffle["interleave"]) s.interleave = reader.count(shuffle["interleave"], "shuffle.interleave", 1, 1024);
        if (shuffle["buffer"]) s.buffer = reader.count(shuffle["buffer"], "shuffle.buffer", 0, 100'000'000);
      }
    }
    if (root["batch"]) {
      const auto batch = root["batch"];
      auto& b = config.batch;
      reader.checkKeys(batch, "batch", {"size", "chunk_entries", "threads", "prefetch", "drop_last"});
      if (batch["size"]) b.size = reader.count(batch["size"], "batch.size", 1, 10'000'000);
      if (batch["chunk_entries"])
        b.chunkEntries = reader.count(batch["chunk_entries"], "batch.chunk_entries", 1, 100'000'000);
      if (batch["threads"]) b.threads = reader.count(batch["threads"], "batch.threads", 0, 256);
      if (batch["prefetch"]) b.prefetch = reader.count(batch["prefetch"], "batch.prefetch", 1, 1024);
      if (batch["drop_last"]) b.dropLast = reader.boolean(batch["drop_last"], "batch.drop_last");
    }
  } catch (const YAML::Exception& e) {
    throwConfigError(Location{name, e.mark.line + 1, e.mark.column + 1, ""}, e.msg);
  }
  // Names must be unique across groups and variables: they name tensors and features.
  std::set<std::string> names;
  for (const auto& group : config.groups)
    if (!names.insert(group.name).second) throwConfigError(group.at, fmt::format("duplicate group '{}'", group.name));
  return config;
}

namespace {

std::string hashStats(const DatasetConfig& config, bool canonicalPaths) {
  // A canonical text of everything that changes statistics; formatting or batch options do not.
  std::string text = fmt::format("tree={}\n", config.tree);
  for (const auto& file : config.files)
    text += fmt::format("file={}|{}\n", canonicalPaths ? inputIdentity(file.path) : file.path,
                        file.label ? fmt::format("{}", *file.label) : "-");
  text += fmt::format("label={}|{}\nweight={}\nselection={}\n", config.labelBranch, config.labelExpression,
                      config.weight, config.selection);
  for (const auto& pattern : config.features) text += fmt::format("flat={}\n", pattern.text);
  for (const auto& id : config.identifiers) text += fmt::format("id={}\n", id);
  for (const auto& group : config.groups) {
    text += fmt::format("group={}|{}|{}|{}|{}|{}\n", group.name, static_cast<int>(group.lengthMode), group.length,
                        group.quantile, group.sortBy, group.sortDescending);
    for (const auto& pattern : group.branches) text += fmt::format(" member={}\n", pattern.text);
  }
  for (const auto& variable : config.variables) text += fmt::format("var={}={}\n", variable.name, variable.expression);
  return fmt::format("{:016x}", XXH64(text.data(), text.size(), 0));
}

}  // namespace

std::string DatasetConfig::statsHash() const { return hashStats(*this, /*canonicalPaths=*/true); }

bool DatasetConfig::statsHashMatches(const std::string& hash) const {
  // Specs written before the hash used canonical paths hashed the paths as spelled: still valid
  // when the config is reached the same way as then.
  return hash == statsHash() || hash == hashStats(*this, /*canonicalPaths=*/false);
}

}  // namespace mlaas::data
