// RNTuple: the corpus's epoch-1 files read into columns, compared with JSROOT's own RNTuple reader
// (node + .deps/node_modules/jsroot, tests/root/jsroot_rntuple_dump.mjs) where JSROOT reads the
// field, with the file's own redundancy (cardinality fields against collection offsets) where it
// does not; unsupported fields say what they are; damaged envelopes give located errors.
#include "root/ntuple.hpp"

#include <gtest/gtest.h>

#include "jsroot_compare.hpp"
#include "root/dump.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

std::shared_ptr<File> openCorpus(const std::string& name) {
  return File::open(test::corpusFile(name).string());
}

std::optional<std::string> jsrootMissing() {
  const auto jsroot = test::sourceDir() / ".deps/node_modules/jsroot";
  if (!std::filesystem::exists(jsroot / "modules/rntuple.mjs"))
    return "JSROOT not installed in .deps (run scripts/bootstrap)";
  if (test::run({"/bin/sh", "-c", "command -v node"}).exitCode != 0) return "node is not on PATH";
  return std::nullopt;
}

json jsrootFields(const std::string& file, const std::string& ntuple, const std::string& fields) {
  const auto r = test::run({"node", (test::sourceDir() / "tests/root/jsroot_rntuple_dump.mjs").string(),
                            (test::sourceDir() / ".deps/node_modules/jsroot").string(), test::corpusFile(file).string(),
                            ntuple, fields});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return json::parse(r.out)[ntuple]["branches"];
}

