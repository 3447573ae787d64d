#include "root/tree.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <unordered_map>
#include <utility>

#include "io/local_source.hpp"
#include "root/compress.hpp"
#include "root/compression.hpp"
#include "root/cursor.hpp"
#include "root/detail_slot.hpp"
#include "root/object.hpp"

namespace mlaas::root {

using detail::Obj;
using detail::ObjPtr;

namespace {

// ---- numeric codecs: disk representation -> output DType ------------------------------------

struct NumCodec {
  enum class Mode : std::uint8_t { plain, floatToDouble, factor, nbits };
  DType out = DType::float64;
  Mode mode = Mode::plain;
  int nbits = 0;
  std::size_t diskWidth = 8;
  double xmin = 0;
  double factor = 0;
};

bool codecFor(int code, bool hasRange, double xmin, double xmax, int nbits, NumCodec& c) {
  using namespace etype;
  auto plain = [&](DType t) {
    c.out = t;
    c.diskWidth = dtypeSize(t);
    c.mode = NumCodec::Mode::plain;
    return true;
  };
  switch (code) {
    case kChar: return plain(DType::int8);
    case kUChar:
    case kLegacyChar: return plain(DType::uint8);
    case kBool: return plain(DType::boolean);
    case kShort: return plain(DType::int16);
    case kUShort: return plain(DType::uint16);
    case kInt:
    case kCounter: return plain(DType::int32);
    case kUInt:
    case kBits: return plain(DType::uint32);
    case kLong:
    case kLong64: return plain(DType::int64);
    case kULong:
    case kULong64: return plain(DType::uint64);
    case kFloat: return plain(DType::float32);
    case kDouble: return plain(DType::float64);
    case kDouble32:
    case kFloat16: {
      c.out = code == kDouble32 ? DType::float64 : DType::float32;
      if (hasRange && xmin < xmax) {
        const double bigint = nbits < 32 ? static_cast<double>(1u << nbits) : 4294967295.0;
        c.mode = NumCodec::Mode::factor;
        c.diskWidth = 4;
        c.xmin = xmin;
        c.factor = bigint / (xmax - xmin);
        return true;
      }
      if (hasRange && nbits < 15) {
        c.mode = NumCodec::Mode::nbits;
        c.diskWidth = 3;
        c.nbits = nbits;
        return true;
      }
      if (code == kFloat16 && !hasRange) {
        c.mode = NumCodec::Mode::nbits;
        c.diskWidth = 3;
        c.nbits = 12;
        return true;
      }
      c.mode = code == kDouble32 ? NumCodec::Mode::floatToDouble : NumCodec::Mode::plain;
      c.diskWidth = 4;
      return true;
    }
    default: return false;
  }
}

float fromNbits(const std::byte* p, int nbits) {
  const auto exp = std::to_integer<std::uint32_t>(p[0]);
  const auto man = (std::to_integer<std::uint32_t>(p[1]) << 8) | std::to_integer<std::uint32_t>(p[2]);
  std::uint32_t bits = exp << 23;
  bits |= (man & ((1u << (nbits + 1)) - 1)) << (23 - nbits);
  float f = std::bit_cast<float>(bits);
  if ((1u << (nbits + 1)) & man) f = -f;
  return f;
}

/// Converts n big-endian disk values at src into native out values at dst.
void convert(const NumCodec& c, const std::byte* src, std::size_t n, std::byte* dst) {
  if (n == 0) return;  // empty columns have no buffer to copy into
  switch (c.mode) {
    case NumCodec::Mode::plain:
      swapCopy(dst, src, n, c.diskWidth);
      return;
    case NumCodec::Mode::floatToDouble:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t u;
        std::memcpy(&u, src + 4 * i, 4);
        const double d = std::bit_cast<float>(Cursor::byteswap(u));
        std::memcpy(dst + 8 * i, &d, 8);
      }
      return;
    case NumCodec::Mode::factor:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t u;
        std::memcpy(&u, src + 4 * i, 4);
        const double d = Cursor::byteswap(u) / c.factor + c.xmin;
        if (c.out == DType::float64) {
          std::memcpy(dst + 8 * i, &d, 8);
        } else {
          const float f = static_cast<float>(d);
          std::memcpy(dst + 4 * i, &f, 4);
        }
      }
      return;
    case NumCodec::Mode::nbits:
      for (std::size_t i = 0; i < n; ++i) {
        const float f = fromNbits(src + 3 * i, c.nbits);
        if (c.out == DType::float64) {
          const double d = f;
          std::memcpy(dst + 8 * i, &d, 8);
        } else {
          std::memcpy(dst + 4 * i, &f, 4);
        }
      }
      return;
  }
}

// ---- C++ type names -> decoding nodes ---------------------------------------------------------

struct Node {
  enum class Kind { num, str, vec, map } kind = Kind::num;
  NumCodec codec;
  int child = -1;       ///< vec: the element; map: the key
  int valueChild = -1;  ///< map: the value
  bool selectValue = false;  ///< map: this column holds the values (else the keys)
  bool header = false;
  int level = -1;
  [[nodiscard]] int selected() const noexcept { return kind == Kind::map && selectValue ? valueChild : child; }
};

std::string trim(std::string s) {
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int basicCode(const std::string& t) {
  using namespace etype;
  static const std::vector<std::pair<std::string, int>> table = {
      {"bool", kBool},          {"Bool_t", kBool},         {"char", kChar},          {"Char_t", kChar},
      {"signed char", kChar},   {"unsigned char", kUChar}, {"UChar_t", kUChar},      {"short", kShort},
      {"Short_t", kShort},      {"unsigned short", kUShort}, {"UShort_t", kUShort},  {"int", kInt},
      {"Int_t", kInt},          {"unsigned int", kUInt},   {"unsigned", kUInt},      {"UInt_t", kUInt},
      {"long", kLong},          {"Long_t", kLong},         {"unsigned long", kULong}, {"ULong_t", kULong},
      {"long long", kLong64},   {"Long64_t", kLong64},     {"unsigned long long", kULong64},
      {"ULong64_t", kULong64},  {"float", kFloat},         {"Float_t", kFloat},      {"double", kDouble},
      {"Double_t", kDouble},    {"Double32_t", kDouble32}, {"Float16_t", kFloat16},  {"int8_t", kChar},
      {"uint8_t", kUChar},      {"int16_t", kShort},       {"uint16_t", kUShort},    {"int32_t", kInt},
      {"uint32_t", kUInt},      {"int64_t", kLong64},      {"uint64_t", kULong64},
  };
  for (const auto& [name, code] : table)
    if (name == t) return code;
  return -1;
}

/// Parses a C++ type into nodes; returns the node index or -1 (unsupported).
int parseType(std::string t, std::vector<Node>& nodes, bool topLevel) {
  t = trim(t);
  if (t.rfind("std::", 0) == 0) t = t.substr(5);
  if (t.rfind("const ", 0) == 0) t = trim(t.substr(6));
  if (t == "string" || t == "TString") {
    Node n;
    n.kind = Node::Kind::str;
    n.header = false;
    nodes.push_back(n);
    return static_cast<int>(nodes.size()) - 1;
  }
  const int code = basicCode(t);
  if (code >= 0) {
    Node n;
    n.kind = Node::Kind::num;
    codecFor(code, false, 0, 0, 0, n.codec);
    nodes.push_back(n);
    return static_cast<int>(nodes.size()) - 1;
  }
  if (t.rfind("bitset<", 0) == 0 && t.back() == '>') {  // streamed like vector<bool>
    nodes.push_back(Node{});
    const auto self = nodes.size() - 1;
    nodes[self].kind = Node::Kind::vec;
    nodes[self].header = topLevel;
    Node bit;
    codecFor(etype::kBool, false, 0, 0, 0, bit.codec);
    nodes.push_back(bit);
    nodes[self].child = static_cast<int>(nodes.size()) - 1;
    return static_cast<int>(self);
  }
  for (std::string_view prefix : {"vector<", "set<", "list<", "deque<", "ROOT::VecOps::RVec<", "RVec<",
                                   "unordered_set<", "multiset<"}) {
    if (t.rfind(prefix, 0) == 0 && t.back() == '>') {
      std::string inner = t.substr(prefix.size(), t.size() - prefix.size() - 1);
      // drop an allocator argument at the top nesting level
      int depth = 0;
      for (std::size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] == '<') ++depth;
        if (inner[i] == '>') --depth;
        if (inner[i] == ',' && depth == 0) {
          inner.resize(i);
          break;
        }
      }
      const auto self = nodes.size();
      nodes.push_back(Node{});
      nodes[self].kind = Node::Kind::vec;
      nodes[self].header = topLevel;
      const int child = parseType(inner, nodes, false);
      if (child < 0) return -1;
      nodes[self].child = child;
      return static_cast<int>(self);
    }
  }
  return -1;
}

/// std::map<K, V> (also multimap, unordered_map) of numbers and strings: the top-level node of
/// the key column (selectValue false) or of the value column. Returns -1 for anything else.
int parseMap(std::string t, std::vector<Node>& nodes, bool selectValue) {
  t = trim(t);
  if (t.rfind("std::", 0) == 0) t = t.substr(5);
  std::string_view prefix;
  for (std::string_view p : {"map<", "multimap<", "unordered_map<", "unordered_multimap<"})
    if (t.rfind(p, 0) == 0) prefix = p;
  if (prefix.empty() || t.back() != '>') return -1;
  const std::string inner = t.substr(prefix.size(), t.size() - prefix.size() - 1);
  std::vector<std::string> args;
  int depth = 0;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= inner.size(); ++i) {
    if (i < inner.size() && inner[i] == '<') ++depth;
    if (i < inner.size() && inner[i] == '>') --depth;
    if (i == inner.size() || (inner[i] == ',' && depth == 0)) {
      args.push_back(inner.substr(from, i - from));
      from = i + 1;
    }
  }
  if (args.size() < 2) return -1;
  const auto self = nodes.size();
  nodes.push_back(Node{});
  const int key = parseType(args[0], nodes, false);
  const int value = parseType(args[1], nodes, false);
  if (key < 0 || value < 0) return -1;
  // Containers as keys or values: member-wise, all of them are one block behind one
  // [byte count][version] header (skipped like the member-wise marker), each without its own.
  for (int k : {key, value})
    if (nodes[static_cast<std::size_t>(k)].kind == Node::Kind::map) return -1;
  auto& n = nodes[self];
  n.kind = Node::Kind::map;
  n.header = true;
  n.child = key;
  n.valueChild = value;
  n.selectValue = selectValue;
  return static_cast<int>(self);
}

std::string describe(const std::vector<Node>& nodes, int i) {
  const auto& n = nodes[static_cast<std::size_t>(i)];
  switch (n.kind) {
    case Node::Kind::num: return std::string(dtypeName(n.codec.out));
    case Node::Kind::str: return "string";
    case Node::Kind::vec: return "vector<" + describe(nodes, n.child) + ">";
    case Node::Kind::map:
      return "map<" + describe(nodes, n.child) + "," + describe(nodes, n.valueChild) + ">." +
             (n.selectValue ? "second" : "first");
  }
  return "?";
}

// ---- the per-branch model -----------------------------------------------------------------

struct BasketLoc {
  std::uint64_t entryBegin = 0;
  std::uint64_t entryEnd = 0;
  std::uint64_t seek = 0;
  std::uint32_t bytes = 0;
  /// Held in the tree record, not on disk. Its entry data and offsets are kept here, pointing into
  /// one block per tree (Tree::Impl::embeddedBytes): NanoAOD reads ~950 of them per chunk, and
  /// following a pointer to each one's own heap record missed the cache every time.
  bool embedded = false;
  bool offsetsInOrder = false;            ///< embedded: checked once when the tree was opened
  std::int32_t nevbuf = 0;                ///< embedded: its entries
  std::span<const std::byte> content;     ///< embedded: entry data
  std::span<const std::int32_t> offsets;  ///< embedded: entry offsets from content's start (nevbuf, or none)
};

/// A basket on disk that `range` uses only in part: the one a read keeps, or takes kept, for the
/// read of its other part (PartialBaskets).
inline bool cutBy(const BasketLoc& loc, EntryRange range) noexcept {
  return !loc.embedded && (range.begin > loc.entryBegin || range.end < loc.entryEnd);
}

enum class Decode : std::uint8_t { fixed, flat, generic };

/// One branch as the reader sees it. A read of NanoAOD touches ~950 of these per chunk and its
/// 1.2 MB of output pushes them out of L2 between reads: what a basket's job reads (the basket
/// list, decoding, output width, the column's type and name) lies in the first two cache lines.
struct alignas(64) BranchData {
  // Line 1: what every basket's job reads.
  std::span<const BasketLoc> baskets;  ///< in Tree::Impl::basketTable (one block for the tree)
  NumCodec codec;
  std::size_t innerSize = 1;
  std::uint8_t outWidth = 8;  ///< dtypeSize(codec.out), set when the tree is opened
  Decode decode = Decode::fixed;
  DType type = DType::float64;  ///< info's type, levels and whether it has an inner shape
  std::uint8_t levels = 0;
  bool shaped = false;
  bool countedRun = false;       ///< isCountedRun, decided when the tree is opened
  bool vectorHeader = false;     ///< flat: each entry is [bytecount][version][n] values
  bool offsetsExpected = true;   ///< fEntryOffsetLen > 0
  // Line 2: the rarer decoding fields, then the column's name (resetColumn copies it when the
  // caller passed no names of its own: Tree::read, pieces of a column).
  std::uint32_t entryHeader = 0;  ///< flat: bytes before each entry's values (1 for kOffsetP)
  int counter = -1;               ///< flat: branch index of the counter (x[n])
  std::size_t entryStride = 0;    ///< fixed leaf-list member: bytes per entry of the whole list
  std::size_t fieldOffset = 0;    ///< fixed leaf-list member: where this leaf starts in an entry
  BranchInfo info;
  std::vector<BasketLoc> basketsRead;  ///< while the tree is opened; then moved to the tree's table
  std::string where;             ///< "file: tree \"t\" branch \"b\"", the prefix of its errors
  std::string offsetsWhere;      ///< where + " entry offsets"
  std::vector<Node> nodes;       ///< generic
};

struct LoadedBasket;

/// Baskets that a read used only in part, kept for the reads that need the rest: decompressed
/// ones, and on sources that fetch (not mapped) stored ones as fetched. When chunks cut a basket
/// (forEachChunk over clusters larger than the chunk, or chunks smaller than a basket), each
/// basket is still fetched and decompressed once, as ROOT keeps a branch's current basket.
/// Reads of neighbouring ranges may also run at the same time and finish in either order (the
/// dataset's workers read unit after unit side by side: the later range reaches the basket they
/// share first), so a basket is kept whichever part of it was used first, with the number of its
/// entries no read has used yet; it goes when that number reaches zero. At most kPerBranch
/// baskets per branch (the oldest goes first), so memory stays bounded by a few baskets a branch.
/// Two such reads usually start at the same moment and reach the basket they share together: the
/// first claims it while it loads it (claim), and the other, finding it claimed, decodes its other
/// baskets first and takes it kept afterwards, instead of decompressing it a second time.
class PartialBaskets {
 public:
  /// One read's basket whose rest a read beside it needs, one more for the read after it.
  static constexpr std::size_t kPerBranch = 3;

  enum class Claim : std::uint8_t {
    none,     ///< not kept, not claimed (claim not asked for)
    claimed,  ///< this read loads it, then keep()s it or release()s the claim (ClaimGuard)
    busy      ///< another read is loading it: decode something else, then claim(wait = true)
  };
  /// The kept basket, its use of `entries` counted (find() and use() at once); when the basket is
  /// not kept and `claimIt`, a claim on loading it. With `wait`, while another read is loading it,
  /// waits for that read to keep it (or give up) and never answers busy: only a read that holds no
  /// claim itself may wait (a claim is kept or released within one job, which waits for nothing,
  /// so no two reads wait for each other).
  std::pair<std::shared_ptr<const LoadedBasket>, Claim> claim(std::size_t branch, std::size_t basket,
                                                              std::uint64_t entries, bool claimIt, bool wait) const {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (auto* slot = slotOf(branch, basket)) {
        auto found = slot->loaded;
        countUse(branch, *slot, entries);
        return {std::move(found), Claim::none};
      }
      if (!claimIt) return {nullptr, Claim::none};
      const auto it = std::find(loading_.begin(), loading_.end(), std::pair{branch, basket});
      if (it == loading_.end()) {
        loading_.emplace_back(branch, basket);
        return {nullptr, Claim::claimed};
      }
      if (!wait) return {nullptr, Claim::busy};
      loaded_.wait(lock);
    }
  }
  /// Gives up a claim without keeping the basket (its loading failed, or it is not kept).
  void release(std::size_t branch, std::size_t basket) const {
    {
      std::lock_guard lock(mutex_);
      unclaim(branch, basket);
    }
    loaded_.notify_all();
  }
  /// Releases a claim when its job leaves without keeping the basket (an exception included).
  struct ClaimGuard {
    const PartialBaskets* baskets = nullptr;
    std::size_t branch = 0, basket = 0;
    ClaimGuard() = default;
    ClaimGuard(const ClaimGuard&) = delete;
    ClaimGuard& operator=(const ClaimGuard&) = delete;
    ~ClaimGuard() {
      if (baskets) baskets->release(branch, basket);
    }
  };

  /// The kept basket, its use not counted yet (a read takes it when planned, uses it later).
  std::shared_ptr<const LoadedBasket> find(std::size_t branch, std::size_t basket) const {
    std::lock_guard lock(mutex_);
    const auto* slot = slotOf(branch, basket);
    return slot == nullptr ? nullptr : slot->loaded;
  }
  /// Counts `entries` of `loaded` as used, if it is still the basket kept (not evicted since).
  void use(std::size_t branch, std::size_t basket, const LoadedBasket* loaded, std::uint64_t entries) const {
    std::lock_guard lock(mutex_);
    auto* slot = slotOf(branch, basket);
    if (slot != nullptr && slot->loaded.get() == loaded) countUse(branch, *slot, entries);
  }
  /// Keeps a basket of which a read used `used` of `total` entries. If a read beside it kept the
  /// same basket meanwhile (both decompressed it), that one stays and counts this use.
  /// A claim on it (claim()) ends here.
  void keep(std::size_t branch, std::size_t basket, std::shared_ptr<const LoadedBasket> loaded, std::uint64_t used,
            std::uint64_t total) const {
    {
      std::lock_guard lock(mutex_);
      const bool claimed = unclaim(branch, basket);
      if (auto* slot = slotOf(branch, basket)) {
        countUse(branch, *slot, used);
      } else if (used < total) {
        auto& slots = kept_[branch];
        if (slots.size() == kPerBranch) slots.erase(slots.begin());
        slots.push_back({basket, total - used, std::move(loaded)});
        size_.fetch_add(slots.size() == 1 ? 1 : 0, std::memory_order_relaxed);
      }
      if (!claimed) return;
    }
    loaded_.notify_all();
  }
  /// Nothing kept (a hint without the lock: a read asks before looking up each basket it cuts).
  [[nodiscard]] bool empty() const noexcept { return size_.load(std::memory_order_relaxed) == 0; }

 private:
  struct Slot {
    std::size_t basket = 0;
    std::uint64_t unused = 0;  ///< entries no read has used yet
    std::shared_ptr<const LoadedBasket> loaded;
  };
  Slot* slotOf(std::size_t branch, std::size_t basket) const {
    const auto it = kept_.find(branch);
    if (it == kept_.end()) return nullptr;
    for (auto& slot : it->second)
      if (slot.basket == basket) return &slot;
    return nullptr;
  }
  void countUse(std::size_t branch, Slot& slot, std::uint64_t entries) const {
    slot.unused -= std::min(slot.unused, entries);
    if (slot.unused != 0) return;
    auto& slots = kept_[branch];
    slots.erase(slots.begin() + (&slot - slots.data()));
    if (slots.empty()) {
      kept_.erase(branch);
      size_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  bool unclaim(std::size_t branch, std::size_t basket) const {
    const auto it = std::find(loading_.begin(), loading_.end(), std::pair{branch, basket});
    if (it == loading_.end()) return false;
    loading_.erase(it);
    return true;
  }

  mutable std::atomic<std::size_t> size_{0};  ///< branches with a kept basket
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::size_t, std::vector<Slot>> kept_;
  mutable std::vector<std::pair<std::size_t, std::size_t>> loading_;  ///< (branch, basket) claimed
  mutable std::condition_variable loaded_;                            ///< a claim ended
};

/// A branch whose one basket is embedded in the tree record, covers all the tree's entries and
/// holds plain values, fixed-size or a counted run (NanoAOD: 947 of its 949 branches): what a read
/// needs to swap-copy it into its column, made when the tree is opened, one 32-byte entry per
/// branch in one array (Tree::Impl::embeddedCopies). A read then copies such branches in one tight
/// loop (copyEmbedded) without planning them, looking at their branch or basket records (two
/// cache lines each, ~1 MB for NanoAOD, out of cache after a read's 1.2 MB of output) or setting
/// up a job. The checks readBaskets makes of an embedded basket (its entry count, its offsets in
/// order, enough bytes for its entries) are made here once: a branch that fails one is not listed,
/// and the general path reads it (and reports the damage).
struct EmbeddedCopy {
  enum Kind : std::uint8_t { none, fixed, counted };
  const std::byte* content = nullptr;
  const std::int32_t* offsets = nullptr;  ///< counted: `offsetCount` native entry offsets
  std::uint32_t contentBytes = 0;
  std::uint32_t offsetCount = 0;
  std::uint32_t innerSize = 1;
  Kind kind = none;
  std::uint8_t width = 0;  ///< bytes per value, on disk and in the column
  DType type = DType::float64;
  std::uint8_t levels : 7 = 0;
  std::uint8_t shaped : 1 = 0;  ///< the column's innerShape comes from the branch's info
};
static_assert(sizeof(EmbeddedCopy) == 32, "two per cache line");

}  // namespace

