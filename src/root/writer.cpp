#include "root/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "core/result.hpp"
#include "core/thread_pool.hpp"
#include "root/compress.hpp"
#include "root/write_buffer.hpp"
#include "root/write_streamers.hpp"

namespace mlaas::root {

namespace fs = std::filesystem;
using detail::WriteBuffer;

namespace {

constexpr std::uint64_t kStartBigFile = 2000000000;  // ROOT widens offsets past this (strictly >)
constexpr std::uint32_t kBegin = 100;
constexpr int kFileVersion = 63200;                  // the layout of ROOT 6.32
constexpr std::int16_t kVectorVersion = 9;           // std::vector's version word inside an entry
constexpr std::int16_t kVectorClassVersion = 6;      // ... and in TBranchElement::fClassVersion
constexpr std::size_t kMaxBasketBytes = std::size_t(1) << 30;

struct LeafType {
  char letter;
  const char* leafClass;
  const char* cppName;  // as in vector<T>
  bool isUnsigned;
};

LeafType leafType(DType t) {
  switch (t) {
    case DType::boolean: return {'O', "TLeafO", "bool", false};
    case DType::int8: return {'B', "TLeafB", "char", false};
    case DType::uint8: return {'b', "TLeafB", "unsigned char", true};
    case DType::int16: return {'S', "TLeafS", "short", false};
    case DType::uint16: return {'s', "TLeafS", "unsigned short", true};
    case DType::int32: return {'I', "TLeafI", "int", false};
    case DType::uint32: return {'i', "TLeafI", "unsigned int", true};
    case DType::int64: return {'L', "TLeafL", "Long64_t", false};
    case DType::uint64: return {'l', "TLeafL", "ULong64_t", true};
    case DType::float32: return {'F', "TLeafF", "float", false};
    case DType::float64: return {'D', "TLeafD", "double", false};
    case DType::string: break;
  }
  throw core::Exception(core::Errc::unsupported, "string branches are not supported by the writer");
}

std::uint32_t packDatime(bool reproducible) {
  if (reproducible) return (25u << 26) | (1u << 22) | (1u << 17);  // 2020-01-01 00:00:00
  const std::time_t now = std::time(nullptr);
  std::tm t{};
  localtime_r(&now, &t);
  return (static_cast<std::uint32_t>(t.tm_year + 1900 - 1995) << 26) |
         (static_cast<std::uint32_t>(t.tm_mon + 1) << 22) | (static_cast<std::uint32_t>(t.tm_mday) << 17) |
         (static_cast<std::uint32_t>(t.tm_hour) << 12) | (static_cast<std::uint32_t>(t.tm_min) << 6) |
         static_cast<std::uint32_t>(t.tm_sec);
}

// Native values to big-endian, `count` values of `size` bytes.
void putBigEndian(std::byte* dst, const std::byte* src, std::size_t count, std::size_t size, bool isBool) {
  switch (size) {
    case 1:
      if (isBool) {
        for (std::size_t i = 0; i < count; ++i) dst[i] = src[i] != std::byte{0} ? std::byte{1} : std::byte{0};
      } else {
        std::memcpy(dst, src, count);
      }
      break;
    case 2:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t v;
        std::memcpy(&v, src + 2 * i, 2);
        v = __builtin_bswap16(v);
        std::memcpy(dst + 2 * i, &v, 2);
      }
      break;
    case 4:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t v;
        std::memcpy(&v, src + 4 * i, 4);
        v = __builtin_bswap32(v);
        std::memcpy(dst + 4 * i, &v, 4);
      }
      break;
    case 8:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint64_t v;
        std::memcpy(&v, src + 8 * i, 8);
        v = __builtin_bswap64(v);
        std::memcpy(dst + 8 * i, &v, 8);
      }
      break;
    default: break;
  }
}

void storeBE32(std::byte* dst, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = std::byte((v >> (24 - 8 * i)) & 0xFF);
}

// A record's key; `wide` selects 64-bit seeks (version + 1000).
struct Key {
  std::string className, name, title;
  std::int32_t objlen = 0;
  std::int32_t nbytes = 0;
  std::uint32_t datime = 0;
  std::int16_t cycle = 1;
  std::uint64_t seekKey = 0;
  std::uint64_t seekPdir = 0;
  bool wide = false;
  std::int16_t extra = 0;  // bytes of a header inside the key (TBasket's 19)

  [[nodiscard]] std::uint32_t length() const {
    return static_cast<std::uint32_t>((wide ? 34 : 26) + WriteBuffer::stringSize(className) +
                                      WriteBuffer::stringSize(name) + WriteBuffer::stringSize(title) + extra);
  }
  void write(WriteBuffer& b) const {
    b.i32(nbytes);
    b.i16(static_cast<std::int16_t>(wide ? 1004 : 4));
    b.i32(objlen);
    b.u32(datime);
    b.i16(static_cast<std::int16_t>(length()));
    b.i16(cycle);
    if (wide) {
      b.i64(static_cast<std::int64_t>(seekKey));
      b.i64(static_cast<std::int64_t>(seekPdir));
    } else {
      b.i32(static_cast<std::int32_t>(seekKey));
      b.i32(static_cast<std::int32_t>(seekPdir));
    }
    b.string(className);
    b.string(name);
    b.string(title);
  }
};

