// dare/attention/softmax_attention.hpp — split scaled dot-product scores, masked softmax, and
// their gradients for one query against a block of keys.
//
// Design. A key is `[k_sem | k_time]`, `sem_dim + time_dim` wide, and the score of key j is
//   s_j = <q_sem, k_sem_j> / sqrt(sem_dim) + <q_time, k_time_j> / sqrt(time_dim)
// (docs/design.md §1.1), computed as the reference does: two dot products, each divided by its own
// scale, then added. Padded positions are not scored; they get the reference's sentinel
// -2^32+1, and the softmax runs over all n positions exactly like torch.softmax over the
// masked scores (so a padded position weighs exp(sentinel - max), which is 0 whenever one
// position is valid, and an all-padded row gets uniform weights).
//
// Everything works on raw pointers with a row stride: the model layer gathers keys into
// aligned scratch rows and owns all buffers, so nothing here allocates. Sizes that a
// caller cannot get wrong without a bug upstream (n, strides, null buffers) are checked
// with DARE_ASSERT; the widths are checked once, at construction. The object holds only the
// widths and scales, so one const instance serves every thread of a parallel batch.
//
// The stage-1 search scores many more rows than this class does; it calls the SIMD kernels
// with `scaled_query`, whose plain dot product with a key equals the score up to rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/search/dot_kernels.hpp"

