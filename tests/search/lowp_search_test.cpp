// Tests of dare/search/lowp_search.hpp: bf16 rounding, int8 row quantization, LowpSearch
// against its scalar reference (tails, padding, ties) and argument checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "dare/search/lowp_search.hpp"
#include "search/lowp_search_checks.hpp"

using dare::Index;

TEST_CASE("bf16 rounds to nearest even and widens exactly", "[search][lowp]") {
  CHECK(dare::to_bf16(1.0f) == 0x3F80);
  CHECK(dare::from_bf16(0x3F80) == 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1); 1 + 3·2^-8 to 1 + 2^-6.
  CHECK(dare::to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);
  CHECK(dare::to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);
  CHECK(dare::to_bf16(-2.5f) == 0xC020);
  CHECK(std::isnan(dare::from_bf16(dare::to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (float x : {0.1f, -3.7f, 1e-20f, 6.5e4f}) CHECK(std::fabs(dare::from_bf16(dare::to_bf16(x)) - x) <= std::fabs(x) / 256);
  CHECK(dare::search_precision_from_string("int8") == dare::SearchPrecision::Int8);
  CHECK_THROWS_WITH(dare::search_precision_from_string("fp8"), Catch::Contains("float, bf16 or int8"));
}

TEST_CASE("int8 rows get one symmetric scale each, zero rows scale 0", "[search][lowp]") {
  const std::vector<float> x = {0.5f, -1.27f, 0.0f, 1.0f};
  std::vector<std::int8_t> q(4);
  const float s = dare::quantize_int8(x.data(), 4, q.data());
  CHECK(s == Approx(0.01f));
  CHECK(q == std::vector<std::int8_t>{50, -127, 0, 100});
  const std::vector<float> zero(3, 0.0f);
  CHECK(dare::quantize_int8(zero.data(), 3, q.data()) == 0.0f);
  CHECK(q[0] == 0);
  const std::vector<float> bad = {1.0f, std::numeric_limits<float>::infinity()};
  CHECK_THROWS_WITH(dare::LowpTable(dare::SearchPrecision::Int8, 1, 2, [&](Index) { return bad.data(); }),
                    Catch::Contains("row 0") && Catch::Contains("non-finite"));
  CHECK_THROWS(dare::LowpTable(dare::SearchPrecision::Float, 1, 2, [&](Index) { return x.data(); }));
}

TEST_CASE("LowpSearch equals its scalar reference: scores, selection, exact rescoring", "[search][lowp]") {
  Index cases = 0;
  CHECK(dare_test::check_lowp_search<xsimd::default_arch>(cases) == "");
  CHECK(cases > 500);
}

TEST_CASE("LowpSearch without SIMD is the reference", "[search][lowp]") {
  std::mt19937 rng(5);
  for (auto p : {dare::SearchPrecision::BF16, dare::SearchPrecision::Int8})
    CHECK(dare_test::check_lowp_search_once<xsimd::unavailable>(p, {5, 3}, 9, 200, 20, true, 0.3, 40, rng) == "");
}

TEST_CASE("LowpSearch checks its arguments", "[search][lowp]") {
  CHECK_THROWS(dare::LowpSearch<>(0, dare::SearchPrecision::BF16));
  CHECK_THROWS_WITH(dare::LowpSearch<>(4, dare::SearchPrecision::Float), Catch::Contains("bf16 or int8"));
  std::vector<float> t(8, 1.0f);
  const dare::LowpTable table(dare::SearchPrecision::BF16, 2, 4, [&](Index i) { return t.data() + 4 * i; });
  const std::vector<dare::Id> ids = {1, 1, 0};
  dare::LowpRows rows;
  rows.tables[0] = &table;
  rows.ids[0] = ids.data();
  rows.fields = 1;
  rows.n = 3;
  std::vector<float> q(4, 1.0f), out(3), exact(12, 1.0f);
  std::vector<Index> pos(4);
  dare::LowpSearch<> int8(2, dare::SearchPrecision::Int8);
  CHECK_THROWS_WITH(int8.approximate(q.data(), 1, 4, 1.0f, rows, out.data(), 3), Catch::Contains("int8 table"));
  dare::LowpSearch<> big(4, dare::SearchPrecision::BF16);
  CHECK_THROWS_WITH(big.search(q.data(), 1, 4, 1.0f, rows, nullptr, q.data(), 4, exact.data(), 4, pos.data(), out.data(), 4, 4),
                    Catch::Contains("must not exceed n"));
}
