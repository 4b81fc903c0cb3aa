#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dare/analysis/retrieval.hpp"
#include "dare/data/preprocess.hpp"
#include "dare/models/zoo.hpp"
#include "dare/train/trainer.hpp"
#include "data/data_test_util.hpp"

using dare::ClickCooccurrence;
using dare::ConstSpan;
using dare::Id;
using dare::Index;

TEST_CASE("binary mutual information matches hand-computed tables", "[analysis][retrieval]") {
  // 8 samples, 4 of each label; X = 1 for 3 positives and 1 negative:
  // I = 2 * 3/8 log2(1.5) + 2 * 1/8 log2(0.5) = 0.75 log2(1.5) - 0.25.
  CHECK(dare::binary_mutual_information(3, 1, 4, 4) == Approx(0.75 * std::log2(1.5) - 0.25).epsilon(1e-12));
  // Independent: X = 1 for half of each label.
  CHECK(dare::binary_mutual_information(2, 2, 4, 4) == Approx(0.0).margin(1e-12));
  // X = Y: one bit, up to the 1e-5 an empty cell counts.
  CHECK(dare::binary_mutual_information(4, 0, 4, 4) == Approx(1.0).epsilon(1e-4));
  CHECK(dare::binary_mutual_information(0, 4, 4, 4) == Approx(1.0).epsilon(1e-4));
  // Unbalanced labels, 2 of 10 positive, X = 1 for both positives and 2 negatives:
  // p(x1,y1) = .2, p(x1,y0) = .2, p(x0,y1) = 0, p(x0,y0) = .6; p(x1) = .4, p(y1) = .2.
  const double expected = 0.2 * std::log2(0.2 / (0.4 * 0.2)) + 0.2 * std::log2(0.2 / (0.4 * 0.8)) +
                          0.6 * std::log2(0.6 / (0.6 * 0.8));
  CHECK(dare::binary_mutual_information(2, 2, 2, 8) == Approx(expected).epsilon(1e-12));
  // One label absent: nothing to learn.
  CHECK(dare::binary_mutual_information(3, 0, 5, 0) == 0.0);
}

TEST_CASE("the MI truth finds a planted (category, position) that drives the click", "[analysis][retrieval]") {
  // Windows of 10 random categories 1..5; a target of category 1 is clicked exactly when the
  // behaviour at time id 3 (window index 7) has category 4, up to 10% flipped labels. A target
  // of category 2 is clicked at random.
  constexpr Index L = 10, C = 6;
  std::mt19937_64 rng(7);
  ClickCooccurrence counts(C, L);
  std::vector<Id> items(L, 1), cats(L);
  for (int s = 0; s < 20000; ++s) {
    for (Index j = 0; j < L; ++j) cats[static_cast<std::size_t>(j)] = static_cast<Id>(1 + rng() % 5);
    items[0] = s % 4 == 0 ? 0 : 1;  // some padding, which must not count
    const bool driven = cats[L - 3] == 4;
    const bool flip = rng() % 10 == 0;
    counts.add(1, items.data(), cats.data(), driven != flip);
    counts.add(2, items.data(), cats.data(), rng() % 2 == 0);
  }
  CHECK(counts.target(1).pos + counts.target(1).neg == 20000);
  CHECK(counts.cell(1, cats[1], 10).pos + counts.cell(1, cats[1], 10).neg > 0);
  // Padding (index 0, time id 10) was skipped in a quarter of the windows.
  Index at10 = 0;
  for (Id c = 1; c < C; ++c) at10 += static_cast<Index>(counts.cell(1, c, 10).pos + counts.cell(1, c, 10).neg);
  CHECK(at10 == 15000);

  const double planted = counts.mutual_information(1, 4, 3);
  double runner_up = 0, target2_best = 0;
  for (Id c = 1; c < C; ++c) {
    for (Index p = 1; p <= L; ++p) {
      if (!(c == 4 && p == 3)) runner_up = std::max(runner_up, counts.mutual_information(1, c, p));
      target2_best = std::max(target2_best, counts.mutual_information(2, c, p));
    }
  }
  INFO("planted " << planted << " bits, runner-up " << runner_up << ", target 2's best " << target2_best);
  CHECK(planted > 0.2);
  CHECK(planted > 10 * runner_up);  // the other categories at time 3 carry some of it (their absence)
  CHECK(target2_best < 0.01);

  // Through a window: the planted position ranks first, and the filter counts thin cells.
  for (Index j = 0; j < L; ++j) cats[static_cast<std::size_t>(j)] = static_cast<Id>(1 + j % 5);
  cats[L - 3] = 4;
  items[0] = 1;
  std::vector<double> gain(L);
  dare::MiFilter filter;
  filter.min_target_samples = 700;
  filter.min_cell_count = 50;
  filter.max_thin_cells = 0;
  CHECK(dare::mi_gains(counts, 1, items.data(), cats.data(), filter, gain.data()));
  const auto top = dare::top_positions(gain.data(), nullptr, L, 3);
  REQUIRE(top.size() == 3);
  CHECK(top[0] == L - 3);
  filter.min_cell_count = 100000;  // every cell thin
  CHECK_FALSE(dare::mi_gains(counts, 1, items.data(), cats.data(), filter, gain.data()));
  filter.max_thin_cells = L;
  filter.min_target_samples = 20001;
  CHECK_FALSE(dare::mi_gains(counts, 1, items.data(), cats.data(), filter, gain.data()));
  CHECK(counts.most_common_targets(5) == std::vector<Id>{1, 2});
}

