// cluster_cost — what TWIN-V2's offline clustering (dare/data/clustering.hpp) costs on a
// dataset, and what clusters it makes: for each γ and split rule, the clustering stage's
// clicks per second and the distribution of cluster sizes and of clusters per user, and the
// features' within-cluster spread (mean squared distance to the cluster mean, the k-means
// objective per click). With FAISS (DARE_BENCH_HAVE_FAISS), dare::KMeans is also checked
// against faiss::Clustering's objective on the same points (synthetic blobs, or --points).
//
//   cluster_cost --dataset taobao.dare --gamma 5,10,20 --branching 2,0
//   cluster_cost --faiss-only
//   cluster_cost --points head_inputs/dare.seed1.csv --k 2,10,100,1000 --iterations 25
// (--points: rows that dare_analyze discriminability --head-inputs-out wrote, so the
// comparison runs on the head inputs whose clusters that analysis measures.)
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/analysis/discriminability.hpp"
#include "dare/data/clustering.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/sampling.hpp"

#ifdef DARE_BENCH_HAVE_FAISS
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>
#endif

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

template <class T>
T quantile(std::vector<T>& v, double q) {
  if (v.empty()) return T{};
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

void measure(const dare::Dataset& ds, dare::Index gamma, dare::Index branching) {
  dare::HistoryClusterOptions o;
  o.max_size = gamma;
  o.branching = branching;
  o.seed = ds.provenance().options.seed;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  long long clusters = 0;
  const std::vector<std::int32_t> ids = dare::cluster_histories(ds.view(), o, &clusters);
  const double seconds = seconds_since(start);
  // CPU time: the machine may be shared, and the stage is single-threaded.
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;

  // Sizes, clusters per user, within-cluster spread of the features.
  const std::vector<float> popularity = dare::item_popularity(ds);
  std::vector<int> sizes;
  std::vector<int> per_user;
  sizes.reserve(static_cast<std::size_t>(clusters));
  std::vector<double> sum;
  std::vector<float> features;
  std::vector<dare::Id> cats;
  double spread = 0.0;
  long long in_big_groups = 0;  // clicks in a category group of more than γ: the ones k-means sees
  const auto& v = ds.view();
  for (dare::Index u = 0; u < v.num_users; ++u) {
    const std::uint64_t b = v.user_offsets[u];
    const auto n = static_cast<dare::Index>(v.user_offsets[u + 1] - b);
    std::int32_t c_u = 0;
    for (dare::Index p = 0; p < n; ++p) c_u = std::max(c_u, ids[b + static_cast<std::uint64_t>(p)] + 1);
    per_user.push_back(c_u);
    cats.assign(v.click_cats + b, v.click_cats + b + n);
    std::sort(cats.begin(), cats.end());
    for (std::size_t i = 0; i < cats.size();) {
      std::size_t j = i;
      while (j < cats.size() && cats[j] == cats[i]) ++j;
      if (static_cast<dare::Index>(j - i) > gamma) in_big_groups += static_cast<long long>(j - i);
      i = j;
    }
    const std::size_t first = sizes.size();
    sizes.resize(first + static_cast<std::size_t>(c_u), 0);
    sum.assign(static_cast<std::size_t>(c_u) * 4, 0.0);  // Σx, Σy, Σx², Σy²
    features.resize(static_cast<std::size_t>(n) * 2);
    dare::history_features(v.click_items + b, n, popularity, features.data());
    for (dare::Index p = 0; p < n; ++p) {
      const auto c = static_cast<std::size_t>(ids[b + static_cast<std::uint64_t>(p)]);
      ++sizes[first + c];
      const double x = features[static_cast<std::size_t>(2 * p)];
      const double y = features[static_cast<std::size_t>(2 * p + 1)];
      sum[4 * c] += x;
      sum[4 * c + 1] += y;
      sum[4 * c + 2] += x * x;
      sum[4 * c + 3] += y * y;
    }
    for (std::size_t c = 0; c < static_cast<std::size_t>(c_u); ++c) {
      const double m = sizes[first + c];
      spread += sum[4 * c + 2] - sum[4 * c] * sum[4 * c] / m + sum[4 * c + 3] - sum[4 * c + 1] * sum[4 * c + 1] / m;
    }
  }
  long long singletons = 0;
  for (const int s : sizes) singletons += s == 1;
  const double clicks = static_cast<double>(v.num_clicks);
  const int max_size = sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end());
  const int max_per_user = per_user.empty() ? 0 : *std::max_element(per_user.begin(), per_user.end());
  double mean_per_user = 0.0;
  for (const int c : per_user) mean_per_user += c;
  mean_per_user /= static_cast<double>(std::max<std::size_t>(per_user.size(), 1));
  std::printf("gamma %3lld k %-10s cpu %6.2f s (wall %6.2f s)  %5.2f M clicks/s  k-means sees %4.1f%%  clusters %10lld  size mean %5.2f p50 %2d p90 %2d "
              "max %2d  singletons %4.1f%%  per user mean %6.1f p50 %4d p90 %4d max %5d  spread %.3g\n",
              static_cast<long long>(gamma), branching == 0 ? "ceil(n/g)" : std::to_string(branching).c_str(), cpu,
              seconds, clicks / cpu / 1e6, 100.0 * static_cast<double>(in_big_groups) / clicks, clusters, clicks / static_cast<double>(clusters), quantile(sizes, 0.5),
              quantile(sizes, 0.9), max_size, 100.0 * static_cast<double>(singletons) / static_cast<double>(clusters),
              mean_per_user, quantile(per_user, 0.5), quantile(per_user, 0.9), max_per_user, spread / clicks);
  std::fflush(stdout);
}

