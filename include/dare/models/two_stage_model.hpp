// dare/models/two_stage_model.hpp — the TWIN-family model: search, attention, aggregation,
// prediction, with the embedding tables either shared (TWIN) or decoupled (DARE).
//
// Design. A sample is a left-padded window of L behaviours (item, category; the behaviour at
// window index j has time id L - j) and a target (item, category, time id 0). Each id is
// embedded per field and the fields are concatenated (DESIGN §1):
//
//   search     s_j = <q_sem, k_sem_j> / sqrt(2A) + <q_time, k_time_j> / sqrt(A)   (attention
//              embeddings, A per field; padded positions score -2^32+1), keep the top K;
//   attention  w = softmax over the K kept scores;
//   aggregate  u = Σ w_k r_k over the representation embeddings (R per field), TR = v ⊙ u;
//   predict    [v, u, v ⊙ u] → BatchNorm → Linear 200 → PReLU → Linear 80 → PReLU → Linear 2;
//   auxiliary  the same features with u_all = softmax over all L positions, its own head
//              (BatchNorm → Linear 200 → PReLU → Linear 2), loss added with weight 1.
//
// `Tables` picks the embedding policy: `DecoupledTables` (DARE: attention and representation
// tables are separate, gradients of one never reach the other) or `SharedTables` (TWIN: one
// table serves both, so A == R). `Dare<Scalar, A, R>` and `Twin<Scalar, D>` are aliases.
//
// Two things keep the per-sample work small. The time part of every key is the same for all
// samples (window index j always has time id L - j, the query always time id 0), so its
// score term is one vector per batch and the per-sample search is a dot product over the
// 2A semantic components only. And every buffer a sample needs lives in per-worker scratch,
// so a training step allocates nothing once the batch size is fixed.
//
// Parallelism: samples of a batch are split over `threads` workers, each with its own
// scratch and gradient accumulators, merged before the optimizer step. The two MLP heads
// run on the whole batch (their BatchNorm needs batch statistics).
//
// Inference statistics. The main head's input BatchNorm normalises, outside training, with
// the statistics `set_inference_stats` names (see nn/batch_norm.hpp): its running average
// (Running), each predict() batch's own (Batch), or population statistics recomputed with
// frozen parameters by begin/accumulate/end_head_statistics (Precise). Serving one user
// (score_candidates) always uses the stored statistics, never the candidates' own, so a
// candidate's score does not depend on which other candidates were asked about; a model
// meant for serving should have Precise statistics. The mode is saved in checkpoints.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <sstream>
#include <cmath>
#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "dare/attention/softmax_attention.hpp"
#include "dare/attention/target_aggregation.hpp"
#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/core/parallel.hpp"
#include "dare/embedding/adam.hpp"
#include "dare/embedding/binary_io.hpp"
#include "dare/embedding/embedding_table.hpp"
#include "dare/embedding/sparse_grad.hpp"
#include "dare/nn/adam.hpp"
#include "dare/nn/loss.hpp"
#include "dare/nn/mlp.hpp"
#include "dare/nn/parameter.hpp"
#include "dare/search/dot_kernels.hpp"
#include "dare/search/topk.hpp"

namespace dare {

/// Embedding policy of DARE: separate attention and representation tables.
struct DecoupledTables {
  static constexpr bool shared = false;
  static constexpr const char* name = "dare";
};
/// Embedding policy of TWIN: one table serves attention and representation.
struct SharedTables {
  static constexpr bool shared = true;
  static constexpr const char* name = "twin";
};

/// Sizes and hyper-parameters of a two-stage model. Defaults are the reference settings.
struct ModelConfig {
  Index num_items = 0;      ///< rows of the item tables (largest item id + 1)
  Index num_cats = 0;       ///< rows of the category tables
  Index num_times = 2000;   ///< rows of the time (position) tables
  Index att_dim = 16;       ///< attention width per field (A)
  Index repr_dim = 16;      ///< representation width per field (R); TWIN: must equal att_dim
  Index max_len = 200;      ///< history window L
  Index top_k = 20;         ///< behaviours kept by the search, K
  std::vector<Index> hidden = {200, 80};  ///< main head hidden sizes
  std::vector<Index> aux_hidden = {200};  ///< auxiliary head hidden sizes
  bool aux_loss = true;     ///< train the auxiliary full-attention head
  double init_sigma = 0.01; ///< N(0, σ) for embeddings and Linear weights
  /// The public reference's initialisation: BatchNorm γ and the PReLU slopes are drawn
  /// N(0, σ) too (every parameter whose name lacks "bias"). Off: the layers' own defaults,
  /// γ = 1 and slope 0.1. On by default: on the built-in synthetic log it raised TWIN's test
  /// AUC from 0.889 to 0.911 and DARE's from 0.908 to 0.912 (3 seeds, README).
  bool reference_init = true;
  std::uint64_t seed = 1;   ///< initialisation seed
};

/// Optimizer settings (reference: Adam, lr 0.01, L2 1e-6 on non-embedding non-bias weights).
struct OptimizerConfig {
  double lr = 0.01;
  double l2 = 1e-6;
  AdamMode embedding_mode = AdamMode::Dense;  ///< Dense = torch.optim.Adam; Lazy = SparseAdam
  /// The public reference's L2: a loss term l2·Σp² over every head parameter whose name lacks
  /// "bias" (BatchNorm γ and PReLU slopes too), so the gradient term is 2·l2·p. Off: l2·p
  /// on the Linear weights only. On by default, with ModelConfig::reference_init.
  bool reference_l2 = true;
};

/// A batch of samples as the model reads it (views, not owned). Histories are size x max_len,
/// row-major, left-padded with id 0, most recent behaviour last.
struct SequenceBatch {
  Index size = 0;
  Index max_len = 0;
  const Id* hist_item = nullptr;
  const Id* hist_cat = nullptr;
  const Id* target_item = nullptr;
  const Id* target_cat = nullptr;
  const int* label = nullptr;  ///< 0/1 per sample; needed for training and loss only
};

/// Losses of one training step (means over the batch).
struct StepLoss {
  double main = 0;
  double aux = 0;
  double total() const noexcept { return main + aux; }
};

namespace detail {
constexpr int times(int k, int d) noexcept { return d == Dynamic ? Dynamic : k * d; }
}  // namespace detail

/// The TWIN-family two-stage model; see the header note. `AttDim`/`ReprDim` are per-field
/// widths, fixed or `Dynamic` (then taken from the config).
template <class Scalar, int AttDim, int ReprDim, class Tables>
class TwoStageModel {
  static_assert(!Tables::shared || AttDim == ReprDim,
                "shared tables (TWIN) need the same attention and representation width");

