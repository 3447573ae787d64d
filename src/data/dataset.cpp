#include "data/dataset.hpp"

#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/thread_pool.hpp"
#include "root/file.hpp"
#include "root/ntuple.hpp"
#include "root/tree.hpp"

namespace mlaas::data {

// ---- Tree sources -----------------------------------------------------------------------------

namespace {

class MemoryTree final : public TreeSource {
 public:
  MemoryTree(std::string name, TreeSchema schema, std::vector<root::Column> columns)
      : name_(std::move(name)), schema_(std::move(schema)), columns_(std::move(columns)) {
    entries_ = columns_.empty() ? 0 : columns_.front().entries;
  }
  const std::string& name() const noexcept override { return name_; }
  std::uint64_t entries() const noexcept override { return entries_; }
  TreeSchema schema() const override { return schema_; }
  std::vector<std::uint64_t> clusterBoundaries() const override { return {0, entries_}; }
  std::vector<root::Column> read(const std::vector<std::string>& branches, std::uint64_t begin,
                                 std::uint64_t end) const override {
    end = std::min(end, entries_);
    begin = std::min(begin, end);
    std::vector<root::Column> out;
    for (const auto& name : branches) {
      auto it = std::find_if(columns_.begin(), columns_.end(), [&](const root::Column& c) { return c.name == name; });
      if (it == columns_.end())
        throw core::Exception(core::Errc::not_found, fmt::format("{}: no branch '{}'", name_, name));
      out.push_back(slice(*it, begin, end));
    }
    return out;
  }

 private:
  static root::Column slice(const root::Column& column, std::uint64_t begin, std::uint64_t end) {
    root::Column out;
    out.name = column.name;
    out.type = column.type;
    out.firstEntry = begin;
    out.entries = end - begin;
    out.innerShape = column.innerShape;
    const std::size_t width = root::dtypeSize(column.type) * column.innerSize();
    std::uint64_t first = begin, last = end;
    for (const auto& level : column.offsets) {
      // Offsets index the sliced data: rebase them to start at 0, as the reader does.
      auto& rebased = out.offsets.emplace_back(level.begin() + static_cast<std::ptrdiff_t>(first),
                                               level.begin() + static_cast<std::ptrdiff_t>(last) + 1);
      for (auto& offset : rebased) offset -= level[first];
      first = level[first];
      last = level[last];
    }
    out.data.assign(column.data.begin() + static_cast<std::ptrdiff_t>(first * width),
                    column.data.begin() + static_cast<std::ptrdiff_t>(last * width));
    return out;
  }

  std::string name_;
  TreeSchema schema_;
  std::vector<root::Column> columns_;
  std::uint64_t entries_ = 0;
};

// How the dataset layer sees one branch or field of the reader: one value per event, a list (its
// counter, or its own name when it has none: std::vector branches, RNTuple collections), or not a
// feature and why. TTrees and RNTuples share it, so the same config reads either.
BranchInfo featureInfo(const root::BranchInfo& branch) {
  BranchInfo info;
  info.name = branch.name;
  info.type = branch.type;
  std::size_t inner = 1;
  for (auto d : branch.innerShape) inner *= d;
  if (!branch.supported) {
    info.unsupported = branch.unsupportedReason;
  } else if (branch.type == root::DType::string) {
    info.unsupported = "strings cannot be features";
  } else if (branch.jaggedLevels == 0) {
    if (inner > 1) info.list = branch.name;  // x[k]: a list of k per event
  } else if (branch.jaggedLevels == 1 && inner == 1) {
    info.list = branch.counterBranch.empty() ? branch.name : branch.counterBranch;
  } else {
    info.unsupported = fmt::format("{}: nested lists cannot be features yet", branch.typeName);
  }
  return info;
}

// What the reader describes a tree's or an RNTuple's columns with.
const std::vector<root::BranchInfo>& columnsOf(const root::Tree& tree) { return tree.branches(); }
const std::vector<root::BranchInfo>& columnsOf(const root::NTuple& ntuple) { return ntuple.fields(); }

// A TTree (Reader = root::Tree) or an RNTuple (root::NTuple) of an open file. For an RNTuple the
// top-level fields are the branches: RVec/std::vector fields are lists named after themselves (a
// group ties the projected fields of one collection, Muon_pt, Muon_eta, ..., as it ties
// std::vector branches), cardinality fields (nMuon) are flat counts. Both readers are const and
// read through the file's thread-safe source, so workers read units side by side.
template <class Reader>
class ReaderTree final : public TreeSource {
 public:
  ReaderTree(std::shared_ptr<const root::File> file, Reader reader, std::string name)
      : file_(std::move(file)), reader_(std::move(reader)), name_(std::move(name)) {}
  const std::string& name() const noexcept override { return name_; }
  std::uint64_t entries() const noexcept override { return reader_.entries(); }
  TreeSchema schema() const override {
    TreeSchema schema;
    for (const auto& column : columnsOf(reader_)) schema.push_back(featureInfo(column));
    return schema;
  }
  std::vector<std::uint64_t> clusterBoundaries() const override { return reader_.clusterBoundaries(); }
  std::vector<root::Column> read(const std::vector<std::string>& branches, std::uint64_t begin,
                                 std::uint64_t end) const override {
    return reader_.read(branches, root::EntryRange{begin, end});
  }
  void readInto(const std::vector<std::string>& branches, std::uint64_t begin, std::uint64_t end,
                std::vector<root::Column>& columns) const override {
    reader_.readInto(branches, root::EntryRange{begin, end}, columns);
  }

