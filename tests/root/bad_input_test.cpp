// Damaged files: zero-length, truncated and bit-flipped copies of corpus files (made here in a
// temp dir) give a clear core::Exception naming the file (and object/offset), or -- where damage
// is undetectable, inside an uncompressed payload -- different values; never a crash, a hang or a
// huge allocation. Run under the asan preset as well.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "core/thread_pool.hpp"
#include "root/memory_source.hpp"
#include "root/object.hpp"
#include "root/tree.hpp"
#include "root/write_buffer.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

/// Opens the file and reads every supported branch of every tree; returns the error, or "".
std::string readEverything(const std::string& path) {
  try {
    const auto file = File::open(path);
    for (const auto& t : file->treePaths()) {
      const auto tree = file->tree(t);
      std::vector<std::string> names;
      for (const auto& b : tree.branches())
        if (b.supported) names.push_back(b.name);
      (void)tree.read(names, {0, tree.entries()});
    }
  } catch (const core::Exception& e) {
    return e.what();
  }
  return "";
}

std::string corpusBytes(const std::string& name) { return test::readFile(test::corpusFile(name)); }

// One branch's first basket in a corpus file, for tests that damage it: the pristine tree, where
// the basket's key lies, the file's bytes, and the key's length (fKeylen, big-endian at +14).
struct FirstBasket {
  Tree tree;
  io::ByteRange where;
  std::string pristine;
  std::uint32_t keylen = 0;
};
FirstBasket firstBasket(const std::string& name, const std::string& treePath, const std::string& branch) {
  auto tree = File::open(test::corpusFile(name).string())->tree(treePath);
  const auto plan = tree.plan({branch}, {0, tree.entries()});
  if (plan.baskets.empty()) throw std::runtime_error(name + ": " + branch + " has no basket");
  const auto where = plan.baskets[0].bytes;
  auto pristine = corpusBytes(name);
  const auto keylen = static_cast<std::uint32_t>((static_cast<unsigned char>(pristine[where.offset + 14]) << 8) |
                                                 static_cast<unsigned char>(pristine[where.offset + 15]));
  return {std::move(tree), where, std::move(pristine), keylen};
}

TEST(BadInput, ZeroLengthFile) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  const auto path = (dir / "empty.root").string();
  test::writeFile(path, "");
  const auto error = readEverything(path);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("not a ROOT file"), std::string::npos) << error;
}

TEST(BadInput, NotARootFile) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  const auto path = (dir / "text.root").string();
  test::writeFile(path, std::string(200, 'x'));
  EXPECT_NE(readEverything(path).find("no \"root\" magic"), std::string::npos);
}

TEST(BadInput, TruncatedFilesFailWithFileAndOffset) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  for (const char* name : {"uproot-HZZ-zlib.root", "uproot-stl_containers.root", "uproot-small-dy-nooffsets.root"}) {
    const auto bytes = corpusBytes(name);
    for (const double fraction : {0.01, 0.1, 0.3, 0.5, 0.9, 0.999}) {
      const auto size = static_cast<std::size_t>(static_cast<double>(bytes.size()) * fraction);
      const auto path = (dir / (std::to_string(size) + "-" + name)).string();
      test::writeFile(path, bytes.substr(0, size));
      const auto error = readEverything(path);
      SCOPED_TRACE(path);
      // Truncation always loses the key list or the streamer info at the end of the file.
      ASSERT_FALSE(error.empty());
      EXPECT_NE(error.find(path), std::string::npos) << error;
      EXPECT_NE(error.find("offset"), std::string::npos) << error;
    }
  }
}