 public:
  using scalar_type = Scalar;
  using Matrix = nn::Matrix<Scalar>;
  using AttTable = EmbeddingTable<Scalar, AttDim>;
  using ReprTable = EmbeddingTable<Scalar, ReprDim>;
  using AttGrad = SparseGrad<Scalar, AttDim>;
  using ReprGrad = SparseGrad<Scalar, ReprDim>;
  static constexpr bool kShared = Tables::shared;
  static constexpr int kSemDim = detail::times(2, AttDim);   // search width, 2A
  static constexpr int kReprWidth = detail::times(3, ReprDim);  // value width, 3R

  explicit TwoStageModel(const ModelConfig& config)
      : config_(checked(config)),
        A_(config.att_dim, "att_dim"),
        R_(config.repr_dim, "repr_dim"),
        att_item_(config.num_items, config.att_dim),
        att_cat_(config.num_cats, config.att_dim),
        att_time_(config.num_times, config.att_dim),
        repr_item_(kShared ? 1 : config.num_items, config.repr_dim),
        repr_cat_(kShared ? 1 : config.num_cats, config.repr_dim),
        repr_time_(kShared ? 1 : config.num_times, config.repr_dim),
        main_(feature_width(), config.hidden, 2, head_options("main")),
        aux_(feature_width(), config.aux_hidden, 2, head_options("aux")),
        aggregation_(3 * config.repr_dim) {
    const auto sigma = static_cast<Scalar>(config.init_sigma);
    std::uint64_t s = config.seed;
    att_item_.init_normal(sigma, s + 1);
    att_cat_.init_normal(sigma, s + 2);
    att_time_.init_normal(sigma, s + 3);
    if (!kShared) {
      repr_item_.init_normal(sigma, s + 4);
      repr_cat_.init_normal(sigma, s + 5);
      repr_time_.init_normal(sigma, s + 6);
    }
    if (config.reference_init) {
      main_.init_normal_all_weights(sigma, s + 7);
      aux_.init_normal_all_weights(sigma, s + 8);
    } else {
      main_.init_normal(sigma, s + 7);
      aux_.init_normal(sigma, s + 8);
    }
    set_threads(1);
  }

  // ---- introspection -----------------------------------------------------------------------
  const ModelConfig& config() const noexcept { return config_; }
  Index att_dim() const noexcept { return A_; }
  Index repr_dim() const noexcept { return R_; }
  /// Width of the head input [v, u, v ⊙ u]: 9R.
  Index feature_width() const noexcept { return 9 * config_.repr_dim; }
  static constexpr const char* name() noexcept { return Tables::name; }

  /// Attention tables (item, category, time). For TWIN these are the only tables.
  AttTable& att_item() noexcept { return att_item_; }
  AttTable& att_cat() noexcept { return att_cat_; }
  AttTable& att_time() noexcept { return att_time_; }
  /// Representation tables; for TWIN the same objects as the attention tables.
  ReprTable& repr_item() noexcept { return repr_table(0); }
  ReprTable& repr_cat() noexcept { return repr_table(1); }
  ReprTable& repr_time() noexcept { return repr_table(2); }
  nn::Mlp<Scalar>& main_head() noexcept { return main_; }
  nn::Mlp<Scalar>& aux_head() noexcept { return aux_; }

  /// Gradients of the last `forward_backward`, per table (TWIN: the repr_* accessors return
  /// the same accumulators as att_*, holding the sum of both uses).
  const AttGrad& att_item_grad() const noexcept { return grads_[0].att_item; }
  const AttGrad& att_cat_grad() const noexcept { return grads_[0].att_cat; }
  const AttGrad& att_time_grad() const noexcept { return grads_[0].att_time; }
  const ReprGrad& repr_item_grad() const noexcept { return repr_grad(grads_[0], 0); }
  const ReprGrad& repr_cat_grad() const noexcept { return repr_grad(grads_[0], 1); }
  const ReprGrad& repr_time_grad() const noexcept { return repr_grad(grads_[0], 2); }

  /// Every MLP parameter (both heads), for the optimizer and checkpoints.
  std::vector<nn::Parameter<Scalar>*> head_parameters() {
    auto p = main_.parameters();
    auto q = aux_.parameters();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }

  /// Number of worker threads used by training and batch prediction.
  void set_threads(int threads) {
    DARE_CHECK_ARG(threads >= 1, "threads must be at least 1, got ", threads);
    threads_ = threads;
    while (static_cast<int>(work_.size()) < threads) work_.emplace_back(*this);
    while (static_cast<int>(grads_.size()) < threads) grads_.emplace_back(*this);
  }
  int threads() const noexcept { return threads_; }

  // ---- training ----------------------------------------------------------------------------

  /// Forward and backward pass of one batch in training mode: returns the losses and leaves
  /// the gradients of every table (sparse) and head parameter (dense, zeroed first) in place
  /// for `step`. `prob` (optional) receives the main head's click probability per sample.
  StepLoss forward_backward(const SequenceBatch& batch, Scalar* prob = nullptr) {
    check_batch(batch, true);
    const Index B = batch.size;
    prepare_batch(B);
    main_.set_training(true);
    aux_.set_training(true);
    time_bias();

    // Per-sample forward: search, attention, aggregation → head inputs.
    parallel_for(threads_, B, [&](int w, Index begin, Index end) {
      work_[w].cached = false;
      for (Index s = begin; s < end; ++s) sample_forward(work_[w], batch, s, true);
    });

    // Heads on the whole batch.
    StepLoss loss;
    for (auto* p : head_parameters()) p->grad.setZero();
    main_.forward(x_main_, logits_main_);
    loss.main = loss_.forward_backward(logits_main_, batch.label, dlogits_main_, prob);
    main_.backward(dlogits_main_, &dx_main_);
    if (config_.aux_loss) {
      aux_.forward(x_aux_, logits_aux_);
      loss.aux = loss_.forward_backward(logits_aux_, batch.label, dlogits_aux_);
      aux_.backward(dlogits_aux_, &dx_aux_);
    }

    // Per-sample backward into per-worker accumulators, then merged into worker 0's.
    parallel_for(threads_, B, [&](int w, Index begin, Index end) {
      Grads& g = grads_[w];
      g.clear(config_.max_len);
      work_[w].cached = false;
      for (Index s = begin; s < end; ++s) sample_backward(work_[w], g, batch, s);
    });
    finish_gradients();
    return loss;
  }

