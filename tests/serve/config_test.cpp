// The server's YAML config: the I/O-thread batch limit is read in microseconds, 0 turns the I/O
// thread batches off, and a bad value names its key.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include "core/result.hpp"
#include "serve/server.hpp"

namespace mlaas::serve {
namespace {

TEST(ServerConfigYaml, IoBatchLimitIsReadInMicroseconds) {
  ServerConfig config;
  EXPECT_EQ(config.ioBatchMaxRunTime, std::chrono::microseconds(1000));  // the documented default
  applyServerConfigYaml(config, "threads:\n  io_batch_max_us: 250\n", "serve.yaml", ".");
  EXPECT_EQ(config.ioBatchMaxRunTime, std::chrono::microseconds(250));
  applyServerConfigYaml(config, "threads:\n  io_batch_max_us: 0\n", "serve.yaml", ".");
  EXPECT_EQ(config.ioBatchMaxRunTime, std::chrono::microseconds(0));
}

TEST(ServerConfigYaml, BadIoBatchLimitNamesTheKey) {
  for (const char* bad : {"threads:\n  io_batch_max_us: -5\n", "threads:\n  io_batch_max_us: soon\n"}) {
    ServerConfig config;
    try {
      applyServerConfigYaml(config, bad, "serve.yaml", ".");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const core::Exception& e) {
      std::string message = e.what();
      EXPECT_NE(message.find("serve.yaml"), std::string::npos) << message;
      EXPECT_NE(message.find("threads.io_batch_max_us"), std::string::npos) << message;
    }
  }
}

}  // namespace
}  // namespace mlaas::serve

namespace mlaas::serve {
namespace {

// yaml-cpp keeps both 'listen:' entries and the parser read the first: the second was silently lost.
TEST(ServerConfigYaml, DuplicateKeyIsAnErrorNamingKeyAndLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"listen: 127.0.0.1:8000\ndata_dir: d\nlisten: 127.0.0.1:9000\n",
       "serve.yaml:3: duplicate key 'listen' (first at line 1)"},
      {"limits:\n  max_body_bytes: 100\n  max_body_bytes: 200\n",
       "serve.yaml:3: duplicate key 'limits.max_body_bytes'"},
  };
  for (const auto& [text, expected] : cases) {
    ServerConfig config;
    try {
      applyServerConfigYaml(config, text, "serve.yaml", ".");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const core::Exception& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace mlaas::serve
