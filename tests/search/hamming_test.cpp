// Tests of dare/search/hamming.hpp: SimHash (determinism, sign semantics, bit order, the
// angular property), hamming_distances against the scalar reference, HammingTopK against a
// full sort (ties, padding, k > valid count, k == n, n == 1), errors. The kernels of other
// architectures run the same checks from tests/arch/hamming_arch_test.cpp.
#include <catch2/catch.hpp>

#include <bitset>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "dare/embedding/embedding_table.hpp"
#include "dare/search/hamming.hpp"
#include "search/hamming_checks.hpp"

using dare::Index;
using Catch::Matchers::Contains;

namespace {

template <class Scalar>
std::vector<Scalar> gaussian_rows(Index n, Index dim, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<Scalar> rows(static_cast<std::size_t>(n * dim));
  for (auto& x : rows) x = static_cast<Scalar>(normal(rng));
  return rows;
}

template <class Scalar>
std::vector<std::uint32_t> sign(const dare::SimHash<Scalar>& hash, const std::vector<Scalar>& x) {
  std::vector<std::uint32_t> sig(static_cast<std::size_t>(hash.words()));
  hash.sign(x.data(), sig.data());
  return sig;
}

bool bit(const std::vector<std::uint32_t>& sig, Index b) { return (sig[std::size_t(b / 32)] >> (b % 32)) & 1u; }

struct TopKResult {
  std::vector<Index> positions;
  std::vector<std::uint16_t> distances;
};

TopKResult run_topk(dare::HammingTopK<>& topk, const std::vector<std::uint16_t>& distances,
                    const std::vector<std::uint8_t>* valid) {
  TopKResult r{std::vector<Index>(std::size_t(topk.k()), -1), std::vector<std::uint16_t>(std::size_t(topk.k()))};
  topk.select(distances.data(), Index(distances.size()), valid ? valid->data() : nullptr, r.positions.data(),
              r.distances.data());
  return r;
}

}  // namespace

// ---- SimHash ------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("SimHash's projection is EmbeddingTable::init_normal(1, seed), the same for a seed",
                   "[search][hamming]", float, double) {
  const dare::SimHash<TestType> a(32, 64, 7), b(32, 64, 7), c(32, 64, 8);
  CHECK(a.dim() == 32);
  CHECK(a.bits() == 64);
  CHECK(a.words() == 2);
  dare::EmbeddingTable<TestType> table(64, 32);
  table.init_normal(TestType(1), 7);
  bool same_table = true, same_seed = true, other_seed_differs = false;
  for (Index bb = 0; bb < 64; ++bb)
    for (Index k = 0; k < 32; ++k) {
      same_table &= a.projection(bb)[k] == table.row(bb)[k];
      same_seed &= a.projection(bb)[k] == b.projection(bb)[k];
      other_seed_differs |= a.projection(bb)[k] != c.projection(bb)[k];
    }
  CHECK(same_table);
  CHECK(same_seed);
  CHECK(other_seed_differs);
  const auto rows = gaussian_rows<TestType>(50, 32, 3);
  std::vector<std::uint32_t> sa(100), sb(100), sc(100);
  a.sign_rows(rows.data(), 50, 32, sa.data());
  b.sign_rows(rows.data(), 50, 32, sb.data());
  c.sign_rows(rows.data(), 50, 32, sc.data());
  CHECK(sa == sb);
  CHECK(sa != sc);
}

TEST_CASE("SimHash signatures of a fixed input are pinned (the projection is portable)", "[search][hamming]") {
  // std::mt19937_64 is fully specified and the Box-Muller transform is written out, so these
  // words are the same with every standard library (a change here changes every model's
  // retrieval).
  std::vector<float> x(32);
  for (Index k = 0; k < 32; ++k) x[std::size_t(k)] = float(k + 1) / 32.0f - 0.5f;
  const dare::SimHash<float> hash(32, 64, 7);
  CHECK(sign(hash, x) == std::vector<std::uint32_t>{0x4f555cb3u, 0x3e446f81u});
}

