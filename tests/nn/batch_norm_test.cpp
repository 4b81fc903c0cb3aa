#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "dare/nn/batch_norm.hpp"
#include "nn/finite_difference.hpp"

namespace {
using Matrix = dare::nn::Matrix<double>;

Matrix random_matrix(std::mt19937_64& rng, dare::Index rows, dare::Index cols, double lo = -1, double hi = 1) {
  Matrix m(rows, cols);
  const auto v = dare_test::uniform(rng, static_cast<std::size_t>(rows * cols), lo, hi);
  for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = v[static_cast<std::size_t>(i)];
  return m;
}
}  // namespace

TEST_CASE("batch norm normalises with batch statistics and updates running ones as PyTorch",
          "[nn][batch_norm]") {
  dare::nn::BatchNorm1d<double> bn(2);
  Matrix x(2, 4);
  x << 1, 2, 3, 4,
       2, 2, 2, 2;
  Matrix y;
  bn.forward(x, y);
  // Feature 0: mean 2.5, biased variance 1.25, unbiased 5/3.
  const double inv_std = 1 / std::sqrt(1.25 + 1e-5);
  CHECK(y(0, 0) == Approx(-1.5 * inv_std).epsilon(1e-14));
  CHECK(y(0, 3) == Approx(1.5 * inv_std).epsilon(1e-14));
  // Feature 1 is constant: normalised to exactly 0.
  CHECK(y(1, 2) == 0.0);
  // running = 0.9 · old + 0.1 · batch (mean; unbiased variance).
  CHECK(bn.running_mean().value(0, 0) == Approx(0.25).epsilon(1e-15));
  CHECK(bn.running_mean().value(1, 0) == Approx(0.2).epsilon(1e-15));
  CHECK(bn.running_var().value(0, 0) == Approx(0.9 + 0.1 * 5.0 / 3.0).epsilon(1e-15));
  CHECK(bn.running_var().value(1, 0) == Approx(0.9).epsilon(1e-15));

  // A second batch moves them again: x + 10 has mean 12.5, the same variance.
  bn.forward((x.array() + 10).matrix(), y);
  CHECK(bn.running_mean().value(0, 0) == Approx(0.9 * 0.25 + 0.1 * 12.5).epsilon(1e-15));
  CHECK(bn.running_var().value(0, 0) == Approx(0.9 * (0.9 + 0.5 / 3.0) + 0.5 / 3.0).epsilon(1e-15));
}

TEST_CASE("batch norm in inference mode uses the running statistics and the affine terms",
          "[nn][batch_norm]") {
  dare::nn::BatchNorm1d<double> bn(2, 1e-5, 0.1, "bn");
  bn.running_mean().value << 1, -2;
  bn.running_var().value << 4, 0.25;
  bn.gamma().value << 2, 3;
  bn.beta().value << 0.5, -1;
  bn.set_training(false);
  Matrix x(2, 1);
  x << 3, -1;
  Matrix y;
  bn.forward(x, y);
  CHECK(y(0, 0) == Approx(2 * (3 - 1) / std::sqrt(4 + 1e-5) + 0.5).epsilon(1e-14));
  CHECK(y(1, 0) == Approx(3 * (-1 + 2) / std::sqrt(0.25 + 1e-5) - 1).epsilon(1e-14));
  // Inference leaves the running statistics alone and accepts a batch of one.
  CHECK(bn.running_mean().value(0, 0) == 1);
  // Training refuses a batch of one (its variance is undefined), as PyTorch does.
  bn.set_training(true);
  CHECK_THROWS_WITH(bn.forward(x, y), Catch::Contains("bn") && Catch::Contains("more than one sample"));
}

