#include "root/file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "root/compression.hpp"
#include "root/cursor.hpp"
#include "root/tree.hpp"

namespace mlaas::root {

struct File::Impl {
  io::SourcePtr source;
  int version = 0;
  bool large = false;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  int compress = 0;
  std::uint64_t seekInfo = 0;
  std::uint32_t nbytesInfo = 0;
  std::vector<KeyInfo> topKeys;
  std::vector<ObjectEntry> all;  // every object, recursed
  StreamerInfos streamers;

  /// While File::open runs (one thread), the blocks it read: the header block holds the top
  /// directory's key and record, and the StreamerInfo key is read again with its payload, so each
  /// byte of the file's metadata is fetched once. Only the header block is kept after open: it is
  /// never written again, so concurrent readers only read it.
  bool opening = false;
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> openBlocks;

  std::vector<std::byte> read(std::uint64_t offset, std::uint64_t size, const std::string& what) {
    if (offset > source->size() || size > source->size() - offset)
      throw core::Exception(core::Errc::corrupt,
                            fmt::format("{}: {} at offset {} ({} bytes) lies beyond the end of the file ({} bytes)",
                                        source->name(), what, offset, size, source->size()));
    for (const auto& [at, bytes] : openBlocks)
      if (offset >= at && offset + size <= at + bytes.size()) {
        const auto* from = bytes.data() + (offset - at);
        return {from, from + size};
      }
    auto r = source->readRange(offset, size);
    if (!r) throw core::Exception(r.error());
    if (opening) openBlocks.emplace_back(offset, *r);
    return std::move(*r);
  }
};

KeyInfo parseKey(std::span<const std::byte> bytes, std::uint64_t fileOffset, const std::string& context) {
  Cursor c(bytes, static_cast<std::int64_t>(fileOffset), context);
  KeyInfo k;
  const auto nbytes = c.i32();
  const auto version = c.i16();
  const auto objlen = c.i32();
  c.u32();
  const auto keylen = c.i16();
  k.cycle = c.i16();
  if (version > 1000) {
    k.seekKey = static_cast<std::uint64_t>(c.i64());
    c.i64();
  } else {
    k.seekKey = static_cast<std::uint32_t>(c.i32());
    c.i32();
  }
  k.className = c.string();
  k.name = c.string();
  k.title = c.string();
  if (nbytes < 0 || objlen < 0 || keylen < 0 || keylen > nbytes || static_cast<std::size_t>(keylen) < c.index())
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: key at offset {} is inconsistent (fNbytes {}, fObjlen {}, fKeylen {})",
                                      context, fileOffset, nbytes, objlen, keylen));
  k.nbytes = static_cast<std::uint32_t>(nbytes);
  k.objlen = static_cast<std::uint32_t>(objlen);
  k.keylen = static_cast<std::uint16_t>(keylen);
  return k;
}

namespace {

struct DirRecord {
  std::uint64_t seekKeys = 0;
  std::uint32_t nbytesKeys = 0;
};

DirRecord parseDirRecord(std::span<const std::byte> bytes, std::uint64_t offset, const std::string& context) {
  Cursor c(bytes, static_cast<std::int64_t>(offset), context);
  DirRecord d;
  const auto version = c.i16();
  c.u32();
  c.u32();
  const auto nbytesKeys = c.i32();
  c.i32();
  if (version > 1000) {
    c.i64();
    c.i64();
    d.seekKeys = static_cast<std::uint64_t>(c.i64());
  } else {
    c.i32();
    c.i32();
    d.seekKeys = static_cast<std::uint32_t>(c.i32());
  }
  if (nbytesKeys < 0) c.fail("negative key list size");
  d.nbytesKeys = static_cast<std::uint32_t>(nbytesKeys);
  return d;
}

bool isDirectory(const std::string& cls) { return cls == "TDirectory" || cls == "TDirectoryFile"; }

}  // namespace