std::string leafDims(const std::vector<std::size_t>& shape) {
  std::string s;
  for (auto d : shape) s += fmt::format("[{}]", d);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BranchSpec

BranchSpec BranchSpec::scalar(std::string name, DType type) {
  return BranchSpec{std::move(name), type, BranchKind::scalar, {}, {}, {}};
}
BranchSpec BranchSpec::array(std::string name, DType type, std::vector<std::size_t> shape) {
  return BranchSpec{std::move(name), type, BranchKind::fixedArray, std::move(shape), {}, {}};
}
BranchSpec BranchSpec::counted(std::string name, DType type, std::string counter) {
  return BranchSpec{std::move(name), type, BranchKind::counted, {}, std::move(counter), {}};
}
BranchSpec BranchSpec::vector(std::string name, DType type) {
  return BranchSpec{std::move(name), type, BranchKind::vector, {}, {}, {}};
}
BranchSpec BranchSpec::fromColumn(const Column& column) {
  if (column.offsets.size() > 1)
    throw core::Exception(core::Errc::unsupported,
                          fmt::format("column {}: nested jagged columns cannot be written", column.name));
  if (column.offsets.size() == 1) {
    if (!column.innerShape.empty())
      throw core::Exception(core::Errc::unsupported,
                            fmt::format("column {}: vectors of fixed arrays cannot be written", column.name));
    return vector(column.name, column.type);
  }
  if (!column.innerShape.empty()) return array(column.name, column.type, column.innerShape);
  return scalar(column.name, column.type);
}

// ---------------------------------------------------------------------------------------------
// The file

struct BasketRecord {
  std::uint64_t seek = 0;
  std::int32_t nbytes = 0;
  std::uint64_t firstEntry = 0;
};

struct BranchState {
  BranchSpec spec;
  LeafType leaf{};
  std::size_t valueSize = 0;   // bytes of one value
  std::size_t elementSize = 0; // bytes of one element (valueSize * product(innerShape))
  std::size_t innerSize = 1;
  bool variable = false;       // counted or vector: baskets carry entry offsets
  bool isCounter = false;
  std::int64_t maxCount = 0;   // counters: the largest count written
  std::int32_t counterIndex = -1;  // counted: index of its counter branch
  std::uint32_t keyLength = 0;     // of its baskets

  // Entries not yet flushed, native layout; the first consumedBytes / consumedCounts were flushed
  // already and are dropped at the next append (once per batch, not once per cluster).
  std::vector<std::byte> pending;
  std::vector<std::uint32_t> pendingCounts;  // variable: elements per entry
  std::size_t consumedBytes = 0;
  std::size_t consumedCounts = 0;

  std::vector<BasketRecord> baskets;
  std::int64_t totBytes = 0;
  std::int64_t zipBytes = 0;
};

struct TreeWriter::Impl {
  FileWriter::Impl* file = nullptr;
  std::string name, title;
  std::vector<BranchState> branches;
  std::map<std::string, std::size_t, std::less<>> byName;
  std::uint64_t entries = 0;   // flushed + pending
  std::uint64_t flushed = 0;
  std::uint64_t clusterEntries = 0;
  std::int64_t flushedZipBytes = 0;  // fZipBytes at the last full cluster
  std::uint64_t fullClusters = 0;

  void append(std::span<const Column> columns);
  void flushCluster(std::uint64_t count);
  void writeRecord(WriteBuffer& b) const;
  [[nodiscard]] std::int64_t totBytes() const {
    std::int64_t n = 0;
    for (const auto& b : branches) n += b.totBytes;
    return n;
  }
  [[nodiscard]] std::int64_t zipBytes() const {
    std::int64_t n = 0;
    for (const auto& b : branches) n += b.zipBytes;
    return n;
  }
};

struct FileWriter::Impl {
  std::string path;
  std::string tempPath;   // the name the file has (named temp) or gets at commit (anonymous)
  bool tempNamed = false;  // tempPath exists on disk and must be removed on failure
  std::string fileName;  // as stored in the file: the target's file name
  WriteOptions options;
  CompressionSetting compression;
  int fd = -1;
  std::uint64_t end = kBegin;  // next free byte, ROOT's fEND
  std::vector<std::byte> out;  // written at `outStart`, flushed in large writes
  std::uint64_t outStart = kBegin;
  std::uint32_t datime = 0;
  std::array<std::byte, 16> uuid{};
  std::vector<std::unique_ptr<TreeWriter>> trees;
  bool closed = false;
  bool failed = false;

  std::uint32_t directoryKeyLength = 0;
  std::uint32_t directoryObjlen = 0;

  void fail(const std::string& what) {
    failed = true;
    throw core::Exception(core::Errc::io, fmt::format("{}: {}: {}", path, what, std::strerror(errno)));
  }
  void writeAll(std::uint64_t at, std::span<const std::byte> bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(at + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("write failed");
      }
      done += static_cast<std::size_t>(n);
    }
  }
  void flushOut() {
    if (out.empty()) return;
    writeAll(outStart, out);
    outStart += out.size();
    out.clear();
  }
  /// Appends a record at `end`; returns its offset.
  std::uint64_t append(std::span<const std::byte> a, std::span<const std::byte> b = {}) {
    const std::uint64_t at = end;
    out.insert(out.end(), a.begin(), a.end());
    out.insert(out.end(), b.begin(), b.end());
    end += a.size() + b.size();
    if (out.size() >= (8u << 20)) flushOut();
    return at;
  }
  [[nodiscard]] bool wideNow() const { return end > kStartBigFile; }

  /// Writes an object record (compressed when worth it, as ROOT: payloads over 256 bytes).
  Key writeObject(std::string className, std::string name, std::string title,
                  const std::function<void(WriteBuffer&)>& stream) {
    Key key{std::move(className), std::move(name), std::move(title)};
    key.datime = datime;
    key.seekPdir = kBegin;
    key.wide = wideNow();
    WriteBuffer payload(key.length());
    stream(payload);
    key.objlen = static_cast<std::int32_t>(payload.size());
    std::vector<std::byte> zipped;
    const bool compressed = payload.size() > 256 && compressBlocks(compression, payload.view(), zipped);
    const auto stored = compressed ? std::span<const std::byte>(zipped) : payload.view();
    key.nbytes = static_cast<std::int32_t>(key.length() + stored.size());
    key.seekKey = end;
    WriteBuffer header;
    key.write(header);
    append(header.view(), stored);
    return key;
  }

  void removeTemp() noexcept {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    if (tempNamed) {
      ::unlink(tempPath.c_str());
      tempNamed = false;
    }
    tempPath.clear();
  }
  void finish();
};

// ---------------------------------------------------------------------------------------------
// TreeWriter

TreeWriter::TreeWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TreeWriter::~TreeWriter() = default;
const std::string& TreeWriter::name() const noexcept { return impl_->name; }
std::uint64_t TreeWriter::entries() const noexcept { return impl_->entries; }
std::vector<BranchSpec> TreeWriter::branches() const {
  std::vector<BranchSpec> v;
  for (const auto& b : impl_->branches) v.push_back(b.spec);
  return v;
}

void TreeWriter::append(std::span<const Column> columns) {
  if (impl_->file->closed || impl_->file->failed)
    throw core::Exception(core::Errc::conflict,
                          fmt::format("{}: tree {}: the file is closed or failed", impl_->file->path, impl_->name));
  impl_->append(columns);
}