TEST_CASE("batch norm backward through the batch statistics matches finite differences",
          "[nn][batch_norm]") {
  std::mt19937_64 rng(4);
  dare::nn::BatchNorm1d<double> bn(3);
  bn.gamma().value = random_matrix(rng, 3, 1, 0.5, 2);
  bn.beta().value = random_matrix(rng, 3, 1);
  Matrix x = random_matrix(rng, 3, 5, -2, 2);
  const Matrix c = random_matrix(rng, 3, 5);
  for (bool training : {true, false}) {
    INFO("training: " << training);
    bn.set_training(training);
    bn.gamma().zero_grad();
    bn.beta().zero_grad();
    if (!training) {
      bn.running_mean().value << 0.3, -0.2, 0.1;
      bn.running_var().value << 0.5, 2.0, 1.5;
    }
    auto loss = [&] {
      // The running statistics move on every training forward; they do not enter the
      // training-mode output, and are restored so repeated calls see the same layer.
      const Matrix rm = bn.running_mean().value, rv = bn.running_var().value;
      Matrix y;
      bn.forward(x, y);
      bn.running_mean().value = rm;
      bn.running_var().value = rv;
      return (y.array() * c.array()).sum();
    };
    Matrix y, dx;
    bn.forward(x, y);
    bn.backward(c, &dx);
    CHECK(dare_test::relative_error(dx.data(), dare_test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
    for (auto* p : bn.parameters()) {
      INFO(p->name);
      CHECK(dare_test::relative_error(p->grad.data(), dare_test::numeric_gradient(p->value.data(), p->value.size(), loss)) < 1e-6);
    }
    // In place.
    Matrix g = c;
    bn.backward(g, &g);
    CHECK(g.isApprox(dx, 1e-14));
  }
}

TEST_CASE("batch norm names its parameters and buffers and checks its arguments", "[nn][batch_norm]") {
  dare::nn::BatchNorm1d<float> bn(4, 1e-5, 0.1, "head.bn");
  REQUIRE(bn.parameters().size() == 2);
  CHECK(bn.parameters()[0]->name == "head.bn.weight");
  CHECK(bn.parameters()[1]->name == "head.bn.bias");
  CHECK(bn.buffers()[0]->name == "head.bn.running_mean");
  CHECK(bn.buffers()[1]->name == "head.bn.running_var");
  for (auto* p : bn.parameters()) CHECK_FALSE(p->decay);
  CHECK(bn.gamma().value.isOnes());
  CHECK(bn.beta().value.isZero());
  CHECK(bn.running_var().value.isOnes());
  CHECK_THROWS_AS(dare::nn::BatchNorm1d<float>(4, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(dare::nn::BatchNorm1d<float>(4, 1e-5, 1.5), std::invalid_argument);
  dare::nn::Matrix<float> x = dare::nn::Matrix<float>::Zero(3, 8), y;
  CHECK_THROWS_AS(bn.forward(x, y), std::invalid_argument);
}

TEST_CASE("population statistics are the exact mean and unbiased variance of every accumulated column",
          "[nn][batch_norm]") {
  std::mt19937_64 rng(5);
  dare::nn::BatchNorm1d<double> bn(3);
  // Batches of different sizes and offsets, so a plain average of batch statistics would differ.
  const Matrix a = random_matrix(rng, 3, 7, -1, 1), b = random_matrix(rng, 3, 2, 4, 6), c = random_matrix(rng, 3, 11, -3, 0);
  bn.begin_population();
  bn.accumulate_population(a);
  bn.accumulate_population(b);
  bn.accumulate_population(c);
  CHECK(bn.population_count() == 20);
  bn.end_population();
  // Two-pass statistics over the concatenation, computed independently.
  Matrix all(3, 20);
  all << a, b, c;
  for (dare::Index f = 0; f < 3; ++f) {
    double mean = 0;
    for (dare::Index i = 0; i < 20; ++i) mean += all(f, i);
    mean /= 20;
    double ss = 0;
    for (dare::Index i = 0; i < 20; ++i) ss += (all(f, i) - mean) * (all(f, i) - mean);
    CHECK(bn.running_mean().value(f, 0) == Approx(mean).epsilon(1e-13));
    CHECK(bn.running_var().value(f, 0) == Approx(ss / 19).epsilon(1e-13));
  }
  // Precise inference then normalises with them.
  bn.set_training(false);
  bn.set_inference_stats(dare::nn::InferenceStats::Precise);
  Matrix y;
  bn.forward(b, y);
  const double expect = (b(1, 0) - bn.running_mean().value(1, 0)) / std::sqrt(bn.running_var().value(1, 0) + 1e-5);
  CHECK(y(1, 0) == Approx(expect).epsilon(1e-13));
  CHECK_THROWS_WITH(dare::nn::BatchNorm1d<double>(2).accumulate_population(Matrix(2, 3)),
                    Catch::Contains("before begin_population"));
  dare::nn::BatchNorm1d<double> one(2);
  one.begin_population();
  one.accumulate_population(Matrix::Ones(2, 1));
  CHECK_THROWS_WITH(one.end_population(), Catch::Contains("at least 2 samples"));
}

TEST_CASE("batch-statistics inference equals a training-mode forward and leaves the running statistics alone",
          "[nn][batch_norm]") {
  std::mt19937_64 rng(6);
  dare::nn::BatchNorm1d<double> train(4), infer(4);
  infer.running_mean().value.setConstant(0.3);
  infer.running_var().value.setConstant(2.0);
  const Matrix x = random_matrix(rng, 4, 9);
  Matrix want, got;
  train.forward(x, want);
  infer.set_training(false);
  infer.set_inference_stats(dare::nn::InferenceStats::Batch);
  infer.forward(x, got);
  CHECK((got - want).cwiseAbs().maxCoeff() == 0.0);
  CHECK((infer.running_mean().value.array() == 0.3).all());
  CHECK((infer.running_var().value.array() == 2.0).all());
  CHECK_THROWS_WITH(infer.forward(Matrix::Ones(4, 1), got), Catch::Contains("batch statistics needs more than one"));
  CHECK(dare::nn::parse_inference_stats("precise", "--x") == dare::nn::InferenceStats::Precise);
  CHECK_THROWS_WITH(dare::nn::parse_inference_stats("eval", "--inference-stats"),
                    Catch::Contains("--inference-stats must be running, batch or precise"));
}
