#include "serve/metrics.hpp"

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

namespace mlaas::serve {

void Metrics::record(const Sample& s) {
  std::lock_guard lock(mutex_);
  ++requestsBy_[{s.model, s.version, s.protocol}];
  if (s.status >= 400) ++failuresBy_[{s.model, s.version, s.protocol, s.status}];
  if (s.batchRows > 0) {
    auto& m = perModel_[{s.model, s.version}];
    m.queue.add(std::chrono::duration<double>(s.queue).count(), kSeconds);
    m.compute.add(std::chrono::duration<double>(s.compute).count(), kSeconds);
    m.total.add(std::chrono::duration<double>(s.total).count(), kSeconds);
    m.batch.add(static_cast<double>(s.batchRows), kBatch);
    // A request's share of its batch's run (its rows of the batch's rows): summed over requests
    // this is the total run time, and divided by the rows, what a row costs inside the server
    // (bench/serve compares it in-process).
    const auto rows = static_cast<double>(s.rows ? s.rows : 1);
    m.inferenceSeconds += std::chrono::duration<double>(s.compute).count() * rows / static_cast<double>(s.batchRows);
    m.rows += rows;
  }
}

namespace {
std::string escapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

template <class H, std::size_t N>
void renderHistogram(std::string& out, const char* name, const std::string& labels, const H& h,
                     const std::array<double, N>& bounds) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += h.buckets[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds[i], cumulative);
  }
  cumulative += h.buckets[N];
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name,
                 labels, cumulative, name, labels, h.sum, name, labels, h.count);
}
}  // namespace

std::string Metrics::render(std::size_t loadedModels, std::size_t loadedBytes) const {
  std::string out;
  std::lock_guard lock(mutex_);
  out += "# HELP mlaas_requests_total Inference and API requests by model, version and protocol.\n";
  out += "# TYPE mlaas_requests_total counter\n";
  for (const auto& [key, n] : requestsBy_)
    fmt::format_to(std::back_inserter(out), "mlaas_requests_total{{model=\"{}\",version=\"{}\",protocol=\"{}\"}} {}\n",
                   escapeLabel(std::get<0>(key)), escapeLabel(std::get<1>(key)), std::get<2>(key), n);
  out += "# HELP mlaas_request_failures_total Failed requests by model, version, protocol and HTTP status.\n";
  out += "# TYPE mlaas_request_failures_total counter\n";
  for (const auto& [key, n] : failuresBy_)
    fmt::format_to(std::back_inserter(out),
                   "mlaas_request_failures_total{{model=\"{}\",version=\"{}\",protocol=\"{}\",code=\"{}\"}} {}\n",
                   escapeLabel(std::get<0>(key)), escapeLabel(std::get<1>(key)), std::get<2>(key), std::get<3>(key), n);
  const char* names[] = {"mlaas_queue_duration_seconds", "mlaas_compute_duration_seconds",
                         "mlaas_request_duration_seconds"};
  const char* help[] = {"Time requests waited for an inference thread.", "Time in ONNX Runtime per batch.",
                        "Time from request decoded to response encoded."};
  for (int k = 0; k < 3; ++k) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} histogram\n", names[k], help[k], names[k]);
    for (const auto& [key, m] : perModel_) {
      std::string labels = fmt::format("model=\"{}\",version=\"{}\"", escapeLabel(key.first), escapeLabel(key.second));
      renderHistogram(out, names[k], labels, k == 0 ? m.queue : k == 1 ? m.compute : m.total, kSeconds);
    }
  }
  auto perVersionCounter = [&](std::string_view name, std::string_view description, auto value) {
    fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} counter\n", name, description);
    for (const auto& [key, m] : perModel_)
      fmt::format_to(std::back_inserter(out), "{}{{model=\"{}\",version=\"{}\"}} {}\n", name, escapeLabel(key.first),
                     escapeLabel(key.second), value(m));
  };
  perVersionCounter("mlaas_inference_seconds_total", "Time ONNX Runtime spent running batches.",
                    [](const auto& m) { return m.inferenceSeconds; });
  perVersionCounter("mlaas_inference_rows_total", "Rows (first-dimension entries) run.",
                    [](const auto& m) { return m.rows; });
  out += "# HELP mlaas_batch_size Rows per executed batch, seen by each request.\n# TYPE mlaas_batch_size histogram\n";
  for (const auto& [key, m] : perModel_) {
    std::string labels = fmt::format("model=\"{}\",version=\"{}\"", escapeLabel(key.first), escapeLabel(key.second));
    renderHistogram(out, "mlaas_batch_size", labels, m.batch, kBatch);
  }
  fmt::format_to(
      std::back_inserter(out),
      "# HELP mlaas_loaded_models ONNX Runtime sessions in memory.\n# TYPE mlaas_loaded_models gauge\n"
      "mlaas_loaded_models {}\n"
      "# HELP mlaas_loaded_model_bytes Estimated memory of loaded sessions.\n# TYPE mlaas_loaded_model_bytes gauge\n"
      "mlaas_loaded_model_bytes {}\n"
      "# HELP mlaas_process_resident_bytes Resident memory of the server.\n"
      "# TYPE mlaas_process_resident_bytes gauge\nmlaas_process_resident_bytes {}\n",
      loadedModels, loadedBytes, residentBytes());
  return out;
}

std::size_t residentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace mlaas::serve
