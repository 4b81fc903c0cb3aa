#include <catch2/catch.hpp>

#include <cstdint>

#include "dare/core/extent.hpp"

TEST_CASE("a fixed extent checks the run-time value given for it", "[core]") {
  dare::Extent<16> fixed(16);
  CHECK(fixed.value() == 16);
  CHECK_THROWS_WITH((dare::Extent<16>(8, "attention width")),
                    Catch::Contains("attention width is 8") && Catch::Contains("fixes it to 16"));
}

TEST_CASE("a dynamic extent stores a positive value", "[core]") {
  dare::Extent<dare::Dynamic> dyn(24);
  CHECK(dyn.value() == 24);
  CHECK_THROWS_AS(dare::Extent<dare::Dynamic>(0), std::invalid_argument);
}
