#include "root/ntuple.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <type_traits>

#include "root/compression.hpp"
#include "root/cursor.hpp"
#include "root/detail_slot.hpp"
#include "root/dtype_visit.hpp"

namespace mlaas::root {
namespace {

// ---- little-endian, bounds-checked reading of envelopes ---------------------------------------

class LeReader {
 public:
  LeReader(std::span<const std::byte> data, std::string_view context) : data_(data), context_(context) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: {} at envelope offset {}", context_, what, pos_));
  }
  void need(std::size_t n) const {
    if (n > data_.size() - pos_) fail(fmt::format("needs {} bytes but only {} remain", n, data_.size() - pos_));
  }
  template <class T>
  T read() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) v = Cursor::byteswap(v);
    return v;
  }
  std::uint16_t u16() { return read<std::uint16_t>(); }
  std::uint32_t u32() { return read<std::uint32_t>(); }
  std::int32_t i32() { return read<std::int32_t>(); }
  std::uint64_t u64() { return read<std::uint64_t>(); }
  std::int64_t i64() { return read<std::int64_t>(); }
  std::string string() {
    const auto n = u32();
    need(n);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  void skip(std::size_t n) {
    need(n);
    pos_ += n;
  }
  [[nodiscard]] std::size_t pos() const noexcept { return pos_; }
  void seek(std::size_t p) {
    if (p > data_.size()) fail(fmt::format("seek to {} beyond the {} bytes", p, data_.size()));
    pos_ = p;
  }

  /// A frame: record (size > 0) or list (size < 0, then an item count). Returns where it ends.
  struct Frame {
    std::size_t end = 0;
    std::uint32_t items = 0;
    bool list = false;
  };
  Frame frame() {
    const auto start = pos_;
    const auto size = i64();
    Frame f;
    f.list = size < 0;
    const auto bytes = static_cast<std::uint64_t>(size < 0 ? -size : size);
    if (f.list) f.items = u32();
    if (bytes < pos_ - start || bytes > data_.size() - start)
      fail(fmt::format("frame of {} bytes does not fit", bytes));
    f.end = start + static_cast<std::size_t>(bytes);
    if (f.list && f.items > bytes) fail(fmt::format("list frame of {} items in {} bytes", f.items, bytes));
    return f;
  }
  Frame listFrame() {
    const auto f = frame();
    if (!f.list) fail("expected a list frame");
    return f;
  }
  /// Locator: size (negative = non-standard) and 64-bit offset.
  io::ByteRange locator() {
    const auto size = i32();
    if (size < 0) {
      // Non-standard: the 16 low bits of -size give the locator's size; type 1 is a large locator.
      const auto raw = static_cast<std::uint32_t>(size);
      const auto type = static_cast<std::uint8_t>(raw >> 24) & 0x7F;
      if (type != 0x01) fail(fmt::format("locator type {} is not supported", type));
      const auto contentSize = u64();
      const auto offset = u64();
      return {offset, contentSize};
    }
    const auto offset = u64();
    return {offset, static_cast<std::uint64_t>(size)};
  }

 private:
  std::span<const std::byte> data_;
  std::size_t pos_ = 0;
  std::string_view context_;
};

/// The uncompressed sizes the 9-byte block headers of a compressed payload declare, summed: checked
/// against what the metadata says before anything is allocated for it.
std::uint64_t declaredSize(std::span<const std::byte> stored) {
  std::uint64_t total = 0;
  for (std::size_t pos = 0; pos + 9 <= stored.size();) {
    const auto* h = stored.data() + pos;
    const std::size_t cs = std::to_integer<std::size_t>(h[3]) | (std::to_integer<std::size_t>(h[4]) << 8) |
                           (std::to_integer<std::size_t>(h[5]) << 16);
    total += std::to_integer<std::size_t>(h[6]) | (std::to_integer<std::size_t>(h[7]) << 8) |
             (std::to_integer<std::size_t>(h[8]) << 16);
    pos += 9 + cs;
  }
  return total;
}

// ---- the schema ------------------------------------------------------------------------------

struct FieldDesc {
  std::string name;
  std::string typeName;
  std::uint32_t parent = 0;
  std::uint16_t role = 0;  // 0 leaf, 1 collection, 2 record, 3 variant, 4 streamer
  std::uint16_t flags = 0;
  std::uint64_t arraySize = 0;
};

struct ColumnDesc {
  std::uint16_t type = 0;
  std::uint16_t bits = 0;
  std::uint32_t field = 0;
  std::uint16_t flags = 0;
  std::uint16_t representation = 0;
  std::int64_t firstElement = 0;
};

struct PageDesc {
  std::uint64_t elements = 0;
  bool checksum = false;
  io::ByteRange bytes;
};

struct ColumnPages {
  bool present = false;  ///< false: the cluster lists no pages for this column (deferred: zeros)
  bool suppressed = false;
  std::uint64_t elementOffset = 0;
  std::vector<PageDesc> pages;
};

struct Cluster {
  std::uint64_t firstEntry = 0;
  std::uint64_t entries = 0;
  std::vector<ColumnPages> columns;
};

// Column types (the specification's table).
enum ColumnType : std::uint16_t {
  kBit = 0x00,
  kByte = 0x01,
  kChar = 0x02,
  kInt8 = 0x03,
  kUInt8 = 0x04,
  kInt16 = 0x05,
  kUInt16 = 0x06,
  kInt32 = 0x07,
  kUInt32 = 0x08,
  kInt64 = 0x09,
  kUInt64 = 0x0A,
  kReal16 = 0x0B,
  kReal32 = 0x0C,
  kReal64 = 0x0D,
  kIndex32 = 0x0E,
  kIndex64 = 0x0F,
  kSwitch = 0x10,
  kSplitInt16 = 0x11,
  kSplitUInt16 = 0x12,
  kSplitInt32 = 0x13,
  kSplitUInt32 = 0x14,
  kSplitInt64 = 0x15,
  kSplitUInt64 = 0x16,
  kSplitReal16 = 0x17,
  kSplitReal32 = 0x18,
  kSplitReal64 = 0x19,
  kSplitIndex32 = 0x1A,
  kSplitIndex64 = 0x1B,
};

