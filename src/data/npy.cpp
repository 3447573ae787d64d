#include "data/npy.hpp"

#include <fmt/format.h>

#include "core/result.hpp"

namespace mlaas::data {
namespace {
constexpr std::size_t kHeaderBytes = 128;  // magic + length + dict, padded: room for any row count
}

NpyWriter::NpyWriter(std::filesystem::path path, std::string descr, std::vector<std::size_t> rowShape)
    : path_(std::move(path)), descr_(std::move(descr)), rowShape_(std::move(rowShape)) {
  std::size_t itemSize = descr_ == "<f4"                                         ? 4
                         : descr_ == "|u1"                                       ? 1
                         : descr_ == "<f8" || descr_ == "<i8" || descr_ == "<u8" ? 8
                                                                                 : 0;
  if (itemSize == 0) throw core::Exception(core::Errc::internal, fmt::format("npy: unsupported dtype '{}'", descr_));
  rowBytes_ = itemSize;
  for (auto d : rowShape_) rowBytes_ *= d;
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw core::Exception(core::Errc::io, fmt::format("{}: cannot write", path_.string()));
  out_ << header(0);
}

NpyWriter::~NpyWriter() {
  try {
    finish();
  } catch (...) {  // destructors never throw; finish() was the place to see the error
  }
}

std::string NpyWriter::header(std::size_t rows) const {
  std::string shape = fmt::format("{},", rows);
  for (auto d : rowShape_) shape += fmt::format(" {},", d);
  if (!rowShape_.empty()) shape.pop_back();
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr_, shape);
  std::string text = "\x93NUMPY";
  text += '\x01';
  text += '\x00';
  const std::size_t dictBytes = kHeaderBytes - 10;
  if (dict.size() + 1 > dictBytes) throw core::Exception(core::Errc::internal, "npy: header too long");
  dict.append(dictBytes - dict.size() - 1, ' ');
  dict += '\n';
  text += static_cast<char>(dictBytes & 0xff);
  text += static_cast<char>(dictBytes >> 8);
  return text + dict;
}

void NpyWriter::append(const void* data, std::size_t rows) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(rows * rowBytes_));
  rows_ += rows;
}

void NpyWriter::finish() {
  if (finished_) return;
  finished_ = true;
  out_.seekp(0);
  out_ << header(rows_);
  out_.close();
  if (!out_) throw core::Exception(core::Errc::io, fmt::format("{}: write failed", path_.string()));
}

}  // namespace mlaas::data
