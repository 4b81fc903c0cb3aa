#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "dare/core/parallel.hpp"
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

namespace {

// The head's output, input gradient and every parameter gradient after one forward and
// backward of (x, dy), with `threads` workers from a pool.
template <class Scalar>
struct HeadRun {
  dare::nn::Matrix<Scalar> y, dx;
  std::vector<dare::nn::Matrix<Scalar>> grads, buffers;
};

template <class Scalar>
HeadRun<Scalar> run_head(dare::nn::Mlp<Scalar>& mlp, const dare::nn::Matrix<Scalar>& x,
                         const dare::nn::Matrix<Scalar>& dy, int threads) {
  dare::WorkerPool pool(threads);
  mlp.set_threads(threads, &pool);
  for (auto* p : mlp.parameters()) p->grad.setZero();
  HeadRun<Scalar> r;
  mlp.forward(x, r.y);
  mlp.backward(dy, &r.dx);
  for (auto* p : mlp.parameters()) r.grads.push_back(p->grad);
  for (auto* b : mlp.buffers()) r.buffers.push_back(b->value);
  mlp.set_threads(1);
  return r;
}

template <class Scalar>
dare::nn::Matrix<Scalar> normal_matrix(std::mt19937_64& rng, dare::Index rows, dare::Index cols) {
  std::normal_distribution<double> normal;
  dare::nn::Matrix<Scalar> m(rows, cols);
  for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(normal(rng));
  return m;
}

}  // namespace

TEST_CASE("MLP heads give the same bits with any number of threads", "[nn][mlp]") {
  // The reference's shapes at the model's batch (DARE 16/16: 144 inputs) and a batch that
  // splits unevenly; both heads' shapes, one slope or one per unit.
  std::mt19937_64 rng(31);
  for (dare::Index batch : {2048, 1001, 40}) {
    for (bool per_channel : {false, true}) {
      for (const std::vector<dare::Index>& hidden : {std::vector<dare::Index>{200, 80}, std::vector<dare::Index>{200}}) {
        INFO("batch " << batch << ", per-channel slopes " << per_channel << ", hidden layers " << hidden.size());
        dare::nn::MlpOptions o = with_batch_norm(true, "head");
        o.prelu_per_channel = per_channel;
        dare::nn::Mlp<float> one(144, hidden, 2, o);
        one.init_normal_all_weights(0.3f, 4);
        const auto x = normal_matrix<float>(rng, 144, batch);
        const auto dy = normal_matrix<float>(rng, 2, batch);
        const HeadRun<float> a = run_head(one, x, dy, 1);
        for (int threads : {2, 3}) {
          INFO(threads << " threads");
          dare::nn::Mlp<float> many(144, hidden, 2, o);
          many.init_normal_all_weights(0.3f, 4);
          const HeadRun<float> b = run_head(many, x, dy, threads);
          CHECK(a.y == b.y);
          CHECK(a.dx == b.dx);
          REQUIRE(a.grads.size() == b.grads.size());
          for (std::size_t i = 0; i < a.grads.size(); ++i) {
            INFO(one.parameters()[i]->name);
            CHECK(a.grads[i] == b.grads[i]);
          }
          CHECK(a.buffers == b.buffers);  // the running statistics' update
        }
      }
    }
  }
}

