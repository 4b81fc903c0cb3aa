// dare/core/aligned.hpp — cache-line aligned storage and the row stride rule.
//
// Every buffer the SIMD kernels read is 64-byte aligned (one cache line, one AVX-512
// register). A table row of `dim` scalars is padded to a stride that keeps each row start
// aligned to min(64, bit_ceil(dim * sizeof(T))) bytes: power-of-two widths waste nothing,
// and no row straddles more cache lines than its size requires.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "dare/core/config.hpp"

namespace dare {

inline constexpr std::size_t kCacheLine = 64;

template <class T>
using AlignedAllocator = xsimd::aligned_allocator<T, kCacheLine>;

/// std::vector whose data() is 64-byte aligned.
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

namespace detail {
constexpr std::size_t bit_ceil(std::size_t x) noexcept {
  std::size_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

/// This machine's physical memory in bytes (0 when the system does not say).
inline double physical_memory_bytes() noexcept {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

/// Throws std::invalid_argument when `bytes` exceed this machine's physical memory, so a
/// size from a corrupt file or a mistyped option fails with a message naming it (`what`)
/// rather than with std::bad_alloc after minutes of swapping.
inline void check_fits_in_memory(double bytes, const std::string& what) {
  const double have = physical_memory_bytes();
  if (have > 0 && bytes > have) {
    char need[64];
    char mem[64];
    std::snprintf(need, sizeof need, "%.1f GB", bytes / 1e9);
    std::snprintf(mem, sizeof mem, "%.1f GB", have / 1e9);
    throw std::invalid_argument(what + " need " + need + ", more than the " + mem + " of memory of this machine");
  }
}
}  // namespace detail

/// Number of scalars between the starts of consecutive rows of width `dim`.
template <class T>
constexpr Index aligned_stride(Index dim) noexcept {
  const std::size_t bytes = static_cast<std::size_t>(dim) * sizeof(T);
  const std::size_t align = bytes >= kCacheLine ? kCacheLine : detail::bit_ceil(bytes);
  const std::size_t padded = (bytes + align - 1) / align * align;
  return static_cast<Index>(padded / sizeof(T));
}

}  // namespace dare
