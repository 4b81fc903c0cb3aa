// Tests of dare/search/topk.hpp: TopK against a full stable sort, padding, ties, errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "dare/search/topk.hpp"
#include "search/topk_checks.hpp"

using dare::Index;
using Catch::Matchers::Contains;

namespace {

template <class Scalar>
struct Result {
  std::vector<Index> positions;
  std::vector<Scalar> scores;
};

template <class Scalar>
Result<Scalar> run_topk(dare::TopK<Scalar>& topk, const std::vector<Scalar>& scores,
                        const std::vector<std::uint8_t>* valid) {
  Result<Scalar> r{std::vector<Index>(topk.k(), -1), std::vector<Scalar>(topk.k(), Scalar(0))};
  topk.select(scores.data(), Index(scores.size()), valid ? valid->data() : nullptr,
              r.positions.data(), r.scores.data());
  return r;
}

template <class Scalar>
Result<Scalar> run_reference(const std::vector<Scalar>& scores,
                             const std::vector<std::uint8_t>* valid, Index k) {
  Result<Scalar> r{std::vector<Index>(k, -1), std::vector<Scalar>(k, Scalar(0))};
  dare::reference::topk_reference(scores.data(), Index(scores.size()),
                                  valid ? valid->data() : nullptr, k, r.positions.data(),
                                  r.scores.data());
  return r;
}

}  // namespace

TEMPLATE_TEST_CASE("top-K equals a full stable sort over random scores, with and without ties",
                   "[search][topk]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_topk_random<TestType, xsimd::default_arch>(cases) == "");
  CHECK(cases > 1000);
}

TEMPLATE_TEST_CASE("top-K ranks a few ties among the candidates by position",
                   "[search][topk]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_topk_few_ties<TestType, xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_topk_few_ties<TestType, xsimd::unavailable>(cases) == "");
  CHECK(cases > 300);
}

TEMPLATE_TEST_CASE("top-K without SIMD (the scalar passes) equals a full stable sort",
                   "[search][topk]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_topk_random<TestType, xsimd::unavailable>(cases) == "");
  CHECK(cases > 1000);
}

TEMPLATE_TEST_CASE("top-K over long histories equals a full stable sort and reports NaN",
                   "[search][topk]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_topk_long<TestType, xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_topk_nan_long<TestType, xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_topk_nan_long<TestType, xsimd::unavailable>(cases) == "");
  CHECK(cases > 100);
}

TEMPLATE_TEST_CASE("top-K from group maxima kept by the caller equals select",
                   "[search][topk]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_topk_with_maxima<TestType, xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_topk_with_maxima<TestType, xsimd::unavailable>(cases) == "");
  CHECK(cases > 60);
}

TEMPLATE_TEST_CASE("top-K treats -0 and +0 as equal and ranks infinities and extremes exactly",
                   "[search][topk]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_topk_special<TestType, xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_topk_special<TestType, xsimd::unavailable>(cases) == "");
  CHECK(cases == 72);
}

TEMPLATE_TEST_CASE("top-K ranks equal scores by the higher position first", "[search][topk]",
                   float, double) {
  const std::vector<TestType> scores = {1, 3, 3, 2, 3, 0};
  dare::TopK<TestType> topk(4);
  const auto r = run_topk(topk, scores, nullptr);
  CHECK(r.positions == std::vector<Index>{4, 2, 1, 3});
  CHECK(r.scores == std::vector<TestType>{3, 3, 3, 2});
}

TEMPLATE_TEST_CASE("top-K over an all-padded history returns the last positions with the sentinel",
                   "[search][topk]", float, double) {
  const TestType nan = std::numeric_limits<TestType>::quiet_NaN();
  const std::vector<TestType> scores = {nan, 5, 100, nan, -1, 7};  // ignored: all padded
  const std::vector<std::uint8_t> valid(6, 0);
  dare::TopK<TestType> topk(3);
  const auto r = run_topk(topk, scores, &valid);
  const TestType pad = dare::TopK<TestType>::kPaddingScore;
  CHECK(r.positions == std::vector<Index>{5, 4, 3});
  CHECK(r.scores == std::vector<TestType>{pad, pad, pad});
}

TEMPLATE_TEST_CASE("top-K with fewer valid positions than k fills with padded positions",
                   "[search][topk]", float, double) {
  // Left-padded history: positions 0..3 padded, 4..6 valid (as the data protocol lays it out).
  const std::vector<TestType> scores = {9, 9, 9, 9, 0.5, -3, 2};
  const std::vector<std::uint8_t> valid = {0, 0, 0, 0, 1, 1, 1};
  dare::TopK<TestType> topk(5);
  const auto r = run_topk(topk, scores, &valid);
  const TestType pad = dare::TopK<TestType>::kPaddingScore;
  CHECK(r.positions == std::vector<Index>{6, 4, 5, 3, 2});
  CHECK(r.scores == std::vector<TestType>{2, TestType(0.5), -3, pad, pad});
}

TEMPLATE_TEST_CASE("top-K ranks valid scores below the sentinel under padded positions",
                   "[search][topk]", float, double) {
  // As torch.topk over masked scores: the sentinel is just a very low score.
  const TestType minus_inf = -std::numeric_limits<TestType>::infinity();
  const std::vector<TestType> scores = {TestType(-1e10), 0, minus_inf};
  const std::vector<std::uint8_t> valid = {1, 0, 1};
  dare::TopK<TestType> topk(3);
  const auto r = run_topk(topk, scores, &valid);
  CHECK(r.positions == std::vector<Index>{1, 0, 2});
  CHECK(r.scores[0] == dare::TopK<TestType>::kPaddingScore);
}

