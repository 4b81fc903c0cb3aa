#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "dare/attention/target_aggregation.hpp"
#include "attention/aggregation_checks.hpp"
#include "nn/finite_difference.hpp"

namespace {

using dare::Dynamic;
using dare::Index;

using SmallFixed = dare::TargetAggregation<double, 3>;
using SmallDynamic = dare::TargetAggregation<double, Dynamic>;
using WideFixed = dare::TargetAggregation<double, 11>;
using WideDynamic = dare::TargetAggregation<double, Dynamic>;

constexpr Index kWide = 11;
constexpr Index kStride = 16;

}  // namespace

TEMPLATE_TEST_CASE("aggregation is the weighted sum of rows and TR its product with the target",
                   "[attention][target_aggregation]", SmallFixed, SmallDynamic) {
  const TestType agg(3);
  const double w[2] = {0.25, 0.75};
  const double rows[2 * 4] = {1, 2, 3, -99, 5, 6, 7, -99};  // stride 4, last column ignored
  const double v[3] = {1, 2, -1};
  double u[3], tr[3];
  agg.forward(w, rows, 4, 2, v, u, tr);
  // u = 0.25·(1,2,3) + 0.75·(5,6,7) = (4, 5, 6); tr = (4, 10, -6).
  CHECK(u[0] == 4.0);
  CHECK(u[1] == 5.0);
  CHECK(u[2] == 6.0);
  CHECK(tr[0] == 4.0);
  CHECK(tr[1] == 10.0);
  CHECK(tr[2] == -6.0);
  // TR equals Σ w_i (r_i ⊙ v) (docs/design.md §1.3).
  for (int c = 0; c < 3; ++c) CHECK(tr[c] == Approx(w[0] * rows[c] * v[c] + w[1] * rows[4 + c] * v[c]));

  // Without TR, and with no rows.
  double u2[3] = {7, 7, 7};
  agg.forward(w, rows, 4, 0, nullptr, u2, nullptr);
  CHECK(u2[0] == 0.0);
  CHECK(u2[1] == 0.0);
  CHECK(u2[2] == 0.0);
}

TEST_CASE("aggregation widths are checked", "[attention][target_aggregation]") {
  CHECK_THROWS_WITH((dare::TargetAggregation<float, 16>(8)), Catch::Contains("aggregation width"));
  CHECK_THROWS_AS((dare::TargetAggregation<float>()), std::invalid_argument);
  CHECK(dare::TargetAggregation<float, 16>().dim() == 16);
}

