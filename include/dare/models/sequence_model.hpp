// dare/models/sequence_model.hpp — the long-sequence CTR model of the TWIN family, composed
// from an embedding layout, a selector and a scorer.
//
// Design. A sample is a left-padded window of L behaviours (item, category; the behaviour at
// window index j has time id L - j) and a target (item, category, time id 0). Every id is
// embedded in the role it plays (docs/design.md §1, §3):
//
//   logits     s_j = Scorer(q, k_j) for the target's attention query q and the history's
//              attention keys (padded positions at the sentinel -2^32+1);
//   selection  the positions the Selector keeps (top K, the hard search, or all);
//   attention  w = softmax of the kept logits (attention/softmax_attention.hpp);
//   aggregate  u = Σ w_k r_k over the kept representation rows, TR = v ⊙ u
//              (attention/target_aggregation.hpp);
//   predict    [v, u, v ⊙ u] (or [v, u] with target_aware off) → BatchNorm → Linear 200 →
//              PReLU → Linear 80 → PReLU → Linear 2;
//   auxiliary  the same features over the attention the selector names for it (every
//              position for the soft search), its own head (BatchNorm → Linear 200 → PReLU →
//              Linear 2), loss added with weight 1.
//
// The policies (each its own header):
// * Embedding (models/embedding_layout.hpp): which table set each role reads, optional
//   per-role projections. The model gathers rows and routes gradients by that map.
// * Selector (models/selectors.hpp): TopKSearch, HardSearch, FullAttention.
// * Scorer (models/scorers.hpp): DotScorer (split scale; the hard search's reference scale),
//   MlpScorer (DIN's attention unit; a model with it has no time field).
// models/zoo.hpp names the Table 1 combinations (Dare, Twin, TwinHard, TwinProj, TwinNoTR,
// Twin4E, Din).
//
// Two things keep the per-sample work small. Time ids are the same for every sample (window
// index j always has time id L - j, the target 0), so the time rows, keys and values — and
// the dot scorer's time term — are computed once per batch. And every buffer a sample needs
// lives in per-worker scratch, so a training step allocates nothing once the batch size is
// fixed; a window equal to the worker's previous one (a positive and its negatives) is not
// gathered again.
//
// Parallelism: samples of a batch are split over `threads` workers, each with its own
// scratch and gradient accumulators, merged before the optimizer step. The two MLP heads run
// on the whole batch (their BatchNorm needs batch statistics), their Linear layers' products
// split over the workers in blocks that leave every bit as one thread computes it.
//
// Observing the roles (shared layouts only: TWIN, its projection, DIN, the hashing models).
// With observe_role_gradients on, every table-row gradient is also added to one of two
// further accumulators per field: attention (the search query and keys, in the main and the
// auxiliary attention) or representation (the aggregated values and the target's v). This is
// what the public reference's `-observe_attn_repr_grad` obtains from two synchronised copies
// of each table, without the copies: the gradient training uses is accumulated exactly as
// before, beside the split, so observing changes no result bit; it costs a second
// accumulation of every row. The two halves sum to the table gradient up to rounding (their
// own sums run in another order).
//
// Inference statistics. The main head's input BatchNorm normalises, outside training, with
// the statistics `set_inference_stats` names (nn/batch_norm.hpp): the running average
// (Running), each predict() batch's own (Batch), or population statistics recomputed with
// frozen parameters by begin/accumulate/end_head_statistics (Precise). Serving one user
// (score_candidates) always uses the stored statistics, so a candidate's score does not
// depend on the other candidates; a model meant for serving should have Precise statistics.
//
// Serving runs the soft search of all candidates against the history at once with
// search/multi_search.hpp when the scorer is a dot product: the keys carry their time part
// and the queries are scaled by the scorer's scales, so one plain dot product is the logit.
// Other combinations score candidates one at a time, through the training path's code.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "dare/attention/softmax_attention.hpp"
#include "dare/attention/target_aggregation.hpp"
#include "dare/core/aligned.hpp"
#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/core/extent.hpp"
#include "dare/core/lanes.hpp"
#include "dare/core/parallel.hpp"
#include "dare/core/prefetch.hpp"
#include "dare/embedding/adam.hpp"
#include "dare/embedding/binary_io.hpp"
#include "dare/embedding/embedding_table.hpp"
#include "dare/embedding/sparse_grad.hpp"
#include "dare/models/embedding_layout.hpp"
#include "dare/models/scorers.hpp"
#include "dare/models/selectors.hpp"
#include "dare/models/stage_profile.hpp"
#include "dare/nn/adam.hpp"
#include "dare/nn/linear.hpp"
#include "dare/nn/loss.hpp"
#include "dare/nn/mlp.hpp"
#include "dare/nn/parameter.hpp"
#include "dare/search/lowp_search.hpp"
#include "dare/search/multi_search.hpp"

namespace dare {

/// Sizes and hyper-parameters of a sequence model. Defaults are the reference settings.
struct ModelConfig {
  Index num_items = 0;      ///< rows of the item tables (largest item id + 1)
  Index num_cats = 0;       ///< rows of the category tables
  Index num_times = 2000;   ///< rows of the time (position) tables
  Index att_dim = 16;       ///< attention width per field (A)
  Index repr_dim = 16;      ///< representation width per field (R); shared layouts: = att_dim
  Index max_len = 200;      ///< history window L
  Index top_k = 20;         ///< behaviours kept by the search, K
  std::vector<Index> hidden = {200, 80};  ///< main head hidden sizes
  std::vector<Index> aux_hidden = {200};  ///< auxiliary head hidden sizes
  bool aux_loss = true;     ///< train the auxiliary head
  /// The target-aware feature v ⊙ u in both heads' inputs (off: TWIN w/o TR, [v, u]).
  bool target_aware = true;
  Index scorer_hidden = 36; ///< hidden width of the MLP scorer (DIN)
  /// The hashing selectors: ETA's signature bits, SDIM's bits per round (τ); 0 takes the
  /// selector's default (ETA 64, SDIM 8). Other selectors ignore it.
  Index hash_bits = 0;
  /// SDIM's hash rounds (m); 0 takes the default (32). ETA has one round.
  Index hash_rounds = 0;
  double init_sigma = 0.01; ///< N(0, σ) for embeddings, Linear weights and projections
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
  /// Dense mode: update only the rows a step touches and bring the others up to date when
  /// a batch or an inference reads them (TableAdam::set_deferred; the same bits, at the
  /// cost of the touched rows instead of the whole table). Off: every row every step.
  bool defer_untouched_rows = true;
  /// The public reference's L2: a loss term l2·Σp² over every dense parameter whose name
  /// lacks "bias" (BatchNorm γ and PReLU slopes too), so the gradient term is 2·l2·p. Off:
  /// l2·p on the Linear weights and projections only. On by default, with reference_init.
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
  /// The cluster of each history position (size x max_len; equal ids within one window are
  /// one cluster, padded positions are ignored): needed by the models that attend to
  /// clusters (TWIN-V2), ignored by the others.
  const std::int32_t* hist_group = nullptr;
};

/// Losses of one training step (means over the batch).
struct StepLoss {
  double main = 0;
  double aux = 0;
  double total() const noexcept { return main + aux; }
};

namespace detail {
constexpr int times(int k, int d) noexcept { return d == Dynamic ? Dynamic : k * d; }

/// The Table 1 name of a policy combination, or "" for one the paper does not have.
constexpr const char* zoo_name(std::uint32_t layout, std::uint32_t selector, std::uint32_t scorer,
                               bool target_aware) noexcept {
  constexpr std::uint32_t dot = DotScorer<SplitScale>::kId, hard_dot = DotScorer<HardSearchScale>::kId;
  if (layout == Decoupled<1, 1>::kId && selector == TopKSearch::kId && scorer == dot) {
    return target_aware ? "dare" : "dare-notr";
  }
  if (layout == Shared<1>::kId && selector == TopKSearch::kId && scorer == dot) {
    return target_aware ? "twin" : "twin-notr";
  }
  if (!target_aware) return "";
  if (layout == Shared<1>::kId && selector == HardSearch::kId && scorer == hard_dot) return "twin-hard";
  if (layout == Projected<1>::kId && selector == TopKSearch::kId && scorer == dot) return "twin-proj";
  if (layout == FourTables<1, 1>::kId && selector == TopKSearch::kId && scorer == dot) return "twin-4e";
  if (layout == Shared<1>::kId && selector == TopKSearch::kId && scorer == MlpScorer::kId) return "din";
  if (layout == Shared<1>::kId && selector == HammingSearch::kId && scorer == dot) return "eta";
  if (layout == Shared<1>::kId && selector == HashSampling::kId && scorer == dot) return "sdim";
  if (layout == Shared<1>::kId && selector == ClusterSearch::kId && scorer == dot) return "twin-v2";
  return "";
}
}  // namespace detail

/// The composed sequence model; see the header note. `Embedding` fixes the per-field widths
/// A and R (each a number or `Dynamic`, then taken from the config).
template <class Scalar, class Embedding, class Selector = TopKSearch, class Scorer = DotScorer<>>
class SequenceModel {
 public:
  static constexpr int AttDim = Embedding::kAttDim;
  static constexpr int ReprDim = Embedding::kReprDim;
  /// One table set serves attention and representation (TWIN, its projection, DIN).
  static constexpr bool kShared = Embedding::kReprSets == 0;
  static_assert(!kShared || AttDim == ReprDim, "a shared table needs equal attention and representation widths");
  static constexpr int kSemDim = detail::times(2, AttDim);  // query and key width (item, category)
  using ScorerImpl = typename Scorer::template Impl<Scalar, kSemDim>;
  static constexpr bool kUsesTime = ScorerImpl::kUsesTime;
  static constexpr int kFields = kUsesTime ? 3 : 2;
  static constexpr int kValueDim = detail::times(kFields, ReprDim);  // [item | cat (| time)]
  static constexpr int kAttTables = Embedding::kAttSets * kFields;
  static constexpr int kReprTables = Embedding::kReprSets * kFields;
  /// The history is attended to as clusters of positions (TWIN-V2; see selectors.hpp).
  static constexpr bool kGroups = Selector::kGroups;
  static_assert(!kGroups || kUsesTime, "the cluster slots' time term needs a scorer with a time field");
  /// Serving searches all candidates at once (MultiSearch) when the logit is a dot product.
  static constexpr bool kBatchedSearch =
      std::is_same_v<Selector, TopKSearch> && std::is_same_v<Scorer, DotScorer<SplitScale>>;

  using scalar_type = Scalar;
  using embedding_type = Embedding;
  using selector_type = Selector;
  using scorer_type = Scorer;
  using Matrix = nn::Matrix<Scalar>;
  using AttTable = EmbeddingTable<Scalar, AttDim>;
  using ReprTable = EmbeddingTable<Scalar, ReprDim>;
  using AttGrad = SparseGrad<Scalar, AttDim>;
  using ReprGrad = SparseGrad<Scalar, ReprDim>;

