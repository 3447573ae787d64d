#include "root/object.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "root/detail_slot.hpp"

namespace mlaas::root::detail {
namespace {
constexpr int kMaxDepth = 64;

// Thrown when a member cannot be interpreted; the enclosing byte-counted record catches it and
// skips to its end, keeping the members read so far.
struct SkipRecord {
  std::string reason;
};
}  // namespace

std::int64_t Obj::i(std::string_view name, std::int64_t fallback) const {
  const auto* v = find(name);
  if (!v) return fallback;
  if (auto p = std::get_if<std::int64_t>(&v->v)) return *p;
  if (auto p = std::get_if<double>(&v->v)) return static_cast<std::int64_t>(*p);
  return fallback;
}
double Obj::d(std::string_view name, double fallback) const {
  const auto* v = find(name);
  if (!v) return fallback;
  if (auto p = std::get_if<double>(&v->v)) return *p;
  if (auto p = std::get_if<std::int64_t>(&v->v)) return static_cast<double>(*p);
  return fallback;
}
std::string Obj::s(std::string_view name) const {
  const auto* v = find(name);
  if (!v) return {};
  if (auto p = std::get_if<std::string>(&v->v)) return *p;
  return {};
}
ObjPtr Obj::obj(std::string_view name) const {
  const auto* v = find(name);
  if (!v) return nullptr;
  if (auto p = std::get_if<ObjPtr>(&v->v)) return *p;
  return nullptr;
}
std::span<const ObjPtr> Obj::objs(std::string_view name) const {
  const auto* v = find(name);
  if (!v) return {};
  if (auto p = std::get_if<std::vector<ObjPtr>>(&v->v)) return *p;
  if (auto p = std::get_if<ObjPtr>(&v->v)) {
    if (*p && (*p)->has("__items")) return (*p)->objs("__items");
  }
  return {};
}
std::vector<std::int64_t> Obj::ints(std::string_view name) const {
  const auto* v = find(name);
  if (!v) return {};
  if (auto p = std::get_if<std::vector<std::int64_t>>(&v->v)) return *p;
  if (auto p = std::get_if<std::vector<double>>(&v->v)) {
    std::vector<std::int64_t> out;
    for (double x : *p) out.push_back(static_cast<std::int64_t>(x));
    return out;
  }
  return {};
}

ObjPtr ObjectReader::readTop(const std::string& className) {
  auto obj = std::make_shared<Obj>();
  obj->className = className;
  readClass(className, *obj, 0);
  return obj;
}

ObjPtr ObjectReader::readSlot() { return readSlot(0); }

ObjPtr ObjectReader::readSlot(int depth) {
  if (depth > kMaxDepth) c_.fail("objects nested too deeply");
  const auto h = readSlotHeader(c_, classes_);
  if (h.null) return nullptr;
  if (h.reference) {
    const auto it = std::lower_bound(objects_.begin(), objects_.end(), h.referenceTag,
                                     [](const auto& entry, std::int64_t tag) { return entry.first < tag; });
    return it == objects_.end() || it->first != h.referenceTag ? nullptr : it->second;
  }
  auto obj = std::make_shared<Obj>();
  obj->className = h.className;
  if (objects_.empty() || objects_.back().first < h.objectTag) {
    objects_.emplace_back(h.objectTag, obj);
  } else {  // a tag at or before one seen (never in files ROOT writes): keep the order, replace duplicates
    const auto it = std::lower_bound(objects_.begin(), objects_.end(), h.objectTag,
                                     [](const auto& entry, std::int64_t tag) { return entry.first < tag; });
    if (it != objects_.end() && it->first == h.objectTag)
      it->second = obj;
    else
      objects_.emplace(it, h.objectTag, obj);
  }
  try {
    readClass(h.className, *obj, depth + 1);
  } catch (const SkipRecord&) {
    if (!h.end) c_.fail("cannot skip unknown object of class " + h.className + " (no byte count)");
  }
  if (h.end) {
    if (c_.index() > *h.end)
      c_.fail(fmt::format("object of class {} read {} bytes past its byte count", h.className, c_.index() - *h.end));
    c_.seekIndex(*h.end);
  }
  return obj;
}

void ObjectReader::readTObject(Obj& into) {
  const auto bits = readTObjectBytes(c_);
  into.set("fBits").v = static_cast<std::int64_t>(bits);
}

void ObjectReader::readTNamed(Obj& into, int) {
  const auto v = readVersion(c_);
  readTObject(into);
  into.set("fName").v = c_.string();
  into.set("fTitle").v = c_.string();
  finishRecord(c_, v, "TNamed");
}

void ObjectReader::readCollection(const std::string& className, Obj& into, int depth) {
  const auto v = readVersion(c_);
  into.version = v.version;
  if (v.version > 2) readTObject(into);
  if (v.version > 1) into.set("fName").v = c_.string();
  const auto n = c_.i32();
  if (n < 0 || static_cast<std::size_t>(n) > c_.remaining() / 4)
    c_.fail(fmt::format("{} entry count {} exceeds the record", className, n));
  const bool isList = className != "TObjArray" && className != "TClonesArray";
  if (!isList) c_.i32();  // fLowerBound
  std::vector<ObjPtr> items;
  items.reserve(static_cast<std::size_t>(n));
  for (std::int32_t k = 0; k < n; ++k) {
    items.push_back(readSlot(depth + 1));
    if (isList && v.version > 3) {
      std::uint32_t nch = c_.u8();
      if (nch == 255 && v.version > 4) nch = c_.u32();
      c_.skip(nch);
    }
  }
  into.set("__items").v = std::move(items);
  finishRecord(c_, v, className);
}

void ObjectReader::readBasket(Obj& into) {
  // TKey part, then TBasket's own header, then (in the streamed form) offsets and data.
  auto b = std::make_shared<EmbeddedBasket>();
  c_.i32();  // fNbytes
  const auto keyVersion = c_.i16();
  c_.i32();  // fObjlen
  c_.u32();  // fDatime
  b->keylen = c_.i16();
  c_.i16();  // fCycle
  if (keyVersion > 1000) {
    c_.i64();
    c_.i64();
  } else {
    c_.i32();
    c_.i32();
  }
  c_.string();
  c_.string();
  c_.string();
  c_.i16();  // TBasket version
  c_.i32();  // fBufferSize
  auto nevBufSize = c_.i32();
  if (nevBufSize < 0) c_.u8();  // fIOBits
  b->nevbuf = c_.i32();
  b->last = c_.i32();
  int flag = static_cast<std::int8_t>(c_.u8());
  if (b->nevbuf < 0 || b->last < b->keylen || b->keylen < 0) c_.fail("embedded TBasket header is inconsistent");
  if (flag >= 80) flag -= 80;
  if (flag != 0 && flag % 10 != 2) {
    if (b->nevbuf > 0) {
      const auto n = c_.i32();
      // ROOT streams one offset per entry; fewer would send the decoders past the array.
      if (n < b->nevbuf || static_cast<std::size_t>(n) > c_.remaining() / 4)
        c_.fail(fmt::format("embedded TBasket offset count {} does not match its {} entries", n, b->nevbuf));
      b->offsets.resize(static_cast<std::size_t>(n));
      for (auto& o : b->offsets) {
        o = c_.i32();
        if (20 < flag && flag < 40) o &= ~0xFF000000;
        o -= b->keylen;
      }
    }
    if (flag > 40) {
      const auto n = c_.i32();
      if (n < 0 || static_cast<std::size_t>(n) > c_.remaining() / 4) c_.fail("embedded TBasket displacement count");
      c_.skip(static_cast<std::size_t>(n) * 4);
    }
  }
  if (flag == 1 || flag > 10) {
    auto all = c_.bytes(static_cast<std::size_t>(b->last));
    b->content.assign(all.begin() + b->keylen, all.end());
  }
  std::int32_t prev = 0;
  b->offsetsInOrder = true;
  for (std::size_t k = 0; k < std::min(b->offsets.size(), static_cast<std::size_t>(b->nevbuf)); ++k) {
    const auto o = b->offsets[k];
    b->offsetsInOrder &= o >= prev && static_cast<std::size_t>(o) <= b->content.size();
    prev = o;
  }
  into.basket = std::move(b);
}

void ObjectReader::readClass(const std::string& className, Obj& into, int depth) {
  if (depth > kMaxDepth) c_.fail("objects nested too deeply");
  if (className == "TObject") return readTObject(into);
  if (className == "TNamed") return readTNamed(into, depth);
  if (className == "TObjArray" || className == "TList" || className == "THashList" || className == "TClonesArray") {
    if (className == "TClonesArray") throw SkipRecord{"TClonesArray"};
    return readCollection(className, into, depth);
  }
  if (className == "TBasket") return readBasket(into);
  const auto v = readVersion(c_);
  into.version = v.version;
  const StreamerInfo* info = nullptr;
  if (v.version <= 0 && v.end) {
    // Version 0 with a checksum: the class's layout is identified by checksum.
    const auto sum = c_.u32();
    info = infos_.findByCheckSum(sum);
  } else {
    info = infos_.find(className, v.version);
  }
  if (!info) {
    if (v.end) {
      c_.seekIndex(*v.end);
      return;
    }
    throw SkipRecord{"no streamer info for " + className};
  }
  try {
    readMembers(*info, into, depth);
  } catch (const SkipRecord&) {
    if (!v.end) throw;
  }
  finishRecord(c_, v, className);
}

void ObjectReader::readMembers(const StreamerInfo& info, Obj& into, int depth) {
  into.fields.reserve(into.fields.size() + info.elements.size() + 8);  // bases (TNamed, TAttFill...) add a few each
  for (const auto& e : info.elements) readElement(e, into, depth);
}

std::int64_t ObjectReader::readBasic(int type) {
  switch (type) {
    case etype::kChar: return static_cast<std::int8_t>(c_.u8());
    case etype::kUChar:
    case etype::kBool:
    case etype::kLegacyChar: return c_.u8();
    case etype::kShort: return c_.i16();
    case etype::kUShort: return c_.u16();
    case etype::kInt:
    case etype::kCounter: return c_.i32();
    case etype::kUInt:
    case etype::kBits: return c_.u32();
    case etype::kLong:
    case etype::kLong64: return c_.i64();
    case etype::kULong:
    case etype::kULong64: return static_cast<std::int64_t>(c_.u64());
    default: throw SkipRecord{"basic type " + std::to_string(type)};
  }
}

double ObjectReader::readReal(int type, const StreamerElement* e) {
  switch (type) {
    case etype::kFloat: return c_.f32();
    case etype::kDouble: return c_.f64();
    case etype::kDouble32:
    case etype::kFloat16: {
      const bool range = e && e->hasRange;
      if (range && e->xmin < e->xmax) {
        const double bigint = e->nbits < 32 ? static_cast<double>(1u << e->nbits) : 4294967295.0;
        return c_.u32() / (bigint / (e->xmax - e->xmin)) + e->xmin;
      }
      int nbits = range && e->nbits < 15 ? e->nbits : (type == etype::kFloat16 ? 12 : 0);
      if (nbits == 0) return c_.f32();
      // truncated mantissa: exponent byte and 16-bit mantissa
      const std::uint32_t exp = c_.u8();
      const std::uint32_t man = c_.u16();
      std::uint32_t bits = (exp << 23) | ((man & ((1u << (nbits + 1)) - 1)) << (23 - nbits));
      float f = std::bit_cast<float>(bits);
      if ((1u << (nbits + 1)) & man) f = -f;
      return f;
    }
    default: throw SkipRecord{"real type " + std::to_string(type)};
  }
}

void ObjectReader::readElement(const StreamerElement& e, Obj& into, int depth) {
  const int t = e.type;
  auto isReal = [](int b) {
    return b == etype::kFloat || b == etype::kDouble || b == etype::kDouble32 || b == etype::kFloat16;
  };
  if (e.kind == "TStreamerBase") {
    if (e.name == "TObject") return readTObject(into);
    if (e.name == "TNamed") return readTNamed(into, depth);
    return readClass(e.name, into, depth + 1);
  }
  if (t > 0 && t < 20) {
    if (isReal(t))
      into.set(e.name).v = readReal(t, &e);
    else
      into.set(e.name).v = readBasic(t);
    return;
  }
  if (t > etype::kOffsetL && t < etype::kOffsetL + 20) {
    const int b = t - etype::kOffsetL;
    const auto n = static_cast<std::size_t>(std::max(e.arrayLength, 0));
    if (isReal(b)) {
      std::vector<double> xs;
      for (std::size_t k = 0; k < n; ++k) xs.push_back(readReal(b, &e));
      into.set(e.name).v = std::move(xs);
    } else {
      std::vector<std::int64_t> xs;
      for (std::size_t k = 0; k < n; ++k) xs.push_back(readBasic(b));
      into.set(e.name).v = std::move(xs);
    }
    return;
  }
  if (t > etype::kOffsetP && t < etype::kOffsetP + 20) {
    const int b = t - etype::kOffsetP;
    const auto flag = c_.u8();
    const auto count = into.i(e.countName, 0);
    if (flag == 0 || count <= 0) {
      into.set(e.name).v = std::vector<std::int64_t>{};
      return;
    }
    if (static_cast<std::uint64_t>(count) > c_.remaining())
      c_.fail(fmt::format("array {} of {} elements exceeds the record", e.name, count));
    if (isReal(b)) {
      std::vector<double> xs;
      for (std::int64_t k = 0; k < count; ++k) xs.push_back(readReal(b, &e));
      into.set(e.name).v = std::move(xs);
    } else {
      std::vector<std::int64_t> xs;
      for (std::int64_t k = 0; k < count; ++k) xs.push_back(readBasic(b));
      into.set(e.name).v = std::move(xs);
    }
    return;
  }
  switch (t) {
    case etype::kTString:
      into.set(e.name).v = c_.string();
      return;
    case etype::kTObject: return readTObject(into);
    case etype::kTNamed: return readTNamed(into, depth);
    case etype::kObject:
    case etype::kAny: {
      auto child = std::make_shared<Obj>();
      child->className = e.typeName;
      if (e.typeName.rfind("TArray", 0) == 0 && e.typeName.size() == 7) {
        const auto n = c_.i32();
        const char kind = e.typeName[6];
        const std::size_t width = kind == 'C' ? 1 : kind == 'S' ? 2 : (kind == 'I' || kind == 'F') ? 4 : 8;
        if (n < 0 || static_cast<std::size_t>(n) > c_.remaining() / width)
          c_.fail(e.typeName + " length " + std::to_string(n));
        c_.skip(static_cast<std::size_t>(n) * width);
        into.set(e.name).v = child;
        return;
      }
      readClass(e.typeName, *child, depth + 1);
      into.set(e.name).v = child;
      return;
    }
    case etype::kObjectp:
    case etype::kObjectP:
    case etype::kAnyp:
    case etype::kAnyP:
      into.set(e.name).v = readSlot(depth + 1);
      return;
    default: throw SkipRecord{fmt::format("member {} of type {} ({})", e.name, e.typeName, t)};
  }
}

}  // namespace mlaas::root::detail
