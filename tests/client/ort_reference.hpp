// ONNX Runtime in the test process: the reference the server's answers must equal (client tests
// built with MLAAS_CLIENT_TESTS_WITH_ORT only).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mlaas::test {

/// Runs a model with one FP32 input "input" [rows, features] and returns its output "output".
inline std::vector<float> ortRun(const std::string& model, std::vector<float> input, std::int64_t rows,
                                 std::int64_t features) {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "client-test");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(1);
  Ort::Session session(env, model.data(), model.size(), options);
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<std::int64_t> shape{rows, features};
  auto tensor = Ort::Value::CreateTensor<float>(memory, input.data(), input.size(), shape.data(), shape.size());
  const char* in[] = {"input"};
  const char* out[] = {"output"};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, in, &tensor, 1, out, 1);
  const float* values = outputs[0].GetTensorData<float>();
  return {values, values + outputs[0].GetTensorTypeAndShapeInfo().GetElementCount()};
}

}  // namespace mlaas::test
