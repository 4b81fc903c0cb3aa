// dare/search/lowp_search.hpp — the serving search over a reduced-precision copy of the
// attention keys (bf16 or int8): which K positions each candidate keeps is decided on
// approximate scores; the kept positions come back with their exact float scores.
//
// Design note. Serving scores M candidates against one history of L keys [item | category |
// time] (3A floats each) and keeps each candidate's top K; everything after (the softmax over
// the K, the aggregation, the head) needs only those K positions and their scores. So the
// selection may read cheaper keys, as long as the K scores it hands on are exact:
//  - the time part of the logit, <q_time, k_time_j> · s_time, is the same for every candidate
//    (time ids are fixed by position), so it is a float bias per position, computed once;
//    only the semantic part [item | category] (2A) is read in reduced precision;
//  - bf16: keys and queries rounded to nearest even; per pair of components one
//    vdpbf16ps lane (AVX-512 BF16: 32 multiply-adds an instruction against 16 float FMAs),
//    elsewhere the same arithmetic with 16-bit shifts and two float FMAs, odd component first
//    as vdpbf16ps does (checked bit for bit on this machine, Zen 4: 3.2M lanes, no mismatch;
//    vdpbf16ps flushes denormals, the other paths do not);
//  - int8: one symmetric scale per table row (max |x| / 127), as FBGEMM's row-wise 8-bit
//    embedding tables, rather than one per table: rows of frequent and rare items differ in
//    norm, and a per-table scale spends the 8 bits of a small row on a range it never uses.
//    The key row is item and category rows of two tables, so each field keeps its own integer
//    sum and scale (two accumulators); the query gets one scale per candidate. Exact integer
//    dot products on AVX-512 VNNI (vpdpbusd, 64 per instruction, keys offset to unsigned and
//    the offset's 128·Σq subtracted), on AVX2 vpsignb + vpmaddubsw (|q| ≤ 127, so the 16-bit
//    pair sums never saturate) + vpmaddwd, elsewhere widened 32-bit multiplies.
// Rows are in the lanes and queries broadcast (the layout of dot_rows_multi's transposed
// kernel): per tile of rows, the reduced rows are gathered by id from the tables straight into
// the transposed tile, so there is no horizontal sum and no per-request conversion of keys.
// Then TopK on every candidate's approximate scores (its tie and padding rules), and the K
// kept rows are rescored in float with the arithmetic dot_rows_multi would have used for that
// many queries (so the scores equal MultiSearch's bit for bit) and ordered as TopK orders
// them: with keys exactly representable in bf16 the bf16 search returns what MultiSearch does
// (unless two scores tie to the last bit near the K-th).
//
// Every path's approximate scores equal reference::lowp_scores bit for bit on architectures
// with FMA (without it, the reference is used instead).
//
// Measured (2-core AMD EPYC Zen 4, AVX-512 BF16/VNNI, shared and loaded: load 3-5):
//  - quality, DARE on the built-in log, 3 seeds, 2,757 test histories x 3 candidates
//    (bench/search_precision): top-20 recall against float 0.9996 (bf16) and 0.9989 (int8),
//    identical selections 99.2% and 97.9%; test AUC change +0.00003 ± 0.00002 (bf16) and
//    +0.00005 ± 0.00008 (int8): nothing;
//  - speed, L = 200, M = 100, A = 16: the approximate scores take 16-23 us (bf16) and 18-25 us
//    (int8) against 53-65 us for MultiSearch's whole float search; but TopK on them and the
//    exact rescoring of the 20 kept rows per candidate bring LowpSearch to 105-130 us, so a
//    Scorer call (258-266 us float, mostly the head) is not faster (bf16 295-310, int8
//    242-254 us; at M = 1,000 and L = 1,000 slower). The float tables stay (for the exact
//    scores), so the copies add memory (2.8 MB bf16, 1.8 MB int8 here) rather than save it.
// Hence float stays the default and the recommendation: the reduced search pays only where
// the key reads dominate (histories far longer than the head's work, keys out of cache),
// which this project's serving shapes are not; measure with bench/serve_latency first.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(__i386__)
#  include <immintrin.h>
#  define DARE_DETAIL_LOWP_X86 1
#else
#  define DARE_DETAIL_LOWP_X86 0
#endif

#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/search/dot_kernels.hpp"
#include "dare/search/topk.hpp"

