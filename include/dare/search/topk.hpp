// dare/search/topk.hpp — the K best of N scores, as the search stage (GSU) keeps them.
//
// Design note. K (20) is small next to N (200 .. 100k), and a different user history comes
// with every call, so what costs is mispredicted branches, not compares: a bounded heap
// mispredicts on most accepted entries, several times per sift, and again in the final sort
// (measured on this project's machine, N = 200, K = 20: ~1.8 us per call with a fresh input
// each time, 0.5 us when the same input repeats and the predictor learns it). select() is
// therefore mostly branch-free and vectorized (xsimd, `Arch`), ~0.35 us on the same test:
//  1. a lower bound on the k-th best score: the k-th largest of the maxima of G >= k
//     disjoint groups of positions (G = k rounded up to 16; those k maxima are k distinct
//     entries, so at least k entries reach the bound);
//  2. gather the entries at or above it, in position order (chunks of 16 without one are
//     skipped by one vector test); for distinct scores about 1.5k remain (~30 for k = 20,
//     N = 200 .. 10k);
//  3. rank them by counting, for each, the candidates better than it (c^2 / W vector
//     compares, no branches) and write the first k in rank order.
// Small N skips step 1; when ties leave more than min(4k, 256) candidates (e.g. many padded
// positions, all at the sentinel) or k > 64, step 3 is a bounded min-heap over the
// candidates instead: its root is the running threshold, and since candidates come in
// position order a newcomer that ties the root wins, so rejecting is `score < root`.
// Buffers live in the TopK object: select() allocates only when n exceeds every earlier n,
// and a TopK is not shareable between threads (use one per thread).
//
// Semantics follow torch.topk over masked scores, as in the public reference code:
// * a padded position (valid[i] == 0) scores kPaddingScore = -2^32 + 1 whatever scores[i]
//   holds, and competes like any other entry; so when fewer than k positions are valid the
//   remaining slots are filled with padded positions carrying the sentinel score;
// * ties: equal scores rank the higher position first (the more recent behaviour, since
//   histories are oldest-first). torch.topk leaves tie order unspecified; dare pins it.
// * a NaN score at a valid position is an error (std::invalid_argument naming the
//   position), never silently ranked.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare {

namespace detail {

template <class Scalar>
void check_topk_args(const char* fn, Index k, const Scalar* scores, Index n, const Index* positions,
                     const Scalar* out_scores) {
  DARE_CHECK_ARG(k <= n, fn, ": k (", k, ") must not exceed n (", n, ")");
  DARE_CHECK_ARG(scores != nullptr && positions != nullptr && out_scores != nullptr, fn,
                 ": scores, positions and out_scores must not be null");
}

/// Lanes of xsimd::batch<Scalar, Arch>; 1 when no SIMD architecture is available.
template <class Scalar, class Arch, bool = std::is_same_v<Arch, xsimd::unavailable>>
struct simd_lanes {
  static constexpr Index value = Index(xsimd::batch<Scalar, Arch>::size);
};
template <class Scalar, class Arch>
struct simd_lanes<Scalar, Arch, true> {
  static constexpr Index value = 1;
};

[[noreturn]] inline void throw_nan_score(const char* fn, Index position) {
  throw_invalid(fn, ": scores[", position, "] is NaN");
}

}  // namespace detail

