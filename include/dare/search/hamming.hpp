// dare/search/hamming.hpp — ETA's search stage: SimHash signatures, Hamming distances and the
// K nearest behaviours by Hamming distance.
//
// Design note. ETA (Chen et al. 2021) replaces the target-to-history dot products of the
// search stage by Hamming distances between SimHash signatures of the attention embeddings:
// bit b of a signature is (<x, p_b> > 0) for a fixed (never learned) Gaussian projection
// p_0 .. p_{bits-1}, so two vectors at angle theta differ in each bit with probability
// theta / pi. A history row then costs bits / 8 bytes (4 for 32 bits, 8 for 64) instead of
// 4 * dim, and a distance is a few popcounts.
//
// * SimHash draws its projection with EmbeddingTable::init_normal (std::mt19937_64 and a
//   Box-Muller transform written out: the same seed gives the same projection with every
//   standard library). sign_rows is an Eigen GEMM (rows x projection^T) in blocks of 16 KB
//   of products (on the stack: a const SimHash is shareable between threads), then one
//   compare + movemask per register to pack the signs. Signing 200 rows of width 32 (400k
//   multiply-adds at 64 bits) took 6.5, 12, 27 and 80 us at 32, 64, 128 and 256 bits on
//   Zen 4 with AVX-512, the machine loaded (one unblocked GEMM: 10 us at 64 bits; packing
//   the signs: 0.5 us).
// * Signature layout: `words() = bits / 32` 32-bit words per signature, bit b in bit b % 32
//   of word b / 32 (least significant first). On a little-endian machine that is bit b % 8
//   of byte b / 8, so a 64-bit signature read as one uint64 has bit b at 2^b. Signatures of
//   n rows are contiguous: row i at sigs + i * words.
// * Distances are uint16: they lie in [0, 256] (256 does not fit a byte), and half the
//   bytes of int32 matter when a 32-bit signature is 4 bytes: the output would otherwise be
//   as large as the input, and HammingTopK reads it back.
// * hamming_distances, by architecture (the template argument, as in dot_kernels.hpp):
//   - AVX-512 with VPOPCNTDQ (__AVX512VPOPCNTDQ__; xsimd has no type for it): 16 rows per
//     step, vpopcntd/vpopcntq on whole registers, per-row sums by unpack/shuffle adds, one
//     permute and one vpmovdw to write 16 distances; the tail through masked loads and a
//     masked store. 32 to 256 bits: 0.06, 0.09, 0.17, 0.40 ns per row (hot, N = 10,000,
//     Zen 4; bench search/hamming_dist).
//   - AVX2, and AVX-512 without VPOPCNTDQ: the nibble-LUT method (vpshufb of the low and
//     high nibbles, then vpsadbw or vpmaddubsw to sum each row's bytes), 16 rows per step;
//     for 64 and 128 bits scalar 64-bit popcnt does 4 and 16 more rows per step beside it
//     (ALUs beside the vector pipes: they overlap). Measured on this project's AMD EPYC
//     (Zen 4), built for AVX2 only, hot rows, ns per row, LUT / scalar popcnt (4 rows per
//     step) / LUT + popcnt beside: 32 bits 0.10 / 0.27 / (no gain), 64 bits 0.20 / 0.27 /
//     0.165, 128 bits 0.43 / 0.46 / 0.33, 256 bits 0.82 / 1.1 / 0.79 (within noise: not
//     kept). In an AVX-512 build (bench search/hamming_dist_avx2 and _popcnt, N = 10,000)
//     this kernel and scalar popcnt take 0.11 / 0.29, 0.18 / 0.29, 0.35 / 0.55 and 0.95 /
//     1.04 ns per row.
//   - anything else, and on every target the widths that are not a power of two (96, 160 ..
//     224 bits): one hardware popcount per 64 bits (__builtin_popcountll, a bit-twiddling
//     sequence where the target has no popcnt instruction), 4 rows per step.
//   reference::hamming_distances (std::bitset) is the scalar reference for tests.
// * HammingTopK: distances are small integers, so it selects by counting, O(n + bits), no
//   sort of n entries:
//   1. an upper bound on the k-th smallest key: the k-th smallest of the minima of >= 2k
//      disjoint groups of positions (those k minima are k distinct entries), the minima in
//      register chains (vpminuw), ranked by a histogram of the minima; the same pass applies
//      the padding mask and checks every valid distance <= bits. (Histories shorter than
//      the groups, and targets without SIMD: the exact k-th key, from a histogram of all n.)
//   2. the positions whose key is at or below the bound, in position order: 64 keys at a
//      time, one compare mask each, its set bits walked (most spans of a long history have
//      none);
//   3. a histogram of the candidates' keys gives the k-th key t; one branch-free pass from
//      the highest position down keeps the k results (every key below t, the first at t),
//      and a counting sort by key (exclusive prefix sums as slots) ranks them: distance
//      ascending, ties by the higher position.
//   Measured (Zen 4, AVX-512, K = 20, 64 bits, hot; bench search/hamming minus
//   search/hamming_dist): the selection takes 0.22 us at N = 200, 0.27 at 1000, 0.65 at
//   10,000 and 3.7 at 100,000. A histogram of all n keys then one ranking pass over all of
//   them, the textbook counting select, took 0.39, 1.6, 15 and 145 us: each increment of a
//   repeated key waits on the previous one through memory.
//
// Semantics follow dare::TopK and ETA's public code (torch.topk of the negated distances
// over masked positions): a padded position (valid[i] == 0) has key bits + 1, after every
// valid distance, so with fewer than k valid positions the remaining slots are padded
// positions, reported with distance bits + 1; equal keys rank the higher position first
// (the more recent behaviour). A valid distance above bits is an error (std::invalid_argument
// naming the position). Buffers live in the HammingTopK object, which allocates only when n
// exceeds every earlier n; one object per thread.
#pragma once

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#  include <immintrin.h>
#  define DARE_DETAIL_HAMMING_X86 1
#else
#  define DARE_DETAIL_HAMMING_X86 0
#endif
#if DARE_DETAIL_HAMMING_X86 && defined(__AVX2__)
#  define DARE_DETAIL_HAMMING_AVX2 1
#else
#  define DARE_DETAIL_HAMMING_AVX2 0
#endif
#if DARE_DETAIL_HAMMING_X86 && defined(__AVX512F__) && defined(__AVX512VPOPCNTDQ__)
#  define DARE_DETAIL_HAMMING_VPOPCNT 1
#else
#  define DARE_DETAIL_HAMMING_VPOPCNT 0
#endif

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/embedding/embedding_table.hpp"

