#include "dare/core/lanes.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

using dare::Index;

TEST_CASE("the lane driver visits every index once: whole batches, then the scalar tail", "[core][lanes]") {
  using Batch = xsimd::batch<float>;
  for (Index n : {Index{0}, Index{1}, Index{7}, Index(Batch::size), Index(3 * Batch::size + 5)}) {
    std::vector<int> visits(static_cast<std::size_t>(n), 0);
    Index batches = 0, scalars = 0;
    dare::detail::for_each_lane<xsimd::default_arch, float>(n, [&](auto lanes, Index i) {
      using T = typename decltype(lanes)::type;
      const Index width = std::is_same_v<T, float> ? 1 : Index(Batch::size);
      (width == 1 ? scalars : batches) += 1;
      for (Index j = i; j < i + width; ++j) visits[static_cast<std::size_t>(j)] += 1;
    });
    for (int v : visits) CHECK(v == 1);
    CHECK(batches == n / Index(Batch::size));
    CHECK(scalars == n % Index(Batch::size));
  }
}

TEMPLATE_TEST_CASE("a lane body gives the same values on a batch as one element at a time", "[core][lanes]", float,
                   double) {
  using Scalar = TestType;
  const Scalar inf = std::numeric_limits<Scalar>::infinity(), nan = std::numeric_limits<Scalar>::quiet_NaN();
  const Scalar tiny = std::numeric_limits<Scalar>::denorm_min();
  std::vector<Scalar> x = {Scalar(-0.0), 0, 1, -1, Scalar(0.5), Scalar(-2.5), inf, -inf, nan, tiny, -tiny,
                           Scalar(3), Scalar(-7), Scalar(1e-3), Scalar(-1e30), Scalar(42), Scalar(-0.25)};
  x.resize(45, Scalar(0.75));
  for (std::size_t i = 17; i < x.size(); ++i) x[i] = (i % 3 == 0 ? -1 : 1) * Scalar(i) / 7;
  const Index n = static_cast<Index>(x.size());
  // A select and an arithmetic expression per element: which branch, -0 against +0, NaN.
  const auto body = [&](std::vector<Scalar>& out) {
    return [&](auto lanes, Index i) {
      using T = typename decltype(lanes)::type;
      const T v = dare::detail::load_lanes(lanes, x.data() + i);
      const T chosen = dare::detail::lane_select(v > T(0), v, T(Scalar(0.1)) * v);
      dare::detail::store_lanes(chosen * v + T(1), out.data() + i);
    };
  };
  std::vector<Scalar> lanes_out(x.size()), scalar_out(x.size());
  dare::detail::for_each_lane<xsimd::default_arch, Scalar>(n, body(lanes_out));
  dare::detail::for_each_lane_scalar<Scalar>(n, body(scalar_out));
  for (std::size_t i = 0; i < x.size(); ++i) {
    INFO("x = " << x[i]);
    if (std::isnan(scalar_out[i])) {
      CHECK(std::isnan(lanes_out[i]));
    } else {
      CHECK(lanes_out[i] == scalar_out[i]);
      CHECK(std::signbit(lanes_out[i]) == std::signbit(scalar_out[i]));
    }
  }
  CHECK(scalar_out[0] == 1);            // -0 takes the other branch: 0.1 · -0 · -0 + 1
  CHECK(scalar_out[3] == Scalar(1.1));  // 0.1 · -1 · -1 + 1
}

TEMPLATE_TEST_CASE("a lane copy writes exactly the n elements it is given, every bit of them, at any offset", "[core][lanes]", float, double) {
  using Scalar = TestType;
  const Index W = Index(xsimd::batch<Scalar>::size);
  std::vector<Scalar> src(static_cast<std::size_t>(4 * W + 16));
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = (i % 2 ? -1 : 1) * Scalar(i) / 3;
  src[1] = Scalar(-0.0);
  src[2] = std::numeric_limits<Scalar>::quiet_NaN();
  src[3] = std::numeric_limits<Scalar>::denorm_min();
  const Scalar guard = Scalar(12345);
  for (Index offset : {Index{0}, Index{1}, Index{3}}) {     // unaligned starts too
    for (Index n : {Index{0}, Index{1}, W - 1, W, W + 1, 2 * W + 3, 3 * W}) {
      std::vector<Scalar> dst(static_cast<std::size_t>(n + offset + 2), guard);
      dare::detail::copy_lanes(dst.data() + offset, src.data() + offset, n);
      INFO("n = " << n << ", offset = " << offset);
      for (Index i = 0; i < offset; ++i) CHECK(dst[static_cast<std::size_t>(i)] == guard);
      for (Index i = offset; i < offset + n; ++i) {
        const Scalar a = dst[static_cast<std::size_t>(i)], b = src[static_cast<std::size_t>(i)];
        CHECK(std::memcmp(&a, &b, sizeof(Scalar)) == 0);
      }
      CHECK(dst[static_cast<std::size_t>(offset + n)] == guard);
      CHECK(dst[static_cast<std::size_t>(offset + n + 1)] == guard);
    }
  }
}
