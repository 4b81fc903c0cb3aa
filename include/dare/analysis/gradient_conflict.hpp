// dare/analysis/gradient_conflict.hpp — how the attention and the representation gradients of
// one shared embedding table relate: the DARE paper's gradient conflict and domination.
//
// Design. A shared-table model (TWIN) observed with SequenceModel::observe_role_gradients
// gives, each training step, the table gradient split into the part its attention roles (query
// and keys) contributed and the part its representation roles (values and the target's v) did.
// The public reference obtains the same split from two synchronised copies of each table
// (train_pytorch.py -observe_attn_repr_grad) and reads it for the category table only, in
// three scripts (analysis/gradient_domination_and_conflict_analysis/); these functions keep
// their definitions:
//
// * per step and row (a category): cosine = <a, r> / (|a| |r|), undefined (NaN) unless both
//   gradients are non-zero; the norms |a|, |r|;
// * per step: the mean cosine over the rows where it is defined (numpy nanmean), and the mean
//   norms over *all* rows of the table, untouched rows counting 0 (so their ratio is
//   Σ|r| / Σ|a|); the step conflicts when its mean cosine is negative;
// * over training (gradient_conflict.py): the share of steps that conflict, every step;
// * domination (gradient_domination.py): the mean over the first 100 steps of each mean norm,
//   and their ratio (the paper: representation about 5 times attention);
// * per category (category_wise_gradient_conflict.py): over the first 100 steps, a category's
//   conflict ratio is its steps with <a, r> < 0 over its steps with <a, r> != 0; the share of
//   categories (with such a step) whose ratio exceeds one half.
//
// Besides, the share of conflicting (step, row) pairs among those with a defined cosine, and
// the median over steps of the per-step norm ratio, which do not depend on a window.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare {

/// One row's two gradients compared (a category at one step).
struct RowConflict {
  Id id = 0;
  double dot = 0;                  ///< <a, r>
  double attention_norm = 0;       ///< |a|
  double representation_norm = 0; ///< |r|
  /// <a, r> / (|a| |r|); NaN unless both are non-zero.
  double cosine() const noexcept {
    return attention_norm > 0 && representation_norm > 0 ? dot / (attention_norm * representation_norm)
                                                         : std::numeric_limits<double>::quiet_NaN();
  }
};

/// Every row either sparse gradient holds (SparseGrad-like: size, id, row, dim), compared; in
/// the attention gradient's slot order, then the rows only the representation one holds.
template <class Grad>
std::vector<RowConflict> compare_rows(const Grad& attention, const Grad& representation) {
  DARE_CHECK_ARG(attention.dim() == representation.dim(), "the two gradients have widths ", attention.dim(), " and ",
                 representation.dim());
  const Index d = attention.dim();
  const auto norm = [d](const auto* x) {
    double s = 0;
    for (Index c = 0; c < d; ++c) s += static_cast<double>(x[c]) * static_cast<double>(x[c]);
    return std::sqrt(s);
  };
  std::vector<RowConflict> rows;
  rows.reserve(static_cast<std::size_t>(attention.size() + representation.size()));
  for (Index slot = 0; slot < attention.size(); ++slot) {
    RowConflict r;
    r.id = attention.id(slot);
    const auto* a = attention.row(slot);
    r.attention_norm = norm(a);
    const Index other = representation.find(r.id);
    if (other >= 0) {
      const auto* b = representation.row(other);
      r.representation_norm = norm(b);
      for (Index c = 0; c < d; ++c) r.dot += static_cast<double>(a[c]) * static_cast<double>(b[c]);
    }
    rows.push_back(r);
  }
  for (Index slot = 0; slot < representation.size(); ++slot) {
    if (attention.find(representation.id(slot)) >= 0) continue;
    RowConflict r;
    r.id = representation.id(slot);
    r.representation_norm = norm(representation.row(slot));
    rows.push_back(r);
  }
  return rows;
}

/// One step's figures (see the header note).
struct StepConflict {
  Index defined = 0;      ///< rows with a defined cosine
  Index conflicting = 0;  ///< ... of which negative
  double mean_cosine = std::numeric_limits<double>::quiet_NaN();  ///< over the defined rows
  double attention_norm = 0;       ///< mean |a| over all table rows
  double representation_norm = 0; ///< mean |r| over all table rows
  bool conflicts() const noexcept { return mean_cosine < 0; }  // false when undefined, as NaN < 0
  /// Mean |r| over mean |a| (Σ|r| / Σ|a|); NaN when there is no attention gradient.
  double norm_ratio() const noexcept {
    return attention_norm > 0 ? representation_norm / attention_norm : std::numeric_limits<double>::quiet_NaN();
  }
};

