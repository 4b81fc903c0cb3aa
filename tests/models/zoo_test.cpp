// The model zoo: every Table 1 model through the one SequenceModel, its gradients against
// central differences, the equivalences between layouts, the selectors and scorers against
// direct evaluations, threads, serving and checkpoints of every kind.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/models.hpp"
#include "model_test_util.hpp"

namespace {

using dare_test::check_all_gradients;
using dare_test::copy_table;
using dare_test::dense_grad;
using dare_test::OwnedBatch;
using dare_test::tiny_config;
using dare::Role;

// The tiny configuration at the model's fixed widths (the given ones where Dynamic).
template <class Model>
dare::ModelConfig config_for(dare::Index att, dare::Index repr) {
  return tiny_config(Model::AttDim == dare::Dynamic ? att : Model::AttDim,
                     Model::ReprDim == dare::Dynamic ? repr : Model::ReprDim);
}

// Head parameters of equal shapes copied by position (models of different kinds).
template <class A, class B>
void copy_heads(A& from, B& to) {
  auto p = from.head_parameters();
  auto q = to.head_parameters();
  REQUIRE(p.size() == q.size());
  for (std::size_t i = 0; i < p.size(); ++i) q[i]->value = p[i]->value;
}

}  // namespace

TEMPLATE_TEST_CASE("every zoo model's backward pass matches central differences", "[models][zoo][gradient]",
                   (dare::Dare<double, 2, 3>), (dare::Dare<double, dare::Dynamic, dare::Dynamic>),
                   (dare::Twin<double, 3>), (dare::TwinHard<double, 2>), (dare::TwinProj<double, 2>),
                   (dare::TwinNoTR<double, 3>), (dare::Twin4E<double, 2, 3>), (dare::Din<double, 2>),
                   (dare::Eta<double, 2>), (dare::Sdim<double, 2>), (dare::TwinV2<double, 2>),
                   (dare::SequenceModel<double, dare::Decoupled<2, 2>, dare::FullAttention, dare::MlpScorer>)) {
  const OwnedBatch batch(5, 7, 13, 6, 3);
  SECTION("with the auxiliary head") {
    TestType model(config_for<TestType>(2, 3));
    check_all_gradients(model, batch);
  }
  SECTION("without it") {
    auto c = config_for<TestType>(3, 2);
    c.aux_loss = false;
    TestType model(c);
    check_all_gradients(model, batch);
  }
}

TEST_CASE("DARE with tied tables and equal widths computes exactly TWIN", "[models][zoo]") {
  const auto config = tiny_config(3, 3);
  const OwnedBatch batch(6, 7, 13, 6, 9);
  dare::Twin<double, 3> twin(config);
  dare::Dare<double, 3, 3> dare_model(config);
  for (int f = 0; f < 3; ++f) {
    copy_table(twin.table<Role::AttentionHistory>(f), dare_model.table<Role::AttentionHistory>(f));
    copy_table(twin.table<Role::AttentionHistory>(f), dare_model.table<Role::ReprHistory>(f));
  }
  copy_heads(twin, dare_model);

  std::vector<double> prob_twin(6), prob_dare(6);
  const auto loss_twin = twin.forward_backward(batch.view(), prob_twin.data());
  const auto loss_dare = dare_model.forward_backward(batch.view(), prob_dare.data());
  CHECK(loss_twin.main == loss_dare.main);
  CHECK(loss_twin.aux == loss_dare.aux);
  CHECK(prob_twin == prob_dare);

  // TWIN's single-table gradient is the sum of DARE's attention and representation ones.
  const dare::Index rows[] = {13, 6, 9};
  for (int f = 0; f < 3; ++f) {
    const auto lhs = dense_grad(twin.table_grad<Role::AttentionHistory>(f), rows[f], 3);
    const auto att = dense_grad(dare_model.table_grad<Role::AttentionHistory>(f), rows[f], 3);
    const auto repr = dense_grad(dare_model.table_grad<Role::ReprHistory>(f), rows[f], 3);
    for (std::size_t k = 0; k < lhs.size(); ++k) {
      INFO(dare::field_name(f) << " element " << k);
      CHECK(lhs[k] == Approx(att[k] + repr[k]).epsilon(1e-12).margin(1e-15));
    }
  }
  auto tp = twin.head_parameters();
  auto dp = dare_model.head_parameters();
  for (std::size_t i = 0; i < tp.size(); ++i) {
    INFO(tp[i]->name);
    CHECK(tp[i]->grad.isApprox(dp[i]->grad, 1e-12));
  }
}