TEST_CASE("MLP heads compute what their layers compute one after another", "[nn][mlp]") {
  // The Mlp runs its layers in pieces over column blocks and rows; the layers' own forward
  // and backward, chained, are the plain path. Double precision: the two differ only in
  // the order of a few sums.
  std::mt19937_64 rng(8);
  for (bool bn : {true, false}) {
    for (bool training : {true, false}) {
      INFO("batch norm " << bn << ", training " << training);
      dare::nn::MlpOptions o = with_batch_norm(bn, "head");
      o.prelu_per_channel = training;  // both slope kinds, alternately
      dare::nn::Mlp<double> mlp(24, {20, 8}, 2, o);
      mlp.init_normal_all_weights(0.4, 9);
      if (bn) {  // running statistics away from (0, 1), for the inference mode
        mlp.batch_norm().running_mean().value = random_matrix(rng, 24, 1);
        mlp.batch_norm().running_var().value = random_matrix(rng, 24, 1).array().abs() + 0.5;
      }
      mlp.set_training(training);
      dare::nn::BatchNorm1d<double> norm(24);
      norm.set_training(training);
      std::vector<dare::nn::Linear<double>> linears;
      std::vector<dare::nn::PReLU<double>> prelus;
      const dare::Index sizes[] = {24, 20, 8, 2};
      for (int i = 0; i < 3; ++i) {
        linears.emplace_back(sizes[i], sizes[i + 1]);
        linears.back().weight().value = mlp.linear(static_cast<std::size_t>(i)).weight().value;
        linears.back().bias().value = random_matrix(rng, sizes[i + 1], 1);
        mlp.linear(static_cast<std::size_t>(i)).bias().value = linears.back().bias().value;
      }
      for (int i = 0; i < 2; ++i) {
        const auto& slope = mlp.prelu(static_cast<std::size_t>(i)).slope().value;
        prelus.emplace_back(sizes[i + 1], slope.rows());
        prelus.back().slope().value = slope;
      }
      if (bn) {
        norm.gamma().value = mlp.batch_norm().gamma().value;
        norm.beta().value = random_matrix(rng, 24, 1);
        mlp.batch_norm().beta().value = norm.beta().value;
        norm.running_mean().value = mlp.batch_norm().running_mean().value;
        norm.running_var().value = mlp.batch_norm().running_var().value;
      }
      const Matrix x = random_matrix(rng, 24, 300), dy = random_matrix(rng, 2, 300);
      for (auto* p : mlp.parameters()) p->grad.setZero();
      Matrix y, dx;
      mlp.forward(x, y);
      mlp.backward(dy, &dx);

      Matrix h = x, g = dy, y_plain, dx_plain;
      if (bn) norm.forward(x, h);
      for (int i = 0; i < 2; ++i) {
        linears[static_cast<std::size_t>(i)].forward(h, h);
        prelus[static_cast<std::size_t>(i)].forward(h, h);
      }
      linears[2].forward(h, y_plain);
      for (int i = 2; i >= 1; --i) {
        linears[static_cast<std::size_t>(i)].backward(g, &g);
        prelus[static_cast<std::size_t>(i - 1)].backward(g, &g);
      }
      linears[0].backward(g, &g);
      if (bn) {
        norm.backward(g, &dx_plain);
      } else {
        dx_plain = g;
      }
      CHECK(y.isApprox(y_plain, 1e-12));
      CHECK(dx.isApprox(dx_plain, 1e-12));
      for (int i = 0; i < 3; ++i) {
        CHECK(mlp.linear(static_cast<std::size_t>(i)).weight().grad.isApprox(linears[static_cast<std::size_t>(i)].weight().grad, 1e-12));
        CHECK(mlp.linear(static_cast<std::size_t>(i)).bias().grad.isApprox(linears[static_cast<std::size_t>(i)].bias().grad, 1e-12));
      }
      for (int i = 0; i < 2; ++i) {
        CHECK(mlp.prelu(static_cast<std::size_t>(i)).slope().grad.isApprox(prelus[static_cast<std::size_t>(i)].slope().grad, 1e-12));
      }
      if (bn) {
        CHECK(mlp.batch_norm().gamma().grad.isApprox(norm.gamma().grad, 1e-12));
        CHECK(mlp.batch_norm().beta().grad.isApprox(norm.beta().grad, 1e-12));
        CHECK(mlp.batch_norm().running_mean().value.isApprox(norm.running_mean().value, 1e-12));
        CHECK(mlp.batch_norm().running_var().value.isApprox(norm.running_var().value, 1e-12));
      }
    }
  }
}
