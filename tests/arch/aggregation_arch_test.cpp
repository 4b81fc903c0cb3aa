// The fixed-width aggregation of tests/attention/aggregation_checks.hpp for the architecture
// this binary is built for (DARE_TEST_ARCH with the matching -m flags, which make it xsimd's
// default architecture; see tests/CMakeLists.txt).
#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "attention/aggregation_checks.hpp"

TEMPLATE_TEST_CASE("aggregation at a fixed width equals the Dynamic loop up to FMA contraction on " DARE_TEST_ARCH_NAME,
                   "[attention][target_aggregation][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_fixed_aggregation_bits<TestType>() == "");
}