  explicit SequenceModel(const ModelConfig& config)
      : config_(checked(config)),
        A_(config.att_dim, "att_dim"),
        R_(config.repr_dim, "repr_dim"),
        scorer_(config.att_dim, config.scorer_hidden),
        main_(feature_width(), config.hidden, 2, head_options("main")),
        aux_(feature_width(), config.aux_hidden, 2, head_options("aux")),
        aggregation_(value_width()) {
    const auto sigma = static_cast<Scalar>(config.init_sigma);
    const std::uint64_t s = config.seed;
    // Seeds: set 0's attention fields s+1.., representation fields s+4.., heads s+7, s+8.
    for (int set = 0; set < Embedding::kAttSets; ++set) {
      for (int f = 0; f < kFields; ++f) {
        att_tables_.emplace_back(field_rows(f), config.att_dim);
        att_tables_.back().init_normal(sigma, s + 1 + static_cast<std::uint64_t>(f + 100 * set));
      }
    }
    for (int set = 0; set < Embedding::kReprSets; ++set) {
      for (int f = 0; f < kFields; ++f) {
        repr_tables_.emplace_back(field_rows(f), config.repr_dim);
        repr_tables_.back().init_normal(sigma, s + 4 + static_cast<std::uint64_t>(f + 100 * set));
      }
    }
    if constexpr (Embedding::kProjected) {
      for (Role r : kRoles) {
        for (int f = 0; f < kFields; ++f) {
          const Index d = is_attention(r) ? A_ : R_;
          proj_.emplace_back(std::string("proj.") + to_string(r) + "." + field_name(f), d, d, true);
          nn::detail::fill_normal(proj_.back().value, config.init_sigma,
                                  s + 200 + static_cast<std::uint64_t>(3 * static_cast<int>(r) + f));
        }
      }
    }
    if (config.reference_init) {
      main_.init_normal_all_weights(sigma, s + 7);
      aux_.init_normal_all_weights(sigma, s + 8);
    } else {
      main_.init_normal(sigma, s + 7);
      aux_.init_normal(sigma, s + 8);
    }
    scorer_.init(sigma, s + 300, config.reference_init);
    set_threads(1);
  }

  // ---- introspection -----------------------------------------------------------------------
  const ModelConfig& config() const noexcept { return config_; }
  Index att_dim() const noexcept { return A_; }
  Index repr_dim() const noexcept { return R_; }
  /// Width of one behaviour's representation [item | category (| time)]: fields × R, a
  /// compile-time constant when R is (so that a row copy of it is a few vector moves, not a
  /// call to memcpy: 21 of them per serving candidate).
  Index value_width() const noexcept { return kFields * Index(R_); }
  /// Width of the head input: [v, u, v ⊙ u] (3 × value width) or [v, u] without TR.
  Index feature_width() const noexcept { return (config_.target_aware ? 3 : 2) * value_width(); }
  /// The model's kind: its Table 1 name (dare, twin, twin-hard, twin-proj, twin-notr,
  /// twin-4e, din) or, for another combination, "layout/selector/scorer[/notr]".
  std::string kind() const { return kind_name(config_.target_aware); }
  static std::string kind_name(bool target_aware) {
    const char* zoo = detail::zoo_name(Embedding::kId, Selector::kId, Scorer::kId, target_aware);
    if (*zoo != '\0') return zoo;
    return std::string(Embedding::kName) + "/" + Selector::kName + "/" + Scorer::kName +
           (Scorer::kId == DotScorer<HardSearchScale>::kId ? "-hard-scale" : "") + (target_aware ? "" : "/notr");
  }

  /// The table of `field` that role `R` reads (for the shared layouts one object serves
  /// several roles), its deferred rows brought up to date first (see synchronize).
  template <Role R>
  decltype(auto) table(int field) {
    check_field(field);
    synchronize();
    return stored_table<R>(field);
  }
  template <Role R>
  const auto& table(int field) const {
    return const_cast<SequenceModel&>(*this).template table<R>(field);
  }
  /// Brings every table row the optimizer deferred (OptimizerConfig::defer_untouched_rows)
  /// up to date. Every method that reads the tables outside training calls it itself, so
  /// the first such call after a training step does the work; call it before serving from
  /// several threads to keep that work off the serving path. Thread-safe.
  void synchronize() const {
    if (!stale_.load(std::memory_order_acquire)) return;
    const std::lock_guard<std::mutex> lock(sync_mutex_);
    if (!stale_.load(std::memory_order_relaxed)) return;
    for (const auto& a : att_adam_) a->synchronize();
    for (const auto& a : repr_adam_) a->synchronize();
    stale_.store(false, std::memory_order_release);
  }
  /// The gradient of that table from the last forward_backward (sum over the roles it serves).
  template <Role R>
  const auto& table_grad(int field) const {
    check_field(field);
    return const_cast<SequenceModel&>(*this).template grad_of<R>(const_cast<Grads&>(grads_[0]), field);
  }
  /// Keeps, from the next forward_backward on, each table's gradient split by the roles that
  /// produced it (see the header note). Shared layouts only: with separate tables the split is
  /// already the tables' own gradients.
  void observe_role_gradients(bool on) {
    static_assert(kShared, "role gradients are observed on a shared table; other layouts have one table per use");
    observe_ = on;
  }
  bool observes_role_gradients() const noexcept { return observe_; }
  /// The part of table_grad(field) that the attention roles (query and keys) contributed in
  /// the last forward_backward; needs observe_role_gradients(true) before it.
  const AttGrad& attention_role_grad(int field) const { return role_grad(0, field); }
  /// The part the representation roles (values and the target's v) contributed.
  const AttGrad& representation_role_grad(int field) const { return role_grad(1, field); }
  /// Calls fn(table, gradient of the last forward_backward, name) for every table, attention
  /// sets first; names are "<set>.<field>", e.g. "attention.item".
  template <class Fn>
  void for_each_table(Fn&& fn) {
    synchronize();
    for (int i = 0; i < kAttTables; ++i) {
      fn(att_tables_[static_cast<std::size_t>(i)], grads_[0].att[static_cast<std::size_t>(i)],
         std::string(Embedding::kAttSetNames[static_cast<std::size_t>(i / kFields)]) + "." + field_name(i % kFields));
    }
    for (int i = 0; i < kReprTables; ++i) {
      fn(repr_tables_[static_cast<std::size_t>(i)], grads_[0].repr[static_cast<std::size_t>(i)],
         std::string(Embedding::kReprSetNames[static_cast<std::size_t>(i / kFields)]) + "." + field_name(i % kFields));
    }
  }
  nn::Mlp<Scalar>& main_head() noexcept { return main_; }
  nn::Mlp<Scalar>& aux_head() noexcept { return aux_; }
  ScorerImpl& scorer() noexcept { return scorer_; }

  /// Both heads' parameters.
  std::vector<nn::Parameter<Scalar>*> head_parameters() {
    auto p = main_.parameters();
    auto q = aux_.parameters();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }
  /// Every dense parameter: both heads, then the projections, then the scorer's.
  std::vector<nn::Parameter<Scalar>*> parameters() {
    auto p = head_parameters();
    for (auto& q : proj_) p.push_back(&q);
    for (auto* q : scorer_.parameters()) p.push_back(q);
    return p;
  }

  /// Number of worker threads used by training and batch prediction; those beyond the
  /// caller are kept in a pool while the model lives (core/parallel.hpp).
  void set_threads(int threads) {
    DARE_CHECK_ARG(threads >= 1, "threads must be at least 1, got ", threads);
    threads_ = threads;
    pool_.reset();  // the heads' layers point to it: they get the new one below
    if (threads > 1) pool_ = std::make_unique<WorkerPool>(threads);
    main_.set_threads(threads, pool_.get());
    aux_.set_threads(threads, pool_.get());
    while (static_cast<int>(work_.size()) < threads) work_.emplace_back(*this);
    while (static_cast<int>(grads_.size()) < threads) grads_.emplace_back(*this);
  }
  int threads() const noexcept { return threads_; }

  // ---- training ----------------------------------------------------------------------------

  /// Forward and backward pass of one batch in training mode: returns the losses and leaves
  /// the gradients of every table (sparse) and dense parameter (zeroed first) in place for
  /// `step`. `prob` (optional) receives the main head's click probability per sample.
  StepLoss forward_backward(const SequenceBatch& batch, Scalar* prob = nullptr) {
    check_batch(batch, true);
    const Index B = batch.size;
    prepare_rows(batch);
    prepare_batch(B);
    main_.set_training(true);
    aux_.set_training(true);
    prepare_time();

    parallel_for(pool_.get(), threads_, B, [&](int w, Index begin, Index end) {
      work_[w].cached = false;
      for (Index s = begin; s < end; ++s) sample_forward(work_[w], batch, s, true);
    });

    detail::StageClock clock(profile_on_);
    StepLoss loss;
    for (auto* p : parameters()) p->grad.setZero();
    main_.forward(x_main_, logits_main_);
    loss.main = loss_.forward_backward(logits_main_, batch.label, dlogits_main_, prob);
    main_.backward(dlogits_main_, &dx_main_);
    if (config_.aux_loss) {
      aux_.forward(Selector::kAuxAttendsAll ? x_aux_ : x_main_, logits_aux_);
      loss.aux = loss_.forward_backward(logits_aux_, batch.label, dlogits_aux_);
      aux_.backward(dlogits_aux_, &dx_aux_);
      // The auxiliary head saw the main features: its gradient takes the main path.
      if constexpr (!Selector::kAuxAttendsAll) dx_main_ += dx_aux_;
    }
    clock.lap(profile_, Stage::Heads);

    parallel_for(pool_.get(), threads_, B, [&](int w, Index begin, Index end) {
      Grads& g = grads_[w];
      Work& work = work_[w];
      g.clear();
      work.cached = false;
      work.pending = false;
      std::fill(work.dkeys.begin(), work.dkeys.end(), Scalar(0));
      std::fill(work.dvals.begin(), work.dvals.end(), Scalar(0));
      for (Index s = begin; s < end; ++s) sample_backward(work, g, batch, s);
      detail::StageClock clock(profile_on_);
      flush_window(work, g, clock);
    });
    detail::StageClock merge_clock(profile_on_);  // the workers timed their own stages
    finish_gradients();
    merge_clock.lap(profile_, Stage::Merge);
    return loss;
  }

  /// Creates the optimizers (call once before the first `step`, again to change settings).
  void configure_optimizer(const OptimizerConfig& opt) {
    synchronize();  // the old optimizers' deferred rows
    opt_config_ = opt;
    AdamOptions table_options;
    table_options.lr = opt.lr;
    att_adam_.clear();
    repr_adam_.clear();
    for (auto& t : att_tables_) att_adam_.push_back(std::make_unique<TableAdam<Scalar, AttDim>>(t, table_options, opt.embedding_mode));
    for (auto& t : repr_tables_) repr_adam_.push_back(std::make_unique<TableAdam<Scalar, ReprDim>>(t, table_options, opt.embedding_mode));
    deferred_ = opt.embedding_mode == AdamMode::Dense && opt.defer_untouched_rows;
    for (auto& a : att_adam_) a->set_deferred(deferred_);
    for (auto& a : repr_adam_) a->set_deferred(deferred_);
    main_.decay_all_weights(opt.reference_l2);
    aux_.decay_all_weights(opt.reference_l2);
    scorer_.decay_all_weights(opt.reference_l2);
    nn::AdamOptions dense;
    dense.lr = opt.lr;
    dense.weight_decay = opt.reference_l2 ? 2 * opt.l2 : opt.l2;
    dense_adam_ = std::make_unique<nn::Adam<Scalar>>(parameters(), dense);
  }
  bool has_optimizer() const noexcept { return dense_adam_ != nullptr; }

