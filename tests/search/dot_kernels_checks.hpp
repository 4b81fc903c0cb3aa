// Checks of the dot-product kernels for one xsimd architecture, shared by
// tests/search/dot_kernels_test.cpp (the default architecture) and
// tests/arch/dot_kernels_arch_test.cpp (AVX2 and AVX-512 builds).
//
// Each check lays rows out the way the kernels' contract allows and reports the first
// mismatch, if any, as a string ("" = all equal), so that one Catch assertion covers a whole
// sweep:
// * the row block starts `offset` scalars past a 64-byte boundary (aligned or not);
// * the padding between rows (stride > dim) holds NaN, so reading it shows in the result;
// * the buffer ends exactly at the last row's last scalar, so a read past it is caught by
//   AddressSanitizer (in the sanitized build) or by the last row's result.
// Inputs are small integers, so every product and partial sum is exact and any summation
// order must reproduce the reference bit for bit; a second pass with real-valued inputs
// checks the error bound (dim + 2) * eps * sum |q_k r_k|.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "dare/core/aligned.hpp"
#include "dare/search/dot_kernels.hpp"

namespace dare_test {

using dare::Index;

/// `count` rows of width `dim`, `stride` apart, starting `offset` scalars into an aligned
/// allocation that ends right after the last row. Padding is NaN.
template <class Scalar>
class RowBlock {
 public:
  RowBlock(Index count, Index dim, Index stride, Index offset, bool integers, std::mt19937& rng)
      : storage_(static_cast<std::size_t>(
            offset + (count > 0 ? (count - 1) * stride + dim : 0))),
        offset_(offset),
        stride_(stride) {
    std::fill(storage_.begin(), storage_.end(), std::numeric_limits<Scalar>::quiet_NaN());
    std::uniform_int_distribution<int> small(-8, 8);
    std::uniform_real_distribution<Scalar> real(Scalar(-1), Scalar(1));
    for (Index i = 0; i < count; ++i)
      for (Index k = 0; k < dim; ++k)
        at(i)[k] = integers ? Scalar(small(rng)) : real(rng);
  }
  Scalar* at(Index i) { return storage_.data() + offset_ + i * stride_; }
  const Scalar* data() const { return storage_.data() + offset_; }
  Index stride() const { return stride_; }

