#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "dare/data.hpp"
#include "dare/models.hpp"
#include "dare/train/trainer.hpp"
#include "data/data_test_util.hpp"

namespace {

// A small synthetic Taobao-format log through the real protocol into a dataset file.
dare::Dataset small_dataset(const dare_test::TempDir& dir) {
  dare::SyntheticOptions o;
  o.users = 160;
  o.items = 3000;
  o.categories = 60;
  o.seed = 3;
  const std::string log = dir.file("log.csv"), data = dir.file("data.dare");
  dare::SyntheticLogGenerator(o).write(log);
  dare::preprocess_to_file(log, dare::RawFormat::taobao, data);
  return dare::Dataset::open(data);
}

dare::ModelConfig config_for(const dare::Dataset& d, int width) {
  return dare::model_config_for(d, width, width);
}

}  // namespace

TEST_CASE("the trainer learns a synthetic log and reports its best validation model", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  REQUIRE(data.train().size() > 1000);
  dare::Dare<float, 8, 8> model(config_for(data, 8));
  dare::TrainOptions o;
  o.batch_size = 256;
  o.epochs = 2;
  o.eval_interval = 10;
  o.threads = 2;
  o.checkpoint_path = dir.file("best.ckpt");
  dare::Trainer<dare::Dare<float, 8, 8>> trainer(model, data, o);
  int reports = 0, validations = 0;
  trainer.on_progress([&](const dare::TrainProgress& p) {
    ++reports;
    validations += p.validated ? 1 : 0;
    CHECK(p.step <= p.total_steps);
  });
  const dare::TrainResult r = trainer.run();

  const dare::Index steps = 2 * ((data.train().size() + 255) / 256);
  CHECK(r.steps == steps);
  CHECK(reports == steps);
  CHECK(r.samples_seen == 2 * data.train().size());
  CHECK(validations == static_cast<int>(r.val_auc_history.size()));
  CHECK(r.samples_per_sec > 0);
  // The kept model is the best one on validation, and it is the one tested.
  double best = 0;
  for (const auto& [step, auc] : r.val_auc_history) best = std::max(best, auc);
  CHECK(r.best_val.auc == best);
  INFO("test AUC " << r.test.auc << ", GAUC " << r.test.gauc << ", logloss " << r.test.logloss);
  CHECK(r.test.auc > 0.65);  // chance is 0.5; the full-size data reaches far more
  CHECK(r.test.logloss < 0.6);
  CHECK(r.test.samples == data.test().size());
  const auto val_now = trainer.evaluate(data.val());
  CHECK(val_now.auc == Approx(r.best_val.auc).epsilon(1e-12));

  // The checkpoint file holds that model: a fresh model loaded from it scores the same.
  REQUIRE(std::filesystem::exists(o.checkpoint_path));
  dare::Dare<float, 8, 8> reloaded(config_for(data, 8));
  reloaded.load(o.checkpoint_path);
  dare::Trainer<dare::Dare<float, 8, 8>> evaluator(reloaded, data, o);
  const auto test_again = evaluator.evaluate(data.test());
  CHECK(test_again.auc == Approx(r.test.auc).epsilon(1e-12));
  CHECK(test_again.logloss == Approx(r.test.logloss).epsilon(1e-9));
}

TEST_CASE("validation comes every eval_interval steps, and at least min_evals_per_epoch times an epoch",
          "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  dare::Dare<float, 8, 8> model(config_for(data, 8));
  dare::TrainOptions o;  // eval_interval 150 (the reference), min_evals_per_epoch 5
  dare::Trainer<dare::Dare<float, 8, 8>> defaults(model, data, o);
  CHECK(defaults.effective_eval_interval(16600) == 150);  // Taobao: the reference's interval
  CHECK(defaults.effective_eval_interval(77) == 16);      // the default synthetic log
  CHECK(defaults.effective_eval_interval(1) == 1);
  o.eval_interval = 0;  // only at the end, whatever the minimum
  CHECK(dare::Trainer<dare::Dare<float, 8, 8>>(model, data, o).effective_eval_interval(77) == 0);
  o.eval_interval = 150;
  o.min_evals_per_epoch = 0;  // exactly the reference's interval
  CHECK(dare::Trainer<dare::Dare<float, 8, 8>>(model, data, o).effective_eval_interval(77) == 150);

  // A real run: one epoch of small batches validates at the shortened interval.
  o.min_evals_per_epoch = 4;
  o.batch_size = 256;
  o.epochs = 1;
  const dare::Index steps = (data.train().size() + 255) / 256;
  REQUIRE(steps >= 8);
  dare::Trainer<dare::Dare<float, 8, 8>> trainer(model, data, o);
  std::vector<dare::Index> validated_at;
  trainer.on_progress([&](const dare::TrainProgress& p) {
    if (p.validated) validated_at.push_back(p.step);
  });
  const dare::TrainResult r = trainer.run();
  const dare::Index interval = (steps + 3) / 4;
  CHECK(r.eval_interval == interval);
  std::vector<dare::Index> want;
  for (dare::Index step = interval; step < steps; step += interval) want.push_back(step);
  want.push_back(steps);  // and at the end
  CHECK(validated_at == want);
  CHECK(r.val_auc_history.size() == want.size());
}

TEST_CASE("model_config_for fits a model to a dataset", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  const dare::ModelConfig c = dare::model_config_for(data, 8, 16);
  CHECK(c.num_items == data.num_items());
  CHECK(c.num_cats == data.num_cats());
  CHECK(c.max_len == data.max_len());
  CHECK(c.num_times > c.max_len);
  CHECK(c.num_times >= dare::ModelConfig{}.num_times);
  CHECK(c.att_dim == 8);
  CHECK(c.repr_dim == 16);
  CHECK(c.top_k == dare::ModelConfig{}.top_k);
  dare::Dare<float, 8, dare::Dynamic> model(c);
  CHECK_NOTHROW(dare::Trainer<dare::Dare<float, 8, dare::Dynamic>>(model, data, {}));
}

TEST_CASE("a diverging loss stops training with an error naming the step", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  dare::Twin<float, 8> model(config_for(data, 8));
  dare::TrainOptions o;
  o.batch_size = 256;
  o.epochs = 1;
  o.eval_interval = 0;
  o.optimizer.lr = 1e30;
  dare::Trainer<dare::Twin<float, 8>> trainer(model, data, o);
  CHECK_THROWS_WITH(trainer.run(), Catch::Contains("training diverged") && Catch::Contains("at step"));
}

TEST_CASE("the trainer rejects a dataset that does not fit the model", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  auto c = config_for(data, 8);
  c.max_len = 100;
  dare::Dare<float, 8, 8> short_window(c);
  CHECK_THROWS_WITH((dare::Trainer<dare::Dare<float, 8, 8>>(short_window, data, {})), Catch::Contains("max_len"));
  c = config_for(data, 8);
  c.num_items = 10;
  dare::Dare<float, 8, 8> small_tables(c);
  CHECK_THROWS_WITH((dare::Trainer<dare::Dare<float, 8, 8>>(small_tables, data, {})), Catch::Contains("do not fit"));
}
