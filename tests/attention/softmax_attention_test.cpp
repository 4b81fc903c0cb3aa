#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "attention/softmax_checks.hpp"
#include "dare/attention/softmax_attention.hpp"
#include "nn/finite_difference.hpp"

namespace {

using dare::Dynamic;
using dare::Index;

// sem_dim = 4 (scale 1/2), time_dim = 1 (scale 1): small enough to score by hand.
using HandFixed = dare::SoftmaxAttention<double, 5>;
using HandDynamic = dare::SoftmaxAttention<double, Dynamic>;
// sem_dim = 8, time_dim = 5: neither width a power of two, rows padded to a stride of 16.
using WideFixed = dare::SoftmaxAttention<double, 13>;
using WideDynamic = dare::SoftmaxAttention<double, Dynamic>;

constexpr Index kSem = 8;
constexpr Index kTime = 5;
constexpr Index kStride = 16;

}  // namespace

TEMPLATE_TEST_CASE("scores add the semantic and time dot products, each with its own scale",
                   "[attention][softmax_attention]", HandFixed, HandDynamic) {
  const TestType att(4, 1);
  REQUIRE(att.dim() == 5);
  CHECK(att.scale(0) == 0.5);
  CHECK(att.scale(3) == 0.5);
  CHECK(att.scale(4) == 1.0);

  const double q[5] = {1, 2, 3, 4, 2};
  // Rows of stride 6 (one padding column, set to garbage that must be ignored).
  const double keys[3 * 6] = {
      1, 1, 1, 1, 3, 99,   // (1+2+3+4)/2 + 2*3/1 = 5 + 6 = 11
      0, 0, 0, 2, -1, 99,  // 8/2 - 2 = 2
      5, 5, 5, 5, 5, 99,   // padded: never scored
  };
  const std::uint8_t valid[3] = {1, 1, 0};
  double scores[3];
  att.score(q, keys, 6, 3, valid, scores);
  CHECK(scores[0] == 11.0);
  CHECK(scores[1] == 2.0);
  CHECK(scores[2] == TestType::kPaddingScore);
  CHECK(TestType::kPaddingScore == -4294967295.0);

  // Without a mask every row is scored: (5*4 + 5*4... ) = (5+10+15+20)/2 + 10 = 35.
  att.score(q, keys, 6, 3, nullptr, scores);
  CHECK(scores[2] == 35.0);

  // The scaled query turns the split score into one plain dot product (what the search uses).
  double sq[5];
  att.scaled_query(q, sq);
  for (int j = 0; j < 3; ++j) {
    double plain = 0;
    for (int c = 0; c < 5; ++c) plain += sq[c] * keys[j * 6 + c];
    CHECK(plain == Approx(scores[j]).epsilon(1e-15));
  }
}

TEST_CASE("time_dim 0 is plain scaled dot-product attention", "[attention][softmax_attention]") {
  const dare::SoftmaxAttention<double, 4> att(4, 0);
  const double q[4] = {1, 2, 3, 4};
  const double k[4] = {1, 1, 1, 1};
  double s;
  att.score(q, k, 4, 1, nullptr, &s);
  CHECK(s == 5.0);
}

TEST_CASE("attention widths are checked at construction", "[attention][softmax_attention]") {
  CHECK_THROWS_WITH((dare::SoftmaxAttention<float, 16>(8, 4)),
                    Catch::Contains("attention width") && Catch::Contains("12") && Catch::Contains("16"));
  CHECK_THROWS_WITH((dare::SoftmaxAttention<float>(0, 4)), Catch::Contains("sem_dim"));
  CHECK_THROWS_WITH((dare::SoftmaxAttention<float>(4, -1)), Catch::Contains("time_dim"));
  CHECK_NOTHROW(dare::SoftmaxAttention<float, 16>(8, 8));
}

TEST_CASE("a key stride narrower than the key is a precondition failure", "[attention][softmax_attention]") {
  const dare::SoftmaxAttention<float> att(8, 8);
  std::vector<float> q(16), keys(64), scores(4);
  CHECK_THROWS_AS(att.score(q.data(), keys.data(), 8, 4, nullptr, scores.data()), dare::AssertionError);
}

