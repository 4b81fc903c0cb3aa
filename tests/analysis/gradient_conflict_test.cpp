// Gradient conflict statistics on planted gradients with known answers, and the role
// gradients of a shared-table model they read.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "../models/model_test_util.hpp"
#include "dare/analysis/gradient_conflict.hpp"
#include "dare/embedding/sparse_grad.hpp"
#include "dare/models.hpp"

namespace {

using Grad = dare::SparseGrad<double, dare::Dynamic>;

// Rows 1..n: attention gradient along a per-row direction of length `att`; representation
// gradient `repr_scale` times as long, at angle `angle` (radians) from it in the plane of the
// first two coordinates.
void plant(Grad& a, Grad& r, int first, int n, double att, double repr_scale, double angle) {
  for (int i = first; i < first + n; ++i) {
    const double phi = 0.3 * i;  // each row its own direction
    const double ga[3] = {att * std::cos(phi), att * std::sin(phi), 0};
    const double gr[3] = {repr_scale * att * std::cos(phi + angle), repr_scale * att * std::sin(phi + angle), 0};
    a.add(i, ga);
    r.add(i, gr);
  }
}

constexpr double kPi = 3.14159265358979323846;

}  // namespace

TEST_CASE("planted opposite, mixed and parallel gradients give conflict shares 1, 0.5 and 0 and the planted norm "
          "ratio", "[analysis][conflict]") {
  const dare::Index rows = 20;
  struct Case {
    double angle_first_half, angle_second_half, share;
  };
  const Case cases[] = {{kPi, kPi, 1.0}, {kPi, 0.0, 0.5}, {0.0, 0.0, 0.0}, {kPi / 3, 2 * kPi / 3, 0.5}};
  for (const Case& c : cases) {
    Grad a(3), r(3);
    plant(a, r, 1, 4, 0.5, 5.0, c.angle_first_half);
    plant(a, r, 5, 4, 0.5, 5.0, c.angle_second_half);
    const auto compared = dare::compare_rows(a, r);
    REQUIRE(compared.size() == 8);
    const dare::StepConflict s = dare::summarize_step(compared, rows);
    INFO("angles " << c.angle_first_half << ", " << c.angle_second_half);
    CHECK(s.defined == 8);
    CHECK(static_cast<double>(s.conflicting) / 8 == c.share);
    CHECK(s.mean_cosine == Approx((std::cos(c.angle_first_half) + std::cos(c.angle_second_half)) / 2).margin(1e-12));
    // Mean norms over all 20 rows, the 12 untouched counting 0.
    CHECK(s.attention_norm == Approx(8 * 0.5 / 20.0));
    CHECK(s.representation_norm == Approx(8 * 2.5 / 20.0));
    CHECK(s.norm_ratio() == Approx(5.0));
    for (const auto& row : compared) CHECK(row.cosine() == Approx(std::cos(row.id < 5 ? c.angle_first_half : c.angle_second_half)).margin(1e-12));
  }
}

