// dare/core/prefetch.hpp — a hint that memory is about to be read.
//
// The per-sample training stages read table rows and gradient buckets at random ids of
// tables far larger than the caches; each access on its own is a full memory latency, and
// the out-of-order window covers only a few of them. Asking for the lines a few positions
// ahead (as dot_rows does for its row blocks) overlaps those latencies. A prefetch never
// changes a value: code that uses it computes the same bits with or without it.
#pragma once

#include "dare/core/config.hpp"

namespace dare::detail {

/// Asks for the cache lines of [p, p + bytes) (one line per 64 bytes, the first at p).
inline void prefetch_lines(const void* p, Index bytes) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  // GCC counts a prefetch as free of side effects, so at -O2 (-ffinite-loops) it deletes a
  // loop, or a hash probe, whose only result is a prefetch; the empty asm keeps the address.
  const char* c = static_cast<const char*>(p);
  for (Index b = 0; b < bytes; b += 64) {
    asm volatile("" : : "r"(c + b));
    __builtin_prefetch(c + b);
  }
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace dare::detail
