// The columnar API on real corpus files: values, entry ranges, chunks, chains, threads, plans.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <mutex>
#include <thread>

#include "core/thread_pool.hpp"
#include "io/local_source.hpp"
#include "root/memory_source.hpp"
#include "root/tree.hpp"
#include "root/writer.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

std::shared_ptr<File> openCorpus(const std::string& name) { return File::open(test::corpusFile(name).string()); }

/// The file at `path` opened from a copy of its bytes in memory (a source that fetches, unmapped).
std::shared_ptr<File> openInMemory(const std::filesystem::path& path, std::string name) {
  const auto text = test::readFile(path);
  std::vector<std::byte> bytes(text.size());
  std::memcpy(bytes.data(), text.data(), text.size());
  return File::open(std::make_shared<MemorySource>(std::move(name), std::move(bytes)));
}

std::vector<std::string> supportedBranches(const Tree& tree) {
  std::vector<std::string> out;
  for (const auto& b : tree.branches())
    if (b.supported) out.push_back(b.name);
  return out;
}

void expectSameColumn(const Column& a, const Column& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.entries, b.entries) << a.name;
  EXPECT_EQ(a.innerShape, b.innerShape) << a.name;
  EXPECT_EQ(a.offsets, b.offsets) << a.name;
  EXPECT_TRUE(a.data == b.data) << a.name;
}

/// A file in memory that records what the reader asks of it.
class RecordingSource final : public io::Source {
 public:
  explicit RecordingSource(const std::string& name) : name_(name), bytes_(test::readFile(test::corpusFile(name))) {}
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::uint64_t size() const noexcept override { return bytes_.size(); }
  [[nodiscard]] core::Result<void> read(std::span<const io::ReadRequest> requests) override {
    std::lock_guard lock(mutex_);
    for (const auto& r : requests) {
      if (r.offset + r.dest.size() > bytes_.size()) return core::fail(core::Errc::io, "beyond the end");
      std::memcpy(r.dest.data(), bytes_.data() + r.offset, r.dest.size());
      reads.push_back({r.offset, r.dest.size()});
    }
    return {};
  }
  void prefetch(std::span<const io::ByteRange> ranges) override {
    std::lock_guard lock(mutex_);
    prefetches.emplace_back(ranges.begin(), ranges.end());
    readsBeforePrefetch.push_back(reads.size());
  }
  [[nodiscard]] io::SourceStats stats() const noexcept override { return {}; }

  std::vector<io::ByteRange> reads;
  std::vector<std::vector<io::ByteRange>> prefetches;
  std::vector<std::size_t> readsBeforePrefetch;  ///< reads.size() when each prefetch came

 private:
  std::string name_;
  std::string bytes_;
  std::mutex mutex_;
};

TEST(Reader, OpeningAFileAndATreeReadsEachByteOnce) {
  MLAAS_REQUIRE_CORPUS();
  for (const char* name : {"uproot-HZZ-zlib.root", "nanoAOD_2015_CMS_Open_Data_ttbar.root", "uproot-nesteddirs.root"}) {
    SCOPED_TRACE(name);
    auto source = std::make_shared<RecordingSource>(name);
    const auto file = File::open(source);
    for (const auto& path : file->treePaths()) (void)file->tree(path);
    auto reads = source->reads;
    ASSERT_FALSE(reads.empty());
    std::sort(reads.begin(), reads.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
    for (std::size_t k = 1; k < reads.size(); ++k)
      EXPECT_LE(reads[k - 1].end(), reads[k].offset)
          << "[" << reads[k - 1].offset << ", " << reads[k - 1].end() << ") and [" << reads[k].offset << ", "
          << reads[k].end() << ") overlap";
  }
}

TEST(Reader, ForEachChunkPrefetchesTheNextChunkBeforeReadingThisOne) {
  MLAAS_REQUIRE_CORPUS();
  // hepdata-example: later chunks begin baskets of their own (and cut others: those are left out
  // of their prefetch); issue79: its one basket on disk spans every chunk, so the first chunk
  // fetches and keeps it and no later chunk has anything to prefetch (or reads anything); HZZ-zlib
  // in chunks of 300 entries, uncoalesced: most of its branches are one basket for the whole tree,
  // so most chunks cut baskets the chunk before keeps and have little or nothing to prefetch.
  struct Case {
    const char* name;
    std::uint64_t chunkEntries;  ///< 0: a quarter of the tree
    std::uint64_t coalesceGap;
    std::size_t minPrefetches;
  };
  for (const Case& c :
       {Case{"uproot-hepdata-example.root", 0, ReadOptions{}.coalesceGap, 2},
        Case{"uproot-issue79.root", 0, ReadOptions{}.coalesceGap, 0}, Case{"uproot-HZZ-zlib.root", 300, 0, 1}}) {
    SCOPED_TRACE(c.name);
    auto source = std::make_shared<RecordingSource>(c.name);
    const auto file = File::open(source);
    const auto tree = file->tree(file->treePaths().at(0));
    const auto names = supportedBranches(tree);
    ReadOptions options;
    options.coalesceGap = c.coalesceGap;
    const auto chunkEntries = c.chunkEntries > 0 ? c.chunkEntries : tree.entries() / 4;
    const auto chunks = tree.chunks(chunkEntries);
    ASSERT_GE(chunks.size(), 3u);
    const auto openReads = source->reads.size();
    std::size_t seen = 0;
    tree.forEachChunk(
        names, chunkEntries,
        [&](EntryRange r, std::vector<Column>& cols) {
          EXPECT_EQ(r, chunks[seen]);
          ASSERT_EQ(cols.size(), names.size());
          EXPECT_EQ(cols[0].entries, r.size());
          ++seen;
        },
        options);
    EXPECT_EQ(seen, chunks.size());
    // One prefetch per later chunk that has baskets on disk to fetch, each that chunk's planned
    // requests less the baskets the chunk before cut and kept; every read after opening lies in
    // the first chunk or inside a range prefetched before it.
    std::vector<std::vector<io::ByteRange>> expected;
    std::size_t leftOut = 0;
    for (std::size_t k = 1; k < chunks.size(); ++k) {
      std::vector<io::ByteRange> ranges;
      for (const auto& pb : tree.plan(names, chunks[k], options).baskets) {
        if (pb.bytes.size > 0 && pb.entries.begin >= chunks[k].begin) ranges.push_back(pb.bytes);
        leftOut += pb.bytes.size > 0 && pb.entries.begin < chunks[k].begin;
      }
      if (!ranges.empty()) expected.push_back(io::coalesce(ranges, options.coalesceGap, options.maxRequestBytes));
    }
    ASSERT_GE(expected.size(), c.minPrefetches);
    EXPECT_EQ(source->prefetches, expected);
    EXPECT_GT(leftOut, 0u);  // every case cuts baskets: what the chunk before kept is not prefetched
    for (std::size_t k = openReads; k < source->reads.size(); ++k) {
      const auto& r = source->reads[k];
      bool inFirstChunk = false, prefetched = false;
      for (const auto& p : tree.plan(names, chunks[0], options).requests)
        inFirstChunk |= r.offset >= p.offset && r.end() <= p.end();
      for (std::size_t p = 0; p < source->prefetches.size(); ++p)
        if (source->readsBeforePrefetch[p] <= k)
          for (const auto& range : source->prefetches[p])
            prefetched |= r.offset >= range.offset && r.end() <= range.end();
      EXPECT_TRUE(inFirstChunk || prefetched)
          << "read [" << r.offset << ", " << r.end() << ") was not prefetched first";
    }
  }
}

TEST(Reader, HzzBranchesHaveTheirTypes) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ.root")->tree("events");
  EXPECT_EQ(tree.entries(), 2421u);
  const auto* px = tree.branch("Jet_Px");
  ASSERT_NE(px, nullptr);
  EXPECT_TRUE(px->supported);
  EXPECT_EQ(px->type, DType::float32);
  EXPECT_EQ(px->jaggedLevels, 1);
  EXPECT_EQ(px->counterBranch, "NJet");
  const auto* id = tree.branch("Jet_ID");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->type, DType::boolean);
  EXPECT_EQ(tree.branch("no such branch"), nullptr);
}

