// The model repository: an SQLite catalog plus a content-addressed file store under the data
// directory. Every mutation is one SQLite transaction and then publishes a new immutable
// Catalog snapshot, so readers (the inference hot path) never touch SQLite or a lock held
// during I/O, and an alias move is one atomic pointer swap.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "serve/names.hpp"
#include "serve/runtime.hpp"

namespace mlaas::serve {

struct BatchingPolicy {
  std::int64_t maxBatchSize = 64;     ///< rows; 1 disables merging
  std::int64_t maxQueueDelayUs = 0;   ///< how long an under-full batch may wait for more
};

struct VersionRecord {
  std::string name;
  std::int64_t version = 0;
  std::string created;  ///< RFC 3339 UTC
  std::int64_t size = 0;
  std::string sha256;
  std::filesystem::path file;
  ModelSignature signature;
  std::string metadataJson;  ///< the validated metadata object as uploaded (minus tags)
  std::string description;
  std::vector<std::string> labels;
  BatchingPolicy batching;
  std::map<std::string, std::string> tags;
  [[nodiscard]] std::string label() const;  ///< "name/versions/N"
};

struct ModelRecord {
  std::string name;
  std::string created;
  std::string updated;
  std::map<std::int64_t, std::shared_ptr<const VersionRecord>> versions;
  std::map<std::string, std::int64_t> aliases;
  std::map<std::string, std::string> tags;
  [[nodiscard]] std::shared_ptr<const VersionRecord> latest() const;
};

/// An immutable view of the whole catalog.
struct Catalog {
  std::map<std::string, ModelRecord> models;
};

class Repository {
 public:
  /// Opens or creates `<dataDir>/catalog.sqlite` and `<dataDir>/blobs/`; removes leftovers of
  /// interrupted uploads. Throws core::Exception naming the path on failure.
  Repository(std::filesystem::path dataDir, BatchingPolicy defaults);
  ~Repository();
  Repository(const Repository&) = delete;
  Repository& operator=(const Repository&) = delete;

  [[nodiscard]] std::shared_ptr<const Catalog> snapshot() const;
  [[nodiscard]] const std::filesystem::path& dataDir() const noexcept { return dataDir_; }

  /// name, name/versions/N or name@alias → the version (not_found naming what is missing).
  core::Result<std::shared_ptr<const VersionRecord>> resolve(const ModelRef& ref) const;

  /// Validates metadata (a JSON object, may be empty), loads the ONNX bytes with ONNX Runtime,
  /// stores them durably and commits the new version.
  core::Result<std::shared_ptr<const VersionRecord>> addVersion(std::string_view name, std::string_view onnxBytes,
                                                                std::string_view metadataJson);
  /// addVersion's checks without storing anything (an upload's dry run): the name, the metadata and,
  /// when `onnxBytes` is not empty, that ONNX Runtime loads the model. Returns the version number
  /// an upload would get now.
  core::Result<std::int64_t> checkVersion(std::string_view name, std::string_view onnxBytes,
                                          std::string_view metadataJson) const;
  core::Result<void> setAlias(std::string_view name, std::string_view alias, std::int64_t version);
  core::Result<void> deleteAlias(std::string_view name, std::string_view alias);
  core::Result<void> setModelTag(std::string_view name, std::string_view key, std::string_view value);
  core::Result<void> deleteModelTag(std::string_view name, std::string_view key);
  core::Result<void> setVersionTag(std::string_view name, std::int64_t version, std::string_view key,
                                   std::string_view value);
  core::Result<void> deleteVersionTag(std::string_view name, std::int64_t version, std::string_view key);
  /// Deletes a version; true when it was the model's last, which deletes the model too (its tags,
  /// aliases and version numbering: a later upload starts again at version 1).
  core::Result<bool> deleteVersion(std::string_view name, std::int64_t version);
  core::Result<void> deleteModel(std::string_view name);

  /// Names of the models matching the query (see docs/http-api.md), sorted.
  core::Result<std::vector<std::string>> search(std::string_view query) const;

  /// The stored ONNX bytes of a version, checked against the catalog's size and SHA-256 (io, a
  /// 500, naming the version and file when they differ or the file is missing).
  core::Result<std::string> readModelFile(const VersionRecord& version) const;

  /// One line per version whose stored file is missing or has the wrong size (the constructor
  /// logs them at startup).
  [[nodiscard]] std::vector<std::string> checkBlobs() const;

 private:
  struct Db;
  core::Result<void> reload();  // rebuilds the snapshot from SQLite; caller holds writeMutex_
  void removeOrphanBlobs();

  std::filesystem::path dataDir_;
  BatchingPolicy defaults_;
  std::unique_ptr<Db> db_;
  mutable std::mutex writeMutex_;     // serializes mutations (and SQLite use: also checkVersion reads)
  mutable std::mutex snapshotMutex_;  // guards only the pointer copy
  std::shared_ptr<const Catalog> snapshot_;
};

/// Parses and checks upload metadata; invalid_argument naming the offending key.
core::Result<void> validateMetadata(std::string_view metadataJson);

/// Simple glob with '*' and '?'.
bool globMatch(std::string_view pattern, std::string_view text) noexcept;

}  // namespace mlaas::serve