void TreeWriter::Impl::append(std::span<const Column> columns) {
  const std::string where = fmt::format("{}: tree {}", file->path, name);
  auto bad = [&](const std::string& msg) {
    return core::Exception(core::Errc::invalid_argument, fmt::format("{}: {}", where, msg));
  };
  // Match columns to branches and validate everything before touching any state.
  std::vector<const Column*> byBranch(branches.size(), nullptr);
  std::optional<std::uint64_t> count;
  const Column* first = nullptr;
  for (const auto& c : columns) {
    auto it = byName.find(c.name);
    if (it == byName.end()) throw bad(fmt::format("column {} is not a declared branch", c.name));
    auto& b = branches[it->second];
    if (b.isCounter)
      throw bad(fmt::format("column {} is a counter branch: it is written from its arrays' offsets", c.name));
    if (byBranch[it->second]) throw bad(fmt::format("column {} is given twice", c.name));
    byBranch[it->second] = &c;
    if (!count) {
      count = c.entries;
      first = &c;
    } else if (c.entries != *count) {
      throw bad(fmt::format("mismatched column lengths: {} has {} entries, {} has {}", c.name, c.entries,
                            first->name, *count));
    }
    if (c.type != b.spec.type)
      throw bad(fmt::format("column {} is {}, the branch is {}", c.name, dtypeName(c.type), dtypeName(b.spec.type)));
    const std::size_t values = c.data.size() / b.valueSize;
    if (c.data.size() % b.valueSize != 0) throw bad(fmt::format("column {}: data is not whole values", c.name));
    const auto expectedShape = b.spec.innerShape;
    if (c.innerShape != expectedShape && !(b.spec.kind == BranchKind::scalar && c.innerShape.empty()))
      throw bad(fmt::format("column {}: inner shape {} differs from the branch's {}", c.name, leafDims(c.innerShape),
                            leafDims(expectedShape)));
    if (!b.variable) {
      if (!c.offsets.empty()) throw bad(fmt::format("column {} is jagged, the branch is not", c.name));
      if (values != c.entries * b.innerSize)
        throw bad(
            fmt::format("column {}: {} values for {} entries of {} each", c.name, values, c.entries, b.innerSize));
    } else {
      if (c.offsets.size() != 1) throw bad(fmt::format("column {}: expected one offsets level", c.name));
      const auto& off = c.offsets[0];
      if (off.size() != c.entries + 1)
        throw bad(fmt::format("column {}: {} offsets for {} entries", c.name, off.size(), c.entries));
      for (std::size_t i = 0; i < c.entries; ++i)
        if (off[i + 1] < off[i]) throw bad(fmt::format("column {}: offsets decrease at entry {}", c.name, i));
      if (off.back() * b.innerSize > values)
        throw bad(fmt::format("column {}: offsets reach element {}, data holds {}", c.name, off.back(),
                              values / b.innerSize));
      if (c.entries > 0 && off.back() - off.front() > 0 &&
          (off.back() - off.front()) * b.elementSize > kMaxBasketBytes)
        throw bad(fmt::format("column {}: batch too large", c.name));
    }
  }
  for (std::size_t i = 0; i < branches.size(); ++i)
    if (!byBranch[i] && !branches[i].isCounter) throw bad(fmt::format("column {} is missing", branches[i].spec.name));
  if (!count || *count == 0) return;
  const std::uint64_t n = *count;

  // Arrays sharing a counter must agree on every count.
  std::vector<const Column*> counterSource(branches.size(), nullptr);
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const auto& b = branches[i];
    if (b.spec.kind != BranchKind::counted) continue;
    const Column* c = byBranch[i];
    auto& src = counterSource[static_cast<std::size_t>(b.counterIndex)];
    if (!src) {
      src = c;
      continue;
    }
    const auto& a = src->offsets[0];
    const auto& o = c->offsets[0];
    for (std::size_t e = 0; e < n; ++e)
      if (a[e + 1] - a[e] != o[e + 1] - o[e])
        throw bad(fmt::format("columns {} and {} share counter {} but differ at entry {} ({} vs {} elements)",
                              src->name, c->name, b.spec.counter, src->firstEntry + e, a[e + 1] - a[e],
                              o[e + 1] - o[e]));
    if (a.back() - a.front() > std::uint64_t(INT32_MAX)) throw bad("counts exceed int32");
  }

  // Accept: copy into the pending buffers.
  for (auto& b : branches) {
    b.pending.erase(b.pending.begin(), b.pending.begin() + static_cast<std::ptrdiff_t>(b.consumedBytes));
    b.pendingCounts.erase(b.pendingCounts.begin(),
                          b.pendingCounts.begin() + static_cast<std::ptrdiff_t>(b.consumedCounts));
    b.consumedBytes = b.consumedCounts = 0;
  }
  for (std::size_t i = 0; i < branches.size(); ++i) {
    auto& b = branches[i];
    if (b.isCounter) {
      const auto& off = counterSource[i]->offsets[0];
      for (std::size_t e = 0; e < n; ++e) {
        const auto cnt = static_cast<std::int32_t>(off[e + 1] - off[e]);
        b.maxCount = std::max<std::int64_t>(b.maxCount, cnt);
        const auto at = b.pending.size();
        b.pending.resize(at + 4);
        std::memcpy(b.pending.data() + at, &cnt, 4);
      }
      continue;
    }
    const Column& c = *byBranch[i];
    if (!b.variable) {
      b.pending.insert(b.pending.end(), c.data.begin(), c.data.end());
    } else {
      const auto& off = c.offsets[0];
      const auto begin = c.data.begin() + static_cast<std::ptrdiff_t>(off.front() * b.elementSize);
      const auto stop = c.data.begin() + static_cast<std::ptrdiff_t>(off.back() * b.elementSize);
      b.pending.insert(b.pending.end(), begin, stop);
      for (std::size_t e = 0; e < n; ++e) b.pendingCounts.push_back(static_cast<std::uint32_t>(off[e + 1] - off[e]));
    }
  }
  entries += n;

  if (clusterEntries == 0) {
    std::size_t bytes = 0;
    for (const auto& b : branches)
      bytes += b.pending.size() - b.consumedBytes + (b.variable ? 10 * (b.pendingCounts.size() - b.consumedCounts) : 0);
    const std::size_t perEntry = std::max<std::size_t>(1, bytes / n);
    clusterEntries = std::max<std::uint64_t>(1, file->options.clusterBytes / perEntry);
  }
  while (entries - flushed >= clusterEntries) {
    flushCluster(clusterEntries);
    ++fullClusters;
    flushedZipBytes = zipBytes();
  }
}

