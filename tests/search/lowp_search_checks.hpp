// LowpSearch against its scalar reference for one xsimd architecture, shared by
// tests/search/lowp_search_test.cpp (the default architecture) and
// tests/arch/lowp_search_arch_test.cpp (AVX2, AVX-512, AVX-512 with BF16 and VNNI builds).
//
// The want side: reference::lowp_scores (the approximate score matrix, bit for bit), then
// reference::topk_reference on every row (the selected set), the exact scores from the full
// dot_rows_multi matrix (bit for bit) in TopK's order. Shapes cover tails (field widths not a
// multiple of 2 or 4, rows not a multiple of a register block, several tiles), padding, and
// ties (repeated ids without a bias, so equal approximate scores at several positions).
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/search/dot_kernels.hpp"
#include "dare/search/lowp_search.hpp"
#include "dare/search/topk.hpp"

namespace dare_test {

/// "" when LowpSearch<Dynamic, Arch> equals the reference for one case.
template <class Arch>
std::string check_lowp_search_once(dare::SearchPrecision precision, std::vector<dare::Index> dims, dare::Index m,
                                   dare::Index n, dare::Index k, bool bias, double padded_fraction, dare::Index ids,
                                   std::mt19937& rng) {
  using dare::Index;
  std::ostringstream where;
  where << dare::to_string(precision) << " fields";
  for (Index d : dims) where << ' ' << d;
  where << " m " << m << " n " << n << " k " << k << " bias " << bias << " ids " << ids << ": ";
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int F = static_cast<int>(dims.size());
  Index width = 0;
  for (Index d : dims) width += d;
  // Tables: rows of different norms (as frequent and rare items), row 0 zero (padding).
  std::vector<std::vector<float>> tables(dims.size());
  std::vector<dare::LowpTable> low;
  for (int f = 0; f < F; ++f) {
    auto& t = tables[static_cast<std::size_t>(f)];
    const Index d = dims[static_cast<std::size_t>(f)];
    t.resize(static_cast<std::size_t>(ids * d));
    for (Index i = 1; i < ids; ++i) {
      const float norm = std::exp(normal(rng));
      for (Index c = 0; c < d; ++c) t[static_cast<std::size_t>(i * d + c)] = norm * normal(rng);
    }
    low.emplace_back(precision, ids, d, [&](Index i) { return t.data() + i * d; });
  }
  std::uniform_int_distribution<int> pick(1, static_cast<int>(ids - 1));
  std::vector<std::vector<dare::Id>> id(dims.size(), std::vector<dare::Id>(static_cast<std::size_t>(n)));
  std::vector<std::uint8_t> valid(static_cast<std::size_t>(n), 1);
  std::bernoulli_distribution padded(padded_fraction);
  for (Index i = 0; i < n; ++i) {
    const bool pad = padded(rng);
    valid[static_cast<std::size_t>(i)] = !pad;
    for (int f = 0; f < F; ++f) id[static_cast<std::size_t>(f)][static_cast<std::size_t>(i)] = pad ? 0 : pick(rng);
  }
  std::vector<float> bias_values(static_cast<std::size_t>(n));
  for (auto& b : bias_values) b = 0.3f * normal(rng);
  dare::LowpRows rows;
  for (int f = 0; f < F; ++f) {
    rows.tables[static_cast<std::size_t>(f)] = &low[static_cast<std::size_t>(f)];
    rows.ids[static_cast<std::size_t>(f)] = id[static_cast<std::size_t>(f)].data();
  }
  rows.fields = F;
  rows.n = n;
  rows.bias = bias ? bias_values.data() : nullptr;
  const Index qs = width + 3;
  std::vector<float> queries(static_cast<std::size_t>(m * qs));
  for (auto& q : queries) q = normal(rng);
  const float scale = 0.25f;

  // Approximate scores, bit for bit.
  std::vector<float> want(static_cast<std::size_t>(m * n)), got(want.size());
  dare::reference::lowp_scores(queries.data(), m, qs, scale, rows, want.data(), n);
  dare::LowpSearch<dare::Dynamic, Arch> search(k, precision);
  search.approximate(queries.data(), m, qs, scale, rows, got.data(), n);
  for (Index j = 0; j < m; ++j)
    for (Index i = 0; i < n; ++i)
      if (got[static_cast<std::size_t>(j * n + i)] != want[static_cast<std::size_t>(j * n + i)]) {
        std::ostringstream os;
        os << where.str() << "approximate score of query " << j << " row " << i << " is "
           << got[static_cast<std::size_t>(j * n + i)] << ", want " << want[static_cast<std::size_t>(j * n + i)];
        return os.str();
      }

  // The search: the exact rows are the float rows themselves, with a time-like tail.
  const Index ew = width + 2, rs = ew + 1;
  std::vector<float> exact(static_cast<std::size_t>(n * rs)), eq(static_cast<std::size_t>(m * ew));
  for (Index i = 0; i < n; ++i) {
    Index c = 0;
    for (int f = 0; f < F; ++f) {
      const Index d = dims[static_cast<std::size_t>(f)];
      const float* src = tables[static_cast<std::size_t>(f)].data() + id[static_cast<std::size_t>(f)][static_cast<std::size_t>(i)] * d;
      std::copy(src, src + d, exact.begin() + i * rs + c);
      c += d;
    }
    exact[static_cast<std::size_t>(i * rs + width)] = normal(rng);
    exact[static_cast<std::size_t>(i * rs + width + 1)] = normal(rng);
  }
  for (auto& q : eq) q = normal(rng);
  std::vector<float> full(static_cast<std::size_t>(m * n));
  dare::dot_rows_multi<dare::Dynamic, Arch>(eq.data(), m, ew, exact.data(), n, rs, full.data(), n, ew);
  std::vector<Index> pos(static_cast<std::size_t>(m * k)), want_pos(static_cast<std::size_t>(k));
  std::vector<float> sc(pos.size()), want_sc(static_cast<std::size_t>(k));
  search.search(queries.data(), m, qs, scale, rows, valid.data(), eq.data(), ew, exact.data(), rs, pos.data(), sc.data(),
                k, ew);
  for (Index j = 0; j < m; ++j) {
    dare::reference::topk_reference(want.data() + j * n, n, valid.data(), k, want_pos.data(), want_sc.data());
    std::vector<Index> a(pos.begin() + j * k, pos.begin() + (j + 1) * k), b = want_pos;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a != b) return where.str() + "candidate " + std::to_string(j) + " keeps other positions than the reference";
    for (Index r = 0; r < k; ++r) {
      const Index p = pos[static_cast<std::size_t>(j * k + r)];
      const float e = valid[static_cast<std::size_t>(p)] ? full[static_cast<std::size_t>(j * n + p)]
                                                         : dare::TopK<float>::kPaddingScore;
      if (sc[static_cast<std::size_t>(j * k + r)] != e)
        return where.str() + "candidate " + std::to_string(j) + " position " + std::to_string(p) + ": not the exact score";
      if (r > 0) {
        const float s0 = sc[static_cast<std::size_t>(j * k + r - 1)], s1 = sc[static_cast<std::size_t>(j * k + r)];
        const Index p0 = pos[static_cast<std::size_t>(j * k + r - 1)];
        if (s0 < s1 || (s0 == s1 && p0 < p)) return where.str() + "candidate " + std::to_string(j) + ": not in TopK's order";
      }
    }
  }
  return "";
}

/// check_lowp_search_once over shapes (tails, tiles, padding, ties) for both precisions.
template <class Arch>
std::string check_lowp_search(dare::Index& cases) {
  std::mt19937 rng(31);
  const std::vector<std::vector<dare::Index>> shapes = {{16, 16}, {1}, {3, 5}, {8, 8, 8}, {17, 2}, {32, 32}, {2, 7, 4, 9}};
  for (auto precision : {dare::SearchPrecision::BF16, dare::SearchPrecision::Int8}) {
    for (const auto& dims : shapes) {
      for (dare::Index m : {1, 3, 8, 9, 17}) {
        for (dare::Index n : {20, 31, 33, 200, 1500}) {
          for (bool bias : {false, true}) {
            const dare::Index ids = n > 100 ? 50 : 7;  // repeated ids: ties
            const std::string e = check_lowp_search_once<Arch>(precision, dims, m, n, std::min<dare::Index>(20, n), bias,
                                                               n == 200 ? 0.3 : 0.0, ids, rng);
            ++cases;
            if (!e.empty()) return e;
          }
        }
      }
    }
  }
  return "";
}

}  // namespace dare_test
