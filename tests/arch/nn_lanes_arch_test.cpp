// The layers' element-wise loops of tests/nn/lanes_checks.hpp for the architecture this
// binary is built for (DARE_TEST_ARCH with the matching -m flags, which make it xsimd's
// default architecture; see tests/CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#  pragma GCC diagnostic ignored "-Wuninitialized"
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <catch2/catch.hpp>
#include <type_traits>

#include "arch/arch_runs.hpp"
#include "nn/lanes_checks.hpp"

TEMPLATE_TEST_CASE("PReLU, BatchNorm and a linear layer's bias agree with the scalar expressions on "
                   DARE_TEST_ARCH_NAME, "[nn][lanes][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  static_assert(std::is_same_v<xsimd::default_arch, DARE_TEST_ARCH>, "the -m flags make DARE_TEST_ARCH the default");
  CHECK(dare_test::check_prelu_lanes<TestType>() == "");
  CHECK(dare_test::check_batch_norm_lanes<TestType>() == "");
  CHECK(dare_test::check_linear_bias_lanes<TestType>() == "");
}