/// Bytes per element on disk, or 0 for a column type we do not decode (Real16, Real32Trunc,
/// Real32Quant, Switch) or Bit (packed).
std::size_t columnWidth(std::uint16_t t) {
  switch (t) {
    case kByte:
    case kChar:
    case kInt8:
    case kUInt8:
      return 1;
    case kInt16:
    case kUInt16:
    case kSplitInt16:
    case kSplitUInt16:
      return 2;
    case kInt32:
    case kUInt32:
    case kReal32:
    case kIndex32:
    case kSplitInt32:
    case kSplitUInt32:
    case kSplitReal32:
    case kSplitIndex32:
      return 4;
    case kInt64:
    case kUInt64:
    case kReal64:
    case kIndex64:
    case kSplitInt64:
    case kSplitUInt64:
    case kSplitReal64:
    case kSplitIndex64:
      return 8;
    default:
      return 0;
  }
}
bool isSplit(std::uint16_t t) {
  return t >= kSplitInt16 && t <= kSplitIndex64;
}
bool isZigzag(std::uint16_t t) {
  return t == kSplitInt16 || t == kSplitInt32 || t == kSplitInt64;
}
bool isDelta(std::uint16_t t) {
  return t == kSplitIndex32 || t == kSplitIndex64;
}
bool isIndex(std::uint16_t t) {
  return t == kIndex32 || t == kIndex64 || t == kSplitIndex32 || t == kSplitIndex64;
}
bool isReal(std::uint16_t t) {
  return t == kReal32 || t == kReal64 || t == kSplitReal32 || t == kSplitReal64;
}
bool isSigned(std::uint16_t t) {
  return t == kInt8 || t == kInt16 || t == kInt32 || t == kInt64 || t == kSplitInt16 || t == kSplitInt32 ||
         t == kSplitInt64;
}

/// The C++ type of a leaf field as our element type; false when not a fundamental type we read.
bool fundamental(std::string t, DType& out) {
  if (t.rfind("std::", 0) == 0) t = t.substr(5);
  static const std::vector<std::pair<std::string, DType>> table = {
      {"bool", DType::boolean},    {"int8_t", DType::int8},   {"uint8_t", DType::uint8},   {"int16_t", DType::int16},
      {"uint16_t", DType::uint16}, {"int32_t", DType::int32}, {"uint32_t", DType::uint32}, {"int64_t", DType::int64},
      {"uint64_t", DType::uint64}, {"float", DType::float32}, {"double", DType::float64},  {"char", DType::int8},
  };
  for (const auto& [name, type] : table)
    if (name == t) {
      out = type;
      return true;
    }
  return false;
}

/// How one top-level field becomes a Column.
// What a field without a type name is (untyped collections and records of RNTupleImporter).
std::string describeRole(std::uint16_t role) {
  switch (role) {
    case 0: return "untyped leaf";
    case 1: return "untyped collection";
    case 2: return "untyped record";
    case 3: return "untyped variant";
    case 4: return "untyped streamer field";
    default: return fmt::format("field of role {}", role);
  }
}

struct FieldPlan {
  BranchInfo info;
  enum class Kind { leaf, vector, string, cardinality } kind = Kind::leaf;
  std::uint32_t valueColumn = 0;  ///< leaf / vector items / string characters
  std::uint32_t indexColumn = 0;  ///< vector / string: the offsets column
};

}  // namespace

struct NTuple::Impl {
  std::shared_ptr<const File> file;
  std::string path;
  std::string context;
  std::uint64_t entries = 0;
  std::vector<FieldDesc> fields;
  std::vector<ColumnDesc> columns;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> aliases;  ///< (physical column, projected field)
  std::vector<Cluster> clusters;
  std::vector<FieldPlan> plans;
  std::vector<BranchInfo> infos;
};

namespace {

std::vector<std::byte> readEnvelope(const NTuple::Impl& t, io::ByteRange where, std::uint64_t length,
                                    std::uint16_t expectedType, const std::string& what) {
  const std::string context = fmt::format("{}: {} envelope at offset {}", t.context, what, where.offset);
  const auto& source = t.file->source();
  if (where.offset > source->size() || where.size > source->size() - where.offset)
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{} ({} bytes) lies beyond the end of the file", context, where.size));
  if (length < 16 || length > (std::uint64_t{1} << 32) || (where.size < length && length / 1024 > where.size))
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: implausible length {} for {} stored bytes", context, length, where.size));
  auto stored = source->readRange(where.offset, where.size);
  if (!stored) throw core::Exception(stored.error());
  std::vector<std::byte> bytes;
  if (where.size == length) {
    bytes = std::move(*stored);
  } else {
    if (declaredSize(*stored) != length)
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: compressed blocks hold {} bytes but the envelope has {}", context,
                                        declaredSize(*stored), length));
    bytes.resize(length);
    if (auto r = decompress(*stored, bytes, context); !r) throw core::Exception(r.error());
  }
  LeReader r(bytes, context);
  const auto head = r.u64();
  const auto type = static_cast<std::uint16_t>(head & 0xFFFF);
  const auto envelopeLength = head >> 16;
  if (type != expectedType || envelopeLength != length)
    r.fail(fmt::format("envelope type {} length {} where type {} length {} was expected", type, envelopeLength,
                       expectedType, length));
  std::uint64_t stored64 = 0;
  std::memcpy(&stored64, bytes.data() + length - 8, 8);
  if constexpr (std::endian::native == std::endian::big) stored64 = Cursor::byteswap(stored64);
  const auto computed = XXH3_64bits(bytes.data(), length - 8);
  if (computed != stored64)
    r.fail(fmt::format("checksum mismatch (stored {:016x}, computed {:016x})", stored64, computed));
  return bytes;
}

/// The four schema list frames (header, or the footer's schema extension).
void readSchema(LeReader& r, NTuple::Impl& t) {
  {
    const auto list = r.listFrame();
    for (std::uint32_t i = 0; i < list.items; ++i) {
      const auto f = r.frame();
      FieldDesc d;
      r.u32();  // field version
      r.u32();  // type version
      d.parent = r.u32();
      d.role = r.u16();
      d.flags = r.u16();
      d.name = r.string();
      d.typeName = r.string();
      r.string();  // type alias
      r.string();  // description
      if (d.flags & 0x01) d.arraySize = r.u64();
      r.seek(f.end);
      t.fields.push_back(std::move(d));
    }
    r.seek(list.end);
  }
  {
    const auto list = r.listFrame();
    for (std::uint32_t i = 0; i < list.items; ++i) {
      const auto f = r.frame();
      ColumnDesc c;
      c.type = r.u16();
      c.bits = r.u16();
      c.field = r.u32();
      c.flags = r.u16();
      c.representation = r.u16();
      if (c.flags & 0x01) c.firstElement = r.i64();
      r.seek(f.end);
      t.columns.push_back(c);
    }
    r.seek(list.end);
  }
  {
    // Alias columns: a projected field (e.g. RVec<float> Muon_pt over an untyped collection of
    // records, as RNTupleImporter writes NanoAOD) reads a physical column of another field.
    const auto list = r.listFrame();
    for (std::uint32_t i = 0; i < list.items; ++i) {
      const auto f = r.frame();
      const auto physical = r.u32();
      const auto field = r.u32();
      r.seek(f.end);
      t.aliases.emplace_back(physical, field);
    }
    r.seek(list.end);
  }
  r.seek(r.listFrame().end);  // extra type information
}

