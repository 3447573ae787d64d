#include "root/write_streamers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/result.hpp"
#include "root/write_buffer.hpp"

namespace mlaas::root::detail {

namespace {

enum class Kind { base, basic, string, basicPointer, object, objectPointer, objectAny, stl };

struct Element {
  Kind kind;
  std::string name;
  int type = 0;
  int size = 0;
  std::string typeName;
  std::string title;
  int baseVersion = 0;            // base
  std::uint32_t baseChecksum = 0; // base (stored in fMaxIndex[1])
  std::string countName;          // basicPointer
  std::string countClass;
  int countVersion = 0;
  int stlType = 0;                // stl
  int ctype = 0;
};

struct Info {
  std::string name;
  int version = 0;
  std::uint32_t checksum = 0;
  std::vector<Element> elements;
  std::vector<std::string> dependsOn;  // classes whose infos must come along
};

Element base(std::string name, int version, std::uint32_t checksum, std::string title) {
  Element e{Kind::base, std::move(name)};
  e.type = e.name == "TObject" ? 66 : e.name == "TNamed" ? 67 : 0;
  e.typeName = "BASE";
  e.title = std::move(title);
  e.baseVersion = version;
  e.baseChecksum = checksum;
  return e;
}
Element basic(std::string name, int type, int size, std::string typeName, std::string title) {
  Element e{Kind::basic, std::move(name), type, size, std::move(typeName), std::move(title)};
  return e;
}
Element tstring(std::string name, std::string title) {
  return Element{Kind::string, std::move(name), 65, 24, "TString", std::move(title)};
}
Element pointerTo(std::string name, int type, int size, std::string typeName, std::string title,
                  std::string countName, std::string countClass, int countVersion) {
  Element e{Kind::basicPointer, std::move(name), type, size, std::move(typeName), std::move(title)};
  e.countName = std::move(countName);
  e.countClass = std::move(countClass);
  e.countVersion = countVersion;
  return e;
}
Element object(Kind kind, std::string name, int type, int size, std::string typeName, std::string title) {
  return Element{kind, std::move(name), type, size, std::move(typeName), std::move(title)};
}

constexpr std::uint32_t kTObjectSum = 0x901bc02d, kTNamedSum = 0xdfb74a3c, kTAttLineSum = 0x94074549,
                        kTAttFillSum = 0xffd92a92, kTAttMarkerSum = 0x291d8bec, kTCollectionSum = 0x57e3cb9c,
                        kTSeqCollectionSum = 0xfc6c3bc6, kTLeafSum = 0x6d1e8152, kTBranchSum = 0x10978aac;

Info leafInfo(std::string name, std::uint32_t checksum, int type, int size, std::string typeName) {
  return Info{std::move(name),
              1,
              checksum,
              {base("TLeaf", 2, kTLeafSum, "Leaf: description of a Branch data type"),
               basic("fMinimum", type, size, typeName, "Minimum value if leaf range is specified"),
               basic("fMaximum", type, size, typeName, "Maximum value if leaf range is specified")},
              {"TLeaf"}};
}

// Basic type codes of ROOT's element types, by the C++ spelling vector<T> uses.
struct BasicCode {
  const char* cpp;
  int code;
  const char* rootName;
};
constexpr BasicCode kBasicCodes[] = {
    {"bool", 18, "Bool_t"},     {"char", 1, "Char_t"},           {"unsigned char", 11, "UChar_t"},
    {"short", 2, "Short_t"},    {"unsigned short", 12, "UShort_t"}, {"int", 3, "Int_t"},
    {"unsigned int", 13, "UInt_t"}, {"Long64_t", 16, "Long64_t"},   {"ULong64_t", 17, "ULong64_t"},
    {"long", 4, "Long_t"},      {"unsigned long", 14, "ULong_t"},  {"float", 5, "Float_t"},
    {"double", 8, "Double_t"},
};

std::vector<Info> knownInfos() {
  std::vector<Info> v;
  v.push_back({"TObject", 1, kTObjectSum,
               {basic("fUniqueID", 13, 4, "unsigned int", "object unique identifier"),
                basic("fBits", 15, 4, "unsigned int", "bit field status word")}});
  v.push_back({"TNamed", 1, kTNamedSum,
               {base("TObject", 1, kTObjectSum, "Basic ROOT object"), tstring("fName", "object identifier"),
                tstring("fTitle", "object title")},
               {"TObject", "TString"}});
  v.push_back({"TString", 2, 0x00017419, {}});
  v.push_back({"TAttLine", 2, kTAttLineSum,
               {basic("fLineColor", 2, 2, "short", "Line color"), basic("fLineStyle", 2, 2, "short", "Line style"),
                basic("fLineWidth", 2, 2, "short", "Line width")}});
  v.push_back({"TAttFill", 2, kTAttFillSum,
               {basic("fFillColor", 2, 2, "short", "Fill area color"),
                basic("fFillStyle", 2, 2, "short", "Fill area style")}});
  v.push_back({"TAttMarker", 2, kTAttMarkerSum,
               {basic("fMarkerColor", 2, 2, "short", "Marker color"),
                basic("fMarkerStyle", 2, 2, "short", "Marker style"),
                basic("fMarkerSize", 5, 4, "float", "Marker size")}});
  v.push_back({"TCollection", 3, kTCollectionSum,
               {base("TObject", 1, kTObjectSum, "Basic ROOT object"), tstring("fName", "name of the collection"),
                basic("fSize", 3, 4, "int", "number of elements in collection")},
               {"TObject", "TString"}});
  v.push_back({"TSeqCollection", 0, kTSeqCollectionSum,
               {base("TCollection", 3, kTCollectionSum, "Collection abstract base class")},
               {"TCollection"}});
  v.push_back({"TList", 5, 0x69c5c3bb,
               {base("TSeqCollection", 0, kTSeqCollectionSum, "Sequenceable collection ABC")},
               {"TSeqCollection"}});
  v.push_back({"TObjArray", 3, 0xa99e6552,
               {base("TSeqCollection", 0, kTSeqCollectionSum, "Sequenceable collection ABC"),
                basic("fLowerBound", 3, 4, "int", "Lower bound of the array"),
                basic("fLast", 3, 4, "int", "Last element in array containing an object")},
               {"TSeqCollection"}});
  v.push_back({"ROOT::TIOFeatures", 1, 0x1aa12f10, {basic("fIOBits", 11, 1, "unsigned char", "")}});
  v.push_back(
      {"TLeaf",
       2,
       kTLeafSum,
       {base("TNamed", 1, kTNamedSum, "The basis for a named object (name, title)"),
        basic("fLen", 3, 4, "int", "Number of fixed length elements in the leaf's data."),
        basic("fLenType", 3, 4, "int", "Number of bytes for this data type"),
        basic("fOffset", 3, 4, "int", "Offset in ClonesArray object (if one)"),
        basic("fIsRange", 18, 1, "bool",
              "(=true if leaf has a range, false otherwise).  This is equivalent to being a 'leafcount'.  For a "
              "TLeafElement the range information is actually store in the TBranchElement."),
        basic("fIsUnsigned", 18, 1, "bool", "(=true if unsigned, false otherwise)"),
        object(Kind::objectPointer, "fLeafCount", 64, 8, "TLeaf*",
               "Pointer to Leaf count if variable length (we do not own the counter)")},
       {"TNamed"}});
  v.push_back(leafInfo("TLeafO", 0x02ae48d3, 18, 1, "bool"));
  v.push_back(leafInfo("TLeafB", 0x0f1e4b5e, 1, 1, "char"));
  v.push_back(leafInfo("TLeafS", 0x150ceecf, 2, 2, "short"));
  v.push_back(leafInfo("TLeafI", 0x7e6aae19, 3, 4, "int"));
  v.push_back(leafInfo("TLeafL", 0xde320862, 16, 8, "Long64_t"));
  v.push_back(leafInfo("TLeafF", 0x3add9d72, 5, 4, "float"));
  v.push_back(leafInfo("TLeafD", 0x118e8776, 8, 8, "double"));
  v.push_back({"TLeafElement", 1, 0xa04f8893,
               {base("TLeaf", 2, kTLeafSum, "Leaf: description of a Branch data type"),
                basic("fID", 3, 4, "int", "element serial number in fInfo"), basic("fType", 3, 4, "int", "leaf type")},
               {"TLeaf"}});
  v.push_back(
      {"TBranch",
       13,
       kTBranchSum,
       {base("TNamed", 1, kTNamedSum, "The basis for a named object (name, title)"),
        base("TAttFill", 2, kTAttFillSum, "Fill area attributes"),
        basic("fCompress", 3, 4, "int", "Compression level and algorithm"),
        basic("fBasketSize", 3, 4, "int", "Initial Size of  Basket Buffer"),
        basic("fEntryOffsetLen", 3, 4, "int", "Initial Length of fEntryOffset table in the basket buffers"),
        basic("fWriteBasket", 3, 4, "int", "Last basket number written"),
        basic("fEntryNumber", 16, 8, "Long64_t", "Current entry number (last one filled in this branch)"),
        object(Kind::objectAny, "fIOFeatures", 62, 1, "ROOT::TIOFeatures", "IO features for newly-created baskets."),
        basic("fOffset", 3, 4, "int", "Offset of this branch"),
        basic("fMaxBaskets", 6, 4, "int", "Maximum number of Baskets so far"),
        basic("fSplitLevel", 3, 4, "int", "Branch split level"),
        basic("fEntries", 16, 8, "Long64_t", "Number of entries"),
        basic("fFirstEntry", 16, 8, "Long64_t", "Number of the first entry in this branch"),
        basic("fTotBytes", 16, 8, "Long64_t", "Total number of bytes in all leaves before compression"),
        basic("fZipBytes", 16, 8, "Long64_t", "Total number of bytes in all leaves after compression"),
        object(Kind::object, "fBranches", 61, 64, "TObjArray", "-> List of Branches of this branch"),
        object(Kind::object, "fLeaves", 61, 64, "TObjArray", "-> List of leaves of this branch"),
        object(Kind::object, "fBaskets", 61, 64, "TObjArray", "-> List of baskets of this branch"),
        pointerTo("fBasketBytes", 43, 4, "int*", "[fMaxBaskets] Length of baskets on file", "fMaxBaskets",
                  "TBranch", 13),
        pointerTo("fBasketEntry", 56, 8, "Long64_t*", "[fMaxBaskets] Table of first entry in each basket",
                  "fMaxBaskets", "TBranch", 13),
        pointerTo("fBasketSeek", 56, 8, "Long64_t*", "[fMaxBaskets] Addresses of baskets on file", "fMaxBaskets",
                  "TBranch", 13),
        tstring("fFileName", "Name of file where buffers are stored (\"\" if in same file as Tree header)")},
       {"TNamed", "TAttFill", "ROOT::TIOFeatures", "TObjArray"}});
  v.push_back({"TBranchElement",
               10,
               0xe74f5e63,
               {base("TBranch", 13, kTBranchSum, "Branch descriptor"),
                tstring("fClassName", "Class name of referenced object"),
                tstring("fParentName", "Name of parent class"),
                tstring("fClonesName", "Name of class in TClonesArray (if any)"),
                basic("fCheckSum", 13, 4, "unsigned int", "CheckSum of class"),
                basic("fClassVersion", 2, 2, "short", "Version number of class"),
                basic("fID", 3, 4, "int", "element serial number in fInfo"),
                basic("fType", 3, 4, "int", "branch type"),
                basic("fStreamerType", 3, 4, "int", "branch streamer type"),
                basic("fMaximum", 3, 4, "int", "Maximum entries for a TClonesArray or variable array"),
                object(Kind::objectPointer, "fBranchCount", 64, 8, "TBranchElement*",
                       "pointer to primary branchcount branch"),
                object(Kind::objectPointer, "fBranchCount2", 64, 8, "TBranchElement*",
                       "pointer to secondary branchcount branch")},
               {"TBranch"}});
  v.push_back({"TRefTable",
               3,
               0x8c895b85,
               {base("TObject", 1, kTObjectSum, "Basic ROOT object"),
                basic("fSize", 3, 4, "int", "dummy for backward compatibility"),
                object(Kind::objectPointer, "fParents", 64, 8, "TObjArray*",
                       "array of Parent objects  (eg TTree branch) holding the referenced objects"),
                object(Kind::objectPointer, "fOwner", 64, 8, "TObject*", "Object owning this TRefTable"),
                [] {
                  Element e = object(Kind::stl, "fProcessGUIDs", 500, 24, "vector<string>",
                                     "UUIDs of TProcessIDs used in fParentIDs");
                  e.stlType = 1;
                  e.ctype = 61;
                  return e;
                }()},
               {"TObject", "TObjArray"}});
  v.push_back({"TBranchRef",
               1,
               0x2360b3fd,
               {base("TBranch", 13, kTBranchSum, "Branch descriptor"),
                object(Kind::objectPointer, "fRefTable", 64, 8, "TRefTable*", "pointer to the TRefTable")},
               {"TBranch", "TRefTable"}});
  v.push_back(
      {"TTree",
       20,
       0x7264e07f,
       {base("TNamed", 1, kTNamedSum, "The basis for a named object (name, title)"),
        base("TAttLine", 2, kTAttLineSum, "Line attributes"), base("TAttFill", 2, kTAttFillSum, "Fill area attributes"),
        base("TAttMarker", 2, kTAttMarkerSum, "Marker attributes"),
        basic("fEntries", 16, 8, "Long64_t", "Number of entries"),
        basic("fTotBytes", 16, 8, "Long64_t", "Total number of bytes in all branches before compression"),
        basic("fZipBytes", 16, 8, "Long64_t", "Total number of bytes in all branches after compression"),
        basic("fSavedBytes", 16, 8, "Long64_t", "Number of autosaved bytes"),
        basic("fFlushedBytes", 16, 8, "Long64_t", "Number of auto-flushed bytes"),
        basic("fWeight", 8, 8, "double", "Tree weight (see TTree::SetWeight)"),
        basic("fTimerInterval", 3, 4, "int", "Timer interval in milliseconds"),
        basic("fScanField", 3, 4, "int", "Number of runs before prompting in Scan"),
        basic("fUpdate", 3, 4, "int", "Update frequency for EntryLoop"),
        basic("fDefaultEntryOffsetLen", 3, 4, "int", "Initial Length of fEntryOffset table in the basket buffers"),
        basic("fNClusterRange", 6, 4, "int", "Number of Cluster range in addition to the one defined by 'AutoFlush'"),
        basic("fMaxEntries", 16, 8, "Long64_t", "Maximum number of entries in case of circular buffers"),
        basic("fMaxEntryLoop", 16, 8, "Long64_t", "Maximum number of entries to process"),
        basic("fMaxVirtualSize", 16, 8, "Long64_t", "Maximum total size of buffers kept in memory"),
        basic("fAutoSave", 16, 8, "Long64_t",
              "Autosave tree when fAutoSave entries written or -fAutoSave (compressed) bytes produced"),
        basic("fAutoFlush", 16, 8, "Long64_t",
              "Auto-flush tree when fAutoFlush entries written or -fAutoFlush (compressed) bytes produced"),
        basic("fEstimate", 16, 8, "Long64_t", "Number of entries to estimate histogram limits"),
        pointerTo("fClusterRangeEnd", 56, 8, "Long64_t*", "[fNClusterRange] Last entry of a cluster range.",
                  "fNClusterRange", "TTree", 20),
        pointerTo("fClusterSize", 56, 8, "Long64_t*",
                  "[fNClusterRange] Number of entries in each cluster for a given range.", "fNClusterRange", "TTree",
                  20),
        object(Kind::objectAny, "fIOFeatures", 62, 1, "ROOT::TIOFeatures",
               "IO features to define for newly-written baskets and branches."),
        object(Kind::object, "fBranches", 61, 64, "TObjArray", "List of Branches"),
        object(Kind::object, "fLeaves", 61, 64, "TObjArray", "Direct pointers to individual branch leaves"),
        object(Kind::objectPointer, "fAliases", 64, 8, "TList*",
               "List of aliases for expressions based on the tree branches."),
        object(Kind::objectAny, "fIndexValues", 62, 24, "TArrayD", "Sorted index values"),
        object(Kind::objectAny, "fIndex", 62, 24, "TArrayI", "Index of sorted values"),
        object(Kind::objectPointer, "fTreeIndex", 64, 8, "TVirtualIndex*", "Pointer to the tree Index (if any)"),
        object(Kind::objectPointer, "fFriends", 64, 8, "TList*", "pointer to list of friend elements"),
        object(Kind::objectPointer, "fUserInfo", 64, 8, "TList*",
               "pointer to a list of user objects associated to this Tree"),
        object(Kind::objectPointer, "fBranchRef", 64, 8, "TBranchRef*", "Branch supporting the TRefTable (if any)")},
       {"TNamed", "TAttLine", "TAttFill", "TAttMarker", "ROOT::TIOFeatures", "TObjArray", "TList", "TBranchRef"}});
  return v;
}

// vector<T> of a basic T: one TStreamerSTL element "This", as ROOT writes it.
Info vectorInfo(std::string_view className) {
  const auto open = className.find('<');
  const auto close = className.rfind('>');
  if (className.substr(0, open) != "vector" || open == std::string_view::npos || close == std::string_view::npos)
    throw core::Exception(core::Errc::internal, fmt::format("no streamer info for class {}", className));
  const auto inner = className.substr(open + 1, close - open - 1);
  const auto* code = std::find_if(std::begin(kBasicCodes), std::end(kBasicCodes),
                                  [&](const BasicCode& c) { return inner == c.cpp; });
  if (code == std::end(kBasicCodes))
    throw core::Exception(core::Errc::internal, fmt::format("no streamer info for class {}", className));
  Element e = object(Kind::stl, "This", 500, 0, std::string(className),
                     fmt::format("<{}> Used to call the proper TStreamerInfo case", code->rootName));
  e.stlType = 1;
  e.ctype = code->code;
  return Info{std::string(className), 6, collectionChecksum(className), {e}};
}

const char* elementClass(Kind kind) {
  switch (kind) {
    case Kind::base: return "TStreamerBase";
    case Kind::basic: return "TStreamerBasicType";
    case Kind::string: return "TStreamerString";
    case Kind::basicPointer: return "TStreamerBasicPointer";
    case Kind::object: return "TStreamerObject";
    case Kind::objectPointer: return "TStreamerObjectPointer";
    case Kind::objectAny: return "TStreamerObjectAny";
    case Kind::stl: return "TStreamerSTL";
  }
  return "";
}
std::int16_t elementVersion(Kind kind) { return kind == Kind::base || kind == Kind::stl ? 3 : 2; }

void writeElement(WriteBuffer& b, const Element& e) {
  const auto slot = b.beginSlot(elementClass(e.kind));
  const auto outer = b.beginObject(elementVersion(e.kind));
  const auto element = b.beginObject(4);  // TStreamerElement
  b.tnamed(e.name, e.title);
  b.i32(e.type);
  b.i32(e.size);
  b.i32(0);  // fArrayLength
  b.i32(0);  // fArrayDim
  b.i32(0);  // fMaxIndex[5]; a base keeps its checksum in [1]
  b.u32(e.kind == Kind::base ? e.baseChecksum : 0);
  b.i32(0);
  b.i32(0);
  b.i32(0);
  b.string(e.typeName);
  b.endByteCount(element);
  switch (e.kind) {
    case Kind::base: b.i32(e.baseVersion); break;
    case Kind::basicPointer:
      b.i32(e.countVersion);
      b.string(e.countName);
      b.string(e.countClass);
      break;
    case Kind::stl:
      b.i32(e.stlType);
      b.i32(e.ctype);
      break;
    default: break;
  }
  b.endByteCount(outer);
  b.endByteCount(slot);
}

void writeInfo(WriteBuffer& b, const Info& info) {
  constexpr std::uint32_t kIsCompiled = 0x00010000;  // persisted by ROOT; readers ignore it
  const auto slot = b.beginSlot("TStreamerInfo");
  const auto outer = b.beginObject(9);
  b.tnamed(info.name, "", kIsCompiled);
  b.u32(info.checksum);
  b.i32(info.version);
  const auto arraySlot = b.beginSlot("TObjArray");
  const auto array = b.beginObject(3);
  b.tobject();
  b.string("");
  b.i32(static_cast<std::int32_t>(info.elements.size()));
  b.i32(0);  // fLowerBound
  for (const auto& e : info.elements) writeElement(b, e);
  b.endByteCount(array);
  b.endByteCount(arraySlot);
  b.endByteCount(outer);
  b.endByteCount(slot);
}

}  // namespace

std::uint32_t collectionChecksum(std::string_view className) noexcept {
  std::uint32_t id = 0;
  for (char c : className) id = id * 3 + static_cast<unsigned char>(c);
  return id;
}

void writeStreamerInfos(WriteBuffer& b, std::span<const std::string> classes) {
  static const std::vector<Info> known = knownInfos();
  std::vector<Info> chosen;
  std::set<std::string> seen;
  auto add = [&](auto&& self, const std::string& name) -> void {
    if (!seen.insert(name).second) return;
    if (name.starts_with("vector<")) {
      chosen.push_back(vectorInfo(name));
      return;
    }
    auto it = std::find_if(known.begin(), known.end(), [&](const Info& i) { return i.name == name; });
    if (it == known.end())
      throw core::Exception(core::Errc::internal, fmt::format("no streamer info for class {}", name));
    chosen.push_back(*it);
    for (const auto& dep : it->dependsOn) self(self, dep);
  };
  for (const auto& c : classes) add(add, c);

  const auto list = b.beginObject(5);  // TList
  b.tobject();
  b.string("");
  b.i32(static_cast<std::int32_t>(chosen.size()));
  for (const auto& info : chosen) {
    writeInfo(b, info);
    b.u8(0);  // the option string of each list entry, empty
  }
  b.endByteCount(list);
}

}  // namespace mlaas::root::detail
