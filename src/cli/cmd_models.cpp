// `mlaas models list|search|show|upload|delete|alias|tag`: the model repository of a running
// `mlaas serve`, through the C++ client.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "client/client.hpp"
#include "core/result.hpp"

namespace {

using mlaas::core::Errc;
using mlaas::core::Exception;
using nlohmann::json;
namespace client = mlaas::client;

struct Connection {
  std::string server;
  std::string token;
  std::string tokenFile;
  double timeoutSeconds = 60;
  bool json = false;

  [[nodiscard]] client::Client open() const {
    auto options = client::optionsFromCommandLine(server, token, tokenFile);
    options.requestTimeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeoutSeconds * 1000));
    return client::Client(options);
  }
};

void addConnectionOptions(CLI::App* cmd, Connection& connection, bool withJson = true) {
  cmd->add_option("--server", connection.server,
                  "Server URL (default: env MLAAS_SERVER, else http://127.0.0.1:8083)");
  cmd->add_option("--token", connection.token, "Bearer token (default: env MLAAS_TOKEN)");
  cmd->add_option("--token-file", connection.tokenFile, "File whose first non-comment line is the bearer token");
  cmd->add_option("--timeout", connection.timeoutSeconds, "Seconds to wait for each response")
      ->check(mlaas::cli::positiveNumber())
      ->capture_default_str();
  if (withJson) cmd->add_flag("--json", connection.json, "Print JSON instead of text");
}

json specsToJson(const std::vector<client::TensorSpec>& specs) {
  json out = json::array();
  for (const auto& spec : specs)
    out.push_back({{"name", spec.name}, {"datatype", spec.datatype}, {"shape", spec.shape}});
  return out;
}

json cardToJson(const client::ModelCard& card) {
  json j = {{"name", card.name},         {"version", card.version},   {"created", card.created},
            {"size", card.size},         {"sha256", card.sha256},     {"platform", card.platform},
            {"inputs", specsToJson(card.inputs)}, {"outputs", specsToJson(card.outputs)},
            {"description", card.description}, {"labels", card.labels}, {"tags", card.tags},
            {"aliases", card.aliases},   {"metrics", card.metrics}};
  if (!card.provenance.is_null()) j["provenance"] = card.provenance;
  if (!card.preprocessing.is_null()) j["preprocessing"] = card.preprocessing;
  if (card.batching)
    j["batching"] = {{"max_batch_size", card.batching->maxBatchSize},
                     {"max_queue_delay_us", card.batching->maxQueueDelayUs}};
  return j;
}

