// data_checksum CONFIG...: an FNV-1a checksum of every tensor, mask, label, weight and event
// reference of 2 epochs of the training split per config, to check that a pipeline change keeps
// batches bit-identical (run the binary before and after, compare the lines). Env LIMIT=n stops
// each epoch after n events, SPLIT=validation|test reads another split, SHARDS=n sums shards 0..n-1.
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "data/dataset.hpp"

namespace {

struct Fnv {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  void add(const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) hash = (hash ^ p[i]) * 0x100000001b3ULL;
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace mlaas::data;
  try {
    for (int a = 1; a < argc; ++a) {
      auto config = DatasetConfig::load(argv[a]);
      auto inputs = openInputs(config);
      auto plan = Plan::build(config, inputs.schema);
      auto specs = computeSpecs(*plan, inputs);
      auto transform = std::make_shared<const Transform>(plan, specs);
      const char* limit = std::getenv("LIMIT");
      const char* split = std::getenv("SPLIT");
      const char* shardsText = std::getenv("SHARDS");
      const std::size_t shards = shardsText != nullptr ? std::strtoull(shardsText, nullptr, 10) : 1;
      Fnv fnv;
      std::uint64_t rows = 0, batches = 0;
      for (std::size_t shard = 0; shard < shards; ++shard) {
        DatasetOptions options;
        options.shard = shard;
        options.shards = shards;
        if (limit != nullptr) options.limit = std::strtoull(limit, nullptr, 10);
        if (split != nullptr) options.split = parseSplit(split).value();
        Dataset dataset(plan, transform, inputs, options);
        for (std::size_t epoch = 0; epoch < 2; ++epoch) {
          dataset.start(epoch);
          while (const Batch* batch = dataset.next().value()) {
            for (std::size_t i = 0; i < batch->tensors.size(); ++i)
              fnv.add(batch->tensor(i).data(), batch->tensor(i).size_bytes());
            for (std::size_t i = 0; i < batch->masks.size(); ++i)
              fnv.add(batch->mask(i).data(), batch->mask(i).size_bytes());
            fnv.add(batch->labels.data(), batch->rows * sizeof(float));
            fnv.add(batch->weights.data(), batch->rows * sizeof(float));
            for (std::size_t r = 0; r < batch->rows; ++r) {
              fnv.add(&batch->events[r].file, sizeof(std::uint32_t));
              fnv.add(&batch->events[r].entry, sizeof(std::uint64_t));
            }
            rows += batch->rows;
            ++batches;
          }
        }
      }
      std::cout << fmt::format("{} rows {} batches {} fnv {:016x}\n", argv[a], rows, batches, fnv.hash);
    }
  } catch (const std::exception& e) {
    std::cerr << "data_checksum: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