 private:
  std::shared_ptr<const root::File> file_;
  Reader reader_;
  std::string name_;
};

bool isUrl(const std::string& path) { return path.find("://") != std::string::npos; }

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash;
}

std::string baseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

TreeSourcePtr memoryTree(std::string name, TreeSchema schema, std::vector<root::Column> columns) {
  return std::make_shared<MemoryTree>(std::move(name), std::move(schema), std::move(columns));
}

TreeSourcePtr openTree(const std::string& pathOrUrl, const std::string& treePath) {
  std::shared_ptr<const root::File> file = root::File::open(pathOrUrl);
  // The same name may be a TTree in one file and an RNTuple in another (a production moving to
  // RNTuple): the file says which.
  if (file->isRNTuple(treePath)) {
    auto ntuple = file->ntuple(treePath);
    return std::make_shared<ReaderTree<root::NTuple>>(std::move(file), std::move(ntuple), pathOrUrl);
  }
  auto tree = file->tree(treePath);
  return std::make_shared<ReaderTree<root::Tree>>(std::move(file), std::move(tree), pathOrUrl);
}

namespace {

std::string_view shapeOf(const BranchInfo& branch) {
  if (!branch.unsupported.empty()) return "not readable as a feature";
  return branch.list.empty() ? "one value per event" : "a list per event";
}

// Files are read with the first file's plan: a branch the plan reads that is a list in one file
// and a single value in another would be misread, so it is refused, naming both files. Branches
// the plan does not read may differ (productions add and change branches).
void checkSameShapes(const Inputs& inputs, const std::vector<std::string>& branches) {
  if (inputs.trees.size() < 2) return;
  std::map<std::string_view, const BranchInfo*> first;
  for (const auto& branch : inputs.schema) first.emplace(branch.name, &branch);
  const std::set<std::string_view> read(branches.begin(), branches.end());
  for (std::size_t t = 1; t < inputs.trees.size(); ++t)
    for (const auto& branch : inputs.trees[t]->schema()) {
      if (read.count(branch.name) == 0) continue;
      const auto it = first.find(branch.name);
      if (it == first.end() || shapeOf(*it->second) == shapeOf(branch)) continue;
      throw core::Exception(core::Errc::invalid_argument,
                            fmt::format("inputs: branch '{}' is {} in '{}' but {} in '{}' (the first file); "
                                        "every input must store a branch the same way",
                                        branch.name, shapeOf(branch), inputs.trees[t]->name(), shapeOf(*it->second),
                                        inputs.trees.front()->name()));
    }
}

}  // namespace

Inputs makeInputs(std::vector<TreeSourcePtr> trees, std::vector<std::optional<double>> labels) {
  Inputs inputs;
  if (labels.size() != trees.size()) labels.resize(trees.size());
  for (const auto& tree : trees) inputs.records.push_back(describeInput(tree->name(), tree->entries()));
  if (!trees.empty()) inputs.schema = trees.front()->schema();
  inputs.trees = std::move(trees);
  inputs.labels = std::move(labels);
  return inputs;
}

Inputs openInputs(const DatasetConfig& config) {
  // Globs expanded first, then every file checked to be listed once, then opened: a file listed
  // twice (two overlapping globs, or a glob and a name) would count its events twice, perhaps
  // with two labels, and is refused before any (perhaps remote) file is opened.
  struct Listed {
    std::string path;
    const InputFile* from;
  };
  std::vector<Listed> listed;
  std::map<std::string, const Listed*> byIdentity;
  for (const auto& file : config.files) {
    std::vector<std::string> paths;
    if (!isUrl(file.path) && file.path.find_first_of("*?[") != std::string::npos) {
      glob_t matches{};
      int status = ::glob(file.path.c_str(), 0, nullptr, &matches);
      for (std::size_t i = 0; status == 0 && i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
      globfree(&matches);
      if (paths.empty()) throwConfigError(file.at, fmt::format("'{}' matches no file", file.path));
      std::sort(paths.begin(), paths.end());
    } else {
      paths.push_back(file.path);
    }
    for (auto& path : paths) listed.push_back({std::move(path), &file});
  }
  for (const auto& entry : listed) {
    const auto [seen, added] = byIdentity.try_emplace(inputIdentity(entry.path), &entry);
    if (added) continue;
    const auto matched = [](const Listed& l) {
      return l.path == l.from->path ? std::string() : fmt::format(" (matched by '{}')", l.from->path);
    };
    throwConfigError(entry.from->at,
                     fmt::format("file '{}'{} is listed twice (first{} at {}): its events would count twice",
                                 entry.path, matched(entry), matched(*seen->second), toString(seen->second->from->at)));
  }
  std::vector<TreeSourcePtr> trees;
  std::vector<std::optional<double>> labels;
  for (const auto& entry : listed) {
    try {
      trees.push_back(openTree(entry.path, config.tree));
    } catch (const core::Exception& e) {
      throw core::Exception(e.code(), fmt::format("{}: {}", toString(entry.from->at), e.what()));
    }
    labels.push_back(entry.from->label);
  }
  return makeInputs(std::move(trees), std::move(labels));
}

// ---- Work units ---------------------------------------------------------------------------------

namespace {

struct Unit {
  std::uint32_t file = 0;
  std::uint64_t begin = 0, end = 0;
};

// Ranges of about chunkEntries entries, ending on cluster boundaries when the clusters allow.
std::vector<Unit> unitsOfFile(const TreeSource& tree, std::uint32_t file, std::size_t chunkEntries) {
  std::vector<Unit> units;
  auto boundaries = tree.clusterBoundaries();
  const std::uint64_t entries = tree.entries();
  if (boundaries.empty() || boundaries.back() != entries) boundaries = {0, entries};
  std::uint64_t begin = 0;
  for (std::size_t i = 1; i < boundaries.size(); ++i) {
    std::uint64_t boundary = boundaries[i];
    // A cluster longer than a chunk is split evenly.
    while (boundary - begin > 2 * chunkEntries) {
      units.push_back({file, begin, begin + chunkEntries});
      begin += chunkEntries;
    }
    if (boundary - begin >= chunkEntries || i + 1 == boundaries.size()) {
      if (boundary > begin) units.push_back({file, begin, boundary});
      begin = boundary;
    }
  }
  return units;
}

struct ProcessedUnit {
  std::uint64_t entries = 0;
  std::uint64_t selected = 0;
  double readSeconds = 0;
};

// Entries prepared at a time: the arrays of a slice (a few hundred kB) stay in cache while the
// selection, the statistics or the transform use them, and their buffers are reused slice after
// slice. Reads stay per unit: the reader decompresses whole baskets.
constexpr std::size_t kSliceEntries = 4096;

// Column buffers kept between units: each thread takes a set, reads a unit into it (the reader
// reuses the capacity of the columns already there) and gives it back, so unit after unit reads
// without allocating and page-faulting megabytes of fresh buffers.
class ColumnSets {
 public:
  std::vector<root::Column> take() {
    std::lock_guard lock(mutex_);
    if (sets_.empty()) return {};
    auto set = std::move(sets_.back());
    sets_.pop_back();
    return set;
  }
  void give(std::vector<root::Column> set) {
    std::lock_guard lock(mutex_);
    sets_.push_back(std::move(set));
  }

 private:
  std::mutex mutex_;
  std::vector<std::vector<root::Column>> sets_;
};

// Reads a unit into `columns`, then prepares it slice by slice and calls onSlice(chunk, events,
// first) for each, `events` being the indices (in the slice's chunk) of the selected events of
// `split` and `first` the slice's first entry relative to the unit.
template <class OnSlice>
core::Result<void> forEachSlice(const Plan& plan, const Inputs& inputs, const Unit& unit, Split split,
                                ProcessedUnit& info, std::vector<root::Column>& columns, OnSlice&& onSlice) {
  const auto& tree = *inputs.trees[unit.file];
  auto started = std::chrono::steady_clock::now();
  try {
    tree.readInto(plan.branches(), unit.begin, unit.end, columns);
  } catch (const core::Exception& e) {
    // The reader's errors already start with the file's name ("f.root: tree ..."): not twice.
    if (e.error().message.starts_with(tree.name())) return core::fail(e.error());
    return core::fail(e.error().withContext(tree.name()));
  } catch (const std::exception& e) {
    return core::fail(core::Errc::internal, fmt::format("{}: {}", tree.name(), e.what()));
  }
  info.readSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::size_t entries = columns.empty() ? static_cast<std::size_t>(unit.end - unit.begin)
                                              : static_cast<std::size_t>(columns.front().entries);
  const auto& splitConfig = plan.config().split;
  const std::uint64_t fileKey = fnv1a(baseName(tree.name()));
  Chunk chunk;
  std::vector<std::uint32_t> events;
  for (std::size_t first = 0; first < entries || (entries == 0 && first == 0); first += kSliceEntries) {
    const std::size_t count = std::min(kSliceEntries, entries - first);
    auto prepared = plan.prepare(columns, first, count, std::move(chunk));
    if (!prepared)
      return core::fail(std::move(prepared).error().withContext(
          fmt::format("{}, entries {}..{}", tree.name(), unit.begin, unit.end)));
    chunk = std::move(*prepared);
    auto selected = plan.select(chunk);
    if (!selected) return core::fail(std::move(selected).error().withContext(tree.name()));
    events.clear();
    if (splitConfig.train >= 1) {
      // Every event is in the training split (splitOf's uniform draw is always < 1): no keys to hash.
      if (split == Split::train)
        for (std::size_t e = 0; e < count; ++e)
          if ((*selected)[e] != 0) events.push_back(static_cast<std::uint32_t>(e));
    } else {
      auto keys = plan.splitKeys(columns, fileKey, unit.begin + first, count, first);
      for (std::size_t e = 0; e < count; ++e)
        if ((*selected)[e] != 0 && splitOf(keys[e], splitConfig) == split)
          events.push_back(static_cast<std::uint32_t>(e));
    }
    info.entries += count;
    info.selected += events.size();
    MLAAS_TRY(onSlice(static_cast<const Chunk&>(chunk), std::span<const std::uint32_t>(events), first));
    if (entries == 0) break;
  }
  return {};
}

// mask[k] = slot[k] < counts[countIndex[k]] for k < width (counts[0] = 255: always real).
void expandMaskPortable(const std::uint8_t* countIndex, const std::uint8_t* slot, const std::uint8_t* counts,
                        std::size_t width, std::uint8_t* mask) noexcept {
  for (std::size_t k = 0; k < width; ++k) mask[k] = static_cast<std::uint8_t>(slot[k] < counts[countIndex[k]]);
}

#if defined(__x86_64__)
// The same, 16 bytes at a time: one byte shuffle looks up each byte's count (at most 16 counts).
__attribute__((target("ssse3"))) void expandMaskSsse3(const std::uint8_t* countIndex, const std::uint8_t* slot,
                                                      const std::uint8_t* counts, std::size_t width,
                                                      std::uint8_t* mask) noexcept {
  const __m128i table = _mm_loadu_si128(reinterpret_cast<const __m128i*>(counts));
  const __m128i one = _mm_set1_epi8(1);
  std::size_t k = 0;
  for (; k + 16 <= width; k += 16) {
    const __m128i count = _mm_shuffle_epi8(table, _mm_loadu_si128(reinterpret_cast<const __m128i*>(countIndex + k)));
    const __m128i slots = _mm_loadu_si128(reinterpret_cast<const __m128i*>(slot + k));
    const __m128i padded = _mm_cmpeq_epi8(_mm_max_epu8(slots, count), slots);  // slot >= count
    _mm_storeu_si128(reinterpret_cast<__m128i*>(mask + k), _mm_andnot_si128(padded, one));
  }
  expandMaskPortable(countIndex + k, slot + k, counts, width - k, mask + k);
}
#endif

using ExpandMask = void (*)(const std::uint8_t*, const std::uint8_t*, const std::uint8_t*, std::size_t,
                            std::uint8_t*) noexcept;
ExpandMask expandMaskKernel() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("ssse3") != 0) return &expandMaskSsse3;
#endif
  return &expandMaskPortable;
}

// Copies `bytes` into memory that nothing will read soon (a unit's records, drawn from when the
// assembler gets to the unit): whole lines stored past the cache (no read of each destination
// line before it is overwritten), then a fence so the stores are visible before a hand-off.
void streamCopy(std::byte* to, const std::byte* from, std::size_t bytes) noexcept {
#if defined(__x86_64__)
  const std::size_t head = std::min(bytes, (16 - reinterpret_cast<std::uintptr_t>(to) % 16) % 16);
  std::memcpy(to, from, head);
  to += head, from += head, bytes -= head;
  for (; bytes >= 64; bytes -= 64, to += 64, from += 64) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 16));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 32));
    const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(to), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(to + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(to + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(to + 48), d);
  }
  std::memcpy(to, from, bytes);
  _mm_sfence();
