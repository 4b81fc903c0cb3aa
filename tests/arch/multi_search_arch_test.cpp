// MultiSearch for the architecture this binary is built for (DARE_TEST_ARCH; see
// tests/CMakeLists.txt), against the full score matrix and a full stable sort per target.
#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "search/multi_search_checks.hpp"

TEMPLATE_TEST_CASE("MultiSearch equals scoring every row and sorting each target on " DARE_TEST_ARCH_NAME,
                   "[search][multi_search][arch]", float, double) {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_multi_search<TestType, Arch>(cases) == "");
  CHECK(cases > 100);
}