// The kernels' helpers must be inlined into their loops (registers, not memory), as in
// dot_kernels.hpp.
#if defined(__GNUC__) || defined(__clang__)
#  define DARE_DETAIL_HAMMING_INLINE __attribute__((always_inline)) inline
#elif defined(_MSC_VER)
#  define DARE_DETAIL_HAMMING_INLINE __forceinline
#else
#  define DARE_DETAIL_HAMMING_INLINE inline
#endif

namespace dare {

/// The widest signature: 256 bits, 8 words.
inline constexpr Index kMaxSignatureBits = 256;

namespace detail {

inline void check_signature_bits(const char* fn, Index bits) {
  DARE_CHECK_ARG(bits >= 32 && bits <= kMaxSignatureBits && bits % 32 == 0, fn,
                 ": bits must be a multiple of 32 in [32, 256], got ", bits);
}

inline void check_signature_words(const char* fn, Index words) {
  DARE_CHECK_ARG(words >= 1 && words <= kMaxSignatureBits / 32, fn,
                 ": words must be in [1, 8] (32 to 256 bits), got ", words);
}

inline void check_distance_args(const char* fn, const void* query_sig, const void* sigs, Index n,
                                Index words, const void* out) {
  check_signature_words(fn, words);
  DARE_CHECK_ARG(n >= 0, fn, ": n must be non-negative, got ", n);
  DARE_CHECK_ARG(n == 0 || (query_sig != nullptr && sigs != nullptr && out != nullptr), fn,
                 ": query_sig, sigs and out must not be null when n > 0");
}

DARE_DETAIL_HAMMING_INLINE unsigned popcount64(std::uint64_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return static_cast<unsigned>(__builtin_popcountll(x));
#else
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return static_cast<unsigned>((x * 0x0101010101010101ull) >> 56);
#endif
}

DARE_DETAIL_HAMMING_INLINE unsigned popcount32(std::uint32_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return static_cast<unsigned>(__builtin_popcount(x));
#else
  return popcount64(x);
#endif
}

/// Words w and w + 1 of a signature as one little-endian 64-bit word (bit b of the pair at
/// 2^b, whatever the machine's byte order).
DARE_DETAIL_HAMMING_INLINE std::uint64_t load_pair(const std::uint32_t* p) noexcept {
  return std::uint64_t(p[0]) | (std::uint64_t(p[1]) << 32);
}

/// Calls f(integral_constant<Index, I>) for I in [0, N): a loop the compiler must unroll,
/// so arrays of registers indexed by I stay in registers (at -O2 GCC keeps a rolled loop's
/// array of __m512i in memory).
template <class F, std::size_t... I>
DARE_DETAIL_HAMMING_INLINE void unroll_each(F&& f, std::index_sequence<I...>) {
  (f(std::integral_constant<Index, Index(I)>{}), ...);
}
template <Index N, class F>
DARE_DETAIL_HAMMING_INLINE void unroll(F&& f) {
  unroll_each(std::forward<F>(f), std::make_index_sequence<std::size_t(N)>{});
}

/// Signs of y[0, bits) packed into bits / 32 words: bit b set when y[b] > 0 (NaN: clear).
/// One compare and movemask per register of the translation unit's widest ISA (Eigen's GEMM
/// before it follows the same flags).
template <class Scalar>
void pack_signs(const Scalar* y, Index bits, std::uint32_t* sig) noexcept {
  for (Index w = 0; w < bits / 32; ++w) {
    const Scalar* v = y + 32 * w;
    std::uint32_t word = 0;
#if DARE_DETAIL_HAMMING_X86 && defined(__AVX512F__)
    if constexpr (std::is_same_v<Scalar, float>) {
      for (int c = 0; c < 2; ++c)
        word |= std::uint32_t(_mm512_cmp_ps_mask(_mm512_loadu_ps(v + 16 * c), _mm512_setzero_ps(),
                                                 _CMP_GT_OQ))
                << (16 * c);
    } else {
      for (int c = 0; c < 4; ++c)
        word |= std::uint32_t(_mm512_cmp_pd_mask(_mm512_loadu_pd(v + 8 * c), _mm512_setzero_pd(),
                                                 _CMP_GT_OQ))
                << (8 * c);
    }
#elif DARE_DETAIL_HAMMING_X86 && defined(__AVX__)
    if constexpr (std::is_same_v<Scalar, float>) {
      for (int c = 0; c < 4; ++c)
        word |= std::uint32_t(_mm256_movemask_ps(
                    _mm256_cmp_ps(_mm256_loadu_ps(v + 8 * c), _mm256_setzero_ps(), _CMP_GT_OQ)))
                << (8 * c);
    } else {
      for (int c = 0; c < 8; ++c)
        word |= std::uint32_t(_mm256_movemask_pd(
                    _mm256_cmp_pd(_mm256_loadu_pd(v + 4 * c), _mm256_setzero_pd(), _CMP_GT_OQ)))
                << (4 * c);
    }
#elif DARE_DETAIL_HAMMING_X86 && defined(__SSE2__)
    if constexpr (std::is_same_v<Scalar, float>) {
      for (int c = 0; c < 8; ++c)
        word |= std::uint32_t(_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(v + 4 * c), _mm_setzero_ps())))
                << (4 * c);
    } else {
      for (int c = 0; c < 16; ++c)
        word |= std::uint32_t(_mm_movemask_pd(_mm_cmpgt_pd(_mm_loadu_pd(v + 2 * c), _mm_setzero_pd())))
                << (2 * c);
    }
#else
    for (int b = 0; b < 32; ++b) word |= std::uint32_t(v[b] > Scalar(0)) << b;
#endif
    sig[w] = word;
  }
}

}  // namespace detail

