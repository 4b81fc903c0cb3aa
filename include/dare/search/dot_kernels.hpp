// dare/search/dot_kernels.hpp — inner products of one query (or M queries) with N rows.
//
// Design note. The search stage scores every history row against the target: N dot products
// of width `dim` (N ~ 200..100k, dim ~ 8..256). What decides the speed:
//
// * Horizontal sums. Reducing each row's accumulator on its own costs log2(W) shuffles per
//   row (W = lanes per register) and dominates at small widths. The kernels instead keep W
//   row accumulators and fold them into one register (`detail::fold_lanes`): log2(W) levels
//   of blend + swizzle + add leave row r's sum in lane r, so a row costs about one shuffle
//   and W results leave with one store. Architectures without xsimd 8.1 swizzles fall back
//   to one `reduce_add` per row (never `haddp`, see dare/core/simd.hpp).
// * Loop shape. Every width goes W rows at a time, chunk by chunk, one accumulator per row
//   (`detail::block_dots`). One row at a time with four accumulators was measured against
//   it on this project's machine (Xeon with AVX-512, ~14 GB/s per core) and never won: in
//   cache it is 10-50% slower (2x at 16 floats), memory-bound it ties up to 256 floats and
//   is 1.2-1.4x slower at 1024, where W rows in flight give the memory system W streams.
//   With a fixed Dim every trip count and tail mask is a compile-time constant. Rows of
//   512 bytes or more (dot_rows) keep the W accumulators and the fold but read the block
//   row after row, each row's chunks in sequence: the same FMAs on each accumulator in the
//   same order, so the same results bit for bit, read in address order; on a Zen 4 the
//   chunk-by-chunk order reached only ~40% of the probe from memory at 128 and 256 floats
//   (see kRowOrderMinBytes).
// * Register width. Rows no wider than half a register run on the half-width architecture
//   (AVX2 under AVX-512, SSE under AVX): the fold costs about the same per row at any
//   width, and the narrower registers have more execution ports (8 floats: 0.47 instead of
//   0.8 ns per row).
// * Several queries (dot_rows_multi): rows go in L1-sized tiles (16 KB) and each tile meets
//   every query while it is in L1, so each row comes from memory once whatever M is. With
//   enough queries (transpose_pays: 5 at 8 floats .. 27 at 256) a tile (32 KB; 128 KB when
//   the M x N scores exceed 8 MB, for longer output runs) is first transposed (hardware
//   gathers on AVX2/AVX-512), and each query is then broadcast FMAs over rows in
//   the lanes, 8 (AVX-512) or 4 queries per register block: no horizontal sums at all, like
//   a GEMM micro-kernel. Measured, M = 100, 10k rows: 2.7x faster than the fold at 8 floats,
//   1.6x at 64, 1.4x at 256, and as fast as Eigen's GEMM at 64 and above (faster below).
//   (A register-blocked fold, each row chunk loaded once for four queries, was no faster
//   than one query at a time.)
// * Prefetch. Rows read from memory at 32 floats reach only ~70% of a plain read's bandwidth
//   with the hardware prefetchers alone (16 and 64 floats: 90-100%; cause not found), so
//   dot_rows also prefetches 2 KB ahead when the rows span at least 256 KiB and a block of
//   W rows is at most 4 KB (see kPrefetchAhead and kNarrowPrefetchMinBytes for the
//   measurements); rows of 512 bytes or more, read row after row, prefetch each line 512
//   bytes ahead in the same stream instead, when they span at least 1 MiB.
// * Tails. The last dim % W scalars of a row are read with a masked load (AVX-512, AVX) or
//   exact-size loads (SSE), never past the row's end, so the last row may end the buffer and
//   the padding between rows (whatever it holds, NaN included) is never read.
//
// Loads are unaligned: rows may or may not start on a register boundary (aligned_stride
// rows do, and then the unaligned loads cost nothing extra).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#  include <immintrin.h>
#  define DARE_DETAIL_X86 1
#else
#  define DARE_DETAIL_X86 0
#endif

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/simd.hpp"

// The kernels' building blocks must be inlined into the loops that use them: otherwise GCC
// passes the W row accumulators through memory (measured: 20-40% slower at small widths).
#if defined(__GNUC__) || defined(__clang__)
#  define DARE_DETAIL_INLINE __attribute__((always_inline)) inline
#elif defined(_MSC_VER)
#  define DARE_DETAIL_INLINE __forceinline
#else
#  define DARE_DETAIL_INLINE inline
#endif

