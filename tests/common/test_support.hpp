// Shared test helpers: where the corpus and binaries are, temporary folders, free loopback
// ports, and child processes (servers, the mlaas tool) that are always stopped.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlaas::test {

namespace fs = std::filesystem;

/// The corpus folder (MLAAS_TESTDATA), or nullopt when absent.
std::optional<fs::path> testdataDir();
/// `<testdata>/root/<name>`; the caller must have checked the corpus (MLAAS_REQUIRE_CORPUS).
fs::path corpusFile(const std::string& name);
/// Every *.root under <testdata>/root, sorted.
std::vector<fs::path> corpusRootFiles();
/// The build's bin/ folder (the mlaas executable) and the source tree.
fs::path binDir();
fs::path sourceDir();
fs::path mlaasBinary();

/// Reads a whole file; gunzips when the name ends with .gz.
std::string readFile(const fs::path& path);
void writeFile(const fs::path& path, std::string_view contents);

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const noexcept { return path_; }
  [[nodiscard]] fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// A TCP port that was free on 127.0.0.1 a moment ago.
int freeLoopbackPort();
/// Polls until something accepts on 127.0.0.1:port, or the deadline passes.
bool waitForPort(int port, std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};
/// Runs argv[0] with arguments to completion, capturing stdout and stderr.
CommandResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});

/// A child process that is killed (SIGTERM, then SIGKILL) and reaped when this object dies.
class Process {
 public:
  Process(std::vector<std::string> argv, const fs::path& logFile,
          const std::map<std::string, std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] bool running();
  /// Sends sig and waits for exit; returns the exit status as from waitpid (or -1).
  int stop(int sig = 15, std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// Sets (or, with nullopt, unsets) environment variables for one scope and restores them after.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::optional<std::string>>& values);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

}  // namespace mlaas::test

/// Skips the current test with a clear message when the ROOT corpus is absent.
#define MLAAS_REQUIRE_CORPUS()                                                                   \
  do {                                                                                           \
    if (!::mlaas::test::testdataDir())                                                           \
      GTEST_SKIP() << "ROOT test corpus not found (set MLAAS_TESTDATA; expected ../shared/testdata)"; \
  } while (false)

/// Skips a long test (minutes, gigabytes) unless MLAAS_SLOW_TESTS=1: `MLAAS_SLOW_TESTS=1 make test`.
#define MLAAS_REQUIRE_SLOW()                                                                      \
  do {                                                                                            \
    const char* mlaas_slow_ = std::getenv("MLAAS_SLOW_TESTS");                                     \
    if (mlaas_slow_ == nullptr || std::string(mlaas_slow_) != "1")                                \
      GTEST_SKIP() << "slow test: set MLAAS_SLOW_TESTS=1 to run it";                              \
  } while (false)