/// SimHash: a fixed Gaussian projection from `dim` to `bits` (a multiple of 32 in [32, 256])
/// and the sign of each projection, packed into words() 32-bit words per signature (bit b of
/// a signature in bit b % 32 of word b / 32; see the design note). The projection p_b is row
/// b of an EmbeddingTable filled by init_normal(1, seed): N(0, 1) entries, the same for a
/// seed on every platform. Signatures of the same rows agree across machines up to the
/// rounding of projections that are within an ulp of zero.
template <class Scalar>
class SimHash {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "SimHash projects float or double rows");

 public:
  /// Throws std::invalid_argument unless dim > 0 and bits is a multiple of 32 in [32, 256].
  SimHash(Index dim, Index bits, std::uint64_t seed)
      : projection_(checked_bits(bits), checked_dim(dim)), bits_(bits) {
    projection_.init_normal(Scalar(1), seed);
  }

  Index dim() const noexcept { return projection_.dim(); }
  Index bits() const noexcept { return bits_; }
  /// 32-bit words per signature: bits() / 32.
  Index words() const noexcept { return bits_ / 32; }

  /// Projection vector p_b (dim() scalars), b in [0, bits()).
  const Scalar* projection(Index b) const { return projection_.row(b); }

  /// The signature of x (dim() scalars) into sig[0, words()): bit b = (<x, p_b> > 0). Equal
  /// to sign_rows over the one row x.
  void sign(const Scalar* x, std::uint32_t* sig) const { sign_rows(x, 1, dim(), sig); }

  /// Signatures of n rows (row i at rows + i * row_stride, dim() scalars read) into
  /// sigs + i * words(): one GEMM per block of rows (products rows x p_b in a 16 KB stack
  /// buffer, no allocation), then the signs packed. Throws std::invalid_argument on n < 0,
  /// row_stride < dim() (n > 1) or null pointers (n > 0).
  void sign_rows(const Scalar* rows, Index n, Index row_stride, std::uint32_t* sigs) const {
    DARE_CHECK_ARG(n >= 0, "SimHash::sign_rows: n must be non-negative, got ", n);
    DARE_CHECK_ARG(n <= 1 || row_stride >= dim(), "SimHash::sign_rows: row_stride (", row_stride,
                   ") must be at least dim (", dim(), ")");
    DARE_CHECK_ARG(n == 0 || (rows != nullptr && sigs != nullptr),
                   "SimHash::sign_rows: rows and sigs must not be null when n > 0");
    using RowMajor = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Stride = Eigen::OuterStride<>;
    const Index d = dim(), bits = bits_;
    const Eigen::Map<const RowMajor, Eigen::Aligned64, Stride> projection(
        projection_.data(), bits, d, Stride(projection_.stride()));
    alignas(64) Scalar products[kBlockScalars];
    const Index block = std::max<Index>(1, kBlockScalars / bits);
    for (Index r0 = 0; r0 < n; r0 += block) {
      const Index count = std::min(block, n - r0);
      const Eigen::Map<const RowMajor, Eigen::Unaligned, Stride> x(
          rows + r0 * row_stride, count, d, Stride(count > 1 ? row_stride : d));
      Eigen::Map<RowMajor, Eigen::Aligned64> y(products, count, bits);
      y.noalias() = x * projection.transpose();
      for (Index r = 0; r < count; ++r)
        detail::pack_signs(products + r * bits, bits, sigs + (r0 + r) * words());
    }
  }

 private:
  /// The products buffer of sign_rows: 16 KB, so it and Eigen's packed blocks stay in L1/L2
  /// and on the stack.
  static constexpr Index kBlockScalars = 16384 / Index(sizeof(Scalar));

  static Index checked_bits(Index bits) {
    detail::check_signature_bits("SimHash", bits);
    return bits;
  }
  static Index checked_dim(Index dim) {
    DARE_CHECK_ARG(dim > 0, "SimHash: dim must be positive, got ", dim);
    return dim;
  }

  EmbeddingTable<Scalar> projection_;  // bits rows of dim: row b is p_b
  Index bits_;
};

// ---- scalar references (tests) -----------------------------------------------------------------
namespace reference {

/// out[i] = number of differing bits between query_sig and sigs + i * words (words 32-bit
/// words each), counted bit by bit with std::bitset.
inline void hamming_distances(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
                              Index words, std::uint16_t* out) {
  detail::check_distance_args("reference::hamming_distances", query_sig, sigs, n, words, out);
  for (Index i = 0; i < n; ++i) {
    std::size_t d = 0;
    for (Index w = 0; w < words; ++w) d += std::bitset<32>(query_sig[w] ^ sigs[i * words + w]).count();
    out[i] = static_cast<std::uint16_t>(d);
  }
}

/// The k nearest of n distances by a full sort of (key, -position), where a valid
/// position's key is its distance and a padded one's (valid[i] == 0) is bits + 1: the same
/// contract as HammingTopK::select (positions, then keys, in rank order).
inline void hamming_topk(const std::uint16_t* distances, Index n, const std::uint8_t* valid,
                         Index k, Index bits, Index* positions, std::uint16_t* out_distances) {
  detail::check_signature_bits("reference::hamming_topk", bits);
  DARE_CHECK_ARG(k > 0 && k <= n, "reference::hamming_topk: k (", k, ") must be in [1, n (", n, ")]");
  std::vector<std::pair<int, Index>> order(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const bool padded = valid != nullptr && valid[i] == 0;
    DARE_CHECK_ARG(padded || distances[i] <= bits, "reference::hamming_topk: distances[", i,
                   "] = ", distances[i], " exceeds bits (", bits, ")");
    order[static_cast<std::size_t>(i)] = {padded ? int(bits) + 1 : int(distances[i]), -i};
  }
  std::sort(order.begin(), order.end());
  for (Index r = 0; r < k; ++r) {
    positions[r] = -order[static_cast<std::size_t>(r)].second;
    out_distances[r] = static_cast<std::uint16_t>(order[static_cast<std::size_t>(r)].first);
  }
}

}  // namespace reference

