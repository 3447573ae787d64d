// The StreamerInfo record a written tree needs: one TStreamerInfo per class whose bytes the file
// holds (TTree, TBranch, the TLeaf kinds, TBranchElement and vector<T> for std::vector branches,
// and the bases they pull in), so that ROOT, JSROOT, uproot and our own reader can decode them.
// Element lists and checksums are those ROOT 6 writes (root-io-spec, 06-writing/ElementLists.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlaas::root::detail {

/// The checksum ROOT gives a std::vector<T> class ("vector<float>"): its name folded alone.
[[nodiscard]] std::uint32_t collectionChecksum(std::string_view className) noexcept;

class WriteBuffer;

/// Streams the StreamerInfo record's object (a TList of TStreamerInfo, no listOfRules) describing
/// `classes` and every class they depend on, each once, into `b` (whose origin is the record's key
/// length). Throws core::Exception(internal) for a class this writer does not know.
void writeStreamerInfos(WriteBuffer& b, std::span<const std::string> classes);

}  // namespace mlaas::root::detail