/// Selects the k best of n scores, best first. See the design note for the algorithm,
/// padding and ties. `Arch` is the xsimd architecture of the vectorized passes.
template <class Scalar, class Arch = xsimd::default_arch>
class TopK {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "TopK scores are float or double");

 public:
  /// The score of a padded position: -2^32 + 1, as the reference implementation uses.
  static constexpr Scalar kPaddingScore = Scalar(-4294967295.0);

  /// Throws std::invalid_argument unless k > 0.
  explicit TopK(Index k) : k_(k), rank_cap_(std::min<Index>(4 * k, kRankMax)) {
    DARE_CHECK_ARG(k > 0, "TopK: k must be positive, got ", k);
    groups_ = (k + kChunk - 1) / kChunk * kChunk;
    group_max_.resize(static_cast<std::size_t>(groups_));
    group_rank_.resize(static_cast<std::size_t>(groups_));
    result_position_.resize(static_cast<std::size_t>(k) + 1);
    result_score_.resize(static_cast<std::size_t>(k) + 1);
  }

  Index k() const noexcept { return k_; }

  /// Writes the k best (position, score) pairs of scores[0, n), best first, to positions[0, k)
  /// and out_scores[0, k). `valid` is nullptr (every position valid) or n flags, 0 marking a
  /// padded position. Requires k <= n (std::invalid_argument naming k and n otherwise).
  /// Allocates only when n exceeds every n this object has seen.
  void select(const Scalar* scores, Index n, const std::uint8_t* valid, Index* positions,
              Scalar* out_scores) {
    detail::check_topk_args("TopK::select", k_, scores, n, positions, out_scores);
    const Scalar* eff = effective_scores(scores, n, valid);
    Scalar bound = -std::numeric_limits<Scalar>::infinity();
    if (n > 2 * k_ && n >= groups_ && groups_ <= kMaxGroups) bound = kth_lower_bound(eff, n);
    const Index count = gather(eff, n, bound);
    if (count <= rank_cap_)
      rank_select(count, positions, out_scores);
    else
      heap_select(count, positions, out_scores);
  }

  /// select() for m score rows: row j is scores + j*score_stride (n scores) with the flags
  /// valid + j*valid_stride (valid_stride 0 shares one mask, e.g. one user history against
  /// m candidates; valid nullptr: all valid), and its k results go to positions +
  /// j*out_stride and out_scores + j*out_stride.
  void select_many(const Scalar* scores, Index m, Index n, Index score_stride,
                   const std::uint8_t* valid, Index valid_stride, Index* positions,
                   Scalar* out_scores, Index out_stride) {
    DARE_CHECK_ARG(m >= 0, "TopK::select_many: m must be non-negative, got ", m);
    DARE_CHECK_ARG(m <= 1 || score_stride >= n, "TopK::select_many: score_stride (",
                   score_stride, ") must be at least n (", n, ")");
    DARE_CHECK_ARG(m <= 1 || valid == nullptr || valid_stride == 0 || valid_stride >= n,
                   "TopK::select_many: valid_stride (", valid_stride,
                   ") must be 0 or at least n (", n, ")");
    DARE_CHECK_ARG(m <= 1 || out_stride >= k_, "TopK::select_many: out_stride (", out_stride,
                   ") must be at least k (", k_, ")");
    for (Index j = 0; j < m; ++j)
      select(scores + j * score_stride, n, valid == nullptr ? nullptr : valid + j * valid_stride,
             positions + j * out_stride, out_scores + j * out_stride);
  }

 private:
  static constexpr bool kSimd = !std::is_same_v<Arch, xsimd::unavailable>;
  /// Lanes per register (1 without SIMD: the loops below then run scalar).
  static constexpr Index W = detail::simd_lanes<Scalar, Arch>::value;
  /// Scores are examined in chunks of this many: a chunk with no candidate costs one
  /// vectorized test and one well-predicted branch.
  static constexpr Index kChunk = 16;
  static_assert(kChunk % W == 0, "a chunk holds whole registers");
  /// Candidate sets up to this size (and 4k) are ranked by counting, larger ones by the heap.
  static constexpr Index kRankMax = 256;
  /// The lower bound costs groups^2 / W operations: only worth it for small k.
  static constexpr Index kMaxGroups = 64;

  struct Entry {
    Scalar score;
    Index position;
  };

  template <class T>
  static void grow(std::vector<T>& v, Index n) {
    if (static_cast<Index>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  }

  static Index round_up(Index n) noexcept { return (n + kChunk - 1) / kChunk * kChunk; }

  /// True if any of p[0, kChunk) is >= bound.
  static bool chunk_reaches(const Scalar* p, Scalar bound) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      const B b(bound);
      auto hit = B::load_unaligned(p) >= b;
      for (Index l = W; l < kChunk; l += W) hit = hit | (B::load_unaligned(p + l) >= b);
      return xsimd::any(hit);
    } else {
      bool hit = false;
      for (Index l = 0; l < kChunk; ++l) hit |= p[l] >= bound;
      return hit;
    }
  }

  /// True if any of p[0, kChunk) is NaN.
  static bool chunk_has_nan(const Scalar* p) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      auto nan = B::load_unaligned(p) != B::load_unaligned(p);
      for (Index l = W; l < kChunk; l += W) {
        const B x = B::load_unaligned(p + l);
        nan = nan | (x != x);
      }
      return xsimd::any(nan);
    } else {
      bool nan = false;
      for (Index l = 0; l < kChunk; ++l) nan |= p[l] != p[l];
      return nan;
    }
  }

  /// rank[i] = number of v[j], j in [0, count), better than v[i]: a higher value, or an equal
  /// value at a higher index. Quadratic but branch-free, vectorized over i with the counts in
  /// registers (kept as Scalar: exact below 2^24). v and rank hold round_up(count) entries.
  static void count_better(const Scalar* v, Index count, Scalar* rank) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      const B one(Scalar(1));
      for (Index i0 = 0; i0 < count; i0 += W) {
        const B x = B::load_unaligned(v + i0);
        const Index hi = std::min(i0 + W, count);
        B acc(Scalar(0));
        Index j = 0;
        for (; j < i0; ++j)  // j before every lane: wins only with a higher value
          acc = xsimd::select(B(v[j]) > x, acc + one, acc);
        const B index = lane_indices() + B(Scalar(i0));
        for (; j < hi; ++j) {  // j among the lanes: by value, then index
          const B s(v[j]);
          acc = xsimd::select((s > x) | ((s == x) & (index < B(Scalar(j)))), acc + one, acc);
        }
        for (; j < count; ++j)  // j after every lane: wins ties too
          acc = xsimd::select(B(v[j]) >= x, acc + one, acc);
        acc.store_unaligned(rank + i0);
      }
    } else {
      for (Index i = 0; i < count; ++i) {
        Scalar better = 0;
        for (Index j = 0; j < count; ++j)
          better += Scalar((v[j] > v[i]) | ((v[j] == v[i]) & (j > i)));
        rank[i] = better;
      }
    }
  }

  template <class B = xsimd::batch<Scalar, Arch>>
  static B lane_indices() noexcept {
    alignas(64) Scalar lanes[W];
    for (Index l = 0; l < W; ++l) lanes[l] = Scalar(l);
    return B::load_aligned(lanes);
  }

  /// The scores as ranked: padded positions replaced by the sentinel (into a buffer only when
  /// there is a mask). Throws on a NaN at a valid position.
  const Scalar* effective_scores(const Scalar* scores, Index n, const std::uint8_t* valid) {
    const Scalar* eff = scores;
    if (valid != nullptr) {
      grow(masked_, n);
      for (Index i = 0; i < n; ++i) masked_[i] = valid[i] != 0 ? scores[i] : kPaddingScore;
      eff = masked_.data();
    }
    bool nan = false;
    Index i = 0;
    for (; i + kChunk <= n; i += kChunk) nan |= chunk_has_nan(eff + i);
    for (; i < n; ++i) nan |= eff[i] != eff[i];
    if (nan) {
      for (Index j = 0; j < n; ++j)
        if (std::isnan(eff[j])) detail::throw_nan_score("TopK::select", j);
    }
    return eff;
  }

  /// A score every one of the k best is at or above: the k-th largest of the maxima of
  /// `groups_` (>= k) disjoint groups of positions (those k maxima are k distinct entries).
  Scalar kth_lower_bound(const Scalar* eff, Index n) {
    Scalar* gmax = group_max_.data();
    const Index groups = groups_;
    std::copy(eff, eff + groups, gmax);
    Index i = groups;
    for (; i + groups <= n; i += groups) {
      if constexpr (kSimd) {
        using B = xsimd::batch<Scalar, Arch>;
        // select rather than xsimd::max: GCC 12 warns falsely inside _mm512_max_ps.
        for (Index g = 0; g < groups; g += W) {
          const B m = B::load_unaligned(gmax + g), x = B::load_unaligned(eff + i + g);
          xsimd::select(x > m, x, m).store_unaligned(gmax + g);
        }
      } else {
        for (Index g = 0; g < groups; ++g) gmax[g] = std::max(gmax[g], eff[i + g]);
      }
    }
    for (Index g = 0; i + g < n; ++g) gmax[g] = std::max(gmax[g], eff[i + g]);
    count_better(gmax, groups, group_rank_.data());
    Scalar bound = std::numeric_limits<Scalar>::infinity();
    for (Index g = 0; g < groups; ++g)
      bound = group_rank_[g] < Scalar(k_) && gmax[g] < bound ? gmax[g] : bound;
    return bound;
  }

  /// Copies the entries scoring at least `bound`, in position order, to the candidate
  /// buffers; returns how many. Chunks without one cost a vector test; within a chunk the
  /// copy is branch-free.
  Index gather(const Scalar* eff, Index n, Scalar bound) {
    grow(cand_score_, round_up(n));
    grow(cand_position_, n);
    Scalar* cs = cand_score_.data();
    Index* cp = cand_position_.data();
    Index count = 0;
    for (Index begin = 0; begin < n; begin += kChunk) {
      const Index end = std::min(n, begin + kChunk);
      if (end - begin == kChunk && !chunk_reaches(eff + begin, bound)) continue;
      for (Index i = begin; i < end; ++i) {
        cs[count] = eff[i];
        cp[count] = i;
        count += eff[i] >= bound;
      }
    }
    return count;
  }

  /// Ranks the candidates by counting and writes the first k: the fast path, taken when the
  /// bound leaves few candidates (always, for distinct scores, in the search stage's sizes).
  void rank_select(Index count, Index* positions, Scalar* out_scores) {
    grow(rank_, round_up(count));
    count_better(cand_score_.data(), count, rank_.data());
    // Ranks are a permutation of [0, count): write the first k, park the rest in slot k.
    for (Index i = 0; i < count; ++i) {
      const Index r = static_cast<Index>(rank_[i]);
      const Index slot = r < k_ ? r : k_;
      result_position_[slot] = cand_position_[i];
      result_score_[slot] = cand_score_[i];
    }
    std::copy(result_position_.begin(), result_position_.begin() + k_, positions);
    std::copy(result_score_.begin(), result_score_.begin() + k_, out_scores);
  }

  /// The ranking order: higher score first, then higher position.
  static bool better(const Entry& a, const Entry& b) noexcept {
    return a.score > b.score || (a.score == b.score && a.position > b.position);
  }

  /// Restores the heap (root = worst entry) after the root was replaced.
  void sift_down_root() noexcept {
    Entry* h = heap_.data();
    const Index size = k_;
    const Entry moving = h[0];
    Index hole = 0;
    for (;;) {
      Index child = 2 * hole + 1;
      if (child >= size) break;
      if (child + 1 < size && better(h[child], h[child + 1])) ++child;  // the worse child
      if (!better(moving, h[child])) break;
      h[hole] = h[child];
      hole = child;
    }
    h[hole] = moving;
  }

  /// The k best of many candidates (heavy ties, or large k): a bounded min-heap whose root
  /// is the running threshold. Candidates come in position order, so one that ties the root
  /// has the higher position and wins: rejecting is exactly `score < root score`.
  void heap_select(Index count, Index* positions, Scalar* out_scores) {
    const auto by_rank = [](const Entry& a, const Entry& b) { return better(a, b); };
    grow(heap_, k_);
    const Scalar* cs = cand_score_.data();
    const Index* cp = cand_position_.data();
    for (Index i = 0; i < k_; ++i) heap_[i] = Entry{cs[i], cp[i]};
    // std heap algorithms keep the "largest" element under the comparator at the root;
    // under `better` that is the worst entry.
    std::make_heap(heap_.begin(), heap_.begin() + k_, by_rank);
    for (Index i = k_; i < count; ++i) {
      if (cs[i] < heap_[0].score) continue;
      heap_[0] = Entry{cs[i], cp[i]};
      sift_down_root();
    }
    std::sort(heap_.begin(), heap_.begin() + k_, by_rank);
    for (Index r = 0; r < k_; ++r) {
      positions[r] = heap_[r].position;
      out_scores[r] = heap_[r].score;
    }
  }

  Index k_;
  Index rank_cap_;
  Index groups_ = 0;
  std::vector<Scalar> masked_;
  std::vector<Scalar> group_max_;
  std::vector<Scalar> group_rank_;
  std::vector<Scalar> cand_score_;
  std::vector<Index> cand_position_;
  std::vector<Scalar> rank_;
  std::vector<Index> result_position_;
  std::vector<Scalar> result_score_;
  std::vector<Entry> heap_;
};

namespace reference {

/// The k best of n scores by a full stable sort (for tests): same contract as TopK::select.
template <class Scalar>
void topk_reference(const Scalar* scores, Index n, const std::uint8_t* valid, Index k,
                    Index* positions, Scalar* out_scores) {
  DARE_CHECK_ARG(k > 0, "reference::topk_reference: k must be positive, got ", k);
  detail::check_topk_args("reference::topk_reference", k, scores, n, positions, out_scores);
  std::vector<Scalar> effective(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    if (valid != nullptr && valid[i] == 0) {
      effective[i] = TopK<Scalar>::kPaddingScore;
    } else {
      if (std::isnan(scores[i])) detail::throw_nan_score("reference::topk_reference", i);
      effective[i] = scores[i];
    }
  }
  // Start from descending positions: the stable sort by score then keeps equal scores with
  // the higher position first.
  std::vector<Index> order(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) order[i] = n - 1 - i;
  std::stable_sort(order.begin(), order.end(),
                   [&](Index a, Index b) { return effective[a] > effective[b]; });
  for (Index r = 0; r < k; ++r) {
    positions[r] = order[r];
    out_scores[r] = effective[order[r]];
  }
}

}  // namespace reference

}  // namespace dare
