// dare/train/trainer.hpp — the reference training protocol over a dataset file.
//
// Design. Training follows docs/design.md §1.6: Adam, mini-batches of the shuffled training split,
// validation every `eval_interval` steps (and at the end), the best model on validation AUC
// kept, its test metrics reported. The reference validates every 150 steps, about 1% of an
// epoch on the real logs (16,600 steps each on Taobao); on a small dataset that would mean
// validating once in two epochs, and "the best model" would be the last one. So validation
// also comes at least `min_evals_per_epoch` times per epoch: the interval is
// min(eval_interval, ceil(steps per epoch / min_evals_per_epoch)) — 150 on the real logs,
// 16 on the default synthetic log (77 steps an epoch). TrainResult::eval_interval says
// which was used. Each epoch reshuffles *groups* (a positive and its
// negatives, which share one history window) rather than samples, so a group stays
// together in a batch; the data layer documents the same choice for the stored order.
//
// The best model is kept as a checkpoint: in a file when `checkpoint_path` is set (so it
// can be reloaded later), else in memory. A loss that turns NaN or infinite stops training
// with an error naming the step, rather than training on garbage.
//
// Evaluation statistics (TrainOptions::inference_stats, see nn/batch_norm.hpp). With
// Precise (the default) the main head's BatchNorm statistics are recomputed before every
// validation, parameters frozen, over `precise_batches` fixed training batches; the
// validation, the saved checkpoint and later serving all use them. With Batch each
// evaluation chunk is normalised with its own statistics (the public reference's
// behaviour), and the checkpoint still receives precise statistics when it is written, so
// that a saved model never depends on the running average of its past trajectory. With
// Running (PyTorch's eval mode) the running average is used throughout. Evaluation splits a
// split into equal chunks of at most eval_batch_size samples (so no chunk is a handful of
// leftovers), or with eval_drop_last into full chunks, dropping the rest as the reference's
// loader does.
//
// Reference protocol (reference_train_options, and ModelConfig::reference_init,
// OptimizerConfig::reference_l2 for the parameters): validation exactly every 150 steps and
// not at the end, batch-statistics evaluation in chunks of the training batch size with
// the last partial chunk dropped, and TrainOrder::Reference: the training samples in one
// fixed individual shuffle (the reference shuffles once when preprocessing, with a seed that
// does not change between training seeds), read in that order every epoch. (Its training
// loader, unlike the evaluation one, keeps each epoch's last partial batch: it reads the
// training split as files of 102,400 samples, 50 whole batches each, and only the last file
// ends in a partial batch, which is trained.) Each of these differences can be switched alone.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/denormals.hpp"
#include "dare/core/error.hpp"
#include "dare/data/batch.hpp"
#include "dare/data/dataset.hpp"
#include "dare/models/zoo.hpp"
#include "dare/train/metrics.hpp"

