// dare/core/denormals.hpp — flush denormal floats to zero for the lifetime of a scope.
//
// Why: Adam's second moment of a rarely-touched embedding row is (1 - beta2) * g^2, and the
// attention gradients of a freshly initialised model are tiny, so moments sink below
// FLT_MIN (1.2e-38) within a few hundred steps. Arithmetic on such denormal numbers takes
// a slow microcode path on x86 — tens of times slower — and a dense Adam pass over a table
// full of them slows training several-fold. Treating them as zero changes no result that
// matters (PyTorch offers the same switch, torch.set_flush_denormal).
//
// The setting is per thread (the MXCSR register) and threads created while it is on
// inherit it, as dare's worker threads do. On other architectures this is a no-op.
#pragma once

#if defined(__SSE__) || defined(_M_X64)
#  include <xmmintrin.h>
#  define DARE_HAVE_MXCSR 1
#endif

namespace dare {

/// Sets flush-to-zero and denormals-are-zero on construction, restores the previous mode
/// on destruction.
class ScopedFlushDenormals {
 public:
  explicit ScopedFlushDenormals(bool enable = true) {
#ifdef DARE_HAVE_MXCSR
    saved_ = _mm_getcsr();
    if (enable) _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
#else
    (void)enable;
#endif
  }
  ~ScopedFlushDenormals() {
#ifdef DARE_HAVE_MXCSR
    _mm_setcsr(saved_);
#endif
  }
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
#ifdef DARE_HAVE_MXCSR
  static constexpr unsigned kFlushToZero = 0x8000;      // MXCSR bit 15
  static constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR bit 6
  unsigned saved_ = 0;
#endif
};

}  // namespace dare