TEMPLATE_TEST_CASE("aggregation backward matches finite differences with and without TR",
                   "[attention][target_aggregation]", WideFixed, WideDynamic) {
  const TestType agg(kWide);
  const Index d = kWide;
  const Index n = 5;
  std::mt19937_64 rng(17);
  std::vector<double> w = dare_test::uniform(rng, n, 0, 1);
  std::vector<double> rows = dare_test::uniform(rng, n * kStride);
  std::vector<double> v = dare_test::uniform(rng, d);
  const std::vector<double> cu = dare_test::uniform(rng, d);
  const std::vector<double> ctr = dare_test::uniform(rng, d);

  // Each section: L = <cu, u> and/or <ctr, tr>, as the gradients present say.
  auto run = [&](bool with_du, bool with_dtr) {
    auto loss = [&] {
      std::vector<double> u(d), tr(d);
      agg.forward(w.data(), rows.data(), kStride, n, v.data(), u.data(), tr.data());
      return (with_du ? dare_test::dot(cu.data(), u.data(), d) : 0.0) +
             (with_dtr ? dare_test::dot(ctr.data(), tr.data(), d) : 0.0);
    };
    std::vector<double> u(d), tr(d);
    agg.forward(w.data(), rows.data(), kStride, n, v.data(), u.data(), tr.data());
    std::vector<double> dw(n, 123.0);  // overwritten
    std::vector<double> drows(n * kStride, 1.0), dv(d, -2.0);  // accumulated
    agg.backward(w.data(), rows.data(), kStride, n, v.data(), u.data(), with_du ? cu.data() : nullptr,
                 with_dtr ? ctr.data() : nullptr, dw.data(), drows.data(), kStride, dv.data());
    for (double& g : drows) g -= 1.0;
    for (double& g : dv) g += 2.0;
    CHECK(dare_test::relative_error(dw, dare_test::numeric_gradient(w.data(), w.size(), loss)) < 1e-6);
    CHECK(dare_test::relative_error(drows, dare_test::numeric_gradient(rows.data(), rows.size(), loss)) < 1e-6);
    if (with_dtr) {
      CHECK(dare_test::relative_error(dv, dare_test::numeric_gradient(v.data(), v.size(), loss)) < 1e-6);
    } else {
      for (double g : dv) CHECK(g == 0.0);
    }
    for (Index i = 0; i < n; ++i) {
      for (Index c = d; c < kStride; ++c) CHECK(drows[i * kStride + c] == 0.0);
    }
  };
  SECTION("u and tr both feed the loss") { run(true, true); }
  SECTION("only u feeds the loss (TWIN without TR)") { run(true, false); }
  SECTION("only tr feeds the loss") { run(false, true); }
  SECTION("no upstream gradient gives zero weight gradients") {
    std::vector<double> u(d), dw(n, 5.0);
    agg.forward(w.data(), rows.data(), kStride, n, nullptr, u.data(), nullptr);
    agg.backward(w.data(), rows.data(), kStride, n, nullptr, u.data(), nullptr, nullptr, dw.data(), nullptr, 0,
                 nullptr);
    for (double g : dw) CHECK(g == 0.0);
  }
}

TEMPLATE_TEST_CASE("aggregation backward agrees with a double-precision loop at any width", "[attention][target_aggregation]",
                   float, double) {
  // Widths below, at and past the register widths, the models' 48, and past the 512 scalars
  // whose g lives on the stack (the heap path); rows padded to a stride of width + 3.
  for (const Index d : {Index{1}, Index{7}, Index{48}, Index{513}, Index{700}}) {
    INFO("width " << d);
    const dare::TargetAggregation<TestType> agg(d);
    const Index n = 37, stride = d + 3;
    std::mt19937_64 rng(static_cast<std::uint64_t>(d));
    const auto draw = [&](Index count) {
      const std::vector<double> x = dare_test::uniform(rng, count);
      return std::vector<TestType>(x.begin(), x.end());
    };
    const std::vector<TestType> w = draw(n), rows = draw(n * stride), v = draw(d), u = draw(d), du = draw(d),
                                dtr = draw(d);
    std::vector<TestType> dw(n), drows(n * stride, TestType(0)), dv(d, TestType(0));
    agg.backward(w.data(), rows.data(), stride, n, v.data(), u.data(), du.data(), dtr.data(), dw.data(), drows.data(),
                 stride, dv.data());
    const double tol = std::is_same_v<TestType, float> ? 1e-5 : 1e-13;
    for (Index i = 0; i < n; ++i) {
      double dot = 0, norm = 0;
      for (Index c = 0; c < d; ++c) {
        const double g = double(du[c]) + double(dtr[c]) * double(v[c]);
        dot += double(rows[i * stride + c]) * g;
        norm += std::abs(double(rows[i * stride + c]) * g);
        CHECK(double(drows[i * stride + c]) == Approx(double(w[i]) * g).epsilon(tol).margin(tol));
      }
      CHECK(std::abs(double(dw[i]) - dot) <= tol * (norm + 1));
      for (Index c = d; c < stride; ++c) CHECK(drows[i * stride + c] == TestType(0));
    }
  }
}

TEMPLATE_TEST_CASE("aggregation at a fixed width equals the Dynamic loop bit for bit", "[attention][target_aggregation]",
                   float, double) {
  CHECK(dare_test::check_fixed_aggregation_bits<TestType>() == "");
}
