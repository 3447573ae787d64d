// bench_data CONFIG...: for each dataset config, times (best of `repeat`, interleaved so that
// caches and machine load hit all alike) reading the plan's branches alone, pass 1 (stats) and
// pass 2 (epochs of batches over one prepared Dataset: the first epoch, which allocates buffers,
// and later ones), and prints each as events/s and as a ratio to the raw read and to
// MLaaS4HEP's ~1,000 events/s. The one-time set-up (config, open, plan, transform, pipeline
// object) is reported apart, in microseconds. Two floors say what the shuffle costs and what no
// loader could go under: an epoch with the shuffle off (no random draws, rows copied in file
// order), and the read plus one sequential write of the epoch's output bytes into recycled
// batch buffers (what any loader that materialises batches pays at least).
//
// CPU ratios are taken over the read's CPU on ONE thread: the reader keeps one partly used basket
// per branch for the read of the next range, shared by every thread, so reads of several ranges
// at once evict each other's and decompress baskets twice (on the 1M-event file with 2 threads,
// 27-44% more bytes through zstd than one thread reads). That duplicated work is the reader's, not
// the passes', and varies with timing; over the 1-thread read it no longer flatters the ratio.
// `r cpu` shows it: the threaded read's CPU over the 1-thread read's.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "core/thread_pool.hpp"
#include "data/dataset.hpp"