void readPageList(NTuple::Impl& t, const std::vector<std::byte>& bytes, const std::string& context) {
  LeReader r(bytes, context);
  r.skip(8);  // envelope type + length
  r.u64();    // header checksum
  std::vector<Cluster> clusters;
  {
    const auto list = r.listFrame();
    for (std::uint32_t i = 0; i < list.items; ++i) {
      const auto f = r.frame();
      Cluster c;
      c.firstEntry = r.u64();
      const auto n = r.u64();
      c.entries = n & 0x00FFFFFFFFFFFFFFull;
      if ((n >> 56) & 0x01) r.fail("sharded clusters are not supported");
      r.seek(f.end);
      clusters.push_back(std::move(c));
    }
    r.seek(list.end);
  }
  const auto top = r.listFrame();
  if (top.items != clusters.size())
    r.fail(fmt::format("{} page-location items for {} clusters", top.items, clusters.size()));
  for (auto& c : clusters) {
    const auto outer = r.listFrame();
    for (std::uint32_t col = 0; col < outer.items; ++col) {
      const auto inner = r.listFrame();
      ColumnPages cp;
      cp.present = true;
      for (std::uint32_t p = 0; p < inner.items; ++p) {
        PageDesc page;
        const auto n = r.i32();
        page.checksum = n < 0;
        page.elements = static_cast<std::uint64_t>(n < 0 ? -static_cast<std::int64_t>(n) : n);
        page.bytes = r.locator();
        cp.pages.push_back(page);
      }
      const auto offset = r.i64();
      cp.suppressed = offset < 0;
      cp.elementOffset = static_cast<std::uint64_t>(offset < 0 ? 0 : offset);
      if (!cp.suppressed) r.u32();  // compression settings
      r.seek(inner.end);
      c.columns.push_back(std::move(cp));
    }
    r.seek(outer.end);
  }
  for (auto& c : clusters) t.clusters.push_back(std::move(c));
}

/// Which top-level fields we can read and how.
void planFields(NTuple::Impl& t) {
  std::vector<std::vector<std::uint32_t>> columnsOf(t.fields.size());
  for (std::uint32_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c].field < t.fields.size()) columnsOf[t.columns[c].field].push_back(c);
  for (const auto& [physical, field] : t.aliases)
    if (field < t.fields.size() && physical < t.columns.size()) columnsOf[field].push_back(physical);
  std::vector<std::vector<std::uint32_t>> children(t.fields.size());
  for (std::uint32_t f = 0; f < t.fields.size(); ++f)
    if (t.fields[f].parent != f && t.fields[f].parent < t.fields.size()) children[t.fields[f].parent].push_back(f);

  // A column we decode: one representation, a fixed-width or Bit type.
  auto readable = [&](std::uint32_t field, std::uint32_t& column, std::string& why) {
    const auto& cols = columnsOf[field];
    if (cols.size() != 1) {
      why = fmt::format("{} columns (alternative representations)", cols.size());
      return false;
    }
    const auto& c = t.columns[cols[0]];
    if (c.type != kBit && columnWidth(c.type) == 0) {
      why = fmt::format("column type 0x{:02x}", c.type);
      return false;
    }
    column = cols[0];
    return true;
  };

  for (std::uint32_t f = 0; f < t.fields.size(); ++f) {
    const auto& d = t.fields[f];
    if (d.parent != f) continue;  // not top-level
    FieldPlan plan;
    plan.info.name = d.name;
    plan.info.title = d.typeName;
    plan.info.className = d.role == 0   ? "leaf"
                          : d.role == 1 ? "collection"
                          : d.role == 2 ? "record"
                          : d.role == 3 ? "variant"
                                        : "streamer";
    plan.info.entries = t.entries;
    std::string why;
    DType type{};
    if (d.role == 0 && (d.flags & 0x01) == 0 && fundamental(d.typeName, type) && readable(f, plan.valueColumn, why)) {
      plan.kind = FieldPlan::Kind::leaf;
      plan.info.type = type;
      plan.info.supported = true;
      plan.info.typeName = std::string(dtypeName(type));
    } else if (d.role == 0 && (d.typeName == "std::string" || d.typeName == "string") && columnsOf[f].size() == 2 &&
               isIndex(t.columns[columnsOf[f][0]].type) && t.columns[columnsOf[f][1]].type == kChar) {
      plan.kind = FieldPlan::Kind::string;
      plan.indexColumn = columnsOf[f][0];
      plan.valueColumn = columnsOf[f][1];
      plan.info.type = DType::string;
      plan.info.jaggedLevels = 1;
      plan.info.supported = true;
      plan.info.typeName = "string";
    } else if (d.role == 0 && d.typeName.rfind("ROOT::RNTupleCardinality<", 0) == 0 && columnsOf[f].size() == 1 &&
               isIndex(t.columns[columnsOf[f][0]].type) &&
               fundamental(d.typeName.substr(25, d.typeName.size() - 26), type)) {
      // The number of items per entry of a collection (NanoAOD's nMuon), from its offsets.
      plan.kind = FieldPlan::Kind::cardinality;
      plan.indexColumn = columnsOf[f][0];
      plan.info.type = type;
      plan.info.supported = true;
      plan.info.typeName = std::string(dtypeName(type));
    } else if (d.role == 1 && children[f].size() == 1 && columnsOf[f].size() == 1 &&
               isIndex(t.columns[columnsOf[f][0]].type)) {
      const auto item = children[f][0];
      const auto& id = t.fields[item];
      if (id.role == 0 && (id.flags & 0x01) == 0 && fundamental(id.typeName, type) &&
          readable(item, plan.valueColumn, why)) {
        plan.kind = FieldPlan::Kind::vector;
        plan.indexColumn = columnsOf[f][0];
        plan.info.type = type;
        plan.info.jaggedLevels = 1;
        plan.info.supported = true;
        plan.info.typeName = fmt::format("vector<{}>", dtypeName(type));
      } else if (why.empty() && id.typeName.empty() && id.role == 2) {
        // ROOT's RNTupleImporter stores a group of leaf-count arrays (NanoAOD's Muon_*) as an
        // untyped collection of untyped records; its projected fields (Muon_pt, ...) read them.
        std::string members;
        const auto& memberIds = children[item];
        for (std::size_t k = 0; k < memberIds.size() && k < 4; ++k)
          members += (k ? ", " : "") + t.fields[memberIds[k]].name;
        if (memberIds.size() > 4) members += ", ...";
        why = fmt::format("records of {} member{}: {}; read them through their projected fields", memberIds.size(),
                          memberIds.size() == 1 ? "" : "s", members);
      } else {
        why = why.empty() ? "items of type " + (id.typeName.empty() ? describeRole(id.role) : id.typeName) : why;
      }
    }
    if (!plan.info.supported) {
      plan.info.typeName = "unsupported";
      const std::string typeText = d.typeName.empty() ? describeRole(d.role) : d.typeName;
      plan.info.unsupportedReason = "unsupported: " + typeText + (why.empty() ? "" : " (" + why + ")");
    }
    t.plans.push_back(std::move(plan));
  }
  // Fields that read one offsets column (the projections of one collection, such as NanoAOD's
  // Muon_pt, Muon_eta, ..., and its cardinality nMuon) are one list, as counted branches with one
  // counter are in a TTree: named after the cardinality field when there is one (so a config
  // written for Muon_pt[nMuon] reads the RNTuple the same way), else after the collection.
  std::map<std::uint32_t, std::vector<std::size_t>> vectorsOf;
  std::map<std::uint32_t, std::string> cardinalityOf;
  for (std::size_t i = 0; i < t.plans.size(); ++i) {
    const auto& p = t.plans[i];
    if (!p.info.supported) continue;
    if (p.kind == FieldPlan::Kind::vector) vectorsOf[p.indexColumn].push_back(i);
    if (p.kind == FieldPlan::Kind::cardinality) cardinalityOf.try_emplace(p.indexColumn, p.info.name);
  }
  for (const auto& [index, members] : vectorsOf) {
    const auto cardinality = cardinalityOf.find(index);
    if (members.size() < 2 && cardinality == cardinalityOf.end()) continue;  // its own list
    const auto owner = t.columns[index].field;
    const std::string list = cardinality != cardinalityOf.end() ? cardinality->second
                             : owner < t.fields.size()        ? t.fields[owner].name
                                                              : t.plans[members.front()].info.name;
    for (const auto i : members) t.plans[i].info.counterBranch = list;
  }
  for (const auto& p : t.plans) t.infos.push_back(p.info);
}