  /// One optimizer step with the gradients of the last forward_backward.
  void step() {
    DARE_CHECK_ARG(dense_adam_ != nullptr, "configure_optimizer must be called before step");
    detail::StageClock clock(profile_on_);
    const Grads& g = grads_[0];
    for_each_table_adam([&](auto& adam, std::size_t i, auto att) {
      if constexpr (decltype(att)::value) {
        adam.step(g.att[i]);
      } else {
        adam.step(g.repr[i]);
      }
    });
    dense_adam_->step();
    if (deferred_) stale_.store(true, std::memory_order_release);
    clock.lap(profile_, Stage::Optimizer);
  }

  /// Times every stage of forward_backward and step from now on (see stage_profile.hpp), or
  /// stops; either way the sums start again from zero. Off by default.
  void set_stage_profile(bool on) {
    profile_on_ = on;
    profile_ = StageProfile{};
    for (Work& w : work_) w.profile = StageProfile{};
  }
  /// The stage times summed since set_stage_profile(true): the workers' per-sample stages
  /// (core-seconds) and the calling thread's batch stages (wall seconds).
  StageProfile stage_profile() const {
    StageProfile p = profile_;
    for (const Work& w : work_) p += w.profile;
    return p;
  }

  /// Learning rate of every optimizer (for schedules).
  void set_lr(double lr) {
    opt_config_.lr = lr;
    for (auto& a : att_adam_) a->set_lr(lr);
    for (auto& a : repr_adam_) a->set_lr(lr);
    if (dense_adam_) dense_adam_->set_lr(lr);
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

  /// Population statistics of the main head's input (Precise inference): begin, accumulate
  /// any number of batches, end, which writes the exact mean and unbiased variance of every
  /// accumulated head input into the BatchNorm's stored statistics. Parameters are not
  /// changed; only the main head is estimated (the auxiliary one is used in training only).
  void begin_head_statistics() { main_.batch_norm().begin_population(); }
  void accumulate_head_statistics(const SequenceBatch& batch) {
    head_inputs(batch);
    main_.batch_norm().accumulate_population(x_main_);
  }
  void end_head_statistics() { main_.batch_norm().end_population(); }

  /// The main head's input of every sample of the last forward pass (one column per sample,
  /// feature_width() rows), before its BatchNorm.
  const Matrix& head_input() const noexcept { return x_main_; }

  /// Scratch of one serving thread: everything score_candidates writes (defined below).
  class ServeScratch;

  /// Reduced-precision copies of the history's attention key tables (item, category; the
  /// rows embed<AttentionHistory> gives, projections applied) for the serving search of
  /// search/lowp_search.hpp: made once (make_lowp_keys, at load time), read by every
  /// ServeScratch made with them. Float models with kBatchedSearch only.
  struct LowpKeys {
    SearchPrecision precision = SearchPrecision::BF16;
    LowpTable item, cat;
    std::size_t bytes() const noexcept { return item.bytes() + cat.bytes(); }
  };
  LowpKeys make_lowp_keys(SearchPrecision precision) const {
    static_assert(kBatchedSearch && std::is_same_v<Scalar, float>,
                  "a reduced-precision search needs a float model with a top-K dot-product search");
    synchronize();
    std::vector<Scalar> row(static_cast<std::size_t>(A_));
    const auto copy = [&](int field, Index rows) {
      return LowpTable(precision, rows, A_, [&](Index id) {
        embed<Role::AttentionHistory>(field, static_cast<Id>(id), row.data());
        return row.data();
      });
    };
    return LowpKeys{precision, copy(kItem, config_.num_items), copy(kCategory, config_.num_cats)};
  }

  /// Scores one user's history against `m` candidate targets (serving) into prob[0, m). The
  /// history is `len` behaviours, oldest first (len <= max_len; it is left-padded to the
  /// window), gathered and embedded once; see the header note for how the candidates are
  /// searched. Const: any number of threads may score at once, each with its own scratch
  /// (made once per thread, `ServeScratch scratch(model)`, and reused); the model must not be
  /// trained or loaded meanwhile. Uses the main head's stored statistics.
  void score_candidates(const Id* hist_item, const Id* hist_cat, Index len, const Id* cand_item,
                        const Id* cand_cat, Index m, Scalar* prob, ServeScratch& sc) const {
    score_candidates(hist_item, hist_cat, nullptr, len, cand_item, cand_cat, m, prob, sc);
  }
  /// The same with the history's clusters (`hist_group[i]` for behaviour i; equal ids are one
  /// cluster), which the models that attend to clusters (TWIN-V2) need and the others ignore.
  void score_candidates(const Id* hist_item, const Id* hist_cat, const std::int32_t* hist_group, Index len,
                        const Id* cand_item, const Id* cand_cat, Index m, Scalar* prob, ServeScratch& sc) const {
    const Index L = config_.max_len;
    DARE_CHECK_ARG(!kGroups || hist_group != nullptr, kind(),
                   " attends to clusters of the history: score_candidates needs hist_group");
    DARE_CHECK_ARG(len >= 0 && len <= L, "history length ", len, " must be in [0, ", L, "]");
    DARE_CHECK_ARG(m >= 0, "candidate count must be non-negative, got ", m);
    for (Index i = 0; i < len; ++i) {
      check_id(config_.num_items, hist_item[i], "history item", i);
      check_id(config_.num_cats, hist_cat[i], "history category", i);
    }
    for (Index i = 0; i < m; ++i) {
      check_id(config_.num_items, cand_item[i], "candidate item", i);
      check_id(config_.num_cats, cand_cat[i], "candidate category", i);
    }
    if (m == 0) return;
    synchronize();
    Work& w = sc.work_;
    sc.items_.assign(static_cast<std::size_t>(L), Id{0});
    sc.cats_.assign(static_cast<std::size_t>(L), Id{0});
    std::copy(hist_item, hist_item + len, sc.items_.begin() + (L - len));
    std::copy(hist_cat, hist_cat + len, sc.cats_.begin() + (L - len));
    if constexpr (kGroups) {
      sc.groups_.assign(static_cast<std::size_t>(L), 0);
      std::copy(hist_group, hist_group + len, sc.groups_.begin() + (L - len));
    }
    SequenceBatch one;
    one.size = 1;
    one.max_len = L;
    one.hist_item = sc.items_.data();
    one.hist_cat = sc.cats_.data();
    one.hist_group = sc.groups_.data();
    compute_time(sc.time_);
    w.cached = false;
    gather_history(w, one, 0, sc.time_);

    const Index K = selected_count();
    sc.x_.resize(feature_width(), m);
    sc.top_pos_.resize(static_cast<std::size_t>(m * K));
    sc.top_w_.resize(sc.top_pos_.size());
    if constexpr (kBatchedSearch) {
      // Keys [k_sem | k_time] and queries [q_sem · s_sem | q_time · s_time]: one dot product.
      const Index sem = 2 * A_;
      const Index width = 3 * A_;
      const Index stride = aligned_stride<Scalar>(width);
      sc.keys_.resize(static_cast<std::size_t>(L * stride));
      for (Index j = 0; j < L; ++j) {
        Scalar* k = sc.keys_.data() + j * stride;
        copy_row(w.keys.data() + j * w.sem_stride, sem, k);
        copy_row(sc.time_.keys.data() + j * A_, A_, k + sem);
      }
      sc.queries_.resize(static_cast<std::size_t>(m * stride));
      const Scalar ss = scorer_.semantic_scale(), ts = scorer_.time_scale();
      for (Index c = 0; c < m; ++c) {
        if (c + kCandidateAhead < m) {
          prefetch_embed<Role::AttentionTarget>(kItem, cand_item[c + kCandidateAhead]);
          prefetch_embed<Role::AttentionTarget>(kCategory, cand_cat[c + kCandidateAhead]);
        }
        Scalar* q = sc.queries_.data() + c * stride;
        embed<Role::AttentionTarget>(kItem, cand_item[c], q);
        embed<Role::AttentionTarget>(kCategory, cand_cat[c], q + A_);
        for (Index i = 0; i < sem; ++i) q[i] *= ss;
        copy_row(sc.time_.q_time.data(), A_, q + sem, ts);
      }
      sc.pos_.resize(static_cast<std::size_t>(m * K));
      sc.scores_.resize(static_cast<std::size_t>(m * K));
      if (sc.lowp_ != nullptr) {
        lowp_search(sc, cand_item, cand_cat, m, K, stride, width);
      } else {
        if (!sc.search_ || sc.search_->k() != K) sc.search_ = std::make_unique<MultiSearch<Scalar, detail::times(3, AttDim)>>(K);
        sc.search_->search(sc.queries_.data(), m, stride, sc.keys_.data(), L, stride, w.valid.data(), sc.pos_.data(),
                           sc.scores_.data(), K, width);
      }
      for (Index c = 0; c < m; ++c) {
        if (c + kCandidateAhead < m) {
          prefetch_embed<Role::ReprTarget>(kItem, cand_item[c + kCandidateAhead]);
          prefetch_embed<Role::ReprTarget>(kCategory, cand_cat[c + kCandidateAhead]);
        }
        target_values(w, cand_item[c], cand_cat[c], sc.time_);
        attend(w, c, sc.pos_.data() + c * K, sc.scores_.data() + c * K, sc.x_, sc.top_pos_.data(), sc.top_w_.data());
      }
    } else {
      for (Index c = 0; c < m; ++c) {
        target(w, cand_item[c], cand_cat[c], sc.time_);
        scorer_.forward(w.scorer, w.q.data(), w.keys.data(), w.sem_stride, L, row_bias(w, sc.time_), w.valid.data(),
                        w.scores.data());
        w.selector.select(selector_input(w, w.scores.data(), cand_cat[c]), w.sel_pos.data(), w.sel_scores.data());
        attend(w, c, w.sel_pos.data(), w.sel_scores.data(), sc.x_, sc.top_pos_.data(), sc.top_w_.data());
      }
    }
    main_.infer(sc.x_, sc.logits_, sc.mlp_);
    nn::SoftmaxCrossEntropy<Scalar>::positive_probability(sc.logits_, prob);
  }

  /// The serving search on reduced keys: their semantic part [item | cat] against each
  /// candidate's unscaled query (so that a query exact in bf16 stays exact), the scale after,
  /// the time part as a per-position float bias; the K selected positions rescored exactly
  /// on the float keys.
  void lowp_search(ServeScratch& sc, const Id* cand_item, const Id* cand_cat, Index m, Index K, Index stride,
                   Index width) const {
    if constexpr (kBatchedSearch && std::is_same_v<Scalar, float>) {
      const Index sem = 2 * A_;
      sc.lowp_q_.resize(static_cast<std::size_t>(m * sem));
      for (Index c = 0; c < m; ++c) {
        embed<Role::AttentionTarget>(kItem, cand_item[c], sc.lowp_q_.data() + c * sem);
        embed<Role::AttentionTarget>(kCategory, cand_cat[c], sc.lowp_q_.data() + c * sem + A_);
      }
      if (!sc.lowp_search_ || sc.lowp_search_->k() != K || sc.lowp_search_->precision() != sc.lowp_->precision)
        sc.lowp_search_ = std::make_unique<LowpSearch<detail::times(3, AttDim)>>(K, sc.lowp_->precision);
      LowpRows rows;
      rows.tables = {&sc.lowp_->item, &sc.lowp_->cat};
      rows.ids = {sc.items_.data(), sc.cats_.data()};
      rows.fields = 2;
      rows.n = config_.max_len;
      rows.bias = sc.time_.bias.data();
      sc.lowp_search_->search(sc.lowp_q_.data(), m, sem, scorer_.semantic_scale(), rows, sc.work_.valid.data(), sc.queries_.data(),
                              stride, sc.keys_.data(), stride, sc.pos_.data(), sc.scores_.data(), K, width);
    }
  }

  /// score_candidates with the model's own scratch (one thread at a time).
  void score_candidates(const Id* hist_item, const Id* hist_cat, Index len, const Id* cand_item,
                        const Id* cand_cat, Index m, Scalar* prob) {
    if (!serve_) serve_ = std::make_unique<ServeScratch>(*this);
    score_candidates(hist_item, hist_cat, len, cand_item, cand_cat, m, prob, *serve_);
  }

  /// The row of `id` in `field` as role R embeds it (the table row, projections applied):
  /// what the tables learned, for analyses (analysis/retrieval.hpp's learned correlation).
  template <Role R>
  void embedding(int field, Id id, Scalar* out) const {
    check_field(field);
    check_id(field_rows(field), id, field_name(field), 0);
    synchronize();
    embed<R>(field, id, out);
  }
  /// The attention logit's scorer (its scales, for a dot-product scorer).
  const ScorerImpl& scorer() const noexcept { return scorer_; }

  /// Number of positions the main attention keeps (K, or L for full attention).
  Index selected_count() const noexcept { return Selector::kAllPositions ? config_.max_len : config_.top_k; }
  /// Positions (window indices) and weights the selector kept for sample `s` of the last
  /// forward pass, in the selector's order — for inspection and tests.
  void selected(Index s, Index* positions, Scalar* weights) const {
    const Index K = selected_count();
    for (Index k = 0; k < K; ++k) {
      positions[k] = top_pos_[static_cast<std::size_t>(s * K + k)];
      weights[k] = top_w_[static_cast<std::size_t>(s * K + k)];
    }
  }

  // ---- checkpoints -------------------------------------------------------------------------

  /// Writes the model's kind and sizes, every table, dense parameter and BatchNorm statistic
  /// (and, if `with_optimizer` and configured, the optimizer state).
  void save(std::ostream& os, bool with_optimizer = true) {
    synchronize();
    detail::BinaryWriter w(os);
    w.magic(kMagic);
    w.u32(kVersion);
    w.u32(static_cast<std::uint32_t>(sizeof(Scalar)));
    for (std::uint32_t v : kind_ids()) w.u32(v);
    w.u32(config_.target_aware ? 1 : 0);
    for (Index v : shape()) w.u64(static_cast<std::uint64_t>(v));
    w.u32(static_cast<std::uint32_t>(inference_stats_));
    const bool opt = with_optimizer && dense_adam_ != nullptr;
    w.u32(opt ? 1 : 0);
    w.u32(static_cast<std::uint32_t>(config_.hash_bits));
    w.u32(static_cast<std::uint32_t>(config_.hash_rounds));
    w.checksum();
    for (const auto& t : att_tables_) t.save(os);
    for (const auto& t : repr_tables_) t.save(os);
    nn::save_parameters(os, parameters());
    nn::save_parameters(os, head_buffers());
    if (opt) {
      for (const auto& a : att_adam_) a->save(os);
      for (const auto& a : repr_adam_) a->save(os);
      dense_adam_->save(os);
    }
    w.check("model checkpoint");
  }

  /// Reads a checkpoint written by `save` from a model of the same kind and sizes. The whole
  /// checkpoint is read and checked into a scratch model first, so a bad file leaves this
  /// model untouched. Optimizer state, when present, is restored too.
  void load(std::istream& is, const std::string& name) {
    synchronize();  // this model's optimizers must hold no deferred rows of the old tables
    SequenceModel scratch(config_);
    const bool has_opt = scratch.read(is, name, opt_config_);
    for (std::size_t i = 0; i < att_tables_.size(); ++i) std::swap(att_tables_[i], scratch.att_tables_[i]);
    for (std::size_t i = 0; i < repr_tables_.size(); ++i) std::swap(repr_tables_[i], scratch.repr_tables_[i]);
    copy_values(scratch.parameters(), parameters());
    copy_values(scratch.head_buffers(), head_buffers());
    inference_stats_ = scratch.inference_stats_;
    if (has_opt) {
      if (!has_optimizer()) configure_optimizer(opt_config_);
      // Optimizers hold references to their own model's tables: move the state through a
      // buffer rather than the objects.
      std::stringstream buffer;
      for (const auto& a : scratch.att_adam_) a->save(buffer);
      for (const auto& a : scratch.repr_adam_) a->save(buffer);
      scratch.dense_adam_->save(buffer);
      for (auto& a : att_adam_) a->load(buffer, name);
      for (auto& a : repr_adam_) a->load(buffer, name);
      dense_adam_->load(buffer, name);
    }
  }

  void save(const std::string& path, bool with_optimizer = true) {
    detail::save_file_atomically(path, "model checkpoint", [&](std::ostream& os) { save(os, with_optimizer); });
  }
  /// Reads the checkpoint file `path`, which must hold nothing after the checkpoint.
  void load(const std::string& path) {
    detail::load_file(path, "the model checkpoint", [&](std::istream& is, const std::string& name) { load(is, name); });
  }

  SequenceModel(const SequenceModel&) = delete;
  SequenceModel& operator=(const SequenceModel&) = delete;

 private:
  static constexpr char kMagic[9] = "DAREMODL";
  // Version 2 added the inference statistics mode; version 3 the model kind (layout,
  // selector, scorer, target-aware flag) and the scorer's hidden width; version 4 the hashing
  // selectors' bits and rounds. Only the current version is read: a loaded checkpoint saves
  // back to the bytes it was read from (fuzz/model_fuzzer checks it).
  static constexpr std::uint32_t kVersion = 4;
  static constexpr Scalar kPadding = SoftmaxAttention<Scalar>::kPaddingScore;
  using SelectorWorker = typename Selector::template Worker<Scalar>;
  using ScorerWork = typename ScorerImpl::Work;
  using ScorerGrad = typename ScorerImpl::Grad;

  static constexpr int set_of(Role r) noexcept { return Embedding::kSetOf[static_cast<std::size_t>(r)]; }
  static constexpr int proj_index(Role r, int field) noexcept { return static_cast<int>(r) * kFields + field; }
  static void check_field(int field) {
    DARE_CHECK_ARG(field >= 0 && field < kFields, "field ", field, " is outside [0, ", kFields, ")");
  }
  Index field_rows(int f) const noexcept {
    return f == kItem ? config_.num_items : f == kCategory ? config_.num_cats : config_.num_times;
  }

  // The time rows of a batch (see compute_time).
  struct TimeRows {
    std::vector<Scalar> q_time, keys, vals, target_val, bias;
  };

  // Per-worker scratch for one sample at a time (sized once from the config).
  struct Work {
    explicit Work(const SequenceModel& m)
        : sem_stride(aligned_stride<Scalar>(2 * m.A_)),
          val_stride(aligned_stride<Scalar>(m.value_width())),
          keys(static_cast<std::size_t>(m.config_.max_len * sem_stride)),
          vals(static_cast<std::size_t>(m.config_.max_len * val_stride)),
          sel(static_cast<std::size_t>(m.selected_count() * val_stride)),
          dvals(vals.size()),
          dkeys(keys.size()),
          dsel(sel.size()),
          scores(static_cast<std::size_t>(m.config_.max_len)),
          ds(scores.size()),
          dw_all(scores.size()),
          sel_scores(static_cast<std::size_t>(m.selected_count())),
          dw(sel_scores.size()),
          ds_sel(sel_scores.size()),
          sel_pos(sel_scores.size()),
          valid(scores.size()),
          hist_item(scores.size()),
          hist_cat(scores.size()),
          q(static_cast<std::size_t>(sem_stride)),
          dq(q.size()),
          v(static_cast<std::size_t>(val_stride)),
          dv(v.size()),
          proj_tmp(static_cast<std::size_t>(std::max<Index>(m.A_, m.R_))),
          slot_time_ds(static_cast<std::size_t>(kGroups ? m.config_.max_len : 0)),
          selector(m.selector_setup()),
          scorer(sem_stride) {}
    Index sem_stride, val_stride;
    AlignedVector<Scalar> keys, vals, sel, dvals, dkeys, dsel;
    // The backward sums the gradients of the window's keys (dkeys) and values (dvals) over
    // the consecutive samples that share it (a positive and its negatives) and adds them to
    // the tables' accumulators once, when the window changes (flush_window).
    bool pending = false;
    std::vector<Scalar> scores, ds, dw_all, sel_scores, dw, ds_sel;
    std::vector<Index> sel_pos;
    std::vector<std::uint8_t> valid;
    std::vector<Id> hist_item, hist_cat;  // the window whose rows keys/vals hold
    bool cached = false;                  // keys/vals are valid for hist_item/hist_cat
    StageProfile profile;                 // this worker's stage times (set_stage_profile)
    std::uint64_t window = 0;             // counts the gathers (SelectorInput::window)
    AlignedVector<Scalar> q, dq, v, dv;
    std::vector<Scalar> proj_tmp;
    // Cluster slots (kGroups): slot c holds the members members[slot_begin[c], slot_begin[c+1])
    // (window positions); slot_bias is its time term plus ln(size); slot_time_ds collects the
    // scorer's time gradient per slot. raw_keys/raw_vals hold the positions' own rows.
    std::vector<std::int32_t> hist_group;
    std::vector<Index> slot_begin, members;
    std::vector<std::pair<std::int32_t, Index>> by_group;
    std::vector<std::pair<Index, Index>> runs;
    std::vector<Scalar> slot_bias, slot_time_ds;
    AlignedVector<Scalar> raw_keys, raw_vals;
    SelectorWorker selector;
    ScorerWork scorer;
  };

  // Per-worker gradient accumulators. Time rows are few and dense: the dot scorer's time
  // gradient is accumulated as Σ_samples ds_j per window index, the representation one as
  // dense rows per time id; both become table rows in finish_gradients (worker 0 only).
  struct Grads {
    explicit Grads(const SequenceModel& m)
        : scorer(m.scorer_.make_grad()),
          time_ds(static_cast<std::size_t>(m.config_.max_len)),
          time_query(static_cast<std::size_t>(m.A_)),
          time_repr(static_cast<std::size_t>((m.config_.max_len + 1) * m.R_)),
          proj_tmp(static_cast<std::size_t>(std::max<Index>(m.A_, m.R_))) {
      for (int i = 0; i < kAttTables; ++i) att.emplace_back(m.A_);
      for (int i = 0; i < kReprTables; ++i) repr.emplace_back(m.R_);
      if constexpr (kShared) {
        for (auto& use : by_use) {
          for (int f = 0; f < kFields; ++f) use.emplace_back(m.A_);
        }
      }
      for (const auto& p : m.proj_) proj.push_back(Matrix::Zero(p.value.rows(), p.value.cols()));
    }
    void clear() {
      for (auto& g : att) g.clear();
      for (auto& g : repr) g.clear();
      for (auto& use : by_use) {
        for (auto& g : use) g.clear();
      }
      for (auto& p : proj) p.setZero();
      scorer.clear();
      std::fill(time_ds.begin(), time_ds.end(), Scalar(0));
      std::fill(time_query.begin(), time_query.end(), Scalar(0));
      std::fill(time_repr.begin(), time_repr.end(), Scalar(0));
    }
    std::vector<AttGrad> att;
    std::vector<ReprGrad> repr;
    std::array<std::vector<AttGrad>, 2> by_use;  // [attention, representation][field], when observed
    std::vector<Matrix> proj;
    ScorerGrad scorer;
    std::vector<Scalar> time_ds, time_query, time_repr, proj_tmp;
  };

 public:
  /// Scratch of one serving thread: everything score_candidates writes.
  class ServeScratch {
   public:
    /// With `lowp` (kept alive by the caller), the search selects on its reduced keys (see
    /// search/lowp_search.hpp); without, in float.
    explicit ServeScratch(const SequenceModel& m, const LowpKeys* lowp = nullptr) : work_(m), lowp_(lowp) {}
    /// The positions (window indices) the last call's search kept: candidate c's K at
    /// [c * K, c * K + K), best first (soft-search models; for inspection and measurement).
    const std::vector<Index>& searched_positions() const noexcept { return pos_; }

   private:
    friend class SequenceModel;
    Work work_;
    TimeRows time_;
    Matrix x_, logits_;
    std::array<Matrix, 2> mlp_;
    std::vector<Id> items_, cats_;
    std::vector<std::int32_t> groups_;
    AlignedVector<Scalar> keys_, queries_;
    std::vector<Index> pos_, top_pos_;
    std::vector<Scalar> scores_, top_w_;
    std::unique_ptr<MultiSearch<Scalar, detail::times(3, AttDim)>> search_;
    const LowpKeys* lowp_ = nullptr;
    std::vector<Scalar> lowp_q_;
    std::unique_ptr<LowpSearch<detail::times(3, AttDim)>> lowp_search_;
  };

 private:
  template <Role R>
  auto& grad_of(Grads& g, int field) {
    if constexpr (is_attention(R) || kShared) {
      return g.att[static_cast<std::size_t>(set_of(R) * kFields + field)];
    } else {
      return g.repr[static_cast<std::size_t>(set_of(R) * kFields + field)];
    }
  }
  // The table role R reads, as stored (deferred rows as of their last update).
  template <Role R>
  auto& stored_table(int field) {
    if constexpr (is_attention(R) || kShared) {
      return att_tables_[static_cast<std::size_t>(set_of(R) * kFields + field)];
    } else {
      return repr_tables_[static_cast<std::size_t>(set_of(R) * kFields + field)];
    }
  }
  template <Role R>
  const auto& stored_table(int field) const {
    return const_cast<SequenceModel&>(*this).template stored_table<R>(field);
  }
  template <Role R>
  Index width_of() const noexcept {
    return is_attention(R) ? Index(A_) : Index(R_);
  }

  // out = the embedding of `id` in role R (the table row, or its projection).
  template <Role R>
  void embed(int field, Id id, Scalar* out) const {
    const Scalar* row = stored_table<R>(field).row(id);
    const Index d = width_of<R>();
    if constexpr (Embedding::kProjected) {
      const Matrix& P = proj_[static_cast<std::size_t>(proj_index(R, field))].value;
      Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(out, d).noalias() =
          P * Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(row, d);
    } else {
      copy_row(row, d, out);
    }
  }

  // The gradient scale · dout of embed<R>(field, id) into the table (and projection).
  template <Role R>
  void embed_backward(Grads& g, int field, Id id, const Scalar* dout, Scalar scale) {
    auto& grad = grad_of<R>(g, field);
    if constexpr (Embedding::kProjected) {
      using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
      const Index d = width_of<R>();
      const auto idx = static_cast<std::size_t>(proj_index(R, field));
      const Eigen::Map<const Vec> dy(dout, d);
      const Eigen::Map<const Vec> x(stored_table<R>(field).row(id), d);
      Eigen::Map<Vec> dx(g.proj_tmp.data(), d);
      dx.noalias() = proj_[idx].value.transpose() * dy;
      grad.add(id, g.proj_tmp.data(), scale);
      observe<R>(g, field, id, g.proj_tmp.data(), scale);
      g.proj[idx].noalias() += (scale * dy) * x.transpose();
    } else {
      grad.add(id, dout, scale);
      observe<R>(g, field, id, dout, scale);
    }
  }
  // The same contribution once more, into the accumulator of R's use (see the header note).
  template <Role R>
  void observe(Grads& g, int field, Id id, const Scalar* row, Scalar scale) {
    if constexpr (kShared) {
      if (observe_) g.by_use[is_attention(R) ? 0 : 1][static_cast<std::size_t>(field)].add(id, row, scale);
    }
  }
  const AttGrad& role_grad(int use, int field) const {
    check_field(field);
    DARE_CHECK_ARG(observe_, "role gradients are kept only after observe_role_gradients(true)");
    return grads_[0].by_use[static_cast<std::size_t>(use)][static_cast<std::size_t>(field)];
  }

  static ModelConfig checked(const ModelConfig& given) {
    ModelConfig c = given;
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
    const double rows = static_cast<double>(c.num_items + c.num_cats + (kUsesTime ? c.num_times : 0));
    detail::check_fits_in_memory(
        rows * static_cast<double>(c.att_dim * Embedding::kAttSets + c.repr_dim * Embedding::kReprSets) *
            sizeof(Scalar) * 3,
        detail::concat("the embedding tables and their Adam state (num_items ", c.num_items, ", num_cats ",
                       c.num_cats, ", num_times ", c.num_times, ", att_dim ", c.att_dim, ", repr_dim ",
                       c.repr_dim, ")"));
    DARE_CHECK_ARG(!kUsesTime || c.num_times > c.max_len, "num_times (", c.num_times,
                   ") must exceed max_len (", c.max_len, "): time ids run from 0 to max_len");
    DARE_CHECK_ARG(c.top_k > 0 && c.top_k <= c.max_len, "top_k must be in [1, max_len = ", c.max_len,
                   "], got ", c.top_k);
    DARE_CHECK_ARG(!kShared || c.att_dim == c.repr_dim, "a shared table (", kind_name(c.target_aware),
                   "): att_dim (", c.att_dim, ") must equal repr_dim (", c.repr_dim, ")");
    DARE_CHECK_ARG(c.init_sigma >= 0, "init_sigma must be non-negative");
    if constexpr (Selector::kHashes) {
      if (c.hash_bits == 0) c.hash_bits = Selector::kDefaultBits;
      if (c.hash_rounds == 0) c.hash_rounds = Selector::kDefaultRounds;
      Selector::check(SelectorSetup{c.top_k, 2 * c.att_dim, c.hash_bits, c.hash_rounds});
    } else {
      c.hash_bits = 0;  // not used: recorded as 0 so a checkpoint does not depend on it
      c.hash_rounds = 0;
    }
    return c;
  }

  nn::MlpOptions head_options(const char* name) const {
    nn::MlpOptions o;
    o.input_batch_norm = true;
    o.name = name;
    return o;
  }

  std::vector<nn::Parameter<Scalar>*> head_buffers() {
    auto p = main_.buffers();
    auto q = aux_.buffers();
    p.insert(p.end(), q.begin(), q.end());
    return p;
  }

  static void check_id(Index rows, Id id, const char* field, Index where) {
    if (id < 0 || id >= rows) {
      detail::throw_invalid(field, " id ", id, " at position ", where, " is outside [0, ", rows, ")");
    }
  }

  void check_batch(const SequenceBatch& b, bool need_labels) const {
    DARE_CHECK_ARG(b.size > 0, "batch size must be positive, got ", b.size);
    DARE_CHECK_ARG(b.max_len == config_.max_len, "batch window ", b.max_len, " differs from the model's max_len ",
                   config_.max_len);
    DARE_CHECK_ARG(b.hist_item && b.hist_cat && b.target_item && b.target_cat, "batch has a null id array");
    DARE_CHECK_ARG(!need_labels || b.label, "training needs labels");
    DARE_CHECK_ARG(!kGroups || b.hist_group, kind(),
                   " attends to clusters of the history and needs SequenceBatch::hist_group (a dataset "
                   "preprocessed with --cluster-max-size)");
    const Index n = b.size * b.max_len;
    for (Index i = 0; i < n; ++i) {
      check_id(config_.num_items, b.hist_item[i], "history item", i);
      check_id(config_.num_cats, b.hist_cat[i], "history category", i);
    }
    for (Index s = 0; s < b.size; ++s) {
      check_id(config_.num_items, b.target_item[s], "target item", s);
      check_id(config_.num_cats, b.target_cat[s], "target category", s);
      if (need_labels) {
        DARE_CHECK_ARG(b.label[s] == 0 || b.label[s] == 1, "label of sample ", s, " is ", b.label[s],
                       "; labels are 0 or 1");
      }
    }
  }

  // The main head's input columns of every sample, parameters frozen (no auxiliary head).
  void head_inputs(const SequenceBatch& batch) {
    check_batch(batch, false);
    synchronize();
    const Index B = batch.size;
    prepare_batch(B);
    prepare_time();
    parallel_for(pool_.get(), threads_, B, [&](int w, Index begin, Index end) {
      work_[w].cached = false;
      for (Index s = begin; s < end; ++s) sample_forward(work_[w], batch, s, false);
    });
  }

  void prepare_batch(Index B) {
    const Index F = feature_width();
    x_main_.resize(F, B);
    if (Selector::kAuxAttendsAll) x_aux_.resize(F, B);
    const Index K = selected_count();
    top_pos_.resize(static_cast<std::size_t>(B * K));
    top_w_.resize(top_pos_.size());
    all_w_.resize(static_cast<std::size_t>(B * config_.max_len));
  }

  // The time rows of the batch: every sample has the same time ids, so the target's time
  // query and value, each position's time key and value, and the dot scorer's time term
  // bias[j] = <q_time, k_time_j> · s_time are computed once per batch (or serving call).
  void compute_time(TimeRows& t) const {
    if constexpr (kUsesTime) {
      const Index L = config_.max_len;
      t.q_time.resize(static_cast<std::size_t>(A_));
      t.keys.resize(static_cast<std::size_t>(L * A_));
      t.vals.resize(static_cast<std::size_t>(L * R_));
      t.target_val.resize(static_cast<std::size_t>(R_));
      t.bias.resize(static_cast<std::size_t>(L));
      embed<Role::AttentionTarget>(kTime, 0, t.q_time.data());
      embed<Role::ReprTarget>(kTime, 0, t.target_val.data());
      const Scalar scale = scorer_.time_scale();
      for (Index j = 0; j < L; ++j) {
        Scalar* tk = t.keys.data() + j * A_;
        embed<Role::AttentionHistory>(kTime, static_cast<Id>(L - j), tk);
        embed<Role::ReprHistory>(kTime, static_cast<Id>(L - j), t.vals.data() + j * R_);
        Scalar acc = 0;
        for (Index c = 0; c < A_; ++c) acc += t.q_time[static_cast<std::size_t>(c)] * tk[c];
        t.bias[static_cast<std::size_t>(j)] = acc * scale;
      }
    }
  }
  void prepare_time() { compute_time(time_); }

  // Deferred optimizer rows: brings every row the batch reads up to date (each field's ids in
  // every table of that field; the time rows 0..max_len). Timed as optimizer work.
  void prepare_rows(const SequenceBatch& b) {
    if (!stale_.load(std::memory_order_acquire)) return;
    detail::StageClock clock(profile_on_);
    if (time_ids_.size() != static_cast<std::size_t>(b.max_len) + 1) {
      time_ids_.resize(static_cast<std::size_t>(b.max_len) + 1);
      for (std::size_t i = 0; i < time_ids_.size(); ++i) time_ids_[i] = static_cast<Id>(i);
    }
    // Each window's ids once: a positive and its negatives share one window, and the rows a
    // window's first sample brought up to date need nothing from the next ones.
    const Index L = b.max_len;
    window_ids_[0].clear();
    window_ids_[1].clear();
    for (Index s = 0; s < b.size; ++s) {
      const Id* items = b.hist_item + s * L;
      const Id* cats = b.hist_cat + s * L;
      if (s > 0 && std::equal(items, items + L, items - L) && std::equal(cats, cats + L, cats - L)) continue;
      window_ids_[0].insert(window_ids_[0].end(), items, items + L);
      window_ids_[1].insert(window_ids_[1].end(), cats, cats + L);
    }
    for_each_table_adam([&](auto& adam, std::size_t i, auto) {
      const int field = static_cast<int>(i) % kFields;
      if (field == kItem || field == kCategory) {
        const std::vector<Id>& ids = window_ids_[field == kItem ? 0 : 1];
        adam.prepare(ids.data(), static_cast<Index>(ids.size()));
        adam.prepare(field == kItem ? b.target_item : b.target_cat, b.size);
      } else {
        adam.prepare(time_ids_.data(), static_cast<Index>(time_ids_.size()));
      }
    });
    clock.lap(profile_, Stage::Optimizer);
  }

  // Calls fn(i) for every table i in [0, kAttTables + kReprTables) (attention sets first),
  // the tables interleaved over the worker threads so the two item tables go to two; each
  // table's work is one thread's, so its bits do not depend on the thread count (and the
  // workers inherit the caller's flush-to-zero mode).
  template <class Fn>
  void for_each_table_in_parallel(Fn&& fn) {
    constexpr int n = kAttTables + kReprTables;
    parallel_for(pool_.get(), threads_, n, [&](int w, Index, Index) {
      for (int i = w; i < n; i += std::min(threads_, n)) fn(i);
    });
  }
  // Calls fn(optimizer, index in its set, std::bool_constant<is an attention set>) for every
  // table's optimizer, as for_each_table_in_parallel.
  template <class Fn>
  void for_each_table_adam(Fn&& fn) {
    for_each_table_in_parallel([&](int i) {
      if (i < kAttTables) {
        fn(*att_adam_[static_cast<std::size_t>(i)], static_cast<std::size_t>(i), std::true_type{});
      } else {
        fn(*repr_adam_[static_cast<std::size_t>(i - kAttTables)], static_cast<std::size_t>(i - kAttTables),
           std::false_type{});
      }
    });
  }

  // A plain copy: the same bits as src[c] * 1 (also under denormals-are-zero, where either
  // form reads as zero to every later operation).
  static void copy_row(const Scalar* src, Index n, Scalar* dst) {
    std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(Scalar));
  }
  static void copy_row(const Scalar* src, Index n, Scalar* dst, Scalar scale) {
    for (Index c = 0; c < n; ++c) dst[c] = src[c] * scale;
  }

