// dare/analysis/retrieval.hpp — how well a model's search finds the behaviours that matter
// (the DARE paper's "attention accuracy" analysis, §4.3; docs/analyses.md, retrieval).
//
// Design note. A search (stage 1 of the TWIN family) is good when the K behaviours it keeps
// are the ones that tell whether the target will be clicked. Two truths say which those are.
//
// * Mutual information (the public reference's analysis/attention_accuracy_analysis, read,
//   not copied). Over the training samples of one target category t, let X be "the behaviour
//   at time id p (p = 1 most recent) has category c" and Y the label. ClickCooccurrence counts,
//   per (t, c, p), the positive and negative samples with X = 1 (padding skipped) and, per t,
//   all positive and negative samples; binary_mutual_information is I(X; Y) in bits from
//   those four counts, an empty cell counting 1e-5 as in the reference. Positions are not
//   binned: each of the L time ids is its own cell. A test window's gain at position j is the
//   MI of (its target category, its category at j, time id L - j); the ideal retrieval is the
//   20 positions of highest gain. The reference keeps a test sample only when its target
//   category has at least 700 training samples and at most 20 of its window's cells have
//   fewer than 50 positive or 50 negative samples (MiFilter; thinner cells are noise).
// * The generator's truth (SyntheticClickTruth), for a dataset made from dare_gen's log: the
//   generator records, per click, the long-term interest it was made under (-1 for noise;
//   SyntheticEvent::interest). For a positive whose target click is an interest click, the
//   relevant behaviours are the window's clicks of that same interest (gain 1, others 0):
//   those are what the generator drew the click from (its category, its cluster's related
//   categories, the items it re-visits). A second, coarser truth holds for every sample, the
//   negatives too: the generator's relatedness of categories, gain 2 for the target's own
//   category, 1 for another category of its cluster, 0 otherwise. Both are recomputed from
//   the generator's seed; the dataset's clicks are checked against the regenerated ones.
//
// NDCG (ndcg_curve) as the reference computes it: for a retrieval ranking r_1..r_K (best
// first), NDCG@k = Σ_{i<=k} gain(r_i) / log2(i + 1) divided by the ideal DCG of the truth's top
// 20 (not of its top k), so the curve rises with k and NDCG@20 is the usual NDCG@20; gains are
// used as they are (MI in bits, or the generator's 0/1/2), not as 2^gain - 1.
//
// The learned correlation (learned_correlation) is what the reference reads off a model's
// attention tables: <q_cat(t), k_cat(c)> / sqrt(2A) + <q_time(0), k_time(p)> / sqrt(A), the
// model's own search logit with the item part left out (the MI truth knows categories and
// positions only). The query rows are the target-attention role's, the keys the history's
// (so TWIN-4E and TWIN w/ proj. use their target-side tables or maps); a model whose logit is
// not a split-scaled dot product (DIN's MLP) has none, and the reference ranks its positions
// by the model's whole search logit instead.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/batch.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/synthetic.hpp"
#include "dare/models/sequence_model.hpp"

namespace dare {

/// I(X; Y) in bits for a binary feature X and the label Y over n = t_pos + t_neg samples,
/// x_pos (x_neg) of the positives (negatives) having X = 1. An empty cell (x = 0) counts
/// 1e-5, as the reference's estimate does; a term whose probability is 0 contributes 0.
/// 0 when one label is absent.
inline double binary_mutual_information(double x_pos, double x_neg, double t_pos, double t_neg) {
  if (t_pos <= 0 || t_neg <= 0) return 0.0;
  if (x_pos <= 0) x_pos = 1e-5;
  if (x_neg <= 0) x_neg = 1e-5;
  const double n = t_pos + t_neg;
  const auto term = [n](double joint, double marginal_x, double marginal_y) {
    return joint <= 0 ? 0.0 : joint / n * std::log2(joint * n / (marginal_x * marginal_y));
  };
  const double x1 = x_pos + x_neg, x0 = n - x1;
  return term(x_pos, x1, t_pos) + term(x_neg, x1, t_neg) + term(t_pos - x_pos, x0, t_pos) +
         term(t_neg - x_neg, x0, t_neg);
}

/// Positive and negative counts of one cell.
struct ClickCounts {
  std::uint64_t pos = 0, neg = 0;
};

/// Per (target category, behaviour category, time id): how many positive and negative samples
/// have that behaviour; per target category: how many samples of each label. See the header
/// note for what they estimate.
class ClickCooccurrence {
 public:
  ClickCooccurrence(Index num_cats, Index max_len) : num_cats_(num_cats), max_len_(max_len) {
    DARE_CHECK_ARG(num_cats >= 1 && max_len >= 1, "ClickCooccurrence: need num_cats >= 1 and max_len >= 1, got ",
                   num_cats, " and ", max_len);
    DARE_CHECK_ARG(static_cast<double>(num_cats) * static_cast<double>(num_cats) * static_cast<double>(max_len + 1) <
                       1.8e19,
                   "ClickCooccurrence: ", num_cats, " categories are too many to key the cells");
    targets_.resize(static_cast<std::size_t>(num_cats));
  }

