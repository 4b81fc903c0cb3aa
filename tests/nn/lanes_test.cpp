// The layers' element-wise loops on this build's SIMD lanes against the scalar expressions
// (tests/nn/lanes_checks.hpp; tests/arch/nn_lanes_arch_test.cpp runs them on AVX2 and
// AVX-512).
#include <catch2/catch.hpp>

#include "nn/lanes_checks.hpp"

TEMPLATE_TEST_CASE("PReLU on SIMD lanes agrees with the scalar expressions", "[nn][prelu][lanes]", float, double) {
  CHECK(dare_test::check_prelu_lanes<TestType>() == "");
}

TEMPLATE_TEST_CASE("BatchNorm on SIMD lanes agrees with the scalar expressions", "[nn][batch_norm][lanes]", float,
                   double) {
  CHECK(dare_test::check_batch_norm_lanes<TestType>() == "");
}

TEMPLATE_TEST_CASE("a linear layer's bias on SIMD lanes agrees with the scalar expressions", "[nn][linear][lanes]",
                   float, double) {
  CHECK(dare_test::check_linear_bias_lanes<TestType>() == "");
}
