// dare/nn/loss.hpp — softmax cross entropy over class logits, batch as columns.
//
// Design. The reference ends each head with Linear(·, 2) and a 2-class cross entropy; this
// handles any C >= 2. Per column j: lse_j = m_j + log Σ_c exp(l_cj − m_j) with m_j the
// column maximum (so no logit, however large, overflows), loss_j = lse_j − l_{y_j, j},
// p_cj = exp(l_cj − lse_j). The returned loss is the batch mean (accumulated in double),
// the gradient is its derivative (p − onehot(y)) / B, and p_1 — the probability of the
// positive class — is what metrics and serving consume. The loss is stateless: everything
// per column fits in registers, so nothing is cached between calls.
#pragma once

#include <cmath>
#include <cstdint>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/nn/parameter.hpp"

namespace dare::nn {

/// Mean softmax cross entropy of C x B logits against B integer labels in [0, C).
template <class Scalar>
class SoftmaxCrossEntropy {
 public:
  using Matrix = nn::Matrix<Scalar>;

  /// Mean loss; also writes dlogits = d(mean loss)/dlogits (resized to C x B) and, if
  /// `prob1` is not nullptr, the class-1 probability of each column (B values).
  Scalar forward_backward(const Matrix& logits, const int* labels, Matrix& dlogits,
                          Scalar* prob1 = nullptr) const {
    check(logits, labels);
    dlogits.resize(logits.rows(), logits.cols());
    const Scalar inv_batch = Scalar(1) / static_cast<Scalar>(logits.cols());
    double total = 0;
    for (Index j = 0; j < logits.cols(); ++j) {
      const Scalar lse = log_sum_exp(logits.col(j).data(), logits.rows());
      const int y = labels[j];
      total += static_cast<double>(lse - logits(y, j));
      for (Index c = 0; c < logits.rows(); ++c) {
        const Scalar p = std::exp(logits(c, j) - lse);
        dlogits(c, j) = (p - (c == y ? Scalar(1) : Scalar(0))) * inv_batch;
      }
      if (prob1 != nullptr) prob1[j] = std::exp(logits(1, j) - lse);
    }
    return static_cast<Scalar>(total / static_cast<double>(logits.cols()));
  }

  /// Mean loss without gradients (validation); `prob1` as in forward_backward.
  Scalar forward(const Matrix& logits, const int* labels, Scalar* prob1 = nullptr) const {
    check(logits, labels);
    double total = 0;
    for (Index j = 0; j < logits.cols(); ++j) {
      const Scalar lse = log_sum_exp(logits.col(j).data(), logits.rows());
      total += static_cast<double>(lse - logits(labels[j], j));
      if (prob1 != nullptr) prob1[j] = std::exp(logits(1, j) - lse);
    }
    return static_cast<Scalar>(total / static_cast<double>(logits.cols()));
  }

  /// Class-1 probability of each column (serving: no labels). logits must have C >= 2 rows.
  static void positive_probability(const Matrix& logits, Scalar* prob1) {
    DARE_CHECK_ARG(logits.rows() >= 2, "SoftmaxCrossEntropy: logits need at least 2 classes (rows), got ",
                   logits.rows());
    for (Index j = 0; j < logits.cols(); ++j) {
      prob1[j] = std::exp(logits(1, j) - log_sum_exp(logits.col(j).data(), logits.rows()));
    }
  }

 private:
  static Scalar log_sum_exp(const Scalar* l, Index n) noexcept {
    Scalar m = l[0];
    for (Index c = 1; c < n; ++c) m = l[c] > m ? l[c] : m;
    Scalar sum = 0;
    for (Index c = 0; c < n; ++c) sum += std::exp(l[c] - m);
    return m + std::log(sum);
  }

  static void check(const Matrix& logits, const int* labels) {
    DARE_CHECK_ARG(logits.rows() >= 2, "SoftmaxCrossEntropy: logits need at least 2 classes (rows), got ",
                   logits.rows());
    DARE_CHECK_ARG(logits.cols() > 0, "SoftmaxCrossEntropy: empty batch (logits have 0 columns)");
    DARE_CHECK_ARG(labels != nullptr, "SoftmaxCrossEntropy: labels is null");
    for (Index j = 0; j < logits.cols(); ++j) {
      DARE_CHECK_ARG(labels[j] >= 0 && labels[j] < logits.rows(), "SoftmaxCrossEntropy: labels[", j,
                     "] is ", labels[j], ", outside [0, ", logits.rows(), ")");
    }
  }
};

}  // namespace dare::nn