TEST_CASE("softmax subtracts the maximum, so huge scores neither overflow nor lose precision",
          "[attention][softmax_attention]") {
  using Att = dare::SoftmaxAttention<double>;
  const double scores[3] = {1000.0, 999.0, 997.0};
  double w[3];
  Att::softmax(scores, 3, w);
  const double z = 1 + std::exp(-1.0) + std::exp(-3.0);
  CHECK(w[0] == Approx(1 / z).epsilon(1e-15));
  CHECK(w[1] == Approx(std::exp(-1.0) / z).epsilon(1e-15));
  CHECK(w[2] == Approx(std::exp(-3.0) / z).epsilon(1e-15));

  // Float scores far beyond exp's range.
  using AttF = dare::SoftmaxAttention<float>;
  const float big[3] = {3e38f, -3e38f, 1e30f};
  float wf[3];
  AttF::softmax(big, 3, wf);
  CHECK(wf[0] == 1.0f);
  CHECK(wf[1] == 0.0f);
  CHECK(wf[2] == 0.0f);

  // In place.
  float inplace[2] = {0.0f, 0.0f};
  AttF::softmax(inplace, 2, inplace);
  CHECK(inplace[0] == 0.5f);
  CHECK(inplace[1] == 0.5f);
}

TEST_CASE("padded positions get zero weight and an all-padded row gets uniform weights",
          "[attention][softmax_attention]") {
  using Att = dare::SoftmaxAttention<float, 2>;
  const Att att(1, 1);
  const float q[2] = {3.0f, -1.0f};
  const float keys[4 * 2] = {1, 1, 2, 0, -4, 2, 7, 7};
  const std::uint8_t mask[4] = {0, 1, 1, 0};
  float scores[4], w[4];
  att.forward(q, keys, 2, 4, mask, scores, w);
  CHECK(w[0] == 0.0f);
  CHECK(w[3] == 0.0f);
  // Valid scores 6 and -14: the weights are the two-way softmax of those.
  CHECK(w[1] == Approx(1.0 / (1.0 + std::exp(-20.0))));
  CHECK(w[2] == Approx(std::exp(-20.0) / (1.0 + std::exp(-20.0))).margin(1e-12));

  // torch.softmax over a row of sentinels is uniform; so is ours.
  const std::uint8_t none[4] = {0, 0, 0, 0};
  att.forward(q, keys, 2, 4, none, scores, w);
  for (float x : w) CHECK(x == 0.25f);

  // A row with no positions is a no-op.
  w[0] = 42.0f;
  Att::softmax(scores, 0, w);
  CHECK(w[0] == 42.0f);
}

TEST_CASE("softmax backward matches finite differences", "[attention][softmax_attention]") {
  using Att = dare::SoftmaxAttention<double>;
  std::mt19937_64 rng(11);
  const std::size_t n = 9;
  std::vector<double> scores = dare_test::uniform(rng, n, -3, 3);
  const std::vector<double> c = dare_test::uniform(rng, n);
  std::vector<double> w(n), dscores(n);
  auto loss = [&] {
    std::vector<double> ww(n);
    Att::softmax(scores.data(), static_cast<Index>(n), ww.data());
    return dare_test::dot(c.data(), ww.data(), n);
  };
  Att::softmax(scores.data(), static_cast<Index>(n), w.data());
  Att::softmax_backward(w.data(), c.data(), static_cast<Index>(n), dscores.data());
  const auto numeric = dare_test::numeric_gradient(scores.data(), n, loss);
  CHECK(dare_test::relative_error(dscores, numeric) < 1e-6);

  // The gradients of a softmax sum to zero (its outputs do).
  double sum = 0;
  for (double g : dscores) sum += g;
  CHECK(sum == Approx(0.0).margin(1e-15));
}

