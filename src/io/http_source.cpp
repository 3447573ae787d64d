// http:// and https:// sources on libcurl. One thread per source drives a curl multi handle, so
// that requests run in parallel over kept-alive connections and prefetches proceed while the
// caller decompresses. Ranges go out as one multipart/byteranges request where the server
// supports it, else as parallel single-range requests.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "io/credentials.hpp"
#include "io/http_parse.hpp"
#include "io/remote.hpp"
#include "io/remote_source.hpp"

namespace mlaas::io {
namespace {

using detail::FetchDone;
using detail::lowercase;
using detail::trim;


using detail::ContentRange;
using detail::parseContentRange;

/// One HTTP request: a GET for one or several ranges, filling the wanted destinations.
struct Exchange {
  std::vector<ReadRequest> wants;
  bool probe = false;                // the opening request: learns the size from the response
  std::uint64_t knownSize = 0;       // the file size, when not probing
  FetchDone done;

  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string rangeHeader;
  char curlError[CURL_ERROR_SIZE] = {};

  long status = 0;
  std::string contentType;
  std::optional<ContentRange> contentRange;
  std::optional<std::uint64_t> contentLength;
  bool bodyStarted = false;
  bool multipart = false;
  std::uint64_t bodyOffset = 0;      // file offset of the first body byte (single part)
  std::uint64_t streamed = 0;        // body bytes received
  std::uint64_t bodyLimit = 0;       // most body bytes we accept
  std::string multipartBody;
  bool completeEarly = false;        // a 200 body delivered every wanted byte; stopped on purpose
  std::string writeFailure;
  std::vector<ByteRange> covered;    // file ranges the response delivered

  ~Exchange() {
    if (headers != nullptr) curl_slist_free_all(headers);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }

  std::uint64_t wantedEnd() const {
    std::uint64_t end = 0;
    for (const auto& w : wants) end = std::max(end, w.offset + w.dest.size());
    return end;
  }

  /// Copies body bytes that start at file offset `at` into every wanted range they overlap.
  void scatter(std::uint64_t at, const char* data, std::uint64_t size) {
    for (const auto& w : wants) {
      const std::uint64_t begin = std::max(at, w.offset);
      const std::uint64_t end = std::min(at + size, w.offset + w.dest.size());
      if (begin < end) std::memcpy(w.dest.data() + (begin - w.offset), data + (begin - at), end - begin);
    }
    if (size > 0) covered.push_back({at, size});
  }