#else
  std::memcpy(to, from, bytes);
#endif
}

// Rows packed one after another: each row's tensors, masks, label, weight and event reference in
// `stride` contiguous bytes (the transform writes tensors and masks or counts through rowTarget,
// setTail the rest). The shuffle draws rows at random from megabytes of them, and each draw misses
// the cache: a record costs the lines it spans, where a Batch row spans a line or two in each of
// its seven separate arrays, and the misses, not the bytes, are what the copy waits for. So
// records are kept small: the masks are stored as one count per group (a row's real slots come
// first, Transform::maskSlots) and expanded when a row is appended to a batch: on the 1M-event
// file 216 bytes (4-5 lines) instead of 264 (5-6).
class RowRecords {
 public:
  struct Layout {
    std::vector<std::size_t> tensorBytes, tensorAt;  ///< per tensor: bytes per row, offset in the record
    std::vector<std::size_t> maskBytes, maskAt;      ///< per mask: bytes per row, offset (raw masks only)
    std::size_t labelAt = 0, weightAt = 0, fileAt = 0, entryAt = 0, stride = 0;
    // Counted masks: a row's masks are stored as its `groups` counts (bytes, from the transform's
    // RowTarget::counts) at countsAt, and mask byte k (the masks one after another, mask i from
    // maskFirst[i]) is slot[k] < count[countIndex[k]], count[0] being 255 (always real) and
    // count[g + 1] group g's.
    bool countedMasks = false;
    std::size_t groups = 0, countsAt = 0;
    std::vector<std::uint8_t> countIndex, slot;
    std::vector<std::size_t> maskFirst;
    ExpandMask expand = expandMaskKernel();