namespace {

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU seconds of the whole process (every thread): on a loaded machine the wall time of a
// 2-thread pass depends on the scheduler, the CPU time much less.
double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mlaas::data;
  if (argc < 2) {
    std::cerr << "usage: bench_data CONFIG.yaml... (env BENCH_REPEAT, default 3)\n";
    return 2;
  }
  const int repeat = std::getenv("BENCH_REPEAT") ? std::max(1, std::atoi(std::getenv("BENCH_REPEAT"))) : 3;
  std::cout << fmt::format(
      "{:<28} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} "
      "{:>7} {:>7}\n",
      "config", "events", "read ev/s", "stats ev/s", "epoch ev/s", "1st ev/s", "stats/r", "s cpu", "epoch/r", "e cpu",
      "1st/r", "1st cpu", "x 1 kHz", "open us", "plan us", "prep us", "noshuf", "floor", "r cpu");
  try {
    for (int a = 1; a < argc; ++a) {
      // One-time set-up, paid once per dataset: config, opening the files, the plan (names,
      // types, expressions), the transform's layout and the pipeline object.
      double cpu = cpuSeconds();
      auto start = std::chrono::steady_clock::now();
      auto config = DatasetConfig::load(argv[a]);
      auto inputs = openInputs(config);
      const double openSeconds = since(start);
      start = std::chrono::steady_clock::now();
      auto plan = Plan::build(config, inputs.schema);
      const double planSeconds = since(start);
      const std::uint64_t events = totalEntries(inputs);
      const std::size_t threads = passThreads(0, config, events);  // the passes' own rule, for the raw read too
      double read = 1e300, stats = 1e300, epoch = 1e300, first = 1e300;
      double readCpu = 1e300, threadedReadCpu = 1e300, statsCpu = 1e300, epochCpu = 1e300, firstCpu = 1e300,
             prepare = 1e300;
      double unshuffled = 1e300, unshuffledCpu = 1e300, writeCpu = 1e300;
      Specs specs;
      std::uint64_t rows = 0;
      auto runEpoch = [&](Dataset& dataset, std::size_t number, double& wall, double& cpuTime) {
        const double cpuStart = cpuSeconds();
        const auto wallStart = std::chrono::steady_clock::now();
        dataset.start(number);
        rows = 0;
        while (const Batch* batch = dataset.next().value()) rows += batch->rows;
        wall = std::min(wall, since(wallStart));
        cpuTime = std::min(cpuTime, cpuSeconds() - cpuStart);
      };
      for (int r = 0; r < repeat; ++r) {
        cpu = cpuSeconds();
        read = std::min(read, readOnlySeconds(inputs, plan->branches(), config.batch.chunkEntries, threads));
        threadedReadCpu = std::min(threadedReadCpu, cpuSeconds() - cpu);
        cpu = cpuSeconds();
        if (threads > 1) (void)readOnlySeconds(inputs, plan->branches(), config.batch.chunkEntries, 1);
        readCpu = std::min(readCpu, threads > 1 ? cpuSeconds() - cpu : threadedReadCpu);
        cpu = cpuSeconds();
        start = std::chrono::steady_clock::now();
        specs = computeSpecs(*plan, inputs);
        stats = std::min(stats, since(start));
        statsCpu = std::min(statsCpu, cpuSeconds() - cpu);
        start = std::chrono::steady_clock::now();
        auto transform = std::make_shared<const Transform>(plan, specs);
        Dataset dataset(plan, transform, inputs, {});
        prepare = std::min(prepare, since(start));
        // The first epoch also allocates the pipeline's buffers; later epochs reuse them, which
        // is what a training run pays epoch after epoch.
        runEpoch(dataset, 0, first, firstCpu);
        runEpoch(dataset, 1, epoch, epochCpu);
        runEpoch(dataset, 2, epoch, epochCpu);
        if (rows == 0) std::cerr << "warning: no rows in " << argv[a] << "\n";
        const std::uint64_t epochRows = rows;
        // The same epochs with the shuffle off: everything but the random draws.
        Dataset inOrder(plan, transform, inputs, {.shuffle = false});
        double ignored = 1e300, ignoredCpu = 1e300;
        runEpoch(inOrder, 0, ignored, ignoredCpu);
        runEpoch(inOrder, 1, unshuffled, unshuffledCpu);
        runEpoch(inOrder, 2, unshuffled, unshuffledCpu);
        // One sequential write of the epoch's output bytes (tensors, masks, labels, weights, event
        // references) into as many recycled batch buffers as the pipeline keeps.
        const Batch like = transform->makeBatch();
        std::size_t rowBytes = 2 * sizeof(float) + sizeof(EventRef);
        for (const auto& spec : like.tensorSpecs) rowBytes += spec.width() * sizeof(float);
        for (const auto& spec : like.maskSpecs) rowBytes += spec.width();
        const std::size_t batchBytes = config.batch.size * rowBytes;
        std::vector<std::vector<unsigned char>> ring(config.batch.prefetch + 2,
                                                     std::vector<unsigned char>(batchBytes, 1));
        cpu = cpuSeconds();
        std::uint64_t written = 0;
        volatile unsigned sink = 0;  // a byte of each buffer read back, so the writes stay
        for (std::size_t b = 0; written < epochRows * rowBytes; ++b) {
          auto& buffer = ring[b % ring.size()];
          const std::size_t bytes = std::min<std::uint64_t>(batchBytes, epochRows * rowBytes - written);
          std::memset(buffer.data(), static_cast<int>(b & 0x7F), bytes);
          sink = sink + buffer[bytes - 1];
          written += bytes;
        }
        writeCpu = std::min(writeCpu, cpuSeconds() - cpu);
      }
      auto rate = [&](double seconds) { return static_cast<double>(events) / seconds; };
      std::string name = argv[a];
      if (name.size() > 28) name = "..." + name.substr(name.size() - 25);
      std::cout << fmt::format(
          "{:<28} {:>9} {:>10.0f} {:>10.0f} {:>10.0f} {:>10.0f} {:>7.2f} {:>7.2f} {:>7.2f} {:>7.2f} {:>7.2f} {:>7.2f} "
          "{:>7.0f} {:>9.0f} {:>7.0f} {:>7.0f} {:>7.2f} {:>7.2f} {:>7.2f}\n",
          name, events, rate(read), rate(stats), rate(epoch), rate(first), stats / read, statsCpu / readCpu,
          epoch / read, epochCpu / readCpu, first / read, firstCpu / readCpu, rate(epoch) / 1000.0, openSeconds * 1e6,
          planSeconds * 1e6, prepare * 1e6, unshuffledCpu / readCpu, (readCpu + writeCpu) / readCpu,
          threadedReadCpu / readCpu);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_data: " << e.what() << "\n";
    return 1;
  }
  std::cout
      << "read: the plan's branches alone from the already opened files; stats: pass 1; epoch: pass 2, one epoch of an "
         "already\n"
         "prepared Dataset (epochs 1 and 2, buffers warm); 1st: its first epoch (allocates the buffers). x/r: wall "
         "time over\n"
         "the read's (1.25 = the 25% budget); cpu: process CPU time (all threads) over the read's on ONE thread, "
         "steadier\n"
         "on a loaded machine; r cpu: the read's CPU with the pass's threads over that (reads of ranges side by side\n"
         "decompress some baskets twice). x 1 kHz: epoch ev/s over MLaaS4HEP's ~1,000 ev/s. One-time costs in\n"
         "microseconds, in no rate: open us (config, opening the files: the reader), plan us (Plan::build), prep us\n"
         "(Transform and Dataset, best of BENCH_REPEAT). noshuf: epoch CPU with the shuffle off (no random draws) over "
         "the\n"
         "read's CPU; floor: the read's CPU plus one sequential write of the epoch's output bytes into recycled batch\n"
         "buffers, over the read's CPU (no loader that materialises batches goes under it). Rates and ratios: best of\n"
         "BENCH_REPEAT.\n";
  return 0;
}