TEST_CASE("TWIN-4E with all four sets tied computes TWIN and sums its gradients", "[models][zoo]") {
  const auto config = tiny_config(2, 2);
  const OwnedBatch batch(6, 7, 13, 6, 19);
  dare::Twin<double, 2> twin(config);
  dare::Twin4E<double, 2, 2> four(config);
  for (int f = 0; f < 3; ++f) {
    const auto& shared = twin.table<Role::AttentionHistory>(f);
    copy_table(shared, four.table<Role::AttentionTarget>(f));
    copy_table(shared, four.table<Role::AttentionHistory>(f));
    copy_table(shared, four.table<Role::ReprTarget>(f));
    copy_table(shared, four.table<Role::ReprHistory>(f));
  }
  copy_heads(twin, four);
  const auto a = twin.forward_backward(batch.view());
  const auto b = four.forward_backward(batch.view());
  CHECK(a.main == b.main);
  CHECK(a.aux == b.aux);
  // The four sets are distinct objects, each with its own gradient; they sum to TWIN's.
  CHECK(&four.table<Role::AttentionTarget>(0) != &four.table<Role::AttentionHistory>(0));
  CHECK(&four.table<Role::ReprTarget>(0) != &four.table<Role::ReprHistory>(0));
  const dare::Index rows[] = {13, 6, 9};
  for (int f = 0; f < 3; ++f) {
    const auto lhs = dense_grad(twin.table_grad<Role::AttentionHistory>(f), rows[f], 2);
    std::vector<double> sum(lhs.size(), 0.0);
    for (const auto& g : {dense_grad(four.table_grad<Role::AttentionTarget>(f), rows[f], 2),
                          dense_grad(four.table_grad<Role::AttentionHistory>(f), rows[f], 2),
                          dense_grad(four.table_grad<Role::ReprTarget>(f), rows[f], 2),
                          dense_grad(four.table_grad<Role::ReprHistory>(f), rows[f], 2)}) {
      for (std::size_t k = 0; k < sum.size(); ++k) sum[k] += g[k];
    }
    for (std::size_t k = 0; k < lhs.size(); ++k) {
      INFO(dare::field_name(f) << " element " << k);
      CHECK(lhs[k] == Approx(sum[k]).epsilon(1e-12).margin(1e-15));
    }
  }
  // The history tables never receive target gradients: a target-only id has no history row.
  const auto hist = dense_grad(four.table_grad<Role::AttentionHistory>(0), 13, 2);
  for (dare::Index id = 0; id < 13; ++id) {
    const bool in_history = std::find(batch.hist_item.begin(), batch.hist_item.end(), id) != batch.hist_item.end();
    if (!in_history) {
      INFO("item " << id);
      CHECK(hist[static_cast<std::size_t>(2 * id)] == 0.0);
      CHECK(hist[static_cast<std::size_t>(2 * id + 1)] == 0.0);
    }
  }
}

TEST_CASE("TWIN w/ proj. with identity projections computes exactly TWIN", "[models][zoo]") {
  const auto config = tiny_config(3, 3);
  const OwnedBatch batch(6, 7, 13, 6, 29);
  dare::Twin<double, 3> twin(config);
  dare::TwinProj<double, 3> proj(config);
  for (int f = 0; f < 3; ++f) copy_table(twin.table<Role::AttentionHistory>(f), proj.table<Role::AttentionHistory>(f));
  copy_heads(twin, proj);
  int maps = 0;
  for (auto* p : proj.parameters()) {
    if (p->name.rfind("proj.", 0) == 0) {
      CHECK(p->value.rows() == 3);
      CHECK(p->decay);
      p->value.setIdentity();
      ++maps;
    }
  }
  CHECK(maps == 12);  // 4 roles x 3 fields, as the reference's per-field maps
  const auto a = twin.forward_backward(batch.view());
  const auto b = proj.forward_backward(batch.view());
  CHECK(a.main == b.main);
  CHECK(a.aux == b.aux);
  // A non-identity attention map changes the search, not the representation of the target.
  for (auto* p : proj.parameters()) {
    if (p->name == "proj.attention.history.item") p->value(0, 1) = 0.7;
  }
  proj.forward_backward(batch.view());
  std::vector<dare::Index> pt(3), pp(3);
  std::vector<double> wt(3), wp(3);
  bool differs = false;
  for (dare::Index s = 0; s < 6; ++s) {
    twin.selected(s, pt.data(), wt.data());
    proj.selected(s, pp.data(), wp.data());
    differs = differs || wt != wp;
  }
  CHECK(differs);
}