    // The counted form serves masks that follow from at most 15 groups' counts of at most 255
    // slots; any other layout stores its mask bytes.
    Layout(const Batch& like, const std::vector<Transform::MaskSlot>& slots, std::size_t groupCount)
        : groups(groupCount) {
      std::size_t at = 0;
      for (const auto& spec : like.tensorSpecs) {
        tensorAt.push_back(at);
        at += tensorBytes.emplace_back(spec.width() * sizeof(float));
      }
      std::size_t maskWidth = 0;
      for (const auto& spec : like.maskSpecs) maskWidth += maskBytes.emplace_back(spec.width());
      countedMasks = maskWidth != 0 && groups <= 15 && slots.size() == maskWidth;
      for (const auto& s : slots)
        if ((s.group != Transform::kAlwaysReal && s.group >= groups) || s.slot >= 255) countedMasks = false;
      if (countedMasks) {
        std::size_t k = 0;
        for (auto bytes : maskBytes) {
          maskFirst.push_back(k);
          for (std::size_t b = 0; b < bytes; ++b, ++k) {
            const bool always = slots[k].group == Transform::kAlwaysReal;
            countIndex.push_back(static_cast<std::uint8_t>(always ? 0 : slots[k].group + 1));
            slot.push_back(static_cast<std::uint8_t>(slots[k].slot));
          }
        }
      } else {
        for (auto bytes : maskBytes) {
          maskAt.push_back(at);
          at += bytes;
        }
      }
      labelAt = at;
      weightAt = at + sizeof(float);
      fileAt = at + 2 * sizeof(float);
      entryAt = at + 3 * sizeof(float);
      at = entryAt + sizeof(std::uint64_t);
      countsAt = at;
      if (countedMasks) at += groups;
      stride = (at + 7) / 8 * 8;
    }

    // Calls field(pointer into the batch's row `row`, offset in the record, bytes) for every
    // field stored as bytes (what appendTo copies into a batch).
    template <class Field>
    void forEachField(Batch& batch, std::size_t row, Field&& field) const {
      for (std::size_t i = 0; i < tensorBytes.size(); ++i)
        field(reinterpret_cast<std::byte*>(batch.tensors[i].data()) + row * tensorBytes[i], tensorAt[i],
              tensorBytes[i]);
      for (std::size_t i = 0; i < maskAt.size(); ++i)
        field(batch.masks[i].data() + row * maskBytes[i], maskAt[i], maskBytes[i]);
      field(&batch.labels[row], labelAt, sizeof(float));
      field(&batch.weights[row], weightAt, sizeof(float));
      field(&batch.events[row].file, fileAt, sizeof(std::uint32_t));
      field(&batch.events[row].entry, entryAt, sizeof(std::uint64_t));
    }
  };

  explicit RowRecords(const Layout& layout) : layout_(&layout) {}

  std::size_t rows = 0;

  /// Room for `capacity` records, keeping the first `rows`. At least one, so that a slice that
  /// selects no event still hands the transform and memcpy real (not null) pointers.
  void reserve(std::size_t capacity) {
    capacity = std::max<std::size_t>(capacity, 1);
    if (capacity <= capacity_) return;
    constexpr std::size_t kAlign = 64;
    std::vector<std::byte> grown(capacity * layout_->stride + kAlign);
    std::byte* base = alignedBase(grown);
    if (rows != 0) std::memcpy(base, data_, rows * layout_->stride);
    storage_ = std::move(grown);
    data_ = base;
    capacity_ = capacity;
  }
  /// Records firstRow.. as rows 0.. of a RowTarget: the transform writes tensors, raw masks and
  /// group counts straight into them (room already made: reserve).
  RowTarget rowTarget(std::size_t firstRow) {
    const Layout& l = *layout_;
    std::byte* first = data_ + firstRow * l.stride;
    RowTarget target;
    for (std::size_t i = 0; i < l.tensorAt.size(); ++i) {
      target.tensors.push_back(reinterpret_cast<float*>(first + l.tensorAt[i]));
      target.tensorStrides.push_back(l.stride / sizeof(float));
    }
    for (std::size_t i = 0; i < l.maskAt.size(); ++i) {
      target.masks.push_back(reinterpret_cast<std::uint8_t*>(first + l.maskAt[i]));
      target.maskStrides.push_back(l.stride);
    }
    if (l.countedMasks && l.groups != 0) {  // no groups: flat masks, all ones, nothing to store
      target.counts = reinterpret_cast<std::uint8_t*>(first + l.countsAt);
      target.countsStride = l.stride;
    }
    return target;
  }
  /// The label, weight and event reference of record `row`.
  void setTail(std::size_t row, float label, float weight, EventRef event) noexcept {
    const Layout& l = *layout_;
    std::byte* record = data_ + row * l.stride;
    std::memcpy(record + l.labelAt, &label, sizeof label);
    std::memcpy(record + l.weightAt, &weight, sizeof weight);
    std::memcpy(record + l.fileAt, &event.file, sizeof event.file);
    std::memcpy(record + l.entryAt, &event.entry, sizeof event.entry);
  }
  /// Appends record `row` to `out` as its next row (room for it already made).
  void appendTo(Batch& out, std::size_t row) const {
    const Layout& l = *layout_;
    const std::byte* record = data_ + row * l.stride;
    const std::size_t to = out.rows;
    l.forEachField(out, to,
                   [&](void* field, std::size_t at, std::size_t bytes) { std::memcpy(field, record + at, bytes); });
    if (l.countedMasks && !out.masks.empty()) {
      std::uint8_t counts[16] = {255};
      std::memcpy(counts + 1, record + l.countsAt, l.groups);
      for (std::size_t i = 0; i < out.masks.size(); ++i)
        l.expand(l.countIndex.data() + l.maskFirst[i], l.slot.data() + l.maskFirst[i], counts, l.maskBytes[i],
                 out.masks[i].data() + to * l.maskBytes[i]);
    }
    out.rows = to + 1;
  }
  /// Records 0..count of `from` (same layout) as records `row`.. of this, streamed past the cache
  /// or copied through it.
  void copyFrom(std::size_t row, const RowRecords& from, std::size_t count, bool stream) noexcept {
    if (stream)
      streamCopy(data_ + row * layout_->stride, from.data_, count * layout_->stride);
    else
      std::memcpy(data_ + row * layout_->stride, from.data_, count * layout_->stride);
  }
  [[nodiscard]] std::size_t stride() const noexcept { return layout_->stride; }
  /// Record `row` = record `fromRow` of `from` (same layout).
  void copy(std::size_t row, const RowRecords& from, std::size_t fromRow) noexcept {
    std::memcpy(data_ + row * layout_->stride, from.data_ + fromRow * layout_->stride, layout_->stride);
  }
  /// A hint only: every cache line of record `row`.
  void prefetch(std::size_t row) const noexcept {
    constexpr std::uintptr_t kLine = 64;
    const auto begin = reinterpret_cast<std::uintptr_t>(data_ + row * layout_->stride);
    for (std::uintptr_t line = begin & ~(kLine - 1); line < begin + layout_->stride; line += kLine)
      __builtin_prefetch(reinterpret_cast<const void*>(line));
  }