struct Tree::Impl {
  std::shared_ptr<const File> file;
  std::string path;
  std::string title;
  std::uint64_t entries = 0;
  std::vector<BranchData> data;
  std::vector<BranchInfo> infos;
  std::vector<std::uint64_t> clusters;
  std::string context;  // "file.root: tree \"events\""
  std::unordered_map<std::string, std::size_t> byName;  ///< first branch of each name (NanoAOD has ~1000)
  std::uint64_t serial = nextSerial();                  ///< unique per opened tree (resolve's per-thread memory)
  std::vector<BasketLoc> basketTable;                   ///< every branch's baskets, in branch order
  std::vector<std::byte> embeddedBytes;                 ///< every embedded basket's entry data (BasketLoc)
  std::vector<std::int32_t> embeddedOffsets;            ///< ... and entry offsets
  PartialBaskets partialBaskets;                        ///< shared by concurrent reads; locks inside
  /// Each branch's estimated read cost per entry (nanoseconds, see basketNanos), one compact array:
  /// a wide read splits its branches among threads by it without touching their records.
  std::vector<float> nanosPerEntry;
  /// Per branch: how a read copies it when its one basket is embedded (EmbeddedCopy; kind none
  /// otherwise). Empty when no branch qualifies.
  std::vector<EmbeddedCopy> embeddedCopies;
  static std::uint64_t nextSerial() noexcept {
    static std::atomic<std::uint64_t> counter{0};
    return ++counter;
  }
};

namespace {

std::vector<std::string> bracketGroups(const std::string& s, std::string* base) {
  std::vector<std::string> groups;
  const auto first = s.find('[');
  if (base) *base = s.substr(0, first);
  for (auto p = first; p != std::string::npos;) {
    const auto q = s.find(']', p);
    if (q == std::string::npos) break;
    groups.push_back(s.substr(p + 1, q - p - 1));
    p = s.find('[', q);
    if (p != std::string::npos && p != q + 1) break;
  }
  return groups;
}

bool isNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

void setUnsupported(BranchData& b, const std::string& what) {
  b.info.supported = false;
  b.info.unsupportedReason = "unsupported: " + what;
  b.info.typeName = "unsupported";
}

void useNodes(BranchData& b, std::vector<Node> nodes, int root) {
  // Assign offsets levels outermost first.
  int level = 0;
  int leaf = root;
  for (int i = root; i >= 0;) {
    auto& n = nodes[static_cast<std::size_t>(i)];
    if (n.kind != Node::Kind::num) n.level = level++;
    leaf = i;
    i = n.kind == Node::Kind::vec || n.kind == Node::Kind::map ? n.selected() : -1;
  }
  const auto& leafNode = nodes[static_cast<std::size_t>(leaf)];
  b.info.type = leafNode.kind == Node::Kind::str ? DType::string : leafNode.codec.out;
  b.info.jaggedLevels = level;
  b.info.typeName = describe(nodes, root);
  b.info.supported = true;
  // vector<number> with a header: the bulk flat path.
  const auto& r = nodes[static_cast<std::size_t>(root)];
  if (r.kind == Node::Kind::vec && r.header && nodes[static_cast<std::size_t>(r.child)].kind == Node::Kind::num) {
    b.decode = Decode::flat;
    b.vectorHeader = true;
    b.codec = nodes[static_cast<std::size_t>(r.child)].codec;
    b.innerSize = 1;
    return;
  }
  b.decode = Decode::generic;
  b.nodes = std::move(nodes);
}

void interpretLeaf(BranchData& b, const Obj& branch, const Obj& leaf) {
  const std::string cls = leaf.className;
  b.info.leafClass = cls;
  if (cls == "TLeafC") {
    std::vector<Node> nodes(1);
    nodes[0].kind = Node::Kind::str;
    useNodes(b, std::move(nodes), 0);
    return;
  }
  const bool isUnsigned = leaf.i("fIsUnsigned") != 0;
  int code = -1;
  if (cls == "TLeafB") code = isUnsigned ? etype::kUChar : etype::kChar;
  if (cls == "TLeafS") code = isUnsigned ? etype::kUShort : etype::kShort;
  if (cls == "TLeafI") code = isUnsigned ? etype::kUInt : etype::kInt;
  if (cls == "TLeafL" || cls == "TLeafG") code = isUnsigned ? etype::kULong64 : etype::kLong64;
  if (cls == "TLeafF") code = etype::kFloat;
  if (cls == "TLeafD") code = etype::kDouble;
  if (cls == "TLeafO") code = etype::kBool;
  if (cls == "TLeafD32") code = etype::kDouble32;
  if (cls == "TLeafF16") code = etype::kFloat16;
  if (code < 0) return setUnsupported(b, cls);
  // Range of Double32/Float16 leaves: "name[3]/d[-2.71,10,30]" (the part after the type letter).
  bool hasRange = false;
  double xmin = 0, xmax = 0;
  int nbits = 0;
  const std::string btitle = branch.s("fTitle");
  if (code == etype::kDouble32 || code == etype::kFloat16) {
    const auto slash = btitle.rfind('/');
    if (slash != std::string::npos) hasRange = parseRange(btitle.substr(slash), xmin, xmax, nbits);
  }
  codecFor(code, hasRange, xmin, xmax, nbits, b.codec);

  std::string ltitle = leaf.s("fTitle");
  if (ltitle.find('[') == std::string::npos) ltitle = btitle.substr(0, btitle.find('/'));
  const auto groups = bracketGroups(ltitle, nullptr);
  const auto countLeaf = leaf.obj("fLeafCount");
  std::vector<std::size_t> dims;
  bool first = true;
  for (const auto& g : groups) {
    if (first && countLeaf) {
      first = false;
      continue;
    }
    first = false;
    if (isNumber(g)) dims.push_back(static_cast<std::size_t>(std::stoul(g)));
  }
  const auto len = leaf.i("fLen", 1);
  std::size_t product = 1;
  for (auto d : dims) product *= d;
  if (dims.empty() && len > 1) dims.push_back(static_cast<std::size_t>(len));
  else if (!countLeaf && len > 0 && product != static_cast<std::size_t>(len))
    dims = {static_cast<std::size_t>(len)};
  b.info.innerShape = dims;
  b.innerSize = 1;
  for (auto d : dims) b.innerSize *= d;
  b.info.type = b.codec.out;
  b.info.supported = true;
  std::string shape;
  for (auto d : dims) shape += fmt::format("[{}]", d);
  if (countLeaf) {
    b.decode = Decode::flat;
    b.info.jaggedLevels = 1;
    b.info.counterBranch = countLeaf->s("fName");
    b.info.typeName = fmt::format("{}[{}]{}", dtypeName(b.codec.out), b.info.counterBranch, shape);
  } else {
    b.decode = Decode::fixed;
    b.info.typeName = std::string(dtypeName(b.codec.out)) + shape;
  }
}

void interpretElement(BranchData& b, const Obj& branch, const File& file) {
  const auto leaves = branch.objs("fLeaves");
  b.info.leafClass = !leaves.empty() && leaves[0] ? leaves[0]->className : "";
  const auto type = branch.i("fType");
  const auto id = branch.i("fID", -1);
  const std::string cls = branch.s("fClassName");
  if (type == 3 || type == 4) return setUnsupported(b, "split collection " + cls);
  if (type == 31 || type == 41) return setUnsupported(b, "member of split collection " + cls);
  if (id < 0) {
    std::vector<Node> nodes;
    const int root = parseType(cls, nodes, true);
    if (root < 0) return setUnsupported(b, cls);
    if (nodes[static_cast<std::size_t>(root)].kind == Node::Kind::num) return setUnsupported(b, cls);
    return useNodes(b, std::move(nodes), root);
  }
  const auto* info = file.streamers().find(cls, static_cast<int>(branch.i("fClassVersion", -1)));
  if (!info || static_cast<std::size_t>(id) >= info->elements.size())
    return setUnsupported(b, cls + " (no streamer info for member " + std::to_string(id) + ")");
  const auto& e = info->elements[static_cast<std::size_t>(id)];
  const int t = e.type;
  if (t > 0 && t < 20) {
    if (!codecFor(t, e.hasRange, e.xmin, e.xmax, e.nbits, b.codec)) return setUnsupported(b, e.typeName);
    b.decode = Decode::fixed;
    b.info.type = b.codec.out;
    b.info.supported = true;
    b.info.typeName = std::string(dtypeName(b.codec.out));
    return;
  }
  if (t > etype::kOffsetL && t < etype::kOffsetL + 20) {
    if (!codecFor(t - etype::kOffsetL, e.hasRange, e.xmin, e.xmax, e.nbits, b.codec))
      return setUnsupported(b, e.typeName);
    b.decode = Decode::fixed;
    for (int d = 0; d < std::clamp(e.arrayDim, 0, 5); ++d)
      b.info.innerShape.push_back(static_cast<std::size_t>(e.maxIndex[static_cast<std::size_t>(d)]));
    if (b.info.innerShape.empty()) b.info.innerShape.push_back(static_cast<std::size_t>(std::max(e.arrayLength, 1)));
    b.innerSize = 1;
    std::string shape;
    for (auto d : b.info.innerShape) {
      b.innerSize *= d;
      shape += fmt::format("[{}]", d);
    }
    b.info.type = b.codec.out;
    b.info.supported = true;
    b.info.typeName = std::string(dtypeName(b.codec.out)) + shape;
    return;
  }
  if (t > etype::kOffsetP && t < etype::kOffsetP + 20) {
    if (!codecFor(t - etype::kOffsetP, e.hasRange, e.xmin, e.xmax, e.nbits, b.codec))
      return setUnsupported(b, e.typeName);
    b.decode = Decode::flat;
    b.entryHeader = 1;
    b.info.jaggedLevels = 1;
    b.info.type = b.codec.out;
    b.info.supported = true;
    b.info.counterBranch = e.countName;
    b.info.typeName = fmt::format("{}[{}]", dtypeName(b.codec.out), e.countName);
    return;
  }
  if (t == etype::kTString || t == etype::kSTLstring || t == etype::kSTL || t == etype::kStreamer) {
    std::vector<Node> nodes;
    const int root = parseType(t == etype::kTString ? "TString" : e.typeName, nodes, true);
    if (root < 0) return setUnsupported(b, e.typeName);
    if (nodes[static_cast<std::size_t>(root)].kind == Node::Kind::num) return setUnsupported(b, e.typeName);
    return useNodes(b, std::move(nodes), root);
  }
  return setUnsupported(b, e.typeName.empty() ? cls : e.typeName);
}

void collectBranches(const Obj& branch, const File& file, std::vector<BranchData>& out, const std::string& context) {
  const auto subs = branch.objs("fBranches");
  bool any = false;
  for (const auto& s : subs) {
    if (!s) continue;
    any = true;
    collectBranches(*s, file, out, context);
  }
  if (any) return;
  BranchData b;
  b.info.name = branch.s("fName");
  b.info.title = branch.s("fTitle");
  b.info.entries = static_cast<std::uint64_t>(std::max<std::int64_t>(branch.i("fEntries"), 0));
  b.info.compressedBytes = static_cast<std::uint64_t>(std::max<std::int64_t>(branch.i("fZipBytes"), 0));
  b.info.uncompressedBytes = static_cast<std::uint64_t>(std::max<std::int64_t>(branch.i("fTotBytes"), 0));
  b.offsetsExpected = branch.i("fEntryOffsetLen") > 0;
  const std::string where = fmt::format("{}: branch \"{}\"", context, b.info.name);

  // Basket locations.
  const auto bytes = branch.ints("fBasketBytes");
  const auto entry = branch.ints("fBasketEntry");
  const auto seek = branch.ints("fBasketSeek");
  const auto writeBasket = branch.i("fWriteBasket");
  if (writeBasket < 0 || static_cast<std::size_t>(writeBasket) > std::min({bytes.size(), entry.size(), seek.size()}))
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: fWriteBasket {} exceeds its basket arrays ({} entries)", where, writeBasket,
                                      std::min({bytes.size(), entry.size(), seek.size()})));
  const auto fileSize = file.size();
  for (std::int64_t k = 0; k < writeBasket; ++k) {
    BasketLoc loc;
    const auto ku = static_cast<std::size_t>(k);
    loc.entryBegin = static_cast<std::uint64_t>(entry[ku]);
    loc.entryEnd = ku + 1 < entry.size() ? static_cast<std::uint64_t>(entry[ku + 1]) : b.info.entries;
    loc.seek = static_cast<std::uint64_t>(seek[ku]);
    loc.bytes = static_cast<std::uint32_t>(bytes[ku]);
    if (entry[ku] < 0 || bytes[ku] <= 0 || seek[ku] <= 0 || loc.seek > fileSize || loc.bytes > fileSize - loc.seek ||
        loc.entryEnd < loc.entryBegin || loc.entryEnd > b.info.entries)
      throw core::Exception(
          core::Errc::corrupt,
          fmt::format("{}: basket {} (seek {}, {} bytes, entries {}..{}) is outside the file ({} bytes) "
                      "or the branch's {} entries",
                      where, k, seek[ku], bytes[ku], entry[ku], loc.entryEnd, fileSize, b.info.entries));
    b.basketsRead.push_back(std::move(loc));
  }
  const auto embedded = branch.objs("fBaskets");
  for (std::size_t k = 0; k < embedded.size(); ++k) {
    const auto& o = embedded[k];
    if (!o || !o->basket || o->basket->nevbuf <= 0) continue;
    if (k < static_cast<std::size_t>(writeBasket)) continue;  // already on disk
    BasketLoc loc;
    loc.entryBegin = k < entry.size() ? static_cast<std::uint64_t>(entry[k]) : 0;
    loc.entryEnd = loc.entryBegin + static_cast<std::uint64_t>(o->basket->nevbuf);
    if (loc.entryEnd > b.info.entries)
      throw core::Exception(core::Errc::corrupt, fmt::format("{}: embedded basket {} ends at entry {} beyond {}", where,
                                                             k, loc.entryEnd, b.info.entries));
    loc.embedded = true;
    loc.offsetsInOrder = o->basket->offsetsInOrder;
    loc.nevbuf = o->basket->nevbuf;
    loc.content = o->basket->content;  // the tree record's, until File::tree moves them to its block
    loc.offsets = std::span<const std::int32_t>(o->basket->offsets);
    if (loc.offsets.size() > static_cast<std::size_t>(loc.nevbuf))
      loc.offsets = loc.offsets.first(static_cast<std::size_t>(loc.nevbuf));
    b.basketsRead.push_back(std::move(loc));
  }
  // fBasketEntry[writeBasket] may be stale when there is no embedded basket: clip the last one.
  auto& baskets = b.basketsRead;
  for (std::size_t k = 1; k < baskets.size(); ++k)
    if (baskets[k].entryBegin < baskets[k - 1].entryEnd) baskets[k - 1].entryEnd = baskets[k].entryBegin;
  b.info.baskets = baskets.size();

  const auto leaves = branch.objs("fLeaves");
  if (branch.className == "TBranchElement" || branch.className == "TBranchSTL") {
    b.info.className = branch.s("fClassName");
    // A top-level std::map of numbers or strings: two columns, "name.first" (keys) and
    // "name.second" (values), each with one offsets level per entry's pairs.
    if (branch.i("fID", -1) < 0 && branch.i("fType") == 0) {
      std::vector<Node> keyNodes, valueNodes;
      const int keyRoot = parseMap(b.info.className, keyNodes, false);
      const int valueRoot = parseMap(b.info.className, valueNodes, true);
      if (keyRoot >= 0 && valueRoot >= 0) {
        b.info.leafClass = !leaves.empty() && leaves[0] ? leaves[0]->className : "";
        for (auto* nodes : {&keyNodes, &valueNodes}) {
          BranchData m = b;
          const bool values = nodes == &valueNodes;
          m.info.name = b.info.name + (values ? ".second" : ".first");
          useNodes(m, std::move(*nodes), values ? valueRoot : keyRoot);
          out.push_back(std::move(m));
        }
        return;
      }
    }
    interpretElement(b, branch, file);
  } else if (branch.className == "TBranch") {
    std::vector<ObjPtr> real;
    for (const auto& l : leaves)
      if (l) real.push_back(l);
    if (real.empty()) {
      setUnsupported(b, "branch without leaves");
    } else if (real.size() > 1) {
      // A leaf-list: one column per leaf, named "branch.leaf", read with a stride.
      std::vector<BranchData> members;
      std::size_t offset = 0;
      bool ok = true;
      for (const auto& leaf : real) {
        BranchData m = b;
        m.info.name = b.info.name + "." + leaf->s("fName");
        interpretLeaf(m, branch, *leaf);
        if (!m.info.supported || m.decode != Decode::fixed || m.codec.mode != NumCodec::Mode::plain) {
          ok = false;
          break;
        }
        m.fieldOffset = offset;
        offset += m.innerSize * m.codec.diskWidth;
        members.push_back(std::move(m));
      }
      if (ok) {
        for (auto& m : members) {
          m.entryStride = offset;
          m.info.typeName += fmt::format(" (leaf {} of {})", m.info.name, b.info.title);
          out.push_back(std::move(m));
        }
        return;
      }
      b.info.leafClass = real[0]->className;
      setUnsupported(b, fmt::format("leaf-list with a variable-size leaf ({})", b.info.title));
    } else {
      interpretLeaf(b, branch, *real[0]);
    }
  } else {
    b.info.leafClass = !leaves.empty() && leaves[0] ? leaves[0]->className : "";
    setUnsupported(b, branch.className);
  }
  out.push_back(std::move(b));
}

std::vector<std::uint64_t> computeClusters(const Obj& tree, const std::vector<BranchData>& branches,
                                           std::uint64_t entries) {
  std::vector<std::uint64_t> out{0};
  if (entries == 0) return out;
  const auto autoFlush = tree.i("fAutoFlush");
  const auto nRanges = tree.i("fNClusterRange");
  const auto rangeEnd = tree.ints("fClusterRangeEnd");
  const auto rangeSize = tree.ints("fClusterSize");
  if (autoFlush > 0 || (nRanges > 0 && rangeEnd.size() >= static_cast<std::size_t>(nRanges))) {
    std::uint64_t e = 0;
    for (std::int64_t r = 0;
         r < nRanges && static_cast<std::size_t>(r) < rangeEnd.size() && static_cast<std::size_t>(r) < rangeSize.size();
         ++r) {
      const auto end = static_cast<std::uint64_t>(std::max<std::int64_t>(rangeEnd[static_cast<std::size_t>(r)], 0)) + 1;
      auto size = rangeSize[static_cast<std::size_t>(r)];
      if (size <= 0) size = autoFlush > 0 ? autoFlush : static_cast<std::int64_t>(end - e);
      while (e < end && e < entries && out.size() < 1'000'000) {
        e += static_cast<std::uint64_t>(size);
        out.push_back(std::min({e, end, entries}));
        e = out.back();
      }
    }
    if (autoFlush > 0) {
      while (e < entries && out.size() < 1'000'000) {
        e = std::min(entries, e + static_cast<std::uint64_t>(autoFlush));
        out.push_back(e);
      }
    }
    if (out.back() == entries) return out;
    out = {0};
  }
  // Fallback: entries where every branch starts a basket.
  std::vector<std::uint64_t> common;
  bool firstBranch = true;
  for (const auto& b : branches) {
    if (b.baskets.empty()) continue;
    std::vector<std::uint64_t> starts;
    for (const auto& loc : b.baskets) starts.push_back(loc.entryBegin);
    if (firstBranch) {
      common = starts;
      firstBranch = false;
    } else {
      std::vector<std::uint64_t> both;
      std::set_intersection(common.begin(), common.end(), starts.begin(), starts.end(), std::back_inserter(both));
      common = std::move(both);
    }
  }
  for (auto s : common)
    if (s > 0 && s < entries) out.push_back(s);
  out.push_back(entries);
  return out;
}

// ---- loading baskets --------------------------------------------------------------------------

/// A buffer that keeps its memory between baskets and never zero-fills: decompression overwrites
/// every byte it hands out, so std::vector's value-initialisation would be a wasted pass.
/// A heap buffer and its size.
struct OwnedBuffer {
  std::unique_ptr<std::byte[]> data;
  std::size_t capacity = 0;
};

