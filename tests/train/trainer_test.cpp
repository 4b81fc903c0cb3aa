#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>
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
  CHECK(validations == static_cast<int>(r.history.size()));
  CHECK(r.samples_per_sec > 0);
  // The kept model is the best one on validation, and it is the one tested.
  double best = 0;
  for (const auto& v : r.history) best = std::max(best, v.auc);
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
  CHECK(r.history.size() == want.size());
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

TEST_CASE("the reference protocol validates exactly at multiples of 150 steps, never at the end, and evaluates "
          "whole batches only", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  dare::Twin<float, 8> model(config_for(data, 8));
  dare::TrainOptions o = dare::reference_train_options();
  o.batch_size = 16;  // small batches: several hundred steps an epoch on this small log
  o.epochs = 2;
  o.threads = 2;
  const dare::Index per_epoch = (data.train().size() + o.batch_size - 1) / o.batch_size;
  const dare::Index steps = 2 * per_epoch;
  REQUIRE(steps > 300);
  REQUIRE(steps % 150 != 0);  // so "at the end" is distinguishable from the schedule
  REQUIRE(data.train().size() % o.batch_size != 0);
  dare::Trainer<dare::Twin<float, 8>> trainer(model, data, o);
  std::vector<dare::Index> validated_at;
  trainer.on_progress([&](const dare::TrainProgress& p) {
    if (p.validated) validated_at.push_back(p.step);
  });
  const dare::TrainResult r = trainer.run();
  std::vector<dare::Index> want;
  for (dare::Index step = 150; step <= steps; step += 150) want.push_back(step);
  CHECK(validated_at == want);
  REQUIRE(r.history.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(r.history[i].step == want[i]);
  CHECK_FALSE(r.forced_final_validation);
  CHECK(r.steps == steps);
  CHECK(r.samples_seen == 2 * data.train().size());
  CHECK(r.eval_interval == 150);
  // Evaluation in whole chunks of the training batch size, the rest dropped.
  CHECK(r.test.samples == data.test().size() / o.batch_size * o.batch_size);
  CHECK(model.inference_stats() == dare::nn::InferenceStats::Batch);
}

TEST_CASE("a run too short for any scheduled validation validates its last model and says so", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  dare::Twin<float, 8> model(config_for(data, 8));
  dare::TrainOptions o = dare::reference_train_options();
  o.batch_size = 256;
  o.epochs = 1;
  REQUIRE(data.train().size() / o.batch_size < 150);
  const dare::TrainResult r = dare::Trainer<dare::Twin<float, 8>>(model, data, o).run();
  CHECK(r.forced_final_validation);
  REQUIRE(r.history.size() == 1);
  CHECK(r.history[0].step == r.steps);
}

TEST_CASE("the validation history records each check's AUC, logloss and the training loss since the previous one",
          "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  dare::Dare<float, 8, 8> model(config_for(data, 8));
  dare::TrainOptions o;
  o.batch_size = 256;
  o.epochs = 1;
  o.eval_interval = 3;
  o.min_evals_per_epoch = 0;
  dare::Trainer<dare::Dare<float, 8, 8>> trainer(model, data, o);
  std::vector<double> losses;
  trainer.on_progress([&](const dare::TrainProgress& p) {
    if (p.validated) losses.push_back(p.loss);  // the mean since the previous validation
  });
  const dare::TrainResult r = trainer.run();
  REQUIRE(r.history.size() == losses.size());
  REQUIRE(r.history.size() >= 3);
  for (std::size_t i = 0; i < r.history.size(); ++i) {
    const auto& h = r.history[i];
    CHECK(h.train_loss == Approx(losses[i]).epsilon(1e-12));
    CHECK(h.train_aux_loss > 0);
    CHECK(h.auc > 0.3);
    CHECK(h.logloss > 0);
    CHECK(h.epoch == 1);
  }
  CHECK(r.history.front().step == 3);
  CHECK(r.history.back().step == r.steps);
}

TEST_CASE("precise statistics are recomputed before validation and saved with the best model; running ones are the "
          "trajectory's average", "[train]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  for (const auto stats : {dare::nn::InferenceStats::Precise, dare::nn::InferenceStats::Batch,
                           dare::nn::InferenceStats::Running}) {
    DYNAMIC_SECTION("inference statistics " << dare::nn::to_string(stats)) {
      dare::Dare<float, 8, 8> model(config_for(data, 8));
      dare::TrainOptions o;
      o.batch_size = 256;
      o.epochs = 1;
      o.eval_interval = 4;
      o.inference_stats = stats;
      o.precise_batches = 2;
      o.checkpoint_path = dir.file("best.ckpt");
      dare::Trainer<dare::Dare<float, 8, 8>> trainer(model, data, o);
      const dare::TrainResult r = trainer.run();
      // The checkpoint's statistics: precise for Precise and Batch, the running average otherwise.
      dare::Dare<float, 8, 8> saved(config_for(data, 8));
      saved.load(o.checkpoint_path);
      CHECK(saved.inference_stats() == stats);
      auto& bn = saved.main_head().batch_norm();
      const Eigen::MatrixXf mean = bn.running_mean().value, var = bn.running_var().value;
      // Recompute the population statistics of the same training batches with the saved model.
      dare::Trainer<dare::Dare<float, 8, 8>>(saved, data, o).refresh_statistics();
      const float diff = (bn.running_mean().value - mean).cwiseAbs().maxCoeff() +
                         (bn.running_var().value - var).cwiseAbs().maxCoeff();
      if (stats == dare::nn::InferenceStats::Running) {
        CHECK(diff > 1e-3f);
      } else {
        CHECK(diff < 1e-5f);
      }
      // The reported test metrics are those of the saved model under the same statistics.
      dare::Dare<float, 8, 8> again(config_for(data, 8));
      again.load(o.checkpoint_path);
      CHECK(dare::Trainer<dare::Dare<float, 8, 8>>(again, data, o).evaluate(data.test()).auc ==
            Approx(r.test.auc).epsilon(1e-12));
    }
  }
}