json summaryToJson(const client::ModelSummary& s) {
  return {{"name", s.name},       {"latest_version", s.latestVersion}, {"versions", s.versions},
          {"aliases", s.aliases}, {"tags", s.tags},                   {"description", s.description},
          {"created", s.created}, {"updated", s.updated}};
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

/// A value on one line: strings as they are, the rest as compact JSON.
std::string scalarText(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

/// The provenance in a few lines: its scalar keys as key=value, and each input file's path (the
/// full object is in --json).
void printProvenance(const json& provenance) {
  if (!provenance.is_object()) {
    std::cout << "  provenance " << provenance.dump() << "\n";
    return;
  }
  std::vector<std::string> scalars;
  for (const auto& [key, value] : provenance.items())
    if (!value.is_structured()) scalars.push_back(key + "=" + scalarText(value));
  std::cout << "  provenance " << fmt::format("{}", fmt::join(scalars, " ")) << "\n";
  for (const auto& [key, value] : provenance.items()) {
    if (!value.is_structured()) continue;
    if (!value.is_array()) {
      std::cout << fmt::format("  provenance {}: {} keys\n", key, value.size());
      continue;
    }
    constexpr std::size_t kShown = 5;
    std::size_t shown = 0;
    for (const auto& item : value) {
      if (shown++ == kShown) {
        std::cout << fmt::format("  provenance {}: ... {} more\n", key, value.size() - kShown);
        break;
      }
      if (item.is_object() && item.contains("path"))
        std::cout << fmt::format("  provenance {}: {}{}\n", key, scalarText(item["path"]),
                                 item.contains("entries") ? fmt::format(" ({} entries)", item["entries"].dump()) : "");
      else
        std::cout << fmt::format("  provenance {}: {}\n", key, item.is_structured() ? "..." : scalarText(item));
    }
  }
}

/// "name, name, ... (N in all)" with at most `shown` names.
std::string someNames(const std::vector<std::string>& names, std::size_t shown = 8) {
  if (names.size() <= shown) return fmt::format("{}", fmt::join(names, ", "));
  return fmt::format("{}, ... ({} in all)",
                     fmt::join(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(shown), ", "), names.size());
}

/// The preprocessing spec (dataset config and statistics, often tens of kB) summarised: its
/// representation, tree, features, groups and how many events the statistics came from.
void printPreprocessing(const json& pre) {
  if (!pre.is_object()) {
    std::cout << "  preprocessing (not an object; see --json)\n";
    return;
  }
  std::vector<std::string> parts;
  if (pre.contains("representation")) parts.push_back(scalarText(pre["representation"]) + " representation");
  const json* specs = pre.contains("specs") && pre["specs"].is_object() ? &pre["specs"] : nullptr;
  if (specs && specs->contains("tree")) parts.push_back("tree " + scalarText((*specs)["tree"]));
  if (specs && specs->contains("selected"))
    parts.push_back(fmt::format("statistics of {} selected of {} events", (*specs)["selected"].dump(),
                                specs->contains("entries") ? (*specs)["entries"].dump() : "?"));
  std::cout << "  preprocessing " << fmt::format("{}", fmt::join(parts, ", ")) << " (all of it: --json)\n";
  if (specs && specs->contains("fkeys") && (*specs)["fkeys"].is_array() && !(*specs)["fkeys"].empty()) {
    std::vector<std::string> flat;
    for (const auto& name : (*specs)["fkeys"]) flat.push_back(scalarText(name));
    std::cout << "  features  " << someNames(flat) << "\n";
  }
  if (specs && specs->contains("groups") && (*specs)["groups"].is_object())
    for (const auto& [name, group] : (*specs)["groups"].items()) {
      std::vector<std::string> members;
      if (group.contains("members") && group["members"].is_array())
        for (const auto& member : group["members"]) members.push_back(scalarText(member));
      std::cout << fmt::format("  group     {}: {}{}\n", name, someNames(members),
                               group.contains("length") ? fmt::format(" (padded to {})", group["length"].dump()) : "");
    }
}

void printCard(const client::ModelCard& card) {
  std::cout << fmt::format("{} version {}\n", card.name, card.version);
  std::cout << fmt::format("  created   {}\n  size      {} bytes\n  sha256    {}\n  platform  {}\n", card.created,
                           card.size, card.sha256, card.platform);
  for (const auto& in : card.inputs)
    std::cout << fmt::format("  input     {} {} {}\n", in.name, in.datatype, shapeText(in.shape));
  for (const auto& out : card.outputs)
    std::cout << fmt::format("  output    {} {} {}\n", out.name, out.datatype, shapeText(out.shape));
  if (!card.description.empty()) {
    // Later lines of a multi-line description indented under the first.
    std::string description = card.description;
    for (auto at = description.find('\n'); at != std::string::npos; at = description.find('\n', at + 1))
      description.insert(at + 1, "              ");
    std::cout << "  description " << description << "\n";
  }
  if (!card.labels.empty()) std::cout << "  labels    " << fmt::format("{}", fmt::join(card.labels, ", ")) << "\n";
  for (const auto& [k, v] : card.tags) std::cout << fmt::format("  tag       {}={}\n", k, v);
  if (!card.aliases.empty()) std::cout << "  aliases   " << fmt::format("{}", fmt::join(card.aliases, ", ")) << "\n";
  for (const auto& [k, v] : card.metrics) std::cout << fmt::format("  metric    {}={}\n", k, v);
  if (card.batching)
    std::cout << fmt::format("  batching  max_batch_size={} max_queue_delay_us={}\n", card.batching->maxBatchSize,
                             card.batching->maxQueueDelayUs);
  if (!card.provenance.is_null()) printProvenance(card.provenance);
  if (!card.preprocessing.is_null()) printPreprocessing(card.preprocessing);
}

void printModels(const std::vector<client::ModelSummary>& models, bool asJson) {
  if (asJson) {
    json out = json::array();
    for (const auto& m : models) out.push_back(summaryToJson(m));
    std::cout << json{{"models", out}}.dump(2) << "\n";
    return;
  }
  if (models.empty()) {
    std::cout << "no models\n";
    return;
  }
  // Columns as wide as their longest value (names and aliases have no fixed limit); the
  // description, last, shows its first line only (one row per model; --json has it whole).
  struct Row {
    std::string name, latest, versions, aliases, description;
  };
  std::vector<Row> rows{{"NAME", "LATEST", "VERSIONS", "ALIASES", "DESCRIPTION"}};
  for (const auto& m : models) {
    std::vector<std::string> aliases;
    for (const auto& [alias, version] : m.aliases) aliases.push_back(fmt::format("{}->{}", alias, version));
    std::string description = m.description;
    if (const auto newline = description.find_first_of("\r\n"); newline != std::string::npos)
      description = description.substr(0, newline) + " ...";
    rows.push_back({m.name, std::to_string(m.latestVersion), std::to_string(m.versions.size()),
                    fmt::format("{}", fmt::join(aliases, ",")), description});
  }
  std::size_t nameWidth = 0, latestWidth = 0, versionsWidth = 0, aliasesWidth = 0;
  for (const auto& row : rows) {
    nameWidth = std::max(nameWidth, row.name.size());
    latestWidth = std::max(latestWidth, row.latest.size());
    versionsWidth = std::max(versionsWidth, row.versions.size());
    aliasesWidth = std::max(aliasesWidth, row.aliases.size());
  }
  for (const auto& row : rows) {
    auto line = fmt::format("{:<{}}  {:>{}}  {:>{}}  {:<{}}  {}", row.name, nameWidth, row.latest, latestWidth,
                            row.versions, versionsWidth, row.aliases, aliasesWidth, row.description);
    line.erase(line.find_last_not_of(' ') + 1);
    std::cout << line << "\n";
  }
}

/// "key=value" -> pair; throws naming the option.
std::pair<std::string, std::string> splitAssignment(const std::string& text, std::string_view option) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Exception(Errc::invalid_argument, fmt::format("{} '{}': expected KEY=VALUE", option, text));
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::int64_t parseVersion(const std::string& text) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < 1)
    throw Exception(Errc::invalid_argument, fmt::format("version '{}' is not a positive number", text));
  return v;
}