/// Buffers that kept baskets (PartialBaskets) hand back when they go, for the decompression
/// buffers that gave theirs to a kept basket (ScratchBuffer::give): a basket a read keeps takes the
/// buffer it was decompressed into instead of copying it into fresh memory, whose first touch
/// page-faulted every page (on the 1M-event file read in units, ~12,000 faults a pass: a fresh
/// allocation of this size is a new mapping). Bounded: at most 8 buffers, 64 MiB in all.
class BufferRecycler {
 public:
  static constexpr std::size_t kMaxBuffers = 8, kMaxBytes = 64u << 20;
  void give(OwnedBuffer buffer) {
    if (!buffer.data || buffer.capacity > kMaxBytes) return;
    std::lock_guard lock(mutex_);
    while (!buffers_.empty() && (buffers_.size() == kMaxBuffers || bytes_ + buffer.capacity > kMaxBytes)) {
      bytes_ -= buffers_.front().capacity;  // the oldest goes
      buffers_.erase(buffers_.begin());
    }
    bytes_ += buffer.capacity;
    buffers_.push_back(std::move(buffer));
  }
  /// The smallest buffer of at least n bytes, or none.
  OwnedBuffer take(std::size_t n) {
    std::lock_guard lock(mutex_);
    auto best = buffers_.end();
    for (auto it = buffers_.begin(); it != buffers_.end(); ++it)
      if (it->capacity >= n && (best == buffers_.end() || it->capacity < best->capacity)) best = it;
    if (best == buffers_.end()) return {};
    auto found = std::move(*best);
    buffers_.erase(best);
    bytes_ -= found.capacity;
    return found;
  }

 private:
  std::mutex mutex_;
  std::vector<OwnedBuffer> buffers_;
  std::size_t bytes_ = 0;
};

/// Never destroyed: kept baskets of a tree that outlives static destruction still hand back theirs.
BufferRecycler& bufferRecycler() {
  static auto* recycler = new BufferRecycler;
  return *recycler;
}

class ScratchBuffer {
 public:
  std::span<std::byte> get(std::size_t n) {
    if (n > buffer_.capacity) {
      auto recycled = bufferRecycler().take(n);
      bufferRecycler().give(std::move(buffer_));
      buffer_ = recycled.data ? std::move(recycled) : OwnedBuffer{std::make_unique_for_overwrite<std::byte[]>(n), n};
    }
    return {buffer_.data.get(), n};
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return buffer_.capacity; }
  /// Whether `bytes` lie in this buffer.
  [[nodiscard]] bool holds(std::span<const std::byte> bytes) const noexcept {
    const auto* begin = buffer_.data.get();
    return begin != nullptr && bytes.data() >= begin && bytes.data() + bytes.size() <= begin + buffer_.capacity;
  }
  /// Hands the buffer over (to a kept basket); the next get() takes a recycled one.
  OwnedBuffer give() { return std::exchange(buffer_, OwnedBuffer{}); }
  void release() { buffer_ = {}; }

 private:
  OwnedBuffer buffer_;
};

/// Per-thread decompression buffer (one basket at a time per thread). Buffers beyond 64 MiB are
/// released after use so a huge basket does not pin its memory for the life of the thread.
ScratchBuffer& threadScratch() {
  thread_local ScratchBuffer buffer;
  return buffer;
}
constexpr std::size_t kScratchKeepBytes = 64u << 20;

/// Converts n entry offsets into column offsets: out[k] = base + ((offset[k] - keylen) >> shift),
/// where an offset is a big-endian int32 counted from the key's start when Stored (as in the
/// basket), else a native int32 counted from the content (embedded baskets, keylen 0). Returns
/// false unless every offset lies in [prev, size], is not below the one before it, and is `phase`
/// modulo mask + 1 (whole groups of values): then nothing it wrote may be used. Needs prev <= size
/// < 2^31. One pass with no loop-carried dependency (each offset is compared with its loaded
/// neighbour), so it vectorises; an AVX2 twin is picked at run time on CPUs that have it.
///
/// The checks are folded into two OR-accumulators tested once at the end: bit 31 of `signs` is set
/// by any value >= 2^31 (an offset below the key length wraps there) or, since all values are
/// then below 2^31, by any step backwards (u - p wraps); a non-decreasing run from prev whose
/// last value is <= size lies wholly in [prev, size]. Three vector operations per group instead
/// of the seven that separate unsigned comparisons took.
template <bool Stored, std::size_t StoreBytes = 32>
[[gnu::always_inline]] inline bool offsetsToColumn(const std::byte* raw, std::size_t n, std::uint32_t keylen,
                                                   std::uint32_t prev, std::uint32_t size, std::uint32_t mask,
                                                   std::uint32_t phase, int shift, std::uint64_t base,
                                                   std::uint64_t* out) noexcept {
  if (n == 0) return true;
  auto at = [&](std::size_t k) {
    std::uint32_t v;
    std::memcpy(&v, raw + 4 * k, 4);
    if constexpr (Stored && std::endian::native == std::endian::little) v = __builtin_bswap32(v);
    return v - keylen;  // wraps to a huge value when below the key length
  };
  std::uint32_t signs = 0, phases = 0;
  {
    const std::uint32_t u = at(0);
    signs |= (u - prev) | u;
    phases |= u ^ phase;
    out[0] = base + (u >> shift);
  }
  auto step = [&](std::size_t k) {
    const std::uint32_t u = at(k);
    const std::uint32_t p = at(k - 1);
    signs |= (u - p) | u;
    phases |= u ^ phase;
    out[k] = base + (u >> shift);
  };
  // One by one up to out's first StoreBytes boundary (the vector width): no vector store of the
  // loop below then straddles two cache lines (the pass is bound by its 8-byte stores).
  constexpr std::uintptr_t kAlign = StoreBytes - 1;
  const std::size_t head =
      std::min(n, 1 + ((StoreBytes - (reinterpret_cast<std::uintptr_t>(out + 1) & kAlign)) & kAlign) / 8);
  std::size_t k = 1;
  for (; k < head; ++k) step(k);
  for (; k < n; ++k) step(k);
  return (signs >> 31) == 0 && (phases & mask) == 0 && at(n - 1) <= size;
}

#if defined(__x86_64__) || defined(_M_X64)
#define MLAAS_ROOT_AVX2_OFFSETS 1
// The same body compiled for AVX2, chosen per call with cpuHasAvx2() (as swapCopy does).
__attribute__((target("avx2"))) bool storedOffsetsToColumnAvx2(const std::byte* raw, std::size_t n,
                                                               std::uint32_t keylen, std::uint32_t prev,
                                                               std::uint32_t size, std::uint32_t mask,
                                                               std::uint32_t phase, int shift, std::uint64_t base,
                                                               std::uint64_t* out) noexcept {
  return offsetsToColumn<true>(raw, n, keylen, prev, size, mask, phase, shift, base, out);
}
__attribute__((target("avx2"))) bool nativeOffsetsToColumnAvx2(const std::byte* raw, std::size_t n,
                                                               std::uint32_t prev, std::uint32_t size,
                                                               std::uint32_t mask, std::uint32_t phase, int shift,
                                                               std::uint64_t base, std::uint64_t* out) noexcept {
  return offsetsToColumn<false>(raw, n, 0, prev, size, mask, phase, shift, base, out);
}
#endif

#if defined(MLAAS_ROOT_AVX2_OFFSETS) && defined(__GNUC__) && !defined(__clang__)
#define MLAAS_ROOT_AVX512_OFFSETS 1
// And for AVX-512 (GCC: clang has no prefer-vector-width target attribute), 64-byte stores, one
// cache line each, from a 64-byte boundary: the pass is bound by its stores (LZ4 readInto 1.01x).
#define MLAAS_ROOT_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,prefer-vector-width=512")))
MLAAS_ROOT_AVX512_TARGET bool storedOffsetsToColumnAvx512(const std::byte* raw, std::size_t n, std::uint32_t keylen,
                                                          std::uint32_t prev, std::uint32_t size, std::uint32_t mask,
                                                          std::uint32_t phase, int shift, std::uint64_t base,
                                                          std::uint64_t* out) noexcept {
  return offsetsToColumn<true, 64>(raw, n, keylen, prev, size, mask, phase, shift, base, out);
}
MLAAS_ROOT_AVX512_TARGET bool nativeOffsetsToColumnAvx512(const std::byte* raw, std::size_t n, std::uint32_t prev,
                                                          std::uint32_t size, std::uint32_t mask,
                                                          std::uint32_t phase, int shift, std::uint64_t base,
                                                          std::uint64_t* out) noexcept {
  return offsetsToColumn<false, 64>(raw, n, 0, prev, size, mask, phase, shift, base, out);
}
#endif

bool storedOffsetsToColumn(const std::byte* raw, std::size_t n, std::uint32_t keylen, std::uint32_t prev,
                           std::uint32_t size, std::uint32_t mask, std::uint32_t phase, int shift, std::uint64_t base,
                           std::uint64_t* out) noexcept {
#ifdef MLAAS_ROOT_AVX512_OFFSETS
  if (cpuHasAvx512()) return storedOffsetsToColumnAvx512(raw, n, keylen, prev, size, mask, phase, shift, base, out);
#endif
#ifdef MLAAS_ROOT_AVX2_OFFSETS
  if (cpuHasAvx2()) return storedOffsetsToColumnAvx2(raw, n, keylen, prev, size, mask, phase, shift, base, out);
#endif
  return offsetsToColumn<true>(raw, n, keylen, prev, size, mask, phase, shift, base, out);
}

bool nativeOffsetsToColumn(const std::byte* raw, std::size_t n, std::uint32_t prev, std::uint32_t size,
                           std::uint32_t mask, std::uint32_t phase, int shift, std::uint64_t base,
                           std::uint64_t* out) noexcept {
#ifdef MLAAS_ROOT_AVX512_OFFSETS
  if (cpuHasAvx512()) return nativeOffsetsToColumnAvx512(raw, n, prev, size, mask, phase, shift, base, out);
#endif
#ifdef MLAAS_ROOT_AVX2_OFFSETS
  if (cpuHasAvx2()) return nativeOffsetsToColumnAvx2(raw, n, prev, size, mask, phase, shift, base, out);
#endif
  return offsetsToColumn<false>(raw, n, 0, prev, size, mask, phase, shift, base, out);
}

/// What the decoders read of a basket: its entry data and entry offsets, borrowed. A basket
/// embedded in the tree record is decoded from one of these made in place (NanoAOD: ~950 a read),
/// without a LoadedBasket, whose owning members made building one cost more than decoding it.
struct BasketBytes {
  std::span<const std::byte> content;
  std::span<const std::int32_t> offsets;  ///< per entry, relative to content; empty when fixed-size
  /// Entry offsets still as stored (nevbuf big-endian int32 counted from the key's start), when
  /// LoadMode::deferOffsets let the decoder convert them in its own pass (a basket kept for another
  /// read keeps them so: LoadedBasket::own); materializeOffsets() turns them into `offsets`.
  std::span<const std::byte> rawOffsets;
  std::int32_t keylen = 0;

  [[nodiscard]] bool hasOffsets() const noexcept { return !offsets.empty() || !rawOffsets.empty(); }
  [[nodiscard]] std::pair<std::size_t, std::size_t> entry(std::size_t i) const {
    const auto s = static_cast<std::size_t>(offsets[i]);
    const auto e = i + 1 < offsets.size() ? static_cast<std::size_t>(offsets[i + 1]) : content.size();
    return {s, e};
  }
};

struct LoadedBasket : BasketBytes {
  LoadedBasket() = default;
  LoadedBasket(LoadedBasket&&) noexcept = default;
  LoadedBasket& operator=(LoadedBasket&&) noexcept = default;
  ~LoadedBasket() {
    if (ownedCapacity != 0) bufferRecycler().give({std::move(owned), ownedCapacity});
  }
  std::unique_ptr<std::byte[]> owned;  ///< only when the basket must outlive its task
  std::size_t ownedCapacity = 0;       ///< owned's size when it was a decompression buffer (recycled)
  /// What `offsets`, or after own() `rawOffsets`, point into (unless own() took the decompression
  /// buffer, `owned`, which holds the stored offsets too).
  std::vector<std::int32_t> ownedOffsets;
  std::int32_t nevbuf = 0;
  std::uint64_t uncompressed = 0;
  bool inDestination = false;  ///< decompressed straight into the caller's destination
  bool decompressed = false;   ///< content came out of a codec (not stored bytes)

  /// A borrowing copy of a basket that owns its bytes (own()), e.g. one kept in PartialBaskets.
  [[nodiscard]] LoadedBasket view() const {
    LoadedBasket v;
    v.content = content;
    v.offsets = offsets;
    v.rawOffsets = rawOffsets;
    v.keylen = keylen;
    v.nevbuf = nevbuf;
    v.uncompressed = uncompressed;
    return v;
  }
  /// Swaps the stored entry offsets, makes them relative to the content and checks their order.
  void materializeOffsets(const std::string& where) {
    if (rawOffsets.empty()) return;
    ownedOffsets.resize(rawOffsets.size() / 4);
    swapCopy(reinterpret_cast<std::byte*>(ownedOffsets.data()), rawOffsets.data(), ownedOffsets.size(), 4);
    rawOffsets = {};
    std::int32_t prev = 0;
    const auto size = static_cast<std::int64_t>(content.size());
    bool ordered = true;
    for (auto& o : ownedOffsets) {
      const std::int64_t v = static_cast<std::int64_t>(o) - keylen;
      ordered &= v >= prev && v <= size;
      o = static_cast<std::int32_t>(v);
      prev = o;
    }
    if (!ordered) {  // find the first bad one for the message
      prev = 0;
      for (auto o : ownedOffsets) {
        if (o < prev || o > size)
          throw core::Exception(
              core::Errc::corrupt,
              fmt::format("{}: entry offset {} is out of order or beyond the {} data bytes", where, o, content.size()));
        prev = o;
      }
    }
    offsets = ownedOffsets;
  }

  /// Makes the basket own its bytes (it takes this thread's decompression buffer, or copies fetched
  /// bytes) so it can be decoded later. Entry offsets still as stored stay so: a later read of
  /// another range converts and checks only the offsets it uses, as a fresh read would (damage
  /// beyond its range is not its error).
  void own() {
    // Decompressed into this thread's buffer (entry data and stored entry offsets both): the basket
    // takes that buffer, nothing is copied, and the thread's next basket gets a recycled one. Not
    // when the buffer is much larger than the basket (grown by an earlier, larger one): a kept
    // basket would pin that memory, so the basket's bytes are copied instead.
    if (auto& scratch = threadScratch();
        !owned && !content.empty() && scratch.holds(content) && (rawOffsets.empty() || scratch.holds(rawOffsets)) &&
        scratch.capacity() <= 2 * (content.size() + rawOffsets.size()) + (64 << 10)) {
      auto buffer = scratch.give();
      owned = std::move(buffer.data);
      ownedCapacity = buffer.capacity;
    }
    if (!rawOffsets.empty() && !ownedCapacity) {
      ownedOffsets.resize(rawOffsets.size() / 4);
      std::memcpy(ownedOffsets.data(), rawOffsets.data(), ownedOffsets.size() * 4);
      rawOffsets = std::as_bytes(std::span<const std::int32_t>(ownedOffsets));
    }
    if (!owned && !content.empty()) {
      owned = std::make_unique_for_overwrite<std::byte[]>(content.size());
      std::memcpy(owned.get(), content.data(), content.size());
      content = {owned.get(), content.size()};
    }
    if (ownedOffsets.empty() && !offsets.empty()) {
      ownedOffsets.assign(offsets.begin(), offsets.end());
      offsets = ownedOffsets;
    }
  }
};

/// What loadBasket may do beyond decompressing.
struct LoadMode {
  bool parseOffsets = true;  ///< false: decompress only (the benchmark's bound)
  /// When set and the basket's payload is exactly destination.size() bytes of entry data (no entry
  /// offsets), it is decompressed straight into it: the caller's column, saving a copy.
  std::span<std::byte> destination;
  const std::string* offsetsWhere = nullptr;  ///< context of entry-offset errors (else where + " entry offsets")
  /// Leave the entry offsets as stored (LoadedBasket::rawOffsets) for the decoder's fused pass.
  bool deferOffsets = false;
};

/// A basket's key and TBasket header.
struct BasketHeader {
  std::int32_t nbytes = 0, objlen = 0;
  std::int16_t keylen = 0;
  std::uint8_t ioBits = 0;
  std::int32_t nevbuf = 0, last = 0;
  [[nodiscard]] bool compressed() const noexcept { return objlen > nbytes - keylen; }
};

/// Parses the key and the TBasket header in one pass, without materialising the key's strings
/// (parseKey's checks, for the one record type that is read thousands of times). `head` holds at
/// least the key (the start of a record of recordSize bytes).
BasketHeader parseBasketHeader(std::span<const std::byte> head, std::size_t recordSize, const BasketLoc& loc,
                               const std::string& where) {
  Cursor c(head, static_cast<std::int64_t>(loc.seek), where);
  BasketHeader key;
  key.nbytes = c.i32();
  const auto kv = c.i16();
  key.objlen = c.i32();
  c.skip(4);  // fDatime
  key.keylen = c.i16();
  c.skip(2 + (kv > 1000 ? 16 : 8));  // fCycle, fSeekKey, fSeekPdir
  for (int k = 0; k < 3; ++k) {      // class name, name, title
    std::uint32_t n = c.u8();
    if (n == 255) n = c.u32();
    c.skip(n);
  }
  if (key.nbytes < 0 || key.objlen < 0 || key.keylen < 0 || key.keylen > key.nbytes ||
      static_cast<std::size_t>(key.keylen) < c.index())
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: key at offset {} is inconsistent (fNbytes {}, fObjlen {}, fKeylen {})",
                                      where, loc.seek, key.nbytes, key.objlen, key.keylen));
  if (static_cast<std::size_t>(key.nbytes) != recordSize)
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: basket key says {} bytes but fBasketBytes says {}",
                                                           where, key.nbytes, recordSize));
  c.i16();  // TBasket version
  c.i32();  // fBufferSize
  auto nevBufSize = c.i32();
  if (nevBufSize < 0) key.ioBits = c.u8();
  key.nevbuf = c.i32();
  key.last = c.i32();
  c.u8();
  if (c.index() > static_cast<std::size_t>(key.keylen) || key.nevbuf < 0 || key.last < key.keylen ||
      key.last - key.keylen > key.objlen)
    throw core::Exception(
        core::Errc::corrupt,
        fmt::format("{}: basket header is inconsistent (fKeylen {}, fLast {}, fObjlen {}, fNevBuf {})", where,
                    key.keylen, key.last, key.objlen, key.nevbuf));
  return key;
}

/// Throws corrupt unless a basket's entry count (its fNevBuf) is the one the branch's basket table
/// gives it (the decoders index one entry offset per entry).
void checkBasketEntries(std::int32_t nevbuf, const BasketLoc& loc, const std::string& where) {
  if (static_cast<std::uint64_t>(nevbuf) != loc.entryEnd - loc.entryBegin) [[unlikely]]
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: basket holds {} entries but the branch expects {}",
                                                           where, nevbuf, loc.entryEnd - loc.entryBegin));
}

/// The checks of a basket embedded in the tree record that loadBasket makes for baskets on disk:
/// its entry count, and its entry offsets (checked in order once when the tree was opened).
void checkEmbedded(const BasketLoc& loc, const std::string& where) {
  checkBasketEntries(loc.nevbuf, loc, where);
  if (!loc.offsetsInOrder) [[unlikely]] {  // find the bad offset for the message
    std::int32_t prev = 0;
    for (auto o : loc.offsets) {
      if (o < prev || static_cast<std::size_t>(o) > loc.content.size())
        throw core::Exception(core::Errc::corrupt,
                              fmt::format("{}: entry offset {} is out of order or beyond the {} data bytes", where, o,
                                          loc.content.size()));
      prev = o;
    }
  }
}