/// The step's figures from its compared rows, for a table of `table_rows` rows.
inline StepConflict summarize_step(const std::vector<RowConflict>& rows, Index table_rows) {
  DARE_CHECK_ARG(table_rows >= static_cast<Index>(rows.size()) && table_rows > 0, "a table of ", table_rows,
                 " rows cannot hold ", rows.size(), " compared rows");
  StepConflict s;
  double cos_sum = 0, att = 0, repr = 0;
  for (const RowConflict& r : rows) {
    att += r.attention_norm;
    repr += r.representation_norm;
    const double c = r.cosine();
    if (std::isnan(c)) continue;
    ++s.defined;
    s.conflicting += c < 0 ? 1 : 0;
    cos_sum += c;
  }
  if (s.defined > 0) s.mean_cosine = cos_sum / static_cast<double>(s.defined);
  s.attention_norm = att / static_cast<double>(table_rows);
  s.representation_norm = repr / static_cast<double>(table_rows);
  return s;
}

/// Per-category counts over the steps of a window (category_wise_gradient_conflict.py).
struct CategoryConflicts {
  std::vector<Index> conflicting, consistent;  ///< steps with <a, r> < 0, > 0, by row id

  explicit CategoryConflicts(Index table_rows)
      : conflicting(static_cast<std::size_t>(table_rows)), consistent(static_cast<std::size_t>(table_rows)) {}
  void add(const std::vector<RowConflict>& rows) {
    for (const RowConflict& r : rows) {
      DARE_CHECK_ARG(r.id >= 0 && static_cast<std::size_t>(r.id) < conflicting.size(), "row id ", r.id,
                     " is outside the table's ", conflicting.size(), " rows");
      if (r.dot < 0) ++conflicting[static_cast<std::size_t>(r.id)];
      if (r.dot > 0) ++consistent[static_cast<std::size_t>(r.id)];
    }
  }
  /// Rows with at least one counted step.
  Index counted() const {
    Index n = 0;
    for (std::size_t i = 0; i < conflicting.size(); ++i) n += conflicting[i] + consistent[i] > 0 ? 1 : 0;
    return n;
  }
  /// The share of counted rows whose conflicting steps are more than half of their counted
  /// ones; NaN when no row was counted.
  double majority_conflicting_share() const {
    Index majority = 0;
    for (std::size_t i = 0; i < conflicting.size(); ++i) majority += conflicting[i] > consistent[i] ? 1 : 0;
    const Index n = counted();
    return n > 0 ? static_cast<double>(majority) / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
  }
};

/// The figures over training (see the header note).
struct ConflictSummary {
  Index steps = 0;
  double conflicting_steps = 0;   ///< share of steps whose mean cosine is negative
  double conflicting_pairs = 0;   ///< share of (step, row) pairs with a negative cosine
  Index window = 0;               ///< the first steps that domination and category figures read
  double attention_norm = 0;      ///< mean over the window of the steps' mean |a|
  double representation_norm = 0; ///< ... and of their mean |r|
  double norm_ratio = 0;          ///< representation_norm / attention_norm
  double median_norm_ratio = 0;   ///< the median of the steps' norm ratios, every step
};

/// The reference's window for domination and category conflicts: the first 100 steps.
inline constexpr Index kConflictWindow = 100;

/// The summary of every step's figures, in order; `window` steps for the domination figures.
inline ConflictSummary summarize_training(const std::vector<StepConflict>& steps, Index window = kConflictWindow) {
  DARE_CHECK_ARG(window > 0, "the window must be positive, got ", window);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ConflictSummary s;
  s.steps = static_cast<Index>(steps.size());
  s.window = std::min(window, s.steps);
  if (steps.empty()) {
    s.conflicting_steps = s.conflicting_pairs = s.norm_ratio = s.median_norm_ratio = nan;
    return s;
  }
  Index conflicting = 0, pairs = 0, conflicting_pairs = 0;
  std::vector<double> ratios;
  for (Index i = 0; i < s.steps; ++i) {
    const StepConflict& t = steps[static_cast<std::size_t>(i)];
    conflicting += t.conflicts() ? 1 : 0;
    pairs += t.defined;
    conflicting_pairs += t.conflicting;
    if (!std::isnan(t.norm_ratio())) ratios.push_back(t.norm_ratio());
    if (i < s.window) {
      s.attention_norm += t.attention_norm / static_cast<double>(s.window);
      s.representation_norm += t.representation_norm / static_cast<double>(s.window);
    }
  }
  s.conflicting_steps = static_cast<double>(conflicting) / static_cast<double>(s.steps);
  s.conflicting_pairs = pairs > 0 ? static_cast<double>(conflicting_pairs) / static_cast<double>(pairs) : nan;
  s.norm_ratio = s.attention_norm > 0 ? s.representation_norm / s.attention_norm : nan;
  if (ratios.empty()) {
    s.median_norm_ratio = nan;
  } else {
    std::sort(ratios.begin(), ratios.end());
    const std::size_t n = ratios.size();
    s.median_norm_ratio = n % 2 == 1 ? ratios[n / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
  }
  return s;
}

}  // namespace dare
