// Serving benchmark (bench/RESULTS.md "Serving"): the TFaaS model (42x128x128x128x64x64x1) and a
// 1024x1024x1024x1 MLP served by mlaas under wrk at 100 and 200 connections, JSON and binary
// requests; in the same run, in-process ONNX Runtime at the same batch sizes and nginx answering a
// static response of the same size, each measured right next to the server run it is compared
// with (the machine is shared, its load drifts). Figures are printed as ratios to those peers,
// with the CPU time per request of the server, of nginx and of wrk itself, and per row of ORT.
//
// usage: bench_serve [seconds per run, default 10]
// Environment (for exploring settings; every figure is still a ratio to peers of the same run):
//   MLAAS_BENCH_SERVE_CASES  comma list of cases to run: tfaas-inline, tfaas, wide (default all)
//   MLAAS_BENCH_SERVE_KINDS  comma list of request kinds: json, binary, tfaas (default all)
//   MLAAS_BENCH_SERVE_CONNECTIONS  comma list (default 100,200)
//   MLAAS_BENCH_SERVE_INFERENCE_THREADS, _IO_THREADS, _INTRA_OP, _DELAY_US, _MAX_BATCH, _IO_BATCH_MAX_US
//   override the server settings (defaults 2, 2, 1, 0, 256, the server's default)
//   MLAAS_BENCH_SERVE_IO_FLUSH_ROWS: ServerConfig::ioBatchFlushRows (default 0)
//   MLAAS_BENCH_SERVE_HOLD=N  serve the first selected case for N seconds without measuring,
//   printing "HOLD <url> <dir>" (wrk scripts in dir): for A/B runs of two builds side by side
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "onnx/model_builder.hpp"
#include "serve/runtime.hpp"
#include "serve/server.hpp"

namespace fs = std::filesystem;
using namespace mlaas;

namespace {

struct WrkResult {
  double rps = 0, p50ms = 0, p99ms = 0;
  long non2xx = 0;
  double cpuUsPerRequest = 0;  ///< wrk's own CPU time per request (user + system)
};

/// CPU seconds (user + system) used so far by `who`: RUSAGE_SELF is this process, where the server
/// runs (wrk and nginx do not), so the difference over a wrk run divided by its requests is the
/// server's CPU per request, a figure that other load on the machine disturbs far less than req/s;
/// RUSAGE_CHILDREN is the waited-for descendants: every finished wrk.
double cpuSeconds(int who) {
  rusage usage{};
  getrusage(who, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// Microseconds of CPU per request over a run of `seconds` at `rps` requests per second (0 when none ran).
double usPerRequest(double cpuSecondsUsed, double rps, int seconds) {
  return rps > 0 ? cpuSecondsUsed * 1e6 / (rps * seconds) : 0;
}

/// CPU seconds used so far by the children of `pid` (nginx's workers), from /proc.
double childProcessesCpuSeconds(pid_t pid) {
  std::ifstream children(fmt::format("/proc/{}/task/{}/children", pid, pid));
  double total = 0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (pid_t child; children >> child;) {
    std::ifstream stat(fmt::format("/proc/{}/stat", child));
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; fields >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
      if (i == 14) utime = std::stod(field);
      if (i == 15) {
        stime = std::stod(field);
        break;
      }
    }
    total += (utime + stime) / tick;
  }
  return total;
}

double toMs(const std::string& value, const std::string& unit) {
  double v = std::stod(value);
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  return v;
}

std::string capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  pclose(pipe);
  return out;
}

WrkResult wrk(const std::string& url, const fs::path& script, int connections, int seconds, int threads) {
  std::string cmd = fmt::format("wrk -t{} -c{} -d{}s --latency {} {} 2>&1", threads, connections, seconds,
                                script.empty() ? "" : "-s " + script.string(), url);
  const double cpuBefore = cpuSeconds(RUSAGE_CHILDREN);
  std::string out = capture(cmd);
  const double wrkCpu = cpuSeconds(RUSAGE_CHILDREN) - cpuBefore;
  WrkResult r;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) r.rps = std::stod(m[1]);
  if (std::regex_search(out, m, std::regex(R"(50%\s+([0-9.]+)(us|ms|s))"))) r.p50ms = toMs(m[1], m[2]);
  if (std::regex_search(out, m, std::regex(R"(99%\s+([0-9.]+)(us|ms|s))"))) r.p99ms = toMs(m[1], m[2]);
  if (std::regex_search(out, m, std::regex(R"(Non-2xx or 3xx responses:\s+([0-9]+))"))) r.non2xx = std::stol(m[1]);
  if (r.rps == 0) std::cerr << "wrk output:\n" << out << "\n";
  r.cpuUsPerRequest = usPerRequest(wrkCpu, r.rps, seconds);
  return r;
}