namespace dare {

/// Which keys the serving search (the top-K selection) reads; see the header note.
enum class SearchPrecision { Float, BF16, Int8 };

inline const char* to_string(SearchPrecision p) noexcept {
  return p == SearchPrecision::Float ? "float" : p == SearchPrecision::BF16 ? "bf16" : "int8";
}

/// "float", "bf16" or "int8" (std::invalid_argument otherwise).
inline SearchPrecision search_precision_from_string(const std::string& s) {
  if (s == "float") return SearchPrecision::Float;
  if (s == "bf16") return SearchPrecision::BF16;
  if (s == "int8") return SearchPrecision::Int8;
  detail::throw_invalid("search precision must be float, bf16 or int8, got '", s, "'");
}

/// x rounded to bf16, to nearest even (a NaN stays a quiet NaN).
inline std::uint16_t to_bf16(float x) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

/// The float a bf16 stands for (exact).
inline float from_bf16(std::uint16_t b) noexcept {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

/// Writes round(x / s) (within ±127) for the n floats of x to out and returns the symmetric
/// scale s = max |x| / 127 (0 for a zero row, whose codes are 0).
inline float quantize_int8(const float* x, Index n, std::int8_t* out) noexcept {
  float top = 0;
  for (Index i = 0; i < n; ++i) top = std::max(top, std::fabs(x[i]));
  const float scale = top / 127.0f;
  for (Index i = 0; i < n; ++i) {
    const float q = scale > 0 ? std::nearbyint(x[i] / scale) : 0.0f;
    out[i] = static_cast<std::int8_t>(std::clamp(q, -127.0f, 127.0f));
  }
  return scale;
}

/// A reduced-precision copy of a table of `rows` rows of `dim` floats: bf16, or int8 codes
/// with one scale per row (see the header note). Made once (at load time), read-only after.
class LowpTable {
 public:
  LowpTable() = default;
  /// row_at(i) gives row i's dim floats. Throws std::invalid_argument for Float or a
  /// non-finite value (naming the row).
  template <class RowAt>
  LowpTable(SearchPrecision precision, Index rows, Index dim, RowAt row_at)
      : precision_(precision), rows_(rows), dim_(dim) {
    DARE_CHECK_ARG(precision != SearchPrecision::Float, "LowpTable: a reduced precision is bf16 or int8");
    DARE_CHECK_ARG(rows >= 0 && dim > 0, "LowpTable: bad shape ", rows, " x ", dim);
    const auto size = static_cast<std::size_t>(rows * dim);
    if (precision == SearchPrecision::BF16)
      bf16_.resize(size);
    else
      int8_.resize(size), scale_.resize(static_cast<std::size_t>(rows));
    for (Index i = 0; i < rows; ++i) {
      const float* x = row_at(i);
      for (Index c = 0; c < dim; ++c)
        DARE_CHECK_ARG(std::isfinite(x[c]), "LowpTable: row ", i, " holds a non-finite value at ", c);
      if (precision == SearchPrecision::BF16) {
        for (Index c = 0; c < dim; ++c) bf16_[static_cast<std::size_t>(i * dim + c)] = to_bf16(x[c]);
      } else {
        scale_[static_cast<std::size_t>(i)] = quantize_int8(x, dim, int8_.data() + i * dim);
      }
    }
  }

  SearchPrecision precision() const noexcept { return precision_; }
  Index rows() const noexcept { return rows_; }
  Index dim() const noexcept { return dim_; }
  const std::uint16_t* bf16_row(Index i) const noexcept { return bf16_.data() + i * dim_; }
  const std::int8_t* int8_row(Index i) const noexcept { return int8_.data() + i * dim_; }
  float scale(Index i) const noexcept { return scale_[static_cast<std::size_t>(i)]; }
  /// Bytes held.
  std::size_t bytes() const noexcept { return bf16_.size() * 2 + int8_.size() + scale_.size() * 4; }

 private:
  SearchPrecision precision_ = SearchPrecision::BF16;
  Index rows_ = 0, dim_ = 0;
  std::vector<std::uint16_t> bf16_;
  std::vector<std::int8_t> int8_;
  std::vector<float> scale_;
};

/// The history a LowpSearch reads: n rows, row i the concatenation over fields f of
/// tables[f]->row(ids[f][i]) (all tables of one precision), plus bias[i] (nullptr: none)
/// added to every candidate's score of row i.
struct LowpRows {
  static constexpr int kMaxFields = 4;
  std::array<const LowpTable*, kMaxFields> tables{};
  std::array<const Id*, kMaxFields> ids{};
  int fields = 0;
  Index n = 0;
  const float* bias = nullptr;
  Index width() const noexcept {
    Index w = 0;
    for (int f = 0; f < fields; ++f) w += tables[static_cast<std::size_t>(f)]->dim();
    return w;
  }
};

namespace reference {

/// The approximate score LowpSearch gives query q (width() floats, unreduced) and row i:
/// bf16: fma(Σ_pairs, scale, bias_i), the pairs' products accumulated odd component first,
/// one FMA each; int8: x = Σ_f dot_f · s_f,i (first a product, then FMAs), then
/// fma(x, s_q · scale, bias_i), dot_f the exact integer dot product of field f's codes, s_q
/// the query's int8 scale.
inline void lowp_scores(const float* queries, Index m, Index query_stride, float scale, const LowpRows& rows,
                        float* out, Index out_stride) {
  const Index width = rows.width();
  const bool bf16 = rows.tables[0]->precision() == SearchPrecision::BF16;
  std::vector<float> qf(static_cast<std::size_t>(width + 1)), kf(qf.size());
  std::vector<std::int8_t> qi(static_cast<std::size_t>(width));
  for (Index j = 0; j < m; ++j) {
    const float* q = queries + j * query_stride;
    float qs = 0;
    if (bf16) {
      for (Index c = 0; c < width; ++c) qf[static_cast<std::size_t>(c)] = from_bf16(to_bf16(q[c]));
      qf[static_cast<std::size_t>(width)] = 0;
    } else {
      qs = quantize_int8(q, width, qi.data()) * scale;
    }
    for (Index i = 0; i < rows.n; ++i) {
      const float bias = rows.bias ? rows.bias[i] : 0.0f;
      float s = 0;
      if (bf16) {
        Index c = 0;
        for (int f = 0; f < rows.fields; ++f) {
          const LowpTable& t = *rows.tables[static_cast<std::size_t>(f)];
          const std::uint16_t* k = t.bf16_row(rows.ids[static_cast<std::size_t>(f)][i]);
          for (Index d = 0; d < t.dim(); ++d) kf[static_cast<std::size_t>(c++)] = from_bf16(k[d]);
        }
        kf[static_cast<std::size_t>(width)] = 0;
        float acc = 0;
        for (Index p = 0; p < width; p += 2) {
          acc = std::fma(qf[static_cast<std::size_t>(p + 1)], kf[static_cast<std::size_t>(p + 1)], acc);
          acc = std::fma(qf[static_cast<std::size_t>(p)], kf[static_cast<std::size_t>(p)], acc);
        }
        s = std::fma(acc, scale, bias);
      } else {
        float x = 0;
        Index c = 0;
        for (int f = 0; f < rows.fields; ++f) {
          const LowpTable& t = *rows.tables[static_cast<std::size_t>(f)];
          const Id id = rows.ids[static_cast<std::size_t>(f)][i];
          const std::int8_t* k = t.int8_row(id);
          std::int32_t dot = 0;
          for (Index d = 0; d < t.dim(); ++d) dot += std::int32_t(k[d]) * qi[static_cast<std::size_t>(c++)];
          x = f == 0 ? static_cast<float>(dot) * t.scale(id) : std::fma(static_cast<float>(dot), t.scale(id), x);
        }
        s = std::fma(x, qs, bias);
      }
      out[j * out_stride + i] = s;
    }
  }
}

}  // namespace reference

namespace detail {

/// The scores dot_rows_multi(query block of m queries, rows) gives one of its queries for the
/// rows rows + pos[r] * row_stride, r < count, bit for bit, without scoring the other rows:
/// each path's per-row arithmetic does not depend on the other rows or on a row's slot (the
/// transposed kernel is one FMA chain per lane; the fold sums a row's lanes by the same tree
/// in every slot).
template <int Dim, class Arch, class T>
void dot_rows_multi_at(const T* query, Index m, const T* rows, Index row_stride, const Index* pos, Index count,
                       T* out, Index dim_arg, AlignedVector<T>& buf) {
  const Index dim = width<Dim>(dim_arg);
  if constexpr (std::is_same_v<Arch, xsimd::unavailable>) {
    for (Index r = 0; r < count; ++r) reference::dot_rows(query, rows + pos[r] * row_stride, 1, row_stride, out + r, dim);
  } else {
    if (transpose_pays(m, dim)) {
      // transposed_block's lanes, one row each: acc = fma(q_k, x_k, acc) for k in order from
      // 0, as its fused_fma computes it on Arch (one rounding where it is an FMA instruction,
      // AVX-512 included; otherwise the same a * b + c on a machine without FMA, so nothing
      // to contract). Not a * b + c left to -ffp-contract on AVX-512: at -O3 GCC vectorizes
      // this loop over k as an in-order reduction (vmulps, then one add per product), two
      // roundings per step where the kernel's vector a * b + c became one vfmadd. Rows
      // interleaved, so the chains overlap: a transposition (even with hardware gathers)
      // cost more than the approximate search itself.
      constexpr bool kIntrinsic = std::is_base_of_v<xsimd::avx512f, Arch> ||
                                  std::is_base_of_v<xsimd::fma3<xsimd::avx2>, Arch> ||
                                  std::is_base_of_v<xsimd::fma3<xsimd::sse4_2>, Arch>;
      constexpr Index R = 8;  // chains in flight, in registers
      for (Index r0 = 0; r0 < count; r0 += R) {
        const T* row[R];
        T acc[R];
        for (Index i = 0; i < R; ++i) {
          row[i] = rows + pos[std::min(r0 + i, count - 1)] * row_stride;
          acc[i] = T(0);
        }
        for (Index k = 0; k < dim; ++k) {
          const T q = query[k];
          for (Index i = 0; i < R; ++i) {
            if constexpr (kIntrinsic)
              acc[i] = std::fma(q, row[i][k], acc[i]);
            else
              acc[i] = q * row[i][k] + acc[i];
          }
        }
        for (Index i = 0; i < R && r0 + i < count; ++i) out[r0 + i] = acc[i];
      }
    } else {
      buf.resize(static_cast<std::size_t>(count * dim));
      for (Index r = 0; r < count; ++r) std::copy(rows + pos[r] * row_stride, rows + pos[r] * row_stride + dim, buf.data() + r * dim);
      dot_rows<Dim, Arch>(query, buf.data(), count, dim, out, dim);
    }
  }
}

/// Whether xsimd's fma is one fused instruction on Arch (else the kernels would round twice).
template <class Arch>
inline constexpr bool kLowpFma = std::is_base_of_v<xsimd::avx512f, Arch> ||
                                 std::is_base_of_v<xsimd::fma3<xsimd::avx2>, Arch> ||
                                 std::is_base_of_v<xsimd::fma3<xsimd::sse4_2>, Arch>;

}  // namespace detail

/// Top-K search of m candidates against one history over reduced-precision keys, with the
/// kept positions rescored exactly; see the header note. One object per thread (it keeps
/// its buffers). `Dim` and `Arch` as MultiSearch's (Dim: the exact rows' width).
template <int Dim = Dynamic, class Arch = xsimd::default_arch>
class LowpSearch {
 public:
  /// Throws std::invalid_argument unless k > 0 and precision is bf16 or int8.
  LowpSearch(Index k, SearchPrecision precision) : topk_(k), k_(k), precision_(precision) {
    DARE_CHECK_ARG(precision != SearchPrecision::Float, "LowpSearch: the precision must be bf16 or int8");
  }
  Index k() const noexcept { return k_; }
  SearchPrecision precision() const noexcept { return precision_; }

  /// out[j * out_stride + i] = the approximate score of query j (queries + j * query_stride,
  /// rows.width() floats, not reduced) and row i, as reference::lowp_scores.
  void approximate(const float* queries, Index m, Index query_stride, float scale, const LowpRows& rows, float* out,
                   Index out_stride) {
    check_rows(rows);
    DARE_CHECK_ARG(m >= 0 && (m <= 1 || (query_stride >= rows.width() && out_stride >= rows.n)),
                   "LowpSearch: bad m, query_stride or out_stride");
    if (m == 0 || rows.n == 0) return;
    if constexpr (!kSimd) {
      reference::lowp_scores(queries, m, query_stride, scale, rows, out, out_stride);
    } else if (precision_ == SearchPrecision::BF16) {
      run_bf16(queries, m, query_stride, scale, rows, out, out_stride);
    } else {
      run_int8(queries, m, query_stride, scale, rows, out, out_stride);
    }
  }

  /// For each candidate j: the k positions of the best approximate scores (lowp_queries +
  /// j * lowp_query_stride against `rows`, TopK's tie and padding rules with `valid`, nullptr
  /// or rows.n flags) to positions + j * out_stride, and their exact scores <queries + j *
  /// query_stride, exact_rows + p * row_stride> over dim floats, as MultiSearch<float, Dim,
  /// Arch>::search gives them (kPaddingScore at padded positions), to out_scores, best exact
  /// score first, ties to the higher position. Requires k <= rows.n. A NaN exact score at a
  /// valid position throws std::invalid_argument naming the candidate and the position.
  void search(const float* lowp_queries, Index m, Index lowp_query_stride, float scale, const LowpRows& rows,
              const std::uint8_t* valid, const float* queries, Index query_stride, const float* exact_rows,
              Index row_stride, Index* positions, float* out_scores, Index out_stride, Index dim = Dim) {
    DARE_CHECK_ARG(m >= 0, "LowpSearch::search: m must be non-negative, got ", m);
    if (m == 0) return;
    const Index n = rows.n;
    DARE_CHECK_ARG(k_ <= n, "LowpSearch::search: k (", k_, ") must not exceed n (", n, ")");
    DARE_CHECK_ARG(m <= 1 || out_stride >= k_, "LowpSearch::search: out_stride must be at least k");
    detail::checked_dim<Dim>("LowpSearch::search", dim);
    detail::check_queries_args("LowpSearch::search", queries, m, query_stride, n, n, dim);
    grow(approx_, m * n);
    approximate(lowp_queries, m, lowp_query_stride, scale, rows, approx_.data(), n);
    grow(exact_, k_);
    for (Index j = 0; j < m; ++j) {
      Index* pos = positions + j * out_stride;
      float* sc = out_scores + j * out_stride;
      topk_.select(approx_.data() + j * n, n, valid, pos, sc);
      detail::dot_rows_multi_at<Dim, Arch>(queries + j * query_stride, m, exact_rows, row_stride, pos, k_,
                                           exact_.data(), dim, buf_);
      for (Index r = 0; r < k_; ++r) {
        const bool padded = valid != nullptr && valid[pos[r]] == 0;
        sc[r] = padded ? TopK<float>::kPaddingScore : exact_[static_cast<std::size_t>(r)];
        if (std::isnan(sc[r]))
          detail::throw_invalid("LowpSearch::search: candidate ", j, " scores NaN at position ", pos[r]);
      }
      // TopK's order on the exact scores: best first, ties to the higher position.
      for (Index r = 1; r < k_; ++r) {
        const Index p = pos[r];
        const float s = sc[r];
        Index i = r;
        for (; i > 0 && (sc[i - 1] < s || (sc[i - 1] == s && pos[i - 1] < p)); --i) {
          sc[i] = sc[i - 1];
          pos[i] = pos[i - 1];
        }
        sc[i] = s;
        pos[i] = p;
      }
    }
  }

 private:
  static constexpr bool kSimd = !std::is_same_v<Arch, xsimd::unavailable> && detail::kLowpFma<Arch>;
  using FB = xsimd::batch<float, std::conditional_t<kSimd, Arch, xsimd::default_arch>>;
  static constexpr Index W = kSimd ? Index(FB::size) : 1;
  static constexpr Index V = 2;  // vectors of rows per register block
  static constexpr Index step = V * W;
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512BF16__)
  static constexpr bool kDpbf16 = std::is_base_of_v<xsimd::avx512f, Arch>;
#else
  static constexpr bool kDpbf16 = false;
#endif
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512VNNI__)
  static constexpr bool kVnni = std::is_base_of_v<xsimd::avx512f, Arch>;
#else
  static constexpr bool kVnni = false;
#endif
#if DARE_DETAIL_LOWP_X86 && defined(__AVX2__)
  static constexpr bool kMaddubs = std::is_base_of_v<xsimd::avx2, Arch>;
#else
  static constexpr bool kMaddubs = false;
#endif