  /// Creates the optimizers (call once before the first `step`, again to change settings).
  void configure_optimizer(const OptimizerConfig& opt) {
    opt_config_ = opt;
    AdamOptions table_options;
    table_options.lr = opt.lr;
    att_adam_.clear();
    repr_adam_.clear();
    for (AttTable* t : {&att_item_, &att_cat_, &att_time_}) {
      att_adam_.push_back(std::make_unique<TableAdam<Scalar, AttDim>>(*t, table_options, opt.embedding_mode));
    }
    if constexpr (!kShared) {
      for (ReprTable* t : {&repr_item_, &repr_cat_, &repr_time_}) {
        repr_adam_.push_back(std::make_unique<TableAdam<Scalar, ReprDim>>(*t, table_options, opt.embedding_mode));
      }
    }
    main_.decay_all_weights(opt.reference_l2);
    aux_.decay_all_weights(opt.reference_l2);
    nn::AdamOptions head_options;
    head_options.lr = opt.lr;
    head_options.weight_decay = opt.reference_l2 ? 2 * opt.l2 : opt.l2;
    head_adam_ = std::make_unique<nn::Adam<Scalar>>(head_parameters(), head_options);
  }
  bool has_optimizer() const noexcept { return head_adam_ != nullptr; }

  /// One optimizer step with the gradients of the last forward_backward.
  void step() {
    DARE_CHECK_ARG(head_adam_ != nullptr, "configure_optimizer must be called before step");
    const Grads& g = grads_[0];
    att_adam_[0]->step(g.att_item);
    att_adam_[1]->step(g.att_cat);
    att_adam_[2]->step(g.att_time);
    if constexpr (!kShared) {
      repr_adam_[0]->step(g.repr_item);
      repr_adam_[1]->step(g.repr_cat);
      repr_adam_[2]->step(g.repr_time);
    }
    head_adam_->step();
  }

  /// Learning rate of every optimizer (for schedules).
  void set_lr(double lr) {
    opt_config_.lr = lr;
    for (auto& a : att_adam_) a->set_lr(lr);
    for (auto& a : repr_adam_) a->set_lr(lr);
    if (head_adam_) head_adam_->set_lr(lr);
  }

  // ---- inference ---------------------------------------------------------------------------

  /// The statistics the main head's BatchNorm normalises with in predict (see the header
  /// note). A new model uses Running; checkpoints record the mode.
  void set_inference_stats(nn::InferenceStats stats) noexcept { inference_stats_ = stats; }
  nn::InferenceStats inference_stats() const noexcept { return inference_stats_; }

  /// Click probability of every sample (inference mode: no auxiliary head, no gradients;
  /// BatchNorm statistics as inference_stats says, so with Batch the batch needs at least
  /// two samples and each probability depends on the whole batch).
  void predict(const SequenceBatch& batch, Scalar* prob) {
    head_inputs(batch);
    main_.set_training(false);
    main_.set_inference_stats(inference_stats_);
    main_.forward(x_main_, logits_main_);
    nn::SoftmaxCrossEntropy<Scalar>::positive_probability(logits_main_, prob);
  }

  /// Population statistics of the main head's input (Precise inference): begin, then
  /// accumulate any number of batches (typically training batches), then end, which writes
  /// the exact mean and unbiased variance of every accumulated head input into the
  /// BatchNorm's stored statistics. The parameters are not changed. Only the main head is
  /// estimated: the auxiliary head is never used outside training.
  void begin_head_statistics() { main_.batch_norm().begin_population(); }
  void accumulate_head_statistics(const SequenceBatch& batch) {
    head_inputs(batch);
    main_.batch_norm().accumulate_population(x_main_);
  }
  void end_head_statistics() { main_.batch_norm().end_population(); }

  /// The main head's input [v, u, v ⊙ u] of every sample of the last forward pass (one
  /// column per sample, 9R rows), before its BatchNorm.
  const Matrix& head_input() const noexcept { return x_main_; }

  /// Scores one user's history against `m` candidate targets (serving). The history is
  /// `len` behaviours, oldest first (len <= max_len; it is left-padded to the window). The
  /// history is gathered and embedded once; the search runs all candidates against it.
  void score_candidates(const Id* hist_item, const Id* hist_cat, Index len, const Id* cand_item,
                        const Id* cand_cat, Index m, Scalar* prob) {
    const Index L = config_.max_len;
    DARE_CHECK_ARG(len >= 0 && len <= L, "history length ", len, " must be in [0, ", L, "]");
    DARE_CHECK_ARG(m >= 0, "candidate count must be non-negative, got ", m);
    for (Index i = 0; i < len; ++i) {
      check_id(att_item_, hist_item[i], "history item", i);
      check_id(att_cat_, hist_cat[i], "history category", i);
    }
    for (Index i = 0; i < m; ++i) {
      check_id(att_item_, cand_item[i], "candidate item", i);
      check_id(att_cat_, cand_cat[i], "candidate category", i);
    }
    Work& w = work_[0];
    serve_items_.assign(static_cast<std::size_t>(L), Id{0});
    serve_cats_.assign(static_cast<std::size_t>(L), Id{0});
    std::copy(hist_item, hist_item + len, serve_items_.begin() + (L - len));
    std::copy(hist_cat, hist_cat + len, serve_cats_.begin() + (L - len));
    SequenceBatch one;
    one.size = 1;
    one.max_len = L;
    one.hist_item = serve_items_.data();
    one.hist_cat = serve_cats_.data();
    w.cached = false;
    gather_history(w, one, 0);

    prepare_batch(m);
    main_.set_training(false);
    // The stored statistics, never the candidates' own (see the header note).
    main_.set_inference_stats(nn::InferenceStats::Running);
    time_bias();
    const Index sem = 2 * A_;
    serve_queries_.resize(static_cast<std::size_t>(m * w.sem_stride));
    serve_scores_.resize(static_cast<std::size_t>(m * L));
    const Scalar q_scale = Scalar(1) / std::sqrt(static_cast<Scalar>(sem));
    for (Index c = 0; c < m; ++c) {
      Scalar* q = serve_queries_.data() + c * w.sem_stride;
      copy_row(att_item_.row(cand_item[c]), A_, q, q_scale);
      copy_row(att_cat_.row(cand_cat[c]), A_, q + A_, q_scale);
    }
    dot_rows_multi<kSemDim>(serve_queries_.data(), m, w.sem_stride, w.keys.data(), L, w.sem_stride,
                            serve_scores_.data(), L, sem);
    for (Index c = 0; c < m; ++c) {
      Scalar* scores = serve_scores_.data() + c * L;
      for (Index j = 0; j < L; ++j) scores[j] = w.valid[j] ? scores[j] + time_bias_[j] : kPadding;
      head_features(w, scores, cand_item[c], cand_cat[c], c, false);
    }
    main_.forward(x_main_, logits_main_);
    nn::SoftmaxCrossEntropy<Scalar>::positive_probability(logits_main_, prob);
  }

