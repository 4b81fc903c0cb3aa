// dare/search/multi_search.hpp — the top-K search of many targets against one history
// (batched ranking: one user, M candidate items).
//
// Design note. Scoring M targets against N rows into an M x N matrix (dot_rows_multi) and
// then selecting each row's top K (TopK::select) reads the matrix back twice per row. While
// the matrix stays in cache that is the faster pipeline, and MultiSearch runs it (the
// "unfused" one). For long histories the matrix does not fit (40 MB at M = 100,
// N = 100,000) and the selection took as long again as the GEMM-like dot products (2.2x them
// at A = 8). There MultiSearch never writes the matrix ("fused"): it runs the transposed
// kernel of dot_rows_multi (rows in the lanes, Q targets per register block, each score the
// same sequence of FMAs, so bit-identical to dot_rows_multi) and tests each register of
// scores against its target's running threshold t_j before dropping it:
//  - t_j starts as the k-th best of a warm-up block (the first max(tile, 16k) rows, scored
//    and selected the unfused way) and is always the k-th best of a set of k candidates, so
//    a lower bound of the final k-th best: a score below it can never be in the top K;
//  - a register with a score at or above t_j (or NaN: never below anything, so reported, not
//    lost) appends those lanes (score, position), in position order, to target j's buffer;
//  - when a buffer passes max(4k, 64) entries it is cut back to the entries not below its
//    k-th best, which becomes t_j (ties at t_j are kept, so ties still go to the higher
//    position); the final top K of each buffer is TopK's.
// For scores in random order a target appends about k ln(N / warm-up) entries; scores rising
// with position (recency-heavy) append more and cost more cuts, never a wrong answer. Where
// each pipeline wins is measured, not guessed: see fuses(). A padding mask (padded positions
// score TopK::kPaddingScore, which a threshold test on the dot products cannot see), few
// targets (where dot_rows_multi does not transpose) and no SIMD always take the unfused
// pipeline.
//
// One target without a mask (m = 1) takes neither: dot_rows_max scores the rows and keeps,
// in the same pass, the group maxima of TopK's bound, and TopK::select_with_maxima then
// gathers and ranks without a pass of its own to find the bound. For a history read from
// memory the scores are in L2 by then, so that pass cost a read of 4n bytes from L2
// (measured: see README.md, search speed).
//
// Results equal dot_rows_multi followed by TopK::select on every row, with any pipeline:
// same positions, same scores, same tie and padding rules (see topk.hpp; one mask shared by
// all targets). A NaN score at a valid position throws std::invalid_argument naming the
// target and the position. Buffers live in the object, which allocates only when m, n or k
// grow; one object per thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#endif

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/search/dot_kernels.hpp"
#include "dare/search/topk.hpp"

namespace dare {

/// Top-K search of m targets against the same n rows: for each target j, the k rows with the
/// largest <query_j, row>, best first. `Dim` and `Arch` as in dot_rows.
template <class Scalar, int Dim = Dynamic, class Arch = xsimd::default_arch>
class MultiSearch {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "MultiSearch scores are float or double");

 public:
  /// Throws std::invalid_argument unless k > 0.
  explicit MultiSearch(Index k) : topk_(k), k_(k), cap_(std::max<Index>(4 * k, 64)) {}

  Index k() const noexcept { return k_; }

  /// Which pipeline search() runs: kAuto picks by size (see the design note), kFused and
  /// kUnfused force one (kFused still runs the unfused pipeline where the fused one does not
  /// apply: a padding mask, few targets, no SIMD). One target without a mask takes the
  /// single-target path (see the design note) under any strategy. Results are the same
  /// either way.
  enum class Strategy { kAuto, kFused, kUnfused };
  void set_strategy(Strategy strategy) noexcept { strategy_ = strategy; }
  Strategy strategy() const noexcept { return strategy_; }

  /// Whether kAuto fuses for m targets, n rows: when the M x N score matrix would not stay
  /// in cache (more than 8 MB) and the history is long against k (n >= 512 k), where the
  /// fixed cost of the fused path (a warm-up top-K over the first max(tile, 16 k) rows and
  /// the final top-K of each target) is paid back. Measured on the project's machine (A = 8,
  /// M = 100, per search): N = 10,000, K = 20: unfused 341 us, fused 420; N = 40,000: 1,406
  /// vs 1,081; N = 100,000: 3,537 vs 2,014 (the bare dot products: 2,459); K = 100 ties at
  /// N = 100,000 (4,013 vs 4,078) and loses below.
  bool fuses(Index m, Index n) const noexcept {
    return m * n * Index(sizeof(Scalar)) > detail::kMultiOutputCached && n >= 512 * k_;
  }

