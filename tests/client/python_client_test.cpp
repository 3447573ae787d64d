// Runs python/test_mlaas_client.py (unittest) against the real server, with inference
// references computed here by ONNX Runtime.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "../serve/image_fixture.hpp"  // a hand-made PNG and an ONNX model that flattens its image
#include "client/client.hpp"
#include "real_server.hpp"

#ifdef MLAAS_CLIENT_TESTS_WITH_ORT
#include "onnx/model_builder.hpp"
#include "ort_reference.hpp"

using namespace mlaas;
using test::ortRun;

namespace {

bool havePython() {
  return test::run({"python3", "-c", "import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)"}).exitCode == 0;
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

TEST(PythonClient, TfaasImageSendsAFileAndReadsBothAnswers) {
  if (!havePython()) GTEST_SKIP() << "python3 (>= 3.8) not found";
  test::RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  client::ClientOptions options;
  options.url = server.url();
  options.token = test::RealServer::kToken;
  const client::Client admin(options);
  const auto model = serve::test::flattenModel({-1, 2, 3, 1});
  ASSERT_TRUE(admin.upload("pixels", model));
  client::UploadMetadata labelled;
  labelled.labels = {"a", "b", "c", "d", "e", "f"};
  ASSERT_TRUE(admin.upload("named", model, labelled));
  test::TempDir dir;
  test::writeFile(dir / "six.png", serve::test::makePng(3, 2, 1, {10, 250, 30, 200, 0, 100}));
  const std::string script = R"PY(
import sys
from mlaas_client import Client, MlaasError
client = Client(sys.argv[1])
print("row", client.tfaas_image("pixels", sys.argv[2]))
answer = client.tfaas_image("named", open(sys.argv[2], "rb").read(), filename="x.png")
print("top", answer["filename"], [entry["label"] for entry in answer["labels"]])
try:
    client.tfaas_image("pixels", b"not an image")
except MlaasError as error:
    print("refused", error.status, error.message)
)PY";
  test::writeFile(dir / "image_check.py", script);
  const auto result =
      test::run({"python3", (dir / "image_check.py").string(), server.url(), (dir / "six.png").string()},
                {{"PYTHONPATH", (test::sourceDir() / "python").string()}, {"PYTHONDONTWRITEBYTECODE", "1"}});
  ASSERT_EQ(result.exitCode, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("row [10, 250, 30, 200, 0, 100]"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("top x.png ['b', 'd', 'f', 'c', 'a']"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("refused 400 the image is neither PNG nor JPEG"), std::string::npos) << result.out;
}

#endif
