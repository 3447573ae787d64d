#include "serve/repository.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "serve/ascii.hpp"
#include "serve/json_util.hpp"
#include "serve/sha256.hpp"

namespace mlaas::serve {

namespace fs = std::filesystem;
using detail::lowerCopy;
using nlohmann::json;

namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
PRAGMA foreign_keys=ON;
CREATE TABLE IF NOT EXISTS models(name TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL,
                                  next_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS versions(name TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
                                    version INTEGER NOT NULL, created TEXT NOT NULL, size INTEGER NOT NULL,
                                    sha256 TEXT NOT NULL, signature TEXT NOT NULL, metadata TEXT NOT NULL,
                                    PRIMARY KEY(name, version));
CREATE TABLE IF NOT EXISTS aliases(name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
                                   PRIMARY KEY(name, alias),
                                   FOREIGN KEY(name, version) REFERENCES versions(name, version) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS model_tags(name TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
                                      key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(name, key));
CREATE TABLE IF NOT EXISTS version_tags(name TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL,
                                        value TEXT NOT NULL, PRIMARY KEY(name, version, key),
                                        FOREIGN KEY(name, version) REFERENCES versions(name, version) ON DELETE CASCADE);
)sql";

core::Failure notFoundModel(std::string_view name) {
  return core::fail(core::Errc::not_found, fmt::format("model '{}' not found", name));
}

/// The start of a statement, for messages: the whole schema printed after "file is not a
/// database" buried the one line that mattered.
std::string firstWords(std::string_view sql) {
  while (!sql.empty() && (sql.front() == '\n' || sql.front() == ' ')) sql.remove_prefix(1);
  sql = sql.substr(0, sql.find('\n'));
  return sql.size() > 60 ? std::string(sql.substr(0, 60)) + "..." : std::string(sql);
}

/// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK)
      throw core::Exception(core::Errc::internal,
                            fmt::format("SQLite: {} (in '{}')", sqlite3_errmsg(db), firstWords(sql)));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  /// true while a row is available.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw core::Exception(core::Errc::io, fmt::format("SQLite: {}", sqlite3_errmsg(db_)));
  }
  std::string text(int column) {
    const auto* p = sqlite3_column_text(stmt_, column);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
  }
  std::int64_t integer(int column) { return sqlite3_column_int64(stmt_, column); }
  [[nodiscard]] int changes() const { return sqlite3_changes(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw core::Exception(core::Errc::io, fmt::format("SQLite: {} (in '{}')", text, firstWords(sql)));
  }
}

/// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    exec(db_, "COMMIT");
    done_ = true;
  }

 private:
  sqlite3* db_;
  bool done_ = false;
};

/// Writes bytes to a temporary file, fsyncs it, renames it into place and fsyncs the folder:
/// the destination either does not exist or is complete.
core::Result<void> writeDurably(const fs::path& tmpDir, const fs::path& destination, std::string_view bytes) {
  std::random_device rd;
  fs::path tmp = tmpDir / fmt::format("upload-{:016x}.tmp", (std::uint64_t{rd()} << 32) | rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return core::fail(core::Errc::io, fmt::format("cannot create {}", tmp.string()));
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return core::fail(core::Errc::io, fmt::format("cannot write {}", tmp.string()));
    }
    written += static_cast<std::size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), destination.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return core::fail(core::Errc::io, fmt::format("cannot store {}", destination.string()));
  }
  int dirFd = ::open(destination.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  return {};
}

}  // namespace

struct Repository::Db {
  sqlite3* handle = nullptr;
  ~Db() { sqlite3_close_v2(handle); }
};

std::string VersionRecord::label() const { return fmt::format("{}/versions/{}", name, version); }

std::shared_ptr<const VersionRecord> ModelRecord::latest() const {
  return versions.empty() ? nullptr : versions.rbegin()->second;
}

