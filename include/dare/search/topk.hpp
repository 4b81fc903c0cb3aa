// dare/search/topk.hpp — the K best of N scores, as the search stage (GSU) keeps them.
//
// Design note. K (20..100) is small next to N (200 .. 100k), and a different user history
// comes with every call, so what costs is mispredicted branches and passes over the scores,
// not compares: a bounded heap mispredicts on most accepted entries, several times per sift,
// and again in the final sort (measured on this project's machine, N = 200, K = 20: ~1.8 us
// per call with a fresh input each time). select() is mostly branch-free and vectorized
// (xsimd, `Arch`), two passes over the scores:
//  1. a lower bound on the k-th best score: the k-th largest of the maxima of G > k disjoint
//     groups of positions (those k maxima are k distinct entries, so at least k entries
//     reach the bound). The maxima live in 8 register chains (vmaxps, no blend; the chains
//     hide its latency), position i in group i mod 8W, in n/8W-sized segments when k needs
//     more groups; the groups are then merged down to G (~1.5k; ~3k from k = 64 on) and
//     the k-th largest maximum found: by counting for each maximum the higher ones (G^2 / W
//     vector compares; ties need no order here) up to G = 64, above by bisection on the
//     maxima's order-keeping integer keys (about 32 rounds of G / W compares);
//  2. gather the entries at or above it (and any NaN, to report it), in position order:
//     spans of 64 without one are skipped by four vector compares, AVX-512 extracts a chunk's
//     candidates with compress instructions, AVX2 with a permutation looked up by the
//     compare's mask, other targets copy branch-free; for distinct scores about 1.6k remain
//     (fewer with G ~ 3k);
//  3. rank them by counting, for each, the higher candidates (c^2 / W vector compares,
//     two registers sharing each broadcast, no branches); those counts sum to c(c - 1)/2
//     exactly when no two candidates tie, and otherwise the ranks are counted again with
//     ties broken by position (three compares a pair); the first k are written in rank
//     order, branch-free.
//     Serving's shape (n = 200, k = 20, about 28 candidates, 1,000 rows a call), one core
//     of the Ice Lake Xeon, medians of five alternating runs: AVX2 670 -> 402 ns a row,
//     AVX-512 494 -> 300, against ranking with ties every time, a serial reduction of
//     the bound's lanes and a branch on r < k in the write (mispredicted on about every
//     third candidate).
// select_with_maxima takes step 1's maxima from a caller that kept them while it made the
// scores (dot_rows_max, for MultiSearch's single target), over interleaved groups instead.
// Measured (N = 10k, scores in L2): K = 20 1.1 us, K = 100 3.7 us (the previous version,
// with the group maxima in memory and one bound for K <= 64 only: 2.5 and 34 us). On a
// 2-core Xeon (Ice Lake), 10,000 fresh scores per call (a new slice of a 16 MB pool), one
// core, medians of five alternating runs' p50: K = 100 took AVX2 16.9 us and AVX-512 7.0
// with the maxima ranked by counting in float lanes and a branch-free scalar gather on
// AVX2; the integer counts, the permutation, bisection and ~3k groups make it 7.2 and 5.4
// (K = 20: 3.6 and 2.7, now 2.8 and 2.6). Inputs repeated every 16 calls flatter branchy
// code (the predictor learns them) and gave about half these times.
// n <= G skips step 1. When ties leave more than min(4k, 256) candidates (e.g. many padded
// positions, all at the sentinel), they are first cut to exactly the k best: those above the
// k-th best score t (found by the same bisection) and, of those equal to t, the last ones in
// position order; for k > 256 step 3 is a bounded min-heap over the candidates instead: its
// root is the running threshold, and since candidates come in position order a newcomer that
// ties the root wins, so rejecting is `score < root`.
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
#include <array>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#  include <immintrin.h>
#  define DARE_DETAIL_TOPK_X86 1
#else
#  define DARE_DETAIL_TOPK_X86 0
#endif

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/simd.hpp"

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

