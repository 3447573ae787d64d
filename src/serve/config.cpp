#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/result.hpp"
#include "core/yaml_keys.hpp"
#include "serve/server.hpp"

namespace mlaas::serve {
namespace {

[[noreturn]] void configError(const std::string& source, const std::string& key, const std::string& what) {
  throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: key '{}': {}", source, key, what));
}

template <class T>
T scalar(const YAML::Node& node, const std::string& source, const std::string& key, const char* expected) {
  if (!node.IsScalar()) configError(source, key, fmt::format("expected {}", expected));
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    configError(source, key, fmt::format("expected {}, got '{}'", expected, node.Scalar()));
  }
}

std::size_t positive(const YAML::Node& node, const std::string& source, const std::string& key, std::int64_t min,
                     std::int64_t max) {
  auto v = scalar<std::int64_t>(node, source, key, "an integer");
  if (v < min || v > max) configError(source, key, fmt::format("{} is outside [{}, {}]", v, min, max));
  return static_cast<std::size_t>(v);
}

void checkKeys(const YAML::Node& map, const std::string& source, const std::string& prefix,
               const std::set<std::string>& allowed) {
  if (!map.IsMap()) configError(source, prefix.empty() ? "(top level)" : prefix, "expected a mapping");
  for (const auto& item : map) {
    auto key = item.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      configError(source, prefix.empty() ? key : prefix + "." + key, fmt::format("unknown key (known: {})", list));
    }
  }
}

bool isLoopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

}  // namespace

void parseListen(ServerConfig& config, const std::string& listen) {
  std::string host, port;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      throw core::Exception(core::Errc::invalid_argument,
                            fmt::format("listen address '{}': expected [IPv6]:PORT", listen));
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      throw core::Exception(core::Errc::invalid_argument,
                            fmt::format("listen address '{}': expected HOST:PORT", listen));
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  int value = -1;
  try {
    std::size_t used = 0;
    value = std::stoi(port, &used);
    if (used != port.size()) value = -1;
  } catch (const std::exception&) {
    value = -1;
  }
  if (host.empty() || value < 0 || value > 65535)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("listen address '{}': expected HOST:PORT with PORT in 0-65535", listen));
  config.host = host == "localhost" ? "127.0.0.1" : host;
  config.port = value;
}

std::vector<std::string> readTokenFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw core::Exception(core::Errc::not_found, fmt::format("token file {}: cannot read it", file.string()));
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    tokens.push_back(line.substr(start));
  }
  if (tokens.empty())
    throw core::Exception(core::Errc::invalid_argument, fmt::format("token file {}: no token in it", file.string()));
  return tokens;
}