TEST_CASE("orthogonal gradients neither conflict nor count for a category; a row with one gradient has no cosine",
          "[analysis][conflict]") {
  Grad a(3), r(3);
  // Rows 1..3: exactly orthogonal, |a| = 1, |r| = 2.
  const double unit[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  for (int i = 0; i < 3; ++i) {
    a.add(i + 1, unit[i]);
    r.add(i + 1, unit[(i + 1) % 3], 2.0);
  }
  const double only_att[3] = {0, 0, 3};
  a.add(7, only_att);
  const double only_repr[3] = {4, 0, 0};
  r.add(9, only_repr);
  const auto compared = dare::compare_rows(a, r);
  REQUIRE(compared.size() == 5);
  const dare::StepConflict s = dare::summarize_step(compared, 10);
  CHECK(s.defined == 3);
  CHECK(s.conflicting == 0);
  CHECK(s.mean_cosine == Approx(0).margin(1e-12));
  CHECK(std::isnan(compared[3].cosine()));
  CHECK(compared[3].id == 7);
  CHECK(compared[4].id == 9);
  CHECK(compared[4].representation_norm == 4);
  // Both one-sided rows still count in the mean norms: (3·1 + 3) / 10 and (3·2 + 4) / 10.
  CHECK(s.attention_norm == Approx(0.6));
  CHECK(s.representation_norm == Approx(1.0));
  dare::CategoryConflicts per_category(10);
  per_category.add(compared);
  CHECK(per_category.counted() == 0);  // every dot product is 0
  CHECK(std::isnan(per_category.majority_conflicting_share()));
}

TEST_CASE("over training: the share of steps with a negative mean cosine, pair shares, the windowed norm ratio and "
          "the per-category majority", "[analysis][conflict]") {
  const dare::Index rows = 6;
  std::vector<dare::StepConflict> steps;
  dare::CategoryConflicts per_category(rows);
  // Step t: rows 1, 2 opposite on even steps and parallel on odd ones; row 3 always parallel;
  // representation 4 times attention for the first 3 steps, then 10 times.
  for (int t = 0; t < 5; ++t) {
    Grad a(3), r(3);
    const double scale = t < 3 ? 4.0 : 10.0;
    plant(a, r, 1, 2, 1.0, scale, t % 2 == 0 ? kPi : 0.0);
    plant(a, r, 3, 1, 1.0, scale, 0.0);
    const auto compared = dare::compare_rows(a, r);
    steps.push_back(dare::summarize_step(compared, rows));
    if (t < 3) per_category.add(compared);
  }
  // Mean cosines -1/3 on steps 0, 2, 4 and 1 on steps 1, 3.
  const dare::ConflictSummary s = dare::summarize_training(steps, 3);
  CHECK(s.steps == 5);
  CHECK(s.conflicting_steps == Approx(3.0 / 5));
  CHECK(s.conflicting_pairs == Approx(6.0 / 15));
  CHECK(s.window == 3);
  CHECK(s.norm_ratio == Approx(4.0));
  CHECK(s.median_norm_ratio == Approx(4.0));  // 4, 4, 4, 10, 10
  // Over the window rows 1 and 2 conflict on 2 of 3 steps, row 3 on none.
  CHECK(per_category.counted() == 3);
  CHECK(per_category.majority_conflicting_share() == Approx(2.0 / 3));
  const dare::ConflictSummary whole = dare::summarize_training(steps, 100);
  CHECK(whole.window == 5);
  CHECK(whole.norm_ratio == Approx((3 * 4.0 + 2 * 10.0) / 5));
}

TEST_CASE("gradients of different widths are refused", "[analysis][conflict]") {
  Grad a(3), r(4);
  CHECK_THROWS_AS(dare::compare_rows(a, r), std::invalid_argument);
  CHECK_THROWS_AS(dare::summarize_step({dare::RowConflict{}, dare::RowConflict{}}, 1), std::invalid_argument);
}

TEST_CASE("a shared table's role gradients sum to its gradient and each is the gradient with the other use frozen",
          "[analysis][conflict][models][gradient]") {
  using dare::Role;
  // Frozen uses, as the reference builds them: DARE with both tables copies of TWIN's one
  // table computes TWIN, and its attention (representation) table is TWIN's table in the
  // attention (representation) roles only, the other use held where it was.
  const auto config = dare_test::tiny_config(3, 3);
  const dare_test::OwnedBatch batch(6, 7, 13, 6, 9);
  const int threads = GENERATE(1, 2);
  dare::Twin<double, 3> twin(config);
  dare::Dare<double, 3, 3> frozen(config);
  twin.set_threads(threads);
  for (int f = 0; f < 3; ++f) {
    dare_test::copy_table(twin.table<Role::AttentionHistory>(f), frozen.table<Role::AttentionHistory>(f));
    dare_test::copy_table(twin.table<Role::AttentionHistory>(f), frozen.table<Role::ReprHistory>(f));
  }
  auto tp = twin.head_parameters();
  auto fp = frozen.head_parameters();
  for (std::size_t i = 0; i < tp.size(); ++i) fp[i]->value = tp[i]->value;

  twin.observe_role_gradients(true);
  twin.forward_backward(batch.view());
  const dare::Index rows[] = {13, 6, 9};
  std::vector<std::vector<double>> att(3), repr(3);
  for (int f = 0; f < 3; ++f) {
    const auto total = dare_test::dense_grad(twin.table_grad<Role::AttentionHistory>(f), rows[f], 3);
    att[f] = dare_test::dense_grad(twin.attention_role_grad(f), rows[f], 3);
    repr[f] = dare_test::dense_grad(twin.representation_role_grad(f), rows[f], 3);
    for (std::size_t k = 0; k < total.size(); ++k) {
      INFO(threads << " threads, " << dare::field_name(f) << " element " << k);
      CHECK(total[k] == Approx(att[f][k] + repr[f][k]).epsilon(1e-12).margin(1e-15));
    }
  }

  const double eps = 1e-6;
  int nonzero = 0;
  const auto check_against = [&](auto& table, const std::vector<double>& analytic, const char* use, int f) {
    for (dare::Index id = 0; id < table.rows(); ++id) {
      for (dare::Index c = 0; c < 3; ++c) {
        double& x = table.row(id)[c];
        const double saved = x;
        x = saved + eps;
        const double up = frozen.forward_backward(batch.view()).total();
        x = saved - eps;
        const double down = frozen.forward_backward(batch.view()).total();
        x = saved;
        const double numeric = (up - down) / (2 * eps);
        const double a = analytic[static_cast<std::size_t>(id * 3 + c)];
        INFO(use << " " << dare::field_name(f) << " row " << id << " component " << c << ": observed " << a
                 << ", numeric " << numeric);
        CHECK(std::abs(a - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
        nonzero += a != 0 ? 1 : 0;
      }
    }
  };
  for (int f = 0; f < 3; ++f) {
    check_against(frozen.table<Role::AttentionHistory>(f), att[f], "attention", f);
    check_against(frozen.table<Role::ReprHistory>(f), repr[f], "representation", f);
  }
  CHECK(nonzero > 0);
}

TEST_CASE("training with the role gradients observed is bit-identical to training without", "[analysis][conflict][models]") {
  using dare::Role;
  auto config = dare_test::tiny_config(4, 4);
  config.init_sigma = 0.01;  // the reference initialisation's scale
  dare::Twin<float, 4> plain(config), observed(config);
  plain.set_threads(2);
  observed.set_threads(2);
  observed.observe_role_gradients(true);
  const dare::OptimizerConfig opt;
  plain.configure_optimizer(opt);
  observed.configure_optimizer(opt);
  int touched = 0;
  for (int step = 0; step < 6; ++step) {
    const dare_test::OwnedBatch batch(24, 7, 13, 6, 100 + static_cast<std::uint64_t>(step));
    const auto l1 = plain.forward_backward(batch.view());
    const auto l2 = observed.forward_backward(batch.view());
    CHECK(l1.main == l2.main);
    CHECK(l1.aux == l2.aux);
    plain.step();
    observed.step();
    touched += static_cast<int>(observed.attention_role_grad(dare::kCategory).size());
  }
  CHECK(touched > 0);
  for (int f = 0; f < 3; ++f) {
    const auto& a = plain.table<Role::AttentionHistory>(f);
    const auto& b = observed.table<Role::AttentionHistory>(f);
    for (dare::Index id = 0; id < a.rows(); ++id) {
      INFO(dare::field_name(f) << " row " << id);
      CHECK(std::equal(a.row(id), a.row(id) + 4, b.row(id)));
    }
  }
  auto p1 = plain.parameters();
  auto p2 = observed.parameters();
  for (std::size_t i = 0; i < p1.size(); ++i) {
    INFO(p1[i]->name);
    CHECK(p1[i]->value == p2[i]->value);
  }
  CHECK_THROWS_AS(plain.attention_role_grad(dare::kItem), std::invalid_argument);
}