  /// Positions (window indices) and weights the search keeps for sample `s` of the last
  /// forward pass, best first — for inspection and tests.
  void selected(Index s, Index* positions, Scalar* weights) const {
    const Index K = config_.top_k;
    for (Index k = 0; k < K; ++k) {
      positions[k] = top_pos_[static_cast<std::size_t>(s * K + k)];
      weights[k] = top_w_[static_cast<std::size_t>(s * K + k)];
    }
  }

  // ---- checkpoints -------------------------------------------------------------------------

  /// Writes every table, head parameter and BatchNorm running statistic (and, if
  /// `with_optimizer` and configured, the optimizer state).
  void save(std::ostream& os, bool with_optimizer = true) {
    detail::BinaryWriter w(os);
    w.magic(kMagic);
    w.u32(kVersion);
    w.u32(static_cast<std::uint32_t>(sizeof(Scalar)));
    w.u32(kShared ? 1 : 0);
    for (Index v : shape()) w.u64(static_cast<std::uint64_t>(v));
    w.u32(static_cast<std::uint32_t>(inference_stats_));
    const bool opt = with_optimizer && head_adam_ != nullptr;
    w.u32(opt ? 1 : 0);
    w.checksum();
    for_each_table([&](const auto& t) { t.save(os); });
    nn::save_parameters(os, head_parameters());
    nn::save_parameters(os, head_buffers());
    if (opt) {
      for (const auto& a : att_adam_) a->save(os);
      for (const auto& a : repr_adam_) a->save(os);
      head_adam_->save(os);
    }
    w.check("model checkpoint");
  }

  /// Reads a checkpoint written by `save` from a model of the same type and sizes. The
  /// whole checkpoint is read and checked into a scratch model first, so a bad file leaves
  /// this model untouched. Optimizer state, when present, is restored too.
  void load(std::istream& is, const std::string& name) {
    TwoStageModel scratch(config_);
    const bool has_opt = scratch.read(is, name, opt_config_);
    for_each_table_pair(scratch, [](auto& mine, auto& theirs) { std::swap(mine, theirs); });
    copy_values(scratch.head_parameters(), head_parameters());
    copy_values(scratch.head_buffers(), head_buffers());
    inference_stats_ = scratch.inference_stats_;
    if (has_opt) {
      if (!has_optimizer()) configure_optimizer(opt_config_);
      // Optimizers hold references to their own model's tables: move the state through a
      // buffer rather than the objects.
      std::stringstream buffer;
      for (const auto& a : scratch.att_adam_) a->save(buffer);
      for (const auto& a : scratch.repr_adam_) a->save(buffer);
      scratch.head_adam_->save(buffer);
      for (auto& a : att_adam_) a->load(buffer, name);
      for (auto& a : repr_adam_) a->load(buffer, name);
      head_adam_->load(buffer, name);
    }
  }

  void save(const std::string& path, bool with_optimizer = true) {
    detail::save_file_atomically(path, "model checkpoint", [&](std::ostream& os) { save(os, with_optimizer); });
  }
  /// Reads the checkpoint file `path`, which must hold nothing after the checkpoint.
  void load(const std::string& path) {
    detail::load_file(path, "the model checkpoint", [&](std::istream& is, const std::string& name) { load(is, name); });
  }

  TwoStageModel(const TwoStageModel&) = delete;
  TwoStageModel& operator=(const TwoStageModel&) = delete;

 private:
  static constexpr char kMagic[9] = "DAREMODL";
  // Version 2 added the inference statistics mode after the shape.
  static constexpr std::uint32_t kVersion = 2;
  static constexpr Scalar kPadding = SoftmaxAttention<Scalar>::kPaddingScore;

  // Per-worker scratch for one sample at a time (sized once from the config).
  struct Work {
    explicit Work(const TwoStageModel& m)
        : sem_stride(aligned_stride<Scalar>(2 * m.A_)),
          val_stride(aligned_stride<Scalar>(3 * m.R_)),
          keys(static_cast<std::size_t>(m.config_.max_len * sem_stride)),
          vals(static_cast<std::size_t>(m.config_.max_len * val_stride)),
          sel(static_cast<std::size_t>(m.config_.top_k * val_stride)),
          dvals(vals.size()),
          dsel(sel.size()),
          scores(static_cast<std::size_t>(m.config_.max_len)),
          all_w(scores.size()),
          ds(scores.size()),
          dw_all(scores.size()),
          top_scores(static_cast<std::size_t>(m.config_.top_k)),
          dw(top_scores.size()),
          ds_top(top_scores.size()),
          top_pos(top_scores.size()),
          valid(scores.size()),
          hist_item(scores.size()),
          hist_cat(scores.size()),
          q(static_cast<std::size_t>(sem_stride)),
          dq(q.size()),
          v(static_cast<std::size_t>(val_stride)),
          u(v.size()),
          u_all(v.size()),
          dv(v.size()),
          du(v.size()),
          dtr(v.size()),
          topk(m.config_.top_k) {}
    Index sem_stride, val_stride;
    AlignedVector<Scalar> keys, vals, sel, dvals, dsel;
    std::vector<Scalar> scores, all_w, ds, dw_all, top_scores, dw, ds_top;
    std::vector<Index> top_pos;
    std::vector<std::uint8_t> valid;
    std::vector<Id> hist_item, hist_cat;  // the window whose rows keys/vals hold
    bool cached = false;                  // keys/vals are valid for hist_item/hist_cat
    AlignedVector<Scalar> q, dq, v, u, u_all, dv, du, dtr;
    TopK<Scalar> topk;
  };

