// Internal: streamer-driven reading of ROOT objects (TTree, TBranch*, TLeaf*, ...) into a generic
// field map. Classes with hand-written streamers that tree metadata uses (TObject, TNamed, TList,
// TObjArray, TString, TArray*, TBasket) are hardcoded; anything unknown inside a byte-counted
// record is skipped by its byte count, never guessed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "root/cursor.hpp"
#include "root/streamer.hpp"

namespace mlaas::root::detail {

struct Obj;
using ObjPtr = std::shared_ptr<Obj>;

struct Value {
  std::variant<std::monostate, std::int64_t, double, std::string, std::vector<std::int64_t>, std::vector<double>,
               ObjPtr, std::vector<ObjPtr>>
      v;
};

/// A basket stored inside its branch's record (the last, unfinished basket when the tree was written).
struct EmbeddedBasket {
  std::int32_t nevbuf = 0;
  std::int32_t keylen = 0;
  std::int32_t last = 0;
  std::vector<std::byte> content;        ///< entry data [fKeylen, fLast) of the record
  std::vector<std::int32_t> offsets;     ///< entry offsets relative to content (may be empty)
  /// The first nevbuf offsets ascend from 0 and stay within content: checked once when the basket
  /// is read from the tree record, so each read of its branch need not walk them again.
  bool offsetsInOrder = false;
};

struct Obj {
  std::string className;
  int version = 0;
  std::map<std::string, Value> fields;
  std::shared_ptr<EmbeddedBasket> basket;  ///< set when className == "TBasket"

  [[nodiscard]] std::int64_t i(const std::string& name, std::int64_t fallback = 0) const;
  [[nodiscard]] double d(const std::string& name, double fallback = 0) const;
  [[nodiscard]] std::string s(const std::string& name) const;
  [[nodiscard]] ObjPtr obj(const std::string& name) const;
  [[nodiscard]] std::vector<ObjPtr> objs(const std::string& name) const;
  [[nodiscard]] std::vector<std::int64_t> ints(const std::string& name) const;
  [[nodiscard]] bool has(const std::string& name) const { return fields.count(name) != 0; }
};

class ObjectReader {
 public:
  ObjectReader(const StreamerInfos& infos, Cursor& cursor) : infos_(infos), c_(cursor) {}
  /// Reads a top-level object of `className` (a key payload): byte count, version, members.
  ObjPtr readTop(const std::string& className);
  /// An object slot (pointer / TObjArray entry): null, a back-reference, or a new object.
  ObjPtr readSlot();

 private:
  void readClass(const std::string& className, Obj& into, int depth);
  void readMembers(const StreamerInfo& info, Obj& into, int depth);
  void readElement(const StreamerElement& e, Obj& into, int depth);
  void readTObject(Obj& into);
  void readTNamed(Obj& into, int depth);
  void readCollection(const std::string& className, Obj& into, int depth);
  void readBasket(Obj& into);
  std::int64_t readBasic(int type);
  double readReal(int type, const StreamerElement* e);
  ObjPtr readSlot(int depth);

  const StreamerInfos& infos_;
  Cursor& c_;
  std::map<std::int64_t, ObjPtr> objects_;
  std::map<std::int64_t, std::string> classes_;
};

}  // namespace mlaas::root::detail