// ---- Direct decoding: pages straight into a column of the field's type ----------------------------

enum class ValueKind { real, zigzag, signExtend, plain };

template <std::size_t W>
using UnsignedOf = std::conditional_t<
    W == 1, std::uint8_t, std::conditional_t<W == 2, std::uint16_t, std::conditional_t<W == 4, std::uint32_t, std::uint64_t>>>;

/// Elements [skip, skip + take) of a page of n elements of W bytes (split: byte b of element i at
/// b * n + i), converted to Out through int64 for integers and double for reals (as appendValues
/// converts the Elements path's integers), written to dst. The arithmetic stays in W-byte lanes, so the compiler
/// vectorises the unsplitting.
template <class Out, std::size_t W, bool Split, ValueKind Kind>
void decodeInto(std::span<const std::byte> raw, std::uint64_t n, std::uint64_t skip, std::uint64_t take, Out* dst) {
  using U = UnsignedOf<W>;
  using S = std::make_signed_t<U>;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  for (std::uint64_t j = 0; j < take; ++j) {
    const std::uint64_t i = skip + j;
    U u = 0;
    if constexpr (Split) {
      // Byte b of every element is in stream b: one load per stream, unrolled.
      u = [&]<std::size_t... B>(std::index_sequence<B...>) {
        return static_cast<U>(((static_cast<U>(bytes[B * n + i]) << (8 * B)) | ...));
      }(std::make_index_sequence<W>{});
    } else {
      std::memcpy(&u, bytes + i * W, W);  // little-endian on disk
      if constexpr (std::endian::native == std::endian::big && W > 1) u = static_cast<U>(Cursor::byteswap(static_cast<std::uint64_t>(u)) >> (64 - 8 * W));
    }
    if constexpr (Kind == ValueKind::real) {
      using R = std::conditional_t<W == 4, float, double>;
      const R v = std::bit_cast<R>(u);
      if constexpr (std::is_same_v<Out, bool>)
        dst[j] = false;  // as appendValues: a real column never feeds a bool field
      else if constexpr (std::is_floating_point_v<Out>)
        dst[j] = static_cast<Out>(v);  // float -> double -> float is exact: the same value
      else
        dst[j] = Out{0};
    } else {
      std::int64_t v;
      if constexpr (Kind == ValueKind::zigzag)
        v = static_cast<S>(static_cast<S>(u >> 1) ^ static_cast<S>(-static_cast<S>(u & 1)));
      else if constexpr (Kind == ValueKind::signExtend)
        v = static_cast<S>(u);
      else
        v = static_cast<std::int64_t>(static_cast<std::uint64_t>(u));
      if constexpr (std::is_same_v<Out, bool>)
        dst[j] = v != 0;
      else if constexpr (std::is_floating_point_v<Out>)
        dst[j] = static_cast<Out>(static_cast<double>(v));
      else
        dst[j] = static_cast<Out>(v);
    }
  }
}

using DecodeFn = void (*)(std::span<const std::byte>, std::uint64_t, std::uint64_t, std::uint64_t, void*);

template <class Out, std::size_t W, bool Split, ValueKind Kind>
void decodeErased(std::span<const std::byte> raw, std::uint64_t n, std::uint64_t skip, std::uint64_t take, void* dst) {
  decodeInto<Out, W, Split, Kind>(raw, n, skip, take, static_cast<Out*>(dst));
}

template <class Out, std::size_t W, bool Split>
DecodeFn pickKind(std::uint16_t type) {
  if (isReal(type)) {
    if constexpr (W == 4 || W == 8) return &decodeErased<Out, W, Split, ValueKind::real>;
    return nullptr;
  }
  if (isZigzag(type)) return &decodeErased<Out, W, Split, ValueKind::zigzag>;
  if (isSigned(type)) return &decodeErased<Out, W, Split, ValueKind::signExtend>;
  return &decodeErased<Out, W, Split, ValueKind::plain>;
}

