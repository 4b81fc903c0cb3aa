// The stage profile of a training step (models/stage_profile.hpp): off, it records nothing;
// on, every stage of forward_backward and step gets time, the workers' stages fit within
// their threads' share of the step and the batch stages within the step, and training is
// bit-identical with the profile on or off.
#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "dare/models.hpp"
#include "model_test_util.hpp"

namespace {

using dare::Stage;
using Model = dare::Dare<float, 2, 3>;

constexpr Stage kWorkerStages[] = {Stage::Gather,     Stage::Search,        Stage::Attention, Stage::BackGather,
                                   Stage::BackAttention, Stage::BackSearch, Stage::BackValues};
constexpr Stage kBatchStages[] = {Stage::Heads, Stage::Merge, Stage::Optimizer};

// Trains `model` for `steps` steps on fixed batches; returns the losses.
std::vector<double> train(Model& model, int steps) {
  const dare_test::OwnedBatch batch(24, 7, 13, 6, 5);
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    losses.push_back(model.forward_backward(batch.view()).total());
    model.step();
  }
  return losses;
}

void set_up(Model& m, int threads) {
  m.set_threads(threads);
  m.configure_optimizer({});
}

}  // namespace

TEST_CASE("stage profile: off records nothing, on times every stage within the step", "[models][profile]") {
  Model model(dare_test::tiny_config(2, 3));
  set_up(model, 2);
  train(model, 1);
  for (double s : model.stage_profile().seconds) CHECK(s == 0.0);

  model.set_stage_profile(true);
  const auto start = std::chrono::steady_clock::now();
  train(model, 3);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const dare::StageProfile p = model.stage_profile();
  double workers = 0, batch = 0;
  for (Stage s : kWorkerStages) {
    INFO(dare::stage_name(s));
    CHECK(p[s] > 0.0);
    workers += p[s];
  }
  for (Stage s : kBatchStages) {
    INFO(dare::stage_name(s));
    CHECK(p[s] > 0.0);
    batch += p[s];
  }
  // Core-seconds of two workers fit in twice the wall time; the calling thread's in once.
  CHECK(workers <= 2 * wall);
  CHECK(batch <= wall);

  // Switching it on again starts from zero; off stops it.
  model.set_stage_profile(true);
  for (double s : model.stage_profile().seconds) CHECK(s == 0.0);
  model.set_stage_profile(false);
  train(model, 1);
  for (double s : model.stage_profile().seconds) CHECK(s == 0.0);
}

TEST_CASE("stage profile: training is bit-identical with the profile on", "[models][profile]") {
  Model plain(dare_test::tiny_config(2, 3));
  Model profiled(dare_test::tiny_config(2, 3));
  set_up(plain, 2);
  set_up(profiled, 2);
  profiled.set_stage_profile(true);
  CHECK(train(plain, 4) == train(profiled, 4));
  const auto a = plain.parameters();
  const auto b = profiled.parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i]->value == b[i]->value);
  plain.for_each_table([&](auto& table, const auto&, const std::string& name) {
    bool equal = false;
    profiled.for_each_table([&](auto& other, const auto&, const std::string& other_name) {
      if (other_name != name) return;
      equal = table.rows() == other.rows();
      for (dare::Index r = 0; equal && r < table.rows(); ++r) {
        for (dare::Index c = 0; c < table.dim(); ++c) equal = equal && table.row(r)[c] == other.row(r)[c];
      }
    });
    INFO(name);
    CHECK(equal);
  });
}
