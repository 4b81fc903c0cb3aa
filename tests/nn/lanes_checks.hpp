// The element-wise loops of the PReLU, BatchNorm and Linear layers (which run on SIMD lanes,
// core/lanes.hpp) against the same expressions one element at a time, bit for bit: shared by
// the default build's tests (tests/nn/lanes_test.cpp) and the ISA-specific binaries
// (tests/arch/nn_lanes_arch_test.cpp), where xsimd's default architecture is AVX2 or
// AVX-512. Feature counts sit around every lane count, and the inputs hold ±0, ±inf, NaN and
// subnormals. Each check returns "" or what differed.
//
// Bit for bit where an expression has no multiply feeding an add (selects, copies, sums, one
// product). Where it has, GCC may contract the two into one FMA (its default
// -ffp-contract=fast) in one form and not in the other, in the library or in the reference
// loops here, so those results are compared to within 16 ulp of the terms' magnitude; the
// library's own scalar and lane forms were checked to train the model zoo to the same bits
// on an AVX-512 build.
#pragma once

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "dare/nn/batch_norm.hpp"
#include "dare/nn/linear.hpp"
#include "dare/nn/prelu.hpp"

namespace dare_test {

inline const std::vector<dare::Index>& lane_feature_counts() {
  static const std::vector<dare::Index> counts = {1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 64, 80, 200};
  return counts;
}

/// The row ranges a caller splitting rows over threads may pass: all rows, and an inner part.
inline std::vector<std::pair<dare::Index, dare::Index>> row_ranges(dare::Index features) {
  return {{0, features}, {features / 3, features - features / 4}};
}

/// Equal bits, or both NaN.
template <class Scalar>
bool same_value_bits(Scalar a, Scalar b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof(Scalar)) == 0;
}

/// Where two equally shaped matrices differ ("" if nowhere): in any bit, or, given the terms'
/// magnitudes, by more than 16 ulp of them.
template <class Scalar>
std::string first_difference(const dare::nn::Matrix<Scalar>& got, const dare::nn::Matrix<Scalar>& want,
                             const std::string& what, const dare::nn::Matrix<Scalar>* magnitude = nullptr) {
  if (got.rows() != want.rows() || got.cols() != want.cols()) return what + ": shapes differ";
  const Scalar ulp = std::numeric_limits<Scalar>::epsilon();
  for (dare::Index j = 0; j < got.cols(); ++j) {
    for (dare::Index i = 0; i < got.rows(); ++i) {
      const bool close = magnitude != nullptr && std::abs(got(i, j) - want(i, j)) <= 16 * ulp * (*magnitude)(i, j);
      if (!same_value_bits(got(i, j), want(i, j)) && !close) {
        std::ostringstream os;
        os.precision(17);
        os << what << " (" << got.rows() << " features): (" << i << ", " << j << ") is " << got(i, j) << ", want "
           << want(i, j) << "; ";
        return os.str();
      }
    }
  }
  return "";
}

/// Normal draws, with ±0, ±inf, NaN and ± the smallest subnormal mixed in when `special`.
template <class Scalar>
dare::nn::Matrix<Scalar> lanes_input(std::mt19937_64& rng, dare::Index rows, dare::Index cols, bool special) {
  std::normal_distribution<double> normal;
  dare::nn::Matrix<Scalar> m(rows, cols);
  for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(normal(rng));
  if (special) {
    const Scalar values[] = {Scalar(0), -Scalar(0), std::numeric_limits<Scalar>::infinity(),
                             -std::numeric_limits<Scalar>::infinity(), std::numeric_limits<Scalar>::quiet_NaN(),
                             std::numeric_limits<Scalar>::denorm_min(), -std::numeric_limits<Scalar>::denorm_min()};
    for (dare::Index i = 0; i < m.size(); i += 5) m.data()[i] = values[(i / 5) % 7];
  }
  return m;
}