  // Per-worker gradient accumulators. Time rows are few and dense: the attention time
  // gradient is accumulated as Σ_samples ds_j per window index, the representation one as
  // dense rows per time id; both become sparse rows in finish_gradients.
  struct Grads {
    explicit Grads(const TwoStageModel& m)
        : att_item(m.A_),
          att_cat(m.A_),
          att_time(m.A_),
          repr_item(m.R_),
          repr_cat(m.R_),
          repr_time(m.R_),
          time_ds(static_cast<std::size_t>(m.config_.max_len)),
          time_att_query(static_cast<std::size_t>(m.A_)),
          time_repr(static_cast<std::size_t>((m.config_.max_len + 1) * m.R_)) {}
    void clear(Index) {
      att_item.clear();
      att_cat.clear();
      att_time.clear();
      repr_item.clear();
      repr_cat.clear();
      repr_time.clear();
      std::fill(time_ds.begin(), time_ds.end(), Scalar(0));
      std::fill(time_att_query.begin(), time_att_query.end(), Scalar(0));
      std::fill(time_repr.begin(), time_repr.end(), Scalar(0));
    }
    AttGrad att_item, att_cat, att_time;
    ReprGrad repr_item, repr_cat, repr_time;
    std::vector<Scalar> time_ds, time_att_query, time_repr;
  };

  static ModelConfig checked(const ModelConfig& c) {
    DARE_CHECK_ARG(c.num_items > 0, "num_items must be positive, got ", c.num_items);
    DARE_CHECK_ARG(c.num_cats > 0, "num_cats must be positive, got ", c.num_cats);
    DARE_CHECK_ARG(c.max_len > 0 && c.max_len <= kMaxHistoryLength, "max_len must be from 1 to ",
                   kMaxHistoryLength, ", got ", c.max_len);
    DARE_CHECK_ARG(c.att_dim > 0 && c.att_dim <= kMaxEmbeddingDim, "att_dim must be from 1 to ", kMaxEmbeddingDim,
                   ", got ", c.att_dim);
    DARE_CHECK_ARG(c.repr_dim > 0 && c.repr_dim <= kMaxEmbeddingDim, "repr_dim must be from 1 to ",
                   kMaxEmbeddingDim, ", got ", c.repr_dim);
    DARE_CHECK_ARG(c.num_items <= static_cast<Index>(detail::kMaxTableRows) &&
                       c.num_cats <= static_cast<Index>(detail::kMaxTableRows),
                   "num_items (", c.num_items, ") and num_cats (", c.num_cats, ") must be at most 2^31");
    detail::check_fits_in_memory(
        static_cast<double>(c.num_items + c.num_cats + c.num_times) *
            static_cast<double>(c.att_dim + (Tables::shared ? 0 : c.repr_dim)) * sizeof(Scalar) * 3,
        detail::concat("the embedding tables and their Adam state (num_items ", c.num_items, ", num_cats ",
                       c.num_cats, ", num_times ", c.num_times, ", att_dim ", c.att_dim, ", repr_dim ",
                       c.repr_dim, ")"));
    DARE_CHECK_ARG(c.num_times > c.max_len, "num_times (", c.num_times,
                   ") must exceed max_len (", c.max_len, "): time ids run from 0 to max_len");
    DARE_CHECK_ARG(c.top_k > 0 && c.top_k <= c.max_len, "top_k must be in [1, max_len = ", c.max_len,
                   "], got ", c.top_k);
    DARE_CHECK_ARG(!Tables::shared || c.att_dim == c.repr_dim, "TWIN shares one table: att_dim (",
                   c.att_dim, ") must equal repr_dim (", c.repr_dim, ")");
    DARE_CHECK_ARG(c.init_sigma >= 0, "init_sigma must be non-negative");
    return c;
  }

  nn::MlpOptions head_options(const char* name) const {
    nn::MlpOptions o;
    o.input_batch_norm = true;
    o.name = name;
    return o;
  }

  ReprTable& repr_table(int field) noexcept {
    if constexpr (kShared) {
      return field == 0 ? att_item_ : field == 1 ? att_cat_ : att_time_;
    } else {
      return field == 0 ? repr_item_ : field == 1 ? repr_cat_ : repr_time_;
    }
  }
  const ReprTable& repr_table(int field) const noexcept {
    return const_cast<TwoStageModel&>(*this).repr_table(field);
  }
  static ReprGrad& repr_grad(Grads& g, int field) noexcept {
    if constexpr (kShared) {
      return field == 0 ? g.att_item : field == 1 ? g.att_cat : g.att_time;
    } else {
      return field == 0 ? g.repr_item : field == 1 ? g.repr_cat : g.repr_time;
    }
  }
  static const ReprGrad& repr_grad(const Grads& g, int field) noexcept {
    return repr_grad(const_cast<Grads&>(g), field);
  }

  std::vector<nn::Parameter<Scalar>*> head_buffers() {
    auto p = main_.buffers();
    auto q = aux_.buffers();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }

  template <class Table>
  static void check_id(const Table& t, Id id, const char* field, Index where) {
    if (id < 0 || id >= t.rows()) {
      detail::throw_invalid(field, " id ", id, " at position ", where, " is outside [0, ", t.rows(), ")");
    }
  }

  void check_batch(const SequenceBatch& b, bool need_labels) const {
    DARE_CHECK_ARG(b.size > 0, "batch size must be positive, got ", b.size);
    DARE_CHECK_ARG(b.max_len == config_.max_len, "batch window ", b.max_len, " differs from the model's max_len ",
                   config_.max_len);
    DARE_CHECK_ARG(b.hist_item && b.hist_cat && b.target_item && b.target_cat, "batch has a null id array");
    DARE_CHECK_ARG(!need_labels || b.label, "training needs labels");
    const Index n = b.size * b.max_len;
    for (Index i = 0; i < n; ++i) {
      check_id(att_item_, b.hist_item[i], "history item", i);
      check_id(att_cat_, b.hist_cat[i], "history category", i);
    }
    for (Index s = 0; s < b.size; ++s) {
      check_id(att_item_, b.target_item[s], "target item", s);
      check_id(att_cat_, b.target_cat[s], "target category", s);
      if (need_labels) {
        DARE_CHECK_ARG(b.label[s] == 0 || b.label[s] == 1, "label of sample ", s, " is ", b.label[s],
                       "; labels are 0 or 1");
      }
    }
  }

  // The main head's input columns of every sample, parameters frozen (no auxiliary head).
  void head_inputs(const SequenceBatch& batch) {
    check_batch(batch, false);
    const Index B = batch.size;
    prepare_batch(B);
    time_bias();
    parallel_for(threads_, B, [&](int w, Index begin, Index end) {
      work_[w].cached = false;
      for (Index s = begin; s < end; ++s) sample_forward(work_[w], batch, s, false);
    });
  }

