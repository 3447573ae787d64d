// An io::Source over bytes in memory: for the fuzzer, tests and embedded data.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "io/source.hpp"

namespace mlaas::root {

class MemorySource final : public io::Source {
 public:
  MemorySource(std::string name, std::vector<std::byte> bytes) : name_(std::move(name)), bytes_(std::move(bytes)) {}
  [[nodiscard]] const std::string& name() const noexcept override { return name_; }
  [[nodiscard]] std::uint64_t size() const noexcept override { return bytes_.size(); }
  [[nodiscard]] core::Result<void> read(std::span<const io::ReadRequest> requests) override;
  [[nodiscard]] io::SourceStats stats() const noexcept override;

 private:
  std::string name_;
  std::vector<std::byte> bytes_;
  mutable std::mutex mutex_;
  io::SourceStats stats_;
};

}  // namespace mlaas::root