namespace detail {

/// Calls f(integral_constant<Index, W>) for W = words in [1, 8]: every kernel sees a
/// compile-time word count.
template <class F>
void with_words(Index words, F&& f) {
  switch (words) {
    case 1: return f(std::integral_constant<Index, 1>{});
    case 2: return f(std::integral_constant<Index, 2>{});
    case 3: return f(std::integral_constant<Index, 3>{});
    case 4: return f(std::integral_constant<Index, 4>{});
    case 5: return f(std::integral_constant<Index, 5>{});
    case 6: return f(std::integral_constant<Index, 6>{});
    case 7: return f(std::integral_constant<Index, 7>{});
    default: return f(std::integral_constant<Index, 8>{});
  }
}

/// One hardware popcount per 64 bits (per 32 for an odd last word), 4 rows per step (the
/// rows' popcounts overlap: 0.38 -> 0.27 ns per row at 32 and 64 bits on Zen 4).
template <Index Words>
void hamming_popcnt(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
                    std::uint16_t* out) noexcept {
  constexpr Index Pairs = Words / 2;
  std::uint64_t q[Pairs > 0 ? Pairs : 1] = {};
  for (Index p = 0; p < Pairs; ++p) q[p] = load_pair(query_sig + 2 * p);
  const auto row = [&](Index i) {
    const std::uint32_t* s = sigs + i * Words;
    unsigned d = 0;
    unroll<Pairs>([&](auto p) { d += popcount64(load_pair(s + 2 * p) ^ q[p]); });
    if constexpr (Words % 2 == 1) d += popcount32(s[Words - 1] ^ query_sig[Words - 1]);
    out[i] = static_cast<std::uint16_t>(d);
  };
  Index i = 0;
  for (; i + 4 <= n; i += 4) unroll<4>([&](auto r) { row(i + r); });
  for (; i < n; ++i) row(i);
}

/// The AVX2 kernel handles these widths with the nibble LUT (see the design note).
template <Index Words>
inline constexpr bool kLutWords = Words == 1 || Words == 2 || Words == 4 || Words == 8;

#if DARE_DETAIL_HAMMING_AVX2
/// Per-byte popcounts by the nibble lookup (vpshufb of a 16-entry table, low and high
/// nibbles).
struct NibblePopcount {
  __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                                   0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  __m256i low = _mm256_set1_epi8(0x0f);
  DARE_DETAIL_HAMMING_INLINE __m256i operator()(__m256i v) const noexcept {
    const __m256i lo = _mm256_and_si256(v, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
  }
};

DARE_DETAIL_HAMMING_INLINE __m256i load256(const std::uint32_t* p) noexcept {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

/// The query repeated across a register: 256 / (32 * Words) copies.
template <Index Words>
DARE_DETAIL_HAMMING_INLINE __m256i broadcast_query256(const std::uint32_t* q) noexcept {
  if constexpr (Words == 1) return _mm256_set1_epi32(static_cast<int>(q[0]));
  if constexpr (Words == 2) return _mm256_set1_epi64x(static_cast<long long>(load_pair(q)));
  if constexpr (Words == 4)
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  if constexpr (Words == 8) return load256(q);
}

/// Distances of 4 rows of Words (2, 4 or 8) words starting at s, as 4 qwords in row order.
template <Index Words>
DARE_DETAIL_HAMMING_INLINE __m256i four_rows_avx2(const std::uint32_t* s, __m256i q,
                                                  const NibblePopcount& bytes) noexcept {
  const __m256i zero = _mm256_setzero_si256();
  if constexpr (Words == 2) {
    return _mm256_sad_epu8(bytes(_mm256_xor_si256(load256(s), q)), zero);
  } else if constexpr (Words == 8) {
    // One row per register: add the 64-bit halves of each lane for row pairs, then the
    // lanes of pairs of pairs, then sum bytes (each at most 32).
    __m256i c[4];
    unroll<4>([&](auto r) { c[r] = bytes(_mm256_xor_si256(load256(s + 8 * r), q)); });
    const __m256i u01 = _mm256_add_epi8(_mm256_unpacklo_epi64(c[0], c[1]), _mm256_unpackhi_epi64(c[0], c[1]));
    const __m256i u23 = _mm256_add_epi8(_mm256_unpacklo_epi64(c[2], c[3]), _mm256_unpackhi_epi64(c[2], c[3]));
    const __m256i v = _mm256_add_epi8(_mm256_permute2x128_si256(u01, u23, 0x20),
                                      _mm256_permute2x128_si256(u01, u23, 0x31));
    return _mm256_sad_epu8(v, zero);
  } else {
    static_assert(Words == 4);
    // c0 holds rows 0, 1 (one per 128-bit lane), c1 rows 2, 3: add each row's two halves,
    // then sum bytes; qwords come out as rows 0, 2, 1, 3.
    const __m256i c0 = bytes(_mm256_xor_si256(load256(s), q));
    const __m256i c1 = bytes(_mm256_xor_si256(load256(s + 8), q));
    const __m256i halves = _mm256_add_epi8(_mm256_unpacklo_epi64(c0, c1), _mm256_unpackhi_epi64(c0, c1));
    return _mm256_permute4x64_epi64(_mm256_sad_epu8(halves, zero), 0xD8);
  }
}

/// 16 distances from four registers of 4 qwords each (rows 0-3, 4-7, 8-11, 12-15), stored
/// in row order.
DARE_DETAIL_HAMMING_INLINE void store16_from_qwords(__m256i v0, __m256i v1, __m256i v2, __m256i v3,
                                                    std::uint16_t* out) noexcept {
  // dwords: a = rows 0 4 1 5 | 2 6 3 7, b = rows 8 12 9 13 | 10 14 11 15 (lanes of 128 bits)
  const __m256i a = _mm256_or_si256(v0, _mm256_slli_epi64(v1, 32));
  const __m256i b = _mm256_or_si256(v2, _mm256_slli_epi64(v3, 32));
  // words: 0 4 1 5 8 12 9 13 | 2 6 3 7 10 14 11 15 -> in-lane 0 1 4 5 8 9 12 13 | 2 3 6 7 ...
  __m256i p = _mm256_packus_epi32(a, b);
  const __m256i words = _mm256_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15,  //
                                         0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15);
  p = _mm256_shuffle_epi8(p, words);
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), p);
}

/// Distances of the 16 rows s[0, 16 * Words) by the nibble LUT, stored to out[0, 16).
template <Index Words>
DARE_DETAIL_HAMMING_INLINE void sixteen_rows_lut(const std::uint32_t* s, __m256i q, const NibblePopcount& bytes,
                                                 std::uint16_t* out) noexcept {
  if constexpr (Words == 1) {
    // Bytes -> words (vpmaddubsw) -> dwords (vpmaddwd) per row, then pack the two halves.
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const __m256i c0 = bytes(_mm256_xor_si256(load256(s), q));
    const __m256i c1 = bytes(_mm256_xor_si256(load256(s + 8), q));
    const __m256i d0 = _mm256_madd_epi16(_mm256_maddubs_epi16(c0, ones8), ones16);
    const __m256i d1 = _mm256_madd_epi16(_mm256_maddubs_epi16(c1, ones8), ones16);
    const __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(d0, d1), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), p);
  } else {
    constexpr Index step = 4 * Words;  // words per 4 rows
    store16_from_qwords(four_rows_avx2<Words>(s, q, bytes), four_rows_avx2<Words>(s + step, q, bytes),
                        four_rows_avx2<Words>(s + 2 * step, q, bytes),
                        four_rows_avx2<Words>(s + 3 * step, q, bytes), out);
  }
}

/// Rows per step of the AVX2 kernel done by scalar popcnt beside the 16 by the LUT: the two
/// use different execution units (ALUs, vector pipes) and overlap. Measured best on Zen 4
/// (AVX2 build): see the design note.
template <Index Words>
inline constexpr Index kPopcntBeside = Words == 2 ? 4 : Words == 4 ? 16 : 0;