TEST(BadInput, CorruptBasketNamesTreeBranchBasketAndOffset) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  auto bytes = corpusBytes("uproot-HZZ-zlib.root");
  const auto original = File::open(test::corpusFile("uproot-HZZ-zlib.root").string())->tree("events");
  const auto plan = original.plan({"Jet_Px"}, {0, original.entries()});
  ASSERT_FALSE(plan.baskets.empty());
  const auto at = plan.baskets[0].bytes.offset;
  // Overwrite the middle of the compressed stream (after the key and the 9-byte block header).
  for (std::size_t k = 0; k < 16; ++k) bytes[at + plan.baskets[0].bytes.size / 2 + k] ^= 0x5a;
  const auto path = (dir / "flipped.root").string();
  test::writeFile(path, bytes);
  const auto tree = File::open(path)->tree("events");
  // The same error on one thread and from the parallel pass (fetch pieces and basket jobs).
  core::ThreadPool pool(2);
  for (const ReadOptions options :
       {ReadOptions{}, ReadOptions{.pool = &pool, .maxRequestBytes = 4096, .parallelMinNanos = 0}}) {
    try {
      (void)tree.read({"Jet_Py", "Jet_Px", "Muon_Px"}, {0, tree.entries()}, options);
      FAIL() << "a damaged deflate stream must be detected";
    } catch (const core::Exception& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), core::Errc::corrupt);
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("Jet_Px"), std::string::npos) << what;
      EXPECT_NE(what.find("basket 0 at offset " + std::to_string(at)), std::string::npos) << what;
    }
  }
}

TEST(BadInput, DamagedEntryOffsetsOfACountedLeafAreNamed) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  const auto [original, where, pristine, keylen] = firstBasket("uproot-HZZ-uncompressed.root", "events", "Jet_Px");
  ASSERT_EQ(original.plan({"Jet_Px"}, {0, original.entries()}).baskets.size(), 1u);
  const auto column = original.read("Jet_Px", {0, original.entries()});
  const std::string record = pristine.substr(where.offset, where.size);
  auto bigEndian = [](std::uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  // Entries 1000..1002 start at these stored offsets (4-byte floats counted from the key's start).
  const auto& offsets = column.offsets[0];
  std::string run;
  for (std::size_t i = 1000; i < 1003; ++i) run += bigEndian(keylen + static_cast<std::uint32_t>(offsets[i] * 4));
  const auto found = record.find(run);
  ASSERT_NE(found, std::string::npos);
  ASSERT_EQ(record.find(run, found + 1), std::string::npos);
  const std::size_t middle = where.offset + found + 4;  // entry 1001's start
  core::ThreadPool pool(1);
  for (const std::uint32_t bad : {0x7fffff00u, keylen + static_cast<std::uint32_t>(offsets[1000] * 4) - 4, 0u}) {
    auto bytes = pristine;
    bytes.replace(middle, 4, bigEndian(bad));
    const auto path = (dir / ("offsets-" + std::to_string(bad) + ".root")).string();
    test::writeFile(path, bytes);
    const auto tree = File::open(path)->tree("events");
    for (const ReadOptions options : {ReadOptions{}, ReadOptions{.pool = &pool, .parallelMinNanos = 0}}) {
      for (const EntryRange range : {EntryRange{0, tree.entries()}, EntryRange{900, 1100}}) {
        SCOPED_TRACE(fmt::format("stored offset {}, entries {}..{}", bad, range.begin, range.end));
        try {
          (void)tree.read(std::string("Jet_Px"), range, options);
          FAIL() << "a damaged entry offset must be detected";
        } catch (const core::Exception& e) {
          const std::string what = e.what();
          EXPECT_EQ(e.code(), core::Errc::corrupt);
          EXPECT_NE(what.find(path), std::string::npos) << what;
          EXPECT_NE(what.find("branch \"Jet_Px\" basket 0 at offset " + std::to_string(where.offset)),
                    std::string::npos)
              << what;
          EXPECT_NE(what.find("out of order or beyond"), std::string::npos) << what;
        }
      }
    }
    // A range that ends before the damage never looks at it.
    EXPECT_EQ(tree.read("Jet_Px", {0, 900}).data, original.read("Jet_Px", {0, 900}).data);
    // Nor on a source that fetches (remote, or pread), where the read keeps the stored basket it
    // used in part for the read of its rest: keeping it must not check the offsets beyond its range.
    std::vector<std::byte> copy(bytes.size());
    std::memcpy(copy.data(), bytes.data(), bytes.size());
    const auto fetched = File::open(std::make_shared<MemorySource>(path, std::move(copy)))->tree("events");
    EXPECT_EQ(fetched.read("Jet_Px", {0, 900}).data, original.read("Jet_Px", {0, 900}).data);
    EXPECT_THROW((void)fetched.read("Jet_Px", {900, 1100}), core::Exception);  // the rest, from the kept basket
  }
}