TEST(Reader, JaggedOffsetsAgreeWithTheirCounter) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");
  const auto cols = tree.read(std::vector<std::string>{"NMuon", "Muon_Px"}, {0, tree.entries()});
  const auto n = cols[0].values<std::int32_t>();
  const auto& offs = cols[1].offsets.at(0);
  ASSERT_EQ(offs.size(), tree.entries() + 1);
  for (std::size_t i = 0; i < n.size(); ++i) ASSERT_EQ(offs[i + 1] - offs[i], static_cast<std::uint64_t>(n[i])) << i;
  EXPECT_EQ(cols[1].valueCount(), offs.back());
}

TEST(Reader, EntryRangeIsASliceOfTheFullRead) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-lz4.root")->tree("events");
  const auto full = tree.read("Jet_Px", {0, tree.entries()});
  const auto part = tree.read("Jet_Px", {100, 1500});
  EXPECT_EQ(part.firstEntry, 100u);
  ASSERT_EQ(part.entries, 1400u);
  const auto& fo = full.offsets[0];
  const auto& po = part.offsets[0];
  for (std::size_t i = 0; i <= 1400; ++i) ASSERT_EQ(po[i], fo[100 + i] - fo[100]);
  const auto fv = full.values<float>();
  const auto pv = part.values<float>();
  ASSERT_EQ(pv.size(), fo[1500] - fo[100]);
  for (std::size_t k = 0; k < pv.size(); ++k) ASSERT_EQ(pv[k], fv[fo[100] + k]);
}

TEST(Reader, EveryCodecGivesTheSameColumns) {
  MLAAS_REQUIRE_CORPUS();
  const auto reference = openCorpus("uproot-HZZ-uncompressed.root")->tree("events");
  const auto names = supportedBranches(reference);
  const auto expected = reference.read(names, {0, reference.entries()});
  for (const char* file :
       {"uproot-HZZ-zlib.root", "uproot-HZZ-lzma.root", "uproot-HZZ-lz4.root", "uproot-HZZ-zstd.root"}) {
    SCOPED_TRACE(file);
    const auto tree = openCorpus(file)->tree("events");
    const auto cols = tree.read(names, {0, tree.entries()});
    for (std::size_t k = 0; k < cols.size(); ++k) expectSameColumn(cols[k], expected[k]);
  }
}

TEST(Reader, ThreadsGiveTheSameColumns) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("nanoAOD_2015_CMS_Open_Data_ttbar.root")->tree("Events");
  const auto names = supportedBranches(tree);
  const auto single = tree.read(names, {0, tree.entries()});
  core::ThreadPool pool(2);
  const auto multi = tree.read(names, {0, tree.entries()}, {.pool = &pool, .parallelMinNanos = 0});
  ASSERT_EQ(single.size(), multi.size());
  for (std::size_t k = 0; k < single.size(); ++k) expectSameColumn(single[k], multi[k]);
}

// A read shared by basket, where jagged columns have several baskets (HZZ: 57 baskets for 51
// branches): the first basket of such a column decodes in place, the later ones into pieces
// appended afterwards. Whole tree and a range that starts inside baskets, into fresh and reused
// columns, on 1 and 2 workers: the columns of one thread.
TEST(Reader, ThreadsGiveTheSameColumnsWhereColumnsHaveSeveralBaskets) {
  MLAAS_REQUIRE_CORPUS();
  for (const char* name : {"uproot-HZZ-zlib.root", "uproot-HZZ-lz4.root", "uproot-HZZ-uncompressed.root"}) {
    const auto tree = openCorpus(name)->tree("events");
    const auto names = supportedBranches(tree);
    std::size_t severalBaskets = 0;
    const auto plan = tree.plan(names, {0, tree.entries()});
    for (std::size_t j = 1; j < plan.baskets.size(); ++j)
      severalBaskets += plan.baskets[j].branch == plan.baskets[j - 1].branch;
    ASSERT_GT(severalBaskets, 0u) << name;
    for (const std::size_t workers : {1u, 2u}) {
      core::ThreadPool pool(workers);
      std::vector<Column> reused;
      for (const EntryRange range :
           {EntryRange{0, tree.entries()}, EntryRange{700, 2300}, EntryRange{0, tree.entries()}}) {
        SCOPED_TRACE(fmt::format("{} on {} workers, entries [{}, {})", name, workers, range.begin, range.end));
        const auto single = openCorpus(name)->tree("events").read(names, range);
        ReadStats stats;
        tree.readInto(names, range, reused, {.pool = &pool, .parallelMinNanos = 0}, &stats);
        EXPECT_EQ(stats.threads, workers + 1);
        ASSERT_EQ(single.size(), reused.size());
        for (std::size_t k = 0; k < single.size(); ++k) expectSameColumn(single[k], reused[k]);
      }
    }
  }
}