namespace dare {

/// The order in which an epoch reads the training split.
enum class TrainOrder {
  Groups,     ///< groups (a positive and its negatives) reshuffled every epoch by the seed
  Reference,  ///< one fixed shuffle of individual samples, the same every epoch
};

inline const char* to_string(TrainOrder o) noexcept { return o == TrainOrder::Groups ? "groups" : "reference"; }

/// Settings of a training run. Defaults are the reference's hyper-parameters with dare's
/// evaluation protocol; reference_train_options() gives the reference's protocol.
struct TrainOptions {
  Index batch_size = 2048;
  int epochs = 2;
  Index eval_interval = 150;   ///< validate every this many steps (0: only at the end)
  Index min_evals_per_epoch = 5;  ///< ... and at least this often per epoch (0: no minimum)
  bool validate_at_end = true;    ///< also validate after the last step (the reference does not)
  Index eval_batch_size = 4096;   ///< samples per evaluation chunk (0: batch_size)
  bool eval_drop_last = false;    ///< evaluate only whole chunks (the reference's loader)
  nn::InferenceStats inference_stats = nn::InferenceStats::Precise;  ///< see the header note
  Index precise_batches = 8;      ///< training batches behind Precise statistics
  TrainOrder order = TrainOrder::Groups;
  int threads = 2;
  OptimizerConfig optimizer;
  std::uint64_t shuffle_seed = 1;
  Index max_steps = 0;         ///< stop after this many steps (0: run all epochs)
  /// Pause after this step (0: never): the run stops before its final validation and test,
  /// TrainResult::paused is set, and Trainer::save_state writes what resume_state needs to
  /// continue it exactly (see the header note).
  Index pause_at_step = 0;
  std::string checkpoint_path; ///< where the best model is written (empty: kept in memory)
  bool flush_denormals = true; ///< see dare/core/denormals.hpp
};

/// The public reference's protocol (see the header note); the parameters' side is
/// ModelConfig::reference_init and OptimizerConfig::reference_l2.
inline TrainOptions reference_train_options() {
  TrainOptions o;
  o.eval_interval = 150;
  o.min_evals_per_epoch = 0;
  o.validate_at_end = false;
  o.eval_batch_size = 0;  // the training batch size
  o.eval_drop_last = true;
  o.inference_stats = nn::InferenceStats::Batch;
  o.order = TrainOrder::Reference;
  o.optimizer.reference_l2 = true;  // the default too; ModelConfig::reference_init likewise
  return o;
}

/// A model configuration that fits `data`: its item and category id ranges, its history
/// window (and enough time rows for it), widths att_dim and repr_dim; everything else the
/// reference defaults.
inline ModelConfig model_config_for(const Dataset& data, Index att_dim, Index repr_dim) {
  ModelConfig c;
  c.num_items = data.num_items();
  c.num_cats = data.num_cats();
  c.att_dim = att_dim;
  c.repr_dim = repr_dim;
  c.max_len = data.max_len();
  c.num_times = std::max<Index>(c.num_times, c.max_len + 1);
  return c;
}

/// Metrics of a model on one split (docs/design.md §2).
struct EvalMetrics {
  double auc = 0;
  double gauc = 0;          ///< per-user AUC weighted by sample count
  double category_auc = 0;  ///< per-target-category AUC weighted by sample count
  double logloss = 0;
  Index samples = 0;        ///< samples evaluated (fewer than the split with eval_drop_last)
  double auc_reference = 0;           ///< AUC by the reference's formula (Metrics::reference_auc)
  double category_auc_reference = 0;  ///< category AUC by the reference's formula
};

/// One validation of a run.
struct ValidationPoint {
  Index step = 0;
  int epoch = 0;
  double auc = 0;
  double logloss = 0;
  double train_loss = 0;      ///< mean main loss of the steps since the previous validation
  double train_aux_loss = 0;  ///< mean auxiliary loss of the same steps
};

/// What the trainer reports while it runs.
struct TrainProgress {
  int epoch = 0;
  Index step = 0;
  Index total_steps = 0;
  double loss = 0;             ///< main loss, mean over recent steps
  double samples_per_sec = 0;
  double eta_seconds = 0;
  bool validated = false;      ///< this report follows a validation
  double val_auc = 0;
  double best_val_auc = 0;
};

/// The result of a run.
struct TrainResult {
  EvalMetrics test;
  EvalMetrics best_val;
  Index best_step = 0;
  Index steps = 0;
  Index samples_seen = 0;
  double train_seconds = 0;    ///< time in training steps (excludes validation)
  double validation_seconds = 0;  ///< time in validations, precise statistics included
  double samples_per_sec = 0;  ///< samples_seen / train_seconds
  Index eval_interval = 0;     ///< steps between validations, as used (see TrainOptions)
  std::vector<ValidationPoint> history;  ///< every validation, in order
  /// No scheduled validation fell within the run (validate_at_end off and fewer steps than
  /// the interval), so the last model was validated after all.
  bool forced_final_validation = false;
  /// The run stopped at TrainOptions::pause_at_step; test is not set.
  bool paused = false;
};

/// The model's view of a filled batch: its ids, the cluster ids when the dataset has them,
/// and `labels` (0/1 per sample, or null).
inline SequenceBatch sequence_batch(const Batch& b, const int* labels) {
  SequenceBatch v;
  v.size = b.size;
  v.max_len = b.max_len;
  v.hist_item = b.hist_item.data();
  v.hist_cat = b.hist_cat.data();
  v.target_item = b.target_item.data();
  v.target_cat = b.target_cat.data();
  v.label = labels;
  v.hist_group = b.hist_group_row(0);
  return v;
}

/// Rewrites a filled batch before the model sees it (e.g. a dataset's ids into the ids of a
/// model trained on another file).
using BatchTransform = std::function<void(Batch&)>;

/// Metrics of `model` on `split` of `data` in inference mode (the model's inference
/// statistics), in equal chunks of at most `chunk` samples, or with `drop_last` in whole
/// chunks only, the rest dropped. Category AUC groups by the dataset's own category ids (before
/// `transform`). `prob`, when given, receives every evaluated sample's probability.
template <class Model>
EvalMetrics evaluate_split(Model& model, const Dataset& data, ConstSpan<Sample> split, Index chunk, bool drop_last,
                           const BatchTransform& transform = {}, std::vector<double>* prob_out = nullptr) {
  using Scalar = typename Model::scalar_type;
  DARE_CHECK_ARG(chunk > 0, "evaluation chunk must be positive, got ", chunk);
  Index n = split.size();
  Index chunks = (n + chunk - 1) / chunk;
  if (drop_last) {
    chunks = n / chunk;
    n = chunks * chunk;
  }
  EvalMetrics m;
  m.samples = n;
  if (prob_out) prob_out->assign(static_cast<std::size_t>(n), 0.0);
  if (n == 0) return m;
  std::vector<double> prob(static_cast<std::size_t>(n));
  std::vector<int> labels(static_cast<std::size_t>(n)), batch_labels;
  std::vector<std::int64_t> users(static_cast<std::size_t>(n)), cats(static_cast<std::size_t>(n));
  std::vector<Scalar> out(static_cast<std::size_t>(chunk));
  Batch batch;
  for (Index c = 0; c < chunks; ++c) {
    const Index begin = c * n / chunks;  // equal chunks (all full with drop_last)
    const Index count = (c + 1) * n / chunks - begin;
    fill_batch(data, split.data() + begin, nullptr, count, batch);
    for (Index i = 0; i < count; ++i) cats[static_cast<std::size_t>(begin + i)] = batch.target_cat[static_cast<std::size_t>(i)];
    if (transform) transform(batch);
    batch_labels.resize(static_cast<std::size_t>(count));
    for (Index i = 0; i < count; ++i) batch_labels[static_cast<std::size_t>(i)] = batch.label[static_cast<std::size_t>(i)] > 0.5f ? 1 : 0;
    model.predict(sequence_batch(batch, batch_labels.data()), out.data());
    for (Index i = 0; i < count; ++i) {
      const auto k = static_cast<std::size_t>(begin + i);
      prob[k] = static_cast<double>(out[static_cast<std::size_t>(i)]);
      labels[k] = batch_labels[static_cast<std::size_t>(i)];
      users[k] = batch.user[static_cast<std::size_t>(i)];
    }
  }
  m.auc = Metrics::auc(prob, labels);
  m.gauc = Metrics::grouped_auc(prob, labels, users);
  m.category_auc = Metrics::grouped_auc(prob, labels, cats);
  m.logloss = Metrics::logloss(prob, labels);
  m.auc_reference = Metrics::reference_auc(prob, labels);
  m.category_auc_reference = Metrics::reference_grouped_auc(prob, labels, cats);
  if (prob_out) *prob_out = std::move(prob);
  return m;
}

/// Trains `Model` (a SequenceModel) on a dataset by the reference protocol.
template <class Model>
class Trainer {
 public:
  using Scalar = typename Model::scalar_type;

