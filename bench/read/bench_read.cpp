// bench_read: for each file, every ratio is measured in this run on this machine:
//   - single-thread read throughput / decompress-only throughput of the same baskets (target >= 90%);
//   - the same against a second bound, "decompress-only + one output pass": the decompress-only
//     time plus one byte-swapping copy of every output column's values and one copy of its offsets
//     (what any reader that hands out native values and offsets must write at least once; for
//     stored baskets the first bound is only the fetch, which no such reader can reach);
//   - speed-up of the read from 1 to 2 threads, next to the speed-up of the decompress-only bound
//     and the machine's own: two threads spinning on the same work as one (on a shared or
//     oversubscribed machine 2 cores are not 2x; this measures what this run could get);
//   - JSROOT's time to read the same file and branches / ours (node + .deps/node_modules/jsroot).
// Usage: bench_read [--repeat K] [--no-jsroot] [--profile N] [--kinds] [--scaling N] [FILE...]   (default: the corpus
// files named below)
//   --profile N: nothing but N single-threaded reads of each file, to run under `perf record`
//   (--profile-reuse: readInto the same columns; --profile-bound: the decompress-only bound A;
//   --profile-b: bound B, i.e. A plus the swap pass over one read's columns).
//   --kinds: what each file's read is made of (embedded, stored and compressed baskets).
//   --scaling N: 1 -> 2 threads only: N rounds, each 8 readInto's and 8 bound-A reads on 1 thread
//   then on 2; a round counts only when two spinning threads got 1.8x of one right before and
//   after it (a shared machine); median and best per read of each, and in how many of 8 further
//   2-thread reads a round the pool's worker ran any job (ReadStats::jobsOnWorkers; on a busy
//   machine a worker woken for a ~100 us read is often not scheduled before it ends).
//   --parallel-min NANOS sets the 2-thread reads' ReadOptions::parallelMinNanos (0: always share).
//   --profile-threads T: the --profile-reuse and --profile-bound reads on T threads (a pool of T - 1).
//   --side-by-side CHUNK N: the dataset layer's reads (units of CHUNK entries, one thread each, 1
//   and 2 threads side by side): CPU and baskets decompressed (see printSideBySide).
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_pool.hpp"
#include "../jsroot_time.hpp"
#include "root/cursor.hpp"
#include "root/tree.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Timing {
  double read = 1e300;   ///< Tree::read: fresh columns every time
  double reuse = 1e300;  ///< Tree::readInto the previous repeat's columns (forEachChunk's steady state)
  double decompress = 1e300;
  double swapPass = 1e300;  ///< one byte-swapping copy of every column's values, one copy of its offsets
  std::uint64_t bytes = 0;
};

/// The bytes a read writes: every column's values and offsets.
std::size_t outputBytes(const std::vector<mlaas::root::Column>& cols) {
  std::size_t bytes = 0;
  for (const auto& c : cols) {
    bytes += c.data.size();
    for (const auto& level : c.offsets) bytes += level.size() * sizeof(std::uint64_t);
  }
  return bytes;
}

/// What bound B adds to A: one byte-swapping copy of every column's values and one copy of its
/// offsets into `scratch` (the one pass a reader of native columns must make).
void swapPass(const std::vector<mlaas::root::Column>& cols, std::vector<std::byte>& scratch) {
  scratch.resize(std::max(scratch.size(), outputBytes(cols)));
  std::size_t at = 0;
  for (const auto& c : cols) {
    const auto width = c.type == mlaas::root::DType::string ? 1 : mlaas::root::dtypeSize(c.type);
    mlaas::root::swapCopy(scratch.data() + at, c.data.data(), c.data.size() / width, width);
    at += c.data.size();
    for (const auto& level : c.offsets) {  // jagged columns must write their offsets too
      std::memcpy(scratch.data() + at, level.data(), level.size() * sizeof(std::uint64_t));
      at += level.size() * sizeof(std::uint64_t);
    }
  }
}

