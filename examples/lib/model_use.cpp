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
  using dare::Dynamic;
  const std::string kind = info.kind();
  if (kind == "dare") return make<dare::Dare<float, Dynamic, Dynamic>>(info, path, data, threads);
  if (kind == "twin") return make<dare::Twin<float, Dynamic>>(info, path, data, threads);
  if (kind == "twin-hard") return make<dare::TwinHard<float, Dynamic>>(info, path, data, threads);
  if (kind == "twin-proj") return make<dare::TwinProj<float, Dynamic>>(info, path, data, threads);
  if (kind == "twin-notr") return make<dare::TwinNoTR<float, Dynamic>>(info, path, data, threads);
  if (kind == "twin-4e") return make<dare::Twin4E<float, Dynamic, Dynamic>>(info, path, data, threads);
  if (kind == "din") return make<dare::Din<float, Dynamic>>(info, path, data, threads);
  throw dare::FormatError(path, 0, "kind",
                          "unknown model kind '" + kind +
                              "' (this build knows dare, twin, twin-hard, twin-proj, twin-notr, twin-4e, din)");
}

}  // namespace dare_tools