  /// The counts of the training samples of `data` (or any split of it).
  static ClickCooccurrence count(const Dataset& data, ConstSpan<Sample> samples) {
    ClickCooccurrence c(data.num_cats(), data.max_len());
    c.cells_.reserve(static_cast<std::size_t>(std::min<Index>(samples.size() * 8, Index{1} << 26)));
    Batch batch;
    constexpr Index kChunk = 1024;
    for (Index begin = 0; begin < samples.size(); begin += kChunk) {
      const Index n = std::min(kChunk, samples.size() - begin);
      fill_batch(data, samples.data() + begin, nullptr, n, batch);
      for (Index s = 0; s < n; ++s) {
        c.add(batch.target_cat[static_cast<std::size_t>(s)], batch.hist_item_row(s), batch.hist_cat_row(s),
              batch.label[static_cast<std::size_t>(s)] > 0.5f);
      }
    }
    return c;
  }

  /// Adds one sample: its target category and its max_len-long window (left-padded, item 0
  /// is padding, window index j has time id max_len - j).
  void add(Id target_cat, const Id* hist_item, const Id* hist_cat, bool positive) {
    check_cat(target_cat, "target category");
    ClickCounts& t = targets_[static_cast<std::size_t>(target_cat)];
    ++(positive ? t.pos : t.neg);
    for (Index j = 0; j < max_len_; ++j) {
      if (hist_item[j] == 0) continue;
      check_cat(hist_cat[j], "history category");
      ClickCounts& cell = cells_[key(target_cat, hist_cat[j], max_len_ - j)];
      ++(positive ? cell.pos : cell.neg);
    }
  }

  Index num_cats() const noexcept { return num_cats_; }
  Index max_len() const noexcept { return max_len_; }
  /// The samples of target category t, by label.
  ClickCounts target(Id t) const {
    check_cat(t, "target category");
    return targets_[static_cast<std::size_t>(t)];
  }
  /// The samples of target category t with a behaviour of category c at time id p.
  ClickCounts cell(Id t, Id c, Index p) const {
    check_cat(t, "target category");
    check_cat(c, "history category");
    DARE_CHECK_ARG(p >= 1 && p <= max_len_, "time id ", p, " outside [1, ", max_len_, "]");
    const auto it = cells_.find(key(t, c, p));
    return it == cells_.end() ? ClickCounts{} : it->second;
  }
  /// The MI of the cell (binary_mutual_information of its counts).
  double mutual_information(Id t, Id c, Index p) const {
    const ClickCounts x = cell(t, c, p), all = target(t);
    return binary_mutual_information(static_cast<double>(x.pos), static_cast<double>(x.neg),
                                     static_cast<double>(all.pos), static_cast<double>(all.neg));
  }
  /// The n target categories with the most samples, most first (ties to the smaller id).
  std::vector<Id> most_common_targets(Index n) const {
    std::vector<Id> ids;
    for (Index t = 1; t < num_cats_; ++t) {
      const ClickCounts& c = targets_[static_cast<std::size_t>(t)];
      if (c.pos + c.neg > 0) ids.push_back(static_cast<Id>(t));
    }
    const auto total = [&](Id t) { return targets_[static_cast<std::size_t>(t)].pos + targets_[static_cast<std::size_t>(t)].neg; };
    std::stable_sort(ids.begin(), ids.end(), [&](Id a, Id b) { return total(a) > total(b); });
    if (static_cast<Index>(ids.size()) > n) ids.resize(static_cast<std::size_t>(n));
    return ids;
  }