TEST_CASE("TWIN w/o TR feeds [v, u], the first two thirds of TWIN's head input", "[models][zoo]") {
  auto config = tiny_config(3, 3);
  const OwnedBatch batch(6, 7, 13, 6, 31);
  dare::Twin<double, 3> twin(config);
  dare::TwinNoTR<double, 3> notr(config);
  CHECK(notr.kind() == "twin-notr");
  CHECK(notr.feature_width() == 2 * 9);
  CHECK(twin.feature_width() == 3 * 9);
  for (int f = 0; f < 3; ++f) copy_table(twin.table<Role::AttentionHistory>(f), notr.table<Role::AttentionHistory>(f));
  std::vector<double> p(6);
  twin.predict(batch.view(), p.data());
  notr.predict(batch.view(), p.data());
  CHECK(notr.head_input().rows() == 18);
  CHECK(notr.head_input() == twin.head_input().topRows(18));
}

TEST_CASE("TWIN hard weighs its positions with the reference's hard-search scale", "[models][zoo][scorer]") {
  // s_j = <q, k_j> / sqrt(3A) + <q_t, k_t_j> / sqrt(A) over the whole [item | cat | time] rows.
  auto config = tiny_config(2, 2);
  const OwnedBatch batch(3, 7, 13, 6, 41);
  dare::TwinHard<double, 2> model(config);
  std::vector<double> p(3);
  model.predict(batch.view(), p.data());
  const dare::Index L = 7, A = 2;
  for (dare::Index s = 0; s < 3; ++s) {
    std::vector<dare::Index> pos(3);
    std::vector<double> w(3);
    model.selected(s, pos.data(), w.data());
    auto row = [&](int f, dare::Id id) { return model.table<Role::AttentionHistory>(f).row(id); };
    std::vector<double> logits;
    for (dare::Index k = 0; k < 3; ++k) {
      const dare::Index j = pos[k];
      if (batch.hist_item[s * L + j] == 0) continue;  // padded positions keep the sentinel
      double full = 0, time = 0;
      for (dare::Index c = 0; c < A; ++c) {
        full += row(0, batch.target_item[s])[c] * row(0, batch.hist_item[s * L + j])[c];
        full += row(1, batch.target_cat[s])[c] * row(1, batch.hist_cat[s * L + j])[c];
        time += row(2, 0)[c] * row(2, static_cast<dare::Id>(L - j))[c];
      }
      full += time;
      logits.push_back(full / std::sqrt(3.0 * A) + time / std::sqrt(double(A)));
    }
    if (logits.size() < 2) continue;
    // Ratios of weights are exp of logit differences.
    std::size_t first = 0;
    for (dare::Index k = 0, seen = 0; k < 3; ++k) {
      if (batch.hist_item[s * L + pos[k]] == 0) continue;
      if (seen == 0) first = static_cast<std::size_t>(k);
      if (seen > 0) {
        INFO("sample " << s << " position " << pos[k]);
        CHECK(std::log(w[static_cast<std::size_t>(k)] / w[first]) == Approx(logits[seen] - logits[0]).epsilon(1e-9));
      }
      ++seen;
    }
  }
}