namespace dare {

namespace detail {

/// dot_rows_multi keeps a tile of rows of about this many bytes hot in L1 while it runs
/// through the queries.
inline constexpr Index kMultiTileBytes = 16 * 1024;

/// dot_rows prefetches rows kPrefetchAhead bytes ahead of the block of W rows it scores when
/// the rows span at least kPrefetchMinBytes (smaller ones likely sit in L1/L2, where the
/// prefetch instructions only cost issue slots: 20-30% at small widths) and a block is at
/// most kPrefetchMaxBlock bytes (wider blocks are ahead of themselves: the prefetches land
/// in the block being read). Measured on rows read from memory, one core: +25% at 32
/// floats, +10% at 64, neutral at 8 and 16, -8% at 128 and 256 (hence the block limit).
/// Rows narrower than kRowOrderMinBytes prefetch from kNarrowPrefetchMinBytes on: measured
/// on a 2-core Xeon (AVX-512, KVM), N = 10k, K = 20, three alternating runs, medians, rows
/// from memory at 8 floats went from 78% to 87% of the probe (AVX2 build: 81% to 94%) and at
/// 16 floats from 89% to 93% (91% to 96%), 2.3-4.4 us less per search, while the same rows
/// in L2 (a history searched again at once) took 13-26% longer, 1.4-2.3 us: rows from
/// memory are the common case, a new user's history.
inline constexpr Index kPrefetchAhead = 2048;
inline constexpr Index kPrefetchMinBytes = Index(1) << 20;
inline constexpr Index kNarrowPrefetchMinBytes = Index(1) << 18;
inline constexpr Index kPrefetchMaxBlock = 4096;
/// Rows of at least kRowOrderMinBytes are read row after row (block_dots' RowOrder), and
/// when prefetching (rows spanning kPrefetchMinBytes), each line read asks for the line
/// kRowPrefetchAhead bytes further on in the same stream. Measured on a 2-core Zen 4 (KVM,
/// shared: load 3-4 during the runs), rows from memory, 10k and 100k rows, K = 20, search
/// over probe: chunk by chunk across the W rows 31-46% at 128 and 256 floats with AVX-512
/// and 39-45% at 256 with AVX2; row after row with the prefetch 59-73% (AVX-512) and
/// 73-88% (AVX2). Row after row without the prefetch stayed at ~40% with AVX-512 at 128
/// floats: the fully unrolled block issues its line misses faster than the hardware
/// prefetchers follow. Narrower rows keep the chunk order (row order measured no better).
inline constexpr Index kRowOrderMinBytes = 512;
inline constexpr Index kRowPrefetchAhead = 512;

template <class Scalar>
constexpr void check_scalar() noexcept {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "dare's dot kernels take float or double");
}

template <int Dim>
Index checked_dim(const char* fn, Index dim) {
  if constexpr (Dim == Dynamic) {
    DARE_CHECK_ARG(dim > 0, fn, ": dim must be positive, got ", dim);
  } else {
    static_assert(Dim > 0, "a fixed width must be positive (or Dynamic)");
    DARE_CHECK_ARG(dim == Dim, fn, ": dim is ", dim, " but the template fixes it to ", Dim);
  }
  return dim;
}

inline void check_rows_args(const char* fn, const void* query, const void* rows, Index n,
                            Index row_stride, const void* out, Index dim) {
  DARE_CHECK_ARG(n >= 0, fn, ": n must be non-negative, got ", n);
  DARE_CHECK_ARG(n <= 1 || row_stride >= dim, fn, ": row_stride (", row_stride,
                 ") must be at least dim (", dim, ")");
  DARE_CHECK_ARG(n == 0 || (query != nullptr && rows != nullptr && out != nullptr), fn,
                 ": query, rows and out must not be null when n > 0");
}

inline void check_queries_args(const char* fn, const void* queries, Index m, Index query_stride,
                               Index n, Index out_stride, Index dim) {
  DARE_CHECK_ARG(m >= 0, fn, ": m must be non-negative, got ", m);
  DARE_CHECK_ARG(m <= 1 || query_stride >= dim, fn, ": query_stride (", query_stride,
                 ") must be at least dim (", dim, ")");
  DARE_CHECK_ARG(m <= 1 || out_stride >= n, fn, ": out_stride (", out_stride,
                 ") must be at least n (", n, ")");
  DARE_CHECK_ARG(m == 0 || n == 0 || queries != nullptr, fn,
                 ": queries must not be null when m > 0 and n > 0");
}

}  // namespace detail

// ---- scalar references (tests, and machines without any SIMD) ------------------------------
namespace reference {

/// out[i] = <query, rows + i*row_stride> over `dim` scalars, accumulated left to right.
template <class Scalar>
void dot_rows(const Scalar* query, const Scalar* rows, Index n, Index row_stride, Scalar* out,
              Index dim) {
  detail::checked_dim<Dynamic>("reference::dot_rows", dim);
  detail::check_rows_args("reference::dot_rows", query, rows, n, row_stride, out, dim);
  for (Index i = 0; i < n; ++i) {
    const Scalar* row = rows + i * row_stride;
    Scalar acc = 0;
    for (Index k = 0; k < dim; ++k) acc += query[k] * row[k];
    out[i] = acc;
  }
}

/// out[j*out_stride + i] = <queries + j*query_stride, rows + i*row_stride>.
template <class Scalar>
void dot_rows_multi(const Scalar* queries, Index m, Index query_stride, const Scalar* rows,
                    Index n, Index row_stride, Scalar* out, Index out_stride, Index dim) {
  detail::checked_dim<Dynamic>("reference::dot_rows_multi", dim);
  detail::check_queries_args("reference::dot_rows_multi", queries, m, query_stride, n,
                             out_stride, dim);
  for (Index j = 0; j < m; ++j)
    dot_rows(queries + j * query_stride, rows, n, row_stride, out + j * out_stride, dim);
}

}  // namespace reference

