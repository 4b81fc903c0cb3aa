// dare/data/clustering.hpp — the offline hierarchical clustering of user histories that
// TWIN-V2 (Si et al. 2024) attends over: a small deterministic k-means, and the per-user
// clustering that preprocessing stores in the dataset (dataset.hpp, `click_clusters`).
//
// Design note.
// KMeans is Lloyd's algorithm with k-means++ seeding, for a few points of small dimension
// (a category group of one user's history: tens to thousands of 2-d points). It works on a
// canonical copy of the points, sorted lexicographically, so the result (centroids, their
// numbering, every point's cluster) is the same for any order of the input points given a
// seed: the seeding draws indices into the sorted copy, and the means are summed in its
// order. k is reduced to the number of distinct points (k-means++ stops when every point
// coincides with a centre), so k >= n gives every distinct point its own cluster. Empty
// clusters: when Lloyd's step leaves cluster c empty, c takes the point farthest from its
// centroid (ties to the first in canonical order) among clusters of two or more points;
// one always exists while k <= the number of distinct points. Lloyd's loop stops when no
// assignment changes, or after max_iterations (then the result is the last step's assignment
// and its means). Sums and the objective are in double.
//
// cluster_history() follows TWIN-V2's two stages on one user's sequence:
//  1. a coarse split by an attribute. The paper groups by play-completion rate, which the
//     Taobao and Tmall click logs do not have; the category is the attribute both logs carry
//     for every behaviour, and it is what the models' hard search already treats as "the
//     same interest". It also makes the cluster's mean embedding meaningful for the category
//     field: a cluster's behaviours share one category id, so its mean category embedding
//     is that category's.
//  2. recursive k-means inside each group until every cluster has at most γ = max_size
//     behaviours, on a fixed 2-d feature per behaviour that preprocessing has: recency (the
//     position in the user's sequence scaled to [0, 1]) and popularity (log(1 + the item's
//     click count in the training part) / log(1 + the largest such count), in [0, 1]).
//     Each split is k-means with k = ceil(size / γ) (the fewest clusters that could hold the
//     group), and any part still above γ is split again; `branching = b` instead splits in b
//     (2: bisecting). bench/cluster_cost.cpp measured both on a Taobao-sized synthetic log
//     (365k users, 126M clicks): ceil(size / γ) took 0.80x, 0.93x, 0.81x (γ = 5, 10, 20) the
//     CPU time of bisecting (one k-means on the group instead of a cascade of them), with
//     the same size distribution (mean 3.78 vs 3.81 at γ = 10, 0.7% more clusters) and a
//     2-5% smaller within-cluster spread. A group k-means cannot split (all its points
//     equal) is cut into consecutive runs of γ in sequence order, so the recursion ends.
// Cluster ids are numbered 0 .. C - 1 by first occurrence in the sequence.
//
// Determinism: the output is a function of the inputs and the options, on a given build.
// Two builds may differ in the last bit of a distance (the compiler may fuse a*b + c into an
// FMA under -ffp-contract=fast, GCC's default for gnu++ dialects), which can flip an
// assignment that sits exactly between two centroids; the dataset's provenance records the
// options, not the compiler.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/sampling.hpp"

namespace dare {

/// Knobs of KMeans.
struct KMeansOptions {
  /// Lloyd iterations at most (each: assign every point, then move every centroid).
  Index max_iterations = 50;
  /// Seeds the k-means++ draws.
  std::uint64_t seed = 0;
};

/// What KMeans::fit produces.
template <class Scalar>
struct KMeansResult {
  /// Clusters found: min(k, number of distinct points). Clusters 0 .. k - 1 are non-empty.
  Index k = 0;
  Index dim = 0;
  /// k x dim, row-major: the mean of each cluster's points.
  std::vector<Scalar> centroids;
  /// The cluster of each input point, in the input's order.
  std::vector<std::int32_t> assignment;
  /// Lloyd iterations run, and whether the last one changed no assignment.
  Index iterations = 0;
  bool converged = false;
  /// Sum over points of the squared distance to their centroid.
  double objective = 0.0;
};

/// Lloyd's k-means with k-means++ seeding, deterministic for a seed and invariant to the
/// order of the points (see the design note). Holds scratch buffers reused across fits, so
/// one object serves one thread.
template <class Scalar>
class KMeans {
  static_assert(std::is_floating_point_v<Scalar>, "KMeans works on float or double points");