  template <class Vec>
  static void grow(Vec& v, Index size) {
    if (static_cast<Index>(v.size()) < size) v.resize(static_cast<std::size_t>(size));
  }

  void check_rows(const LowpRows& rows) const {
    DARE_CHECK_ARG(rows.fields > 0 && rows.fields <= LowpRows::kMaxFields, "LowpSearch: 1 to ", LowpRows::kMaxFields,
                   " fields, got ", rows.fields);
    DARE_CHECK_ARG(rows.n >= 0, "LowpSearch: n must be non-negative");
    for (int f = 0; f < rows.fields; ++f) {
      const LowpTable* t = rows.tables[static_cast<std::size_t>(f)];
      DARE_CHECK_ARG(t != nullptr && t->precision() == precision_ && (rows.n == 0 || rows.ids[static_cast<std::size_t>(f)]),
                     "LowpSearch: field ", f, " needs a ", to_string(precision_), " table and ids");
    }
  }

  // Rows [t0, t0 + count) of each tile; a tile's reduced rows take about 32 KB.
  Index tile_lanes(Index words) const noexcept {
    return std::max<Index>(step, 32 * 1024 / 4 / std::max<Index>(words, 1) / step * step);
  }

  // ---- bf16 ----
  // tile_[p * lanes + r]: bf16 pair p (components 2p, 2p + 1 of the concatenated row) of row r.
  void run_bf16(const float* queries, Index m, Index query_stride, float scale, const LowpRows& rows, float* out,
                Index out_stride) {
    const Index width = rows.width();
    const Index P = (width + 1) / 2;
    grow(qword_, m * P);
    grow(qfloat_, m * 2 * P);
    for (Index j = 0; j < m; ++j) {
      const float* q = queries + j * query_stride;
      for (Index p = 0; p < P; ++p) {
        const std::uint16_t lo = to_bf16(q[2 * p]), hi = 2 * p + 1 < width ? to_bf16(q[2 * p + 1]) : 0;
        qword_[static_cast<std::size_t>(j * P + p)] = std::uint32_t(lo) | (std::uint32_t(hi) << 16);
        qfloat_[static_cast<std::size_t>(j * 2 * P + 2 * p)] = from_bf16(lo);
        qfloat_[static_cast<std::size_t>(j * 2 * P + 2 * p + 1)] = from_bf16(hi);
      }
    }
    const Index lanes = tile_lanes(P);
    grow(tile_, lanes * P);
    grow(bias_, lanes);
    std::vector<std::uint16_t>& row = row16_;
    row.assign(static_cast<std::size_t>(2 * P), 0);
    for (Index t0 = 0; t0 < rows.n; t0 += lanes) {
      const Index count = std::min(lanes, rows.n - t0);
      const Index padded = (count + step - 1) / step * step;
      for (Index r = 0; r < padded; ++r) {
        if (r < count) {
          Index c = 0;
          for (int f = 0; f < rows.fields; ++f) {
            const LowpTable& t = *rows.tables[static_cast<std::size_t>(f)];
            const std::uint16_t* k = t.bf16_row(rows.ids[static_cast<std::size_t>(f)][t0 + r]);
            std::copy(k, k + t.dim(), row.begin() + c);
            c += t.dim();
          }
        } else {
          std::fill(row.begin(), row.end(), std::uint16_t(0));
        }
        for (Index p = 0; p < P; ++p)
          tile_[static_cast<std::size_t>(p * lanes + r)] =
              std::uint32_t(row[static_cast<std::size_t>(2 * p)]) | (std::uint32_t(row[static_cast<std::size_t>(2 * p + 1)]) << 16);
        bias_[static_cast<std::size_t>(r)] = r < count && rows.bias ? rows.bias[t0 + r] : 0.0f;
      }
      constexpr Index Q = 8;
      Index j = 0;
      for (; j + Q <= m; j += Q) bf16_strips<Q>(j, P, lanes, count, scale, out + j * out_stride + t0, out_stride);
      for (; j < m; ++j) bf16_strips<1>(j, P, lanes, count, scale, out + j * out_stride + t0, out_stride);
    }
  }

