#include "data/json_events.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "root/dtype_visit.hpp"

namespace mlaas::data {

namespace {

using nlohmann::json;
using root::DType;

std::string_view kindOf(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "a list";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "not a number";
  }
}

template <class T>
void put(std::vector<std::byte>& out, T value) {
  const auto at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &value, sizeof(T));
}

template <class T>
bool putInteger(std::vector<std::byte>& out, const json& value) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
    put<T>(out, static_cast<T>(v));
    return true;
  }
  if (value.is_number_integer()) {
    const auto v = value.get<std::int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (v < 0 || static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        return false;
    } else {
      if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
          v > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
        return false;
    }
    put<T>(out, static_cast<T>(v));
    return true;
  }
  // 2.0 is accepted for an integer branch (JSON writers often print integers that way); 2.5 is not.
  const double v = value.get<double>();
  if (!std::isfinite(v) || std::trunc(v) != v) return false;
  // max() rounds up to 2^digits as a double (2^64 for uint64), so the upper bound is exclusive.
  if (v < static_cast<double>(std::numeric_limits<T>::lowest()) || v >= std::ldexp(1.0, std::numeric_limits<T>::digits))
    return false;
  put<T>(out, static_cast<T>(v));
  return true;
}

/// Appends one value of `type`; false with `why` filled when the JSON value does not fit.
bool appendValue(std::vector<std::byte>& out, DType type, const json& value, std::string& why) {
  if (type == DType::boolean) {
    if (value.is_boolean()) {
      put<std::uint8_t>(out, value.get<bool>() ? 1 : 0);
      return true;
    }
    if (value.is_number() && (value.get<double>() == 0 || value.get<double>() == 1)) {
      put<std::uint8_t>(out, value.get<double>() != 0 ? 1 : 0);
      return true;
    }
    why = fmt::format("expected true, false, 0 or 1, got {}",
                      value.is_number() ? value.dump() : std::string(kindOf(value)));
    return false;
  }
  if (value.is_null() && (type == DType::float32 || type == DType::float64)) {  // JSON has no NaN
    if (type == DType::float32)
      put<float>(out, std::numeric_limits<float>::quiet_NaN());
    else
      put<double>(out, std::numeric_limits<double>::quiet_NaN());
    return true;
  }
  if (!value.is_number()) {
    why = fmt::format("expected a number ({}), got {}", root::dtypeName(type), kindOf(value));
    return false;
  }
  bool ok = true;
  const bool numeric = root::visitNumeric(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>)
      put<T>(out, static_cast<T>(value.get<double>()));
    else
      ok = putInteger<T>(out, value);
  });
  if (!numeric) {
    why = fmt::format("branches of type {} cannot be given as JSON", root::dtypeName(type));
    return false;
  }
  if (!ok) why = fmt::format("{} is not a valid {} value", value.dump(), root::dtypeName(type));
  return ok;
}

template <class T>
void writeValue(std::string& out, const std::byte* data, std::size_t index) {
  T value;
  std::memcpy(&value, data + index * sizeof(T), sizeof(T));
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) {
      out += "null";  // JSON has no NaN/inf; null reads back as NaN
      return;
    }
    fmt::format_to(std::back_inserter(out), "{}", value);  // shortest text that reads back exactly
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", value);
  }
}

void writeElement(std::string& out, const root::Column& column, std::size_t index) {
  const auto* data = column.data.data();
  if (column.type == DType::boolean) {
    std::uint8_t v = 0;
    std::memcpy(&v, data + index, 1);
    out += v != 0 ? "true" : "false";
  } else if (!root::visitNumeric(column.type, [&](auto tag) { writeValue<decltype(tag)>(out, data, index); })) {
    out += "null";  // strings are not part of the events format
  }
}

}  // namespace