/// kPackedLanes[m]: the indices of the set bits of the 8-bit mask m, lowest first, one per
/// byte from the lowest (the rest 0): the permutation that packs a register's selected lanes
/// to its front (TopK's AVX2 gather).
inline constexpr std::array<std::uint64_t, 256> kPackedLanes = [] {
  std::array<std::uint64_t, 256> table{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned at = 0;
    for (unsigned lane = 0; lane < 8; ++lane)
      if (m >> lane & 1u) table[m] |= std::uint64_t(lane) << (8 * at++);
  }
  return table;
}();

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
    // > k: ~1.5k, or ~3k from k = 64 on, where bisection makes more groups cheap and the
    // tighter bound leaves fewer candidates (measured on 16 rotating inputs of 10,000
    // scores, K = 100: 4.0 -> 3.9 us with AVX-512, 5.4 -> 4.6 with AVX2; at K = 20 twice
    // the groups cost 0.3 us).
    groups_ = ((k < 64 ? 3 * k / 2 : 3 * k) + W) / W * W;
    segments_ = (groups_ + kStride - 1) / kStride;
    group_max_.resize(static_cast<std::size_t>(segments_ * kStride));
    group_rank_.resize(static_cast<std::size_t>(groups_));
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
    const Scalar bound =
        n > groups_ ? kth_lower_bound(eff, n) : -std::numeric_limits<Scalar>::infinity();
    finish(eff, n, bound, positions, out_scores);
  }

  /// How many group maxima select_with_maxima takes: more than k, a multiple of Arch's lanes.
  Index groups() const noexcept { return groups_; }

  /// select(scores, n, nullptr, positions, out_scores) for a caller that kept, as it made the
  /// scores, group_max[g] = the largest scores[i] with i = g (mod groups()) (NaN left out;
  /// dot_rows_max keeps them): the bound comes from those maxima, with no pass over the
  /// scores of its own. Same results and errors as select(). Any partition into groups()
  /// groups would do; the interleaved one is what a scan can keep in a few registers.
  void select_with_maxima(const Scalar* scores, Index n, const Scalar* group_max,
                          Index* positions, Scalar* out_scores) {
    detail::check_topk_args("TopK::select_with_maxima", k_, scores, n, positions, out_scores);
    DARE_CHECK_ARG(group_max != nullptr, "TopK::select_with_maxima: group_max must not be null");
    const Scalar bound =
        n > groups_ ? kth_maximum(group_max) : -std::numeric_limits<Scalar>::infinity();
    finish(scores, n, bound, positions, out_scores);
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
  /// The gather tests scores a span at a time (a span without a candidate costs a few vector
  /// compares and one well-predicted branch), then a span's chunks one at a time.
  static constexpr Index kChunk = 16;
  static constexpr Index kSpan = 4 * kChunk;
  static_assert(kChunk % W == 0, "a chunk holds whole registers");
  /// Candidate sets up to this size (and 4k) are ranked by counting; larger ones (ties) are
  /// first cut to the k best (keep_best).
  static constexpr Index kRankMax = 256;
  /// Up to this many group maxima are ranked by counting (groups^2 / W compares), more by
  /// bisection (kth_largest: ~32 rounds of groups / W compares and a reduction).
  static constexpr Index kCountedGroups = 64;
  /// Independent max chains in the group-maxima pass: enough to hide a max's latency (4
  /// cycles on current x86) behind two loads per cycle.
  static constexpr Index kChains = 8;
  /// Within a segment, positions i and j share a group when i == j mod kStride.
  static constexpr Index kStride = kChains * W;
#if DARE_DETAIL_TOPK_X86
  /// AVX-512 extracts a chunk's candidates with compress instructions, no loop; AVX2 (float
  /// scores) with a permutation looked up by the compare's 8-bit mask.
  static constexpr bool kCompress = std::is_base_of_v<xsimd::avx512f, Arch>;
  static constexpr bool kPermute = !kCompress && std::is_base_of_v<xsimd::avx2, Arch> &&
                                   std::is_same_v<Scalar, float>;
#else
  static constexpr bool kCompress = false;
  static constexpr bool kPermute = false;
#endif

  /// count_better's counts: integers as wide as a Scalar, so that they share its lanes.
  using Count = std::conditional_t<std::is_same_v<Scalar, float>, std::int32_t, std::int64_t>;
  using CountBatch = std::conditional_t<kSimd, xsimd::batch<Count, Arch>, Count>;

  struct Entry {
    Scalar score;
    Index position;
  };

  template <class T>
  static void grow(std::vector<T>& v, Index n) {
    if (static_cast<Index>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  }

  /// True if some p[l], l in [0, len) (len a multiple of W), is a candidate: not below the
  /// bound, or NaN (so that a NaN cannot hide in a skipped span).
  static bool reaches(const Scalar* p, Index len, Scalar bound) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      const B b(bound);
      auto below = B::load_unaligned(p) < b;
      for (Index l = W; l < len; l += W) below = below & (B::load_unaligned(p + l) < b);
      return !xsimd::all(below);
    } else {
      bool hit = false;
      for (Index l = 0; l < len; ++l) hit |= !(p[l] < bound);
      return hit;
    }
  }

  /// Appends the candidates among p[0, kChunk) (positions from `first`) to cs and cp, which
  /// have room for kChunk more entries; returns how many there were.
  static Index take_chunk(const Scalar* p, Index first, Scalar bound, Scalar* cs,
                          Index* cp) noexcept {
#if DARE_DETAIL_TOPK_X86
    if constexpr (kCompress) {
      Index taken = 0;
      for (Index l = 0; l < kChunk; l += W) {
        const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        const __m512i pos = _mm512_add_epi64(_mm512_set1_epi64(first + l), lane);
        if constexpr (std::is_same_v<Scalar, float>) {
          const __m512 x = _mm512_loadu_ps(p + l);
          const __mmask16 hit = _mm512_cmp_ps_mask(x, _mm512_set1_ps(bound), _CMP_NLT_UQ);
          const auto lo = static_cast<__mmask8>(hit), hi = static_cast<__mmask8>(hit >> 8);
          const Index n_lo = Index(std::bitset<8>(lo).count());
          _mm512_storeu_ps(cs + taken, _mm512_maskz_compress_ps(hit, x));
          _mm512_storeu_si512(cp + taken, _mm512_maskz_compress_epi64(lo, pos));
          _mm512_storeu_si512(cp + taken + n_lo, _mm512_maskz_compress_epi64(
                                                     hi, _mm512_add_epi64(pos, _mm512_set1_epi64(8))));
          taken += n_lo + Index(std::bitset<8>(hi).count());
        } else {
          const __m512d x = _mm512_loadu_pd(p + l);
          const __mmask8 hit = _mm512_cmp_pd_mask(x, _mm512_set1_pd(bound), _CMP_NLT_UQ);
          _mm512_storeu_pd(cs + taken, _mm512_maskz_compress_pd(hit, x));
          _mm512_storeu_si512(cp + taken, _mm512_maskz_compress_epi64(hit, pos));
          taken += Index(std::bitset<8>(hit).count());
        }
      }
      return taken;
    } else if constexpr (kPermute) {
      static_assert(kChunk == 2 * W, "two registers per chunk");
      const __m256 b = _mm256_set1_ps(bound);
      const __m256 x[2] = {_mm256_loadu_ps(p), _mm256_loadu_ps(p + W)};
      const unsigned hits[2] = {
          static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(x[0], b, _CMP_NLT_UQ))),
          static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(x[1], b, _CMP_NLT_UQ)))};
      // A chunk of a span that reaches has no candidate more often than not. Skipping it
      // paid here, where packing costs two registers' worth of lookups and permutes; with
      // AVX-512's compress the branch's mispredictions cost more than it saved (selecting
      // K = 100 of 10,000 fresh scores: gather 7,300 cycles without it, 9,900 with).
      if ((hits[0] | hits[1]) == 0) return 0;
      Index taken = 0;
      for (Index h = 0; h < 2; ++h) {
        // The lanes of the hits, packed to the front: the permutation and, widened, the
        // positions.
        const __m256i lanes = _mm256_cvtepu8_epi32(
            _mm_cvtsi64_si128(static_cast<long long>(detail::kPackedLanes[hits[h]])));
        _mm256_storeu_ps(cs + taken, _mm256_permutevar8x32_ps(x[h], lanes));
        const __m256i base = _mm256_set1_epi64x(first + h * W);
        const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(lanes));
        const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(lanes, 1));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(cp + taken), _mm256_add_epi64(base, lo));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(cp + taken + 4), _mm256_add_epi64(base, hi));
        taken += Index(std::bitset<8>(hits[h]).count());
      }
      return taken;
    } else