namespace {

// One basket to build: a branch's entries [begin, end) of the pending buffers.
struct BasketJob {
  std::size_t branch = 0;
  std::size_t entryBegin = 0, entryEnd = 0;  // relative to the cluster
  std::size_t countBegin = 0;                // into pendingCounts (variable branches)
  std::size_t byteBegin = 0, byteEnd = 0;    // into pending (native bytes)
  // results
  std::vector<std::byte> payload;  // as stored
  std::int32_t objlen = 0;
  std::int32_t last = 0;
  std::int32_t nevBufSize = 0;
};

void buildBasket(const BranchState& b, BasketJob& job, const CompressionSetting& compression) {
  const std::size_t n = job.entryEnd - job.entryBegin;
  const std::size_t dataBytes = job.byteEnd - job.byteBegin;
  const bool vec = b.spec.kind == BranchKind::vector;
  const std::size_t headerBytes = vec ? 10 * n : 0;
  const std::size_t offsetBytes = b.variable ? 4 + 4 * (n + 1) : 0;
  std::vector<std::byte> raw(dataBytes + headerBytes + offsetBytes);
  const std::byte* src = b.pending.data() + job.byteBegin;
  const bool isBool = b.spec.type == DType::boolean;
  if (!b.variable) {
    putBigEndian(raw.data(), src, dataBytes / b.valueSize, b.valueSize, isBool);
  } else {
    std::byte* dst = raw.data();
    std::byte* offsets = raw.data() + dataBytes + headerBytes;
    storeBE32(offsets, static_cast<std::uint32_t>(n + 1));
    std::size_t pos = 0;
    for (std::size_t e = 0; e < n; ++e) {
      storeBE32(offsets + 4 + 4 * e, static_cast<std::uint32_t>(b.keyLength + pos));
      const std::size_t count = b.pendingCounts[job.countBegin + e];
      const std::size_t bytes = count * b.elementSize;
      if (vec) {
        storeBE32(dst + pos, WriteBuffer::kByteCountMask | static_cast<std::uint32_t>(6 + bytes));
        dst[pos + 4] = std::byte(0);
        dst[pos + 5] = std::byte(kVectorVersion);
        storeBE32(dst + pos + 6, static_cast<std::uint32_t>(count));
        pos += 10;
      }
      putBigEndian(dst + pos, src, count * b.innerSize, b.valueSize, isBool);
      src += bytes;
      pos += bytes;
    }
    storeBE32(offsets + 4 + 4 * n, 0);  // ROOT's extra element, never read
  }
  const std::size_t contentBytes = dataBytes + headerBytes;
  job.objlen = static_cast<std::int32_t>(raw.size());
  job.last = static_cast<std::int32_t>(b.keyLength + contentBytes);
  job.nevBufSize = b.variable ? static_cast<std::int32_t>(n) : static_cast<std::int32_t>(b.elementSize);
  if (!compressBlocks(compression, raw, job.payload)) job.payload = std::move(raw);
}

}  // namespace

void TreeWriter::Impl::flushCluster(std::uint64_t count) {
  const std::size_t basketLimit = std::max<std::size_t>(1, file->options.basketBytes);
  std::vector<BasketJob> jobs;
  for (std::size_t bi = 0; bi < branches.size(); ++bi) {
    const auto& b = branches[bi];
    std::size_t e = 0, byte = b.consumedBytes;
    const std::size_t c0 = b.consumedCounts;
    while (e < count) {
      BasketJob job;
      job.branch = bi;
      job.entryBegin = e;
      job.countBegin = c0 + e;
      job.byteBegin = byte;
      if (!b.variable) {
        const std::size_t per = std::max<std::size_t>(1, basketLimit / b.elementSize);
        const std::size_t take = std::min<std::size_t>(per, count - e);
        e += take;
        byte += take * b.elementSize;
      } else {
        std::size_t bytes = 0;
        do {
          const std::size_t entryBytes = b.pendingCounts[c0 + e] * b.elementSize;
          bytes += entryBytes + 4 + (b.spec.kind == BranchKind::vector ? 10 : 0);
          byte += entryBytes;
          ++e;
        } while (e < count && bytes + b.pendingCounts[c0 + e] * b.elementSize < basketLimit);
      }
      job.entryEnd = e;
      job.byteEnd = byte;
      jobs.push_back(std::move(job));
    }
  }
  auto build = [&](std::size_t i) { buildBasket(branches[jobs[i].branch], jobs[i], file->compression); };
  if (file->options.pool && jobs.size() > 1) {
    file->options.pool->parallelFor(jobs.size(), build);
  } else {
    for (std::size_t i = 0; i < jobs.size(); ++i) build(i);
  }

  // Place the baskets one after the other: a cluster's baskets are adjacent in the file.
  for (auto& job : jobs) {
    auto& b = branches[job.branch];
    Key key{"TBasket", b.spec.name, name};
    key.wide = true;  // TBasket keys always carry 64-bit seeks
    key.extra = 19;
    key.datime = file->datime;
    key.cycle = static_cast<std::int16_t>(b.baskets.size() & 0x7FFF);
    key.objlen = job.objlen;
    key.nbytes = static_cast<std::int32_t>(b.keyLength + job.payload.size());
    key.seekKey = file->end;
    key.seekPdir = kBegin;
    WriteBuffer header;
    key.write(header);
    header.i16(3);                                  // TBasket version
    header.i32(static_cast<std::int32_t>(b.keyLength) + job.objlen);  // fBufferSize
    header.i32(job.nevBufSize);
    header.i32(static_cast<std::int32_t>(job.entryEnd - job.entryBegin));  // fNevBuf
    header.i32(job.last);
    header.u8(0);
    const std::uint64_t at = file->append(header.view(), job.payload);
    b.baskets.push_back({at, key.nbytes, flushed + job.entryBegin});
    b.totBytes += static_cast<std::int64_t>(b.keyLength) + job.objlen;
    b.zipBytes += key.nbytes;
  }

  // Mark the flushed entries consumed.
  for (auto& b : branches) {
    if (!b.variable) {
      b.consumedBytes += count * b.elementSize;
    } else {
      for (std::size_t e = 0; e < count; ++e) b.consumedBytes += b.pendingCounts[b.consumedCounts + e] * b.elementSize;
      b.consumedCounts += count;
    }
  }
  flushed += count;
}