bool globMatch(std::string_view pattern, std::string_view text) noexcept {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

core::Result<void> validateMetadata(std::string_view metadataJson) {
  if (metadataJson.empty()) return {};
  json meta = json::parse(metadataJson, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    return core::fail(core::Errc::invalid_argument, "metadata: not a JSON object");
  auto bad = [](std::string_view key, std::string_view what) {
    return core::fail(core::Errc::invalid_argument, fmt::format("metadata key '{}': {}", key, what));
  };
  for (const auto& [key, value] : meta.items()) {
    if (key == "description") {
      if (!value.is_string()) return bad(key, "expected a string");
    } else if (key == "labels") {
      if (!value.is_array() || !std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_string(); }))
        return bad(key, "expected an array of strings");
    } else if (key == "tags") {
      if (!value.is_object()) return bad(key, "expected an object of strings");
      for (const auto& [k, v] : value.items()) {
        if (!isValidTagKey(k)) return bad(key, fmt::format("invalid tag key '{}'", k.substr(0, 100)));
        if (!v.is_string() || v.get_ref<const std::string&>().size() > 1024)
          return bad(key, fmt::format("tag '{}' must be a string of at most 1024 bytes", k));
      }
    } else if (key == "metrics") {
      if (!value.is_object()) return bad(key, "expected an object of numbers");
      for (const auto& [k, v] : value.items())
        if (!v.is_number()) return bad(key, fmt::format("metric '{}' is not a number", k.substr(0, 100)));
    } else if (key == "provenance" || key == "preprocessing") {
      // opaque: stored and returned verbatim
    } else if (key == "batching") {
      if (!value.is_object()) return bad(key, "expected {\"max_batch_size\": int, \"max_queue_delay_us\": int}");
      for (const auto& [k, v] : value.items()) {
        if (k == "max_batch_size") {
          if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 1'000'000)
            return bad("batching.max_batch_size", "expected an integer in [1, 1000000]");
        } else if (k == "max_queue_delay_us") {
          if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 10'000'000)
            return bad("batching.max_queue_delay_us", "expected an integer in [0, 10000000]");
        } else {
          return bad(fmt::format("batching.{}", k.substr(0, 100)), "unknown key (max_batch_size, max_queue_delay_us)");
        }
      }
    } else {
      return bad(key.substr(0, 100),
                 "unknown key (description, labels, tags, metrics, provenance, preprocessing, batching)");
    }
  }
  return {};
}