  // How many candidates ahead score_candidates asks for their table rows: a candidate's rows
  // are scattered over the tables, and gathering them waited on memory (L = 200, M = 1,000:
  // 10% of the call before).
  static constexpr Index kCandidateAhead = 8;
  // How many window positions ahead gather_history asks for the table rows (4 rows each):
  // enough to overlap the misses of a multi-million-row table, few enough to stay in L1.
  static constexpr Index kGatherAhead = 8;
  // Asks for the row that embed<R>(field, id) will read.
  template <Role R>
  void prefetch_embed(int field, Id id) const noexcept {
    detail::prefetch_lines(stored_table<R>(field).row(id), width_of<R>() * Index(sizeof(Scalar)));
  }
  // How many window positions ahead the backward asks for the gradient rows it will add to
  // (and twice as many for their buckets): the accumulators of a batch hold ~10^5 rows.
  static constexpr Index kGradAhead = 8;
  // Asks for what embed_backward<R> of the item and category of position j + kGradAhead
  // will touch (its rows), and of j + 2 kGradAhead (its buckets).
  template <Role R>
  void prefetch_grads(Grads& g, const Id* items, const Id* cats, Index j, Index L) {
    auto& gi = grad_of<R>(g, kItem);
    auto& gc = grad_of<R>(g, kCategory);
    if (j + 2 * kGradAhead < L) {
      gi.prefetch(items[j + 2 * kGradAhead]);
      gc.prefetch(cats[j + 2 * kGradAhead]);
    }
    if (j + kGradAhead < L) {
      gi.prefetch_row(items[j + kGradAhead]);
      gc.prefetch_row(cats[j + kGradAhead]);
    }
  }
  // The buckets of the first 2 kGradAhead positions, before a loop that calls prefetch_grads.
  template <Role R>
  void prefetch_first_grads(Grads& g, const Id* items, const Id* cats, Index L) {
    auto& gi = grad_of<R>(g, kItem);
    auto& gc = grad_of<R>(g, kCategory);
    for (Index j = 0; j < std::min(2 * kGradAhead, L); ++j) {
      gi.prefetch(items[j]);
      gc.prefetch(cats[j]);
    }
  }