/// One and two threads measured alternately in the same loop, so both see the same machine (other
/// processes come and go); the best of `repeat` for each. Within a repeat the three measurements
/// (fresh read + swap pass, reuse, bound) run in an order rotated every repeat, so none always
/// follows the same neighbour (which leaves the caches and the heap in its own state).
std::pair<Timing, Timing> measure(const mlaas::root::Tree& tree, const std::vector<std::string>& names, int repeat) {
  mlaas::core::ThreadPool inlinePool(0), onePool(1);
  mlaas::root::ReadOptions single, dual;
  single.pool = &inlinePool;
  dual.pool = &onePool;
  Timing t1, t2;
  std::vector<std::byte> scratch;
  std::vector<mlaas::root::Column> kept1, kept2;
  const mlaas::root::EntryRange all{0, tree.entries()};
  for (int r = 0; r < repeat; ++r) {
    for (auto* which : {&t1, &t2}) {
      const auto& options = which == &t1 ? single : dual;
      auto fresh = [&] {
        mlaas::root::ReadStats stats;
        auto t0 = Clock::now();
        auto cols = tree.read(names, all, options, &stats);
        which->read = std::min(which->read, since(t0));
        which->bytes = stats.uncompressedBytes;
        if (which != &t1) return;
        const std::size_t outBytes = outputBytes(cols);
        scratch.resize(std::max(scratch.size(), outBytes));
        t0 = Clock::now();
        swapPass(cols, scratch);
        which->swapPass = std::min(which->swapPass, since(t0));
      };
      auto reuse = [&] {
        auto& kept = which == &t1 ? kept1 : kept2;
        const auto t0 = Clock::now();
        tree.readInto(names, all, kept, options);
        which->reuse = std::min(which->reuse, since(t0));
      };
      auto bound = [&] {
        const auto t0 = Clock::now();
        (void)tree.decompressOnly(names, all, options, nullptr);
        which->decompress = std::min(which->decompress, since(t0));
      };
      for (int k = 0; k < 3; ++k) switch ((r + k) % 3) {
          case 0:
            fresh();
            break;
          case 1:
            reuse();
            break;
          default:
            bound();
            break;
        }
    }
  }
  return {t1, t2};
}

/// Chunked reading against one whole read, single-threaded, best of `repeat` each: chunks of a
/// tenth of the tree cut baskets on files of one cluster, and each cut basket should still be
/// decompressed once (kept for the next chunk), so the ratio stays near 1.
struct Chunked {
  double whole = 1e300, chunked = 1e300;
  std::size_t chunks = 0;
  mlaas::root::ReadStats stats;  ///< of one chunked pass
  mlaas::root::ReadStats wholeStats;
};
Chunked measureChunked(const mlaas::root::Tree& tree, const std::vector<std::string>& names, int repeat) {
  Chunked c;
  const auto ranges = tree.chunks(std::max<std::uint64_t>(1, tree.entries() / 10));
  c.chunks = ranges.size();
  std::vector<mlaas::root::Column> kept;
  for (int r = 0; r < repeat; ++r) {
    mlaas::root::ReadStats wholeStats;
    auto t0 = Clock::now();
    tree.readInto(names, {0, tree.entries()}, kept, {}, &wholeStats);
    c.whole = std::min(c.whole, since(t0));
    c.wholeStats = wholeStats;
    mlaas::root::ReadStats stats;
    t0 = Clock::now();
    for (const auto& range : ranges) tree.readInto(names, range, kept, {}, &stats);
    c.chunked = std::min(c.chunked, since(t0));
    c.stats = stats;
  }
  return c;
}

/// Wall time for `threads` threads each spinning through the same fixed work. Every thread runs
/// the same copy of the loop (the caller only waits): when the caller ran an inlined copy of its
/// own, the two copies' code alignment differed from build to build and one could run at half the
/// other's speed, so that some builds measured two free cores as 1.0x.
double spinSeconds(std::size_t threads, std::uint64_t iterations) {
  auto work = [iterations] {
    volatile std::uint64_t x = 0;
    for (std::uint64_t i = 0; i < iterations; ++i) x = x + i;
  };
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (std::size_t k = 0; k < threads; ++k) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  return since(t0);
}

/// What 2 threads can do in this run, relative to 1 (2.0 on two idle cores).
double machineSpeedup(int repeat = 5, std::uint64_t iterations = 20'000'000) {
  double one = 1e300, two = 1e300;
  for (int r = 0; r < repeat; ++r) {
    one = std::min(one, spinSeconds(1, iterations));
    two = std::min(two, spinSeconds(2, iterations));
  }
  return 2 * one / two;
}