namespace detail {

template <class Scalar, class Arch>
using SimdBatch = xsimd::batch<Scalar, Arch>;

/// xsimd 8.1 implements compile-time blends and swizzles for the x86 families only.
template <class Arch>
inline constexpr bool kHasSwizzle = std::is_base_of_v<xsimd::sse2, Arch> ||
                                    std::is_base_of_v<xsimd::avx, Arch> ||
                                    std::is_base_of_v<xsimd::avx512f, Arch>;

/// Calls f(integral_constant<I>) for each I: a loop the compiler must unroll, so arrays of
/// registers indexed by I stay in registers.
template <std::size_t... I, class F>
DARE_DETAIL_INLINE void unroll(std::index_sequence<I...>, F&& f) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

template <class B, std::size_t Span, std::size_t... L>
constexpr auto upper_lanes(std::index_sequence<L...>) noexcept {
  return xsimd::batch_bool_constant<B, ((L & Span) != 0)...>{};
}

/// The bits of upper_lanes as an integer mask (bit l set when lane l has bit Span set).
template <std::size_t W, std::size_t Span>
constexpr unsigned upper_lane_bits() noexcept {
  unsigned bits = 0;
  for (std::size_t l = 0; l < W; ++l)
    if (l & Span) bits |= 1u << l;
  return bits;
}

template <class B, std::size_t Span, std::size_t... L>
constexpr auto partner_lanes(std::index_sequence<L...>) noexcept {
  using U = xsimd::batch<xsimd::as_unsigned_integer_t<typename B::value_type>,
                         typename B::arch_type>;
  return xsimd::batch_constant<U, static_cast<typename U::value_type>(L ^ Span)...>{};
}

/// AVX-512 two-register permute indices: lane l takes x[l ^ Span] when bit Span of l is
/// clear and y[l ^ Span] (index W + (l ^ Span)) when it is set. A constant table loaded
/// where it is used: xsimd 8.1 turns a batch_constant into a register through an
/// out-of-line call, which cost one call per fold step (measured: 10-25% of the in-cache
/// time at widths 16 and 32).
template <class I, std::size_t W, std::size_t Span>
struct PartnerLanes2 {
  template <std::size_t... L>
  static constexpr std::array<I, W> make(std::index_sequence<L...>) noexcept {
    return {static_cast<I>((L ^ Span) + ((L & Span) ? W : 0))...};
  }
  alignas(64) static constexpr std::array<I, W> value = make(std::make_index_sequence<W>{});
};

/// One folding level: lane l of the result is z[l] + z[l ^ Span], where z is x for lanes
/// with bit Span clear and y for lanes with it set. Generic xsimd 8.1 has no two-register
/// permute, so two blends put each lane's partner in place for a one-register swizzle;
/// AVX-512 does it with one vpermt2ps (which also avoids GCC 12's false -Wuninitialized
/// in the single-register _mm512_permutexvar_* intrinsics).
template <std::size_t Span, class T, class A>
DARE_DETAIL_INLINE SimdBatch<T, A> fold_pair(const SimdBatch<T, A>& x, const SimdBatch<T, A>& y) noexcept {
  using B = SimdBatch<T, A>;
#if DARE_DETAIL_X86
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    // Intrinsics: xsimd 8.1's constant-mask select for AVX-512 floats builds its mask in an
    // out-of-line call, which costs more than the whole fold.
    constexpr unsigned upper = upper_lane_bits<B::size, Span>();
    using I = std::conditional_t<std::is_same_v<T, float>, std::int32_t, std::int64_t>;
    const __m512i index = _mm512_load_si512(PartnerLanes2<I, B::size, Span>::value.data());
    if constexpr (std::is_same_v<T, float>)
      return B(_mm512_add_ps(_mm512_mask_blend_ps(static_cast<__mmask16>(upper), x, y),
                             _mm512_permutex2var_ps(x, index, y)));
    else
      return B(_mm512_add_pd(_mm512_mask_blend_pd(static_cast<__mmask8>(upper), x, y),
                             _mm512_permutex2var_pd(x, index, y)));
  } else
#endif
  {
    constexpr auto lanes = std::make_index_sequence<B::size>{};
    constexpr auto upper = upper_lanes<B, Span>(lanes);
    const B keep = xsimd::select(upper, y, x);
    const B cross = xsimd::select(upper, x, y);
    return keep + xsimd::swizzle(cross, partner_lanes<B, Span>(lanes));
  }
}

template <std::size_t Span, class B, std::size_t... R>
DARE_DETAIL_INLINE void fold_level(B* acc, std::index_sequence<R...>) noexcept {
  ((acc[R] = fold_pair<Span>(acc[R], acc[R + Span])), ...);
}

template <std::size_t Span, class B>
DARE_DETAIL_INLINE void fold_from(B* acc) noexcept {
  fold_level<Span>(acc, std::make_index_sequence<Span>{});
  if constexpr (Span > 1) fold_from<Span / 2>(acc);
}

/// Lane r of the result is the horizontal sum of acc[r], r < W, via one reduce_add per row.
template <class T, class A>
DARE_DETAIL_INLINE SimdBatch<T, A> fold_lanes_portable(const SimdBatch<T, A>* acc) noexcept {
  using B = SimdBatch<T, A>;
  alignas(A::alignment()) T sums[B::size];
  for (std::size_t r = 0; r < B::size; ++r) sums[r] = reduce_add(acc[r]);
  return B::load_aligned(sums);
}

/// Lane r of the result is the horizontal sum of acc[r], for the W = B::size registers of
/// acc (which this clobbers): the transposing reduction of the design note.
template <class T, class A>
DARE_DETAIL_INLINE SimdBatch<T, A> fold_lanes(SimdBatch<T, A>* acc) noexcept {
  using B = SimdBatch<T, A>;
  if constexpr (kHasSwizzle<A> && (B::size > 1)) {
    fold_from<B::size / 2>(acc);
    return acc[0];
  } else {
    return fold_lanes_portable(acc);
  }
}

#if DARE_DETAIL_X86
/// Lane masks for the AVX masked loads: kHeadMask32 + 8 - c has c leading all-ones lanes.
inline constexpr std::int32_t kHeadMask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};
inline constexpr std::int64_t kHeadMask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
#endif

/// load_head through a zeroed buffer: for architectures without masked or partial loads.
template <class T, class A>
DARE_DETAIL_INLINE SimdBatch<T, A> load_head_portable(const T* p, Index count) noexcept {
  using B = SimdBatch<T, A>;
  alignas(A::alignment()) T buf[B::size] = {};
  for (Index k = 0; k < count; ++k) buf[k] = p[k];
  return B::load_aligned(buf);
}

