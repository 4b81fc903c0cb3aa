// dare/nn/linear.hpp — fully connected layer y = W x + b over a batch of columns.
//
// Design. Features are rows and the batch is columns (column-major), so the forward pass is
// one GEMM W (out x in) · X (in x B) and the weight gradient is dY · Xᵀ. The layer keeps a
// copy of its input for the backward pass in a member matrix that is only reallocated when
// the batch size changes; the copy is taken before y is written, so x and y may be the same
// matrix. Gradients accumulate (+=) like PyTorch's, and the caller zeroes them.
//
// Threads (set_threads). Eigen runs a GEMM on one thread unless OpenMP is on, which dare
// avoids (its idle threads spin on the cores the workers need). So the layer splits its
// products itself, into one block per worker, along a dimension that is not summed over:
// W X and Wᵀ dY by batch columns, dY Xᵀ by the columns of dW (input features). Each output
// element is then still one dot product over the whole summed dimension, and with Eigen 3.4
// the blocks, cut at multiples of 16, run the same kernel paths as the whole product (its
// micro-kernels group columns by 4 and keep the rows' grouping): the bits are the same for
// any thread count, which tests/nn/linear_test.cpp checks.
//
// Initialisation follows the reference settings: weights N(0, σ), biases 0. The normal draws
// come from std::mt19937_64 (whose output the standard fixes) through Box–Muller, not from
// std::normal_distribution (whose algorithm differs between standard libraries), so a seed
// gives the same weights everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/parallel.hpp"
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

  /// Worker threads for the layer's products (default 1), taken from `pool` when given (it
  /// must outlive the layer's use; see core/parallel.hpp), else started per product. Results
  /// do not depend on either.
  void set_threads(int threads, WorkerPool* pool = nullptr) {
    DARE_CHECK_ARG(threads >= 1, "Linear '", name(), "': threads must be at least 1, got ", threads);
    threads_ = threads;
    pool_ = pool;
  }
  int threads() const noexcept { return threads_; }

  /// y = W x + b for x of shape in x B; keeps a copy of x for backward.
  void forward(const Matrix& x, Matrix& y) {
    DARE_CHECK_ARG(x.rows() == in(), "Linear '", name(), "': input has ", x.rows(),
                   " rows but the layer takes ", in());
    x_ = x;
    y.resize(out(), x_.cols());
    const int parts = blocks(x_.cols(), in() * out());
    parallel_for(pool_, parts, parts, [&](int, Index part, Index) {
      const auto [c0, n] = block(x_.cols(), parts, part);
      y.middleCols(c0, n).noalias() = weight_.value * x_.middleCols(c0, n);
      y.middleCols(c0, n).colwise() += bias_.value.col(0);
    });
  }

  /// Accumulates dW += dy xᵀ and db += Σ_columns dy for the last forward input; if `dx` is
  /// not nullptr, writes dx = Wᵀ dy (it may be the same matrix as dy).
  void backward(const Matrix& dy, Matrix* dx) {
    DARE_CHECK_ARG(dy.rows() == out() && dy.cols() == x_.cols(), "Linear '", name(),
                   "': gradient is ", dy.rows(), "x", dy.cols(), " but the last forward output was ",
                   out(), "x", x_.cols());
    bias_.grad.col(0) += dy.rowwise().sum();
    // Wᵀ dy cannot be written over dy in place; GEMM needs a distinct destination.
    Matrix* grad_x = dx == &dy ? &dx_tmp_ : dx;
    if (grad_x != nullptr) grad_x->resize(in(), dy.cols());
    const int w_parts = blocks(in(), out() * dy.cols());
    const int x_parts = grad_x != nullptr ? blocks(dy.cols(), in() * out()) : 0;
    const int parts = std::max(w_parts, x_parts);
    parallel_for(pool_, parts, parts, [&](int, Index part, Index) {
      if (part < w_parts) {
        const auto [r0, n] = block(in(), w_parts, part);
        weight_.grad.middleCols(r0, n).noalias() += dy * x_.middleRows(r0, n).transpose();
      }
      if (part < x_parts) {
        const auto [c0, n] = block(dy.cols(), x_parts, part);
        grad_x->middleCols(c0, n).noalias() = weight_.value.transpose() * dy.middleCols(c0, n);
      }
    });
    if (dx == &dy) dx->swap(dx_tmp_);
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

  // Blocks are cut at multiples of kBlockAlign, so a block never takes another kernel path
  // than the whole product (see the design note), and each has at least kMinBlockWork
  // multiply-adds: a thread costs tens of microseconds to start.
  static constexpr Index kBlockAlign = 16;
  static constexpr Index kMinBlockWork = Index{1} << 18;

  /// How many blocks a dimension of n, each unit of which costs `unit_work` multiply-adds,
  /// splits into: one per thread, fewer when the work is small.
  int blocks(Index n, Index unit_work) const noexcept {
    const Index by_size = n / kBlockAlign;
    const Index by_work = n * unit_work / kMinBlockWork;
    return static_cast<int>(std::clamp<Index>(std::min(by_size, by_work), 1, threads_));
  }

  /// The part-th of `parts` blocks of [0, n): {first, size}, boundaries at multiples of
  /// kBlockAlign (the last block takes the rest).
  static std::pair<Index, Index> block(Index n, int parts, Index part) {
    const auto edge = [&](Index p) {
      return p == parts ? n : (n * p / parts) / kBlockAlign * kBlockAlign;
    };
    return {edge(part), edge(part + 1) - edge(part)};
  }

  std::string name_;
  int threads_ = 1;
  WorkerPool* pool_ = nullptr;  // not owned
  Parameter<Scalar> weight_;
  Parameter<Scalar> bias_;
  Matrix x_;       // input of the last forward
  Matrix dx_tmp_;  // only for backward(dy, &dy)
};

}  // namespace dare::nn
