#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "dare/data/sampling.hpp"

using dare::Index;
using dare::detail::AliasTable;
using dare::detail::DataRng;

namespace {

/// Pearson's chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<long long>& observed, const std::vector<double>& probability,
                  long long draws) {
  double chi2 = 0.0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    if (probability[i] == 0.0) continue;
    const double expected = probability[i] * static_cast<double>(draws);
    const double d = static_cast<double>(observed[i]) - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

}  // namespace

TEST_CASE("DataRng repeats its stream for a seed and separates streams", "[data][sampling]") {
  DataRng a(42, 0);
  DataRng b(42, 0);
  DataRng c(42, 1);
  DataRng d(43, 0);
  int same_c = 0;
  int same_d = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.next();
    REQUIRE(x == b.next());
    same_c += x == c.next();
    same_d += x == d.next();
  }
  CHECK(same_c == 0);
  CHECK(same_d == 0);
}

TEST_CASE("DataRng's bounded integers are in range and uniform", "[data][sampling]") {
  DataRng rng(7);
  CHECK(rng.below(1) == 0);
  const int n = 7;
  const long long draws = 70000;
  std::vector<long long> counts(n, 0);
  for (long long k = 0; k < draws; ++k) {
    const std::uint64_t x = rng.below(n);
    REQUIRE(x < static_cast<std::uint64_t>(n));
    ++counts[x];
  }
  // df = 6: P(chi2 > 22.46) = 0.001.
  CHECK(chi_square(counts, std::vector<double>(n, 1.0 / n), draws) < 22.46);
  // A bound that is not a power of two and close to 2^64 still stays in range.
  const std::uint64_t big = (std::uint64_t{1} << 63) + 12345;
  for (int k = 0; k < 1000; ++k) REQUIRE(rng.below(big) < big);
  for (int k = 0; k < 1000; ++k) {
    const double u = rng.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
  }
}

TEST_CASE("AliasTable encodes each outcome's probability exactly", "[data][sampling]") {
  auto check_exact = [](const std::vector<std::uint64_t>& w) {
    const AliasTable table(w);
    const auto n = static_cast<std::uint64_t>(w.size());
    std::uint64_t total = 0;
    for (auto x : w) total += x;
    REQUIRE(table.total() == total);
    // Mass of outcome i over all buckets, in units of 1 / (n * total).
    std::vector<std::uint64_t> mass(w.size(), 0);
    for (Index b = 0; b < table.size(); ++b) {
      REQUIRE(table.threshold(b) <= total);
      mass[static_cast<std::size_t>(b)] += table.threshold(b);
      mass[static_cast<std::size_t>(table.alias(b))] += total - table.threshold(b);
    }
    for (std::size_t i = 0; i < w.size(); ++i) CHECK(mass[i] == w[i] * n);
  };
  check_exact({5, 0, 1, 10, 3, 7, 1, 100});
  check_exact({1});
  check_exact({0, 0, 4, 0});
  std::vector<std::uint64_t> skewed;
  DataRng rng(3);
  for (int i = 0; i < 1000; ++i) skewed.push_back(rng.below(1000) * rng.below(1000) / (i + 1));
  skewed[17] = 1;
  check_exact(skewed);
}

TEST_CASE("AliasTable draws follow the weights (chi-square) and never draw zero weights",
          "[data][sampling]") {
  const std::vector<std::uint64_t> w = {1000, 500, 333, 250, 0, 200, 166, 142, 125, 111, 100, 1};
  const AliasTable table(w);
  double total = 0;
  for (auto x : w) total += static_cast<double>(x);
  std::vector<double> p;
  for (auto x : w) p.push_back(static_cast<double>(x) / total);
  DataRng rng(11);
  const long long draws = 300000;
  std::vector<long long> counts(w.size(), 0);
  for (long long k = 0; k < draws; ++k) ++counts[static_cast<std::size_t>(table.sample(rng))];
  CHECK(counts[4] == 0);
  // 11 outcomes with positive weight, df = 10: P(chi2 > 29.59) = 0.001.
  CHECK(chi_square(counts, p, draws) < 29.59);
}

TEST_CASE("AliasTable rejects empty and all-zero weights", "[data][sampling]") {
  CHECK_THROWS_AS(AliasTable(std::vector<std::uint64_t>{}), std::invalid_argument);
  CHECK_THROWS_WITH(AliasTable(std::vector<std::uint64_t>{0, 0}), Catch::Contains("all weights are zero"));
}
