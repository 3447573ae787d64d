// RNTupleImporter's untyped collections (`_collection0`, holding NanoAOD's leaf-count groups)
// are named for what they are, with their members, not as an empty type.
#include <gtest/gtest.h>

#include <string>

#include "root/file.hpp"
#include "root/ntuple.hpp"
#include "test_support.hpp"

namespace mlaas::root {
namespace {

TEST(NTupleUntyped, ImporterCollectionsSayWhatTheyAre) {
  MLAAS_REQUIRE_CORPUS();
  auto file = File::open(
      test::corpusFile("cmsopendata2015_ttbar_19980_NANOAOD_RNTupleImporter_rntuple_v1-0-0-1.root").string());
  const auto nt = file->ntuple("Events");
  const auto* collection = nt.field("_collection0");
  ASSERT_NE(collection, nullptr);
  EXPECT_FALSE(collection->supported);
  const std::string& reason = collection->unsupportedReason;
  EXPECT_EQ(reason.rfind("unsupported: untyped collection (records of ", 0), 0u) << reason;
  EXPECT_NE(reason.find("read them through their projected fields"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("()"), std::string::npos) << reason;
  EXPECT_EQ(reason.find("  "), std::string::npos) << reason;
  std::size_t untyped = 0;
  for (const auto& field : nt.fields()) {
    if (field.supported) continue;
    EXPECT_EQ(field.unsupportedReason.find("items of type )"), std::string::npos)
        << field.name << ": " << field.unsupportedReason;
    untyped += field.name.rfind("_collection", 0) == 0;
  }
  EXPECT_GT(untyped, 1u);
}

}  // namespace
}  // namespace mlaas::root