  /// Target j (query queries + j*query_stride) gets its k best rows' positions in
  /// positions[j*out_stride, +k) and their scores in out_scores[j*out_stride, +k), best
  /// first. Rows are rows + i*row_stride, i in [0, n); `valid` is nullptr (all valid) or n
  /// flags shared by every target. Requires k <= n; the argument checks of dot_rows_multi
  /// apply, and out_stride >= k when m > 1.
  void search(const Scalar* queries, Index m, Index query_stride, const Scalar* rows, Index n,
              Index row_stride, const std::uint8_t* valid, Index* positions, Scalar* out_scores,
              Index out_stride, Index dim = Dim) {
    DARE_CHECK_ARG(m >= 0, "MultiSearch::search: m must be non-negative, got ", m);
    if (m == 0) return;
    DARE_CHECK_ARG(k_ <= n, "MultiSearch::search: k (", k_, ") must not exceed n (", n, ")");
    DARE_CHECK_ARG(positions != nullptr && out_scores != nullptr,
                   "MultiSearch::search: positions and out_scores must not be null");
    DARE_CHECK_ARG(m <= 1 || out_stride >= k_, "MultiSearch::search: out_stride (", out_stride,
                   ") must be at least k (", k_, ")");
    detail::checked_dim<Dim>("MultiSearch::search", dim);
    detail::check_queries_args("MultiSearch::search", queries, m, query_stride, n, n, dim);
    detail::check_rows_args("MultiSearch::search", queries, rows, n, row_stride, positions, dim);
    // A mask with no padded position is no mask: the same results, without TopK copying every
    // target's scores to apply it, and open to the one-target and fused pipelines.
    if (valid != nullptr && std::find(valid, valid + n, std::uint8_t{0}) == valid + n) valid = nullptr;
    if constexpr (kSimd) {
      if (m == 1 && valid == nullptr) {
        single(queries, rows, n, row_stride, positions, out_scores, dim);
        return;
      }
      const bool want = strategy_ == Strategy::kFused || (strategy_ == Strategy::kAuto && fuses(m, n));
      if (want && valid == nullptr && detail::transpose_pays(m, detail::width<Dim>(dim))) {
        fused(queries, m, query_stride, rows, n, row_stride, positions, out_scores, out_stride, dim);
        return;
      }
    }
    unfused(queries, m, query_stride, rows, n, row_stride, valid, positions, out_scores, out_stride,
            dim);
  }

 private:
  static constexpr bool kSimd = !std::is_same_v<Arch, xsimd::unavailable>;
  /// The fused path scores at least this many rows per k up front (see fused()).
  static constexpr Index kWarmPerK = 16;

  template <class V>
  static void grow(V& v, Index size) {
    if (static_cast<Index>(v.size()) < size) v.resize(static_cast<std::size_t>(size));
  }

  /// dot_rows_multi into the whole score matrix, then TopK on every row.
  void unfused(const Scalar* queries, Index m, Index query_stride, const Scalar* rows, Index n,
               Index row_stride, const std::uint8_t* valid, Index* positions, Scalar* out_scores,
               Index out_stride, Index dim) {
    grow(matrix_, m * n);
    dot_rows_multi<Dim, Arch>(queries, m, query_stride, rows, n, row_stride, matrix_.data(), n, dim);
    for (Index j = 0; j < m; ++j)
      select_row(j, matrix_.data() + j * n, n, valid, positions + j * out_stride,
                 out_scores + j * out_stride);
  }

  /// One target: dot_rows_max keeps the group maxima TopK's bound needs as it scores, so
  /// the selection skips its own pass over the n scores (measured, one core of a 2-core Xeon,
  /// histories from memory: see the README's search speed section).
  void single(const Scalar* query, const Scalar* rows, Index n, Index row_stride,
              Index* positions, Scalar* out_scores, Index dim) {
    grow(matrix_, n);
    grow(group_max_, topk_.groups());
    dot_rows_max<Dim, Arch>(query, rows, n, row_stride, matrix_.data(), group_max_.data(),
                            topk_.groups(), dim);
    try {
      topk_.select_with_maxima(matrix_.data(), n, group_max_.data(), positions, out_scores);
    } catch (const std::invalid_argument&) {
      for (Index i = 0; i < n; ++i)
        if (std::isnan(matrix_[static_cast<std::size_t>(i)])) throw_nan(0, i);
      throw;
    }
  }