struct UploadArgs {
  std::string name;
  std::string file;
  std::string description;
  std::vector<std::string> tags;
  std::vector<std::string> labels;
  std::vector<std::string> metrics;
  std::string metadataFile;
};

/// An upload metadata file: the keys of docs/http-api.md, each checked.
client::UploadMetadata metadataFromKeys(const json& j, const std::string& file) {
  client::UploadMetadata metadata;
  try {
    for (const auto& [key, value] : j.items()) {
      if (key == "description") metadata.description = value.get<std::string>();
      else if (key == "labels") metadata.labels = value.get<std::vector<std::string>>();
      else if (key == "tags") metadata.tags = value.get<std::map<std::string, std::string>>();
      else if (key == "metrics") metadata.metrics = value.get<std::map<std::string, double>>();
      else if (key == "provenance") metadata.provenance = value;
      else if (key == "preprocessing") metadata.preprocessing = value;
      else if (key == "batching")
        metadata.batching = client::BatchingPolicy{value.at("max_batch_size").get<std::int64_t>(),
                                                   value.value("max_queue_delay_us", std::int64_t{0})};
      else
        throw Exception(Errc::invalid_argument,
                        fmt::format("{}: unknown key '{}' (expected description, labels, tags, metrics, "
                                    "provenance, preprocessing, batching; or a bundle's model.json)",
                                    file, key));
    }
  } catch (const json::exception& e) {
    throw Exception(Errc::invalid_argument, fmt::format("{}: {}", file, e.what()));
  }
  return metadata;
}

