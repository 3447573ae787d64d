// root:// sources on libXrdCl. Reads become vector reads (kXR_readv) cut to the server's limits
// (chunks per request, bytes per chunk); all of them are in flight at once on XrdCl's own threads.
#include <XProtocol/XProtocol.hh>
#include <XrdCl/XrdClDefaultEnv.hh>
#include <XrdCl/XrdClEnv.hh>
#include <XrdCl/XrdClFile.hh>
#include <XrdCl/XrdClLog.hh>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "io/remote.hpp"
#include "io/remote_source.hpp"

namespace mlaas::io {
namespace {

using detail::FetchDone;

core::Error xrootdError(const XrdCl::XRootDStatus& status, const std::string& where) {
  using core::Errc;
  Errc code = Errc::io;
  switch (status.code) {
    case XrdCl::errErrorResponse:
      switch (status.errNo) {
        case kXR_NotFound: code = Errc::not_found; break;
        case kXR_NotAuthorized: code = Errc::permission_denied; break;
        case kXR_isDirectory:
        case kXR_NotFile: code = Errc::invalid_argument; break;
        case kXR_Overloaded:
        case kXR_ServerError:
        case kXR_noserver: code = Errc::unavailable; break;
        default: code = Errc::io; break;
      }
      break;
    case XrdCl::errOperationExpired:
    case XrdCl::errSocketTimeout: code = Errc::timeout; break;
    case XrdCl::errConnectionError:
    case XrdCl::errSocketError:
    case XrdCl::errSocketDisconnected:
    case XrdCl::errStreamDisconnect:
    case XrdCl::errInvalidSession:
    case XrdCl::errOperationInterrupted:
    case XrdCl::errPollerError:
    case XrdCl::errRetry: code = Errc::unavailable; break;
    case XrdCl::errAuthFailed:
    case XrdCl::errLoginFailed: code = Errc::unauthenticated; break;
    case XrdCl::errInvalidAddr:
    case XrdCl::errInvalidArgs: code = Errc::invalid_argument; break;
    case XrdCl::errNotFound: code = Errc::not_found; break;
    default: break;
  }
  return core::Error{code, fmt::format("{}: {}", where, status.ToString())};
}

/// XrdCl's defaults suit a batch copy (minutes of connection retries, a 30-minute error window
/// after a dropped stream); we retry ourselves, so let XrdCl fail fast. Values the user set in
/// the environment (XRD_CONNECTIONWINDOW, ...) win: XrdCl refuses to overwrite imported ones.
void configureXrdClOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto* env = XrdCl::DefaultEnv::GetEnv();
    env->PutInt("ConnectionWindow", 10);
    env->PutInt("ConnectionRetry", 1);
    env->PutInt("StreamErrorWindow", 0);
    if (std::getenv("XRD_LOGLEVEL") == nullptr) XrdCl::DefaultEnv::GetLog()->SetLevel(XrdCl::Log::NoMsg);
  });
}

/// Completion of one vector read: checks that the server returned every byte asked for.
class VectorReadHandler final : public XrdCl::ResponseHandler {
 public:
  VectorReadHandler(std::shared_ptr<XrdCl::File> file, XrdCl::ChunkList chunks, std::string where, FetchDone done)
      : file_(std::move(file)), chunks_(std::move(chunks)), where_(std::move(where)), done_(std::move(done)) {}

  void HandleResponse(XrdCl::XRootDStatus* status, XrdCl::AnyObject* response) override {
    std::unique_ptr<VectorReadHandler> self(this);
    std::unique_ptr<XrdCl::XRootDStatus> statusOwner(status);
    std::unique_ptr<XrdCl::AnyObject> responseOwner(response);
    done_(judge(status, response));
  }

 private:
  core::Result<void> judge(XrdCl::XRootDStatus* status, XrdCl::AnyObject* response) const {
    if (status == nullptr || !status->IsOK()) {
      return core::fail(
          xrootdError(status ? *status : XrdCl::XRootDStatus(XrdCl::stError, XrdCl::errInternal), where_));
    }
    XrdCl::VectorReadInfo* info = nullptr;
    if (response != nullptr) response->Get(info);
    std::uint64_t expected = 0;
    for (const auto& c : chunks_) expected += c.length;
    if (info == nullptr || info->GetSize() != expected || info->GetChunks().size() != chunks_.size()) {
      return core::fail(core::Errc::io, fmt::format("{}: the server returned {} of {} bytes", where_,
                                                    info ? info->GetSize() : 0, expected));
    }
    for (std::size_t i = 0; i < chunks_.size(); ++i) {
      const auto& got = info->GetChunks()[i];
      if (got.offset != chunks_[i].offset || got.length != chunks_[i].length) {
        return core::fail(core::Errc::io, fmt::format("{}: the server returned bytes [{}, {}) for [{}, {})", where_,
                                                      got.offset, got.offset + got.length, chunks_[i].offset,
                                                      chunks_[i].offset + chunks_[i].length));
      }
    }
    return {};
  }

  std::shared_ptr<XrdCl::File> file_;  // keeps the file open while the request is in flight
  XrdCl::ChunkList chunks_;
  std::string where_;
  FetchDone done_;
};


class XrootdTransport final : public detail::Transport {
 public:
  XrootdTransport(std::string url, const SourceOptions& options) : url_(std::move(url)), options_(options) {
    configureXrdClOnce();
  }