  template <Index Q>
  void bf16_strips(Index j0, Index P, Index lanes, Index count, float scale, float* out, Index out_stride) {
    if constexpr (kSimd) {
      for (Index r0 = 0; r0 < count; r0 += step) {
        FB acc[Q][V];
        for (Index q = 0; q < Q; ++q)
          for (Index v = 0; v < V; ++v) acc[q][v] = FB(0.0f);
        const std::uint32_t* column = tile_.data() + r0;
        if constexpr (kDpbf16) {
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512BF16__)
          __m512 a[Q][V];
          for (Index q = 0; q < Q; ++q)
            for (Index v = 0; v < V; ++v) a[q][v] = _mm512_setzero_ps();
          for (Index p = 0; p < P; ++p, column += lanes) {
            __m512i t[V];
            for (Index v = 0; v < V; ++v) t[v] = _mm512_load_si512(column + v * W);
            for (Index q = 0; q < Q; ++q) {
              const __m512i b = _mm512_set1_epi32(static_cast<int>(qword_[static_cast<std::size_t>((j0 + q) * P + p)]));
              for (Index v = 0; v < V; ++v)
                a[q][v] = _mm512_dpbf16_ps(a[q][v], (__m512bh)t[v], (__m512bh)b);
            }
          }
          for (Index q = 0; q < Q; ++q)
            for (Index v = 0; v < V; ++v) acc[q][v] = FB(a[q][v]);
#endif
        } else {
          using UB = xsimd::batch<std::uint32_t, Arch>;
          const UB high(0xFFFF0000u);
          for (Index p = 0; p < P; ++p, column += lanes) {
            FB lo[V], hi[V];
            for (Index v = 0; v < V; ++v) {
              const UB t = UB::load_aligned(column + v * W);
              hi[v] = xsimd::bitwise_cast<FB>(t & high);
              lo[v] = xsimd::bitwise_cast<FB>(shl(t, 16));
            }
            for (Index q = 0; q < Q; ++q) {
              const float* qf = qfloat_.data() + (j0 + q) * 2 * P + 2 * p;
              const FB ql(qf[0]), qh(qf[1]);
              for (Index v = 0; v < V; ++v) {
                acc[q][v] = fused(qh, hi[v], acc[q][v]);
                acc[q][v] = fused(ql, lo[v], acc[q][v]);
              }
            }
          }
        }
        const FB s(scale);
        for (Index q = 0; q < Q; ++q)
          for (Index v = 0; v < V; ++v)
            store(fused(acc[q][v], s, FB::load_aligned(bias_.data() + r0 + v * W)), out + q * out_stride, r0 + v * W,
                  count);
      }
    }
  }

  // Lane shifts of 32-bit integer batches (AVX-512: the maskz forms, as GCC 12 warns on the
  // plain ones' undefined source).
  template <class IB>
  static IB shl(const IB& x, int n) noexcept {
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>)
      return IB(_mm512_maskz_sllv_epi32(__mmask16(0xFFFF), x, _mm512_set1_epi32(n)));
    else