Repository::Repository(fs::path dataDir, BatchingPolicy defaults)
    : dataDir_(std::move(dataDir)), defaults_(defaults), db_(std::make_unique<Db>()) {
  std::error_code ec;
  fs::create_directories(dataDir_ / "blobs", ec);
  if (!ec) fs::create_directories(dataDir_ / "tmp", ec);
  if (ec)
    throw core::Exception(core::Errc::io,
                          fmt::format("data directory {}: cannot create: {}", dataDir_.string(), ec.message()));
  // Leftovers of uploads interrupted by a crash: never visible, now removed.
  for (const auto& entry : fs::directory_iterator(dataDir_ / "tmp", ec)) fs::remove(entry.path(), ec);
  fs::path dbPath = dataDir_ / "catalog.sqlite";
  if (sqlite3_open_v2(dbPath.c_str(), &db_->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    throw core::Exception(core::Errc::io, fmt::format("catalog {}: cannot open: {}", dbPath.string(),
                                                      db_->handle ? sqlite3_errmsg(db_->handle) : "out of memory"));
  sqlite3_busy_timeout(db_->handle, 5000);
  try {
    exec(db_->handle, kSchema);
    // A model whose last version was deleted by an older server stayed as a hidden row (gone from
    // lists, yet 'deleted' again, its tags back on re-upload): such rows go now.
    exec(db_->handle, "DELETE FROM models WHERE name NOT IN (SELECT name FROM versions)");
  } catch (const core::Exception& e) {
    throw core::Exception(core::Errc::corrupt,
                          fmt::format("catalog {}: not a usable model catalog: {} (restore it from a backup, or "
                                      "move it away to start an empty repository)",
                                      dbPath.string(), e.what()));
  }
  std::lock_guard lock(writeMutex_);
  reload().value();
  removeOrphanBlobs();
  for (const auto& problem : checkBlobs()) spdlog::error("{}", problem);
}

std::vector<std::string> Repository::checkBlobs() const {
  std::vector<std::string> problems;
  for (const auto& [name, model] : snapshot()->models)
    for (const auto& [v, record] : model.versions) {
      std::error_code ec;
      const auto size = fs::file_size(record->file, ec);
      if (ec)
        problems.push_back(fmt::format("{}: stored model file {} is missing ({}); requests for it answer 500 until "
                                       "it is deleted or uploaded again",
                                       record->label(), record->file.string(), ec.message()));
      else if (static_cast<std::int64_t>(size) != record->size)
        problems.push_back(fmt::format("{}: stored model file {} has {} bytes, the catalog says {}; requests for it "
                                       "answer 500 until it is deleted or uploaded again",
                                       record->label(), record->file.string(), size, record->size));
    }
  return problems;
}

Repository::~Repository() = default;

std::shared_ptr<const Catalog> Repository::snapshot() const {
  std::lock_guard lock(snapshotMutex_);
  return snapshot_;
}

core::Result<void> Repository::reload() {
  auto catalog = std::make_shared<Catalog>();
  try {
    sqlite3* db = db_->handle;
    Statement models(db, "SELECT name, created, updated FROM models");
    while (models.step()) {
      ModelRecord record;
      record.name = models.text(0);
      record.created = models.text(1);
      record.updated = models.text(2);
      catalog->models.emplace(record.name, std::move(record));
    }
    std::map<std::pair<std::string, std::int64_t>, std::map<std::string, std::string>> versionTags;
    Statement vtags(db, "SELECT name, version, key, value FROM version_tags");
    while (vtags.step()) versionTags[{vtags.text(0), vtags.integer(1)}][vtags.text(2)] = vtags.text(3);
    Statement versions(db, "SELECT name, version, created, size, sha256, signature, metadata FROM versions");
    while (versions.step()) {
      auto v = std::make_shared<VersionRecord>();
      v->name = versions.text(0);
      v->version = versions.integer(1);
      v->created = versions.text(2);
      v->size = versions.integer(3);
      v->sha256 = versions.text(4);
      v->file = dataDir_ / "blobs" / (v->sha256 + ".onnx");
      v->signature = detail::signatureFromJson(json::parse(versions.text(5)));
      v->metadataJson = versions.text(6);
      json meta = json::parse(v->metadataJson, nullptr, false);
      if (!meta.is_object()) meta = json::object();
      v->description = meta.value("description", std::string());
      if (meta.contains("labels")) v->labels = meta["labels"].get<std::vector<std::string>>();
      v->batching = defaults_;
      if (meta.contains("batching")) {
        v->batching.maxBatchSize = meta["batching"].value("max_batch_size", defaults_.maxBatchSize);
        v->batching.maxQueueDelayUs = meta["batching"].value("max_queue_delay_us", defaults_.maxQueueDelayUs);
      }
      if (auto it = versionTags.find({v->name, v->version}); it != versionTags.end()) v->tags = it->second;
      auto model = catalog->models.find(v->name);
      if (model != catalog->models.end()) model->second.versions.emplace(v->version, std::move(v));
    }
    Statement aliases(db, "SELECT name, alias, version FROM aliases");
    while (aliases.step()) {
      auto model = catalog->models.find(aliases.text(0));
      if (model != catalog->models.end()) model->second.aliases[aliases.text(1)] = aliases.integer(2);
    }
    Statement mtags(db, "SELECT name, key, value FROM model_tags");
    while (mtags.step()) {
      auto model = catalog->models.find(mtags.text(0));
      if (model != catalog->models.end()) model->second.tags[mtags.text(1)] = mtags.text(2);
    }
  } catch (const std::exception& e) {
    return core::fail(core::Errc::corrupt,
                      fmt::format("catalog {}: {}", (dataDir_ / "catalog.sqlite").string(), e.what()));
  }
  std::lock_guard lock(snapshotMutex_);
  snapshot_ = std::move(catalog);
  return {};
}

void Repository::removeOrphanBlobs() {
  std::set<std::string> used;
  for (const auto& [name, model] : snapshot_->models)
    for (const auto& [v, record] : model.versions) used.insert(record->sha256 + ".onnx");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dataDir_ / "blobs", ec))
    if (!used.count(entry.path().filename().string())) fs::remove(entry.path(), ec);
}

core::Result<std::shared_ptr<const VersionRecord>> Repository::resolve(const ModelRef& ref) const {
  auto catalog = snapshot();
  auto model = catalog->models.find(ref.name);
  if (model == catalog->models.end() || model->second.versions.empty()) return notFoundModel(ref.name);
  std::int64_t version = ref.version;
  if (!ref.alias.empty()) {
    auto alias = model->second.aliases.find(ref.alias);
    if (alias == model->second.aliases.end())
      return core::fail(core::Errc::not_found, fmt::format("model '{}' has no alias '{}'", ref.name, ref.alias));
    version = alias->second;
  }
  if (version == 0) return model->second.latest();
  auto it = model->second.versions.find(version);
  if (it == model->second.versions.end())
    return core::fail(core::Errc::not_found, fmt::format("model '{}' has no version {}", ref.name, version));
  return it->second;
}

