// dare/analysis/discriminability.hpp — how much a model's representation of a sample says
// about its label: cluster the main head's inputs [v, u, v ⊙ u] (or [v, u] without TR) of
// the test samples with k-means for several k, and measure the mutual information between
// the clusters and the labels (the DARE paper's representation discriminability analysis,
// its section 4.4; docs/analyses.md shows the figures for the built-in synthetic log).
//
// Design note.
// Definitions. For N samples with cluster c_i in 0 .. k - 1 and label y_i in {0, 1}, with
// counts n_cy, n_c, n_y: MI = Σ_{c,y} (n_cy / N) ln(N n_cy / (n_c n_y)), in nats (natural
// log), not normalised; H(Y) = -Σ_y (n_y / N) ln(n_y / N) and H(C) likewise. MI ≤ H(Y), with
// equality when every cluster holds one label only, and MI = 0 when the labels are
// independent of the clusters. The normalised figure is MI / ((H(C) + H(Y)) / 2), the
// arithmetic-mean normalisation; 0 when both entropies are 0.
// Both figures are reported because the public reference (thuml/DARE,
// analysis/representation_discriminability_analysis) computes both (scikit-learn's
// mutual_info_score and normalized_mutual_info_score at its defaults, the latter the same
// arithmetic normalisation) and its figures plot the normalised one under the label
// "Mutual Information".
// Estimation bias. With k clusters the plug-in MI of independent labels is not 0 but about
// (k - 1) / (2N) nats on average (the χ² limit of 2N·MI with k - 1 degrees of freedom), so
// at k = 1000 on 8,000 test samples chance alone gives ~0.06 nats: compare models at the same
// k and N, never a figure against 0. chance_mutual_information() gives that offset.
// Clustering. dare::KMeans (data/clustering.hpp: Lloyd's with k-means++ seeding, one seed,
// one run) on the rows as they are, before the head's BatchNorm, as the reference clusters
// them. Raw, the squared distances are dominated by the widest coordinates: the v ⊙ u block
// (products of two small embeddings) holds about 0.5% of the head input's total variance for
// DARE and TWIN on the built-in synthetic log (v holds ~75%), so raw k-means all but ignores
// it; standardize_columns() gives every coordinate unit variance
// first (what the head's BatchNorm does before its learned scale), and the analysis reports
// either (dare_analyze discriminability --standardize). The reference uses scikit-learn's
// MiniBatchKMeans (Lloyd's steps on random mini-batches, an approximation of the full
// steps made here; bench/cluster_cost.cpp checks dare::KMeans against faiss::Clustering at
// these sizes). The k values are
// independent fits, run on `threads` workers, largest k first (a fit costs O(N k dim) per
// iteration, so the largest ones dominate and should start first).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <numeric>
#include <thread>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/data/clustering.hpp"
#include "dare/data/dataset.hpp"