LoadedBasket loadBasket(std::span<const std::byte> record, const BasketLoc& loc, const std::string& where,
                        double* decompressSeconds, const LoadMode& mode = {}) {
  LoadedBasket out;
  if (loc.embedded) {
    out.content = loc.content;
    out.offsets = loc.offsets;
    out.nevbuf = loc.nevbuf;
    out.uncompressed = out.content.size();
  } else {
    const auto key = parseBasketHeader(record, record.size(), loc, where);
    const auto ioBits = key.ioBits;
    const auto last = key.last;
    out.nevbuf = key.nevbuf;
    const auto objlen = static_cast<std::size_t>(key.objlen);
    std::span<const std::byte> payload = record.subspan(static_cast<std::size_t>(key.keylen));
    const std::size_t border = static_cast<std::size_t>(last - key.keylen);
    if (key.compressed()) {
      const auto t0 = decompressSeconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      std::uint64_t total = 0;
      for (std::size_t pos = 0; pos + 9 <= payload.size() && total < objlen;) {
        const auto* h = payload.data() + pos;
        const std::size_t cs = std::to_integer<std::size_t>(h[3]) | (std::to_integer<std::size_t>(h[4]) << 8) |
                               (std::to_integer<std::size_t>(h[5]) << 16);
        total += std::to_integer<std::size_t>(h[6]) | (std::to_integer<std::size_t>(h[7]) << 8) |
                 (std::to_integer<std::size_t>(h[8]) << 16);
        pos += 9 + cs;
      }
      if (total != objlen)
        throw core::Exception(
            core::Errc::corrupt,
            fmt::format("{}: compressed blocks hold {} bytes but fObjlen says {}", where, total, objlen));
      std::span<std::byte> target;
      if (!mode.destination.empty() && border == objlen && mode.destination.size() == objlen) {
        target = mode.destination;
        out.inDestination = true;
      } else {
        target = threadScratch().get(objlen);
      }
      auto r = decompress(payload, target, where);
      if (!r) throw core::Exception(r.error());
      payload = target;
      out.decompressed = true;
      if (decompressSeconds)
        *decompressSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } else {
      payload = payload.first(std::min<std::size_t>(payload.size(), objlen));
    }
    out.uncompressed = payload.size();
    if (border > payload.size())
      throw core::Exception(core::Errc::corrupt, fmt::format("{}: fLast {} lies beyond the {} payload bytes", where,
                                                             last, payload.size()));
    out.content = payload.first(border);
    if (payload.size() > border && mode.parseOffsets) {
      // [count][offset]*count, big-endian int32, offsets counted from the key's start.
      const std::string offsetsStorage = mode.offsetsWhere ? std::string() : where + " entry offsets";
      const std::string& offsetsContext = mode.offsetsWhere ? *mode.offsetsWhere : offsetsStorage;
      Cursor oc(payload.subspan(border), static_cast<std::int64_t>(last), offsetsContext);
      const auto count = oc.i32();
      if (count < out.nevbuf || static_cast<std::size_t>(count) > oc.remaining() / 4)
        oc.fail(fmt::format("entry offset count {} does not match {} entries", count, out.nevbuf));
      out.keylen = key.keylen;
      out.rawOffsets = oc.bytes(static_cast<std::size_t>(out.nevbuf) * 4);
      if (ioBits & 1) {  // size-encoded: each value is the difference to the previous offset
        out.ownedOffsets.resize(static_cast<std::size_t>(out.nevbuf));
        swapCopy(reinterpret_cast<std::byte*>(out.ownedOffsets.data()), out.rawOffsets.data(), out.ownedOffsets.size(),
                 4);
        std::int64_t running = key.keylen;
        for (auto& o : out.ownedOffsets) {
          running += o;
          o = static_cast<std::int32_t>(Cursor::byteswap(static_cast<std::uint32_t>(running)));  // stored form again
        }
        out.rawOffsets = std::as_bytes(std::span<const std::int32_t>(out.ownedOffsets));
      }
      if (!mode.deferOffsets || (ioBits & 1)) out.materializeOffsets(where);
    }
  }
  if (loc.embedded)
    checkEmbedded(loc, where);
  else
    checkBasketEntries(out.nevbuf, loc, where);
  return out;
}

// ---- decoding -----------------------------------------------------------------------------

/// The calling thread's spare piece columns (see readImpl), released beyond kPiecesKeepBytes.
std::vector<Column>& piecePool() {
  thread_local std::vector<Column> pool;
  return pool;
}
constexpr std::size_t kPiecesKeepBytes = 64u << 20;

/// a == b for short texts such as branch names, inline: a read of NanoAOD compares ~1900 names
/// (resolve, and each column's name), and a call to memcmp for each was 3% of the read.
[[gnu::always_inline]] inline bool sameText(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  if (n < 8) {
    for (std::size_t k = 0; k < n; ++k)
      if (a[k] != b[k]) return false;
    return true;
  }
  auto word = [](const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  std::uint64_t diff = word(a.data() + n - 8) ^ word(b.data() + n - 8);  // the last 8, overlapping
  for (std::size_t k = 0; k + 8 < n; k += 8) diff |= word(a.data() + k) ^ word(b.data() + k);
  return diff == 0;
}

Column emptyColumn(const BranchData& b, EntryRange range) {
  Column c;
  c.name = b.info.name;
  c.type = b.info.type;
  c.firstEntry = range.begin;
  c.entries = 0;
  c.innerShape = b.info.innerShape;
  c.offsets.assign(static_cast<std::size_t>(b.info.jaggedLevels), std::vector<std::uint64_t>{0});
  return c;
}

/// emptyColumn in a column that held an earlier read: its data and offsets keep their capacity
/// (a moved-from column has none, and simply allocates again).
///
/// With keepSizes, the data and the first offsets level keep their old sizes too (their contents
/// are stale; offsets[0][0] is 0): the decoder that fills the column whole resizes them to what
/// it writes, so only growth is zero-filled (std::vector::resize value-initialises, a pass over
/// every byte that decoding overwrites anyway). Only for columns filled by one decodeCountedRun
/// or by fixed-size decoding (see makeEmpty for the others).
///
/// `name` is the branch's name: the caller's copy of it, which resolving the read's names has just
/// read, spares a cache miss on the branch's own (NanoAOD: ~950 a read); it is copied only when
/// the column holds another name (reading chunk after chunk it holds this one).
void resetColumn(Column& c, const BranchData& b, EntryRange range, bool keepSizes, const std::string& name) {
  if (!sameText(c.name, name)) c.name = name;
  c.type = b.type;
  c.firstEntry = range.begin;
  c.entries = 0;
  if (b.shaped)
    c.innerShape = b.info.innerShape;
  else
    c.innerShape.clear();
  c.offsets.resize(b.levels);
  for (std::size_t l = 0; l < c.offsets.size(); ++l) {
    auto& level = c.offsets[l];
    if (keepSizes && l == 0 && !level.empty()) {
      level[0] = 0;
    } else {
      level.clear();
      level.push_back(0);
    }
  }
  if (!keepSizes) c.data.clear();
}

/// Whether a column keeps its buffers' sizes when reset (resetColumn keepSizes): the decoders that
/// fill it overwrite in place (fixed-size values; counted runs, which trimCounted cuts to size).
bool keepsSizes(const BranchData& b) noexcept {
  return b.decode == Decode::fixed || b.countedRun;
}

/// A column left by resetColumn(keepSizes) made truly empty: offsets {0}, no data.
void makeEmpty(Column& c) {
  if (!c.offsets.empty()) c.offsets[0].resize(1);
  c.data.clear();
}

class GenericDecoder {
 public:
  GenericDecoder(const BranchData& b, Column& out, const std::string& where) : b_(b), out_(out), where_(where) {}

  void entry(std::span<const std::byte> bytes, std::size_t& consumed) {
    Cursor c(bytes, 0, where_);
    const auto& root = b_.nodes[0];
    if (root.kind == Node::Kind::str) {
      // A top-level std::string may carry a [bytecount][version] header; TString and TLeafC do not.
      if (bytes.size() >= 6) {
        std::uint32_t bc;
        std::memcpy(&bc, bytes.data(), 4);
        bc = Cursor::byteswap(bc);
        if ((bc & detail::kByteCountMask) && (bc & ~detail::kByteCountMask) == bytes.size() - 4) c.skip(6);
      }
    }
    node(0, c);
    consumed = c.index();
  }

 private:
  std::size_t levelSize(int childIndex) const {
    const auto& ch = b_.nodes[static_cast<std::size_t>(childIndex)];
    if (ch.kind == Node::Kind::num) return out_.data.size() / dtypeSize(ch.codec.out);
    return out_.offsets[static_cast<std::size_t>(ch.level)].size() - 1;
  }

  void node(int index, Cursor& c) {
    const auto& n = b_.nodes[static_cast<std::size_t>(index)];
    switch (n.kind) {
      case Node::Kind::num: {
        auto src = c.bytes(n.codec.diskWidth);
        const auto at = out_.data.size();
        out_.data.resize(at + dtypeSize(n.codec.out));
        convert(n.codec, src.data(), 1, out_.data.data() + at);
        return;
      }
      case Node::Kind::str: {
        std::uint32_t len = c.u8();
        if (len == 255) len = c.u32();
        auto chars = c.bytes(len);
        out_.data.insert(out_.data.end(), chars.begin(), chars.end());
        out_.offsets[static_cast<std::size_t>(n.level)].push_back(out_.data.size());
        return;
      }
      case Node::Kind::vec: {
        std::optional<std::size_t> end;
        if (n.header) end = detail::readVersion(c).end;
        const auto count = c.i32();
        if (count < 0 || static_cast<std::size_t>(count) > c.remaining())
          c.fail(fmt::format("collection size {} exceeds the {} bytes left", count, c.remaining()));
        const auto& ch = b_.nodes[static_cast<std::size_t>(n.child)];
        if (ch.kind == Node::Kind::num) {
          const auto width = ch.codec.diskWidth;
          auto src = c.bytes(static_cast<std::size_t>(count) * width);
          const auto at = out_.data.size();
          out_.data.resize(at + static_cast<std::size_t>(count) * dtypeSize(ch.codec.out));
          convert(ch.codec, src.data(), static_cast<std::size_t>(count), out_.data.data() + at);
        } else {
          for (std::int32_t k = 0; k < count; ++k) node(n.child, c);
        }
        if (end) {
          if (c.index() > *end) c.fail("collection read past its byte count");
          c.seekIndex(*end);
        }
        out_.offsets[static_cast<std::size_t>(n.level)].push_back(levelSize(n.child));
        return;
      }
      case Node::Kind::map: {
        // [byte count][version]; member-wise (version bit 14, what ROOT writes): the pair's class
        // version (and checksum when <= 0), the size, then every key, then every value, each
        // half optionally preceded by its own member-wise marker and checksum. Object-wise: pairs.
        const auto v = detail::readVersion(c);
        const bool memberWise = (v.version & kStreamedMemberWise) != 0;
        if (memberWise && c.i16() <= 0) c.u32();
        const auto count = c.i32();
        if (count < 0 || static_cast<std::size_t>(count) > c.remaining())
          c.fail(fmt::format("map size {} exceeds the {} bytes left", count, c.remaining()));
        auto marker = [&] {
          if (count == 0 || c.remaining() < 6) return;
          if (c.i16() == kStreamedMemberWise) c.skip(4);
          else c.seekIndex(c.index() - 2);
        };
        const int want = n.selected();
        const int other = n.selectValue ? n.child : n.valueChild;
        if (!memberWise && (b_.nodes[static_cast<std::size_t>(n.child)].kind == Node::Kind::vec ||
                            b_.nodes[static_cast<std::size_t>(n.valueChild)].kind == Node::Kind::vec))
          throw core::Exception(
              core::Errc::unsupported,
              fmt::format("{}: a map of containers streamed object-wise (not member-wise) is not supported", where_));
        if (memberWise) {
          marker();
          for (std::int32_t k = 0; k < count; ++k) n.selectValue ? skip(n.child, c) : node(n.child, c);
          marker();
          for (std::int32_t k = 0; k < count; ++k) n.selectValue ? node(n.valueChild, c) : skip(n.valueChild, c);
        } else {
          for (std::int32_t k = 0; k < count; ++k) {
            if (n.selectValue) {
              skip(other, c);
              node(want, c);
            } else {
              node(want, c);
              skip(other, c);
            }
          }
        }
        if (v.end) {
          if (c.index() > *v.end) c.fail("map read past its byte count");
          c.seekIndex(*v.end);
        }
        out_.offsets[static_cast<std::size_t>(n.level)].push_back(levelSize(want));
        return;
      }
    }
  }

  /// Steps over one value (the half of a map pair this column does not hold).
  void skip(int index, Cursor& c) {
    const auto& n = b_.nodes[static_cast<std::size_t>(index)];
    switch (n.kind) {
      case Node::Kind::num: c.skip(n.codec.diskWidth); return;
      case Node::Kind::str: {
        std::uint32_t len = c.u8();
        if (len == 255) len = c.u32();
        c.skip(len);
        return;
      }
      case Node::Kind::vec: {
        std::optional<std::size_t> end;
        if (n.header) end = detail::readVersion(c).end;
        if (end) return c.seekIndex(*end);
        const auto count = c.i32();
        if (count < 0 || static_cast<std::size_t>(count) > c.remaining())
          c.fail(fmt::format("collection size {} exceeds the {} bytes left", count, c.remaining()));
        for (std::int32_t k = 0; k < count; ++k) skip(n.child, c);
        return;
      }
      case Node::Kind::map: c.fail("map inside a map");
    }
  }
  static constexpr int kStreamedMemberWise = 1 << 14;

  const BranchData& b_;
  Column& out_;
  const std::string& where_;
};

/// Counted leaves (x[n]/F, no per-entry header, a power-of-two group of values): each entry's
/// values follow the previous entry's, so the column offsets come from the entry offsets alone.
/// Decided once per branch when the tree is opened (BranchData::countedRun): it is asked per
/// basket and per column, and std::has_single_bit is a libgcc call without -mpopcnt.
bool isCountedRun(const BranchData& b) noexcept {
  const std::size_t group = b.innerSize * b.codec.diskWidth;
  return b.decode == Decode::flat && !b.vectorHeader && b.entryHeader == 0 && group != 0 && (group & (group - 1)) == 0;
}

/// A counted-run column cut to what this read decoded into it: offsets[0] to entries + 1 values,
/// the data to the values they cover (decodeCountedRun writes grow-only into longer buffers).
void trimCounted(Column& c, std::size_t innerSize, std::size_t outWidth) {
  if (c.entries == 0) return makeEmpty(c);
  auto& offs = c.offsets[0];
  offs.resize(c.entries + 1);
  c.data.resize(offs.back() * innerSize * outWidth);
}
void trimCounted(Column& c, const BranchData& b) { trimCounted(c, b.innerSize, b.outWidth); }

/// The fused path of a counted-leaf basket: one pass turns its entry offsets (still as stored, or
/// native for embedded baskets) into column offsets (swap, subtract the key length, shift, check),
/// one conversion (convertValues(src, n, dst)) moves the values. False (nothing appended) when an
/// offset is damaged or an entry holds a partial group. `groupBytes` (innerSize values of
/// diskWidth bytes) is a power of two.
template <class Convert>
bool countedRunInto(const BasketBytes& basket, std::size_t first, std::size_t last, std::size_t innerSize,
                    std::size_t diskWidth, std::size_t outWidth, Column& out, Convert&& convertValues) {
  const bool stored = !basket.rawOffsets.empty();
  const auto* raw = stored ? basket.rawOffsets.data() : reinterpret_cast<const std::byte*>(basket.offsets.data());
  const std::size_t nev = stored ? basket.rawOffsets.size() / 4 : basket.offsets.size();
  const auto content = basket.content;
  if (first >= last || last > nev || content.size() > std::numeric_limits<std::int32_t>::max()) return false;
  const std::size_t groupBytes = innerSize * diskWidth;
  const int shift = std::countr_zero(groupBytes);
  const auto mask = static_cast<std::uint32_t>(groupBytes - 1);
  const auto keylen = stored ? static_cast<std::uint32_t>(basket.keylen) : 0u;
  auto offsetAt = [&](std::size_t k) {
    std::uint32_t v;
    std::memcpy(&v, raw + 4 * k, 4);
    return (stored ? Cursor::byteswap(v) : v) - keylen;
  };
  const auto size = static_cast<std::uint32_t>(content.size());
  const std::uint32_t runBegin = offsetAt(first);
  if (runBegin > size) return false;
  const std::uint32_t phase = runBegin & mask;
  auto& offs = out.offsets[0];
  // The column may be longer than what is decoded so far (stale sizes that resetColumn keepSizes
  // left, or the previous basket's grow-only writes): offsets[0][0..entries] and the values up to
  // offsets[0][entries] are this read's; the buffers only ever grow here (growth is zero-filled,
  // a pass decoding then overwrites), and trimCounted cuts them to size once the column is done.
  const std::size_t at = 1 + out.entries;
  const std::size_t dataAt = out.entries == 0 ? 0 : offs[out.entries] * innerSize * outWidth;
  if (offs.size() < at + (last - first)) offs.resize(at + (last - first));
  const std::uint64_t base = dataAt / outWidth / innerSize - (runBegin >> shift);
  // Entry i ends where entry i + 1 starts; the basket's last entry ends with the content.
  const std::size_t fromArray = std::min(last, nev - 1) - first;
  const auto* ends = raw + 4 * (first + 1);
  bool ok = stored ? storedOffsetsToColumn(ends, fromArray, keylen, runBegin, size, mask, phase, shift, base,
                                           offs.data() + at)
                   : nativeOffsetsToColumn(ends, fromArray, runBegin, size, mask, phase, shift, base, offs.data() + at);
  std::uint32_t runEnd = fromArray > 0 ? offsetAt(first + fromArray) : runBegin;
  if (last == nev) {
    ok &= (size & mask) == phase;
    offs[at + fromArray] = base + (size >> shift);
    runEnd = size;
  }
  if (!ok) return false;  // nothing decoded: entries unchanged
  const std::size_t n = (runEnd - runBegin) / diskWidth;
  if (out.data.size() < dataAt + n * outWidth) out.data.resize(dataAt + n * outWidth);
  convertValues(content.data() + runBegin, n, out.data.data() + dataAt);
  out.entries += last - first;
  return true;
}

bool decodeCountedRun(const BranchData& b, const BasketBytes& basket, std::size_t first, std::size_t last,
                      Column& out) {
  return countedRunInto(basket, first, last, b.innerSize, b.codec.diskWidth, b.outWidth, out,
                        [&](const std::byte* src, std::size_t n, std::byte* dst) { convert(b.codec, src, n, dst); });
}

void decodeBasket(const BranchData& b, LoadedBasket& basket, const BasketLoc& loc, std::uint64_t lo, std::uint64_t hi,
                  Column& out, const std::vector<std::int64_t>* counts, std::uint64_t countsBegin,
                  const std::string& where) {
  const auto first = static_cast<std::size_t>(lo - loc.entryBegin);
  const auto last = static_cast<std::size_t>(hi - loc.entryBegin);
  if (b.countedRun && basket.hasOffsets() && decodeCountedRun(b, basket, first, last, out)) return;
  if (b.countedRun) trimCounted(out, b);  // exact sizes (see decodeCountedRun): the paths below append
  basket.materializeOffsets(where);      // throws when an offset is damaged; else the general paths below
  const auto content = basket.content;
  const bool hasOffsets = !basket.offsets.empty();
  auto fail = [&](const std::string& what) {
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: {}", where, what));
  };

  if (b.decode == Decode::generic) {
    GenericDecoder dec(b, out, where);
    std::size_t pos = 0;
    for (std::size_t i = 0; i < last; ++i) {
      std::span<const std::byte> bytes;
      if (hasOffsets) {
        auto [s, e] = basket.entry(i);
        if (i < first) continue;
        bytes = content.subspan(s, e - s);
      } else {
        bytes = content.subspan(pos);
      }
      if (i < first) {  // sequential skip without offsets: decode into a scratch column
        Column scratch = emptyColumn(b, {});
        GenericDecoder skip(b, scratch, where);
        std::size_t used = 0;
        skip.entry(bytes, used);
        pos += used;
        continue;
      }
      std::size_t used = 0;
      dec.entry(bytes, used);
      if (!hasOffsets) pos += used;
      ++out.entries;
    }
    return;
  }

  const auto& codec = b.codec;
  const std::size_t outWidth = b.outWidth;
  if (b.decode == Decode::fixed) {
    const std::size_t entryDisk = b.innerSize * codec.diskWidth;
    const std::size_t n = last - first;
    const auto at = out.data.size();
    out.data.resize(at + n * b.innerSize * outWidth);
    if (!hasOffsets) {
      if (content.size() < last * entryDisk)
        fail(fmt::format("basket has {} data bytes but {} entries of {} bytes need {}", content.size(), last, entryDisk,
                         last * entryDisk));
      convert(codec, content.data() + first * entryDisk, n * b.innerSize, out.data.data() + at);
    } else {
      for (std::size_t i = first; i < last; ++i) {
        auto [s, e] = basket.entry(i);
        if (e - s < entryDisk)
          fail(fmt::format("entry {} has {} bytes, expected {}", loc.entryBegin + i, e - s, entryDisk));
        convert(codec, content.data() + s, b.innerSize, out.data.data() + at + (i - first) * b.innerSize * outWidth);
      }
    }
    out.entries += n;
    return;
  }

  // flat jagged: counted leaves, kOffsetP members, vector<number>
  auto& offs = out.offsets[0];
  std::size_t pos = 0;
  std::uint64_t values = out.data.size() / outWidth / b.innerSize;  // column offsets count groups
  const std::size_t group = b.innerSize * codec.diskWidth;
  std::size_t runStart = 0, runEnd = 0;
  auto flush = [&] {
    if (runEnd > runStart) {
      const auto n = (runEnd - runStart) / codec.diskWidth;
      const auto at = out.data.size();
      out.data.resize(at + n * outWidth);
      convert(codec, content.data() + runStart, n, out.data.data() + at);
    }
    runStart = runEnd = 0;
  };
  out.data.reserve(out.data.size() + content.size() / std::max<std::size_t>(codec.diskWidth, 1) * outWidth);
  offs.reserve(offs.size() + (last - first));
  for (std::size_t i = 0; i < last; ++i) {
    std::size_t s = 0, e = 0, count = 0;  // count in groups
    std::size_t valueStart = 0;
    if (b.vectorHeader) {
      s = hasOffsets ? basket.entry(i).first : pos;
      Cursor c(content.subspan(s), static_cast<std::int64_t>(s), where);
      const auto v = detail::readVersion(c);
      const auto n = c.i32();
      if (n < 0 || static_cast<std::size_t>(n) > c.remaining() / std::max<std::size_t>(group, 1))
        c.fail(fmt::format("vector of {} elements exceeds the entry", n));
      count = static_cast<std::size_t>(n);
      valueStart = s + c.index();
      e = v.end ? s + *v.end : valueStart + count * group;
      if (e < valueStart + count * group) c.fail("vector longer than its byte count");
    } else if (hasOffsets) {
      std::tie(s, e) = basket.entry(i);
      if (e - s < b.entryHeader) fail(fmt::format("entry {} is shorter than its header", loc.entryBegin + i));
      valueStart = s + b.entryHeader;
      count = (e - valueStart) / group;
    } else {
      if (!counts) fail("basket has no entry offsets and the branch has no counter to size its entries");
      const auto global = loc.entryBegin + i;
      if (global < countsBegin || global - countsBegin >= counts->size()) fail("counter values missing for entry");
      const auto n = (*counts)[static_cast<std::size_t>(global - countsBegin)];
      if (n < 0) fail(fmt::format("negative count {} at entry {}", n, global));
      s = pos;
      valueStart = s + b.entryHeader;
      count = static_cast<std::size_t>(n);
      e = valueStart + count * group;
      if (e > content.size())
        fail(fmt::format("entry {} needs {} bytes past the {} data bytes", global, e, content.size()));
    }
    if (e > content.size() || valueStart + count * group > e)
      fail(fmt::format("entry {} spans bytes {}..{} beyond the {} data bytes", loc.entryBegin + i, s, e,
                       content.size()));
    pos = e;
    if (i < first) continue;
    // Values of consecutive entries are usually adjacent (no per-entry header): convert in runs.
    if (runEnd != valueStart) flush();
    if (runStart == runEnd) runStart = runEnd = valueStart;
    runEnd += count * group;
    values += count;
    offs.push_back(values);
    ++out.entries;
  }
  flush();
}

void decodeFixed(const BranchData& b, const BasketBytes& basket, const BasketLoc& loc, std::uint64_t lo,
                 std::uint64_t hi, std::byte* dest, const std::string& where) {
  const auto first = static_cast<std::size_t>(lo - loc.entryBegin);
  const auto last = static_cast<std::size_t>(hi - loc.entryBegin);
  const std::size_t entryDisk = b.innerSize * b.codec.diskWidth;
  const std::size_t entryOut = b.innerSize * b.outWidth;
  if (b.entryStride > 0) {
    const auto stride = b.entryStride;
    for (std::size_t i = first; i < last; ++i) {
      const std::size_t s = basket.offsets.empty() ? i * stride : static_cast<std::size_t>(basket.offsets[i]);
      if (s + b.fieldOffset + entryDisk > basket.content.size())
        throw core::Exception(core::Errc::corrupt, fmt::format("{}: entry {} lies beyond the {} data bytes", where,
                                                               loc.entryBegin + i, basket.content.size()));
      convert(b.codec, basket.content.data() + s + b.fieldOffset, b.innerSize, dest + (i - first) * entryOut);
    }
    return;
  }
  if (basket.offsets.empty()) {
    if (basket.content.size() < last * entryDisk)
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: basket has {} data bytes but {} entries of {} bytes need {}", where,
                                        basket.content.size(), last, entryDisk, last * entryDisk));
    convert(b.codec, basket.content.data() + first * entryDisk, (last - first) * b.innerSize, dest);
    return;
  }
  for (std::size_t i = first; i < last; ++i) {
    auto [s, e] = basket.entry(i);
    if (e - s < entryDisk)
      throw core::Exception(core::Errc::corrupt, fmt::format("{}: entry {} has {} bytes, expected {}", where,
                                                             loc.entryBegin + i, e - s, entryDisk));
    convert(b.codec, basket.content.data() + s, b.innerSize, dest + (i - first) * entryOut);
  }
}

