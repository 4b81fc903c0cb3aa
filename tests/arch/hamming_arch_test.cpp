// hamming_distances and HammingTopK for the architecture this binary is built for
// (DARE_TEST_ARCH; see tests/CMakeLists.txt), against the scalar references: the AVX2
// binary runs the nibble-LUT kernel, the AVX-512 one the same kernel under AVX-512 (no
// VPOPCNTDQ flag) with the AVX-512 selection passes, and the avx512_vpopcntdq one the
// VPOPCNTDQ kernel.
#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "search/hamming_checks.hpp"

namespace {

/// xsimd has no architecture type for VPOPCNTDQ: a binary built with it also asks the CPU.
bool popcnt_extension_runs_here() {
#if defined(__AVX512VPOPCNTDQ__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("avx512vpopcntdq");
#else
  return true;
#endif
}

}  // namespace

#define DARE_SKIP_UNLESS_HAMMING_ARCH_RUNS()                                  \
  DARE_SKIP_UNLESS_ARCH_RUNS();                                               \
  if (!popcnt_extension_runs_here()) {                                        \
    WARN("this CPU lacks AVX512_VPOPCNTDQ: test skipped");                    \
    return;                                                                   \
  }

TEST_CASE("hamming_distances matches the scalar reference on " DARE_TEST_ARCH_NAME,
          "[search][hamming][arch]") {
  DARE_SKIP_UNLESS_HAMMING_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_hamming_distances<DARE_TEST_ARCH>(cases) == "");
  CHECK(cases > 150);
}

TEST_CASE("HammingTopK equals a full sort by (distance, -position) on " DARE_TEST_ARCH_NAME,
          "[search][hamming][arch]") {
  DARE_SKIP_UNLESS_HAMMING_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_hamming_topk<DARE_TEST_ARCH>(cases) == "");
  CHECK(dare_test::check_hamming_topk_long<DARE_TEST_ARCH>(cases) == "");
  CHECK(dare_test::check_hamming_topk_bad_distance<DARE_TEST_ARCH>(cases) == "");
  CHECK(cases > 1000);
}
