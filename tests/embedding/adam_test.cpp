#include "dare/embedding/adam.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "embedding/adam_deferred_checks.hpp"
#include "embedding_test_util.hpp"

using dare::AdamMode;
using dare::AdamOptions;
using dare::Dynamic;
using dare::EmbeddingTable;
using dare::Id;
using dare::Index;
using dare::SparseGrad;
using dare::TableAdam;
using dare_test::format_error_field;

namespace {

// Three rows of width 2; row 2 is never touched. Gradients per step:
//   step 1: row 0 (0.5, -1), row 1 (0.2, 0);  step 2: row 1 (0.1, 0.4);  step 3: row 0 (-0.3, 0.2)
// lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8.
struct HandCase {
  EmbeddingTable<double, Dynamic> table{3, 2};
  SparseGrad<double, Dynamic> grad{2};
  HandCase() {
    const double init[3][2] = {{1.0, 2.0}, {-1.0, 0.5}, {0.3, 0.3}};
    for (Index r = 0; r < 3; ++r) std::copy(init[r], init[r] + 2, table.row(r));
  }
  void set_step(int t) {
    static const double g[4][2] = {{0.5, -1.0}, {0.2, 0.0}, {0.1, 0.4}, {-0.3, 0.2}};
    grad.clear();
    if (t == 1) {
      grad.add(0, g[0]);
      grad.add(1, g[1]);
    } else if (t == 2) {
      grad.add(1, g[2]);
    } else {
      grad.add(0, g[3]);
    }
  }
};

constexpr AdamOptions kHandOptions{0.1, 0.9, 0.999, 1e-8};

// The plain dense Adam loop of torch.optim.Adam over every scalar of a rows x dim table.
template <class Scalar>
struct PlainDenseAdam {
  std::vector<Scalar> p, m, v;
  AdamOptions o;
  int t = 0;
  void step(const std::vector<Scalar>& g) {
    ++t;
    const double c1 = 1 - std::pow(o.beta1, t), c2 = 1 - std::pow(o.beta2, t);
    const Scalar step_size = static_cast<Scalar>(o.lr / c1);
    const Scalar c2_sqrt = static_cast<Scalar>(std::sqrt(c2));
    const Scalar one_minus_b1 = static_cast<Scalar>(1 - o.beta1);
    const Scalar b2 = static_cast<Scalar>(o.beta2), one_minus_b2 = static_cast<Scalar>(1 - o.beta2);
    const Scalar eps = static_cast<Scalar>(o.eps);
    for (std::size_t i = 0; i < p.size(); ++i) {
      m[i] = m[i] + one_minus_b1 * (g[i] - m[i]);
      v[i] = b2 * v[i] + one_minus_b2 * (g[i] * g[i]);
      p[i] = p[i] - step_size * (m[i] / (std::sqrt(v[i]) / c2_sqrt + eps));
    }
  }
};

template <class Table, class Grad>
std::vector<typename Table::ScalarType> dense_grad(const Table& table, const Grad& grad) {
  std::vector<typename Table::ScalarType> g(static_cast<std::size_t>(table.rows() * table.dim()));
  for (Index s = 0; s < grad.size(); ++s)
    std::copy_n(grad.row(s), table.dim(), g.begin() + grad.id(s) * table.dim());
  return g;
}

template <class Table>
bool rows_bitwise_equal(const Table& a, const Table& b) {
  for (Index r = 0; r < a.rows(); ++r)
    if (std::memcmp(a.row(r), b.row(r), sizeof(*a.row(r)) * static_cast<std::size_t>(a.dim())))
      return false;
  return true;
}

}  // namespace

