// Remote reading with 20 ms of round-trip time: a 128 MiB file read over http:// (nginx) and
// root:// (xrootd), each behind a delaying proxy on loopback, as ratios to reading it locally and
// to the stock client (curl, xrdcp) copying the whole file over the same delayed link; and the
// round trips it takes to open files (bytes, and a ROOT file up to its first basket).
//
// usage: bench_remote [MiB=128] [rtt_ms=20] [root_events=1000000] [http_connections=8]
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "delay_proxy.hpp"
#include "io/remote.hpp"
#include "io/source.hpp"
#ifdef MLAAS_BENCH_WITH_ROOT
#include "root/file.hpp"
#include "root/generate.hpp"
#include "root/tree.hpp"
#endif

extern char** environ;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace mlaas;

namespace {

double seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool waitForPort(int port) {
  for (int i = 0; i < 1000; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    ::usleep(20000);
  }
  return false;
}

/// A server child process, killed on destruction.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv, const fs::path& log) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  [[nodiscard]] bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

void writeText(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

/// Reads the whole file in `chunk` pieces; with `window` > 0 keeps that many chunks prefetched
/// ahead, as the ROOT reader does with the next cluster's baskets.
double streamSeconds(io::Source& source, std::uint64_t chunk, int window) {
  const auto size = source.size();
  std::vector<std::byte> buffer(chunk);
  const auto start = Clock::now();
  auto prefetchChunk = [&](std::uint64_t index) {
    const std::uint64_t offset = index * chunk;
    if (offset >= size) return;
    const io::ByteRange range{offset, std::min(chunk, size - offset)};
    source.prefetch(std::span(&range, 1));
  };
  for (int i = 0; i < window; ++i) prefetchChunk(static_cast<std::uint64_t>(i));
  for (std::uint64_t index = 0; index * chunk < size; ++index) {
    if (window > 0) prefetchChunk(index + static_cast<std::uint64_t>(window));
    const std::uint64_t offset = index * chunk;
    const auto n = std::min(chunk, size - offset);
    const io::ReadRequest request{offset, std::span(buffer).first(n)};
    if (auto r = source.read(std::span(&request, 1)); !r) {
      std::fprintf(stderr, "read failed: %s\n", r.error().message.c_str());
      std::exit(1);
    }
  }
  return seconds(start);
}

double commandSeconds(const std::string& command) {
  const auto start = Clock::now();
  if (std::system(command.c_str()) != 0) return -1;
  return seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t mib = argc > 1 ? std::stoull(argv[1]) : 128;
  const double rttMs = argc > 2 ? std::stod(argv[2]) : 20;
  const std::uint64_t rootEvents = argc > 3 ? std::stoull(argv[3]) : 1000000;
  io::SourceOptions options;
  if (argc > 4) options.maxParallelRequests = std::stoi(argv[4]);
  const std::uint64_t size = mib * 1024 * 1024;
  const auto delay = std::chrono::microseconds(static_cast<long>(rttMs * 500));

  char pattern[] = "/tmp/mlaas-bench-remote-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return 1;
  const fs::path dir = pattern;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  const fs::path data = dir / "data" / "big.bin";
  fs::create_directories(data.parent_path());
  {
    std::ofstream out(data, std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> block(1 << 17);
    for (std::uint64_t written = 0; written < size; written += block.size() * 8) {
      for (auto& v : block) v = rng();
      out.write(reinterpret_cast<const char*>(block.data()),
                static_cast<std::streamsize>(std::min<std::uint64_t>(block.size() * 8, size - written)));
    }
  }
#ifdef MLAAS_BENCH_WITH_ROOT
  // A ROOT file of about 115 MB: the synthetic NanoAOD-like sample of `mlaas generate`.
  const auto rootStats = [&] {
    root::GenerateOptions generate;
    generate.events = rootEvents;
    generate.threads = 1;
    return root::generateFile((data.parent_path() / "events.root").string(), generate);
  }();
#endif
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);
  fs::permissions(data.parent_path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                          fs::perms::others_read | fs::perms::others_exec);

  // Servers.
  const int httpPort = freePort();
  fs::create_directories(dir / "nginx" / "tmp");
  const auto n = (dir / "nginx").string();
  writeText(dir / "nginx" / "nginx.conf",
            fmt::format("daemon off; master_process off; worker_processes 1; pid {0}/pid; error_log {0}/error.log;\n"
                        "events {{ worker_connections 256; }}\nhttp {{ access_log off; client_body_temp_path {0}/tmp; "
                        "proxy_temp_path {0}/tmp; fastcgi_temp_path {0}/tmp; uwsgi_temp_path {0}/tmp; "
                        "scgi_temp_path {0}/tmp; keepalive_requests 100000; sendfile on;\n"
                        "server {{ listen 127.0.0.1:{1}; root {2}; }} }}\n",
                        n, httpPort, data.parent_path().string()));
  Child nginx({"nginx", "-p", n, "-c", n + "/nginx.conf", "-e", n + "/error.log"}, dir / "nginx.out");
  const int xrdPort = freePort();
  fs::create_directories(dir / "xrd");
  writeText(dir / "xrd" / "xrootd.cfg",
            fmt::format("xrd.port {}\nall.export /\noss.localroot {}\nall.adminpath {}/admin\nall.pidpath {}/run\n",
                        xrdPort, data.parent_path().string(), (dir / "xrd").string(), (dir / "xrd").string()));
  std::vector<std::string> xrdArgs{"xrootd", "-c", (dir / "xrd" / "xrootd.cfg").string(), "-l",
                                   (dir / "xrd" / "log").string(), "-n", "bench"};
  if (::geteuid() == 0) {
    if (const passwd* user = ::getpwnam("xrootd")) {
      if (::chown((dir / "xrd").c_str(), user->pw_uid, user->pw_gid) == 0)
        xrdArgs.insert(xrdArgs.end(), {"-R", "xrootd"});
    }
  }
  Child xrootd(xrdArgs, dir / "xrootd.out");
  const bool haveHttp = nginx.started() && waitForPort(httpPort);
  const bool haveXrd = xrootd.started() && waitForPort(xrdPort);
  bench::DelayProxy httpProxy(httpPort, delay);
  bench::DelayProxy xrdProxy(xrdPort, delay);

  const std::uint64_t chunk = 8 * 1024 * 1024;
  auto local = io::open(data.string()).value();
  streamSeconds(*local, chunk, 0);  // page cache warm
  double localSeconds = 1e9;
  for (int i = 0; i < 3; ++i) localSeconds = std::min(localSeconds, streamSeconds(*local, chunk, 0));
  const double mb = static_cast<double>(size) / 1e6;
  fmt::print("remote-read setup: file={} MiB, added rtt={} ms (delaying proxy), chunk=8 MiB\n", mib, rttMs);
  fmt::print("remote-read local: {:.0f} MB/s (page cache)\n", mb / localSeconds);

  struct Protocol {
    std::string name;
    bool available;
    std::string url;
    std::string rootUrl;
    std::string peerName;
    std::string peerCommand;
  };
  const std::vector<Protocol> protocols{
      {"http", haveHttp, fmt::format("http://127.0.0.1:{}/big.bin", httpProxy.port()),
       fmt::format("http://127.0.0.1:{}/events.root", httpProxy.port()), "curl",
       fmt::format("curl -s -f -o /dev/null http://127.0.0.1:{}/big.bin", httpProxy.port())},
      {"root", haveXrd, fmt::format("root://127.0.0.1:{}//big.bin", xrdProxy.port()),
       fmt::format("root://127.0.0.1:{}//events.root", xrdProxy.port()), "xrdcp",
       fmt::format("xrdcp -s -f root://127.0.0.1:{}//big.bin /dev/null", xrdProxy.port())},
  };
  for (const auto& p : protocols) {
    if (!p.available) {
      fmt::print("remote-read {}: SKIPPED (server did not start; see docs/remote.md)\n", p.name);
      continue;
    }
    // Best of three for everyone: the machine is shared, and noise only ever slows a run down.
    double peerSeconds = 1e9, openSeconds = 1e9, prefetched = 1e9, blocking = 1e9;
    std::uint64_t openTrips = 0;
    for (int run = 0; run < 3; ++run) {
      const double peer = commandSeconds(p.peerCommand);
      if (peer > 0) peerSeconds = std::min(peerSeconds, peer);
      const auto openStart = Clock::now();
      auto source = io::open(p.url, options).value();
      openSeconds = std::min(openSeconds, seconds(openStart));
      openTrips = source->stats().roundTrips;
      prefetched = std::min(prefetched, streamSeconds(*source, chunk, 4));
      auto plain = io::open(p.url, options).value();
      blocking = std::min(blocking, streamSeconds(*plain, chunk, 0));
    }
    fmt::print("remote-read {}: open {:.1f} rtt ({} requests); prefetch x4: {:.0f} MB/s = {:.2f} of local, {:.2f} of "
               "{}; no prefetch: {:.0f} MB/s = {:.2f} of local; {} whole-file copy: {:.0f} MB/s = {:.2f} of local\n",
               p.name, openSeconds * 1000 / rttMs, openTrips, mb / prefetched, localSeconds / prefetched,
               peerSeconds / prefetched, p.peerName, mb / blocking, localSeconds / blocking, p.peerName,
               mb / peerSeconds, localSeconds / peerSeconds);
#ifdef MLAAS_BENCH_WITH_ROOT
    try {
      // Round trips before the first basket: open the file and the tree through the delayed link.
      const auto start = Clock::now();
      auto rootSource = io::open(p.rootUrl, options).value();
      auto file = root::File::open(rootSource);
      const auto paths = file->treePaths();
      if (paths.empty()) throw std::runtime_error("no tree in events.root");
      auto tree = file->tree(paths.front());
      const double metaSeconds = seconds(start);
      const auto trips = rootSource->stats().roundTrips;
      std::vector<std::string> names;
      for (const auto& b : tree.branches()) names.push_back(b.name);
      // Every branch, chunk by chunk (memory bounded by a chunk), as a training loader reads.
      auto readAll = [&](const root::Tree& t) {
        std::uint64_t values = 0;
        const auto begin = Clock::now();
        t.forEachChunk(names, 100000,
                       [&](root::EntryRange, std::vector<root::Column>& columns) { values += columns.size(); });
        return seconds(begin);
      };
      const auto fetchedBefore = rootSource->stats().bytesFetched;
      const double readSeconds = readAll(tree);
      // Bytes moved over the network by the chunked read, per byte of the file: the 100,000-entry
      // chunks cut generate's 125,000-entry baskets, and each cut basket's bytes should travel once
      // (the read after the cut takes it, decompressed, from the tree).
      const double fetchedPerByte = static_cast<double>(rootSource->stats().bytesFetched - fetchedBefore) /
                                    static_cast<double>(rootStats.fileBytes);
      auto localFile = root::File::open((data.parent_path() / "events.root").string());
      const double localReadSeconds = readAll(localFile->tree(paths.front()));
      const double fileMb = static_cast<double>(rootStats.fileBytes) / 1e6;
      fmt::print(
          "remote-read {} ROOT: {} round trips ({:.1f} rtt) before the first basket; reading all {} branches "
          "of {} entries ({:.0f} MB): {:.0f} MB/s remote, {:.0f} MB/s local = {:.2f} of local; bytes fetched "
          "{:.2f} x the file\n",
          p.name, trips, metaSeconds * 1000 / rttMs, names.size(), tree.entries(), fileMb, fileMb / readSeconds,
          fileMb / localReadSeconds, localReadSeconds / readSeconds, fetchedPerByte);
    } catch (const std::exception& e) {
      fmt::print("remote-read {} ROOT: failed: {}\n", p.name, e.what());
    }
#endif
  }
  return 0;
}