void applyServerConfigYaml(ServerConfig& config, const std::string& yamlText, const std::string& source,
                           const std::filesystem::path& baseDir) {
  YAML::Node root;
  try {
    root = YAML::Load(yamlText);
  } catch (const YAML::Exception& e) {
    throw core::Exception(core::Errc::invalid_argument, fmt::format("{}: invalid YAML: {}", source, e.what()));
  }
  if (root.IsNull()) return;
  // yaml-cpp keeps both entries of a repeated key and root["listen"] returns the first: a second
  // 'listen:' would be ignored without a word.
  if (auto duplicate = core::findDuplicateKey(root))
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("{}:{}: {}", source, duplicate->line, core::describe(*duplicate)));
  checkKeys(root, source, "", {"listen", "data_dir", "threads", "limits", "cache", "batching", "auth", "access_log"});
  auto resolve = [&](const std::string& path) {
    return std::filesystem::path(path).is_absolute() ? std::filesystem::path(path) : baseDir / path;
  };
  if (auto n = root["listen"]) {
    try {
      parseListen(config, scalar<std::string>(n, source, "listen", "HOST:PORT"));
    } catch (const core::Exception& e) {
      configError(source, "listen", e.what());
    }
  }
  if (auto n = root["data_dir"]) config.dataDir = resolve(scalar<std::string>(n, source, "data_dir", "a path"));
  if (auto n = root["access_log"]) config.accessLog = scalar<bool>(n, source, "access_log", "true or false");
  if (auto t = root["threads"]) {
    checkKeys(t, source, "threads", {"io", "inference", "intra_op", "inline", "io_batch_max_us"});
    if (auto n = t["io"]) config.ioThreads = positive(n, source, "threads.io", 0, 256);
    if (auto n = t["inference"]) config.inferenceThreads = positive(n, source, "threads.inference", 0, 256);
    if (auto n = t["intra_op"]) config.intraOpThreads = positive(n, source, "threads.intra_op", 1, 256);
    if (auto n = t["inline"]) config.inlineInference = scalar<bool>(n, source, "threads.inline", "true or false");
    if (auto n = t["io_batch_max_us"])
      config.ioBatchMaxRunTime =
          std::chrono::microseconds(positive(n, source, "threads.io_batch_max_us", 0, 10'000'000));
  }
  if (auto l = root["limits"]) {
    checkKeys(l, source, "limits",
              {"max_body_bytes", "header_timeout_ms", "body_timeout_ms", "shutdown_grace_ms", "max_queue"});
    if (auto n = l["max_body_bytes"])
      config.maxBodyBytes = positive(n, source, "limits.max_body_bytes", 1024, std::int64_t{1} << 40);
    if (auto n = l["header_timeout_ms"])
      config.headerTimeout = std::chrono::milliseconds(positive(n, source, "limits.header_timeout_ms", 1, 3'600'000));
    if (auto n = l["body_timeout_ms"])
      config.bodyTimeout = std::chrono::milliseconds(positive(n, source, "limits.body_timeout_ms", 1, 3'600'000));
    if (auto n = l["shutdown_grace_ms"])
      config.shutdownGrace = std::chrono::milliseconds(positive(n, source, "limits.shutdown_grace_ms", 0, 3'600'000));
    if (auto n = l["max_queue"]) config.maxQueue = positive(n, source, "limits.max_queue", 1, 1'000'000);
  }
  if (auto c = root["cache"]) {
    checkKeys(c, source, "cache", {"memory_budget_bytes"});
    if (auto n = c["memory_budget_bytes"])
      config.cacheBytes = positive(n, source, "cache.memory_budget_bytes", 1, std::int64_t{1} << 50);
  }
  if (auto b = root["batching"]) {
    checkKeys(b, source, "batching", {"max_batch_size", "max_queue_delay_us"});
    if (auto n = b["max_batch_size"])
      config.batching.maxBatchSize =
          static_cast<std::int64_t>(positive(n, source, "batching.max_batch_size", 1, 1'000'000));
    if (auto n = b["max_queue_delay_us"])
      config.batching.maxQueueDelayUs =
          static_cast<std::int64_t>(positive(n, source, "batching.max_queue_delay_us", 0, 10'000'000));
  }
  if (auto a = root["auth"]) {
    checkKeys(a, source, "auth", {"token_file", "tokens", "require_for_read", "require_for_inference"});
    if (auto n = a["token_file"]) {
      auto tokens = readTokenFile(resolve(scalar<std::string>(n, source, "auth.token_file", "a path")));
      config.tokens.insert(config.tokens.end(), tokens.begin(), tokens.end());
    }
    if (auto n = a["tokens"]) {
      if (!n.IsSequence()) configError(source, "auth.tokens", "expected a list of strings");
      for (const auto& item : n) {
        auto token = scalar<std::string>(item, source, "auth.tokens", "a string");
        if (token.empty()) configError(source, "auth.tokens", "empty token");
        config.tokens.push_back(token);
      }
    }
    if (auto n = a["require_for_read"])
      config.requireTokenForRead = scalar<bool>(n, source, "auth.require_for_read", "true or false");
    if (auto n = a["require_for_inference"])
      config.requireTokenForInference = scalar<bool>(n, source, "auth.require_for_inference", "true or false");
  }
}

ServerConfig loadServerConfig(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw core::Exception(core::Errc::not_found, fmt::format("config {}: cannot read it", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  ServerConfig config;
  applyServerConfigYaml(config, text.str(), file.string(), file.parent_path().empty() ? "." : file.parent_path());
  return config;
}

void validateServerConfig(const ServerConfig& config) {
  if (!isLoopback(config.host) && config.tokens.empty())
    throw core::Exception(
        core::Errc::permission_denied,
        fmt::format("refusing to listen on {} (not loopback) without tokens: give --token-file FILE or "
                    "auth.tokens, or listen on 127.0.0.1",
                    config.host));
  std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  std::size_t inference = config.inferenceThreads ? config.inferenceThreads : cores;
  if (!config.inlineInference && inference * config.intraOpThreads > 4 * cores)
    throw core::Exception(core::Errc::invalid_argument,
                          fmt::format("threads.inference ({}) x threads.intra_op ({}) = {} oversubscribes the {} cores "
                                      "more than 4 times",
                                      inference, config.intraOpThreads, inference * config.intraOpThreads, cores));
}

}  // namespace mlaas::serve
