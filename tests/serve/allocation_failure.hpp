// Fault injection for the serve tests: test_serve replaces the global operator new (in
// allocation_failure.cpp) with one that passes through to malloc, except that the next
// allocation of exactly the armed size throws std::bad_alloc, once. A request whose data makes
// the server allocate that size at a known place (the copy of an output of N rows) drives the
// server's error paths the way a real allocation failure would.
#pragma once

#include <cstddef>

namespace mlaas::serve::test {

/// Arms the failure: the next allocation of exactly `bytes` bytes, on any thread, throws.
void failNextAllocationOf(std::size_t bytes);
/// True while the armed failure has not fired yet.
bool allocationFailurePending();
/// Disarms it.
void clearAllocationFailure();

}  // namespace mlaas::serve::test