  // Asks for the rows target() will read for sample s + 1, if there is one.
  void prefetch_next_target(const SequenceBatch& b, Index s) const noexcept {
    if (s + 1 >= b.size) return;
    const Id item = b.target_item[s + 1], cat = b.target_cat[s + 1];
    prefetch_embed<Role::AttentionTarget>(kItem, item);
    prefetch_embed<Role::AttentionTarget>(kCategory, cat);
    prefetch_embed<Role::ReprTarget>(kItem, item);
    prefetch_embed<Role::ReprTarget>(kCategory, cat);
  }
  void prefetch_position(Id item, Id cat) const noexcept {
    prefetch_embed<Role::AttentionHistory>(kItem, item);
    prefetch_embed<Role::AttentionHistory>(kCategory, cat);
    if constexpr (!kShared) {
      prefetch_embed<Role::ReprHistory>(kItem, item);
      prefetch_embed<Role::ReprHistory>(kCategory, cat);
    }
  }

  // Whether w holds sample s's window already (the previous sample's, most often).
  bool holds_window(const Work& w, const SequenceBatch& b, Index s) const {
    if (!w.cached) return false;
    const Index L = config_.max_len;
    const auto bytes = static_cast<std::size_t>(L) * sizeof(Id);
    return std::memcmp(b.hist_item + s * L, w.hist_item.data(), bytes) == 0 &&
           std::memcmp(b.hist_cat + s * L, w.hist_cat.data(), bytes) == 0 &&
           (!kGroups || std::memcmp(b.hist_group + s * L, w.hist_group.data(),
                                    static_cast<std::size_t>(L) * sizeof(std::int32_t)) == 0);
  }