TEMPLATE_TEST_CASE("SimHash bit b is <x, p_b> > 0, least significant bit first", "[search][hamming]", float,
                   double) {
  for (Index bits = 32; bits <= 256; bits += 32) {
    const dare::SimHash<TestType> hash(24, bits, std::uint64_t(bits));
    const auto rows = gaussian_rows<TestType>(20, 24, 5);
    for (Index r = 0; r < 20; ++r) {
      const std::vector<TestType> x(rows.begin() + r * 24, rows.begin() + (r + 1) * 24);
      const auto sig = sign(hash, x);
      for (Index b = 0; b < bits; ++b) {
        double dot = 0;
        for (Index k = 0; k < 24; ++k) dot += double(x[std::size_t(k)]) * double(hash.projection(b)[k]);
        if (std::abs(dot) < 1e-4) continue;  // rounding may decide these
        INFO("bits " << bits << " row " << r << " bit " << b << " dot " << dot);
        CHECK(bit(sig, b) == (dot > 0));
      }
    }
    // x = p_b sets bit b (<p_b, p_b> > 0) and -p_b clears it: bit b lives in word b / 32 at
    // 2^(b % 32), which on a little-endian machine is bit b % 8 of byte b / 8.
    for (Index b : {Index(0), Index(5), Index(31), bits / 2 + 1, bits - 1}) {
      std::vector<TestType> p(hash.projection(b), hash.projection(b) + 24), minus(24);
      for (Index k = 0; k < 24; ++k) minus[std::size_t(k)] = -p[std::size_t(k)];
      const auto plus_sig = sign(hash, p);
      CHECK(bit(plus_sig, b));
      CHECK_FALSE(bit(sign(hash, minus), b));
      std::uint8_t bytes[32];
      std::memcpy(bytes, plus_sig.data(), plus_sig.size() * 4);
      const std::uint32_t one = 1;
      if (*reinterpret_cast<const std::uint8_t*>(&one) == 1) CHECK(((bytes[b / 8] >> (b % 8)) & 1) == 1);
    }
  }
}

TEMPLATE_TEST_CASE("SimHash of -x is the complement of SimHash of x", "[search][hamming]", float, double) {
  const dare::SimHash<TestType> hash(32, 256, 11);
  const auto rows = gaussian_rows<TestType>(100, 32, 9);
  for (Index r = 0; r < 100; ++r) {
    std::vector<TestType> x(rows.begin() + r * 32, rows.begin() + (r + 1) * 32), minus(32);
    for (Index k = 0; k < 32; ++k) minus[std::size_t(k)] = -x[std::size_t(k)];
    const auto a = sign(hash, x), b = sign(hash, minus);
    for (Index w = 0; w < 8; ++w) CHECK(b[std::size_t(w)] == ~a[std::size_t(w)]);
  }
}

TEMPLATE_TEST_CASE("SimHash::sign_rows (GEMM blocks, row stride) equals sign row by row", "[search][hamming]",
                   float, double) {
  for (Index bits = 32; bits <= 256; bits += 32) {
    const Index n = 333, dim = 32, stride = 37;  // 333 rows: several 16 KB blocks and a partial one
    const dare::SimHash<TestType> hash(dim, bits, 3);
    const auto rows = gaussian_rows<TestType>(n, stride, 17);
    std::vector<std::uint32_t> all(std::size_t(n * hash.words()));
    hash.sign_rows(rows.data(), n, stride, all.data());
    Index differing_bits = 0;
    for (Index r = 0; r < n; ++r) {
      std::vector<std::uint32_t> one(std::size_t(hash.words()));
      hash.sign(rows.data() + r * stride, one.data());
      for (Index w = 0; w < hash.words(); ++w)
        differing_bits += std::bitset<32>(one[std::size_t(w)] ^ all[std::size_t(r * hash.words() + w)]).count();
    }
    // The GEMM may sum in another order than the one-row product: only a projection within
    // an ulp of zero could differ, which none of these is.
    INFO("bits " << bits);
    CHECK(differing_bits == 0);
  }
}

