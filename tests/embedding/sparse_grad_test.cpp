#include "dare/embedding/sparse_grad.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "embedding_test_util.hpp"

using dare::Dynamic;
using dare::Id;
using dare::Index;
using dare::SparseGrad;

namespace {

// The reference: a std::map from id to the summed row, in double.
template <class Grad>
void check_equals_reference(const Grad& grad, const std::map<Id, std::vector<double>>& ref,
                            double tol) {
  REQUIRE(grad.size() == static_cast<Index>(ref.size()));
  for (Index s = 0; s < grad.size(); ++s) {
    const auto it = ref.find(grad.id(s));
    REQUIRE(it != ref.end());
    REQUIRE(grad.find(grad.id(s)) == s);
    for (Index k = 0; k < grad.dim(); ++k)
      REQUIRE(static_cast<double>(grad.row(s)[k]) ==
              Approx(it->second[static_cast<std::size_t>(k)]).margin(tol));
    for (Index k = grad.dim(); k < grad.stride(); ++k) REQUIRE(grad.row(s)[k] == 0);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("duplicate ids are summed into one row, slots in first-touch order",
                   "[embedding][sparse_grad]", dare_test::Fixed16, dare_test::Dynamic7,
                   dare_test::Dynamic16, dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
  CHECK(grad.dim() == TestType::dim);
  CHECK(grad.empty());
  std::vector<Scalar> a(static_cast<std::size_t>(TestType::dim)), b(a.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    a[k] = static_cast<Scalar>(k + 1);            // 1, 2, 3, ...
    b[k] = static_cast<Scalar>(0.5 * double(k));  // 0, 0.5, 1, ...
  }
  grad.add(42, a.data());
  grad.add(7, b.data());
  grad.add(42, b.data(), Scalar(2));
  grad.add(42, a.data(), Scalar(-0.5));
  REQUIRE(grad.size() == 2);
  CHECK(grad.id(0) == 42);
  CHECK(grad.id(1) == 7);
  CHECK(grad.find(42) == 0);
  CHECK(grad.find(7) == 1);
  CHECK(grad.find(8) == -1);
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto i = static_cast<Index>(k);
    // 42: a + 2 b - a/2 = (k+1) + k - (k+1)/2, exact in binary.
    CHECK(grad.row(0)[i] == static_cast<Scalar>(double(k + 1) + double(k) - 0.5 * double(k + 1)));
    CHECK(grad.row(1)[i] == b[k]);
  }
  for (Index k = grad.dim(); k < grad.stride(); ++k) CHECK(grad.row(0)[k] == 0);
}

TEST_CASE("row_for returns the same accumulator row, zeroed on first touch",
          "[embedding][sparse_grad]") {
  SparseGrad<float, 4> grad;
  float* r = grad.row_for(3);
  for (int k = 0; k < 4; ++k) CHECK(r[k] == 0.0f);
  r[1] = 2.5f;
  CHECK(grad.row_for(3) == r);
  CHECK(grad.row_for(3)[1] == 2.5f);
  CHECK(grad.size() == 1);
  grad.clear();
  CHECK(grad.size() == 0);
  CHECK(grad.find(3) == -1);
  float* again = grad.row_for(3);
  CHECK(again[1] == 0.0f);  // a reused slot is zeroed again
  CHECK_THROWS_AS(grad.row_for(-1), dare::AssertionError);
  CHECK_THROWS_AS(grad.row(1), dare::AssertionError);
}

TEMPLATE_TEST_CASE("many ids with duplicates match a map-based reference, across clears",
                   "[embedding][sparse_grad]", dare_test::Fixed16, dare_test::Dynamic7,
                   dare_test::Fixed3d) {
  using Scalar = typename TestType::Scalar;
  SparseGrad<Scalar, TestType::Dim> grad(TestType::dim);
  std::mt19937_64 gen(17);
  std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
  for (int round = 0; round < 3; ++round) {
    // Rounds of different sizes: growth (rehash and row buffer) and shrinking after clear.
    const int n = round == 1 ? 300 : 20000;
    const Id range = round == 2 ? 1000 : 4000000;
    std::uniform_int_distribution<Id> pick(0, range - 1);
    std::map<Id, std::vector<double>> ref;
    for (int i = 0; i < n; ++i) {
      const Id id = pick(gen);
      dare_test::fill_uniform(g.data(), TestType::dim, gen);
      grad.add(id, g.data());
      auto& row = ref[id];
      row.resize(g.size(), 0.0);
      for (std::size_t k = 0; k < g.size(); ++k) row[k] += static_cast<double>(g[k]);
    }
    check_equals_reference(grad, ref, 1e-4);
    grad.clear();
  }
}

TEST_CASE("clear keeps every buffer so a steady state never allocates",
          "[embedding][sparse_grad]") {
  SparseGrad<float, Dynamic> grad(16);
  const std::vector<float> g(16, 1.0f);
  for (Id id = 0; id < 5000; ++id) grad.add(id * 7919, g.data());
  const float* first = grad.row(0);
  const float* last = grad.row(4999);
  for (int round = 0; round < 3; ++round) {
    grad.clear();
    for (Id id = 0; id < 5000; ++id) grad.add(id * 104729 + round, g.data());
    CHECK(grad.size() == 5000);
    CHECK(grad.row(0) == first);  // the row buffer was reused, not reallocated
    CHECK(grad.row(4999) == last);
  }
  // reserve() ahead makes row pointers stable while new ids arrive.
  SparseGrad<float, Dynamic> reserved(16);
  reserved.reserve(1000);
  float* p = reserved.row_for(0);
  for (Id id = 1; id < 1000; ++id) reserved.add(id, g.data());
  CHECK(reserved.row(0) == p);
  CHECK_THROWS_AS(reserved.reserve(-1), std::invalid_argument);
}

TEMPLATE_TEST_CASE("merging per-thread accumulators equals accumulating in one",
                   "[embedding][sparse_grad]", dare_test::Fixed16, dare_test::Dynamic7) {
  using Scalar = typename TestType::Scalar;
  using Grad = SparseGrad<Scalar, TestType::Dim>;
  Grad all(TestType::dim), part_a(TestType::dim), part_b(TestType::dim);
  std::mt19937_64 gen(3);
  std::uniform_int_distribution<Id> pick(0, 99);
  std::vector<Scalar> g(static_cast<std::size_t>(TestType::dim));
  for (int i = 0; i < 500; ++i) {
    const Id id = pick(gen);
    dare_test::fill_uniform(g.data(), TestType::dim, gen);
    all.add(id, g.data());
    (i % 2 ? part_a : part_b).add(id, g.data());
  }
  part_a.merge(part_b);
  REQUIRE(part_a.size() == all.size());
  for (Index s = 0; s < all.size(); ++s) {
    const Index t = part_a.find(all.id(s));
    REQUIRE(t >= 0);
    for (Index k = 0; k < all.dim(); ++k)
      CHECK(part_a.row(t)[k] == Approx(all.row(s)[k]).margin(1e-5));
  }
  CHECK_THROWS_WITH(part_a.merge(part_a), Catch::Contains("itself"));
}

TEST_CASE("a gradient's width is checked like a table's", "[embedding][sparse_grad]") {
  CHECK_THROWS_WITH((SparseGrad<float, 16>(8)), Catch::Contains("gradient dim is 8"));
  CHECK_THROWS_AS((SparseGrad<float, Dynamic>()), std::invalid_argument);
  SparseGrad<float, Dynamic> a(4), b(5);
  CHECK_THROWS_WITH(a.merge(b), Catch::Contains("dims differ"));
}

TEST_CASE("prefetching buckets and rows changes no id, slot or bit", "[embedding][sparse_grad]") {
  // The backward asks for the buckets and rows of ids a few adds ahead, present or not.
  SparseGrad<float, 16> plain, hinted;
  std::mt19937 rng(7);
  std::uniform_int_distribution<Id> id(0, 300);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> g(16);
  for (int i = 0; i < 2000; ++i) {
    for (float& x : g) x = u(rng);
    const Id a = id(rng);
    hinted.prefetch(a + 1);
    hinted.prefetch_row(a);
    hinted.prefetch_row(a + 1);
    plain.add(a, g.data(), 0.5f);
    hinted.add(a, g.data(), 0.5f);
  }
  REQUIRE(hinted.size() == plain.size());
  for (Index s = 0; s < plain.size(); ++s) {
    CHECK(hinted.id(s) == plain.id(s));
    CHECK(std::memcmp(hinted.row(s), plain.row(s), 16 * sizeof(float)) == 0);
  }
}