 public:
  KMeans(Index k, Index dim, KMeansOptions options = {}) : k_(k), dim_(dim), options_(options) {
    DARE_CHECK_ARG(k >= 1, "KMeans: k must be at least 1, got ", k);
    DARE_CHECK_ARG(dim >= 1, "KMeans: dim must be at least 1, got ", dim);
    DARE_CHECK_ARG(options.max_iterations >= 1, "KMeans: max_iterations must be at least 1, got ",
                   options.max_iterations);
  }

  Index k() const noexcept { return k_; }
  Index dim() const noexcept { return dim_; }
  /// Changes k for the next fits, keeping the scratch buffers.
  void set_k(Index k) {
    DARE_CHECK_ARG(k >= 1, "KMeans: k must be at least 1, got ", k);
    k_ = k;
  }

  /// Clusters n points (n x dim, row-major, finite) into `result` (its storage is reused).
  void fit(const Scalar* points, Index n, KMeansResult<Scalar>& result) {
    DARE_CHECK_ARG(n >= 1, "KMeans::fit: needs at least one point, got ", n);
    DARE_CHECK_ARG(points != nullptr, "KMeans::fit: points is null");
    const auto un = static_cast<std::size_t>(n);
    const auto d = static_cast<std::size_t>(dim_);
    for (std::size_t i = 0; i < un * d; ++i) {
      DARE_CHECK_ARG(std::isfinite(points[i]), "KMeans::fit: point ", i / d, " coordinate ", i % d,
                     " is not finite");
    }
    // The canonical copy: points sorted lexicographically.
    order_.resize(un);
    std::iota(order_.begin(), order_.end(), 0u);
    std::sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) {
      return std::lexicographical_compare(points + a * d, points + (a + 1) * d, points + b * d, points + (b + 1) * d);
    });
    sorted_.resize(un * d);
    for (std::size_t i = 0; i < un; ++i) std::copy_n(points + order_[i] * d, d, sorted_.data() + i * d);

