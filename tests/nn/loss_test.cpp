#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "dare/nn/loss.hpp"
#include "nn/finite_difference.hpp"

TEST_CASE("cross entropy of two classes equals the hand-computed values", "[nn][loss]") {
  dare::nn::SoftmaxCrossEntropy<double> ce;
  dare::nn::Matrix<double> logits(2, 2);
  logits << 0, 2,
            0, -1;  // column 0: equal logits; column 1: class 0 ahead by 3
  const int labels[2] = {1, 0};
  dare::nn::Matrix<double> d;
  double p1[2];
  const double loss = ce.forward_backward(logits, labels, d, p1);
  // Column 0: -log(1/2). Column 1: -log(e^2 / (e^2 + e^-1)) = log(1 + e^-3).
  const double l0 = std::log(2.0), l1 = std::log1p(std::exp(-3.0));
  CHECK(loss == Approx((l0 + l1) / 2).epsilon(1e-15));
  CHECK(p1[0] == Approx(0.5).epsilon(1e-15));
  CHECK(p1[1] == Approx(std::exp(-1.0) / (std::exp(2.0) + std::exp(-1.0))).epsilon(1e-14));
  // dlogits = (p - onehot) / B.
  CHECK(d(0, 0) == Approx(0.25).epsilon(1e-15));
  CHECK(d(1, 0) == Approx(-0.25).epsilon(1e-15));
  CHECK(d(1, 1) == Approx(p1[1] / 2).epsilon(1e-14));
  CHECK(d(0, 1) == Approx(-p1[1] / 2).epsilon(1e-14));

  double q1[2];
  CHECK(ce.forward(logits, labels, q1) == loss);
  CHECK(q1[1] == p1[1]);
  dare::nn::SoftmaxCrossEntropy<double>::positive_probability(logits, q1);
  CHECK(q1[0] == p1[0]);
}

TEST_CASE("cross entropy backward matches finite differences for several classes", "[nn][loss]") {
  std::mt19937_64 rng(8);
  dare::nn::SoftmaxCrossEntropy<double> ce;
  dare::nn::Matrix<double> logits(4, 6);
  const auto v = dare_test::uniform(rng, 24, -3, 3);
  for (int i = 0; i < 24; ++i) logits.data()[i] = v[i];
  const int labels[6] = {0, 3, 1, 2, 2, 1};
  dare::nn::Matrix<double> d;
  ce.forward_backward(logits, labels, d);
  auto loss = [&] { return static_cast<double>(ce.forward(logits, labels)); };
  CHECK(dare_test::relative_error(d.data(), dare_test::numeric_gradient(logits.data(), logits.size(), loss)) < 1e-6);
}

TEST_CASE("cross entropy stays finite for huge logits", "[nn][loss]") {
  dare::nn::SoftmaxCrossEntropy<float> ce;
  dare::nn::Matrix<float> logits(2, 2);
  logits << 1e4f, 1e4f,
            -1e4f, -1e4f;
  const int labels[2] = {0, 1};  // right with certainty, then wrong by 2e4
  dare::nn::Matrix<float> d;
  float p1[2];
  const float loss = ce.forward_backward(logits, labels, d, p1);
  CHECK(loss == Approx(1e4f));  // (0 + 2e4) / 2
  CHECK(p1[0] == 0.0f);
  CHECK(d(0, 1) == Approx(0.5f));
  CHECK(d(1, 1) == Approx(-0.5f));
  CHECK(std::isfinite(d(0, 0)));
}

TEST_CASE("cross entropy rejects bad labels and shapes", "[nn][loss]") {
  dare::nn::SoftmaxCrossEntropy<float> ce;
  dare::nn::Matrix<float> logits = dare::nn::Matrix<float>::Zero(2, 3), d;
  const int bad[3] = {0, 2, 1};
  CHECK_THROWS_WITH(ce.forward_backward(logits, bad, d), Catch::Contains("labels[1] is 2"));
  const int neg[3] = {0, -1, 1};
  CHECK_THROWS_AS(ce.forward(logits, neg), std::invalid_argument);
  dare::nn::Matrix<float> one_class = dare::nn::Matrix<float>::Zero(1, 3);
  const int ok[3] = {0, 0, 0};
  CHECK_THROWS_WITH(ce.forward(one_class, ok), Catch::Contains("2 classes"));
  dare::nn::Matrix<float> empty(2, 0);
  CHECK_THROWS_WITH(ce.forward(empty, ok), Catch::Contains("empty batch"));
}
