// A synthetic, NanoAOD-like labelled sample for demos, tests and benchmarks (a fresh clone has no
// corpus): a heavy resonance (Z', 500 GeV) decaying to two jets or two muons against QCD multijet
// and Drell-Yan-like background. Overlapping distributions make it learnable but not trivial (see
// docs/root-format.md, "Writing"). Deterministic for a seed, whatever the number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "root/column.hpp"
#include "root/writer.hpp"

namespace mlaas::core {
class ThreadPool;
}

namespace mlaas::root {

struct GenerateOptions {
  std::uint64_t events = 100000;
  std::uint64_t seed = 1;
  /// Probability that an event is signal (label 1).
  double signalFraction = 0.5;
  std::string treeName = "Events";
  /// Compression, baskets and clusters; `pool` and `reproducible` are set by generateFile.
  WriteOptions write;
  /// Threads for generation and compression (0: run everything in the caller).
  std::size_t threads = 0;
};

struct GenerateStats {
  std::uint64_t events = 0;
  std::uint64_t signalEvents = 0;
  std::uint64_t fileBytes = 0;
  double seconds = 0;
};

/// Events are generated in chunks of this many; a chunk's values depend only on (seed, chunk).
inline constexpr std::uint64_t kGenerateChunk = 16384;

/// The branches of the generated tree, in file order (counters are added by the writer).
[[nodiscard]] std::vector<BranchSpec> generatedBranches();

/// The columns of events [chunk*kGenerateChunk, +count), count <= kGenerateChunk.
[[nodiscard]] std::vector<Column> generateChunk(std::uint64_t seed, std::uint64_t chunk, std::uint64_t count,
                                                double signalFraction);

/// Generates options.events events into `path` (written atomically, see FileWriter). Throws
/// core::Exception for bad options (invalid_argument) or an unwritable path (io / not_found).
GenerateStats generateFile(const std::string& path, const GenerateOptions& options);

}  // namespace mlaas::root