  // Gathers the attention keys [item | cat] (2A) and values [item | cat (| time)] of the
  // window of sample s, and its padding mask; a window equal to the worker's previous one is
  // not gathered again (the tables do not change within a pass, which starts with `cached`
  // cleared).
  void gather_history(Work& w, const SequenceBatch& b, Index s, const TimeRows& t) const {
    const Index L = config_.max_len;
    const Id* items = b.hist_item + s * L;
    const Id* cats = b.hist_cat + s * L;
    const auto bytes = static_cast<std::size_t>(L) * sizeof(Id);
    if (holds_window(w, b, s)) return;
    const std::int32_t* groups = kGroups ? b.hist_group + s * L : nullptr;
    std::memcpy(w.hist_item.data(), items, bytes);
    std::memcpy(w.hist_cat.data(), cats, bytes);
    w.cached = true;
    ++w.window;
    if constexpr (kGroups) w.hist_group.assign(groups, groups + L);
    for (Index j = 0; j < std::min(kGatherAhead, L); ++j) prefetch_position(items[j], cats[j]);
    for (Index j = 0; j < L; ++j) {
      if (j + kGatherAhead < L) prefetch_position(items[j + kGatherAhead], cats[j + kGatherAhead]);
      w.valid[static_cast<std::size_t>(j)] = items[j] != 0;
      Scalar* k = w.keys.data() + j * w.sem_stride;
      embed<Role::AttentionHistory>(kItem, items[j], k);
      embed<Role::AttentionHistory>(kCategory, cats[j], k + A_);
      Scalar* v = w.vals.data() + j * w.val_stride;
      embed<Role::ReprHistory>(kItem, items[j], v);
      embed<Role::ReprHistory>(kCategory, cats[j], v + R_);
      if constexpr (kUsesTime) copy_row(t.vals.data() + j * R_, R_, v + 2 * R_);
    }
    if constexpr (kGroups) group_window(w, t);
  }

  // Replaces the window's rows by its cluster slots (see Work and selectors.hpp): slots in
  // the order of their most recent member, each the mean of its members' key and value rows;
  // the slots after the last are padding.
  void group_window(Work& w, const TimeRows& t) const {
    const Index L = config_.max_len;
    w.by_group.clear();
    for (Index j = 0; j < L; ++j) {
      if (w.valid[static_cast<std::size_t>(j)]) w.by_group.emplace_back(w.hist_group[static_cast<std::size_t>(j)], j);
    }
    std::sort(w.by_group.begin(), w.by_group.end());
    w.runs.clear();  // (most recent member, first index into by_group) per cluster
    for (std::size_t i = 0; i < w.by_group.size(); ++i) {
      if (i == 0 || w.by_group[i].first != w.by_group[i - 1].first) w.runs.emplace_back(0, static_cast<Index>(i));
      w.runs.back().first = w.by_group[i].second;
    }
    std::sort(w.runs.begin(), w.runs.end());
    const auto C = static_cast<Index>(w.runs.size());
    w.raw_keys = w.keys;
    w.raw_vals = w.vals;
    w.slot_begin.assign(static_cast<std::size_t>(L) + 1, Index{0});
    w.members.clear();
    w.slot_bias.assign(static_cast<std::size_t>(L), Scalar(0));
    const Index sem = 2 * A_, V = value_width();
    for (Index c = 0; c < L; ++c) {
      Scalar* k = w.keys.data() + c * w.sem_stride;
      Scalar* v = w.vals.data() + c * w.val_stride;
      std::fill(k, k + sem, Scalar(0));
      std::fill(v, v + V, Scalar(0));
      w.valid[static_cast<std::size_t>(c)] = c < C;
      if (c < C) {
        const std::int32_t id = w.by_group[static_cast<std::size_t>(w.runs[static_cast<std::size_t>(c)].second)].first;
        for (auto i = static_cast<std::size_t>(w.runs[static_cast<std::size_t>(c)].second);
             i < w.by_group.size() && w.by_group[i].first == id; ++i) {
          const Index j = w.by_group[i].second;
          w.members.push_back(j);
          const Scalar* rk = w.raw_keys.data() + j * w.sem_stride;
          const Scalar* rv = w.raw_vals.data() + j * w.val_stride;
          for (Index e = 0; e < sem; ++e) k[e] += rk[e];
          for (Index e = 0; e < V; ++e) v[e] += rv[e];
        }
      }
      w.slot_begin[static_cast<std::size_t>(c) + 1] = static_cast<Index>(w.members.size());
      const Index n = slot_size(w, c);
      if (n > 0) {
        const Scalar inv = Scalar(1) / static_cast<Scalar>(n);
        for (Index e = 0; e < sem; ++e) k[e] *= inv;
        for (Index e = 0; e < V; ++e) v[e] *= inv;
        Scalar bias = 0;
        for_members(w, c, [&](Index j, Scalar) { bias += t.bias[static_cast<std::size_t>(j)]; });
        w.slot_bias[static_cast<std::size_t>(c)] = bias * inv + std::log(static_cast<Scalar>(n));
      }
    }
  }
  static Index slot_size(const Work& w, Index c) noexcept {
    return w.slot_begin[static_cast<std::size_t>(c) + 1] - w.slot_begin[static_cast<std::size_t>(c)];
  }
  // Calls fn(position, 1 / size) for every member of slot c.
  template <class Fn>
  static void for_members(const Work& w, Index c, Fn&& fn) {
    const Index n = slot_size(w, c);
    if (n == 0) return;
    const Scalar inv = Scalar(1) / static_cast<Scalar>(n);
    for (Index i = w.slot_begin[static_cast<std::size_t>(c)]; i < w.slot_begin[static_cast<std::size_t>(c) + 1]; ++i) {
      fn(w.members[static_cast<std::size_t>(i)], inv);
    }
  }
  // The time term of each row of the window: per position, or per cluster slot.
  const Scalar* row_bias(const Work& w, const TimeRows& t) const {
    if constexpr (kGroups) return w.slot_bias.data();
    return t.bias.data();
  }