core::Result<std::int64_t> Repository::checkVersion(std::string_view name, std::string_view onnxBytes,
                                                     std::string_view metadataJson) const {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(validateMetadata(metadataJson));
  if (!onnxBytes.empty()) {
    auto loaded = LoadedModel::load(onnxBytes, std::string(name));
    if (!loaded) return core::fail(loaded.error());
  }
  // What the upload itself would need: a writable store (a read-only data directory would pass
  // every other check and then fail after training).
  for (const auto& dir : {dataDir_, dataDir_ / "blobs", dataDir_ / "tmp"})  // the catalog's journal goes in dataDir_
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
      return core::fail(core::Errc::io, fmt::format("model '{}': the repository cannot store models: {}: {}", name,
                                                    dir.string(), std::strerror(errno)));
  std::lock_guard lock(writeMutex_);  // the SQLite handle is shared; a dry run waits for an upload's commit
  if (sqlite3_db_readonly(db_->handle, "main") == 1)
    return core::fail(core::Errc::io,
                      fmt::format("model '{}': the repository cannot store models: its catalog is read-only", name));
  try {
    Statement next(db_->handle, "SELECT next_version FROM models WHERE name = ?1");
    next.bind(1, name);
    return next.step() ? next.integer(0) : std::int64_t{1};
  } catch (const core::Exception& e) {
    return core::fail(core::Errc::io, fmt::format("model '{}': cannot read the catalog: {}", name, e.what()));
  }
}

core::Result<std::shared_ptr<const VersionRecord>> Repository::addVersion(std::string_view name,
                                                                          std::string_view onnxBytes,
                                                                          std::string_view metadataJson) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(validateMetadata(metadataJson));
  if (onnxBytes.empty())
    return core::fail(core::Errc::invalid_argument, fmt::format("model '{}': the ONNX file is empty", name));
  auto loaded = LoadedModel::load(onnxBytes, std::string(name));
  if (!loaded) return core::fail(loaded.error());
  std::string digest = sha256Hex(onnxBytes);
  json meta = metadataJson.empty() ? json::object() : json::parse(metadataJson);
  json tags = meta.contains("tags") ? meta["tags"] : json::object();
  meta.erase("tags");

  std::lock_guard lock(writeMutex_);
  fs::path blob = dataDir_ / "blobs" / (digest + ".onnx");
  std::error_code ec;
  if (!fs::exists(blob, ec) || fs::file_size(blob, ec) != onnxBytes.size())
    MLAAS_TRY(writeDurably(dataDir_ / "tmp", blob, onnxBytes));
  std::int64_t version = 0;
  try {
    sqlite3* db = db_->handle;
    Transaction tx(db);
    std::string now = detail::nowRfc3339();
    Statement upsert(db,
                     "INSERT INTO models(name, created, updated, next_version) VALUES(?1, ?2, ?2, 1) "
                     "ON CONFLICT(name) DO UPDATE SET updated = ?2");
    upsert.bind(1, name).bind(2, now).step();
    Statement next(db, "SELECT next_version FROM models WHERE name = ?1");
    next.bind(1, name);
    next.step();
    version = next.integer(0);
    Statement bump(db, "UPDATE models SET next_version = next_version + 1 WHERE name = ?1");
    bump.bind(1, name).step();
    Statement insert(db,
                     "INSERT INTO versions(name, version, created, size, sha256, signature, metadata) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    insert.bind(1, name).bind(2, version).bind(3, now).bind(4, static_cast<std::int64_t>(onnxBytes.size()));
    insert.bind(5, digest).bind(6, detail::signatureToJson((*loaded)->signature()).dump()).bind(7, meta.dump());
    insert.step();
    for (const auto& [key, value] : tags.items()) {
      Statement tag(db, "INSERT INTO version_tags(name, version, key, value) VALUES(?1, ?2, ?3, ?4)");
      tag.bind(1, name).bind(2, version).bind(3, key).bind(4, value.get<std::string>()).step();
    }
    tx.commit();
  } catch (const core::Exception& e) {
    return core::fail(core::Errc::io, fmt::format("model '{}': cannot record the new version: {}", name, e.what()));
  }
  MLAAS_TRY(reload());
  return resolve(ModelRef{std::string(name), version, {}});
}