/// The AVX2 kernel: per step 16 rows by the nibble LUT and kPopcntBeside<Words> rows by
/// scalar popcnt; the last rows by hamming_popcnt.
template <Index Words>
void hamming_lut_avx2(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
                      std::uint16_t* out) noexcept {
  static_assert(Words == 1 || Words == 2 || Words == 4 || Words == 8,
                "the LUT kernel handles 1, 2, 4 and 8 words");
  constexpr Index Beside = kPopcntBeside<Words>, Step = 16 + Beside;
  constexpr Index Pairs = Words / 2;
  std::uint64_t q64[Pairs > 0 ? Pairs : 1] = {};
  for (Index p = 0; p < Pairs; ++p) q64[p] = load_pair(query_sig + 2 * p);
  const NibblePopcount bytes;
  const __m256i q = broadcast_query256<Words>(query_sig);
  Index i = 0;
  for (; i + Step <= n; i += Step) {
    const std::uint32_t* s = sigs + i * Words;
    sixteen_rows_lut<Words>(s, q, bytes, out + i);
    unroll<Beside>([&](auto u) {
      const std::uint32_t* row = s + (16 + u) * Words;
      unsigned d = 0;
      if constexpr (Words == 1)
        d = popcount32(row[0] ^ query_sig[0]);
      else
        unroll<Pairs>([&](auto p) { d += popcount64(load_pair(row + 2 * p) ^ q64[p]); });
      out[i + 16 + u] = static_cast<std::uint16_t>(d);
    });
  }
  hamming_popcnt<Words>(query_sig, sigs + i * Words, n - i, out + i);
}
#endif  // DARE_DETAIL_HAMMING_AVX2

/// The VPOPCNTDQ kernel handles these widths (the others go to hamming_popcnt).
template <Index Words>
inline constexpr bool kVpopcntWords = Words == 1 || Words == 2 || Words == 4 || Words == 8;

#if DARE_DETAIL_HAMMING_VPOPCNT
/// permutex2var indices taking the low dword of the qwords of (lo, hi) so that dword r of
/// the result is row r, given the row held by each of the 16 qwords (8 in lo, 8 in hi).
template <Index Words>
struct RowOrder {
  // The row each qword holds after the per-row reductions of hamming_vpopcnt (see there).
  static constexpr int row(int qword) noexcept {
    if (Words == 2) return qword;
    const int half = qword / 8, l = qword % 8;
    if (Words == 4) return half * 8 + (l % 2) * 4 + l / 2;  // 0 4 1 5 2 6 3 7
    return half * 8 + (l / 4) * 4 + (l % 2) * 2 + (l / 2) % 2;  // 0 2 1 3 4 6 5 7
  }
  static constexpr std::array<std::int32_t, 16> make() noexcept {
    std::array<std::int32_t, 16> index{};
    for (int qword = 0; qword < 16; ++qword) index[static_cast<std::size_t>(row(qword))] = 2 * qword;
    return index;
  }
  alignas(64) static constexpr std::array<std::int32_t, 16> value = make();
};

/// Loads dwords [0, count) of p (count <= 16), zero beyond, reading nothing past them.
DARE_DETAIL_HAMMING_INLINE __m512i load512(const std::uint32_t* p, Index count) noexcept {
  if (count >= 16) return _mm512_loadu_si512(p);
  if (count <= 0) return _mm512_setzero_si512();
  return _mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << count) - 1u), p);
}

/// The 16 distances of rows s[0, 16 * Words) (only `rows` of them real) as 16 dwords.
template <Index Words>
DARE_DETAIL_HAMMING_INLINE __m512i sixteen_rows_vpopcnt(const std::uint32_t* s, Index rows,
                                                        __m512i q) noexcept {
  const Index dwords = rows * Words;
  __m512i c[Words];
  unroll<Words>([&](auto r) {
    const __m512i x = _mm512_xor_si512(load512(s + 16 * r, dwords - 16 * r), q);
    c[r] = Words == 1 ? _mm512_popcnt_epi32(x) : _mm512_popcnt_epi64(x);
  });
  if constexpr (Words == 1) {
    return c[0];
  } else {
    __m512i lo, hi;  // qword counts, 8 rows each, in RowOrder<Words>
    if constexpr (Words == 2) {
      lo = c[0], hi = c[1];
    } else if constexpr (Words == 4) {
      // c[r] holds rows 4r .. 4r+3 as qword pairs: add each pair across two registers.
      lo = _mm512_add_epi64(_mm512_unpacklo_epi64(c[0], c[1]), _mm512_unpackhi_epi64(c[0], c[1]));
      hi = _mm512_add_epi64(_mm512_unpacklo_epi64(c[2], c[3]), _mm512_unpackhi_epi64(c[2], c[3]));
    } else {
      // c[r] holds rows 2r, 2r+1 as four qwords each: pairs within 128-bit lanes, then lanes.
      __m512i t[4];
      unroll<4>([&](auto r) {
        t[r] = _mm512_add_epi64(_mm512_unpacklo_epi64(c[2 * r], c[2 * r + 1]),
                                _mm512_unpackhi_epi64(c[2 * r], c[2 * r + 1]));
      });
      lo = _mm512_add_epi64(_mm512_shuffle_i64x2(t[0], t[1], 0x88), _mm512_shuffle_i64x2(t[0], t[1], 0xDD));
      hi = _mm512_add_epi64(_mm512_shuffle_i64x2(t[2], t[3], 0x88), _mm512_shuffle_i64x2(t[2], t[3], 0xDD));
    }
    const __m512i index = _mm512_load_si512(RowOrder<Words>::value.data());
    return _mm512_permutex2var_epi32(lo, index, hi);
  }
}

template <Index Words>
DARE_DETAIL_HAMMING_INLINE __m512i broadcast_query512(const std::uint32_t* q) noexcept {
  if constexpr (Words == 1) return _mm512_set1_epi32(static_cast<int>(q[0]));
  if constexpr (Words == 2) return _mm512_set1_epi64(static_cast<long long>(load_pair(q)));
  // The zero-masked forms: GCC 12 warns falsely about the plain ones' undefined operand
  // (GCC bug 105593).
  if constexpr (Words == 4)
    return _mm512_maskz_broadcast_i32x4(__mmask16(0xFFFF), _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  if constexpr (Words == 8)
    return _mm512_maskz_broadcast_i64x4(__mmask8(0xFF), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
}

/// The VPOPCNTDQ kernel: 16 rows per step, the tail through masked loads and store.
template <Index Words>
void hamming_vpopcnt(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
                     std::uint16_t* out) noexcept {
  static_assert(kVpopcntWords<Words>, "the VPOPCNTDQ kernel handles 1, 2, 4 and 8 words");
  const __m512i q = broadcast_query512<Words>(query_sig);
  Index i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i d = sixteen_rows_vpopcnt<Words>(sigs + i * Words, 16, q);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(d));
  }
  if (i < n) {
    const __m512i d = sixteen_rows_vpopcnt<Words>(sigs + i * Words, n - i, q);
    _mm512_mask_cvtepi32_storeu_epi16(out + i, static_cast<__mmask16>((1u << (n - i)) - 1u), d);
  }
}
#endif  // DARE_DETAIL_HAMMING_VPOPCNT

