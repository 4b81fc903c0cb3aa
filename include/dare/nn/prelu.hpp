// dare/nn/prelu.hpp — parametric ReLU, y = x for x > 0 and a·x otherwise.
//
// Design. As torch.nn.PReLU(num_parameters, init): either one slope shared by all features
// (the reference uses PReLU(num_parameters=1, init=0.1) everywhere) or one per feature row.
// The slope's gradient is Σ x·dy over the non-positive inputs, the input's gradient dy or
// a·dy, both with torch's convention at x = 0 (the negative branch). The input copy for
// backward lives in a member matrix reused across calls of the same batch size. The loops run
// on SIMD lanes (core/lanes.hpp): a select per lane, the scalar form's bits (the slope's
// sums up to the compiler's FMA contraction).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/lanes.hpp"
#include "dare/nn/parameter.hpp"

namespace dare::nn {

/// Parametric ReLU over `features` rows with one shared slope or one slope per row.
template <class Scalar>
class PReLU {
 public:
  using Matrix = nn::Matrix<Scalar>;

  /// The reference's initial slope.
  static constexpr double kDefaultInit = 0.1;

  /// `num_slopes` is 1 (shared) or `features` (per row); the slope parameter is named
  /// "<name>.weight" and is not weight-decayed.
  explicit PReLU(Index features, Index num_slopes = 1, Scalar init = Scalar(kDefaultInit),
                 const std::string& name = "prelu")
      : name_(name), features_(features), slope_(name + ".weight", checked_slopes(features, num_slopes, name), 1, false) {
    slope_.value.setConstant(init);
  }

  Index features() const noexcept { return features_; }
  Index num_slopes() const noexcept { return slope_.value.rows(); }
  const std::string& name() const noexcept { return name_; }

  /// y = prelu(x) for x of shape features x B (y may be x); keeps a copy of x for backward.
  void forward(const Matrix& x, Matrix& y) {
    DARE_CHECK_ARG(x.rows() == features_, "PReLU '", name_, "': input has ", x.rows(),
                   " rows but the layer has ", features_, " features");
    x_ = x;
    y.resize(x_.rows(), x_.cols());
    forward_cols(x_, y, 0, x_.cols());
  }

  /// Accumulates the slope gradient for the last forward input; if `dx` is not nullptr,
  /// writes dx = dL/dx (it may be the same matrix as dy).
  void backward(const Matrix& dy, Matrix* dx) {
    DARE_CHECK_ARG(dy.rows() == features_ && dy.cols() == x_.cols(), "PReLU '", name_,
                   "': gradient is ", dy.rows(), "x", dy.cols(), " but the last forward output was ",
                   features_, "x", x_.cols());
    row_sums_.resize(static_cast<std::size_t>(features_));
    slope_grad_rows(x_, dy, 0, features_, row_sums_.data());
    add_slope_grad(row_sums_.data());
    if (dx == nullptr) return;
    if (dx != &dy) dx->resize(dy.rows(), dy.cols());
    input_grad_cols(x_, dy, *dx, 0, dy.cols());
  }

  // ---- in pieces, for callers that keep the input themselves and split the work over
  // threads (Mlp): columns for the elementwise parts, rows for the slope's sums.

  /// Columns [c0, c0 + n) of y = prelu(x) (y sized by the caller; it may be x).
  void forward_cols(const Matrix& x, Matrix& y, Index c0, Index n) const { by_sign(x, x, y, c0, n); }
  /// Columns [c0, c0 + n) of dx = dL/dx for the input x and the output gradient dy (dx sized
  /// by the caller; it may be dy).
  void input_grad_cols(const Matrix& x, const Matrix& dy, Matrix& dx, Index c0, Index n) const {
    by_sign(x, dy, dx, c0, n);
  }
  /// sums[i - r0] = Σ_columns x·dy over the non-positive inputs of row i, for rows [r0, r1),
  /// each summed over the columns in order (the bits do not depend on how rows are split).
  void slope_grad_rows(const Matrix& x, const Matrix& dy, Index r0, Index r1, Scalar* sums) const {
    std::fill(sums, sums + (r1 - r0), Scalar(0));
    for (Index j = 0; j < x.cols(); ++j) {
      const Scalar* xc = x.col(j).data() + r0;
      const Scalar* gc = dy.col(j).data() + r0;
      ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(r1 - r0, [&](auto lanes, Index i) {
        using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
        using T = typename decltype(lanes)::type;
        const T v = load_lanes(lanes, xc + i);
        const T product = v * load_lanes(lanes, gc + i);
        store_lanes(load_lanes(lanes, sums + i) + ::dare::detail::lane_select(v <= T(0), product, T(0)), sums + i);
      });
    }
  }
  /// Adds every row's sum (features() of them, from slope_grad_rows) to the slope gradient:
  /// to its own slope, or all to the shared one in row order.
  void add_slope_grad(const Scalar* sums) {
    Scalar* da = slope_.grad.data();
    if (num_slopes() == 1) {
      Scalar total = 0;
      for (Index i = 0; i < features_; ++i) total += sums[i];
      da[0] += total;
    } else {
      for (Index i = 0; i < features_; ++i) da[i] += sums[i];
    }
  }

  Parameter<Scalar>& slope() noexcept { return slope_; }
  const Parameter<Scalar>& slope() const noexcept { return slope_; }

  /// {slope}; the pointer stays valid while the layer lives and is not moved.
  std::vector<Parameter<Scalar>*> parameters() { return {&slope_}; }

 private:
  // Columns [c0, c0 + n) of out = (x > 0 ? t : a·t): the forward with t = x, the input
  // gradient with t = dy. out may be x or t.
  void by_sign(const Matrix& x, const Matrix& t, Matrix& out, Index c0, Index n) const {
    with_slopes([&](auto slope_of) {
      for (Index j = c0; j < c0 + n; ++j) {
        const Scalar* xc = x.col(j).data();
        const Scalar* tc = t.col(j).data();
        Scalar* oc = out.col(j).data();
        ::dare::detail::for_each_lane<xsimd::default_arch, Scalar>(features_, [&](auto lanes, Index i) {
          using ::dare::detail::load_lanes, ::dare::detail::store_lanes;
          using T = typename decltype(lanes)::type;
          const T v = load_lanes(lanes, tc + i);
          store_lanes(::dare::detail::lane_select(load_lanes(lanes, xc + i) > T(0), v, slope_of(lanes, i) * v), oc + i);
        });
      }
    });
  }

  // Calls run(slope_of), where slope_of(lanes, i) is the slope of rows i.. as a lane: the
  // shared slope broadcast, or the rows' own slopes loaded.
  template <class Run>
  void with_slopes(Run&& run) const {
    const Scalar* a = slope_.value.data();
    if (num_slopes() == 1) {
      const Scalar shared = a[0];
      run([shared](auto lanes, Index) { return typename decltype(lanes)::type(shared); });
    } else {
      run([a](auto lanes, Index i) { return ::dare::detail::load_lanes(lanes, a + i); });
    }
  }

  static Index checked_slopes(Index features, Index num_slopes, const std::string& name) {
    DARE_CHECK_ARG(features > 0, "PReLU '", name, "': features must be positive, got ", features);
    DARE_CHECK_ARG(num_slopes == 1 || num_slopes == features, "PReLU '", name,
                   "': num_slopes must be 1 or features (", features, "), got ", num_slopes);
    return num_slopes;
  }

  std::string name_;
  Index features_;
  Parameter<Scalar> slope_;
  Matrix x_;                     // input of the last forward
  std::vector<Scalar> row_sums_;  // backward's per-row slope sums
};

}  // namespace dare::nn