#endif
    return x << n;
  }
  template <class IB>
  static IB sar(const IB& x, int n) noexcept {  // arithmetic (signed lanes) or logical
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
      if constexpr (std::is_signed_v<typename IB::value_type>)
        return IB(_mm512_maskz_srav_epi32(__mmask16(0xFFFF), x, _mm512_set1_epi32(n)));
      else
        return IB(_mm512_maskz_srlv_epi32(__mmask16(0xFFFF), x, _mm512_set1_epi32(n)));
    } else
#endif
    return x >> n;
  }

  // One rounding: xsimd 8.1's fma on AVX-512 is a multiply and an add.
  static FB fused(const FB& a, const FB& b, const FB& c) noexcept {
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return FB(_mm512_fmadd_ps(a, b, c));
    else
#endif
    return xsimd::fma(a, b, c);
  }

  // int32 lanes to float (xsimd's to_float draws GCC 12's false -Wmaybe-uninitialized on
  // AVX-512).
  template <class IB>
  static FB to_float(const IB& x) noexcept {
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512F__)
    if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) return FB(_mm512_maskz_cvtepi32_ps(__mmask16(0xFFFF), x));  // maskz: GCC 12 warns on the plain form
    else
#endif
#if DARE_DETAIL_LOWP_X86 && defined(__AVX2__)
    if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) return FB(_mm256_cvtepi32_ps(x));
    else