  void prepare_batch(Index B) {
    const Index F = feature_width();
    x_main_.resize(F, B);
    x_aux_.resize(F, B);
    top_pos_.resize(static_cast<std::size_t>(B * config_.top_k));
    top_w_.resize(top_pos_.size());
    all_w_.resize(static_cast<std::size_t>(B * config_.max_len));
  }

  // time_bias_[j] = <att_time(0), att_time(L - j)> / sqrt(A): the time part of every score.
  void time_bias() {
    const Index L = config_.max_len;
    time_bias_.resize(static_cast<std::size_t>(L));
    const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(A_));
    const Scalar* t0 = att_time_.row(0);
    for (Index j = 0; j < L; ++j) {
      const Scalar* tj = att_time_.row(L - j);
      Scalar acc = 0;
      for (Index c = 0; c < A_; ++c) acc += t0[c] * tj[c];
      time_bias_[static_cast<std::size_t>(j)] = acc * scale;
    }
  }

  static void copy_row(const Scalar* src, Index n, Scalar* dst, Scalar scale = Scalar(1)) {
    for (Index c = 0; c < n; ++c) dst[c] = src[c] * scale;
  }

  // Gathers the attention keys [item | cat] (2A) and values [item | cat | time] (3R) of the
  // window of sample s, and its padding mask. A positive and its negatives share one window
  // and sit next to each other in a batch, so a window equal to the worker's previous one
  // is not gathered again (the tables do not change within a pass; every pass starts with
  // `cached` cleared).
  void gather_history(Work& w, const SequenceBatch& b, Index s) const {
    const Index L = config_.max_len;
    const Id* items = b.hist_item + s * L;
    const Id* cats = b.hist_cat + s * L;
    const auto bytes = static_cast<std::size_t>(L) * sizeof(Id);
    if (w.cached && std::memcmp(items, w.hist_item.data(), bytes) == 0 &&
        std::memcmp(cats, w.hist_cat.data(), bytes) == 0) {
      return;
    }
    std::memcpy(w.hist_item.data(), items, bytes);
    std::memcpy(w.hist_cat.data(), cats, bytes);
    w.cached = true;
    const ReprTable& ri = repr_table(0);
    const ReprTable& rc = repr_table(1);
    const ReprTable& rt = repr_table(2);
    for (Index j = 0; j < L; ++j) {
      w.valid[static_cast<std::size_t>(j)] = items[j] != 0;
      Scalar* k = w.keys.data() + j * w.sem_stride;
      copy_row(att_item_.row(items[j]), A_, k);
      copy_row(att_cat_.row(cats[j]), A_, k + A_);
      Scalar* v = w.vals.data() + j * w.val_stride;
      copy_row(ri.row(items[j]), R_, v);
      copy_row(rc.row(cats[j]), R_, v + R_);
      copy_row(rt.row(L - j), R_, v + 2 * R_);
    }
  }

  // From the scores of one target (valid ones include the time bias), computes the top-K
  // attention, both aggregates and writes column `col` of the head inputs.
  void head_features(Work& w, const Scalar* scores, Id t_item, Id t_cat, Index col, bool with_aux) {
    const Index L = config_.max_len;
    const Index K = config_.top_k;
    const Index R3 = 3 * R_;
    w.topk.select(scores, L, w.valid.data(), w.top_pos.data(), w.top_scores.data());
    Scalar* tw = top_w_.data() + col * K;
    SoftmaxAttention<Scalar>::softmax(w.top_scores.data(), K, tw);
    for (Index k = 0; k < K; ++k) {
      top_pos_[static_cast<std::size_t>(col * K + k)] = w.top_pos[static_cast<std::size_t>(k)];
      copy_row(w.vals.data() + w.top_pos[static_cast<std::size_t>(k)] * w.val_stride, R3,
               w.sel.data() + k * w.val_stride);
    }
    copy_row(repr_table(0).row(t_item), R_, w.v.data());
    copy_row(repr_table(1).row(t_cat), R_, w.v.data() + R_);
    copy_row(repr_table(2).row(0), R_, w.v.data() + 2 * R_);

    Scalar* x = x_main_.col(col).data();
    copy_row(w.v.data(), R3, x);
    aggregation_.forward(tw, w.sel.data(), w.val_stride, K, w.v.data(), x + R3, x + 2 * R3);
    if (with_aux) {
      Scalar* aw = all_w_.data() + col * L;
      SoftmaxAttention<Scalar>::softmax(scores, L, aw);
      Scalar* xa = x_aux_.col(col).data();
      copy_row(w.v.data(), R3, xa);
      aggregation_.forward(aw, w.vals.data(), w.val_stride, L, w.v.data(), xa + R3, xa + 2 * R3);
    }
  }

  void sample_scores(Work& w, Id t_item, Id t_cat) const {
    const Index L = config_.max_len;
    const Scalar q_scale = Scalar(1) / std::sqrt(static_cast<Scalar>(2 * A_));
    copy_row(att_item_.row(t_item), A_, w.q.data(), q_scale);
    copy_row(att_cat_.row(t_cat), A_, w.q.data() + A_, q_scale);
    dot_rows<kSemDim>(w.q.data(), w.keys.data(), L, w.sem_stride, w.scores.data(), 2 * A_);
    for (Index j = 0; j < L; ++j) {
      auto& sc = w.scores[static_cast<std::size_t>(j)];
      sc = w.valid[static_cast<std::size_t>(j)] ? sc + time_bias_[static_cast<std::size_t>(j)] : kPadding;
    }
  }

  void sample_forward(Work& w, const SequenceBatch& b, Index s, bool training) {
    gather_history(w, b, s);
    sample_scores(w, b.target_item[s], b.target_cat[s]);
    head_features(w, w.scores.data(), b.target_item[s], b.target_cat[s], s,
                  training && config_.aux_loss);
  }

