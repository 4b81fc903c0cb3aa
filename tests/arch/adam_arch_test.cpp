// The deferred-row checks of tests/embedding/adam_deferred_checks.hpp for the architecture
// this binary is built for (DARE_TEST_ARCH with the matching -m flags, where the compiler
// fuses the update's multiplies and adds; see tests/CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#  pragma GCC diagnostic ignored "-Wuninitialized"
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "embedding/adam_deferred_checks.hpp"

TEMPLATE_TEST_CASE("replaying idle Adam steps equals running them one by one on " DARE_TEST_ARCH_NAME,
                   "[embedding][optimizer][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_adam_replay<DARE_TEST_ARCH, TestType>() == "");
}

TEST_CASE("deferred Dense Adam is Dense Adam bit for bit on " DARE_TEST_ARCH_NAME, "[embedding][optimizer][arch]") {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  for (const double share : {1.0, 0.1}) {
    INFO("stream share " << share);
    CHECK(dare_test::check_deferred_adam<float, 16>(16, share) == "");
    CHECK(dare_test::check_deferred_adam<float, dare::Dynamic>(7, share) == "");
  }
}
