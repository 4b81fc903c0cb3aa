// dare/models/stage_profile.hpp — where a training step's time goes, stage by stage.
//
// SequenceModel::set_stage_profile(true) makes forward_backward and step time their stages
// (one steady_clock read per stage boundary; off, each boundary costs one predictable branch).
// Per-sample stages run on the worker threads: their figure is thread time summed over the
// workers (core-seconds), so per sample it is what one core spends, whatever the thread count.
// Batch stages (the heads, the merge of the workers' gradients, the optimizer) run on the
// calling thread: their figure is wall time. bench/train_throughput prints the breakdown.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace dare {

/// The stages of one training step, in the order they run.
enum class Stage : int {
  Gather,         ///< forward: the history's and the target's embedding rows (keys, values, query)
  Search,         ///< forward: the search logits of every position and the selection of K
  Attention,      ///< forward: softmax and aggregation into the head input (and the auxiliary head's)
  Heads,          ///< both heads' MLPs forward and backward over the batch, with the loss
  BackGather,     ///< backward: the rows gathered again
  BackAttention,  ///< backward: aggregation and softmax (both heads' attention)
  BackSearch,     ///< backward: the logits into the query and the keys' table gradients
  BackValues,     ///< backward: the values' and the target's representation-table gradients
  Merge,          ///< the workers' gradients summed and finished
  Optimizer,      ///< the embedding tables' and the dense parameters' optimizer step
};
inline constexpr int kStageCount = 10;

/// A stage's name as the breakdown prints it.
inline const char* stage_name(Stage s) noexcept {
  constexpr const char* kNames[kStageCount] = {"gather",         "search",          "attention", "heads",
                                               "back: gather",   "back: attention", "back: search",
                                               "back: values",   "merge",           "optimizer"};
  return kNames[static_cast<int>(s)];
}

/// Seconds per stage (see the header note for which are core-seconds and which wall time).
struct StageProfile {
  std::array<double, kStageCount> seconds{};
  double& operator[](Stage s) noexcept { return seconds[static_cast<std::size_t>(s)]; }
  double operator[](Stage s) const noexcept { return seconds[static_cast<std::size_t>(s)]; }
  StageProfile& operator+=(const StageProfile& o) noexcept {
    for (std::size_t i = 0; i < seconds.size(); ++i) seconds[i] += o.seconds[i];
    return *this;
  }
};

namespace detail {

/// Adds the time since the previous lap to a stage, when on (otherwise reads no clock).
class StageClock {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StageClock(bool on) : on_(on) {
    if (on_) last_ = Clock::now();
  }
  void lap(StageProfile& into, Stage s) {
    if (!on_) return;
    const auto now = Clock::now();
    into[s] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  bool on_;
  Clock::time_point last_{};
};

}  // namespace detail
}  // namespace dare
