#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <limits>
#include <new>
#include <numeric>
#include <sstream>
#include <string>
#include <sys/stat.h>

#include "dare/core/aligned.hpp"

namespace {

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The VmFlags line of the mapping in /proc/self/smaps that holds `p` ("" if none is found).
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-') {
      inside = address(p) >= start && address(p) < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

bool has_transparent_huge_pages() {
  struct stat st {};
  return ::stat("/sys/kernel/mm/transparent_hugepage/enabled", &st) == 0;
}

}  // namespace

TEST_CASE("row strides keep rows aligned without padding power-of-two widths", "[core]") {
  CHECK(dare::aligned_stride<float>(16) == 16);
  CHECK(dare::aligned_stride<float>(8) == 8);
  CHECK(dare::aligned_stride<float>(1) == 1);
  CHECK(dare::aligned_stride<float>(3) == 4);
  CHECK(dare::aligned_stride<float>(130) == 144);
  CHECK(dare::aligned_stride<double>(5) == 8);
  dare::AlignedVector<float> v(37);
  CHECK(address(v.data()) % dare::kCacheLine == 0);
}

TEST_CASE("aligned storage: cache lines below 2 MiB, huge-page boundaries from 2 MiB, contents kept across both",
          "[core]") {
  const std::size_t just_below = dare::kHugePageBytes / sizeof(float) - 1;
  dare::AlignedVector<float> v(1000);
  std::iota(v.begin(), v.end(), 0.0f);
  CHECK(address(v.data()) % dare::kCacheLine == 0);

  v.resize(just_below);  // just under the threshold: still a cache-line allocation
  CHECK(address(v.data()) % dare::kCacheLine == 0);
  v.resize(just_below + 1);  // exactly 2 MiB: a huge-page allocation
  CHECK(address(v.data()) % dare::kHugePageBytes == 0);
  v.resize(5 * dare::kHugePageBytes / sizeof(float) + 3);  // not a whole number of pages
  CHECK(address(v.data()) % dare::kHugePageBytes == 0);
  for (int i = 0; i < 1000; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == static_cast<float>(i));
  v.back() = 7.0f;  // the last element of a rounded-up allocation is writable

  v.resize(10);
  v.shrink_to_fit();  // back to a small allocation: freed with the alignment it was made with
  CHECK(address(v.data()) % dare::kCacheLine == 0);
  CHECK(v[9] == 9.0f);

  dare::AlignedVector<std::int32_t> ints(dare::kHugePageBytes);  // another type, 8 MiB
  CHECK(address(ints.data()) % dare::kHugePageBytes == 0);
}

TEST_CASE("an aligned allocation too large to size throws instead of wrapping around", "[core]") {
  dare::AlignedAllocator<float> alloc;
  CHECK_THROWS_AS(alloc.allocate(std::numeric_limits<std::size_t>::max() / sizeof(float)), std::bad_array_new_length);
  CHECK_THROWS_AS(alloc.allocate(std::numeric_limits<std::size_t>::max() / sizeof(float) - 1000), std::bad_array_new_length);
}

TEST_CASE("storage from 2 MiB is advised for transparent huge pages where the system has them", "[core]") {
  if (!has_transparent_huge_pages()) {
    WARN("no /sys/kernel/mm/transparent_hugepage on this system: nothing to check");
    return;
  }
  dare::AlignedVector<float> big(3 * dare::kHugePageBytes / sizeof(float));
  dare::AlignedVector<float> small(1000);
  const std::string big_flags = vm_flags_of(big.data());
  INFO(big_flags);
  REQUIRE_FALSE(big_flags.empty());
#if defined(DARE_NO_HUGE_PAGES)
  CHECK(big_flags.find(" hg") == std::string::npos);  // asked not to
#else
  CHECK(big_flags.find(" hg") != std::string::npos);  // MADV_HUGEPAGE's mark on the mapping
#endif
  const std::string small_flags = vm_flags_of(small.data());
  INFO(small_flags);
  CHECK(small_flags.find(" hg") == std::string::npos);  // the heap's small blocks are left alone
}