    const Index k = seed_centroids(n, result);
    result.k = k;
    result.dim = dim_;
    assign_.assign(un, -1);
    dist_.resize(un);
    sums_.resize(static_cast<std::size_t>(k) * d);
    counts_.resize(static_cast<std::size_t>(k));
    result.converged = false;
    result.iterations = 0;
    while (result.iterations < options_.max_iterations) {
      ++result.iterations;
      if (!assign_points(n, k, result.centroids.data())) {
        result.converged = true;
        break;
      }
      update_centroids(n, k, result.centroids.data());
    }
    if (!result.converged) {
      // Keep the last step's assignment (every cluster non-empty, the centroids its means);
      // only the distances are brought up to date for the objective.
      for (std::size_t i = 0; i < un; ++i) {
        dist_[i] = squared_distance(point(i), result.centroids.data() + static_cast<std::size_t>(assign_[i]) * d);
      }
    }
    result.objective = 0.0;
    result.assignment.resize(un);
    for (std::size_t i = 0; i < un; ++i) {
      result.objective += dist_[i];
      result.assignment[order_[i]] = assign_[i];
    }
  }

  KMeansResult<Scalar> fit(const Scalar* points, Index n) {
    KMeansResult<Scalar> result;
    fit(points, n, result);
    return result;
  }

 private:
  double squared_distance(const Scalar* a, const Scalar* b) const noexcept {
    double s = 0.0;
    for (Index j = 0; j < dim_; ++j) {
      const double t = static_cast<double>(a[j]) - static_cast<double>(b[j]);
      s += t * t;
    }
    return s;
  }

  const Scalar* point(std::size_t i) const noexcept { return sorted_.data() + i * static_cast<std::size_t>(dim_); }

  /// k-means++: the first centre uniformly, each next one with probability proportional to
  /// the squared distance to the nearest centre so far; stops early when that is 0 for all.
  Index seed_centroids(Index n, KMeansResult<Scalar>& result) {
    const auto un = static_cast<std::size_t>(n);
    const auto d = static_cast<std::size_t>(dim_);
    const Index k_max = std::min(k_, n);
    result.centroids.resize(static_cast<std::size_t>(k_max) * d);
    detail::DataRng rng(options_.seed, 0);
    std::size_t pick = rng.below(un);
    std::copy_n(point(pick), d, result.centroids.data());
    dist_.resize(un);
    for (std::size_t i = 0; i < un; ++i) dist_[i] = squared_distance(point(i), point(pick));
    Index k = 1;
    for (; k < k_max; ++k) {
      double total = 0.0;
      for (std::size_t i = 0; i < un; ++i) total += dist_[i];
      if (!(total > 0.0)) break;  // every point is a centre already
      const double target = rng.uniform() * total;
      double cumulative = 0.0;
      pick = un;
      for (std::size_t i = 0; i < un; ++i) {
        cumulative += dist_[i];
        if (dist_[i] > 0.0 && cumulative > target) {
          pick = i;
          break;
        }
      }
      if (pick == un) {  // rounding left target at the very top: the last point off a centre
        for (std::size_t i = un; i-- > 0;) {
          if (dist_[i] > 0.0) {
            pick = i;
            break;
          }
        }
      }
      Scalar* centre = result.centroids.data() + static_cast<std::size_t>(k) * d;
      std::copy_n(point(pick), d, centre);
      for (std::size_t i = 0; i < un; ++i) dist_[i] = std::min(dist_[i], squared_distance(point(i), centre));
    }
    result.centroids.resize(static_cast<std::size_t>(k) * d);
    return k;
  }

  /// Each point to its nearest centroid (ties to the lower index); true if any changed.
  bool assign_points(Index n, Index k, const Scalar* centroids) {
    bool changed = false;
    const auto d = static_cast<std::size_t>(dim_);
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      std::int32_t best = 0;
      double best_d = squared_distance(point(i), centroids);
      for (Index c = 1; c < k; ++c) {
        const double dc = squared_distance(point(i), centroids + static_cast<std::size_t>(c) * d);
        if (dc < best_d) {
          best_d = dc;
          best = static_cast<std::int32_t>(c);
        }
      }
      dist_[i] = best_d;
      if (assign_[i] != best) {
        assign_[i] = best;
        changed = true;
      }
    }
    return changed;
  }

  /// Centroids to the means of their points, after refilling empty clusters.
  void update_centroids(Index n, Index k, Scalar* centroids) {
    const auto un = static_cast<std::size_t>(n);
    const auto d = static_cast<std::size_t>(dim_);
    std::fill(counts_.begin(), counts_.end(), Index{0});
    for (std::size_t i = 0; i < un; ++i) ++counts_[static_cast<std::size_t>(assign_[i])];
    for (Index c = 0; c < k; ++c) {
      if (counts_[static_cast<std::size_t>(c)] > 0) continue;
      std::size_t far = un;
      for (std::size_t i = 0; i < un; ++i) {
        if (counts_[static_cast<std::size_t>(assign_[i])] < 2) continue;
        if (far == un || dist_[i] > dist_[far]) far = i;
      }
      DARE_ASSERT(far < un);  // k <= distinct points (see the design note)
      --counts_[static_cast<std::size_t>(assign_[far])];
      assign_[far] = static_cast<std::int32_t>(c);
      dist_[far] = 0.0;
      counts_[static_cast<std::size_t>(c)] = 1;
    }
    std::fill(sums_.begin(), sums_.end(), 0.0);
    for (std::size_t i = 0; i < un; ++i) {
      double* sum = sums_.data() + static_cast<std::size_t>(assign_[i]) * d;
      for (std::size_t j = 0; j < d; ++j) sum[j] += static_cast<double>(point(i)[j]);
    }
    for (std::size_t c = 0; c < static_cast<std::size_t>(k); ++c) {
      for (std::size_t j = 0; j < d; ++j) {
        centroids[c * d + j] = static_cast<Scalar>(sums_[c * d + j] / static_cast<double>(counts_[c]));
      }
    }
  }

  Index k_;
  Index dim_;
  KMeansOptions options_;
  std::vector<std::uint32_t> order_;
  std::vector<Scalar> sorted_;
  std::vector<std::int32_t> assign_;
  std::vector<double> dist_;
  std::vector<double> sums_;
  std::vector<Index> counts_;
};

/// The per-behaviour features cluster_history() splits on: recency, popularity.
inline constexpr Index kHistoryFeatures = 2;

/// Knobs of cluster_history(). Only max_size is a preprocessing option (recorded in the
/// dataset's provenance); the others are fixed there at their defaults.
struct HistoryClusterOptions {
  /// γ: every cluster has at most this many behaviours; at least 1.
  Index max_size = 10;
  /// k of each k-means split: 0 for ceil(size / max_size) (measured faster and tighter,
  /// see the design note), or a fixed k >= 2 (2: bisecting).
  Index branching = 0;
  /// Lloyd iterations per split.
  Index max_iterations = 20;
  /// Seeds every split's k-means++ (preprocessing passes its seed).
  std::uint64_t seed = 0;
};

