// Writing ROOT files, measured against bounds taken in the same run (bench/RESULTS.md, "Writing"):
//  1. writer MB/s / compress-only MB/s, both in MB of the uncompressed file (values, entry offsets,
//     counters, metadata) per second: the writer appends the columns and closes (fsync included);
//     the bound compresses that uncompressed file's bytes in basket-sized pieces, same codec, same
//     threads, no file. For codec none the bound is a plain write + fsync of the same bytes;
//  2. generate events/s (mlaas generate: generation, serialisation, compression, writing) /
//     generation-only events/s.
//
//   bench_write [--events N] [--threads T] [--dir DIR] [--codecs 0,101,404,505,207]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <iostream>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "root/compress.hpp"
#include "root/generate.hpp"
#include "root/writer.hpp"

namespace {

using namespace mlaas;
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Args {
  std::uint64_t events = 1000000;
  std::size_t threads = core::ThreadPool::hardwareThreads();
  std::string dir = std::filesystem::temp_directory_path().string();
  std::vector<int> codecs{0, 101, 404, 505, 207};
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--events") a.events = std::stoull(v);
    else if (k == "--threads") a.threads = std::stoul(v);
    else if (k == "--dir") a.dir = v;
    else if (k == "--codecs") {
      a.codecs.clear();
      std::size_t pos = 0;
      while (pos <= v.size()) {
        const auto comma = v.find(',', pos);
        a.codecs.push_back(std::stoi(v.substr(pos, comma - pos)));
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    } else {
      throw std::runtime_error("unknown option " + k);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  core::ThreadPool pool(args.threads > 0 ? args.threads - 1 : 0);
  const std::uint64_t chunks = (args.events + root::kGenerateChunk - 1) / root::kGenerateChunk;

  // The data, generated once and kept in memory (its generation is not part of the write figures).
  auto t0 = Clock::now();
  std::vector<std::vector<root::Column>> data(chunks);
  pool.parallelFor(chunks, [&](std::size_t c) {
    const auto count = std::min(root::kGenerateChunk, args.events - c * root::kGenerateChunk);
    data[c] = root::generateChunk(1, c, count, 0.5);
  });
  const double generateOnly = since(t0);
  std::uint64_t rawBytes = 0;
  for (const auto& cols : data)
    for (const auto& c : cols) rawBytes += c.data.size();
  std::cout << fmt::format("data: {} events, {:.1f} MB of values, {} threads\n", args.events, rawBytes / 1e6,
                           args.threads);

  const std::size_t basketBytes = 1 << 20;
  auto writeFile = [&](int codec, const std::filesystem::path& path) {
    root::WriteOptions options;
    options.compression = codec;
    options.basketBytes = basketBytes;
    options.pool = &pool;
    const auto start = Clock::now();
    root::FileWriter file(path.string(), options);
    auto& tree = file.addTree("Events", root::generatedBranches());
    for (const auto& cols : data) tree.append(cols);
    file.close();
    return since(start);
  };

  // The uncompressed file is what every codec has to compress (values, entry offsets, counters,
  // metadata): its bytes, in basket-sized pieces, are the input of the compress-only bound.
  const auto plainPath = std::filesystem::path(args.dir) / "bench_write_plain.root";
  const double plainSeconds = writeFile(0, plainPath);
  std::vector<std::byte> plain(std::filesystem::file_size(plainPath));
  {
    std::ifstream in(plainPath, std::ios::binary);
    in.read(reinterpret_cast<char*>(plain.data()), static_cast<std::streamsize>(plain.size()));
  }
  std::filesystem::remove(plainPath);
  const double payloadMB = plain.size() / 1e6;
  std::vector<std::span<const std::byte>> pieces;
  for (std::size_t at = 0; at < plain.size(); at += basketBytes)
    pieces.emplace_back(plain.data() + at, std::min(basketBytes, plain.size() - at));
  {
    const auto rawPath = std::filesystem::path(args.dir) / "bench_write_raw.bin";
    t0 = Clock::now();
    const int fd = ::open(rawPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) throw std::runtime_error("cannot write " + rawPath.string());
    for (const auto& p : pieces)
      if (::write(fd, p.data(), p.size()) != static_cast<ssize_t>(p.size())) throw std::runtime_error("write failed");
    ::fsync(fd);
    ::close(fd);
    const double rawSeconds = since(t0);
    std::filesystem::remove(rawPath);
    std::cout << fmt::format("write {:<14} {:8.1f} MB/s vs plain write+fsync {:8.1f} MB/s: ratio {:.2f} ({:.1f} MB)\n",
                             "none", payloadMB / plainSeconds, payloadMB / rawSeconds, rawSeconds / plainSeconds,
                             payloadMB);
  }

  for (int codec : args.codecs) {
    const auto setting = root::CompressionSetting::fromRoot(codec);
    if (!setting.enabled()) continue;
    std::vector<std::uint64_t> sizes(pieces.size());
    t0 = Clock::now();
    pool.parallelFor(pieces.size(), [&](std::size_t i) {
      std::vector<std::byte> out;
      sizes[i] = root::compressBlocks(setting, pieces[i], out) ? out.size() : pieces[i].size();
    });
    const double boundSeconds = since(t0);
    const auto path = std::filesystem::path(args.dir) / "bench_write.root";
    const double writeSeconds = writeFile(codec, path);
    const auto fileBytes = std::filesystem::file_size(path);
    std::filesystem::remove(path);
    std::cout << fmt::format(
        "write {:<14} {:8.1f} MB/s vs compress-only {:8.1f} MB/s: ratio {:.2f} (file {:.1f} MB, {:.2f} of "
        "uncompressed)\n",
        setting.describe(), payloadMB / writeSeconds, payloadMB / boundSeconds, boundSeconds / writeSeconds,
        fileBytes / 1e6, static_cast<double>(fileBytes) / static_cast<double>(plain.size()));
  }

  // mlaas generate end to end, against generating the same events without writing them.
  for (int codec : {505, 101}) {
    root::GenerateOptions options;
    options.events = args.events;
    options.threads = args.threads > 0 ? args.threads - 1 : 0;
    options.write.compression = codec;
    const auto path = std::filesystem::path(args.dir) / "bench_generate.root";
    const auto stats = root::generateFile(path.string(), options);
    std::filesystem::remove(path);
    const double rate = stats.events / stats.seconds, bound = args.events / generateOnly;
    std::cout << fmt::format("generate {:<14} {:10.0f} events/s vs generation-only {:10.0f} events/s: ratio {:.2f} "
                             "({:.1f} MB)\n",
                             root::CompressionSetting::fromRoot(codec).describe(), rate, bound, rate / bound,
                             stats.fileBytes / 1e6);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_write: " << e.what() << "\n";
  return 1;
}