#endif
    {
      if (!reaches(p, kChunk, bound)) return 0;
      Index taken = 0;  // branch-free: every entry is written, the count moves on candidates
      for (Index l = 0; l < kChunk; ++l) {
        cs[taken] = p[l];
        cp[taken] = first + l;
        taken += !(p[l] < bound);
      }
      return taken;
    }
  }

  /// c + 1 in the lanes where `hit` holds. On x86 one integer instruction: a compare's true
  /// lanes are all ones, -1 as integers, so c - hit (AVX-512: an add under the mask). A
  /// float select (compare, add, blend) was twice the instructions in count_better's inner
  /// loop. AVX without AVX2 (no 256-bit integer subtract) takes xsimd's generic form.
  template <class C, class M>
  static C add_where(const C& c, const M& hit) noexcept {
#if DARE_DETAIL_TOPK_X86
    constexpr bool f32 = std::is_same_v<Scalar, float>;
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      if constexpr (f32)
        return C(_mm512_mask_add_epi32(c, hit, c, _mm512_set1_epi32(1)));
      else
        return C(_mm512_mask_add_epi64(c, hit, c, _mm512_set1_epi64(1)));
    } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
      if constexpr (f32)
        return C(_mm256_sub_epi32(c, _mm256_castps_si256(hit)));
      else
        return C(_mm256_sub_epi64(c, _mm256_castpd_si256(hit)));
    } else if constexpr (std::is_base_of_v<xsimd::sse2, Arch> &&
                         !std::is_base_of_v<xsimd::avx, Arch>) {
      if constexpr (f32)
        return C(_mm_sub_epi32(c, _mm_castps_si128(hit)));
      else
        return C(_mm_sub_epi64(c, _mm_castpd_si128(hit)));
    } else