void TreeWriter::Impl::writeRecord(WriteBuffer& b) const {
  const auto tree = b.beginObject(20);
  b.tnamed(name, title, 8 /* kMustCleanup, as ROOT */);
  auto attLine = b.beginObject(2);
  b.i16(602);
  b.i16(1);
  b.i16(1);
  b.endByteCount(attLine);
  auto attFill = b.beginObject(2);
  b.i16(0);
  b.i16(1001);
  b.endByteCount(attFill);
  auto attMarker = b.beginObject(2);
  b.i16(1);
  b.i16(1);
  b.f32(1.0f);
  b.endByteCount(attMarker);
  b.i64(static_cast<std::int64_t>(entries));
  b.i64(totBytes());
  b.i64(zipBytes());
  b.i64(0);  // fSavedBytes
  // fFlushedBytes > 0 tells readers that fAutoFlush is the cluster size we flushed at.
  b.i64(fullClusters > 0 ? flushedZipBytes : 0);
  b.f64(1.0);  // fWeight
  b.i32(0);    // fTimerInterval
  b.i32(25);   // fScanField
  b.i32(0);    // fUpdate
  b.i32(1000); // fDefaultEntryOffsetLen
  b.i32(0);    // fNClusterRange: one cluster size throughout
  b.i64(1000000000000);  // fMaxEntries
  b.i64(1000000000000);  // fMaxEntryLoop
  b.i64(0);              // fMaxVirtualSize
  b.i64(-300000000);     // fAutoSave
  b.i64(clusterEntries > 0 ? static_cast<std::int64_t>(clusterEntries) : -30000000);  // fAutoFlush
  b.i64(1000000);        // fEstimate
  b.u8(0);               // fClusterRangeEnd: none
  b.u8(0);               // fClusterSize: none
  auto ioFeatures = [&b] {  // ROOT::TIOFeatures has no ClassDef: version 0, then its checksum
    const auto pos = b.beginObject(0);
    b.u32(0x1aa12f10);
    b.u8(0);
    b.endByteCount(pos);
  };
  ioFeatures();

  // fBranches, remembering where each leaf's slot is for fLeafCount and fLeaves.
  std::vector<std::uint32_t> leafTags(branches.size(), 0);
  const auto branchArray = b.beginObject(3);
  b.tobject();
  b.string("");
  b.i32(static_cast<std::int32_t>(branches.size()));
  b.i32(0);
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const auto& br = branches[i];
    const bool element = br.spec.kind == BranchKind::vector;
    const auto slot = b.beginSlot(element ? "TBranchElement" : "TBranch");
    const auto outer = element ? b.beginObject(10) : 0;
    const auto tb = b.beginObject(13);
    b.tnamed(br.spec.name, br.spec.title, 0x00400000);
    auto fill = b.beginObject(2);
    b.i16(0);
    b.i16(1001);
    b.endByteCount(fill);
    const auto nb = static_cast<std::int32_t>(br.baskets.size());
    const std::int32_t maxBaskets = std::max(nb + 1, 10);
    b.i32(file->compression.rootValue());
    b.i32(static_cast<std::int32_t>(std::min<std::size_t>(file->options.basketBytes, INT32_MAX)));
    b.i32(br.variable ? 1000 : 0);  // fEntryOffsetLen: non-zero iff baskets carry entry offsets
    b.i32(nb);                      // fWriteBasket
    b.i64(static_cast<std::int64_t>(entries));  // fEntryNumber
    ioFeatures();
    b.i32(0);  // fOffset
    b.i32(maxBaskets);
    b.i32(element ? 99 : 0);  // fSplitLevel
    b.i64(static_cast<std::int64_t>(entries));
    b.i64(0);  // fFirstEntry
    b.i64(br.totBytes);
    b.i64(br.zipBytes);
    auto subBranches = b.beginObject(3);
    b.tobject();
    b.string("");
    b.i32(0);
    b.i32(0);
    b.endByteCount(subBranches);
    // fLeaves: the one leaf
    auto leaves = b.beginObject(3);
    b.tobject();
    b.string("");
    b.i32(1);
    b.i32(0);
    {
      const auto leafSlot = b.beginSlot(element ? "TLeafElement" : br.leaf.leafClass);
      leafTags[i] = b.objectTag(leafSlot);
      const auto leafOuter = b.beginObject(1);
      const auto leaf = b.beginObject(2);
      std::string leafTitle = br.spec.name;
      std::int32_t len = static_cast<std::int32_t>(br.innerSize);
      if (br.spec.kind == BranchKind::fixedArray) leafTitle += leafDims(br.spec.innerShape);
      if (br.spec.kind == BranchKind::counted) leafTitle += "[" + br.spec.counter + "]" + leafDims(br.spec.innerShape);
      if (element) len = 1;
      b.tnamed(br.spec.name, leafTitle);
      b.i32(len);
      b.i32(element ? 0 : static_cast<std::int32_t>(br.valueSize));  // fLenType
      b.i32(0);                                                       // fOffset
      b.boolean(br.isCounter);                                        // fIsRange
      b.boolean(!element && br.leaf.isUnsigned);
      if (br.counterIndex >= 0) {
        b.u32(leafTags[static_cast<std::size_t>(br.counterIndex)]);  // written earlier in this record
      } else {
        b.nullPointer();
      }
      b.endByteCount(leaf);
      if (element) {
        b.i32(-1);  // fID
        b.i32(-1);  // fType
      } else {
        const std::int64_t maximum = br.isCounter ? br.maxCount : 0;
        switch (br.valueSize) {
          case 1:
            b.u8(0);
            b.u8(static_cast<std::uint8_t>(maximum));
            break;
          case 2:
            b.i16(0);
            b.i16(static_cast<std::int16_t>(maximum));
            break;
          case 4:
            if (br.spec.type == DType::float32) {
              b.f32(0);
              b.f32(0);
            } else {
              b.i32(0);
              b.i32(static_cast<std::int32_t>(maximum));
            }
            break;
          default:
            if (br.spec.type == DType::float64) {
              b.f64(0);
              b.f64(0);
            } else {
              b.i64(0);
              b.i64(maximum);
            }
            break;
        }
      }
      b.endByteCount(leafOuter);
      b.endByteCount(leafSlot);
    }
    b.endByteCount(leaves);
    // fBaskets: fWriteBasket + 1 null slots (every basket is on disk)
    auto basketArray = b.beginObject(3);
    b.tobject();
    b.string("");
    b.i32(nb + 1);
    b.i32(0);
    for (std::int32_t k = 0; k <= nb; ++k) b.nullPointer();
    b.endByteCount(basketArray);
    b.u8(1);
    for (std::int32_t k = 0; k < maxBaskets; ++k) b.i32(k < nb ? br.baskets[static_cast<std::size_t>(k)].nbytes : 0);
    b.u8(1);
    for (std::int32_t k = 0; k < maxBaskets; ++k) {
      std::int64_t v = 0;
      if (k < nb) v = static_cast<std::int64_t>(br.baskets[static_cast<std::size_t>(k)].firstEntry);
      if (k == nb) v = static_cast<std::int64_t>(entries);  // the terminator
      b.i64(v);
    }
    b.u8(1);
    for (std::int32_t k = 0; k < maxBaskets; ++k)
      b.i64(k < nb ? static_cast<std::int64_t>(br.baskets[static_cast<std::size_t>(k)].seek) : 0);
    b.string("");  // fFileName
    b.endByteCount(tb);
    if (element) {
      const std::string className = fmt::format("vector<{}>", br.leaf.cppName);
      b.string(className);
      b.string("");
      b.string("");
      b.u32(detail::collectionChecksum(className));
      b.i16(kVectorClassVersion);
      b.i32(-1);  // fID
      b.i32(0);   // fType: top-level
      b.i32(-1);  // fStreamerType
      b.i32(0);   // fMaximum
      b.nullPointer();
      b.nullPointer();
      b.endByteCount(outer);
    }
    b.endByteCount(slot);
  }
  b.endByteCount(branchArray);

  // fLeaves: references to the leaves written above.
  const auto leafArray = b.beginObject(3);
  b.tobject();
  b.string("");
  b.i32(static_cast<std::int32_t>(branches.size()));
  b.i32(0);
  for (auto tag : leafTags) b.u32(tag);
  b.endByteCount(leafArray);
  b.nullPointer();  // fAliases
  b.i32(0);         // fIndexValues (TArrayD)
  b.i32(0);         // fIndex (TArrayI)
  b.nullPointer();  // fTreeIndex
  b.nullPointer();  // fFriends
  b.nullPointer();  // fUserInfo
  b.nullPointer();  // fBranchRef
  b.endByteCount(tree);
}

