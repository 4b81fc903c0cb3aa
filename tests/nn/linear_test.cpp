#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "dare/nn/linear.hpp"
#include "nn/finite_difference.hpp"
#include "nn/linear_threads_checks.hpp"

namespace {
using Matrix = dare::nn::Matrix<double>;

Matrix random_matrix(std::mt19937_64& rng, dare::Index rows, dare::Index cols) {
  Matrix m(rows, cols);
  const auto v = dare_test::uniform(rng, static_cast<std::size_t>(rows * cols));
  for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = v[static_cast<std::size_t>(i)];
  return m;
}
}  // namespace

TEST_CASE("a linear layer computes W x + b per column", "[nn][linear]") {
  dare::nn::Linear<double> lin(2, 2);
  lin.weight().value << 1, 2, 3, 4;
  lin.bias().value << 1, -1;
  Matrix x(2, 2);
  x << 1, 0,
       1, 2;  // columns (1,1) and (0,2)
  Matrix y;
  lin.forward(x, y);
  // (1+2+1, 3+4-1) = (4, 6); (0+4+1, 0+8-1) = (5, 7).
  CHECK(y(0, 0) == 4);
  CHECK(y(1, 0) == 6);
  CHECK(y(0, 1) == 5);
  CHECK(y(1, 1) == 7);

  // In place (x and y the same matrix) gives the same result.
  lin.forward(x, x);
  CHECK(x == y);
}

TEST_CASE("linear backward matches finite differences and accumulates", "[nn][linear]") {
  std::mt19937_64 rng(1);
  dare::nn::Linear<double> lin(5, 3, "fc");
  lin.init_normal(0.5, 9);
  lin.bias().value = random_matrix(rng, 3, 1);
  Matrix x = random_matrix(rng, 5, 4);
  const Matrix c = random_matrix(rng, 3, 4);
  auto loss = [&] {
    Matrix y;
    lin.forward(x, y);
    return (y.array() * c.array()).sum();
  };
  Matrix y, dx;
  lin.forward(x, y);
  lin.backward(c, &dx);
  CHECK(dare_test::relative_error(dx.data(), dare_test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
  for (auto* p : lin.parameters()) {
    INFO(p->name);
    CHECK(dare_test::relative_error(p->grad.data(), dare_test::numeric_gradient(p->value.data(), p->value.size(), loss)) < 1e-6);
  }
  // A second backward adds the same gradient again; dx may be the gradient matrix itself.
  const Matrix dw = lin.weight().grad;
  lin.forward(x, y);
  Matrix g = c;
  lin.backward(g, &g);
  CHECK(g.isApprox(dx, 1e-14));
  CHECK(lin.weight().grad.isApprox(2 * dw, 1e-14));
  lin.backward(c, nullptr);
  CHECK(lin.weight().grad.isApprox(3 * dw, 1e-14));
}

TEST_CASE("linear initialisation is N(0, sigma) from the seed, biases zero", "[nn][linear]") {
  dare::nn::Linear<float> a(200, 150, "a"), b(200, 150, "b"), c(200, 150, "c");
  a.bias().value.setOnes();
  a.init_normal(0.01f, 42);
  b.init_normal(0.01f, 42);
  c.init_normal(0.01f, 43);
  CHECK(a.weight().value == b.weight().value);
  CHECK(a.weight().value != c.weight().value);
  CHECK(a.bias().value.isZero());
  const double n = 200.0 * 150.0;
  const double mean = a.weight().value.cast<double>().mean();
  const double var = (a.weight().value.cast<double>().array() - mean).square().sum() / n;
  CHECK(std::abs(mean) < 3 * 0.01 / std::sqrt(n));
  CHECK(std::sqrt(var) == Approx(0.01).epsilon(0.02));
  CHECK(a.weight().decay);
  CHECK_FALSE(a.bias().decay);
  CHECK(a.weight().name == "a.weight");
  CHECK(a.bias().name == "a.bias");
}

TEST_CASE("a linear layer rejects inputs and gradients of the wrong shape", "[nn][linear]") {
  dare::nn::Linear<float> lin(4, 3, "head");
  dare::nn::Matrix<float> x = dare::nn::Matrix<float>::Zero(5, 2), y;
  CHECK_THROWS_WITH(lin.forward(x, y), Catch::Contains("head") && Catch::Contains("5 rows") && Catch::Contains("takes 4"));
  x.resize(4, 2);
  x.setOnes();
  lin.forward(x, y);
  dare::nn::Matrix<float> dy = dare::nn::Matrix<float>::Zero(3, 3);
  CHECK_THROWS_AS(lin.backward(dy, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(dare::nn::Linear<float>(0, 3), std::invalid_argument);
}

TEMPLATE_TEST_CASE("a linear layer's products give the same bits on any thread count", "[nn][linear]", float,
                   double) {
  CHECK(dare_test::check_linear_threads_shapes<TestType>() == "");
}

TEST_CASE("a linear layer rejects a thread count below one", "[nn][linear]") {
  dare::nn::Linear<double> lin(2, 2);
  CHECK_THROWS_WITH(lin.set_threads(0), Catch::Contains("threads must be at least 1, got 0"));
  CHECK(lin.threads() == 1);
}