  /// True when every wanted range lies inside what the response delivered.
  bool complete() {
    std::sort(covered.begin(), covered.end(),
              [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
    std::vector<ByteRange> merged;
    for (const auto& c : covered) {
      if (!merged.empty() && c.offset <= merged.back().end()) {
        merged.back().size = std::max(merged.back().end(), c.end()) - merged.back().offset;
      } else {
        merged.push_back(c);
      }
    }
    for (const auto& w : wants) {
      const bool inside = std::any_of(merged.begin(), merged.end(), [&](const ByteRange& m) {
        return w.offset >= m.offset && w.offset + w.dest.size() <= m.end();
      });
      if (!inside) return false;
    }
    return true;
  }
};

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto& ex = *static_cast<Exchange*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100 Continue)
    ex.contentType.clear();
    ex.contentRange.reset();
    ex.contentLength.reset();
    ex.status = 0;
    const auto space = line.find(' ');
    if (space != std::string_view::npos)
      ex.status = static_cast<long>(detail::parseDecimal(line.substr(space + 1, 3)).value_or(0));
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  const auto name = lowercase(trim(line.substr(0, colon)));
  const auto value = trim(line.substr(colon + 1));
  if (name == "content-type") ex.contentType = std::string(value);
  if (name == "content-range") ex.contentRange = parseContentRange(value);
  if (name == "content-length") ex.contentLength = detail::parseDecimal(value);
  return size * count;
}

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto& ex = *static_cast<Exchange*>(user);
  const std::uint64_t n = size * count;
  if (ex.status != 200 && ex.status != 206) return n;  // an error page: ignored
  if (!ex.bodyStarted) {
    ex.bodyStarted = true;
    const auto type = lowercase(ex.contentType);
    ex.multipart = ex.status == 206 && type.rfind("multipart/byteranges", 0) == 0;
    std::uint64_t wanted = 0;
    for (const auto& w : ex.wants) wanted += w.dest.size();
    if (ex.status == 206 && !ex.multipart) {
      if (!ex.contentRange || !ex.contentRange->hasRange) {
        ex.writeFailure = "206 response without a valid Content-Range";
        return 0;
      }
      ex.bodyOffset = ex.contentRange->first;
      ex.bodyLimit = ex.contentRange->last - ex.contentRange->first + 1;
    } else if (ex.multipart) {
      // Part headers cost ~100 bytes each; anything far beyond that is not what we asked for.
      ex.bodyLimit = wanted + 1024 * ex.wants.size() + 64 * 1024;
      ex.multipartBody.reserve(wanted + 128 * ex.wants.size() + 1024);
    } else {  // 200: the whole file from offset 0; we keep what we need and stop
      ex.bodyOffset = 0;
      ex.bodyLimit = UINT64_MAX;
    }
  }
  if (ex.streamed + n > ex.bodyLimit) {
    ex.writeFailure = fmt::format("response body is longer than the {} bytes announced", ex.bodyLimit);
    return 0;
  }
  if (ex.multipart) {
    ex.multipartBody.append(data, n);
  } else {
    ex.scatter(ex.bodyOffset + ex.streamed, data, n);
  }
  ex.streamed += n;
  if (ex.status == 200 && ex.streamed >= ex.wantedEnd()) {
    ex.completeEarly = true;
    return 0;  // curl reports CURLE_WRITE_ERROR; we know we have everything
  }
  return n;
}

/// Splits a multipart/byteranges body into its parts and scatters them; "" or a failure message.
std::string parseMultipart(Exchange& ex) {
  auto parts = detail::parseMultipartByteranges(ex.contentType, ex.multipartBody);
  if (!parts) return parts.error().message;
  for (const auto& part : *parts) {
    if (part.range.total && ex.knownSize != 0 && *part.range.total != ex.knownSize) {
      return fmt::format("the file changed on the server: its size is now {} bytes, was {}", *part.range.total,
                         ex.knownSize);
    }
  }
  for (const auto& part : *parts) ex.scatter(part.range.first, part.bytes.data(), part.bytes.size());
  return {};
}

core::Error httpStatusError(long status, const std::string& where) {
  using core::Errc;
  Errc code = Errc::unsupported;
  if (status == 404 || status == 410) code = Errc::not_found;
  if (status == 401) code = Errc::unauthenticated;
  if (status == 403) code = Errc::permission_denied;
  if (status == 416) code = Errc::corrupt;
  if (status == 408 || status == 429 || status >= 500) code = Errc::unavailable;
  return core::Error{code, fmt::format("{}: HTTP status {}", where, status)};
}

core::Error curlError(CURLcode rc, const Exchange& ex, const std::string& where) {
  using core::Errc;
  const std::string detail = ex.curlError[0] != '\0' ? std::string(ex.curlError) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return {Errc::unavailable, fmt::format("{}: {}", where, detail)};
    case CURLE_OPERATION_TIMEDOUT:
      return {Errc::timeout, fmt::format("{}: timed out: {}", where, detail)};
    case CURLE_PARTIAL_FILE:
      return {Errc::io, fmt::format("{}: truncated response: {}", where, detail)};
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return {Errc::unauthenticated, fmt::format("{}: TLS: {}", where, detail)};
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return {Errc::invalid_argument, fmt::format("{}: {}", where, detail)};
    default:
      return {Errc::io, fmt::format("{}: {}", where, detail)};
  }
}