 private:
  std::uint64_t key(Id t, Id c, Index p) const noexcept {
    return (static_cast<std::uint64_t>(t) * static_cast<std::uint64_t>(num_cats_) + static_cast<std::uint64_t>(c)) *
               static_cast<std::uint64_t>(max_len_ + 1) +
           static_cast<std::uint64_t>(p);
  }
  void check_cat(Id c, const char* what) const {
    if (c < 0 || c >= num_cats_) detail::throw_invalid("ClickCooccurrence: ", what, " ", c, " outside [0, ", num_cats_, ")");
  }

  Index num_cats_, max_len_;
  std::vector<ClickCounts> targets_;
  std::unordered_map<std::uint64_t, ClickCounts> cells_;
};

/// Which test samples the MI truth is trusted for (the reference's thresholds by default).
struct MiFilter {
  /// Fewest training samples of the target category.
  std::uint64_t min_target_samples = 700;
  /// A window cell is thin when it has fewer positive or fewer negative samples than this ...
  std::uint64_t min_cell_count = 50;
  /// ... and a window with more thin cells than this is skipped.
  Index max_thin_cells = 20;
};

/// The MI gain of every position of one window (0 for padding) into gain[0, max_len); returns
/// whether `filter` keeps the sample.
inline bool mi_gains(const ClickCooccurrence& counts, Id target_cat, const Id* hist_item, const Id* hist_cat,
                     const MiFilter& filter, double* gain) {
  const Index L = counts.max_len();
  const ClickCounts all = counts.target(target_cat);
  Index thin = 0;
  for (Index j = 0; j < L; ++j) {
    gain[j] = 0.0;
    if (hist_item[j] == 0) continue;
    const ClickCounts x = counts.cell(target_cat, hist_cat[j], L - j);
    thin += x.pos < filter.min_cell_count || x.neg < filter.min_cell_count;
    gain[j] = binary_mutual_information(static_cast<double>(x.pos), static_cast<double>(x.neg),
                                        static_cast<double>(all.pos), static_cast<double>(all.neg));
  }
  return all.pos + all.neg >= filter.min_target_samples && thin <= filter.max_thin_cells;
}

/// The k valid positions of highest score, best first; ties go to the more recent (higher)
/// position, the models' top-K rule. `valid` may be null (every position valid).
inline std::vector<Index> top_positions(const double* score, const std::uint8_t* valid, Index n, Index k) {
  std::vector<Index> pos;
  for (Index j = 0; j < n; ++j) {
    if (valid == nullptr || valid[j]) pos.push_back(j);
  }
  const auto better = [score](Index a, Index b) { return score[a] > score[b] || (score[a] == score[b] && a > b); };
  const auto keep = static_cast<std::ptrdiff_t>(std::min<Index>(k, static_cast<Index>(pos.size())));
  std::partial_sort(pos.begin(), pos.begin() + keep, pos.end(), better);
  pos.resize(static_cast<std::size_t>(keep));
  return pos;
}

/// The reference's NDCG curve of a retrieval (see the header note): out[k - 1] for k = 1 ..
/// ranking.size(), each DCG@k of `ranking` (positions best first) under `gain`, over the
/// ideal DCG of the `ideal` highest gains. Returns false, out untouched, when that ideal DCG
/// is not positive (a window the truth finds nothing in).
inline bool ndcg_curve(ConstSpan<double> gain, ConstSpan<Index> ranking, Index ideal, double* out) {
  DARE_CHECK_ARG(ideal >= 1, "ndcg_curve: ideal must be at least 1, got ", ideal);
  std::vector<double> best(gain.begin(), gain.end());
  const auto m = static_cast<std::ptrdiff_t>(std::min<Index>(ideal, static_cast<Index>(best.size())));
  std::partial_sort(best.begin(), best.begin() + m, best.end(), std::greater<double>());
  double idcg = 0.0;
  for (std::ptrdiff_t i = 0; i < m; ++i) idcg += best[static_cast<std::size_t>(i)] / std::log2(static_cast<double>(i) + 2.0);
  if (!(idcg > 0.0)) return false;
  double dcg = 0.0;
  for (Index i = 0; i < ranking.size(); ++i) {
    const Index p = ranking[i];
    DARE_CHECK_ARG(p >= 0 && p < gain.size(), "ndcg_curve: ranked position ", p, " outside [0, ", gain.size(), ")");
    dcg += gain[p] / std::log2(static_cast<double>(i) + 2.0);
    out[i] = dcg / idcg;
  }
  return true;
}

/// Mean NDCG curve over samples (k = 1 .. K).
class NdcgCurve {
 public:
  explicit NdcgCurve(Index k = 20) : sum_(static_cast<std::size_t>(k), 0.0), one_(sum_.size()) {}
  /// Adds one sample's curve (ndcg_curve); a ranking shorter than K counts its last value for
  /// the rest. Returns whether the sample counted (its ideal DCG was positive).
  bool add(ConstSpan<double> gain, ConstSpan<Index> ranking, Index ideal) {
    if (ranking.size() == 0) return false;
    const Index n = std::min<Index>(ranking.size(), k());
    if (!ndcg_curve(gain, ConstSpan<Index>(ranking.data(), n), ideal, one_.data())) return false;
    for (Index i = 0; i < k(); ++i) sum_[static_cast<std::size_t>(i)] += one_[static_cast<std::size_t>(std::min(i, n - 1))];
    ++samples_;
    return true;
  }
  Index k() const noexcept { return static_cast<Index>(sum_.size()); }
  long long samples() const noexcept { return samples_; }
  /// Mean NDCG@k (k from 1), NaN with no sample.
  double at(Index k) const {
    DARE_CHECK_ARG(k >= 1 && k <= this->k(), "NdcgCurve::at: k ", k, " outside [1, ", this->k(), "]");
    return samples_ == 0 ? std::nan("") : sum_[static_cast<std::size_t>(k - 1)] / static_cast<double>(samples_);
  }

