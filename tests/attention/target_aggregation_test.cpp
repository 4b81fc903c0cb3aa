#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "dare/attention/target_aggregation.hpp"
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