File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
File::~File() = default;

std::shared_ptr<File> File::open(const std::string& pathOrUrl) {
  auto r = io::open(pathOrUrl);
  if (!r) throw core::Exception(r.error());
  return open(std::move(*r));
}

std::shared_ptr<File> File::open(io::SourcePtr source) {
  auto impl = std::make_unique<Impl>();
  impl->source = std::move(source);
  Impl& f = *impl;
  const std::string& name = f.source->name();
  if (f.source->size() < 64)
    throw core::Exception(
        core::Errc::corrupt,
        fmt::format("{}: not a ROOT file ({} bytes is shorter than the 64-byte header)", name, f.source->size()));
  f.opening = true;
  // 4 KiB: the header and, in every file ROOT writes (fBEGIN = 100), the top directory's key and
  // record in the same read.
  const auto head = f.read(0, std::min<std::uint64_t>(f.source->size(), 4096), "file header");
  if (std::memcmp(head.data(), "root", 4) != 0)
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: not a ROOT file (no \"root\" magic at offset 0)", name));
  const std::string headerContext = name + ": file header";
  Cursor c(head, 0, headerContext);
  c.skip(4);
  int version = c.i32();
  f.begin = c.u32();
  if (version >= 1000000) {
    f.large = true;
    version -= 1000000;
    f.end = c.u64();
    c.u64();
    c.i32();
    c.i32();
    c.i32();
    c.u8();
    f.compress = c.i32();
    f.seekInfo = c.u64();
    f.nbytesInfo = c.u32();
  } else {
    f.end = c.u32();
    c.u32();
    c.i32();
    c.i32();
    c.i32();
    c.u8();
    f.compress = c.i32();
    f.seekInfo = c.u32();
    f.nbytesInfo = c.u32();
  }
  f.version = version;
  if (f.end > f.source->size())
    throw core::Exception(
        core::Errc::corrupt,
        fmt::format("{}: file is truncated: the header (fEND at offset 12) says {} bytes but there are {}", name, f.end,
                    f.source->size()));
  if (f.begin < 64 || f.begin >= f.source->size())
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("{}: file header: fBEGIN {} is outside the file ({} bytes) at offset 8", name,
                                      f.begin, f.source->size()));

  // Top directory: its key at fBEGIN, then the TNamed (name, title) and the TDirectory record.
  const auto topKeyBytes =
      f.read(f.begin, std::min<std::uint64_t>(f.source->size() - f.begin, 1024), "top directory key");
  const auto topKey = parseKey(topKeyBytes, f.begin, name + ": top directory key");
  if (topKey.keylen > topKeyBytes.size())
    throw core::Exception(
        core::Errc::corrupt,
        fmt::format("{}: top directory key: fKeylen {} runs past the file at offset {}", name, topKey.keylen, f.begin));
  {
    const std::string topContext = name + ": top directory";
    Cursor n(std::span<const std::byte>(topKeyBytes).subspan(topKey.keylen),
             static_cast<std::int64_t>(f.begin + topKey.keylen), topContext);
    n.string();
    n.string();
    const auto dirStart = f.begin + topKey.keylen + n.index();
    const auto dirBytes = f.read(dirStart, std::min<std::uint64_t>(f.source->size() - dirStart, 64), "top directory");
    const auto dir = parseDirRecord(dirBytes, dirStart, name + ": top directory record");

    // Walk directories breadth first; each key list is read once.
    struct Pending {
      std::string prefix;
      DirRecord record;
      int depth;
    };
    std::vector<Pending> queue{{"", dir, 0}};
    for (std::size_t qi = 0; qi < queue.size(); ++qi) {
      const auto p = queue[qi];
      if (p.record.seekKeys == 0 || p.record.nbytesKeys == 0) continue;
      if (p.depth > 32) throw core::Exception(core::Errc::corrupt, name + ": directories nested deeper than 32");
      const std::string where = fmt::format("{}: key list of directory \"{}\"", name, p.prefix);
      const auto keysBytes = f.read(p.record.seekKeys, p.record.nbytesKeys, where);
      const auto listKey = parseKey(keysBytes, p.record.seekKeys, where);
      if (listKey.keylen > keysBytes.size())
        throw core::Exception(core::Errc::corrupt,
                              fmt::format("{}: fKeylen {} is longer than the key list ({} bytes) at offset {}", where,
                                          listKey.keylen, keysBytes.size(), p.record.seekKeys));
      Cursor k(std::span<const std::byte>(keysBytes).subspan(listKey.keylen),
               static_cast<std::int64_t>(p.record.seekKeys + listKey.keylen), where);
      const auto nkeys = k.i32();
      if (nkeys < 0 || static_cast<std::size_t>(nkeys) > k.remaining() / 26)
        k.fail(fmt::format("key count {} does not fit the key list", nkeys));
      for (std::int32_t i = 0; i < nkeys; ++i) {
        const auto start = k.index();
        KeyInfo key = parseKey(k.data().subspan(start), static_cast<std::uint64_t>(k.position()), where);
        // Step by the bytes the key parsed to, not by fKeylen (they differ in old files).
        {
          Cursor again(k.data().subspan(start), k.position(), where);
          again.i32();
          const auto v = again.i16();
          again.skip(4 + 4 + 2 + 2);
          again.skip(v > 1000 ? 16 : 8);
          again.string();
          again.string();
          again.string();
          k.seekIndex(start + again.index());
        }
        if (key.seekKey > f.source->size() || key.nbytes > f.source->size() - key.seekKey)
          throw core::Exception(
              core::Errc::corrupt,
              fmt::format("{}: key \"{}\" points at {} ({} bytes), beyond the end of the file ({} bytes)", where,
                          key.name, key.seekKey, key.nbytes, f.source->size()));
        const std::string path = p.prefix.empty() ? key.name : p.prefix + "/" + key.name;
        if (p.depth == 0) f.topKeys.push_back(key);
        f.all.push_back({path, key});
        if (isDirectory(key.className)) {
          const auto recStart = key.seekKey + key.keylen;
          const auto recBytes = f.read(recStart, std::min<std::uint64_t>(f.source->size() - recStart, 64),
                                       "directory " + path);
          queue.push_back({path, parseDirRecord(recBytes, recStart, fmt::format("{}: directory \"{}\"", name, path)),
                           p.depth + 1});
        }
      }
    }
  }

  auto file = std::make_shared<File>(std::move(impl));
  // Streamer infos (a file may legitimately have none).
  if (file->impl_->seekInfo > file->impl_->begin && file->impl_->nbytesInfo > 0) {
    auto& fi = *file->impl_;
    const auto head2 = fi.read(fi.seekInfo, std::min<std::uint64_t>(fi.nbytesInfo, fi.source->size() - fi.seekInfo),
                               "StreamerInfo record");
    const auto key = parseKey(head2, fi.seekInfo, name + ": StreamerInfo key");
    const auto payload = file->readPayload(key);
    file->impl_->streamers = StreamerInfos::parse(payload, key.keylen, name + ": StreamerInfo record");
  }
  // Keep the 4 KiB header block (small files keep their trees there); drop the rest.
  file->impl_->opening = false;
  file->impl_->openBlocks.resize(1);
  file->impl_->openBlocks.shrink_to_fit();
  return file;
}