TEST_CASE("NDCG of a perfect, a reversed and an empty retrieval", "[analysis][retrieval]") {
  const std::vector<double> gain = {3, 2, 1, 0};
  const ConstSpan<double> g(gain.data(), 4);
  const double idcg = 3 + 2 / std::log2(3.0) + 1 / std::log2(4.0);
  std::vector<double> out(3);
  const std::vector<Index> perfect = {0, 1, 2};
  REQUIRE(dare::ndcg_curve(g, ConstSpan<Index>(perfect.data(), 3), 3, out.data()));
  CHECK(out[0] == Approx(3 / idcg));
  CHECK(out[1] == Approx((3 + 2 / std::log2(3.0)) / idcg));
  CHECK(out[2] == Approx(1.0));
  const std::vector<Index> reversed = {3, 2, 1};
  REQUIRE(dare::ndcg_curve(g, ConstSpan<Index>(reversed.data(), 3), 3, out.data()));
  CHECK(out[0] == 0.0);
  CHECK(out[2] == Approx((1 / std::log2(3.0) + 2 / std::log2(4.0)) / idcg));
  // The ideal is the truth's top `ideal`, not top k: two perfect picks of an ideal of three.
  REQUIRE(dare::ndcg_curve(g, ConstSpan<Index>(perfect.data(), 2), 3, out.data()));
  CHECK(out[1] == Approx((3 + 2 / std::log2(3.0)) / idcg));
  // A truth with nothing relevant has no NDCG.
  const std::vector<double> none = {0, 0, 0, 0};
  out.assign(3, -1.0);
  CHECK_FALSE(dare::ndcg_curve(ConstSpan<double>(none.data(), 4), ConstSpan<Index>(perfect.data(), 3), 3, out.data()));
  CHECK(out[0] == -1.0);

  // The mean curve: a perfect and a reversed sample; a sample with no truth is not counted.
  dare::NdcgCurve curve(3);
  CHECK(curve.add(g, ConstSpan<Index>(perfect.data(), 3), 3));
  CHECK(curve.add(g, ConstSpan<Index>(reversed.data(), 3), 3));
  CHECK_FALSE(curve.add(ConstSpan<double>(none.data(), 4), ConstSpan<Index>(perfect.data(), 3), 3));
  CHECK(curve.samples() == 2);
  CHECK(curve.at(3) == Approx(0.5 * (1 + (1 / std::log2(3.0) + 0.5 * 2) / idcg)));
  CHECK(std::isnan(dare::NdcgCurve(3).at(1)));
  CHECK_THROWS_AS(curve.at(4), std::invalid_argument);
}

TEST_CASE("top positions: best first, ties to the more recent, invalid ones skipped", "[analysis][retrieval]") {
  const std::vector<double> score = {1, 5, 5, 2, 9};
  const std::vector<std::uint8_t> valid = {1, 1, 1, 1, 0};
  CHECK(dare::top_positions(score.data(), valid.data(), 5, 3) == std::vector<Index>{2, 1, 3});
  CHECK(dare::top_positions(score.data(), valid.data(), 5, 9) == std::vector<Index>{2, 1, 3, 0});
  CHECK(dare::top_positions(score.data(), nullptr, 5, 1) == std::vector<Index>{4});
}