// A read of ~950 branches is shared by branch: with two threads the caller reads the run of
// branches nearest half the cost and the worker the runs on either side, with more each thread
// one run. Whole tree and a range inside it, into fresh and into reused columns: the columns of
// one thread every time, and the stats of the whole read (its bytes fetched aside: a range that
// cuts a basket leaves it kept, unfetched, for the next read); the decompress-only bound too.
// A read without workers copies the branches whose one basket is embedded in the tree record
// (NanoAOD: 947 of 949, fixed-size values and counted runs) in one loop from a table made when the
// tree was opened; a read shared by basket (fewer than 256 branches, parallelMinNanos 0) decodes
// them through the general per-basket jobs. Several ranges one after the other into the same
// columns (they grow and shrink), then fresh: the same columns and stats either way.
TEST(Reader, EmbeddedBasketsCopiedInOneLoopGiveTheColumnsOfTheGeneralPath) {
  MLAAS_REQUIRE_CORPUS();
  core::ThreadPool pool(1);
  for (const char* name : {"nanoAOD_2015_CMS_Open_Data_ttbar.root", "uproot-from-geant4.root",
                           "uproot-issue-1229.root", "uproot-issue79.root"}) {
    const auto file = openCorpus(name);
    for (const auto& treePath : file->treePaths()) {
      const auto tree = file->tree(treePath);
      auto names = supportedBranches(tree);
      if (names.size() > 200) names.resize(200);  // fewer than 256: shared by basket with a pool
      if (names.empty() || tree.entries() == 0) continue;
      const auto n = tree.entries();
      std::vector<Column> copied, general;
      for (const EntryRange range : {EntryRange{0, n}, EntryRange{n / 5, n - n / 4}, EntryRange{n - 1, n},
                                     EntryRange{0, 1}, EntryRange{0, n}}) {
        SCOPED_TRACE(fmt::format("{} {}, entries [{}, {})", name, treePath, range.begin, range.end));
        ReadStats copiedStats, generalStats;
        tree.readInto(names, range, copied, {}, &copiedStats);
        tree.readInto(names, range, general, {.pool = &pool, .parallelMinNanos = 0}, &generalStats);
        EXPECT_EQ(copiedStats.threads, 1u);
        EXPECT_EQ(copiedStats.jobsOnWorkers, 0u);  // no pool: every job on the caller
        EXPECT_EQ(copiedStats.baskets, generalStats.baskets);
        EXPECT_EQ(copiedStats.uncompressedBytes, generalStats.uncompressedBytes);
        // (Not the bytes fetched: a range that cuts LHEPdfWeight's baskets leaves one kept for the next read.)
        const auto fresh = tree.read(names, range);
        ASSERT_EQ(copied.size(), general.size());
        for (std::size_t k = 0; k < copied.size(); ++k) {
          expectSameColumn(copied[k], general[k]);
          expectSameColumn(fresh[k], general[k]);
          EXPECT_EQ(copied[k].firstEntry, range.begin);
          EXPECT_EQ(copied[k].innerShape, general[k].innerShape);
        }
      }
    }
  }
}

TEST(Reader, WideReadsSharedByBranchGiveTheSameColumns) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("nanoAOD_2015_CMS_Open_Data_ttbar.root")->tree("Events");
  const auto names = supportedBranches(tree);
  ASSERT_GE(names.size(), 256u);
  for (const std::size_t workers : {1u, 2u}) {
    core::ThreadPool pool(workers);
    std::vector<Column> reused;
    for (const EntryRange range : {EntryRange{0, tree.entries()}, EntryRange{37, 151}, EntryRange{0, tree.entries()}}) {
      SCOPED_TRACE(fmt::format("{} workers, entries [{}, {})", workers, range.begin, range.end));
      ReadStats alone, shared;
      const auto single = tree.read(names, range, {}, &alone);
      tree.readInto(names, range, reused, {.pool = &pool}, &shared);
      EXPECT_EQ(shared.threads, workers + 1);
      EXPECT_EQ(shared.baskets, alone.baskets);
      EXPECT_EQ(shared.uncompressedBytes, alone.uncompressedBytes);
      ASSERT_EQ(single.size(), reused.size());
      for (std::size_t k = 0; k < single.size(); ++k) expectSameColumn(single[k], reused[k]);
      // The decompress-only bound is shared the same way, like for like.
      ReadStats boundAlone, boundShared;
      EXPECT_EQ(tree.decompressOnly(names, range, {.pool = &pool}, &boundShared),
                tree.decompressOnly(names, range, {}, &boundAlone));
      EXPECT_EQ(boundShared.threads, workers + 1);
      EXPECT_EQ(boundAlone.threads, 1u);
      EXPECT_EQ(boundShared.baskets, boundAlone.baskets);
    }
  }
}

// A pool is used where the read is worth sharing: a few entries of a stored file run on the calling
// thread (sharing would cost more than the work), a whole compressed tree on both threads, and
// parallelMinNanos = 0 shares whatever the size. The columns are the same every way.
TEST(Reader, SmallReadsRunOnTheCallingThreadLargeOnesAreShared) {
  MLAAS_REQUIRE_CORPUS();
  core::ThreadPool pool(1);
  struct Case {
    const char* file;
    EntryRange range;
    std::uint64_t parallelMinNanos;
    std::size_t threads;
  };
  for (const Case& c : {Case{"uproot-HZZ-uncompressed.root", {0, 10}, ReadOptions{}.parallelMinNanos, 1},
                        Case{"uproot-HZZ-uncompressed.root", {0, 10}, 0, 2},
                        Case{"uproot-HZZ-zlib.root", {0, 2421}, ReadOptions{}.parallelMinNanos, 2}}) {
    SCOPED_TRACE(
        fmt::format("{} [{}, {}) parallelMinNanos {}", c.file, c.range.begin, c.range.end, c.parallelMinNanos));
    const auto tree = openCorpus(c.file)->tree("events");
    const auto names = supportedBranches(tree);
    ReadStats stats, bound, alone;
    const ReadOptions options{.pool = &pool, .parallelMinNanos = c.parallelMinNanos};
    const auto shared = tree.read(names, c.range, options, &stats);
    (void)tree.decompressOnly(names, c.range, options, &bound);
    const auto single = tree.read(names, c.range, {}, &alone);
    EXPECT_EQ(stats.threads, c.threads);
    EXPECT_EQ(bound.threads, c.threads);
    EXPECT_EQ(alone.threads, 1u);
    ASSERT_EQ(shared.size(), single.size());
    for (std::size_t k = 0; k < single.size(); ++k) expectSameColumn(single[k], shared[k]);
  }
}

// With workers, baskets are fetched in pieces that overlap decoding, fixed-size columns are
// allocated by their first basket's job, and baskets without entry offsets wait for their counter:
// every path must give the single-threaded columns, over whole trees and over ranges that start
// and end inside baskets.
TEST(Reader, ThreadsAndFetchPiecesGiveTheSameColumnsOnManyFiles) {
  MLAAS_REQUIRE_CORPUS();
  core::ThreadPool pool(3);
  for (const char* file : {"uproot-issue79.root", "uproot-HZZ-uncompressed.root", "uproot-HZZ-zlib.root",
                           "uproot-HZZ-lz4.root", "uproot-small-dy-nooffsets.root", "uproot-sample-6.20.04-zlib.root",
                           "uproot-stl_containers.root", "uproot-Zmumu.root"}) {
    SCOPED_TRACE(file);
    const auto f = openCorpus(file);
    const auto tree = f->tree(f->treePaths().at(0));
    const auto names = supportedBranches(tree);
    const auto n = tree.entries();
    for (const EntryRange range : {EntryRange{0, n}, EntryRange{n / 7, n - n / 5}}) {
      const auto single = tree.read(names, range);
      // small pieces: many fetch jobs even on these small files
      const auto multi = tree.read(names, range, {.pool = &pool, .maxRequestBytes = 4096, .parallelMinNanos = 0});
      ASSERT_EQ(single.size(), multi.size());
      for (std::size_t k = 0; k < single.size(); ++k) expectSameColumn(single[k], multi[k]);
    }
  }
}

