// examples/analyze/training.hpp — what the subcommands that train share: opening the dataset
// and training DARE or TWIN at the reference settings, as dare_train does by default
// (reference initialisation and L2, precise statistics, validation at least 5 times an
// epoch). The models have Dynamic widths, one instantiation each, so a run here equals
// `dare_train --model dare|twin` with the same widths and seed to the last bit at any width
// dare_train runs as Dynamic too (tests/tools/analyze.sh); at its compiled-in widths (8, 16,
// 32, 64, 128) the kernels round differently and the runs drift apart within seed noise
// (DARE 16/16, seeds 1-3: 0.91210 / 0.91533 / 0.90792 here against 0.91124 / 0.91528 /
// 0.90884 in dare_train).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "dare/dare.hpp"

namespace dare_analyze {

/// Opens a dataset written by dare_prep or cached by dare_train. A raw log is refused with
/// the command that preprocesses it: the analyses compare models on one fixed dataset.
inline dare::Dataset open_dataset(const std::string& path, const char* option) {
  if (!dare::looks_like_dare_file(path)) {
    throw std::invalid_argument(std::string(option) + " '" + path +
                                "' is not a dare dataset: preprocess the log first (dare_prep --input LOG --out "
                                "DATA.dare, or use the cache dare_train wrote beside it, LOG.dare)");
  }
  return dare::Dataset::open(path);
}

/// One training run of the analyses.
struct RunSpec {
  std::string model = "dare";  ///< dare or twin
  int att_dim = 16;            ///< attention width per field (twin: its one width)
  int repr_dim = 16;           ///< representation width per field (twin: = att_dim)
  std::uint64_t seed = 1;      ///< initialisation and shuffle seed
  int threads = 2;
  dare::Index batch_size = 2048;
  dare::Index max_steps = 0;  ///< 0: two epochs
  dare::Index eval_interval = 150;  ///< with TrainOptions' minimum of 5 validations an epoch
  dare::Index min_evals_per_epoch = 5;
};

/// Trains r.model on `data` and returns the trainer's result (test metrics of the best
/// validated model, the validation history). Dynamic widths: one instantiation per model.
/// (Compiled once, in training.cpp.)
dare::TrainResult train(const dare::Dataset& data, const RunSpec& r);

}  // namespace dare_analyze