 private:
  static std::byte* alignedBase(std::vector<std::byte>& storage) {
    const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    return storage.data() + ((64 - address % 64) % 64);
  }

  const Layout* layout_;
  std::vector<std::byte> storage_;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
};

}  // namespace

std::size_t passThreads(std::size_t requested, const DatasetConfig& config, std::uint64_t entries) {
  if (requested != 0) return requested;
  if (config.batch.threads != 0) return config.batch.threads;
  return entries <= kInlineEntries ? 1 : core::ThreadPool::hardwareThreads();
}

std::uint64_t totalEntries(const Inputs& inputs) noexcept {
  std::uint64_t entries = 0;
  for (const auto& tree : inputs.trees) entries += tree->entries();
  return entries;
}

// ---- Pass 1: statistics ---------------------------------------------------------------------------

Specs computeSpecs(const Plan& plan, const Inputs& inputs, const StatsOptions& options) {
  checkSameShapes(inputs, plan.branches());
  const auto& config = plan.config();
  std::vector<Unit> units;
  for (std::uint32_t f = 0; f < inputs.trees.size(); ++f) {
    auto fileUnits = unitsOfFile(*inputs.trees[f], f, config.batch.chunkEntries);
    units.insert(units.end(), fileUnits.begin(), fileUnits.end());
  }
  struct Partial {
    std::map<std::string, FeatureStats> features;
    std::map<std::string, GroupStats> groups;
    ProcessedUnit info;
  };
  Specs specs;
  specs.configHash = config.statsHash();
  specs.tree = config.tree;
  specs.inputs = inputs.records;
  specs.schema = plan.readSchema();  // computed once with the plan: NanoAOD trees have ~1,500 branches

  // Partials are merged in unit order as they complete: the result does not depend on timing,
  // and at most about `threads` partials wait in memory.
  std::mutex mergeMutex;
  std::map<std::size_t, Partial> pending;
  std::size_t nextMerge = 0;
  auto mergeReady = [&] {
    for (auto it = pending.find(nextMerge); it != pending.end(); it = pending.find(nextMerge)) {
      for (auto& [name, stats] : it->second.features) {
        // The first partial of a feature is taken whole: merging into an empty one would copy its
        // sketch's buckets into a fresh array (the same result, a fixed cost on small inputs).
        auto [into, first] = specs.features.try_emplace(name, std::move(stats));  // leaves stats alone if present
        if (!first) into->second.merge(stats);
      }
      for (auto& [name, stats] : it->second.groups) specs.groups[name].merge(stats);
      specs.entries += it->second.info.entries;
      specs.selected += it->second.info.selected;
      pending.erase(it);
      ++nextMerge;
    }
  };

  const std::size_t threads = passThreads(options.threads, config, totalEntries(inputs));
  core::ThreadPool pool(threads > 1 ? threads - 1 : 0);
  ColumnSets columnSets;
  pool.parallelFor(units.size(), [&](std::size_t u) {
    Partial partial;
    for (const auto& group : plan.groups()) partial.groups[group.name].list = group.list;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> runs;  // [first, last) event ranges
    auto columns = columnSets.take();
    auto done = forEachSlice(
        plan, inputs, units[u], Split::train, partial.info, columns,
        [&](const Chunk& chunk, std::span<const std::uint32_t> events, std::size_t) -> core::Result<void> {
          // Consecutive selected events own consecutive values: feed each run of them as one span
          // straight from the array, without copying.
          runs.clear();
          for (std::size_t i = 0; i < events.size();) {
            std::size_t j = i + 1;
            while (j < events.size() && events[j] == events[j - 1] + 1) ++j;
            runs.emplace_back(events[i], events[j - 1] + 1);
            i = j;
          }
          auto feed = [&](FeatureStats& stats, const Array& array) {
            for (auto [first, last] : runs) {
              const std::size_t begin = array.offsets ? static_cast<std::size_t>((*array.offsets)[first]) : first;
              const std::size_t end = array.offsets ? static_cast<std::size_t>((*array.offsets)[last]) : last;
              stats.add(std::span<const double>(array.values).subspan(begin, end - begin));
            }
          };
          for (const auto& name : plan.flatFeatures()) feed(partial.features[name], *chunk.find(name));
          for (const auto& group : plan.groups()) {
            if (group.members.empty()) continue;
            auto& groupStats = partial.groups[group.name];
            const Array& first = *chunk.find(group.members.front());
            for (auto e : events) groupStats.add(first.count(e));
            for (const auto& member : group.members) feed(partial.features[member], *chunk.find(member));
          }
          return {};
        });
    columnSets.give(std::move(columns));
    if (!done) throw core::Exception(std::move(done).error());
    std::lock_guard lock(mergeMutex);
    pending.emplace(u, std::move(partial));
    mergeReady();
  });
  for (const auto& name : plan.flatFeatures()) (void)specs.features[name];
  for (const auto& group : plan.groups()) {
    specs.groups[group.name].list = group.list;
    for (const auto& member : group.members) (void)specs.features[member];
  }
  return specs;
}