/// Lua script posting a fixed body (binary-safe via a file read in Lua).
fs::path wrkScript(const fs::path& dir, const std::string& name, const std::string& body,
                   const std::vector<std::pair<std::string, std::string>>& headers) {
  auto bodyFile = dir / (name + ".body");
  std::ofstream(bodyFile, std::ios::binary) << body;
  auto script = dir / (name + ".lua");
  std::ofstream lua(script);
  lua << "local f = io.open(\"" << bodyFile.string() << "\", \"rb\")\nwrk.body = f:read(\"*all\")\nf:close()\n"
      << "wrk.method = \"POST\"\n";
  for (const auto& [k, v] : headers) lua << "wrk.headers[\"" << k << "\"] = \"" << v << "\"\n";
  return script;
}

/// In-process ORT at a batch size, `threads` threads running concurrently: rows per second, and the
/// CPU time (user + system) of this process per row, what a row costs ORT itself, which other load
/// on the machine disturbs less than rows/s.
struct InProcessRun {
  double rowsPerSecond = 0, cpuUsPerRow = 0;
};
InProcessRun inProcessRun(const serve::LoadedModel& model, std::int64_t width, std::int64_t batch, int threads,
                          double seconds) {
  const double cpuBefore = cpuSeconds(RUSAGE_SELF);
  std::atomic<long> rows{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      serve::Tensor in;
      in.name = model.signature().inputs[0].name;
      in.shape = {batch, width};
      in.data.resize(static_cast<std::size_t>(batch * width) * 4);
      std::vector<serve::Tensor> inputs{in};
      while (!stop) {
        (void)model.run(inputs);
        rows += batch;
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  InProcessRun run;
  run.cpuUsPerRow = rows > 0 ? (cpuSeconds(RUSAGE_SELF) - cpuBefore) * 1e6 / static_cast<double>(rows) : 0;
  run.rowsPerSecond = static_cast<double>(rows) / seconds;
  return run;
}

pid_t startNginx(const fs::path& dir, int port, std::size_t bodySize) {
  fs::create_directories(dir / "nginx" / "logs");
  {  // closed (flushed) before nginx reads it
  std::ofstream conf(dir / "nginx" / "nginx.conf");
  conf << "worker_processes 2;\ndaemon off;\npid " << (dir / "nginx" / "nginx.pid").string() << ";\nerror_log "
       << (dir / "nginx" / "logs" / "error.log").string() << ";\nevents { worker_connections 1024; }\n"
       << "http { access_log off; client_body_temp_path " << (dir / "nginx").string()
       << "; keepalive_requests 1000000;\n"
       << "  server { listen 127.0.0.1:" << port << "; location / { default_type application/json; "
       << "return 200 '" << std::string(bodySize, '0') << "'; } } }\n";
  }
  pid_t pid = fork();
  if (pid == 0) {
    execlp("nginx", "nginx", "-p", (dir / "nginx").c_str(), "-c", (dir / "nginx" / "nginx.conf").c_str(), nullptr);
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return pid;
}

int freePort() {
  // bind-to-0 trick through a throwaway server socket
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::size_t envSize(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? static_cast<std::size_t>(std::stoull(v)) : fallback;
}

/// Comma-separated list from the environment; empty = everything.
bool selected(const char* name, const std::string& item) {
  const char* v = std::getenv(name);
  if (!v || !*v) return true;
  std::string list = std::string(",") + v + ",";
  return list.find("," + item + ",") != std::string::npos;
}

std::vector<int> connectionCounts() {
  std::vector<int> out;
  const char* v = std::getenv("MLAAS_BENCH_SERVE_CONNECTIONS");
  std::stringstream in(v && *v ? v : "100,200");
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
  return out;
}

struct ServerTotals {
  double batchSum = 0, batchCount = 0;    ///< mlaas_batch_size histogram
  double inferenceSeconds = 0, rows = 0;  ///< mlaas_inference_seconds_total, mlaas_inference_rows_total
};

/// Cumulative counters of the model from /metrics: the mean rows of the batch each request ran in,
/// and ORT's run time per row inside the server, over a run, are differences of two scrapes.
ServerTotals serverTotals(const std::string& base, const std::string& model) {
  std::string text = capture(fmt::format("curl -s {}/metrics", base));
  ServerTotals totals;
  const std::string labels = "\\{model=\"" + model + "\",version=\"1\"\\} ([0-9.e+-]+)";
  auto value = [&](const std::string& name, double& out) {
    std::smatch m;
    if (std::regex_search(text, m, std::regex(name + labels))) out = std::stod(m[1]);
  };
  value("mlaas_batch_size_sum", totals.batchSum);
  value("mlaas_batch_size_count", totals.batchCount);
  value("mlaas_inference_seconds_total", totals.inferenceSeconds);
  value("mlaas_inference_rows_total", totals.rows);
  return totals;
}

std::string floatsJson(std::size_t n) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1, 1);
  std::string s = "[";
  for (std::size_t i = 0; i < n; ++i) s += fmt::format("{}{:.4f}", i ? "," : "", d(rng));
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 && argv[1][0] != '-' ? std::atoi(argv[1]) : 10;
  fs::path dir = fs::temp_directory_path() / fmt::format("mlaas-bench-serve-{}", getpid());
  fs::create_directories(dir);
  std::cout << fmt::format("bench_serve: {} s per wrk run, {} hardware threads (wrk shares them)\n", seconds,
                           std::thread::hardware_concurrency());

  struct Case {
    std::string name;
    std::vector<std::int64_t> layers;
    bool inlineMode;
  };
  std::vector<Case> cases{{"tfaas", {42, 128, 128, 128, 64, 64, 1}, true},
                          {"tfaas", {42, 128, 128, 128, 64, 64, 1}, false},
                          {"wide", {1024, 1024, 1024, 1}, false}};
  const std::size_t inferenceThreads = envSize("MLAAS_BENCH_SERVE_INFERENCE_THREADS", 2);
  const std::size_t ioThreads = envSize("MLAAS_BENCH_SERVE_IO_THREADS", 2);
  const std::size_t intraOp = envSize("MLAAS_BENCH_SERVE_INTRA_OP", 1);
  const auto delayUs = static_cast<std::int64_t>(envSize("MLAAS_BENCH_SERVE_DELAY_US", 0));
  const auto maxBatch = static_cast<std::int64_t>(envSize("MLAAS_BENCH_SERVE_MAX_BATCH", 256));
  const auto ioBatchMaxUs = std::chrono::microseconds(envSize(
      "MLAAS_BENCH_SERVE_IO_BATCH_MAX_US", static_cast<std::size_t>(serve::ServerConfig{}.ioBatchMaxRunTime.count())));
  std::cout << fmt::format(
      "server: {} I/O threads, {} inference threads, ORT intra-op {}, max batch {}, queue delay {} us, "
      "batches under {} us on the I/O threads\n",
      ioThreads, inferenceThreads, intraOp, maxBatch, delayUs, ioBatchMaxUs.count());
  for (const auto& c : cases) {
    if (!selected("MLAAS_BENCH_SERVE_CASES", c.inlineMode ? c.name + "-inline" : c.name)) continue;
    onnx::MlpSpec spec;
    spec.layers = c.layers;
    std::string bytes = onnx::buildRandomMlp(spec);
    serve::ServerConfig config;
    config.port = 0;
    config.dataDir = dir / fmt::format("data-{}-{}", c.name, c.inlineMode);
    config.accessLog = false;
    config.inlineInference = c.inlineMode;
    config.ioThreads = ioThreads;
    config.inferenceThreads = inferenceThreads;
    config.intraOpThreads = intraOp;
    config.batching.maxBatchSize = maxBatch;
    config.batching.maxQueueDelayUs = delayUs;
    config.ioBatchMaxRunTime = ioBatchMaxUs;
    if (const char* v = std::getenv("MLAAS_BENCH_SERVE_IO_FLUSH_ROWS"); v && *v)
      config.ioBatchFlushRows = std::stoll(v);
    serve::Server server(config);
    server.repository().addVersion(c.name, bytes, "").value();
    server.start();
    std::string base = fmt::format("http://127.0.0.1:{}", server.port());
    std::int64_t width = c.layers.front();

    std::string json = fmt::format(R"({{"inputs":[{{"name":"input","shape":[1,{}],"datatype":"FP32","data":{}}}]}})",
                                   width, floatsJson(static_cast<std::size_t>(width)));
    std::string header = fmt::format(
        R"({{"inputs":[{{"name":"input","shape":[1,{}],"datatype":"FP32","parameters":{{"binary_data_size":{}}}}}],"parameters":{{"binary_data_output":true}}}})",
        width, width * 4);
    std::string binary = header + std::string(static_cast<std::size_t>(width) * 4, '\0');
    auto jsonScript = wrkScript(dir, c.name + "-json", json, {{"Content-Type", "application/json"}});
    auto binScript = wrkScript(dir, c.name + "-bin", binary,
                               {{"Content-Type", "application/octet-stream"},
                                {"Inference-Header-Content-Length", std::to_string(header.size())}});
    std::string tfaasBody =
        fmt::format(R"({{"keys":[],"values":{},"model":"{}"}})", floatsJson(static_cast<std::size_t>(width)), c.name);
    auto tfaasScript = wrkScript(dir, c.name + "-tfaas", tfaasBody, {{"Content-Type", "application/json"}});

    // warm up: loads the session
    (void)wrk(base + "/v2/models/" + c.name + "/infer", jsonScript, 2, 1, 1);
    if (std::size_t hold = envSize("MLAAS_BENCH_SERVE_HOLD", 0); hold > 0) {
      // A/B mode: serve this case only, for `hold` seconds, and let a script drive several such
      // servers (different builds) with short alternating wrk runs; the wrk scripts stay in dir.
      std::cout << fmt::format("HOLD {} {}\n", base, dir.string()) << std::flush;
      std::this_thread::sleep_for(std::chrono::seconds(hold));
      server.shutdown();
      fs::remove_all(dir);
      return 0;
    }
    std::string responseSample =
        capture(fmt::format("curl -s -H 'Content-Type: application/json' --data-binary @{} {}/v2/models/{}/infer",
                            (dir / (c.name + "-json.body")).string(), base, c.name));
    auto model = serve::LoadedModel::load(bytes, c.name).value();
    double single = inProcessRun(*model, width, 1, 2, 2.0).rowsPerSecond;
    double batched = inProcessRun(*model, width, 64, 2, 2.0).rowsPerSecond;

    int nginxPort = freePort();
    pid_t nginx = startNginx(dir / fmt::format("{}-{}", c.name, c.inlineMode), nginxPort, responseSample.size());
    std::cout << fmt::format(
        "\n== model {} ({}), server mode: {}; response {} bytes\n", c.name, fmt::join(c.layers, "x"),
        c.inlineMode ? "inline (I/O threads run ORT)" : "2 inference threads, dynamic batching <= 256",
        responseSample.size());
    std::cout << fmt::format("in-process ORT, 2 threads: {:.0f} rows/s at batch 1, {:.0f} rows/s at batch 64\n", single,
                             batched);
    for (int connections : connectionCounts()) {
      for (auto [label, script, path] : {std::tuple{"OIP JSON  ", jsonScript, "/v2/models/" + c.name + "/infer"},
                                          std::tuple{"OIP binary", binScript, "/v2/models/" + c.name + "/infer"},
                                          std::tuple{"TFaaS JSON", tfaasScript, std::string("/json")}}) {
        const std::string kind = label[0] == 'T' ? "tfaas" : label[4] == 'J' ? "json" : "binary";
        if (!selected("MLAAS_BENCH_SERVE_KINDS", kind)) continue;
        // nginx right before each server run: on a shared machine the load drifts within minutes.
        const double nginxCpuBefore = childProcessesCpuSeconds(nginx);
        auto ng = wrk(fmt::format("http://127.0.0.1:{}/", nginxPort), {}, connections, seconds, 1);
        const double nginxCpuUsPerRequest =
            usPerRequest(childProcessesCpuSeconds(nginx) - nginxCpuBefore, ng.rps, seconds);
        auto before = serverTotals(base, c.name);
        double cpuBefore = cpuSeconds(RUSAGE_SELF);
        auto r = wrk(base + path, script, connections, seconds, 1);
        double cpuUsPerRequest = usPerRequest(cpuSeconds(RUSAGE_SELF) - cpuBefore, r.rps, seconds);
        auto after = serverTotals(base, c.name);
        double meanBatch = after.batchCount > before.batchCount
                               ? (after.batchSum - before.batchSum) / (after.batchCount - before.batchCount)
                               : 0;
        // ORT's wall time per row inside the server, against in-process at batch 64: 2 threads'
        // wall time per row there is 2 / rows per second.
        double serverOrtUsPerRow = after.rows > before.rows ? (after.inferenceSeconds - before.inferenceSeconds) * 1e6 /
                                                                  (after.rows - before.rows)
                                                            : 0;
        // ... and the in-process peers right after, for the same reason.
        single = inProcessRun(*model, width, 1, 2, 1.0).rowsPerSecond;
        const auto batchedRun = inProcessRun(*model, width, 64, 2, 1.0);
        batched = batchedRun.rowsPerSecond;
        const double batchedCpuUsPerRow = batchedRun.cpuUsPerRow;
        std::cout << fmt::format(
            "{} c={}: {:8.0f} req/s  p50 {:6.2f} ms  p99 {:6.2f} ms  errors {}  batch {:5.1f}  cpu {:5.1f} us/req "
            "(wrk {:4.1f}) | {:.2f} x nginx ({:.0f} req/s, p99 {:.2f} ms, cpu {:4.1f} us/req, wrk {:4.1f}) "
            "| ORT in the server {:.1f} us/row | {:.2f} x in-process batch-1, {:.2f} x in-process batch-64 "
            "({:.0f} rows/s, {:.1f} us/row per thread, cpu {:.1f} us/row)\n",
            label, connections, r.rps, r.p50ms, r.p99ms, r.non2xx, meanBatch, cpuUsPerRequest, r.cpuUsPerRequest,
            r.rps / ng.rps, ng.rps, ng.p99ms, nginxCpuUsPerRequest, ng.cpuUsPerRequest, serverOrtUsPerRow,
            r.rps / single, r.rps / batched, batched, batched > 0 ? 2e6 / batched : 0, batchedCpuUsPerRow);
      }
    }
    kill(nginx, SIGTERM);
    waitpid(nginx, nullptr, 0);
    server.shutdown();
  }
  fs::remove_all(dir);
  return 0;
}
