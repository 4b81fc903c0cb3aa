#include "dare/embedding/sgd.hpp"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "embedding_test_util.hpp"

using dare::Dynamic;
using dare::EmbeddingTable;
using dare::Index;
using dare::SparseGrad;
using dare::SparseSgd;

TEST_CASE("SGD moves touched rows by -lr times the summed gradient", "[embedding][optimizer]") {
  EmbeddingTable<double, 3> table(4);
  const double init[3] = {1.0, -2.0, 0.5};
  std::copy(init, init + 3, table.row(1));
  table.row(2)[0] = 7.0;
  SparseSgd sgd(table, 0.1);
  SparseGrad<double, 3> grad;
  const double g1[3] = {0.5, 0.25, -1.0};
  const double g2[3] = {0.5, 0.0, 0.0};
  grad.add(1, g1);
  grad.add(1, g2);  // duplicate id: the row sees g = (1, 0.25, -1)

  sgd.step(grad);  // p = (1 - 0.1, -2 - 0.025, 0.5 + 0.1)
  CHECK(table.row(1)[0] == Approx(0.9).epsilon(1e-15));
  CHECK(table.row(1)[1] == Approx(-2.025).epsilon(1e-15));
  CHECK(table.row(1)[2] == Approx(0.6).epsilon(1e-15));
  sgd.step(grad);  // p = (0.8, -2.05, 0.7)
  CHECK(table.row(1)[0] == Approx(0.8).epsilon(1e-15));
  CHECK(table.row(1)[1] == Approx(-2.05).epsilon(1e-15));
  CHECK(table.row(1)[2] == Approx(0.7).epsilon(1e-15));
  CHECK(table.row(2)[0] == 7.0);  // untouched rows do not move
  CHECK(table.row(0)[0] == 0.0);
}

TEMPLATE_TEST_CASE("SGD over every width agrees with a plain loop", "[embedding][optimizer]",
                   dare_test::Fixed16, dare_test::Dynamic7, dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  EmbeddingTable<Scalar, TestType::Dim> table(20, TestType::dim);
  table.init_normal(Scalar(1), 4);
  auto expected = table;
  SparseSgd sgd(table, 0.05);
  SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
  std::mt19937_64 gen(2);
  std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
  for (dare::Id id : {3, 19, 0, 3}) {
    dare_test::fill_uniform(g.data(), TestType::dim, gen);
    grad.add(id, g.data());
  }
  sgd.step(grad);
  for (Index s = 0; s < grad.size(); ++s)
    for (Index k = 0; k < table.dim(); ++k)
      expected.row(grad.id(s))[k] -= Scalar(0.05) * grad.row(s)[k];
  for (Index r = 0; r < table.rows(); ++r)
    for (Index k = 0; k < table.dim(); ++k)
      CHECK(table.row(r)[k] == Approx(expected.row(r)[k]).epsilon(1e-6));
}

TEST_CASE("SGD rejects bad ids and learning rates before changing anything",
          "[embedding][optimizer]") {
  EmbeddingTable<float, Dynamic> table(5, 2);
  table.init_normal(1.0f, 1);
  const auto before = table;
  SparseSgd sgd(table, 0.1);
  SparseGrad<float, Dynamic> grad(2);
  const float g[2] = {1.0f, 1.0f};
  grad.add(1, g);
  grad.add(5, g);
  CHECK_THROWS_WITH(sgd.step(grad), Catch::Contains("gradient id 5") && Catch::Contains("[0, 5)"));
  for (Index k = 0; k < 2; ++k) CHECK(table.row(1)[k] == before.row(1)[k]);
  SparseGrad<float, Dynamic> wide(3);
  CHECK_THROWS_WITH(sgd.step(wide), Catch::Contains("gradient dim 3"));
  CHECK_THROWS_WITH(SparseSgd(table, -1.0), Catch::Contains("lr"));
  CHECK_THROWS_WITH(sgd.set_lr(std::nan("")), Catch::Contains("lr"));
}

TEST_CASE("SGD state saves its learning rate and checks what it loads",
          "[embedding][optimizer][io]") {
  EmbeddingTable<float, 4> table(3);
  SparseSgd a(table, 0.25);
  std::stringstream ss;
  a.save(ss);
  SparseSgd b(table, 0.5);
  b.load(ss, "sgd.state");
  CHECK(b.lr() == 0.25);

  EmbeddingTable<float, 4> other(4);
  SparseSgd c(other, 0.5);
  std::istringstream again(ss.str());
  CHECK_THROWS_WITH(c.load(again, "sgd.state"),
                    Catch::Contains("sgd.state") && Catch::Contains("'rows'"));
  CHECK(c.lr() == 0.5);  // unchanged on error

  dare_test::TempPath path("sgd_state");
  a.save(path.str());
  c.set_lr(1.0);
  SparseSgd d(table, 1.0);
  d.load(path.str());
  CHECK(d.lr() == 0.25);
}
