// MultiSearch against the unfused pipeline for one xsimd architecture, shared by
// tests/search/multi_search_test.cpp (the default architecture) and
// tests/arch/multi_search_arch_test.cpp (AVX2 and AVX-512 builds).
//
// The want side is independent of MultiSearch's chunks and thresholds: the full M x N score
// matrix (reference::dot_rows_multi for small-integer inputs, where every summation order is
// exact; dot_rows_multi otherwise, which MultiSearch must reproduce bit for bit), then
// reference::topk_reference (a full stable sort) on every row.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/search/dot_kernels.hpp"
#include "dare/search/multi_search.hpp"
#include "dare/search/topk.hpp"

namespace dare_test {

/// How the rows' scores are laid out along the history.
enum class ScoreShape {
  kIntegers,  ///< small integers: exact sums, many ties
  kReals,     ///< uniform reals: distinct scores in random order
  kRising,    ///< reals rising with position (recency-heavy): the threshold rises late
  kFalling,   ///< reals falling with position: the first chunk holds the best
};

/// "" when MultiSearch<Scalar, Dim, Arch> equals the unfused pipeline for one case.
template <class Scalar, int Dim, class Arch>
std::string check_multi_search_once(dare::Index dim, dare::Index m, dare::Index n, dare::Index k,
                                    ScoreShape shape, double padded_fraction, std::mt19937& rng,
                                    typename dare::MultiSearch<Scalar, Dim, Arch>::Strategy strategy =
                                        dare::MultiSearch<Scalar, Dim, Arch>::Strategy::kFused) {
  using dare::Index;
  const Index row_stride = dim + 1;  // padding between rows, as the model's gathers have
  const Index query_stride = dim + 2;
  std::uniform_int_distribution<int> small(-3, 3);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<Scalar> rows(static_cast<std::size_t>(n * row_stride), Scalar(0));
  std::vector<Scalar> queries(static_cast<std::size_t>(m * query_stride), Scalar(0));
  for (Index i = 0; i < n; ++i)
    for (Index d = 0; d < dim; ++d) {
      Scalar v = shape == ScoreShape::kIntegers ? Scalar(small(rng)) : Scalar(unit(rng));
      // Component 0 carries the trend (every query weighs it positively).
      if (d == 0 && shape == ScoreShape::kRising) v += Scalar(4.0 * double(i) / double(n));
      if (d == 0 && shape == ScoreShape::kFalling) v -= Scalar(4.0 * double(i) / double(n));
      rows[static_cast<std::size_t>(i * row_stride + d)] = v;
    }
  for (Index j = 0; j < m; ++j)
    for (Index d = 0; d < dim; ++d) {
      Scalar v = shape == ScoreShape::kIntegers ? Scalar(small(rng)) : Scalar(unit(rng));
      if (d == 0 && shape != ScoreShape::kIntegers) v = Scalar(1.0 + 0.5 * unit(rng));
      queries[static_cast<std::size_t>(j * query_stride + d)] = v;
    }
  std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  for (auto& v : valid) v = u01(rng) < padded_fraction ? 0 : 1;
  const std::uint8_t* mask = padded_fraction > 0 ? valid.data() : nullptr;

  std::vector<Scalar> scores(static_cast<std::size_t>(m * n));
  if (shape == ScoreShape::kIntegers)
    dare::reference::dot_rows_multi(queries.data(), m, query_stride, rows.data(), n, row_stride,
                                    scores.data(), n, dim);
  else
    dare::dot_rows_multi<Dim, Arch>(queries.data(), m, query_stride, rows.data(), n, row_stride,
                                    scores.data(), n, dim);
  const Index out_stride = k + 3;
  std::vector<Index> want_pos(static_cast<std::size_t>(m * out_stride), -7), got_pos = want_pos;
  std::vector<Scalar> want(static_cast<std::size_t>(m * out_stride), Scalar(-7)), got = want;
  for (Index j = 0; j < m; ++j)
    dare::reference::topk_reference(scores.data() + j * n, n, mask, k,
                                    want_pos.data() + j * out_stride, want.data() + j * out_stride);
  dare::MultiSearch<Scalar, Dim, Arch> search(k);
  search.set_strategy(strategy);
  search.search(queries.data(), m, query_stride, rows.data(), n, row_stride, mask, got_pos.data(),
                got.data(), out_stride, dim);
  if (got_pos != want_pos || got != want) {
    std::ostringstream os;
    os << Arch::name() << " dim=" << dim << " m=" << m << " n=" << n << " k=" << k << " shape "
       << int(shape) << " padded " << padded_fraction << " strategy " << int(strategy);
    for (Index j = 0; j < m; ++j)
      for (Index r = 0; r < out_stride; ++r) {
        const auto at = static_cast<std::size_t>(j * out_stride + r);
        if (got_pos[at] != want_pos[at] || !(got[at] == want[at])) {
          os << ": target " << j << " rank " << r << " got position " << got_pos[at] << " score "
             << got[at] << ", want " << want_pos[at] << " score " << want[at];
          return os.str();
        }
      }
    return os.str() + ": differ";
  }
  return "";
}

/// The sweep, on the fused pipeline wherever it applies (a mask always takes the unfused
/// one): query counts from 1 to 100, history lengths from k to 30,000 (many tiles), k from 1
/// to 100, every score shape, no mask, a mask, and a mostly padded history (fewer valid
/// positions than k, so padded ones fill the result); then kAuto past its crossover.
template <class Scalar, class Arch>
std::string check_multi_search(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(2024);
  struct Case {
    Index m, n, k;
  };
  const Case sizes[] = {{1, 20, 20},   {1, 5000, 20},   {1, 777, 50},    {1, 30000, 100},
                        {3, 200, 1},     {3, 1000, 100},
                        {17, 200, 20}, {17, 3001, 50},  {100, 200, 20},  {100, 2000, 20},
                        {100, 10000, 20}, {100, 10000, 100}, {20, 30000, 20}};
  for (const Case& c : sizes)
    for (ScoreShape shape : {ScoreShape::kIntegers, ScoreShape::kReals, ScoreShape::kRising,
                             ScoreShape::kFalling})
      for (double padded : {0.0, 0.2, 0.99}) {
        // The big cases (the full sorts dominate the test's time) once, at width 8, with ties
        // and with the late-rising threshold.
        const bool big = c.m * c.n > 300000;
        if (big && (padded == 0.99 || shape == ScoreShape::kReals || shape == ScoreShape::kFalling))
          continue;
        std::string err;
        if (!big && (c.m == 100 || c.n == 3001))
          err = check_multi_search_once<Scalar, dare::Dynamic, Arch>(13, c.m, c.n, c.k, shape,
                                                                      padded, rng);
        else if (!big)
          err = check_multi_search_once<Scalar, 16, Arch>(16, c.m, c.n, c.k, shape, padded, rng);
        if (err.empty())
          err = check_multi_search_once<Scalar, 8, Arch>(8, c.m, c.n, c.k, shape, padded, rng);
        ++cases;
        if (!err.empty()) return err;
      }
  // The choice itself: past the crossover kAuto fuses (and equals the reference), and the
  // unfused pipeline forced on the same sizes agrees too.
  using Search = dare::MultiSearch<Scalar, 8, Arch>;
  const Index m = 100, k = 20;
  const Index n = dare::detail::kMultiOutputCached / (m * Index(sizeof(Scalar))) + 64;
  if (!Search(k).fuses(m, n) || Search(k).fuses(m, n / 2)) return "fuses() is off its crossover";
  for (auto strategy : {Search::Strategy::kAuto, Search::Strategy::kUnfused}) {
    auto err = check_multi_search_once<Scalar, 8, Arch>(8, m, n, k, ScoreShape::kRising, 0.0, rng,
                                                         strategy);
    ++cases;
    if (!err.empty()) return err;
  }
  return "";
}

}  // namespace dare_test