  Trainer(Model& model, const Dataset& dataset, TrainOptions options)
      : model_(model), data_(dataset), options_(std::move(options)) {
    DARE_CHECK_ARG(options_.batch_size > 0, "batch_size must be positive, got ", options_.batch_size);
    DARE_CHECK_ARG(options_.epochs > 0, "epochs must be positive, got ", options_.epochs);
    DARE_CHECK_ARG(options_.eval_interval >= 0, "eval_interval must be non-negative");
    DARE_CHECK_ARG(options_.min_evals_per_epoch >= 0, "min_evals_per_epoch must be non-negative");
    DARE_CHECK_ARG(options_.eval_batch_size >= 0, "eval_batch_size must be non-negative (0: the batch size)");
    if (options_.eval_batch_size == 0) options_.eval_batch_size = options_.batch_size;
    DARE_CHECK_ARG(options_.precise_batches > 0 || options_.inference_stats == nn::InferenceStats::Running,
                   "precise_batches must be positive for ", nn::to_string(options_.inference_stats),
                   " statistics, got ", options_.precise_batches);
    DARE_CHECK_ARG(options_.threads >= 1, "threads must be at least 1, got ", options_.threads);
    DARE_CHECK_ARG(data_.max_len() == model.config().max_len, "dataset window ", data_.max_len(),
                   " differs from the model's max_len ", model.config().max_len);
    DARE_CHECK_ARG(data_.num_items() <= model.config().num_items && data_.num_cats() <= model.config().num_cats,
                   "the dataset's ids (", data_.num_items(), " items, ", data_.num_cats(),
                   " categories) do not fit the model's tables (", model.config().num_items, ", ",
                   model.config().num_cats, ")");
    DARE_CHECK_ARG(data_.train().size() > 0, "the dataset has no training samples");
    model_.set_threads(options_.threads);
  }

