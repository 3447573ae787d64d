#include "data/specs.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/source.hpp"

namespace mlaas::data {

using nlohmann::json;

namespace {

// A local file's canonical path (absolute, symlinks and '..' resolved): specs record it so that
// they match however the config is reached later (from another folder, by an absolute path).
std::string canonicalLocal(const std::string& path) {
  std::error_code error;
  auto canonical = std::filesystem::weakly_canonical(path, error);
  return error ? path : canonical.string();
}

// Specs written before inputs were recorded canonically hold the path as spelled then.
bool samePath(const std::string& now, const std::string& then) {
  if (now == then) return true;
  if (then.find("://") != std::string::npos || std::filesystem::path(then).is_absolute()) return false;
  return canonicalLocal(then) == now;
}

}  // namespace

InputRecord describeInput(const std::string& path, std::uint64_t entries) {
  InputRecord record;
  record.path = path;
  record.entries = entries;
  if (path.find("://") != std::string::npos && path.rfind("file://", 0) != 0) return record;
  const bool fileUrl = path.rfind("file://", 0) == 0;
  auto localPath = io::localPathOf(path);
  if (!localPath) return record;  // a file URL of another host: opening the input has said so
  const std::string& local = *localPath;
  struct stat info {};
  if (::stat(local.c_str(), &info) == 0) {
    record.size = static_cast<std::uint64_t>(info.st_size);
    record.mtimeNs = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    if (!fileUrl) record.path = canonicalLocal(local);
  }
  return record;
}

void GroupStats::add(std::size_t objects) {
  if (multiplicity.size() <= objects) multiplicity.resize(objects + 1, 0);
  ++multiplicity[objects];
}

void GroupStats::merge(const GroupStats& other) {
  if (list.empty()) list = other.list;
  if (multiplicity.size() < other.multiplicity.size()) multiplicity.resize(other.multiplicity.size(), 0);
  for (std::size_t k = 0; k < other.multiplicity.size(); ++k) multiplicity[k] += other.multiplicity[k];
}

std::size_t Specs::groupLength(const GroupPlan& group) const {
  if (group.lengthMode == LengthMode::fixed) return group.fixedLength;
  if (compat) {
    std::size_t length = 0;
    for (const auto& member : group.members) {
      auto it = compatLengths.find(member);
      if (it != compatLengths.end()) length = std::max(length, it->second);
    }
    return std::max<std::size_t>(length, 1);
  }
  auto it = groups.find(group.name);
  if (it == groups.end() || it->second.multiplicity.empty()) return 1;
  const auto& hist = it->second.multiplicity;
  std::uint64_t total = 0;
  for (auto n : hist) total += n;
  if (group.lengthMode == LengthMode::max || total == 0) return std::max<std::size_t>(hist.size() - 1, 1);
  // The smallest L with at least quantile * events having <= L objects.
  const double needed = group.quantile * static_cast<double>(total);
  std::uint64_t covered = 0;
  for (std::size_t k = 0; k < hist.size(); ++k) {
    covered += hist[k];
    if (static_cast<double>(covered) >= needed - 1e-9) return std::max<std::size_t>(k, 1);
  }
  return std::max<std::size_t>(hist.size() - 1, 1);
}

namespace {

json sketchToJson(const QuantileSketch& sketch) {
  auto buckets = [](const QuantileSketch::Buckets& b) { return json{{"offset", b.offset}, {"counts", b.counts}}; };
  json out{{"alpha", sketch.alpha()}, {"zeros", sketch.zeros()}, {"positive", buckets(sketch.positive())},
            {"negative", buckets(sketch.negative())}};
  if (sketch.mapping() == QuantileSketch::Mapping::binary) {
    out["mapping"] = "binary";
    out["mantissa_bits"] = sketch.mantissaBits();
    out["integral"] = sketch.integral();  // integer data answers exact quantiles
  } else {
    out["mapping"] = "logarithmic";
  }
  return out;
}

QuantileSketch sketchFromJson(const json& j) {
  auto buckets = [](const json& b) {
    QuantileSketch::Buckets out;
    out.offset = b.at("offset").get<std::int32_t>();
    out.counts = b.at("counts").get<std::vector<std::uint64_t>>();
    if (out.counts.size() > (1U << 16)) throw std::out_of_range("too many sketch buckets");
    return out;
  };
  double alpha = j.at("alpha").get<double>();
  if (!(alpha > 0 && alpha < 0.5)) throw std::out_of_range("sketch alpha out of range");
  // Specs written before the binary mapping have no "mapping" key: their buckets are logarithmic.
  const std::string mapping = j.contains("mapping") ? j.at("mapping").get<std::string>() : "logarithmic";
  if (mapping == "binary")
    return QuantileSketch::fromBuckets(alpha, QuantileSketch::Mapping::binary, j.at("mantissa_bits").get<int>(),
                                       buckets(j.at("positive")), buckets(j.at("negative")),
                                       j.at("zeros").get<std::uint64_t>());
  if (mapping != "logarithmic") throw std::invalid_argument(fmt::format("unknown sketch mapping '{}'", mapping));
  return QuantileSketch::fromBuckets(alpha, QuantileSketch::Mapping::logarithmic, 0, buckets(j.at("positive")),
                                     buckets(j.at("negative")), j.at("zeros").get<std::uint64_t>());
}

// JSON has no NaN/infinity: write them as strings, as the rest of mlaas does.
json number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}
double readNumber(const json& j) {
  if (j.is_string()) {
    auto s = j.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    throw std::invalid_argument("expected a number, got '" + s + "'");
  }
  return j.get<double>();
}

root::DType parseDType(const std::string& name) {
  for (int t = 0; t <= static_cast<int>(root::DType::string); ++t)
    if (root::dtypeName(static_cast<root::DType>(t)) == name) return static_cast<root::DType>(t);
  throw std::invalid_argument("unknown type '" + name + "'");
}

std::string baseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string Specs::toJson(const Plan& plan) const {
  json j;
  j["mlaas_specs"] = 1;
  j["config_hash"] = configHash;
  j["tree"] = tree;
  j["entries"] = entries;
  j["selected"] = selected;
  json inputsJson = json::array();
  for (const auto& input : inputs)
    inputsJson.push_back(
        {{"path", input.path}, {"size", input.size}, {"mtime_ns", input.mtimeNs}, {"entries", input.entries}});
  j["inputs"] = inputsJson;
  json schemaJson = json::array();
  for (const auto& branch : schema)
    schemaJson.push_back({{"name", branch.name}, {"type", root::dtypeName(branch.type)}, {"list", branch.list}});
  j["schema"] = schemaJson;
  json featuresJson = json::object();
  for (const auto& [name, stats] : features) {
    featuresJson[name] = {{"count", stats.count},
                          {"non_finite", stats.nonFinite},
                          {"min", number(stats.min)},
                          {"max", number(stats.max)},
                          {"mean", number(stats.mean)},
                          {"m2", number(stats.m2)},
                          {"std", number(stats.stddev())},
                          {"median", number(stats.sketch.quantile(0.5))},
                          {"p16", number(stats.sketch.quantile(0.16))},
                          {"p84", number(stats.sketch.quantile(0.84))},
                          {"sketch", sketchToJson(stats.sketch)}};
  }
  j["features"] = featuresJson;
  json groupsJson = json::object();
  for (const auto& group : plan.groups()) {
    auto it = groups.find(group.name);
    GroupStats empty;
    const auto& stats = it == groups.end() ? empty : it->second;
    groupsJson[group.name] = {{"list", group.list}, {"members", group.members}, {"multiplicity", stats.multiplicity},
                              {"length", groupLength(group)}};
  }
  j["groups"] = groupsJson;

  // MLaaS4HEP compatibility keys (reader.py's specs): flat keys, jagged keys, their dims and ranges.
  j["fkeys"] = plan.flatFeatures();
  json jkeys = json::array(), jdim = json::object(), minv = json::object(), maxv = json::object(),
       nans = json::object();
  for (const auto& group : plan.groups())
    for (const auto& member : group.members) {
      jkeys.push_back(member);
      jdim[member] = groupLength(group);
    }
  j["jkeys"] = jkeys;
  j["jdim"] = jdim;
  for (const auto& [name, stats] : features) {
    minv[name] = number(stats.min);
    maxv[name] = number(stats.max);
    nans[name] = number(stats.max == stats.min ? stats.max : (0 - stats.min) / (stats.max - stats.min));
  }
  j["minv"] = minv;
  j["maxv"] = maxv;
  j["nans"] = nans;
  json events = json::object();
  std::uint64_t total = 0;
  for (const auto& input : inputs) {
    events[baseName(input.path)] = input.entries;
    total += input.entries;
  }
  events["total"] = total;
  j["events"] = events;
  return j.dump(1);
}

Specs Specs::fromJson(const std::string& text, const std::string& name) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: not valid JSON: {}", name, e.what()));
  }
  Specs specs;
  std::string key;
  try {
    if (!j.is_object()) throw std::invalid_argument("expected a JSON object");
    if (j.contains("mlaas_specs")) {
      key = "mlaas_specs";
      if (j.at("mlaas_specs").get<int>() != 1) throw std::invalid_argument("unsupported version");
      key = "config_hash";
      specs.configHash = j.at(key).get<std::string>();
      key = "tree";
      specs.tree = j.at(key).get<std::string>();
      key = "entries";
      specs.entries = j.at(key).get<std::uint64_t>();
      key = "selected";
      specs.selected = j.at(key).get<std::uint64_t>();
      key = "inputs";
      for (const auto& input : j.at(key))
        specs.inputs.push_back({input.at("path").get<std::string>(), input.at("size").get<std::uint64_t>(),
                                input.at("mtime_ns").get<std::int64_t>(), input.at("entries").get<std::uint64_t>()});
      key = "schema";
      for (const auto& branch : j.at(key))
        specs.schema.push_back({branch.at("name").get<std::string>(), parseDType(branch.at("type").get<std::string>()),
                                branch.at("list").get<std::string>(), {}});
      for (const auto& [feature, value] : j.at("features").items()) {
        key = "features." + feature;
        FeatureStats stats;
        stats.count = value.at("count").get<std::uint64_t>();
        stats.nonFinite = value.at("non_finite").get<std::uint64_t>();
        stats.min = readNumber(value.at("min"));
        stats.max = readNumber(value.at("max"));
        stats.mean = readNumber(value.at("mean"));
        stats.m2 = readNumber(value.at("m2"));
        stats.sketch = sketchFromJson(value.at("sketch"));
        // The sketch's quantiles stay within the feature's exact extremes, kept with the moments.
        const auto& sketchJson = value.at("sketch");
        const bool integral = sketchJson.contains("integral") && sketchJson.at("integral").get<bool>();
        if (stats.count != 0 && stats.min <= stats.max) stats.sketch.restoreExtremes(stats.min, stats.max, integral);
        specs.features[feature] = std::move(stats);
      }
      for (const auto& [group, value] : j.at("groups").items()) {
        key = "groups." + group;
        GroupStats stats;
        stats.list = value.at("list").get<std::string>();
        stats.multiplicity = value.at("multiplicity").get<std::vector<std::uint64_t>>();
        if (stats.multiplicity.size() > 10'000'000) throw std::out_of_range("multiplicity histogram too long");
        specs.groups[group] = std::move(stats);
      }
      return specs;
    }
    // MLaaS4HEP specs: min/max per branch and jdim per jagged branch.
    specs.compat = true;
    key = "minv";
    if (!j.contains("minv") || !j.contains("maxv"))
      throw std::invalid_argument("neither mlaas specs nor MLaaS4HEP specs (no minv/maxv)");
    for (const auto& [feature, value] : j.at("minv").items()) {
      key = "maxv." + feature;
      FeatureStats stats;
      stats.min = readNumber(value);
      stats.max = readNumber(j.at("maxv").at(feature));
      stats.count = 1;  // present; mean/variance/quantiles unknown
      specs.features[feature] = std::move(stats);
    }
    key = "jdim";
    if (j.contains("jdim"))
      for (const auto& [branch, value] : j.at("jdim").items()) specs.compatLengths[branch] = value.get<std::size_t>();
    key = "events";
    if (j.contains("events"))
      for (const auto& [file, value] : j.at("events").items())
        if (file != "total") specs.inputs.push_back({file, 0, 0, value.get<std::uint64_t>()});
    return specs;
  } catch (const core::Exception&) {
    throw;
  } catch (const std::exception& e) {
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: key '{}': {}", name, key, e.what()));
  }
}