const std::string& File::name() const noexcept { return impl_->source->name(); }
std::uint64_t File::size() const noexcept { return impl_->source->size(); }
int File::version() const noexcept { return impl_->version; }
bool File::largeFile() const noexcept { return impl_->large; }
int File::compression() const noexcept { return impl_->compress; }
const io::SourcePtr& File::source() const noexcept { return impl_->source; }
const std::vector<KeyInfo>& File::keys() const noexcept { return impl_->topKeys; }
const StreamerInfos& File::streamers() const noexcept { return impl_->streamers; }

std::vector<ObjectEntry> File::objects() const {
  std::map<std::string, ObjectEntry> best;
  std::vector<std::string> order;
  for (const auto& e : impl_->all) {
    auto it = best.find(e.path);
    if (it == best.end()) {
      order.push_back(e.path);
      best.emplace(e.path, e);
    } else if (e.key.cycle > it->second.key.cycle) {
      it->second = e;
    }
  }
  std::vector<ObjectEntry> out;
  for (const auto& p : order) out.push_back(best.at(p));
  return out;
}

std::vector<std::string> File::treePaths() const {
  std::vector<std::string> out;
  for (const auto& e : objects())
    if (e.key.className == "TTree" || e.key.className == "TNtuple" || e.key.className == "TNtupleD")
      out.push_back(e.path);
  return out;
}