TEST(Reader, BasketsWithoutEntryOffsetsReadLikeThoseWith) {
  MLAAS_REQUIRE_CORPUS();
  const auto with = openCorpus("uproot-small-dy-withoffsets.root")->tree("tree");
  const auto without = openCorpus("uproot-small-dy-nooffsets.root")->tree("tree");
  const auto names = supportedBranches(with);
  ASSERT_EQ(names.size(), 8u);
  const auto a = with.read(names, {0, with.entries()});
  const auto b = without.read(names, {0, without.entries()});
  for (std::size_t k = 0; k < a.size(); ++k) expectSameColumn(a[k], b[k]);
  // and a range that starts inside a basket
  const auto c = without.read(names, {17, 333});
  const auto d = with.read(names, {17, 333});
  for (std::size_t k = 0; k < c.size(); ++k) expectSameColumn(c[k], d[k]);
}

TEST(Reader, Double32AndFloat16StayWithinTheirQuantisation) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-double32-float16.root")->tree("tree");
  // The file stores these 17 values in every branch (uproot's test of the same file).
  const std::vector<double> truth = {-2, -1.5, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (const auto& [name, nbits] : std::vector<std::pair<std::string, int>>{
           {"double32_32", 32}, {"double32_30", 30}, {"double32_20", 20}, {"double32_10", 10}, {"double32_5", 5},
           {"double32_3", 3}, {"float16_16", 16}, {"float16_10", 10}, {"float16_5", 5}, {"float16_3", 3}}) {
    const auto col = tree.read(name, {0, tree.entries()});
    ASSERT_EQ(col.entries, truth.size()) << name;
    const double step = 12.71 / std::pow(2.0, nbits) + 1e-6;
    for (std::size_t i = 0; i < truth.size(); ++i) {
      const double v = col.type == DType::float64 ? col.values<double>()[i] : col.values<float>()[i];
      EXPECT_NEAR(v, truth[i], step) << name << " entry " << i;
    }
  }
  const auto arr = tree.read("array_30", {0, tree.entries()});
  EXPECT_EQ(arr.innerShape, std::vector<std::size_t>{3});
  EXPECT_NEAR(arr.values<double>()[3 * 16 + 2], 9.0, 1e-6);
}

TEST(Reader, ChunksFollowClustersAndCoverTheTree) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-zstd.root")->tree("events");
  const auto bounds = tree.clusterBoundaries();
  ASSERT_GE(bounds.size(), 2u);
  EXPECT_EQ(bounds.front(), 0u);
  EXPECT_EQ(bounds.back(), tree.entries());
  const auto full = tree.read(std::vector<std::string>{"Muon_Px", "NMuon"}, {0, tree.entries()});
  std::vector<Column> joined;
  std::uint64_t next = 0;
  tree.forEachChunk({"Muon_Px", "NMuon"}, 700, [&](EntryRange r, std::vector<Column>& cols) {
    EXPECT_EQ(r.begin, next);
    EXPECT_LE(r.size(), 700u);
    next = r.end;
    if (joined.empty()) joined = cols;
    else
      for (std::size_t k = 0; k < cols.size(); ++k) appendColumn(joined[k], cols[k]);
  });
  EXPECT_EQ(next, tree.entries());
  for (std::size_t k = 0; k < full.size(); ++k) expectSameColumn(joined[k], full[k]);
}

// Chunks that cut baskets (HZZ is one cluster; chunks of 300 entries cut every basket): each
// basket is decompressed once, the next chunk reads the rest of a cut basket from memory, and the
// values are those of one whole read, on one thread and on two.
TEST(Reader, ChunksThatCutABasketDecompressItOnce) {
  MLAAS_REQUIRE_CORPUS();
  for (const std::size_t workers : {0, 1}) {
    SCOPED_TRACE(fmt::format("{} pool threads", workers));
    const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");
    const auto names = supportedBranches(tree);
    const auto distinct = tree.plan(names, {0, tree.entries()}).baskets.size();
    core::ThreadPool pool(workers);
    ReadOptions options;
    if (workers > 0) options.pool = &pool;
    options.parallelMinNanos = 0;  // share even small reads: the split is what is tested
    ReadStats stats;
    std::vector<Column> columns;
    std::uint64_t planned = 0;
    for (std::uint64_t begin = 0; begin < tree.entries(); begin += 300) {
      const EntryRange range{begin, std::min(begin + 300, tree.entries())};
      planned += tree.plan(names, range).baskets.size();
      tree.readInto(names, range, columns, options, &stats);
      // The same slice from a tree opened anew: nothing kept, every basket decompressed.
      const auto expected = openCorpus("uproot-HZZ-zlib.root")->tree("events").read(names, range);
      SCOPED_TRACE(fmt::format("entries {}..{}", range.begin, range.end));
      for (std::size_t k = 0; k < names.size(); ++k) expectSameColumn(columns[k], expected[k]);
    }
    EXPECT_EQ(stats.baskets, planned);
    EXPECT_GT(planned, distinct);                        // the chunks did cut baskets
    EXPECT_EQ(stats.baskets - stats.basketsReused, distinct);  // and each was decompressed once
  }
}

// Reads of neighbouring ranges that run side by side finish in either order (the dataset's
// workers read units next to each other): the later range reaches the basket they share first.
// Read every pair of 300-entry chunks later one first: each basket is still decompressed once,
// whichever part of it was read first, and the values are those a tree opened anew reads.
TEST(Reader, NeighbouringReadsInEitherOrderDecompressASharedBasketOnce) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");
  const auto names = supportedBranches(tree);
  const auto distinct = tree.plan(names, {0, tree.entries()}).baskets.size();
  std::vector<EntryRange> ranges;
  for (std::uint64_t begin = 0; begin < tree.entries(); begin += 300)
    ranges.push_back({begin, std::min(begin + 300, tree.entries())});
  for (std::size_t i = 0; i + 1 < ranges.size(); i += 2) std::swap(ranges[i], ranges[i + 1]);
  ReadStats stats;
  std::vector<Column> columns;
  std::uint64_t planned = 0;
  for (const auto& range : ranges) {
    planned += tree.plan(names, range).baskets.size();
    tree.readInto(names, range, columns, {}, &stats);
    const auto expected = openCorpus("uproot-HZZ-zlib.root")->tree("events").read(names, range);
    SCOPED_TRACE(fmt::format("entries {}..{}", range.begin, range.end));
    for (std::size_t k = 0; k < names.size(); ++k) expectSameColumn(columns[k], expected[k]);
  }
  EXPECT_GT(planned, distinct);
  EXPECT_EQ(stats.baskets - stats.basketsReused, distinct);
}

