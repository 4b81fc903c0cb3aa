// Tests of dare/train/metrics.hpp: AUC and grouped AUC against O(n^2) pair counting (ties
// included), hand-computed cases, logloss, and input validation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "dare/train/metrics.hpp"

using dare::Metrics;
using Catch::Matchers::Contains;

namespace {

/// AUC by counting every (positive, negative) pair; -1 if a class is missing.
template <class Scalar>
double brute_auc(const std::vector<Scalar>& scores, const std::vector<int>& labels,
                 const std::vector<std::size_t>& members) {
  double pairs = 0, wins = 0;
  for (std::size_t a : members)
    for (std::size_t b : members)
      if (labels[a] == 1 && labels[b] == 0) {
        pairs += 1;
        wins += scores[a] > scores[b] ? 1.0 : scores[a] == scores[b] ? 0.5 : 0.0;
      }
  return pairs == 0 ? -1.0 : wins / pairs;
}

template <class Scalar>
double brute_grouped_auc(const std::vector<Scalar>& scores, const std::vector<int>& labels,
                         const std::vector<std::int64_t>& groups) {
  std::map<std::int64_t, std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < scores.size(); ++i) members[groups[i]].push_back(i);
  double weighted = 0, weight = 0;
  for (const auto& [group, idx] : members) {
    const double auc = brute_auc(scores, labels, idx);
    if (auc < 0) continue;
    weighted += double(idx.size()) * auc;
    weight += double(idx.size());
  }
  return weighted / weight;
}

std::vector<std::size_t> all_of(std::size_t n) {
  std::vector<std::size_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = i;
  return idx;
}

}  // namespace

TEMPLATE_TEST_CASE("auc equals brute-force pair counting, ties counting one half",
                   "[train][metrics]", float, double) {
  std::mt19937 rng(17);
  for (std::size_t n : {2u, 3u, 10u, 57u, 300u}) {
    for (int levels : {2, 5, 1000}) {  // few levels: many ties
      std::uniform_int_distribution<int> level(0, levels - 1);
      std::bernoulli_distribution positive(0.3);
      std::vector<TestType> scores(n);
      std::vector<int> labels(n);
      for (std::size_t i = 0; i < n; ++i) {
        scores[i] = TestType(level(rng)) / TestType(levels);
        labels[i] = positive(rng) ? 1 : 0;
      }
      labels[0] = 1;  // both classes present
      labels[1] = 0;
      INFO("n=" << n << " levels=" << levels);
      CHECK(Metrics::auc(scores, labels) ==
            Approx(brute_auc(scores, labels, all_of(n))).epsilon(1e-12));
    }
  }
}

TEMPLATE_TEST_CASE("grouped_auc equals per-group brute force weighted by group size",
                   "[train][metrics]", float, double) {
  std::mt19937 rng(23);
  for (std::size_t n : {4u, 40u, 500u}) {
    std::uniform_int_distribution<int> level(0, 6);
    std::uniform_int_distribution<std::int64_t> group(-3, 12);  // some groups one-class
    std::bernoulli_distribution positive(0.35);
    std::vector<TestType> scores(n);
    std::vector<int> labels(n);
    std::vector<std::int64_t> groups(n);
    for (std::size_t i = 0; i < n; ++i) {
      scores[i] = TestType(level(rng));
      labels[i] = positive(rng) ? 1 : 0;
      groups[i] = group(rng) * 1000000007LL;  // large ids
    }
    groups[0] = groups[1];
    labels[0] = 1;
    labels[1] = 0;
    INFO("n=" << n);
    CHECK(Metrics::grouped_auc(scores, labels, groups) ==
          Approx(brute_grouped_auc(scores, labels, groups)).epsilon(1e-12));
  }
}