client::UploadMetadata uploadMetadata(const UploadArgs& args) {
  client::UploadMetadata metadata;
  if (!args.metadataFile.empty()) {
    std::ifstream in(args.metadataFile);
    if (!in) throw Exception(Errc::not_found, fmt::format("{}: cannot read the metadata file", args.metadataFile));
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      throw Exception(Errc::invalid_argument, fmt::format("{}: not a JSON object", args.metadataFile));
    const bool bundle = j.contains("format") && j["format"].is_string() &&
                        j["format"].get<std::string>().rfind("mlaas-model/", 0) == 0;
    metadata = bundle ? client::bundleUploadMetadata(j, args.metadataFile) : metadataFromKeys(j, args.metadataFile);
  }
  if (!args.description.empty()) metadata.description = args.description;
  for (const auto& label : args.labels) metadata.labels.push_back(label);
  for (const auto& tag : args.tags) {
    auto [key, value] = splitAssignment(tag, "--tag");
    metadata.tags.insert_or_assign(std::move(key), std::move(value));
  }
  for (const auto& metric : args.metrics) {
    const auto [key, value] = splitAssignment(metric, "--metric");
    std::size_t used = 0;
    double number = 0;
    try {
      number = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size())
      throw Exception(Errc::invalid_argument, fmt::format("--metric '{}': '{}' is not a number", metric, value));
    metadata.metrics[key] = number;
  }
  return metadata;
}

