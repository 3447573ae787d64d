// Internal: streamer-driven reading of ROOT objects (TTree, TBranch*, TLeaf*, ...) into a generic
// field map. Classes with hand-written streamers that tree metadata uses (TObject, TNamed, TList,
// TObjArray, TString, TArray*, TBasket) are hardcoded; anything unknown inside a byte-counted
// record is skipped by its byte count, never guessed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
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

/// One member read from a record. The name is borrowed: a streamer element's name (the File's
/// StreamerInfos outlive every Obj, which lives only while a tree is being opened) or a literal.
struct Field {
  std::string_view name;
  Value value;
};

struct Obj {
  std::string className;
  int version = 0;
  /// In the order read; a few dozen per object, so a linear search beats a tree of string nodes
  /// (NanoAOD's tree record holds ~1000 branches and leaves: opening it built ~100k map nodes).
  std::vector<Field> fields;
  std::shared_ptr<EmbeddedBasket> basket;  ///< set when className == "TBasket"

  /// The member's last value read (a name read twice, e.g. fName of TNamed and of a collection,
  /// keeps both; the later one wins, as ROOT's own reading would leave it).
  [[nodiscard]] const Value* find(std::string_view name) const noexcept {
    for (auto f = fields.rbegin(); f != fields.rend(); ++f)
      if (f->name == name) return &f->value;
    return nullptr;
  }
  /// A new value of the member (see find).
  Value& set(std::string_view name) { return fields.emplace_back(Field{name, {}}).value; }
  [[nodiscard]] std::int64_t i(std::string_view name, std::int64_t fallback = 0) const;
  [[nodiscard]] double d(std::string_view name, double fallback = 0) const;
  [[nodiscard]] std::string s(std::string_view name) const;
  [[nodiscard]] ObjPtr obj(std::string_view name) const;
  /// The objects of a TObjArray/TList member (or a vector member); empty when absent. Borrowed
  /// from this object (or the collection it holds).
  [[nodiscard]] std::span<const ObjPtr> objs(std::string_view name) const;
  [[nodiscard]] std::vector<std::int64_t> ints(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const noexcept { return find(name) != nullptr; }
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
  /// Objects by their tag (their position in the buffer), for back-references: tags grow as the
  /// buffer is read, so this stays sorted by appending (binary-searched; NanoAOD has ~3000).
  std::vector<std::pair<std::int64_t, ObjPtr>> objects_;
  std::map<std::int64_t, std::string> classes_;
};

}  // namespace mlaas::root::detail
