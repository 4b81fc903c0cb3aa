// search_precision — what a reduced-precision serving search (ScorerOptions::search, see
// dare/search/lowp_search.hpp) changes on a trained model: the top-K recall of each precision
// against float, the share of identical selections, and the test AUC and logloss of the
// model served through dare::Scorer.
//
//   search_precision --model build/data/model.dare --data build/data/synthetic_taobao.csv.dare
//
// Every test sample's group (a user's history and its group_size candidates) is one call:
// the Scorer scores the group's candidates in raw ids (through the model file's vocabulary,
// which must be the dataset's) for AUC and logloss; the same history and candidates through
// score_candidates with each precision's keys give the positions each search kept, compared
// with float's (recall = kept valid positions float also kept / valid positions float kept).
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/dare.hpp"
#include "dare/serve/scorer.hpp"

namespace {

struct Split {
  std::vector<std::vector<dare::Id>> hist_item, hist_cat;  // the window's valid part, oldest first
  std::vector<std::vector<dare::Id>> cand_item, cand_cat;
  std::vector<int> labels;
};

Split read_split(const dare::Dataset& data, dare::ConstSpan<dare::Sample> samples) {
  Split s;
  const dare::Index g = data.group_size(), L = data.max_len();
  dare::Batch batch;
  for (dare::Index b = 0; b + g <= samples.size(); b += g) {
    dare::fill_batch(data, samples.data() + b, nullptr, g, batch);
    std::vector<dare::Id> hi, hc;
    for (dare::Index j = 0; j < L; ++j) {
      if (batch.hist_item[static_cast<std::size_t>(j)] == 0) continue;
      hi.push_back(batch.hist_item[static_cast<std::size_t>(j)]);
      hc.push_back(batch.hist_cat[static_cast<std::size_t>(j)]);
    }
    s.hist_item.push_back(hi);
    s.hist_cat.push_back(hc);
    s.cand_item.emplace_back(batch.target_item.begin(), batch.target_item.begin() + g);
    s.cand_cat.emplace_back(batch.target_cat.begin(), batch.target_cat.begin() + g);
    for (dare::Index i = 0; i < g; ++i) s.labels.push_back(batch.label[static_cast<std::size_t>(i)] > 0.5f ? 1 : 0);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, data_path;
  CLI::App app{"Top-K recall and test AUC of the reduced-precision serving search against float"};
  app.add_option("--model", model_path, "model file (dare_train --checkpoint)")->required()->check(CLI::ExistingFile);
  app.add_option("--data", data_path, "the dataset the model was trained on (dare_train's cache, LOG.dare)")
      ->required()
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    const dare::ScopedFlushDenormals ftz(true);
    const dare::Dataset data = dare::Dataset::open(data_path);
    const dare::ModelFileInfo info = dare::read_model_file_info(model_path);
    const auto raw_items = data.raw_item_ids();
    const auto raw_cats = data.raw_cat_ids();
    if (static_cast<dare::Index>(info.raw_item_ids.size()) != raw_items.size() ||
        !std::equal(info.raw_item_ids.begin(), info.raw_item_ids.end(), raw_items.data()))
      throw std::invalid_argument("the model's item vocabulary is not the dataset's");
    const Split test = read_split(data, data.test());
    const std::vector<dare::SearchPrecision> precisions = {dare::SearchPrecision::Float, dare::SearchPrecision::BF16,
                                                           dare::SearchPrecision::Int8};
    std::printf("%s, %zu test groups of %lld\n", info.kind().c_str(), test.hist_item.size(),
                static_cast<long long>(data.group_size()));
    std::printf("%-6s %9s %9s %10s %10s %12s\n", "search", "AUC", "logloss", "recall", "identical", "table bytes");
    // Positions each precision kept, per (group, candidate): compared with float's.
    std::vector<std::vector<dare::Index>> float_kept;
    for (dare::SearchPrecision p : precisions) {
      const dare::Scorer scorer(model_path, {p});
      std::vector<float> prob;
      std::vector<dare::Index> kept;
      std::size_t valid_kept = 0, valid_both = 0, selections = 0, identical = 0;
      dare::with_model_kind(info.kind(), model_path, [&](auto type) {
        using Model = typename decltype(type)::type;
        if constexpr (Model::kBatchedSearch && std::is_same_v<typename Model::scalar_type, float>) {
          Model model(info.model_config());
          dare::load_model_file(model_path, model);
          std::unique_ptr<typename Model::LowpKeys> keys;
          if (p != dare::SearchPrecision::Float) keys = std::make_unique<typename Model::LowpKeys>(model.make_lowp_keys(p));
          typename Model::ServeScratch scratch(model, keys.get());
          const dare::Index L = model.config().max_len, K = model.config().top_k;
          for (std::size_t s = 0; s < test.hist_item.size(); ++s) {
            const auto len = static_cast<dare::Index>(test.hist_item[s].size());
            const auto m = static_cast<dare::Index>(test.cand_item[s].size());
            std::vector<float> pr(static_cast<std::size_t>(m));
            model.score_candidates(test.hist_item[s].data(), test.hist_cat[s].data(), len, test.cand_item[s].data(),
                                   test.cand_cat[s].data(), m, pr.data(), scratch);
            const std::vector<dare::Index>& pos = scratch.searched_positions();
            for (dare::Index c = 0; c < m; ++c) {
              std::set<dare::Index> mine;
              for (dare::Index r = 0; r < K; ++r) {
                const dare::Index q = pos[static_cast<std::size_t>(c * K + r)];
                if (q >= L - len) mine.insert(q);  // valid (not padding)
              }
              const std::size_t at = s * static_cast<std::size_t>(m) + static_cast<std::size_t>(c);
              if (p == dare::SearchPrecision::Float) {
                float_kept.emplace_back(mine.begin(), mine.end());
              } else {
                const auto& want = float_kept[at];
                std::size_t both = 0;
                for (dare::Index q : want) both += mine.count(q);
                valid_kept += want.size();
                valid_both += both;
                identical += both == want.size() && mine.size() == want.size();
              }
              ++selections;
            }
          }
        } else {
          throw std::invalid_argument("the model has no top-K dot-product search");
        }
      });
      for (std::size_t s = 0; s < test.hist_item.size(); ++s) {
        std::vector<std::uint64_t> hi, hc, ci, cc;
        for (std::size_t i = 0; i < test.hist_item[s].size(); ++i) {
          hi.push_back(raw_items[test.hist_item[s][i]]);
          hc.push_back(raw_cats[test.hist_cat[s][i]]);
        }
        for (std::size_t i = 0; i < test.cand_item[s].size(); ++i) {
          ci.push_back(raw_items[test.cand_item[s][i]]);
          cc.push_back(raw_cats[test.cand_cat[s][i]]);
        }
        std::vector<float> pr(ci.size());
        scorer.score(hi.data(), hc.data(), static_cast<dare::Index>(hi.size()), ci.data(), cc.data(),
                     static_cast<dare::Index>(ci.size()), pr.data());
        prob.insert(prob.end(), pr.begin(), pr.end());
      }
      const double auc = dare::Metrics::auc(prob, test.labels);
      const double ll = dare::Metrics::logloss(prob.data(), test.labels.data(), static_cast<dare::Index>(prob.size()));
      if (p == dare::SearchPrecision::Float)
        std::printf("%-6s %9.6f %9.6f %10s %10s %12zu\n", dare::to_string(p), auc, ll, "1", "1", scorer.search_table_bytes());
      else
        std::printf("%-6s %9.6f %9.6f %10.6f %10.6f %12zu\n", dare::to_string(p), auc, ll,
                    static_cast<double>(valid_both) / static_cast<double>(valid_kept),
                    static_cast<double>(identical) / static_cast<double>(selections), scorer.search_table_bytes());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "search_precision: %s\n", e.what());
    return 1;
  }
  return 0;
}