// ---- Pass 2: the pipeline ----------------------------------------------------------------------

struct Dataset::Impl {
  std::shared_ptr<const Plan> plan;
  std::shared_ptr<const Transform> transform;
  Inputs inputs;
  DatasetOptions options;
  bool shuffle = true;
  std::size_t threads = 1;
  std::size_t prefetch = 4;

  // Epoch state, guarded by mutex.
  std::mutex mutex;
  std::condition_variable workChanged;    // workers and assembler
  std::condition_variable outputChanged;  // assembler and consumer
  std::vector<Unit> units;
  std::size_t nextUnit = 0;
  std::size_t nextToAssemble = 0;
  std::map<std::size_t, core::Result<std::shared_ptr<RowRecords>>> done;
  std::deque<std::unique_ptr<Batch>> ready;
  std::vector<std::unique_ptr<Batch>> spare;
  std::unique_ptr<Batch> current;
  std::optional<core::Error> error;
  bool finished = false;
  bool stopping = false;
  bool started = false;
  bool inlineEpoch = false;  // the epoch was processed in start(), in the caller's thread
  std::size_t epoch = 0;
  DatasetCounters counters;

  std::vector<std::thread> workers;
  std::thread assembler;
  ColumnSets columnSets;  // kept across epochs: the second epoch reads into warm buffers
  std::optional<RowRecords> shuffleStore;  // the shuffle buffer's rows, kept across epochs

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    workChanged.notify_all();
    outputChanged.notify_all();
    for (auto& worker : workers) worker.join();
    workers.clear();
    if (assembler.joinable()) assembler.join();
  }

  std::vector<Unit> epochUnits(std::size_t forEpoch) const {
    const auto& config = plan->config();
    std::vector<std::size_t> files(inputs.trees.size());
    std::iota(files.begin(), files.end(), 0);
    std::mt19937_64 rng(mix64(config.shuffle.seed) ^ mix64(forEpoch + 0x51ed));
    if (shuffle && config.shuffle.files) std::shuffle(files.begin(), files.end(), rng);
    std::vector<Unit> all;
    // Shards are dealt whole units: an input with fewer units than shards would leave a worker of
    // data-parallel training with nothing (HZZ's 2,421 entries are one unit). Such inputs are cut
    // into units small enough that each shard gets about two.
    std::size_t chunkEntries = config.batch.chunkEntries;
    if (options.shards > 1) {
      chunkEntries = static_cast<std::size_t>(std::min<std::uint64_t>(
          chunkEntries, std::max<std::uint64_t>(1, totalEntries(inputs) / (2 * options.shards))));
    }
    // Interleave chunks of `interleave` files at a time, round-robin.
    const std::size_t width = shuffle ? config.shuffle.interleave : 1;
    for (std::size_t start = 0; start < files.size(); start += width) {
      std::vector<std::vector<Unit>> group;
      for (std::size_t f = start; f < std::min(files.size(), start + width); ++f)
        group.push_back(
            unitsOfFile(*inputs.trees[files[f]], static_cast<std::uint32_t>(files[f]), chunkEntries));
      for (std::size_t k = 0;; ++k) {
        bool any = false;
        for (const auto& fileUnits : group)
          if (k < fileUnits.size()) {
            all.push_back(fileUnits[k]);
            any = true;
          }
        if (!any) break;
      }
    }
    std::vector<Unit> mine;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (i % options.shards == options.shard) mine.push_back(all[i]);
    return mine;
  }

  // Reads, selects and transforms a unit slice by slice: the transform writes each slice's rows
  // as records into `staging` (at most a slice of rows, in cache), with their labels, weights and
  // event references, and the slice is then copied into the unit's records in one pass.
  core::Result<std::shared_ptr<RowRecords>> process(const Unit& unit, std::vector<root::Column>& columns,
                                                    RowRecords& staging) {
    ProcessedUnit info;
    auto records = acquireChunkRecords();
    records->reserve(
        static_cast<std::size_t>(unit.end - unit.begin));  // once per unit, not per slice (no regrowth copies)
    // A unit's records larger than this leave the cache before the assembler draws from them:
    // they are streamed past it. Smaller ones (a small file, an epoch run in the caller) may still
    // be there when drawn, so they are copied through it.
    constexpr std::size_t kStreamBytes = 8 << 20;
    const bool stream = static_cast<std::size_t>(unit.end - unit.begin) * records->stride() >= kStreamBytes;
    auto processed = forEachSlice(
        *plan, inputs, unit, options.split, info, columns,
        [&](const Chunk& chunk, std::span<const std::uint32_t> events, std::size_t first) -> core::Result<void> {
          staging.reserve(events.size());
          MLAAS_TRY(transform->apply(chunk, events, staging.rowTarget(0)));
          auto labels = plan->labels(chunk, inputs.labels[unit.file]);
          if (!labels) return core::fail(std::move(labels).error());
          auto weights = plan->weights(chunk);
          if (!weights) return core::fail(std::move(weights).error());
          for (std::size_t r = 0; r < events.size(); ++r)
            staging.setTail(r, (*labels)[events[r]], (*weights)[events[r]],
                            EventRef{unit.file, unit.begin + first + events[r]});
          records->copyFrom(records->rows, staging, events.size(), stream);
          records->rows += events.size();
          return {};
        });
    if (!processed) return core::fail(std::move(processed).error());
    std::lock_guard lock(mutex);
    counters.entriesRead += info.entries;
    counters.selected += info.selected;
    counters.readSeconds += info.readSeconds;
    return records;
  }

  void workerLoop() {
    std::vector<root::Column> columns = columnSets.take();
    struct GiveBack {
      ColumnSets& sets;
      std::vector<root::Column>& columns;
      ~GiveBack() { sets.give(std::move(columns)); }
    } giveBack{columnSets, columns};
    StagingRecords staging(*this);
    while (true) {
      std::size_t index = 0;
      {
        std::unique_lock lock(mutex);
        workChanged.wait(lock,
                         [&] { return stopping || nextUnit >= units.size() || nextUnit < nextToAssemble + prefetch; });
        if (stopping || nextUnit >= units.size()) return;
        index = nextUnit++;
      }
      auto result = process(units[index], columns, *staging.records);
      {
        std::lock_guard lock(mutex);
        done.emplace(index, std::move(result));
      }
      workChanged.notify_all();
    }
  }

  // Each worker's staging records (a slice of rows), kept across epochs like the column buffers
  // (a fresh buffer per epoch would page-fault again).
  std::vector<std::unique_ptr<RowRecords>> stagingPool;
  struct StagingRecords {
    Impl& impl;
    std::unique_ptr<RowRecords> records;
    explicit StagingRecords(Impl& owner) : impl(owner), records(owner.takeRecords(owner.stagingPool)) {}
    ~StagingRecords() {
      std::lock_guard lock(impl.mutex);
      impl.stagingPool.push_back(std::move(records));
    }
    StagingRecords(const StagingRecords&) = delete;
    StagingRecords& operator=(const StagingRecords&) = delete;
  };

  // Chunk-sized record buffers are recycled too: a fresh multi-megabyte buffer per chunk costs
  // page faults and zero-filling comparable to the transform itself. The deleter hands a buffer
  // back when the assembler is done with its chunk.
  std::optional<RowRecords::Layout> recordLayout;  // set in the constructor
  std::vector<std::unique_ptr<RowRecords>> chunkPool;
  // An empty record buffer from `pool` (staging or chunk buffers), or a new one.
  std::unique_ptr<RowRecords> takeRecords(std::vector<std::unique_ptr<RowRecords>>& pool) {
    std::unique_ptr<RowRecords> records;
    {
      std::lock_guard lock(mutex);
      if (!pool.empty()) {
        records = std::move(pool.back());
        pool.pop_back();
      }
    }
    if (!records) records = std::make_unique<RowRecords>(*recordLayout);
    records->rows = 0;
    return records;
  }
  std::shared_ptr<RowRecords> acquireChunkRecords() {
    return {takeRecords(chunkPool).release(), [this](RowRecords* returned) {
              std::lock_guard lock(mutex);
              chunkPool.emplace_back(returned);
            }};
  }

  std::unique_ptr<Batch> acquire() {
    std::lock_guard lock(mutex);
    std::unique_ptr<Batch> batch;
    if (!spare.empty()) {
      batch = std::move(spare.back());
      spare.pop_back();
    } else {
      batch = std::make_unique<Batch>(transform->makeBatch());
    }
    batch->clear();
    batch->grow(plan->config().batch.size);  // one allocation check per batch, not per row
    return batch;
  }

  // Queues a full batch; false when stopping.
  bool publish(std::unique_ptr<Batch> batch) {
    std::unique_lock lock(mutex);
    outputChanged.wait(lock, [&] { return stopping || inlineEpoch || ready.size() < prefetch; });
    if (stopping) return false;
    counters.rows += batch->rows;
    ready.push_back(std::move(batch));
    lock.unlock();
    outputChanged.notify_all();
    return true;
  }

  void finish(std::optional<core::Error> failure) {
    {
      std::lock_guard lock(mutex);
      if (failure && !error) error = std::move(failure);
      finished = true;
      stopping = true;  // workers still prefetching (after a limit or an error) stop early
    }
    workChanged.notify_all();
    outputChanged.notify_all();
  }

  void assemblerLoop(std::size_t forEpoch) {
    const auto& config = plan->config();
    const std::size_t batchSize = config.batch.size;
    const std::size_t bufferSize = shuffle ? config.shuffle.buffer : 0;
    std::mt19937_64 rng(mix64(config.shuffle.seed + 0x9e37) ^ mix64(forEpoch) ^ mix64(options.shard + 0x77));
    // Slot i of the shuffle buffer holds either a row of the chunk being scanned (buffer[i] =
    // row | kInChunk) or row i of `store`. A row drawn while its chunk is current is copied once,
    // straight into the batch; only the rows still buffered when the chunk is done are copied into
    // the store (about `buffer` rows per chunk), and the chunk is released. So draws read from the
    // current chunk and a store of `buffer` rows, both mostly in cache, instead of from tens of
    // megabytes of older chunk buffers that a few stragglers each would keep alive.
    constexpr std::uint32_t kInChunk = 0x80000000U;
    if (!shuffleStore) shuffleStore.emplace(*recordLayout);
    RowRecords& store = *shuffleStore;
    store.rows = 0;
    std::vector<std::uint32_t> buffer;
    buffer.reserve(std::min<std::size_t>(bufferSize, 1 << 20));
    std::vector<std::uint32_t> touched;  // slots given a row of the current chunk
    std::unique_ptr<Batch> out = acquire();
    std::uint64_t emitted = 0;
    const std::uint64_t limit = options.limit;
    auto emit = [&](const RowRecords& chunk, std::size_t row) -> bool {
      chunk.appendTo(*out, row);  // acquire() made room for a whole batch
      ++emitted;
      if (out->rows == batchSize) {
        if (!publish(std::move(out))) return false;
        out = acquire();
      }
      return limit == 0 || emitted < limit;
    };
    constexpr std::size_t kAhead = 16;
    std::array<std::size_t, kAhead> ahead{};
    std::size_t aheadNext = 0;
    bool aheadFilled = false;
    bool more = true;
    for (std::size_t i = 0; more && i < units.size(); ++i) {
      std::shared_ptr<const RowRecords> chunk;
      {
        std::unique_lock lock(mutex);
        workChanged.wait(lock, [&] { return stopping || done.count(i) != 0; });
        if (stopping) return;
        auto node = done.extract(i);
        nextToAssemble = i + 1;
        lock.unlock();
        workChanged.notify_all();
        if (!node.mapped()) {
          finish(std::move(node.mapped()).error());
          return;
        }
        chunk = std::move(*node.mapped());
      }
      if (chunk->rows >= kInChunk) {
        finish(core::Error{
            core::Errc::invalid_argument,
            fmt::format("a chunk of {} rows is too large to shuffle; lower batch.chunk_entries", chunk->rows)});
        return;
      }
      auto slotRow = [&](std::size_t slot) -> std::pair<const RowRecords*, std::size_t> {
        if ((buffer[slot] & kInChunk) != 0) return {chunk.get(), buffer[slot] & ~kInChunk};
        return {&store, slot};
      };
      touched.clear();
      for (std::size_t r = 0; more && r < chunk->rows; ++r) {
        if (bufferSize <= 1) {
          more = emit(*chunk, r);
        } else if (buffer.size() < bufferSize) {
          touched.push_back(static_cast<std::uint32_t>(buffer.size()));
          buffer.push_back(static_cast<std::uint32_t>(r) | kInChunk);
        } else {
          // Slots are drawn kAhead emissions early so that their rows are already on their way
          // into the cache when they are copied (a slot refilled meanwhile just wastes its
          // prefetch). Same seed, same sequence of draws.
          if (!aheadFilled) {
            for (auto& slot : ahead) {
              slot = static_cast<std::size_t>(rng() % bufferSize);
              auto [from, row] = slotRow(slot);
              from->prefetch(row);
            }
            aheadFilled = true;
          }
          const std::size_t j = ahead[aheadNext];
          ahead[aheadNext] = static_cast<std::size_t>(rng() % bufferSize);
          {
            auto [from, row] = slotRow(ahead[aheadNext]);
            from->prefetch(row);
          }
          aheadNext = (aheadNext + 1) % kAhead;
          auto [from, row] = slotRow(j);
          more = emit(*from, row);
          buffer[j] = static_cast<std::uint32_t>(r) | kInChunk;
          touched.push_back(static_cast<std::uint32_t>(j));
        }
      }
      if (!more) break;
      // The chunk's rows still buffered move into the store before the chunk is released.
      if (store.rows < buffer.size()) {
        // Doubling while the buffer fills: a buffer much larger than a chunk is copied O(log) times.
        store.reserve(std::min<std::size_t>(bufferSize, std::max(buffer.size(), 2 * store.rows)));
        store.rows = buffer.size();
      }
      for (auto slot : touched)
        if ((buffer[slot] & kInChunk) != 0) {
          store.copy(slot, *chunk, buffer[slot] & ~kInChunk);
          buffer[slot] = 0;
        }
    }
    // Drain the buffer in random order (every buffered row is in the store by now): perm[i] is
    // the store row in slot i, swapped exactly as the slots themselves would be.
    std::vector<std::uint32_t> perm(more ? buffer.size() : 0);
    std::iota(perm.begin(), perm.end(), 0U);
    for (std::size_t k = perm.size(); more && k > 0; --k) {
      std::size_t j = static_cast<std::size_t>(rng() % k);
      std::swap(perm[j], perm[k - 1]);
      more = emit(store, perm[k - 1]);
    }
    if (out && out->rows != 0 && !(config.batch.dropLast && out->rows < batchSize)) {
      if (!publish(std::move(out))) return;
    }
    finish(std::nullopt);
  }
};

