#include "dare/embedding/adagrad.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "embedding_test_util.hpp"

using dare::AdagradOptions;
using dare::Dynamic;
using dare::EmbeddingTable;
using dare::Index;
using dare::SparseAdagrad;
using dare::SparseGrad;

TEST_CASE("Adagrad follows PyTorch's update for three steps", "[embedding][optimizer]") {
  // sum += g^2; p -= lr * g / (sqrt(sum) + eps), lr = 0.1, eps = 1e-10. Row 0 starts at 1
  // with sum 0; row 1 starts at 2 with an initial accumulator of 0.1 (second table).
  //   g = 0.5: sum 0.25, p = 1 - 0.1 * 0.5 / 0.5000000001              = 0.90000000002
  //   g = 0.5: sum 0.5,  p -= 0.1 * 0.5 / (sqrt(0.5) + 1e-10)           = 0.8292893219113453
  //   g = -1:  sum 1.5,  p += 0.1 / (sqrt(1.5) + 1e-10)                 = 0.9109389799974512
  // With initial accumulator 0.1, from p = 2: sums 0.35, 0.6, 1.6 and
  //   p = 1.9154845745414342, 1.8509348521129771, 1.9299917936109365.
  const double grads[3] = {0.5, 0.5, -1.0};
  const double expected0[3] = {0.90000000002, 0.8292893219113453, 0.9109389799974512};
  const double expected_sum0[3] = {0.25, 0.5, 1.5};
  const double expected1[3] = {1.9154845745414342, 1.8509348521129771, 1.9299917936109365};

  EmbeddingTable<double, Dynamic> table(3, 1), table1(2, 1);
  table.row(0)[0] = 1.0;
  table.row(2)[0] = 5.0;
  table1.row(1)[0] = 2.0;
  SparseAdagrad adagrad(table, AdagradOptions{0.1, 1e-10, 0.0});
  SparseAdagrad adagrad1(table1, AdagradOptions{0.1, 1e-10, 0.1});
  CHECK(adagrad1.sum(0)[0] == 0.1);
  SparseGrad<double, Dynamic> grad(1), grad1(1);
  for (int t = 0; t < 3; ++t) {
    grad.clear();
    grad.add(0, &grads[t]);
    adagrad.step(grad);
    grad1.clear();
    grad1.add(1, &grads[t]);
    adagrad1.step(grad1);
    CHECK(table.row(0)[0] == Approx(expected0[t]).epsilon(1e-14));
    CHECK(adagrad.sum(0)[0] == Approx(expected_sum0[t]).epsilon(1e-14));
    CHECK(table1.row(1)[0] == Approx(expected1[t]).epsilon(1e-14));
  }
  CHECK(table.row(2)[0] == 5.0);  // untouched: no change, as in PyTorch's dense update
  CHECK(adagrad.sum(2)[0] == 0.0);
  CHECK(adagrad1.sum(0)[0] == 0.1);
}

TEMPLATE_TEST_CASE("Adagrad over every width agrees with a plain loop", "[embedding][optimizer]",
                   dare_test::Fixed16, dare_test::Dynamic7, dare_test::Dynamic16) {
  using Scalar = typename TestType::Scalar;
  EmbeddingTable<Scalar, TestType::Dim> table(30, TestType::dim);
  table.init_normal(Scalar(0.1), 5);
  auto expected = table;
  std::vector<double> sums(static_cast<std::size_t>(30 * TestType::dim), 0.0);
  SparseAdagrad adagrad(table, AdagradOptions{0.05, 1e-10, 0.0});
  SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
  std::mt19937_64 gen(6);
  std::uniform_int_distribution<dare::Id> pick(0, 29);
  std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
  for (int t = 0; t < 4; ++t) {
    grad.clear();
    for (int i = 0; i < 12; ++i) {
      dare_test::fill_uniform(g.data(), TestType::dim, gen);
      grad.add(pick(gen), g.data());
    }
    adagrad.step(grad);
    for (Index s = 0; s < grad.size(); ++s)
      for (Index k = 0; k < table.dim(); ++k) {
        const double gk = grad.row(s)[k];
        double& sum = sums[static_cast<std::size_t>(grad.id(s) * TestType::dim + k)];
        sum += gk * gk;
        expected.row(grad.id(s))[k] -= static_cast<Scalar>(0.05 * gk / (std::sqrt(sum) + 1e-10));
      }
  }
  for (Index r = 0; r < table.rows(); ++r)
    for (Index k = 0; k < table.dim(); ++k) {
      CHECK(table.row(r)[k] == Approx(expected.row(r)[k]).epsilon(1e-5).margin(1e-6));
      CHECK(adagrad.sum(r)[k] ==
            Approx(sums[static_cast<std::size_t>(r * TestType::dim + k)]).epsilon(1e-5));
    }
}

TEST_CASE("Adagrad state round-trips and training resumes identically",
          "[embedding][optimizer][io]") {
  EmbeddingTable<float, Dynamic> table(10, 5);
  table.init_normal(0.1f, 3);
  SparseAdagrad adagrad(table, AdagradOptions{0.2, 1e-10, 0.05});
  SparseGrad<float, Dynamic> grad(5);
  std::mt19937_64 gen(1);
  std::vector<float> g(5);
  const auto batch = [&] {
    grad.clear();
    for (dare::Id id : {1, 4, 9, 4}) {
      dare_test::fill_uniform(g.data(), 5, gen);
      grad.add(id, g.data());
    }
  };
  batch();
  adagrad.step(grad);

  std::stringstream ss;
  table.save(ss);
  adagrad.save(ss);
  auto table2 = EmbeddingTable<float, Dynamic>::load(ss, "ckpt");
  SparseAdagrad resumed(table2, AdagradOptions{1.0, 1e-3, 0.0});  // overwritten by load
  resumed.load(ss, "ckpt");
  CHECK(resumed.options().lr == 0.2);
  CHECK(resumed.options().initial_accumulator == 0.05);
  for (int t = 0; t < 2; ++t) {
    batch();
    adagrad.step(grad);
    resumed.step(grad);
  }
  for (Index r = 0; r < table.rows(); ++r)
    for (Index k = 0; k < table.dim(); ++k) {
      CHECK(table.row(r)[k] == table2.row(r)[k]);
      CHECK(adagrad.sum(r)[k] == resumed.sum(r)[k]);
    }

  std::ostringstream os;
  adagrad.save(os);
  const std::string good = os.str();
  for (std::size_t n = 0; n < good.size(); n += 7) {
    std::istringstream cut(good.substr(0, n));
    INFO("prefix of " << n << " bytes");
    CHECK_THROWS_WITH(resumed.load(cut, "cut"), Catch::Contains("truncated"));
  }
  CHECK(resumed.sum(1)[0] == adagrad.sum(1)[0]);  // failed loads left the state alone
  CHECK_THROWS_WITH(SparseAdagrad(table, AdagradOptions{0.1, -1.0, 0.0}), Catch::Contains("eps"));
  CHECK_THROWS_WITH(SparseAdagrad(table, AdagradOptions{0.1, 1e-10, -0.5}),
                    Catch::Contains("initial_accumulator"));
}
