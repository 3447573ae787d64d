// TStreamerInfo: the class descriptions a ROOT file carries (the record at fSeekInfo). Parsed with
// hardcoded layouts of TList/TObjArray/TStreamerInfo/TStreamerElement (they cannot describe
// themselves); everything else (TTree, TBranch, TLeaf*, user classes) is then read from these.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace mlaas::root {

/// ROOT's element type codes (TVirtualStreamerInfo::EReadWrite) that the reader distinguishes.
namespace etype {
inline constexpr int kBase = 0, kChar = 1, kShort = 2, kInt = 3, kLong = 4, kFloat = 5, kCounter = 6,
                     kCharStar = 7, kDouble = 8, kDouble32 = 9, kLegacyChar = 10, kUChar = 11, kUShort = 12,
                     kUInt = 13, kULong = 14, kBits = 15, kLong64 = 16, kULong64 = 17, kBool = 18,
                     kFloat16 = 19, kOffsetL = 20, kOffsetP = 40, kObject = 61, kAny = 62, kObjectp = 63,
                     kObjectP = 64, kTString = 65, kTObject = 66, kTNamed = 67, kAnyp = 68, kAnyP = 69,
                     kAnyPnoVT = 70, kSTLp = 71, kSTL = 300, kSTLstring = 365, kStreamer = 500,
                     kStreamLoop = 501;
}

struct StreamerElement {
  std::string kind;      ///< "TStreamerBase", "TStreamerBasicType", "TStreamerSTL", ...
  std::string name;      ///< member (or base class) name
  std::string title;     ///< declaration comment; carries Double32_t ranges "[xmin,xmax,nbits]"
  std::string typeName;  ///< declared type ("Int_t", "vector<float>", "BASE" for bases)
  int type = 0;          ///< etype code (STL elements are normalised to kSTL, as ROOT does on read)
  int size = 0;
  int arrayLength = 0;
  int arrayDim = 0;
  std::array<int, 5> maxIndex{};
  int baseVersion = -1;      ///< TStreamerBase
  std::string countName;     ///< TStreamerBasicPointer / TStreamerLoop
  std::string countClass;
  int stlType = 0;           ///< TStreamerSTL: 1 vector, 2 list, 3 deque, 4 map, 6 set, ...
  int ctype = 0;             ///< TStreamerSTL: element type code for basic contents
  /// Double32_t / Float16_t: parsed from the title; hasRange means xmin/xmax/nbits are valid.
  bool hasRange = false;
  double xmin = 0, xmax = 0;
  int nbits = 0;
};

struct StreamerInfo {
  std::string className;
  std::uint32_t checkSum = 0;
  int classVersion = 0;
  std::vector<StreamerElement> elements;
};

/// All infos of one file, looked up by class name and version.
class StreamerInfos {
 public:
  StreamerInfos() = default;
  /// Parses the TList payload of the StreamerInfo record (keylen: the record's fKeylen, needed for
  /// class back-references). Throws core::Exception naming `context` and the offset.
  static StreamerInfos parse(std::span<const std::byte> payload, std::uint32_t keylen, const std::string& context);

  /// The info for (className, version); with version < 0 or no exact match, the highest version.
  [[nodiscard]] const StreamerInfo* find(const std::string& className, int version = -1) const;
  [[nodiscard]] const StreamerInfo* findByCheckSum(std::uint32_t checkSum) const;
  [[nodiscard]] const std::vector<StreamerInfo>& all() const noexcept { return infos_; }

  void add(StreamerInfo info);

 private:
  std::vector<StreamerInfo> infos_;
  std::multimap<std::string, std::size_t> byName_;
};

/// Parses "[xmin,xmax,nbits]" or "[xmin,xmax]" (pi and 2*pi forms included) from a title into
/// the element's range fields. Returns false when the title has no range.
bool parseRange(const std::string& title, double& xmin, double& xmax, int& nbits);

}  // namespace mlaas::root