  /// Called after every step (and after each validation) with the current progress.
  void on_progress(std::function<void(const TrainProgress&)> fn) { progress_ = std::move(fn); }

  /// Metrics of the current model on a split (inference mode, with the model's inference
  /// statistics; see the header note for the chunks).
  EvalMetrics evaluate(ConstSpan<Sample> split) {
    return evaluate_split(model_, data_, split, options_.eval_batch_size, options_.eval_drop_last);
  }

  /// Recomputes the model's Precise BatchNorm statistics over the fixed training batches
  /// (the first precise_batches x batch_size samples of a seeded shuffle of whole groups,
  /// drawn once per trainer).
  void refresh_statistics() {
    const ConstSpan<Sample> train = data_.train();
    if (precise_order_.empty()) {
      const Index group = std::max<Index>(1, data_.group_size());
      std::vector<Index> groups(static_cast<std::size_t>((train.size() + group - 1) / group));
      std::iota(groups.begin(), groups.end(), Index{0});
      std::mt19937_64 gen(options_.shuffle_seed ^ 0x5eed0f57a75ULL);
      std::shuffle(groups.begin(), groups.end(), gen);
      const Index want = std::min(train.size(), options_.precise_batches * options_.batch_size);
      for (Index g : groups) {
        for (Index i = g * group; i < std::min((g + 1) * group, train.size()); ++i) {
          if (static_cast<Index>(precise_order_.size()) < want) precise_order_.push_back(i);
        }
      }
    }
    const Index n = static_cast<Index>(precise_order_.size());
    model_.begin_head_statistics();
    for (Index begin = 0; begin < n; begin += options_.batch_size) {
      const Index count = std::min(options_.batch_size, n - begin);
      fill_batch(data_, train, precise_order_.data() + begin, count, batch_);
      model_.accumulate_head_statistics(view(batch_));
    }
    model_.end_head_statistics();
  }

