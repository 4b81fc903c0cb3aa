// The SIMD softmax of tests/attention/softmax_checks.hpp for the architecture this binary is
// built for (DARE_TEST_ARCH with the matching -m flags; see tests/CMakeLists.txt).
#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "attention/softmax_checks.hpp"

TEMPLATE_TEST_CASE("softmax agrees with the scalar loop on " DARE_TEST_ARCH_NAME, "[attention][softmax_attention][arch]",
                   float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_softmax_matches_scalar<DARE_TEST_ARCH, TestType>() == "");
  CHECK(dare_test::check_softmax_special<DARE_TEST_ARCH, TestType>() == "");
}
