// quickstart — the library's pieces on their own and composed into a DARE model.
//
// 1. An embedding table, the SIMD search (dot products + top-K) over a history.
// 2. A Dare<float, 8, 16> model: trained on a toy task (does the target repeat an item of
//    the history?), then scoring one user's history against candidates, as a server would.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "dare/dare.hpp"

int main() {
  // ---- 1. search: one target against a 200-long history --------------------------------
  constexpr int A = 16;
  dare::EmbeddingTable<float, A> table(1000);
  table.init_normal(0.1f, 42);
  std::vector<dare::Id> history(200);
  std::mt19937 gen(1);
  for (auto& id : history) id = static_cast<dare::Id>(1 + gen() % 999);
  dare::AlignedVector<float> keys(history.size() * A);
  table.gather(history.data(), static_cast<dare::Index>(history.size()), keys.data(), A);

  std::vector<float> scores(history.size());
  dare::dot_rows<A>(table.row(history[17]), keys.data(), static_cast<dare::Index>(history.size()), A, scores.data());
  dare::TopK<float> topk(5);
  std::vector<dare::Index> pos(5);
  std::vector<float> best(5);
  topk.select(scores.data(), static_cast<dare::Index>(scores.size()), nullptr, pos.data(), best.data());
  std::printf("search: the target is behaviour 17; the top-5 positions are");
  for (auto p : pos) std::printf(" %lld", static_cast<long long>(p));
  std::printf("\n");

  // ---- 2. a DARE model ---------------------------------------------------------------------
  dare::ModelConfig config;
  config.num_items = 1000;
  config.num_cats = 50;
  config.att_dim = 8;    // narrow attention: the search costs O(L * 8)
  config.repr_dim = 16;  // wide representation for the predictor
  config.max_len = 200;
  config.top_k = 20;
  dare::Dare<float, 8, 16> model(config);
  model.configure_optimizer({});  // Adam, lr 0.01, L2 1e-6: the reference settings

  // Toy task: a positive repeats an item of its history, a negative is random. Every step
  // draws a fresh batch, so the model has to learn to search the history for the target.
  const dare::Index B = 256, L = config.max_len;
  std::vector<dare::Id> hist_item(B * L), hist_cat(B * L), target_item(B), target_cat(B);
  std::vector<int> label(B);
  auto category = [](dare::Id item) { return static_cast<dare::Id>(item % 49 + 1); };
  auto draw = [&] {
    for (dare::Index s = 0; s < B; ++s) {
      for (dare::Index j = 0; j < L; ++j) {
        hist_item[s * L + j] = static_cast<dare::Id>(1 + gen() % 999);
        hist_cat[s * L + j] = category(hist_item[s * L + j]);
      }
      label[s] = static_cast<int>(gen() % 2);
      target_item[s] = label[s] ? hist_item[s * L + gen() % L] : static_cast<dare::Id>(1 + gen() % 999);
      target_cat[s] = category(target_item[s]);
    }
  };
  dare::SequenceBatch batch;
  batch.size = B;
  batch.max_len = L;
  batch.hist_item = hist_item.data();
  batch.hist_cat = hist_cat.data();
  batch.target_item = target_item.data();
  batch.target_cat = target_cat.data();
  batch.label = label.data();
  for (int step = 1; step <= 300; ++step) {
    draw();
    const dare::StepLoss loss = model.forward_backward(batch);
    model.step();
    if (step % 50 == 0) std::printf("step %3d: main loss %.4f, auxiliary loss %.4f\n", step, loss.main, loss.aux);
  }

  // Serving: one user's history (oldest first) against candidates: two items it holds, and
  // two it does not.
  draw();
  std::vector<dare::Id> candidates = {hist_item[L - 1], hist_item[3]};
  for (dare::Id c = 1; candidates.size() < 4; ++c) {
    if (std::find(hist_item.begin(), hist_item.begin() + L, c) == hist_item.begin() + L) candidates.push_back(c);
  }
  std::vector<dare::Id> cand_cat;
  for (auto c : candidates) cand_cat.push_back(c % 49 + 1);
  std::vector<float> prob(candidates.size());
  model.score_candidates(hist_item.data(), hist_cat.data(), L, candidates.data(), cand_cat.data(),
                         static_cast<dare::Index>(candidates.size()), prob.data());
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    std::printf("candidate item %4d (%s the history): click probability %.3f\n", candidates[c],
                c < 2 ? "in" : "not in", prob[c]);
  }
  return 0;
}