  /// Steps between validations for epochs of `steps_per_epoch` steps: eval_interval, made
  /// shorter when needed to validate min_evals_per_epoch times an epoch; 0 (only at the
  /// end) when eval_interval is 0.
  Index effective_eval_interval(Index steps_per_epoch) const noexcept {
    Index interval = options_.eval_interval;
    if (interval > 0 && options_.min_evals_per_epoch > 0) {
      const Index per_epoch = (steps_per_epoch + options_.min_evals_per_epoch - 1) / options_.min_evals_per_epoch;
      interval = std::max<Index>(1, std::min(interval, per_epoch));
    }
    return interval;
  }

  /// Runs the whole protocol (or, after resume_state, the rest of it); returns the
  /// best-on-validation model's test metrics, or a paused result (see pause_at_step).
  TrainResult run() {
    using Clock = std::chrono::steady_clock;
    const ScopedFlushDenormals ftz(options_.flush_denormals);
    if (!resumed_) {
      model_.configure_optimizer(options_.optimizer);
      st_ = RunState{};
      st_.result.best_val.auc = -1;
    }
    resumed_ = false;
    const ConstSpan<Sample> train = data_.train();
    const Index group = std::max<Index>(1, data_.group_size());
    const Index groups = (train.size() + group - 1) / group;
    const bool reference_order = options_.order == TrainOrder::Reference;
    const Index steps_per_epoch = (train.size() + options_.batch_size - 1) / options_.batch_size;
    Index total_steps = steps_per_epoch * options_.epochs;
    if (options_.max_steps > 0) total_steps = std::min(total_steps, options_.max_steps);
    const Index interval = effective_eval_interval(steps_per_epoch);

    TrainResult& result = st_.result;
    std::mt19937_64 gen(options_.shuffle_seed);
    std::vector<Index> group_order(static_cast<std::size_t>(groups)), order;
    order.reserve(static_cast<std::size_t>(train.size()));
    const nn::InferenceStats stats = options_.inference_stats;
    model_.set_inference_stats(stats);

    auto validate = [&](Index step, int epoch) {
      const auto started = Clock::now();
      EvalMetrics val;
      try {
        if (stats == nn::InferenceStats::Precise) refresh_statistics();
        val = evaluate(data_.val());
      } catch (const std::exception& e) {
        throw step_error(e, step, "the validation after step");
      }
      ValidationPoint point;
      point.step = step;
      point.epoch = epoch;
      point.auc = val.auc;
      point.logloss = val.logloss;
      point.train_loss = st_.recent > 0 ? st_.recent_loss / static_cast<double>(st_.recent) : 0;
      point.train_aux_loss = st_.recent > 0 ? st_.recent_aux / static_cast<double>(st_.recent) : 0;
      result.history.push_back(point);
      if (val.auc > result.best_val.auc) {
        result.best_val = val;
        result.best_step = step;
        // Batch evaluation never reads the stored statistics; the checkpoint gets precise ones.
        if (stats == nn::InferenceStats::Batch) refresh_statistics();
        if (options_.checkpoint_path.empty()) {
          std::ostringstream os;
          model_.save(os, false);
          st_.best_model = os.str();
        } else {
          model_.save(options_.checkpoint_path, false);
        }
      }
      result.validation_seconds += std::chrono::duration<double>(Clock::now() - started).count();
      return val.auc;
    };

    if (reference_order) {
      // One fixed shuffle of the samples, the same for every training seed and epoch.
      order.resize(static_cast<std::size_t>(train.size()));
      std::iota(order.begin(), order.end(), Index{0});
      std::mt19937_64 fixed(kReferenceOrderSeed);
      std::shuffle(order.begin(), order.end(), fixed);
    }
    // A resumed run replays the epochs' shuffles and skips the steps already taken.
    const Index first_step = st_.step;
    Index step = 0;
    int epoch = 0;
    for (; epoch < options_.epochs && step < total_steps; ++epoch) {
      if (!reference_order) {
        std::iota(group_order.begin(), group_order.end(), Index{0});
        std::shuffle(group_order.begin(), group_order.end(), gen);
        order.clear();
        for (Index g : group_order) {
          for (Index i = g * group; i < std::min((g + 1) * group, train.size()); ++i) order.push_back(i);
        }
      }
      for (Index begin = 0; begin < train.size() && step < total_steps; begin += options_.batch_size) {
        if (step < first_step) {
          ++step;
          continue;
        }
        const Index count = std::min(options_.batch_size, train.size() - begin);
        const auto t0 = Clock::now();
        fill_batch(data_, train, order.data() + begin, count, batch_);
        StepLoss loss;
        try {
          loss = model_.forward_backward(view(batch_));
        } catch (const std::exception& e) {
          throw step_error(e, step + 1, "step");
        }
        if (!std::isfinite(loss.main) || !std::isfinite(loss.aux)) {
          throw std::runtime_error(detail::concat("training diverged: the loss is ", loss.total(), " at step ",
                                                  step + 1, " (epoch ", epoch + 1,
                                                  "); lower the learning rate (now ", options_.optimizer.lr, ")"));
        }
        model_.step();
        result.train_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
        result.samples_seen += count;
        ++step;
        st_.step = step;
        st_.recent_loss += loss.main;
        st_.recent_aux += loss.aux;
        ++st_.recent;

        const bool last = step == total_steps;
        const bool eval = (last && options_.validate_at_end) || (interval > 0 && step % interval == 0);
        TrainProgress p;
        p.epoch = epoch + 1;
        p.step = step;
        p.total_steps = total_steps;
        p.loss = st_.recent_loss / static_cast<double>(st_.recent);
        p.samples_per_sec = static_cast<double>(result.samples_seen) / result.train_seconds;
        p.eta_seconds = static_cast<double>(total_steps - step) * result.train_seconds /
                        static_cast<double>(std::max<Index>(1, step - first_step));
        if (eval) {
          p.validated = true;
          p.val_auc = validate(step, epoch + 1);
          st_.recent_loss = 0;
          st_.recent_aux = 0;
          st_.recent = 0;
        }
        p.best_val_auc = result.best_val.auc;
        if (progress_) progress_(p);
        if (options_.pause_at_step > 0 && step == options_.pause_at_step && step < total_steps) {
          result.steps = step;
          result.eval_interval = interval;
          result.samples_per_sec = static_cast<double>(result.samples_seen) / result.train_seconds;
          result.paused = true;
          return result;
        }
      }
    }
    if (result.history.empty()) {
      // Nothing was validated on schedule: there is no best model but the last one.
      result.forced_final_validation = true;
      validate(step, epoch);
    }
    result.steps = step;
    result.eval_interval = interval;
    result.samples_per_sec = static_cast<double>(result.samples_seen) / result.train_seconds;
    result.paused = false;

    // Back to the best model on validation, then test it.
    if (options_.checkpoint_path.empty()) {
      std::istringstream is(st_.best_model);
      model_.load(is, "best model (in memory)");
    } else {
      model_.load(options_.checkpoint_path);
    }
    result.test = evaluate(data_.test());
    return result;
  }

