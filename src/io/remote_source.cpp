#include "io/remote_source.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include <fmt/format.h>

namespace mlaas::io::detail {

bool isTransient(const core::Error& error) noexcept {
  return error.code == core::Errc::unavailable || error.code == core::Errc::timeout ||
         error.code == core::Errc::io;
}

std::string describeRanges(std::span<const ReadRequest> requests) {
  if (requests.empty()) return "no range";
  const auto& first = requests.front();
  std::string text = fmt::format("range [{}, {})", first.offset, first.offset + first.dest.size());
  if (requests.size() > 1) text += fmt::format(" and {} more", requests.size() - 1);
  return text;
}

namespace {

/// MLAAS_IO_TRACE=1 prints every network fetch to stderr: the tool for finding round trips.
bool tracing() {
  static const bool enabled = [] {
    const char* value = std::getenv("MLAAS_IO_TRACE");
    return value != nullptr && *value != '\0' && std::string_view(value) != "0";
  }();
  return enabled;
}

void trace(const std::string& url, std::string_view what, std::span<const ReadRequest> requests) {
  if (!tracing()) return;
  std::string text = fmt::format("mlaas io: {}: {} {} range(s):", url, what, requests.size());
  for (std::size_t i = 0; i < requests.size() && i < 8; ++i) {
    text += fmt::format(" [{}, {})", requests[i].offset, requests[i].offset + requests[i].dest.size());
  }
  if (requests.size() > 8) text += " ...";
  std::fprintf(stderr, "%s\n", text.c_str());
}

std::uint64_t totalBytes(std::span<const ReadRequest> requests) {
  std::uint64_t total = 0;
  for (const auto& r : requests) total += r.dest.size();
  return total;
}

bool contains(std::uint64_t begin, std::uint64_t end, std::uint64_t offset, std::uint64_t size) {
  return offset >= begin && offset + size <= end;
}
bool contains(std::uint64_t begin, std::uint64_t end, const ReadRequest& request) {
  return contains(begin, end, request.offset, request.dest.size());
}

}  // namespace

RemoteSource::RemoteSource(std::string url, std::unique_ptr<Transport> transport, const SourceOptions& options)
    : url_(std::move(url)), transport_(std::move(transport)), options_(options) {}

RemoteSource::~RemoteSource() {
  // The transport completes (or cancels) everything in flight before it goes; prefetch blocks
  // are kept alive by their completion callbacks, so nothing writes into freed memory.
  transport_.reset();
}

core::Result<SourcePtr> RemoteSource::open(std::string url, std::unique_ptr<Transport> transport,
                                           const SourceOptions& options) {
  std::shared_ptr<RemoteSource> source(new RemoteSource(std::move(url), std::move(transport), options));
  auto& self = *source;

  // Open with the same retry policy as reads: a server that restarts while we connect is normal.
  OpenedFile opened;
  for (int attempt = 0;; ++attempt) {
    if (tracing()) std::fprintf(stderr, "mlaas io: %s: open (asking for the first %llu bytes)\n", self.url_.c_str(),
                                static_cast<unsigned long long>(options.headBytes));
    auto result = self.transport_->open(options.headBytes);
    if (result) {
      opened = std::move(*result);
      break;
    }
    if (!isTransient(result.error()) || attempt >= options.retries) {
      auto error = std::move(result).error();
      if (attempt > 0) error.message += fmt::format(" (after {} attempts)", attempt + 1);
      return core::fail(std::move(error));
    }
    self.retries_.fetch_add(1, std::memory_order_relaxed);
    self.transport_->recover();
    std::this_thread::sleep_for(std::chrono::duration<double>(
        std::min(4.0, options.retryBackoffSeconds * static_cast<double>(1u << std::min(attempt, 8)))));
  }
  self.size_ = opened.size;

  // The metadata blocks: ROOT keeps its header, top directory and first keys at the start and
  // the keys list, streamers and (for files written in one go) the trees at the end.
  const std::uint64_t headWant = std::min(options.headBytes, self.size_);
  self.head_ = std::move(opened.head);
  if (self.head_.size() > headWant) self.head_.resize(headWant);
  std::vector<ReadRequest> missing;
  std::vector<std::byte> headFetch;
  if (self.head_.size() < headWant) {
    headFetch.resize(headWant);
    missing.push_back({0, headFetch});
  }
  const std::uint64_t tailWant = std::min(options.tailBytes, self.size_);
  self.tailOffset_ = std::max(headWant, self.size_ - tailWant);
  if (self.tailOffset_ < self.size_) {
    self.tail_.resize(self.size_ - self.tailOffset_);
    missing.push_back({self.tailOffset_, self.tail_});
  }
  if (!missing.empty()) {
    if (auto fetched = self.fetchWithRetries(missing); !fetched) return core::fail(std::move(fetched).error());
    if (!headFetch.empty()) self.head_ = std::move(headFetch);
  }
  return SourcePtr(std::move(source));
}

SourceStats RemoteSource::stats() const noexcept {
  SourceStats s;
  s.requests = requests_.load(std::memory_order_relaxed);
  s.roundTrips = transport_ ? transport_->roundTrips() : 0;
  s.bytesRead = bytesRead_.load(std::memory_order_relaxed);
  s.bytesFetched = bytesFetched_.load(std::memory_order_relaxed);
  s.cacheHits = cacheHits_.load(std::memory_order_relaxed);
  s.retries = retries_.load(std::memory_order_relaxed);
  return s;
}

bool RemoteSource::serveFromCache(const ReadRequest& request) const {
  if (contains(0, head_.size(), request)) {
    std::memcpy(request.dest.data(), head_.data() + request.offset, request.dest.size());
    return true;
  }
  if (!tail_.empty() && contains(tailOffset_, size_, request)) {
    std::memcpy(request.dest.data(), tail_.data() + (request.offset - tailOffset_), request.dest.size());
    return true;
  }
  return false;
}

std::shared_ptr<RemoteSource::Block> RemoteSource::findPrefetched(const ReadRequest& request) {
  std::lock_guard lock(prefetchMutex_);
  for (auto it = prefetched_.rbegin(); it != prefetched_.rend(); ++it) {
    if (contains((*it)->range.offset, (*it)->range.end(), request)) return *it;
  }
  return nullptr;
}

std::shared_future<core::Result<void>> RemoteSource::startAsync(std::vector<ReadRequest> requests) {
  auto promise = std::make_shared<std::promise<core::Result<void>>>();
  auto future = promise->get_future().share();
  bytesFetched_.fetch_add(totalBytes(requests), std::memory_order_relaxed);
  transport_->start(std::move(requests),
                    [promise](core::Result<void> result) { promise->set_value(std::move(result)); });
  return future;
}

core::Result<void> RemoteSource::fetchWithRetries(std::vector<ReadRequest> requests) {
  for (int attempt = 0;; ++attempt) {
    trace(url_, attempt == 0 ? "fetch" : "retry", requests);
    auto result = startAsync(requests).get();
    if (result) return {};
    if (!isTransient(result.error()) || attempt >= options_.retries) {
      auto error = std::move(result).error();
      if (attempt > 0) error.message += fmt::format(" (after {} attempts)", attempt + 1);
      return core::fail(std::move(error));
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    transport_->recover();
    std::this_thread::sleep_for(std::chrono::duration<double>(
        std::min(4.0, options_.retryBackoffSeconds * static_cast<double>(1u << std::min(attempt, 8)))));
  }
}

core::Result<void> RemoteSource::fetchCoalesced(std::span<const ReadRequest> requests) {
  std::vector<ByteRange> ranges;
  ranges.reserve(requests.size());
  for (const auto& r : requests) ranges.push_back({r.offset, r.dest.size()});
  const auto merged = coalesce(std::move(ranges), options_.coalesceGap, options_.maxRequestSize);

  // Which merged range holds each request; a merged range that is exactly one request is read
  // straight into the caller's buffer, the others into a scratch buffer that is scattered after.
  auto holder = [&](const ReadRequest& r) {
    auto it = std::upper_bound(merged.begin(), merged.end(), r.offset,
                               [](std::uint64_t offset, const ByteRange& m) { return offset < m.offset; });
    return static_cast<std::size_t>(std::prev(it) - merged.begin());
  };
  std::vector<int> users(merged.size(), 0);
  std::vector<const ReadRequest*> direct(merged.size(), nullptr);
  for (const auto& r : requests) {
    const auto m = holder(r);
    ++users[m];
    if (r.offset == merged[m].offset && r.dest.size() == merged[m].size) direct[m] = &r;
  }
  std::vector<std::vector<std::byte>> scratch(merged.size());
  std::vector<ReadRequest> network;
  network.reserve(merged.size());
  for (std::size_t m = 0; m < merged.size(); ++m) {
    if (users[m] == 1 && direct[m] != nullptr) {
      network.push_back(*direct[m]);
    } else {
      scratch[m].resize(merged[m].size);
      network.push_back({merged[m].offset, scratch[m]});
    }
  }
  MLAAS_TRY(fetchWithRetries(std::move(network)));
  for (const auto& r : requests) {
    const auto m = holder(r);
    if (scratch[m].empty()) continue;
    std::memcpy(r.dest.data(), scratch[m].data() + (r.offset - merged[m].offset), r.dest.size());
  }
  return {};
}

core::Result<void> RemoteSource::read(std::span<const ReadRequest> requests) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  std::vector<ReadRequest> network;
  std::vector<std::pair<ReadRequest, std::shared_ptr<Block>>> waiting;
  for (const auto& request : requests) {
    const std::uint64_t want = request.dest.size();
    if (request.offset > size_ || want > size_ - request.offset) {
      return core::fail(core::Errc::corrupt,
                        fmt::format("{}: range [{}, {}) is beyond the end of the file ({} bytes)", url_,
                                    request.offset, request.offset + want, size_));
    }
    if (want == 0) continue;
    if (serveFromCache(request)) {
      cacheHits_.fetch_add(1, std::memory_order_relaxed);
    } else if (auto block = findPrefetched(request)) {
      waiting.emplace_back(request, std::move(block));
    } else {
      if (auto rest = uncachedPart(request); !rest.dest.empty()) network.push_back(rest);
    }
  }
  if (!network.empty()) {
    std::uint64_t wanted = totalBytes(network);
    if (network.size() == 1 && options_.smallReadBlockBytes > 0 && wanted <= options_.smallReadBlockBytes / 4) {
      MLAAS_TRY(readAround(network.front()));
    } else {
      MLAAS_TRY(fetchCoalesced(network));
    }
  }

  std::vector<ReadRequest> failedPrefetch;
  for (auto& [request, block] : waiting) {
    if (block->ready.get()) {
      std::memcpy(request.dest.data(), block->bytes.data() + (request.offset - block->range.offset),
                  request.dest.size());
      cacheHits_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failedPrefetch.push_back(request);  // read it again, now with retries and a precise error
    }
  }
  if (!failedPrefetch.empty()) MLAAS_TRY(fetchCoalesced(failedPrefetch));
  bytesRead_.fetch_add(totalBytes(requests), std::memory_order_relaxed);
  return {};
}

ReadRequest RemoteSource::uncachedPart(const ReadRequest& request) {
  // The head block is a prefix of the file and the tail block a suffix; kept blocks that have
  // arrived may hold either end of the range too. Copy what they hold, leave the middle.
  std::uint64_t begin = request.offset;
  std::uint64_t end = request.offset + request.dest.size();
  auto copy = [&](std::uint64_t from, std::uint64_t to, const std::byte* source, std::uint64_t sourceOffset) {
    std::memcpy(request.dest.data() + (from - request.offset), source + (from - sourceOffset), to - from);
  };
  if (begin < head_.size()) {
    const auto upto = std::min<std::uint64_t>(end, head_.size());
    copy(begin, upto, head_.data(), 0);
    begin = upto;
  }
  if (!tail_.empty() && end > tailOffset_ && begin < end) {
    const auto from = std::max(begin, tailOffset_);
    copy(from, end, tail_.data(), tailOffset_);
    end = from;
  }
  std::lock_guard lock(prefetchMutex_);
  for (bool progress = true; progress && begin < end;) {
    progress = false;
    for (const auto& block : prefetched_) {
      using namespace std::chrono_literals;
      const auto& r = block->range;
      if (block->ready.wait_for(0s) != std::future_status::ready || !block->ready.get()) continue;
      if (r.offset <= begin && begin < r.end()) {
        const auto upto = std::min(end, r.end());
        copy(begin, upto, block->bytes.data(), r.offset);
        begin = upto;
        progress = true;
      } else if (r.offset < end && end <= r.end() && begin < end) {
        const auto from = std::max(begin, r.offset);
        copy(from, end, block->bytes.data(), r.offset);
        end = from;
        progress = true;
      }
      if (begin >= end) break;
    }
  }
  if (begin >= end) return {begin, {}};
  return {begin, request.dest.subspan(begin - request.offset, end - begin)};
}

core::Result<void> RemoteSource::readAround(const ReadRequest& request) {
  // A lone small read is usually metadata (a key, then the object after it): fetch a block from
  // there on and keep it, so that the next few small reads cost no round trip.
  const std::uint64_t limit = (!tail_.empty() && request.offset < tailOffset_) ? tailOffset_ : size_;
  const std::uint64_t end = std::max(request.offset + request.dest.size(),
                                     std::min(limit, request.offset + options_.smallReadBlockBytes));
  auto block = std::make_shared<Block>();
  block->range = {request.offset, end - request.offset};
  block->allocate(block->range.size);
  if (auto fetched = fetchWithRetries({ReadRequest{block->range.offset, block->bytes}}); !fetched) {
    auto error = std::move(fetched).error();
    error.message += fmt::format(" (reading range [{}, {}))", request.offset, request.offset + request.dest.size());
    return core::fail(std::move(error));
  }
  std::memcpy(request.dest.data(), block->bytes.data(), request.dest.size());
  std::promise<core::Result<void>> done;
  done.set_value({});
  block->ready = done.get_future().share();
  std::lock_guard lock(prefetchMutex_);
  remember(std::move(block), 1);
  return {};
}

void RemoteSource::remember(std::shared_ptr<Block> block, std::size_t keepNewest) {
  prefetchedBytes_ += block->range.size;
  prefetched_.push_back(std::move(block));
  while (prefetchedBytes_ > options_.prefetchLimitBytes && prefetched_.size() > keepNewest) {
    prefetchedBytes_ -= prefetched_.front()->range.size;
    prefetched_.pop_front();
  }
}

void RemoteSource::prefetch(std::span<const ByteRange> ranges) {
  std::vector<ByteRange> wanted;
  for (const auto& r : ranges) {
    if (r.size == 0 || r.offset >= size_) continue;
    const ByteRange clamped{r.offset, std::min(r.size, size_ - r.offset)};
    if (contains(0, head_.size(), clamped.offset, clamped.size) ||
        (!tail_.empty() && contains(tailOffset_, size_, clamped.offset, clamped.size)))
      continue;
    wanted.push_back(clamped);
  }
  std::lock_guard lock(prefetchMutex_);
  std::erase_if(wanted, [&](const ByteRange& r) {
    return std::any_of(prefetched_.begin(), prefetched_.end(),
                       [&](const auto& b) { return r.offset >= b->range.offset && r.end() <= b->range.end(); });
  });
  if (wanted.empty()) return;

  std::vector<std::shared_ptr<Block>> blocks;
  std::vector<ReadRequest> requests;
  for (const auto& range : coalesce(std::move(wanted), options_.coalesceGap, options_.maxRequestSize)) {
    auto block = std::make_shared<Block>();
    block->range = range;
    block->allocate(range.size);
    requests.push_back({range.offset, block->bytes});
    blocks.push_back(std::move(block));
  }
  // One transport call for all blocks (one vector read / multi-range request); the callback
  // keeps the blocks alive until the transport is done writing into them.
  auto promise = std::make_shared<std::promise<core::Result<void>>>();
  auto ready = promise->get_future().share();
  for (auto& block : blocks) {
    block->ready = ready;
    remember(block, blocks.size());
  }
  bytesFetched_.fetch_add(totalBytes(requests), std::memory_order_relaxed);
  trace(url_, "prefetch", requests);
  transport_->start(std::move(requests), [promise, blocks](core::Result<void> result) {
    promise->set_value(std::move(result));
  });
}

}  // namespace mlaas::io::detail