/// Lanes [0, count) loaded from p, the others zero, with 0 < count <= W. Reads nothing at or
/// beyond p + count (masked loads suppress those accesses), so a row's tail is read without
/// touching the next row's padding or the end of the buffer.
template <class A, class T>
DARE_DETAIL_INLINE SimdBatch<T, A> load_head(const T* p, Index count) {
  using B = SimdBatch<T, A>;
  DARE_ASSERT(count > 0 && count <= static_cast<Index>(B::size));
#if DARE_DETAIL_X86
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    const unsigned bits = (1u << count) - 1u;
    if constexpr (std::is_same_v<T, float>)
      return B(_mm512_maskz_loadu_ps(static_cast<__mmask16>(bits), p));
    else
      return B(_mm512_maskz_loadu_pd(static_cast<__mmask8>(bits), p));
  } else if constexpr (std::is_base_of_v<xsimd::avx, A>) {
    if constexpr (std::is_same_v<T, float>) {
      const __m256i mask =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kHeadMask32 + 8 - count));
      return B(_mm256_maskload_ps(p, mask));
    } else {
      const __m256i mask =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kHeadMask64 + 4 - count));
      return B(_mm256_maskload_pd(p, mask));
    }
  } else if constexpr (std::is_base_of_v<xsimd::sse2, A>) {
    if constexpr (std::is_same_v<T, float>) {
      if (count == 4) return B::load_unaligned(p);
      if (count == 1) return B(_mm_load_ss(p));
      double two;  // the first two floats, moved as one 8-byte scalar
      std::memcpy(&two, p, sizeof two);
      const __m128 lo = _mm_castpd_ps(_mm_set_sd(two));
      if (count == 2) return B(lo);
      return B(_mm_movelh_ps(lo, _mm_load_ss(p + 2)));
    } else {
      if (count == 2) return B::load_unaligned(p);
      return B(_mm_load_sd(p));
    }
  } else {
    return load_head_portable<T, A>(p, count);
  }
#else
  return load_head_portable<T, A>(p, count);
#endif
}

/// The width the loops run over: the compile-time one when fixed, so that the compiler sees a
/// constant (trip counts, tail masks) in every kernel below.
template <int Dim>
constexpr Index width(Index dim) noexcept {
  if constexpr (Dim == Dynamic) {
    return dim;
  } else {
    return Index(Dim);
  }
}

/// The dot products of W rows, row r at row_at(r), in lane r, with one accumulator per row
/// folded at the end. Chunk by chunk across the W rows, or (RowOrder) row after row, each
/// row's chunks in sequence: the same operations on each accumulator in the same order, so
/// the same results bit for bit, but the reads go through memory in address order. With
/// RowOrder and Prefetch, each line read asks for the line kRowPrefetchAhead bytes on.
template <int Dim, class A, bool RowOrder = false, bool Prefetch = false, class T, class RowAt>
DARE_DETAIL_INLINE SimdBatch<T, A> block_dots(const T* query, RowAt row_at, Index dim_arg) {
  using B = SimdBatch<T, A>;
  constexpr Index W = B::size;
  constexpr auto each_row = std::make_index_sequence<B::size>{};
  const Index dim = width<Dim>(dim_arg);
  B acc[B::size];
  if constexpr (RowOrder) {
    unroll(each_row, [&](auto r) {
      const T* row = row_at(r);
      B a(T(0));
      Index k = 0;
      for (; k + W <= dim; k += W) {
#if defined(__GNUC__) || defined(__clang__)
        if constexpr (Prefetch) {
          if ((k * Index(sizeof(T))) % 64 == 0)
            __builtin_prefetch(row + k + kRowPrefetchAhead / Index(sizeof(T)));
        }
#endif
        a = xsimd::fma(B::load_unaligned(query + k), B::load_unaligned(row + k), a);
      }
      if (k < dim) {
        const Index tail = dim - k;
        a = xsimd::fma(load_head<A>(query + k, tail), load_head<A>(row + k, tail), a);
      }
      acc[r] = a;
    });
    return fold_lanes(acc);
  }
  unroll(each_row, [&](auto r) { acc[r] = B(T(0)); });
  Index k = 0;
  for (; k + W <= dim; k += W) {
    const B q = B::load_unaligned(query + k);
    unroll(each_row,
           [&](auto r) { acc[r] = xsimd::fma(q, B::load_unaligned(row_at(r) + k), acc[r]); });
  }
  if (k < dim) {
    const Index tail = dim - k;
    const B q = load_head<A>(query + k, tail);
    unroll(each_row,
           [&](auto r) { acc[r] = xsimd::fma(q, load_head<A>(row_at(r) + k, tail), acc[r]); });
  }
  return fold_lanes(acc);
}

/// Asks for the cache lines of [p + kPrefetchAhead, p + kPrefetchAhead + bytes).
DARE_DETAIL_INLINE void prefetch_ahead(const void* p, Index bytes) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  const char* ahead = static_cast<const char*>(p) + kPrefetchAhead;
  for (Index b = 0; b < bytes; b += 64) __builtin_prefetch(ahead + b);
#else
  (void)p;
  (void)bytes;
#endif
}

/// What dot_rows_blocks does with each block of scores besides storing it: nothing.
struct NoScoreSink {
  template <class B>
  DARE_DETAIL_INLINE void block(const B&) noexcept {}
  template <class T>
  void tail(const T*, Index) noexcept {}
};

