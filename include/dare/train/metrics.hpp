// dare/train/metrics.hpp — AUC, grouped AUC (GAUC, category AUC) and logloss.
//
// Design note. AUC is the probability that a random positive outscores a random negative,
// ties counting one half. Sorting by score and walking the runs of equal scores counts the
// pairs exactly: a run with p positives and q negatives above `below` negatives adds
// p * below + p * q / 2 pairs. The count is kept doubled in an unsigned 64-bit integer, so
// it is exact for any realistic n and the only rounding is the final division: the result
// does not depend on the order of the input. O(n log n).
//
// grouped_auc computes that AUC per group (user for GAUC, target category for the
// category-weighted AUC), skips groups whose samples are all of one class, and averages the
// rest weighted by their sample count, as the public reference evaluation does.
//
// reference_auc and reference_grouped_auc reproduce the public DARE reference's formula
// (utils.py calc_auc) for comparison with published figures: samples sorted by descending
// score (ties in input order), a trapezoid added only where the false-positive rate
// changes, using the true-positive rate of the previous change. Positives ranked between
// two negatives therefore count one half instead of one, so the result is low by
// (share of positives above the last negative) / (2 · negatives): nothing on a whole test
// set, 0.01–0.05 on groups of 10–50 negatives such as target categories.
//
// Every entry point checks its input: sizes must agree, labels must be 0 or 1, scores and
// probabilities must not be NaN (probabilities must lie in [0, 1]); violations throw
// std::invalid_argument naming the argument and index.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare {

/// Evaluation metrics over a whole data split (not hot-path code: inputs are validated).
struct Metrics {
  /// Probabilities are clamped to [kLoglossEpsilon, 1 - kLoglossEpsilon] in logloss.
  static constexpr double kLoglossEpsilon = 1e-7;