  void sample_backward(Work& w, Grads& g, const SequenceBatch& b, Index s) {
    const Index L = config_.max_len;
    const Index K = config_.top_k;
    const Index R3 = 3 * R_;
    const Id t_item = b.target_item[s];
    const Id t_cat = b.target_cat[s];
    gather_history(w, b, s);
    copy_row(repr_table(0).row(t_item), R_, w.v.data());
    copy_row(repr_table(1).row(t_cat), R_, w.v.data() + R_);
    copy_row(repr_table(2).row(0), R_, w.v.data() + 2 * R_);
    const Scalar q_scale = Scalar(1) / std::sqrt(static_cast<Scalar>(2 * A_));
    copy_row(att_item_.row(t_item), A_, w.q.data(), q_scale);
    copy_row(att_cat_.row(t_cat), A_, w.q.data() + A_, q_scale);

    const Scalar* x = x_main_.col(s).data();
    const Scalar* dx = dx_main_.col(s).data();
    const Index* pos = top_pos_.data() + s * K;
    const Scalar* tw = top_w_.data() + s * K;
    // dv from the head input v, then the TR/u path of the main head.
    copy_row(dx, R3, w.dv.data());
    for (Index k = 0; k < K; ++k) copy_row(w.vals.data() + pos[k] * w.val_stride, R3, w.sel.data() + k * w.val_stride);
    std::fill(w.dsel.begin(), w.dsel.end(), Scalar(0));
    aggregation_.backward(tw, w.sel.data(), w.val_stride, K, w.v.data(), x + R3, dx + R3, dx + 2 * R3,
                          w.dw.data(), w.dsel.data(), w.val_stride, w.dv.data());
    SoftmaxAttention<Scalar>::softmax_backward(tw, w.dw.data(), K, w.ds_top.data());

    std::fill(w.ds.begin(), w.ds.end(), Scalar(0));
    std::fill(w.dvals.begin(), w.dvals.end(), Scalar(0));
    if (config_.aux_loss) {
      const Scalar* xa = x_aux_.col(s).data();
      const Scalar* dxa = dx_aux_.col(s).data();
      const Scalar* aw = all_w_.data() + s * L;
      for (Index c = 0; c < R3; ++c) w.dv[static_cast<std::size_t>(c)] += dxa[c];
      aggregation_.backward(aw, w.vals.data(), w.val_stride, L, w.v.data(), xa + R3, dxa + R3, dxa + 2 * R3,
                            w.dw_all.data(), w.dvals.data(), w.val_stride, w.dv.data());
      SoftmaxAttention<Scalar>::softmax_backward(aw, w.dw_all.data(), L, w.ds.data());
    }
    for (Index k = 0; k < K; ++k) {
      w.ds[static_cast<std::size_t>(pos[k])] += w.ds_top[static_cast<std::size_t>(k)];
      Scalar* dst = w.dvals.data() + pos[k] * w.val_stride;
      const Scalar* src = w.dsel.data() + k * w.val_stride;
      for (Index c = 0; c < R3; ++c) dst[c] += src[c];
    }

    // Scores → attention embeddings (semantic part per sample, time part per batch).
    const Id* items = b.hist_item + s * L;
    const Id* cats = b.hist_cat + s * L;
    std::fill(w.dq.begin(), w.dq.end(), Scalar(0));
    for (Index j = 0; j < L; ++j) {
      if (!w.valid[static_cast<std::size_t>(j)]) continue;
      const Scalar d = w.ds[static_cast<std::size_t>(j)];
      g.time_ds[static_cast<std::size_t>(j)] += d;
      const Scalar* k = w.keys.data() + j * w.sem_stride;
      for (Index c = 0; c < 2 * A_; ++c) w.dq[static_cast<std::size_t>(c)] += d * k[c];
      // dL/dk_sem_j = ds_j * q_sem / sqrt(2A) = ds_j * (the scaled query in w.q).
      g.att_item.add(items[j], w.q.data(), d);
      g.att_cat.add(cats[j], w.q.data() + A_, d);
    }
    g.att_item.add(t_item, w.dq.data(), q_scale);
    g.att_cat.add(t_cat, w.dq.data() + A_, q_scale);

    // Values → representation embeddings. Padded positions carry gradient only where they
    // had weight (an all-padded window), exactly as the dense reference.
    ReprGrad& gri = repr_grad(g, 0);
    ReprGrad& grc = repr_grad(g, 1);
    for (Index j = 0; j < L; ++j) {
      const Scalar* dvj = w.dvals.data() + j * w.val_stride;
      if (!w.valid[static_cast<std::size_t>(j)] && !any_nonzero(dvj, R3)) continue;
      gri.add(items[j], dvj);
      grc.add(cats[j], dvj + R_);
      Scalar* gt = g.time_repr.data() + (L - j) * R_;
      for (Index c = 0; c < R_; ++c) gt[c] += dvj[2 * R_ + c];
    }
    gri.add(t_item, w.dv.data());
    grc.add(t_cat, w.dv.data() + R_);
    for (Index c = 0; c < R_; ++c) g.time_repr[static_cast<std::size_t>(c)] += w.dv[static_cast<std::size_t>(2 * R_ + c)];
  }

  static bool any_nonzero(const Scalar* p, Index n) noexcept {
    for (Index c = 0; c < n; ++c) {
      if (p[c] != Scalar(0)) return true;
    }
    return false;
  }