namespace {
bool isRNTupleClass(std::string_view className) {
  return className == "ROOT::RNTuple" || className == "ROOT::Experimental::RNTuple";
}
}  // namespace

std::vector<std::string> File::rntuplePaths() const {
  std::vector<std::string> out;
  for (const auto& e : objects())
    if (isRNTupleClass(e.key.className)) out.push_back(e.path);
  return out;
}

bool File::isRNTuple(const std::string& path) const { return isRNTupleClass(find(path).key.className); }

ObjectEntry File::find(const std::string& pathWithCycle) const {
  std::string path = pathWithCycle;
  int cycle = -1;
  if (const auto semi = path.rfind(';'); semi != std::string::npos) {
    cycle = std::atoi(path.c_str() + semi + 1);
    path.resize(semi);
  }
  while (!path.empty() && path.front() == '/') path.erase(0, 1);
  const ObjectEntry* found = nullptr;
  for (const auto& e : impl_->all) {
    if (e.path != path) continue;
    if (cycle >= 0 ? e.key.cycle == cycle : (!found || e.key.cycle > found->key.cycle)) found = &e;
  }
  if (!found) throw core::Exception(core::Errc::not_found, fmt::format("{}: no object \"{}\"", name(), pathWithCycle));
  return *found;
}

std::vector<std::byte> File::readPayload(const KeyInfo& key) const {
  const std::string what =
      fmt::format("{}: object \"{}\" ({}) at offset {}", name(), key.name, key.className, key.seekKey);
  auto record = impl_->read(key.seekKey, key.nbytes, "record of \"" + key.name + "\"");
  const std::span<const std::byte> stored = std::span(record).subspan(key.keylen);
  if (!key.compressed()) {
    if (key.objlen < stored.size()) return {stored.begin(), stored.begin() + key.objlen};
    return {stored.begin(), stored.end()};
  }
  // Walk the block headers first so a damaged size cannot make us allocate blindly.
  std::uint64_t total = 0;
  for (std::size_t pos = 0; pos + 9 <= stored.size();) {
    const auto* h = stored.data() + pos;
    const std::size_t cs = std::to_integer<std::size_t>(h[3]) | (std::to_integer<std::size_t>(h[4]) << 8) |
                           (std::to_integer<std::size_t>(h[5]) << 16);
    const std::size_t us = std::to_integer<std::size_t>(h[6]) | (std::to_integer<std::size_t>(h[7]) << 8) |
                           (std::to_integer<std::size_t>(h[8]) << 16);
    total += us;
    pos += 9 + cs;
    if (total >= key.objlen) break;
  }
  if (total != key.objlen)
    throw core::Exception(core::Errc::corrupt, fmt::format("{}: compressed blocks hold {} bytes but fObjlen says {}",
                                                           what, total, key.objlen));
  std::vector<std::byte> out(key.objlen);
  auto r = decompress(stored, out, what);
  if (!r) throw core::Exception(r.error());
  return out;
}

}  // namespace mlaas::root