struct Job {
  std::size_t branch = 0;
  std::size_t basket = 0;
  std::uint64_t lo = 0, hi = 0;
  std::size_t request = 0;      ///< coalesced request holding it
  std::size_t offsetInRequest = 0;
};

}  // namespace

void appendColumn(Column& into, const Column& piece) {
  if (into.offsets.size() != piece.offsets.size())
    throw core::Exception(core::Errc::internal, "appendColumn: columns of " + into.name + " differ in levels");
  const std::size_t levels = into.offsets.size();
  for (std::size_t l = 0; l < levels; ++l) {
    std::uint64_t base;
    if (l + 1 < levels) {
      base = into.offsets[l + 1].size() - 1;
    } else {
      const auto inner = std::max<std::size_t>(into.innerSize(), 1);
      base = into.data.size() / dtypeSize(into.type) / (into.type == DType::string ? 1 : inner);
    }
    auto& dst = into.offsets[l];
    const auto& src = piece.offsets[l];
    if (src.size() < 2) continue;
    // Copy, then shift the copied run in place: two vectorised passes over cached data instead of
    // a push_back per offset.
    const std::size_t at = dst.size();
    dst.insert(dst.end(), src.begin() + 1, src.end());
    if (base != 0)
      for (auto *p = dst.data() + at, *end = dst.data() + dst.size(); p != end; ++p) *p += base;
  }
  into.data.insert(into.data.end(), piece.data.begin(), piece.data.end());
  into.entries += piece.entries;
}

Tree::Tree(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

const std::string& Tree::path() const noexcept { return impl_->path; }
const std::string& Tree::title() const noexcept { return impl_->title; }
std::uint64_t Tree::entries() const noexcept { return impl_->entries; }
const std::vector<BranchInfo>& Tree::branches() const noexcept { return impl_->infos; }
const File& Tree::file() const noexcept { return *impl_->file; }
std::vector<std::uint64_t> Tree::clusterBoundaries() const { return impl_->clusters; }

const BranchInfo* Tree::branch(std::string_view name) const noexcept {
  const auto it = impl_->byName.find(std::string(name));
  return it == impl_->byName.end() ? nullptr : &impl_->infos[it->second];
}

namespace {
double codecNanosPerByte(int compression);
float branchNanosPerEntry(const BranchData& b, std::uint64_t entries, double perByte);
/// The estimated cost of a branch copied by copyEmbedded (see File::tree): a fixed part, and its
/// output bytes at a swap-copy's speed (kStoredNanosPerByte's).
constexpr double kEmbeddedCopyNanos = 10, kEmbeddedCopyNanosPerByte = 0.05;
}  // namespace

namespace {

/// How a read copies branch b (EmbeddedCopy), or kind none when the general path must read it.
EmbeddedCopy embeddedCopyOf(const BranchData& b, std::uint64_t treeEntries) {
  EmbeddedCopy e;
  if (!b.info.supported || b.baskets.size() != 1 || b.codec.mode != NumCodec::Mode::plain || b.innerSize == 0) return e;
  const auto& loc = b.baskets[0];
  const auto entries = static_cast<std::uint64_t>(loc.nevbuf);
  // The checks of checkEmbedded and of decodeFixed, made once.
  if (!loc.embedded || loc.entryBegin != 0 || loc.entryEnd < treeEntries || treeEntries == 0 ||
      entries != loc.entryEnd || !loc.offsetsInOrder || loc.content.size() > std::numeric_limits<std::int32_t>::max())
    return e;
  e.content = loc.content.data();
  e.contentBytes = static_cast<std::uint32_t>(loc.content.size());
  e.innerSize = static_cast<std::uint32_t>(b.innerSize);
  e.width = static_cast<std::uint8_t>(b.codec.diskWidth);
  e.type = b.type;
  e.levels = b.levels & 0x7f;
  e.shaped = b.shaped;
  if (b.outWidth != b.codec.diskWidth || b.innerSize > std::numeric_limits<std::uint32_t>::max()) return e;
  if (b.decode == Decode::fixed && b.entryStride == 0 && loc.offsets.empty() && b.levels == 0 &&
      loc.content.size() / b.innerSize / b.codec.diskWidth >= entries) {
    e.kind = EmbeddedCopy::fixed;
  } else if (b.countedRun && !loc.offsets.empty() && b.levels == 1) {
    e.offsets = loc.offsets.data();
    e.offsetCount = static_cast<std::uint32_t>(loc.offsets.size());
    e.kind = EmbeddedCopy::counted;
  }
  return e;
}

}  // namespace

Tree File::tree(const std::string& path) const {
  const auto entry = find(path);
  if (entry.key.className != "TTree" && entry.key.className != "TNtuple" && entry.key.className != "TNtupleD") {
    if (isRNTuple(path))
      throw core::Exception(
          core::Errc::unsupported,
          fmt::format("{}: \"{}\" is an RNTuple, not a TTree: open it with File::ntuple (mlaas dump, inspect, "
                      "stats, batches and train read either)",
                      name(), path));
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("{}: \"{}\" is a {}, not a TTree", name(), path, entry.key.className));
  }
  auto impl = std::make_shared<Tree::Impl>();
  impl->file = shared_from_this();
  impl->path = entry.path;
  impl->context = fmt::format("{}: tree \"{}\"", name(), entry.path);
  const auto payload = readPayload(entry.key);
  Cursor c(payload, entry.key.keylen, impl->context);
  detail::ObjectReader reader(streamers(), c);
  if (!streamers().find("TTree"))
    throw core::Exception(core::Errc::unsupported, impl->context + ": the file has no streamer info for TTree");
  const auto tree = reader.readTop(entry.key.className);
  impl->title = tree->s("fTitle");
  impl->entries = static_cast<std::uint64_t>(std::max<std::int64_t>(tree->i("fEntries"), 0));
  for (const auto& b : tree->objs("fBranches"))
    if (b) collectBranches(*b, *this, impl->data, impl->context);
  // Counters of x[n] leaves: branch indices, the first branch named n or ending in ".n". Searched
  // once per distinct counter name (NanoAOD: ~900 counted branches share ~30 counters).
  std::unordered_map<std::string_view, int> counterOf;
  for (auto& b : impl->data) {
    const std::string_view cn = b.info.counterBranch;
    if (cn.empty()) continue;
    const auto known = counterOf.find(cn);
    if (known != counterOf.end()) {
      b.counter = known->second;
      continue;
    }
    for (std::size_t k = 0; k < impl->data.size(); ++k) {
      const std::string_view other = impl->data[k].info.name;
      if (other == cn ||
          (other.size() > cn.size() && other.ends_with(cn) && other[other.size() - cn.size() - 1] == '.')) {
        b.counter = static_cast<int>(k);
        break;
      }
    }
    counterOf.emplace(cn, b.counter);
  }
  for (auto& b : impl->data) {
    b.outWidth = dtypeSize(b.codec.out);
    b.countedRun = isCountedRun(b);
    b.shaped = !b.info.innerShape.empty();
    b.type = b.info.type;
    b.levels = static_cast<std::size_t>(std::max(b.info.jaggedLevels, 0));
    b.where = fmt::format("{} branch \"{}\"", impl->context, b.info.name);
    b.offsetsWhere = b.where + " entry offsets";
  }
  // Every branch's basket list into one table, and embedded baskets' data and offsets into one
  // block each, in branch order (what a read walks), before the tree record's objects that hold
  // them now go away.
  {
    std::size_t count = 0;
    for (const auto& b : impl->data) count += b.basketsRead.size();
    impl->basketTable.reserve(count);
    for (auto& b : impl->data) {
      const auto first = impl->basketTable.size();
      impl->basketTable.insert(impl->basketTable.end(), b.basketsRead.begin(), b.basketsRead.end());
      b.baskets = std::span<const BasketLoc>(impl->basketTable).subspan(first, b.basketsRead.size());
      b.basketsRead = {};
    }
    std::size_t bytes = 0, offsets = 0;
    for (const auto& loc : impl->basketTable)
      if (loc.embedded) {
        bytes += loc.content.size();
        offsets += loc.offsets.size();
      }
    impl->embeddedBytes.resize(bytes);
    impl->embeddedOffsets.resize(offsets);
    std::size_t atBytes = 0, atOffsets = 0;
    for (auto& loc : impl->basketTable) {
      if (!loc.embedded) continue;
      std::copy(loc.content.begin(), loc.content.end(),
                impl->embeddedBytes.begin() + static_cast<std::ptrdiff_t>(atBytes));
      std::copy(loc.offsets.begin(), loc.offsets.end(),
                impl->embeddedOffsets.begin() + static_cast<std::ptrdiff_t>(atOffsets));
      loc.content = std::span<const std::byte>(impl->embeddedBytes).subspan(atBytes, loc.content.size());
      loc.offsets = std::span<const std::int32_t>(impl->embeddedOffsets).subspan(atOffsets, loc.offsets.size());
      atBytes += loc.content.size();
      atOffsets += loc.offsets.size();
    }
  }
  for (std::size_t k = 0; k < impl->data.size(); ++k) {
    const auto copy = embeddedCopyOf(impl->data[k], impl->entries);
    if (copy.kind == EmbeddedCopy::none) continue;
    if (impl->embeddedCopies.empty()) impl->embeddedCopies.resize(impl->data.size());
    impl->embeddedCopies[k] = copy;
  }
  for (const auto& b : impl->data) impl->infos.push_back(b.info);
  for (std::size_t k = 0; k < impl->data.size(); ++k) impl->byName.emplace(impl->data[k].info.name, k);
  impl->nanosPerEntry.reserve(impl->data.size());
  const double codecNanos = codecNanosPerByte(compression());
  for (std::size_t k = 0; k < impl->data.size(); ++k) {
    // A branch copied by copyEmbedded costs no job: ~10 ns, then its output (values, and for a
    // counted run 8 bytes of column offsets an entry) at a swap-copy's speed. (The job's 50 ns
    // put NanoAOD's wide read's by-branch cut where the caller's run took 24 us, the worker's 13.5.)
    const auto* copy = impl->embeddedCopies.empty() ? nullptr : &impl->embeddedCopies[k];
    if (copy != nullptr && copy->kind != EmbeddedCopy::none) {
      const double offsets = copy->kind == EmbeddedCopy::counted ? 8.0 * copy->offsetCount : 0.0;
      const double nanos = kEmbeddedCopyNanos + kEmbeddedCopyNanosPerByte * (copy->contentBytes + offsets);
      impl->nanosPerEntry.push_back(
          static_cast<float>(nanos / static_cast<double>(std::max<std::uint64_t>(impl->entries, 1))));
      continue;
    }
    impl->nanosPerEntry.push_back(branchNanosPerEntry(impl->data[k], impl->entries, codecNanos));
  }
  impl->clusters = computeClusters(*tree, impl->data, impl->entries);
  return Tree(std::move(impl));
}

namespace {

std::vector<std::size_t> resolve(const Tree::Impl& t, const std::vector<std::string>& names) {
  // Reading chunk after chunk resolves the same names again: the calling thread remembers its last
  // list of names for this tree (one contiguous copy) and the branches they resolved to, so the
  // same list again costs one pass of compares over memory read in order, instead of a hash
  // lookup (or a compare with each branch's own name, a cache miss each) per name (NanoAOD: ~950).
  struct Remembered {
    std::uint64_t tree = 0;
    std::string names;               ///< every name, one after the other
    std::vector<std::size_t> ends;   ///< where each name ends in `names`
    std::vector<std::size_t> found;  ///< the branch each resolved to (all supported)
  };
  thread_local Remembered last;
  if (last.tree == t.serial && names.size() == last.ends.size()) {
    bool same = true;
    std::size_t at = 0;
    for (std::size_t k = 0; k < names.size() && same; ++k) {
      same = sameText(std::string_view(last.names).substr(at, last.ends[k] - at), names[k]);
      at = last.ends[k];
    }
    if (same) return last.found;
  }
  std::vector<std::size_t> out;
  out.reserve(names.size());
  std::vector<std::uint8_t> asked(t.data.size(), 0);  // each branch is one column of the read
  for (const auto& n : names) {
    const auto it = t.byName.find(n);
    if (it == t.byName.end())
      throw core::Exception(core::Errc::not_found, fmt::format("{}: no branch \"{}\"", t.context, n));
    if (!t.data[it->second].info.supported)
      throw core::Exception(core::Errc::unsupported, fmt::format("{}: branch \"{}\": {}", t.context, n,
                                                                 t.data[it->second].info.unsupportedReason));
    if (asked[it->second]++)
      throw core::Exception(core::Errc::invalid_argument,
                            fmt::format("{}: branch \"{}\" is asked for twice", t.context, n));
    out.push_back(it->second);
  }
  last.tree = t.serial;
  last.names.clear();
  last.ends.clear();
  for (const auto& n : names) {
    last.names += n;
    last.ends.push_back(last.names.size());
  }
  last.found = out;
  return out;
}

/// The plan of a read. With embeddedBytes, also adds up the entry data of the embedded baskets it
/// lists (a read's allocation guard), while their records are in cache.
ReadPlan makePlan(const Tree::Impl& t, std::span<const std::size_t> branches, EntryRange range,
                  const ReadOptions& options, bool listBranches = true, std::uint64_t* embeddedBytes = nullptr) {
  ReadPlan plan;
  plan.entries = range;
  if (listBranches) plan.branches.assign(branches.begin(), branches.end());  // a read does not look at them
  plan.baskets.reserve(branches.size());
  std::vector<io::ByteRange> ranges;
  ranges.reserve(branches.size());
  for (auto bi : branches) {
    const auto& b = t.data[bi];
    for (std::size_t k = 0; k < b.baskets.size(); ++k) {
      const auto& loc = b.baskets[k];
      if (loc.entryEnd <= range.begin || loc.entryBegin >= range.end || loc.entryEnd == loc.entryBegin) continue;
      PlannedBasket pb;
      pb.branch = bi;
      pb.basket = k;
      pb.entries = {loc.entryBegin, loc.entryEnd};
      if (!loc.embedded) {
        pb.bytes = {loc.seek, loc.bytes};
        ranges.push_back(pb.bytes);
      } else if (embeddedBytes) {
        *embeddedBytes += loc.content.size();
      }
      plan.baskets.push_back(pb);
    }
  }
  plan.requests = io::coalesce(std::move(ranges), options.coalesceGap, options.maxRequestBytes);
  return plan;
}

struct Fetched {
  std::vector<std::unique_ptr<std::byte[]>> buffers;  // not zero-filled: the source overwrites them
  std::vector<io::ByteRange> ranges;

  std::span<const std::byte> find(const io::ByteRange& r) const {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), r.offset,
                               [](std::uint64_t off, const io::ByteRange& x) { return off < x.offset; });
    if (it == ranges.begin()) return {};
    --it;
    if (r.end() > it->end()) return {};
    const auto idx = static_cast<std::size_t>(it - ranges.begin());
    return std::span<const std::byte>(buffers[idx].get(), it->size).subspan(r.offset - it->offset, r.size);
  }
};

/// The plan's byte ranges in memory. Without worker threads everything is fetched in one
/// Source::read (one vector request on remote sources). With workers the ranges are cut into a few
/// pieces that are fetched as the first jobs of the same parallel pass that decodes the baskets:
/// the pread (or network wait) of one piece overlaps the decoding of another, and each basket job
/// waits only for the piece that holds it.
class StagedFetch {
 public:
  StagedFetch(const Tree::Impl& t, const std::vector<io::ByteRange>& requests) : t_(t), ready_(requests.size()) {
    f_.ranges = requests;
    f_.buffers.resize(requests.size());
    for (std::size_t k = 0; k < requests.size(); ++k)
      f_.buffers[k] = std::make_unique_for_overwrite<std::byte[]>(requests[k].size);
  }
  [[nodiscard]] std::size_t pieces() const noexcept { return f_.ranges.size(); }
  /// Fetches piece k unless another thread has claimed it (throws on failure, after releasing the
  /// baskets that wait for it).
  void fetch(std::size_t k) {
    int pending = kPending;
    if (!ready_[k].compare_exchange_strong(pending, kFetching)) return;
    core::Result<void> r;
    try {
      r = read({&k, 1});
    } catch (...) {  // never leave a basket job waiting on a piece that will not come
      ready_[k].store(kFailed);
      ready_[k].notify_all();
      throw;
    }
    ready_[k].store(r ? kReady : kFailed);
    ready_[k].notify_all();
    if (!r) throw core::Exception(r.error().withContext(t_.context));
  }
  /// Fetches everything in one request list.
  void fetchAll() {
    std::vector<std::size_t> all(pieces());
    std::iota(all.begin(), all.end(), std::size_t{0});
    auto r = read(all);
    for (auto& flag : ready_) flag.store(r ? kReady : kFailed);
    if (!r) throw core::Exception(r.error().withContext(t_.context));
  }
  /// The bytes of a basket, once its piece is in; empty when that piece failed (its error is
  /// already on its way to the caller). A piece no thread has started yet is fetched here: a
  /// basket never waits for a thread that is still to wake up (or busy elsewhere) to fetch it.
  std::span<const std::byte> wait(const io::ByteRange& bytes) {
    auto it = std::upper_bound(f_.ranges.begin(), f_.ranges.end(), bytes.offset,
                               [](std::uint64_t off, const io::ByteRange& x) { return off < x.offset; });
    if (it == f_.ranges.begin()) return {};
    const auto k = static_cast<std::size_t>(it - f_.ranges.begin()) - 1;
    auto& flag = ready_[k];
    if (flag.load() == kPending) fetch(k);
    for (int v = flag.load(); v == kPending || v == kFetching; v = flag.load()) flag.wait(v);
    if (flag.load() == kFailed) return {};
    return f_.find(bytes);
  }