namespace dare {

/// What a clustering of labelled samples says about the labels (see the header note).
struct ClusterLabelInformation {
  /// Mutual information between cluster and label, in nats.
  double mutual_information = 0.0;
  /// MI / ((H(C) + H(Y)) / 2); 0 when both entropies are 0.
  double normalized = 0.0;
  /// H(Y) and H(C), in nats.
  double label_entropy = 0.0;
  double cluster_entropy = 0.0;
  /// Clusters holding at least one sample.
  Index clusters = 0;
};

/// Mutual information between the clustering cluster[0 .. n) (ids 0 .. k - 1) and the
/// binary labels label[0 .. n) (0 or 1). Throws std::invalid_argument for an empty input, a
/// cluster id outside 0 .. k - 1 or a label other than 0 and 1, naming the sample.
inline ClusterLabelInformation cluster_label_information(ConstSpan<std::int32_t> cluster,
                                                         ConstSpan<std::int32_t> label, Index k) {
  DARE_CHECK_ARG(cluster.size() == label.size(), "cluster_label_information: ", cluster.size(), " cluster ids for ",
                 label.size(), " labels");
  DARE_CHECK_ARG(cluster.size() >= 1, "cluster_label_information: no samples");
  DARE_CHECK_ARG(k >= 1, "cluster_label_information: k must be at least 1, got ", k);
  const Index n = cluster.size();
  std::vector<std::int64_t> joint(static_cast<std::size_t>(2 * k), 0);  // [c][y]
  for (Index i = 0; i < n; ++i) {
    const std::int32_t c = cluster[i];
    const std::int32_t y = label[i];
    DARE_CHECK_ARG(c >= 0 && c < k, "cluster_label_information: sample ", i, " has cluster ", c, ", outside 0 .. ",
                   k - 1);
    DARE_CHECK_ARG(y == 0 || y == 1, "cluster_label_information: sample ", i, " has label ", y, ", not 0 or 1");
    ++joint[static_cast<std::size_t>(2 * c + y)];
  }
  const double total = static_cast<double>(n);
  // p ln p summed in double over counts: exact enough for any n below 2^53.
  const auto plogp = [total](std::int64_t count) {
    if (count == 0) return 0.0;
    const double p = static_cast<double>(count) / total;
    return p * std::log(p);
  };
  const std::int64_t ones = std::accumulate(label.begin(), label.end(), std::int64_t{0});
  ClusterLabelInformation r;
  r.label_entropy = -(plogp(ones) + plogp(n - ones));
  double joint_sum = 0.0;
  for (Index c = 0; c < k; ++c) {
    const std::int64_t n0 = joint[static_cast<std::size_t>(2 * c)];
    const std::int64_t n1 = joint[static_cast<std::size_t>(2 * c + 1)];
    if (n0 + n1 == 0) continue;
    ++r.clusters;
    r.cluster_entropy -= plogp(n0 + n1);
    joint_sum += plogp(n0) + plogp(n1);
  }
  // MI = H(C) + H(Y) - H(C, Y); rounding can leave a tiny negative for independent data.
  r.mutual_information = std::max(0.0, r.cluster_entropy + r.label_entropy + joint_sum);
  const double mean_entropy = 0.5 * (r.cluster_entropy + r.label_entropy);
  r.normalized = mean_entropy > 0.0 ? std::min(1.0, r.mutual_information / mean_entropy) : 0.0;
  return r;
}

/// The expected plug-in MI of labels independent of a clustering into k clusters of n
/// samples, to first order: (k - 1) / (2 n) nats (see the header note).
inline double chance_mutual_information(Index k, Index n) {
  DARE_CHECK_ARG(k >= 1 && n >= 1, "chance_mutual_information: needs k >= 1 and n >= 1, got ", k, " and ", n);
  return static_cast<double>(k - 1) / (2.0 * static_cast<double>(n));
}

/// Scales every column of the n x dim rows (row-major) to mean 0 and variance 1 over the
/// rows (a constant column becomes 0), so that no coordinate dominates the k-means distances
/// by its scale alone; the head's BatchNorm does the same before its learned scale and shift
/// (the header note says why the figures are reported both ways).
template <class Scalar>
void standardize_columns(Scalar* rows, Index n, Index dim) {
  DARE_CHECK_ARG(n >= 1 && dim >= 1, "standardize_columns: needs n >= 1 and dim >= 1, got ", n, " and ", dim);
  std::vector<double> mean(static_cast<std::size_t>(dim), 0.0), sq(static_cast<std::size_t>(dim), 0.0);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < dim; ++j) mean[static_cast<std::size_t>(j)] += static_cast<double>(rows[i * dim + j]);
  }
  for (double& m : mean) m /= static_cast<double>(n);
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < dim; ++j) {
      const double t = static_cast<double>(rows[i * dim + j]) - mean[static_cast<std::size_t>(j)];
      sq[static_cast<std::size_t>(j)] += t * t;
    }
  }
  for (Index j = 0; j < dim; ++j) {
    const double var = sq[static_cast<std::size_t>(j)] / static_cast<double>(n);
    const double scale = var > 0.0 ? 1.0 / std::sqrt(var) : 0.0;
    for (Index i = 0; i < n; ++i) {
      rows[i * dim + j] =
          static_cast<Scalar>((static_cast<double>(rows[i * dim + j]) - mean[static_cast<std::size_t>(j)]) * scale);
    }
  }
}