TEST_CASE("auc and grouped_auc match hand-computed values", "[train][metrics]") {
  // The scikit-learn roc_auc_score example.
  CHECK(Metrics::auc(std::vector<double>{0.1, 0.4, 0.35, 0.8}, std::vector<int>{0, 0, 1, 1}) ==
        0.75);
  // Pairs (pos, neg): (2,1) 1, (2,2) 1/2, (3,1) 1, (3,2) 1  ->  3.5 / 4.
  CHECK(Metrics::auc(std::vector<float>{1, 2, 2, 3}, std::vector<int>{0, 1, 0, 1}) == 0.875);
  CHECK(Metrics::auc(std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f}, std::vector<int>{0, 1, 0, 1}) ==
        0.5);
  CHECK(Metrics::auc(std::vector<double>{3, 2, 1}, std::vector<int>{0, 1, 1}) == 0.0);
  // Group 7: AUC 1 over 2 samples; group 9: AUC 0 over 3; group 4: one class, skipped.
  const std::vector<double> scores = {0.1, 0.9, 0.8, 0.2, 0.5, 0.3, 0.6};
  const std::vector<int> labels = {0, 1, 0, 1, 1, 1, 1};
  const std::vector<std::int64_t> groups = {7, 7, 9, 9, 9, 4, 4};
  CHECK(Metrics::grouped_auc(scores, labels, groups) == Approx(0.4).epsilon(1e-15));
  // Other label types are accepted as long as they hold 0 and 1.
  CHECK(Metrics::auc(std::vector<double>{0.1, 0.4, 0.35, 0.8},
                     std::vector<float>{0, 0, 1, 1}) == 0.75);
}

TEST_CASE("auc does not depend on the input order", "[train][metrics]") {
  std::vector<double> scores = {0.3, 0.3, 0.1, 0.9, 0.3, 0.5, 0.1};
  std::vector<int> labels = {1, 0, 0, 1, 1, 0, 1};
  const double forward = Metrics::auc(scores, labels);
  std::reverse(scores.begin(), scores.end());
  std::reverse(labels.begin(), labels.end());
  CHECK(Metrics::auc(scores, labels) == forward);
}

TEST_CASE("logloss matches hand-computed values and clamps at 1e-7", "[train][metrics]") {
  CHECK(Metrics::logloss(std::vector<double>{0.9, 0.2}, std::vector<int>{1, 0}) ==
        Approx((-std::log(0.9) - std::log(0.8)) / 2).epsilon(1e-14));
  CHECK(Metrics::logloss(std::vector<float>{0.0f, 1.0f}, std::vector<int>{1, 0}) ==
        Approx(-std::log(1e-7)).epsilon(1e-12));
  // Certain and right: the clamp leaves 1e-7 of doubt (up to the rounding of 1 - 1e-7).
  CHECK(Metrics::logloss(std::vector<double>{1.0, 0.0}, std::vector<int>{1, 0}) ==
        Approx(-std::log1p(-1e-7)).epsilon(1e-8));
}

TEST_CASE("metrics reject malformed input with messages naming the argument",
          "[train][metrics]") {
  const std::vector<double> s = {0.1, 0.2, 0.3};
  CHECK_THROWS_WITH(Metrics::auc(s, std::vector<int>{0, 2, 1}),
                    Contains("labels[1] = 2 is neither 0 nor 1"));
  CHECK_THROWS_WITH(Metrics::auc(s, std::vector<int>{0, 1}),
                    Contains("labels has 2 entries but scores has 3"));
  CHECK_THROWS_WITH(Metrics::auc(s, std::vector<int>{1, 1, 1}),
                    Contains("labels must contain both classes"));
  CHECK_THROWS_WITH(Metrics::auc(std::vector<double>{}, std::vector<int>{}),
                    Contains("both classes"));
  CHECK_THROWS_WITH(
      Metrics::auc(std::vector<double>{0.1, std::numeric_limits<double>::quiet_NaN()},
                   std::vector<int>{0, 1}),
      Contains("scores[1] is NaN"));
  CHECK_THROWS_WITH(Metrics::grouped_auc(s, std::vector<int>{0, 1, 1},
                                         std::vector<std::int64_t>{1, 2}),
                    Contains("groups has 2 entries but scores has 3"));
  CHECK_THROWS_WITH(Metrics::grouped_auc(s, std::vector<int>{0, 1, 1},
                                         std::vector<std::int64_t>{1, 2, 3}),
                    Contains("no group contains both classes"));
  CHECK_THROWS_WITH(Metrics::logloss(std::vector<double>{0.5, 1.5}, std::vector<int>{0, 1}),
                    Contains("probs[1] = 1.5 is not a probability"));
  CHECK_THROWS_WITH(
      Metrics::logloss(std::vector<double>{std::numeric_limits<double>::quiet_NaN()},
                       std::vector<int>{0}),
      Contains("probs[0]"));
  CHECK_THROWS_WITH(Metrics::logloss(std::vector<double>{}, std::vector<int>{}),
                    Contains("at least one sample"));
  CHECK_THROWS_AS(Metrics::logloss(std::vector<double>{0.5}, std::vector<int>{-1}),
                  std::invalid_argument);
}