TEST_CASE("SimHash's differing bits estimate angle / pi", "[search][hamming]") {
  // y at angle theta from x: each bit differs with probability theta / pi; over 16 seeds x
  // 256 bits the fraction's standard deviation is at most 0.008.
  const Index dim = 32;
  const double kPi = 3.14159265358979323846;
  std::mt19937 rng(21);
  std::normal_distribution<double> normal;
  for (double theta : {0.05, 0.25, 0.5, 0.75, 0.95}) {
    Index differing = 0, total = 0;
    for (std::uint64_t seed = 0; seed < 16; ++seed) {
      std::vector<double> x(dim), u(dim);
      for (auto& v : x) v = normal(rng);
      for (auto& v : u) v = normal(rng);
      double xx = 0, xu = 0;
      for (Index k = 0; k < dim; ++k) xx += x[std::size_t(k)] * x[std::size_t(k)], xu += x[std::size_t(k)] * u[std::size_t(k)];
      double uu = 0;
      for (Index k = 0; k < dim; ++k) u[std::size_t(k)] -= xu / xx * x[std::size_t(k)], uu += u[std::size_t(k)] * u[std::size_t(k)];
      std::vector<float> a(dim), b(dim);
      for (Index k = 0; k < dim; ++k) {
        a[std::size_t(k)] = float(x[std::size_t(k)] / std::sqrt(xx));
        b[std::size_t(k)] = float(std::cos(theta * kPi) * x[std::size_t(k)] / std::sqrt(xx) +
                                  std::sin(theta * kPi) * u[std::size_t(k)] / std::sqrt(uu));
      }
      const dare::SimHash<float> hash(dim, 256, 1000 + seed);
      const auto sa = sign(hash, a), sb = sign(hash, b);
      std::uint16_t d = 0;
      dare::hamming_distances(sa.data(), sb.data(), 1, 8, &d);
      differing += d;
      total += 256;
    }
    INFO("theta / pi = " << theta);
    CHECK(double(differing) / double(total) == Approx(theta).margin(0.03));
  }
}

TEST_CASE("SimHash rejects bad bits, dims, strides and null pointers", "[search][hamming]") {
  for (Index bits : {0, 16, 33, 288, -32})
    CHECK_THROWS_WITH(dare::SimHash<float>(8, bits, 1), Contains("bits must be a multiple of 32 in [32, 256]"));
  CHECK_THROWS_WITH(dare::SimHash<float>(0, 32, 1), Contains("dim must be positive"));
  const dare::SimHash<float> hash(8, 32, 1);
  std::vector<float> rows(80);
  std::vector<std::uint32_t> sigs(10);
  CHECK_THROWS_WITH(hash.sign_rows(rows.data(), -1, 8, sigs.data()), Contains("n must be non-negative"));
  CHECK_THROWS_WITH(hash.sign_rows(rows.data(), 2, 7, sigs.data()), Contains("row_stride (7) must be at least dim (8)"));
  CHECK_THROWS_WITH(hash.sign_rows(nullptr, 2, 8, sigs.data()), Contains("must not be null"));
  CHECK_NOTHROW(hash.sign_rows(nullptr, 0, 8, nullptr));
}

// ---- hamming_distances --------------------------------------------------------------------------

TEST_CASE("hamming_distances matches the scalar reference for 32 to 256 bits and every tail",
          "[search][hamming]") {
  Index cases = 0;
  CHECK(dare_test::check_hamming_distances<xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_hamming_distances<xsimd::unavailable>(cases) == "");
  CHECK(cases > 300);
}

TEST_CASE("hamming_distances counts hand-checked bits", "[search][hamming]") {
  const std::uint32_t query[] = {0x0000000Fu, 0x80000000u};
  const std::uint32_t sigs[] = {0x0000000Fu, 0x80000000u,   // identical: 0
                                0x000000F0u, 0x80000000u,   // 8 bits moved within word 0
                                0xFFFFFFF0u, 0x7FFFFFFFu};  // every bit: 64
  std::uint16_t out[3];
  dare::hamming_distances(query, sigs, 3, 2, out);
  CHECK(out[0] == 0);
  CHECK(out[1] == 8);
  CHECK(out[2] == 64);
  dare::hamming_distances(query, sigs, 3, 1, out);  // one word per row: rows are words 0, 1, 2
  CHECK(out[0] == 0);
  CHECK(out[1] == 5);  // 0xF ^ 0x80000000
}

TEST_CASE("hamming_distances rejects bad word counts, n < 0 and null pointers", "[search][hamming]") {
  std::uint32_t q[8] = {}, s[8] = {};
  std::uint16_t out[8];
  CHECK_THROWS_WITH(dare::hamming_distances(q, s, 1, 0, out), Contains("words must be in [1, 8]"));
  CHECK_THROWS_WITH(dare::hamming_distances(q, s, 1, 9, out), Contains("words must be in [1, 8]"));
  CHECK_THROWS_WITH(dare::hamming_distances(q, s, -1, 1, out), Contains("n must be non-negative"));
  CHECK_THROWS_WITH(dare::hamming_distances(q, nullptr, 1, 1, out), Contains("must not be null"));
  CHECK_NOTHROW(dare::hamming_distances(nullptr, nullptr, 0, 1, nullptr));
}

// ---- HammingTopK --------------------------------------------------------------------------------

TEST_CASE("HammingTopK equals a full sort by (distance, -position), with ties and padding",
          "[search][hamming]") {
  Index cases = 0;
  CHECK(dare_test::check_hamming_topk<xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_hamming_topk<xsimd::unavailable>(cases) == "");
  CHECK(cases > 2000);
}