  // The target's attention query (w.q) and representation (w.v).
  void target(Work& w, Id t_item, Id t_cat, const TimeRows& t) const {
    embed<Role::AttentionTarget>(kItem, t_item, w.q.data());
    embed<Role::AttentionTarget>(kCategory, t_cat, w.q.data() + A_);
    target_values(w, t_item, t_cat, t);
  }
  // The representation half of target(): all the batched serving path needs (its queries
  // are built beforehand).
  void target_values(Work& w, Id t_item, Id t_cat, const TimeRows& t) const {
    embed<Role::ReprTarget>(kItem, t_item, w.v.data());
    embed<Role::ReprTarget>(kCategory, t_cat, w.v.data() + R_);
    if constexpr (kUsesTime) copy_row(t.target_val.data(), R_, w.v.data() + 2 * R_);
  }

  SelectorInput<Scalar> selector_input(const Work& w, const Scalar* scores, Id t_cat) const {
    SelectorInput<Scalar> in;
    in.scores = scores;
    in.n = config_.max_len;
    in.valid = w.valid.data();
    in.hist_cat = w.hist_cat.data();
    in.target_cat = t_cat;
    in.query = w.q.data();
    in.keys = w.keys.data();
    in.key_stride = w.sem_stride;
    in.key_width = 2 * A_;
    in.window = w.window;
    return in;
  }
  SelectorSetup selector_setup() const {
    return {selected_count(), 2 * A_, config_.hash_bits, config_.hash_rounds};
  }

  // Softmax over the kept logits (or the selector's fixed weights), then column `col` of the
  // main head input [v, u (, v ⊙ u)].
  void attend(Work& w, Index col, const Index* pos, const Scalar* sel_scores, Matrix& xs, Index* top_pos,
              Scalar* top_w) const {
    const Index K = selected_count();
    const Index V = value_width();
    Scalar* tw = top_w + col * K;
    if constexpr (Selector::kFixedWeights) {
      std::copy(sel_scores, sel_scores + K, tw);
    } else {
      SoftmaxAttention<Scalar>::softmax(sel_scores, K, tw);
    }
    std::copy(pos, pos + K, top_pos + col * K);
    Scalar* x = xs.col(col).data();
    copy_row(w.v.data(), V, x);
    Scalar* tr = config_.target_aware ? x + 2 * V : nullptr;
    if constexpr (Selector::kAllPositions) {
      aggregation_.forward(tw, w.vals.data(), w.val_stride, K, w.v.data(), x + V, tr);
    } else {
      aggregation_.forward_selected(tw, w.vals.data(), w.val_stride, config_.max_len, pos, K, w.v.data(), x + V, tr);
    }
  }

  // From the logits of one target: selection, attention, aggregation into column `col` (and,
  // when training an auxiliary head that attends to all positions, its column too).
  // `clock` times the search and the attention (when the stage profile is on).
  void features(Work& w, const Scalar* scores, Id t_cat, Index col, bool with_aux, detail::StageClock& clock) {
    const Index L = config_.max_len;
    const Index V = value_width();
    w.selector.select(selector_input(w, scores, t_cat), w.sel_pos.data(), w.sel_scores.data());
    clock.lap(w.profile, Stage::Search);
    attend(w, col, w.sel_pos.data(), w.sel_scores.data(), x_main_, top_pos_.data(), top_w_.data());
    if constexpr (Selector::kAuxAttendsAll) {
      if (with_aux) {
        Scalar* aw = all_w_.data() + col * L;
        SoftmaxAttention<Scalar>::softmax(scores, L, aw);
        Scalar* xa = x_aux_.col(col).data();
        copy_row(w.v.data(), V, xa);
        aggregation_.forward(aw, w.vals.data(), w.val_stride, L, w.v.data(), xa + V,
                             config_.target_aware ? xa + 2 * V : nullptr);
      }
    }
    clock.lap(w.profile, Stage::Attention);
  }

  void sample_forward(Work& w, const SequenceBatch& b, Index s, bool training) {
    detail::StageClock clock(profile_on_ && training);
    prefetch_next_target(b, s);
    gather_history(w, b, s, time_);
    target(w, b.target_item[s], b.target_cat[s], time_);
    clock.lap(w.profile, Stage::Gather);
    scorer_.forward(w.scorer, w.q.data(), w.keys.data(), w.sem_stride, config_.max_len, row_bias(w, time_),
                    w.valid.data(), w.scores.data());
    features(w, w.scores.data(), b.target_cat[s], s, training && config_.aux_loss, clock);
  }

  void sample_backward(Work& w, Grads& g, const SequenceBatch& b, Index s) {
    const Index L = config_.max_len;
    const Index K = selected_count();
    const Index V = value_width();
    const bool tr = config_.target_aware;
    const Id t_item = b.target_item[s];
    const Id t_cat = b.target_cat[s];
    detail::StageClock clock(profile_on_);
    if (!holds_window(w, b, s)) flush_window(w, g, clock);
    prefetch_next_target(b, s);
    gather_history(w, b, s, time_);
    target(w, t_item, t_cat, time_);
    w.pending = true;
    clock.lap(w.profile, Stage::BackGather);

    const Scalar* x = x_main_.col(s).data();
    const Scalar* dx = dx_main_.col(s).data();
    const Index* pos = top_pos_.data() + s * K;
    const Scalar* tw = top_w_.data() + s * K;
    std::fill(w.ds.begin(), w.ds.end(), Scalar(0));
    // dv from the head input v, then the u (and TR) path of the main head.
    copy_row(dx, V, w.dv.data());
    if constexpr (Selector::kAllPositions) {
      aggregation_.backward(tw, w.vals.data(), w.val_stride, K, w.v.data(), x + V, dx + V, tr ? dx + 2 * V : nullptr,
                            w.dw.data(), w.dvals.data(), w.val_stride, w.dv.data());
    } else {
      for (Index k = 0; k < K; ++k) copy_row(w.vals.data() + pos[k] * w.val_stride, V, w.sel.data() + k * w.val_stride);
      std::fill(w.dsel.begin(), w.dsel.end(), Scalar(0));
      aggregation_.backward(tw, w.sel.data(), w.val_stride, K, w.v.data(), x + V, dx + V, tr ? dx + 2 * V : nullptr,
                            w.dw.data(), w.dsel.data(), w.val_stride, w.dv.data());
    }
    if constexpr (Selector::kFixedWeights) {
      std::fill(w.ds_sel.begin(), w.ds_sel.end(), Scalar(0));  // the weights are no function of the logits
    } else {
      SoftmaxAttention<Scalar>::softmax_backward(tw, w.dw.data(), K, w.ds_sel.data());
    }

    if constexpr (Selector::kAuxAttendsAll) {
      if (config_.aux_loss) {
        const Scalar* xa = x_aux_.col(s).data();
        const Scalar* dxa = dx_aux_.col(s).data();
        const Scalar* aw = all_w_.data() + s * L;
        for (Index c = 0; c < V; ++c) w.dv[static_cast<std::size_t>(c)] += dxa[c];
        aggregation_.backward(aw, w.vals.data(), w.val_stride, L, w.v.data(), xa + V, dxa + V,
                              tr ? dxa + 2 * V : nullptr, w.dw_all.data(), w.dvals.data(), w.val_stride, w.dv.data());
        SoftmaxAttention<Scalar>::softmax_backward(aw, w.dw_all.data(), L, w.ds.data());
      }
    }
    for (Index k = 0; k < K; ++k) {
      w.ds[static_cast<std::size_t>(pos[k])] += w.ds_sel[static_cast<std::size_t>(k)];
      if constexpr (!Selector::kAllPositions) {
        Scalar* dst = w.dvals.data() + pos[k] * w.val_stride;
        const Scalar* src = w.dsel.data() + k * w.val_stride;
        detail::add_lanes(dst, src, V);
      }
    }

    clock.lap(w.profile, Stage::BackAttention);

    // Logits → attention embeddings: the keys' gradients into the window's sums (the
    // tables get them in flush_window), the query's below.
    std::fill(w.dq.begin(), w.dq.end(), Scalar(0));
    if constexpr (kGroups) std::fill(w.slot_time_ds.begin(), w.slot_time_ds.end(), Scalar(0));
    const Index sem = detail::width<kSemDim>(2 * A_);
    scorer_.backward(
        w.scorer, w.q.data(), w.keys.data(), w.sem_stride, L, w.valid.data(), w.ds.data(), w.dq.data(),
        [&](Index j, const Scalar* dir, Scalar scale) {
          Scalar* dk = w.dkeys.data() + j * w.sem_stride;
          detail::add_scaled_lanes(dk, dir, scale, sem);
        },
        kGroups ? w.slot_time_ds.data() : g.time_ds.data(), g.scorer);
    if constexpr (kGroups) {
      for (Index c = 0; c < L; ++c) {
        const Scalar d = w.slot_time_ds[static_cast<std::size_t>(c)];
        if (d == Scalar(0)) continue;
        for_members(w, c, [&](Index m, Scalar inv) { g.time_ds[static_cast<std::size_t>(m)] += d * inv; });
      }
    }
    const Scalar dq_scale = scorer_.query_grad_scale();
    embed_backward<Role::AttentionTarget>(g, kItem, t_item, w.dq.data(), dq_scale);
    embed_backward<Role::AttentionTarget>(g, kCategory, t_cat, w.dq.data() + A_, dq_scale);
    clock.lap(w.profile, Stage::BackSearch);

    // Values: the window's sums are w.dvals (flush_window); the target's here.
    embed_backward<Role::ReprTarget>(g, kItem, t_item, w.dv.data(), Scalar(1));
    embed_backward<Role::ReprTarget>(g, kCategory, t_cat, w.dv.data() + R_, Scalar(1));
    if constexpr (kUsesTime) {
      for (Index c = 0; c < R_; ++c) g.time_repr[static_cast<std::size_t>(c)] += w.dv[static_cast<std::size_t>(2 * R_ + c)];
    }
    clock.lap(w.profile, Stage::BackValues);
  }

