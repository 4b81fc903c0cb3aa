// Tests of dare/search/dot_kernels.hpp for the default architecture of this build (the
// AVX2 and AVX-512 builds run the same checks from tests/arch/dot_kernels_arch_test.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "dare/search/dot_kernels.hpp"
#include "search/dot_kernels_checks.hpp"

using dare::Index;
using Arch = xsimd::default_arch;

TEMPLATE_TEST_CASE("dot_rows matches the scalar reference for every run-time width 1..130",
                   "[search][dot_kernels]", float, double) {
  CHECK(dare_test::check_dot_rows_dynamic<Arch, TestType>(130) == "");
}

TEMPLATE_TEST_CASE("dot_rows matches the scalar reference for compile-time widths",
                   "[search][dot_kernels]", float, double) {
  CHECK(dare_test::check_dot_rows_fixed<Arch, TestType, 1, 3, 8, 16, 17, 32, 48, 64, 128, 130>() ==
        "");
}

TEMPLATE_TEST_CASE("dot_rows_multi matches the scalar reference for several query counts",
                   "[search][dot_kernels]", float, double) {
  CHECK(dare_test::check_dot_rows_multi_dynamic<Arch, TestType>(130) == "");
  CHECK(dare_test::check_dot_rows_multi_fixed<Arch, TestType, 1, 3, 16, 17, 64, 130>() == "");
}

TEMPLATE_TEST_CASE("dot_rows over more than 1 MiB of rows (the prefetching path) is exact",
                   "[search][dot_kernels]", float, double) {
  CHECK(dare_test::check_dot_rows_prefetched<Arch, TestType>() == "");
}

TEMPLATE_TEST_CASE("dot_rows_multi's transposed tiles are exact at wide rows and many queries",
                   "[search][dot_kernels]", float, double) {
  CHECK(dare_test::check_dot_rows_multi_transposed<Arch, TestType>() == "");
}

TEMPLATE_TEST_CASE("the horizontal reductions and tail loads are exact", "[search][dot_kernels]",
                   float, double) {
  CHECK(dare_test::check_reductions<Arch, TestType>() == "");
  CHECK(dare_test::check_load_head<Arch, TestType>() == "");
}

TEMPLATE_TEST_CASE("dot_rows_max gives dot_rows' scores and the maxima of interleaved groups",
                   "[search][dot_kernels]", float, double) {
  CHECK(dare_test::check_dot_rows_max<xsimd::default_arch, TestType>() == "");
  CHECK(dare_test::check_dot_rows_max<xsimd::unavailable, TestType>() == "");
}

TEST_CASE("dot_rows without SIMD falls back to the scalar reference", "[search][dot_kernels]") {
  std::mt19937 rng(1);
  CHECK(dare_test::check_dot_rows_width<dare::Dynamic, xsimd::unavailable, float>(17, rng) ==
        "");
}

TEST_CASE("dot_rows computes hand-checked dot products", "[search][dot_kernels]") {
  // Two rows of width 3 with a stride of 4; the padding scalar must be ignored.
  const float query[] = {1, 2, 3};
  const float rows[] = {4, 5, 6, 1000, -1, 0, 2};
  float out[2] = {0, 0};
  dare::dot_rows(query, rows, 2, 4, out, 3);
  CHECK(out[0] == 32.0f);  // 4 + 10 + 18
  CHECK(out[1] == 5.0f);   // -1 + 0 + 6
  float fixed[2] = {0, 0};
  dare::dot_rows<3>(query, rows, 2, 4, fixed);
  CHECK(fixed[0] == 32.0f);
  CHECK(fixed[1] == 5.0f);
}

TEST_CASE("dot_rows propagates NaN and infinity from the rows it reads",
          "[search][dot_kernels]") {
  std::vector<double> query(20, 1.0), rows(40, 0.5), out(2);
  rows[19] = std::numeric_limits<double>::quiet_NaN();  // last scalar of row 0 (a tail lane)
  rows[25] = std::numeric_limits<double>::infinity();
  dare::dot_rows(query.data(), rows.data(), 2, 20, out.data(), 20);
  CHECK(std::isnan(out[0]));
  CHECK(out[1] == std::numeric_limits<double>::infinity());
}

TEST_CASE("dot_rows rejects bad arguments with a message naming them", "[search][dot_kernels]") {
  std::vector<float> q(16, 1.0f), rows(64, 1.0f), out(4);
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(dare::dot_rows(q.data(), rows.data(), 4, 16, out.data(), 0),
                    Contains("dim must be positive"));
  CHECK_THROWS_WITH(dare::dot_rows(q.data(), rows.data(), 4, 16, out.data()),
                    Contains("dim must be positive"));
  CHECK_THROWS_WITH(dare::dot_rows<16>(q.data(), rows.data(), 4, 16, out.data(), 8),
                    Contains("dim is 8 but the template fixes it to 16"));
  CHECK_THROWS_WITH(dare::dot_rows(q.data(), rows.data(), -1, 16, out.data(), 16),
                    Contains("n must be non-negative"));
  CHECK_THROWS_WITH(dare::dot_rows(q.data(), rows.data(), 4, 15, out.data(), 16),
                    Contains("row_stride (15) must be at least dim (16)"));
  CHECK_THROWS_WITH(dare::dot_rows(q.data(), static_cast<const float*>(nullptr), 4, 16,
                                   out.data(), 16),
                    Contains("must not be null"));
  CHECK_THROWS_AS(dare::reference::dot_rows(q.data(), rows.data(), 4, 15, out.data(), 16),
                  std::invalid_argument);
  // One row needs no stride, and no rows need no pointers.
  CHECK_NOTHROW(dare::dot_rows(q.data(), rows.data(), 1, 0, out.data(), 16));
  CHECK_NOTHROW(dare::dot_rows<16>(q.data(), static_cast<const float*>(nullptr), 0, 16,
                                   static_cast<float*>(nullptr)));
}

TEST_CASE("dot_rows_multi rejects bad strides with a message naming them",
          "[search][dot_kernels]") {
  std::vector<float> q(64, 1.0f), rows(64, 1.0f), out(16);
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(
      dare::dot_rows_multi(q.data(), 2, 15, rows.data(), 4, 16, out.data(), 4, 16),
      Contains("query_stride (15) must be at least dim (16)"));
  CHECK_THROWS_WITH(
      dare::dot_rows_multi(q.data(), 2, 16, rows.data(), 4, 16, out.data(), 3, 16),
      Contains("out_stride (3) must be at least n (4)"));
  CHECK_THROWS_WITH(
      dare::dot_rows_multi(q.data(), -1, 16, rows.data(), 4, 16, out.data(), 4, 16),
      Contains("m must be non-negative"));
  CHECK_THROWS_WITH(
      dare::dot_rows_multi(q.data(), 2, 16, rows.data(), 4, 8, out.data(), 4, 16),
      Contains("row_stride (8) must be at least dim (16)"));
  CHECK_NOTHROW(dare::dot_rows_multi(q.data(), 0, 0, rows.data(), 4, 16, out.data(), 0, 16));
}
