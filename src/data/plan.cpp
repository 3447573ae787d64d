#include "data/plan.hpp"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace mlaas::data {

std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Split splitOf(std::uint64_t key, const SplitConfig& split) noexcept {
  const double u = static_cast<double>(mix64(key ^ mix64(split.seed)) >> 11) * 0x1.0p-53;
  if (u < split.train) return Split::train;
  if (u < split.train + split.validation) return Split::validation;
  return Split::test;
}

std::optional<Split> parseSplit(std::string_view name) noexcept {
  if (name == "train") return Split::train;
  if (name == "validation") return Split::validation;
  if (name == "test") return Split::test;
  return std::nullopt;
}

std::string_view toString(Split split) noexcept {
  switch (split) {
    case Split::train: return "train";
    case Split::validation: return "validation";
    case Split::test: return "test";
  }
  return "?";
}

namespace {

bool isGlob(const std::string& text) { return text.find_first_of("*?[") != std::string::npos; }
bool matches(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// Union-find over list names: members of one group are declared to be the same list.
class Lists {
 public:
  std::string find(const std::string& list) {
    auto it = parent_.find(list);
    if (it == parent_.end() || it->second == list) return list;
    return parent_[list] = find(it->second);
  }
  void unite(const std::string& a, const std::string& b) {
    auto ra = find(a), rb = find(b);
    if (ra != rb) parent_[rb] = ra;
  }

 private:
  std::map<std::string, std::string> parent_;
};

Expression compileAt(const std::string& text, const Schema& schema, const Location& at) {
  try {
    return Expression::compile(text, schema);
  } catch (const core::Exception& e) {
    throwConfigError(at, fmt::format("in expression '{}': {}", text, e.what()));
  }
}

}  // namespace

std::shared_ptr<const Plan> Plan::build(const DatasetConfig& config, const TreeSchema& schema) {
  auto plan = std::shared_ptr<Plan>(new Plan());
  plan->config_ = config;
  plan->schema_ = schema;
  const std::string treeWhere = fmt::format("tree '{}' of '{}'", config.tree, config.files.front().path);

  std::map<std::string, const BranchInfo*> branches;
  for (const auto& branch : schema) branches[branch.name] = &branch;
  std::set<std::string> identifiers(config.identifiers.begin(), config.identifiers.end());

  // Lists: group members share one list, even for std::vector branches without a common counter.
  Lists lists;
  for (const auto& group : config.groups) {
    std::string first;
    bool firstIsOwnList = false;
    for (const auto& pattern : group.branches) {
      for (const auto& branch : schema) {
        if (branch.list.empty() || !branch.unsupported.empty()) continue;
        if (pattern.text == branch.name || (isGlob(pattern.text) && matches(pattern.text, branch.name))) {
          // Only lists without a counter branch (std::vector<T>, named after the branch itself) are
          // tied by the group; two different counters are two different lists, an error below.
          if (first.empty()) {
            first = branch.list;
            firstIsOwnList = branch.list == branch.name;
          }
          if (firstIsOwnList || branch.list == branch.name) lists.unite(first, branch.list);
        }
      }
    }
  }

  // The expression schema: branches first, then each variable in order.
  Schema names;
  for (const auto& branch : schema) {
    if (!branch.unsupported.empty()) continue;
    ExprType type{branch.type == root::DType::boolean ? ValueKind::boolean : ValueKind::number,
                  branch.list.empty() ? std::string() : lists.find(branch.list)};
    names[branch.name] = type;
    if (!type.list.empty()) plan->listOf_[branch.name] = type.list;
  }
  std::set<std::string> needed;
  auto need = [&](const std::vector<std::string>& inputs) {
    for (const auto& input : inputs)
      if (branches.count(input) != 0) needed.insert(input);
  };
  std::set<std::string> variableNames;
  for (const auto& variable : config.variables) {
    if (branches.count(variable.name) != 0)
      throwConfigError(variable.at,
                       fmt::format("variable '{}' has the name of a branch of {}", variable.name, treeWhere));
    if (!variableNames.insert(variable.name).second)
      throwConfigError(variable.at, fmt::format("duplicate variable '{}'", variable.name));
    auto expression = compileAt(variable.expression, names, variable.at);
    need(expression.inputs());
    names[variable.name] = expression.type();
    plan->variables_.emplace_back(variable.name, std::move(expression));
  }

  auto describeBranch = [&](const std::string& name) -> std::string {
    auto it = names.find(name);
    return it == names.end() ? std::string("unknown") : describe(it->second);
  };

  // Flat features: event-level branches and variables.
  std::set<std::string> flatSeen;
  for (const auto& pattern : config.features) {
    bool any = false;
    auto consider = [&](const std::string& name, const ExprType& type) {
      if (identifiers.count(name) != 0 || type.isObject()) return;
      any = true;
      if (flatSeen.insert(name).second) plan->flat_.push_back(name);
    };
    if (!isGlob(pattern.text)) {
      auto it = names.find(pattern.text);
      if (it == names.end()) {
        auto branch = branches.find(pattern.text);
        if (branch != branches.end())
          throwConfigError(pattern.at, fmt::format("branch '{}' cannot be a feature: {}", pattern.text,
                                                   branch->second->unsupported));
        throwConfigError(pattern.at, fmt::format("no branch or variable '{}' in {}", pattern.text, treeWhere));
      }
      if (it->second.isObject())
        throwConfigError(pattern.at, fmt::format("'{}' is per object ({}): put it in a group under features.groups",
                                                 pattern.text, describe(it->second)));
      if (identifiers.count(pattern.text) != 0)
        throwConfigError(pattern.at,
                         fmt::format("'{}' is an identifier (features.identifiers), not a feature", pattern.text));
      consider(it->first, it->second);
    } else {
      for (const auto& [name, type] : names)
        if (matches(pattern.text, name)) consider(name, type);
    }
    if (!any)
      throwConfigError(pattern.at,
                       fmt::format("'{}' matches no event-level branch or variable in {}", pattern.text, treeWhere));
  }
  auto needName = [&](const std::string& name) {
    if (branches.count(name) != 0) needed.insert(name);
  };
  for (const auto& name : plan->flat_) needName(name);

  // Groups.
  std::set<std::string> featureNames(plan->flat_.begin(), plan->flat_.end());
  for (const auto& group : config.groups) {
    GroupPlan out;
    out.name = group.name;
    out.lengthMode = group.lengthMode;
    out.fixedLength = group.length;
    out.quantile = group.quantile;
    out.pad = group.pad;
    out.sortBy = group.sortBy;
    out.sortDescending = group.sortDescending;
    std::set<std::string> seen;
    for (const auto& pattern : group.branches) {
      std::vector<std::string> hits;
      if (!isGlob(pattern.text)) {
        auto it = names.find(pattern.text);
        if (it == names.end()) {
          auto branch = branches.find(pattern.text);
          if (branch != branches.end())
            throwConfigError(pattern.at, fmt::format("branch '{}' cannot be a feature: {}", pattern.text,
                                                     branch->second->unsupported));
          throwConfigError(pattern.at, fmt::format("no branch or variable '{}' in {}", pattern.text, treeWhere));
        }
        if (!it->second.isObject())
          throwConfigError(pattern.at,
                           fmt::format("'{}' has one value per event ({}): list it under features.flat, not in a group",
                                       pattern.text, describe(it->second)));
        hits.push_back(pattern.text);
      } else {
        for (const auto& [name, type] : names)
          if (type.isObject() && matches(pattern.text, name)) hits.push_back(name);
        if (hits.empty())
          throwConfigError(pattern.at,
                           fmt::format("'{}' matches no per-object branch or variable in {}", pattern.text, treeWhere));
      }
      for (const auto& name : hits) {
        const auto& list = names[name].list;
        if (out.list.empty()) out.list = list;
        if (list != out.list)
          throwConfigError(pattern.at,
                           fmt::format("'{}' belongs to list '{}' but group '{}' holds objects of '{}' (from '{}')",
                                       name, list, group.name, out.list, out.members.front()));
        if (seen.count(name) != 0) continue;
        if (!featureNames.insert(name).second)
          throwConfigError(pattern.at, fmt::format("'{}' is already a feature elsewhere", name));
        seen.insert(name);
        out.members.push_back(name);
        needName(name);
      }
    }
    if (!group.sortBy.empty()) {
      auto it = names.find(group.sortBy);
      if (it == names.end())
        throwConfigError(group.sortAt, fmt::format("no branch or variable '{}' in {}", group.sortBy, treeWhere));
      if (it->second.list != out.list)
        throwConfigError(group.sortAt, fmt::format("'{}' ({}) is not per object of the group's list '{}'", group.sortBy,
                                                   describeBranch(group.sortBy), out.list));
      needName(group.sortBy);
    }
    plan->groups_.push_back(std::move(out));
  }

  // Image channels: axes and value are members (or same-list names) of their group.
  for (const auto& channel : config.image.channels) {
    const GroupPlan* group = nullptr;
    for (const auto& candidate : plan->groups_)
      if (candidate.name == channel.group) group = &candidate;
    for (const auto* name : {&channel.x, &channel.y, &channel.value}) {
      if (name->empty()) continue;
      auto it = names.find(*name);
      if (it == names.end())
        throwConfigError(channel.at, fmt::format("no branch or variable '{}' in {}", *name, treeWhere));
      if (it->second.list != group->list)
        throwConfigError(channel.at, fmt::format("'{}' ({}) is not per object of group '{}' (list '{}')", *name,
                                                 describe(it->second), group->name, group->list));
      needName(*name);
    }
  }

  // Per-feature normalization names must be features.
  for (const auto& [feature, setting] : config.normalizationPerFeature)
    if (featureNames.count(feature) == 0)
      throwConfigError(setting.second, fmt::format("'{}' is not a feature (flat or group member)", feature));

  if (!config.selection.empty()) {
    auto selection = compileAt(config.selection, names, config.selectionAt);
    if (selection.type().kind != ValueKind::boolean || selection.type().isObject())
      throwConfigError(config.selectionAt,
                       fmt::format("the selection must be one boolean per event, got {}{}", describe(selection.type()),
                                   selection.type().isObject() ? " (aggregate with any(), all() or count())" : ""));
    need(selection.inputs());
    plan->selection_ = std::move(selection);
  }
  if (!config.labelBranch.empty() || !config.labelExpression.empty()) {
    const auto& text = config.labelBranch.empty() ? config.labelExpression : config.labelBranch;
    if (!config.labelBranch.empty() && names.count(text) == 0)
      throwConfigError(config.labelAt, fmt::format("no branch or variable '{}' in {}", text, treeWhere));
    auto label = compileAt(text, names, config.labelAt);
    if (label.type().isObject())
      throwConfigError(config.labelAt,
                       fmt::format("the label must be one value per event, got {}", describe(label.type())));
    need(label.inputs());
    plan->label_ = std::move(label);
  }
  if (!config.weight.empty()) {
    auto weight = compileAt(config.weight, names, config.weightAt);
    if (weight.type().isObject())
      throwConfigError(config.weightAt,
                       fmt::format("the weight must be one value per event, got {}", describe(weight.type())));
    need(weight.inputs());
    plan->weight_ = std::move(weight);
  }
  // Only read the variables' inputs that something uses: every variable is evaluated anyway (cheap),
  // so all of their inputs are needed.
  for (const auto& [name, expression] : plan->variables_) need(expression.inputs());

  if (config.split.byIdentifiers) {
    bool all = !config.identifiers.empty();
    for (const auto& id : config.identifiers) {
      auto it = branches.find(id);
      all = all && it != branches.end() && it->second->list.empty() && it->second->unsupported.empty();
    }
    if (all) plan->splitIds_ = config.identifiers;
  }
  for (const auto& id : plan->splitIds_) needed.insert(id);
  plan->branches_.assign(needed.begin(), needed.end());
  for (const auto& branch : schema)
    if (needed.count(branch.name) != 0) plan->readSchema_.push_back(branch);
  return plan;
}

Normalization Plan::normalization(const std::string& feature) const {
  auto it = config_.normalizationPerFeature.find(feature);
  return it == config_.normalizationPerFeature.end() ? config_.normalization : it->second.first;
}

core::Result<Chunk> Plan::prepare(std::span<const root::Column> columns) const {
  const std::size_t entries = columns.empty() ? 0 : static_cast<std::size_t>(columns.front().entries);
  return prepare(columns, 0, entries);
}

core::Result<Chunk> Plan::prepare(std::span<const root::Column> columns, std::size_t firstEntry, std::size_t count,
                                  Chunk reuse) const {
  Chunk chunk;
  chunk.entries = count;
  std::optional<std::uint64_t> columnEntries;
  // Per list, the offsets its first member made and that member's stored offsets (a few lists: a
  // flat vector beats a map here).
  struct SharedList {
    const std::string* list = nullptr;
    std::shared_ptr<const Offsets> offsets;
    const std::uint64_t* stored = nullptr;
  };
  std::vector<SharedList> sharedOffsets;
  auto sharedOf = [&](const std::string& list) -> SharedList& {
    for (auto& shared : sharedOffsets)
      if (*shared.list == list) return shared;
    return sharedOffsets.emplace_back(SharedList{&list, nullptr, nullptr});
  };
  sharedOffsets.reserve(branches_.size());  // references returned above stay valid
  for (std::size_t i = 0; i < branches_.size(); ++i) {
    const auto& name = branches_[i];
    // The pipeline reads branches() in order, so column i is usually the one: no search.
    const root::Column* column = i < columns.size() && columns[i].name == name ? &columns[i] : nullptr;
    if (column == nullptr)
      for (const auto& candidate : columns)
        if (candidate.name == name) column = &candidate;
    if (column == nullptr)
      return core::fail(core::Errc::invalid_argument, fmt::format("branch '{}' was not read", name));
    if (!columnEntries) columnEntries = column->entries;
    if (column->entries != *columnEntries)
      return core::fail(core::Errc::corrupt, fmt::format("branch '{}' has {} entries in the chunk, others {}", name,
                                                         column->entries, *columnEntries));
    auto listIt = listOf_.find(name);
    SharedList* shared = listIt == listOf_.end() ? nullptr : &sharedOf(listIt->second);
    auto old = reuse.arrays.extract(name);
    auto array = toArray(*column, firstEntry, count, shared != nullptr ? shared->offsets : nullptr,
                         old ? std::move(old.mapped()) : Array{}, shared != nullptr ? shared->stored : nullptr);
    if (!array) return core::fail(std::move(array).error());
    if (shared != nullptr) {
      if (!shared->offsets) {
        shared->offsets = array->offsets;
        // A list's stored offsets (one jagged level; a fixed-size array has none).
        if (column->offsets.size() == 1) shared->stored = column->offsets[0].data() + firstEntry;
      } else if (array->offsets != shared->offsets) {
        // Same declared list, different lengths: find the first event that differs.
        const auto& a = *shared->offsets;
        const auto& b = *array->offsets;
        for (std::size_t e = 0; e + 1 < std::min(a.size(), b.size()); ++e)
          if (a[e + 1] - a[e] != b[e + 1] - b[e])
            return core::fail(
                core::Errc::invalid_argument,
                fmt::format("branch '{}' has {} objects in entry {} where other members of list '{}' have {}", name,
                            b[e + 1] - b[e], column->firstEntry + firstEntry + e, listIt->second, a[e + 1] - a[e]));
      }
    }
    if (old) {
      old.mapped() = std::move(*array);  // the map node is reused too
      chunk.arrays.insert(std::move(old));
    } else {
      chunk.arrays.emplace(name, std::move(*array));
    }
  }
  for (const auto& [name, expression] : variables_) {
    auto value = expression.evaluate(chunk);
    if (!value) return core::fail(std::move(value).error().withContext(fmt::format("variable '{}'", name)));
    chunk.arrays.emplace(name, std::move(*value));
  }
  return chunk;
}

core::Result<std::vector<std::uint8_t>> Plan::select(const Chunk& chunk) const {
  std::vector<std::uint8_t> mask(chunk.entries, 1);
  if (!selection_) return mask;
  auto value = selection_->evaluate(chunk);
  if (!value) return core::fail(std::move(value).error().withContext("selection"));
  for (std::size_t e = 0; e < chunk.entries; ++e)
    mask[e] = value->values[e] != 0 && !std::isnan(value->values[e]) ? 1 : 0;
  return mask;
}

core::Result<std::vector<float>> Plan::labels(const Chunk& chunk, std::optional<double> fileLabel) const {
  std::vector<float> out(chunk.entries, static_cast<float>(fileLabel.value_or(0)));
  if (!label_) return out;
  auto value = label_->evaluate(chunk);
  if (!value) return core::fail(std::move(value).error().withContext("label"));
  for (std::size_t e = 0; e < chunk.entries; ++e) out[e] = static_cast<float>(value->values[e]);
  return out;
}

core::Result<std::vector<float>> Plan::weights(const Chunk& chunk) const {
  std::vector<float> out(chunk.entries, 1.0F);
  if (!weight_) return out;
  auto value = weight_->evaluate(chunk);
  if (!value) return core::fail(std::move(value).error().withContext("weight"));
  for (std::size_t e = 0; e < chunk.entries; ++e) out[e] = static_cast<float>(value->values[e]);
  return out;
}

std::vector<std::uint64_t> Plan::splitKeys(std::span<const root::Column> columns, std::uint64_t fileKey,
                                           std::uint64_t firstEntry, std::size_t entries) const {
  return splitKeys(columns, fileKey, firstEntry, entries, 0);
}

std::vector<std::uint64_t> Plan::splitKeys(std::span<const root::Column> columns, std::uint64_t fileKey,
                                           std::uint64_t firstEntry, std::size_t entries,
                                           std::size_t columnFirst) const {
  std::vector<std::uint64_t> keys(entries);
  if (splitIds_.empty()) {
    for (std::size_t e = 0; e < entries; ++e) keys[e] = mix64(fileKey ^ mix64(firstEntry + e));
    return keys;
  }
  for (auto& key : keys) key = 0x6d6c616173ULL;
  for (const auto& id : splitIds_) {
    const root::Column* column = nullptr;
    for (const auto& candidate : columns)
      if (candidate.name == id) column = &candidate;
    if (column == nullptr) continue;
    const std::size_t width = root::dtypeSize(column->type);
    for (std::size_t e = 0; e < entries && (columnFirst + e + 1) * width <= column->data.size(); ++e) {
      std::uint64_t raw = 0;
      std::memcpy(&raw, column->data.data() + (columnFirst + e) * width, std::min<std::size_t>(width, sizeof raw));
      keys[e] = mix64(keys[e] ^ raw);
    }
  }
  return keys;
}

}  // namespace mlaas::data