#endif
    {
      return c - xsimd::bitwise_cast<C>(xsimd::bitwise_cast<Arch>(hit));
    }
  }

  /// Lane-wise count of j in [j0, j1) with better(broadcast v[j]) true; four partial counts,
  /// so that each add waits on the one four steps back, not the previous one.
  template <class B, class Better>
  static CountBatch count_range(const Scalar* v, Index j0, Index j1, Better better) noexcept {
    CountBatch c0(Count(0)), c1(Count(0)), c2(Count(0)), c3(Count(0));
    Index j = j0;
    for (; j + 4 <= j1; j += 4) {
      c0 = add_where(c0, better(B(v[j]), j));
      c1 = add_where(c1, better(B(v[j + 1]), j + 1));
      c2 = add_where(c2, better(B(v[j + 2]), j + 2));
      c3 = add_where(c3, better(B(v[j + 3]), j + 3));
    }
    for (; j < j1; ++j) c0 = add_where(c0, better(B(v[j]), j));
    return (c0 + c1) + (c2 + c3);
  }

  /// The sum of c's lanes. Summed from memory: xsimd 8.1's hadd on AVX-512 trips GCC 12's
  /// false -Wuninitialized inside the intrinsics (bug 105593) in every file that includes this.
  static Index lane_total(const CountBatch& c) noexcept {
    alignas(64) Count lanes[W];
    c.store_aligned(lanes);
    Index total = 0;
    for (Index l = 0; l < W; ++l) total += lanes[l];
    return total;
  }

  /// rank[i] = number of v[j], j in [0, count), above v[i] (equal ones not counted): one
  /// compare per pair, where count_better's ties cost three. Two registers of v share each
  /// broadcast v[j], and each of their counts has two partial sums. v and rank hold count
  /// rounded up to W entries (v's extra entries are read, whatever they hold, and ranked
  /// nowhere; v may be a caller's group maxima). With no ties among v[0, count) these are
  /// count_better's ranks. Returns the sum of the ranks written, whole registers included.
  static Index count_greater(const Scalar* v, Index count, Count* rank) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      CountBatch total(Count(0));
      for (Index i0 = 0; i0 < count; i0 += 2 * W) {
        // The last pass may hold one register: its second then repeats the first, unwritten.
        const bool two = i0 + W < count;
        const B x0 = B::load_unaligned(v + i0), x1 = two ? B::load_unaligned(v + i0 + W) : x0;
        CountBatch a0(Count(0)), a1(Count(0)), b0(Count(0)), b1(Count(0));
        Index j = 0;
        for (; j + 2 <= count; j += 2) {
          const B s(v[j]), t(v[j + 1]);
          a0 = add_where(a0, s > x0);
          a1 = add_where(a1, s > x1);
          b0 = add_where(b0, t > x0);
          b1 = add_where(b1, t > x1);
        }
        if (j < count) {
          const B s(v[j]);
          a0 = add_where(a0, s > x0);
          a1 = add_where(a1, s > x1);
        }
        const CountBatch r0 = a0 + b0, r1 = a1 + b1;
        r0.store_unaligned(rank + i0);
        total = total + r0;
        if (two) {
          r1.store_unaligned(rank + i0 + W);
          total = total + r1;
        }
      }
      return lane_total(total);
    } else {
      Index sum = 0;
      for (Index i = 0; i < count; ++i) {
        Count above = 0;
        for (Index j = 0; j < count; ++j) above += Count(v[j] > v[i]);
        rank[i] = above;
        sum += above;
      }
      return sum;
    }
  }

  /// rank[i] = number of v[j], j in [0, count), better than v[i]: a higher value, or an equal
  /// value at a higher index. Quadratic but branch-free, vectorized over i with the counts in
  /// integer registers. v and rank hold count rounded up to W entries (v's extra entries are
  /// read, whatever they hold, and ranked nowhere).
  static void count_better(const Scalar* v, Index count, Count* rank) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      for (Index i0 = 0; i0 < count; i0 += W) {
        const B x = B::load_unaligned(v + i0);
        const Index hi = std::min(i0 + W, count);
        const B index = lane_indices() + B(Scalar(i0));
        // j before every lane wins only with a higher value; j among the lanes by value,
        // then index; j after every lane wins ties too.
        const CountBatch before =
            count_range<B>(v, 0, i0, [&](const B& s, Index) { return s > x; });
        const CountBatch among = count_range<B>(v, i0, hi, [&](const B& s, Index j) {
          return (s > x) | ((s == x) & (index < B(Scalar(j))));
        });
        const CountBatch after =
            count_range<B>(v, hi, count, [&](const B& s, Index) { return s >= x; });
        (before + among + after).store_unaligned(rank + i0);
      }
    } else {
      for (Index i = 0; i < count; ++i) {
        Count better = 0;
        for (Index j = 0; j < count; ++j)
          better += Count((v[j] > v[i]) | ((v[j] == v[i]) & (j > i)));
        rank[i] = better;
      }
    }
  }

  /// Unsigned integers as wide as a Scalar, and the map of scores to them that keeps their
  /// order (-0 and +0 aside, which the float compares below treat as equal).
  using Key = std::conditional_t<std::is_same_v<Scalar, float>, std::uint32_t, std::uint64_t>;
  static constexpr Key kSignBit = Key(1) << (8 * sizeof(Key) - 1);
  static Key key_of(Scalar x) noexcept {
    Key u;
    std::memcpy(&u, &x, sizeof u);
    return (u & kSignBit) != 0 ? Key(~u) : Key(u | kSignBit);
  }
  static Scalar value_of(Key key) noexcept {
    const Key u = (key & kSignBit) != 0 ? Key(key & ~kSignBit) : Key(~key);
    Scalar x;
    std::memcpy(&x, &u, sizeof x);
    return x;
  }

  /// How many of v[0, padded) (padded a multiple of W) are at least x; NaN counts nowhere.
  static Index count_at_least(const Scalar* v, Index padded, Scalar x) noexcept {
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      const B b(x);
      CountBatch c0(Count(0)), c1(Count(0));
      Index i = 0;
      for (; i + 2 * W <= padded; i += 2 * W) {
        c0 = add_where(c0, B::load_unaligned(v + i) >= b);
        c1 = add_where(c1, B::load_unaligned(v + i + W) >= b);
      }
      if (i < padded) c0 = add_where(c0, B::load_unaligned(v + i) >= b);
      return lane_total(c0 + c1);
    } else {
      Index c = 0;
      for (Index i = 0; i < padded; ++i) c += v[i] >= x;
      return c;
    }
  }

  /// The k-th largest of v[0, count) (k <= count; v holds count rounded up to W entries, the
  /// extra ones NaN): bisection on the order-keeping keys, each round one count over v,
  /// about 32 rounds of count/W compares, where ranking v by counting takes count^2/W.
  static Scalar kth_largest(const Scalar* v, Index count, Index k) noexcept {
    const Index padded = (count + W - 1) / W * W;
    Scalar low = v[0], high = v[0];
    for (Index i = 1; i < count; ++i) {
      low = v[i] < low ? v[i] : low;
      high = v[i] > high ? v[i] : high;
    }
    // count_at_least(value_of(lo)) >= k > count_at_least(value_of(hi)), hi past the largest.
    Key lo = key_of(low);
    Key hi = key_of(high);
    if (count_at_least(v, padded, high) >= k) return high;
    while (hi - lo > 1) {
      const Key mid = lo + (hi - lo) / 2;
      const bool enough = count_at_least(v, padded, value_of(mid)) >= k;
      lo = enough ? mid : lo;
      hi = enough ? hi : mid;
    }
    return value_of(lo);
  }

  /// Keeps exactly the k best of the count candidates, in position order: those above the
  /// k-th best score t, then of those equal to t the last ones (ties go to the higher
  /// position). Branch-free.
  Index keep_best(Index count) noexcept {
    Scalar* cs = cand_score_.data();
    Index* cp = cand_position_.data();
    const Index padded = (count + W - 1) / W * W;
    for (Index i = count; i < padded; ++i) cs[i] = std::numeric_limits<Scalar>::quiet_NaN();
    const Scalar t = kth_largest(cs, count, k_);
    const Index at_least = count_at_least(cs, padded, t);
    Index above = 0;
    for (Index i = 0; i < count; ++i) above += cs[i] > t;
    const Index skip = at_least - above - (k_ - above);  // ties at t that lose
    Index kept = 0, ties = 0;
    for (Index i = 0; i < count; ++i) {
      const Scalar s = cs[i];
      const bool tie = s == t;
      const bool keep = (s > t) | (tie & (ties >= skip));
      ties += tie;
      cs[kept] = s;
      cp[kept] = cp[i];
      kept += keep;
    }
    return kept;
  }

  template <class B = xsimd::batch<Scalar, Arch>>
  static B lane_indices() noexcept {
    alignas(64) Scalar lanes[W];
    for (Index l = 0; l < W; ++l) lanes[l] = Scalar(l);
    return B::load_aligned(lanes);
  }

  /// The scores as ranked: padded positions replaced by the sentinel (into a buffer only when
  /// there is a mask).
  const Scalar* effective_scores(const Scalar* scores, Index n, const std::uint8_t* valid) {
    if (valid == nullptr) return scores;
    grow(masked_, n);
    for (Index i = 0; i < n; ++i) masked_[i] = valid[i] != 0 ? scores[i] : kPaddingScore;
    return masked_.data();
  }

  /// max(x, m); x when m is NaN, m when x is: NaN scores are caught by the gather, which
  /// takes every NaN as a candidate.
  template <class V>
  static V max_of(const V& x, const V& m) noexcept {
    if constexpr (std::is_same_v<V, Scalar>) {
      return x > m ? x : m;
    } else {
#if DARE_DETAIL_TOPK_X86
      // GCC 12 warns falsely inside _mm512_max_ps (its _mm512_undefined_ps, GCC bug
      // 105593); the merge-masked form has no undefined operand. One vmaxps, where
      // xsimd::select would be a compare and a blend.
      if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
        if constexpr (std::is_same_v<Scalar, float>)
          return V(_mm512_mask_max_ps(m, static_cast<__mmask16>(0xFFFF), x, m));
        else
          return V(_mm512_mask_max_pd(m, static_cast<__mmask8>(0xFF), x, m));
      } else
#endif
      {
        return xsimd::max(x, m);
      }
    }
  }

  /// gmax[g] = the largest p[i], i in [0, count), with i == g mod kStride (-inf for a group
  /// with no entry): kChains register chains over whole strides, then the rest.
  static void stride_maxima(const Scalar* p, Index count, Scalar* gmax) noexcept {
    constexpr Scalar lowest = -std::numeric_limits<Scalar>::infinity();
    Index i = 0;
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      B m[kChains];
      for (Index c = 0; c < kChains; ++c) m[c] = B(lowest);
      for (; i + kStride <= count; i += kStride)
        for (Index c = 0; c < kChains; ++c) m[c] = max_of(B::load_unaligned(p + i + c * W), m[c]);
      for (Index c = 0; c < kChains; ++c) m[c].store_unaligned(gmax + c * W);
      for (Index g = 0; i + W <= count; i += W, g += W)
        max_of(B::load_unaligned(p + i), B::load_unaligned(gmax + g)).store_unaligned(gmax + g);
      for (Index g = 0; i < count; ++i, ++g) gmax[g] = max_of(p[i], gmax[g]);
    } else {
      for (Index g = 0; g < kStride; ++g) gmax[g] = lowest;
      for (; i < count; ++i) gmax[i % kStride] = max_of(p[i], gmax[i % kStride]);
    }
  }

  /// A score every one of the k best is at or above: the k-th largest of the maxima of
  /// `groups_` (> k) disjoint groups of positions (those k maxima are k distinct entries).
  /// One pass with the maxima in registers: n splits into segments_ parts of kStride groups
  /// each, then groups are merged down to groups_ (a merge of groups is still a partition).
  Scalar kth_lower_bound(const Scalar* eff, Index n) {
    Scalar* gmax = group_max_.data();
    for (Index s = 0; s < segments_; ++s) {
      const Index begin = n * s / segments_, end = n * (s + 1) / segments_;
      stride_maxima(eff + begin, end - begin, gmax + s * kStride);
    }
    const Index groups = groups_;  // a multiple of W, as kStride is
    for (Index g = groups; g < segments_ * kStride; g += W) {
      Scalar* into = gmax + g % groups;
      if constexpr (kSimd) {
        using B = xsimd::batch<Scalar, Arch>;
        max_of(B::load_unaligned(gmax + g), B::load_unaligned(into)).store_unaligned(into);
      } else {
        *into = max_of(gmax[g], *into);
      }
    }
    return kth_maximum(gmax);
  }

  /// The k-th largest of the groups_ maxima gmax (no NaN among them).
  Scalar kth_maximum(const Scalar* gmax) {
    if (groups_ <= kCountedGroups) {
      // Ties do not matter here: the smallest maximum with fewer than k maxima above it is
      // the k-th largest, however equal maxima would be ordered.
      count_greater(gmax, groups_, group_rank_.data());
      return smallest_ranked(gmax);
    }
    return kth_largest(gmax, groups_, k_);
  }

  /// The smallest of the maxima ranked below k (group_rank_ from count_greater): the bound.
  /// On SIMD a lane-wise select and one reduction; the scalar chain of compares and
  /// branches cost ~3.5 ns a group when serving (1,000 targets x 30 groups: 5% of the call).
  Scalar smallest_ranked(const Scalar* gmax) const noexcept {
    const Scalar inf = std::numeric_limits<Scalar>::infinity();
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      B best(inf);
      for (Index g = 0; g < groups_; g += W) {  // groups_ is a multiple of W
        const CountBatch rank = CountBatch::load_unaligned(group_rank_.data() + g);
        const B v = B::load_unaligned(gmax + g);
        best = xsimd::select(xsimd::to_float(rank) < B(Scalar(k_)), xsimd::min(v, best), best);
      }
      alignas(Arch::alignment()) Scalar lanes[W];
      best.store_aligned(lanes);
      // Halving, so that the chain of dependent compares is log2(W) long, not W.
      for (Index half = W / 2; half > 0; half /= 2)
        for (Index l = 0; l < half; ++l) lanes[l] = lanes[l + half] < lanes[l] ? lanes[l + half] : lanes[l];
      return lanes[0];
    } else {
      Scalar bound = inf;
      for (Index g = 0; g < groups_; ++g) bound = group_rank_[g] < k_ && gmax[g] < bound ? gmax[g] : bound;
      return bound;
    }
  }

  /// Steps 2 and 3: the candidates at or above `bound`, ranked.
  void finish(const Scalar* eff, Index n, Scalar bound, Index* positions, Scalar* out_scores) {
    Index count = gather(eff, n, bound);  // throws on a NaN score
    if (count > rank_cap_ && k_ <= kRankMax) count = keep_best(count);  // ties: now k
    if (count <= rank_cap_)
      rank_select(count, positions, out_scores);
    else
      heap_select(count, positions, out_scores);
  }

  /// Fills v[count, count + W) with +inf: the whole register past the last candidate then
  /// holds no NaN, and count_greater ranks its extra lanes 0 (nothing is above +inf). The
  /// scalar passes read only [0, count) and need none.
  static void pad_after(Scalar* v, Index count) noexcept {
    if constexpr (kSimd) xsimd::batch<Scalar, Arch>(std::numeric_limits<Scalar>::infinity()).store_unaligned(v + count);
  }

  /// Copies the entries not below `bound` (and any NaN), in position order, to the candidate
  /// buffers; returns how many. Throws if one is NaN.
  Index gather(const Scalar* eff, Index n, Scalar bound) {
    grow(cand_score_, n + kSpan);  // room for whole-register stores past the last candidate
    grow(cand_position_, n + kSpan);
    Scalar* cs = cand_score_.data();
    Index* cp = cand_position_.data();
    Index count = 0;
    Index begin = 0;
    for (; begin + kSpan <= n; begin += kSpan) {
      if (!reaches(eff + begin, kSpan, bound)) continue;
      for (Index c = begin; c < begin + kSpan; c += kChunk)
        count += take_chunk(eff + c, c, bound, cs + count, cp + count);
    }
    for (Index i = begin; i < n; ++i) {
      cs[count] = eff[i];
      cp[count] = i;
      count += !(eff[i] < bound);
    }
    pad_after(cs, count);
    bool nan = false;
    if constexpr (kSimd) {
      using B = xsimd::batch<Scalar, Arch>;
      // xsimd::isnan, not x != x: xsimd 8.1's != on AVX is an ordered compare, false for NaN.
      auto unordered = xsimd::isnan(B::load_unaligned(cs));
      for (Index i = W; i < count; i += W) unordered = unordered | xsimd::isnan(B::load_unaligned(cs + i));
      nan = xsimd::any(unordered);
    } else {
      for (Index i = 0; i < count; ++i) nan |= cs[i] != cs[i];
    }
    if (nan) {  // candidates are in position order: the first NaN is the first position
      for (Index i = 0; i < count; ++i)
        if (cs[i] != cs[i]) detail::throw_nan_score("TopK::select", cp[i]);
    }
    return count;
  }

  /// Ranks the candidates by counting and writes the first k: the fast path, taken when the
  /// bound leaves few candidates (always, for distinct scores, in the search stage's sizes).
  void rank_select(Index count, Index* positions, Scalar* out_scores) {
    grow(rank_, count + W);
    Count* rank = rank_.data();
    // Distinct scores (the usual case) need one compare per pair: their counts of higher
    // scores sum to count (count - 1) / 2, and every tied pair takes one from that sum.
    // (With the +inf padding, count_greater's sum over whole registers is that of [0, count).)
    pad_after(cand_score_.data(), count);
    if (count_greater(cand_score_.data(), count, rank) != count * (count - 1) / 2)
      count_better(cand_score_.data(), count, rank);
    // Ranks are a permutation of [0, count). Branch-free (a branch on r < k mispredicts on
    // about every third candidate): every rank from k - 1 on is written to slot k - 1, then
    // the one ranked k - 1 again.
    const Index last = k_ - 1;
    Index at_last = 0;
    for (Index i = 0; i < count; ++i) {
      const Index r = static_cast<Index>(rank[i]);
      const Index slot = r < last ? r : last;
      positions[slot] = cand_position_[i];
      out_scores[slot] = cand_score_[i];
      at_last = r == last ? i : at_last;
    }
    positions[last] = cand_position_[at_last];
    out_scores[last] = cand_score_[at_last];
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
  Index segments_ = 0;
  std::vector<Scalar> masked_;
  std::vector<Scalar> group_max_;
  std::vector<Count> group_rank_;
  std::vector<Scalar> cand_score_;
  std::vector<Index> cand_position_;
  std::vector<Count> rank_;
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

#undef DARE_DETAIL_TOPK_X86
