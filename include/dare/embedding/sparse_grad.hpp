// dare/embedding/sparse_grad.hpp — per-id row gradients of one batch, duplicates summed.
//
// Design: a batch touches a few thousand distinct rows of a multi-million-row table, and the
// backward pass adds to them ~600 times per sample, so the accumulator is an open-addressing
// hash map from id to a dense "slot" plus the slots' rows in one aligned buffer:
//   - buckets are {id, slot} pairs (8 bytes) in a power-of-two array kept at most half
//     full, probed linearly from a Fibonacci hash of the id: one or two cache lines per
//     lookup and no allocation per id;
//   - slots are numbered in first-touch order, so iterating slots 0..size() is
//     deterministic, and their rows are padded to the table's stride like the table's own;
//   - clear() empties only the buckets it used (remembered per slot) and keeps every
//     buffer, so a training loop reaches a steady state with no allocation at all.
// Row pointers returned by row_for() stay valid until the next call that adds a new id
// (which may grow the row buffer); reserve() bounds that.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/core/prefetch.hpp"

namespace dare {

/// Sparse gradient of an embedding table of width `Dim` (fixed or Dynamic): a set of
/// (id, row) pairs where each row is the sum of every contribution made for that id.
template <class Scalar, int Dim = Dynamic>
class SparseGrad {
 public:
  using ScalarType = Scalar;
  static constexpr int DimAtCompileTime = Dim;

  /// An empty accumulator for rows of width `dim` (for a fixed `Dim` it must equal it).
  explicit SparseGrad(Index dim = Dim)
      : dim_(dim, "gradient dim"), stride_(aligned_stride<Scalar>(dim_)) {
    rehash(kMinBuckets);
  }

  Index dim() const noexcept { return dim_; }
  Index stride() const noexcept { return stride_; }
  /// Number of distinct ids accumulated.
  Index size() const noexcept { return static_cast<Index>(ids_.size()); }
  bool empty() const noexcept { return ids_.empty(); }

  /// The id held by `slot` (slots are numbered in first-touch order).
  Id id(Index slot) const {
    DARE_ASSERT(slot >= 0 && slot < size());
    return ids_[static_cast<std::size_t>(slot)];
  }
  /// All ids, in slot order.
  const Id* ids() const noexcept { return ids_.data(); }

  /// The accumulated row of `slot` (dim() scalars; the padding up to stride() is zero).
  const Scalar* row(Index slot) const {
    DARE_ASSERT(slot >= 0 && slot < size());
    return rows_.data() + slot * stride_;
  }
  Scalar* row(Index slot) {
    DARE_ASSERT(slot >= 0 && slot < size());
    return rows_.data() + slot * stride_;
  }

  /// The slot of `id`, or -1 if it has not been touched since the last clear().
  Index find(Id id) const noexcept {
    for (std::size_t b = bucket_of(id);; b = (b + 1) & mask_) {
      const Bucket& bucket = buckets_[b];
      if (bucket.slot < 0) return -1;
      if (bucket.id == id) return bucket.slot;
    }
  }

  /// Asks for the bucket where a lookup of `id` starts: a hint, a few adds ahead, for a
  /// table too large for the caches. Changes nothing.
  void prefetch(Id id) const noexcept { detail::prefetch_lines(&buckets_[bucket_of(id)], Index(sizeof(Bucket))); }
  /// Asks for the row of `id` if it has one (finding it reads its bucket: prefetch() that
  /// some adds earlier). Changes nothing.
  void prefetch_row(Id id) const noexcept {
    const Index slot = find(id);
    if (slot >= 0) detail::prefetch_lines(rows_.data() + slot * stride_, dim() * Index(sizeof(Scalar)));
  }

  /// The accumulator row for `id`, zeroed the first time `id` is seen since clear().
  /// Valid until the next call that adds a new id. `id` must be non-negative (DARE_ASSERT);
  /// the optimizers check it against the table.
  Scalar* row_for(Id id) {
    DARE_ASSERT(id >= 0);
    std::size_t b = bucket_of(id);
    for (;; b = (b + 1) & mask_) {
      const Bucket& bucket = buckets_[b];
      if (bucket.slot < 0) break;
      if (bucket.id == id) return rows_.data() + bucket.slot * stride_;
    }
    // A new id. Grow first so the table stays at most half full (then re-probe).
    if (2 * (ids_.size() + 1) > buckets_.size()) {
      rehash(2 * buckets_.size());
      b = bucket_of(id);
      while (buckets_[b].slot >= 0) b = (b + 1) & mask_;
    }
    const Index slot = size();
    if (static_cast<std::size_t>((slot + 1) * stride_) > rows_.size())
      rows_.resize(
          std::max<std::size_t>(rows_.size() * 2, static_cast<std::size_t>(kMinRows * stride_)));
    buckets_[b] = Bucket{id, static_cast<std::int32_t>(slot)};
    ids_.push_back(id);
    bucket_of_slot_.push_back(static_cast<std::uint32_t>(b));
    Scalar* r = rows_.data() + slot * stride_;
    std::fill_n(r, stride_, Scalar(0));
    return r;
  }