  /// The state of a paused run (see pause_at_step): the settings it must be resumed with,
  /// its step, validation history and best model so far, then the model with its optimizer
  /// state. Only a run that keeps its best model in memory (no checkpoint_path) can be saved.
  void save_state(std::ostream& os) {
    DARE_CHECK_ARG(st_.result.paused, "save_state: the run is not paused (set pause_at_step)");
    DARE_CHECK_ARG(options_.checkpoint_path.empty(), "save_state: the best model lives in ",
                   options_.checkpoint_path, "; only runs that keep it in memory can be saved");
    detail::BinaryWriter w(os);
    w.magic(kStateMagic);
    w.u32(kStateVersion);
    for (std::uint64_t v : fingerprint()) w.u64(v);
    w.u64(static_cast<std::uint64_t>(st_.step));
    const TrainResult& r = st_.result;
    w.u64(static_cast<std::uint64_t>(r.best_step));
    w.u64(static_cast<std::uint64_t>(r.samples_seen));
    for (double v : {r.train_seconds, r.validation_seconds, st_.recent_loss, st_.recent_aux}) w.f64(v);
    w.u64(static_cast<std::uint64_t>(st_.recent));
    const EvalMetrics& b = r.best_val;
    for (double v : {b.auc, b.gauc, b.category_auc, b.logloss, b.auc_reference, b.category_auc_reference}) w.f64(v);
    w.u64(static_cast<std::uint64_t>(b.samples));
    w.u64(r.history.size());
    for (const ValidationPoint& h : r.history) {
      w.u64(static_cast<std::uint64_t>(h.step));
      w.u64(static_cast<std::uint64_t>(h.epoch));
      for (double v : {h.auc, h.logloss, h.train_loss, h.train_aux_loss}) w.f64(v);
    }
    w.u64(st_.best_model.size());
    w.checksum();
    os.write(st_.best_model.data(), static_cast<std::streamsize>(st_.best_model.size()));
    model_.save(os, true);
    w.check("training state");
  }