/// PReLU with a shared slope and with one per row: forward (into another matrix and in
/// place), the input gradient and the slope gradient's row sums over whole and partial row
/// ranges, against `x > 0 ? x : a·x`, `x > 0 ? dy : a·dy` and Σ (x <= 0 ? x·dy : 0).
template <class Scalar>
std::string check_prelu_lanes() {
  using Matrix = dare::nn::Matrix<Scalar>;
  std::mt19937_64 rng(11);
  std::string out;
  for (const dare::Index features : lane_feature_counts()) {
    for (const bool per_row : {false, true}) {
      const dare::Index cols = 6;
      dare::nn::PReLU<Scalar> act(features, per_row ? features : 1);
      act.slope().value = lanes_input<Scalar>(rng, act.num_slopes(), 1, false);
      const Scalar* a = act.slope().value.data();
      const auto slope = [&](dare::Index i) { return per_row ? a[i] : a[0]; };
      const Matrix x = lanes_input<Scalar>(rng, features, cols, true);
      const Matrix dy = lanes_input<Scalar>(rng, features, cols, true);
      Matrix want_y(features, cols), want_dx(features, cols);
      for (dare::Index j = 0; j < cols; ++j) {
        for (dare::Index i = 0; i < features; ++i) {
          want_y(i, j) = x(i, j) > 0 ? x(i, j) : slope(i) * x(i, j);
          want_dx(i, j) = x(i, j) > 0 ? dy(i, j) : slope(i) * dy(i, j);
        }
      }
      const std::string shape = per_row ? "per-row slopes" : "shared slope";
      Matrix y(features, cols), dx(features, cols);
      act.forward_cols(x, y, 0, cols);
      out += first_difference(y, want_y, "PReLU forward, " + shape);
      Matrix in_place = x;
      act.forward_cols(in_place, in_place, 2, 3);  // columns 2..4 only
      Matrix want_in_place = x;
      want_in_place.middleCols(2, 3) = want_y.middleCols(2, 3);
      out += first_difference(in_place, want_in_place, "PReLU forward in place, " + shape);
      act.input_grad_cols(x, dy, dx, 0, cols);
      out += first_difference(dx, want_dx, "PReLU input gradient, " + shape);
      for (const auto& [r0, r1] : row_ranges(features)) {
        Matrix sums(r1 - r0, 1), want(r1 - r0, 1), magnitude(r1 - r0, 1);
        want.setZero();
        magnitude.setZero();
        for (dare::Index j = 0; j < cols; ++j) {
          for (dare::Index i = r0; i < r1; ++i) {
            const Scalar term = x(i, j) <= 0 ? x(i, j) * dy(i, j) : Scalar(0);
            want(i - r0, 0) += term;
            magnitude(i - r0, 0) += std::abs(term);
          }
        }
        act.slope_grad_rows(x, dy, r0, r1, sums.data());
        out += first_difference(sums, want, "PReLU slope sums, " + shape, &magnitude);
      }
    }
  }
  return out;
}

