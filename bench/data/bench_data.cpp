// bench_data CONFIG...: for each dataset config, times (best of `repeat`, interleaved so that
// caches and machine load hit both alike) reading the plan's branches alone, pass 1 (stats) and
// pass 2 (one epoch of batches), and prints each as events/s and as a ratio to the raw read and to
// MLaaS4HEP's ~1,000 events/s.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

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
  const int repeat = std::getenv("BENCH_REPEAT") ? std::atoi(std::getenv("BENCH_REPEAT")) : 3;
  std::cout << fmt::format("{:<28} {:>9} {:>12} {:>12} {:>12} {:>10} {:>10} {:>9} {:>9} {:>9}\n", "config", "events", "read ev/s",
                           "stats ev/s", "batch ev/s", "stats/read", "batch/read", "x 1 kHz", "stats cpu", "batch cpu");
  try {
    for (int a = 1; a < argc; ++a) {
      auto config = DatasetConfig::load(argv[a]);
      auto inputs = openInputs(config);
      auto plan = Plan::build(config, inputs.schema);
      const std::uint64_t events = totalEntries(inputs);
      const std::size_t threads = passThreads(0, config, events);  // the passes' own rule, for the raw read too
      double read = 1e300, stats = 1e300, batches = 1e300;
      double readCpu = 1e300, statsCpu = 1e300, batchesCpu = 1e300;
      Specs specs;
      for (int r = 0; r < repeat; ++r) {
        double cpu = cpuSeconds();
        read = std::min(read, readOnlySeconds(inputs, plan->branches(), config.batch.chunkEntries, threads));
        readCpu = std::min(readCpu, cpuSeconds() - cpu);
        cpu = cpuSeconds();
        auto start = std::chrono::steady_clock::now();
        specs = computeSpecs(*plan, inputs);
        stats = std::min(stats, since(start));
        statsCpu = std::min(statsCpu, cpuSeconds() - cpu);
        auto transform = std::make_shared<const Transform>(plan, specs);
        cpu = cpuSeconds();
        start = std::chrono::steady_clock::now();
        std::uint64_t rows = 0;
        {
          Dataset dataset(plan, transform, inputs, {});
          while (const Batch* batch = dataset.next().value()) rows += batch->rows;
        }
        batches = std::min(batches, since(start));
        batchesCpu = std::min(batchesCpu, cpuSeconds() - cpu);
        if (rows == 0) std::cerr << "warning: no rows in " << argv[a] << "\n";
      }
      auto rate = [&](double seconds) { return static_cast<double>(events) / seconds; };
      std::string name = argv[a];
      if (name.size() > 28) name = "..." + name.substr(name.size() - 25);
      std::cout << fmt::format("{:<28} {:>9} {:>12.0f} {:>12.0f} {:>12.0f} {:>10.2f} {:>10.2f} {:>9.0f} {:>9.2f} {:>9.2f}\n", name, events,
                               rate(read), rate(stats), rate(batches), stats / read, batches / read, rate(batches) / 1000.0,
                               statsCpu / readCpu, batchesCpu / readCpu);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_data: " << e.what() << "\n";
    return 1;
  }
  std::cout << "stats/read and batch/read: wall time of the pass over the wall time to read the same branches alone (1.25 = the 25% budget);\n"
               "stats cpu and batch cpu: the same ratios of CPU time (all threads), steadier on a loaded machine\n";
  return 0;
}