// The same reads really side by side, on two threads at once: values always right (which read
// decompresses a shared basket is up to the scheduler).
TEST(Reader, NeighbouringReadsOnTwoThreadsAtOnceReadTheRightValues) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");
  const auto names = supportedBranches(tree);
  std::vector<EntryRange> ranges;
  for (std::uint64_t begin = 0; begin < tree.entries(); begin += 300)
    ranges.push_back({begin, std::min(begin + 300, tree.entries())});
  std::vector<std::vector<Column>> results(ranges.size());
  std::atomic<std::size_t> next{0};
  auto reader = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < ranges.size();) results[i] = tree.read(names, ranges[i]);
  };
  std::thread other(reader);
  reader();
  other.join();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    SCOPED_TRACE(fmt::format("entries {}..{}", ranges[i].begin, ranges[i].end));
    const auto expected = openCorpus("uproot-HZZ-zlib.root")->tree("events").read(names, ranges[i]);
    for (std::size_t k = 0; k < names.size(); ++k) expectSameColumn(results[i][k], expected[k]);
  }
}

// Two reads of neighbouring ranges started at the same moment reach the baskets they share
// together: the one that claims a basket decompresses it, the other decodes its other baskets
// meanwhile and takes it kept afterwards (before, both decompressed it: 1.15x the CPU of one
// thread in the dataset layer). Each basket is decompressed once, every time, with the right
// values; on the general path (jagged columns of several baskets appended in order) and with a
// pool inside each read.
TEST(Reader, NeighbouringReadsStartedTogetherDecompressASharedBasketOnce) {
  MLAAS_REQUIRE_CORPUS();
  for (const std::size_t workers : {0, 1}) {
    SCOPED_TRACE(fmt::format("{} pool threads per read", workers));
    const auto names = supportedBranches(openCorpus("uproot-HZZ-zlib.root")->tree("events"));
    const auto reference = openCorpus("uproot-HZZ-zlib.root")->tree("events");
    const EntryRange ranges[2] = {{0, 1200}, {1200, reference.entries()}};
    const std::vector<Column> expected[2] = {reference.read(names, ranges[0]), reference.read(names, ranges[1])};
    const auto distinct = reference.plan(names, {0, reference.entries()}).baskets.size();
    const auto planned =
        reference.plan(names, ranges[0]).baskets.size() + reference.plan(names, ranges[1]).baskets.size();
    ASSERT_GT(planned, distinct);  // the ranges share baskets
    for (int round = 0; round < 20; ++round) {
      SCOPED_TRACE(fmt::format("round {}", round));
      const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");  // nothing kept
      core::ThreadPool pools[2] = {core::ThreadPool(workers), core::ThreadPool(workers)};
      ReadStats stats[2];
      std::vector<Column> columns[2];
      std::latch start(2);
      auto reader = [&](int k) {
        ReadOptions options;
        options.pool = &pools[k];
        options.parallelMinNanos = 0;
        start.arrive_and_wait();
        tree.readInto(names, ranges[k], columns[k], options, &stats[k]);
      };
      std::thread other(reader, 1);
      reader(0);
      other.join();
      EXPECT_EQ(stats[0].baskets + stats[1].baskets, planned);
      EXPECT_EQ(stats[0].baskets - stats[0].basketsReused + stats[1].baskets - stats[1].basketsReused, distinct);
      for (int k = 0; k < 2; ++k)
        for (std::size_t c = 0; c < names.size(); ++c) expectSameColumn(columns[k][c], expected[k][c]);
    }
  }
}

TEST(Reader, ChunksFetchNoBytesOfTheBasketsKeptFromTheChunkBefore) {
  MLAAS_REQUIRE_CORPUS();
  // A source that is not a local file (nothing mapped: every basket a read decodes is fetched),
  // counting what each chunk fetches. Ranges are coalesced only where they touch, so what a
  // chunk fetches is exactly the bytes of the baskets it fetches.
  // Compressed baskets are kept decompressed; stored ones (all of them, and LZ4's few that did not
  // compress), fetched rather than mapped, are kept as fetched.
  for (const auto& [name, workers] :
       std::vector<std::pair<std::string, std::size_t>>{{"uproot-HZZ-zlib.root", 0},
                                                        {"uproot-HZZ-zlib.root", 1},
                                                        {"uproot-HZZ-lz4.root", 0},
                                                        {"uproot-HZZ-uncompressed.root", 0},
                                                        {"uproot-HZZ-uncompressed.root", 1}}) {
    SCOPED_TRACE(fmt::format("{} on {} pool threads", name, workers));
    auto source = std::make_shared<RecordingSource>(name);
    const auto tree = File::open(source)->tree("events");
    const auto names = supportedBranches(tree);
    core::ThreadPool pool(workers);
    ReadOptions options;
    options.coalesceGap = 0;
    if (workers > 0) options.pool = &pool;
    options.parallelMinNanos = 0;  // share even small reads: the split is what is tested
    std::vector<Column> columns;
    std::size_t chunksThatFetchedLess = 0;
    for (const auto& range : tree.chunks(300)) {
      SCOPED_TRACE(fmt::format("entries {}..{}", range.begin, range.end));
      // Every basket of this slice lies on disk; those that begin before it were cut by the
      // chunk before, which kept them.
      std::uint64_t planned = 0, expected = 0;
      for (const auto& pb : tree.plan(names, range, options).baskets) {
        ASSERT_GT(pb.bytes.size, 0u);
        planned += pb.bytes.size;
        if (pb.entries.begin >= range.begin) expected += pb.bytes.size;
      }
      const auto before = source->reads.size();
      ReadStats stats;
      tree.readInto(names, range, columns, options, &stats);
      std::uint64_t fetched = 0;
      for (std::size_t k = before; k < source->reads.size(); ++k) fetched += source->reads[k].size;
      EXPECT_EQ(fetched, expected);
      EXPECT_EQ(stats.compressedBytes, expected);
      chunksThatFetchedLess += expected < planned;
      // The same values as the slice read from a tree opened anew (nothing kept, all fetched).
      const auto fresh = openCorpus(name)->tree("events").read(names, range);
      for (std::size_t k = 0; k < names.size(); ++k) expectSameColumn(columns[k], fresh[k]);
    }
    EXPECT_GE(chunksThatFetchedLess, 5u);  // 9 chunks; all but the first begin inside baskets
  }
}

