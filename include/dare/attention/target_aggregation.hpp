// dare/attention/target_aggregation.hpp — attention-weighted sum of representation rows and
// the target-aware representation (TR), with gradients.
//
// Design. u = Σ_i w_i r_i over the kept behaviours' representation rows, and the TR feature
// tr = v ⊙ u with the target's representation v (docs/design.md §1.3; it equals Σ_i w_i (r_i ⊙ v)
// but costs one product per component instead of one per row). The model concatenates
// [v, u, tr] as the prediction head's input, so the backward pass takes the upstream
// gradients of u and tr separately and folds them into one vector
//   g = du + dtr ⊙ v,   dw_i = <r_i, g>,   dr_i += w_i g,   dv += dtr ⊙ u.
// Each branch below instantiates the loop that builds g with the exact expression for the
// gradients present (no per-component null test). g goes into a buffer on the stack (the
// heap past kStackDim scalars), and the n dot products <r_i, g> run through the search's
// SIMD kernel (search/dot_kernels.hpp): a scalar loop would be one chain of dependent adds
// per row, 4-5x slower at the reference widths. The object holds only its width: one const
// instance serves every thread.
#pragma once

#include <array>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/core/lanes.hpp"
#include "dare/search/dot_kernels.hpp"

namespace dare {

/// Weighted aggregation of n rows with an optional target-aware product. `Dim` is the
/// representation width or `Dynamic`.
template <class Scalar, int Dim = Dynamic>
class TargetAggregation {
  static_assert(std::is_floating_point_v<Scalar>, "TargetAggregation needs a floating-point Scalar");

 public:
  using scalar_type = Scalar;
  static constexpr int kDim = Dim;

  /// `dim` is the row width; a fixed `Dim` checks it, a Dynamic one requires it.
  explicit TargetAggregation(Index dim = Dim) : dim_(dim, "aggregation width") {}

  Index dim() const noexcept { return dim_; }

  /// u = Σ_i weights[i] · rows_i (rows_i at rows + i * row_stride); if `tr` is not nullptr,
  /// tr = target ⊙ u (then `target` must not be nullptr either). With n = 0, u = 0.
  void forward(const Scalar* weights, const Scalar* rows, Index row_stride, Index n,
               const Scalar* target, Scalar* u, Scalar* tr) const {
    check_block(rows, row_stride, n);
    forward_rows(weights, n, [=](Index i) { return rows + i * row_stride; }, target, u, tr);
  }

  /// forward() over the rows index[0, n) of a block (rows_i at rows + index[i] * row_stride,
  /// each index in [0, count)): the same bits as forward() on those rows copied out in that
  /// order, without the copy (the search's K kept behaviours out of the window's L).
  void forward_selected(const Scalar* weights, const Scalar* rows, Index row_stride, Index count,
                        const Index* index, Index n, const Scalar* target, Scalar* u, Scalar* tr) const {
    check_block(rows, row_stride, count);
    DARE_ASSERT(n == 0 || index != nullptr);
    forward_rows(weights, n, [=](Index i) {
      DARE_ASSERT(index[i] >= 0 && index[i] < count);
      return rows + index[i] * row_stride;
    }, target, u, tr);
  }

  /// Given du = dL/du and dtr = dL/dtr (either may be nullptr, meaning zero): writes
  /// dweights[i] = dL/dw_i (n values, each a dot product in dot_rows' summation order),
  /// accumulates drows_i += dL/dr_i (at drows + i * drow_stride) and dtarget += dL/dv =
  /// dtr ⊙ u. `drows` and `dtarget` may be nullptr to skip them; `target` and `u` are read
  /// only when `dtr` is given.
  void backward(const Scalar* weights, const Scalar* rows, Index row_stride, Index n,
                const Scalar* target, const Scalar* u, const Scalar* du, const Scalar* dtr,
                Scalar* dweights, Scalar* drows, Index drow_stride, Scalar* dtarget) const {
    check_block(rows, row_stride, n);
    if (drows != nullptr) check_block(drows, drow_stride, n);
    DARE_ASSERT(n == 0 || dweights != nullptr);
    DARE_ASSERT(dtr == nullptr || (target != nullptr && u != nullptr));
    if (du != nullptr && dtr != nullptr) {
      rows_backward(weights, rows, row_stride, n, dweights, drows, drow_stride,
                    [=](Index c) { return du[c] + dtr[c] * target[c]; });
    } else if (du != nullptr) {
      rows_backward(weights, rows, row_stride, n, dweights, drows, drow_stride,
                    [=](Index c) { return du[c]; });
    } else if (dtr != nullptr) {
      rows_backward(weights, rows, row_stride, n, dweights, drows, drow_stride,
                    [=](Index c) { return dtr[c] * target[c]; });
    } else {
      for (Index i = 0; i < n; ++i) dweights[i] = 0;
    }
    if (dtr != nullptr && dtarget != nullptr) {
      const Index d = dim();
      for (Index c = 0; c < d; ++c) dtarget[c] += dtr[c] * u[c];
    }
  }

