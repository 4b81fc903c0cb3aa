// dare/core/aligned.hpp — cache-line aligned storage and the row stride rule.
//
// Every buffer the SIMD kernels read is 64-byte aligned (one cache line, one AVX-512
// register). A table row of `dim` scalars is padded to a stride that keeps each row start
// aligned to min(64, bit_ceil(dim * sizeof(T))) bytes: power-of-two widths waste nothing,
// and no row straddles more cache lines than its size requires.
#pragma once

#include <cstddef>
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