template <class Arch>
inline constexpr bool kHammingAvx512 = std::is_base_of_v<xsimd::avx512f, Arch>;
template <class Arch>
inline constexpr bool kHammingAvx2 = std::is_base_of_v<xsimd::avx2, Arch> || kHammingAvx512<Arch>;

template <class Arch, Index Words>
void hamming_dispatch(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
                      std::uint16_t* out) {
#if DARE_DETAIL_HAMMING_VPOPCNT
  if constexpr (kHammingAvx512<Arch> && kVpopcntWords<Words>) {
    hamming_vpopcnt<Words>(query_sig, sigs, n, out);
    return;
  }
#endif
#if DARE_DETAIL_HAMMING_AVX2
  if constexpr (kHammingAvx2<Arch> && kLutWords<Words>) {
    hamming_lut_avx2<Words>(query_sig, sigs, n, out);
    return;
  }
#endif
  hamming_popcnt<Words>(query_sig, sigs, n, out);
}

template <class Arch>
constexpr void check_hamming_arch() noexcept {
  static_assert(std::is_same_v<Arch, xsimd::unavailable> || Arch::supported(),
                "this xsimd architecture is not enabled in this translation unit: compile with "
                "its instruction-set flags (e.g. -mavx2, -mavx512f -mavx512bw -mavx512vpopcntdq)");
}

}  // namespace detail

/// out[i] = Hamming distance between query_sig and sigs + i * words, i in [0, n): the
/// number of differing bits over `words` 32-bit words (1 to 8: 32 to 256 bits). `Arch` is
/// the xsimd architecture to compile for (see the design note for what each one runs); the
/// results are reference::hamming_distances' exactly. Throws std::invalid_argument on words
/// outside [1, 8], n < 0 or null pointers (with n > 0).
template <class Arch = xsimd::default_arch>
void hamming_distances(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
                       Index words, std::uint16_t* out) {
  detail::check_hamming_arch<Arch>();
  detail::check_distance_args("hamming_distances", query_sig, sigs, n, words, out);
  if (n == 0) return;
  detail::with_words(words, [&](auto w) {
    detail::hamming_dispatch<Arch, decltype(w)::value>(query_sig, sigs, n, out);
  });
}

namespace detail {

/// Lanes of xsimd::batch<std::uint16_t, Arch>; 1 without SIMD.
template <class Arch, bool = std::is_same_v<Arch, xsimd::unavailable>>
struct u16_lanes {
  static constexpr Index value = Index(xsimd::batch<std::uint16_t, Arch>::size);
};
template <class Arch>
struct u16_lanes<Arch, true> {
  static constexpr Index value = 1;
};

}  // namespace detail

/// The k nearest positions by Hamming distance, nearest first; see the design note for the
/// algorithm (counting, no sort), padding and ties. `bits` is the signature width: distances
/// lie in [0, bits] and a padded position ranks as distance bits + 1. `Arch` is the xsimd
/// architecture of the vectorized passes (and of the distances in search()).
template <class Arch = xsimd::default_arch>
class HammingTopK {
 public:
  /// Throws std::invalid_argument unless k > 0 and bits is a multiple of 32 in [32, 256].
  HammingTopK(Index k, Index bits) : k_(k), bits_(bits) {
    detail::check_hamming_arch<Arch>();
    DARE_CHECK_ARG(k > 0, "HammingTopK: k must be positive, got ", k);
    detail::check_signature_bits("HammingTopK", bits);
    segments_ = (2 * k + kGroups - 1) / kGroups;
    group_min_.resize(static_cast<std::size_t>(segments_ * kGroups));
    offset_.resize(static_cast<std::size_t>(bits + 2));
    kept_.resize(static_cast<std::size_t>(k) + 1);
  }

  Index k() const noexcept { return k_; }
  Index bits() const noexcept { return bits_; }
  /// The distance reported for a padded position: bits() + 1.
  std::uint16_t padded_distance() const noexcept { return static_cast<std::uint16_t>(bits_ + 1); }

  /// Writes the k nearest of distances[0, n) to positions[0, k) and their distances to
  /// out_distances[0, k), in rank order (distance ascending, then position descending).
  /// `valid` is nullptr (all valid) or n flags, 0 marking a padded position (its distance is
  /// not read). Throws std::invalid_argument unless k <= n, on null pointers, and when a
  /// valid distance exceeds bits (naming the first such position).
  void select(const std::uint16_t* distances, Index n, const std::uint8_t* valid, Index* positions,
              std::uint16_t* out_distances) {
    DARE_CHECK_ARG(k_ <= n, "HammingTopK::select: k (", k_, ") must not exceed n (", n, ")");
    DARE_CHECK_ARG(distances != nullptr && positions != nullptr && out_distances != nullptr,
                   "HammingTopK::select: distances, positions and out_distances must not be null");
    std::uint16_t bound = 0;
    const std::uint16_t* keys = nullptr;
    if constexpr (kSimd) {
      keys = n >= segments_ * kGroups ? bound_pass(distances, n, valid, bound)
                                      : exact_bound(distances, n, valid, bound);
    } else {
      keys = exact_bound(distances, n, valid, bound);
    }
    const Index count = gather(keys, n, bound);
    count_select(keys, count, bound, positions, out_distances);
  }

  /// The fused search: hamming_distances<Arch> of query_sig (bits() / 32 words) against the
  /// n signatures sigs + i * bits() / 32 into a buffer of the object, then select().
  void search(const std::uint32_t* query_sig, const std::uint32_t* sigs, Index n,
              const std::uint8_t* valid, Index* positions, std::uint16_t* out_distances) {
    DARE_CHECK_ARG(k_ <= n, "HammingTopK::search: k (", k_, ") must not exceed n (", n, ")");
    grow(distances_, n);
    hamming_distances<Arch>(query_sig, sigs, n, bits_ / 32, distances_.data());
    select(distances_.data(), n, valid, positions, out_distances);
  }

 private:
  static constexpr bool kSimd = !std::is_same_v<Arch, xsimd::unavailable>;
  static constexpr Index W = detail::u16_lanes<Arch>::value;
  /// Register chains of group minima in the bound pass: kGroups groups per segment.
  static constexpr Index kChains = 2;
  static constexpr Index kGroups = kChains * W;
  /// The gather tests keys a span at a time, one 64-bit mask per span.
  static constexpr Index kSpan = 64;