#ifdef DARE_BENCH_HAVE_FAISS
// faiss::Clustering on the points (random initial centroids, not k-means++; no subsampling)
// with `threads` OpenMP threads: its objective on its final centroids, its final assignment,
// its wall time.
struct FaissFit {
  double objective = 0.0;
  double seconds = 0.0;
  std::vector<std::int32_t> assignment;
};

FaissFit faiss_kmeans(const std::vector<float>& points, dare::Index n, dare::Index dim, dare::Index k, int iterations,
                      int threads) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  faiss::ClusteringParameters cp;
  cp.niter = iterations;
  cp.seed = 1;
  cp.max_points_per_centroid = static_cast<int>(n);  // no subsampling: the same points
  cp.min_points_per_centroid = 1;
  faiss::Clustering clus(static_cast<int>(dim), static_cast<int>(k), cp);
  faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(dim));
  const auto t = std::chrono::steady_clock::now();
  clus.train(static_cast<faiss::Index::idx_t>(n), points.data(), index);
  FaissFit fit;
  fit.seconds = seconds_since(t);
  // FAISS's last obj is the assignment before its last centroid update; recompute on the
  // final centroids for a like-for-like objective.
  std::vector<float> dist(static_cast<std::size_t>(n));
  std::vector<faiss::Index::idx_t> label(static_cast<std::size_t>(n));
  faiss::IndexFlatL2 final_index(static_cast<faiss::Index::idx_t>(dim));
  final_index.add(static_cast<faiss::Index::idx_t>(k), clus.centroids.data());
  final_index.search(static_cast<faiss::Index::idx_t>(n), points.data(), 1, dist.data(), label.data());
  fit.assignment.resize(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < dist.size(); ++i) {
    fit.objective += dist[i];
    fit.assignment[i] = static_cast<std::int32_t>(label[i]);
  }
  omp_set_num_threads(saved);
  return fit;
}

// The same points through dare::KMeans (k-means++, at most `iterations` Lloyd steps) and
// faiss::Clustering (`iterations` steps, one thread and all of them): objectives (sum of
// squared distances), times, and with labels the MI of each clustering with them.
void against_faiss(const std::vector<float>& points, dare::Index n, dare::Index dim, dare::Index k, int iterations,
                   const std::vector<std::int32_t>* labels) {
  auto t = std::chrono::steady_clock::now();
  dare::KMeans<float> kmeans(k, dim, dare::KMeansOptions{iterations, 1});
  const dare::KMeansResult<float> r = kmeans.fit(points.data(), n);
  const double dare_s = seconds_since(t);
  const FaissFit one = faiss_kmeans(points, n, dim, k, iterations, 1);
  const FaissFit all = faiss_kmeans(points, n, dim, k, iterations, omp_get_max_threads());
  std::printf("n %7lld dim %3lld k %4lld: dare::KMeans objective %.6g (%lld iterations, %s, %.3f s); "
              "faiss::Clustering objective %.6g (%d iterations, %.3f s on 1 thread, %.3f s on %d); dare/faiss %.4f",
              static_cast<long long>(n), static_cast<long long>(dim), static_cast<long long>(k), r.objective,
              static_cast<long long>(r.iterations), r.converged ? "converged" : "not converged", dare_s, one.objective,
              iterations, one.seconds, all.seconds, omp_get_max_threads(), r.objective / one.objective);
  if (labels != nullptr) {
    const dare::ConstSpan<std::int32_t> y(labels->data(), n);
    const auto mi = [&](const std::vector<std::int32_t>& a) {
      return dare::cluster_label_information(dare::ConstSpan<std::int32_t>(a.data(), n), y, k).mutual_information;
    };
    std::printf("; MI with the labels: dare %.5f, faiss %.5f nats", mi(r.assignment), mi(one.assignment));
  }
  std::printf("\n");
  std::fflush(stdout);
}