/// max(x, m), m where x is NaN (one vmaxps; AVX-512 in its merge-masked form, which GCC 12
/// does not warn about falsely, bug 105593).
template <class B>
DARE_DETAIL_INLINE B max_keeping(const B& x, const B& m) noexcept {
#if DARE_DETAIL_X86 && defined(__AVX512F__)
  using A = typename B::arch_type;
  using T = typename B::value_type;
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    if constexpr (std::is_same_v<T, float>)
      return B(_mm512_mask_max_ps(m, static_cast<__mmask16>(0xFFFF), x, m));
    else
      return B(_mm512_mask_max_pd(m, static_cast<__mmask8>(0xFF), x, m));
  } else
#endif
  {
#if DARE_DETAIL_X86
    return xsimd::max(x, m);  // maxps: the second operand where either is NaN
#else
    return xsimd::select(x > m, x, m);
#endif
  }
}

/// Keeps the maxima of `groups` interleaved groups of the scores as dot_rows_blocks makes
/// them, blocks in position order: score i goes to group i mod groups (groups a multiple of
/// every block's lane count). The offset runs along instead of a division per block.
template <class T>
struct GroupMaxSink {
  T* group_max;
  Index groups;
  Index at = 0;
  template <class B>
  DARE_DETAIL_INLINE void block(const B& scores) noexcept {
    max_keeping(scores, B::load_unaligned(group_max + at)).store_unaligned(group_max + at);
    at += Index(B::size);
    at = at == groups ? 0 : at;
  }
  void tail(const T* scores, Index count) noexcept {
    for (Index l = 0; l < count; ++l)
      group_max[at + l] = scores[l] > group_max[at + l] ? scores[l] : group_max[at + l];
  }
};

template <int Dim, class A, bool Prefetch, bool RowOrder = false, class T, class Sink>
void dot_rows_blocks(const T* query, const T* rows, Index n, Index row_stride, T* out,
                     Index dim, Sink& sink) {
  using B = SimdBatch<T, A>;
  constexpr Index W = B::size;
  Index i = 0;
  for (; i + W <= n; i += W) {
    // Addresses as base + r * stride, not a table of W pointers: 16 live row pointers
    // would not fit in the general registers.
    const T* block = rows + i * row_stride;
    if constexpr (Prefetch && !RowOrder) prefetch_ahead(block, W * row_stride * Index(sizeof(T)));
    const auto row_at = [block, row_stride](Index r) { return block + r * row_stride; };
    const B scores = block_dots<Dim, A, RowOrder, Prefetch>(query, row_at, dim);
    scores.store_unaligned(out + i);
    sink.block(scores);
  }
  if (i < n) {
    // The last, partial block repeats its last row in the unused lanes: no branches, and it
    // reads only its own rows.
    const Index last = n - i - 1;
    const T* block = rows + i * row_stride;
    const auto row_at = [block, row_stride, last](Index r) {
      return block + std::min(r, last) * row_stride;
    };
    alignas(A::alignment()) T sums[B::size];
    block_dots<Dim, A>(query, row_at, dim).store_aligned(sums);
    std::copy(sums, sums + last + 1, out + i);
    sink.tail(sums, last + 1);
  }
}

/// The x86 architecture with registers half as wide as A's (AVX2 under AVX-512, SSE under
/// AVX), or void.
template <class A>
using half_width_arch = std::conditional_t<
    std::is_base_of_v<xsimd::avx512f, A>,
    std::conditional_t<xsimd::fma3<xsimd::avx2>::supported(), xsimd::fma3<xsimd::avx2>,
                       xsimd::avx2>,
    std::conditional_t<std::is_base_of_v<xsimd::avx, A>,
                       std::conditional_t<xsimd::sse4_2::supported(), xsimd::sse4_2,
                                          xsimd::sse2>,
                       void>>;

/// Calls f(Arch{}) with the architecture to run rows of width `dim` on: the narrowest of A
/// and its half-width architectures that still has at least `dim` lanes. The fold costs
/// about the same per row whatever the register width, and narrower registers have more
/// execution ports on current x86 (measured, AVX-512 machine, rows of 8 floats: 0.47
/// instead of 0.8 ns per row; of 4 floats: 0.40 instead of 0.57).
template <int Dim, class A, class T, class F>
DARE_DETAIL_INLINE void with_arch_for_width(Index dim, F&& f) {
  using Half = half_width_arch<A>;
  if constexpr (!std::is_void_v<Half>) {
    if (width<Dim>(dim) <= Index(SimdBatch<T, Half>::size))
      return with_arch_for_width<Dim, Half, T>(dim, std::forward<F>(f));
  }
  f(A{});
}

template <int Dim, class A, class T, class Sink = NoScoreSink>
void dot_rows_simd(const T* query, const T* rows, Index n, Index row_stride, T* out,
                   Index dim, Sink&& sink = Sink{}) {
  const Index row_bytes = row_stride * Index(sizeof(T));
  with_arch_for_width<Dim, A, T>(dim, [&](auto arch) {
    using Arch = decltype(arch);
    constexpr Index W = SimdBatch<T, Arch>::size;
    const bool prefetch = n * row_bytes >= kPrefetchMinBytes;
    if (row_bytes >= kRowOrderMinBytes && prefetch)
      dot_rows_blocks<Dim, Arch, true, true>(query, rows, n, row_stride, out, dim, sink);
    else if (row_bytes >= kRowOrderMinBytes)
      dot_rows_blocks<Dim, Arch, false, true>(query, rows, n, row_stride, out, dim, sink);
    else if (n * row_bytes >= kNarrowPrefetchMinBytes && W * row_bytes <= kPrefetchMaxBlock)
      dot_rows_blocks<Dim, Arch, true>(query, rows, n, row_stride, out, dim, sink);
    else
      dot_rows_blocks<Dim, Arch, false>(query, rows, n, row_stride, out, dim, sink);
  });
}