void Specs::save(const std::filesystem::path& path, const Plan& plan) const {
  // Write to a temporary name and rename: a reader never sees half a specs file.
  auto temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << toJson(plan) << "\n";
    if (!out) throw core::Exception(core::Errc::io, fmt::format("{}: cannot write the specs", path.string()));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error)
    throw core::Exception(core::Errc::io,
                          fmt::format("{}: cannot write the specs: {}", path.string(), error.message()));
}

Specs Specs::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::Exception(core::Errc::not_found, fmt::format("{}: cannot read the specs", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return fromJson(text.str(), path.string());
}

void Specs::checkMatches(const DatasetConfig& config, const std::vector<InputRecord>& current,
                         const std::string& specsName) const {
  auto refuse = [&](const std::string& what) {
    throw core::Exception(core::Errc::conflict,
                          fmt::format("{}: these specs do not match {}: {}; run 'mlaas stats' again", specsName,
                                      config.source.file, what));
  };
  if (compat) {
    for (const auto& input : current) {
      auto name = baseName(input.path);
      auto it = std::find_if(inputs.begin(), inputs.end(), [&](const InputRecord& r) { return r.path == name; });
      if (it == inputs.end()) refuse(fmt::format("file '{}' is not in the specs' events", name));
      if (it->entries != input.entries)
        refuse(fmt::format("file '{}' has {} entries, the specs say {}", name, input.entries, it->entries));
    }
    return;
  }
  if (!config.statsHashMatches(configHash))
    refuse(fmt::format("the config changed (hash {} in the specs, {} now)", configHash, config.statsHash()));
  if (current.size() != inputs.size())
    refuse(fmt::format("{} input files now, {} in the specs", current.size(), inputs.size()));
  for (std::size_t i = 0; i < current.size(); ++i) {
    const auto& now = current[i];
    const auto& then = inputs[i];
    if (!samePath(now.path, then.path))
      refuse(fmt::format("input {} is '{}', the specs have '{}'", i, now.path, then.path));
    if (now.size != then.size)
      refuse(fmt::format("'{}' has {} bytes, the specs say {}", now.path, now.size, then.size));
    if (now.mtimeNs != then.mtimeNs) refuse(fmt::format("'{}' was modified after the specs were made", now.path));
    if (now.entries != then.entries)
      refuse(fmt::format("'{}' has {} entries, the specs say {}", now.path, now.entries, then.entries));
  }
}

void Specs::requireSelectedEvents(const DatasetConfig& config) const {
  if (selected != 0) return;
  std::string why;
  if (entries == 0) {
    why = "the inputs have no entries";
  } else {
    why = fmt::format("none of the {} entries read", entries);
    if (!config.selection.empty())
      why += fmt::format(" passes the selection '{}' ({})", config.selection, toString(config.selectionAt));
    else why += " is in the training split";
    if (config.split.train < 1) why += fmt::format(" with split.train {}", config.split.train);
  }
  throw core::Exception(core::Errc::invalid_argument,
                        fmt::format("{}: no event selected for training: {}", config.source.file, why));
}

}  // namespace mlaas::data
