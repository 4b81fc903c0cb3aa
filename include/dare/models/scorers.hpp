// dare/models/scorers.hpp — the attention logits of a target against its history and their
// gradients: the Scorer policy of SequenceModel.
//
// Design. A scorer sees one target's attention query q (the item and category parts, 2A
// wide) and the history's attention keys (one 2A row per position), and writes one logit per
// position, padded positions at the sentinel -2^32+1. Its backward pass takes dL/dlogits and
// accumulates dL/dq, hands each key's gradient to the model (which routes it to the table
// rows through the embedding layout) and accumulates its own parameters' gradients into
// per-worker storage the model merges.
//
// * DotScorer<SplitScale> (TWIN, DARE): s_j = <q_sem, k_sem_j> / sqrt(2A) + <q_t, k_t_j> /
//   sqrt(A), the split-scaled product of attention/softmax_attention.hpp (whose scales it
//   takes). Every history position j has time id L - j and every target time id 0, so the
//   time term is one vector per batch, `time_bias[j]`, which the model computes once; the
//   per-sample work is a dot product over the 2A semantic components (search/dot_kernels).
// * DotScorer<HardSearchScale> (TWIN hard): the reference's hard search calls its attention
//   with soft_search=False and no item width, so its "semantic" slice is the whole
//   concatenated vector, time included: s_j = <q, k_j> / sqrt(3A) + <q_t, k_t_j> / sqrt(A),
//   i.e. the semantic part over sqrt(3A) and the time part over sqrt(3A) plus sqrt(A).
// * MlpScorer (DIN): s_j = MLP([q, k_j, q - k_j, q ⊙ k_j]) / width(q) with the MLP
//   Linear(4F, 36) → PReLU → Linear(36, 1) of the reference's AttentionModel. DIN in the
//   reference's script runs without time embeddings (the reference asserts it), so this
//   scorer has no time part and the model's fields are item and category only. Computed per
//   sample as one GEMM: W1 x_j = (W_q + W_d) q + (W_k - W_d + W_p diag(q)) k_j, so the
//   hidden layer is c 1ᵀ + M K for the F x L key block K.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "dare/attention/softmax_attention.hpp"
#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/nn/linear.hpp"
#include "dare/nn/parameter.hpp"
#include "dare/search/dot_kernels.hpp"

namespace dare {

/// The split scale of docs/design.md §1.1: semantic part over sqrt(2A), time part over sqrt(A).
struct SplitScale {
  static constexpr std::uint32_t kId = 1;
  static constexpr const char* kName = "split";
  template <class Scalar>
  static Scalar semantic(Index A) {
    return SoftmaxAttention<Scalar>(2 * A, A).scale(0);
  }
  template <class Scalar>
  static Scalar time(Index A) {
    return SoftmaxAttention<Scalar>(2 * A, A).scale(2 * A);
  }
};

/// The reference's hard-search scale (see the header note).
struct HardSearchScale {
  static constexpr std::uint32_t kId = 2;
  static constexpr const char* kName = "hard-scale";
  template <class Scalar>
  static Scalar semantic(Index A) {
    return Scalar(1) / std::sqrt(static_cast<Scalar>(3 * A));
  }
  template <class Scalar>
  static Scalar time(Index A) {
    return Scalar(1) / std::sqrt(static_cast<Scalar>(3 * A)) + Scalar(1) / std::sqrt(static_cast<Scalar>(A));
  }
};

/// Scaled dot-product logits with a semantic and a time scale.
template <class Scale = SplitScale>
struct DotScorer {
  static constexpr std::uint32_t kId = 1 + 16 * Scale::kId;
  static constexpr const char* kName = "dot";

  template <class Scalar, int SemDim>
  class Impl {
   public:
    static constexpr bool kUsesTime = true;
    static constexpr Scalar kPadding = SoftmaxAttention<Scalar>::kPaddingScore;

