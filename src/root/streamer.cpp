#include "root/streamer.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "root/detail_slot.hpp"

namespace mlaas::root {
namespace {

using detail::finishRecord;
using detail::readSlotHeader;
using detail::readTObjectBytes;
using detail::readVersion;

void readTNamed(Cursor& c, std::string& name, std::string& title) {
  const auto v = readVersion(c);
  readTObjectBytes(c);
  name = c.string();
  title = c.string();
  finishRecord(c, v, "TNamed");
}

double parseNumber(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(), [](char ch) { return ch == ' ' || ch == '\t'; }), s.end());
  double sign = 1;
  if (!s.empty() && s[0] == '-') {
    sign = -1;
    s.erase(0, 1);
  }
  // ROOT accepts pi, 2pi, 2*pi, pi/2, ...
  const auto p = s.find("pi");
  if (p != std::string::npos) {
    double factor = 1;
    std::string before = s.substr(0, p);
    std::string after = s.substr(p + 2);
    if (!before.empty() && before.back() == '*') before.pop_back();
    if (!before.empty()) factor = std::strtod(before.c_str(), nullptr);
    if (!after.empty() && after[0] == '/') factor /= std::strtod(after.c_str() + 1, nullptr);
    return sign * factor * std::numbers::pi;
  }
  return sign * std::strtod(s.c_str(), nullptr);
}

}  // namespace

bool parseRange(const std::string& title, double& xmin, double& xmax, int& nbits) {
  const auto open = title.find('[');
  if (open == std::string::npos) return false;
  const auto close = title.find(']', open);
  if (close == std::string::npos) return false;
  std::vector<std::string> parts;
  std::string cur;
  for (auto i = open + 1; i < close; ++i) {
    if (title[i] == ',') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += title[i];
    }
  }
  parts.push_back(cur);
  if (parts.size() < 2 || parts.size() > 3) return false;
  xmin = parseNumber(parts[0]);
  xmax = parseNumber(parts[1]);
  nbits = parts.size() == 3 ? static_cast<int>(parseNumber(parts[2])) : 32;
  if (nbits < 2 || nbits > 32) nbits = 32;
  return true;
}

void StreamerInfos::add(StreamerInfo info) {
  byName_.emplace(info.className, infos_.size());
  infos_.push_back(std::move(info));
}

const StreamerInfo* StreamerInfos::find(const std::string& className, int version) const {
  const StreamerInfo* best = nullptr;
  auto [lo, hi] = byName_.equal_range(className);
  for (auto it = lo; it != hi; ++it) {
    const auto& info = infos_[it->second];
    if (info.classVersion == version) return &info;
    if (!best || info.classVersion > best->classVersion) best = &info;
  }
  return best;
}

const StreamerInfo* StreamerInfos::findByCheckSum(std::uint32_t checkSum) const {
  for (const auto& info : infos_)
    if (info.checkSum == checkSum) return &info;
  return nullptr;
}

StreamerInfos StreamerInfos::parse(std::span<const std::byte> payload, std::uint32_t keylen,
                                   const std::string& context) {
  StreamerInfos out;
  Cursor c(payload, keylen, context);
  std::map<std::int64_t, std::string> classes;
  const auto listVersion = readVersion(c);
  if (listVersion.version > 3) readTObjectBytes(c);
  if (listVersion.version > 1) c.string();
  const auto count = c.i32();
  if (count < 0 || static_cast<std::size_t>(count) > c.remaining() / 4)
    c.fail("TList entry count " + std::to_string(count));
  for (std::int32_t k = 0; k < count; ++k) {
    const auto slot = readSlotHeader(c, classes);
    if (!slot.null && !slot.reference) {
      if (slot.className == "TStreamerInfo") {
        StreamerInfo info;
        const auto v = readVersion(c);
        std::string title;
        readTNamed(c, info.className, title);
        info.checkSum = c.u32();
        info.classVersion = c.i32();
        const auto arr = readSlotHeader(c, classes);
        if (!arr.null && !arr.reference) {
          const auto av = readVersion(c);
          if (av.version > 2) readTObjectBytes(c);
          if (av.version > 1) c.string();
          const auto n = c.i32();
          c.i32();  // fLowerBound
          if (n < 0 || static_cast<std::size_t>(n) > c.remaining() / 4)
            c.fail("TObjArray entry count " + std::to_string(n));
          for (std::int32_t j = 0; j < n; ++j) {
            const auto es = readSlotHeader(c, classes);
            if (es.null || es.reference) continue;
            StreamerElement e;
            e.kind = es.className;
            const auto sv = readVersion(c);
            std::optional<detail::Version> nested;
            if (e.kind == "TStreamerSTLstring") nested = readVersion(c);  // it nests a TStreamerSTL record
            const auto ev = readVersion(c);
            readTNamed(c, e.name, e.title);
            e.type = c.i32();
            e.size = c.i32();
            e.arrayLength = c.i32();
            e.arrayDim = c.i32();
            if (ev.version == 1) {
              const auto m = c.i32();
              if (m < 0 || m > 5) c.fail("fMaxIndex length " + std::to_string(m));
              for (int q = 0; q < m; ++q) e.maxIndex[static_cast<std::size_t>(q)] = c.i32();
            } else {
              for (auto& m : e.maxIndex) m = c.i32();
            }
            e.typeName = c.string();
            if (ev.version == 3) c.skip(24);
            finishRecord(c, ev, "TStreamerElement");
            if (e.type == etype::kUChar && (e.typeName == "Bool_t" || e.typeName == "bool")) e.type = etype::kBool;
            if (e.kind == "TStreamerBase") {
              if (sv.version > 2) e.baseVersion = c.i32();
            } else if (e.kind == "TStreamerBasicPointer" || e.kind == "TStreamerLoop") {
              c.i32();
              e.countName = c.string();
              e.countClass = c.string();
            } else if (e.kind == "TStreamerSTL" || e.kind == "TStreamerSTLstring") {
              e.stlType = c.i32();
              e.ctype = c.i32();
              const bool pointer = !e.typeName.empty() && e.typeName.back() == '*';
              e.type = pointer ? etype::kSTLp : etype::kSTL;
              if (e.arrayLength > 0) e.type += etype::kOffsetL;
              if (e.kind == "TStreamerSTLstring" || e.stlType == 365) e.type = etype::kSTLstring;
            }
            if (nested) finishRecord(c, *nested, e.kind);
            finishRecord(c, sv, e.kind);
            const int base = e.type % 20;
            if ((e.type < 60) && (base == etype::kDouble32 || base == etype::kFloat16))
              e.hasRange = parseRange(e.title, e.xmin, e.xmax, e.nbits);
            info.elements.push_back(std::move(e));
          }
          finishRecord(c, av, "TObjArray");
        }
        finishRecord(c, v, "TStreamerInfo " + info.className);
        out.add(std::move(info));
      }
      if (slot.end) c.seekIndex(*slot.end);
    }
    if (listVersion.version > 3) {  // per-entry option string
      std::uint32_t nch = c.u8();
      if (nch == 255 && listVersion.version > 4) nch = c.u32();
      c.skip(nch);
    }
  }
  return out;
}

}  // namespace mlaas::root