  /// Restores a state written by save_state with the same settings and dataset; the next
  /// run() continues from its step and, to the last bit, equals the run that was paused
  /// continuing (same thread count assumed: a different one reorders gradient sums).
  void resume_state(std::istream& is, const std::string& name) {
    detail::BinaryReader r(is, name);
    r.expect_magic(kStateMagic, "dare training state");
    const auto version = r.u32("version");
    if (version != kStateVersion) {
      throw FormatError(name, 0, "version", detail::concat("unsupported training state version ", version,
                                                           " (this build reads ", kStateVersion, ")"));
    }
    static constexpr const char* names[] = {"batch_size", "epochs", "eval_interval", "min_evals_per_epoch",
                                            "validate_at_end", "eval_batch_size", "eval_drop_last",
                                            "inference_stats", "precise_batches", "train_order", "shuffle_seed",
                                            "lr (bits)", "l2 (bits)", "training samples", "max_steps",
                                            "embedding_mode", "reference_l2"};
    const auto expect = fingerprint();
    for (std::size_t i = 0; i < expect.size(); ++i) {
      const auto v = r.u64(names[i]);
      if (v != expect[i]) {
        throw FormatError(name, 0, names[i], detail::concat("the state was saved with ", v, ", this run has ", expect[i],
                                                            ": resume with the settings of the paused run"));
      }
    }
    RunState st;
    st.step = static_cast<Index>(r.u64("step"));
    st.result.best_step = static_cast<Index>(r.u64("best_step"));
    st.result.samples_seen = static_cast<Index>(r.u64("samples_seen"));
    st.result.train_seconds = r.f64("train_seconds");
    st.result.validation_seconds = r.f64("validation_seconds");
    st.recent_loss = r.f64("recent_loss");
    st.recent_aux = r.f64("recent_aux");
    st.recent = static_cast<Index>(r.u64("recent"));
    EvalMetrics& b = st.result.best_val;
    b.auc = r.f64("best_val.auc");
    b.gauc = r.f64("best_val.gauc");
    b.category_auc = r.f64("best_val.category_auc");
    b.logloss = r.f64("best_val.logloss");
    b.auc_reference = r.f64("best_val.auc_reference");
    b.category_auc_reference = r.f64("best_val.category_auc_reference");
    b.samples = static_cast<Index>(r.u64("best_val.samples"));
    const auto points = r.u64("history");
    if (points > static_cast<std::uint64_t>(st.step) + 1) r.fail("history", "more validations than steps");
    for (std::uint64_t i = 0; i < points; ++i) {
      ValidationPoint h;
      h.step = static_cast<Index>(r.u64("history.step"));
      h.epoch = static_cast<int>(r.u64("history.epoch"));
      h.auc = r.f64("history.auc");
      h.logloss = r.f64("history.logloss");
      h.train_loss = r.f64("history.train_loss");
      h.train_aux_loss = r.f64("history.train_aux_loss");
      st.result.history.push_back(h);
    }
    const auto best_bytes = r.u64("best_model");
    r.verify_checksum();
    r.require_remaining(best_bytes, "best_model");
    st.best_model.resize(static_cast<std::size_t>(best_bytes));
    is.read(st.best_model.data(), static_cast<std::streamsize>(best_bytes));
    if (static_cast<std::uint64_t>(is.gcount()) != best_bytes) r.fail("best_model", "the file ends inside it");
    {
      std::istringstream check(st.best_model);  // the best model must load, or nothing changes
      Model scratch(model_.config());
      scratch.load(check, name + " (best model)");
    }
    model_.configure_optimizer(options_.optimizer);
    model_.load(is, name);
    DARE_CHECK_ARG(model_.has_optimizer(), name, ": the state holds no optimizer state");
    st_ = std::move(st);
    resumed_ = true;
  }