void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class HttpTransport final : public detail::Transport {
 public:
  HttpTransport(std::string url, const SourceOptions& options, std::optional<BearerToken> token, X509Credentials x509)
      : originalUrl_(url), url_(std::move(url)), options_(options), token_(std::move(token)), x509_(std::move(x509)) {
    initCurlOnce();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(std::max(1, options.maxParallelRequests)));
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      static_cast<long>(std::max(1, options.maxParallelRequests)));
    multiRange_ = options.httpMultiRange;
    loop_ = std::thread([this] { run(); });
  }

  ~HttpTransport() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    loop_.join();
    curl_multi_cleanup(multi_);
  }

  core::Result<detail::OpenedFile> open(std::uint64_t headBytes) override {
    detail::OpenedFile opened;
    opened.head.resize(std::max<std::uint64_t>(headBytes, 1));
    auto ex = std::make_unique<Exchange>();
    ex->probe = true;
    ex->wants.push_back({0, opened.head});
    std::promise<core::Result<void>> promise;
    Exchange* probe = ex.get();
    std::uint64_t size = 0, got = 0;
    // The completion runs on the loop thread before the exchange is freed: read the answer there.
    ex->done = [&](core::Result<void> result) {
      if (result) {
        if (probe->status == 206 && probe->contentRange && probe->contentRange->total) {
          size = *probe->contentRange->total;
          got = probe->contentRange->last + 1;
        } else if (probe->status == 416 && probe->contentRange && probe->contentRange->total) {
          size = *probe->contentRange->total;  // an empty file
        } else if (probe->status == 200 && probe->contentLength) {
          size = *probe->contentLength;
          got = probe->streamed;
        } else {
          result = core::fail(core::Errc::unsupported,
                              fmt::format("{}: the server sent neither Content-Range nor Content-Length, so the "
                                          "file size is unknown",
                                          originalUrl_));
        }
        char* effective = nullptr;
        if (curl_easy_getinfo(probe->easy, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective != nullptr) {
          std::lock_guard lock(mutex_);
          url_ = effective;  // later requests skip the redirect
        }
      }
      promise.set_value(std::move(result));
    };
    auto future = promise.get_future();
    submit(std::move(ex));
    MLAAS_TRY(future.get());
    opened.size = size;
    size_ = size;
    opened.head.resize(std::min({got, size, opened.head.size()}));
    return opened;
  }

  void start(std::vector<ReadRequest> requests, FetchDone done) override {
    std::erase_if(requests, [](const ReadRequest& r) { return r.dest.empty(); });
    if (requests.empty()) {
      done({});
      return;
    }
    std::sort(requests.begin(), requests.end(),
              [](const ReadRequest& a, const ReadRequest& b) { return a.offset < b.offset; });
    // Large ranges go out in parallel pieces: one TCP stream rarely fills a long fat pipe.
    const std::uint64_t piece = std::max<std::uint64_t>(1024 * 1024, options_.maxRequestSize / 4);
    std::vector<ReadRequest> pieces;
    for (const auto& r : requests) {
      for (std::uint64_t at = 0; at < r.dest.size(); at += piece) {
        const auto n = std::min<std::uint64_t>(piece, r.dest.size() - at);
        pieces.push_back({r.offset + at, r.dest.subspan(at, n)});
      }
    }
    // Separate small ranges share a multipart request (one round trip); a request carries at
    // most `piece` bytes, so big reads spread over parallel connections instead.
    std::vector<std::vector<ReadRequest>> groups;
    const std::size_t perRequest =
        multiRange_ ? static_cast<std::size_t>(std::max(1, options_.httpMaxRangesPerRequest)) : 1;
    std::uint64_t groupBytes = 0;
    for (const auto& p : pieces) {
      if (groups.empty() || groups.back().size() >= perRequest || groupBytes + p.dest.size() > piece) {
        groups.emplace_back();
        groupBytes = 0;
      }
      groups.back().push_back(p);
      groupBytes += p.dest.size();
    }
    auto gather = std::make_shared<detail::Gather>(groups.size(), std::move(done));
    for (auto& group : groups) {
      auto ex = std::make_unique<Exchange>();
      ex->wants = std::move(group);
      ex->knownSize = size_;
      ex->done = [gather](core::Result<void> result) { gather->finish(std::move(result)); };
      submit(std::move(ex));
    }
  }

  void recover() override {
    std::lock_guard lock(mutex_);
    url_ = originalUrl_;  // a redirect target may have gone; ask the origin again
  }

  std::uint64_t roundTrips() const noexcept override { return roundTrips_.load(std::memory_order_relaxed); }

 private:
  void submit(std::unique_ptr<Exchange> ex) {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) {
        pending_.push_back(std::move(ex));
        ex = nullptr;
      }
    }
    if (ex) {
      ex->done(core::fail(core::Errc::cancelled, originalUrl_ + ": the source is closing"));
      return;
    }
    curl_multi_wakeup(multi_);
  }

  void configure(Exchange& ex, const std::string& url) {
    ex.easy = curl_easy_init();
    CURL* e = ex.easy;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ex.curlError);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "mlaas");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &ex);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &ex);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &ex);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 512L * 1024);  // fewer callbacks for big ranges
    const long timeoutMs = static_cast<long>(std::max(1.0, options_.timeoutSeconds * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeoutMs);
    // A stalled transfer times out; a slow but moving one does not (a 16 MiB range on a slow
    // link may legitimately take longer than the timeout).
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, std::max(1L, timeoutMs / 1000));
    std::string ranges = "bytes=";
    for (std::size_t i = 0; i < ex.wants.size(); ++i) {
      const auto& w = ex.wants[i];
      ranges += fmt::format("{}{}-{}", i == 0 ? "" : ",", w.offset, w.offset + w.dest.size() - 1);
    }
    ex.rangeHeader = "Range: " + ranges;
    ex.headers = curl_slist_append(ex.headers, ex.rangeHeader.c_str());
    if (url.rfind("https://", 0) == 0) {
      // Credentials only over TLS: a bearer token sent in clear text is a token given away.
      if (token_) ex.headers = curl_slist_append(ex.headers, ("Authorization: Bearer " + token_->token).c_str());
      if (!x509_.proxyFile.empty()) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, x509_.proxyFile.c_str());
        curl_easy_setopt(e, CURLOPT_SSLKEY, x509_.proxyFile.c_str());
      }
      if (!x509_.caDir.empty()) curl_easy_setopt(e, CURLOPT_CAPATH, x509_.caDir.c_str());
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, ex.headers);
  }

  /// Judges a finished exchange: status, Content-Range, lengths, and that every wanted byte came.
  core::Result<void> judge(Exchange& ex, CURLcode rc) {
    const std::string where = fmt::format("{}: {}", originalUrl_, detail::describeRanges(ex.wants));
    long redirects = 0;
    if (curl_easy_getinfo(ex.easy, CURLINFO_REDIRECT_COUNT, &redirects) == CURLE_OK && redirects > 0) {
      roundTrips_.fetch_add(static_cast<std::uint64_t>(redirects), std::memory_order_relaxed);
    }
    if (rc == CURLE_WRITE_ERROR && ex.completeEarly) rc = CURLE_OK;
    if (rc == CURLE_WRITE_ERROR && !ex.writeFailure.empty()) {
      return core::fail(core::Errc::io, fmt::format("{}: {}", where, ex.writeFailure));
    }
    if (rc != CURLE_OK) return core::fail(curlError(rc, ex, where));
    if (ex.probe && ex.status == 416) return {};
    if (ex.status != 200 && ex.status != 206) return core::fail(httpStatusError(ex.status, where));
    if (ex.status == 206 && !ex.multipart && ex.contentRange) {
      const auto& cr = *ex.contentRange;
      if (cr.total && !ex.probe && *cr.total != ex.knownSize) {
        return core::fail(core::Errc::corrupt, fmt::format("{}: the file changed on the server: its size is now {} "
                                                           "bytes, was {}",
                                                           where, *cr.total, ex.knownSize));
      }
      if (ex.streamed != cr.last - cr.first + 1) {
        return core::fail(core::Errc::io, fmt::format("{}: truncated response: {} of {} bytes", where, ex.streamed,
                                                      cr.last - cr.first + 1));
      }
    }
    if (ex.multipart) {
      if (auto failure = parseMultipart(ex); !failure.empty()) {
        return core::fail(core::Errc::io, fmt::format("{}: {}", where, failure));
      }
    }
    if (ex.status == 200 && !ex.completeEarly && ex.contentLength && ex.streamed != *ex.contentLength) {
      return core::fail(core::Errc::io, fmt::format("{}: truncated response: {} of {} bytes", where, ex.streamed,
                                                    *ex.contentLength));
    }
    if (ex.probe) return {};  // a short file answers with fewer bytes than the probe asked for
    if (!ex.complete()) {
      return core::fail(core::Errc::io, fmt::format("{}: the response (HTTP {}) does not contain every requested byte",
                                                    where, ex.status));
    }
    return {};
  }

  void run() {
    std::unordered_map<CURL*, std::unique_ptr<Exchange>> active;
    for (;;) {
      std::vector<std::unique_ptr<Exchange>> incoming;
      std::string url;
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        incoming.swap(pending_);
        stopping = stopping_;
        url = url_;
      }
      if (stopping) {
        for (auto& ex : incoming) ex->done(core::fail(core::Errc::cancelled, originalUrl_ + ": the source is closing"));
        for (auto& [easy, ex] : active) {
          curl_multi_remove_handle(multi_, easy);
          ex->done(core::fail(core::Errc::cancelled, originalUrl_ + ": the source is closing"));
        }
        return;
      }
      for (auto& ex : incoming) {
        configure(*ex, url);
        curl_multi_add_handle(multi_, ex->easy);
        roundTrips_.fetch_add(1, std::memory_order_relaxed);
        CURL* easy = ex->easy;
        active.emplace(easy, std::move(ex));
      }
      int running = 0;
      curl_multi_perform(multi_, &running);
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* easy = msg->easy_handle;
        const CURLcode rc = msg->data.result;
        curl_multi_remove_handle(multi_, easy);
        auto node = active.extract(easy);
        if (node.empty()) continue;
        auto ex = std::move(node.mapped());
        finish(std::move(ex), rc);
      }
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
  }

  void finish(std::unique_ptr<Exchange> ex, CURLcode rc) {
    auto result = judge(*ex, rc);
    // A multi-range request answered with one part that misses ranges: the server does not do
    // multipart. Fall back to single ranges in parallel from now on.
    if (!result && ex->wants.size() > 1 && rc == CURLE_OK && (ex->status == 206 || ex->status == 200) &&
        !ex->multipart) {
      multiRange_ = false;
      auto gather = std::make_shared<detail::Gather>(ex->wants.size(), std::move(ex->done));
      std::vector<std::unique_ptr<Exchange>> singles;
      for (const auto& w : ex->wants) {
        auto single = std::make_unique<Exchange>();
        single->wants.push_back(w);
        single->knownSize = size_;
        single->done = [gather](core::Result<void> r) { gather->finish(std::move(r)); };
        singles.push_back(std::move(single));
      }
      {
        std::lock_guard lock(mutex_);
        for (auto& s : singles) pending_.push_back(std::move(s));
      }
      curl_multi_wakeup(multi_);
      return;
    }
    if (ex->status == 200 && ex->wants.size() > 1 && result) multiRange_ = false;
    ex->done(std::move(result));
  }

  const std::string originalUrl_;
  std::string url_;  // the effective URL after redirects; guarded by mutex_
  SourceOptions options_;
  std::optional<BearerToken> token_;
  X509Credentials x509_;
  std::atomic<bool> multiRange_{true};
  std::atomic<std::uint64_t> size_{0};
  std::atomic<std::uint64_t> roundTrips_{0};

  CURLM* multi_ = nullptr;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Exchange>> pending_;
  bool stopping_ = false;
  std::thread loop_;
};

}  // namespace

core::Result<SourcePtr> openHttp(const std::string& url, const SourceOptions& options) {
  const auto env = processEnvironment();
  const auto uid = static_cast<unsigned>(::getuid());
  std::optional<BearerToken> token;
  if (url.rfind("https://", 0) == 0) {
    auto found = discoverBearerToken(env, uid);
    if (!found) return core::fail(std::move(found).error().withContext(url));
    token = std::move(*found);
  }
  auto transport = std::make_unique<HttpTransport>(url, options, std::move(token), discoverX509(env, uid));
  return detail::RemoteSource::open(url, std::move(transport), options);
}

}  // namespace mlaas::io