/// Clusters one user's history with scratch buffers reused across users (one object per
/// thread).
class HistoryClusterer {
 public:
  explicit HistoryClusterer(const HistoryClusterOptions& options = {}) : options_(options) {
    DARE_CHECK_ARG(options.max_size >= 1, "HistoryClusterOptions::max_size must be at least 1, got ",
                   options.max_size);
    DARE_CHECK_ARG(options.branching == 0 || options.branching >= 2,
                   "HistoryClusterOptions::branching must be 0 (ceil(size / max_size)) or at least 2, got ",
                   options.branching);
    DARE_CHECK_ARG(options.max_iterations >= 1, "HistoryClusterOptions::max_iterations must be at least 1");
  }

  /// Clusters the n behaviours with categories cats[0 .. n) and features features[0 .. n x 2)
  /// (recency, popularity; row-major) into cluster[0 .. n): ids 0 .. C - 1 by first
  /// occurrence, every cluster within one category and at most max_size long. Returns C.
  Index run(const Id* cats, const float* features, Index n, std::int32_t* cluster) {
    DARE_CHECK_ARG(n >= 0, "cluster_history: n must be >= 0, got ", n);
    if (n == 0) return 0;
    const auto un = static_cast<std::size_t>(n);
    const auto gamma = static_cast<std::size_t>(options_.max_size);
    // Stage 1: behaviours grouped by category (sequence order within a group).
    members_.resize(un);
    std::iota(members_.begin(), members_.end(), 0u);
    std::stable_sort(members_.begin(), members_.end(),
                     [cats](std::uint32_t a, std::uint32_t b) { return cats[a] < cats[b]; });
    stack_.clear();
    for (std::size_t b = 0; b < un;) {
      std::size_t e = b + 1;
      while (e < un && cats[members_[e]] == cats[members_[b]]) ++e;
      stack_.push_back({b, e});
      b = e;
    }
    // Stage 2: split any range of members_ longer than γ; ranges are processed LIFO.
    std::int32_t next = 0;
    while (!stack_.empty()) {
      const Range r = stack_.back();
      stack_.pop_back();
      const std::size_t size = r.end - r.begin;
      if (size <= gamma) {
        for (std::size_t i = r.begin; i < r.end; ++i) cluster[members_[i]] = next;
        ++next;
        continue;
      }
      const Index k = options_.branching == 0 ? static_cast<Index>((size + gamma - 1) / gamma) : options_.branching;
      points_.resize(size * kHistoryFeatures);
      for (std::size_t i = 0; i < size; ++i) {
        std::copy_n(features + members_[r.begin + i] * kHistoryFeatures, kHistoryFeatures,
                    points_.data() + i * kHistoryFeatures);
      }
      kmeans_.set_k(k);
      kmeans_.fit(points_.data(), static_cast<Index>(size), result_);
      if (result_.k < 2) {  // all points equal: consecutive runs of γ in sequence order
        for (std::size_t b = r.begin; b < r.end; b += gamma) stack_.push_back({b, std::min(b + gamma, r.end)});
        continue;
      }
      // Reorder the range by cluster (stably: sequence order within each), one range each.
      part_.assign(members_.begin() + static_cast<std::ptrdiff_t>(r.begin),
                   members_.begin() + static_cast<std::ptrdiff_t>(r.end));
      offsets_.assign(static_cast<std::size_t>(result_.k) + 1, 0);
      for (const std::int32_t c : result_.assignment) ++offsets_[static_cast<std::size_t>(c) + 1];
      for (std::size_t c = 0; c < static_cast<std::size_t>(result_.k); ++c) offsets_[c + 1] += offsets_[c];
      fill_ = offsets_;
      for (std::size_t i = 0; i < size; ++i) {
        members_[r.begin + fill_[static_cast<std::size_t>(result_.assignment[i])]++] = part_[i];
      }
      for (std::size_t c = static_cast<std::size_t>(result_.k); c-- > 0;) {
        stack_.push_back({r.begin + offsets_[c], r.begin + offsets_[c + 1]});
      }
    }
    // Renumber by first occurrence in the sequence.
    renumber_.assign(static_cast<std::size_t>(next), -1);
    std::int32_t seen = 0;
    for (std::size_t i = 0; i < un; ++i) {
      std::int32_t& id = renumber_[static_cast<std::size_t>(cluster[i])];
      if (id < 0) id = seen++;
      cluster[i] = id;
    }
    return seen;
  }

  const HistoryClusterOptions& options() const noexcept { return options_; }

 private:
  struct Range {
    std::size_t begin;
    std::size_t end;
  };