template <class Out, std::size_t W>
DecodeFn pickSplit(std::uint16_t type) {
  return isSplit(type) ? pickKind<Out, W, true>(type) : pickKind<Out, W, false>(type);
}

/// The typed decoder of a value column for a field of type `out`, or null where the Elements path
/// must decode it (bits, delta-encoded indices, strings).
DecodeFn directDecoder(std::uint16_t type, DType out, bool deltaDone = false) {
  if (type == kBit || (isDelta(type) && !deltaDone) || out == DType::string) return nullptr;
  DecodeFn fn = nullptr;
  auto pick = [&](auto tag) {
    using Out = decltype(tag);
    switch (columnWidth(type)) {
      case 1: fn = pickSplit<Out, 1>(type); break;
      case 2: fn = pickSplit<Out, 2>(type); break;
      case 4: fn = pickSplit<Out, 4>(type); break;
      case 8: fn = pickSplit<Out, 8>(type); break;
      default: break;
    }
  };
  if (out == DType::boolean)
    pick(bool{});
  else
    visitNumeric(out, pick);
  return fn;
}

/// Every element of an integer column in one cluster as int64, in element order: the path of the
/// columns the typed decoders leave out (Bit, delta-coded indices, a string's characters). Real
/// columns always have a typed decoder.
struct Elements {
  std::vector<std::int64_t> ints;
};

void decodePage(const ColumnDesc& col, std::span<const std::byte> raw, std::uint64_t n, Elements& out,
                const std::string& where) {
  if (col.type == kBit) {
    if (raw.size() < (n + 7) / 8) throw core::Exception(core::Errc::corrupt, where + ": bit page is too short");
    for (std::uint64_t i = 0; i < n; ++i) out.ints.push_back((std::to_integer<unsigned>(raw[i / 8]) >> (i % 8)) & 1u);
    return;
  }
  const auto w = columnWidth(col.type);
  if (raw.size() != n * w)
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: page of {} elements of {} bytes holds {} bytes", where, n, w, raw.size()));
  // The typed decoders (delta coding is undone below, over the 64-bit values).
  const DecodeFn decode = isReal(col.type) ? nullptr : directDecoder(col.type, DType::int64, true);
  if (decode == nullptr)
    throw core::Exception(core::Errc::unsupported, fmt::format("{}: column type {:#x}", where, col.type));
  const auto at = out.ints.size();
  out.ints.resize(at + n);
  decode(raw, n, 0, n, out.ints.data() + at);
  if (isDelta(col.type))  // within the page: first value as is, then differences
    for (std::size_t i = out.ints.size() - n + 1; i < out.ints.size(); ++i)
      out.ints[i] = static_cast<std::int64_t>(static_cast<std::uint64_t>(out.ints[i]) +
                                              static_cast<std::uint64_t>(out.ints[i - 1]));
}

// The pages' bytes and the decompressed page go to per-thread buffers that keep their capacity
// (fresh buffers per call would page-fault as much as the pages hold), up to kScratchKeep: a
// thread that once read a huge page does not hold its memory for ever. walkPages hands out spans
// into them, so its callbacks must not call walkPages again.
struct PageScratch {
  std::vector<std::byte> stored, inflated;
};
constexpr std::size_t kScratchKeep = 64 << 20;
PageScratch& pageScratch() {
  thread_local PageScratch scratch;
  return scratch;
}
void trimPageScratch() {
  auto& scratch = pageScratch();
  if (scratch.stored.capacity() > kScratchKeep) std::vector<std::byte>().swap(scratch.stored);
  if (scratch.inflated.capacity() > kScratchKeep) std::vector<std::byte>().swap(scratch.inflated);
}

