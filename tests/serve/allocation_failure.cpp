// The replacement operator new/delete behind allocation_failure.hpp (this file holds no tests).
#include "allocation_failure.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace mlaas::serve::test {
namespace {
std::atomic<std::size_t> armedSize{0};  // 0: no failure armed
}  // namespace

void failNextAllocationOf(std::size_t bytes) {
  armedSize.store(bytes);
}
bool allocationFailurePending() {
  return armedSize.load() != 0;
}
void clearAllocationFailure() {
  armedSize.store(0);
}

}  // namespace mlaas::serve::test

void* operator new(std::size_t size) {
  using mlaas::serve::test::armedSize;
  if (std::size_t armed = armedSize.load(std::memory_order_relaxed);
      armed != 0 && armed == size && armedSize.compare_exchange_strong(armed, 0))
    throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

// The nothrow form allocates from malloc too (never failing on purpose): what a library allocates
// with it (simdjson's parser) is freed by the operator delete below, and under AddressSanitizer
// its own nothrow new would not pair with that free.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return std::malloc(size == 0 ? 1 : size);
}

// The deletes that pair with it (the defaults free() too, but replacing both keeps allocators
// that check pairs, such as AddressSanitizer's, content).
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