 private:
  dare::AlignedVector<Scalar> storage_;
  Index offset_;
  Index stride_;
};

/// "" if got[i] == want[i] exactly (integers) or within the rounding bound (reals).
template <class Scalar>
std::string compare(const Scalar* got, const Scalar* want, const Scalar* bound, Index n,
                    bool exact, const std::string& where) {
  for (Index i = 0; i < n; ++i) {
    const bool ok = exact ? got[i] == want[i] : std::abs(got[i] - want[i]) <= bound[i];
    if (!ok) {
      std::ostringstream os;
      os.precision(17);
      os << where << ": out[" << i << "] = " << got[i] << ", reference " << want[i];
      return os.str();
    }
  }
  return "";
}

/// Per-row error bound for real inputs: (dim + 2) * eps * sum_k |q_k r_k|.
template <class Scalar>
std::vector<Scalar> rounding_bounds(const Scalar* query, const Scalar* rows, Index n,
                                    Index stride, Index dim) {
  std::vector<Scalar> bound(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    double sum = 0;
    for (Index k = 0; k < dim; ++k) sum += std::abs(double(query[k]) * rows[i * stride + k]);
    bound[i] = Scalar((dim + 2) * std::numeric_limits<Scalar>::epsilon() * sum) +
               std::numeric_limits<Scalar>::min();
  }
  return bound;
}

/// dot_rows<Dim, Arch> against reference::dot_rows for one layout; "" when they agree.
template <int Dim, class Arch, class Scalar>
std::string check_dot_rows_once(Index dim, Index n, Index stride, Index offset, bool integers,
                                std::mt19937& rng) {
  RowBlock<Scalar> rows(n, dim, stride, offset, integers, rng);
  RowBlock<Scalar> query(1, dim, dim, offset, integers, rng);
  std::vector<Scalar> got(static_cast<std::size_t>(n) + 1, Scalar(-12345));
  std::vector<Scalar> want(static_cast<std::size_t>(n) + 1, Scalar(-12345));
  dare::dot_rows<Dim, Arch>(query.data(), rows.data(), n, stride, got.data(), dim);
  dare::reference::dot_rows(query.data(), rows.data(), n, stride, want.data(), dim);
  std::ostringstream where;
  where << Arch::name() << " Dim=" << Dim << " dim=" << dim << " n=" << n << " stride=" << stride
        << " offset=" << offset << (integers ? " integers" : " reals");
  if (got[n] != Scalar(-12345)) return where.str() + ": wrote past out[n - 1]";
  const auto bound = rounding_bounds(query.data(), rows.data(), n, stride, dim);
  return compare(got.data(), want.data(), bound.data(), n, integers, where.str());
}

inline const std::vector<Index>& row_counts() {
  static const std::vector<Index> counts = {0, 1, 7, 8, 9, 200, 1000};
  return counts;
}

/// Strides to try for a width: tight, one more, a few more, and the aligned stride.
template <class Scalar>
std::vector<Index> strides_for(Index dim) {
  return {dim, dim + 1, dim + 5, dare::aligned_stride<Scalar>(dim)};
}

/// Sweeps one width (Dim fixed, or Dynamic with run-time `dim`) over row counts, strides,
/// offsets and both kinds of input; "" when everything agrees.
template <int Dim, class Arch, class Scalar>
std::string check_dot_rows_width(Index dim, std::mt19937& rng) {
  for (Index n : row_counts())
    for (Index stride : strides_for<Scalar>(dim))
      for (Index offset : {0, 1})
        for (bool integers : {true, false}) {
          // The long sweeps only for the tight layout, to keep the suite quick.
          if (n == 1000 && (stride != dim || offset != 0)) continue;
          auto err = check_dot_rows_once<Dim, Arch, Scalar>(dim, n, stride, offset, integers, rng);
          if (!err.empty()) return err;
        }
  return "";
}

/// Dynamic widths 1..max_dim.
template <class Arch, class Scalar>
std::string check_dot_rows_dynamic(Index max_dim) {
  std::mt19937 rng(42);
  for (Index dim = 1; dim <= max_dim; ++dim) {
    auto err = check_dot_rows_width<dare::Dynamic, Arch, Scalar>(dim, rng);
    if (!err.empty()) return err;
  }
  return "";
}

/// Compile-time widths Dims...
template <class Arch, class Scalar, int... Dims>
std::string check_dot_rows_fixed() {
  std::mt19937 rng(7);
  std::string err;
  ((err.empty() ? void(err = check_dot_rows_width<Dims, Arch, Scalar>(Dims, rng)) : void()), ...);
  return err;
}

/// dot_rows_multi<Dim, Arch> against reference::dot_rows_multi; "" when they agree.
template <int Dim, class Arch, class Scalar>
std::string check_dot_rows_multi_once(Index dim, Index m, Index n, Index stride, bool integers,
                                      std::mt19937& rng) {
  RowBlock<Scalar> rows(n, dim, stride, 1, integers, rng);
  const Index query_stride = dim + 3;
  RowBlock<Scalar> queries(m, dim, query_stride, 0, integers, rng);
  const Index out_stride = n + 2;
  const std::size_t out_size = static_cast<std::size_t>(m * out_stride);
  std::vector<Scalar> got(out_size, Scalar(-12345)), want(out_size, Scalar(-12345));
  dare::dot_rows_multi<Dim, Arch>(queries.data(), m, query_stride, rows.data(), n, stride,
                                  got.data(), out_stride, dim);
  dare::reference::dot_rows_multi(queries.data(), m, query_stride, rows.data(), n, stride,
                                  want.data(), out_stride, dim);
  std::ostringstream where;
  where << Arch::name() << " multi Dim=" << Dim << " dim=" << dim << " m=" << m << " n=" << n
        << " stride=" << stride << (integers ? " integers" : " reals");
  for (Index j = 0; j < m; ++j) {
    const Scalar* g = got.data() + j * out_stride;
    if (g[n] != Scalar(-12345) || g[n + 1] != Scalar(-12345))
      return where.str() + ": wrote into the gap between output rows";
    const auto bound = rounding_bounds(queries.data() + j * query_stride, rows.data(), n,
                                       stride, dim);
    std::ostringstream at;
    at << where.str() << " query " << j;
    auto err = compare(g, want.data() + j * out_stride, bound.data(), n, integers, at.str());
    if (!err.empty()) return err;
  }
  return "";
}

/// Widths 1..max_dim, several query counts (each width sees a different one; a few widths
/// see them all), row counts crossing the block and tile sizes.
template <class Arch, class Scalar>
std::string check_dot_rows_multi_dynamic(Index max_dim) {
  std::mt19937 rng(3);
  const Index query_counts[] = {1, 2, 3, 4, 5, 9};
  for (Index dim = 1; dim <= max_dim; ++dim)
    for (Index n : {0, 1, 9, 17, 200}) {
      const bool all_m = dim == 1 || dim == 16 || dim == 17 || dim == max_dim;
      for (Index mi = 0; mi < 6; ++mi) {
        if (!all_m && mi != dim % 6) continue;
        for (bool integers : {true, false}) {
          auto err = check_dot_rows_multi_once<dare::Dynamic, Arch, Scalar>(
              dim, query_counts[mi], n, dim + 2, integers, rng);
          if (!err.empty()) return err;
        }
      }
    }
  // Enough rows for several L1 tiles (16 KB of rows each).
  auto err = check_dot_rows_multi_once<dare::Dynamic, Arch, Scalar>(64, 6, 3000, 64, true, rng);
  return err;
}

template <class Arch, class Scalar, int... Dims>
std::string check_dot_rows_multi_fixed() {
  std::mt19937 rng(11);
  std::string err;
  for (Index m : {1, 3, 4, 7})
    for (Index n : {0, 5, 16, 200})
      ((err.empty() ? void(err = check_dot_rows_multi_once<Dims, Arch, Scalar>(
                               Dims, m, n, dare::aligned_stride<Scalar>(Dims), true, rng))
                    : void()),
       ...);
  return err;
}

/// dot_rows over rows spanning more than 1 MiB (kPrefetchMinBytes), the path that prefetches
/// ahead of each block: compile-time and run-time widths of 16 to 64 floats (8 to 32
/// doubles), row counts that are and are not multiples of the block, tight and padded
/// strides.
template <class Arch, class Scalar>
std::string check_dot_rows_prefetched() {
  std::mt19937 rng(17);
  constexpr Index unit = 32 / Index(sizeof(Scalar));  // 8 floats or 4 doubles: 32 bytes
  std::string err;
  auto sweep = [&](auto fixed) {
    constexpr int Dim = decltype(fixed)::value;
    for (Index dim : {2 * unit, 4 * unit, 5 * unit, 8 * unit}) {
      if (Dim != dare::Dynamic && dim != Dim) continue;
      const Index row_bytes = dim * Index(sizeof(Scalar));
      const Index n = dare::detail::kPrefetchMinBytes / row_bytes + 37;  // just over 1 MiB, odd count
      for (Index stride : {dim, dare::aligned_stride<Scalar>(dim) + Index(64 / sizeof(Scalar))})
        for (bool integers : {true, false})
          if (err.empty())
            err = check_dot_rows_once<Dim, Arch, Scalar>(dim, n, stride, 0, integers, rng);
    }
  };
  sweep(std::integral_constant<int, dare::Dynamic>{});
  // The compile-time widths run the same loop template (detail::dot_rows_blocks) with the
  // prefetch on; their instantiations were a third of the sanitized build's AVX-512 dot-kernel
  // test's compile time, so that build sweeps the run-time width only.
#ifndef DARE_SANITIZED_BUILD
  sweep(std::integral_constant<int, int(4 * unit)>{});
  sweep(std::integral_constant<int, int(8 * unit)>{});
#endif
  return err;
}

/// dot_rows_multi on its transposed path (transpose_pays: enough queries for the width) at
/// wide rows, where a 32 KB tile holds only a few strips, at query counts around the
/// register block, and with 128 KB tiles (more than 8 MB of scores).
template <class Arch, class Scalar>
std::string check_dot_rows_multi_transposed() {
  std::mt19937 rng(23);
  std::string err;
  for (Index dim : {48, 64, 128, 130, 256}) {
    Index m = 1;
    while (!dare::detail::transpose_pays(m, dim)) ++m;  // the smallest m that transposes
    for (Index mm : {m, m + 1, m + 3, m + 8})
      for (Index n : {1, 17, 200, 700})
        for (bool integers : {true, false})
          if (err.empty())
            err = check_dot_rows_multi_once<dare::Dynamic, Arch, Scalar>(dim, mm, n, dim + 2,
                                                                         integers, rng);
  }
  if (err.empty())
    err = check_dot_rows_multi_once<64, Arch, Scalar>(64, 40, 300, dare::aligned_stride<Scalar>(64),
                                                      true, rng);
  if (err.empty())
    err = check_dot_rows_multi_once<256, Arch, Scalar>(256, 30, 90, 256, false, rng);
  // 100 queries over just more than 8 MB of scores (about 22,000 rows of floats), 128 KB tiles.
  const Index big_n = dare::detail::kMultiOutputCached / (100 * Index(sizeof(Scalar))) + 1001;
  if (err.empty())
    err = check_dot_rows_multi_once<16, Arch, Scalar>(16, 100, big_n, 16, true, rng);
  return err;
}

/// The horizontal reductions themselves: reduce_add (xsimd 8.1 `hadd`), the transposing
/// fold_lanes and its portable fallback, against scalar sums of integer lanes (exact).
template <class Arch, class Scalar>
std::string check_reductions() {
  using B = xsimd::batch<Scalar, Arch>;
  constexpr std::size_t W = B::size;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(-1000, 1000);
  for (int trial = 0; trial < 50; ++trial) {
    alignas(64) Scalar lanes[W][W];
    B acc[W];
    Scalar want[W];
    for (std::size_t r = 0; r < W; ++r) {
      want[r] = 0;
      for (std::size_t l = 0; l < W; ++l) {
        // Distinct magnitudes per lane in the first trial, so a swapped lane shows.
        lanes[r][l] = trial == 0 ? Scalar((r + 1) * 1000 + l * l) : Scalar(small(rng));
        want[r] += lanes[r][l];
      }
      acc[r] = B::load_aligned(lanes[r]);
      const Scalar got = dare::detail::reduce_add(acc[r]);
      if (got != want[r]) {
        std::ostringstream os;
        os << Arch::name() << " reduce_add of row " << r << ": " << got << " vs " << want[r];
        return os.str();
      }
    }
    B copy[W];
    for (std::size_t r = 0; r < W; ++r) copy[r] = acc[r];
    alignas(64) Scalar folded[W], portable[W];
    dare::detail::fold_lanes(copy).store_aligned(folded);
    dare::detail::fold_lanes_portable(acc).store_aligned(portable);
    for (std::size_t r = 0; r < W; ++r) {
      if (folded[r] != want[r] || portable[r] != want[r]) {
        std::ostringstream os;
        os << Arch::name() << " fold_lanes lane " << r << ": " << folded[r] << " (portable "
           << portable[r] << ") vs " << want[r];
        return os.str();
      }
    }
  }
  return "";
}

/// load_head for every count: the loaded lanes, zeros beyond, and no read past p + count
/// (the buffer ends there: AddressSanitizer sees any overrun of the portable paths).
template <class Arch, class Scalar>
std::string check_load_head() {
  using B = xsimd::batch<Scalar, Arch>;
  constexpr Index W = B::size;
  for (Index count = 1; count <= W; ++count) {
    std::vector<Scalar> buf(static_cast<std::size_t>(count));
    for (Index k = 0; k < count; ++k) buf[k] = Scalar(k + 1);
    alignas(64) Scalar fast[W], portable[W];
    dare::detail::load_head<Arch>(buf.data(), count).store_aligned(fast);
    dare::detail::load_head_portable<Scalar, Arch>(buf.data(), count).store_aligned(portable);
    for (Index l = 0; l < W; ++l) {
      const Scalar want = l < count ? Scalar(l + 1) : Scalar(0);
      if (fast[l] != want || portable[l] != want) {
        std::ostringstream os;
        os << Arch::name() << " load_head count=" << count << " lane " << l << ": " << fast[l]
           << " (portable " << portable[l] << ") vs " << want;
        return os.str();
      }
    }
  }
  return "";
}

/// dot_rows_max against dot_rows (the scores bit for bit) and a plain loop over its scores
/// (the maxima): widths on the half-width and full-width registers and a row-order one, row
/// counts around the group count and the block, a history over 256 KiB (the prefetching
/// path), NaN rows (left out of the maxima), several group counts; and its argument checks.
template <class Arch, class Scalar>
std::string check_dot_rows_max() {
  std::mt19937 rng(31);
  Index lanes = 1;
  if constexpr (!std::is_same_v<Arch, xsimd::unavailable>)
    lanes = Index(xsimd::batch<Scalar, Arch>::size);
  const Scalar lowest = -std::numeric_limits<Scalar>::infinity();
  for (Index dim : {Index(3), Index(8), Index(16), Index(40), Index(130)})
    for (Index groups : {lanes, 4 * lanes, 12 * lanes})
      for (Index n : {Index(0), Index(1), groups - 1, groups, groups + 1, Index(1003),
                      Index(300000) / dim}) {
        if (n < 0) continue;
        for (bool with_nan : {false, true}) {
          RowBlock<Scalar> rows(n, dim, dim + 1, 0, false, rng);
          RowBlock<Scalar> query(1, dim, dim, 0, false, rng);
          if (with_nan)
            for (Index i = 0; i < n; i += 7) rows.at(i)[dim / 2] = std::numeric_limits<Scalar>::quiet_NaN();
          std::vector<Scalar> got(static_cast<std::size_t>(n) + 1, Scalar(-12345)), want = got;
          std::vector<Scalar> gmax(static_cast<std::size_t>(groups) + 1, Scalar(-12345));
          std::vector<Scalar> want_max(static_cast<std::size_t>(groups), lowest);
          dare::dot_rows_max<dare::Dynamic, Arch>(query.data(), rows.data(), n, dim + 1,
                                                  got.data(), gmax.data(), groups, dim);
          dare::dot_rows<dare::Dynamic, Arch>(query.data(), rows.data(), n, dim + 1, want.data(),
                                              dim);
          for (Index i = 0; i < n; ++i) {
            Scalar& g = want_max[static_cast<std::size_t>(i % groups)];
            if (!std::isnan(want[i]) && want[i] > g) g = want[i];
          }
          std::ostringstream where;
          where << Arch::name() << " dim=" << dim << " groups=" << groups << " n=" << n
                << (with_nan ? " with NaN rows" : "");
          if (std::memcmp(got.data(), want.data(), sizeof(Scalar) * std::size_t(n + 1)) != 0)
            return where.str() + ": scores differ from dot_rows'";
          for (Index g = 0; g < groups; ++g)
            if (!(gmax[g] == want_max[g]))
              return where.str() + ": group " + std::to_string(g) + " maximum differs";
          if (gmax[groups] != Scalar(-12345)) return where.str() + ": wrote past group_max";
        }
      }
  Scalar q[8] = {}, r[8] = {}, out[2], gmax[64];
  for (Index bad : {Index(0), lanes > 1 ? lanes + 1 : Index(-1)}) {
    try {
      dare::dot_rows_max<8, Arch>(q, r, 1, 8, out, gmax, bad);
      return "dot_rows_max accepted groups = " + std::to_string(bad);
    } catch (const std::invalid_argument& e) {
      if (std::string(e.what()).find("groups") == std::string::npos)
        return std::string("dot_rows_max's error does not name groups: ") + e.what();
    }
  }
  try {
    dare::dot_rows_max<8, Arch>(q, r, 1, 8, out, static_cast<Scalar*>(nullptr), lanes);
    return "dot_rows_max accepted a null group_max";
  } catch (const std::invalid_argument&) {
  }
  return "";
}

}  // namespace dare_test