TEST_CASE("reference_auc reproduces the reference's calc_auc, low by half a negative's width per positive above the "
          "last negative", "[train][metrics]") {
  // Descending: + - + + - +  (P = 4, N = 2). Exact AUC: the first negative has 1 positive above
  // it, the second 3: (1 + 3) / 8 = 0.5. calc_auc: trapezoids (0,0)-(0.5,0.25) and
  // (0.5,0.25)-(1,0.75): 0.0625 + 0.25 = 0.3125.
  const std::vector<double> scores = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
  const std::vector<int> labels = {1, 0, 1, 1, 0, 1};
  CHECK(dare::Metrics::auc(scores, labels) == Approx(0.5));
  CHECK(dare::Metrics::reference_auc(scores, labels) == Approx(0.3125));
  // In general exact − reference = (positives above the last negative) / (2 P N).
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 20; ++trial) {
    const std::size_t n = 5 + rng() % 60;
    std::vector<double> s(n);
    std::vector<int> y(n);
    for (std::size_t i = 0; i < n; ++i) {
      s[i] = static_cast<double>(rng() % 1000);  // distinct almost surely; ties are checked below
      y[i] = static_cast<int>(rng() % 3 == 0);
    }
    y[0] = 1;
    y[1] = 0;
    std::vector<std::size_t> idx(n);
    std::iota(idx.begin(), idx.end(), std::size_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return s[a] > s[b]; });
    double p = 0, q = 0, above_last = 0, seen = 0;
    for (std::size_t k : idx) {
      if (y[k] == 1) {
        ++p;
        ++seen;
      } else {
        ++q;
        above_last = seen;
      }
    }
    // With ties the reference takes them in input order; the identity holds for that order.
    std::vector<double> untied(n);
    for (std::size_t r = 0; r < n; ++r) untied[idx[r]] = static_cast<double>(n - r);
    CHECK(dare::Metrics::reference_auc(s, y) == Approx(dare::Metrics::auc(untied, y) - above_last / (2 * p * q)));
  }
}

TEST_CASE("reference_grouped_auc weights each two-class group's reference AUC by its size", "[train][metrics]") {
  const std::vector<double> scores = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1};
  const std::vector<int> labels = {1, 0, 1, 1, 0, 1, 1, 0, 0};
  const std::vector<std::int64_t> groups = {7, 7, 7, 7, 7, 7, 3, 3, 5};
  // Group 7 is the example above (0.3125, 6 samples); group 3 is + - (0.5 by calc_auc, 2
  // samples); group 5 has one class and is skipped.
  CHECK(dare::Metrics::reference_grouped_auc(scores, labels, groups) == Approx((6 * 0.3125 + 2 * 0.5) / 8));
  CHECK(dare::Metrics::grouped_auc(scores, labels, groups) == Approx((6 * 0.5 + 2 * 1.0) / 8));
  CHECK_THROWS_WITH(dare::Metrics::reference_auc(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1}),
                    Catch::Contains("both classes"));
}