TEMPLATE_TEST_CASE("top-K with k == n sorts everything and n = 1 works", "[search][topk]",
                   float, double) {
  const std::vector<TestType> scores = {0.25, -1, 4, 0.25, 8};
  dare::TopK<TestType> all(5);
  const auto r = run_topk(all, scores, nullptr);
  CHECK(r.positions == std::vector<Index>{4, 2, 3, 0, 1});
  CHECK(r.scores == std::vector<TestType>{8, 4, 0.25, 0.25, -1});

  dare::TopK<TestType> one(1);
  const auto single = run_topk(one, std::vector<TestType>{TestType(-7)}, nullptr);
  CHECK(single.positions == std::vector<Index>{0});
  CHECK(single.scores == std::vector<TestType>{-7});
  const std::vector<std::uint8_t> padded = {0};
  const auto pad = run_topk(one, std::vector<TestType>{TestType(3)}, &padded);
  CHECK(pad.positions == std::vector<Index>{0});
  CHECK(pad.scores == std::vector<TestType>{dare::TopK<TestType>::kPaddingScore});
}

TEMPLATE_TEST_CASE("a TopK object gives the same answers when reused", "[search][topk]", float,
                   double) {
  dare::TopK<TestType> topk(3);
  const std::vector<TestType> first = {5, 6, 7, 8, 9};
  const std::vector<TestType> second = {1, 0, 2};
  run_topk(topk, first, nullptr);
  const auto r = run_topk(topk, second, nullptr);
  CHECK(r.positions == std::vector<Index>{2, 0, 1});
  CHECK(r.scores == std::vector<TestType>{2, 1, 0});
}

TEMPLATE_TEST_CASE("top-K rejects k > n, k <= 0, null pointers and NaN scores",
                   "[search][topk]", float, double) {
  dare::TopK<TestType> topk(5);
  const std::vector<TestType> three = {1, 2, 3};
  CHECK_THROWS_WITH(run_topk(topk, three, nullptr), Contains("k (5) must not exceed n (3)"));
  CHECK_THROWS_WITH(run_reference(three, nullptr, 5), Contains("k (5) must not exceed n (3)"));
  CHECK_THROWS_WITH(dare::TopK<TestType>(0), Contains("k must be positive"));
  CHECK_THROWS_AS(dare::TopK<TestType>(-2), std::invalid_argument);

  Index positions[5];
  TestType out[5];
  CHECK_THROWS_WITH(topk.select(nullptr, 8, nullptr, positions, out), Contains("null"));

  std::vector<TestType> scores = {1, 2, 3, 4, 5, 6, 7, 8};
  scores[6] = std::numeric_limits<TestType>::quiet_NaN();
  CHECK_THROWS_WITH(run_topk(topk, scores, nullptr), Contains("scores[6] is NaN"));
  CHECK_THROWS_WITH(run_reference(scores, nullptr, 5), Contains("scores[6] is NaN"));
  scores[6] = 7;
  scores[1] = std::numeric_limits<TestType>::quiet_NaN();  // inside the first k
  CHECK_THROWS_WITH(run_topk(topk, scores, nullptr), Contains("scores[1] is NaN"));
  // NaN at a padded position is ignored.
  std::vector<std::uint8_t> valid(8, 1);
  valid[1] = 0;
  CHECK_NOTHROW(run_topk(topk, scores, &valid));
}

TEMPLATE_TEST_CASE("select_many equals select row by row, with shared or per-row masks",
                   "[search][topk]", float, double) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> level(0, 4);
  const Index m = 6, n = 50, k = 7, score_stride = 53, out_stride = 9;
  std::vector<TestType> scores(m * score_stride);
  for (auto& s : scores) s = TestType(level(rng));
  std::vector<std::uint8_t> masks(m * n);
  for (auto& v : masks) v = level(rng) == 0 ? 0 : 1;
  dare::TopK<TestType> topk(k);
  for (Index valid_stride : {Index(0), n}) {
    std::vector<Index> positions(m * out_stride, -1);
    std::vector<TestType> out(m * out_stride);
    topk.select_many(scores.data(), m, n, score_stride, masks.data(), valid_stride,
                     positions.data(), out.data(), out_stride);
    for (Index j = 0; j < m; ++j) {
      std::vector<Index> want_pos(k);
      std::vector<TestType> want_scores(k);
      dare::reference::topk_reference(scores.data() + j * score_stride, n,
                                      masks.data() + j * valid_stride, k, want_pos.data(),
                                      want_scores.data());
      INFO("row " << j << " valid_stride " << valid_stride);
      CHECK(std::vector<Index>(positions.begin() + j * out_stride,
                               positions.begin() + j * out_stride + k) == want_pos);
      CHECK(std::vector<TestType>(out.begin() + j * out_stride,
                                  out.begin() + j * out_stride + k) == want_scores);
    }
  }
  std::vector<Index> positions(m * out_stride);
  std::vector<TestType> out(m * out_stride);
  CHECK_THROWS_WITH(topk.select_many(scores.data(), m, n, score_stride, nullptr, 0,
                                     positions.data(), out.data(), k - 1),
                    Contains("out_stride (6) must be at least k (7)"));
}

TEST_CASE("the padding score is -2^32 + 1 as in the reference", "[search][topk]") {
  CHECK(dare::TopK<double>::kPaddingScore == -4294967295.0);
  CHECK(dare::TopK<float>::kPaddingScore == static_cast<float>(-4294967295.0));
}