core::Result<JsonEvents> columnsFromJsonEvents(std::string_view text, const TreeSchema& schema,
                                               std::span<const std::string> branches, std::size_t maxEvents) {
  const json body = json::parse(text, nullptr, false);
  if (body.is_discarded()) return core::fail(core::Errc::invalid_argument, "the body is not valid JSON");
  const json* events = &body;
  if (body.is_object()) {
    auto it = body.find("events");
    if (it == body.end())
      return core::fail(core::Errc::invalid_argument,
                        "the body has no \"events\" key (give {\"events\": [{branch: value, ...}, ...]})");
    events = &*it;
  }
  if (!events->is_array())
    return core::fail(core::Errc::invalid_argument,
                      fmt::format("\"events\" must be a list of event objects, got {}", kindOf(*events)));
  if (events->empty()) return core::fail(core::Errc::invalid_argument, "no events given");
  if (events->size() > maxEvents)
    return core::fail(
        core::Errc::resource_exhausted,
        fmt::format("{} events in one request; the limit is {} (send several requests)", events->size(), maxEvents));

  JsonEvents out;
  out.events = events->size();
  std::vector<const BranchInfo*> infos;
  for (const auto& name : branches) {
    const BranchInfo* info = nullptr;
    for (const auto& candidate : schema)
      if (candidate.name == name) info = &candidate;
    if (info == nullptr)
      return core::fail(core::Errc::internal, fmt::format("branch '{}' is not in the model's schema", name));
    infos.push_back(info);
    root::Column column;
    column.name = name;
    column.type = info->type;
    column.entries = out.events;
    if (!info->list.empty()) column.offsets.assign(1, std::vector<std::uint64_t>{0});
    out.columns.push_back(std::move(column));
  }

  std::string why;
  for (std::size_t e = 0; e < out.events; ++e) {
    const json& event = (*events)[e];
    if (!event.is_object())
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("event {}: expected an object of branches, got {}", e, kindOf(event)));
    // Per list: the first branch seen and its length, to catch ragged members.
    std::map<std::string_view, std::pair<std::string_view, std::size_t>> lengths;
    for (std::size_t b = 0; b < infos.size(); ++b) {
      const auto& info = *infos[b];
      auto& column = out.columns[b];
      auto it = event.find(info.name);
      if (it == event.end())
        return core::fail(core::Errc::invalid_argument, fmt::format("event {}: branch '{}' is missing", e, info.name));
      const json& value = *it;
      if (info.list.empty()) {
        if (!appendValue(column.data, info.type, value, why))
          return core::fail(core::Errc::invalid_argument, fmt::format("event {}: branch '{}': {}", e, info.name, why));
        continue;
      }
      if (!value.is_array())
        return core::fail(core::Errc::invalid_argument,
                          fmt::format("event {}: branch '{}' holds a list per event (of '{}'), got {}", e, info.name,
                                      info.list, kindOf(value)));
      for (std::size_t k = 0; k < value.size(); ++k)
        if (!appendValue(column.data, info.type, value[k], why))
          return core::fail(core::Errc::invalid_argument,
                            fmt::format("event {}: branch '{}'[{}]: {}", e, info.name, k, why));
      auto& offsets = column.offsets[0];
      offsets.push_back(offsets.back() + value.size());
      auto [seen, inserted] = lengths.try_emplace(info.list, info.name, value.size());
      if (!inserted && seen->second.second != value.size())
        return core::fail(
            core::Errc::invalid_argument,
            fmt::format("event {}: branch '{}' has {} values but '{}' has {} (both are per object of '{}')", e,
                        info.name, value.size(), seen->second.first, seen->second.second, info.list));
    }
    // A counter given beside its lists must agree with them.
    for (const auto& [list, first] : lengths) {
      auto counter = event.find(std::string(list));
      if (counter == event.end() || list == first.first) continue;
      if (!counter->is_number() || counter->get<double>() != static_cast<double>(first.second))
        return core::fail(core::Errc::invalid_argument,
                          fmt::format("event {}: counter '{}' is {} but branch '{}' has {} values", e, list,
                                      counter->dump(), first.first, first.second));
    }
  }
  return out;
}

core::Result<std::string> columnsToJsonEvents(std::span<const root::Column> columns, std::size_t begin,
                                              std::size_t end) {
  for (const auto& column : columns) {
    if (column.type == DType::string || column.offsets.size() > 1 ||
        (!column.offsets.empty() && column.innerSize() != 1))
      return core::fail(core::Errc::unsupported,
                        fmt::format("branch '{}' ({}{}) cannot be sent as JSON events", column.name,
                                    root::dtypeName(column.type), column.offsets.size() > 1 ? ", nested lists" : ""));
    if (end > column.entries)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("branch '{}' has {} entries, not {}", column.name, column.entries, end));
  }
  std::string out = "[";
  out.reserve(64 * (end - begin) * (columns.size() + 1));
  for (std::size_t e = begin; e < end; ++e) {
    out += e == begin ? "{" : ",{";
    bool firstBranch = true;
    for (const auto& column : columns) {
      if (!firstBranch) out += ',';
      firstBranch = false;
      out += json(column.name).dump();
      out += ':';
      const std::size_t inner = column.innerSize();
      if (column.offsets.empty() && inner == 1) {
        writeElement(out, column, e);
        continue;
      }
      std::size_t from = e * inner, to = (e + 1) * inner;
      if (!column.offsets.empty()) {
        from = static_cast<std::size_t>(column.offsets[0][e] - column.offsets[0][0]);
        to = static_cast<std::size_t>(column.offsets[0][e + 1] - column.offsets[0][0]);
      }
      if (to > column.valueCount() || from > to)
        return core::fail(core::Errc::corrupt, fmt::format("branch '{}': offsets point past its values", column.name));
      out += '[';
      for (std::size_t i = from; i < to; ++i) {
        if (i != from) out += ',';
        writeElement(out, column, i);
      }
      out += ']';
    }
    out += '}';
  }
  out += ']';
  return out;
}

}  // namespace mlaas::data