/// dot_rows_multi on one architecture: rows in tiles of about kMultiTileBytes, each tile
/// scored against every query while it sits in L1, so each row comes from memory once
/// whatever m is.
template <int Dim, class A, class T>
void dot_rows_multi_blocks(const T* queries, Index m, Index query_stride, const T* rows,
                           Index n, Index row_stride, T* out, Index out_stride, Index dim) {
  constexpr Index W = SimdBatch<T, A>::size;
  const Index row_bytes = std::max<Index>(row_stride, dim) * Index(sizeof(T));
  const Index tile = std::max<Index>(W, kMultiTileBytes / row_bytes / W * W);
  NoScoreSink none;
  for (Index t0 = 0; t0 < n; t0 += tile) {
    const Index rows_in_tile = std::min(tile, n - t0);
    for (Index j = 0; j < m; ++j)
      dot_rows_blocks<Dim, A, false>(queries + j * query_stride, rows + t0 * row_stride,
                                     rows_in_tile, row_stride, out + j * out_stride + t0, dim,
                                     none);
  }
}

/// Scores beyond this many bytes are taken not to stay in cache (see
/// dot_rows_multi_transposed's tile size).
inline constexpr Index kMultiOutputCached = Index(8) << 20;

/// dot_rows_multi_transposed's register block: kMultiQueries queries times kMultiVectors
/// vectors of rows (AVX-512 has 32 registers, the others 16), each tile vector loaded once
/// for all the block's queries.
template <class A>
inline constexpr Index kMultiQueries = std::is_base_of_v<xsimd::avx512f, A> ? 8 : 4;
inline constexpr Index kMultiVectors = 2;
/// Whether dot_rows_multi transposes its tiles for m queries of width dim: the transposition
/// (~1 cycle per scalar, paid once) must be repaid by the per-query saving (no horizontal
/// sums, ~1.5 / dim cycles per scalar, and half the loads, ~1/32). Crossovers measured on
/// AVX-512, 10k rows: 4, 6, 12, 16, 24 and 28 queries at widths 8 to 256; the rule gives
/// 5, 8, 13, 19, 24 and 27.
constexpr bool transpose_pays(Index m, Index dim) noexcept { return m * (dim + 48) >= 32 * dim; }

/// x * y + z with one rounding on AVX-512 too: xsimd 8.1's fma there is a multiply and an
/// add, fused only where the compiler contracts them (GCC's default -ffp-contract=fast does;
/// -ffp-contract=off does not), so the transposed kernels' scores would depend on the flags,
/// and LowpSearch's scalar FMA chains (std::fma) could not reproduce them bit for bit.
template <class A, class T>
DARE_DETAIL_INLINE SimdBatch<T, A> fused_fma(const SimdBatch<T, A>& x, const SimdBatch<T, A>& y,
                                             const SimdBatch<T, A>& z) noexcept {
#if DARE_DETAIL_X86 && defined(__AVX512F__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, A> && std::is_same_v<T, float>)
    return SimdBatch<T, A>(_mm512_fmadd_ps(x, y, z));
  else if constexpr (std::is_base_of_v<xsimd::avx512f, A> && std::is_same_v<T, double>)
    return SimdBatch<T, A>(_mm512_fmadd_pd(x, y, z));
  else
#endif
    return xsimd::fma(x, y, z);
}

/// The register block of the transposed kernels: acc[q][v] = the scores of queries [0, Q)
/// (query q at queries + q * query_stride) against rows r0 + v * W + [0, W) of a transposed
/// tile (tile[k * lanes + r] = component k of row r, zero past the last real row): per
/// component, Q * kMultiVectors broadcast FMAs, no horizontal sums. MultiSearch runs the
/// same block, so its scores are dot_rows_multi's bit for bit.
template <int Dim, class A, Index Q, class T>
DARE_DETAIL_INLINE void transposed_block(const T* queries, Index query_stride, const T* tile,
                                         Index lanes, Index r0, Index dim_arg,
                                         SimdBatch<T, A> (&acc)[Q][kMultiVectors]) {
  using B = SimdBatch<T, A>;
  constexpr Index W = B::size;
  constexpr Index V = kMultiVectors;
  const Index dim = width<Dim>(dim_arg);
  // Unrolled by construction: GCC unrolls these loops at -O3 but not at -O2, where the
  // accumulators then went through memory (3x slower).
  constexpr auto each_query = std::make_index_sequence<static_cast<std::size_t>(Q)>{};
  constexpr auto each_vector = std::make_index_sequence<static_cast<std::size_t>(V)>{};
  unroll(each_query, [&](auto q) { unroll(each_vector, [&](auto v) { acc[q][v] = B(T(0)); }); });
  const T* column = tile + r0;
  for (Index k = 0; k < dim; ++k, column += lanes) {
    B t[V];
    unroll(each_vector, [&](auto v) { t[v] = B::load_aligned(column + v * W); });
    unroll(each_query, [&](auto q) {
      const B x(queries[q * query_stride + k]);
      unroll(each_vector, [&](auto v) { acc[q][v] = fused_fma<A, T>(x, t[v], acc[q][v]); });
    });
  }
}

/// transposed_block stored to out[q * out_stride + r] for r < count.
template <int Dim, class A, Index Q, class T>
DARE_DETAIL_INLINE void transposed_strip(const T* queries, Index query_stride, const T* tile,
                                         Index lanes, Index r0, Index count, T* out,
                                         Index out_stride, Index dim) {
  using B = SimdBatch<T, A>;
  constexpr Index W = B::size;
  constexpr Index V = kMultiVectors;
  B acc[Q][V];
  transposed_block<Dim, A, Q>(queries, query_stride, tile, lanes, r0, dim, acc);
  for (Index q = 0; q < Q; ++q) {
    for (Index v = 0; v < V; ++v) {
      const Index r = r0 + v * W;
      T* dst = out + q * out_stride + r;
      if (r + W <= count) {
        acc[q][v].store_unaligned(dst);
      } else if (r < count) {
        alignas(A::alignment()) T part[W];
        acc[q][v].store_aligned(part);
        std::copy(part, part + (count - r), dst);
      }
    }
  }
}