/// Knobs of discriminability().
struct DiscriminabilityOptions {
  /// The k values, each a separate fit; each at least 1 (a k above the number of distinct
  /// rows gives fewer clusters: KMeansResult::k says how many).
  std::vector<Index> ks = {2, 5, 10, 20, 50, 100, 200, 500, 1000};
  /// Lloyd iterations at most and the k-means++ seed, the same for every k.
  KMeansOptions kmeans = {100, 0};
  /// Workers over the k values (each fit is single-threaded).
  int threads = 1;
};

/// One k of discriminability().
struct DiscriminabilityPoint {
  /// The k asked for, and the clusters k-means found (fewer only with few distinct rows).
  Index k = 0;
  Index clusters = 0;
  ClusterLabelInformation info;
  /// The k-means fit: its objective (sum of squared distances), iterations, convergence, and
  /// its wall time in seconds.
  double objective = 0.0;
  Index iterations = 0;
  bool converged = false;
  double seconds = 0.0;
};

/// Clusters the n rows (row-major, n x dim, finite) with dare::KMeans for each of
/// options.ks and returns, in the order of options.ks, the MI between the clusters and the
/// labels label[0 .. n) (0 or 1).
template <class Scalar>
std::vector<DiscriminabilityPoint> discriminability(const Scalar* rows, Index n, Index dim,
                                                    ConstSpan<std::int32_t> label,
                                                    const DiscriminabilityOptions& options = {}) {
  DARE_CHECK_ARG(label.size() == n, "discriminability: ", n, " rows for ", label.size(), " labels");
  DARE_CHECK_ARG(n >= 1, "discriminability: no rows");
  DARE_CHECK_ARG(rows != nullptr, "discriminability: rows is null");
  DARE_CHECK_ARG(dim >= 1, "discriminability: dim must be at least 1, got ", dim);
  DARE_CHECK_ARG(options.kmeans.max_iterations >= 1, "discriminability: max_iterations must be at least 1, got ",
                 options.kmeans.max_iterations);
  DARE_CHECK_ARG(!options.ks.empty(), "discriminability: no k given");
  for (const Index k : options.ks) DARE_CHECK_ARG(k >= 1, "discriminability: k must be at least 1, got ", k);
  for (Index i = 0; i < n; ++i) {
    DARE_CHECK_ARG(label[i] == 0 || label[i] == 1, "discriminability: sample ", i, " has label ", label[i],
                   ", not 0 or 1");
  }
  const std::size_t m = options.ks.size();
  std::vector<DiscriminabilityPoint> out(m);
  // Largest k first: the fits' costs grow with k, and the longest should not start last.
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return options.ks[a] > options.ks[b]; });
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(m);
  const auto work = [&] {
    KMeans<Scalar> kmeans(1, dim, options.kmeans);
    KMeansResult<Scalar> fit;
    for (std::size_t t; (t = next.fetch_add(1)) < m;) {
      const std::size_t j = order[t];
      try {
        const auto start = std::chrono::steady_clock::now();
        kmeans.set_k(options.ks[j]);
        kmeans.fit(rows, n, fit);
        DiscriminabilityPoint& p = out[j];
        p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        p.k = options.ks[j];
        p.clusters = fit.k;
        p.objective = fit.objective;
        p.iterations = fit.iterations;
        p.converged = fit.converged;
        p.info = cluster_label_information(ConstSpan<std::int32_t>(fit.assignment.data(), n), label, fit.k);
      } catch (...) {
        errors[j] = std::current_exception();
      }
    }
  };
  const int workers = static_cast<int>(std::clamp<Index>(options.threads, 1, static_cast<Index>(m)));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers - 1));
  for (int w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

}  // namespace dare