/// BatchNorm in training mode (batch statistics: the running update, the normalisation, the
/// backward's sums, parameter gradients and input gradient) and in inference mode (running
/// statistics), against the expressions of the header's formulas one element at a time.
template <class Scalar>
std::string check_batch_norm_lanes() {
  using Matrix = dare::nn::Matrix<Scalar>;
  std::mt19937_64 rng(12);
  std::string out;
  for (const dare::Index features : lane_feature_counts()) {
    const dare::Index cols = 7;
    dare::nn::BatchNorm1d<Scalar> bn(features);
    bn.gamma().value = lanes_input<Scalar>(rng, features, 1, false);
    bn.beta().value = lanes_input<Scalar>(rng, features, 1, false);
    const Matrix x = lanes_input<Scalar>(rng, features, cols, false);
    const Matrix dy = lanes_input<Scalar>(rng, features, cols, false);
    const Scalar* gamma = bn.gamma().value.data();
    const Scalar* beta = bn.beta().value.data();
    const Scalar eps = static_cast<Scalar>(bn.eps());
    const Scalar inv_batch = Scalar(1) / static_cast<Scalar>(cols);

    // Training: batch statistics.
    std::vector<Scalar> mean(static_cast<std::size_t>(features), 0), var(mean), inv_std(mean);
    for (dare::Index j = 0; j < cols; ++j) {
      for (dare::Index i = 0; i < features; ++i) mean[i] += x(i, j);
    }
    for (auto& m : mean) m *= inv_batch;
    for (dare::Index j = 0; j < cols; ++j) {
      for (dare::Index i = 0; i < features; ++i) {
        const Scalar d = x(i, j) - mean[i];
        var[i] += d * d;
      }
    }
    for (dare::Index i = 0; i < features; ++i) {
      var[i] *= inv_batch;
      inv_std[i] = Scalar(1) / std::sqrt(var[i] + eps);
    }
    Matrix xhat(features, cols), want_y(features, cols), y_magnitude(features, cols);
    for (dare::Index j = 0; j < cols; ++j) {
      for (dare::Index i = 0; i < features; ++i) {
        xhat(i, j) = (x(i, j) - mean[i]) * inv_std[i];
        want_y(i, j) = xhat(i, j) * gamma[i] + beta[i];
        y_magnitude(i, j) = std::abs(xhat(i, j) * gamma[i]) + std::abs(beta[i]);
      }
    }
    // In pieces, as Mlp splits them over threads: the sums by two row ranges, the rest by two
    // column ranges.
    const dare::Index split = features / 3;
    Matrix y(features, cols);
    if (bn.begin_forward(x)) {
      bn.statistics_rows(x, 0, split);
      bn.statistics_rows(x, split, features);
      bn.end_statistics(cols);
    }
    bn.normalize_cols(x, y, 0, 2);
    bn.normalize_cols(x, y, 2, cols - 2);
    out += first_difference(y, want_y, "BatchNorm training forward", &y_magnitude);

    std::vector<Scalar> sum(static_cast<std::size_t>(features), 0), sum_xhat(sum), sum_xhat_magnitude(sum);
    for (dare::Index j = 0; j < cols; ++j) {
      for (dare::Index i = 0; i < features; ++i) {
        sum[i] += dy(i, j);
        sum_xhat[i] += dy(i, j) * xhat(i, j);
        sum_xhat_magnitude[i] += std::abs(dy(i, j) * xhat(i, j));
      }
    }
    Matrix want_dgamma(features, 1), want_dbeta(features, 1), dgamma_magnitude(features, 1);
    for (dare::Index i = 0; i < features; ++i) {
      want_dgamma(i, 0) = Scalar(0) + sum_xhat[i];
      want_dbeta(i, 0) = Scalar(0) + sum[i];
      dgamma_magnitude(i, 0) = sum_xhat_magnitude[i];
    }
    Matrix want_dx(features, cols), dx_magnitude(features, cols);
    for (dare::Index j = 0; j < cols; ++j) {
      for (dare::Index i = 0; i < features; ++i) {
        const Scalar scale = gamma[i] * inv_std[i];
        const Scalar mean_dy = sum[i] * inv_batch, mean_dy_xhat = sum_xhat[i] * inv_batch;
        want_dx(i, j) = (dy(i, j) - mean_dy - xhat(i, j) * mean_dy_xhat) * scale;
        dx_magnitude(i, j) = (std::abs(dy(i, j)) + std::abs(mean_dy) + std::abs(xhat(i, j)) * sum_xhat_magnitude[i]) *
                             std::abs(scale);
      }
    }
    bn.gamma().grad.setZero();
    bn.beta().grad.setZero();
    Matrix dx(features, cols);
    bn.begin_backward(dy);
    bn.backward_sums_rows(dy, 0, split);
    bn.backward_sums_rows(dy, split, features);
    bn.input_grad_cols(dy, dx, 0, 3);
    bn.input_grad_cols(dy, dx, 3, cols - 3);
    out += first_difference(bn.gamma().grad, want_dgamma, "BatchNorm dgamma", &dgamma_magnitude);
    out += first_difference(bn.beta().grad, want_dbeta, "BatchNorm dbeta");
    out += first_difference(dx, want_dx, "BatchNorm training input gradient", &dx_magnitude);

    // Inference, whole calls: the running statistics (moved by the forward above).
    bn.set_training(false);
    const Scalar* running_mean = bn.running_mean().value.data();
    const Scalar* running_var = bn.running_var().value.data();
    Matrix want_infer(features, cols), want_infer_dx(features, cols), infer_magnitude(features, cols);
    for (dare::Index j = 0; j < cols; ++j) {
      for (dare::Index i = 0; i < features; ++i) {
        const Scalar r_inv_std = Scalar(1) / std::sqrt(running_var[i] + eps);
        const Scalar h = (x(i, j) - running_mean[i]) * r_inv_std;
        want_infer(i, j) = h * gamma[i] + beta[i];
        infer_magnitude(i, j) = std::abs(h * gamma[i]) + std::abs(beta[i]);
        want_infer_dx(i, j) = dy(i, j) * (gamma[i] * r_inv_std);
      }
    }
    Matrix inferred;
    bn.infer(x, inferred);
    out += first_difference(inferred, want_infer, "BatchNorm infer", &infer_magnitude);
    bn.forward(x, y);
    out += first_difference(y, want_infer, "BatchNorm inference-mode forward", &infer_magnitude);
    bn.backward(dy, &dx);
    out += first_difference(dx, want_infer_dx, "BatchNorm inference-mode input gradient");
  }
  return out;
}

/// Linear's bias: written into every column before the product is added (forward_cols), and
/// its gradient's row sums over whole and partial row ranges.
template <class Scalar>
std::string check_linear_bias_lanes() {
  using Matrix = dare::nn::Matrix<Scalar>;
  std::mt19937_64 rng(13);
  std::string out;
  for (const dare::Index features : lane_feature_counts()) {
    const dare::Index in = 5, cols = 6;
    dare::nn::Linear<Scalar> layer(in, features);
    layer.init_normal(Scalar(0.5), 3);
    layer.bias().value = lanes_input<Scalar>(rng, features, 1, false);
    const Matrix x = lanes_input<Scalar>(rng, in, cols, false);
    Matrix want_y(features, cols);
    want_y.colwise() = layer.bias().value.col(0);
    want_y.noalias() += layer.weight().value * x;
    Matrix y(features, cols);
    y.setConstant(Scalar(99));
    layer.forward_cols(x, y, 0, cols);
    out += first_difference(y, want_y, "Linear forward");

    const Matrix dy = lanes_input<Scalar>(rng, features, cols, true);
    for (const auto& [r0, r1] : row_ranges(features)) {
      const Matrix start = lanes_input<Scalar>(rng, features, 1, false);
      Matrix want = start;
      for (dare::Index j = 0; j < cols; ++j) {
        for (dare::Index i = r0; i < r1; ++i) want(i, 0) += dy(i, j);
      }
      layer.bias().grad = start;
      layer.bias_grad_rows(dy, r0, r1);
      out += first_difference(layer.bias().grad, want, "Linear bias gradient");
    }
  }
  return out;
}

}  // namespace dare_test