  /// TopK::select on target j's scores, a NaN reported with the target.
  void select_row(Index j, const Scalar* scores, Index n, const std::uint8_t* valid,
                  Index* positions, Scalar* out_scores) {
    try {
      topk_.select(scores, n, valid, positions, out_scores);
    } catch (const std::invalid_argument&) {
      for (Index i = 0; i < n; ++i)
        if ((valid == nullptr || valid[i] != 0) && std::isnan(scores[i])) throw_nan(j, i);
      throw;
    }
  }

  [[noreturn]] static void throw_nan(Index target, Index position) {
    detail::throw_invalid("MultiSearch::search: target ", target, " scores NaN at position ",
                          position);
  }

  /// The transposed kernel with the threshold test in place of the stores.
  void fused(const Scalar* queries, Index m, Index query_stride, const Scalar* rows, Index n,
             Index row_stride, Index* positions, Scalar* out_scores, Index out_stride,
             Index dim_arg) {
    using B = detail::SimdBatch<Scalar, Arch>;
    constexpr Index W = B::size;
    constexpr Index step = detail::kMultiVectors * W;
    constexpr Index Q = detail::kMultiQueries<Arch>;
    const Index dim = detail::width<Dim>(dim_arg);
    // Tiles of 32 KB of rows, as dot_rows_multi's (it stays in L1 while every block of Q
    // targets runs over it).
    const Index lanes = std::max<Index>(step, 32 * 1024 / Index(sizeof(Scalar)) / dim / step * step);
    grow(tile_, lanes * dim);
    if (static_cast<Index>(targets_.size()) < m) targets_.resize(static_cast<std::size_t>(m));
    // Warm-up: the first rows are scored into a matrix and each target starts from their
    // top k, so its threshold starts at the k-th best of `warm` scores rather than at -inf
    // (which would take every early row as a candidate and cut again and again).
    const Index warm = std::min(n, std::max(lanes, kWarmPerK * k_));
    grow(matrix_, m * warm);
    grow(keep_pos_, k_);
    grow(keep_score_, k_);
    dot_rows_multi<Dim, Arch>(queries, m, query_stride, rows, warm, row_stride, matrix_.data(), warm,
                              dim);
    for (Index j = 0; j < m; ++j) {
      Candidates& t = targets_[static_cast<std::size_t>(j)];
      select_row(j, matrix_.data() + j * warm, warm, nullptr, keep_pos_.data(), keep_score_.data());
      t.threshold = keep_score_[static_cast<std::size_t>(k_ - 1)];
      std::sort(keep_pos_.begin(), keep_pos_.begin() + k_);  // position order
      t.score.clear();
      t.position.clear();
      for (Index r = 0; r < k_; ++r) {
        const Index p = keep_pos_[static_cast<std::size_t>(r)];
        t.score.push_back(matrix_[static_cast<std::size_t>(j * warm + p)]);
        t.position.push_back(p);
      }
      t.next_cut = cap_;
    }
    for (Index t0 = warm; t0 < n; t0 += lanes) {
      const Index count = std::min(lanes, n - t0);
      const Index padded = (count + step - 1) / step * step;
      detail::transpose_rows<Arch>(rows + t0 * row_stride, count, row_stride, dim, tile_.data(), lanes);
      for (Index k = 0; k < dim; ++k)
        std::fill(tile_.begin() + k * lanes + count, tile_.begin() + k * lanes + padded, Scalar(0));
      Index j = 0;
      for (; j + Q <= m; j += Q) scan<Q>(queries, query_stride, j, lanes, t0, count, dim);
      for (; j < m; ++j) scan<1>(queries, query_stride, j, lanes, t0, count, dim);
    }
    for (Index j = 0; j < m; ++j) {
      const Candidates& t = targets_[static_cast<std::size_t>(j)];
      Index* pos = positions + j * out_stride;
      topk_.select(t.score.data(), t.size(), nullptr, pos, out_scores + j * out_stride);
      for (Index r = 0; r < k_; ++r) pos[r] = t.position[static_cast<std::size_t>(pos[r])];
    }
  }

  /// A target's candidates (position order) and its running threshold.
  struct Candidates {
    std::vector<Scalar> score;
    std::vector<Index> position;
    Scalar threshold = -std::numeric_limits<Scalar>::infinity();
    Index next_cut = 0;
    Index size() const noexcept { return static_cast<Index>(score.size()); }
  };

  /// Bit l set when lane l of x is not below t (NaN included).
  template <class B>
  static std::uint64_t reaching_lanes(const B& x, const B& t) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      if constexpr (std::is_same_v<Scalar, float>)
        return _mm512_cmp_ps_mask(x, t, _CMP_NLT_UQ);
      else
        return _mm512_cmp_pd_mask(x, t, _CMP_NLT_UQ);
    }