TEMPLATE_TEST_CASE("score backward splits the gradient with the semantic and time scales",
                   "[attention][softmax_attention]", WideFixed, WideDynamic) {
  const TestType att(kSem, kTime);
  const Index d = att.dim();
  const Index n = 6;
  std::mt19937_64 rng(5);
  std::vector<double> q = dare_test::uniform(rng, d);
  std::vector<double> keys = dare_test::uniform(rng, n * kStride);
  const std::vector<double> ds = dare_test::uniform(rng, n);
  const std::uint8_t valid[n] = {1, 0, 1, 1, 0, 1};

  // L = Σ_j ds_j · s_j over the valid positions (padded scores are constants).
  auto loss = [&] {
    std::vector<double> s(n);
    att.score(q.data(), keys.data(), kStride, n, valid, s.data());
    double l = 0;
    for (Index j = 0; j < n; ++j) l += valid[j] ? ds[j] * s[j] : 0.0;
    return l;
  };

  // Gradients accumulate: start from a known non-zero value and subtract it afterwards.
  std::vector<double> dq(d, 0.5);
  std::vector<double> dkeys(n * kStride, 0.25);
  att.score_backward(q.data(), keys.data(), kStride, n, valid, ds.data(), dq.data(), dkeys.data(), kStride);
  for (double& g : dq) g -= 0.5;
  for (double& g : dkeys) g -= 0.25;

  const auto nq = dare_test::numeric_gradient(q.data(), d, loss);
  CHECK(dare_test::relative_error(dq.data(), nq) < 1e-6);
  const auto nk = dare_test::numeric_gradient(keys.data(), keys.size(), loss);
  CHECK(dare_test::relative_error(dkeys, nk) < 1e-6);

  // Padded rows and the stride padding get exactly nothing.
  for (Index j = 0; j < n; ++j) {
    for (Index c = 0; c < kStride; ++c) {
      if (!valid[j] || c >= d) CHECK(dkeys[j * kStride + c] == 0.0);
    }
  }
  // Exact split: dk_j = ds_j · scale ⊙ q.
  for (Index c = 0; c < d; ++c) {
    const double expected = ds[0] * q[c] / std::sqrt(c < kSem ? double(kSem) : double(kTime));
    CHECK(dkeys[c] == Approx(expected).epsilon(1e-14));
  }

  // Either gradient may be skipped.
  std::vector<double> dq_only(d, 0.0);
  att.score_backward(q.data(), keys.data(), kStride, n, valid, ds.data(), dq_only.data(), nullptr, 0);
  for (Index c = 0; c < d; ++c) CHECK(dq_only[c] == Approx(dq[c]).margin(1e-14));  // dq went through +0.5 and -0.5
}

TEMPLATE_TEST_CASE("the attention chain from weights back to query and keys matches finite differences",
                   "[attention][softmax_attention]", WideFixed, WideDynamic) {
  const TestType att(kSem, kTime);
  const Index d = att.dim();
  const Index n = 7;
  std::mt19937_64 rng(23);
  std::vector<double> q = dare_test::uniform(rng, d);
  std::vector<double> keys = dare_test::uniform(rng, n * kStride);
  const std::vector<double> c = dare_test::uniform(rng, n);
  const std::uint8_t valid[n] = {1, 1, 0, 1, 1, 1, 0};

  auto loss = [&] {
    std::vector<double> s(n), w(n);
    att.forward(q.data(), keys.data(), kStride, n, valid, s.data(), w.data());
    return dare_test::dot(c.data(), w.data(), n);
  };
  std::vector<double> s(n), w(n), ds(n), dq(d, 0.0), dkeys(n * kStride, 0.0);
  att.forward(q.data(), keys.data(), kStride, n, valid, s.data(), w.data());
  att.backward(q.data(), keys.data(), kStride, n, valid, w.data(), c.data(), ds.data(), dq.data(),
               dkeys.data(), kStride);

  CHECK(dare_test::relative_error(dq.data(), dare_test::numeric_gradient(q.data(), d, loss)) < 1e-6);
  CHECK(dare_test::relative_error(dkeys, dare_test::numeric_gradient(keys.data(), keys.size(), loss)) < 1e-6);
}

TEST_CASE("float scores agree with double scores", "[attention][softmax_attention]") {
  const dare::SoftmaxAttention<float, 32> af(16, 16);
  const dare::SoftmaxAttention<double, 32> ad(16, 16);
  std::mt19937_64 rng(3);
  const std::vector<double> qd = dare_test::uniform(rng, 32);
  const std::vector<double> kd = dare_test::uniform(rng, 20 * 32);
  const std::vector<float> qf(qd.begin(), qd.end());
  const std::vector<float> kf(kd.begin(), kd.end());
  std::vector<float> sf(20), wf(20);
  std::vector<double> sd(20), wd(20);
  af.forward(qf.data(), kf.data(), 32, 20, nullptr, sf.data(), wf.data());
  ad.forward(qd.data(), kd.data(), 32, 20, nullptr, sd.data(), wd.data());
  for (int j = 0; j < 20; ++j) {
    CHECK(sf[j] == Approx(sd[j]).margin(1e-5));
    CHECK(wf[j] == Approx(wd[j]).margin(1e-6));
  }
}

TEMPLATE_TEST_CASE("the SIMD softmax agrees with the scalar loop", "[attention][softmax_attention]", float, double) {
  CHECK(dare_test::check_softmax_matches_scalar<xsimd::default_arch, TestType>() == "");
  CHECK(dare_test::check_softmax_special<xsimd::default_arch, TestType>() == "");
  // The scalar loop itself keeps the same rules.
  CHECK(dare_test::check_softmax_special<xsimd::unavailable, TestType>() == "");
}