  template <class T>
  static void grow(std::vector<T>& v, Index n) {
    if (static_cast<Index>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  }

  [[noreturn]] void throw_distance(const std::uint16_t* distances, Index n,
                                   const std::uint8_t* valid) const {
    for (Index i = 0; i < n; ++i)
      if ((valid == nullptr || valid[i] != 0) && distances[i] > bits_)
        detail::throw_invalid("HammingTopK::select: distances[", i, "] = ", distances[i],
                              " exceeds bits (", bits_, ")");
    detail::throw_invalid("HammingTopK::select: a distance exceeds bits (", bits_, ")");
  }

  /// Steps 1 and 2 for short histories: the keys (the distances, or with a mask a copy
  /// with bits + 1 at padded positions), each valid distance checked, and `bound` = the
  /// k-th smallest key exactly, from a histogram of all n.
  const std::uint16_t* exact_bound(const std::uint16_t* distances, Index n, const std::uint8_t* valid,
                                   std::uint16_t& bound) {
    const std::uint16_t pad = padded_distance();
    const std::uint16_t* keys = distances;
    unsigned worst = 0;
    if (valid == nullptr) {
      for (Index i = 0; i < n; ++i) worst = std::max<unsigned>(worst, distances[i]);
    } else {
      grow(keys_, n);
      for (Index i = 0; i < n; ++i) {
        const bool ok = valid[i] != 0;
        const std::uint16_t d = distances[i];
        worst = std::max<unsigned>(worst, ok ? d : 0u);
        keys_[static_cast<std::size_t>(i)] = ok ? d : pad;
      }
      keys = keys_.data();
    }
    if (worst > unsigned(bits_)) throw_distance(distances, n, valid);
    bound = kth_key(keys, n);
    return keys;
  }

  /// The k-th smallest of v[0, count) (count >= k, every value at most bits + 1) by a
  /// histogram over [lowest, highest] only (256-bit distances cluster around 128); sets
  /// low_ to the smallest value.
  std::uint16_t kth_key(const std::uint16_t* v, Index count) noexcept {
    std::uint16_t lo = v[0], hi = v[0];
    for (Index i = 1; i < count; ++i) lo = std::min(lo, v[i]), hi = std::max(hi, v[i]);
    Index* histogram = offset_.data();
    std::fill(histogram + lo, histogram + hi + 1, Index(0));
    for (Index i = 0; i < count; ++i) ++histogram[v[i]];
    Index seen = 0, b = lo;
    for (; b < hi; ++b) {
      seen += histogram[b];
      if (seen >= k_) break;
    }
    low_ = lo;
    return static_cast<std::uint16_t>(b);
  }

  using U16 = xsimd::batch<std::uint16_t, std::conditional_t<kSimd, Arch, xsimd::default_arch>>;

  /// W flags p[0, W) widened to 16-bit lanes.
  static U16 load_flags(const std::uint8_t* p) noexcept {
#if DARE_DETAIL_HAMMING_X86 && defined(__AVX512BW__)
    if constexpr (std::is_base_of_v<xsimd::avx512bw, Arch>)
      return U16(_mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#endif
#if DARE_DETAIL_HAMMING_AVX2
    if constexpr (std::is_base_of_v<xsimd::avx2, Arch>)
      return U16(_mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#endif
#if DARE_DETAIL_HAMMING_X86
    if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && W == 8)
      return U16(_mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), _mm_setzero_si128()));
#endif
    alignas(64) std::uint16_t lanes[W];
    for (Index l = 0; l < W; ++l) lanes[l] = p[l];
    return U16::load_aligned(lanes);
  }

  /// Step 1: the keys (the distances, or a masked copy), each valid distance checked, and
  /// `bound` = the k-th smallest of the minima of segments_ * kGroups groups of positions
  /// (position i of segment s in group (i - begin_s) mod kGroups; every group is non-empty
  /// since a segment has at least kGroups positions).
  const std::uint16_t* bound_pass(const std::uint16_t* distances, Index n, const std::uint8_t* valid,
                                  std::uint16_t& bound) {
    const std::uint16_t pad = padded_distance();
    const U16 pad_v(pad), zero(std::uint16_t(0));
    U16 worst(std::uint16_t(0));
    std::uint16_t* keys = nullptr;
    if (valid != nullptr) {
      grow(keys_, n);
      keys = keys_.data();
    }
    // kGroups positions: their keys (stored when masked) into the minima m, the valid
    // distances into worst.
    const auto stride = [&](const std::uint16_t* d, const std::uint8_t* v, std::uint16_t* k, U16* m) {
      for (Index c = 0; c < kChains; ++c) {
        U16 key = U16::load_unaligned(d + c * W);
        if (v != nullptr) {
          const auto ok = load_flags(v + c * W) != zero;
          worst = xsimd::max(worst, xsimd::select(ok, key, zero));
          key = xsimd::select(ok, key, pad_v);
          key.store_unaligned(k + c * W);
        } else {
          worst = xsimd::max(worst, key);
        }
        m[c] = xsimd::min(m[c], key);
      }
    };
    std::uint16_t* gmin = group_min_.data();
    for (Index s = 0; s < segments_; ++s) {
      const Index begin = n * s / segments_, end = n * (s + 1) / segments_;
      U16 m[kChains];
      for (Index c = 0; c < kChains; ++c) m[c] = U16(std::uint16_t(0xFFFF));
      Index i = begin;
      for (; i + kGroups <= end; i += kGroups)
        stride(distances + i, valid == nullptr ? nullptr : valid + i, keys == nullptr ? nullptr : keys + i, m);
      if (i < end) {
        // The last partial stride through padded copies: missing lanes hold distance bits
        // (no mask) or a padded flag (mask), neither of which lowers a group's minimum (its
        // real keys are at most bits + 1) nor counts as a distance above bits.
        const Index rest = end - i;
        alignas(64) std::uint16_t d[kGroups], k[kGroups];
        alignas(64) std::uint8_t v[kGroups];
        std::fill(d, d + kGroups, static_cast<std::uint16_t>(bits_));
        std::copy(distances + i, distances + end, d);
        if (valid != nullptr) {
          std::fill(v, v + kGroups, std::uint8_t(0));
          std::copy(valid + i, valid + end, v);
        }
        stride(d, valid == nullptr ? nullptr : v, k, m);
        if (keys != nullptr) std::copy(k, k + rest, keys + i);
      }
      for (Index c = 0; c < kChains; ++c) m[c].store_unaligned(gmin + s * kGroups + c * W);
    }
    if (xsimd::any(worst > U16(static_cast<std::uint16_t>(bits_)))) throw_distance(distances, n, valid);
    // The k-th smallest minimum, by counting (every minimum is a key, so <= bits + 1); the
    // smallest minimum is the smallest key.
    bound = kth_key(gmin, segments_ * kGroups);
    return keys != nullptr ? keys : distances;
  }