  /// Area under the ROC curve of scores[0, n) against 0/1 labels, ties counting one half.
  /// Throws std::invalid_argument if the labels are not of both classes.
  template <class Scalar, class Label>
  static double auc(const Scalar* scores, const Label* labels, Index n) {
    check_inputs("Metrics::auc", scores, labels, n);
    std::vector<Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Index(0));
    std::sort(order.begin(), order.end(),
              [&](Index a, Index b) { return scores[a] < scores[b]; });
    const PairCount c = count_pairs(scores, labels, order.data(), n);
    DARE_CHECK_ARG(c.positives > 0 && c.negatives > 0,
                   "Metrics::auc: labels must contain both classes (", c.positives,
                   " positives, ", c.negatives, " negatives)");
    return c.auc();
  }

  template <class Scalar, class Label>
  static double auc(const std::vector<Scalar>& scores, const std::vector<Label>& labels) {
    check_sizes("Metrics::auc", "labels", scores.size(), labels.size());
    return auc(scores.data(), labels.data(), static_cast<Index>(scores.size()));
  }

  /// Mean of the per-group AUCs weighted by group sample count, over the groups that hold
  /// both classes (GAUC when groups are users; category AUC when they are target
  /// categories). Throws std::invalid_argument if no group holds both classes.
  template <class Scalar, class Label>
  static double grouped_auc(const Scalar* scores, const Label* labels, const std::int64_t* groups,
                            Index n) {
    check_inputs("Metrics::grouped_auc", scores, labels, n);
    return weighted_group_mean(
        "Metrics::grouped_auc", groups, n, [&](Index a, Index b) { return scores[a] < scores[b]; },
        [&](const Index* order, Index count, double& auc) {
          const PairCount c = count_pairs(scores, labels, order, count);
          if (c.positives == 0 || c.negatives == 0) return false;
          auc = c.auc();
          return true;
        });
  }

  template <class Scalar, class Label>
  static double grouped_auc(const std::vector<Scalar>& scores, const std::vector<Label>& labels,
                            const std::vector<std::int64_t>& groups) {
    check_sizes("Metrics::grouped_auc", "labels", scores.size(), labels.size());
    check_sizes("Metrics::grouped_auc", "groups", scores.size(), groups.size());
    return grouped_auc(scores.data(), labels.data(), groups.data(),
                       static_cast<Index>(scores.size()));
  }

  /// The public reference's AUC of scores[0, n) (see the header note). Throws
  /// std::invalid_argument if the labels are not of both classes.
  template <class Scalar, class Label>
  static double reference_auc(const Scalar* scores, const Label* labels, Index n) {
    check_inputs("Metrics::reference_auc", scores, labels, n);
    std::vector<Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Index(0));
    std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) { return scores[a] > scores[b]; });
    double auc = 0;
    DARE_CHECK_ARG(reference_trapezoids(labels, order.data(), n, auc),
                   "Metrics::reference_auc: labels must contain both classes");
    return auc;
  }

  template <class Scalar, class Label>
  static double reference_auc(const std::vector<Scalar>& scores, const std::vector<Label>& labels) {
    check_sizes("Metrics::reference_auc", "labels", scores.size(), labels.size());
    return reference_auc(scores.data(), labels.data(), static_cast<Index>(scores.size()));
  }

  /// grouped_auc with the reference's per-group formula: the reference's category-averaged
  /// AUC when groups are target categories.
  template <class Scalar, class Label>
  static double reference_grouped_auc(const Scalar* scores, const Label* labels, const std::int64_t* groups,
                                      Index n) {
    check_inputs("Metrics::reference_grouped_auc", scores, labels, n);
    return weighted_group_mean(
        "Metrics::reference_grouped_auc", groups, n, [&](Index a, Index b) { return scores[a] > scores[b]; },
        [&](const Index* order, Index count, double& auc) { return reference_trapezoids(labels, order, count, auc); });
  }

  template <class Scalar, class Label>
  static double reference_grouped_auc(const std::vector<Scalar>& scores, const std::vector<Label>& labels,
                                      const std::vector<std::int64_t>& groups) {
    check_sizes("Metrics::reference_grouped_auc", "labels", scores.size(), labels.size());
    check_sizes("Metrics::reference_grouped_auc", "groups", scores.size(), groups.size());
    return reference_grouped_auc(scores.data(), labels.data(), groups.data(), static_cast<Index>(scores.size()));
  }

  /// Mean binary cross-entropy -(y ln p + (1 - y) ln(1 - p)) with the probability of the
  /// true class clamped to [1e-7, 1 - 1e-7]. Throws std::invalid_argument for n == 0 or p
  /// outside [0, 1].
  template <class Scalar, class Label>
  static double logloss(const Scalar* probs, const Label* labels, Index n) {
    DARE_CHECK_ARG(n > 0, "Metrics::logloss: needs at least one sample, got n = ", n);
    DARE_CHECK_ARG(probs != nullptr && labels != nullptr,
                   "Metrics::logloss: probs and labels must not be null");
    double sum = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double p = static_cast<double>(probs[i]);
      DARE_CHECK_ARG(p >= 0.0 && p <= 1.0, "Metrics::logloss: probs[", i, "] = ", p,
                     " is not a probability");
      // q: the probability given to the true class (1 - p is exact for p near 1).
      const double q = std::clamp(is_positive("Metrics::logloss", labels, i) ? p : 1.0 - p,
                                  kLoglossEpsilon, 1.0 - kLoglossEpsilon);
      sum -= q > 0.5 ? std::log1p(q - 1.0) : std::log(q);  // q - 1 is exact for q > 1/2
    }
    return sum / static_cast<double>(n);
  }

  template <class Scalar, class Label>
  static double logloss(const std::vector<Scalar>& probs, const std::vector<Label>& labels) {
    check_sizes("Metrics::logloss", "labels", probs.size(), labels.size());
    return logloss(probs.data(), labels.data(), static_cast<Index>(probs.size()));
  }

 private:
  struct PairCount {
    std::uint64_t positives = 0;
    std::uint64_t negatives = 0;
    std::uint64_t twice_pairs = 0;  // 2 x (correctly ordered pairs + ties / 2)

    double auc() const noexcept {
      return static_cast<double>(twice_pairs) /
             (2.0 * static_cast<double>(positives) * static_cast<double>(negatives));
    }
  };

  static void check_sizes(const char* fn, const char* what, std::size_t expected,
                          std::size_t got) {
    DARE_CHECK_ARG(got == expected, fn, ": ", what, " has ", got, " entries but scores has ",
                   expected);
  }

  template <class Scalar, class Label>
  static void check_inputs(const char* fn, const Scalar* scores, const Label* labels, Index n) {
    static_assert(std::is_arithmetic_v<Scalar> && std::is_arithmetic_v<Label>,
                  "scores and labels must be arithmetic");
    DARE_CHECK_ARG(n >= 0, fn, ": n must be non-negative, got ", n);
    DARE_CHECK_ARG(n == 0 || (scores != nullptr && labels != nullptr), fn,
                   ": scores and labels must not be null");
    for (Index i = 0; i < n; ++i) {
      if constexpr (std::is_floating_point_v<Scalar>) {
        DARE_CHECK_ARG(!std::isnan(scores[i]), fn, ": scores[", i, "] is NaN");
      }
      is_positive(fn, labels, i);
    }
  }

  template <class Label>
  static bool is_positive(const char* fn, const Label* labels, Index i) {
    DARE_CHECK_ARG(labels[i] == Label(0) || labels[i] == Label(1), fn, ": labels[", i,
                   "] = ", +labels[i], " is neither 0 nor 1");
    return labels[i] == Label(1);
  }

  // The mean of group_auc(order, count, auc) over the groups of samples [0, n), weighted by
  // group size; each group's samples come sorted (stably) by `before`, and a group for which
  // group_auc returns false (one class only) is skipped.
  template <class Before, class GroupAuc>
  static double weighted_group_mean(const char* fn, const std::int64_t* groups, Index n, Before before,
                                    GroupAuc group_auc) {
    DARE_CHECK_ARG(n == 0 || groups != nullptr, fn, ": groups must not be null");
    std::vector<Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Index(0));
    std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
      return groups[a] < groups[b] || (groups[a] == groups[b] && before(a, b));
    });
    double weighted = 0.0;
    double weight = 0.0;
    for (Index begin = 0; begin < n;) {
      Index end = begin + 1;
      while (end < n && groups[order[end]] == groups[order[begin]]) ++end;
      double auc = 0;
      if (group_auc(order.data() + begin, end - begin, auc)) {
        const double size = static_cast<double>(end - begin);
        weighted += size * auc;
        weight += size;
      }
      begin = end;
    }
    DARE_CHECK_ARG(weight > 0.0, fn, ": no group contains both classes (n = ", n, ")");
    return weighted / weight;
  }

  // The reference's trapezoid walk over order[0, count), sorted by descending score; false
  // (auc untouched) when the samples are not of both classes.
  template <class Label>
  static bool reference_trapezoids(const Label* labels, const Index* order, Index count, double& auc) {
    double pos = 0, neg = 0;
    for (Index i = 0; i < count; ++i) (labels[order[i]] == Label(1) ? pos : neg) += 1;
    if (pos == 0 || neg == 0) return false;
    double tp = 0, fp = 0, prev_x = 0, prev_y = 0, sum = 0;
    for (Index i = 0; i < count; ++i) {
      (labels[order[i]] == Label(1) ? tp : fp) += 1;
      const double x = fp / neg;
      const double y = tp / pos;
      if (x != prev_x) {
        sum += (x - prev_x) * (y + prev_y) / 2.0;
        prev_x = x;
        prev_y = y;
      }
    }
    auc = sum;
    return true;
  }

  /// Pair counts over the samples order[0, count), which are sorted by ascending score.
  template <class Scalar, class Label>
  static PairCount count_pairs(const Scalar* scores, const Label* labels, const Index* order,
                               Index count) {
    PairCount c;
    for (Index begin = 0; begin < count;) {
      std::uint64_t pos = 0, neg = 0;
      Index end = begin;
      for (; end < count && scores[order[end]] == scores[order[begin]]; ++end) {
        if (labels[order[end]] == Label(1))
          ++pos;
        else
          ++neg;
      }
      c.twice_pairs += 2 * pos * c.negatives + pos * neg;
      c.positives += pos;
      c.negatives += neg;
      begin = end;
    }
    return c;
  }
};

}  // namespace dare
