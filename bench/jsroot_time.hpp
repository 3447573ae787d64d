// JSROOT as the benchmarks' peer: runs one of the tests' dump scripts with --time (node, JSROOT
// from .deps/node_modules/jsroot) and returns the seconds it printed, the best of its passes over
// the same data in one process (so JavaScript's warm-up is not counted against it), or -1 when
// node, JSROOT or the answer is missing.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace mlaas::bench {

/// `script` is relative to the source tree (tests/root/jsroot_dump.mjs for TTrees,
/// tests/root/jsroot_rntuple_dump.mjs for RNTuples); `object` the tree or RNTuple.
inline double jsrootSeconds(const std::string& sourceDir, const std::string& script, const std::string& file,
                            const std::string& object, const std::vector<std::string>& names) {
  const std::filesystem::path src = sourceDir;
  const auto jsroot = src / ".deps/node_modules/jsroot";
  if (!std::filesystem::exists(jsroot) || names.empty()) return -1;
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
  const auto cmd = fmt::format("node '{}' '{}' '{}' '{}' '{}' --time 2>/dev/null", (src / script).string(),
                               jsroot.string(), file, object, list);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512] = {};
  const auto n = fread(buf, 1, sizeof(buf) - 1, p);
  pclose(p);
  const std::string out(buf, n);
  const auto at = out.find("\"seconds\":");
  return at == std::string::npos ? -1 : std::stod(out.substr(at + 10));
}

}  // namespace mlaas::bench