TEST_CASE("the MLP scorer is DIN's attention unit over [q, k, q - k, q * k], divided by the query width",
          "[models][zoo][scorer]") {
  using Scorer = dare::MlpScorer::Impl<double, dare::Dynamic>;
  const dare::Index A = 3, F = 6, H = 4, n = 5, stride = 8;
  Scorer scorer(A, H);
  scorer.init(0.5, 3, true);
  auto params = scorer.parameters();
  for (auto* p : params) {
    if (p->name.find("bias") != std::string::npos) p->value.setConstant(0.3);  // non-zero biases too
  }
  std::mt19937_64 gen(9);
  std::normal_distribution<double> normal(0, 1);
  std::vector<double> q(F), keys(n * stride), scores(n);
  std::vector<std::uint8_t> valid = {1, 0, 1, 1, 1};
  for (auto& x : q) x = normal(gen);
  for (auto& x : keys) x = normal(gen);
  Scorer::Work work(stride);
  scorer.forward(work, q.data(), keys.data(), stride, n, nullptr, valid.data(), scores.data());
  const auto& W1 = params[0]->value;
  const auto& b1 = params[1]->value;
  const double slope = params[2]->value(0, 0);
  const auto& w2 = params[3]->value;
  const double b2 = params[4]->value(0, 0);
  for (dare::Index j = 0; j < n; ++j) {
    if (!valid[j]) {
      CHECK(scores[j] == dare::SoftmaxAttention<double>::kPaddingScore);
      continue;
    }
    Eigen::VectorXd x(4 * F);
    for (dare::Index c = 0; c < F; ++c) {
      const double k = keys[j * stride + c];
      x(c) = q[c];
      x(F + c) = k;
      x(2 * F + c) = q[c] - k;
      x(3 * F + c) = q[c] * k;
    }
    Eigen::VectorXd h = W1 * x + b1.col(0);
    for (dare::Index i = 0; i < H; ++i) h(i) = h(i) > 0 ? h(i) : slope * h(i);
    const double expect = ((w2 * h)(0, 0) + b2) / F;
    INFO("position " << j);
    CHECK(scores[j] == Approx(expect).epsilon(1e-12));
  }
}

TEMPLATE_TEST_CASE("two worker threads give the one-thread losses and gradients", "[models][zoo]",
                   (dare::Dare<double, 2, 3>), (dare::TwinProj<double, 2>), (dare::Din<double, 2>),
                   (dare::Twin4E<double, 2, 3>)) {
  auto config = config_for<TestType>(2, 2);
  const OwnedBatch batch(33, 7, 13, 6, 4);
  TestType one(config), two(config);
  two.set_threads(2);
  const auto l1 = one.forward_backward(batch.view());
  const auto l2 = two.forward_backward(batch.view());
  CHECK(l1.main == l2.main);
  CHECK(l1.aux == l2.aux);
  std::vector<std::vector<double>> g1, g2;
  one.for_each_table([&](auto& t, const auto& g, const std::string&) { g1.push_back(dense_grad(g, t.rows(), t.dim())); });
  two.for_each_table([&](auto& t, const auto& g, const std::string&) { g2.push_back(dense_grad(g, t.rows(), t.dim())); });
  REQUIRE(g1.size() == g2.size());
  for (std::size_t t = 0; t < g1.size(); ++t) {
    for (std::size_t k = 0; k < g1[t].size(); ++k) CHECK(g1[t][k] == Approx(g2[t][k]).epsilon(1e-12).margin(1e-15));
  }
  auto p1 = one.parameters();
  auto p2 = two.parameters();
  for (std::size_t i = 0; i < p1.size(); ++i) {
    INFO(p1[i]->name);
    CHECK(p1[i]->grad.isApprox(p2[i]->grad, 1e-12));
  }
}

TEST_CASE("decoupled tables keep attention and representation gradients apart", "[models][zoo]") {
  // The search reads only the attention tables: changing representation rows leaves every
  // score, hence the kept positions and their weights, exactly as they were.
  auto config = tiny_config(2, 3);
  const OwnedBatch batch(4, 7, 13, 6, 21);
  dare::Dare<double, 2, 3> model(config);
  model.forward_backward(batch.view());
  std::vector<dare::Index> pos(3), pos_after(3);
  std::vector<double> w(3), w_after(3);
  model.selected(0, pos.data(), w.data());
  model.table<Role::ReprHistory>(dare::kItem).row(batch.hist_item[3 * 7 - 1])[0] += 0.5;
  model.table<Role::ReprHistory>(dare::kCategory).row(1)[1] -= 0.5;
  model.forward_backward(batch.view());
  model.selected(0, pos_after.data(), w_after.data());
  CHECK(pos == pos_after);
  CHECK(w == w_after);
}