  // Adds the gradients the samples of w's window summed in dkeys and dvals to the tables'
  // accumulators, one row per position (and per member of a cluster slot), and zeroes the
  // sums. Nothing to do unless a sample was added since the last flush.
  void flush_window(Work& w, Grads& g, detail::StageClock& clock) {
    if (!w.pending) return;
    w.pending = false;
    const Index L = config_.max_len;
    const Index V = value_width();
    const Id* items = w.hist_item.data();
    const Id* cats = w.hist_cat.data();
    // Keys → attention embeddings, for the positions (slots) the scorer reached: the valid ones.
    if constexpr (!kGroups) prefetch_first_grads<Role::AttentionHistory>(g, items, cats, L);
    for (Index j = 0; j < L; ++j) {
      if constexpr (!kGroups) prefetch_grads<Role::AttentionHistory>(g, items, cats, j, L);
      if (!w.valid[static_cast<std::size_t>(j)]) continue;
      Scalar* dk = w.dkeys.data() + j * w.sem_stride;
      if constexpr (kGroups) {  // slot j's key is its members' mean
        for_members(w, j, [&](Index m, Scalar inv) {
          embed_backward<Role::AttentionHistory>(g, kItem, items[m], dk, inv);
          embed_backward<Role::AttentionHistory>(g, kCategory, cats[m], dk + A_, inv);
        });
      } else {
        embed_backward<Role::AttentionHistory>(g, kItem, items[j], dk, Scalar(1));
        embed_backward<Role::AttentionHistory>(g, kCategory, cats[j], dk + A_, Scalar(1));
      }
      std::fill(dk, dk + 2 * A_, Scalar(0));
    }
    clock.lap(w.profile, Stage::BackSearch);

    // Values → representation embeddings. Padded positions carry gradient only where they
    // had weight (an all-padded window), exactly as the dense reference.
    if constexpr (!kGroups) prefetch_first_grads<Role::ReprHistory>(g, items, cats, L);
    for (Index j = 0; j < L; ++j) {
      const Scalar* dvj = w.dvals.data() + j * w.val_stride;
      if constexpr (kGroups) {  // slot j's value is its members' mean
        for_members(w, j, [&](Index m, Scalar inv) {
          embed_backward<Role::ReprHistory>(g, kItem, items[m], dvj, inv);
          embed_backward<Role::ReprHistory>(g, kCategory, cats[m], dvj + R_, inv);
          Scalar* gt = g.time_repr.data() + (L - m) * R_;
          for (Index c = 0; c < R_; ++c) gt[c] += dvj[2 * R_ + c] * inv;
        });
        continue;
      }
      prefetch_grads<Role::ReprHistory>(g, items, cats, j, L);
      if (!w.valid[static_cast<std::size_t>(j)] && !any_nonzero(dvj, V)) continue;
      embed_backward<Role::ReprHistory>(g, kItem, items[j], dvj, Scalar(1));
      embed_backward<Role::ReprHistory>(g, kCategory, cats[j], dvj + R_, Scalar(1));
      if constexpr (kUsesTime) {
        Scalar* gt = g.time_repr.data() + (L - j) * R_;
        for (Index c = 0; c < R_; ++c) gt[c] += dvj[2 * R_ + c];
      }
    }
    std::fill(w.dvals.begin(), w.dvals.end(), Scalar(0));
    clock.lap(w.profile, Stage::BackValues);
  }

  static bool any_nonzero(const Scalar* p, Index n) noexcept {
    for (Index c = 0; c < n; ++c) {
      if (p[c] != Scalar(0)) return true;
    }
    return false;
  }

  // Merges the workers' accumulators into worker 0, turns the dense time accumulators into
  // table rows and adds the dense gradients to the parameters.
  void finish_gradients() {
    Grads& g = grads_[0];
    const Index L = config_.max_len;
    // The tables' accumulators, each merged by one worker, in worker order as a serial
    // merge would (the time tables' are dense accumulators, below).
    if (threads_ > 1) {
      for_each_table_in_parallel([&](int i) {
        if (i % kFields == kTime) return;
        for (int t = 1; t < threads_; ++t) {
          if (i < kAttTables) {
            g.att[static_cast<std::size_t>(i)].merge(grads_[t].att[static_cast<std::size_t>(i)]);
          } else {
            g.repr[static_cast<std::size_t>(i - kAttTables)].merge(grads_[t].repr[static_cast<std::size_t>(i - kAttTables)]);
          }
        }
      });
    }
    for (int t = 1; t < threads_; ++t) {
      Grads& o = grads_[t];
      for (int use = 0; use < 2 && observe_; ++use) {
        for (int f = 0; f < kFields; ++f) {
          if (f != kTime) g.by_use[use][static_cast<std::size_t>(f)].merge(o.by_use[use][static_cast<std::size_t>(f)]);
        }
      }
      for (std::size_t i = 0; i < g.proj.size(); ++i) g.proj[i] += o.proj[i];
      g.scorer.merge(o.scorer);
      for (Index j = 0; j < L; ++j) g.time_ds[static_cast<std::size_t>(j)] += o.time_ds[static_cast<std::size_t>(j)];
      for (std::size_t i = 0; i < g.time_repr.size(); ++i) g.time_repr[i] += o.time_repr[i];
    }
    if constexpr (kUsesTime) {
      // The time term of s_j is <q_t, k_t_j> · s_time: d k_t_j = Σ ds_j · s_time · q_t and
      // d q_t = Σ_j Σ ds_j · s_time · k_t_j, with Σ over the batch already in time_ds.
      const Scalar scale = scorer_.time_scale();
      std::vector<Scalar>& dq_time = g.time_query;
      for (Index j = 0; j < L; ++j) {
        const Scalar d = g.time_ds[static_cast<std::size_t>(j)] * scale;
        if (d == Scalar(0)) continue;
        embed_backward<Role::AttentionHistory>(g, kTime, static_cast<Id>(L - j), time_.q_time.data(), d);
        const Scalar* tk = time_.keys.data() + j * A_;
        for (Index c = 0; c < A_; ++c) dq_time[static_cast<std::size_t>(c)] += d * tk[c];
      }
      if (any_nonzero(dq_time.data(), A_)) embed_backward<Role::AttentionTarget>(g, kTime, 0, dq_time.data(), Scalar(1));
      for (Index t = 0; t <= L; ++t) {
        const Scalar* row = g.time_repr.data() + t * R_;
        if (!any_nonzero(row, R_)) continue;
        if (t == 0) {
          embed_backward<Role::ReprTarget>(g, kTime, 0, row, Scalar(1));
        } else {
          embed_backward<Role::ReprHistory>(g, kTime, static_cast<Id>(t), row, Scalar(1));
        }
      }
    }
    for (std::size_t i = 0; i < proj_.size(); ++i) proj_[i].grad += g.proj[i];
    scorer_.add_gradients(g.scorer);
  }

  std::array<std::uint32_t, 3> kind_ids() const noexcept { return {Embedding::kId, Selector::kId, Scorer::kId}; }
  std::array<Index, 8> shape() const {
    return {config_.num_items, config_.num_cats, config_.num_times, config_.att_dim,
            config_.repr_dim, config_.max_len, config_.top_k, config_.scorer_hidden};
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
      throw FormatError(name, 0, "version",
                        detail::concat("unsupported checkpoint version ", version, " (this build reads ", kVersion,
                                       version < kVersion ? "; retrain, or load it with the dare release that wrote it)"
                                                          : ")"));
    }
    const auto scalar = r.u32("scalar_size");
    if (scalar != sizeof(Scalar)) {
      throw FormatError(name, 0, "scalar_size", detail::concat("checkpoint holds ", scalar, "-byte scalars, the model uses ", sizeof(Scalar)));
    }
    static constexpr const char* kind_fields[] = {"layout", "selector", "scorer"};
    std::array<std::uint32_t, 3> ids{};
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = r.u32(kind_fields[i]);
    const auto tr = r.u32("target_aware");
    if (tr > 1) r.fail("target_aware", detail::concat("flag is ", tr, ", expected 0 or 1"));
    if (ids != kind_ids() || (tr != 0) != config_.target_aware) {
      const char* zoo = detail::zoo_name(ids[0], ids[1], ids[2], tr != 0);
      throw FormatError(name, 0, "model kind",
                        detail::concat("checkpoint holds a ", *zoo ? zoo : "different", " model (layout ", ids[0],
                                       ", selector ", ids[1], ", scorer ", ids[2], ", target-aware ", tr,
                                       "), this model is ", kind()));
    }
    static constexpr const char* fields[] = {"num_items", "num_cats", "num_times", "att_dim",
                                             "repr_dim", "max_len", "top_k", "scorer_hidden"};
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
    static constexpr const char* hash_fields[] = {"hash_bits", "hash_rounds"};
    const Index expect_hash[] = {config_.hash_bits, config_.hash_rounds};
    for (int i = 0; i < 2; ++i) {
      const auto v = r.u32(hash_fields[i]);
      if (v != static_cast<std::uint64_t>(expect_hash[i])) {
        throw FormatError(name, 0, hash_fields[i], detail::concat("checkpoint has ", v, ", the model has ", expect_hash[i]));
      }
    }
    r.verify_checksum();
    auto read_table = [&](auto& t) {
      using Table = std::decay_t<decltype(t)>;
      Table loaded = Table::load(is, name, t.rows(), t.dim());
      if (loaded.rows() != t.rows() || loaded.dim() != t.dim()) {
        throw FormatError(name, 0, "table", detail::concat("a table of ", loaded.rows(), " x ", loaded.dim(), " where the model has ", t.rows(), " x ", t.dim()));
      }
      t = std::move(loaded);
    };
    for (auto& t : att_tables_) read_table(t);
    for (auto& t : repr_tables_) read_table(t);
    nn::load_parameters(is, parameters(), name);
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
      dense_adam_->load(is, name);
    }
    return has_opt;
  }

  ModelConfig config_;
  Extent<AttDim> A_;
  Extent<ReprDim> R_;
  std::vector<AttTable> att_tables_;    // kAttSets x fields, set-major
  std::vector<ReprTable> repr_tables_;  // kReprSets x fields
  std::vector<nn::Parameter<Scalar>> proj_;  // Projected: role-major, then field
  ScorerImpl scorer_;
  nn::Mlp<Scalar> main_, aux_;
  TargetAggregation<Scalar, kValueDim> aggregation_;
  nn::SoftmaxCrossEntropy<Scalar> loss_;

  int threads_ = 1;
  std::unique_ptr<WorkerPool> pool_;  // threads_ - 1 workers kept between steps, when threads_ > 1
  bool observe_ = false;  // keep the role split of the table gradients (observe_role_gradients)
  bool profile_on_ = false;  // time the stages (set_stage_profile)
  StageProfile profile_;     // the calling thread's stages; the workers' are in Work::profile
  nn::InferenceStats inference_stats_ = nn::InferenceStats::Running;
  std::vector<Work> work_;
  std::vector<Grads> grads_;

  // Per-batch state shared between the forward and backward passes.
  Matrix x_main_, x_aux_, logits_main_, logits_aux_, dlogits_main_, dlogits_aux_, dx_main_, dx_aux_;
  std::vector<Index> top_pos_;
  std::vector<Scalar> top_w_, all_w_;
  TimeRows time_;
  std::unique_ptr<ServeScratch> serve_;  // the non-const score_candidates' scratch

  OptimizerConfig opt_config_;
  std::vector<std::unique_ptr<TableAdam<Scalar, AttDim>>> att_adam_;
  std::vector<std::unique_ptr<TableAdam<Scalar, ReprDim>>> repr_adam_;
  std::unique_ptr<nn::Adam<Scalar>> dense_adam_;
  // Deferred table rows (OptimizerConfig::defer_untouched_rows): on, and whether some rows
  // are behind since the last step; synchronize() runs under the mutex.
  bool deferred_ = false;
  mutable std::atomic<bool> stale_{false};
  mutable std::mutex sync_mutex_;
  std::vector<Id> time_ids_;  // 0..max_len, the time rows every batch reads
  std::array<std::vector<Id>, 2> window_ids_;  // prepare_rows: each window's item and category ids once
};

}  // namespace dare