Dataset::Dataset(std::shared_ptr<const Plan> plan, std::shared_ptr<const Transform> transform, Inputs inputs,
                 DatasetOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (options.shards == 0 || options.shard >= options.shards)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("shard {} of {}: need 0 <= shard < shards", options.shard, options.shards));
  checkSameShapes(inputs, plan->branches());
  impl_->plan = std::move(plan);
  impl_->transform = std::move(transform);
  impl_->inputs = std::move(inputs);
  impl_->options = options;
  const auto& config = impl_->plan->config();
  impl_->shuffle = options.shuffle.value_or(config.shuffle.enabled);
  impl_->threads = passThreads(options.threads, config, totalEntries(impl_->inputs));
  impl_->prefetch = std::max<std::size_t>(config.batch.prefetch, 1);
  impl_->recordLayout.emplace(impl_->transform->makeBatch(), impl_->transform->maskSlots(),
                              impl_->plan->groups().size());
}

Dataset::~Dataset() {
  impl_->stop();
  impl_->done.clear();  // returns pooled chunk batches while the pool is alive
}

void Dataset::start(std::size_t epoch) {
  auto& d = *impl_;
  d.stop();
  d.units = d.epochUnits(epoch);
  d.nextUnit = 0;
  d.nextToAssemble = 0;
  d.done.clear();
  while (!d.ready.empty()) {
    d.spare.push_back(std::move(d.ready.front()));
    d.ready.pop_front();
  }
  if (d.current) d.spare.push_back(std::move(d.current));
  d.error.reset();
  d.finished = false;
  d.stopping = false;
  d.started = true;
  d.epoch = epoch;
  d.counters = {};
  std::uint64_t entries = 0;
  for (const auto& unit : d.units) entries += unit.end - unit.begin;
  d.inlineEpoch = d.threads == 1 && entries <= kInlineEntries;
  if (d.inlineEpoch) {
    // A small epoch runs here and now: the same units, order and shuffle, without threads.
    auto columns = d.columnSets.take();
    {
      Impl::StagingRecords staging(d);
      for (std::size_t i = 0; i < d.units.size(); ++i)
        d.done.emplace(i, d.process(d.units[i], columns, *staging.records));
    }
    d.columnSets.give(std::move(columns));
    d.assemblerLoop(epoch);
    return;
  }
  for (std::size_t t = 0; t < d.threads; ++t) d.workers.emplace_back([&d] { d.workerLoop(); });
  d.assembler = std::thread([&d, epoch] { d.assemblerLoop(epoch); });
}