namespace dare {

/// Scaled dot-product attention of one query over n keys with separate semantic and time
/// scales. `Dim` is the total key width (`sem_dim + time_dim`) or `Dynamic`.
template <class Scalar, int Dim = Dynamic>
class SoftmaxAttention {
  static_assert(std::is_floating_point_v<Scalar>, "SoftmaxAttention needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  static constexpr int kDim = Dim;

  /// Score given to padded positions: -2^32+1, the reference implementation's constant
  /// (it rounds to -2^32 in float, as it does in the reference's float tensors).
  static constexpr Scalar kPaddingScore = Scalar(-4294967295.0);

  /// `sem_dim` > 0 leading components scaled by 1/sqrt(sem_dim), then `time_dim` >= 0 trailing
  /// ones scaled by 1/sqrt(time_dim). With time_dim = 0 this is plain scaled dot-product
  /// attention. A fixed `Dim` must equal sem_dim + time_dim.
  SoftmaxAttention(Index sem_dim, Index time_dim)
      : dim_(checked_total(sem_dim, time_dim), "attention width (sem_dim + time_dim)"),
        sem_dim_(sem_dim),
        time_dim_(time_dim),
        sem_scale_(Scalar(1) / std::sqrt(Scalar(sem_dim))),
        time_scale_(time_dim > 0 ? Scalar(1) / std::sqrt(Scalar(time_dim)) : Scalar(0)) {}

  /// Total key width.
  Index dim() const noexcept { return dim_; }
  Index sem_dim() const noexcept { return sem_dim_; }
  Index time_dim() const noexcept { return time_dim_; }

  /// The factor applied to component `c`: 1/sqrt(sem_dim) for c < sem_dim, 1/sqrt(time_dim)
  /// after.
  Scalar scale(Index c) const {
    DARE_ASSERT(c >= 0 && c < dim());
    return c < sem_dim_ ? sem_scale_ : time_scale_;
  }

  /// out = q ⊙ scale: a plain dot product of `out` with a key gives that key's score, which is
  /// what the stage-1 SIMD search consumes. `out` may alias `q`.
  void scaled_query(const Scalar* q, Scalar* out) const noexcept {
    const Index d = dim();
    for (Index c = 0; c < sem_dim_; ++c) out[c] = q[c] * sem_scale_;
    for (Index c = sem_dim_; c < d; ++c) out[c] = q[c] * time_scale_;
  }

  /// scores[j] = s_j for the n keys at keys + j * key_stride; positions with valid[j] == 0
  /// get kPaddingScore. `valid` may be nullptr (all valid).
  void score(const Scalar* q, const Scalar* keys, Index key_stride, Index n,
             const std::uint8_t* valid, Scalar* scores) const {
    check_block(keys, key_stride, n);
    DARE_ASSERT(n == 0 || (q != nullptr && scores != nullptr));
    for (Index j = 0; j < n; ++j) {
      if (valid != nullptr && valid[j] == 0) {
        scores[j] = kPaddingScore;
        continue;
      }
      scores[j] = score_one(q, keys + j * key_stride);
    }
  }

  /// weights = softmax(scores) over n positions, with the maximum subtracted first so that
  /// huge scores neither overflow nor lose the small ones. `weights` may alias `scores`.
  ///
  /// On a SIMD `Arch` the exponentials are xsimd's (within 2 ulp of std::exp over the normal
  /// range; results below FLT_MIN, which flush-to-zero training reads as zero anyway, come
  /// out 0) and the sum runs in W lanes, folded in lane order: the weights differ from the
  /// scalar loop's (`xsimd::unavailable`: std::exp and one running sum) by a few ulp,
  /// tested to 1e-5 relative. The maximum, a padded row's uniform weights and the NaN
  /// rules (a NaN first score spreads, a later one is skipped by the maximum and spreads
  /// through the sum) are the same on both. The scalar loop cost 1.5 us for 200 scores on
  /// this project's Xeon, ~7 ns per std::exp call and one chain of dependent adds; the
  /// SIMD form ~0.15 us.
  template <class Arch = xsimd::default_arch>
  static void softmax(const Scalar* scores, Index n, Scalar* weights) {
    DARE_ASSERT(n >= 0);
    if (n == 0) return;
    if constexpr (std::is_same_v<Arch, xsimd::unavailable>) {
      Scalar m = scores[0];
      for (Index j = 1; j < n; ++j) m = scores[j] > m ? scores[j] : m;
      Scalar sum = 0;
      for (Index j = 0; j < n; ++j) {
        weights[j] = std::exp(scores[j] - m);
        sum += weights[j];
      }
      const Scalar inv = Scalar(1) / sum;
      for (Index j = 0; j < n; ++j) weights[j] *= inv;
    } else {
      simd_softmax<Arch>(scores, n, weights);
    }
  }

  /// dscores = dL/dscores given the softmax output and dL/dweights:
  /// ds_i = w_i (dw_i - Σ_j w_j dw_j), the sum in dot_rows' order. `dscores` may alias
  /// `dweights`.
  static void softmax_backward(const Scalar* weights, const Scalar* dweights, Index n,
                               Scalar* dscores) {
    DARE_ASSERT(n >= 0);
    Scalar dot = 0;
    if (n > 0) dot_rows(weights, dweights, 1, n, &dot, n);  // SIMD: one row of n
    for (Index j = 0; j < n; ++j) dscores[j] = weights[j] * (dweights[j] - dot);
  }

  /// Accumulates dq += Σ_i ds_i · scale ⊙ k_i and dk_i += ds_i · scale ⊙ q over the valid
  /// positions (a padded score is a constant, so neither its key nor the query gets anything
  /// from it). `dq` or `dkeys` may be nullptr to skip that gradient.
  void score_backward(const Scalar* q, const Scalar* keys, Index key_stride, Index n,
                      const std::uint8_t* valid, const Scalar* dscores, Scalar* dq, Scalar* dkeys,
                      Index dkey_stride) const {
    check_block(keys, key_stride, n);
    if (dkeys != nullptr) check_block(dkeys, dkey_stride, n);
    const Index d = dim();
    for (Index j = 0; j < n; ++j) {
      if (valid != nullptr && valid[j] == 0) continue;
      const Scalar gs = dscores[j] * sem_scale_;
      const Scalar gt = dscores[j] * time_scale_;
      if (dq != nullptr) {
        const Scalar* k = keys + j * key_stride;
        for (Index c = 0; c < sem_dim_; ++c) dq[c] += gs * k[c];
        for (Index c = sem_dim_; c < d; ++c) dq[c] += gt * k[c];
      }
      if (dkeys != nullptr) {
        Scalar* dk = dkeys + j * dkey_stride;
        for (Index c = 0; c < sem_dim_; ++c) dk[c] += gs * q[c];
        for (Index c = sem_dim_; c < d; ++c) dk[c] += gt * q[c];
      }
    }
  }

  /// score, then softmax: writes both the masked scores and the weights (n each).
  void forward(const Scalar* q, const Scalar* keys, Index key_stride, Index n,
               const std::uint8_t* valid, Scalar* scores, Scalar* weights) const {
    score(q, keys, key_stride, n, valid, scores);
    softmax(scores, n, weights);
  }

  /// The chain back from dL/dweights to the query and the keys: writes dL/dscores into
  /// `dscores` (n, caller-provided scratch), then accumulates into `dq` and `dkeys` as
  /// score_backward does.
  void backward(const Scalar* q, const Scalar* keys, Index key_stride, Index n,
                const std::uint8_t* valid, const Scalar* weights, const Scalar* dweights,
                Scalar* dscores, Scalar* dq, Scalar* dkeys, Index dkey_stride) const {
    softmax_backward(weights, dweights, n, dscores);
    score_backward(q, keys, key_stride, n, valid, dscores, dq, dkeys, dkey_stride);
  }

 private:
  // softmax on Arch: W lanes of maxima (each `s > m ? s : m`, as the scalar loop), then
  // exp(s - m) stored and summed lane-wise, the partial tail padded with -inf (exp: +0, which
  // changes no sum), the lanes summed in order, and one multiply by the inverse.
  template <class Arch>
  static void simd_softmax(const Scalar* scores, Index n, Scalar* weights) {
    using B = xsimd::batch<Scalar, Arch>;
    constexpr Index W = Index(B::size);
    const Index full = n - n % W;
    B mv(scores[0]);
    for (Index j = 0; j < full; j += W) {
      const B s = B::load_unaligned(scores + j);
      mv = xsimd::select(s > mv, s, mv);
    }
    alignas(Arch::alignment()) Scalar lanes[W];
    mv.store_aligned(lanes);
    Scalar m = lanes[0];
    for (Index l = 1; l < W; ++l) m = lanes[l] > m ? lanes[l] : m;
    for (Index j = full; j < n; ++j) m = scores[j] > m ? scores[j] : m;
    const B mb(m);
    B sum(Scalar(0));
    for (Index j = 0; j < full; j += W) {
      const B e = xsimd::exp(B::load_unaligned(scores + j) - mb);
      e.store_unaligned(weights + j);
      sum += e;
    }
    if (full < n) {
      alignas(Arch::alignment()) Scalar tail[W];
      for (Index l = 0; l < W; ++l) tail[l] = full + l < n ? scores[full + l] : -std::numeric_limits<Scalar>::infinity();
      const B e = xsimd::exp(B::load_aligned(tail) - mb);
      e.store_aligned(tail);
      for (Index j = full; j < n; ++j) weights[j] = tail[j - full];
      sum += e;
    }
    sum.store_aligned(lanes);
    Scalar total = lanes[0];
    for (Index l = 1; l < W; ++l) total += lanes[l];
    const Scalar inv = Scalar(1) / total;
    const B invb(inv);
    for (Index j = 0; j < full; j += W) (B::load_unaligned(weights + j) * invb).store_unaligned(weights + j);
    for (Index j = full; j < n; ++j) weights[j] *= inv;
  }

  static Index checked_total(Index sem_dim, Index time_dim) {
    DARE_CHECK_ARG(sem_dim > 0, "SoftmaxAttention: sem_dim must be positive, got ", sem_dim);
    DARE_CHECK_ARG(time_dim >= 0, "SoftmaxAttention: time_dim must be >= 0, got ", time_dim);
    return sem_dim + time_dim;
  }

  void check_block(const Scalar* rows, Index stride, Index n) const {
    DARE_ASSERT(n >= 0);
    DARE_ASSERT(n == 0 || (rows != nullptr && stride >= dim()));
    (void)rows;
    (void)stride;
    (void)n;
  }

  Scalar score_one(const Scalar* q, const Scalar* k) const noexcept {
    const Index d = dim();
    Scalar sem = 0;
    for (Index c = 0; c < sem_dim_; ++c) sem += q[c] * k[c];
    Scalar time = 0;
    for (Index c = sem_dim_; c < d; ++c) time += q[c] * k[c];
    return sem * sem_scale_ + time * time_scale_;
  }

  Extent<Dim> dim_;
  Index sem_dim_;
  Index time_dim_;
  Scalar sem_scale_;
  Scalar time_scale_;
};

}  // namespace dare