#endif
    return xsimd::to_float(x);
  }

  static void store(const FB& x, float* out, Index r, Index count) {
    if (r + W <= count) {
      x.store_unaligned(out + r);
    } else if (r < count) {
      alignas(64) float part[64];
      x.store_aligned(part);
      std::copy(part, part + (count - r), out + r);
    }
  }

  // ---- int8 ----
  // tile_[g * lanes + r]: 4 codes (group g of some field, zero-padded to whole groups) of
  // row r; as unsigned codes + 128 for vpdpbusd. scales_[f * lanes + r]: row r's scale in
  // field f.
  void run_int8(const float* queries, Index m, Index query_stride, float scale, const LowpRows& rows, float* out,
                Index out_stride) {
    const int F = rows.fields;
    std::array<Index, LowpRows::kMaxFields + 1> g0{};  // first group of each field
    for (int f = 0; f < F; ++f) g0[f + 1] = g0[f] + (rows.tables[static_cast<std::size_t>(f)]->dim() + 3) / 4;
    const Index G = g0[static_cast<std::size_t>(F)];
    const Index width = rows.width();
    grow(qword_, m * G);
    grow(qabs_, m * G);
    grow(qcorr_, m * F);
    grow(qscale_, m);
    std::vector<std::int8_t>& qi = code8_;
    qi.resize(static_cast<std::size_t>(width));
    for (Index j = 0; j < m; ++j) {
      qscale_[static_cast<std::size_t>(j)] = quantize_int8(queries + j * query_stride, width, qi.data()) * scale;
      Index c = 0;
      for (int f = 0; f < F; ++f) {
        const Index d = rows.tables[static_cast<std::size_t>(f)]->dim();
        std::int32_t sum = 0;
        for (Index g = 0; g < g0[f + 1] - g0[f]; ++g) {
          std::uint32_t word = 0, abs = 0;
          for (Index b = 0; b < 4; ++b) {
            const std::int8_t x = 4 * g + b < d ? qi[static_cast<std::size_t>(c + 4 * g + b)] : std::int8_t(0);
            sum += x;
            word |= std::uint32_t(std::uint8_t(x)) << (8 * b);
            abs |= std::uint32_t(std::abs(x)) << (8 * b);
          }
          qword_[static_cast<std::size_t>(j * G + g0[f] + g)] = word;
          qabs_[static_cast<std::size_t>(j * G + g0[f] + g)] = abs;
        }
        qcorr_[static_cast<std::size_t>(j * F + f)] = kVnni ? 128 * sum : 0;
        c += d;
      }
    }
    const Index lanes = tile_lanes(G + F);
    grow(tile_, lanes * G);
    grow(scales_, lanes * F);
    grow(bias_, lanes);
    const std::uint32_t flip = kVnni ? 0x80808080u : 0u;
    for (Index t0 = 0; t0 < rows.n; t0 += lanes) {
      const Index count = std::min(lanes, rows.n - t0);
      const Index padded = (count + step - 1) / step * step;
      for (Index r = 0; r < padded; ++r) {
        for (int f = 0; f < F; ++f) {
          const LowpTable& t = *rows.tables[static_cast<std::size_t>(f)];
          const Id id = r < count ? rows.ids[static_cast<std::size_t>(f)][t0 + r] : 0;
          const std::int8_t* k = t.int8_row(id);
          for (Index g = 0; g < g0[f + 1] - g0[f]; ++g) {
            std::uint32_t word = 0;
            for (Index b = 0; b < 4; ++b) {
              const std::int8_t x = r < count && 4 * g + b < t.dim() ? k[4 * g + b] : std::int8_t(0);
              word |= std::uint32_t(std::uint8_t(x)) << (8 * b);
            }
            tile_[static_cast<std::size_t>((g0[f] + g) * lanes + r)] = word ^ flip;
          }
          scales_[static_cast<std::size_t>(f * lanes + r)] = r < count ? t.scale(id) : 0.0f;
        }
        bias_[static_cast<std::size_t>(r)] = r < count && rows.bias ? rows.bias[t0 + r] : 0.0f;
      }
      constexpr Index Q = 4;
      Index j = 0;
      for (; j + Q <= m; j += Q) int8_strips<Q>(j, F, g0.data(), G, lanes, count, out + j * out_stride + t0, out_stride);
      for (; j < m; ++j) int8_strips<1>(j, F, g0.data(), G, lanes, count, out + j * out_stride + t0, out_stride);
    }
  }

  template <Index Q>
  void int8_strips(Index j0, int F, const Index* g0, Index G, Index lanes, Index count, float* out, Index out_stride) {
    if constexpr (kSimd) {
      using IB = xsimd::batch<std::int32_t, Arch>;
      for (Index r0 = 0; r0 < count; r0 += step) {
        FB x[Q][V];
        for (int f = 0; f < F; ++f) {
          IB dot[Q][V];
          field_dots<Q>(j0, g0[f], g0[f + 1], G, lanes, r0, dot);
          for (Index v = 0; v < V; ++v) {
            const FB s = FB::load_aligned(scales_.data() + f * lanes + r0 + v * W);
            for (Index q = 0; q < Q; ++q) {
              const IB corr(qcorr_[static_cast<std::size_t>((j0 + q) * F + f)]);
              const FB d = to_float(dot[q][v] - corr);
              x[q][v] = f == 0 ? d * s : fused(d, s, x[q][v]);
            }
          }
        }
        for (Index q = 0; q < Q; ++q) {
          const FB qs(qscale_[static_cast<std::size_t>(j0 + q)]);
          for (Index v = 0; v < V; ++v)
            store(fused(x[q][v], qs, FB::load_aligned(bias_.data() + r0 + v * W)), out + q * out_stride,
                  r0 + v * W, count);
        }
      }
    }
  }

  // dot[q][v] = the integer dot products over groups [ga, gb) (plus 128 Σq on VNNI).
  template <Index Q, class IB>
  void field_dots(Index j0, Index ga, Index gb, Index G, Index lanes, Index r0, IB (&dot)[Q][V]) {
    const std::uint32_t* column = tile_.data() + ga * lanes + r0;
    if constexpr (kVnni) {
#if DARE_DETAIL_LOWP_X86 && defined(__AVX512VNNI__)
      __m512i a[Q][V];
      for (Index q = 0; q < Q; ++q)
        for (Index v = 0; v < V; ++v) a[q][v] = _mm512_setzero_si512();
      for (Index g = ga; g < gb; ++g, column += lanes) {
        __m512i t[V];
        for (Index v = 0; v < V; ++v) t[v] = _mm512_load_si512(column + v * W);
        for (Index q = 0; q < Q; ++q) {
          const __m512i b = _mm512_set1_epi32(static_cast<int>(qword_[static_cast<std::size_t>((j0 + q) * G + g)]));
          for (Index v = 0; v < V; ++v) a[q][v] = _mm512_dpbusd_epi32(a[q][v], t[v], b);
        }
      }
      for (Index q = 0; q < Q; ++q)
        for (Index v = 0; v < V; ++v) dot[q][v] = IB(a[q][v]);
#endif
    } else if constexpr (kMaddubs) {
#if DARE_DETAIL_LOWP_X86 && defined(__AVX2__)
      __m256i a[Q][V];
      const __m256i ones = _mm256_set1_epi16(1);
      for (Index q = 0; q < Q; ++q)
        for (Index v = 0; v < V; ++v) a[q][v] = _mm256_setzero_si256();
      for (Index g = ga; g < gb; ++g, column += lanes) {
        __m256i t[V];
        for (Index v = 0; v < V; ++v) t[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(column + v * W));
        for (Index q = 0; q < Q; ++q) {
          const auto at = static_cast<std::size_t>((j0 + q) * G + g);
          const __m256i qs = _mm256_set1_epi32(static_cast<int>(qword_[at]));
          const __m256i qa = _mm256_set1_epi32(static_cast<int>(qabs_[at]));
          for (Index v = 0; v < V; ++v) {
            const __m256i pairs = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(t[v], qs));
            a[q][v] = _mm256_add_epi32(a[q][v], _mm256_madd_epi16(pairs, ones));
          }
        }
      }
      for (Index q = 0; q < Q; ++q)
        for (Index v = 0; v < V; ++v) dot[q][v] = IB(a[q][v]);
#endif
    } else {
      for (Index q = 0; q < Q; ++q)
        for (Index v = 0; v < V; ++v) dot[q][v] = IB(0);
      for (Index g = ga; g < gb; ++g, column += lanes) {
        IB t[V];
        for (Index v = 0; v < V; ++v) t[v] = xsimd::bitwise_cast<IB>(xsimd::batch<std::uint32_t, Arch>::load_aligned(column + v * W));
        for (Index b = 0; b < 4; ++b) {
          IB k[V];
          for (Index v = 0; v < V; ++v) k[v] = sar(shl(t[v], int(24 - 8 * b)), 24);  // sign-extended code b
          for (Index q = 0; q < Q; ++q) {
            const std::uint32_t word = qword_[static_cast<std::size_t>((j0 + q) * G + g)];
            const IB qb(static_cast<std::int32_t>(static_cast<std::int8_t>(word >> (8 * b))));
            for (Index v = 0; v < V; ++v) dot[q][v] += k[v] * qb;
          }
        }
      }
    }
  }

  TopK<float, Arch> topk_;
  Index k_;
  SearchPrecision precision_;
  AlignedVector<std::uint32_t> tile_;
  AlignedVector<float> scales_, bias_, approx_, buf_;
  std::vector<float> exact_, qfloat_, qscale_;
  std::vector<std::uint32_t> qword_, qabs_;
  std::vector<std::int32_t> qcorr_;
  std::vector<std::uint16_t> row16_;
  std::vector<std::int8_t> code8_;
};

}  // namespace dare

#undef DARE_DETAIL_LOWP_X86