 private:
  static constexpr int kPending = 0, kReady = 1, kFailed = 2, kFetching = 3;
  core::Result<void> read(std::span<const std::size_t> which) {
    std::vector<io::ReadRequest> reqs;
    for (auto k : which) reqs.push_back({f_.ranges[k].offset, {f_.buffers[k].get(), f_.ranges[k].size}});
    if (reqs.empty()) return {};
    return t_.file->source()->read(reqs);
  }
  const Tree::Impl& t_;
  Fetched f_;
  std::vector<std::atomic<int>> ready_;
};

/// With worker threads, the pieces a plan's baskets are fetched in: the plan's coalesced requests,
/// cut so each thread has a few to overlap with decoding (never below 256 KiB a piece).
std::vector<io::ByteRange> fetchPieces(const ReadPlan& plan, const ReadOptions& options, std::size_t threads) {
  if (threads <= 1) return plan.requests;
  std::uint64_t total = 0;
  for (const auto& r : plan.requests) total += r.size;
  const std::uint64_t piece = std::clamp<std::uint64_t>(total / (2 * threads), 256 * 1024,
                                                        std::max<std::uint64_t>(options.maxRequestBytes, 256 * 1024));
  std::vector<io::ByteRange> ranges;
  for (const auto& pb : plan.baskets)
    if (pb.bytes.size > 0) ranges.push_back(pb.bytes);
  return io::coalesce(std::move(ranges), options.coalesceGap, piece);
}

std::size_t poolThreads(const ReadOptions& options) { return options.pool ? options.pool->size() + 1 : 1; }

std::string basketWhere(const Tree::Impl& t, const BranchData& b, std::size_t k) {
  const auto& loc = b.baskets[k];
  if (loc.embedded)
    return fmt::format("{} branch \"{}\" basket {} (embedded in the tree record)", t.context, b.info.name, k);
  return fmt::format("{} branch \"{}\" basket {} at offset {}", t.context, b.info.name, k, loc.seek);
}

/// Runs fn, whose errors name the branch (BranchData::where), and names the basket and its offset
/// in any error: formatting that for every basket costs more than decoding a small one.
template <class F>
void atBasket(const Tree::Impl& t, const BranchData& b, std::size_t k, F&& fn) {
  try {
    fn();
  } catch (const core::Exception& e) {
    std::string message = e.error().message;
    if (message.rfind(b.where, 0) == 0) message = basketWhere(t, b, k) + message.substr(b.where.size());
    throw core::Exception(e.code(), std::move(message));
  }
}

/// Runs body(0..count) on the pool (which itself runs it inline without workers or with one job),
/// or on the calling thread without one.
template <class F>
void runJobs(std::size_t count, const ReadOptions& options, F&& body) {
  if (options.pool)
    options.pool->parallelFor(count, body);
  else
    for (std::size_t i = 0; i < count; ++i) body(i);
}

// ---- sharing a read among threads ----------------------------------------------------------
//
// A read's parallel pass is its fetch pieces (sources that fetch) and then one job per basket.
// Sharing it costs a fixed ~15 us (waking a worker, waiting for its last job, the pieces that
// multi-basket columns decode into and their appending) and, per basket, ~100 ns of cache lines
// moving between the cores (its work entry, its column's header and bookkeeping, written by one
// core and read by the other): NanoAOD's ~950 small baskets lose more that way than a second
// thread saves (0.66x measured). So the jobs are shared by estimated cost, each thread gets one
// contiguous run of them (the same columns read after read; adjacent columns' headers are not
// written by two cores), and a read is shared only when the work the other threads take off the
// caller exceeds that cost (ReadOptions::parallelMinNanos plus kSplitNanosPerBasket a basket).
constexpr double kSplitNanosPerBasket = 100;

/// Estimated nanoseconds of a read's work, per basket: a fixed cost per basket (its bookkeeping,
/// ~50 ns on NanoAOD's ~950 small baskets) plus its output bytes at the speed of a swap-copy from
/// memory (stored or embedded baskets, ~20 GB/s) or of the fastest decompression ROOT writes
/// (LZ4, ~2 GB/s; zlib and LZMA are slower, which only makes splitting them more worth it).
constexpr double kBasketNanos = 50, kStoredNanosPerByte = 0.05, kCompressedNanosPerByte = 0.5;
/// (A compressed basket is decompressed whole; of a stored or embedded one only the range's share
/// is swapped.) `compressedNanosPerByte`: the codec's speed, where it is known (branchNanosPerEntry).
double basketNanos(const BranchData& b, const BasketLoc& loc, EntryRange range,
                   double compressedNanosPerByte = kCompressedNanosPerByte) {
  const double used = static_cast<double>(std::min(range.end, loc.entryEnd) - std::max(range.begin, loc.entryBegin)) /
                      static_cast<double>(std::max<std::uint64_t>(loc.entryEnd - loc.entryBegin, 1));
  if (loc.embedded) return kBasketNanos + kStoredNanosPerByte * used * static_cast<double>(loc.content.size());
  const double zipped = static_cast<double>(std::max<std::uint64_t>(b.info.compressedBytes, 1));
  const double ratio = static_cast<double>(b.info.uncompressedBytes) / zipped;  // the branch's, per basket
  const double out = static_cast<double>(loc.bytes) * std::max(ratio, 1.0);
  return kBasketNanos + (ratio > 1.05 ? compressedNanosPerByte * out : kStoredNanosPerByte * used * out);
}

/// A later slice of a large basket of fixed-size values that needs no decompression: entries
/// [lo, hi) of plan basket `basket`, decoded by a job of its own (readImpl).
struct Slice {
  std::uint32_t basket = 0;
  std::uint64_t lo = 0, hi = 0;
};
/// Output bytes per slice: a few hundred KiB swap-copy in ~15 us, well above a job's cost.
constexpr std::uint64_t kSliceBytes = 256 * 1024;

/// Into how many slices a read with workers cuts a basket: a basket of fixed-size values that
/// needs no decompression (stored, or embedded in the tree record) and lies wholly in the range,
/// one slice per kSliceBytes of output; 1 (not cut) for any other.
std::uint64_t sliceParts(const BranchData& b, const BasketLoc& loc, EntryRange range) {
  if (b.decode != Decode::fixed || loc.entryBegin < range.begin || loc.entryEnd > range.end ||
      !(loc.embedded || b.info.compressedBytes == b.info.uncompressedBytes))
    return 1;
  const std::uint64_t entries = loc.entryEnd - loc.entryBegin;
  const std::uint64_t bytes = entries * b.innerSize * b.outWidth;
  return std::max<std::uint64_t>(std::min<std::uint64_t>(bytes / kSliceBytes, entries), 1);
}

/// The speed of the file's codec for the per-branch estimate (decompress-only bound on this
/// project's machine, ns per output byte: zlib 1.5, LZMA 15, LZ4 0.15, zstd 0.55), the setting
/// read as the writer reads it (CompressionSetting::fromRoot: 1-9, ROOT 5's files, is zlib);
/// kCompressedNanosPerByte for a setting that names no codec.
double codecNanosPerByte(int compression) {
  Codec codec = Codec::none;
  try {
    codec = CompressionSetting::fromRoot(compression).codec;
  } catch (const core::Exception&) {  // a setting ROOT never writes: only the estimate is at stake
  }
  switch (codec) {
    case Codec::zlib:
    case Codec::legacy:
      return 1.5;
    case Codec::lzma:
      return 15;
    case Codec::lz4:
      return 0.15;
    case Codec::zstd:
      return 0.55;
    case Codec::none:
      break;
  }
  return kCompressedNanosPerByte;
}

/// A branch's estimated read cost per entry (Tree::Impl::nanosPerEntry), as basketNanos but with
/// its compressed baskets at the speed of the file's codec (codecNanosPerByte): a read split by
/// branch puts all of a branch's baskets on one thread, so one slow branch (NanoAOD's one
/// compressed branch is ~60% of its read) must weigh what it costs.
float branchNanosPerEntry(const BranchData& b, std::uint64_t entries, double perByte) {
  double nanos = 0;
  for (const auto& loc : b.baskets) nanos += basketNanos(b, loc, {loc.entryBegin, loc.entryEnd}, perByte);
  return static_cast<float>(nanos / static_cast<double>(std::max<std::uint64_t>(entries, 1)));
}

/// How many threads a read of these baskets should use: the pool's, or 1 when sharing would cost
/// more than it saves (see above). A plan of one basket is shared only when `slicing` (readImpl;
/// the decompress-only bound does not slice) and that basket is cut into slices.
std::size_t readThreads(const Tree::Impl& t, const ReadPlan& plan, const ReadOptions& options, bool slicing) {
  const std::size_t threads = poolThreads(options);
  if (threads <= 1 || plan.baskets.empty()) return 1;
  if (plan.baskets.size() == 1) {
    const auto& pb = plan.baskets.front();
    const auto& b = t.data[pb.branch];
    if (!slicing || sliceParts(b, b.baskets[pb.basket], plan.entries) <= 1) return 1;
  }
  if (options.parallelMinNanos == 0) return threads;
  const double cost =
      static_cast<double>(options.parallelMinNanos) + kSplitNanosPerBasket * static_cast<double>(plan.baskets.size());
  const double share = 1.0 - 1.0 / static_cast<double>(threads);  // of the work, off the caller
  double nanos = 0;
  for (const auto& pb : plan.baskets) {
    const auto& b = t.data[pb.branch];
    nanos += basketNanos(b, b.baskets[pb.basket], plan.entries);
    if (nanos * share > cost) return threads;
  }
  return 1;
}

/// Cuts items [0, n) into `parts` consecutive runs of about equal cost (cost(k): item k's): run p
/// ends after the item whose end is nearest (p + 1) / parts of `total`, the last run takes the
/// rest. Returns the parts + 1 boundaries. One rule for a read's jobs (splitJobs) and a wide
/// read's branches (shareByBranch).
template <class Cost>
std::vector<std::size_t> equalCostCuts(std::size_t n, std::size_t parts, double total, Cost&& cost) {
  std::vector<std::size_t> cuts{0};
  double sum = 0;
  std::size_t k = 0;
  for (std::size_t p = 1; p <= parts; ++p) {
    const double until = total * static_cast<double>(p) / static_cast<double>(parts);
    while (k < n && (p == parts || sum + cost(k) / 2 < until)) sum += cost(k++);
    cuts.push_back(k);
  }
  return cuts;
}

/// The order a parallel pass runs its jobs in and the parts each thread starts with: participant
/// p runs the fetch pieces [p F / P, (p + 1) F / P) and then its run of baskets (each followed by
/// its slices), cut where the estimated cost reaches p / P of the total.
struct JobSplit {
  std::vector<std::uint32_t> order;  ///< job at each position (fetch pieces, baskets, then slices)
  std::vector<std::size_t> cuts;     ///< parts of `order`, one per thread
};

JobSplit splitJobs(const Tree::Impl& t, const ReadPlan& plan, std::size_t fetchJobs, std::span<const Slice> slices,
                   std::size_t threads) {
  JobSplit split;
  const std::size_t count = plan.baskets.size();
  // The basket jobs in plan order, each followed by its slices (slices are listed in basket
  // order), with their costs: a sliced basket's cost shared by its jobs.
  std::vector<std::uint32_t> jobs;
  std::vector<double> cost;
  jobs.reserve(count + slices.size());
  cost.reserve(count + slices.size());
  double total = 0;
  for (std::size_t j = 0, s = 0; j < count; ++j) {
    const auto& pb = plan.baskets[j];
    const auto& b = t.data[pb.branch];
    const double nanos = basketNanos(b, b.baskets[pb.basket], plan.entries);
    total += nanos;
    std::size_t first = s;
    while (s < slices.size() && slices[s].basket == j) ++s;
    const double share = nanos / static_cast<double>(s - first + 1);
    jobs.push_back(static_cast<std::uint32_t>(fetchJobs + j));
    cost.push_back(share);
    for (; first < s; ++first) {
      jobs.push_back(static_cast<std::uint32_t>(fetchJobs + count + first));
      cost.push_back(share);
    }
  }
  const auto runs = equalCostCuts(jobs.size(), threads, total, [&](std::size_t k) { return cost[k]; });
  split.order.reserve(fetchJobs + jobs.size());
  split.cuts.push_back(0);
  for (std::size_t p = 0; p < threads; ++p) {
    for (std::size_t f = p * fetchJobs / threads; f < (p + 1) * fetchJobs / threads; ++f)
      split.order.push_back(static_cast<std::uint32_t>(f));
    split.order.insert(split.order.end(), jobs.begin() + static_cast<std::ptrdiff_t>(runs[p]),
                       jobs.begin() + static_cast<std::ptrdiff_t>(runs[p + 1]));
    split.cuts.push_back(split.order.size());
  }
  return split;
}

/// Runs a read's parallel pass (its fetch pieces, then a job per basket, then the slices) as
/// splitJobs shares it among `threads`, or in order on the calling thread when threads == 1.
/// With stats, the jobs run on a thread other than the caller are added to stats->jobsOnWorkers.
template <class F>
void runSplit(const Tree::Impl& t, const ReadPlan& plan, std::size_t fetchJobs, std::span<const Slice> slices,
              std::size_t threads, const ReadOptions& options, ReadStats* stats, F&& body) {
  if (threads <= 1) {
    for (std::size_t i = 0; i < fetchJobs + plan.baskets.size() + slices.size(); ++i) body(i);
    return;
  }
  const auto split = splitJobs(t, plan, fetchJobs, slices, threads);
  if (!stats) return options.pool->parallelForParts(split.cuts, [&](std::size_t at) { body(split.order[at]); });
  const auto caller = std::this_thread::get_id();
  std::atomic<std::uint64_t> onWorkers{0};
  options.pool->parallelForParts(split.cuts, [&](std::size_t at) {
    if (std::this_thread::get_id() != caller) onWorkers.fetch_add(1, std::memory_order_relaxed);
    body(split.order[at]);
  });
  stats->jobsOnWorkers += onWorkers.load(std::memory_order_relaxed);
}

/// An integer column's values as int64 (the counters of x[n] leaves).
std::vector<std::int64_t> integerValues(const Column& col) {
  std::vector<std::int64_t> values(col.valueCount());
  for (std::size_t k = 0; k < values.size(); ++k) {
    std::int64_t v = 0;
    switch (col.type) {
      case DType::int8: v = col.values<std::int8_t>()[k]; break;
      case DType::uint8: v = col.values<std::uint8_t>()[k]; break;
      case DType::int16: v = col.values<std::int16_t>()[k]; break;
      case DType::uint16: v = col.values<std::uint16_t>()[k]; break;
      case DType::int32: v = col.values<std::int32_t>()[k]; break;
      case DType::uint32: v = col.values<std::uint32_t>()[k]; break;
      case DType::int64: v = col.values<std::int64_t>()[k]; break;
      case DType::uint64: v = static_cast<std::int64_t>(col.values<std::uint64_t>()[k]); break;
      default: break;
    }
    values[k] = v;
  }
  return values;
}

/// Stored baskets at least this large on a local file are read straight into their column.
constexpr std::uint32_t kDirectMinBytes = 256 * 1024;

/// Reads a stored (uncompressed) basket of whole fixed-size plain values straight into `dest`, its
/// place in the column: the key first, then the payload in cache-sized pieces, each byte-swapped
/// in place while it is still in cache (one pass through memory instead of pread into a buffer +
/// a swap-copy out of it). False, having written nothing, when the basket is compressed or holds
/// anything else than exactly dest's values (the caller falls back to the general path).
bool readStoredInto(io::Source& source, const BasketLoc& loc, std::span<std::byte> dest, std::size_t width,
                    const std::string& where) {
  std::array<std::byte, 512> head;
  const auto headBytes = std::min<std::size_t>(head.size(), loc.bytes);
  io::ReadRequest request{loc.seek, {head.data(), headBytes}};
  if (auto r = source.read({&request, 1}); !r) throw core::Exception(r.error());
  const auto key = parseBasketHeader({head.data(), headBytes}, loc.bytes, loc, where);
  const auto content = static_cast<std::size_t>(key.last - key.keylen);
  if (key.compressed() || content != static_cast<std::size_t>(key.objlen) || content != dest.size()) return false;
  checkBasketEntries(key.nevbuf, loc, where);
  constexpr std::size_t kPiece = 256 * 1024;  // a multiple of every width, and well inside L2
  for (std::size_t at = 0; at < dest.size(); at += kPiece) {
    const auto n = std::min(kPiece, dest.size() - at);
    io::ReadRequest piece{loc.seek + static_cast<std::uint64_t>(key.keylen) + at, dest.subspan(at, n)};
    if (auto r = source.read({&piece, 1}); !r) throw core::Exception(r.error());
    swapInPlace(dest.data() + at, n / width, width);
  }
  return true;
}

/// The whole record of a basket, read on its own into this thread's record buffer.
std::span<const std::byte> fetchRecord(io::Source& source, const BasketLoc& loc, const std::string& context) {
  thread_local ScratchBuffer buffer;
  auto bytes = buffer.get(loc.bytes);
  io::ReadRequest request{loc.seek, bytes};
  if (auto r = source.read({&request, 1}); !r) throw core::Exception(r.error().withContext(context));
  return bytes;
}

std::vector<Column> readImpl(const Tree::Impl& t, const std::vector<std::size_t>& branches, EntryRange range,
                             const ReadOptions& options, ReadStats* stats);

/// Reads of at least this many branches are shared among threads by branch, not by basket (see
/// shareByBranch).
constexpr std::size_t kBranchSplitMin = 256;

void readBaskets(const Tree::Impl& t, std::span<const std::size_t> branches, EntryRange range,
                 const ReadOptions& options, ReadStats* stats, std::span<Column> out,
                 std::span<const std::string> names, bool copyEmbeddedFirst = true);

/// The columns of branches with an EmbeddedCopy, copied in one loop on the calling thread; the
/// other branches are then read by readBaskets' general path (into their columns, moved out and
/// back). False, having done nothing, when no branch of the read has an EmbeddedCopy.
bool copyEmbedded(const Tree::Impl& t, std::span<const std::size_t> branches, EntryRange range,
                  const ReadOptions& options, ReadStats* stats, std::span<Column> out,
                  std::span<const std::string> names) {
  const auto& copies = t.embeddedCopies;
  std::vector<std::size_t> rest;  // columns (indices into branches) of the general path
  std::uint64_t copied = 0, copiedBytes = 0;
  const auto first = static_cast<std::size_t>(range.begin), last = static_cast<std::size_t>(range.end);
  const std::size_t n = last - first;
  for (std::size_t k = 0; k < branches.size(); ++k) {
    const auto& e = copies[branches[k]];
    if (e.kind == EmbeddedCopy::none) {
      rest.push_back(k);
      continue;
    }
    // resetColumn(keepSizes) from the compact entry (without the branch's record).
    auto& c = out[k];
    const std::string& name = names.empty() ? t.data[branches[k]].info.name : names[k];
    if (!sameText(c.name, name)) c.name = name;
    c.type = e.type;
    c.firstEntry = range.begin;
    if (e.shaped)
      c.innerShape = t.data[branches[k]].info.innerShape;
    else
      c.innerShape.clear();
    ++copied;
    copiedBytes += e.contentBytes;
    const std::size_t width = e.width;
    if (e.kind == EmbeddedCopy::fixed) {
      c.offsets.clear();
      c.entries = n;
      c.data.resize(n * e.innerSize * width);
      swapCopy(c.data.data(), e.content + first * e.innerSize * width, n * e.innerSize, width);
      continue;
    }
    c.offsets.resize(1);
    auto& level = c.offsets[0];
    if (level.empty())
      level.push_back(0);
    else
      level[0] = 0;
    c.entries = 0;
    const BasketBytes bytes{{e.content, e.contentBytes}, {e.offsets, e.offsetCount}, {}, 0};
    if (countedRunInto(bytes, first, last, e.innerSize, width, width, c,
                       [width](const std::byte* src, std::size_t count, std::byte* dst) {
                         if (count != 0) swapCopy(dst, src, count, width);
                       })) {
      trimCounted(c, e.innerSize, width);
      continue;
    }
    // Damaged offsets, or an entry of a partial group: the general decoder says which.
    const auto& b = t.data[branches[k]];
    const auto& loc = b.baskets[0];
    atBasket(t, b, 0, [&] {
      auto basket = loadBasket({}, loc, b.where, nullptr);
      decodeBasket(b, basket, loc, range.begin, range.end, c, nullptr, 0, b.where);
    });
    trimCounted(c, b);
  }
  if (copied == 0) return false;
  if (!rest.empty()) {
    std::vector<std::size_t> restBranches(rest.size());
    std::vector<Column> restColumns(rest.size());
    for (std::size_t r = 0; r < rest.size(); ++r) {
      restBranches[r] = branches[rest[r]];
      restColumns[r] = std::move(out[rest[r]]);
    }
    // Back into their places even when the read fails (the caller's columns stay whole).
    struct Restore {
      std::span<Column> out;
      const std::vector<std::size_t>& rest;
      std::vector<Column>& columns;
      ~Restore() {
        for (std::size_t r = 0; r < rest.size(); ++r) out[rest[r]] = std::move(columns[r]);
      }
    } restore{out, rest, restColumns};
    readBaskets(t, restBranches, range, options, stats, restColumns, {}, /*copyEmbeddedFirst=*/false);
  }
  if (stats) {
    stats->baskets += copied;
    stats->uncompressedBytes += copiedBytes;
    stats->threads = std::max<std::size_t>(stats->threads, 1);
  }
  return true;
}

