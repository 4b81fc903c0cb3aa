// quickstart — the library's pieces on their own and composed into a DARE model.
//
// 1. An embedding table, the SIMD search (dot products + top-K) over a history.
// 2. A Dare<float, 8, 16> model: a few training steps on a toy batch, then scoring one
//    user's history against candidates, as a server would.
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

  const dare::Index B = 64, L = config.max_len;
  std::vector<dare::Id> hist_item(B * L), hist_cat(B * L), target_item(B), target_cat(B);
  std::vector<int> label(B);
  for (dare::Index s = 0; s < B; ++s) {
    for (dare::Index j = 0; j < L; ++j) {
      hist_item[s * L + j] = static_cast<dare::Id>(1 + gen() % 999);
      hist_cat[s * L + j] = hist_item[s * L + j] % 49 + 1;
    }
    // Positives repeat an item of the history; negatives are random.
    label[s] = static_cast<int>(s % 2);
    target_item[s] = label[s] ? hist_item[s * L + gen() % L] : static_cast<dare::Id>(1 + gen() % 999);
    target_cat[s] = target_item[s] % 49 + 1;
  }
  dare::SequenceBatch batch;
  batch.size = B;
  batch.max_len = L;
  batch.hist_item = hist_item.data();
  batch.hist_cat = hist_cat.data();
  batch.target_item = target_item.data();
  batch.target_cat = target_cat.data();
  batch.label = label.data();
  for (int step = 1; step <= 30; ++step) {
    const dare::StepLoss loss = model.forward_backward(batch);
    model.step();
    if (step % 10 == 0) std::printf("step %2d: main loss %.4f, auxiliary loss %.4f\n", step, loss.main, loss.aux);
  }

  // Serving: one user's history (oldest first), three candidates.
  const std::vector<dare::Id> candidates = {hist_item[L - 1], 7, 500};
  std::vector<dare::Id> cand_cat;
  for (auto c : candidates) cand_cat.push_back(c % 49 + 1);
  std::vector<float> prob(candidates.size());
  model.score_candidates(hist_item.data(), hist_cat.data(), L, candidates.data(), cand_cat.data(),
                         static_cast<dare::Index>(candidates.size()), prob.data());
  for (std::size_t c = 0; c < candidates.size(); ++c) {
    std::printf("candidate item %4d: click probability %.3f\n", candidates[c], prob[c]);
  }
  return 0;
}
