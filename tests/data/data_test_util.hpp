// Builders for synthetic trees in the data tests: Columns as the reader would produce them.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "data/config.hpp"
#include "data/dataset.hpp"
#include "root/column.hpp"

namespace mlaas::data::testing {

/// The message of the error that parsing `yaml` as test.yaml (folder /data) throws, or "no error".
inline std::string configError(const std::string& yaml) {
  try {
    (void)DatasetConfig::parse(yaml, "test.yaml", "/data");
  } catch (const core::Exception& e) {
    return e.what();
  }
  return "no error";
}

template <class T>
void putValues(root::Column& column, const std::vector<T>& values) {
  column.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(column.data.data(), values.data(), column.data.size());
}

inline root::Column flatColumn(const std::string& name, const std::vector<float>& values) {
  root::Column column;
  column.name = name;
  column.type = root::DType::float32;
  column.entries = values.size();
  putValues(column, values);
  return column;
}

inline root::Column intColumn(const std::string& name, const std::vector<std::int32_t>& values) {
  root::Column column;
  column.name = name;
  column.type = root::DType::int32;
  column.entries = values.size();
  putValues(column, values);
  return column;
}

inline root::Column jaggedColumn(const std::string& name, const std::vector<std::vector<float>>& lists) {
  root::Column column;
  column.name = name;
  column.type = root::DType::float32;
  column.entries = lists.size();
  std::vector<std::uint64_t> offsets{0};
  std::vector<float> values;
  for (const auto& list : lists) {
    values.insert(values.end(), list.begin(), list.end());
    offsets.push_back(values.size());
  }
  column.offsets.push_back(offsets);
  putValues(column, values);
  return column;
}

}  // namespace mlaas::data::testing