TEST(BadInput, EmbeddedBasketWithFewerEntryOffsetsThanEntriesIsRefused) {
  // A TBasket held in a tree record as ROOT streams it: key, TBasket header, fNevBuf entry offsets
  // (counted from the key's start), then the fLast bytes of its buffer. A damaged record may give
  // fewer offsets than entries: the reader indexes one offset per entry, so such a basket must be
  // refused when the tree record is read, as a basket on disk is when it is loaded.
  auto basket = [](std::int32_t offsetCount) {
    detail::WriteBuffer out;
    constexpr std::int32_t keylen = 29 + 19, nevbuf = 3, last = keylen + 4 * nevbuf;
    out.i32(0);       // fNbytes
    out.i16(4);       // key version
    out.i32(0);       // fObjlen
    out.i32(0);       // fDatime
    out.i16(keylen);  // fKeylen
    out.i16(1);       // fCycle
    out.i32(0);       // fSeekKey
    out.i32(0);       // fSeekPdir
    out.zeros(3);     // class name, name, title: empty
    out.i16(3);       // TBasket version
    out.i32(32000);   // fBufferSize
    out.i32(8);       // fNevBufSize
    out.i32(nevbuf);  // fNevBuf
    out.i32(last);    // fLast
    out.u8(1);        // flag: entry offsets, then the buffer
    out.i32(offsetCount);
    for (std::int32_t k = 0; k < offsetCount; ++k) out.i32(keylen + 4 * k);
    for (std::int32_t k = 0; k < last; ++k) out.u8(static_cast<std::uint8_t>(k));
    return std::move(out.data());
  };
  const StreamerInfos infos;
  {  // As ROOT writes it: one offset per entry.
    const auto bytes = basket(3);
    const std::string_view context = "good.root: tree record";
    Cursor c(bytes, 0, context);
    detail::ObjectReader reader(infos, c);
    const auto obj = reader.readTop("TBasket");
    ASSERT_TRUE(obj->basket);
    EXPECT_EQ(obj->basket->nevbuf, 3);
    EXPECT_EQ(obj->basket->offsets, (std::vector<std::int32_t>{0, 4, 8}));
    EXPECT_EQ(obj->basket->content.size(), 12u);
  }
  for (const std::int32_t count : {2, 1}) {
    SCOPED_TRACE(count);
    const auto bytes = basket(count);
    const std::string_view context = "damaged.root: tree record";
    Cursor c(bytes, 0, context);
    detail::ObjectReader reader(infos, c);
    try {
      (void)reader.readTop("TBasket");
      FAIL() << "an embedded basket with " << count << " offsets for 3 entries must be refused";
    } catch (const core::Exception& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.code(), core::Errc::corrupt);
      EXPECT_NE(what.find("damaged.root: tree record"), std::string::npos) << what;
      EXPECT_NE(what.find("offset count"), std::string::npos) << what;
    }
  }
}

TEST(BadInput, LargeStoredBasketReadInPlaceChecksItsKey) {
  MLAAS_REQUIRE_CORPUS();
  // issue79's 2.8 MB stored basket is read straight into its column on a local file: a damaged key
  // or TBasket header is still named with the branch, the basket and its offset.
  test::TempDir dir;
  const auto [original, where, pristine, keylen] = firstBasket("uproot-issue79.root", "taus", "pt");
  ASSERT_GE(where.size, 256u * 1024);
  core::ThreadPool pool(1);
  auto expectNamed = [&](const std::string& bytes, const std::string& label, const std::string& message) {
    const auto path = (dir / (label + ".root")).string();
    test::writeFile(path, bytes);
    const auto tree = File::open(path)->tree("taus");
    for (const ReadOptions options : {ReadOptions{}, ReadOptions{.pool = &pool, .parallelMinNanos = 0}}) {
      try {
        (void)tree.read(std::string("pt"), {0, tree.entries()}, options);
        FAIL() << label << ": the damage must be detected";
      } catch (const core::Exception& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(path), std::string::npos) << what;
        EXPECT_NE(what.find(message), std::string::npos) << what;
      }
    }
  };
  auto nbytes = pristine;
  nbytes[where.offset + 3] = static_cast<char>(nbytes[where.offset + 3] ^ 0x10);  // fNbytes
  expectNamed(nbytes, "nbytes",
              "branch \"pt\" basket 0 at offset " + std::to_string(where.offset) + ": basket key says");
  // fNevBuf, the last int32 before fLast and the flag byte that end the key.
  auto nevbuf = pristine;
  nevbuf[where.offset + keylen - 9 + 3] = static_cast<char>(nevbuf[where.offset + keylen - 9 + 3] ^ 0x01);
  expectNamed(nevbuf, "nevbuf", "basket 0 at offset " + std::to_string(where.offset) + ": basket holds");
}