 private:
  void check_block(const Scalar* rows, Index stride, Index n) const {
    DARE_ASSERT(n >= 0);
    DARE_ASSERT(n == 0 || (rows != nullptr && stride >= dim()));
    (void)rows;
    (void)stride;
    (void)n;
  }

  // u = Σ_i w_i r_i at a fixed width, the sums in registers: per component the same
  // expression in the same order as the Dynamic loop (so the same bits, up to the compiler's
  // FMA contraction: core/lanes.hpp), without the store and reload of u per row that its
  // possible aliasing forces there (200 rows of 48 floats: 0.39 instead of 0.75 us on this
  // project's Xeon). Whole SIMD batches, unrolled by construction: GCC unrolls them only at
  // -O3, and at -O2 the sums went through memory.
  // u = Σ_i weights[i] · row(i) (then tr = target ⊙ u): forward's arithmetic, one order of
  // operations whichever rows `row` gives.
  template <class Row>
  void forward_rows(const Scalar* weights, Index n, Row row, const Scalar* target, Scalar* u, Scalar* tr) const {
    DARE_ASSERT(u != nullptr && (tr == nullptr || target != nullptr));
    const Index d = dim();
    if constexpr (Dim != Dynamic) {
      weighted_sum_fixed(weights, n, row, u);
    } else {
      for (Index c = 0; c < d; ++c) u[c] = 0;
      for (Index i = 0; i < n; ++i) {
        const Scalar w = weights[i];
        const Scalar* r = row(i);
        for (Index c = 0; c < d; ++c) u[c] += w * r[c];
      }
    }
    if (tr != nullptr) {
      for (Index c = 0; c < d; ++c) tr[c] = target[c] * u[c];
    }
  }

  template <class Row>
  static void weighted_sum_fixed(const Scalar* weights, Index n, Row row, Scalar* u) noexcept {
    using B = xsimd::batch<Scalar>;
    constexpr Index W = static_cast<Index>(B::size);
    constexpr Index kFull = Dim / W, kTail = Dim % W;
    constexpr auto each_batch = std::make_index_sequence<static_cast<std::size_t>(kFull)>{};
    B acc[kFull > 0 ? kFull : 1];
    Scalar tail[kTail > 0 ? kTail : 1] = {};
    detail::unroll(each_batch, [&](auto b) { acc[b] = B(Scalar(0)); });
    for (Index i = 0; i < n; ++i) {
      const Scalar w = weights[i];
      const B wb(w);
      const Scalar* r = row(i);
      // Fused where the target has FMA, spelled out rather than left to the compiler's
      // contraction, which differed between instantiations (forward and forward_selected).
      detail::unroll(each_batch, [&](auto b) { acc[b] = xsimd::fma(wb, B::load_unaligned(r + b * W), acc[b]); });
#if defined(__FMA__)
      for (Index c = 0; c < kTail; ++c) tail[c] = std::fma(w, r[kFull * W + c], tail[c]);
#else
      for (Index c = 0; c < kTail; ++c) tail[c] += w * r[kFull * W + c];
#endif
    }
    detail::unroll(each_batch, [&](auto b) { acc[b].store_unaligned(u + b * W); });
    for (Index c = 0; c < kTail; ++c) u[kFull * W + c] = tail[c];
  }

  // A Dynamic width's g lives on the stack up to this many scalars.
  static constexpr Index kStackDim = 512;

  // `grad(c)` is component c of g = dL/du + dL/dtr ⊙ v.
  template <class Grad>
  void rows_backward(const Scalar* weights, const Scalar* rows, Index row_stride, Index n,
                     Scalar* dweights, Scalar* drows, Index drow_stride, Grad grad) const {
    const Index d = dim();
    std::array<Scalar, Dim == Dynamic ? kStackDim : Dim> stack;
    std::vector<Scalar> heap;
    if (d > static_cast<Index>(stack.size())) heap.resize(static_cast<std::size_t>(d));
    Scalar* g = heap.empty() ? stack.data() : heap.data();
    for (Index c = 0; c < d; ++c) g[c] = grad(c);
    if (n > 0) dot_rows<Dim>(g, rows, n, row_stride, dweights, d);
    if (drows == nullptr) return;
    for (Index i = 0; i < n; ++i) {
      const Scalar w = weights[i];
      Scalar* dr = drows + i * drow_stride;
      // On SIMD lanes: GCC 12 at -O2 leaves a loop scalar where dr and g might overlap.
      detail::add_scaled_lanes(dr, g, w, d);
    }
  }

  Extent<Dim> dim_;
};

}  // namespace dare