TEST_CASE("HammingTopK over long histories and the fused search equal the reference",
          "[search][hamming]") {
  Index cases = 0;
  CHECK(dare_test::check_hamming_topk_long<xsimd::default_arch>(cases) == "");
  CHECK(cases > 50);
}

TEST_CASE("HammingTopK reports a valid distance above bits with its position", "[search][hamming]") {
  Index cases = 0;
  CHECK(dare_test::check_hamming_topk_bad_distance<xsimd::default_arch>(cases) == "");
  CHECK(dare_test::check_hamming_topk_bad_distance<xsimd::unavailable>(cases) == "");
  CHECK(cases > 20);
}

TEST_CASE("HammingTopK ranks equal distances by the higher position first", "[search][hamming]") {
  dare::HammingTopK<> topk(4, 32);
  const auto r = run_topk(topk, {3, 1, 1, 2, 1, 0}, nullptr);
  CHECK(r.positions == std::vector<Index>{5, 4, 2, 1});
  CHECK(r.distances == std::vector<std::uint16_t>{0, 1, 1, 1});
}

TEST_CASE("HammingTopK with fewer valid positions than k fills with padded positions, latest first",
          "[search][hamming]") {
  // Left-padded history: positions 0..2 padded (their distances are ignored), 3 and 4 valid.
  dare::HammingTopK<> topk(4, 32);
  const std::vector<std::uint8_t> valid = {0, 0, 0, 1, 1};
  const auto r = run_topk(topk, {0, 0, 999, 5, 2}, &valid);
  CHECK(topk.padded_distance() == 33);
  CHECK(r.positions == std::vector<Index>{4, 3, 2, 1});
  CHECK(r.distances == std::vector<std::uint16_t>{2, 5, 33, 33});
  // A valid position at distance bits still ranks before every padded one.
  const auto far = run_topk(topk, {0, 0, 0, 32, 32}, &valid);
  CHECK(far.positions == std::vector<Index>{4, 3, 2, 1});
}

TEST_CASE("HammingTopK with k == n sorts everything and n == 1 works", "[search][hamming]") {
  dare::HammingTopK<> all(5, 64);
  const auto r = run_topk(all, {7, 0, 64, 7, 3}, nullptr);
  CHECK(r.positions == std::vector<Index>{1, 4, 3, 0, 2});
  CHECK(r.distances == std::vector<std::uint16_t>{0, 3, 7, 7, 64});
  dare::HammingTopK<> one(1, 32);
  CHECK(run_topk(one, {9}, nullptr).positions == std::vector<Index>{0});
  const std::vector<std::uint8_t> padded = {0};
  const auto pad = run_topk(one, {9}, &padded);
  CHECK(pad.positions == std::vector<Index>{0});
  CHECK(pad.distances == std::vector<std::uint16_t>{33});
}

TEST_CASE("a HammingTopK object gives the same answers when reused at other sizes", "[search][hamming]") {
  dare::HammingTopK<> topk(3, 32);
  std::vector<std::uint16_t> long_history(5000, 20);
  long_history[17] = 1;
  run_topk(topk, long_history, nullptr);
  const auto r = run_topk(topk, {4, 2, 9}, nullptr);
  CHECK(r.positions == std::vector<Index>{1, 0, 2});
  CHECK(r.distances == std::vector<std::uint16_t>{2, 4, 9});
  const auto again = run_topk(topk, long_history, nullptr);
  CHECK(again.positions == std::vector<Index>{17, 4999, 4998});
}

TEST_CASE("HammingTopK rejects k > n, k <= 0, bad bits and null pointers", "[search][hamming]") {
  dare::HammingTopK<> topk(5, 32);
  CHECK_THROWS_WITH(run_topk(topk, {1, 2, 3}, nullptr), Contains("k (5) must not exceed n (3)"));
  CHECK_THROWS_WITH(dare::HammingTopK<>(0, 32), Contains("k must be positive"));
  CHECK_THROWS_WITH(dare::HammingTopK<>(3, 48), Contains("bits must be a multiple of 32"));
  Index positions[5];
  std::uint16_t out[5];
  CHECK_THROWS_WITH(topk.select(nullptr, 8, nullptr, positions, out), Contains("must not be null"));
  std::uint32_t sig[1] = {};
  CHECK_THROWS_WITH(topk.search(sig, sig, 1, nullptr, positions, out), Contains("k (5) must not exceed n (1)"));
}
