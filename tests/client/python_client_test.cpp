// Runs python/test_mlaas_client.py (unittest) against the real server, with inference
// references computed here by ONNX Runtime.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "real_server.hpp"

#ifdef MLAAS_CLIENT_TESTS_WITH_ORT
#include <onnxruntime_cxx_api.h>

#include "onnx/model_builder.hpp"

using namespace mlaas;

namespace {

bool havePython() { return test::run({"python3", "-c", "import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)"}).exitCode == 0; }

std::vector<float> ortRun(const std::string& model, std::vector<float> input, std::int64_t rows, std::int64_t features) {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "python-client-test");
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

}  // namespace

TEST(PythonClient, UnittestSuitePassesAgainstTheRealServer) {
  if (!havePython()) GTEST_SKIP() << "python3 (>= 3.8) not found";
  test::RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  test::TempDir dir;

  onnx::MlpSpec spec;
  spec.layers = {42, 64, 32, 1};
  spec.seed = 21;
  const auto model = onnx::buildRandomMlp(spec);
  test::writeFile(dir / "model.onnx", model);
  constexpr std::int64_t rows = 5;
  std::vector<float> input(rows * 42);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.7f * static_cast<float>(i));
  const auto output = ortRun(model, input, rows, 42);
  // Floats as doubles: exact in JSON, so Python sends the very values ONNX Runtime saw here.
  nlohmann::json expected = {{"rows", rows},
                             {"input", std::vector<double>(input.begin(), input.end())},
                             {"output", std::vector<double>(output.begin(), output.end())}};
  test::writeFile(dir / "expected.json", expected.dump());

  const auto result = test::run({"python3", "-m", "unittest", "-v", "test_mlaas_client"},
                                {{"PYTHONPATH", (test::sourceDir() / "python").string()},
                                 {"PYTHONDONTWRITEBYTECODE", "1"},
                                 {"MLAAS_TEST_SERVER", server.url()},
                                 {"MLAAS_TEST_TOKEN", test::RealServer::kToken},
                                 {"MLAAS_TEST_MODEL", (dir / "model.onnx").string()},
                                 {"MLAAS_TEST_EXPECTED", (dir / "expected.json").string()}});
  EXPECT_EQ(result.exitCode, 0) << result.out << result.err;
  EXPECT_NE(result.err.find("OK"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("skipped"), std::string::npos) << result.err;  // nothing silently skipped
}

#endif