// ---------------------------------------------------------------------------------------------
// FileWriter

FileWriter::FileWriter(std::string path, WriteOptions options) : impl_(std::make_unique<Impl>()) {
  auto& f = *impl_;
  f.path = std::move(path);
  f.options = options;
  f.compression = CompressionSetting::fromRoot(options.compression);
  if (options.basketBytes == 0 || options.basketBytes > kMaxBasketBytes)
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: basket size {} is not in 1..{}", f.path,
                                                                    options.basketBytes, kMaxBasketBytes));
  if (f.path.empty()) throw core::Exception(core::Errc::invalid_argument, "no output path given");
  const fs::path target(f.path);
  if (fs::is_directory(target))
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: is a directory", f.path));
  f.fileName = target.filename().string();
  static std::atomic<unsigned> counter{0};
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  f.tempPath = (dir / fmt::format(".{}.mlaas-tmp-{}-{}", f.fileName, ::getpid(), counter++)).string();
#ifdef O_TMPFILE
  // An unnamed file in the target's folder, named only at commit: an interrupted run (Ctrl-C,
  // SIGTERM, SIGKILL, a crash) leaves nothing behind, as the kernel frees it with the descriptor.
  f.fd = ::open(dir.c_str(), O_WRONLY | O_TMPFILE | O_CLOEXEC, 0666);
#endif
  if (f.fd < 0) {
    // A file system without O_TMPFILE: a hidden named file, removed on failure or destruction.
    f.fd = ::open(f.tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    f.tempNamed = f.fd >= 0;
  }
  if (f.fd < 0) {
    const int err = errno;
    f.tempPath.clear();
    throw core::Exception(err == ENOENT ? core::Errc::not_found : core::Errc::io,
                          fmt::format("{}: cannot create the file: {}", f.path, std::strerror(err)));
  }
  f.datime = packDatime(options.reproducible);
  if (!options.reproducible) {
    std::random_device rd;
    for (auto& byte : f.uuid) byte = std::byte(rd() & 0xFF);
    f.uuid[6] = (f.uuid[6] & std::byte{0x0F}) | std::byte{0x40};  // version 4
  }
  // The root directory record sits at fBEGIN; its contents are known only at close.
  f.directoryKeyLength = static_cast<std::uint32_t>(26 + WriteBuffer::stringSize("TFile") +
                                                    WriteBuffer::stringSize(f.fileName) + WriteBuffer::stringSize(""));
  f.directoryObjlen =
      static_cast<std::uint32_t>(WriteBuffer::stringSize(f.fileName) + WriteBuffer::stringSize("") + 60);
  f.end = kBegin + f.directoryKeyLength + f.directoryObjlen;
  f.outStart = f.end;
}

FileWriter::~FileWriter() {
  if (impl_ && !impl_->closed) impl_->removeTemp();
}

const std::string& FileWriter::path() const noexcept { return impl_->path; }
std::uint64_t FileWriter::bytesWritten() const noexcept { return impl_->end; }