TEST(Reader, ConcurrentChunkedReadsThatCutTheSameBasketsReadTheirOwnValues) {
  MLAAS_REQUIRE_CORPUS();
  // Two threads read one tree in chunks of different sizes, so each keeps, takes and lets go of
  // cut baskets the other also keeps (one per branch: each replaces and drops the other's). A read
  // holds what it took when it was planned; whatever the interleaving, every chunk must hold the
  // values of the same slice read from a tree of its own. Not a local file: stored baskets are
  // kept too. (Run under TSan as well.)
  for (const char* name : {"uproot-HZZ-zlib.root", "uproot-HZZ-uncompressed.root"}) {
    SCOPED_TRACE(name);
    const auto tree = File::open(std::make_shared<RecordingSource>(name))->tree("events");
    const auto names = supportedBranches(tree);
    const auto reference = openCorpus(name)->tree("events");
    core::ThreadPool pool(1);
    auto readAll = [&](std::uint64_t chunkEntries, const ReadOptions& options, std::size_t& mismatches) {
      for (int pass = 0; pass < 3; ++pass) {
        std::vector<Column> columns;
        for (const auto& range : tree.chunks(chunkEntries)) {
          ReadStats stats;
          tree.readInto(names, range, columns, options, &stats);
          const auto fresh = reference.read(names, range);
          for (std::size_t k = 0; k < names.size(); ++k)
            mismatches += columns[k].entries != fresh[k].entries || columns[k].offsets != fresh[k].offsets ||
                          columns[k].data != fresh[k].data;
        }
      }
    };
    std::size_t mismatchesA = 0, mismatchesB = 0;
    std::thread other([&] { readAll(170, ReadOptions{.pool = &pool, .parallelMinNanos = 0}, mismatchesB); });
    readAll(300, ReadOptions{}, mismatchesA);
    other.join();
    EXPECT_EQ(mismatchesA, 0u);
    EXPECT_EQ(mismatchesB, 0u);
  }
}

TEST(Reader, ABranchAskedForTwiceIsACallersErrorNotACorruptFile) {
  MLAAS_REQUIRE_CORPUS();
  // Each name is one column: a name given twice used to plan the branch's baskets twice into its
  // first column, and the read blamed the file ("has baskets for 200 of the 100 entries").
  const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");
  for (const EntryRange range : {EntryRange{0, 100}, EntryRange{0, 0}}) {
    try {
      (void)tree.read(std::vector<std::string>{"Jet_Px", "NJet", "Jet_Px"}, range);
      FAIL() << "a branch asked for twice must be refused";
    } catch (const core::Exception& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), core::Errc::invalid_argument) << what;
      EXPECT_NE(what.find("branch \"Jet_Px\" is asked for twice"), std::string::npos) << what;
    }
  }
}

TEST(Reader, ForEachChunkReusesTheBuffersTheCallbackLeaves) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-zstd.root")->tree("events");
  const std::vector<std::string> names{"Muon_Px", "NMuon", "Jet_E"};
  const auto full = tree.read(names, {0, tree.entries()});
  std::vector<Column> joined(names.size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    joined[k] = full[k];
    joined[k].data.clear();
    joined[k].entries = 0;
    for (auto& level : joined[k].offsets) level.assign(1, 0);
  }
  // NMuon's buffer is given a large capacity in each call: a fresh allocation would have just
  // the chunk's size, so the same pointer with that capacity in the next call means reuse.
  constexpr std::size_t kLent = 1 << 20;
  const std::byte* lastData = nullptr;
  std::size_t chunk = 0, reused = 0;
  tree.forEachChunk(names, 500, [&](EntryRange r, std::vector<Column>& cols) {
    ASSERT_EQ(cols.size(), names.size());
    for (std::size_t k = 0; k < names.size(); ++k) {
      EXPECT_EQ(cols[k].name, names[k]);
      EXPECT_EQ(cols[k].firstEntry, r.begin);
      EXPECT_EQ(cols[k].entries, r.size());
      appendColumn(joined[k], cols[k]);
    }
    if (lastData) {
      EXPECT_EQ(cols[1].data.data(), lastData) << "chunk " << chunk;
      EXPECT_GE(cols[1].data.capacity(), kLent) << "chunk " << chunk;
      ++reused;
    }
    cols[1].data.reserve(kLent);
    lastData = cols[1].data.data();
    // Every other chunk takes Muon_Px away: the next read must allocate it again, not reuse it.
    if (chunk++ % 2 == 0) {
      Column taken = std::move(cols[0]);
      EXPECT_EQ(taken.entries, r.size());
    }
  });
  EXPECT_GE(chunk, 4u);
  EXPECT_GE(reused, 2u);
  for (std::size_t k = 0; k < names.size(); ++k) expectSameColumn(joined[k], full[k]);
}