/// Reads into `out` (one column per branch), reusing the buffers of the columns it holds
/// (forEachChunk, readInto). `names`, when not empty, are the names `branches` were resolved from
/// (the columns' names). `range` lies within the tree (readImpl clamps it).
void readBaskets(const Tree::Impl& t, std::span<const std::size_t> branches, EntryRange range,
                 const ReadOptions& options, ReadStats* stats, std::span<Column> out,
                 std::span<const std::string> names, bool copyEmbeddedFirst) {
  // Branches of one embedded basket are copied first, on this thread, when the read is not shared
  // by basket (no workers, or a wide read, which shareByBranch either shared or found too small).
  if (copyEmbeddedFirst && !t.embeddedCopies.empty() && range.size() != 0 &&
      (poolThreads(options) == 1 || branches.size() >= kBranchSplitMin) &&
      copyEmbedded(t, branches, range, options, stats, out, names))
    return;
  auto columnName = [&](std::size_t k) -> const std::string& {
    return names.empty() ? t.data[branches[k]].info.name : names[k];
  };
  std::uint64_t embeddedBytes = 0;
  const auto plan = makePlan(t, branches, range, options, /*listBranches=*/false, &embeddedBytes);
  const std::size_t count = plan.baskets.size();
  // What this read does with each basket. One array (not one per property): a read of NanoAOD
  // has ~950 baskets and every extra per-basket array is another pass of allocation and zeroing.
  struct Work {
    std::uint32_t column = 0;
    std::uint8_t direct = 0;   ///< read straight into its column (readStoredInto)
    std::uint8_t inPiece = 0;  ///< decoded into pieces[j], appended afterwards
    std::uint8_t noFetch = 0;  ///< direct or held: not in the shared fetch (embedded ones never are)
    std::uint8_t sliced = 0;   ///< cut into slices: this job decodes up to its first Slice's lo
  };
  static_assert(sizeof(Work) == 8, "one small entry per basket (NanoAOD zeroes ~950 per read)");
  std::vector<Work> work(count);
  std::vector<std::uint64_t> sizes(stats ? count : 0, 0);  ///< uncompressed bytes per basket (stats)
  // On a mapped local file every basket is decompressed or swapped where it lies in the mapping:
  // no fetch buffer, no pread copy (the decompress-only bound still preads).
  auto& source = *t.file->source();
  const auto mapped = plan.requests.empty() ? std::span<const std::byte>{} : io::mappedBytes(source, plan.requests);
  // Baskets an earlier read kept (it used them in part: see PartialBaskets) are taken now, before
  // the fetch, so their bytes are not fetched again (remote sources: not moved over the network
  // again). Holding them here also means no other read can drop them between now and their use.
  std::vector<std::shared_ptr<const LoadedBasket>> held;
  bool anySkipped = false;
  if (!t.partialBaskets.empty()) {
    for (std::size_t j = 0; j < count; ++j) {
      const auto& pb = plan.baskets[j];
      const auto& loc = t.data[pb.branch].baskets[pb.basket];
      if (!cutBy(loc, range)) continue;
      auto kept = t.partialBaskets.find(pb.branch, pb.basket);
      if (!kept) continue;
      if (held.empty()) held.resize(count);
      held[j] = std::move(kept);
      work[j].noFetch = 1;
      anySkipped = true;
    }
  }
  // Otherwise large stored baskets of fixed-size plain values on a local file are read straight
  // into their column by their own job (see readStoredInto): they leave the shared fetch.
  if (mapped.empty() && io::isLocal(source)) {
    for (std::size_t j = 0; j < count; ++j) {
      const auto& pb = plan.baskets[j];
      const auto& b = t.data[pb.branch];
      const auto& loc = b.baskets[pb.basket];
      work[j].direct = b.decode == Decode::fixed && b.entryStride == 0 && b.codec.mode == NumCodec::Mode::plain &&
                       !loc.embedded && loc.bytes >= kDirectMinBytes && loc.entryBegin >= range.begin &&
                       loc.entryEnd <= range.end && b.info.compressedBytes == b.info.uncompressedBytes;
      work[j].noFetch |= work[j].direct;
      anySkipped |= work[j].direct != 0;
    }
  }
  // A direct basket is not sliced: alone in its read, it is one job (readThreads would count on
  // slicing it).
  const std::size_t threads = count == 1 && work[0].direct ? 1 : readThreads(t, plan, options, /*slicing=*/true);
  ReadPlan fetchPlan;  // the plan less the baskets that are not fetched with the others
  if (anySkipped && mapped.empty()) {
    std::vector<io::ByteRange> ranges;
    for (std::size_t j = 0; j < count; ++j) {
      if (work[j].noFetch) continue;
      fetchPlan.baskets.push_back(plan.baskets[j]);
      if (plan.baskets[j].bytes.size > 0) ranges.push_back(plan.baskets[j].bytes);
    }
    fetchPlan.requests = io::coalesce(std::move(ranges), options.coalesceGap, options.maxRequestBytes);
  }
  const auto& fetchedPlan = anySkipped && mapped.empty() ? fetchPlan : plan;
  StagedFetch fetched(t, mapped.empty() ? fetchPieces(fetchedPlan, options, threads) : std::vector<io::ByteRange>{});
  const std::size_t fetchJobs = threads > 1 ? fetched.pieces() : 0;
  if (fetchJobs == 0) fetched.fetchAll();
  // Per column: its baskets, and the entries they cover. Never allocate more than the fetched
  // bytes could decompress to (a damaged fEntries or shape must not make us allocate blindly);
  // ROOT's codecs stay far below a 1024:1 ratio on real data.
  struct PerColumn {
    std::uint32_t baskets = 0;
    std::uint64_t covered = 0;
    bool countedRun = false;  ///< its branch's countedRun (trimmed at the end)
    bool trimmed = false;     ///< ... or already, by the job of its one basket
  };
  std::vector<PerColumn> perColumn(out.size());
  // With workers, a large basket of fixed-size values that needs no decompression (stored, or
  // embedded in the tree record) is cut into slices of entries, each its own job, so that a file
  // of a few big baskets (issue79: two, of 2.85 and 1.15 MB) still shares evenly. Each slice
  // swap-copies its entries into its part of the column; the basket's own job does the first.
  std::vector<Slice> slices;
  if (threads > 1)
    for (std::size_t j = 0; j < count; ++j) {
      const auto& pb = plan.baskets[j];
      const auto& b = t.data[pb.branch];
      const auto& loc = b.baskets[pb.basket];
      if (work[j].noFetch) continue;
      const std::uint64_t entries = loc.entryEnd - loc.entryBegin;
      const std::uint64_t parts = sliceParts(b, loc, range);
      for (std::uint64_t s = 1; s < parts; ++s)
        slices.push_back({static_cast<std::uint32_t>(j), loc.entryBegin + entries * s / parts,
                          loc.entryBegin + entries * (s + 1) / parts});
      work[j].sliced = parts > 1;
    }
  std::uint64_t available = (1 << 20) + embeddedBytes;
  for (const auto& r : plan.requests) available += r.size;
  // The plan lists each branch's baskets together, in the order of `branches`, and each branch is
  // one column (resolve refuses a name given twice): a basket's column is found walking forward.
  for (std::size_t j = 0, k = 0; j < count; ++j) {
    const auto& pb = plan.baskets[j];
    while (branches[k] != pb.branch) ++k;
    work[j].column = static_cast<std::uint32_t>(k);
    ++perColumn[k].baskets;
    if (work[j].sliced) ++perColumn[k].baskets;  // more than one job writes it: reset first
    perColumn[k].covered += std::min(range.end, pb.entries.end) - std::max(range.begin, pb.entries.begin);
  }
  // Columns filled by fixed-size or counted-run decoding keep their buffers' sizes, not only their
  // capacity (those decoders overwrite in place and trimCounted cuts the rest).
  for (std::size_t k = 0; k < branches.size(); ++k) {
    const auto& b = t.data[branches[k]];
    if (b.decode == Decode::fixed && range.size() * b.innerSize * b.codec.diskWidth / 1024 > available)
      throw core::Exception(
          core::Errc::corrupt,
          fmt::format("{}: branch \"{}\": {} entries of {} values cannot come from {} bytes of baskets", t.context,
                      b.info.name, range.size(), b.innerSize, available));
    perColumn[k].countedRun = b.countedRun;
    // A column of one basket is reset by that basket's job, which touches it and its branch anyway
    // (one pass less over ~950 columns and branches on NanoAOD).
    if (perColumn[k].baskets == 1) continue;
    resetColumn(out[k], b, range, perColumn[k].baskets > 0 && keepsSizes(b), columnName(k));
  }
  // A column filled by one basket is decoded in place. One thread decodes the baskets in plan
  // order, which is entry order within each column, so a column of several baskets is appended to
  // in place; with workers, the first basket of such a column decodes in place too and each later
  // one into a piece of its own, and the pieces are appended in order afterwards (on the caller:
  // the first basket is usually the column's largest, so it is not copied). (In order, a basket
  // that must wait for its counter's values sends itself and the rest of its column to pieces too.)
  const bool inOrder = threads == 1;
  bool anyPiece = false;
  if (!inOrder)
    for (std::size_t j = 0; j < count; ++j) {
      const bool first = j == 0 || work[j - 1].column != work[j].column;
      work[j].inPiece =
          !first && perColumn[work[j].column].baskets > 1 && t.data[plan.baskets[j].branch].decode != Decode::fixed;
      anyPiece |= work[j].inPiece != 0;
    }
  std::vector<std::uint8_t> diverted(inOrder ? out.size() : 0, 0);
  // Fixed-size columns are allocated by the first of their baskets' jobs, in parallel (once_flag
  // only where several baskets share a column: call_once costs a futex call each time).
  std::vector<std::once_flag> allocated(inOrder ? 0 : branches.size());
  auto allocate = [&](std::size_t k, const BranchData& b) {
    auto sized = [&] {
      out[k].data.resize(range.size() * b.innerSize * b.outWidth);
      out[k].entries = range.size();
    };
    if (inOrder || perColumn[k].baskets == 1)
      sized();
    else
      std::call_once(allocated[k], sized);
  };
  // The pieces' buffers are kept per calling thread between reads (a nested read of counters
  // takes none), so chunk after chunk their allocation and first-touch page faults are not
  // repeated. Only a read that uses pieces takes them.
  std::vector<Column> pieces;
  auto takePieces = [&] {
    if (pieces.size() >= count) return;
    pieces = std::move(piecePool());
    pieces.resize(std::max(pieces.size(), count));
  };
  if (anyPiece) takePieces();
  auto target = [&](std::size_t j) -> Column& { return work[j].inPiece ? pieces[j] : out[work[j].column]; };
  std::vector<double> seconds(stats ? count : 0, 0.0);
  // Baskets of counted branches written without entry offsets need their counter's values: they
  // wait, owning their bytes, until the parallel pass is over (rare: ROOT writes offsets for them).
  std::vector<std::unique_ptr<LoadedBasket>> waiting;
  std::mutex waitingMutex;  // guards the allocation of `waiting` only
  std::atomic<bool> anyWaiting{false};
  std::atomic<std::uint64_t> reused{0};
  // Jobs whose basket a read beside this one is loading (PartialBaskets::claim): run again once
  // the parallel pass is over, when that read has kept it.
  std::vector<std::size_t> deferred;
  const auto runJob = [&](std::size_t job, bool mayDefer) {
    if (job < fetchJobs) return fetched.fetch(job);
    const bool isSlice = job >= fetchJobs + count;  // a later slice of a basket (stats: its first job)
    const std::size_t j = isSlice ? slices[job - fetchJobs - count].basket : job - fetchJobs;
    auto& w = work[j];
    const auto& pb = plan.baskets[j];
    const auto& b = t.data[pb.branch];
    const auto& loc = b.baskets[pb.basket];
    // The entries this job decodes: the range's share of the basket, or one slice of it.
    auto lo = std::max(range.begin, loc.entryBegin);
    auto hi = std::min(range.end, loc.entryEnd);
    if (isSlice) {
      lo = slices[job - fetchJobs - count].lo;
      hi = slices[job - fetchJobs - count].hi;
    } else if (w.sliced) {  // up to its first slice (slices are listed in basket order)
      hi = std::lower_bound(slices.begin(), slices.end(), j, [](const Slice& x, std::size_t basket) {
             return x.basket < basket;
           })->lo;
    }
    ReadStats* const jobStats = isSlice ? nullptr : stats;
    std::span<const std::byte> record;
    if (!loc.embedded && !w.noFetch) {
      record = mapped.empty() ? fetched.wait(pb.bytes) : mapped.subspan(pb.bytes.offset, pb.bytes.size);
      if (record.empty()) return;  // its piece failed: that error is reported
    }
    const auto& where = b.where;
    if (perColumn[w.column].baskets == 1) resetColumn(out[w.column], b, range, keepsSizes(b), columnName(w.column));
    atBasket(t, b, pb.basket, [&] {
      // Embedded baskets of fixed-size values or counted leaves (NanoAOD: ~950 a read, most of
      // its work) decode from the tree's block where they lie, with nothing else to set up.
      if (loc.embedded && (b.decode == Decode::fixed || (b.countedRun && !loc.offsets.empty()))) {
        checkEmbedded(loc, where);
        const BasketBytes bytes{loc.content, loc.offsets, {}, 0};
        if (jobStats) sizes[j] = loc.content.size();
        if (b.decode == Decode::fixed) {
          allocate(w.column, b);
          return decodeFixed(b, bytes, loc, lo, hi,
                             out[w.column].data.data() + (lo - range.begin) * b.innerSize * b.outWidth, where);
        }
        if (inOrder && diverted[w.column]) {
          w.inPiece = 1;
          takePieces();
        }
        if (w.inPiece) resetColumn(pieces[j], b, range, true, b.info.name);
        if (decodeCountedRun(b, bytes, static_cast<std::size_t>(lo - loc.entryBegin),
                             static_cast<std::size_t>(hi - loc.entryBegin), target(j))) {
          if (w.inPiece) {
            trimCounted(pieces[j], b);
          } else if (perColumn[w.column].baskets == 1) {  // done: cut it while it is in cache
            trimCounted(out[w.column], b);
            perColumn[w.column].trimmed = true;
          }
          return;
        }
        if (w.inPiece) makeEmpty(pieces[j]);  // damaged: the general path below says how
      }
      if (w.direct) {
        allocate(w.column, b);
        const std::size_t outWidth = b.outWidth;
        const std::span<std::byte> dest{
            out[w.column].data.data() + (loc.entryBegin - range.begin) * b.innerSize * outWidth,
            (loc.entryEnd - loc.entryBegin) * b.innerSize * outWidth};
        if (readStoredInto(source, loc, dest, outWidth, where)) {
          if (stats) sizes[j] = dest.size();
          return;
        }
        record = fetchRecord(source, loc, t.context);  // not stored after all: the general path
      }
      LoadMode mode;
      mode.offsetsWhere = &b.offsetsWhere;
      mode.deferOffsets = b.countedRun;
      std::byte* dest = nullptr;
      const std::size_t outWidth = b.outWidth;
      if (b.decode == Decode::fixed) {
        allocate(w.column, b);
        dest = out[w.column].data.data() + (lo - range.begin) * b.innerSize * outWidth;
        // A whole basket of plain values: decompress into the column and swap there.
        if (lo == loc.entryBegin && hi == loc.entryEnd && b.entryStride == 0 && b.codec.mode == NumCodec::Mode::plain)
          mode.destination = {dest, (hi - lo) * b.innerSize * outWidth};
      }
      // A basket on disk this range cuts: fetched and decompressed once, its other part read from
      // memory (kept in PartialBaskets).
      const bool partial = cutBy(loc, range);  // not sliced
      std::shared_ptr<const LoadedBasket> kept = held.empty() ? nullptr : held[j];
      PartialBaskets::ClaimGuard claim;
      if (kept) {  // taken when the read was planned
        t.partialBaskets.use(pb.branch, pb.basket, kept.get(), hi - lo);
      } else if (partial) {  // kept since by a read running beside this one, or being loaded by it
        // Claimed only when it will be kept: decompressed, or fetched (a stored basket on a
        // mapped file is read from the mapping again).
        const bool keepable = mapped.empty() || b.info.compressedBytes != b.info.uncompressedBytes;
        auto [found, state] = t.partialBaskets.claim(pb.branch, pb.basket, hi - lo, keepable, /*wait=*/!mayDefer);
        if (state == PartialBaskets::Claim::busy) {
          // Its column's order: a column appended to in order sends this basket and the rest of
          // its baskets to pieces (as a basket waiting for its counter does); fixed-size values
          // are written in place, and with workers a column of several baskets uses pieces anyway.
          if (inOrder && b.decode != Decode::fixed && perColumn[w.column].baskets > 1) {
            diverted[w.column] = w.inPiece = 1;
            takePieces();
          }
          std::lock_guard lock(waitingMutex);
          deferred.push_back(job);
          return;
        }
        kept = std::move(found);
        if (state == PartialBaskets::Claim::claimed) {
          claim.baskets = &t.partialBaskets;
          claim.branch = pb.branch;
          claim.basket = pb.basket;
        }
      }
      LoadedBasket basket;
      if (kept) {
        basket = kept->view();
        reused.fetch_add(1, std::memory_order_relaxed);
      } else {
        if (record.size() != (loc.embedded ? 0 : loc.bytes))
          throw core::Exception(core::Errc::internal, where + ": basket bytes not fetched");
        basket = loadBasket(record, loc, where, jobStats ? &seconds[j] : nullptr, mode);  // timed only when asked
        // Kept when decompressed, or, stored, when its bytes were fetched (not mapped): the read
        // of its other part, before or after this one, then fetches nothing of it again. (Never a
        // sliced basket: only one the range holds whole is sliced, see sliceParts.)
        if (partial && !basket.inDestination && (basket.decompressed || mapped.empty())) {
          basket.own();
          kept = std::make_shared<const LoadedBasket>(std::move(basket));
          claim.baskets = nullptr;  // keep() ends the claim
          t.partialBaskets.keep(pb.branch, pb.basket, kept, hi - lo, loc.entryEnd - loc.entryBegin);
          basket = kept->view();
        }
      }
      if (jobStats) sizes[j] = basket.uncompressed;
      if (b.decode == Decode::fixed) {
        if (basket.inDestination)
          swapInPlace(dest, (hi - lo) * b.innerSize, outWidth);
        else
          decodeFixed(b, basket, loc, lo, hi, dest, where);
      } else if (b.decode == Decode::flat && !b.vectorHeader && !basket.hasOffsets() && b.counter >= 0) {
        basket.own();
        {
          std::lock_guard lock(waitingMutex);
          if (waiting.empty()) waiting.resize(count);
        }
        waiting[j] = std::make_unique<LoadedBasket>(std::move(basket));
        anyWaiting = true;
        if (inOrder && perColumn[w.column].baskets > 1) {
          diverted[w.column] = w.inPiece = 1;
          takePieces();
        }
      } else {
        if (inOrder && diverted[w.column]) {
          w.inPiece = 1;
          takePieces();
        }
        if (w.inPiece) resetColumn(pieces[j], b, range, b.countedRun, b.info.name);
        decodeBasket(b, basket, loc, lo, hi, target(j), nullptr, 0, where);
        if (w.inPiece && b.countedRun) trimCounted(pieces[j], b);
      }
    });
    if (threadScratch().capacity() > kScratchKeepBytes) threadScratch().release();
  };
  runSplit(t, plan, fetchJobs, slices, threads, options, stats, [&](std::size_t job) { runJob(job, true); });
  for (const auto job : deferred) runJob(job, false);  // holding no claim now, they may wait
  if (anyWaiting) {
    // The counters' values over the entries of the waiting baskets, then those baskets.
    std::map<std::size_t, std::pair<std::vector<std::int64_t>, std::uint64_t>> counterValues;
    for (std::size_t j = 0; j < count; ++j) {
      if (!waiting[j]) continue;
      const auto& b = t.data[plan.baskets[j].branch];
      const auto counter = static_cast<std::size_t>(b.counter);
      if (counterValues.count(counter)) continue;
      std::uint64_t lo = range.begin, hi = range.end;
      for (const auto& loc : b.baskets)
        if (loc.entryEnd > range.begin && loc.entryBegin < range.end) {
          lo = std::min(lo, loc.entryBegin);
          hi = std::max(hi, loc.entryEnd);
        }
      const auto& cb = t.data[counter];
      if (cb.decode != Decode::fixed || cb.innerSize != 1) continue;
      auto cols = readImpl(t, {counter}, {lo, hi}, options, nullptr);
      counterValues[counter] = {integerValues(cols[0]), lo};
    }
    runJobs(count, options, [&](std::size_t j) {
      if (!waiting[j]) return;
      const auto& pb = plan.baskets[j];
      const auto& b = t.data[pb.branch];
      const auto& loc = b.baskets[pb.basket];
      const std::vector<std::int64_t>* counts = nullptr;
      std::uint64_t countsBegin = 0;
      if (const auto it = counterValues.find(static_cast<std::size_t>(b.counter)); it != counterValues.end()) {
        counts = &it->second.first;
        countsBegin = it->second.second;
      }
      if (work[j].inPiece) resetColumn(pieces[j], b, range, false, b.info.name);
      decodeBasket(b, *waiting[j], loc, std::max(range.begin, loc.entryBegin), std::min(range.end, loc.entryEnd),
                   target(j), counts, countsBegin, basketWhere(t, b, pb.basket));
      waiting[j].reset();
    });
  }
  // Append pieces in basket order (the plan lists baskets in entry order per branch), into columns
  // sized for all of their pieces first.
  const bool usedPieces = !pieces.empty();
  if (usedPieces) {
    for (std::size_t k = 0; k < out.size(); ++k)
      if (perColumn[k].countedRun) trimCounted(out[k], t.data[branches[k]]);
    std::vector<std::size_t> dataBytes(out.size(), 0), firstLevel(out.size(), 0);
    for (std::size_t j = 0; j < count; ++j) {
      if (!work[j].inPiece) continue;
      dataBytes[work[j].column] += pieces[j].data.size();
      if (!pieces[j].offsets.empty()) firstLevel[work[j].column] += pieces[j].offsets[0].size();
    }
    for (std::size_t k = 0; k < out.size(); ++k) {
      if (dataBytes[k] == 0 && firstLevel[k] == 0) continue;
      out[k].data.reserve(dataBytes[k]);
      if (!out[k].offsets.empty()) out[k].offsets[0].reserve(firstLevel[k]);
    }
    for (std::size_t j = 0; j < count; ++j)
      if (work[j].inPiece) appendColumn(out[work[j].column], pieces[j]);
    std::size_t keptBytes = 0;
    for (const auto& piece : pieces) {
      keptBytes += piece.data.capacity();
      for (const auto& level : piece.offsets) keptBytes += level.capacity() * sizeof(std::uint64_t);
    }
    if (keptBytes <= kPiecesKeepBytes) piecePool() = std::move(pieces);
  }
  for (std::size_t k = 0; k < out.size(); ++k) {
    // Counted-run columns cut to what was decoded into them (see decodeCountedRun; with pieces,
    // done above before appending).
    if (!usedPieces && perColumn[k].countedRun && !perColumn[k].trimmed) trimCounted(out[k], t.data[branches[k]]);
    if (out[k].entries != range.size() || perColumn[k].covered != range.size())
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: branch \"{}\" has baskets for {} of the {} entries requested", t.context,
                                        t.data[branches[k]].info.name, perColumn[k].covered, range.size()));
  }
  if (stats) {
    stats->baskets += count;
    // The plan's requests, less the bytes of the kept baskets this read held (not fetched).
    std::vector<io::ByteRange> notHeld;
    if (!held.empty()) {
      for (std::size_t j = 0; j < count; ++j)
        if (!held[j] && plan.baskets[j].bytes.size > 0) notHeld.push_back(plan.baskets[j].bytes);
      notHeld = io::coalesce(std::move(notHeld), options.coalesceGap, options.maxRequestBytes);
    }
    const auto& requests = held.empty() ? plan.requests : notHeld;
    stats->requests += requests.size();
    for (const auto& r : requests) stats->compressedBytes += r.size;
    for (auto size : sizes) stats->uncompressedBytes += size;
    for (auto s : seconds) stats->decompressSeconds += s;
    stats->basketsReused += reused.load(std::memory_order_relaxed);
    stats->threads = std::max(stats->threads, threads);
  }
}