    struct Work {
      explicit Work(Index stride) : qs(static_cast<std::size_t>(stride)), acc(qs.size()) {}
      AlignedVector<Scalar> qs, acc;
    };
    struct Grad {
      void clear() {}
      void merge(const Grad&) {}
    };

    /// `att` is the per-field attention width A; `hidden` is unused.
    Impl(Index att, Index /*hidden*/)
        : sem_dim_(2 * att), sem_(Scale::template semantic<Scalar>(att)), time_(Scale::template time<Scalar>(att)) {}

    Grad make_grad() const { return {}; }
    Scalar semantic_scale() const noexcept { return sem_; }
    Scalar time_scale() const noexcept { return time_; }
    std::vector<nn::Parameter<Scalar>*> parameters() { return {}; }
    void init(Scalar, std::uint64_t, bool) {}
    void decay_all_weights(bool) {}
    void add_gradients(const Grad&) {}

    /// scores[j] for the n keys (rows of `stride`); time_bias[j] is the scaled time term.
    void forward(Work& w, const Scalar* q, const Scalar* keys, Index stride, Index n, const Scalar* time_bias,
                 const std::uint8_t* valid, Scalar* scores) const {
      for (Index c = 0; c < sem_dim_; ++c) w.qs[static_cast<std::size_t>(c)] = q[c] * sem_;
      dot_rows<SemDim>(w.qs.data(), keys, n, stride, scores, sem_dim_);
      for (Index j = 0; j < n; ++j) scores[j] = valid[j] ? scores[j] + time_bias[j] : kPadding;
    }

    /// Accumulates dq (the raw query's gradient over query_grad_scale()), key_grad(j,
    /// direction, scale) per valid position (the key gradient is scale · direction) and
    /// time_ds[j] += ds[j].
    template <class KeyGrad>
    void backward(Work& w, const Scalar* q, const Scalar* keys, Index stride, Index n, const std::uint8_t* valid,
                  const Scalar* ds, Scalar* dq, KeyGrad&& key_grad, Scalar* time_ds, Grad&) const {
      if constexpr (SemDim != Dynamic) {
        // The same sums in the same order as below, in local arrays the compiler keeps in
        // registers (the keys' gradients that key_grad writes could alias w's buffers).
        Scalar qs[SemDim], acc[SemDim] = {};
        for (Index c = 0; c < SemDim; ++c) qs[c] = q[c] * sem_;
        for (Index j = 0; j < n; ++j) {
          if (!valid[j]) continue;
          const Scalar d = ds[j];
          time_ds[j] += d;
          const Scalar* k = keys + j * stride;
          for (Index c = 0; c < SemDim; ++c) acc[c] += d * k[c];
          key_grad(j, static_cast<const Scalar*>(qs), d);
        }
        for (Index c = 0; c < SemDim; ++c) dq[c] += acc[c];
        return;
      }
      for (Index c = 0; c < sem_dim_; ++c) {
        w.qs[static_cast<std::size_t>(c)] = q[c] * sem_;
        w.acc[static_cast<std::size_t>(c)] = 0;
      }
      for (Index j = 0; j < n; ++j) {
        if (!valid[j]) continue;
        const Scalar d = ds[j];
        time_ds[j] += d;
        const Scalar* k = keys + j * stride;
        for (Index c = 0; c < sem_dim_; ++c) w.acc[static_cast<std::size_t>(c)] += d * k[c];
        // dL/dk_j = ds_j * sem * q = ds_j * (the scaled query).
        key_grad(j, w.qs.data(), d);
      }
      for (Index c = 0; c < sem_dim_; ++c) dq[c] += w.acc[static_cast<std::size_t>(c)];
    }
    /// dL/dq = query_grad_scale() · dq: the scale goes into the table update in one step.
    Scalar query_grad_scale() const noexcept { return sem_; }