  core::Result<detail::OpenedFile> open(std::uint64_t /*headBytes*/) override {
    auto file = std::make_shared<XrdCl::File>();
    roundTrips_.fetch_add(1, std::memory_order_relaxed);
    const auto status = file->Open(url_, XrdCl::OpenFlags::Read, XrdCl::Access::None, timeout());
    if (!status.IsOK()) return core::fail(xrootdError(status, url_ + ": cannot open"));
    XrdCl::StatInfo* info = nullptr;
    // The open response carries the stat (kXR_retstat): no extra round trip.
    const auto statStatus = file->Stat(false, info, timeout());
    std::unique_ptr<XrdCl::StatInfo> infoOwner(info);
    if (!statStatus.IsOK() || info == nullptr) return core::fail(xrootdError(statStatus, url_ + ": cannot stat"));
    if (info->TestFlags(XrdCl::StatInfo::IsDir)) {
      return core::fail(core::Errc::invalid_argument, url_ + ": is a directory, not a file");
    }
    {
      std::lock_guard lock(mutex_);
      file_ = std::move(file);
      size_ = info->GetSize();
    }
    return detail::OpenedFile{info->GetSize(), {}};
  }

  void start(std::vector<ReadRequest> requests, FetchDone done) override {
    std::erase_if(requests, [](const ReadRequest& r) { return r.dest.empty(); });
    if (requests.empty()) {
      done({});
      return;
    }
    auto file = currentFile();
    if (!file) {
      done(core::fail(std::move(file).error()));
      return;
    }
    // Chunks within the server's per-chunk limit; requests within its chunk count, and big reads
    // spread over several requests so that they travel in parallel.
    const std::uint64_t chunkMax = std::clamp<std::uint64_t>(options_.xrootdMaxChunkSize, 1, UINT32_MAX);
    const std::size_t chunksMax = static_cast<std::size_t>(std::max(1, options_.xrootdMaxChunks));
    const std::uint64_t requestBytesMax = std::max<std::uint64_t>(chunkMax, options_.maxRequestSize / 4);
    std::vector<std::pair<XrdCl::ChunkList, std::vector<ReadRequest>>> groups(1);
    std::uint64_t groupBytes = 0;
    for (const auto& r : requests) {
      for (std::uint64_t at = 0; at < r.dest.size(); at += chunkMax) {
        const auto n = std::min<std::uint64_t>(chunkMax, r.dest.size() - at);
        if (groups.back().first.size() >= chunksMax ||
            (groupBytes + n > requestBytesMax && !groups.back().first.empty())) {
          groups.emplace_back();
          groupBytes = 0;
        }
        groups.back().first.emplace_back(r.offset + at, static_cast<std::uint32_t>(n), r.dest.data() + at);
        groups.back().second.push_back({r.offset + at, r.dest.subspan(at, n)});
        groupBytes += n;
      }
    }
    auto gather = std::make_shared<detail::Gather>(groups.size(), std::move(done));
    for (auto& [chunks, parts] : groups) {
      const auto where = fmt::format("{}: {}", url_, detail::describeRanges(parts));
      auto handler = std::make_unique<VectorReadHandler>(
          *file, chunks, where, [gather](core::Result<void> result) { gather->finish(std::move(result)); });
      roundTrips_.fetch_add(1, std::memory_order_relaxed);
      const auto status = (*file)->VectorRead(chunks, nullptr, handler.get(), timeout());
      if (status.IsOK()) {
        handler.release();  // XrdCl calls it exactly once; it deletes itself
      } else {
        gather->finish(core::fail(xrootdError(status, where)));
      }
    }
  }

  void recover() override {
    std::lock_guard lock(mutex_);
    reopen_ = true;  // the next start() opens the file again on a fresh connection
  }

  std::uint64_t roundTrips() const noexcept override { return roundTrips_.load(std::memory_order_relaxed); }

 private:
  std::uint16_t timeout() const {
    return static_cast<std::uint16_t>(std::clamp(options_.timeoutSeconds, 1.0, 65535.0));
  }

  core::Result<std::shared_ptr<XrdCl::File>> currentFile() {
    std::lock_guard lock(mutex_);
    if (!reopen_ && file_) return file_;
    auto file = std::make_shared<XrdCl::File>();
    roundTrips_.fetch_add(1, std::memory_order_relaxed);
    const auto status = file->Open(url_, XrdCl::OpenFlags::Read, XrdCl::Access::None, timeout());
    if (!status.IsOK()) return core::fail(xrootdError(status, url_ + ": cannot reopen"));
    XrdCl::StatInfo* info = nullptr;
    const auto statStatus = file->Stat(false, info, timeout());
    std::unique_ptr<XrdCl::StatInfo> infoOwner(info);
    if (statStatus.IsOK() && info != nullptr && info->GetSize() != size_) {
      return core::fail(core::Errc::corrupt, fmt::format("{}: the file changed on the server: its size is now {} "
                                                         "bytes, was {}",
                                                         url_, info->GetSize(), size_));
    }
    file_ = std::move(file);
    reopen_ = false;
    return file_;
  }

  std::string url_;
  SourceOptions options_;
  std::mutex mutex_;
  std::shared_ptr<XrdCl::File> file_;
  std::uint64_t size_ = 0;
  bool reopen_ = false;
  std::atomic<std::uint64_t> roundTrips_{0};
};

}  // namespace

core::Result<SourcePtr> openXrootd(const std::string& url, const SourceOptions& options) {
  return detail::RemoteSource::open(url, std::make_unique<XrootdTransport>(url, options), options);
}

}  // namespace mlaas::io