#endif
#if defined(__AVX__)
    if constexpr (std::is_base_of_v<xsimd::avx, Arch> && !std::is_base_of_v<xsimd::avx512f, Arch>) {
      if constexpr (std::is_same_v<Scalar, float>)
        return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(x, t, _CMP_NLT_UQ)));
      else
        return static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(x, t, _CMP_NLT_UQ)));
    }
#endif
    alignas(64) Scalar lanes[B::size];
    x.store_aligned(lanes);
    const Scalar bound = t.get(0);
    std::uint64_t bits = 0;
    for (std::size_t l = 0; l < B::size; ++l) bits |= std::uint64_t(!(lanes[l] < bound)) << l;
    return bits;
  }

  /// Targets j0 .. j0+NQ-1 over the tile (rows t0 .. t0+count-1), one register block of
  /// step rows at a time.
  template <Index NQ>
  void scan(const Scalar* queries, Index query_stride, Index j0, Index lanes, Index t0,
            Index count, Index dim) {
    using B = detail::SimdBatch<Scalar, Arch>;
    constexpr Index W = B::size;
    constexpr Index V = detail::kMultiVectors;
    static_assert(V * W <= 64, "a register block's lanes fit one 64-bit mask");
    const Scalar* q0 = queries + j0 * query_stride;
    B threshold[NQ];
    for (Index q = 0; q < NQ; ++q) threshold[q] = B(targets_[static_cast<std::size_t>(j0 + q)].threshold);
    for (Index r0 = 0; r0 < count; r0 += V * W) {
      B acc[NQ][V];
      detail::transposed_block<Dim, Arch, NQ>(q0, query_stride, tile_.data(), lanes, r0, dim, acc);
      const Index live = std::min<Index>(V * W, count - r0);
      const std::uint64_t live_bits = live == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << live) - 1;
      for (Index q = 0; q < NQ; ++q) {
        std::uint64_t bits = 0;
        for (Index v = 0; v < V; ++v) bits |= reaching_lanes(acc[q][v], threshold[q]) << (v * W);
        bits &= live_bits;
        if (bits == 0) continue;  // the common case once the threshold has risen
        alignas(64) Scalar lane_scores[V * W];
        for (Index v = 0; v < V; ++v) acc[q][v].store_aligned(lane_scores + v * W);
        Candidates& target = targets_[static_cast<std::size_t>(j0 + q)];
        for (; bits != 0; bits &= bits - 1) {
          const auto l = static_cast<Index>(__builtin_ctzll(bits));
          if (std::isnan(lane_scores[l])) throw_nan(j0 + q, t0 + r0 + l);
          target.score.push_back(lane_scores[l]);
          target.position.push_back(t0 + r0 + l);
        }
        if (target.size() > target.next_cut) {
          cut(target);
          threshold[q] = B(target.threshold);
        }
      }
    }
  }

  /// Raises the target's threshold to the k-th best of its candidates (with them, the k-th
  /// best so far) and drops the candidates below it, keeping position order.
  void cut(Candidates& t) {
    const Index c = t.size();
    scratch_.assign(t.score.begin(), t.score.end());
    std::nth_element(scratch_.begin(), scratch_.begin() + (c - k_), scratch_.end());
    t.threshold = scratch_[static_cast<std::size_t>(c - k_)];
    Index kept = 0;
    for (Index r = 0; r < c; ++r) {
      const auto from = static_cast<std::size_t>(r);
      const auto to = static_cast<std::size_t>(kept);
      t.score[to] = t.score[from];
      t.position[to] = t.position[from];
      kept += !(t.score[from] < t.threshold);
    }
    t.score.resize(static_cast<std::size_t>(kept));
    t.position.resize(static_cast<std::size_t>(kept));
    // Ties at the threshold may keep more than k: cut again only once the buffer doubles.
    t.next_cut = std::max(cap_, 2 * kept);
  }

  TopK<Scalar, Arch> topk_;
  Index k_;
  Index cap_;
  Strategy strategy_ = Strategy::kAuto;
  AlignedVector<Scalar> tile_;    // the transposed tile (fused path)
  AlignedVector<Scalar> matrix_;  // the whole score matrix (unfused path; one target's scores)
  AlignedVector<Scalar> group_max_;  // one target's group maxima
  std::vector<Candidates> targets_;
  std::vector<Index> keep_pos_;
  std::vector<Scalar> keep_score_;
  std::vector<Scalar> scratch_;
};

}  // namespace dare
