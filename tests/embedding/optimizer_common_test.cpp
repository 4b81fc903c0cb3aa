#include "dare/embedding/optimizer_common.hpp"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dare/embedding/adagrad.hpp"
#include "dare/embedding/adam.hpp"
#include "dare/embedding/sgd.hpp"
#include "embedding_test_util.hpp"

using dare::Dynamic;
using dare::EmbeddingTable;
using dare::Index;
using dare_test::format_error_field;

TEST_CASE("optimizer states are rejected by the wrong optimizer or table, naming the field",
          "[embedding][optimizer][io]") {
  EmbeddingTable<float, Dynamic> table(6, 4);
  dare::TableAdam adam(table);
  std::ostringstream os;
  adam.save(os);
  const std::string adam_state = os.str();

  dare::SparseAdagrad adagrad(table);
  std::istringstream is(adam_state);
  CHECK_THROWS_WITH(adagrad.load(is, "opt.bin"),
                    Catch::Contains("opt.bin") && Catch::Contains("'optimizer'") &&
                        Catch::Contains("TableAdam") && Catch::Contains("SparseAdagrad"));

  EmbeddingTable<float, Dynamic> wider(6, 5), taller(7, 4);
  dare::TableAdam adam_wider(wider), adam_taller(taller);
  CHECK(format_error_field([&] {
          std::istringstream s(adam_state);
          adam_wider.load(s, "opt.bin");
        }) == "dim");
  CHECK(format_error_field([&] {
          std::istringstream s(adam_state);
          adam_taller.load(s, "opt.bin");
        }) == "rows");
  EmbeddingTable<double, Dynamic> table_d(6, 4);
  dare::TableAdam adam_d(table_d);
  CHECK(format_error_field([&] {
          std::istringstream s(adam_state);
          adam_d.load(s, "opt.bin");
        }) == "scalar_size");
  std::string bad = adam_state;
  bad[8] = 9;  // version
  CHECK(format_error_field([&] {
          std::istringstream s(bad);
          adam.load(s, "opt.bin");
        }) == "version");
  CHECK(format_error_field([&] {
          std::istringstream s(std::string("DAREEMBT") + adam_state.substr(8));
          adam.load(s, "opt.bin");
        }) == "magic");
}

TEST_CASE("an optimizer can be rebound to a table of the same shape only",
          "[embedding][optimizer]") {
  EmbeddingTable<float, 4> table(3);
  dare::SparseSgd sgd(table, 1.0);
  EmbeddingTable<float, 4> moved = std::move(table);
  sgd.bind(moved);
  CHECK(&sgd.table() == &moved);
  dare::SparseGrad<float, 4> grad;
  const float g[4] = {1, 2, 3, 4};
  grad.add(2, g);
  sgd.step(grad);
  CHECK(moved.row(2)[3] == -4.0f);
  EmbeddingTable<float, 4> bigger(4);
  CHECK_THROWS_WITH(sgd.bind(bigger), Catch::Contains("4 x 4") && Catch::Contains("3 x 4"));
}
