// The model types of dare_eval and dare_predict, compiled once (see examples/model_use.hpp).
#include "model_use.hpp"

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
  void predict_head_input(const dare::SequenceBatch& batch, float* prob, std::vector<float>& rows) override {
    model_.predict(batch, prob);
    const auto& x = model_.head_input();  // one column per sample, so the samples' rows back to back
    rows.insert(rows.end(), x.data(), x.data() + x.size());
  }
  dare::Index head_width() const override { return model_.feature_width(); }
  dare::Index max_len() const { return model_.config().max_len; }

 private:
  Model model_;
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