TEST_CASE("Dense Adam follows torch.optim.Adam for three steps", "[embedding][optimizer]") {
  // Expected values from the formulas in adam.hpp, evaluated in double. Step 1 by hand:
  // m = 0.1 g, v = 0.001 g^2, c1 = 0.1, c2 = 0.001, so p -= (0.1 / 0.1) * 0.1 g / (|g| + 1e-8):
  // row 0 -> (1 - 0.05 / 0.50000001, 2 + 0.1 / 1.00000001) = (0.900000002, 2.099999999);
  // row 1 (0.2, 0) -> (-1.099999995, 0.5). Rows 0 and 1 keep moving at the steps where
  // they are not touched (their m is not zero); row 2 (m = 0 throughout) never moves.
  const double expected[3][3][2] = {
      {{0.900000002, 2.099999999}, {-1.0999999950000003, 0.5}, {0.3, 0.3}},
      {{0.8329941784820312, 2.167005823465811},
       {-1.1932179529846343, 0.42558632027356486},
       {0.3, 0.3}},
      {{0.8214823743941193, 2.2052535032510496},
       {-1.2652757036556752, 0.3680643306285598},
       {0.3, 0.3}}};
  HandCase c;
  TableAdam adam(c.table, kHandOptions, AdamMode::Dense);
  for (int t = 1; t <= 3; ++t) {
    c.set_step(t);
    adam.step(c.grad);
    CHECK(adam.step_count() == t);
    for (Index r = 0; r < 3; ++r)
      for (Index k = 0; k < 2; ++k) {
        INFO("step " << t << " row " << r << " col " << k);
        CHECK(c.table.row(r)[k] == Approx(expected[t - 1][r][k]).epsilon(1e-13));
      }
  }
  // Moments after step 3 (m decays by 0.9 per step without gradient).
  CHECK(adam.moment1(0)[0] == Approx(0.0105).epsilon(1e-13));
  CHECK(adam.moment1(1)[1] == Approx(0.036).epsilon(1e-13));
  CHECK(adam.moment2(0)[1] == Approx(0.001038001).epsilon(1e-12));
  CHECK(adam.moment1(2)[0] == 0.0);
}