// Gaussian blobs around k random centres (the original synthetic check).
void against_faiss_blobs(dare::Index n, dare::Index dim, dare::Index k, int iterations) {
  dare::detail::DataRng rng(17);
  std::vector<float> centres(static_cast<std::size_t>(k * dim));
  for (float& c : centres) c = static_cast<float>(rng.uniform() * 10.0);
  std::vector<float> points(static_cast<std::size_t>(n * dim));
  for (dare::Index i = 0; i < n; ++i) {
    const auto c = static_cast<dare::Index>(rng.below(static_cast<std::uint64_t>(k)));
    for (dare::Index j = 0; j < dim; ++j) {
      points[static_cast<std::size_t>(i * dim + j)] = centres[static_cast<std::size_t>(c * dim + j)] +
                                                       static_cast<float>(rng.normal() * 0.7);
    }
  }
  against_faiss(points, n, dim, k, iterations, nullptr);
}
#endif

// A --points file: one point a line, "label,x_1,...,x_dim" (dare_analyze discriminability
// --head-inputs-out writes them).
std::vector<float> read_points(const std::string& path, dare::Index& n, dare::Index& dim,
                               std::vector<std::int32_t>& labels) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<float> points;
  std::string line;
  n = 0;
  dim = -1;
  for (long long line_no = 1; std::getline(in, line); ++line_no) {
    if (line.empty()) continue;
    const char* p = line.c_str();
    char* end = nullptr;
    const long label = std::strtol(p, &end, 10);
    if (end == p || (label != 0 && label != 1) || *end != ',') {
      throw dare::FormatError(path, line_no, "label", "expected 0 or 1 followed by the point's values");
    }
    dare::Index values = 0;
    for (p = end; *p == ','; p = end, ++values) {
      points.push_back(std::strtof(p + 1, &end));
      if (end == p + 1 || !std::isfinite(points.back())) {
        throw dare::FormatError(path, line_no, "value " + std::to_string(values + 1), "not a finite number");
      }
    }
    if (*p != '\0') throw dare::FormatError(path, line_no, "value " + std::to_string(values + 1), "not a number");
    if (dim < 0) dim = values;
    if (values != dim || dim == 0) {
      throw dare::FormatError(path, line_no, "values", std::to_string(values) + " values, the first line had " +
                                                           std::to_string(dim));
    }
    labels.push_back(static_cast<std::int32_t>(label));
    ++n;
  }
  if (n == 0) throw std::runtime_error(path + ": no points");
  return points;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cost and cluster sizes of TWIN-V2's offline history clustering"};
  std::string dataset;
  std::vector<long long> gammas = {5, 10, 20};
  std::vector<long long> branchings = {2, 0};
  bool faiss_only = false;
  std::string points_path;
  std::vector<long long> ks = {2, 5, 10, 20, 50, 100, 200, 500, 1000};
  int iterations = 25;
  app.add_option("--dataset", dataset, "a dare dataset (clusters stored or not)");
  app.add_option("--gamma", gammas, "cluster sizes γ")->delimiter(',');
  app.add_option("--branching", branchings, "k per split: 2 (bisecting) or 0 (ceil(size / γ))")->delimiter(',');
  app.add_flag("--faiss-only", faiss_only, "only the comparison with faiss::Clustering");
  app.add_option("--points", points_path,
                 "compare with faiss::Clustering on these points instead of the blobs (label,x_1,...,x_dim per line)");
  app.add_option("--k", ks, "numbers of clusters for --points")->delimiter(',');
  app.add_option("--iterations", iterations, "Lloyd iterations of both (at most, for dare::KMeans)");
  CLI11_PARSE(app, argc, argv);
  try {
#ifdef DARE_BENCH_HAVE_FAISS
    if (!points_path.empty()) {
      dare::Index n = 0, dim = 0;
      std::vector<std::int32_t> labels;
      const std::vector<float> points = read_points(points_path, n, dim, labels);
      std::printf("%s: %lld points of %lld values\n", points_path.c_str(), static_cast<long long>(n),
                  static_cast<long long>(dim));
      for (const long long k : ks) against_faiss(points, n, dim, k, iterations, &labels);
      return 0;
    }
    for (const auto& [n, dim, k] : {std::tuple<int, int, int>{2000, 2, 8}, {20000, 2, 50}, {50000, 8, 100}, {100000, 16, 64}}) {
      against_faiss_blobs(n, dim, k, iterations);
    }
#else
    std::printf("(built without FAISS: no comparison with faiss::Clustering)\n");
#endif
    if (faiss_only || dataset.empty()) return 0;
    const dare::Dataset ds = dare::Dataset::open(dataset);
    std::printf("%s: %lld users, %lld clicks, %lld categories\n", dataset.c_str(),
                static_cast<long long>(ds.num_users()), static_cast<long long>(ds.num_clicks()),
                static_cast<long long>(ds.num_cats() - 1));
    for (const long long g : gammas) {
      for (const long long b : branchings) measure(ds, g, b);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cluster_cost: %s\n", e.what());
    return 1;
  }
  return 0;
}