namespace {

dare::ModelConfig small_config() {
  dare::ModelConfig c;
  c.num_items = 30;
  c.num_cats = 8;
  c.num_times = 20;
  c.att_dim = 4;
  c.repr_dim = 4;
  c.max_len = 12;
  c.top_k = 4;
  c.hidden = {6};
  c.aux_hidden = {4};
  c.init_sigma = 0.5;
  return c;
}

}  // namespace

TEST_CASE("the learned correlation is the search logit without the item part", "[analysis][retrieval]") {
  using Twin = dare::Twin<float, 4>;
  Twin twin(small_config());
  // By hand for one pair: <q_cat, k_cat> / sqrt(8) + <q_time(0), k_time(p)> / sqrt(4).
  const auto& cat = twin.table<dare::Role::AttentionHistory>(dare::kCategory);
  const auto& time = twin.table<dare::Role::AttentionHistory>(dare::kTime);
  double expected = 0;
  for (int e = 0; e < 4; ++e) expected += cat.row(3)[e] * cat.row(5)[e] / std::sqrt(8.0) + time.row(0)[e] * time.row(7)[e] / 2.0;
  const Id cats[] = {5}, times[] = {7};
  float got = 0;
  dare::learned_correlation(twin, 3, cats, times, 1, &got);
  CHECK(got == Approx(expected).epsilon(1e-5));

  // With the item attention rows at zero the model's own search ranks the window as the
  // learned correlation does.
  auto& items = twin.table<dare::Role::AttentionHistory>(dare::kItem);
  for (Index r = 0; r < items.rows(); ++r) std::fill(items.row(r), items.row(r) + 4, 0.0f);
  constexpr Index L = 12, B = 3;
  std::vector<Id> hist_item(B * L), hist_cat(B * L), t_item = {4, 9, 2}, t_cat = {1, 6, 3};
  std::mt19937 rng(3);
  for (Index i = 0; i < B * L; ++i) {
    hist_item[static_cast<std::size_t>(i)] = static_cast<Id>(1 + rng() % 29);
    hist_cat[static_cast<std::size_t>(i)] = static_cast<Id>(1 + rng() % 7);
  }
  hist_item[0] = hist_cat[0] = 0;  // one padded position
  dare::SequenceBatch batch;
  batch.size = B;
  batch.max_len = L;
  batch.hist_item = hist_item.data();
  batch.hist_cat = hist_cat.data();
  batch.target_item = t_item.data();
  batch.target_cat = t_cat.data();
  std::vector<float> prob(B);
  twin.predict(batch, prob.data());
  std::vector<Id> tid(L);
  for (Index j = 0; j < L; ++j) tid[static_cast<std::size_t>(j)] = dare::history_time_id(j, L);
  for (Index s = 0; s < B; ++s) {
    std::vector<float> corr(L);
    dare::learned_correlation(twin, t_cat[static_cast<std::size_t>(s)], hist_cat.data() + s * L, tid.data(), L, corr.data());
    std::vector<double> score(corr.begin(), corr.end());
    std::vector<std::uint8_t> valid(L);
    for (Index j = 0; j < L; ++j) valid[static_cast<std::size_t>(j)] = hist_item[static_cast<std::size_t>(s * L + j)] != 0;
    std::vector<Index> pos(4);
    std::vector<float> w(4);
    twin.selected(s, pos.data(), w.data());
    CHECK(dare::top_positions(score.data(), valid.data(), L, 4) == pos);
  }

  // TWIN-4E reads the target's category and time rows from its target-attention tables.
  dare::ModelConfig c4 = small_config();
  dare::Twin4E<float, 4, 4> four(c4);
  const auto& qc = four.table<dare::Role::AttentionTarget>(dare::kCategory);
  const auto& kc = four.table<dare::Role::AttentionHistory>(dare::kCategory);
  const auto& qt = four.table<dare::Role::AttentionTarget>(dare::kTime);
  const auto& kt = four.table<dare::Role::AttentionHistory>(dare::kTime);
  REQUIRE(&qc != &kc);
  expected = 0;
  for (int e = 0; e < 4; ++e) expected += qc.row(3)[e] * kc.row(5)[e] / std::sqrt(8.0) + qt.row(0)[e] * kt.row(7)[e] / 2.0;
  dare::learned_correlation(four, 3, cats, times, 1, &got);
  CHECK(got == Approx(expected).epsilon(1e-5));
  static_assert(!dare::kHasLearnedCorrelation<dare::Din<float, 4>>, "DIN's MLP logit has no learned correlation");
}

