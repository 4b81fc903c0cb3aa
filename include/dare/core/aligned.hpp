// dare/core/aligned.hpp — cache-line aligned storage, huge pages for large buffers, and the
// row stride rule.
//
// Every buffer the SIMD kernels read is 64-byte aligned (one cache line, one AVX-512
// register). A table row of `dim` scalars is padded to a stride that keeps each row start
// aligned to min(64, bit_ceil(dim * sizeof(T))) bytes: power-of-two widths waste nothing,
// and no row straddles more cache lines than its size requires.
//
// Huge pages. An embedding table is read and written a row at a time at random: a Taobao-size
// item table is 4 M rows of 64 bytes (260 MB, and twice that again for Adam's moments), so
// with 4 KiB pages nearly every row costs a TLB miss and a page walk besides its own cache
// miss. AlignedAllocator therefore places every allocation of at least kHugePageBytes (2 MiB)
// on a 2 MiB boundary, rounds it up to whole 2 MiB pages, and on Linux asks for transparent
// huge pages there (madvise MADV_HUGEPAGE; many systems, Debian's default included, give
// them only where asked). Measured on a 2-core Xeon (Ice Lake, KVM): random 64-byte rows of
// a 4 M-row table, prefetched 8 ahead, 34 ns a row with 4 KiB pages, 16 ns with huge pages.
// Where the kernel has none, or refuses, nothing changes but the alignment. Smaller
// allocations are 64-byte aligned as before; the rounding wastes at most 2 MiB of address
// space per large buffer, and no memory that is never touched. A huge page is backed whole
// once any byte of it is touched, and the kernel may compact memory to find one when it is
// first touched; define DARE_NO_HUGE_PAGES to keep the alignment but not ask.
#pragma once

#include <unistd.h>

#if defined(__linux__)
#  include <sys/mman.h>
#endif

#include <cstddef>
#include <cstdio>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "dare/core/config.hpp"

namespace dare {

inline constexpr std::size_t kCacheLine = 64;
/// The size from which AlignedAllocator aligns to, and asks for, huge pages (x86-64's 2 MiB).
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

namespace detail {
/// Asks the kernel to back [p, p + bytes) with transparent huge pages; a hint: where the
/// system has none (or says no) the memory stays as it is.
inline void advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(DARE_NO_HUGE_PAGES)
  (void)::madvise(p, bytes, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}
}  // namespace detail

/// Allocator of 64-byte aligned storage; an allocation of at least kHugePageBytes is aligned
/// to 2 MiB, rounded up to whole 2 MiB pages and advised for huge pages (see the header note).
template <class T>
struct AlignedAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U>;
  };
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}  // NOLINT: allocators convert implicitly

  T* allocate(std::size_t n) {
    if (n > (std::numeric_limits<std::size_t>::max() - kHugePageBytes) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kHugePageBytes) return static_cast<T*>(::operator new(bytes, std::align_val_t{kCacheLine}));
    const std::size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    void* p = ::operator new(rounded, std::align_val_t{kHugePageBytes});
    detail::advise_huge_pages(p, rounded);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    ::operator delete(p, std::align_val_t{n * sizeof(T) < kHugePageBytes ? kCacheLine : kHugePageBytes});
  }
};
template <class T, class U>
bool operator==(const AlignedAllocator<T>&, const AlignedAllocator<U>&) noexcept {
  return true;
}
template <class T, class U>
bool operator!=(const AlignedAllocator<T>&, const AlignedAllocator<U>&) noexcept {
  return false;
}

/// std::vector whose data() is 64-byte aligned (2 MiB aligned, on huge pages where the
/// system gives them, from 2 MiB).
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