   private:
    Index sem_dim_;
    Scalar sem_, time_;
  };
};

/// DIN's learned attention unit (see the header note).
struct MlpScorer {
  static constexpr std::uint32_t kId = 2;
  static constexpr const char* kName = "mlp";

  template <class Scalar, int SemDim>
  class Impl {
   public:
    using Matrix = nn::Matrix<Scalar>;
    using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
    using Keys = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
    static constexpr bool kUsesTime = false;
    static constexpr Scalar kPadding = SoftmaxAttention<Scalar>::kPaddingScore;

    struct Work {
      explicit Work(Index) {}
      Matrix M, dM, h, dh, dK;
      Vector c, dc;
    };
    struct Grad {
      Matrix w1, b1, slope, w2, b2;
      void clear() {
        w1.setZero();
        b1.setZero();
        slope.setZero();
        w2.setZero();
        b2.setZero();
      }
      void merge(const Grad& o) {
        w1 += o.w1;
        b1 += o.b1;
        slope += o.slope;
        w2 += o.w2;
        b2 += o.b2;
      }
    };

    /// `att` is the per-field attention width (the query is F = 2 * att wide), `hidden` the
    /// hidden layer (36 in the reference).
    Impl(Index att, Index hidden)
        : F_(2 * att),
          H_(hidden),
          w1_("scorer.linear1.weight", hidden, 4 * F_, true),
          b1_("scorer.linear1.bias", hidden, 1, false),
          slope_("scorer.prelu.weight", 1, 1, false),
          w2_("scorer.linear2.weight", 1, hidden, true),
          b2_("scorer.linear2.bias", 1, 1, false) {
      DARE_CHECK_ARG(hidden > 0 && hidden <= 4096, "the MLP scorer's hidden width must be from 1 to 4096, got ",
                     hidden);
      slope_.value.setConstant(Scalar(0.1));
    }

    std::vector<nn::Parameter<Scalar>*> parameters() { return {&w1_, &b1_, &slope_, &w2_, &b2_}; }
    Grad make_grad() const {
      Grad g;
      g.w1 = Matrix::Zero(H_, 4 * F_);
      g.b1 = Matrix::Zero(H_, 1);
      g.slope = Matrix::Zero(1, 1);
      g.w2 = Matrix::Zero(1, H_);
      g.b2 = Matrix::Zero(1, 1);
      return g;
    }

    /// Weights N(0, sigma); the slope too under the reference initialisation, else 0.1.
    void init(Scalar sigma, std::uint64_t seed, bool reference_init) {
      nn::detail::fill_normal(w1_.value, static_cast<double>(sigma), seed);
      nn::detail::fill_normal(w2_.value, static_cast<double>(sigma), seed ^ 0x5bd1e995ULL);
      b1_.value.setZero();
      b2_.value.setZero();
      if (reference_init) {
        nn::detail::fill_normal(slope_.value, static_cast<double>(sigma), seed ^ 0x2545f491ULL);
      } else {
        slope_.value.setConstant(Scalar(0.1));
      }
    }
    void decay_all_weights(bool on) { slope_.decay = on; }
    void add_gradients(const Grad& g) {
      w1_.grad += g.w1;
      b1_.grad += g.b1;
      slope_.grad += g.slope;
      w2_.grad += g.w2;
      b2_.grad += g.b2;
    }

    void forward(Work& w, const Scalar* q, const Scalar* keys, Index stride, Index n, const Scalar*,
                 const std::uint8_t* valid, Scalar* scores) const {
      hidden(w, q, keys, stride, n);
      const Scalar inv = Scalar(1) / static_cast<Scalar>(F_);
      const Scalar a = slope_.value(0, 0);
      const Scalar b2 = b2_.value(0, 0);
      for (Index j = 0; j < n; ++j) {
        if (!valid[j]) {
          scores[j] = kPadding;
          continue;
        }
        Scalar s = b2;
        for (Index i = 0; i < H_; ++i) {
          const Scalar x = w.h(i, j);
          s += w2_.value(0, i) * (x > 0 ? x : a * x);
        }
        scores[j] = s * inv;
      }
    }