TEST_CASE("a run paused and resumed from its saved state equals the run done in one go", "[train][resume]") {
  dare_test::TempDir dir;
  const dare::Dataset data = small_dataset(dir);
  using Model = dare::Dare<float, 8, 8>;
  dare::TrainOptions o;
  o.batch_size = 256;
  o.epochs = 2;
  o.eval_interval = 7;
  o.threads = 2;
  const dare::Index steps_per_epoch = (data.train().size() + 255) / 256;
  Model whole_model(config_for(data, 8));
  const dare::TrainResult whole = dare::Trainer<Model>(whole_model, data, o).run();

  // Pause in the first epoch, off the validation schedule, then resume in a fresh trainer
  // and a fresh model (as a second process would).
  dare::TrainOptions first = o;
  first.pause_at_step = steps_per_epoch / 2 + 1;
  REQUIRE(first.pause_at_step % o.eval_interval != 0);
  Model paused_model(config_for(data, 8));
  dare::Trainer<Model> paused(paused_model, data, first);
  const dare::TrainResult half = paused.run();
  CHECK(half.paused);
  CHECK(half.steps == first.pause_at_step);
  std::stringstream state;
  paused.save_state(state);

  Model resumed_model(config_for(data, 8));
  dare::Trainer<Model> resumed(resumed_model, data, o);
  dare::TrainOptions wrong = o;
  wrong.batch_size = 128;
  Model other(config_for(data, 8));
  dare::Trainer<Model> mismatched(other, data, wrong);
  std::istringstream copy(state.str());
  CHECK_THROWS_WITH(mismatched.resume_state(copy, "run.state"), Catch::Contains("batch_size") && Catch::Contains("256"));
  resumed.resume_state(state, "run.state");
  const dare::TrainResult rest = resumed.run();
  CHECK_FALSE(rest.paused);
  CHECK(rest.steps == whole.steps);
  CHECK(rest.samples_seen == whole.samples_seen);
  CHECK(rest.best_step == whole.best_step);
  REQUIRE(rest.history.size() == whole.history.size());
  for (std::size_t i = 0; i < whole.history.size(); ++i) {
    INFO("validation " << i);
    CHECK(rest.history[i].step == whole.history[i].step);
    CHECK(rest.history[i].auc == whole.history[i].auc);
    CHECK(rest.history[i].train_loss == whole.history[i].train_loss);
  }
  CHECK(rest.test.auc == whole.test.auc);
  CHECK(rest.test.logloss == whole.test.logloss);
  // A truncated state is refused and leaves the model as it was.
  const std::string bytes = [&] {
    std::stringstream again;
    Model m(config_for(data, 8));
    dare::Trainer<Model> t(m, data, first);
    t.run();
    t.save_state(again);
    return again.str();
  }();
  std::istringstream cut(bytes.substr(0, bytes.size() - 100));
  Model victim(config_for(data, 8));
  dare::Trainer<Model> v(victim, data, o);
  CHECK_THROWS_AS(v.resume_state(cut, "cut.state"), dare::FormatError);
}
