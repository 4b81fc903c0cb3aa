#include <catch2/catch.hpp>

#include <random>

#include "dare/nn/prelu.hpp"
#include "nn/finite_difference.hpp"

namespace {
using Matrix = dare::nn::Matrix<double>;

// Entries in ±[0.1, 1): finite differences never straddle the kink at 0.
Matrix away_from_zero(std::mt19937_64& rng, dare::Index rows, dare::Index cols) {
  Matrix m(rows, cols);
  const auto mag = dare_test::uniform(rng, static_cast<std::size_t>(m.size()), 0.1, 1.0);
  const auto sign = dare_test::uniform(rng, static_cast<std::size_t>(m.size()));
  for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = sign[i] < 0 ? -mag[i] : mag[i];
  return m;
}
}  // namespace

TEST_CASE("PReLU passes positives and scales the rest by its slope", "[nn][prelu]") {
  dare::nn::PReLU<double> act(3);
  CHECK(act.num_slopes() == 1);
  CHECK(act.slope().value(0, 0) == 0.1);
  CHECK_FALSE(act.slope().decay);
  Matrix x(3, 1);
  x << 2, -3, 0;
  Matrix y;
  act.forward(x, y);
  CHECK(y(0, 0) == 2);
  CHECK(y(1, 0) == Approx(-0.3));
  CHECK(y(2, 0) == 0);

  // torch's convention at 0: the input gradient takes the negative branch (a·dy), and the
  // slope gradient gets x·dy = 0 there.
  Matrix dy = Matrix::Ones(3, 1);
  Matrix dx;
  act.backward(dy, &dx);
  CHECK(dx(0, 0) == 1);
  CHECK(dx(1, 0) == 0.1);
  CHECK(dx(2, 0) == 0.1);
  CHECK(act.slope().grad(0, 0) == -3);
}

TEST_CASE("PReLU backward matches finite differences, shared and per-channel slopes", "[nn][prelu]") {
  std::mt19937_64 rng(7);
  const dare::Index features = 4;
  for (dare::Index slopes : {dare::Index(1), features}) {
    INFO("slopes: " << slopes);
    dare::nn::PReLU<double> act(features, slopes, 0.2, "act");
    if (slopes > 1) act.slope().value << 0.1, 0.2, -0.3, 0.4;
    Matrix x = away_from_zero(rng, features, 6);
    const Matrix c = away_from_zero(rng, features, 6);
    auto loss = [&] {
      Matrix y;
      act.forward(x, y);
      return (y.array() * c.array()).sum();
    };
    Matrix y, dx;
    act.forward(x, y);
    act.backward(c, &dx);
    CHECK(dare_test::relative_error(dx.data(), dare_test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
    auto& a = act.slope();
    CHECK(dare_test::relative_error(a.grad.data(), dare_test::numeric_gradient(a.value.data(), a.value.size(), loss)) < 1e-6);

    // In place: dx written over the incoming gradient.
    Matrix g = c;
    act.backward(g, &g);
    CHECK(g == dx);
  }
}

TEST_CASE("PReLU takes one slope or one per feature", "[nn][prelu]") {
  CHECK_THROWS_WITH(dare::nn::PReLU<float>(8, 3), Catch::Contains("num_slopes") && Catch::Contains("8"));
  CHECK_THROWS_AS(dare::nn::PReLU<float>(0), std::invalid_argument);
  dare::nn::PReLU<float> act(8);
  dare::nn::Matrix<float> x = dare::nn::Matrix<float>::Zero(7, 2), y;
  CHECK_THROWS_AS(act.forward(x, y), std::invalid_argument);
}
