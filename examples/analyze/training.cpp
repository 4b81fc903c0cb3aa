// examples/analyze/training.cpp — the training runs of dare_analyze (training.hpp), the
// model types compiled once for every subcommand.
#include "analyze/training.hpp"

namespace dare_analyze {
namespace {

template <class Model>
dare::TrainResult train_run(const dare::Dataset& data, const RunSpec& r, int att, int repr) {
  dare::ModelConfig c = dare::model_config_for(data, att, repr);
  c.top_k = 20;
  c.seed = r.seed;
  c.reference_init = true;
  Model model(c);
  dare::TrainOptions t;
  t.shuffle_seed = r.seed;
  t.threads = r.threads;
  t.batch_size = r.batch_size;
  t.max_steps = r.max_steps;
  t.eval_interval = r.eval_interval;
  t.min_evals_per_epoch = r.min_evals_per_epoch;
  dare::Trainer<Model> trainer(model, data, t);
  return trainer.run();
}

}  // namespace

dare::TrainResult train(const dare::Dataset& data, const RunSpec& r) {
  if (r.model == "dare") return train_run<dare::Dare<float, dare::Dynamic, dare::Dynamic>>(data, r, r.att_dim, r.repr_dim);
  if (r.model == "twin") return train_run<dare::Twin<float, dare::Dynamic>>(data, r, r.att_dim, r.att_dim);
  throw std::invalid_argument("the analyses train dare or twin, not '" + r.model + "'");
}

}  // namespace dare_analyze
