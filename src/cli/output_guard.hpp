// Refusing an output option that names one of the command's own inputs: `predict --out sample.root`
// with `--root sample.root` or `stats a.yaml -o a.yaml` would replace the data or config being read
// (a writer renames its finished temporary over the path), so the command stops before any work.
#pragma once

#include <fmt/format.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli/command.hpp"
#include "io/source.hpp"

namespace mlaas::cli {

/// A file the command reads, with what it is for the message ("input", "the config").
struct ReadFile {
  std::string role;
  std::string path;
};

/// The local path of `pathOrUrl` (the reader's rule, io::localPathOf: file:///p and
/// file://localhost/p are /p), or empty for a remote URL (nothing local to overwrite).
inline std::filesystem::path localPath(const std::string& pathOrUrl) {
  if (pathOrUrl.rfind("file://", 0) != 0 && pathOrUrl.find("://") != std::string::npos) return {};
  auto local = io::localPathOf(pathOrUrl);
  return local ? std::filesystem::path(*local) : std::filesystem::path();
}

/// True when a and b are one file: the same inode (std::filesystem::equivalent follows symlinks and
/// sees hard links and every spelling), or, when either is not there yet, the same normalised path.
inline bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code error;
  if (std::filesystem::exists(a, error) && std::filesystem::exists(b, error)) {
    const bool same = std::filesystem::equivalent(a, b, error);
    if (!error) return same;
  }
  const auto canonicalA = std::filesystem::weakly_canonical(a, error);
  if (error) return false;
  const auto canonicalB = std::filesystem::weakly_canonical(b, error);
  return !error && canonicalA == canonicalB;
}

/// Usage error (exit 2, nothing written) when `output`, the value of `option`, is one of `inputs`.
inline void refuseOverwritingInputs(const std::string& option, const std::string& output,
                                    const std::vector<ReadFile>& inputs) {
  const auto out = localPath(output);
  if (out.empty()) return;
  for (const auto& input : inputs) {
    const auto in = localPath(input.path);
    if (in.empty() || !sameFile(out, in)) continue;
    usageError(fmt::format("{} {} is {} {} (the same file): writing it would destroy what the command reads; "
                           "choose another output (nothing was written)",
                           option, output, input.role, input.path));
  }
}

}  // namespace mlaas::cli