 private:
  // The error of a step (or of the validation after it): a NaN that reaches the search
  // means the parameters diverged in an earlier step, which the message says with a hint.
  std::runtime_error step_error(const std::exception& e, Index step, const char* where) const {
    const bool nan = std::string(e.what()).find("NaN") != std::string::npos;
    return std::runtime_error(detail::concat(nan ? "training diverged" : "training failed", " at ", where, ' ',
                                             step, ": ", e.what(),
                                             nan ? detail::concat("; lower the learning rate (now ", options_.optimizer.lr, ")")
                                                 : std::string()));
  }

  SequenceBatch view(const Batch& b) {
    labels_.resize(static_cast<std::size_t>(b.size));
    for (Index i = 0; i < b.size; ++i) labels_[static_cast<std::size_t>(i)] = b.label[static_cast<std::size_t>(i)] > 0.5f ? 1 : 0;
    return sequence_batch(b, labels_.data());
  }

  static constexpr std::uint64_t kReferenceOrderSeed = 2024;
  static constexpr char kStateMagic[9] = "DARETRST";
  static constexpr std::uint32_t kStateVersion = 1;

  // What a run carries from step to step (saved by save_state).
  struct RunState {
    Index step = 0;
    TrainResult result;
    double recent_loss = 0, recent_aux = 0;
    Index recent = 0;
    std::string best_model;  // checkpoint of the best model so far (in-memory mode)
  };

  // The settings a resumed run must share with the paused one.
  std::array<std::uint64_t, 17> fingerprint() const {
    auto bits = [](double x) {
      std::uint64_t u;
      std::memcpy(&u, &x, sizeof u);
      return u;
    };
    const TrainOptions& o = options_;
    return {static_cast<std::uint64_t>(o.batch_size), static_cast<std::uint64_t>(o.epochs),
            static_cast<std::uint64_t>(o.eval_interval), static_cast<std::uint64_t>(o.min_evals_per_epoch),
            o.validate_at_end ? 1u : 0u, static_cast<std::uint64_t>(o.eval_batch_size), o.eval_drop_last ? 1u : 0u,
            static_cast<std::uint64_t>(o.inference_stats), static_cast<std::uint64_t>(o.precise_batches),
            static_cast<std::uint64_t>(o.order), o.shuffle_seed, bits(o.optimizer.lr), bits(o.optimizer.l2),
            static_cast<std::uint64_t>(data_.train().size()), static_cast<std::uint64_t>(o.max_steps),
            static_cast<std::uint64_t>(o.optimizer.embedding_mode), o.optimizer.reference_l2 ? 1u : 0u};
  }

  Model& model_;
  const Dataset& data_;
  TrainOptions options_;
  std::vector<Index> precise_order_;  // training samples behind Precise statistics
  RunState st_;
  bool resumed_ = false;
  std::function<void(const TrainProgress&)> progress_;
  Batch batch_;
  std::vector<int> labels_;
};

}  // namespace dare
