// A ROOT file opened through an io::Source: header, keys, directories (nested), cycles, the
// StreamerInfo record, and object payloads (decompressed). Opening validates every size it reads
// against the file size and throws core::Exception naming the file, the object and the offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/source.hpp"
#include "root/streamer.hpp"

namespace mlaas::root {

class Tree;
class NTuple;

/// One TKey: where an object lives and what it is.
struct KeyInfo {
  std::string className;
  std::string name;
  std::string title;
  std::int16_t cycle = 0;
  std::uint64_t seekKey = 0;   ///< offset of the record (key + payload)
  std::uint32_t nbytes = 0;    ///< record size on disk
  std::uint32_t objlen = 0;    ///< payload size after decompression
  std::uint16_t keylen = 0;
  [[nodiscard]] bool compressed() const noexcept { return objlen > nbytes - keylen; }
};

/// An object anywhere in the file, by path ("dir/sub/name").
struct ObjectEntry {
  std::string path;
  KeyInfo key;
};

class File : public std::enable_shared_from_this<File> {
 public:
  /// Opens a local path or URL (io::open). Throws core::Exception on any failure.
  static std::shared_ptr<File> open(const std::string& pathOrUrl);
  static std::shared_ptr<File> open(io::SourcePtr source);

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] std::uint64_t size() const noexcept;
  /// The file format version (e.g. 62004 for ROOT 6.20/04; large files have +1000000 removed).
  [[nodiscard]] int version() const noexcept;
  [[nodiscard]] bool largeFile() const noexcept;
  /// fCompress: algorithm * 100 + level (e.g. 101 = zlib level 1, 505 = zstd 5).
  [[nodiscard]] int compression() const noexcept;
  [[nodiscard]] const io::SourcePtr& source() const noexcept;

  /// Keys of the top directory (all cycles).
  [[nodiscard]] const std::vector<KeyInfo>& keys() const noexcept;
  /// Every object in every directory, highest cycle per name, directories recursed.
  [[nodiscard]] std::vector<ObjectEntry> objects() const;
  /// Paths of every TTree (also in subdirectories), e.g. {"events", "one/two/tree"}.
  [[nodiscard]] std::vector<std::string> treePaths() const;
  /// Paths of RNTuple anchors (read with ntuple(); a subset of field types, see root/ntuple.hpp).
  [[nodiscard]] std::vector<std::string> rntuplePaths() const;
  /// Whether the object at `path` is an RNTuple anchor (throws not_found like find()).
  [[nodiscard]] bool isRNTuple(const std::string& path) const;
  /// The key of an object by path ("dir/name" or "dir/name;cycle"); throws not_found.
  [[nodiscard]] ObjectEntry find(const std::string& path) const;

  /// Opens a tree by path. Throws not_found / corrupt / unsupported.
  [[nodiscard]] Tree tree(const std::string& path) const;
  /// Opens an RNTuple by path (root/ntuple.hpp). Throws not_found / corrupt / unsupported.
  [[nodiscard]] NTuple ntuple(const std::string& path) const;

  [[nodiscard]] const StreamerInfos& streamers() const noexcept;

  /// The decompressed payload of an object. Throws with the file, key and offset on damage.
  [[nodiscard]] std::vector<std::byte> readPayload(const KeyInfo& key) const;

  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

 private:
  std::unique_ptr<Impl> impl_;
};

using FilePtr = std::shared_ptr<const File>;

/// Parses a key header at the start of `bytes` (used for baskets too). Throws naming `context`.
KeyInfo parseKey(std::span<const std::byte> bytes, std::uint64_t fileOffset, const std::string& context);

}  // namespace mlaas::root
