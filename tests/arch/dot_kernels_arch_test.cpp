// The dot-kernel checks of tests/search/dot_kernels_checks.hpp for the architecture this
// binary is built for (DARE_TEST_ARCH, e.g. xsimd::avx512bw, with the matching -m flags; see
// tests/CMakeLists.txt). Every test first checks that the CPU runs that architecture.

// GCC 12 reports a false -Wuninitialized inside its own AVX-512 intrinsics (the
// `_mm256_undefined_pd()` placeholder of _mm512_extractf64x4_pd, GCC PR 105593, fixed in
// GCC 13), reached here through xsimd 8.1's hadd for double, i.e. dare::detail::reduce_add,
// which this file tests directly. Set before any include so it covers the intrinsic headers.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#  pragma GCC diagnostic ignored "-Wuninitialized"
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "search/dot_kernels_checks.hpp"

namespace {

using Arch = DARE_TEST_ARCH;

}  // namespace

// The sanitized build (tests/CMakeLists.txt) checks fewer compile-time widths: each is a
// kernel instantiation, and these were a fifth of that build's compile time. Its widths still
// cover a tail of one, a full register, register + 1 and a wide row; the plain build checks all.
#ifdef DARE_SANITIZED_BUILD
#  define DARE_FIXED_WIDTHS 3, 16, 17, 130
#  define DARE_FIXED_MULTI_WIDTHS 3, 17
#else
#  define DARE_FIXED_WIDTHS 1, 3, 8, 16, 17, 32, 48, 64, 128, 130
#  define DARE_FIXED_MULTI_WIDTHS 1, 3, 16, 17, 64, 130
#endif

TEMPLATE_TEST_CASE("dot_rows matches the scalar reference for every run-time width on "
                   DARE_TEST_ARCH_NAME, "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_dot_rows_dynamic<Arch, TestType>(130) == "");
}

TEMPLATE_TEST_CASE("dot_rows matches the scalar reference for compile-time widths on "
                   DARE_TEST_ARCH_NAME, "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_dot_rows_fixed<Arch, TestType, DARE_FIXED_WIDTHS>() == "");
}

TEMPLATE_TEST_CASE("dot_rows_multi matches the scalar reference on " DARE_TEST_ARCH_NAME,
                   "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_dot_rows_multi_dynamic<Arch, TestType>(130) == "");
  CHECK(dare_test::check_dot_rows_multi_fixed<Arch, TestType, DARE_FIXED_MULTI_WIDTHS>() == "");
}

TEMPLATE_TEST_CASE("dot_rows_max gives dot_rows' scores and the group maxima on "
                   DARE_TEST_ARCH_NAME, "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_dot_rows_max<Arch, TestType>() == "");
}

TEMPLATE_TEST_CASE("dot_rows over more than 1 MiB of rows (prefetching) is exact on "
                   DARE_TEST_ARCH_NAME, "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_dot_rows_prefetched<Arch, TestType>() == "");
}

TEMPLATE_TEST_CASE("dot_rows_multi's transposed tiles are exact at wide rows on "
                   DARE_TEST_ARCH_NAME, "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_dot_rows_multi_transposed<Arch, TestType>() == "");
}

TEMPLATE_TEST_CASE("the horizontal reductions and masked tail loads are exact on "
                   DARE_TEST_ARCH_NAME, "[search][dot_kernels][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_reductions<Arch, TestType>() == "");
  CHECK(dare_test::check_load_head<Arch, TestType>() == "");
}
