// `mlaas model`, `mlaas models ...` and `mlaas predict` as a user runs them, against the real
// `mlaas serve`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../client/real_server.hpp"
#include "test_support.hpp"

using namespace mlaas::test;
using nlohmann::json;

namespace {

CommandResult runMlaas(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), mlaasBinary().string());
  return run(args, env);
}

std::string buildModel(const TempDir& dir, const std::string& name, const std::string& seed) {
  const auto path = (dir / name).string();
  const auto r = runMlaas({"model", "mlp", "--layers", "6,16,8,1", "--seed", seed, "--out", path});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return path;
}

}  // namespace

TEST(CliModel, MlpIsSeededAndChecksItsArguments) {
  TempDir dir;
  const auto a = buildModel(dir, "a.onnx", "7");
  const auto b = buildModel(dir, "b.onnx", "7");
  const auto c = buildModel(dir, "c.onnx", "8");
  EXPECT_EQ(readFile(a), readFile(b));
  EXPECT_NE(readFile(a), readFile(c));
  EXPECT_GT(readFile(a).size(), (6 * 16 + 16 * 8 + 8) * sizeof(float));  // weights are in the file

  auto r = runMlaas({"model", "mlp", "--layers", "42,128,64,1", "--out", (dir / "d.onnx").string()});
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.out.find("13825 parameters"), std::string::npos) << r.out;  // 42*128+128 + 128*64+64 + 64+1

  r = runMlaas({"model", "mlp", "--layers", "42,abc,1", "--out", (dir / "e.onnx").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("--layers: 'abc' is not a number"), std::string::npos) << r.err;
  r = runMlaas({"model", "mlp", "--layers", "42", "--out", (dir / "e.onnx").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("at least 2 layer sizes"), std::string::npos) << r.err;
  r = runMlaas({"model", "mlp", "--layers", "4,2", "--activation", "gelu", "--out", (dir / "e.onnx").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("unknown activation 'gelu'"), std::string::npos) << r.err;
  r = runMlaas({"model", "mlp", "--layers", "4,2", "--out", (dir / "missing-dir" / "e.onnx").string()});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("cannot open for writing"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "e.onnx"));
}

TEST(CliModels, RepositoryCommandsAgainstARealServer) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  TempDir dir;
  const auto model = buildModel(dir, "m.onnx", "3");
  writeFile(dir / "token", std::string("# admin\n") + RealServer::kToken + "\n");
  const std::string tokenFile = (dir / "token").string();
  const std::map<std::string, std::string> env{{"MLAAS_SERVER", server.url()}};

  auto r = runMlaas({"models", "upload", "jets", model, "--token-file", tokenFile, "--description", "first try",
                     "--tag", "stage=dev", "--metric", "auc=0.875", "--label", "signal"},
                    env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("uploaded jets version 1"), std::string::npos) << r.out;
  writeFile(dir / "meta.json",
            R"({"description":"second","preprocessing":{"scale":[1,2,3]},"provenance":{"commit":"abc"}})");
  auto withToken = env;
  withToken["MLAAS_TOKEN"] = RealServer::kToken;
  r = runMlaas({"models", "upload", "jets", model, "--metadata", (dir / "meta.json").string(), "--json"}, withToken);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto card = json::parse(r.out);
  EXPECT_EQ(card["version"], 2);
  EXPECT_EQ(card["preprocessing"]["scale"][2], 3);
  EXPECT_EQ(card["provenance"]["commit"], "abc");

  r = runMlaas({"models", "list", "--server", server.url(), "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto list = json::parse(r.out);
  ASSERT_EQ(list["models"].size(), 1u);
  EXPECT_EQ(list["models"][0]["latest_version"], 2);

  r = runMlaas({"models", "alias", "jets", "production", "1", "--token", RealServer::kToken}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("jets@production -> version 1"), std::string::npos) << r.out;
  r = runMlaas({"models", "show", "jets@production"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("jets version 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("description first try"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("metric    auc=0.875"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input     input FP32 [-1,6]"), std::string::npos) << r.out;

  r = runMlaas({"models", "tag", "jets/versions/2", "validated=yes", "--token-file", tokenFile}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runMlaas({"models", "search", "tag:validated=yes", "--json"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["models"].size(), 1u);
  r = runMlaas({"models", "search", "name:nothing*", "--json"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(json::parse(r.out)["models"].empty());
  r = runMlaas({"models", "show", "jets", "--json"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto details = json::parse(r.out);
  ASSERT_EQ(details["cards"].size(), 2u);
  EXPECT_EQ(details["cards"][1]["tags"]["validated"], "yes");
  EXPECT_EQ(details["aliases"]["production"], 1);

  // predict: JSON and binary agree, through an alias and the latest version.
  writeFile(dir / "request.json", R"({"id":"cli","inputs":[{"name":"input","shape":[2,6],"datatype":"FP32",
      "data":[[0.1,0.2,0.3,0.4,0.5,0.6],[-1,-2,-3,4,5,6]]}]})");
  r = runMlaas({"predict", "--model", "jets@production", "--input", (dir / "request.json").string(), "--compact"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto viaJson = json::parse(r.out);
  EXPECT_EQ(viaJson["model_version"], "1");
  EXPECT_EQ(viaJson["id"], "cli");
  ASSERT_EQ(viaJson["outputs"][0]["shape"], json::parse("[2,1]"));
  for (const auto& v : viaJson["outputs"][0]["data"]) {  // sigmoid outputs
    EXPECT_GT(v.get<double>(), 0.0);
    EXPECT_LT(v.get<double>(), 1.0);
  }
  r = runMlaas({"predict", "--model", "jets/versions/1", "--input", (dir / "request.json").string(), "--binary",
             "--output", (dir / "out.json").string()},
            env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto viaBinary = json::parse(readFile(dir / "out.json"));
  EXPECT_EQ(viaBinary["outputs"][0]["data"], viaJson["outputs"][0]["data"]);

  r = runMlaas({"models", "alias", "jets", "production", "--delete", "--token-file", tokenFile}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runMlaas({"models", "delete", "jets/versions/1", "--token-file", tokenFile}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("deleted jets/versions/1"), std::string::npos);
  r = runMlaas({"models", "show", "jets/versions/1"}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("mlaas: error: HTTP 404: "), std::string::npos) << r.err;
  r = runMlaas({"models", "delete", "jets", "--token-file", tokenFile}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runMlaas({"models", "list"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "no models\n");
}

TEST(CliModels, ErrorsAreClearAndExitOne) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  TempDir dir;
  const auto model = buildModel(dir, "m.onnx", "1");
  const std::map<std::string, std::string> env{{"MLAAS_SERVER", server.url()}};

  auto r = runMlaas({"models", "upload", "jets", model}, env);  // no token
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("mlaas: error: HTTP 401: "), std::string::npos) << r.err;
  r = runMlaas({"models", "upload", "jets", model, "--token", "wrong"}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("HTTP 403: "), std::string::npos) << r.err;
  r = runMlaas({"models", "upload", "jets", (dir / "absent.onnx").string(), "--token", RealServer::kToken}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("absent.onnx: cannot open the model file"), std::string::npos) << r.err;
  r = runMlaas({"models", "upload", "jets", model, "--token-file", (dir / "no-token-file").string()}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("no-token-file: cannot read the token file"), std::string::npos) << r.err;
  r = runMlaas({"models", "upload", "jets", model, "--tag", "novalue", "--token", RealServer::kToken}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("--tag 'novalue': expected KEY=VALUE"), std::string::npos) << r.err;
  writeFile(dir / "meta.json", R"({"colour":"red"})");
  r = runMlaas({"models", "upload", "jets", model, "--metadata", (dir / "meta.json").string(), "--token",
             RealServer::kToken},
            env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("unknown key 'colour'"), std::string::npos) << r.err;
  r = runMlaas({"models", "show", "ghost"}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("HTTP 404: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ghost"), std::string::npos) << r.err;
  r = runMlaas({"models", "show", "ghost@"}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("bad model reference 'ghost@'"), std::string::npos) << r.err;
  r = runMlaas({"models", "alias", "ghost", "production", "zero", "--token", RealServer::kToken}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("version 'zero' is not a positive number"), std::string::npos) << r.err;

  ASSERT_EQ(runMlaas({"models", "upload", "jets", model, "--token", RealServer::kToken}, env).exitCode, 0);
  writeFile(dir / "bad.json", R"({"inputs":[{"name":"input","shape":[1,6],"datatype":"FP32","data":[1,2]}]})");
  r = runMlaas({"predict", "--model", "jets", "--input", (dir / "bad.json").string()}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("bad.json: tensor 'input': shape holds 6 elements but the data has 2"), std::string::npos)
      << r.err;
  writeFile(dir / "wide.json", R"({"inputs":[{"name":"input","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})");
  r = runMlaas({"predict", "--model", "jets", "--input", (dir / "wide.json").string()}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("HTTP 400: "), std::string::npos) << r.err;
  r = runMlaas({"predict", "--model", "jets", "--input", (dir / "nothing.json").string()}, env);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("nothing.json: cannot read the request file"), std::string::npos) << r.err;

  const int closedPort = freeLoopbackPort();
  r = runMlaas({"models", "list", "--server", "http://127.0.0.1:" + std::to_string(closedPort)});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("cannot connect to http://127.0.0.1:" + std::to_string(closedPort)), std::string::npos) << r.err;
  // https is supported now (tests/client TLS tests); a scheme the client does not speak is named.
  r = runMlaas({"models", "list", "--server", "ftp://127.0.0.1:" + std::to_string(closedPort)});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("bad server URL 'ftp://127.0.0.1:" + std::to_string(closedPort)), std::string::npos) << r.err;
  r = runMlaas({"models", "list", "--server", "https://127.0.0.1:" + std::to_string(closedPort)});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("cannot connect to https://127.0.0.1:" + std::to_string(closedPort)), std::string::npos)
      << r.err;
}

// A bundle's own model.json (as `mlaas train` writes it, docs/training.md) is accepted as
// --metadata, mapped as `train --upload` maps it; `models show` summarises the preprocessing
// (tens of kB of statistics) and --json keeps all of it; `models list` stays one aligned row per
// model with long names and multi-line descriptions.
TEST(CliModels, BundleModelJsonUploadsAndShowAndListStayReadable) {
  RealServer server;
  ASSERT_TRUE(server.ready()) << server.log();
  TempDir dir;
  const auto model = buildModel(dir, "m.onnx", "5");
  const std::map<std::string, std::string> env{{"MLAAS_SERVER", server.url()}, {"MLAAS_TOKEN", RealServer::kToken}};
  json sketch = json::array();
  for (int k = 0; k < 2000; ++k) sketch.push_back(k);  // the size of a real sketch's counts
  const json bundle = {
      {"format", "mlaas-model/1"},
      {"name", "zprime"},
      {"created", "2026-11-27T16:20:00Z"},
      {"task", "binary"},
      {"parameters", 97},
      {"model", {{"kind", "mlp"}, {"hidden", {16}}}},
      {"training", {{"optimizer", "adam"}}},
      {"inputs", {{{"name", "input"}, {"datatype", "FP32"}, {"shape", {-1, 6}}, {"kind", "flat"}}}},
      {"outputs", {{{"name", "output"}, {"datatype", "FP32"}, {"shape", {-1, 1}}}}},
      {"labels", {"signal"}},
      {"metrics", {{"epochs", 2}, {"validation_auc", 0.75}, {"best_epoch", 2}, {"note", "text is not a metric"}}},
      {"preprocessing",
       {{"representation", "vector"},
        {"dataset_config", "inputs: {tree: Events, files: [sample.root]}\nfeatures: {flat: [MET_pt, MET_phi]}\n"},
        {"specs",
         {{"tree", "Events"},
          {"entries", 20000},
          {"selected", 16000},
          {"fkeys", {"MET_pt", "MET_phi"}},
          {"features",
           {{"MET_pt", {{"sketch", {{"counts", sketch}}}}}, {"MET_phi", {{"sketch", {{"counts", sketch}}}}}}},
          {"groups", json::object()}}}}},
      {"provenance",
       {{"config", "zprime.yaml"},
        {"mlaas_version", "0.1.0"},
        {"training_events", 16000},
        {"input_files", {{{"path", "/abs/sample.root"}, {"size", 1234}, {"entries", 20000}}}}}}};
  writeFile(dir / "model.json", bundle.dump());
  auto r = runMlaas({"models", "upload", "zprime", model, "--metadata", (dir / "model.json").string(), "--json"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto card = json::parse(r.out);
  EXPECT_EQ(card["description"], "mlaas train: mlp binary (97 parameters)");
  EXPECT_EQ(card["labels"], json::array({"signal"}));
  EXPECT_EQ(card["metrics"]["validation_auc"], 0.75);
  EXPECT_FALSE(card["metrics"].contains("note"));
  EXPECT_EQ(card["provenance"]["config"], "zprime.yaml");
  EXPECT_EQ(card["preprocessing"]["specs"]["selected"], 16000);
  EXPECT_EQ(card["preprocessing"]["inputs"][0]["name"], "input");  // as train --upload adds them
  EXPECT_EQ(card["preprocessing"]["model"]["kind"], "mlp");

  r = runMlaas({"models", "show", "zprime/versions/1"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_LT(r.out.size(), 2000u) << r.out;
  EXPECT_NE(r.out.find("preprocessing vector representation, tree Events, statistics of 16000 selected of 20000 "
                       "events (all of it: --json)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("features  MET_pt, MET_phi"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("provenance input_files: /abs/sample.root (20000 entries)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("counts"), std::string::npos) << r.out;
  r = runMlaas({"models", "show", "zprime/versions/1", "--json"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["preprocessing"]["specs"]["features"]["MET_pt"]["sketch"]["counts"].size(), 2000u);

  const std::string longName = "a-model-name-much-longer-than-twenty-four-columns";
  r = runMlaas({"models", "upload", longName, model, "--description", "first line\nsecond line"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = runMlaas({"models", "list"}, env);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::vector<std::string> lines;
  for (std::size_t at = 0, next; at < r.out.size(); at = next + 1) {
    next = r.out.find('\n', at);
    lines.push_back(r.out.substr(at, next - at));
  }
  ASSERT_EQ(lines.size(), 3u) << r.out;  // header and one row per model
  const auto column = lines[0].find("DESCRIPTION");
  EXPECT_EQ(lines[1].find("first line ..."), column) << r.out;
  EXPECT_EQ(lines[2].find("mlaas train: mlp binary"), column) << r.out;
  EXPECT_EQ(lines[1].rfind(longName, 0), 0u) << r.out;
}