  HistoryClusterOptions options_;
  KMeans<float> kmeans_{2, kHistoryFeatures, KMeansOptions{options_.max_iterations, options_.seed}};
  KMeansResult<float> result_;
  std::vector<std::uint32_t> members_;
  std::vector<std::uint32_t> part_;
  std::vector<Range> stack_;
  std::vector<float> points_;
  std::vector<std::size_t> offsets_;
  std::vector<std::size_t> fill_;
  std::vector<std::int32_t> renumber_;
};

/// One user's history clustered as in the design note (HistoryClusterer::run, with fresh
/// scratch). Returns the number of clusters.
inline Index cluster_history(const Id* cats, const float* features, Index n, std::int32_t* cluster,
                             const HistoryClusterOptions& options = {}) {
  HistoryClusterer clusterer(options);
  return clusterer.run(cats, features, n, cluster);
}

/// The popularity feature of every item id (index = dense id): log(1 + f) / log(1 + f_max),
/// f the item's clicks in the training part of the dataset (every stored click except the
/// targets of the validation and test positives, so their items' counts do not leak into
/// the features), f_max the largest f; 0 for all when no click counts.
inline std::vector<float> item_popularity(const detail::DatasetView& v) {
  std::vector<std::uint64_t> freq(static_cast<std::size_t>(v.num_items), 0);
  for (Index c = 0; c < v.num_clicks; ++c) ++freq[static_cast<std::size_t>(v.click_items[c])];
  for (int s = 1; s < 3; ++s) {  // validation, test
    for (Index k = 0; k < v.split_sizes[s]; ++k) {
      const Sample& x = v.splits[s][k];
      const std::uint64_t first = v.user_offsets[x.user];
      if (x.label != 1 || x.end >= v.user_offsets[x.user + 1] - first) continue;
      --freq[static_cast<std::size_t>(v.click_items[first + x.end])];
    }
  }
  const std::uint64_t most = freq.empty() ? 0 : *std::max_element(freq.begin(), freq.end());
  std::vector<float> popularity(freq.size(), 0.0f);
  if (most == 0) return popularity;
  const double scale = 1.0 / std::log1p(static_cast<double>(most));
  for (std::size_t i = 0; i < freq.size(); ++i) {
    popularity[i] = static_cast<float>(std::log1p(static_cast<double>(freq[i])) * scale);
  }
  return popularity;
}
inline std::vector<float> item_popularity(const DatasetData& d) { return item_popularity(detail::view_of(d)); }
inline std::vector<float> item_popularity(const Dataset& d) { return item_popularity(d.view()); }

/// The features of a user's n behaviours (items[0 .. n)) into features[0 .. n x 2):
/// recency p / (n - 1) (0 for a lone behaviour) and popularity[item].
inline void history_features(const Id* items, Index n, const std::vector<float>& popularity, float* features) {
  const double last = n > 1 ? static_cast<double>(n - 1) : 1.0;
  for (Index p = 0; p < n; ++p) {
    features[p * kHistoryFeatures] = static_cast<float>(static_cast<double>(p) / last);
    features[p * kHistoryFeatures + 1] = popularity[static_cast<std::size_t>(items[p])];
  }
}

/// Every user's history of a dataset clustered (HistoryClusterer::run on the user's
/// categories and history_features()): one id per stored click, users back to back like
/// click_items. `clusters`, when given, receives the total number of clusters.
inline std::vector<std::int32_t> cluster_histories(const detail::DatasetView& v, const HistoryClusterOptions& options,
                                                   long long* clusters = nullptr) {
  const std::vector<float> popularity = item_popularity(v);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(v.num_clicks));
  std::vector<float> features;
  HistoryClusterer clusterer(options);
  long long total = 0;
  for (Index u = 0; u < v.num_users; ++u) {
    const std::uint64_t b = v.user_offsets[u];
    const auto n = static_cast<Index>(v.user_offsets[u + 1] - b);
    features.resize(static_cast<std::size_t>(n) * kHistoryFeatures);
    history_features(v.click_items + b, n, popularity, features.data());
    total += clusterer.run(v.click_cats + b, features.data(), n, ids.data() + b);
  }
  if (clusters != nullptr) *clusters = total;
  return ids;
}
inline std::vector<std::int32_t> cluster_histories(const DatasetData& d, const HistoryClusterOptions& options,
                                                   long long* clusters = nullptr) {
  return cluster_histories(detail::view_of(d), options, clusters);
}

}  // namespace dare