  /// Adds `scale * g[0..dim)` to the row of `id`. `g` must not overlap the accumulator's
  /// rows (the loop is vectorised on that promise: the same expression per component as a
  /// plain loop, so the same bits).
  void add(Id id, const Scalar* g, Scalar scale = Scalar(1)) {
    add_row(row_for(id), g, scale, dim());
  }

  /// Adds every row of `other` (e.g. a per-thread accumulator) into this one.
  void merge(const SparseGrad& other) {
    DARE_CHECK_ARG(other.dim() == dim(), "merge: gradient dims differ (", other.dim(), " vs ",
                   dim(), ")");
    DARE_CHECK_ARG(&other != this, "merge: cannot merge a gradient into itself");
    const Index n = other.size();
    for (Index s = 0; s < n; ++s) {
      if (s + 2 * kMergeAhead < n) prefetch(other.id(s + 2 * kMergeAhead));
      if (s + kMergeAhead < n) prefetch_row(other.id(s + kMergeAhead));
      add(other.id(s), other.row(s));
    }
  }

  /// Makes room for `n` distinct ids without further allocation.
  void reserve(Index n) {
    DARE_CHECK_ARG(n >= 0, "reserve: n must be non-negative, got ", n);
    const auto count = static_cast<std::size_t>(n);
    if (2 * count > buckets_.size()) {
      std::size_t buckets = buckets_.size();
      while (2 * count > buckets) buckets *= 2;
      rehash(buckets);
    }
    if (count * static_cast<std::size_t>(stride_) > rows_.size())
      rows_.resize(count * static_cast<std::size_t>(stride_));
    ids_.reserve(count);
    bucket_of_slot_.reserve(count);
  }

  /// Forgets every id; keeps all capacity (no allocation in steady state).
  void clear() noexcept {
    for (const std::uint32_t b : bucket_of_slot_) buckets_[b].slot = -1;
    ids_.clear();
    bucket_of_slot_.clear();
  }

 private:
  static constexpr Index kMergeAhead = 8;  // merge's hints: rows 8 ids ahead, buckets 16
  struct Bucket {
    Id id;
    std::int32_t slot;  // -1: empty
  };
  static constexpr std::size_t kMinBuckets = 64;
  static constexpr Index kMinRows = 32;

  // r[0..d) += scale * g[0..d). Without the promise that the two do not overlap, GCC left
  // this loop scalar (16 loads, adds and stores a row at the reference width).
  static void add_row(Scalar* __restrict r, const Scalar* __restrict g, Scalar scale, Index d) noexcept {
    for (Index k = 0; k < d; ++k) r[k] += scale * g[k];
  }

  std::size_t bucket_of(Id id) const noexcept {
    // Fibonacci hashing: the top bits of id * 2^32/phi spread consecutive ids apart.
    const std::uint32_t h = static_cast<std::uint32_t>(id) * 0x9E3779B9u;
    return static_cast<std::size_t>(h >> shift_);
  }

  void rehash(std::size_t buckets) {
    DARE_CHECK_ARG(buckets <= (std::size_t{1} << 31), "SparseGrad: too many distinct ids");
    buckets_.assign(buckets, Bucket{0, -1});
    mask_ = buckets - 1;
    shift_ = 32;
    for (std::size_t b = buckets; b > 1; b >>= 1) --shift_;
    for (std::size_t s = 0; s < ids_.size(); ++s) {
      std::size_t b = bucket_of(ids_[s]);
      while (buckets_[b].slot >= 0) b = (b + 1) & mask_;
      buckets_[b] = Bucket{ids_[s], static_cast<std::int32_t>(s)};
      bucket_of_slot_[s] = static_cast<std::uint32_t>(b);
    }
  }

  Extent<Dim> dim_;
  Index stride_;
  AlignedVector<Bucket> buckets_;  // probed at random: huge pages once large (core/aligned.hpp)
  std::size_t mask_ = 0;
  int shift_ = 32;
  std::vector<Id> ids_;
  std::vector<std::uint32_t> bucket_of_slot_;
  AlignedVector<Scalar> rows_;
};

/// A gradient of run-time width in single precision.
using SparseGradXf = SparseGrad<float, Dynamic>;
/// The paper's main width (D = 16) in single precision.
using SparseGrad16f = SparseGrad<float, 16>;

}  // namespace dare