TEST_CASE("Lazy Adam follows torch.optim.SparseAdam for three steps", "[embedding][optimizer]") {
  // Step 1 by hand: m = 0.1 g, v = 0.001 g^2, step size 0.1 * sqrt(0.001) / 0.1, so
  // p -= sqrt(0.001) * 0.1 g / (sqrt(0.001) |g| + 1e-8): row 0 col 0 -> 0.9000000632455132.
  // Untouched rows keep their values exactly: row 0 at step 2, row 1 at step 3, row 2 always.
  const double expected[3][3][2] = {
      {{0.9000000632455132, 2.0999999683772335}, {-1.099999841886367, 0.5}, {0.3, 0.3}},
      {{0.9000000632455132, 2.0999999683772335},
       {-1.1932176738848213, 0.42558637647243663},
       {0.3, 0.3}},
      {{0.8835606828897686, 2.1438696299954465},
       {-1.1932176738848213, 0.42558637647243663},
       {0.3, 0.3}}};
  HandCase c;
  TableAdam adam(c.table, kHandOptions, AdamMode::Lazy);
  for (int t = 1; t <= 3; ++t) {
    c.set_step(t);
    adam.step(c.grad);
    for (Index r = 0; r < 3; ++r)
      for (Index k = 0; k < 2; ++k) {
        INFO("step " << t << " row " << r << " col " << k);
        CHECK(c.table.row(r)[k] == Approx(expected[t - 1][r][k]).epsilon(1e-13));
      }
  }
  // Row 0: m = 0.1 * 0.5 then 0.9 * 0.05 + 0.1 * (-0.3) = 0.015 (no decay at step 2).
  CHECK(adam.moment1(0)[0] == Approx(0.015).epsilon(1e-13));
  CHECK(adam.moment1(1)[1] == Approx(0.04).epsilon(1e-13));
  CHECK(adam.moment2(0)[1] == Approx(0.001039).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("Dense Adam equals a plain dense Adam loop over all rows",
                   "[embedding][optimizer]", dare_test::Fixed16, dare_test::Dynamic7,
                   dare_test::Dynamic16, dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  const Index rows = 41;
  EmbeddingTable<Scalar, TestType::Dim> table(rows, TestType::dim);
  table.init_normal(Scalar(0.1), 21);
  const AdamOptions options{0.01, 0.9, 0.999, 1e-8};
  TableAdam adam(table, options, AdamMode::Dense);

  PlainDenseAdam<Scalar> plain;
  plain.o = options;
  plain.p.resize(static_cast<std::size_t>(rows * TestType::dim));
  for (Index r = 0; r < rows; ++r)
    std::copy_n(table.row(r), TestType::dim, plain.p.begin() + r * TestType::dim);
  plain.m.assign(plain.p.size(), Scalar(0));
  plain.v.assign(plain.p.size(), Scalar(0));

  SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
  std::mt19937_64 gen(8);
  std::uniform_int_distribution<Id> pick(0, rows - 1);
  std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
  for (int t = 0; t < 6; ++t) {
    grad.clear();
    // Random ids, plus the first and last rows and a run of neighbours at some steps: the
    // stretches between touched rows may be empty, at either end, or the whole table.
    std::vector<Id> ids;
    if (t != 3) {
      for (int i = 0; i < 8; ++i) ids.push_back(pick(gen));
      if (t % 2 == 0) ids.insert(ids.end(), {0, rows - 1, 10, 11, 12});
    }
    for (Id id : ids) {
      dare_test::fill_uniform(g.data(), TestType::dim, gen);
      grad.add(id, g.data());
    }
    adam.step(grad);
    plain.step(dense_grad(table, grad));
  }
  for (Index r = 0; r < rows; ++r) {
    for (Index k = 0; k < table.dim(); ++k) {
      const auto i = static_cast<std::size_t>(r * TestType::dim + k);
      INFO("row " << r << " col " << k);
      CHECK(table.row(r)[k] == Approx(plain.p[i]).epsilon(1e-6).margin(1e-7));
      CHECK(adam.moment1(r)[k] == Approx(plain.m[i]).epsilon(1e-6).margin(1e-9));
      CHECK(adam.moment2(r)[k] == Approx(plain.v[i]).epsilon(1e-6).margin(1e-12));
    }
    for (Index k = table.dim(); k < table.stride(); ++k) CHECK(table.row(r)[k] == Scalar(0));
  }
}

TEMPLATE_TEST_CASE("the SIMD Adam kernels equal their scalar reference", "[embedding][optimizer]",
                   float, double) {
  using Scalar = TestType;
  const Index n = 3 * static_cast<Index>(xsimd::batch<Scalar>::size) + 5;
  std::mt19937_64 gen(4);
  std::vector<Scalar> p(static_cast<std::size_t>(n)), m(p.size()), v(p.size()), g(p.size());
  dare_test::fill_uniform(p.data(), n, gen);
  dare_test::fill_uniform(m.data(), n, gen, -0.1, 0.1);
  dare_test::fill_uniform(v.data(), n, gen, 0.0, 0.01);
  dare_test::fill_uniform(g.data(), n, gen);
  for (AdamMode mode : {AdamMode::Dense, AdamMode::Lazy}) {
    const auto c = dare::detail::AdamStepCoefficients<Scalar>::make(AdamOptions{}, mode, 3);
    for (const Scalar* grad :
         {static_cast<const Scalar*>(g.data()), static_cast<const Scalar*>(nullptr)}) {
      if (mode == AdamMode::Lazy && !grad) continue;
      auto p1 = p, m1 = m, v1 = v, p2 = p, m2 = m, v2 = v;
      if (mode == AdamMode::Dense) {
        dare::detail::adam_dense_range<true>(p1.data(), m1.data(), v1.data(), grad, n, c);
        dare::detail::adam_dense_range<false>(p2.data(), m2.data(), v2.data(), grad, n, c);
      } else {
        dare::detail::adam_lazy_row(p1.data(), m1.data(), v1.data(), grad, n, c);
        for (Index i = 0; i < n; ++i) dare::detail::adam_lazy_lane(p2[i], m2[i], v2[i], g[i], c);
      }
      for (std::size_t i = 0; i < p.size(); ++i) {
        CHECK(p1[i] == Approx(p2[i]).epsilon(1e-6));
        CHECK(m1[i] == Approx(m2[i]).epsilon(1e-6));
        CHECK(v1[i] == Approx(v2[i]).epsilon(1e-6));
        REQUIRE(p1[i] != p[i]);  // every lane was updated
      }
    }
  }
}

TEMPLATE_TEST_CASE("Lazy Adam leaves untouched rows exactly as they were, Dense moves them",
                   "[embedding][optimizer]", dare_test::Fixed16, dare_test::Dynamic7) {
  using Scalar = typename TestType::Scalar;
  using Table = EmbeddingTable<Scalar, TestType::Dim>;
  Table lazy_table(12, TestType::dim);
  lazy_table.init_normal(Scalar(0.1), 2);
  Table dense_table = lazy_table;
  TableAdam lazy(lazy_table, AdamOptions{}, AdamMode::Lazy);
  TableAdam dense(dense_table, AdamOptions{}, AdamMode::Dense);
  SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
  std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
  std::mt19937_64 gen(5);

  // Step 1 touches rows 2 and 5; step 2 touches only row 5.
  for (Id id : {2, 5}) {
    dare_test::fill_uniform(g.data(), TestType::dim, gen);
    grad.add(id, g.data());
  }
  lazy.step(grad);
  dense.step(grad);
  const Table lazy_after_1 = lazy_table;
  const std::vector<Scalar> m2(lazy.moment1(2), lazy.moment1(2) + TestType::dim);
  const std::vector<Scalar> v2(lazy.moment2(2), lazy.moment2(2) + TestType::dim);
  const Table dense_after_1 = dense_table;
  grad.clear();
  dare_test::fill_uniform(g.data(), TestType::dim, gen);
  grad.add(5, g.data());
  lazy.step(grad);
  dense.step(grad);

  // Lazy: row 2 (untouched at step 2) keeps value and moments bit for bit; rows never
  // touched stay as initialised with zero moments.
  CHECK(std::memcmp(lazy_table.row(2), lazy_after_1.row(2), sizeof(Scalar) * TestType::dim) == 0);
  CHECK(std::memcmp(lazy.moment1(2), m2.data(), sizeof(Scalar) * TestType::dim) == 0);
  CHECK(std::memcmp(lazy.moment2(2), v2.data(), sizeof(Scalar) * TestType::dim) == 0);
  CHECK(lazy.moment1(0)[0] == Scalar(0));
  // Dense: row 2 kept moving on its decayed momentum, and its moments decayed.
  for (Index k = 0; k < TestType::dim; ++k) {
    CHECK(dense_table.row(2)[k] != dense_after_1.row(2)[k]);
    CHECK(dense.moment1(2)[k] ==
          Approx(Scalar(0.9) * m2[static_cast<std::size_t>(k)]).epsilon(1e-6));
    // Moving in the direction opposite to the gradient seen at step 1 (the sign of m).
    CHECK((dense_table.row(2)[k] - dense_after_1.row(2)[k]) * m2[static_cast<std::size_t>(k)] < 0);
  }
  // Both: rows never touched do not move (their m is zero).
  CHECK(std::memcmp(dense_table.row(0), lazy_table.row(0), sizeof(Scalar) * TestType::dim) == 0);
  // An empty gradient is still a step (PyTorch increments the count); Lazy changes nothing.
  grad.clear();
  const Table lazy_before_empty = lazy_table;
  lazy.step(grad);
  CHECK(lazy.step_count() == 3);
  CHECK(rows_bitwise_equal(lazy_table, lazy_before_empty));
}

TEMPLATE_TEST_CASE("Adam state round-trips and training resumes bit for bit",
                   "[embedding][optimizer][io]", dare_test::Fixed16, dare_test::Dynamic7) {
  using Scalar = typename TestType::Scalar;
  using Table = EmbeddingTable<Scalar, TestType::Dim>;
  for (AdamMode mode : {AdamMode::Dense, AdamMode::Lazy}) {
    Table table(15, TestType::dim);
    table.init_normal(Scalar(0.1), 9);
    TableAdam adam(table, AdamOptions{0.02, 0.8, 0.99, 1e-7}, mode);
    SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
    std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
    std::mt19937_64 gen(10);
    std::uniform_int_distribution<Id> pick(0, 14);
    const auto batch = [&] {
      grad.clear();
      for (int i = 0; i < 5; ++i) {
        dare_test::fill_uniform(g.data(), TestType::dim, gen);
        grad.add(pick(gen), g.data());
      }
    };
    for (int t = 0; t < 2; ++t) {
      batch();
      adam.step(grad);
    }
    dare_test::TempPath table_path("adam_table"), state_path("adam_state");
    table.save(table_path.str());
    adam.save(state_path.str());

    Table table2 = Table::load(table_path.str());
    TableAdam resumed(table2, AdamOptions{}, mode);
    resumed.load(state_path.str());
    CHECK(resumed.step_count() == 2);
    CHECK(resumed.options().beta1 == 0.8);
    CHECK(resumed.options().eps == 1e-7);
    for (int t = 0; t < 2; ++t) {
      batch();
      adam.step(grad);
      resumed.step(grad);
    }
    CHECK(rows_bitwise_equal(table, table2));
    for (Index r = 0; r < table.rows(); ++r) {
      CHECK(std::memcmp(adam.moment1(r), resumed.moment1(r), sizeof(Scalar) * TestType::dim) == 0);
      CHECK(std::memcmp(adam.moment2(r), resumed.moment2(r), sizeof(Scalar) * TestType::dim) == 0);
    }
  }
}

TEST_CASE("Adam state files with the wrong mode, cut short or corrupted are rejected",
          "[embedding][optimizer][io]") {
  EmbeddingTable<float, Dynamic> table(6, 3);
  table.init_normal(0.1f, 1);
  TableAdam dense(table, AdamOptions{}, AdamMode::Dense);
  SparseGrad<float, Dynamic> grad(3);
  const float g[3] = {0.1f, -0.2f, 0.3f};
  grad.add(4, g);
  dense.step(grad);
  std::ostringstream os;
  dense.save(os);
  const std::string good = os.str();

  TableAdam lazy(table, AdamOptions{}, AdamMode::Lazy);
  std::istringstream is(good);
  CHECK_THROWS_WITH(lazy.load(is, "adam.state"),
                    Catch::Contains("adam.state") && Catch::Contains("'mode'") &&
                        Catch::Contains("Dense") && Catch::Contains("Lazy"));

  TableAdam fresh(table);
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::istringstream cut(good.substr(0, n));
    INFO("prefix of " << n << " bytes");
    CHECK_THROWS_WITH(fresh.load(cut, "adam.state"), Catch::Contains("truncated"));
  }
  std::string bad = good;
  bad[good.size() - 20] ^= 0x40;  // inside v
  CHECK(format_error_field([&] {
          std::istringstream s(bad);
          fresh.load(s, "adam.state");
        }) == "checksum");
  // Header layout: magic 8, version 4, kind 4, scalar size 4, rows 8, dim 8, mode 4, then lr.
  bad = good;
  const double negative_lr = -1.0;
  std::memcpy(&bad[40], &negative_lr, 8);  // the host is little-endian in this test
  CHECK(format_error_field([&] {
          std::istringstream s(bad);
          fresh.load(s, "adam.state");
        }) == "lr");
  CHECK(fresh.step_count() == 0);  // every failed load left it untouched
  CHECK(fresh.moment1(4)[0] == 0.0f);
}

TEST_CASE("Adam state with NaN moments or a negative second moment is rejected despite a valid checksum",
          "[embedding][optimizer][io]") {
  EmbeddingTable<float, Dynamic> table(6, 3);
  TableAdam adam(table, AdamOptions{}, AdamMode::Dense);
  std::ostringstream os;
  adam.save(os);
  const std::string good = os.str();
  // The record ends with m and v (6 x 3 floats each), then the checksum of all after the magic.
  const std::size_t v_at = good.size() - 8 - 18 * 4;
  const std::size_t m_at = v_at - 18 * 4;
  const auto forged = [&](std::size_t at, float value) {
    std::string bad = good;
    std::memcpy(&bad[at], &value, 4);
    dare::detail::Checksum sum;
    sum.update(reinterpret_cast<const unsigned char*>(bad.data()) + 8, bad.size() - 16);
    const std::uint64_t h = sum.value();
    std::memcpy(&bad[bad.size() - 8], &h, 8);
    return bad;
  };
  const auto load = [&](const std::string& bytes) {
    std::istringstream is(bytes);
    adam.load(is, "adam.state");
  };
  CHECK_NOTHROW(load(forged(v_at + 4, 0.5f)));
  CHECK(format_error_field([&] { load(forged(m_at + 4, std::numeric_limits<float>::quiet_NaN())); }) == "m");
  CHECK(format_error_field([&] { load(forged(v_at + 4, -1.0f)); }) == "v");
  CHECK_THROWS_WITH(load(forged(v_at, std::numeric_limits<float>::infinity())), Catch::Contains("value 0 is inf"));
}

TEST_CASE("Adam state whose step count the next step would overflow is rejected",
          "[embedding][optimizer][io]") {
  // Found with fuzz/table_adam_fuzzer: step = INT64_MAX loaded, then step() overflowed it.
  EmbeddingTable<float, Dynamic> table(6, 3);
  TableAdam adam(table);
  std::ostringstream os;
  adam.save(os);
  std::string bad = os.str();
  // Header layout: magic 8, version 4, kind 4, scalar size 4, rows 8, dim 8, mode 4, four
  // f64 hyperparameters, then the u64 step at 72; the checksum covers [8, size - 8).
  const std::uint64_t step = INT64_MAX;
  std::memcpy(&bad[72], &step, 8);  // the host is little-endian in this test
  dare::detail::Checksum sum;
  sum.update(reinterpret_cast<const unsigned char*>(bad.data()) + 8, bad.size() - 16);
  const std::uint64_t h = sum.value();
  std::memcpy(&bad[bad.size() - 8], &h, 8);
  CHECK(format_error_field([&] {
          std::istringstream s(bad);
          adam.load(s, "adam.state");
        }) == "step");
  CHECK(adam.step_count() == 0);
}

TEST_CASE("Adam rejects bad hyperparameters and ids before changing anything",
          "[embedding][optimizer]") {
  EmbeddingTable<float, 4> table(5);
  table.init_normal(0.1f, 1);
  CHECK_THROWS_WITH(TableAdam(table, AdamOptions{0.1, 1.0, 0.999, 1e-8}), Catch::Contains("beta1"));
  CHECK_THROWS_WITH(TableAdam(table, AdamOptions{0.1, 0.9, -0.1, 1e-8}), Catch::Contains("beta2"));
  CHECK_THROWS_WITH(TableAdam(table, AdamOptions{-0.1, 0.9, 0.999, 1e-8}), Catch::Contains("lr"));
  CHECK_THROWS_WITH(TableAdam(table, AdamOptions{0.1, 0.9, 0.999, -1.0}), Catch::Contains("eps"));

  TableAdam adam(table);
  const auto before = table;
  SparseGrad<float, 4> grad;
  const float g[4] = {1, 1, 1, 1};
  grad.add(2, g);
  grad.add(9, g);
  CHECK_THROWS_WITH(adam.step(grad),
                    Catch::Contains("TableAdam::step") && Catch::Contains("gradient id 9"));
  CHECK(adam.step_count() == 0);
  CHECK(adam.moment1(2)[0] == 0.0f);
  CHECK(rows_bitwise_equal(table, before));
  adam.set_lr(0.5);
  CHECK(adam.options().lr == 0.5);
}

TEST_CASE("deferred Adam saves, loads and resumes as Dense does", "[embedding][optimizer]") {
  EmbeddingTable<float, 16> plain_table(9), table(9);
  plain_table.init_normal(0.1f, 2);
  table.init_normal(0.1f, 2);
  TableAdam plain(plain_table, AdamOptions{}, AdamMode::Dense);
  TableAdam adam(table, AdamOptions{}, AdamMode::Dense);
  adam.set_deferred(true, 1.0);  // every step defers, however many rows it touches
  SparseGrad<float, 16> grad;
  std::vector<float> g(16, 0.25f);
  const auto train = [&](int steps, Id first) {
    for (int t = 0; t < steps; ++t) {
      grad.clear();
      grad.add(static_cast<Id>((first + t) % 3), g.data());
      plain.step(grad);
      adam.step(grad);
    }
  };
  train(5, 0);
  CHECK_FALSE(adam.synchronized());
  std::ostringstream refused;
  CHECK_THROWS_WITH(adam.save(refused), Catch::Contains("synchronize()"));
  adam.synchronize();
  std::ostringstream a, b;
  plain.save(a);
  adam.save(b);
  CHECK(a.str() == b.str());

  // Loading leaves every row current; training on agrees with Dense bit for bit.
  train(4, 1);
  std::istringstream in(b.str());
  adam.load(in, "adam.state");
  std::istringstream in_plain(a.str());
  plain.load(in_plain, "adam.state");
  CHECK(adam.synchronized());
  CHECK(adam.deferred());
  // The tables must match the state again: restore both to the saved point's values.
  for (Index r = 0; r < 9; ++r) std::copy_n(table.row(r), 16, plain_table.row(r));
  train(7, 2);
  adam.synchronize();
  for (Index r = 0; r < 9; ++r) CHECK(dare_test::adam_row_bitwise_equal(plain_table, plain, table, adam, r));

  // Turning deferral off brings every row up to date first.
  train(3, 0);
  CHECK_FALSE(adam.synchronized());
  adam.set_deferred(false);
  CHECK(adam.synchronized());
  for (Index r = 0; r < 9; ++r) CHECK(dare_test::adam_row_bitwise_equal(plain_table, plain, table, adam, r));
}

TEST_CASE("deferred Adam refuses Lazy mode and bad ids", "[embedding][optimizer]") {
  EmbeddingTable<float, 4> table(5);
  TableAdam lazy(table, AdamOptions{}, AdamMode::Lazy);
  CHECK_THROWS_WITH(lazy.set_deferred(true), Catch::Contains("AdamMode::Dense"));
  TableAdam adam(table, AdamOptions{}, AdamMode::Dense);
  CHECK_THROWS_WITH(adam.set_deferred(true, 0.0), Catch::Contains("stream_share must be in (0, 1]"));
  adam.set_deferred(true, 1.0);  // every step defers, however many rows it touches
  SparseGrad<float, 4> grad;
  const float g[4] = {1, 1, 1, 1};
  grad.add(1, g);
  adam.step(grad);
  const Id bad[2] = {2, 5};
  CHECK_THROWS_WITH(adam.prepare(bad, 2), Catch::Contains("id 5") && Catch::Contains("[0, 5)"));
}


TEMPLATE_TEST_CASE("deferred Dense Adam is Dense Adam bit for bit", "[embedding][optimizer]",
                   dare_test::Fixed16, dare_test::Dynamic7, dare_test::Fixed3d) {
  for (const double share : {1.0, 0.1}) {
    INFO("stream share " << share);
    CHECK(dare_test::check_deferred_adam<typename TestType::Scalar, TestType::Dim>(TestType::dim, share) == "");
  }
}

TEMPLATE_TEST_CASE("replaying idle steps in registers equals running them one by one", "[embedding][optimizer]",
                   float, double) {
  CHECK(dare_test::check_adam_replay<xsimd::default_arch, TestType>() == "");
}