TreeWriter& FileWriter::addTree(std::string name, std::vector<BranchSpec> specs, std::string title) {
  auto& f = *impl_;
  auto bad = [&](const std::string& msg) {
    return core::Exception(core::Errc::invalid_argument, fmt::format("{}: tree {}: {}", f.path, name, msg));
  };
  if (f.closed) throw bad("the file is closed");
  if (name.empty()) throw bad("empty tree name");
  // ROOT (TFile::Get, uproot, JSROOT) reads "a/b" as tree b in folder a; written as one key in
  // the top folder it could never be found. Writing folders (TDirectoryFile) is not supported.
  if (name.find('/') != std::string::npos)
    throw bad("the name has a '/', which ROOT reads as a folder path; trees are written in the file's top folder "
              "only: choose a name without '/'");
  for (const auto& t : f.trees)
    if (t->name() == name) throw bad("a tree of this name was already added");
  if (specs.empty()) throw bad("no branches");

  auto impl = std::make_unique<TreeWriter::Impl>();
  impl->file = &f;
  impl->name = name;
  impl->title = std::move(title);
  impl->clusterEntries = f.options.clusterEntries;
  std::set<std::string> declared;
  for (const auto& s : specs) {
    if (s.name.empty()) throw bad("a branch has no name");
    if (!declared.insert(s.name).second) throw bad(fmt::format("branch {} is declared twice", s.name));
  }
  auto addBranch = [&](BranchSpec s, bool isCounter) {
    BranchState b;
    b.leaf = leafType(s.type);
    b.valueSize = dtypeSize(s.type);
    for (auto d : s.innerShape) {
      if (d == 0) throw bad(fmt::format("branch {}: a dimension is 0", s.name));
      b.innerSize *= d;
    }
    b.elementSize = b.valueSize * b.innerSize;
    b.variable = s.kind == BranchKind::counted || s.kind == BranchKind::vector;
    b.isCounter = isCounter;
    if (s.title.empty()) {
      s.title = s.name;
      if (s.kind == BranchKind::fixedArray || s.kind == BranchKind::counted) {
        if (s.kind == BranchKind::counted) s.title += "[" + s.counter + "]";
        s.title += leafDims(s.innerShape);
      }
      if (s.kind != BranchKind::vector) s.title += std::string("/") + b.leaf.letter;
    }
    b.keyLength = static_cast<std::uint32_t>(34 + WriteBuffer::stringSize("TBasket") + WriteBuffer::stringSize(s.name) +
                                             WriteBuffer::stringSize(name) + 19);
    b.spec = std::move(s);
    impl->byName.emplace(b.spec.name, impl->branches.size());
    impl->branches.push_back(std::move(b));
  };
  for (auto& s : specs) {
    switch (s.kind) {
      case BranchKind::scalar:
        if (!s.innerShape.empty()) throw bad(fmt::format("branch {}: a scalar has no inner shape", s.name));
        break;
      case BranchKind::fixedArray:
        if (s.innerShape.empty()) throw bad(fmt::format("branch {}: a fixed array needs its dimensions", s.name));
        break;
      case BranchKind::vector:
        if (!s.innerShape.empty()) throw bad(fmt::format("branch {}: vectors of arrays are not supported", s.name));
        break;
      case BranchKind::counted: {
        if (s.counter.empty()) throw bad(fmt::format("branch {}: a counted array needs a counter name", s.name));
        if (declared.count(s.counter))
          throw bad(fmt::format("branch {}: counter {} is also declared as a branch; counters are written from "
                                "the arrays' offsets",
                                s.name, s.counter));
        auto it = impl->byName.find(s.counter);
        if (it == impl->byName.end()) {
          addBranch(BranchSpec::scalar(s.counter, DType::int32), true);
          it = impl->byName.find(s.counter);
        }
        break;
      }
    }
    const auto counter = s.kind == BranchKind::counted ? static_cast<std::int32_t>(impl->byName.at(s.counter)) : -1;
    addBranch(std::move(s), false);
    impl->branches.back().counterIndex = counter;
  }
  f.trees.push_back(std::unique_ptr<TreeWriter>(new TreeWriter(std::move(impl))));
  return *f.trees.back();
}