namespace {
/// Runs a single-statement mutation; not_found when it changed nothing.
template <class Bind>
core::Result<void> mutate(sqlite3* db, std::string_view sql, Bind&& bind, std::string notFoundMessage) {
  try {
    Statement stmt(db, sql);
    bind(stmt);
    stmt.step();
    if (stmt.changes() == 0) return core::fail(core::Errc::not_found, std::move(notFoundMessage));
  } catch (const core::Exception& e) {
    return core::fail(e.error());
  }
  return {};
}
}  // namespace

core::Result<void> Repository::setAlias(std::string_view name, std::string_view alias, std::int64_t version) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(checkAlias(alias));
  std::lock_guard lock(writeMutex_);
  auto target = resolve(ModelRef{std::string(name), version, {}});
  if (!target) return core::fail(target.error());
  MLAAS_TRY(mutate(
      db_->handle,
      "INSERT INTO aliases(name, alias, version) VALUES(?1, ?2, ?3) ON CONFLICT(name, alias) DO UPDATE SET version = "
      "?3",
      [&](Statement& s) { s.bind(1, name).bind(2, alias).bind(3, version); }, ""));
  return reload();
}

core::Result<void> Repository::deleteAlias(std::string_view name, std::string_view alias) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(checkAlias(alias));
  std::lock_guard lock(writeMutex_);
  MLAAS_TRY(mutate(
      db_->handle, "DELETE FROM aliases WHERE name = ?1 AND alias = ?2",
      [&](Statement& s) { s.bind(1, name).bind(2, alias); }, fmt::format("model '{}' has no alias '{}'", name, alias)));
  return reload();
}

core::Result<void> Repository::setModelTag(std::string_view name, std::string_view key, std::string_view value) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(checkTagKey(key));
  if (value.size() > 1024)
    return core::fail(core::Errc::invalid_argument, fmt::format("tag '{}': value longer than 1024 bytes", key));
  std::lock_guard lock(writeMutex_);
  if (!snapshot()->models.count(std::string(name))) return notFoundModel(name);
  MLAAS_TRY(mutate(
      db_->handle,
      "INSERT INTO model_tags(name, key, value) VALUES(?1, ?2, ?3) ON CONFLICT(name, key) DO UPDATE SET value = ?3",
      [&](Statement& s) { s.bind(1, name).bind(2, key).bind(3, value); }, ""));
  return reload();
}

core::Result<void> Repository::deleteModelTag(std::string_view name, std::string_view key) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(checkTagKey(key));
  std::lock_guard lock(writeMutex_);
  MLAAS_TRY(mutate(
      db_->handle, "DELETE FROM model_tags WHERE name = ?1 AND key = ?2",
      [&](Statement& s) { s.bind(1, name).bind(2, key); }, fmt::format("model '{}' has no tag '{}'", name, key)));
  return reload();
}

core::Result<void> Repository::setVersionTag(std::string_view name, std::int64_t version, std::string_view key,
                                             std::string_view value) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(checkTagKey(key));
  if (value.size() > 1024)
    return core::fail(core::Errc::invalid_argument, fmt::format("tag '{}': value longer than 1024 bytes", key));
  std::lock_guard lock(writeMutex_);
  auto target = resolve(ModelRef{std::string(name), version, {}});
  if (!target) return core::fail(target.error());
  MLAAS_TRY(mutate(
      db_->handle,
      "INSERT INTO version_tags(name, version, key, value) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(name, version, key) DO UPDATE SET value = ?4",
      [&](Statement& s) { s.bind(1, name).bind(2, version).bind(3, key).bind(4, value); }, ""));
  return reload();
}

core::Result<void> Repository::deleteVersionTag(std::string_view name, std::int64_t version, std::string_view key) {
  MLAAS_TRY(checkModelName(name));
  MLAAS_TRY(checkTagKey(key));
  std::lock_guard lock(writeMutex_);
  MLAAS_TRY(mutate(
      db_->handle, "DELETE FROM version_tags WHERE name = ?1 AND version = ?2 AND key = ?3",
      [&](Statement& s) { s.bind(1, name).bind(2, version).bind(3, key); },
      fmt::format("model '{}' version {} has no tag '{}'", name, version, key)));
  return reload();
}