TEST(BadInput, AFileThatShrinksAfterOpeningIsAnErrorNotASignal) {
  MLAAS_REQUIRE_CORPUS();
  // A local file is read through a mapping; touching mapped pages past the end of a file cut after
  // it was opened would raise SIGBUS. The reader must notice and report the missing bytes instead.
  test::TempDir dir;
  for (const char* name : {"uproot-HZZ-uncompressed.root", "uproot-HZZ-lz4.root", "uproot-issue79.root"}) {
    SCOPED_TRACE(name);
    const auto path = (dir / name).string();
    const auto bytes = corpusBytes(name);
    test::writeFile(path, bytes);
    const auto file = File::open(path);
    const auto tree = file->tree(file->treePaths().at(0));
    std::vector<std::string> names;
    for (const auto& b : tree.branches())
      if (b.supported) names.push_back(b.name);
    const auto plan = tree.plan(names, {0, tree.entries()});
    ASSERT_FALSE(plan.requests.empty());
    std::filesystem::resize_file(path, plan.requests.front().offset + 100);  // most baskets are gone
    core::ThreadPool pool(1);
    for (const ReadOptions options : {ReadOptions{}, ReadOptions{.pool = &pool, .parallelMinNanos = 0}}) {
      try {
        (void)tree.read(names, {0, tree.entries()}, options);
        FAIL() << "a read of bytes cut from the file must fail";
      } catch (const core::Exception& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(path), std::string::npos) << what;
        EXPECT_NE(what.find("end of file"), std::string::npos) << what;
      }
    }
  }
}

TEST(BadInput, Lz4ChecksumIsVerified) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  auto bytes = corpusBytes("uproot-HZZ-lz4.root");
  const auto tree0 = File::open(test::corpusFile("uproot-HZZ-lz4.root").string())->tree("events");
  const auto plan = tree0.plan({"Muon_Px"}, {0, tree0.entries()});
  const auto& pb = plan.baskets.at(0);
  bytes[pb.bytes.end() - 3] ^= 0x01;  // a bit inside the LZ4 data, covered by its xxhash64
  const auto path = (dir / "lz4.root").string();
  test::writeFile(path, bytes);
  const auto tree = File::open(path)->tree("events");
  try {
    (void)tree.read("Muon_Px", {0, tree.entries()});
    FAIL();
  } catch (const core::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
}

TEST(BadInput, RandomBitFlipsNeverCrash) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  std::mt19937 rng(12345);
  for (const char* name : {"uproot-simple.root", "uproot-sample-6.20.04-uncompressed.root", "uproot-HZZ-zlib.root",
                           "uproot-stl_containers.root", "uproot-double32-float16.root"}) {
    const auto bytes = corpusBytes(name);
    std::size_t errors = 0;
    for (int trial = 0; trial < 60; ++trial) {
      auto damaged = bytes;
      const auto pos = std::uniform_int_distribution<std::size_t>(0, damaged.size() - 1)(rng);
      damaged[pos] = static_cast<char>(damaged[pos] ^ (1 << (trial % 8)));
      const auto path = (dir / ("flip-" + std::to_string(trial) + "-" + name)).string();
      test::writeFile(path, damaged);
      const auto error = readEverything(path);
      if (!error.empty()) {
        ++errors;
        EXPECT_NE(error.find(path), std::string::npos) << "error does not name the file: " << error;
      }
      std::filesystem::remove(path);
    }
    std::cout << name << ": " << errors << " of 60 bit flips detected (the rest hit unchecked payload bytes)\n";
  }
}

}  // namespace
}  // namespace mlaas::root