TEMPLATE_TEST_CASE("scoring candidates for one user equals batch prediction", "[models][zoo][serve]",
                   (dare::Dare<double, 2, 3>), (dare::Twin<double, 3>), (dare::TwinHard<double, 2>),
                   (dare::TwinProj<double, 2>), (dare::TwinNoTR<double, 3>), (dare::Twin4E<double, 2, 3>),
                   (dare::Din<double, 2>), (dare::Eta<double, 2>), (dare::Sdim<double, 2>),
                   (dare::TwinV2<double, 2>)) {
  // The gradient test's instantiations (double), so that this file compiles each model once.
  auto config = config_for<TestType>(2, 2);
  TestType model(config);
  OwnedBatch train(16, 7, 13, 6, 8);
  model.forward_backward(train.view());  // fills BatchNorm running statistics

  // One user's 5-long history against 6 candidates, as a batch of 6 identical windows.
  const std::vector<dare::Id> items = {3, 7, 7, 2, 11}, cats = {1, 2, 2, 5, 4};
  const std::vector<dare::Id> cand_items = {1, 2, 3, 4, 5, 12}, cand_cats = {1, 1, 2, 3, 4, 5};
  const std::vector<std::int32_t> groups = {4, 1, 1, 4, 0};  // for the models that attend to clusters
  OwnedBatch batch(6, 7, 13, 6, 0);
  for (dare::Index s = 0; s < 6; ++s) {
    for (dare::Index j = 0; j < 7; ++j) {
      batch.hist_item[s * 7 + j] = j < 2 ? 0 : items[j - 2];
      batch.hist_cat[s * 7 + j] = j < 2 ? 0 : cats[j - 2];
      batch.hist_group[s * 7 + j] = j < 2 ? 0 : groups[j - 2];
    }
    batch.target_item[s] = cand_items[s];
    batch.target_cat[s] = cand_cats[s];
  }
  std::vector<double> expected(6), got(6);
  model.predict(batch.view(), expected.data());
  typename TestType::ServeScratch scratch(model);
  model.score_candidates(items.data(), cats.data(), groups.data(), 5, cand_items.data(), cand_cats.data(), 6,
                         got.data(), scratch);
  for (int s = 0; s < 6; ++s) CHECK(got[s] == Approx(expected[s]).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("every zoo model's checkpoint restores it exactly, optimizer state included",
                   "[models][zoo][checkpoint]", (dare::TwinHard<double, 2>), (dare::TwinProj<double, 2>),
                   (dare::TwinNoTR<double, 3>), (dare::Twin4E<double, 2, 3>), (dare::Din<double, 2>),
                   (dare::Eta<double, 2>), (dare::Sdim<double, 2>), (dare::TwinV2<double, 2>)) {
  auto config = config_for<TestType>(2, 2);
  TestType model(config);
  model.configure_optimizer({});
  const OwnedBatch batch(8, 7, 13, 6, 2);
  model.forward_backward(batch.view());
  model.step();
  std::stringstream buffer;
  model.save(buffer);
  auto other = config;
  other.seed = 77;
  TestType restored(other);
  restored.load(buffer, "zoo.ckpt");
  for (int round = 0; round < 2; ++round) {
    std::vector<double> p1(8), p2(8);
    model.predict(batch.view(), p1.data());
    restored.predict(batch.view(), p2.data());
    CHECK(p1 == p2);
    model.forward_backward(batch.view());
    model.step();
    restored.forward_backward(batch.view());
    restored.step();
  }
  // Another kind of the same sizes refuses it, naming both.
  buffer.clear();
  buffer.seekg(0);
  dare::Twin<double, 3> twin(tiny_config(3, 3));  // the kind is checked before the sizes
  if (model.kind() != "twin") {
    CHECK_THROWS_WITH(twin.load(buffer, "zoo.ckpt"), Catch::Contains("a " + model.kind() + " model") &&
                                                         Catch::Contains("this model is twin"));
  }
}

TEST_CASE("TWIN-V2 with every position its own cluster computes exactly TWIN", "[models][zoo][twin-v2]") {
  // One member per cluster: each slot's rows are its position's, ln 1 = 0, and slots follow
  // positions, so the search, the weights and every gradient are TWIN's.
  const auto config = tiny_config(2, 2);
  OwnedBatch batch(9, 7, 13, 6, 41);
  for (dare::Index i = 0; i < 9 * 7; ++i) batch.hist_group[i] = static_cast<std::int32_t>(i % 7);
  dare::Twin<double, 2> twin(config);
  dare::TwinV2<double, 2> v2(config);
  const auto a = twin.forward_backward(batch.view());
  const auto b = v2.forward_backward(batch.view());
  CHECK(a.main == Approx(b.main).epsilon(1e-14));
  CHECK(a.aux == Approx(b.aux).epsilon(1e-14));
  for (int f = 0; f < 3; ++f) {
    const auto ga = dense_grad(twin.table_grad<Role::AttentionHistory>(f), twin.table<Role::AttentionHistory>(f).rows(), 2);
    const auto gb = dense_grad(v2.table_grad<Role::AttentionHistory>(f), v2.table<Role::AttentionHistory>(f).rows(), 2);
    for (std::size_t k = 0; k < ga.size(); ++k) CHECK(ga[k] == Approx(gb[k]).epsilon(1e-12).margin(1e-15));
  }
}

TEST_CASE("a TWIN-V2 cluster is the mean of its members with its logit raised by ln(size)",
          "[models][zoo][twin-v2]") {
  // A window of two clusters, {2, 4, 6} and {3, 5} (positions 0 and 1 padded): two valid
  // slots, the second cluster's first since its most recent member (5) is older than 6. The
  // weights are the softmax over the two slots' logits, each the dot product of the query
  // with the member mean plus the mean time term plus ln(size); top_k = 3 keeps both and a
  // padded slot of weight 0.
  auto config = tiny_config(2, 2);
  dare::TwinV2<double, 2> model(config);
  OwnedBatch batch(3, 7, 13, 6, 3);  // three samples of that window (BatchNorm needs two)
  const std::vector<dare::Id> items = {0, 0, 4, 9, 4, 2, 11}, cats = {0, 0, 1, 3, 1, 5, 2};
  const std::vector<std::int32_t> groups = {0, 0, 8, 3, 8, 3, 8};
  for (int s = 0; s < 3; ++s) {
    std::copy(items.begin(), items.end(), batch.hist_item.begin() + 7 * s);
    std::copy(cats.begin(), cats.end(), batch.hist_cat.begin() + 7 * s);
    std::copy(groups.begin(), groups.end(), batch.hist_group.begin() + 7 * s);
  }
  model.forward_backward(batch.view());
  std::vector<dare::Index> pos(3);
  std::vector<double> w(3);
  model.selected(0, pos.data(), w.data());
  const dare::Id t_item = batch.target_item[0], t_cat = batch.target_cat[0];
  auto att = [&](int f, dare::Id id, int c) { return model.table<Role::AttentionHistory>(f).row(id)[c]; };
  auto logit = [&](const std::vector<int>& members) {
    double sem = 0, time = 0;
    for (int c = 0; c < 2; ++c) {
      double ki = 0, kc = 0;
      for (int j : members) {
        ki += att(dare::kItem, items[j], c) / members.size();
        kc += att(dare::kCategory, cats[j], c) / members.size();
      }
      sem += model.table<Role::AttentionTarget>(dare::kItem).row(t_item)[c] * ki +
             model.table<Role::AttentionTarget>(dare::kCategory).row(t_cat)[c] * kc;
      double kt = 0;
      for (int j : members) kt += att(dare::kTime, 7 - j, c) / members.size();
      time += model.table<Role::AttentionTarget>(dare::kTime).row(0)[c] * kt;
    }
    return sem / std::sqrt(4.0) + time / std::sqrt(2.0) + std::log(static_cast<double>(members.size()));
  };
  const double l0 = logit({3, 5}), l1 = logit({2, 4, 6});
  const double e0 = 1.0, e1 = std::exp(l1 - l0);
  // Ranked by logit, ties to the later slot; the padded slot comes last with weight 0.
  const bool second_first = l1 >= l0;
  CHECK(pos[0] == (second_first ? 1 : 0));
  CHECK(pos[1] == (second_first ? 0 : 1));
  CHECK(w[second_first ? 0 : 1] == Approx(e1 / (e0 + e1)).epsilon(1e-12));
  CHECK(w[second_first ? 1 : 0] == Approx(e0 / (e0 + e1)).epsilon(1e-12));
  CHECK(w[2] == 0.0);
  // Without clusters the model refuses the batch, naming what it needs.
  auto plain = batch.view();
  plain.hist_group = nullptr;
  CHECK_THROWS_WITH(model.forward_backward(plain), Catch::Contains("twin-v2") && Catch::Contains("hist_group"));
}

TEST_CASE("SDIM aggregates the representation rows of the colliding behaviours, averaged over rounds",
          "[models][zoo][sdim]") {
  // u = (1/m) Σ_r Σ_{j valid, bucket_r(k_j) = bucket_r(q)} v_j: the head input's u part is the
  // selector weights applied to the window's value rows, and those weights are the collision
  // counts of the attention rows' signatures.
  auto config = tiny_config(2, 2);
  config.hash_bits = 1;  // one bit per round: many collisions
  config.hash_rounds = 3;
  dare::Sdim<double, 2> model(config);
  const OwnedBatch batch(6, 7, 13, 6, 31);
  model.forward_backward(batch.view());
  const dare::SimHash<double> hash(4, 32, dare::HashSampling::kProjectionSeed);
  const dare::Index L = 7;
  for (dare::Index s = 0; s < batch.size; ++s) {
    std::vector<dare::Index> pos(L);
    std::vector<double> w(L);
    model.selected(s, pos.data(), w.data());
    std::uint32_t q = 0;
    double key[4], query[4];
    for (int c = 0; c < 2; ++c) {
      query[c] = model.table<Role::AttentionTarget>(dare::kItem).row(batch.target_item[s])[c];
      query[2 + c] = model.table<Role::AttentionTarget>(dare::kCategory).row(batch.target_cat[s])[c];
    }
    hash.sign(query, &q);
    for (dare::Index j = 0; j < L; ++j) {
      const dare::Id item = batch.hist_item[s * L + j], cat = batch.hist_cat[s * L + j];
      for (int c = 0; c < 2; ++c) {
        key[c] = model.table<Role::AttentionHistory>(dare::kItem).row(item)[c];
        key[2 + c] = model.table<Role::AttentionHistory>(dare::kCategory).row(cat)[c];
      }
      std::uint32_t k = 0;
      hash.sign(key, &k);
      int hits = 0;
      for (int r = 0; r < 3; ++r) hits += ((k ^ q) >> r & 1u) == 0 ? 1 : 0;
      INFO("sample " << s << " position " << j);
      CHECK(pos[j] == j);
      CHECK(w[j] == (item != 0 ? hits / 3.0 : 0.0));
    }
  }
  // And a checkpoint of other bits is refused naming the field.
  std::stringstream buffer;
  model.save(buffer, false);
  auto other = config;
  other.hash_rounds = 4;
  dare::Sdim<double, 2> four(other);
  CHECK_THROWS_WITH(four.load(buffer, "sdim.ckpt"),
                    Catch::Contains("hash_rounds") && Catch::Contains("checkpoint has 3, the model has 4"));
}

TEST_CASE("model kinds are named as in Table 1", "[models][zoo]") {
  const auto c = tiny_config(2, 2);
  CHECK(dare::Dare<float, 2, 2>(c).kind() == "dare");
  CHECK(dare::Twin<float, 2>(c).kind() == "twin");
  CHECK(dare::TwinHard<float, 2>(c).kind() == "twin-hard");
  CHECK(dare::TwinProj<float, 2>(c).kind() == "twin-proj");
  CHECK(dare::TwinNoTR<float, 2>(c).kind() == "twin-notr");
  CHECK(dare::Twin4E<float, 2, 2>(c).kind() == "twin-4e");
  CHECK(dare::Din<float, 2>(c).kind() == "din");
  CHECK(dare::Eta<float, 2>(c).kind() == "eta");
  CHECK(dare::Sdim<float, 2>(c).kind() == "sdim");
  CHECK(dare::TwinV2<float, 2>(c).kind() == "twin-v2");
  // The hashing selectors' defaults are resolved into the configuration; others record 0.
  CHECK(dare::Eta<float, 2>(c).config().hash_bits == 64);
  CHECK(dare::Sdim<float, 2>(c).config().hash_bits == 8);
  CHECK(dare::Sdim<float, 2>(c).config().hash_rounds == 32);
  auto hashed = c;
  hashed.hash_bits = 32;
  CHECK(dare::Twin<float, 2>(hashed).config().hash_bits == 0);
  hashed.hash_bits = 40;
  using Eta2 = dare::Eta<float, 2>;
  CHECK_THROWS_WITH(Eta2{hashed}, Catch::Contains("hash_bits") && Catch::Contains("40"));
  CHECK(dare::SequenceModel<float, dare::Decoupled<2, 2>, dare::FullAttention, dare::MlpScorer>(c).kind() ==
        "decoupled/all/mlp");
  // DIN has no time field: item and category only.
  CHECK(dare::Din<float, 2>(c).value_width() == 4);
  CHECK(dare::Twin<float, 2>(c).value_width() == 6);
}