TEST(NTuple, SameValuesAsJsrootsRNTupleReader) {
  MLAAS_REQUIRE_CORPUS();
  if (auto why = jsrootMissing()) GTEST_SKIP() << *why;
  struct Case {
    const char* file;
    const char* ntuple;
    const char* fields;
  };
  std::size_t compared = 0;
  for (const Case& c : {
           Case{"test_int_float_rntuple_v1-0-0-0.root", "ntuple", "one_integers,two_floats"},
           Case{"test_1jag_int_float_rntuple_v1-0-0-0.root", "ntuple", "one_v_integers,two_v_floats"},
           Case{"test_split_3e4_rntuple_v1-0-0-0.root", "ntuple", "one_int32,two_uint32,three_vint32"},
           Case{"test_bit_rntuple_v1-0-0-0.root", "ntuple", "one_bit"},
           Case{"test_stl_containers_rntuple_v1-0-0-0.root", "ntuple", "string,vector_int32"},
           Case{"test_index_multicluster_rntuple_v1-0-0-0.root", "ntuple", "int_vector"},
           // (not test_extension_columns: JSROOT 7.11.2 reads the deferred float_field from int_field's column)
           Case{"test_extension_columns_rntuple_v1-0-0-0.root", "ntuple", "int_field"},
           Case{"test_int_5e4_rntuple_v1-0-0-0.root", "ntuple", "one_integers"},
           Case{"rntviewer-testfile-uncomp-single-rntuple-v1-0-0-0.root", "Contributors", "firstName,lastName"},
           Case{"ntpl001_staff_rntuple_v1-0-1-0.root", "Staff",
                "Category,Flag,Age,Service,Children,Grade,Step,Hrweek,Cost,Division,Nation"},
           Case{"cmsopendata2015_ttbar_19980_NANOAOD_RNTupleImporter_rntuple_v1-0-0-1.root", "Events",
                "run,luminosityBlock,event,CaloMET_pt,Generator_id1,HTXS_njets25,Flag_METFilters,btagWeight_CSVV2"},
       }) {
    SCOPED_TRACE(c.file);
    const auto file = openCorpus(c.file);
    const auto nt = file->ntuple(c.ntuple);
    const auto theirs = jsrootFields(c.file, c.ntuple, c.fields);
    for (const auto& [name, f] : theirs.items()) {
      ASSERT_TRUE(f.contains("values")) << name << ": " << f.dump();
      const auto* info = nt.field(name);
      ASSERT_NE(info, nullptr) << name;
      ASSERT_TRUE(info->supported) << name << ": " << info->unsupportedReason;
      const auto col = nt.read({name}, {0, nt.entries()})[0];
      ASSERT_EQ(col.entries, f["values"].size()) << name;
      for (std::size_t i = 0; i < col.entries; ++i) {
        std::string ours;
        appendEntryJson(col, i, ours);
        ASSERT_EQ(compare(f["values"][i], json::parse(ours), col.type, name + " entry " + std::to_string(i)), "");
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 34u);
}

// RNTupleImporter's NanoAOD: RVec fields and their counts are projections of untyped collections
// (alias columns). JSROOT does not read them per entry, so the file checks itself: nMuon is the
// cardinality of the collection that Muon_pt's offsets index, and a range read is a slice.
TEST(NTuple, ProjectedCollectionsAgreeWithTheirCardinality) {
  MLAAS_REQUIRE_CORPUS();
  const auto file = openCorpus("Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root");
  const auto nt = file->ntuple("Events");
  EXPECT_EQ(nt.entries(), 1000u);
  const auto cols = nt.read({"nMuon", "Muon_pt", "Muon_charge"}, {0, nt.entries()});
  ASSERT_EQ(cols[0].type, DType::uint32);
  ASSERT_EQ(cols[1].type, DType::float32);
  ASSERT_EQ(cols[1].offsets.size(), 1u);
  const auto counts = cols[0].values<std::uint32_t>();
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    ASSERT_EQ(cols[1].offsets[0][i + 1] - cols[1].offsets[0][i], counts[i]) << "entry " << i;
    total += counts[i];
  }
  EXPECT_EQ(cols[1].valueCount(), total);
  EXPECT_EQ(cols[2].offsets, cols[1].offsets);
  for (auto q : cols[2].values<std::int32_t>()) EXPECT_TRUE(q == 1 || q == -1);
  for (auto pt : cols[1].values<float>()) EXPECT_GT(pt, 0.f);
  // JSROOT 7.11.2 reads a projected RVec as one item per entry: the first 1000 items in order. The
  // items themselves must match ours.
  if (!jsrootMissing()) {
    const auto theirs =
        jsrootFields("Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root", "Events", "Muon_pt");
    const auto& flat = theirs["Muon_pt"]["values"];
    const auto ours = cols[1].values<float>();
    ASSERT_EQ(flat.size(), nt.entries());
    ASSERT_GE(ours.size(), flat.size());
    for (std::size_t i = 0; i < flat.size(); ++i) ASSERT_EQ(static_cast<float>(flat[i].get<double>()), ours[i]) << i;
  }
  const auto slice = nt.read({"Muon_pt"}, {100, 250})[0];
  EXPECT_EQ(slice.entries, 150u);
  EXPECT_EQ(slice.offsets[0].back(), cols[1].offsets[0][250] - cols[1].offsets[0][100]);
}

// Ranges that start and end inside clusters and pages read only the pages they need: the same
// entries as the full read.
TEST(NTuple, EntryRangesAreSlicesOfTheFullRead) {
  MLAAS_REQUIRE_CORPUS();
  struct Case {
    const char* file;
    const char* ntuple;
    std::vector<std::string> fields;
  };
  for (const auto& c :
       {Case{"test_index_multicluster_rntuple_v1-0-0-0.root", "ntuple", {"int_vector"}},
        Case{"test_extension_columns_rntuple_v1-0-0-0.root", "ntuple", {"int_field", "float_field", "intvec_field"}},
        Case{"ntpl001_staff_rntuple_v1-0-1-0.root", "Staff", {"Age", "Nation"}},
        Case{"Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root", "Events", {"nMuon", "Muon_pt"}}}) {
    SCOPED_TRACE(c.file);
    const auto nt = openCorpus(c.file)->ntuple(c.ntuple);
    const auto n = nt.entries();
    const auto full = nt.read(c.fields, {0, n});
    for (const EntryRange range : {EntryRange{n / 3, n - n / 4}, EntryRange{1, 2}, EntryRange{n - 1, n}}) {
      const auto part = nt.read(c.fields, range);
      for (std::size_t k = 0; k < c.fields.size(); ++k) {
        ASSERT_EQ(part[k].entries, range.size());
        EXPECT_EQ(part[k].firstEntry, range.begin);
        for (std::uint64_t i = 0; i < range.size(); ++i) {
          std::string a, b;
          appendEntryJson(part[k], i, a);
          appendEntryJson(full[k], range.begin + i, b);
          ASSERT_EQ(a, b) << c.fields[k] << " entry " << range.begin + i;
        }
      }
    }
  }
}

// readInto into the columns of earlier reads (larger, smaller, other fields, other order) gives
// exactly what a fresh read gives: a lent buffer never leaks old values or offsets.
TEST(NTuple, ReadIntoReusedColumnsEqualsFreshReads) {
  MLAAS_REQUIRE_CORPUS();
  const auto nt = openCorpus("Run2012BC_DoubleMuParked_Muons_1000evts_rntuple_v1-0-0-0.root")->ntuple("Events");
  const std::vector<std::string> all{"nMuon", "Muon_pt", "Muon_charge"};
  std::vector<Column> columns;
  struct Step {
    std::vector<std::string> fields;
    EntryRange range;
  };
  for (const auto& step : {Step{all, {0, 1000}}, Step{all, {10, 37}}, Step{{"Muon_charge", "nMuon"}, {500, 1000}},
                           Step{{"Muon_pt"}, {999, 1000}}, Step{all, {0, 0}}, Step{all, {3, 700}}}) {
    nt.readInto(step.fields, step.range, columns);
    const auto fresh = nt.read(step.fields, step.range);
    ASSERT_EQ(columns.size(), fresh.size());
    for (std::size_t k = 0; k < fresh.size(); ++k) {
      SCOPED_TRACE(step.fields[k] + " from " + std::to_string(step.range.begin));
      EXPECT_EQ(columns[k].name, fresh[k].name);
      EXPECT_EQ(columns[k].type, fresh[k].type);
      EXPECT_EQ(columns[k].entries, fresh[k].entries);
      EXPECT_EQ(columns[k].firstEntry, fresh[k].firstEntry);
      EXPECT_EQ(columns[k].offsets, fresh[k].offsets);
      EXPECT_EQ(columns[k].data, fresh[k].data);
    }
  }
}

TEST(NTuple, EveryCorpusNTupleOpensAndNamesWhatIsUnsupported) {
  MLAAS_REQUIRE_CORPUS();
  std::size_t supported = 0, unsupported = 0, ntuples = 0;
  for (const auto& path : test::corpusRootFiles()) {
    const auto name = path.filename().string();
    if (name.find("rntuple") == std::string::npos) continue;
    SCOPED_TRACE(name);
    const auto file = File::open(path.string());
    const auto paths = file->rntuplePaths();
    ASSERT_FALSE(paths.empty());
    for (const auto& p : paths) {
      const auto nt = file->ntuple(p);
      ++ntuples;
      for (const auto& f : nt.fields()) {
        if (!f.supported) {
          ++unsupported;
          EXPECT_EQ(f.unsupportedReason.rfind("unsupported: ", 0), 0u) << f.name;
          try {
            (void)nt.read({f.name}, {0, nt.entries()});
            ADD_FAILURE() << f.name << " is unsupported but was read";
          } catch (const core::Exception& e) {
            EXPECT_EQ(e.code(), core::Errc::unsupported);
            EXPECT_NE(std::string(e.what()).find(f.name), std::string::npos);
          }
          continue;
        }
        ++supported;
        const auto col = nt.read({f.name}, {0, nt.entries()})[0];
        EXPECT_EQ(col.entries, nt.entries()) << f.name;
        EXPECT_EQ(col.type, f.type) << f.name;
        EXPECT_EQ(static_cast<int>(col.offsets.size()), f.jaggedLevels) << f.name;
      }
    }
  }
  std::cout << ntuples << " RNTuples: " << supported << " fields read, " << unsupported << " listed as unsupported\n";
  EXPECT_GT(supported, 1000u);  // the NanoAOD conversions alone have over a thousand
}

TEST(NTuple, DamagedEnvelopesGiveLocatedErrors) {
  MLAAS_REQUIRE_CORPUS();
  test::TempDir dir;
  const std::string name = "test_int_float_rntuple_v1-0-0-0.root";
  auto bytes = test::readFile(test::corpusFile(name));
  // The header envelope is stored uncompressed in this file: flip a byte of a field's name in it.
  const auto at = bytes.find("one_integers");
  ASSERT_NE(at, std::string::npos);
  bytes[at] ^= 0x20;
  const auto path = (dir / "flipped.root").string();
  test::writeFile(path, bytes);
  try {
    (void)File::open(path)->ntuple("ntuple");
    FAIL() << "a damaged header envelope must be detected";
  } catch (const core::Exception& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), core::Errc::corrupt);
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("RNTuple \"ntuple\": header envelope at offset"), std::string::npos) << what;
    EXPECT_NE(what.find("checksum mismatch"), std::string::npos) << what;
  }
  // Truncated after the anchor: the envelopes lie beyond the end.
  const auto original = openCorpus(name);
  for (std::size_t cut : {bytes.size() / 2, bytes.size() - 100}) {
    auto truncated = test::readFile(test::corpusFile(name));
    truncated.resize(cut);
    const auto tpath = (dir / ("cut" + std::to_string(cut) + ".root")).string();
    test::writeFile(tpath, truncated);
    EXPECT_THROW((void)File::open(tpath)->ntuple("ntuple"), core::Exception);
  }
  EXPECT_THROW((void)original->ntuple("nope"), core::Exception);
}

}  // namespace
}  // namespace mlaas::root
