// The model types of dare_eval and dare_predict, compiled once (see examples/model_use.hpp).
#include "model_use.hpp"

#include <algorithm>
#include <vector>

#include "dare/analysis/retrieval.hpp"

namespace dare_tools {
namespace {

template <class Model>
class Loaded final : public LoadedModel {
 public:
  Loaded(const dare::ModelFileInfo& info, const std::string& path, int threads) : model_(info.model_config()) {
    dare::load_model_file(path, model_);
    model_.set_threads(threads);
  }
  dare::EvalMetrics evaluate(const dare::Dataset& data, dare::ConstSpan<dare::Sample> split, dare::Index chunk,
                             bool drop_last, const dare::BatchTransform& transform) override {
    return dare::evaluate_split(model_, data, split, chunk, drop_last, transform);
  }
  void predict(const dare::SequenceBatch& batch, float* prob) override { model_.predict(batch, prob); }
  dare::nn::InferenceStats inference_stats() const override { return model_.inference_stats(); }
  dare::Index search(const dare::SequenceBatch& batch, std::vector<dare::Index>& positions) override {
    using Selector = typename Model::selector_type;
    if constexpr (Selector::kAllPositions || Selector::kGroups) {
      return 0;
    } else {
      const dare::Index K = model_.selected_count();
      prob_.resize(static_cast<std::size_t>(batch.size));
      model_.predict(batch, prob_.data());
      positions.resize(static_cast<std::size_t>(batch.size * K));
      std::vector<dare::Index> pos(static_cast<std::size_t>(K));
      std::vector<float> w(pos.size());
      std::vector<dare::Index> order(pos.size());
      for (dare::Index s = 0; s < batch.size; ++s) {
        model_.selected(s, pos.data(), w.data());
        // The hard search lists its positions in window order: rank them by weight.
        for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<dare::Index>(k);
        std::sort(order.begin(), order.end(), [&](dare::Index a, dare::Index b) {
          const auto ua = static_cast<std::size_t>(a), ub = static_cast<std::size_t>(b);
          return w[ua] > w[ub] || (w[ua] == w[ub] && pos[ua] > pos[ub]);
        });
        for (dare::Index k = 0; k < K; ++k) {
          positions[static_cast<std::size_t>(s * K + k)] = pos[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
        }
      }
      return K;
    }
  }
  bool correlation(dare::Id target_cat, const dare::Id* cats, const dare::Id* times, dare::Index n,
                   float* out) const override {
    if constexpr (dare::kHasLearnedCorrelation<Model>) {
      dare::learned_correlation(model_, target_cat, cats, times, n, out);
      return true;
    } else {
      return false;
    }
  }
  void predict_head_input(const dare::SequenceBatch& batch, float* prob, std::vector<float>& rows) override {
    model_.predict(batch, prob);
    const auto& x = model_.head_input();  // one column per sample, so the samples' rows back to back
    rows.insert(rows.end(), x.data(), x.data() + x.size());
  }
  dare::Index head_width() const override { return model_.feature_width(); }
  dare::Index max_len() const { return model_.config().max_len; }

 private:
  Model model_;
  std::vector<float> prob_;
};

template <class Model>
std::unique_ptr<LoadedModel> make(const dare::ModelFileInfo& info, const std::string& path,
                                  const dare::Dataset& data, int threads) {
  auto m = std::make_unique<Loaded<Model>>(info, path, threads);
  if (data.max_len() != m->max_len()) {
    throw std::invalid_argument(dare::detail::concat("the input's history window is ", data.max_len(),
                                                     ", the model's ", m->max_len()));
  }
  return m;
}

}  // namespace

std::unique_ptr<LoadedModel> load_model(const dare::ModelFileInfo& info, const std::string& path,
                                        const dare::Dataset& data, int threads) {
  return dare::with_model_kind(info.kind(), path, [&](auto type) {
    return make<typename decltype(type)::type>(info, path, data, threads);
  });
}

}  // namespace dare_tools
