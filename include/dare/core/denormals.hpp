// dare/core/denormals.hpp — flush denormal floats to zero for the lifetime of a scope.
//
// Why: the dense (PyTorch-equivalent) Adam decays the first moment of every row not touched
// in a step by beta1 = 0.9, so a row left alone for ~800 steps holds moments below FLT_MIN
// (1.2e-38): 0.9^800 * 1e-3 < 1e-39. On the real logs most of the millions of item rows are
// in that state for most of training, and x86 handles arithmetic on such denormal numbers
// on a slow microcode path. Treating them as zero changes no result that matters (PyTorch
// offers the same switch, torch.set_flush_denormal). On the small synthetic data, which
// trains for ~150 steps, it makes no difference to speed or to any metric.
//
// The setting is per thread (the MXCSR register) and threads created while it is on
// inherit it, as dare's worker threads do. On other architectures this is a no-op.
#pragma once

#if defined(__SSE__) || defined(_M_X64)
#  include <xmmintrin.h>
#  define DARE_HAVE_MXCSR 1
#endif

namespace dare {

/// The calling thread's flush-to-zero and denormals-are-zero bits (0 where there is no
/// MXCSR): code that must replay arithmetic later, as it would have run (TableAdam's
/// deferred rows), records it with the arithmetic and sets it back with ScopedDenormalMode.
inline unsigned denormal_mode() noexcept {
#ifdef DARE_HAVE_MXCSR
  return _mm_getcsr() & (0x8000u | 0x0040u);
#else
  return 0;
#endif
}

/// Sets the calling thread's denormal bits to `mode` (a denormal_mode() value) for the
/// lifetime of a scope, restoring the previous ones on destruction.
class ScopedDenormalMode {
 public:
  explicit ScopedDenormalMode(unsigned mode) noexcept {
#ifdef DARE_HAVE_MXCSR
    saved_ = _mm_getcsr();
    const unsigned want = (saved_ & ~(0x8000u | 0x0040u)) | mode;
    if (want != saved_) _mm_setcsr(want);
#else
    (void)mode;
#endif
  }
  ~ScopedDenormalMode() {
#ifdef DARE_HAVE_MXCSR
    if (_mm_getcsr() != saved_) _mm_setcsr(saved_);
#endif
  }
  ScopedDenormalMode(const ScopedDenormalMode&) = delete;
  ScopedDenormalMode& operator=(const ScopedDenormalMode&) = delete;

 private:
#ifdef DARE_HAVE_MXCSR
  unsigned saved_ = 0;
#endif
};

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
