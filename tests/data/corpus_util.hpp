// Shared by the data tests on real files: references made from the reader's columns alone, and a
// config loaded the way `mlaas stats` then `mlaas batches` load it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "root/column.hpp"

namespace mlaas::data::testing {

/// One branch or field as per-event lists of doubles (scalars: lists of one).
using Lists = std::vector<std::vector<double>>;

inline std::map<std::string, Lists> listsOf(const std::vector<root::Column>& columns) {
  std::map<std::string, Lists> out;
  for (const auto& column : columns) {
    auto array = toArray(column).value();
    Lists lists(column.entries);
    for (std::size_t e = 0; e < column.entries; ++e) {
      if (array.isJagged())
        lists[e].assign(array.values.begin() + static_cast<std::ptrdiff_t>((*array.offsets)[e]),
                        array.values.begin() + static_cast<std::ptrdiff_t>((*array.offsets)[e + 1]));
      else
        lists[e] = {array.values[e]};
    }
    out[column.name] = std::move(lists);
  }
  return out;
}

struct Loaded {
  Inputs inputs;
  std::shared_ptr<const Plan> plan;
  Specs specs;
  std::shared_ptr<const Transform> transform;
};

/// Parses `yaml` as `configName` in folder `base`, opens the inputs, plans, computes the specs.
inline Loaded load(const std::string& yaml, const std::string& base, const std::string& configName) {
  auto config = DatasetConfig::parse(yaml, configName, base);
  Loaded l;
  l.inputs = openInputs(config);
  l.plan = Plan::build(config, l.inputs.schema);
  l.specs = computeSpecs(*l.plan, l.inputs);
  l.transform = std::make_shared<const Transform>(l.plan, l.specs);
  return l;
}

/// Every row of one epoch (default options), in order, in one batch.
inline Batch epoch(const Loaded& l) {
  Dataset dataset(l.plan, l.transform, l.inputs, {});
  Batch all = l.transform->makeBatch();
  while (const Batch* batch = dataset.next().value())
    for (std::size_t r = 0; r < batch->rows; ++r) all.appendRow(*batch, r);
  return all;
}

}  // namespace mlaas::data::testing
