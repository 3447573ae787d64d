// An interrupted `mlaas generate` (Ctrl-C, SIGTERM, even SIGKILL) leaves nothing in the output
// folder: no hidden temporary file, no partial target. The run is stopped while it is writing:
// the test polls the child's open descriptors until one is a file in the output folder.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace mlaas::test;

namespace {

// True once `pid` holds open a file inside `folder` (named or unnamed: /proc shows an unnamed
// O_TMPFILE as "<folder>/#<inode> (deleted)").
bool writingInto(pid_t pid, const fs::path& folder) {
  std::error_code error;
  const std::string prefix = folder.string() + "/";
  for (const auto& entry : fs::directory_iterator(fs::path("/proc") / std::to_string(pid) / "fd", error)) {
    std::error_code readError;
    const auto target = fs::read_symlink(entry.path(), readError).string();
    if (!readError && target.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> folderContents(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  return names;
}

void interruptGenerateWith(int sig) {
  TempDir dir;
  const fs::path folder = fs::canonical(dir.path()) / "out";
  fs::create_directory(folder);
  // Far more events than it can write before the signal arrives (it is stopped long before).
  Process generate({mlaasBinary().string(), "generate", "--events", "200000000", "--out",
                    (folder / "big.root").string(), "--threads", "1"},
                   dir / "generate.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline && generate.running()) {
    seen = writingInto(generate.pid(), folder);
    if (!seen) std::this_thread::yield();  // polling the child's descriptors, not waiting for time
  }
  ASSERT_TRUE(seen) << "mlaas generate never opened a file in " << folder << ": " << readFile(dir / "generate.log");
  const int status = generate.stop(sig);
  EXPECT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) << "status " << status;
  EXPECT_EQ(folderContents(folder), std::vector<std::string>{}) << "signal " << sig;
}

}  // namespace

TEST(CliInterrupt, GenerateStoppedByCtrlCLeavesNothing) { interruptGenerateWith(SIGINT); }
TEST(CliInterrupt, GenerateStoppedBySigtermLeavesNothing) { interruptGenerateWith(SIGTERM); }
TEST(CliInterrupt, GenerateKilledLeavesNothing) { interruptGenerateWith(SIGKILL); }
