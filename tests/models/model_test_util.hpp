// Shared fixtures of the model tests: batches with their own storage, a tiny configuration,
// and gradient checks against central differences that walk every table and dense parameter.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "dare/models.hpp"

namespace dare_test {

// A batch with its own storage: random windows with some left padding, in groups of three
// samples sharing one window (as a positive and its two negatives do), and a random cluster
// (0..3) per position for the models that attend to clusters.
struct OwnedBatch {
  dare::Index size, len;
  std::vector<dare::Id> hist_item, hist_cat, target_item, target_cat;
  std::vector<int> label;
  std::vector<std::int32_t> hist_group;

  OwnedBatch(dare::Index b, dare::Index l, dare::Index items, dare::Index cats, std::uint64_t seed)
      : size(b), len(l), hist_item(b * l), hist_cat(b * l), target_item(b), target_cat(b), label(b), hist_group(b * l) {
    std::mt19937_64 group_gen(seed + 1000);
    for (auto& g : hist_group) g = static_cast<std::int32_t>(group_gen() % 4);
    for (dare::Index s = 0; s < b; ++s) {
      if (s % 3 != 0) std::copy_n(hist_group.begin() + (s - 1) * l, l, hist_group.begin() + s * l);
    }
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<dare::Id> item(1, static_cast<dare::Id>(items - 1));
    std::uniform_int_distribution<dare::Id> cat(1, static_cast<dare::Id>(cats - 1));
    for (dare::Index s = 0; s < b; ++s) {
      if (s % 3 != 0) {
        std::copy_n(hist_item.begin() + (s - 1) * l, l, hist_item.begin() + s * l);
        std::copy_n(hist_cat.begin() + (s - 1) * l, l, hist_cat.begin() + s * l);
      } else {
        const dare::Index pad = static_cast<dare::Index>(gen() % static_cast<std::uint64_t>(l / 2 + 1));
        for (dare::Index j = pad; j < l; ++j) {
          hist_item[s * l + j] = item(gen);
          hist_cat[s * l + j] = cat(gen);
        }
      }
      target_item[s] = item(gen);
      target_cat[s] = cat(gen);
      label[s] = static_cast<int>(s % 2);
    }
  }
  dare::SequenceBatch view() const {
    dare::SequenceBatch v;
    v.size = size;
    v.max_len = len;
    v.hist_item = hist_item.data();
    v.hist_cat = hist_cat.data();
    v.target_item = target_item.data();
    v.target_cat = target_cat.data();
    v.label = label.data();
    v.hist_group = hist_group.data();
    return v;
  }
};

inline dare::ModelConfig tiny_config(dare::Index att, dare::Index repr) {
  dare::ModelConfig c;
  c.num_items = 13;
  c.num_cats = 6;
  c.num_times = 9;
  c.att_dim = att;
  c.repr_dim = repr;
  c.max_len = 7;
  c.top_k = 3;
  c.hidden = {5, 4};
  c.aux_hidden = {4};
  c.scorer_hidden = 5;
  c.init_sigma = 0.4;
  c.seed = 11;
  return c;
}

// A dense copy (rows x dim) of a sparse gradient.
template <class Grad>
std::vector<double> dense_grad(const Grad& grad, dare::Index rows, dare::Index dim) {
  std::vector<double> out(static_cast<std::size_t>(rows * dim), 0.0);
  for (dare::Index slot = 0; slot < grad.size(); ++slot) {
    for (dare::Index c = 0; c < dim; ++c) out[static_cast<std::size_t>(grad.id(slot) * dim + c)] += grad.row(slot)[c];
  }
  return out;
}

// Every gradient of every table and dense parameter against central differences of the
// total loss.
template <class Model>
void check_all_gradients(Model& model, const OwnedBatch& batch) {
  const double eps = 1e-6;
  auto loss = [&] { return model.forward_backward(batch.view()).total(); };
  model.forward_backward(batch.view());
  // Copy the gradients first: every probe below recomputes them.
  std::vector<std::vector<double>> table_grads;
  model.for_each_table([&](auto& table, const auto& grad, const std::string&) {
    table_grads.push_back(dense_grad(grad, table.rows(), table.dim()));
  });
  std::vector<dare::nn::Matrix<double>> dense;
  for (auto* p : model.parameters()) dense.push_back(p->grad);
  std::size_t t = 0;
  int probed = 0;
  model.for_each_table([&](auto& table, const auto&, const std::string& name) {
    const auto& analytic = table_grads[t++];
    for (dare::Index id = 0; id < table.rows(); ++id) {
      for (dare::Index c = 0; c < table.dim(); ++c) {
        double& x = table.row(id)[c];
        const double saved = x;
        x = saved + eps;
        const double up = loss();
        x = saved - eps;
        const double down = loss();
        x = saved;
        const double numeric = (up - down) / (2 * eps);
        const double a = analytic[static_cast<std::size_t>(id * table.dim() + c)];
        INFO(model.kind() << " table " << name << " row " << id << " component " << c << ": analytic " << a
                          << ", numeric " << numeric);
        CHECK(std::abs(a - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
        probed += a != 0.0 ? 1 : 0;
      }
    }
  });
  CHECK(probed > 0);
  auto params = model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto& value = params[i]->value;
    for (dare::Index k = 0; k < value.size(); ++k) {
      const double saved = value(k);
      value(k) = saved + eps;
      const double up = loss();
      value(k) = saved - eps;
      const double down = loss();
      value(k) = saved;
      const double numeric = (up - down) / (2 * eps);
      const double a = dense[i](k);
      INFO(model.kind() << " " << params[i]->name << "[" << k << "]: analytic " << a << ", numeric " << numeric);
      CHECK(std::abs(a - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
    }
  }
}

template <class Table>
void copy_table(const Table& from, Table& to) {
  REQUIRE(from.rows() == to.rows());
  for (dare::Index id = 0; id < from.rows(); ++id) {
    std::copy(from.row(id), from.row(id) + from.dim(), to.row(id));
  }
}

}  // namespace dare_test