/// tile[k * lanes + r] = rows[r * row_stride + k] for r < count, k < dim. AVX-512 and AVX2
/// move W rows at a time with hardware gathers (xsimd 8.1's gather for float batches falls
/// back to W broadcasts and blends); otherwise one scalar at a time.
template <class A, class T>
void transpose_rows(const T* rows, Index count, Index row_stride, Index dim, T* tile,
                    Index lanes) {
  Index r = 0;
#if DARE_DETAIL_X86
  using B = SimdBatch<T, A>;
  constexpr Index W = B::size;
  if constexpr (std::is_base_of_v<xsimd::avx512f, A> || std::is_base_of_v<xsimd::avx2, A>) {
    using I = xsimd::as_integer_t<T>;
    alignas(64) I offsets[W];
    for (Index l = 0; l < W; ++l) offsets[l] = static_cast<I>(l * row_stride);
    for (; r + W <= count; r += W) {
      const T* block = rows + r * row_stride;
      for (Index k = 0; k < dim; ++k) {
        T* dst = tile + k * lanes + r;
        if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
          const __m512i index = _mm512_load_si512(offsets);
          if constexpr (std::is_same_v<T, float>)
            _mm512_store_ps(dst, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), __mmask16(0xFFFF),
                                                          index, block + k, 4));
          else
            _mm512_store_pd(dst, _mm512_mask_i64gather_pd(_mm512_setzero_pd(), __mmask8(0xFF),
                                                          index, block + k, 8));
        } else {
          const __m256i index = _mm256_load_si256(reinterpret_cast<const __m256i*>(offsets));
          if constexpr (std::is_same_v<T, float>)
            _mm256_store_ps(dst, _mm256_i32gather_ps(block + k, index, 4));
          else
            _mm256_store_pd(dst, _mm256_i64gather_pd(block + k, index, 8));
        }
      }
    }
  }
#endif
  for (; r < count; ++r)
    for (Index k = 0; k < dim; ++k) tile[k * lanes + r] = rows[r * row_stride + k];
}

/// dot_rows_multi for many queries: each tile of rows (32 or 128 KB) is transposed
/// once into a buffer, components by rows, and every query then runs over it as broadcast
/// FMAs with rows in the lanes: no horizontal sums, each tile vector loaded once per
/// kMultiQueries queries. The transposition costs about one move per scalar, paid once for
/// all m queries.
template <int Dim, class A, class T>
void dot_rows_multi_transposed(const T* queries, Index m, Index query_stride, const T* rows,
                               Index n, Index row_stride, T* out, Index out_stride,
                               Index dim_arg) {
  constexpr Index W = SimdBatch<T, A>::size;
  constexpr Index step = kMultiVectors * W;
  const Index dim = width<Dim>(dim_arg);
  // Tiles of 32 KB (L1 and a half: measured as fast as 16 KB, up to 10% faster at small
  // widths); 128 KB when the scores cannot stay in cache anyway (more than 8 MB), so that
  // each of the m output rows is written in longer runs (measured, 100 x 100k scores:
  // 1.3-2x faster than 16 KB tiles).
  const Index tile_bytes = m * n * Index(sizeof(T)) > kMultiOutputCached ? 128 * 1024
                                                                           : 32 * 1024;
  const Index lanes = std::max<Index>(step, tile_bytes / Index(sizeof(T)) / dim / step * step);
  std::vector<T, xsimd::aligned_allocator<T, A::alignment()>> tile(
      static_cast<std::size_t>(lanes * dim));
  for (Index t0 = 0; t0 < n; t0 += lanes) {
    const Index count = std::min(lanes, n - t0);
    const Index padded = (count + step - 1) / step * step;
    transpose_rows<A>(rows + t0 * row_stride, count, row_stride, dim, tile.data(), lanes);
    for (Index k = 0; k < dim; ++k)
      std::fill(tile.begin() + k * lanes + count, tile.begin() + k * lanes + padded, T(0));
    // Query block by query block, each over every strip of the tile: the tile (16 KB, or a
    // single strip for wide rows) stays in L1 and each output row is written in sequence.
    constexpr Index Q = kMultiQueries<A>;
    Index j = 0;
    for (; j + Q <= m; j += Q)
      for (Index r0 = 0; r0 < count; r0 += step)
        transposed_strip<Dim, A, Q>(queries + j * query_stride, query_stride, tile.data(),
                                    lanes, r0, count, out + j * out_stride + t0, out_stride,
                                    dim);
    for (; j < m; ++j)
      for (Index r0 = 0; r0 < count; r0 += step)
        transposed_strip<Dim, A, 1>(queries + j * query_stride, query_stride, tile.data(),
                                    lanes, r0, count, out + j * out_stride + t0, out_stride,
                                    dim);
  }
}

template <int Dim, class A, class T>
void dot_rows_multi_simd(const T* queries, Index m, Index query_stride, const T* rows, Index n,
                         Index row_stride, T* out, Index out_stride, Index dim) {
  if (transpose_pays(m, width<Dim>(dim))) {
    dot_rows_multi_transposed<Dim, A>(queries, m, query_stride, rows, n, row_stride, out,
                                      out_stride, dim);
    return;
  }
  with_arch_for_width<Dim, A, T>(dim, [&](auto arch) {
    dot_rows_multi_blocks<Dim, decltype(arch)>(queries, m, query_stride, rows, n, row_stride,
                                               out, out_stride, dim);
  });
}