/// Walks elements [from, to) of column `c` in cluster `k`, which has `expected` elements: only the
/// pages that overlap the range are fetched and decompressed. Calls onZeros(n) for elements a
/// deferred column does not store, and onPage(raw, elements, skip, take, where) for each page's
/// unpacked bytes, of which elements [skip, skip + take) are wanted, in order; where() names the
/// page for an error message.
template <class OnZeros, class OnPage>
void walkPages(const NTuple::Impl& t, std::size_t k, std::uint32_t c, std::uint64_t expected, std::uint64_t from,
               std::uint64_t to, OnZeros&& onZeros, OnPage&& onPage) {
  const auto& col = t.columns[c];
  const auto& cluster = t.clusters[k];
  const std::string where = fmt::format("{}: column {} of field \"{}\" in cluster {}", t.context, c,
                                        col.field < t.fields.size() ? t.fields[col.field].name : "?", k);
  if (from > to || to > expected)
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: elements {}..{} of {}", where, from, to, expected));
  if (c >= cluster.columns.size() || !cluster.columns[c].present || cluster.columns[c].pages.empty()) {
    // A deferred column before its first element: zeros. Any other column without pages has
    // no elements here; asking it for some is damage (and could ask for any number).
    if (c < cluster.columns.size() && cluster.columns[c].suppressed)
      throw core::Exception(core::Errc::unsupported, where + ": suppressed (alternative representation)");
    if (to > from && (col.flags & 0x01) == 0)
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: no pages, but elements {}..{} are needed", where, from, to));
    onZeros(to - from);
    return;
  }
  const auto& cp = cluster.columns[c];
  std::uint64_t total = 0;
  for (const auto& p : cp.pages) total += p.elements;
  // A deferred column (added by a schema extension) that starts inside this cluster: the elements
  // before its first one read as zeros (empty collections for an offsets column).
  const std::uint64_t lead = (col.flags & 0x01) && total < expected ? expected - total : 0;
  if (lead + total < to)
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: pages hold {} elements, {} are needed", where, lead + total, to));
  if (from < lead) onZeros(std::min(to, lead) - from);
  // Pages overlapping [max(from, lead) - lead, to - lead) in page-element numbers.
  const std::uint64_t lo = std::max(from, lead) - lead, hi = to > lead ? to - lead : 0;
  std::vector<std::size_t> wanted;
  std::vector<std::uint64_t> starts;
  std::uint64_t pageStart = 0;
  for (std::size_t p = 0; p < cp.pages.size(); ++p) {
    const auto pageEnd = pageStart + cp.pages[p].elements;
    if (pageEnd > lo && pageStart < hi) {
      wanted.push_back(p);
      starts.push_back(pageStart);
    }
    pageStart = pageEnd;
  }
  if (wanted.empty()) return;
  for (const auto w : wanted) {
    const auto& b = cp.pages[w].bytes;
    if (b.offset > t.file->size() || b.size > t.file->size() - b.offset)
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: page {} at {} ({} bytes) lies beyond the file", where, w, b.offset, b.size));
  }
  // Pages are fetched a batch of at most kBatchBytes at a time (one request each), a locator
  // repeated within a batch once: ROOT writes one page for runs of identical pages (100 M int16 in
  // 1.7 KB), and a damaged page list that repeats large locators cannot make one huge buffer.
  constexpr std::uint64_t kBatchBytes = 32 << 20;
  struct TrimAtExit {  // also when a read, a decompression or onPage throws
    ~TrimAtExit() { trimPageScratch(); }
  } trimAtExit;
  auto& scratch = pageScratch();
  auto& storedArena = scratch.stored;
  auto& inflated = scratch.inflated;
  std::vector<io::ReadRequest> requests;
  std::vector<std::span<const std::byte>> stored;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::size_t> fetched;  // (offset, size) -> stored index
  std::vector<std::size_t> storedOf;
  for (std::size_t batchBegin = 0; batchBegin < wanted.size();) {
    requests.clear();
    stored.clear();
    fetched.clear();
    storedOf.clear();
    std::uint64_t bytes = 0;
    std::size_t batchEnd = batchBegin;
    for (; batchEnd < wanted.size(); ++batchEnd) {
      const auto& b = cp.pages[wanted[batchEnd]].bytes;
      auto it = fetched.find({b.offset, b.size});
      if (it == fetched.end()) {
        if (bytes > 0 && bytes + b.size > kBatchBytes) break;  // the next batch starts here
        it = fetched.emplace(std::pair{b.offset, b.size}, stored.size()).first;
        stored.emplace_back();  // placed below, once the arena has its size
        bytes += b.size;
      }
      storedOf.push_back(it->second);
    }
    storedArena.resize(bytes);
    std::uint64_t at = 0;
    for (const auto& [locator, index] : fetched) {
      const std::span<std::byte> into(storedArena.data() + at, locator.second);
      requests.push_back({locator.first, into});
      stored[index] = into;
      at += locator.second;
    }
    if (auto r = t.file->source()->read(requests); !r) throw core::Exception(r.error().withContext(where));
    for (std::size_t w = batchBegin; w < batchEnd; ++w) {
      const auto& page = cp.pages[wanted[w]];
      // Formatted only when needed: an error, or a compressed page (whose inflate dwarfs it).
      const auto pageWhere = [&] { return fmt::format("{} page {} at offset {}", where, wanted[w], page.bytes.offset); };
      const std::uint64_t unpacked =
          col.type == kBit ? (page.elements + 7) / 8 : page.elements * columnWidth(col.type);
      if (unpacked / 1024 > page.bytes.size + 1024)
        throw core::Exception(core::Errc::corrupt, fmt::format("{}: {} elements cannot come from {} bytes", pageWhere(),
                                                               page.elements, page.bytes.size));
      std::span<const std::byte> raw = stored[storedOf[w - batchBegin]];
      if (raw.size() != unpacked) {
        if (declaredSize(raw) != unpacked)
          throw core::Exception(core::Errc::corrupt,
                                fmt::format("{}: compressed blocks hold {} bytes but {} elements need {}", pageWhere(),
                                            declaredSize(raw), page.elements, unpacked));
        inflated.resize(unpacked);
        if (auto r = decompress(raw, inflated, pageWhere()); !r) throw core::Exception(r.error());
        raw = inflated;
      }
      const std::uint64_t first = std::max(lo, starts[w]) - starts[w];
      const std::uint64_t last = std::min(hi, starts[w] + page.elements) - starts[w];
      onPage(raw, page.elements, first, last - first, pageWhere);
    }
    batchBegin = batchEnd;
  }
}

/// Elements [from, to) of column `c` in cluster `k`, which has `expected` elements.
Elements clusterElements(const NTuple::Impl& t, std::size_t k, std::uint32_t c, std::uint64_t expected,
                         std::uint64_t from, std::uint64_t to) {
  const auto& col = t.columns[c];
  Elements out;
  Elements decoded;
  walkPages(
      t, k, c, expected, from, to,
      [&](std::uint64_t n) { out.ints.insert(out.ints.end(), n, 0); },
      [&](std::span<const std::byte> raw, std::uint64_t n, std::uint64_t skip, std::uint64_t take,
          const auto& where) {
        decoded.ints.clear();
        decodePage(col, raw, n, decoded, where());  // delta encoding runs over the whole page
        const auto begin = static_cast<std::ptrdiff_t>(skip), end = static_cast<std::ptrdiff_t>(skip + take);
        out.ints.insert(out.ints.end(), decoded.ints.begin() + begin, decoded.ints.begin() + end);
      });
  return out;
}

/// Appends elements [from, to) of value column `c` in cluster `k` to `out` through `decode`.
void appendDirect(const NTuple::Impl& t, std::size_t k, std::uint32_t c, std::uint64_t expected, std::uint64_t from,
                  std::uint64_t to, DecodeFn decode, Column& out) {
  // The column grows as walkPages hands out what it has checked (a page's elements), never by a
  // count that a damaged page list or index could make absurd before the check.
  const auto width = dtypeSize(out.type);
  walkPages(
      t, k, c, expected, from, to,
      [&](std::uint64_t n) { out.data.resize(out.data.size() + n * width); },  // zeros: 0 of every type
      [&](std::span<const std::byte> raw, std::uint64_t n, std::uint64_t skip, std::uint64_t take, const auto&) {
        const auto at = out.data.size();
        out.data.resize(at + take * width);
        decode(raw, n, skip, take, out.data.data() + at);
      });
}

/// The plan of a field that read() and decompressOnly() can read; throws not_found or unsupported.
const FieldPlan& readablePlan(const NTuple::Impl& t, const std::string& name) {
  const auto it = std::find_if(t.plans.begin(), t.plans.end(), [&](const FieldPlan& p) { return p.info.name == name; });
  if (it == t.plans.end())
    throw core::Exception(core::Errc::not_found, fmt::format("{}: no field \"{}\"", t.context, name));
  if (!it->info.supported)
    throw core::Exception(core::Errc::unsupported,
                          fmt::format("{}: field \"{}\": {}", t.context, name, it->info.unsupportedReason));
  return *it;
}

