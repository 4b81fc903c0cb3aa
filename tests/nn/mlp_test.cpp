#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "dare/nn/loss.hpp"
#include "dare/nn/mlp.hpp"
#include "nn/finite_difference.hpp"

namespace {
using Matrix = dare::nn::Matrix<double>;

Matrix random_matrix(std::mt19937_64& rng, dare::Index rows, dare::Index cols) {
  Matrix m(rows, cols);
  const auto v = dare_test::uniform(rng, static_cast<std::size_t>(rows * cols), -2, 2);
  for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = v[static_cast<std::size_t>(i)];
  return m;
}

dare::nn::MlpOptions with_batch_norm(bool on, const std::string& name = "mlp") {
  dare::nn::MlpOptions o;
  o.input_batch_norm = on;
  o.name = name;
  return o;
}
}  // namespace

TEST_CASE("an MLP head has the reference's layers, names and parameter kinds", "[nn][mlp]") {
  dare::nn::Mlp<float> head(144, {200, 80}, 2, with_batch_norm(true, "main"));
  CHECK(head.in() == 144);
  CHECK(head.out() == 2);
  CHECK(head.num_linear() == 3);
  const auto params = head.parameters();
  std::vector<std::string> names;
  for (auto* p : params) names.push_back(p->name);
  CHECK(names == std::vector<std::string>{"main.batch_norm.weight", "main.batch_norm.bias", "main.linear0.weight",
                                          "main.linear0.bias", "main.prelu0.weight", "main.linear1.weight",
                                          "main.linear1.bias", "main.prelu1.weight", "main.linear2.weight",
                                          "main.linear2.bias"});
  for (auto* p : params) {
    INFO(p->name);
    const bool is_weight = p->name.find("linear") != std::string::npos && p->name.find(".weight") != std::string::npos;
    CHECK(p->decay == is_weight);
  }
  CHECK(head.linear(1).weight().value.rows() == 80);
  CHECK(head.linear(1).weight().value.cols() == 200);
  CHECK(head.prelu(0).slope().value(0, 0) == 0.1f);
  CHECK(head.buffers().size() == 2);

  dare::nn::Mlp<float> aux(96, {200}, 2);
  CHECK(aux.parameters().size() == 5);
  CHECK(aux.buffers().empty());
  CHECK_THROWS_AS(aux.batch_norm(), std::invalid_argument);
  CHECK_THROWS_AS(dare::nn::Mlp<float>(96, {200, 0}, 2), std::invalid_argument);
}

TEST_CASE("MLP init is seeded per layer", "[nn][mlp]") {
  dare::nn::Mlp<float> a(10, {8}, 2), b(10, {8}, 2);
  a.init_normal(0.01f, 5);
  b.init_normal(0.01f, 5);
  CHECK(a.linear(0).weight().value == b.linear(0).weight().value);
  CHECK(a.linear(1).weight().value == b.linear(1).weight().value);
  b.init_normal(0.01f, 6);
  CHECK(a.linear(0).weight().value != b.linear(0).weight().value);
  // Layers of one MLP use different streams.
  CHECK(a.linear(0).weight().value.topLeftCorner(2, 8) != a.linear(1).weight().value.topLeftCorner(2, 8));
}

TEST_CASE("MLP with cross entropy: end-to-end gradients match finite differences", "[nn][mlp]") {
  std::mt19937_64 rng(12);
  for (bool bn : {true, false}) {
    INFO("input batch norm: " << bn);
    dare::nn::Mlp<double> mlp(6, {5, 4}, 2, with_batch_norm(bn));
    mlp.init_normal(0.7, 3);
    for (auto* p : mlp.parameters()) {
      if (p->name.find(".bias") != std::string::npos) p->value = random_matrix(rng, p->value.rows(), 1) * 0.1;
    }
    Matrix x = random_matrix(rng, 6, 7);
    const int labels[7] = {1, 0, 0, 1, 1, 0, 1};
    dare::nn::SoftmaxCrossEntropy<double> ce;
    auto loss = [&] {
      std::vector<Matrix> saved;
      for (auto* b : mlp.buffers()) saved.push_back(b->value);
      Matrix y;
      mlp.forward(x, y);
      for (std::size_t i = 0; i < saved.size(); ++i) mlp.buffers()[i]->value = saved[i];
      return static_cast<double>(ce.forward(y, labels));
    };
    Matrix y, dy, dx;
    mlp.forward(x, y);
    ce.forward_backward(y, labels, dy);
    mlp.backward(dy, &dx);
    CHECK(dare_test::relative_error(dx.data(), dare_test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
    for (auto* p : mlp.parameters()) {
      INFO(p->name);
      CHECK(dare_test::relative_error(p->grad.data(), dare_test::numeric_gradient(p->value.data(), p->value.size(), loss)) < 1e-6);
    }

    // Without dx the parameter gradients are the same (accumulated once more).
    std::vector<Matrix> before;
    for (auto* p : mlp.parameters()) before.push_back(p->grad);
    mlp.forward(x, y);
    mlp.backward(dy, nullptr);
    const auto params = mlp.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) CHECK(params[i]->grad.isApprox(2 * before[i], 1e-12));
  }
}

TEST_CASE("MLP inference mode uses the BatchNorm running statistics", "[nn][mlp]") {
  std::mt19937_64 rng(2);
  dare::nn::Mlp<double> mlp(3, {4}, 2, with_batch_norm(true));
  const Matrix x = random_matrix(rng, 3, 6);
  Matrix y_train, y_eval, y_single;
  mlp.forward(x, y_train);
  mlp.set_training(false);
  mlp.forward(x, y_eval);
  CHECK_FALSE(y_eval.isApprox(y_train));
  // In inference each column is scored on its own: a batch of one gives the same column.
  mlp.forward(x.col(2), y_single);
  CHECK(y_single.isApprox(y_eval.col(2), 1e-14));
}