void FileWriter::Impl::finish() {
  // Remaining entries: the last, partial cluster of each tree.
  for (auto& t : trees) {
    auto& ti = *t->impl_;
    if (ti.entries > ti.flushed) ti.flushCluster(ti.entries - ti.flushed);
  }
  std::vector<Key> treeKeys;
  std::vector<std::string> classes{"TTree"};
  for (auto& t : trees) {
    auto& ti = *t->impl_;
    treeKeys.push_back(writeObject("TTree", ti.name, ti.title, [&](WriteBuffer& b) { ti.writeRecord(b); }));
    for (const auto& b : ti.branches) {
      if (b.spec.kind == BranchKind::vector) {
        classes.emplace_back("TBranchElement");
        classes.emplace_back("TLeafElement");
        classes.push_back(fmt::format("vector<{}>", b.leaf.cppName));
      } else {
        classes.emplace_back(b.leaf.leafClass);
      }
    }
  }
  const Key info = writeObject("TList", "StreamerInfo", "Doubly linked list",
                               [&](WriteBuffer& b) { detail::writeStreamerInfos(b, classes); });

  // The key list of the root directory: a copy of each tree's key.
  Key keysKey{"TFile", fileName, ""};
  keysKey.datime = datime;
  keysKey.seekPdir = kBegin;
  keysKey.wide = wideNow();
  WriteBuffer keyImages;
  keyImages.i32(static_cast<std::int32_t>(treeKeys.size()));
  for (const auto& k : treeKeys) k.write(keyImages);
  keysKey.objlen = static_cast<std::int32_t>(keyImages.size());
  keysKey.nbytes = static_cast<std::int32_t>(keysKey.length() + keyImages.size());
  keysKey.seekKey = end;
  {
    WriteBuffer header;
    keysKey.write(header);
    append(header.view(), keyImages.view());
  }

  // The free list: one segment from fEND on; its fLast must exceed fEND.
  Key freeKey{"TFile", fileName, ""};
  freeKey.datime = datime;
  freeKey.seekPdir = kBegin;
  freeKey.wide = wideNow();
  freeKey.seekKey = end;
  std::uint64_t fileEnd = end + freeKey.length() + 10;
  bool wideFree = fileEnd >= kStartBigFile;
  if (wideFree) fileEnd = end + freeKey.length() + 18;
  const std::uint64_t freeLast = fileEnd < kStartBigFile ? kStartBigFile : (fileEnd / 1000000000 + 1) * 1000000000;
  WriteBuffer freePayload;
  if (wideFree) {
    freePayload.i16(1001);
    freePayload.i64(static_cast<std::int64_t>(fileEnd));
    freePayload.i64(static_cast<std::int64_t>(freeLast));
  } else {
    freePayload.i16(1);
    freePayload.i32(static_cast<std::int32_t>(fileEnd));
    freePayload.i32(static_cast<std::int32_t>(freeLast));
  }
  freeKey.objlen = static_cast<std::int32_t>(freePayload.size());
  freeKey.nbytes = static_cast<std::int32_t>(freeKey.length() + freePayload.size());
  {
    WriteBuffer header;
    freeKey.write(header);
    append(header.view(), freePayload.view());
  }
  flushOut();
  const bool large = end > kStartBigFile;

  // The root directory record at fBEGIN.
  const std::uint32_t nbytesName =
      directoryKeyLength + static_cast<std::uint32_t>(WriteBuffer::stringSize(fileName) + WriteBuffer::stringSize(""));
  {
    Key dirKey{"TFile", fileName, ""};
    dirKey.datime = datime;
    dirKey.seekKey = kBegin;
    dirKey.seekPdir = 0;  // ROOT writes 0 here (root-io-spec WritingFiles §4.1)
    dirKey.objlen = static_cast<std::int32_t>(directoryObjlen);
    dirKey.nbytes = static_cast<std::int32_t>(directoryKeyLength + directoryObjlen);
    WriteBuffer b;
    dirKey.write(b);
    b.string(fileName);
    b.string("");
    const bool wideDir = keysKey.seekKey > kStartBigFile;
    b.i16(wideDir ? 1005 : 5);
    b.u32(datime);
    b.u32(datime);
    b.i32(keysKey.nbytes);
    b.i32(static_cast<std::int32_t>(nbytesName));
    if (wideDir) {
      b.i64(kBegin);
      b.i64(0);
      b.i64(static_cast<std::int64_t>(keysKey.seekKey));
    } else {
      b.i32(kBegin);
      b.i32(0);
      b.i32(static_cast<std::int32_t>(keysKey.seekKey));
    }
    b.u16(1);
    b.bytes(uuid);
    if (!wideDir) b.zeros(12);
    writeAll(kBegin, b.view());
  }

  // The header, last: only a complete file gets one.
  WriteBuffer h;
  h.bytes(std::as_bytes(std::span("root", 4)));
  h.i32(kFileVersion + (large ? 1000000 : 0));
  h.i32(kBegin);
  if (large) {
    h.i64(static_cast<std::int64_t>(end));
    h.i64(static_cast<std::int64_t>(freeKey.seekKey));
  } else {
    h.i32(static_cast<std::int32_t>(end));
    h.i32(static_cast<std::int32_t>(freeKey.seekKey));
  }
  h.i32(freeKey.nbytes);
  h.i32(1);  // nfree
  h.i32(static_cast<std::int32_t>(nbytesName));
  h.u8(large ? 8 : 4);
  h.i32(compression.rootValue());
  if (large) {
    h.i64(static_cast<std::int64_t>(info.seekKey));
  } else {
    h.i32(static_cast<std::int32_t>(info.seekKey));
  }
  h.i32(info.nbytes);
  h.u16(1);
  h.bytes(uuid);
  h.zeros(kBegin - h.size());
  writeAll(0, h.view());

  if (::fsync(fd) != 0) fail("fsync failed");
  if (!tempNamed) {
    // Name the unnamed file (through /proc, or AT_EMPTY_PATH where /proc is absent), then rename
    // it over the target like a named one: the target is replaced in one step.
    const std::string self = fmt::format("/proc/self/fd/{}", fd);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tempPath.c_str(), AT_SYMLINK_FOLLOW) != 0 &&
        ::linkat(fd, "", AT_FDCWD, tempPath.c_str(), AT_EMPTY_PATH) != 0)
      fail("cannot give the temporary file a name");
    tempNamed = true;
  }
  if (::close(fd) != 0) {
    fd = -1;
    fail("close failed");
  }
  fd = -1;
  if (::rename(tempPath.c_str(), path.c_str()) != 0) fail("cannot rename the temporary file over it");
  tempPath.clear();
  tempNamed = false;
  // Make the rename itself durable.
  const fs::path dir = fs::path(path).has_parent_path() ? fs::path(path).parent_path() : fs::path(".");
  const int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    (void)::fsync(dirFd);
    ::close(dirFd);
  }
}

void FileWriter::close() {
  auto& f = *impl_;
  if (f.closed) return;
  if (f.failed) {
    f.removeTemp();
    throw core::Exception(core::Errc::conflict,
                          fmt::format("{}: an earlier write failed; nothing was written", f.path));
  }
  try {
    f.finish();
    f.closed = true;
  } catch (...) {
    f.failed = true;
    f.removeTemp();
    throw;
  }
}

// ---------------------------------------------------------------------------------------------
// FriendTreeWriter

FriendTreeWriter::FriendTreeWriter(FileWriter& file, std::string treeName, std::uint64_t sourceEntries,
                                   std::vector<BranchSpec> identifiers, std::vector<BranchSpec> outputs)
    : sourceEntries_(sourceEntries) {
  std::vector<BranchSpec> all = std::move(identifiers);
  for (auto& o : outputs) all.push_back(std::move(o));
  tree_ = &file.addTree(std::move(treeName), std::move(all), "friend tree");
}

void FriendTreeWriter::append(std::span<const Column> identifiers, std::span<const Column> outputs) {
  for (const auto& c : identifiers)
    if (c.firstEntry != next_)
      throw core::Exception(core::Errc::invalid_argument,
                            fmt::format("friend tree {}: identifier column {} starts at entry {}, expected {}",
                                        tree_->name(), c.name, c.firstEntry, next_));
  std::vector<Column> batch;
  batch.reserve(identifiers.size() + outputs.size());
  std::vector<const Column*> ptrs;
  for (const auto& c : identifiers) ptrs.push_back(&c);
  for (const auto& c : outputs) ptrs.push_back(&c);
  std::uint64_t n = ptrs.empty() ? 0 : ptrs.front()->entries;
  if (next_ + n > sourceEntries_)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("friend tree {}: {} entries would exceed the source's {}", tree_->name(),
                                      next_ + n, sourceEntries_));
  for (const auto* c : ptrs) batch.push_back(*c);
  tree_->append(batch);
  next_ += n;
}

void FriendTreeWriter::finish() {
  if (next_ != sourceEntries_)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("friend tree {}: {} entries written, the source has {}", tree_->name(), next_,
                                      sourceEntries_));
}

std::vector<BranchSpec> FriendTreeWriter::scoreBranches(std::span<const std::string> classNames) {
  std::vector<BranchSpec> v;
  if (classNames.size() <= 1) {
    v.push_back(BranchSpec::scalar("score", DType::float32));
  } else {
    for (const auto& c : classNames) v.push_back(BranchSpec::scalar("score_" + c, DType::float32));
  }
  return v;
}

}  // namespace mlaas::root
