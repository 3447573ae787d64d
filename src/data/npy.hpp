// NumPy .npy files (format 1.0), written as rows arrive: the header reserves room for the final
// row count and is rewritten by finish(), so arrays of unknown length stream to disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace mlaas::data {

class NpyWriter {
 public:
  /// descr is NumPy's dtype string ("<f4" float32, "|u1" uint8); rowShape the shape after the rows.
  NpyWriter(std::filesystem::path path, std::string descr, std::vector<std::size_t> rowShape);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  /// Appends `rows` rows of raw bytes (rows * product(rowShape) * itemsize bytes).
  void append(const void* data, std::size_t rows);
  /// Writes the final header; throws core::Exception(io) on failure. Called by the destructor too.
  void finish();
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }

 private:
  std::string header(std::size_t rows) const;
  std::filesystem::path path_;
  std::string descr_;
  std::vector<std::size_t> rowShape_;
  std::size_t rowBytes_ = 0;
  std::size_t rows_ = 0;
  std::ofstream out_;
  bool finished_ = false;
};

}  // namespace mlaas::data