TEST_CASE("the generator's truth of a dataset made from its log", "[analysis][retrieval][synthetic]") {
  dare_test::TempDir dir;
  dare::SyntheticOptions o;
  o.users = 60;
  o.items = 5000;
  o.categories = 200;
  o.seed = 5;
  dare::SyntheticLogGenerator(o).write(dir.file("log.csv"));
  dare::PreprocessOptions p;
  dare::preprocess_to_file(dir.file("log.csv"), dare::RawFormat::taobao, dir.file("d.dare"), p);
  const dare::Dataset data = dare::Dataset::open(dir.file("d.dare"));
  REQUIRE(data.num_users() > 20);
  const dare::SyntheticClickTruth truth(o, data, "d.dare");

  // Every interest's clicks stay in one cluster (its home's); a positive's relevant clicks
  // are in its category's cluster; noise targets have none.
  const Index L = data.max_len();
  std::vector<double> gain(static_cast<std::size_t>(L)), related(gain.size());
  long long positives = 0, interest_targets = 0, relevant = 0, relevant_in_cluster = 0;
  dare::Batch batch;
  const auto test = data.test();
  for (Index i = 0; i < test.size(); ++i) {
    const dare::Sample& s = test[i];
    dare::fill_batch(data, &s, nullptr, 1, batch);
    truth.interest_gains(s, L, gain.data());
    truth.relatedness_gains(s.cat, batch.hist_item_row(0), batch.hist_cat_row(0), L, related.data());
    if (s.label != 1) {
      for (double x : gain) CHECK(x == 0.0);
      continue;
    }
    ++positives;
    interest_targets += truth.interest(s.user, s.end) >= 0;
    for (Index j = 0; j < L; ++j) {
      if (gain[static_cast<std::size_t>(j)] == 0) continue;
      ++relevant;
      relevant_in_cluster += related[static_cast<std::size_t>(j)] > 0;
    }
  }
  INFO(positives << " positives, " << interest_targets << " of interest clicks, " << relevant << " relevant clicks");
  CHECK(interest_targets > positives / 2);
  CHECK(interest_targets < positives);  // some targets are noise
  CHECK(relevant > 10 * interest_targets);
  CHECK(relevant_in_cluster == relevant);

  // The interest numbers agree with the generator's events, and its categories with its clusters.
  std::vector<dare::SyntheticEvent> events;
  const dare::SyntheticLogGenerator g(o);
  g.generate_user(static_cast<Index>(data.raw_user_ids()[0]) - 1, events);
  Index k = 0;
  for (const auto& e : events) {
    if (e.action != 0) continue;
    CHECK(truth.interest(0, k) == e.interest);
    CHECK((e.interest < 0) == e.noise);
    ++k;
  }
  const auto cats = data.user_cats(0);
  for (Index c = 0; c < cats.size(); ++c) CHECK(truth.cluster(cats[c]) == g.cluster_of(truth.category(cats[c])));

  // Another seed's generator did not write this log.
  dare::SyntheticOptions other = o;
  other.seed = 6;
  CHECK_THROWS_AS(dare::SyntheticClickTruth(other, data, "d.dare"), dare::FormatError);

  // The MI counts of the generator's data: a click of the target's category just before it
  // is likelier before a positive than before a negative.
  const ClickCooccurrence counts = ClickCooccurrence::count(data, data.train());
  const Id t = counts.most_common_targets(1).at(0);
  const auto all = counts.target(t), recent = counts.cell(t, t, 1);
  CHECK(static_cast<double>(recent.pos) / static_cast<double>(all.pos) >
        3 * static_cast<double>(recent.neg) / static_cast<double>(all.neg));
  CHECK(counts.mutual_information(t, t, 1) > 0.01);
}