    template <class KeyGrad>
    void backward(Work& w, const Scalar* q, const Scalar* keys, Index stride, Index n, const std::uint8_t* valid,
                  const Scalar* ds, Scalar* dq, KeyGrad&& key_grad, Scalar*, Grad& g) const {
      hidden(w, q, keys, stride, n);
      const Scalar inv = Scalar(1) / static_cast<Scalar>(F_);
      const Scalar a = slope_.value(0, 0);
      w.dh.resize(H_, n);
      Scalar db2 = 0, dslope = 0;
      for (Index j = 0; j < n; ++j) {
        const Scalar d = valid[j] ? ds[j] * inv : Scalar(0);
        db2 += d;
        for (Index i = 0; i < H_; ++i) {
          const Scalar x = w.h(i, j);
          const Scalar da = d * w2_.value(0, i);
          g.w2(0, i) += d * (x > 0 ? x : a * x);
          if (x > 0) {
            w.dh(i, j) = da;
          } else {
            w.dh(i, j) = da * a;
            dslope += da * x;
          }
        }
      }
      g.b2(0, 0) += db2;
      g.slope(0, 0) += dslope;
      w.dc = w.dh.rowwise().sum();
      g.b1 += w.dc;
      const Keys K(keys, F_, n, Eigen::OuterStride<>(stride));
      w.dM.noalias() = w.dh * K.transpose();
      w.dK.noalias() = w.M.transpose() * w.dh;
      for (Index j = 0; j < n; ++j) {
        if (valid[j]) key_grad(j, w.dK.col(j).data(), Scalar(1));
      }
      // M = W_k - W_d + W_p diag(q);  c = (W_q + W_d) q + b1.
      const Eigen::Map<const Vector> qv(q, F_);
      Eigen::Map<Vector> dqv(dq, F_);
      g.w1.block(0, F_, H_, F_) += w.dM;
      g.w1.block(0, 2 * F_, H_, F_) -= w.dM;
      g.w1.block(0, 3 * F_, H_, F_) += w.dM * qv.asDiagonal();
      dqv += (w.dM.cwiseProduct(w1_.value.block(0, 3 * F_, H_, F_))).colwise().sum().transpose();
      g.w1.block(0, 0, H_, F_) += w.dc * qv.transpose();
      g.w1.block(0, 2 * F_, H_, F_) += w.dc * qv.transpose();
      dqv += (w1_.value.block(0, 0, H_, F_) + w1_.value.block(0, 2 * F_, H_, F_)).transpose() * w.dc;
    }

    Scalar time_scale() const noexcept { return Scalar(0); }
    Scalar query_grad_scale() const noexcept { return Scalar(1); }

   private:
    // w.h = c 1ᵀ + M K, the pre-activation of the hidden layer at every position.
    void hidden(Work& w, const Scalar* q, const Scalar* keys, Index stride, Index n) const {
      const Eigen::Map<const Vector> qv(q, F_);
      const auto Wq = w1_.value.block(0, 0, H_, F_);
      const auto Wk = w1_.value.block(0, F_, H_, F_);
      const auto Wd = w1_.value.block(0, 2 * F_, H_, F_);
      const auto Wp = w1_.value.block(0, 3 * F_, H_, F_);
      w.c.noalias() = (Wq + Wd) * qv;
      w.c += b1_.value.col(0);
      w.M = Wk - Wd;
      w.M.noalias() += Wp * qv.asDiagonal();
      const Keys K(keys, F_, n, Eigen::OuterStride<>(stride));
      w.h.noalias() = w.M * K;
      w.h.colwise() += w.c;
    }

    Index F_, H_;
    nn::Parameter<Scalar> w1_, b1_, slope_, w2_, b2_;
  };
};

}  // namespace dare
