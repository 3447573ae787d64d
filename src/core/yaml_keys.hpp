#pragma once
// Duplicate keys in YAML mappings. yaml-cpp keeps both entries of `a: 1` / `a: 2` and `node["a"]`
// silently returns the first, so a config with a repeated block (a second `features:` or
// `listen:`) would lose the user's later settings without a word. Every config parser (data,
// train, serve) checks its document with findDuplicateKey right after parsing and reports the
// key in its own error style.
//
// Header-only on purpose: mlaas::core does not link yaml-cpp; only the modules that parse YAML
// (and so already link it) include this header.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <unordered_map>

namespace mlaas::core {

/// A key that appears twice in one mapping. Lines and columns are 1-based (0: unknown).
struct DuplicateYamlKey {
  std::string key;   ///< the key path, e.g. "inputs.tree" or "features"
  int line = 0;      ///< where the repeated key is
  int column = 0;
  int firstLine = 0;  ///< where the same key first appeared
};

namespace detail {
inline std::optional<DuplicateYamlKey> findDuplicateKeyIn(const YAML::Node& node, const std::string& prefix,
                                                          int depth) {
  if (depth > 256) return std::nullopt;  // hostile nesting: the parsers' own checks refuse it
  if (node.IsMap()) {
    std::unordered_map<std::string, int> seen;  // key -> first line
    for (const auto& entry : node) {
      const auto& keyNode = entry.first;
      const std::string key = keyNode.IsScalar() ? keyNode.Scalar() : std::string("<complex key>");
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      const auto mark = keyNode.Mark();
      const int line = mark.line >= 0 ? mark.line + 1 : 0;
      if (auto [it, inserted] = seen.emplace(key, line); !inserted)
        return DuplicateYamlKey{path, line, mark.column >= 0 ? mark.column + 1 : 0, it->second};
      if (auto inner = findDuplicateKeyIn(entry.second, path, depth + 1)) return inner;
    }
  } else if (node.IsSequence()) {
    std::size_t index = 0;
    for (const auto& item : node) {
      if (auto inner = findDuplicateKeyIn(item, prefix + "[" + std::to_string(index++) + "]", depth + 1)) return inner;
    }
  }
  return std::nullopt;
}
}  // namespace detail

/// The first key repeated within one mapping anywhere in `document`, in document order.
[[nodiscard]] inline std::optional<DuplicateYamlKey> findDuplicateKey(const YAML::Node& document) {
  return detail::findDuplicateKeyIn(document, "", 0);
}

/// "duplicate key 'inputs.tree' (first at line 3)": the text every parser puts after its location.
[[nodiscard]] inline std::string describe(const DuplicateYamlKey& duplicate) {
  std::string text = "duplicate key '" + duplicate.key + "'";
  if (duplicate.firstLine > 0) text += " (first at line " + std::to_string(duplicate.firstLine) + ")";
  text += ": a later value would be silently ignored";
  return text;
}

}  // namespace mlaas::core