void setupModels(CLI::App& app) {
  auto* models = app.add_subcommand("models", "Manage the model repository of a running server");
  models->require_subcommand(1);
  auto connection = std::make_shared<Connection>();

  auto* list = models->add_subcommand("list", "List every model");
  addConnectionOptions(list, *connection);
  list->callback([connection] { printModels(connection->open().listModels().value(), connection->json); });

  auto query = std::make_shared<std::vector<std::string>>();
  auto* search = models->add_subcommand(
      "search", "Find models: name:GLOB, tag:KEY[=VALUE], alias:NAME or words (all must match)");
  search->add_option("terms", *query, "Search terms")->required();
  addConnectionOptions(search, *connection);
  search->callback([connection, query] {
    printModels(connection->open().listModels(fmt::format("{}", fmt::join(*query, " "))).value(), connection->json);
  });

  auto ref = std::make_shared<std::string>();
  auto* show = models->add_subcommand("show", "Show a model (every version) or one version's card");
  show->add_option("model", *ref, "name, name/versions/N or name@alias")->required();
  addConnectionOptions(show, *connection);
  show->callback([connection, ref] {
    const auto client = connection->open();
    const auto parsed = client::ModelRef::parse(*ref);
    if (parsed.version || parsed.alias) {
      const auto card = client.getCard(*ref).value();
      if (connection->json) std::cout << cardToJson(card).dump(2) << "\n";
      else printCard(card);
      return;
    }
    const auto details = client.getModel(parsed.name).value();
    if (connection->json) {
      auto j = summaryToJson(details.summary);
      j["cards"] = json::array();
      for (const auto& card : details.cards) j["cards"].push_back(cardToJson(card));
      std::cout << j.dump(2) << "\n";
      return;
    }
    const auto& s = details.summary;
    std::cout << fmt::format("{}: latest version {}, {} version(s)\n", s.name, s.latestVersion, s.versions.size());
    for (const auto& [alias, version] : s.aliases) std::cout << fmt::format("  alias {} -> {}\n", alias, version);
    for (const auto& [k, v] : s.tags) std::cout << fmt::format("  tag {}={}\n", k, v);
    for (const auto& card : details.cards) printCard(card);
  });

  auto upload = std::make_shared<UploadArgs>();
  auto* up = models->add_subcommand("upload", "Upload an ONNX file as the next version of a model");
  up->add_option("name", upload->name, "Model name")->required();
  up->add_option("file", upload->file, "The .onnx file")->required();
  up->add_option("--description", upload->description, "Description of this version");
  up->add_option("--tag", upload->tags, "KEY=VALUE tag of this version (repeatable)");
  up->add_option("--label", upload->labels, "Name of an output value, in order (repeatable)");
  up->add_option("--metric", upload->metrics, "KEY=NUMBER metric (repeatable)");
  up->add_option("--metadata", upload->metadataFile,
                 "JSON file with description, labels, tags, metrics, provenance, preprocessing, batching; or the "
                 "model.json of a bundle from 'mlaas train'");
  addConnectionOptions(up, *connection);
  up->callback([connection, upload] {
    const auto metadata = uploadMetadata(*upload);
    const auto card = connection->open().uploadFile(upload->name, upload->file, metadata).value();
    if (connection->json) std::cout << cardToJson(card).dump(2) << "\n";
    else
      std::cout << fmt::format("uploaded {} version {} ({} bytes, sha256 {})\n", card.name, card.version, card.size,
                               card.sha256);
  });

  auto* del = models->add_subcommand("delete", "Delete a model (every version) or one version");
  del->add_option("model", *ref, "name or name/versions/N")->required();
  addConnectionOptions(del, *connection, false);
  del->callback([connection, ref] {
    const auto parsed = client::ModelRef::parse(*ref);
    if (parsed.alias) throw Exception(Errc::invalid_argument, "delete takes name or name/versions/N, not an alias");
    const auto client = connection->open();
    if (parsed.version) client.deleteVersion(parsed.name, *parsed.version).value();
    else client.deleteModel(parsed.name).value();
    std::cout << "deleted " << parsed.str() << "\n";
  });

  struct AliasArgs {
    std::string name, alias, version;
    bool remove = false;
  };
  auto aliasArgs = std::make_shared<AliasArgs>();
  auto* alias = models->add_subcommand("alias", "Point an alias (e.g. production) at a version, or --delete it");
  alias->add_option("name", aliasArgs->name, "Model name")->required();
  alias->add_option("alias", aliasArgs->alias, "Alias")->required();
  alias->add_option("version", aliasArgs->version, "Version number");
  alias->add_flag("--delete", aliasArgs->remove, "Remove the alias");
  addConnectionOptions(alias, *connection, false);
  alias->callback([connection, aliasArgs] {
    const auto client = connection->open();
    if (aliasArgs->remove) {
      if (!aliasArgs->version.empty()) throw Exception(Errc::invalid_argument, "--delete takes no version");
      client.deleteAlias(aliasArgs->name, aliasArgs->alias).value();
      std::cout << fmt::format("deleted {}@{}\n", aliasArgs->name, aliasArgs->alias);
      return;
    }
    if (aliasArgs->version.empty()) throw Exception(Errc::invalid_argument, "give a version, or --delete");
    const auto info = client.setAlias(aliasArgs->name, aliasArgs->alias, parseVersion(aliasArgs->version)).value();
    std::cout << fmt::format("{}@{} -> version {}\n", info.name, info.alias, info.version);
  });

  struct TagArgs {
    std::string model, assignment, remove;
  };
  auto tagArgs = std::make_shared<TagArgs>();
  auto* tag = models->add_subcommand("tag", "Set KEY=VALUE on a model or version, or --delete KEY");
  tag->add_option("model", tagArgs->model, "name or name/versions/N")->required();
  tag->add_option("tag", tagArgs->assignment, "KEY=VALUE");
  tag->add_option("--delete", tagArgs->remove, "Remove this tag key");
  addConnectionOptions(tag, *connection, false);
  tag->callback([connection, tagArgs] {
    const auto parsed = client::ModelRef::parse(tagArgs->model);
    if (parsed.alias) throw Exception(Errc::invalid_argument, "tag takes name or name/versions/N, not an alias");
    if (tagArgs->remove.empty() == tagArgs->assignment.empty())
      throw Exception(Errc::invalid_argument, "give either KEY=VALUE or --delete KEY");
    const auto client = connection->open();
    if (!tagArgs->remove.empty()) {
      if (parsed.version) client.deleteVersionTag(parsed.name, *parsed.version, tagArgs->remove).value();
      else client.deleteModelTag(parsed.name, tagArgs->remove).value();
      std::cout << fmt::format("removed tag {} from {}\n", tagArgs->remove, parsed.str());
      return;
    }
    const auto [key, value] = splitAssignment(tagArgs->assignment, "tag");
    if (parsed.version) client.setVersionTag(parsed.name, *parsed.version, key, value).value();
    else client.setModelTag(parsed.name, key, value).value();
    std::cout << fmt::format("tagged {} {}={}\n", parsed.str(), key, value);
  });
}

}  // namespace

MLAAS_CLI_COMMAND(models, setupModels);