 private:
  std::vector<double> sum_, one_;
  long long samples_ = 0;
};

/// Whether a model has a learned correlation (its search logit is a split-scaled dot product
/// with a time term).
template <class Model>
inline constexpr bool kHasLearnedCorrelation =
    std::is_same_v<typename Model::scorer_type, DotScorer<SplitScale>> && Model::kUsesTime;

/// The learned correlation of `model` (see the header note) between a target of category
/// `target_cat` and behaviours of categories cats[i] at time ids times[i], into out[0, n).
template <class Model>
void learned_correlation(const Model& model, Id target_cat, const Id* cats, const Id* times, Index n,
                         typename Model::scalar_type* out) {
  static_assert(kHasLearnedCorrelation<Model>, "the learned correlation needs a split-scaled dot-product search");
  using Scalar = typename Model::scalar_type;
  const Index A = model.att_dim();
  std::vector<Scalar> q_cat(static_cast<std::size_t>(A)), q_time(q_cat.size()), k(q_cat.size());
  model.template embedding<Role::AttentionTarget>(kCategory, target_cat, q_cat.data());
  model.template embedding<Role::AttentionTarget>(kTime, 0, q_time.data());
  const Scalar sem = model.scorer().semantic_scale(), ts = model.scorer().time_scale();
  const auto dot = [A](const std::vector<Scalar>& a, const std::vector<Scalar>& b) {
    Scalar s = 0;
    for (Index e = 0; e < A; ++e) s += a[static_cast<std::size_t>(e)] * b[static_cast<std::size_t>(e)];
    return s;
  };
  for (Index i = 0; i < n; ++i) {
    model.template embedding<Role::AttentionHistory>(kCategory, cats[i], k.data());
    Scalar s = dot(q_cat, k) * sem;
    model.template embedding<Role::AttentionHistory>(kTime, times[i], k.data());
    out[i] = s + dot(q_time, k) * ts;
  }
}

/// What the generator knows of a dataset made from its log (see the header note): the
/// interest of every click and the cluster of every category, recomputed from the options.
class SyntheticClickTruth {
 public:
  /// Regenerates the users of `data` with `options` (users is raised to cover every raw user
  /// id) and checks that each dataset user's clicks are the generator's, item for item:
  /// a FormatError naming `source` and the field otherwise (not this generator's log).
  SyntheticClickTruth(SyntheticOptions options, const Dataset& data, const std::string& source) {
    const auto raw_users = data.raw_user_ids();
    std::uint64_t most = 1;
    for (Index u = 0; u < raw_users.size(); ++u) most = std::max(most, raw_users[u]);
    options.users = std::max<Index>(options.users, static_cast<Index>(most));
    const SyntheticLogGenerator g(options);
    // Dense category id -> generator category, through the raw ids.
    std::unordered_map<std::uint64_t, Index> cat_of_raw;
    for (Index c = 0; c < options.categories; ++c) cat_of_raw.emplace(g.raw_cat_id(c), c);
    const auto raw_cats = data.raw_cat_ids();
    cat_.assign(static_cast<std::size_t>(raw_cats.size()), -1);
    cluster_.assign(cat_.size(), -1);
    for (Index d = 1; d < raw_cats.size(); ++d) {
      const auto it = cat_of_raw.find(raw_cats[d]);
      if (it == cat_of_raw.end()) {
        throw FormatError(source, 0, "raw_cat_ids",
                          detail::concat("category ", raw_cats[d], " is not one the generator (seed ", options.seed,
                                         ") makes: the input is not that generator's log"));
      }
      cat_[static_cast<std::size_t>(d)] = it->second;
      cluster_[static_cast<std::size_t>(d)] = g.cluster_of(it->second);
    }
    const auto raw_items = data.raw_item_ids();
    offsets_.assign(1, 0);
    std::vector<SyntheticEvent> events;
    for (Index u = 0; u < data.num_users(); ++u) {
      const auto user = static_cast<Index>(raw_users[u]) - 1;
      if (raw_users[u] == 0 || user >= options.users) {
        throw FormatError(source, 0, "raw_user_ids", detail::concat("user ", raw_users[u], " is not a generator user"));
      }
      g.generate_user(user, events);
      const auto items = data.user_items(u);
      Index k = 0;
      for (const SyntheticEvent& e : events) {
        if (e.action != 0) continue;
        if (k >= items.size() || raw_items[items[k]] != g.raw_item_id(e.item)) {
          throw FormatError(source, 0, "click_items",
                            detail::concat("user ", raw_users[u], "'s click ", k, " is not the generator's (seed ",
                                           options.seed, "): the input is not that generator's log"));
        }
        interest_.push_back(e.interest);
        ++k;
      }
      if (k != items.size()) {
        throw FormatError(source, 0, "click_items",
                          detail::concat("user ", raw_users[u], " has ", items.size(), " clicks, the generator's (seed ",
                                         options.seed, ") ", k));
      }
      offsets_.push_back(interest_.size());
    }
  }