/// Shares a wide read (kBranchSplitMin branches or more: NanoAOD's ~950 small baskets, one per
/// branch) among threads by branch, when it is worth sharing (the work taken off the caller by
/// Tree::Impl::nanosPerEntry exceeds ReadOptions::parallelMinNanos): runs of consecutive branches
/// of about equal estimated cost, and readRun(begin, end, options without a pool, stats of the run)
/// reads `branches[begin, end)` on the thread that takes that run, alone. No basket's work entry,
/// column header or branch record is then written by one core and read by the other, as when its
/// baskets are shared one job at a time (~100 ns a basket, as much as the work it moves). False,
/// having done nothing, for any other read.
template <class F>
bool shareByBranch(const Tree::Impl& t, std::span<const std::size_t> branches, EntryRange range,
                   const ReadOptions& options, ReadStats* stats, F&& readRun) {
  const std::size_t threads = poolThreads(options);
  if (threads <= 1 || branches.size() < kBranchSplitMin) return false;
  double total = 0;  // per entry of the range
  for (auto bi : branches) total += t.nanosPerEntry[bi];
  const double share = 1.0 - 1.0 / static_cast<double>(threads);  // of the work, off the caller
  if (options.parallelMinNanos != 0 &&
      total * static_cast<double>(range.size()) * share <= static_cast<double>(options.parallelMinNanos))
    return false;
  // A branch costlier than a thread's fair share, of several baskets in the range (NanoAOD's
  // LHEPdfWeight: two zlib baskets, ~70% of a one-thread read since its embedded branches are
  // copied in one loop), would keep the thread that takes it busy after the others are done:
  // it is read first on its own, shared by basket, and the other branches are then shared by
  // branch as if it were not there.
  std::size_t heavy = branches.size();
  {
    std::size_t top = 0;
    for (std::size_t k = 1; k < branches.size(); ++k)
      if (t.nanosPerEntry[branches[k]] > t.nanosPerEntry[branches[top]]) top = k;
    std::size_t baskets = 0;
    for (const auto& loc : t.data[branches[top]].baskets)
      baskets += loc.entryEnd > range.begin && loc.entryBegin < range.end && loc.entryEnd > loc.entryBegin;
    if (baskets >= 2 && t.nanosPerEntry[branches[top]] > total / static_cast<double>(threads)) {
      heavy = top;
      readRun(heavy, heavy + 1, options, stats);
      total -= t.nanosPerEntry[branches[heavy]];
    }
  }
  // Reads branches [begin, end) alone, less the heavy one (read above).
  const auto readRunLess = [&](std::size_t begin, std::size_t end, const ReadOptions& alone, ReadStats* runStats) {
    if (heavy < begin || heavy >= end) return readRun(begin, end, alone, runStats);
    if (begin < heavy) readRun(begin, heavy, alone, runStats);
    if (heavy + 1 < end) readRun(heavy + 1, end, alone, runStats);
  };
  const auto cost = [&](std::size_t k) { return k == heavy ? 0.0 : static_cast<double>(t.nanosPerEntry[branches[k]]); };
  // Runs of branches ([begin, end) of `branches`), and which runs each thread takes (parts:
  // thread p takes runs [parts[p], parts[p + 1])).
  std::vector<std::pair<std::size_t, std::size_t>> runs;
  std::vector<std::size_t> parts{0};
  const std::size_t n = branches.size();
  if (threads == 2) {
    // The caller takes the run [a, b) whose cost is nearest half, the worker what is left on
    // either side: one costly branch (NanoAOD's one compressed branch) then shares evenly
    // wherever it lies, which one cut could not do.
    std::vector<double> prefix(n + 1, 0.0);
    for (std::size_t k = 0; k < n; ++k) prefix[k + 1] = prefix[k] + cost(k);
    const double half = total / 2;
    std::size_t bestA = 0, bestB = 0;
    double bestGap = half;
    for (std::size_t a = 0, b = 0; a < n; ++a) {
      b = std::max(b, a);
      while (b < n && prefix[b + 1] - prefix[a] <= half) ++b;
      for (const std::size_t end : {b, std::min(b + 1, n)}) {
        const double gap = std::abs(prefix[end] - prefix[a] - half);
        if (gap < bestGap) {
          bestGap = gap;
          bestA = a;
          bestB = end;
        }
      }
    }
    runs = {{bestA, bestB}, {0, bestA}, {bestB, n}};
    parts = {0, 1, 3};
  } else {
    const auto cuts = equalCostCuts(n, threads, total, cost);
    for (std::size_t p = 0; p < threads; ++p) {
      runs.emplace_back(cuts[p], cuts[p + 1]);
      parts.push_back(runs.size());
    }
  }
  std::vector<ReadStats> runStats(stats ? runs.size() : 0);
  ReadOptions alone = options;
  alone.pool = nullptr;
  const auto caller = std::this_thread::get_id();
  std::atomic<std::uint64_t> onWorkers{0};
  options.pool->parallelForParts(parts, [&](std::size_t r) {
    const auto [begin, end] = runs[r];
    if (begin >= end) return;
    if (stats && std::this_thread::get_id() != caller) onWorkers.fetch_add(1, std::memory_order_relaxed);
    readRunLess(begin, end, alone, stats ? &runStats[r] : nullptr);
  });
  if (stats) {
    for (const auto& rs : runStats) {
      stats->baskets += rs.baskets;
      stats->requests += rs.requests;
      stats->compressedBytes += rs.compressedBytes;
      stats->uncompressedBytes += rs.uncompressedBytes;
      stats->decompressSeconds += rs.decompressSeconds;
      stats->basketsReused += rs.basketsReused;
    }
    stats->jobsOnWorkers += onWorkers.load(std::memory_order_relaxed);
    std::size_t used = 0;
    for (std::size_t p = 0; p + 1 < parts.size(); ++p) {
      bool any = false;
      for (std::size_t r = parts[p]; r < parts[p + 1]; ++r) any |= runs[r].first < runs[r].second;
      used += any;
    }
    stats->threads = std::max(stats->threads, used);
  }
  return true;
}

/// Reads into `out` (resized to one column per branch): a wide read shared by branch
/// (shareByBranch), every other read by basket (readBaskets).
void readImpl(const Tree::Impl& t, const std::vector<std::size_t>& branches, EntryRange range,
              const ReadOptions& options, ReadStats* stats, std::vector<Column>& out,
              std::span<const std::string> names = {}) {
  range.end = std::min(range.end, t.entries);
  range.begin = std::min(range.begin, range.end);
  out.resize(branches.size());
  const auto readRun = [&](std::size_t begin, std::size_t end, const ReadOptions& alone, ReadStats* runStats) {
    readBaskets(t, std::span(branches).subspan(begin, end - begin), range, alone, runStats,
                std::span(out).subspan(begin, end - begin), names.empty() ? names : names.subspan(begin, end - begin));
  };
  if (!shareByBranch(t, branches, range, options, stats, readRun))
    readBaskets(t, branches, range, options, stats, out, names);
}

std::vector<Column> readImpl(const Tree::Impl& t, const std::vector<std::size_t>& branches, EntryRange range,
                             const ReadOptions& options, ReadStats* stats) {
  std::vector<Column> out;
  readImpl(t, branches, range, options, stats, out);
  return out;
}

}  // namespace

ReadPlan Tree::plan(const std::vector<std::string>& names, EntryRange range, const ReadOptions& options) const {
  range.end = std::min(range.end, impl_->entries);
  range.begin = std::min(range.begin, range.end);
  return makePlan(*impl_, resolve(*impl_, names), range, options);
}

std::vector<Column> Tree::read(const std::vector<std::string>& names, EntryRange range, const ReadOptions& options,
                               ReadStats* stats) const {
  return readImpl(*impl_, resolve(*impl_, names), range, options, stats);
}

void Tree::readInto(const std::vector<std::string>& names, EntryRange range, std::vector<Column>& columns,
                    const ReadOptions& options, ReadStats* stats) const {
  readImpl(*impl_, resolve(*impl_, names), range, options, stats, columns, names);
}

Column Tree::read(const std::string& name, EntryRange range, const ReadOptions& options) const {
  return std::move(read(std::vector<std::string>{name}, range, options).front());
}

namespace {

/// Tree::decompressOnly of some branches: fetched and shared among threads the way readBaskets
/// does (staged with workers), like for like.
std::uint64_t decompressBaskets(const Tree::Impl& t, std::span<const std::size_t> branches, EntryRange range,
                                const ReadOptions& options, ReadStats* stats) {
  const auto plan = makePlan(t, branches, range, options);
  const std::size_t threads = readThreads(t, plan, options, /*slicing=*/false);
  StagedFetch fetched(t, fetchPieces(plan, options, threads));
  const std::size_t fetchJobs = threads > 1 ? fetched.pieces() : 0;
  if (fetchJobs == 0) fetched.fetchAll();
  std::vector<std::uint64_t> sizes(plan.baskets.size(), 0);
  std::vector<double> seconds(plan.baskets.size(), 0.0);
  runSplit(t, plan, fetchJobs, {}, threads, options, stats, [&](std::size_t job) {
    if (job < fetchJobs) return fetched.fetch(job);
    const std::size_t j = job - fetchJobs;
    const auto& pb = plan.baskets[j];
    const auto& b = t.data[pb.branch];
    const auto& loc = b.baskets[pb.basket];
    std::span<const std::byte> record;
    if (!loc.embedded) {
      record = fetched.wait(pb.bytes);
      if (record.empty()) return;
    }
    LoadMode mode;
    mode.parseOffsets = false;
    atBasket(t, b, pb.basket,
             [&] { sizes[j] = loadBasket(record, loc, b.where, stats ? &seconds[j] : nullptr, mode).uncompressed; });
  });
  std::uint64_t total = 0;
  for (auto s : sizes) total += s;
  if (stats) {
    stats->baskets += plan.baskets.size();
    stats->requests += plan.requests.size();
    for (const auto& r : plan.requests) stats->compressedBytes += r.size;
    stats->uncompressedBytes += total;
    for (auto s : seconds) stats->decompressSeconds += s;
    stats->threads = std::max(stats->threads, threads);
  }
  return total;
}

}  // namespace

std::uint64_t Tree::decompressOnly(const std::vector<std::string>& names, EntryRange range, const ReadOptions& options,
                                   ReadStats* stats) const {
  range.end = std::min(range.end, impl_->entries);
  range.begin = std::min(range.begin, range.end);
  const auto branches = resolve(*impl_, names);
  // A wide read is shared by branch, as readImpl shares it.
  std::atomic<std::uint64_t> total{0};
  const auto readRun = [&](std::size_t begin, std::size_t end, const ReadOptions& alone, ReadStats* runStats) {
    total += decompressBaskets(*impl_, std::span(branches).subspan(begin, end - begin), range, alone, runStats);
  };
  if (shareByBranch(*impl_, branches, range, options, stats, readRun)) return total.load();
  return decompressBaskets(*impl_, branches, range, options, stats);
}

std::vector<EntryRange> Tree::chunks(std::uint64_t targetEntries) const {
  targetEntries = std::max<std::uint64_t>(targetEntries, 1);
  const auto& bounds = impl_->clusters;
  std::vector<EntryRange> out;
  std::uint64_t begin = 0;
  std::size_t ci = 1;
  while (begin < impl_->entries) {
    std::uint64_t end = begin;
    // Extend to cluster boundaries while the chunk stays within the target.
    while (ci < bounds.size() && bounds[ci] <= begin) ++ci;
    while (ci < bounds.size() && bounds[ci] - begin <= targetEntries) end = bounds[ci++];
    if (end == begin) end = std::min(impl_->entries, begin + targetEntries);  // a cluster larger than the target
    out.push_back({begin, end});
    begin = end;
  }
  return out;
}

namespace {

/// Asks the source to start fetching a chunk's coalesced ranges (remote sources; local ones ignore
/// it). Not the baskets the chunk before cuts: on a source that fetches, that read keeps them
/// (decompressed, or their fetched bytes when stored), and this chunk reads their rest from memory.
///
/// Nothing on a local file: its source has nothing to prefetch (it reads from a mapping or with
/// pread), and planning the chunk here would walk every branch's baskets once more per chunk.
void prefetchChunk(const Tree& tree, const std::vector<std::string>& names, EntryRange range,
                   const ReadOptions& options) {
  if (io::isLocal(*tree.file().source())) return;
  const auto plan = tree.plan(names, range, options);
  std::vector<io::ByteRange> ranges;
  bool leftOut = false;
  for (const auto& pb : plan.baskets) {
    if (pb.bytes.size == 0) continue;
    if (pb.entries.begin < range.begin) {
      leftOut = true;
      continue;
    }
    ranges.push_back(pb.bytes);
  }
  const auto requests =
      leftOut ? io::coalesce(std::move(ranges), options.coalesceGap, options.maxRequestBytes) : plan.requests;
  if (!requests.empty()) tree.file().source()->prefetch(requests);
}

}  // namespace

void Tree::forEachChunk(const std::vector<std::string>& names, std::uint64_t targetEntries,
                        const std::function<void(EntryRange, std::vector<Column>&)>& fn,
                        const ReadOptions& options) const {
  const auto branches = resolve(*impl_, names);
  const auto ranges = chunks(targetEntries);
  std::vector<Column> cols;  // kept across chunks: each read reuses the previous chunk's buffers
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (i + 1 < ranges.size()) prefetchChunk(*this, names, ranges[i + 1], options);
    readImpl(*impl_, branches, ranges[i], options, nullptr, cols, names);
    fn(ranges[i], cols);
  }
}

// ---- Chain ------------------------------------------------------------------------------------

Chain::Chain(const std::vector<std::string>& paths, const std::string& treePath) {
  for (const auto& p : paths) {
    auto f = File::open(p);
    trees_.push_back(f->tree(treePath));
    files_.push_back(f);
    offsets_.push_back(offsets_.back() + trees_.back().entries());
  }
}

std::vector<Column> Chain::read(const std::vector<std::string>& names, EntryRange range,
                                const ReadOptions& options) const {
  range.end = std::min(range.end, entries());
  range.begin = std::min(range.begin, range.end);
  std::vector<Column> out;
  for (std::size_t f = 0; f < trees_.size(); ++f) {
    const auto lo = std::max(range.begin, offsets_[f]);
    const auto hi = std::min(range.end, offsets_[f + 1]);
    if (lo >= hi) continue;
    auto cols = trees_[f].read(names, {lo - offsets_[f], hi - offsets_[f]}, options);
    if (out.empty()) {
      out = std::move(cols);
      for (auto& c : out) c.firstEntry = lo;
    } else {
      for (std::size_t k = 0; k < out.size(); ++k) appendColumn(out[k], cols[k]);
    }
  }
  if (out.empty())
    for (const auto& n : names) {
      Column c;
      c.name = n;
      c.firstEntry = range.begin;
      if (!trees_.empty()) {
        if (const auto* b = trees_[0].branch(n)) {
          c.type = b->type;
          c.innerShape = b->innerShape;
          c.offsets.assign(static_cast<std::size_t>(b->jaggedLevels), std::vector<std::uint64_t>{0});
        }
      }
      out.push_back(std::move(c));
    }
  return out;
}

void Chain::forEachChunk(const std::vector<std::string>& names, std::uint64_t targetEntries,
                         const std::function<void(EntryRange, std::vector<Column>&)>& fn,
                         const ReadOptions& options) const {
  // Every file's chunks in order, so the next chunk is prefetched across file boundaries too.
  std::vector<std::pair<std::size_t, EntryRange>> all;
  for (std::size_t f = 0; f < trees_.size(); ++f)
    for (const auto& r : trees_[f].chunks(targetEntries)) all.emplace_back(f, r);
  std::vector<Column> cols;  // kept across chunks (and files): each read reuses the previous buffers
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& [f, r] = all[i];
    if (i + 1 < all.size()) prefetchChunk(trees_[all[i + 1].first], names, all[i + 1].second, options);
    trees_[f].readInto(names, r, cols, options);
    const auto base = offsets_[f];
    for (auto& c : cols) c.firstEntry = r.begin + base;
    fn({r.begin + base, r.end + base}, cols);
  }
}

}  // namespace mlaas::root
