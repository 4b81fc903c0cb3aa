// dare/core/simd.hpp — the few xsimd calls whose names changed between versions.
//
// Debian ships xsimd 8.1, where the horizontal sum of one batch is `xsimd::hadd`; 9.0
// renamed it `reduce_add`. Kernels call `dare::detail::reduce_add` only. (8.1's `haddp`,
// which reduces several batches at once, has been seen to return lanes out of order on
// AVX-512, so dare does not use it.)
#pragma once

#include <xsimd/xsimd.hpp>

namespace dare::detail {

template <class T, class Arch>
inline T reduce_add(const xsimd::batch<T, Arch>& b) noexcept {
#if XSIMD_VERSION_MAJOR >= 9
  return xsimd::reduce_add(b);
#else
  return xsimd::hadd(b);
#endif
}

}  // namespace dare::detail