core::Result<const Batch*> Dataset::next() {
  auto& d = *impl_;
  if (!d.started) start(0);
  std::unique_lock lock(d.mutex);
  if (d.current) d.spare.push_back(std::move(d.current));
  d.outputChanged.wait(lock, [&] { return !d.ready.empty() || d.finished || d.error.has_value(); });
  if (d.error) return core::fail(*d.error);
  if (!d.ready.empty()) {
    d.current = std::move(d.ready.front());
    d.ready.pop_front();
    lock.unlock();
    d.outputChanged.notify_all();
    return static_cast<const Batch*>(d.current.get());
  }
  return static_cast<const Batch*>(nullptr);
}

const Transform& Dataset::transform() const noexcept { return *impl_->transform; }

DatasetCounters Dataset::counters() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counters;
}

double readOnlySeconds(const Inputs& inputs, const std::vector<std::string>& branches, std::size_t chunkEntries,
                       std::size_t threads) {
  std::vector<Unit> units;
  for (std::uint32_t f = 0; f < inputs.trees.size(); ++f) {
    auto fileUnits = unitsOfFile(*inputs.trees[f], f, chunkEntries);
    units.insert(units.end(), fileUnits.begin(), fileUnits.end());
  }
  auto started = std::chrono::steady_clock::now();
  core::ThreadPool pool(threads > 1 ? threads - 1 : 0);
  ColumnSets columnSets;  // reused like the passes do, so both sides read into warm buffers
  pool.parallelFor(units.size(), [&](std::size_t u) {
    auto columns = columnSets.take();
    inputs.trees[units[u].file]->readInto(branches, units[u].begin, units[u].end, columns);
    columnSets.give(std::move(columns));
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace mlaas::data