  /// Bit j set when keys[j] <= bound, j in [0, 64).
  static std::uint64_t span_hits(const std::uint16_t* keys, std::uint16_t bound) noexcept {
#if DARE_DETAIL_HAMMING_X86 && defined(__AVX512BW__)
    if constexpr (std::is_base_of_v<xsimd::avx512bw, Arch>) {
      const __m512i b = _mm512_set1_epi16(static_cast<short>(bound));
      const std::uint64_t lo = _mm512_cmple_epu16_mask(_mm512_loadu_si512(keys), b);
      const std::uint64_t hi = _mm512_cmple_epu16_mask(_mm512_loadu_si512(keys + 32), b);
      return lo | (hi << 32);
    }
#endif
#if DARE_DETAIL_HAMMING_AVX2
    if constexpr (detail::kHammingAvx2<Arch>) {
      // x <= bound  <=>  saturating x - bound == 0; packs to bytes (in-lane), then fix lanes.
      const __m256i b = _mm256_set1_epi16(static_cast<short>(bound)), zero = _mm256_setzero_si256();
      std::uint64_t bits = 0;
      for (int h = 0; h < 2; ++h) {
        const auto* p = reinterpret_cast<const __m256i*>(keys + 32 * h);
        const __m256i a = _mm256_cmpeq_epi16(_mm256_subs_epu16(_mm256_loadu_si256(p), b), zero);
        const __m256i c = _mm256_cmpeq_epi16(_mm256_subs_epu16(_mm256_loadu_si256(p + 1), b), zero);
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(a, c), 0xD8);
        bits |= std::uint64_t(static_cast<std::uint32_t>(_mm256_movemask_epi8(packed))) << (32 * h);
      }
      return bits;
    }
#endif
#if DARE_DETAIL_HAMMING_X86
    if constexpr (std::is_base_of_v<xsimd::sse2, Arch>) {
      const __m128i b = _mm_set1_epi16(static_cast<short>(bound)), zero = _mm_setzero_si128();
      std::uint64_t bits = 0;
      for (int q = 0; q < 4; ++q) {
        const auto* p = reinterpret_cast<const __m128i*>(keys + 16 * q);
        const __m128i a = _mm_cmpeq_epi16(_mm_subs_epu16(_mm_loadu_si128(p), b), zero);
        const __m128i c = _mm_cmpeq_epi16(_mm_subs_epu16(_mm_loadu_si128(p + 1), b), zero);
        bits |= std::uint64_t(static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(a, c)))) << (16 * q);
      }
      return bits;
    }
#endif
    std::uint64_t bits = 0;
    for (int j = 0; j < 64; ++j) bits |= std::uint64_t(keys[j] <= bound) << j;
    return bits;
  }

  static unsigned lowest_bit(std::uint64_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctzll(x));
#else
    unsigned b = 0;
    while (!(x & 1)) x >>= 1, ++b;
    return b;
#endif
  }

  /// Step 2: the positions whose key is at or below `bound`, in position order, to
  /// cand_position_; returns how many. A span's hits are walked bit by bit (compressing
  /// them 8 lanes at a time with vpcompressq, branch-free, was 1.7x slower on Zen 4 at
  /// N = 10,000, where a span holds one or two).
  Index gather(const std::uint16_t* keys, Index n, std::uint16_t bound) {
    grow(cand_position_, n);
    Index* cp = cand_position_.data();
    Index count = 0;
    Index i = 0;
    for (; i + kSpan <= n; i += kSpan) {
      std::uint64_t hits = span_hits(keys + i, bound);
      if (hits == 0) continue;
      for (; hits != 0; hits &= hits - 1) cp[count++] = i + lowest_bit(hits);
    }
    for (; i < n; ++i) {
      cp[count] = i;
      count += keys[i] <= bound;
    }
    return count;
  }

  /// Step 3: the k best of the `count` candidates (cand_position_, in position order, keys
  /// at most `top`) by counting: a histogram of their keys gives the k-th key t and how many
  /// of the k results have key t (`need`); one branch-free pass from the highest position
  /// down keeps every candidate below t and the first `need` at t, i.e. exactly the k
  /// results, in descending position order; a counting sort by key (offsets = exclusive
  /// prefix sums, each result to slot offset[key]++) then ranks them, ties highest position
  /// first. (Ranking every candidate by offset[key]++ instead, with a dump slot for those
  /// past k, was 2x slower: each increment waits for the last one of the same key.)
  void count_select(const std::uint16_t* keys, Index count, std::uint16_t top, Index* positions,
                    std::uint16_t* out_distances) {
    const Index* cp = cand_position_.data();
    Index* offset = offset_.data();  // used over [low_, top]: no key is below low_
    std::fill(offset + low_, offset + top + 1, Index(0));
    for (Index j = 0; j < count; ++j) ++offset[keys[cp[j]]];
    Index below = 0, t = low_;
    for (; below + offset[t] < k_; ++t) below += offset[t];
    const Index need = k_ - below;
    Index* kept = kept_.data();  // k + 1 entries: the last one takes the rejects' writes
    Index taken = 0, at_t = 0;
    for (Index j = count - 1; j >= 0; --j) {
      const Index key = keys[cp[j]];
      kept[taken] = cp[j];
      const bool keep = key < t || (key == t && at_t < need);
      at_t += key == t;
      taken += keep;
    }
    Index run = 0;
    for (Index key = low_; key <= t; ++key) {
      const Index h = key < t ? offset[key] : need;
      offset[key] = run;
      run += h;
    }
    for (Index r = 0; r < k_; ++r) {
      const Index p = kept[r];
      const std::uint16_t key = keys[p];
      const Index slot = offset[key]++;
      positions[slot] = p;
      out_distances[slot] = key;
    }
  }

  Index k_;
  Index bits_;
  Index segments_ = 1;
  Index low_ = 0;  // the smallest key of the last select()
  std::vector<std::uint16_t> distances_;  // search()'s distances
  std::vector<std::uint16_t> keys_;       // masked keys
  std::vector<std::uint16_t> group_min_;
  std::vector<Index> offset_;  // a histogram of keys, then the next slot per key (bits + 2)
  std::vector<Index> cand_position_;
  std::vector<Index> kept_;  // k + 1: the last slot takes the writes of rejected candidates
};

}  // namespace dare

#undef DARE_DETAIL_HAMMING_X86
#undef DARE_DETAIL_HAMMING_AVX2
#undef DARE_DETAIL_HAMMING_VPOPCNT
#undef DARE_DETAIL_HAMMING_INLINE
