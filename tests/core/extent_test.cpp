#include <catch2/catch.hpp>

#include <cstdint>

#include "dare/core/aligned.hpp"
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

TEST_CASE("row strides keep rows aligned without padding power-of-two widths", "[core]") {
  CHECK(dare::aligned_stride<float>(16) == 16);
  CHECK(dare::aligned_stride<float>(8) == 8);
  CHECK(dare::aligned_stride<float>(1) == 1);
  CHECK(dare::aligned_stride<float>(3) == 4);
  CHECK(dare::aligned_stride<float>(130) == 144);
  CHECK(dare::aligned_stride<double>(5) == 8);
  dare::AlignedVector<float> v(37);
  CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % dare::kCacheLine == 0);
}
