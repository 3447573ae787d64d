// bench_ntuple: reading RNTuples (root::NTuple::read) against bounds measured in the same run:
//   - read / decompress-only: the read's throughput over fetching and decompressing the same
//     fields' pages without decoding them (NTuple::decompressOnly); target >= 90% like TTrees;
//   - JSROOT's time for the same file and fields / ours (node + .deps/node_modules/jsroot, its
//     rntupleProcess; JSROOT does not read cardinality fields, so they are left out of its list).
// Usage: bench_ntuple [--repeat K] [--no-jsroot] [FILE NTUPLE]...   (default: the corpus files below)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../jsroot_time.hpp"
#include "root/file.hpp"
#include "root/ntuple.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }


}  // namespace

int main(int argc, char** argv) {
  int repeat = 10;
  bool jsroot = true;
  std::vector<std::pair<std::string, std::string>> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--no-jsroot") {
      jsroot = false;
    } else if (i + 1 < argc && arg.rfind("--", 0) != 0) {
      inputs.emplace_back(arg, argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_ntuple [--repeat K] [--no-jsroot] [FILE NTUPLE]...\n");
      return 2;
    }
  }
  if (inputs.empty()) {
    const std::string dir = std::string(MLAAS_BENCH_TESTDATA) + "/root/";
    if (!std::filesystem::exists(dir)) {
      std::printf("bench_ntuple: the corpus (%s) is absent; give FILE NTUPLE pairs\n", dir.c_str());
      return 0;
    }
    for (const char* f : {"test_int_multicluster_rntuple_v1-0-0-0.root", "test_split_3e4_rntuple_v1-0-0-0.root",
                          "test_int_5e4_rntuple_v1-0-0-0.root"})
      inputs.emplace_back(dir + f, "ntuple");
    for (const char* f : {"Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root",
                          "cmsopendata2015_ttbar_19980_NANOAOD_RNTupleImporter_rntuple_v1-0-0-1.root"})
      inputs.emplace_back(dir + f, "Events");
  }
  std::printf("best of %d, one thread; A = decompress-only: the same fields' pages fetched and decompressed, not decoded\n",
              repeat);
  std::printf("read: fresh columns; reuse: readInto the previous repeat's columns (a chunked reader's steady state)\n");
  std::printf("%-62s %10s %8s %10s %8s %10s %8s %9s %11s\n", "file (all supported fields)", "entries", "MB", "read MB/s",
              "read/A", "reuse MB/s", "reuse/A", "JSROOT s", "JSROOT/ours");
  for (const auto& [path, name] : inputs) {
    const auto file = mlaas::root::File::open(path);
    const auto ntuple = file->ntuple(name);
    std::vector<std::string> names, jsNames;
    for (const auto& f : ntuple.fields())
      if (f.supported) {
        names.push_back(f.name);
        if (f.title.find("Cardinality") == std::string::npos) jsNames.push_back(f.name);
      }
    const mlaas::root::EntryRange all{0, ntuple.entries()};
    double read = 1e300, reuse = 1e300, bound = 1e300, readJs = 1e300;  // readJs: the fields JSROOT reads
    std::vector<mlaas::root::Column> previous;
    std::uint64_t bytes = 0;
    for (int r = 0; r < repeat; ++r) {  // alternating, so both see the same machine
      auto t0 = Clock::now();
      const auto columns = ntuple.read(names, all);
      read = std::min(read, since(t0));
      bytes = 0;
      for (const auto& c : columns) {
        bytes += c.data.size();
        for (const auto& level : c.offsets) bytes += level.size() * sizeof(std::uint64_t);
      }
      t0 = Clock::now();
      ntuple.readInto(names, all, previous);
      reuse = std::min(reuse, since(t0));
      t0 = Clock::now();
      (void)ntuple.decompressOnly(names, all);
      bound = std::min(bound, since(t0));
      if (jsNames.size() != names.size()) {
        t0 = Clock::now();
        (void)ntuple.read(jsNames, all);
        readJs = std::min(readJs, since(t0));
      }
    }
    const double js = jsroot ? mlaas::bench::jsrootSeconds(MLAAS_BENCH_SOURCE_DIR, "tests/root/jsroot_rntuple_dump.mjs", path, name, jsNames) : -1;
    if (jsNames.size() == names.size()) readJs = read;
    const auto base = std::filesystem::path(path).filename().string();
    std::printf("%-62s %10llu %8.2f %10.1f %7.1f%% %10.1f %7.1f%% %9s %11s\n", base.c_str(),
                static_cast<unsigned long long>(ntuple.entries()), bytes / 1e6, bytes / read / 1e6, 100 * bound / read,
                bytes / reuse / 1e6, 100 * bound / reuse,
                js < 0 ? "-" : fmt::format("{:.3f}", js).c_str(), js < 0 ? "-" : fmt::format("{:.1f}x", js / readJs).c_str());
  }
}
