// Tests of dare/search/multi_search.hpp: MultiSearch against the full score matrix and a full
// stable sort per target, NaN reporting and argument checks.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "dare/search/multi_search.hpp"
#include "search/multi_search_checks.hpp"

using dare::Index;
using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("MultiSearch equals scoring every row and sorting each target's scores",
                   "[search][multi_search]", float, double) {
  Index cases = 0;
  CHECK(dare_test::check_multi_search<TestType, xsimd::default_arch>(cases) == "");
  CHECK(cases > 100);
}

TEST_CASE("MultiSearch without SIMD equals the same pipeline", "[search][multi_search]") {
  std::mt19937 rng(8);
  for (auto shape : {dare_test::ScoreShape::kIntegers, dare_test::ScoreShape::kRising})
    CHECK(dare_test::check_multi_search_once<float, dare::Dynamic, xsimd::unavailable>(
              5, 30, 3000, 20, shape, 0.1, rng) == "");
}

TEST_CASE("MultiSearch reports a NaN score at a valid position and ignores padded ones",
          "[search][multi_search]") {
  const Index dim = 4, m = 6, n = 5000, k = 20;
  std::vector<float> rows(static_cast<std::size_t>(n * dim)), queries(static_cast<std::size_t>(m * dim), 1.0f);
  for (Index i = 0; i < n; ++i)
    for (Index d = 0; d < dim; ++d) rows[static_cast<std::size_t>(i * dim + d)] = float((i * 7 + d) % 11);
  std::vector<Index> positions(static_cast<std::size_t>(m * k));
  std::vector<float> scores(static_cast<std::size_t>(m * k));
  dare::MultiSearch<float, 4> search(k);
  // Far from the best rows and after the first chunk: the threshold is already high there.
  for (Index where : {Index(3), Index(2500), n - 1}) {
    std::vector<float> bad = rows;
    bad[static_cast<std::size_t>(where * dim + 2)] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(search.search(queries.data(), m, dim, bad.data(), n, dim, nullptr, positions.data(),
                                    scores.data(), k),
                      Contains("scores NaN at position " + std::to_string(where)));
    std::vector<std::uint8_t> valid(static_cast<std::size_t>(n), 1);
    valid[static_cast<std::size_t>(where)] = 0;
    CHECK_NOTHROW(search.search(queries.data(), m, dim, bad.data(), n, dim, valid.data(), positions.data(),
                                scores.data(), k));
    for (Index p : positions) CHECK(p != where);
  }
}

TEST_CASE("MultiSearch rejects k > n, a short out_stride and null outputs", "[search][multi_search]") {
  std::vector<float> rows(40, 1.0f), queries(8, 1.0f);
  std::vector<Index> positions(20);
  std::vector<float> scores(20);
  CHECK_THROWS_WITH(dare::MultiSearch<float>(0), Contains("k must be positive"));
  dare::MultiSearch<float> search(5);
  CHECK_THROWS_WITH(search.search(queries.data(), 2, 4, rows.data(), 4, 4, nullptr, positions.data(),
                                  scores.data(), 5, 4),
                    Contains("k (5) must not exceed n (4)"));
  CHECK_THROWS_WITH(search.search(queries.data(), 2, 4, rows.data(), 10, 4, nullptr, positions.data(),
                                  scores.data(), 4, 4),
                    Contains("out_stride (4) must be at least k (5)"));
  CHECK_THROWS_WITH(search.search(queries.data(), 2, 4, rows.data(), 10, 4, nullptr, nullptr, scores.data(), 5, 4),
                    Contains("must not be null"));
  CHECK_THROWS_WITH(search.search(queries.data(), 2, 4, rows.data(), 10, 3, nullptr, positions.data(),
                                  scores.data(), 5, 4),
                    Contains("row_stride"));
  CHECK_NOTHROW(search.search(queries.data(), 0, 4, rows.data(), 10, 4, nullptr, positions.data(), scores.data(),
                              5, 4));
}