  // Merges the workers' accumulators into worker 0 and turns the dense time accumulators
  // into sparse rows.
  void finish_gradients() {
    Grads& g = grads_[0];
    const Index L = config_.max_len;
    for (int t = 1; t < threads_; ++t) {
      Grads& o = grads_[t];
      g.att_item.merge(o.att_item);
      g.att_cat.merge(o.att_cat);
      if (!kShared) {
        g.repr_item.merge(o.repr_item);
        g.repr_cat.merge(o.repr_cat);
      }
      for (Index j = 0; j < L; ++j) g.time_ds[static_cast<std::size_t>(j)] += o.time_ds[static_cast<std::size_t>(j)];
      for (std::size_t i = 0; i < g.time_repr.size(); ++i) g.time_repr[i] += o.time_repr[i];
    }
    // s_j's time term is <t_0, t_{L-j}> / sqrt(A): d t_{L-j} = Σ ds_j t_0 / sqrt(A) and
    // d t_0 = Σ_j ds_j t_{L-j} / sqrt(A), with Σ over the batch already in time_ds.
    const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(A_));
    std::vector<Scalar>& t0_grad = g.time_att_query;
    for (Index j = 0; j < L; ++j) {
      const Scalar d = g.time_ds[static_cast<std::size_t>(j)] * scale;
      if (d == Scalar(0)) continue;
      g.att_time.add(static_cast<Id>(L - j), att_time_.row(0), d);
      const Scalar* tj = att_time_.row(L - j);
      for (Index c = 0; c < A_; ++c) t0_grad[static_cast<std::size_t>(c)] += d * tj[c];
    }
    if (any_nonzero(t0_grad.data(), A_)) g.att_time.add(0, t0_grad.data());
    ReprGrad& grt = repr_grad(g, 2);
    for (Index t = 0; t <= L; ++t) {
      const Scalar* row = g.time_repr.data() + t * R_;
      if (any_nonzero(row, R_)) grt.add(static_cast<Id>(t), row);
    }
  }

  std::array<Index, 7> shape() const {
    return {config_.num_items, config_.num_cats, config_.num_times, config_.att_dim,
            config_.repr_dim, config_.max_len, config_.top_k};
  }

  template <class Fn>
  void for_each_table(Fn&& fn) {
    fn(att_item_);
    fn(att_cat_);
    fn(att_time_);
    if constexpr (!kShared) {
      fn(repr_item_);
      fn(repr_cat_);
      fn(repr_time_);
    }
  }
  template <class Fn>
  void for_each_table_pair(TwoStageModel& other, Fn&& fn) {
    fn(att_item_, other.att_item_);
    fn(att_cat_, other.att_cat_);
    fn(att_time_, other.att_time_);
    if constexpr (!kShared) {
      fn(repr_item_, other.repr_item_);
      fn(repr_cat_, other.repr_cat_);
      fn(repr_time_, other.repr_time_);
    }
  }

  static void copy_values(const std::vector<nn::Parameter<Scalar>*>& from,
                          const std::vector<nn::Parameter<Scalar>*>& to) {
    for (std::size_t i = 0; i < from.size(); ++i) to[i]->value = from[i]->value;
  }

  // Reads a whole checkpoint into this (scratch) model; returns whether it held optimizer
  // state (then loaded into this model's freshly configured optimizers).
  bool read(std::istream& is, const std::string& name, const OptimizerConfig& opt) {
    detail::BinaryReader r(is, name);
    r.expect_magic(kMagic, "dare model checkpoint");
    const auto version = r.u32("version");
    if (version != kVersion) {
      throw FormatError(name, 0, "version", detail::concat("unsupported checkpoint version ", version, " (this build reads ", kVersion, ")"));
    }
    const auto scalar = r.u32("scalar_size");
    if (scalar != sizeof(Scalar)) {
      throw FormatError(name, 0, "scalar_size", detail::concat("checkpoint holds ", scalar, "-byte scalars, the model uses ", sizeof(Scalar)));
    }
    const auto shared = r.u32("shared_tables");
    if (shared > 1) r.fail("shared_tables", detail::concat("flag is ", shared, ", expected 0 or 1"));
    if ((shared != 0) != kShared) {
      throw FormatError(name, 0, "shared_tables", detail::concat("checkpoint is a ", shared ? "twin" : "dare", " model, this model is ", Tables::name));
    }
    static constexpr const char* fields[] = {"num_items", "num_cats", "num_times", "att_dim", "repr_dim", "max_len", "top_k"};
    const auto expect = shape();
    for (std::size_t i = 0; i < expect.size(); ++i) {
      const auto v = r.u64(fields[i]);
      if (v != static_cast<std::uint64_t>(expect[i])) {
        throw FormatError(name, 0, fields[i], detail::concat("checkpoint has ", v, ", the model has ", expect[i]));
      }
    }
    const auto stats = r.u32("inference_stats");
    if (stats > static_cast<std::uint32_t>(nn::InferenceStats::Precise)) {
      r.fail("inference_stats", detail::concat("unknown mode ", stats, " (0 running, 1 batch, 2 precise)"));
    }
    inference_stats_ = static_cast<nn::InferenceStats>(stats);
    const auto opt_flag = r.u32("optimizer_flag");
    if (opt_flag > 1) r.fail("optimizer_flag", detail::concat("flag is ", opt_flag, ", expected 0 or 1"));
    const bool has_opt = opt_flag != 0;
    r.verify_checksum();
    for_each_table([&](auto& t) {
      using Table = std::decay_t<decltype(t)>;
      Table loaded = Table::load(is, name, t.rows(), t.dim());
      if (loaded.rows() != t.rows() || loaded.dim() != t.dim()) {
        throw FormatError(name, 0, "table", detail::concat("a table of ", loaded.rows(), " x ", loaded.dim(), " where the model has ", t.rows(), " x ", t.dim()));
      }
      t = std::move(loaded);
    });
    nn::load_parameters(is, head_parameters(), name);
    nn::load_parameters(is, head_buffers(), name);
    for (const nn::Parameter<Scalar>* b : head_buffers()) {  // a variance below 0 normalises to NaN
      const std::string_view n = b->name;
      if (n.size() >= 11 && n.substr(n.size() - 11) == "running_var" && b->value.size() > 0 && b->value.minCoeff() < 0) {
        throw FormatError(name, 0, b->name, "a running variance is below 0");
      }
    }
    if (has_opt) {
      configure_optimizer(opt);
      for (auto& a : att_adam_) a->load(is, name);
      for (auto& a : repr_adam_) a->load(is, name);
      head_adam_->load(is, name);
    }
    return has_opt;
  }

  ModelConfig config_;
  Extent<AttDim> A_;
  Extent<ReprDim> R_;
  AttTable att_item_, att_cat_, att_time_;
  ReprTable repr_item_, repr_cat_, repr_time_;  // 1-row placeholders when shared
  nn::Mlp<Scalar> main_, aux_;
  TargetAggregation<Scalar> aggregation_;
  nn::SoftmaxCrossEntropy<Scalar> loss_;

  int threads_ = 1;
  nn::InferenceStats inference_stats_ = nn::InferenceStats::Running;
  std::vector<Work> work_;
  std::vector<Grads> grads_;

  // Per-batch state shared between the forward and backward passes.
  Matrix x_main_, x_aux_, logits_main_, logits_aux_, dlogits_main_, dlogits_aux_, dx_main_, dx_aux_;
  std::vector<Index> top_pos_;
  std::vector<Scalar> top_w_, all_w_, time_bias_;
  AlignedVector<Scalar> serve_queries_, serve_scores_;
  std::vector<Id> serve_items_, serve_cats_;

  OptimizerConfig opt_config_;
  std::vector<std::unique_ptr<TableAdam<Scalar, AttDim>>> att_adam_;
  std::vector<std::unique_ptr<TableAdam<Scalar, ReprDim>>> repr_adam_;
  std::unique_ptr<nn::Adam<Scalar>> head_adam_;
};

}  // namespace dare