/// 1 -> 2 threads of readInto and of bound A, in rounds that alternate the two (each round: 8
/// calls of each on 1 thread, then on 2), so both see the same machine. Per-call wall times.
void printScaling(const std::string& path, int rounds, std::uint64_t parallelMinNanos) {
  const auto file = mlaas::root::File::open(path);
  const auto tree = file->tree(file->treePaths().at(0));
  std::vector<std::string> names;
  for (const auto& b : tree.branches())
    if (b.supported) names.push_back(b.name);
  mlaas::core::ThreadPool inlinePool(0), onePool(1);
  mlaas::root::ReadOptions single, dual;
  single.pool = &inlinePool;
  dual.pool = &onePool;
  dual.parallelMinNanos = parallelMinNanos;
  std::vector<double> reuse[2], bound[2];
  std::vector<mlaas::root::Column> kept[2];
  const mlaas::root::EntryRange all{0, tree.entries()};
  // A round counts only when two spinning threads got two cores just before and just after it
  // (>= 1.8x of one): on a machine shared with other work, the other rounds say nothing about
  // the reader's scaling.
  int counted = 0, sampled = 0, joined = 0;
  for (int r = 0; r < rounds * 20 && counted < rounds; ++r) {
    if (machineSpeedup(1, 2'000'000) < 1.8) continue;
    double roundReuse[2][8], roundBound[2][8];
    int roundSampled = 0, roundJoined = 0;
    for (int t = 0; t < 2; ++t) {
      const auto& options = t == 0 ? single : dual;
      for (int k = 0; k < 8; ++k) {
        auto t0 = Clock::now();
        tree.readInto(names, all, kept[t], options);
        roundReuse[t][k] = since(t0);
      }
      for (int k = 0; k < 8; ++k) {
        auto t0 = Clock::now();
        (void)tree.decompressOnly(names, all, options, nullptr);
        roundBound[t][k] = since(t0);
      }
      // Right after the timed reads (not timed: stats cost a clock read a basket), 8 more on 2
      // threads: in how many did the worker run a job at all (ReadStats::jobsOnWorkers)?
      for (int k = 0; k < 8 && t == 1; ++k) {
        mlaas::root::ReadStats stats;
        tree.readInto(names, all, kept[t], options, &stats);
        if (stats.threads > 1) {
          ++roundSampled;
          roundJoined += stats.jobsOnWorkers > 0;
        }
      }
    }
    if (machineSpeedup(1, 2'000'000) < 1.8) continue;
    ++counted;
    sampled += roundSampled;
    joined += roundJoined;
    for (int t = 0; t < 2; ++t) {
      reuse[t].insert(reuse[t].end(), roundReuse[t], roundReuse[t] + 8);
      bound[t].insert(bound[t].end(), roundBound[t], roundBound[t] + 8);
    }
  }
  mlaas::root::ReadStats dualStats;  // did the cost model share the read (ReadOptions::parallelMinNanos)?
  tree.readInto(names, all, kept[1], dual, &dualStats);
  if (counted == 0) {
    fmt::print("{:<38} shared on {} threads; no round had two free cores\n",
               std::filesystem::path(path).filename().string(), dualStats.threads);
    return;
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto best = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  fmt::print(
      "{:<38} shared on {} threads, {:3} rounds: readInto 1t {:8.1f} us 2t {:8.1f} us 1->2 {:5.2f}x (best {:5.2f}x) | "
      "A 1t {:8.1f} 2t "
      "{:8.1f} 1->2 {:5.2f}x (best {:5.2f}x) | worker joined {}/{} shared reads\n",
      std::filesystem::path(path).filename().string(), dualStats.threads, counted, 1e6 * median(reuse[0]),
      1e6 * median(reuse[1]), median(reuse[0]) / median(reuse[1]), best(reuse[0]) / best(reuse[1]),
      1e6 * median(bound[0]), 1e6 * median(bound[1]), median(bound[0]) / median(bound[1]),
      best(bound[0]) / best(bound[1]), joined, sampled);
}


/// What a whole read of a file's supported branches is made of: baskets embedded in the tree
/// record (no fetch: bound A does nothing for them), stored on disk (A = the fetch, a copy) and
/// compressed (A = fetch + decompress), with their payload bytes, and how many columns are jagged.
void printKinds(const std::string& path) {
  const auto file = mlaas::root::File::open(path);
  if (file->treePaths().empty()) {  // an RNTuple file, say
    fmt::print("{}: no TTree\n", std::filesystem::path(path).filename().string());
    return;
  }
  const auto tree = file->tree(file->treePaths().at(0));
  std::vector<std::string> names;
  std::size_t jagged = 0;
  for (const auto& b : tree.branches())
    if (b.supported) {
      names.push_back(b.name);
      jagged += b.jaggedLevels > 0;
    }
  const auto plan = tree.plan(names, {0, tree.entries()});
  struct Kind {
    std::size_t baskets = 0;
    std::uint64_t bytes = 0;  ///< on disk (embedded: the branch's uncompressed share)
  } embedded, stored, compressed;
  auto& source = *file->source();
  for (const auto& pb : plan.baskets) {
    if (pb.bytes.size == 0) {
      ++embedded.baskets;
      continue;
    }
    auto record = source.readRange(pb.bytes.offset, pb.bytes.size);
    if (!record) continue;
    const auto key = mlaas::root::parseKey(*record, pb.bytes.offset, path);
    auto& kind = key.compressed() ? compressed : stored;
    ++kind.baskets;
    kind.bytes += key.nbytes;
  }
  fmt::print(
      "{}: {} branches ({} jagged), {} entries; baskets: {} embedded, {} stored ({} bytes), {} compressed ({} "
      "bytes on disk)\n",
      std::filesystem::path(path).filename().string(), names.size(), jagged, tree.entries(), embedded.baskets,
      stored.baskets, stored.bytes, compressed.baskets, compressed.bytes);
}

/// CPU seconds of the whole process (every thread).
double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// --side-by-side CHUNK N: what the dataset layer's threads do (data::readOnlySeconds): the tree cut
/// into units of CHUNK entries within clusters, each unit read whole by one thread (readInto its
/// own columns, no pool in the read), 1 and then 2 threads, alternated, N passes each. Neighbouring
/// units share baskets (PartialBaskets keeps the one a unit cuts for its neighbour), so two threads
/// may decompress a basket twice; the CPU and the baskets decompressed say what the second thread
/// costs beyond its work.
void printSideBySide(const std::string& path, std::uint64_t chunk, int passes) {
  const auto file = mlaas::root::File::open(path);
  const auto tree = file->tree(file->treePaths().at(0));
  std::vector<std::string> names;
  for (const auto& b : tree.branches())
    if (b.supported) names.push_back(b.name);
  // Units as data::unitsOfFile cuts them: clusters, a cluster over 2 CHUNK split in CHUNKs.
  std::vector<mlaas::root::EntryRange> units;
  auto bounds = tree.clusterBoundaries();
  if (bounds.empty() || bounds.back() != tree.entries()) bounds = {0, tree.entries()};
  std::uint64_t begin = 0;
  for (std::size_t i = 1; i < bounds.size(); ++i) {
    while (bounds[i] - begin > 2 * chunk) {
      units.push_back({begin, begin + chunk});
      begin += chunk;
    }
    if (bounds[i] - begin >= chunk || i + 1 == bounds.size()) {
      if (bounds[i] > begin) units.push_back({begin, bounds[i]});
      begin = bounds[i];
    }
  }
  struct Pass {
    double cpu = 1e300, wall = 1e300;
    mlaas::root::ReadStats stats;
  };
  Pass best[2];
  std::vector<std::vector<mlaas::root::Column>> sets(2);
  for (int p = 0; p < passes; ++p)
    for (std::size_t threads = 1; threads <= 2; ++threads) {
      std::vector<mlaas::root::ReadStats> stats(threads);
      const double cpu0 = cpuSeconds();
      const auto t0 = Clock::now();
      {
        mlaas::core::ThreadPool pool(threads - 1);  // made per pass, as the dataset layer does
        std::atomic<std::size_t> next{0};
        pool.parallelForParts(std::vector<std::size_t>{0, 1, threads}, [&](std::size_t t) {
          for (std::size_t u = next++; u < units.size(); u = next++)
            tree.readInto(names, units[u], sets[t], {}, &stats[t]);
        });
      }
      const double wall = since(t0), cpu = cpuSeconds() - cpu0;
      auto& b = best[threads - 1];
      if (cpu < b.cpu) {
        b.cpu = cpu;
        b.stats = {};
        for (const auto& s : stats) {
          b.stats.baskets += s.baskets;
          b.stats.basketsReused += s.basketsReused;
          b.stats.uncompressedBytes += s.uncompressedBytes;
          b.stats.decompressSeconds += s.decompressSeconds;
        }
      }
      b.wall = std::min(b.wall, wall);
    }
  fmt::print("{}: {} units of ~{} entries, {} branches, best of {} passes\n",
             std::filesystem::path(path).filename().string(), units.size(), chunk, names.size(), passes);
  for (int k = 0; k < 2; ++k)
    fmt::print("  {} thread(s): cpu {:.1f} ms, wall {:.1f} ms, baskets {} (reused {}, decompressed {})\n", k + 1,
               best[k].cpu * 1e3, best[k].wall * 1e3, best[k].stats.baskets, best[k].stats.basketsReused,
               best[k].stats.baskets - best[k].stats.basketsReused);
  fmt::print("  2 threads' cpu / 1 thread's: {:.3f}x; wall 1 -> 2: {:.2f}x\n", best[1].cpu / best[0].cpu,
             best[0].wall / best[1].wall);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  int repeat = 20;
  int profile = 0;          ///< --profile N: only N single-threaded reads of each file (for perf record)
  std::string profileWhat;  ///< --profile: read; --profile-reuse: readInto; --profile-bound: decompressOnly
  bool jsroot = true;
  bool kinds = false;  ///< --kinds: what kinds of baskets each file's read touches, then exit
  int scaling = 0;     ///< --scaling N: only the 1 -> 2 thread figures, N rounds
  std::uint64_t sideChunk = 0;  ///< --side-by-side CHUNK N: units read side by side (N passes)
  int sidePasses = 0;
  std::size_t profileThreads = 1;  ///< --profile-threads T: the --profile reads on T threads (readInto, bound A)
  std::uint64_t parallelMin = mlaas::root::ReadOptions{}.parallelMinNanos;  ///< --parallel-min NANOS (scaling)
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--kinds") {
      kinds = true;
    } else if (arg == "--scaling" && i + 1 < argc) {
      scaling = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--profile-threads" && i + 1 < argc) {
      profileThreads = static_cast<std::size_t>(std::max(1, std::atoi(argv[++i])));
    } else if (arg == "--side-by-side" && i + 2 < argc) {
      sideChunk = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
      sidePasses = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--parallel-min" && i + 1 < argc) {
      parallelMin = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--no-jsroot") {
      jsroot = false;
    } else if ((arg == "--profile" || arg == "--profile-reuse" || arg == "--profile-bound" || arg == "--profile-b") &&
               i + 1 < argc) {
      profile = std::max(1, std::atoi(argv[++i]));
      profileWhat = arg;
    } else if (arg.rfind("--", 0) == 0) {
      fmt::print(stderr,
                 "usage: bench_read [--repeat K] [--no-jsroot] [--profile[-reuse|-bound|-b] N] [--kinds] [--scaling N] "
                 "[--parallel-min NANOS] [--side-by-side CHUNK N] [--profile-threads T] [FILE...]\n");
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    const std::filesystem::path dir = std::filesystem::path(MLAAS_BENCH_TESTDATA) / "root";
    for (const char* f : {"uproot-issue79.root", "uproot-HZZ-uncompressed.root", "uproot-HZZ-zlib.root",
                          "uproot-HZZ-lzma.root", "uproot-HZZ-lz4.root", "uproot-HZZ-zstd.root",
                          "nanoAOD_2015_CMS_Open_Data_ttbar.root"})
      files.push_back((dir / f).string());
  }
  if (kinds) {
    for (const auto& path : files) printKinds(path);
    return 0;
  }
  if (sidePasses > 0) {
    for (const auto& path : files) printSideBySide(path, sideChunk, sidePasses);
    return 0;
  }
  if (scaling > 0) {
    fmt::print("1 -> 2 threads on this machine now (two threads spinning vs one): {:.2f}x\n", machineSpeedup());
    for (const auto& path : files) printScaling(path, scaling, parallelMin);
    return 0;
  }
  if (profile > 0) {
    for (const auto& path : files) {
      const auto file = mlaas::root::File::open(path);
      const auto tree = file->tree(file->treePaths().at(0));
      std::vector<std::string> names;
      for (const auto& b : tree.branches())
        if (b.supported) names.push_back(b.name);
      std::vector<mlaas::root::Column> kept;
      std::vector<std::byte> scratch;
      mlaas::core::ThreadPool pool(profileThreads - 1);
      mlaas::root::ReadOptions options;
      options.pool = &pool;
      if (profileWhat == "--profile-b") kept = tree.read(names, {0, tree.entries()});
      for (int r = 0; r < profile; ++r) {
        if (profileWhat == "--profile-b") {  // bound B: A, then the swap pass over a read's columns
          (void)tree.decompressOnly(names, {0, tree.entries()}, {}, nullptr);
          swapPass(kept, scratch);
        } else if (profileWhat == "--profile-reuse")
          tree.readInto(names, {0, tree.entries()}, kept, options);
        else if (profileWhat == "--profile-bound")
          (void)tree.decompressOnly(names, {0, tree.entries()}, options, nullptr);
        else
          (void)tree.read(names, {0, tree.entries()});
      }
    }
    return 0;
  }
  fmt::print(
      "best of {}; bound A = decompress-only (fetch + decompress, no decode); bound B = A + one pass writing\n"
      "the output (a byte-swapping copy of every column's values, a copy of its offsets: the one pass a reader\n"
      "of native columns cannot avoid)\n",
      repeat);
  const double machine = machineSpeedup();
  fmt::print("1 -> 2 threads on this machine now (two threads spinning vs one): {:.2f}x\n", machine);
  fmt::print(
      "read: Tree::read into fresh columns; reuse: Tree::readInto the previous repeat's columns (what\n"
      "forEachChunk does from its second chunk on; bound A's decompression buffers are kept per thread too)\n");
  fmt::print("{:<38} {:>6} {:>9} {:>7} {:>7} {:>10} {:>8} {:>8} {:>9} {:>8} {:>9} {:>11}\n",
             "file (all supported branches)", "MB", "read MB/s", "read/A", "read/B", "reuse MB/s", "reuse/A", "reuse/B",
             "reuse 1>2", "A 1>2", "JSROOT s", "JSROOT/ours");
  for (const auto& path : files) {
    try {
      const auto file = mlaas::root::File::open(path);
      const auto treePath = file->treePaths().at(0);
      const auto tree = file->tree(treePath);
      std::vector<std::string> names;
      for (const auto& b : tree.branches())
        if (b.supported) names.push_back(b.name);
      const auto [one, two] = measure(tree, names, repeat);
      const double js = jsroot ? mlaas::bench::jsrootSeconds(MLAAS_BENCH_SOURCE_DIR, "tests/root/jsroot_dump.mjs", path, treePath, names) : -1;
      const double mb = static_cast<double>(one.bytes) / 1e6;
      fmt::print(
          "{:<38} {:>6.2f} {:>9.1f} {:>6.1f}% {:>6.1f}% {:>10.1f} {:>7.1f}% {:>7.1f}% {:>8.2f}x {:>7.2f}x {:>9} "
          "{:>11}\n",
          std::filesystem::path(path).filename().string(), mb, mb / one.read, 100 * one.decompress / one.read,
          100 * (one.decompress + one.swapPass) / one.read, mb / one.reuse, 100 * one.decompress / one.reuse,
          100 * (one.decompress + one.swapPass) / one.reuse, one.reuse / two.reuse, one.decompress / two.decompress,
          js < 0 ? std::string("n/a") : fmt::format("{:.3f}", js),
          js < 0 ? std::string("n/a") : fmt::format("{:.1f}x", js / one.read));
    } catch (const std::exception& e) {
      fmt::print("{}: error: {}\n", path, e.what());
    }
  }
  fmt::print(
      "\nchunked: readInto over tree.chunks(entries / 10) against one readInto of the whole tree (1 thread);\n"
      "baskets cut by a chunk are kept decompressed for the next one (reused)\n");
  fmt::print("{:<38} {:>6} {:>8} {:>7} {:>14} {:>20}\n", "file", "chunks", "baskets", "reused", "chunked/whole",
             "fetched chunked/whole");
  for (const auto& path : files) {
    try {
      const auto file = mlaas::root::File::open(path);
      const auto tree = file->tree(file->treePaths().at(0));
      std::vector<std::string> names;
      for (const auto& b : tree.branches())
        if (b.supported) names.push_back(b.name);
      const auto c = measureChunked(tree, names, repeat);
      // Bytes the chunks plan to fetch (ReadStats::compressedBytes) against one whole read: a
      // decompressed basket kept from the chunk before is left out; a cut stored basket is not, as
      // this local file is mapped and the next chunk reads it from the mapping again (a remote
      // source keeps it as fetched, so there each stored basket is fetched once).
      fmt::print("{:<38} {:>6} {:>8} {:>7} {:>13.2f}x {:>19.2f}x\n", std::filesystem::path(path).filename().string(),
                 c.chunks, c.stats.baskets, c.stats.basketsReused, c.chunked / c.whole,
                 static_cast<double>(c.stats.compressedBytes) /
                     static_cast<double>(std::max<std::uint64_t>(c.wholeStats.compressedBytes, 1)));
    } catch (const std::exception& e) {
      fmt::print("{}: error: {}\n", path, e.what());
    }
  }
  return 0;
}
