// The part every remote source shares: a transport (XRootD, HTTP) moves bytes; RemoteSource plans
// the reads around latency: head/tail blocks fetched at open, coalescing, prefetch, retries.
// Internal to mlaas::io: io::open() is the public entry point.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "io/source.hpp"

namespace mlaas::io::detail {

/// Completion callback of a transport fetch: called exactly once, on any thread.
using FetchDone = std::function<void(core::Result<void>)>;

/// Calls done once, when every part of a split fetch has finished; the first failure wins.
class Gather {
 public:
  Gather(std::size_t parts, FetchDone done) : remaining_(parts), done_(std::move(done)) {}
  void finish(core::Result<void> result) {
    FetchDone done;
    core::Result<void> outcome;
    {
      std::lock_guard lock(mutex_);
      if (!result && !failure_) failure_ = std::move(result).error();
      if (--remaining_ != 0) return;
      done = std::move(done_);
      if (failure_) outcome = core::fail(std::move(*failure_));
    }
    done(std::move(outcome));
  }

 private:
  std::mutex mutex_;
  std::size_t remaining_;
  std::optional<core::Error> failure_;
  FetchDone done_;
};

/// What a transport learnt when it opened the file.
struct OpenedFile {
  std::uint64_t size = 0;
  /// The first bytes of the file when the open exchange returned them (HTTP's first range GET).
  std::vector<std::byte> head;
};

class Transport {
 public:
  virtual ~Transport() = default;
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  /// Opens the file (the first network exchange); may return its first headBytes bytes.
  virtual core::Result<OpenedFile> open(std::uint64_t headBytes) = 0;
  /// Starts filling every request (offsets within the file, non-overlapping destinations); the
  /// buffers live until done is called. done gets an error naming the URL and range if any
  /// request could not be filled completely.
  virtual void start(std::vector<ReadRequest> requests, FetchDone done) = 0;
  /// Called before retrying after a failure (e.g. XRootD reopens the file on a new connection).
  virtual void recover() {}
  /// Network exchanges so far.
  [[nodiscard]] virtual std::uint64_t roundTrips() const noexcept = 0;
};

/// Whether an error is worth retrying (connection lost or refused, timeout, 5xx, truncation).
[[nodiscard]] bool isTransient(const core::Error& error) noexcept;

/// "[a, b)" or "[a, b) and N more" for error messages.
[[nodiscard]] std::string describeRanges(std::span<const ReadRequest> requests);

class RemoteSource final : public Source {
 public:
  /// Opens through the transport (with retries) and fetches the head and tail blocks.
  static core::Result<SourcePtr> open(std::string url, std::unique_ptr<Transport> transport,
                                      const SourceOptions& options);
  ~RemoteSource() override;

  const std::string& name() const noexcept override { return url_; }
  std::uint64_t size() const noexcept override { return size_; }
  core::Result<void> read(std::span<const ReadRequest> requests) override;
  SourceStats stats() const noexcept override;
  void prefetch(std::span<const ByteRange> ranges) override;

 private:
  struct Block {
    ByteRange range;
    std::unique_ptr<std::byte[]> storage;  // not zero-filled: the network overwrites it
    std::span<std::byte> bytes;
    void allocate(std::uint64_t size) {
      storage = std::make_unique_for_overwrite<std::byte[]>(size);
      bytes = {storage.get(), size};
    }
    std::shared_future<core::Result<void>> ready;
  };

  RemoteSource(std::string url, std::unique_ptr<Transport> transport, const SourceOptions& options);
  /// Fetches the requests over the network, waiting; retries transient failures with backoff.
  core::Result<void> fetchWithRetries(std::vector<ReadRequest> requests);
  /// Coalesces the requests into network reads, scatters the bytes back.
  core::Result<void> fetchCoalesced(std::span<const ReadRequest> requests);
  std::shared_future<core::Result<void>> startAsync(std::vector<ReadRequest> requests);
  /// Copies from the head/tail cache when the range lies inside it.
  bool serveFromCache(const ReadRequest& request) const;
  std::shared_ptr<Block> findPrefetched(const ReadRequest& request);
  /// Copies the parts of request inside the head/tail blocks; returns the rest (may be empty).
  ReadRequest uncachedPart(const ReadRequest& request);
  /// Reads a small request by fetching smallReadBlockBytes from its offset and keeping them.
  core::Result<void> readAround(const ReadRequest& request);
  /// Adds a block to the prefetch store (prefetchMutex_ held), dropping the oldest beyond the
  /// limit but never the newest keepNewest.
  void remember(std::shared_ptr<Block> block, std::size_t keepNewest);

  std::string url_;
  std::unique_ptr<Transport> transport_;
  SourceOptions options_;
  std::uint64_t size_ = 0;
  std::vector<std::byte> head_;  // bytes [0, head_.size())
  std::vector<std::byte> tail_;  // bytes [tailOffset_, size_)
  std::uint64_t tailOffset_ = 0;

  std::mutex prefetchMutex_;
  std::deque<std::shared_ptr<Block>> prefetched_;  // oldest first
  std::uint64_t prefetchedBytes_ = 0;

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> bytesRead_{0};
  std::atomic<std::uint64_t> bytesFetched_{0};
  std::atomic<std::uint64_t> cacheHits_{0};
  std::atomic<std::uint64_t> retries_{0};
};

}  // namespace mlaas::io::detail
