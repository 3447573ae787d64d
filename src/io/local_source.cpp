#include "io/local_source.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "io/source.hpp"

namespace mlaas::io {
namespace {

class LocalSource final : public Source {
 public:
  LocalSource(std::string path, int fd, std::uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {
    // Mapped once for the source's lifetime (a failed mapping only means every read uses pread).
    const char* env = std::getenv("MLAAS_LOCAL_MMAP");
    const bool wanted = !(env && env[0] == '0');
    if (wanted && size_ > 0 && size_ <= static_cast<std::uint64_t>(SIZE_MAX)) {
      void* at = ::mmap(nullptr, static_cast<std::size_t>(size_), PROT_READ, MAP_SHARED, fd_, 0);
      if (at != MAP_FAILED) map_ = static_cast<const std::byte*>(at);
    }
  }
  ~LocalSource() override {
    if (map_) ::munmap(const_cast<std::byte*>(map_), static_cast<std::size_t>(size_));
    ::close(fd_);
  }

  const std::string& name() const noexcept override { return path_; }
  std::uint64_t size() const noexcept override { return size_; }
  SourceStats stats() const noexcept override {
    const auto n = requests_.load(std::memory_order_relaxed);
    return {n, n, bytes_.load(std::memory_order_relaxed)};
  }

  std::span<const std::byte> mapped(std::span<const ByteRange> ranges) const noexcept {
    if (!map_) return {};
    std::uint64_t end = 0, bytes = 0;
    for (const auto& r : ranges) {
      if (r.offset > size_ || r.size > size_ - r.offset) return {};
      end = std::max(end, r.end());
      bytes += r.size;
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || static_cast<std::uint64_t>(st.st_size) < end) return {};  // shrank: no SIGBUS
    requests_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return {map_, static_cast<std::size_t>(size_)};
  }

  core::Result<void> read(std::span<const ReadRequest> requests) override {
    requests_.fetch_add(1, std::memory_order_relaxed);
    for (const auto& request : requests) {
      const std::uint64_t want = request.dest.size();
      if (request.offset > size_ || want > size_ - request.offset) {
        return core::fail(core::Errc::corrupt, path_ + ": range [" + std::to_string(request.offset) + ", " +
                                                   std::to_string(request.offset + want) +
                                                   ") is beyond the end of the file (" + std::to_string(size_) +
                                                   " bytes)");
      }
      std::uint64_t done = 0;
      while (done < want) {
        const ssize_t n = ::pread(fd_, request.dest.data() + done, want - done,
                                  static_cast<off_t>(request.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          return core::fail(core::Errc::io,
                            path_ + ": read of " + std::to_string(want) + " bytes at offset " +
                                std::to_string(request.offset) +
                                " failed: " + (n == 0 ? std::string("unexpected end of file") : std::strerror(errno)));
        }
        done += static_cast<std::uint64_t>(n);
      }
      bytes_.fetch_add(want, std::memory_order_relaxed);
    }
    return {};
  }

 private:
  std::string path_;
  int fd_;
  std::uint64_t size_;
  const std::byte* map_ = nullptr;  ///< the whole file, read-only; null when not mapped
  mutable std::atomic<std::uint64_t> requests_{0};
  mutable std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace

bool isLocal(const Source& source) noexcept {
  return dynamic_cast<const LocalSource*>(&source) != nullptr;
}

std::span<const std::byte> mappedBytes(const Source& source, std::span<const ByteRange> ranges) noexcept {
  const auto* local = dynamic_cast<const LocalSource*>(&source);
  return local ? local->mapped(ranges) : std::span<const std::byte>{};
}

core::Result<std::string> localPathOf(const std::string& pathOrUrl) {
  if (pathOrUrl.rfind("file://", 0) != 0) return pathOrUrl;
  std::string rest = pathOrUrl.substr(7);
  if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(9);
  if (rest.empty() || rest.front() != '/')
    return core::fail(core::Errc::invalid_argument,
                      pathOrUrl + ": a file URL names a local path as file:///path or file://localhost/path");
  return rest;
}

core::Result<SourcePtr> openLocal(const std::string& path) {
  auto localPath = localPathOf(path);
  if (!localPath) return core::fail(std::move(localPath).error());
  const std::string& local = *localPath;
  const int fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return core::fail(err == ENOENT ? core::Errc::not_found : core::Errc::io,
                      local + ": cannot open: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return core::fail(core::Errc::invalid_argument, local + ": not a regular file");
  }
  return SourcePtr(std::make_shared<LocalSource>(local, fd, static_cast<std::uint64_t>(st.st_size)));
}

}  // namespace mlaas::io
