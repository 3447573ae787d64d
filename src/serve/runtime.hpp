// ONNX Runtime behind our own types: a loaded model (one Ort::Session, thread-safe to run
// concurrently), its signature, and the one process-wide ORT environment whose global intra-op
// thread pool is the only place ORT may start threads (docs/serving.md#threads).
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "serve/tensor.hpp"

namespace mlaas::serve {

struct RuntimeOptions {
  /// Threads of ORT's one global intra-op pool shared by every session; 1 = run on the caller.
  int intraOpThreads = 1;
};

/// Sets the options of the process-wide ORT environment; only the first call before any model is
/// loaded has an effect (ORT's global thread pools are created once).
void configureRuntime(const RuntimeOptions& options);

/// "1.31.1"
std::string onnxRuntimeVersion();

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

class LoadedModel {
 public:
  /// Creates an ORT session from serialized ONNX bytes. `label` names the model in messages.
  /// Fails with invalid_argument when ORT rejects the model or an input/output is not a tensor of
  /// a supported type.
  static core::Result<std::shared_ptr<const LoadedModel>> load(std::string_view onnxBytes, std::string label);

  ~LoadedModel();
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  [[nodiscard]] const ModelSignature& signature() const noexcept;
  /// Every input and output has a dynamic first dimension, so that requests may be merged along
  /// it into one run (the scheduler's batches). Known from the signature at load time.
  [[nodiscard]] bool batchable() const noexcept;
  [[nodiscard]] const std::string& label() const noexcept;
  /// An estimate of the memory held (for the cache budget).
  [[nodiscard]] std::size_t memoryBytes() const noexcept;

  /// Runs the model; inputs in signature order (see matchInputs). Returns every output in
  /// signature order. Thread-safe.
  core::Result<std::vector<Tensor>> run(std::span<const Tensor> inputs) const;
  /// Runs several requests' inputs (each as for run(), with the same trailing dimensions) as one
  /// batch: input i of the run is every request's input i, in request order, along the first
  /// dimension. Numeric data is copied once into the batch's tensors (a lone request's is used
  /// where it lies), BYTES elements straight from the requests into ONNX Runtime's; the requests'
  /// tensors are left as they are.
  core::Result<std::vector<Tensor>> runConcatenated(std::span<const std::span<const Tensor>> requests) const;
  /// A moving average of recent run() and runConcatenated() durations (zero before the first
  /// run): what the scheduler uses to decide whether a batch is cheap enough to run on an I/O thread.
  [[nodiscard]] std::chrono::nanoseconds typicalRunTime() const noexcept;

 private:
  struct Impl;
  explicit LoadedModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Checks the given tensors against the signature (every input once, datatype equal, rank equal,
/// fixed dimensions equal, data size consistent) and returns them in signature order.
core::Result<std::vector<Tensor>> matchInputs(const ModelSignature& signature, std::vector<Tensor> given,
                                              std::string_view modelLabel);

}  // namespace mlaas::serve