template <class Arch>
constexpr void check_arch() noexcept {
  static_assert(std::is_same_v<Arch, xsimd::unavailable> || Arch::supported(),
                "this xsimd architecture is not enabled in this translation unit: compile with "
                "its instruction-set flags (e.g. -mavx2 -mfma, -mavx512f -mavx512bw ...)");
}

}  // namespace detail

/// out[i] = <query, rows + i*row_stride> for i in [0, n), each over `dim` scalars.
///
/// `Dim` fixes the width at compile time (then `dim` may be omitted and, if given, must equal
/// it); `Dynamic` takes it from `dim`. `Arch` is the xsimd architecture to compile for; the
/// caller must compile with its instruction set enabled. Rows need not be aligned; only the
/// first `dim` scalars of each row are read. Results equal reference::dot_rows up to the
/// rounding of a different summation order (exactly, when all products and partial sums are
/// representable). Throws std::invalid_argument on a bad dim, n < 0, row_stride < dim (with
/// n > 1) or null pointers (with n > 0).
template <int Dim = Dynamic, class Arch = xsimd::default_arch, class Scalar>
void dot_rows(const Scalar* query, const Scalar* rows, Index n, Index row_stride, Scalar* out,
              Index dim = Dim) {
  detail::check_scalar<Scalar>();
  detail::check_arch<Arch>();
  detail::checked_dim<Dim>("dot_rows", dim);
  detail::check_rows_args("dot_rows", query, rows, n, row_stride, out, dim);
  if constexpr (std::is_same_v<Arch, xsimd::unavailable>) {
    reference::dot_rows(query, rows, n, row_stride, out, dim);
  } else {
    detail::dot_rows_simd<Dim, Arch>(query, rows, n, row_stride, out, dim);
  }
}

/// dot_rows, keeping as the scores are made the maxima of `groups` interleaved groups of
/// them: group_max[g] = the largest out[i] with i = g (mod groups), -inf where no i is (NaN
/// scores are left out). `groups` is a positive multiple of Arch's lanes for the Scalar
/// (TopK::groups() is). The scores equal dot_rows' bit for bit; the maxima save
/// TopK::select_with_maxima its first pass over them, which for a long history read from
/// memory is a second pass over the scores in L2 after the scan. Throws as dot_rows does,
/// and std::invalid_argument on a bad `groups` or a null group_max.
template <int Dim = Dynamic, class Arch = xsimd::default_arch, class Scalar>
void dot_rows_max(const Scalar* query, const Scalar* rows, Index n, Index row_stride,
                  Scalar* out, Scalar* group_max, Index groups, Index dim = Dim) {
  detail::check_scalar<Scalar>();
  detail::check_arch<Arch>();
  detail::checked_dim<Dim>("dot_rows_max", dim);
  detail::check_rows_args("dot_rows_max", query, rows, n, row_stride, out, dim);
  Index lanes = 1;
  if constexpr (!std::is_same_v<Arch, xsimd::unavailable>)
    lanes = Index(detail::SimdBatch<Scalar, Arch>::size);
  DARE_CHECK_ARG(groups > 0 && groups % lanes == 0 && group_max != nullptr,
                 "dot_rows_max: groups (", groups, ") must be a positive multiple of ", lanes,
                 " and group_max not null");
  std::fill(group_max, group_max + groups, -std::numeric_limits<Scalar>::infinity());
  if constexpr (std::is_same_v<Arch, xsimd::unavailable>) {
    reference::dot_rows(query, rows, n, row_stride, out, dim);
    for (Index i = 0; i < n; ++i) {
      Scalar& g = group_max[i % groups];
      g = out[i] > g ? out[i] : g;
    }
  } else {
    detail::dot_rows_simd<Dim, Arch>(query, rows, n, row_stride, out, dim,
                                     detail::GroupMaxSink<Scalar>{group_max, groups});
  }
}

/// out[j*out_stride + i] = <queries + j*query_stride, rows + i*row_stride> for j in [0, m),
/// i in [0, n): M queries against the same N rows.
///
/// Rows are taken in L1-sized tiles, each scored against all m queries while it is in L1,
/// so the rows come from memory once whatever m is; for many queries a tile is transposed
/// first (see the design note), which changes the summation order, not the guarantees. Same template parameters, guarantees
/// and argument checks as dot_rows, plus query_stride >= dim and out_stride >= n when m > 1.
template <int Dim = Dynamic, class Arch = xsimd::default_arch, class Scalar>
void dot_rows_multi(const Scalar* queries, Index m, Index query_stride, const Scalar* rows,
                    Index n, Index row_stride, Scalar* out, Index out_stride, Index dim = Dim) {
  detail::check_scalar<Scalar>();
  detail::check_arch<Arch>();
  detail::checked_dim<Dim>("dot_rows_multi", dim);
  detail::check_queries_args("dot_rows_multi", queries, m, query_stride, n, out_stride, dim);
  if (m == 0) return;
  detail::check_rows_args("dot_rows_multi", queries, rows, n, row_stride, out, dim);
  if constexpr (std::is_same_v<Arch, xsimd::unavailable>) {
    reference::dot_rows_multi(queries, m, query_stride, rows, n, row_stride, out, out_stride,
                              dim);
  } else {
    detail::dot_rows_multi_simd<Dim, Arch>(queries, m, query_stride, rows, n, row_stride, out,
                                           out_stride, dim);
  }
}

}  // namespace dare

#undef DARE_DETAIL_X86
#undef DARE_DETAIL_INLINE