// A tree whose one branch is one large stored basket (written by our writer, which puts every
// basket on disk) is still shared: the basket is cut into slices of entries, each its own job. The
// values are the ones written, on a mapped file and on a source that fetches, over the whole tree
// and over a range that cuts the basket (not sliced).
TEST(Reader, OneLargeStoredBasketIsCutIntoSlicesThatShareTheRead) {
  test::TempDir dir;
  const auto path = dir / "one_basket.root";
  constexpr std::size_t kEntries = 300'000;  // 2.4 MB of float64: nine 256 KiB slices
  Column x;
  x.name = "x";
  x.type = DType::float64;
  x.entries = kEntries;
  x.data.resize(kEntries * sizeof(double));
  for (std::size_t i = 0; i < kEntries; ++i) {
    const double v = static_cast<double>(i) * 0.5 - 7.25;
    std::memcpy(x.data.data() + i * sizeof(double), &v, sizeof v);
  }
  {
    FileWriter file(path.string(), {.compression = 0, .basketBytes = 16 << 20});
    file.addTree("t", {BranchSpec::scalar("x", DType::float64)}).append({&x, 1});
    file.close();
  }
  core::ThreadPool pool(1);
  for (const auto& file : {File::open(path.string()), openInMemory(path, "one_basket.root")}) {
    SCOPED_TRACE(file->source()->name());
    const auto tree = file->tree("t");
    ASSERT_EQ(tree.branches().size(), 1u);
    ASSERT_EQ(tree.branches()[0].baskets, 1u);
    // A local file opened for pread only (MLAAS_LOCAL_MMAP=0) reads a large stored basket straight
    // into its column with one pread: one job, not sliced (docs/root-format.md).
    const auto& source = *file->source();
    const io::ByteRange all{0, source.size()};
    const bool readStraight = io::isLocal(source) && io::mappedBytes(source, {&all, 1}).empty();
    ReadStats stats;
    const auto whole = tree.read({"x"}, {0, kEntries}, {.pool = &pool}, &stats);
    EXPECT_EQ(stats.threads, readStraight ? 1u : 2u);  // one basket, and still two threads
    ASSERT_EQ(whole.size(), 1u);
    EXPECT_EQ(whole[0].entries, kEntries);
    EXPECT_TRUE(whole[0].data == x.data);
    ReadStats alone;
    const auto single = tree.read({"x"}, {0, kEntries}, {}, &alone);
    EXPECT_EQ(alone.threads, 1u);
    EXPECT_TRUE(single[0].data == x.data);
    // A range that cuts the basket is not sliced (one job; a second thread would only wait).
    ReadStats cut;
    const auto part = tree.read({"x"}, {1000, 200'000}, {.pool = &pool}, &cut);
    EXPECT_EQ(cut.threads, 1u);
    ASSERT_EQ(part[0].entries, 199'000u);
    EXPECT_EQ(std::memcmp(part[0].data.data(), x.data.data() + 1000 * sizeof(double), 199'000 * sizeof(double)), 0);
  }
}

TEST(Reader, ReadIntoGivesWhatReadGivesWhateverTheColumnsHeld) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("uproot-HZZ-zlib.root")->tree("events");
  const std::vector<std::string> names{"Jet_Px", "NJet", "Muon_Iso"};
  // Columns left over from other branches, another range and more levels than needed.
  std::vector<Column> cols = tree.read(std::vector<std::string>{"Electron_E", "Muon_Px", "NMuon", "Jet_E"}, {10, 2000});
  cols[0].offsets.resize(3, std::vector<std::uint64_t>{7, 8});
  core::ThreadPool pool(1);
  ReadOptions threaded;
  threaded.pool = &pool;
  threaded.parallelMinNanos = 0;
  for (const ReadOptions* options : std::initializer_list<const ReadOptions*>{&threaded, nullptr}) {
    for (const EntryRange r : {EntryRange{100, 900}, EntryRange{0, 2421}, EntryRange{2000, 2001}, EntryRange{5, 5}}) {
      tree.readInto(names, r, cols, options ? *options : ReadOptions{});
      const auto expected = tree.read(names, r);
      ASSERT_EQ(cols.size(), expected.size());
      for (std::size_t k = 0; k < names.size(); ++k) {
        expectSameColumn(cols[k], expected[k]);
        EXPECT_EQ(cols[k].firstEntry, expected[k].firstEntry);
      }
    }
  }
}

TEST(Reader, ColumnsOfSeveralBasketsReadIntoStaleBuffersOnOneThreadOrMore) {
  MLAAS_REQUIRE_CORPUS();
  // Every branch here spans 3-4 baskets; "nooffsets" has no entry offsets, so its counted leaves
  // wait for their counter. One thread appends a column's baskets in place (and sends a column to
  // pieces from its first waiting basket on); workers decode pieces and join them. Either way, and
  // into buffers left longer by an earlier read, the columns are those of the file with offsets.
  const auto with = openCorpus("uproot-small-dy-withoffsets.root")->tree("tree");
  const auto without = openCorpus("uproot-small-dy-nooffsets.root")->tree("tree");
  const auto names = supportedBranches(with);
  ASSERT_GE(with.plan(names, {0, with.entries()}).baskets.size(), 3 * names.size());
  core::ThreadPool pool(1);
  for (const bool threaded : {false, true}) {
    ReadOptions options;
    if (threaded) options.pool = &pool;
    options.parallelMinNanos = 0;
    for (const Tree* tree : {&with, &without}) {
      std::vector<Column> cols = tree->read(names, {0, tree->entries()}, options);  // the longest buffers
      for (const EntryRange r :
           {EntryRange{17, 333}, EntryRange{0, with.entries()}, EntryRange{100, 101}, EntryRange{200, 480}}) {
        SCOPED_TRACE(fmt::format("{} thread(s), {}, entries {}..{}", threaded ? 2 : 1,
                                 tree == &with ? "with offsets" : "without", r.begin, r.end));
        tree->readInto(names, r, cols, options);
        const auto expected = with.read(names, r);
        ASSERT_EQ(cols.size(), expected.size());
        for (std::size_t k = 0; k < names.size(); ++k) expectSameColumn(cols[k], expected[k]);
      }
    }
  }
}

TEST(Reader, MappedAndPreadLocalFilesReadAlike) {
  MLAAS_REQUIRE_CORPUS();
  // Local files are decoded from their mapping; MLAAS_LOCAL_MMAP=0 opens them for pread only, which
  // takes the fetch path (and, for issue79's 2.8 MB stored basket, the read straight into its column).
  core::ThreadPool pool(1);
  for (const char* name : {"uproot-issue79.root", "uproot-HZZ-uncompressed.root", "uproot-HZZ-lz4.root",
                           "nanoAOD_2015_CMS_Open_Data_ttbar.root"}) {
    SCOPED_TRACE(name);
    const auto mapped = openCorpus(name);
    ::setenv("MLAAS_LOCAL_MMAP", "0", 1);
    std::shared_ptr<File> preadOnly;
    try {
      preadOnly = openCorpus(name);
    } catch (...) {
      ::unsetenv("MLAAS_LOCAL_MMAP");
      throw;
    }
    ::unsetenv("MLAAS_LOCAL_MMAP");
    const auto path = mapped->treePaths().at(0);
    const auto a = mapped->tree(path), b = preadOnly->tree(path);
    const auto names = supportedBranches(a);
    for (const ReadOptions options : {ReadOptions{}, ReadOptions{.pool = &pool, .parallelMinNanos = 0}}) {
      const auto x = a.read(names, {0, a.entries()}, options);
      const auto y = b.read(names, {0, b.entries()}, options);
      ASSERT_EQ(x.size(), y.size());
      for (std::size_t k = 0; k < x.size(); ++k) expectSameColumn(x[k], y[k]);
    }
  }
}

TEST(Reader, NamesResolveAnewForEachTreeAndOrder) {
  MLAAS_REQUIRE_CORPUS();
  // The same names in other orders and on other trees, one after the other on one thread: each read
  // gives the columns it names (a remembered resolution must never leak into another read).
  const auto zlib = openCorpus("uproot-HZZ-zlib.root")->tree("events");
  const auto nano = openCorpus("nanoAOD_2015_CMS_Open_Data_ttbar.root")->tree("Events");
  const std::vector<std::string> forward{"NJet", "Jet_Px", "NMuon"}, backward{"NMuon", "Jet_Px", "NJet"};
  const auto expected = zlib.read(forward, {0, 100});
  for (int round = 0; round < 2; ++round) {
    for (const auto* names : {&forward, &backward}) {
      const auto cols = zlib.read(*names, {0, 100});
      for (std::size_t k = 0; k < names->size(); ++k) {
        const auto& want = expected[names == &forward ? k : names->size() - 1 - k];
        expectSameColumn(cols[k], want);
      }
      const auto other = nano.read(std::vector<std::string>{"nJet", "run"}, {0, 10});
      EXPECT_EQ(other[0].name, "nJet");
      EXPECT_EQ(other[1].name, "run");
    }
  }
  EXPECT_THROW((void)zlib.read(std::vector<std::string>{"NJet", "nJet"}, {0, 10}), core::Exception);
}

TEST(Reader, ChainReadsFilesAsOneSequence) {
  MLAAS_REQUIRE_CORPUS();
  const Chain chain(
      {test::corpusFile("uproot-HZZ-zlib.root").string(), test::corpusFile("uproot-HZZ-lz4.root").string()}, "events");
  ASSERT_EQ(chain.entries(), 2 * 2421u);
  EXPECT_EQ(chain.offsets(), (std::vector<std::uint64_t>{0, 2421, 4842}));
  const auto one = chain.trees()[0].read("Jet_E", {0, 2421});
  const auto cols = chain.read({"Jet_E"}, {2400, 2450});
  ASSERT_EQ(cols[0].entries, 50u);
  EXPECT_EQ(cols[0].firstEntry, 2400u);
  // entries 2421.. are file 2's first entries, which equal file 1's (same content, other codec)
  const auto& o = cols[0].offsets[0];
  const auto& f = one.offsets[0];
  for (std::size_t i = 0; i < 21; ++i) EXPECT_EQ(o[i + 1] - o[i], f[2400 + i + 1] - f[2400 + i]);
  for (std::size_t i = 0; i < 29; ++i) EXPECT_EQ(o[21 + i + 1] - o[21 + i], f[i + 1] - f[i]);
  std::uint64_t seen = 0;
  chain.forEachChunk({"Jet_E"}, 1000, [&](EntryRange r, std::vector<Column>& c) {
    EXPECT_EQ(r.begin, seen);
    EXPECT_EQ(c[0].firstEntry, r.begin);
    seen = r.end;
  });
  EXPECT_EQ(seen, chain.entries());
}

TEST(Reader, PlanListsEveryBasketAndCoalescesRanges) {
  MLAAS_REQUIRE_CORPUS();
  const auto tree = openCorpus("nanoAOD_2015_CMS_Open_Data_ttbar.root")->tree("Events");
  const auto names = supportedBranches(tree);
  const auto plan = tree.plan(names, {0, tree.entries()});
  std::size_t baskets = 0;
  for (const auto& n : names) baskets += tree.branch(n)->baskets;
  EXPECT_EQ(plan.baskets.size(), baskets);
  EXPECT_LT(plan.requests.size(), plan.baskets.size() / 10) << "adjacent baskets should merge";
  for (std::size_t k = 1; k < plan.requests.size(); ++k) EXPECT_GT(plan.requests[k].offset, plan.requests[k - 1].end());
  for (const auto& pb : plan.baskets) {
    if (pb.bytes.size == 0) continue;
    const bool inside = std::any_of(plan.requests.begin(), plan.requests.end(), [&](const io::ByteRange& r) {
      return pb.bytes.offset >= r.offset && pb.bytes.end() <= r.end();
    });
    EXPECT_TRUE(inside);
  }
  const auto none = tree.plan(names, {0, tree.entries()}, {.coalesceGap = 0, .maxRequestBytes = 1});
  EXPECT_GT(none.requests.size(), plan.requests.size());
}

TEST(Reader, NestedDirectoriesAndStlContainers) {
  MLAAS_REQUIRE_CORPUS();
  const auto file = openCorpus("uproot-nesteddirs.root");
  const auto trees = file->treePaths();
  EXPECT_NE(std::find(trees.begin(), trees.end(), "one/two/tree"), trees.end());
  EXPECT_NE(std::find(trees.begin(), trees.end(), "three/tree"), trees.end());
  const auto stl = openCorpus("uproot-stl_containers.root")->tree("tree");
  const auto vv = stl.read("vector_vector_string", {0, 5});
  EXPECT_EQ(vv.type, DType::string);
  EXPECT_EQ(vv.offsets.size(), 3u);
  // A map: key and value columns with the pairs of each entry (a map of vectors: the value column
  // has a second offsets level).
  const auto* keys = stl.branch("map_int32_int16.first");
  const auto* values = stl.branch("map_int32_int16.second");
  ASSERT_NE(keys, nullptr);
  ASSERT_NE(values, nullptr);
  EXPECT_EQ(keys->type, DType::int32);
  EXPECT_EQ(values->type, DType::int16);
  EXPECT_EQ(keys->jaggedLevels, 1);
  EXPECT_EQ(stl.branch("map_int32_int16"), nullptr);
  const auto k = stl.read("map_int32_int16.first", {0, 5});
  const auto v = stl.read("map_int32_int16.second", {0, 5});
  EXPECT_EQ(k.offsets, v.offsets);
  EXPECT_EQ(k.valueCount(), v.valueCount());
  const auto mv = stl.read("map_int32_vector_int16.second", {0, 5});
  EXPECT_EQ(mv.offsets.size(), 2u);
  EXPECT_EQ(mv.offsets[0], stl.read("map_int32_vector_int16.first", {0, 5}).offsets[0]);
  // A branch we cannot read says what it is, and reading it throws unsupported.
  const auto meta = openCorpus("uproot-physlite-rntuple_v1-0-0-0.root")->tree("MetaData");
  const auto* links = meta.branch("CutBookkeepersAux.childrenLinks");
  ASSERT_NE(links, nullptr);
  EXPECT_FALSE(links->supported);
  EXPECT_NE(links->unsupportedReason.find("ElementLink<"), std::string::npos);
  try {
    (void)meta.read("CutBookkeepersAux.childrenLinks", {0, 1});
    FAIL() << "reading an unsupported branch must throw";
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::unsupported);
    EXPECT_NE(std::string(e.what()).find("ElementLink<"), std::string::npos);
  }
  try {
    (void)stl.read("nope", {0, 5});
    FAIL();
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::not_found);
  }
}

TEST(Reader, RNTupleOpenedAsATreeSaysWhatItIs) {
  MLAAS_REQUIRE_CORPUS();
  const auto file = openCorpus("ntpl001_staff_rntuple_v1-0-0-0.root");
  const auto ntuples = file->rntuplePaths();
  ASSERT_FALSE(ntuples.empty());
  try {
    (void)file->tree(ntuples[0]);
    FAIL();
  } catch (const core::Exception& e) {
    EXPECT_EQ(e.code(), core::Errc::unsupported);
    EXPECT_NE(std::string(e.what()).find("is an RNTuple, not a TTree: open it with File::ntuple"), std::string::npos)
        << e.what();
  }
}

TEST(Reader, MemorySourceReadsLikeTheDisk) {
  MLAAS_REQUIRE_CORPUS();
  const auto mem = openInMemory(test::corpusFile("uproot-Zmumu-zlib.root"), "memory.root")->tree("events");
  const auto disk = openCorpus("uproot-Zmumu-zlib.root")->tree("events");
  const auto names = supportedBranches(disk);
  const auto a = mem.read(names, {0, mem.entries()});
  const auto b = disk.read(names, {0, disk.entries()});
  for (std::size_t k = 0; k < a.size(); ++k) expectSameColumn(a[k], b[k]);
}

}  // namespace
}  // namespace mlaas::root
