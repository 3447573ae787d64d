// libFuzzer target for the ROOT reader (TTrees and RNTuples). Any input must end in a value or a core::Exception: never a
// crash, a hang or a huge allocation. Seed it with real files as well:
//   build-fuzz/bin/fuzz_root_file fuzz/root/corpus-root_file ../shared/testdata/root -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "root/memory_source.hpp"
#include "root/ntuple.hpp"
#include "root/tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  try {
    const auto file = mlaas::root::File::open(std::make_shared<mlaas::root::MemorySource>("fuzz.root", std::move(bytes)));
    for (const auto& path : file->treePaths()) {
      try {
        const auto tree = file->tree(path);
        std::vector<std::string> names;
        for (const auto& b : tree.branches())
          if (b.supported) names.push_back(b.name);
        const auto end = std::min<std::uint64_t>(tree.entries(), 100000);
        auto columns = tree.read(names, {0, end});
        // Again into the same columns over a part of the range (readInto's reuse of sizes and buffers).
        tree.readInto(names, {end / 3, end}, columns);
      } catch (const mlaas::core::Exception&) {
      }
    }
    for (const auto& path : file->rntuplePaths()) {
      try {
        const auto ntuple = file->ntuple(path);
        std::vector<std::string> names;
        for (const auto& f : ntuple.fields())
          if (f.supported) names.push_back(f.name);
        (void)ntuple.read(names, {0, std::min<std::uint64_t>(ntuple.entries(), 100000)});
      } catch (const mlaas::core::Exception&) {
      }
    }
  } catch (const mlaas::core::Exception&) {
  }
  return 0;
}