core::Result<bool> Repository::deleteVersion(std::string_view name, std::int64_t version) {
  MLAAS_TRY(checkModelName(name));
  std::lock_guard lock(writeMutex_);
  auto target = resolve(ModelRef{std::string(name), version, {}});
  if (!target) return core::fail(target.error());
  bool modelDeleted = false;
  try {
    // The last version takes its model with it (tags, aliases, version numbering): a model with
    // no version would be hidden from lists and 404 yet still 'deleted' and still holding its tags.
    Transaction tx(db_->handle);
    Statement remove(db_->handle, "DELETE FROM versions WHERE name = ?1 AND version = ?2");
    remove.bind(1, name).bind(2, version).step();
    if (remove.changes() == 0)
      return core::fail(core::Errc::not_found, fmt::format("model '{}' has no version {}", name, version));
    Statement orphan(db_->handle,
                     "DELETE FROM models WHERE name = ?1 AND NOT EXISTS (SELECT 1 FROM versions WHERE name = ?1)");
    orphan.bind(1, name).step();
    modelDeleted = orphan.changes() > 0;
    tx.commit();
  } catch (const core::Exception& e) {
    return core::fail(core::Errc::io, fmt::format("model '{}': cannot delete version {}: {}", name, version, e.what()));
  }
  MLAAS_TRY(reload());
  removeOrphanBlobs();
  return modelDeleted;
}

core::Result<void> Repository::deleteModel(std::string_view name) {
  MLAAS_TRY(checkModelName(name));
  std::lock_guard lock(writeMutex_);
  MLAAS_TRY(mutate(
      db_->handle, "DELETE FROM models WHERE name = ?1", [&](Statement& s) { s.bind(1, name); },
      fmt::format("model '{}' not found", name)));
  MLAAS_TRY(reload());
  removeOrphanBlobs();
  return {};
}

core::Result<std::vector<std::string>> Repository::search(std::string_view query) const {
  auto catalog = snapshot();
  std::vector<std::string> terms;
  std::istringstream in{std::string(query)};
  for (std::string term; in >> term;) terms.push_back(term);
  std::vector<std::string> names;
  for (const auto& [name, model] : catalog->models) {
    bool all = true;
    for (const auto& term : terms) {
      bool match = false;
      if (term.rfind("name:", 0) == 0) {
        match = globMatch(std::string_view(term).substr(5), name);
      } else if (term.rfind("tag:", 0) == 0) {
        std::string spec = term.substr(4);
        auto eq = spec.find('=');
        std::string key = spec.substr(0, eq);
        auto hasTag = [&](const std::map<std::string, std::string>& tags) {
          auto it = tags.find(key);
          return it != tags.end() && (eq == std::string::npos || it->second == spec.substr(eq + 1));
        };
        match = hasTag(model.tags);
        for (const auto& [v, record] : model.versions) match = match || hasTag(record->tags);
      } else if (term.rfind("alias:", 0) == 0) {
        match = model.aliases.count(term.substr(6)) > 0;
      } else {
        std::string needle = lowerCopy(term);
        match = lowerCopy(name).find(needle) != std::string::npos;
        for (const auto& [v, record] : model.versions) {
          if (match) break;
          std::string hay = lowerCopy(record->metadataJson);
          for (const auto& [k, value] : record->tags) hay += " " + lowerCopy(k) + " " + lowerCopy(value);
          match = hay.find(needle) != std::string::npos;
        }
        for (const auto& [k, value] : model.tags)
          match = match || lowerCopy(k).find(needle) != std::string::npos ||
                  lowerCopy(value).find(needle) != std::string::npos;
      }
      if (!match) {
        all = false;
        break;
      }
    }
    if (all && !model.versions.empty()) names.push_back(name);
  }
  return names;
}

core::Result<std::string> Repository::readModelFile(const VersionRecord& version) const {
  std::ifstream in(version.file, std::ios::binary);
  if (!in)
    return core::fail(core::Errc::io, fmt::format("{}: cannot open the stored model file {} (the data directory is "
                                                  "damaged: delete the version or upload it again)",
                                                  version.label(), version.file.string()));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Damage to the server's own files is a server error (500), never the caller's (400).
  if (static_cast<std::int64_t>(bytes.size()) != version.size)
    return core::fail(core::Errc::io,
                      fmt::format("{}: stored model file {} has {} bytes, the catalog says {} (the data directory is "
                                  "damaged: delete the version or upload it again)",
                                  version.label(), version.file.string(), bytes.size(), version.size));
  // Once per load into the cache, cheap next to building the session.
  if (sha256Hex(bytes) != version.sha256)
    return core::fail(core::Errc::io,
                      fmt::format("{}: stored model file {} does not match its SHA-256 {} (the data directory is "
                                  "damaged: delete the version or upload it again)",
                                  version.label(), version.file.string(), version.sha256));
  return bytes;
}

}  // namespace mlaas::serve
