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
#include "dare/core/lanes.hpp"
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

// Blocks of a product's non-summed dimension, one per thread (see the design note). They are
// cut at multiples of kBlockAlign, so a block never takes another kernel path than the whole
// product, and each has at least kMinBlockWork multiply-adds: a thread costs tens of
// microseconds to start.
inline constexpr Index kBlockAlign = 16;
inline constexpr Index kMinBlockWork = Index{1} << 18;

/// How many blocks a dimension of n, each unit of which costs `unit_work` multiply-adds,
/// splits into for `threads` threads: one per thread, fewer when the work is small.
inline int column_blocks(Index n, Index unit_work, int threads) noexcept {
  const Index by_size = n / kBlockAlign;
  const Index by_work = n * unit_work / kMinBlockWork;
  return static_cast<int>(std::clamp<Index>(std::min(by_size, by_work), 1, std::max(threads, 1)));
}

/// The part-th of `parts` blocks of [0, n): {first, size}, boundaries at multiples of
/// kBlockAlign (the last block takes the rest).
inline std::pair<Index, Index> block_range(Index n, int parts, Index part) noexcept {
  const auto edge = [&](Index p) { return p == parts ? n : (n * p / parts) / kBlockAlign * kBlockAlign; };
  return {edge(part), edge(part + 1) - edge(part)};
}

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
    const int parts = column_blocks(x_.cols(), in() * out(), threads_);
    parallel_for(pool_, parts, parts, [&](int, Index part, Index) {
      const auto [c0, n] = block_range(x_.cols(), parts, part);
      forward_cols(x_, y, c0, n);
    });
  }

  /// Accumulates dW += dy xᵀ and db += Σ_columns dy for the last forward input; if `dx` is
  /// not nullptr, writes dx = Wᵀ dy (it may be the same matrix as dy).
  void backward(const Matrix& dy, Matrix* dx) {
    DARE_CHECK_ARG(dy.rows() == out() && dy.cols() == x_.cols(), "Linear '", name(),
                   "': gradient is ", dy.rows(), "x", dy.cols(), " but the last forward output was ",
                   out(), "x", x_.cols());
    bias_grad_rows(dy, 0, out());
    // Wᵀ dy cannot be written over dy in place; GEMM needs a distinct destination.
    Matrix* grad_x = dx == &dy ? &dx_tmp_ : dx;
    if (grad_x != nullptr) grad_x->resize(in(), dy.cols());
    const int w_parts = column_blocks(in(), out() * dy.cols(), threads_);
    const int x_parts = grad_x != nullptr ? column_blocks(dy.cols(), in() * out(), threads_) : 0;
    const int parts = std::max(w_parts, x_parts);
    parallel_for(pool_, parts, parts, [&](int, Index part, Index) {
      if (part < w_parts) {
        const auto [r0, n] = block_range(in(), w_parts, part);
        weight_grad_cols(dy, x_, r0, n);
      }
      if (part < x_parts) {
        const auto [c0, n] = block_range(dy.cols(), x_parts, part);
        input_grad_cols(dy, *grad_x, c0, n);
      }
    });
    if (dx == &dy) dx->swap(dx_tmp_);
  }

  // ---- the products in pieces: forward and backward above split them over threads, and so
  // does Mlp, which keeps the layers' inputs itself and fuses the layers of a column block.

  /// Columns [c0, c0 + n) of y = W x + b (y sized out() x B by the caller).
  void forward_cols(const Matrix& x, Matrix& y, Index c0, Index n) const {
    // The bias first and the product added to it: one pass over y, where assigning the
    // product would zero y first and adding the bias would be another. The copy runs on
    // lanes: std::copy called memmove once per column (4% of a serving call).
    const Scalar* bias = bias_.value.data();
    for (Index j = c0; j < c0 + n; ++j) ::dare::detail::copy_lanes(y.col(j).data(), bias, out());
    y.middleCols(c0, n).noalias() += weight_.value * x.middleCols(c0, n);
  }
  /// Columns [r0, r0 + n) of dW += dy xᵀ, for the layer's input x (in() x B): input features
  /// r0.. summed over the whole batch.
  void weight_grad_cols(const Matrix& dy, const Matrix& x, Index r0, Index n) {
    weight_.grad.middleCols(r0, n).noalias() += dy * x.middleRows(r0, n).transpose();
  }
  /// Columns [c0, c0 + n) of dx = Wᵀ dy (dx sized in() x B by the caller, not dy).
  void input_grad_cols(const Matrix& dy, Matrix& dx, Index c0, Index n) const {
    dx.middleCols(c0, n).noalias() = weight_.value.transpose() * dy.middleCols(c0, n);
  }
  /// Rows [r0, r1) of db += Σ_columns dy, each row summed over the columns in order (so the
  /// bits do not depend on how the rows are split).
  void bias_grad_rows(const Matrix& dy, Index r0, Index r1) {
    Scalar* db = bias_.grad.data() + r0;
    for (Index j = 0; j < dy.cols(); ++j) {
      const Scalar* g = dy.col(j).data() + r0;
      ::dare::detail::add_lanes(db, g, r1 - r0);
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
  int threads_ = 1;
  WorkerPool* pool_ = nullptr;  // not owned
  Parameter<Scalar> weight_;
  Parameter<Scalar> bias_;
  Matrix x_;       // input of the last forward
  Matrix dx_tmp_;  // only for backward(dy, &dy)
};

}  // namespace dare::nn
