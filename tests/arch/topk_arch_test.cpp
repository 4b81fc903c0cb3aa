// TopK's vectorized passes for the architecture this binary is built for (DARE_TEST_ARCH;
// see tests/CMakeLists.txt), against the full-sort reference.
#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "search/topk_checks.hpp"

TEMPLATE_TEST_CASE("top-K equals a full stable sort on " DARE_TEST_ARCH_NAME,
                   "[search][topk][arch]", float, double) {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_topk_random<TestType, Arch>(cases) == "");
  CHECK(cases > 1000);
}

TEMPLATE_TEST_CASE("top-K ranks a few ties among the candidates by position on " DARE_TEST_ARCH_NAME,
                   "[search][topk][arch]", float, double) {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_topk_few_ties<TestType, Arch>(cases) == "");
  CHECK(cases > 150);
}

TEMPLATE_TEST_CASE("top-K over long histories equals a full stable sort and reports NaN on "
                   DARE_TEST_ARCH_NAME, "[search][topk][arch]", float, double) {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_topk_long<TestType, Arch>(cases) == "");
  CHECK(dare_test::check_topk_nan_long<TestType, Arch>(cases) == "");
  CHECK(cases > 100);
}

TEMPLATE_TEST_CASE("top-K treats -0 and +0 as equal and ranks infinities on " DARE_TEST_ARCH_NAME,
                   "[search][topk][arch]", float, double) {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_topk_special<TestType, Arch>(cases) == "");
  CHECK(cases == 36);
}

TEMPLATE_TEST_CASE("top-K from group maxima kept by the caller equals select on "
                   DARE_TEST_ARCH_NAME, "[search][topk][arch]", float, double) {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_topk_with_maxima<TestType, Arch>(cases) == "");
  CHECK(cases > 30);
}
