// dare/nn/linear.hpp — fully connected layer y = W x + b over a batch of columns.
//
// Design. Features are rows and the batch is columns (column-major), so the forward pass is
// one GEMM W (out x in) · X (in x B) and the weight gradient is dY · Xᵀ. The layer keeps a
// copy of its input for the backward pass in a member matrix that is only reallocated when
// the batch size changes; the copy is taken before y is written, so x and y may be the same
// matrix. Gradients accumulate (+=) like PyTorch's, and the caller zeroes them.
//
// Initialisation follows the reference settings: weights N(0, σ), biases 0. The normal draws
// come from std::mt19937_64 (whose output the standard fixes) through Box–Muller, not from
// std::normal_distribution (whose algorithm differs between standard libraries), so a seed
// gives the same weights everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/nn/parameter.hpp"

namespace dare::nn {

namespace detail {

/// Fills `m` with N(0, sigma) draws, deterministically for a given seed on every platform.
template <class Scalar>
void fill_normal(Matrix<Scalar>& m, double sigma, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  constexpr double kInv2Pow53 = 1.0 / 9007199254740992.0;
  const Index n = m.size();
  Scalar* out = m.data();
  for (Index i = 0; i < n; i += 2) {
    const double u1 = static_cast<double>((gen() >> 11) + 1) * kInv2Pow53;  // (0, 1]: log is finite
    const double u2 = static_cast<double>(gen() >> 11) * kInv2Pow53;        // [0, 1)
    const double radius = sigma * std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<Scalar>(radius * std::cos(kTwoPi * u2));
    if (i + 1 < n) out[i + 1] = static_cast<Scalar>(radius * std::sin(kTwoPi * u2));
  }
}

}  // namespace detail

/// Fully connected layer with bias, batch as columns.
template <class Scalar>
class Linear {
 public:
  using Matrix = nn::Matrix<Scalar>;

  /// Standard deviation of the initial weights in the reference settings.
  static constexpr double kDefaultSigma = 0.01;

  /// An `in` → `out` layer whose weights start N(0, 0.01) with seed 0 and biases 0; call
  /// init_normal to choose the seed. Parameters are named "<name>.weight" and "<name>.bias".
  Linear(Index in, Index out, const std::string& name = "linear")
      : name_(name),
        weight_(name + ".weight", checked(out, "out", name), checked(in, "in", name), true),
        bias_(name + ".bias", out, 1, false) {
    init_normal(static_cast<Scalar>(kDefaultSigma), 0);
  }

  Index in() const noexcept { return weight_.value.cols(); }
  Index out() const noexcept { return weight_.value.rows(); }
  const std::string& name() const noexcept { return name_; }

  /// Weights N(0, sigma) drawn deterministically from `seed`; biases zero.
  void init_normal(Scalar sigma, std::uint64_t seed) {
    DARE_CHECK_ARG(sigma >= 0, "Linear '", name(), "': init sigma must be >= 0, got ", sigma);
    detail::fill_normal(weight_.value, static_cast<double>(sigma), seed);
    bias_.value.setZero();
  }

  /// y = W x + b for x of shape in x B; keeps a copy of x for backward.
  void forward(const Matrix& x, Matrix& y) {
    DARE_CHECK_ARG(x.rows() == in(), "Linear '", name(), "': input has ", x.rows(),
                   " rows but the layer takes ", in());
    x_ = x;
    y.noalias() = weight_.value * x_;
    y.colwise() += bias_.value.col(0);
  }

  /// Accumulates dW += dy xᵀ and db += Σ_columns dy for the last forward input; if `dx` is
  /// not nullptr, writes dx = Wᵀ dy (it may be the same matrix as dy).
  void backward(const Matrix& dy, Matrix* dx) {
    DARE_CHECK_ARG(dy.rows() == out() && dy.cols() == x_.cols(), "Linear '", name(),
                   "': gradient is ", dy.rows(), "x", dy.cols(), " but the last forward output was ",
                   out(), "x", x_.cols());
    weight_.grad.noalias() += dy * x_.transpose();
    bias_.grad.col(0) += dy.rowwise().sum();
    if (dx != nullptr) {
      if (dx == &dy) {
        // Wᵀ dy cannot be written over dy in place; GEMM needs a distinct destination.
        dx_tmp_.noalias() = weight_.value.transpose() * dy;
        dx->swap(dx_tmp_);
      } else {
        dx->noalias() = weight_.value.transpose() * dy;
      }
    }
  }

  Parameter<Scalar>& weight() noexcept { return weight_; }
  Parameter<Scalar>& bias() noexcept { return bias_; }
  const Parameter<Scalar>& weight() const noexcept { return weight_; }
  const Parameter<Scalar>& bias() const noexcept { return bias_; }

  /// {weight, bias}; the pointers stay valid while the layer lives and is not moved.
  std::vector<Parameter<Scalar>*> parameters() { return {&weight_, &bias_}; }

 private:
  static Index checked(Index n, const char* what, const std::string& name) {
    DARE_CHECK_ARG(n > 0, "Linear '", name, "': ", what, " size must be positive, got ", n);
    return n;
  }

  std::string name_;
  Parameter<Scalar> weight_;
  Parameter<Scalar> bias_;
  Matrix x_;       // input of the last forward
  Matrix dx_tmp_;  // only for backward(dy, &dy)
};

}  // namespace dare::nn