/// Appends elements [from, to) of a cluster's values to a column of type `type`.
void appendValues(Column& out, const Elements& e, std::uint64_t from, std::uint64_t to, const std::string& where) {
  const auto size = e.ints.size();
  if (to > size || from > to)
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: elements {}..{} of {}", where, from, to, size));
  const auto width = dtypeSize(out.type);
  const auto at = out.data.size();
  out.data.resize(at + (to - from) * width);
  std::byte* dst = out.data.data() + at;
  // Integers convert from the int64 values (to floating fields through double, as the typed
  // decoders do).
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    for (auto i = from; i < to; ++i) {
      T v;
      if constexpr (std::is_floating_point_v<T>)
        v = static_cast<T>(static_cast<double>(e.ints[i]));
      else
        v = static_cast<T>(e.ints[i]);
      std::memcpy(dst, &v, sizeof(T));
      dst += sizeof(T);
    }
  };
  if (out.type == DType::boolean) {
    for (auto i = from; i < to; ++i) *dst++ = std::byte{static_cast<unsigned char>(e.ints[i] != 0)};
  } else if (out.type == DType::string) {
    fill(std::uint8_t{});  // characters
  } else {
    visitNumeric(out.type, fill);
  }
}

}  // namespace

NTuple::NTuple(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
const std::string& NTuple::path() const noexcept {
  return impl_->path;
}
std::uint64_t NTuple::entries() const noexcept {
  return impl_->entries;
}
const std::vector<BranchInfo>& NTuple::fields() const noexcept {
  return impl_->infos;
}
const BranchInfo* NTuple::field(std::string_view name) const noexcept {
  for (const auto& f : impl_->infos)
    if (f.name == name) return &f;
  return nullptr;
}
std::vector<std::uint64_t> NTuple::clusterBoundaries() const {
  std::vector<std::uint64_t> out{0};
  for (const auto& c : impl_->clusters) out.push_back(c.firstEntry + c.entries);
  return out;
}

std::vector<Column> NTuple::read(const std::vector<std::string>& names, EntryRange range) const {
  std::vector<Column> columns;
  readInto(names, range, columns);
  return columns;
}

void NTuple::readInto(const std::vector<std::string>& names, EntryRange range, std::vector<Column>& columns) const {
  const auto& t = *impl_;
  range.end = std::min(range.end, t.entries);
  range.begin = std::min(range.begin, range.end);
  std::vector<Column> previous = std::move(columns);
  // A previous read's column of the same name lends its buffers (cleared, capacity kept).
  auto recycled = [&](const std::string& name) {
    Column col;
    for (auto& old : previous)
      if (old.name == name && (!old.data.empty() || old.data.capacity() != 0)) {
        col.data = std::move(old.data);
        col.data.clear();
        if (!old.offsets.empty()) {
          col.offsets = std::move(old.offsets);
          for (auto& level : col.offsets) level.clear();
        }
        break;
      }
    return col;
  };
  std::vector<Column> out;
  out.reserve(names.size());
  for (const auto& name : names) {
    const auto& plan = readablePlan(t, name);
    Column col = recycled(name);
    col.name = name;
    col.type = plan.info.type;
    col.firstEntry = range.begin;
    col.entries = 0;
    if (plan.kind == FieldPlan::Kind::vector || plan.kind == FieldPlan::Kind::string) {
      col.offsets.resize(1);
      col.offsets[0].assign(1, 0);
    } else {
      col.offsets.clear();
    }
    const std::string where = fmt::format("{}: field \"{}\"", t.context, name);
    for (std::size_t k = 0; k < t.clusters.size(); ++k) {
      const auto& c = t.clusters[k];
      const auto lo = std::max(range.begin, c.firstEntry);
      const auto hi = std::min(range.end, c.firstEntry + c.entries);
      if (lo >= hi) continue;
      const auto first = lo - c.firstEntry, last = hi - c.firstEntry;
      const DecodeFn direct = plan.kind == FieldPlan::Kind::leaf || plan.kind == FieldPlan::Kind::vector
                                  ? directDecoder(t.columns[plan.valueColumn].type, col.type)
                                  : nullptr;
      if (plan.kind == FieldPlan::Kind::leaf) {
        if (direct != nullptr) {
          appendDirect(t, k, plan.valueColumn, c.entries, first, last, direct, col);
        } else {
          const auto values = clusterElements(t, k, plan.valueColumn, c.entries, first, last);
          appendValues(col, values, 0, last - first, where);
        }
      } else {
        // Offsets of entries [first - 1, last): the end of each entry's items, counted in the cluster.
        const auto base = first == 0 ? 0 : first - 1;
        const auto index = clusterElements(t, k, plan.indexColumn, c.entries, base, last);
        auto endOf = [&](std::uint64_t e) { return static_cast<std::uint64_t>(index.ints[e - base]); };
        std::uint64_t begin = first == 0 ? 0 : endOf(first - 1);
        if (plan.kind == FieldPlan::Kind::cardinality) {
          Elements counts;
          for (auto e = first; e < last; ++e) {
            const auto end = endOf(e);
            if (end < begin)
              throw core::Exception(core::Errc::corrupt,
                                    fmt::format("{}: offsets decrease at entry {}", where, c.firstEntry + e));
            counts.ints.push_back(static_cast<std::int64_t>(end - begin));
            begin = end;
          }
          appendValues(col, counts, 0, counts.ints.size(), where);
          col.entries += hi - lo;
          continue;
        }
        // The cluster's item count is the last entry's end; deferred item columns need it for their zeros.
        const std::uint64_t itemsEnd =
            last == c.entries ? endOf(last - 1)
                              : clusterElements(t, k, plan.indexColumn, c.entries, c.entries - 1, c.entries).ints[0];
        const std::uint64_t itemsBegin = begin, itemsLast = endOf(last - 1);
        if (itemsLast < itemsBegin || itemsLast > itemsEnd)
          throw core::Exception(core::Errc::corrupt, fmt::format("{}: cluster {} offsets {}..{} of {} items", where, k,
                                                                 itemsBegin, itemsLast, itemsEnd));
        // Items come from pages: a field added later (deferred) has no items before it existed,
        // so offsets counting more items than the pages hold are damage, not zeros to make.
        std::uint64_t storedItems = 0;
        if (plan.valueColumn < c.columns.size()) {
          const auto& items = c.columns[plan.valueColumn];
          if (items.suppressed)
            throw core::Exception(core::Errc::unsupported,
                                  fmt::format("{}: cluster {}: items suppressed (alternative representation)", where, k));
          for (const auto& page : items.pages) storedItems += page.elements;
        }
        if (itemsEnd > storedItems)
          throw core::Exception(core::Errc::corrupt, fmt::format("{}: cluster {} counts {} items but its pages hold {}",
                                                                 where, k, itemsEnd, storedItems));
        // The entries' items are consecutive: one append for the range, then its offsets.
        auto& offsets = col.offsets[0];
        offsets.reserve(offsets.size() + (last - first));
        for (auto e = first; e < last; ++e) {
          const auto end = endOf(e);
          if (end < begin)
            throw core::Exception(core::Errc::corrupt,
                                  fmt::format("{}: offsets decrease at entry {}", where, c.firstEntry + e));
          offsets.push_back(offsets.back() + (end - begin));
          begin = end;
        }
        if (direct != nullptr) {
          appendDirect(t, k, plan.valueColumn, itemsEnd, itemsBegin, itemsLast, direct, col);
        } else {
          const auto items = clusterElements(t, k, plan.valueColumn, itemsEnd, itemsBegin, itemsLast);
          appendValues(col, items, 0, itemsLast - itemsBegin, where);
        }
      }
      col.entries += hi - lo;
    }
    out.push_back(std::move(col));
  }
  columns = std::move(out);
}

NTuple::PageStats NTuple::decompressOnly(const std::vector<std::string>& names, EntryRange range) const {
  const auto& t = *impl_;
  range.end = std::min(range.end, t.entries);
  PageStats stats;
  for (const auto& name : names) {
    const auto* it = &readablePlan(t, name);
    std::vector<std::uint32_t> columns{it->valueColumn};
    if (it->kind != FieldPlan::Kind::leaf) columns.push_back(it->indexColumn);
    if (it->kind == FieldPlan::Kind::cardinality) columns = {it->indexColumn};
    for (std::size_t k = 0; k < t.clusters.size(); ++k) {
      const auto& c = t.clusters[k];
      if (c.firstEntry >= range.end || c.firstEntry + c.entries <= range.begin) continue;
      for (const auto column : columns) {
        if (column >= c.columns.size() || !c.columns[column].present) continue;
        std::uint64_t total = 0;
        std::set<std::pair<std::uint64_t, std::uint64_t>> locators;  // a page written once for a run counts once
        for (const auto& page : c.columns[column].pages) {
          total += page.elements;
          if (locators.emplace(page.bytes.offset, page.bytes.size).second) stats.storedBytes += page.bytes.size;
        }
        walkPages(
            t, k, column, total, 0, total, [](std::uint64_t) {},
            [&](std::span<const std::byte> raw, std::uint64_t, std::uint64_t, std::uint64_t, const auto&) {
              stats.unpackedBytes += raw.size();
              ++stats.pages;
            });
      }
    }
  }
  return stats;
}

NTuple File::ntuple(const std::string& path) const {
  const auto entry = find(path);
  if (entry.key.className != "ROOT::RNTuple")
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: \"{}\" is a {}, not an RNTuple (epoch 1)",
                                                                    name(), path, entry.key.className));
  auto impl = std::make_shared<NTuple::Impl>();
  impl->file = shared_from_this();
  impl->path = entry.path;
  impl->context = fmt::format("{}: RNTuple \"{}\"", name(), entry.path);
  auto& t = *impl;

  // The anchor: a streamed object, big-endian like every TFile record.
  const auto payload = readPayload(entry.key);
  const std::string anchorContext = impl->context + " anchor";
  Cursor a(payload, entry.key.keylen, anchorContext);
  detail::readVersion(a);
  const auto epoch = a.u16();
  a.u16();
  a.u16();
  a.u16();
  const io::ByteRange header{a.u64(), a.u64()};
  const auto headerLength = a.u64();
  const io::ByteRange footer{a.u64(), a.u64()};
  const auto footerLength = a.u64();
  if (epoch != 1)
    throw core::Exception(core::Errc::unsupported,
                          fmt::format("{}: format epoch {} (only epoch 1 is read)", anchorContext, epoch));

  // Header: feature flags, name, description, writer, schema.
  {
    const auto bytes = readEnvelope(t, header, headerLength, 0x01, "header");
    LeReader r(std::span<const std::byte>(bytes).first(bytes.size() - 8), impl->context + " header");
    r.skip(8);
    if (r.i64() != 0) r.fail("unknown feature flags");
    r.string();
    r.string();
    r.string();
    readSchema(r, t);
  }
  // Footer: flags, header checksum, schema extension, cluster groups (each with its page list).
  {
    const auto bytes = readEnvelope(t, footer, footerLength, 0x02, "footer");
    LeReader r(std::span<const std::byte>(bytes).first(bytes.size() - 8), impl->context + " footer");
    r.skip(8);
    if (r.i64() != 0) r.fail("unknown feature flags");
    r.u64();  // header checksum
    {
      const auto extension = r.frame();
      if (extension.end > r.pos()) readSchema(r, t);  // an empty record frame has no lists
      r.seek(extension.end);
    }
    const auto groups = r.listFrame();
    for (std::uint32_t g = 0; g < groups.items; ++g) {
      const auto f = r.frame();
      r.u64();  // minimum entry
      r.u64();  // entry span
      r.u32();  // number of clusters
      const auto length = r.u64();
      const auto where = r.locator();
      r.seek(f.end);
      const auto list = readEnvelope(t, where, length, 0x03, fmt::format("page list {}", g));
      readPageList(t, list, fmt::format("{} page list {}", impl->context, g));
    }
  }
  std::sort(t.clusters.begin(), t.clusters.end(),
            [](const Cluster& x, const Cluster& y) { return x.firstEntry < y.firstEntry; });
  // Entries and items are bounded by what the file could hold (ROOT's codecs stay far below 1024:1),
  // so damaged counts cannot make a read allocate blindly.
  const std::uint64_t plausible = (t.file->size() + (1 << 20)) * 1024;
  for (const auto& c : t.clusters) {
    if (c.entries > plausible)
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: a cluster of {} entries cannot come from a file of {} bytes",
                                        impl->context, c.entries, t.file->size()));
    if (c.firstEntry != t.entries)
      throw core::Exception(core::Errc::corrupt, fmt::format("{}: cluster at entry {} does not follow entry {}",
                                                             impl->context, c.firstEntry, t.entries));
    t.entries += c.entries;
  }
  planFields(t);
  return NTuple(std::move(impl));
}

}  // namespace mlaas::root