  /// The interest of click `k` of dataset user `u` (-1: noise).
  std::int32_t interest(Index u, Index k) const {
    DARE_CHECK_ARG(u >= 0 && u + 1 < static_cast<Index>(offsets_.size()), "user ", u, " outside the dataset");
    const std::size_t b = offsets_[static_cast<std::size_t>(u)], e = offsets_[static_cast<std::size_t>(u) + 1];
    DARE_CHECK_ARG(k >= 0 && static_cast<std::size_t>(k) < e - b, "click ", k, " outside user ", u, "'s ", e - b);
    return interest_[b + static_cast<std::size_t>(k)];
  }
  /// The generator's category and cluster of dense category id `c`.
  Index category(Id c) const { return cat_.at(static_cast<std::size_t>(c)); }
  Index cluster(Id c) const { return cluster_.at(static_cast<std::size_t>(c)); }

  /// Interest gains of a sample's window (gain[0, L), window index j is click end - L + j):
  /// 1 for the clicks of the target click's interest, when the sample is a positive and its
  /// target an interest click; all 0 otherwise.
  void interest_gains(const Sample& s, Index L, double* gain) const {
    std::fill(gain, gain + L, 0.0);
    if (s.label != 1) return;
    const std::int32_t target = interest(s.user, s.end);
    if (target < 0) return;
    for (Index j = std::max<Index>(0, L - s.end); j < L; ++j) {
      gain[j] = interest(s.user, s.end - L + j) == target ? 1.0 : 0.0;
    }
  }
  /// Relatedness gains of a window to its target category: 2 for the same category, 1 for
  /// another category of its cluster, 0 otherwise and for padding.
  void relatedness_gains(Id target_cat, const Id* hist_item, const Id* hist_cat, Index L, double* gain) const {
    for (Index j = 0; j < L; ++j) {
      gain[j] = hist_item[j] == 0 ? 0.0 : hist_cat[j] == target_cat ? 2.0 : cluster(hist_cat[j]) == cluster(target_cat) ? 1.0 : 0.0;
    }
  }

 private:
  std::vector<Index> cat_, cluster_;
  std::vector<std::int32_t> interest_;
  std::vector<std::size_t> offsets_;
};

}  // namespace dare
