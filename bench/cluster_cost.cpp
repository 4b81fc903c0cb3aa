// cluster_cost — what TWIN-V2's offline clustering (dare/data/clustering.hpp) costs on a
// dataset, and what clusters it makes: for each γ and split rule, the clustering stage's
// clicks per second and the distribution of cluster sizes and of clusters per user, and the
// features' within-cluster spread (mean squared distance to the cluster mean, the k-means
// objective per click). With FAISS (DARE_BENCH_HAVE_FAISS), dare::KMeans is also checked
// against faiss::Clustering's objective on the same points.
//
//   cluster_cost --dataset taobao.dare --gamma 5,10,20 --branching 2,0
//   cluster_cost --faiss-only
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/data/clustering.hpp"
#include "dare/data/dataset.hpp"
#include "dare/data/sampling.hpp"

#ifdef DARE_BENCH_HAVE_FAISS
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
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
// The same points through dare::KMeans and faiss::Clustering (random initial centroids,
// not k-means++): both objectives (sum of squared distances) and the times.
void against_faiss(dare::Index n, dare::Index dim, dare::Index k, int iterations) {
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
  auto t = std::chrono::steady_clock::now();
  dare::KMeans<float> kmeans(k, dim, dare::KMeansOptions{iterations, 1});
  const dare::KMeansResult<float> r = kmeans.fit(points.data(), n);
  const double dare_s = seconds_since(t);

  faiss::ClusteringParameters cp;
  cp.niter = iterations;
  cp.seed = 1;
  cp.max_points_per_centroid = static_cast<int>(n);  // no subsampling: the same points
  cp.min_points_per_centroid = 1;
  faiss::Clustering clus(static_cast<int>(dim), static_cast<int>(k), cp);
  faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(dim));
  t = std::chrono::steady_clock::now();
  clus.train(static_cast<faiss::Index::idx_t>(n), points.data(), index);
  const double faiss_s = seconds_since(t);
  // FAISS's last obj is the assignment before its last centroid update; recompute on the
  // final centroids for a like-for-like objective.
  double faiss_obj = 0.0;
  {
    std::vector<float> dist(static_cast<std::size_t>(n));
    std::vector<faiss::Index::idx_t> label(static_cast<std::size_t>(n));
    faiss::IndexFlatL2 final_index(static_cast<faiss::Index::idx_t>(dim));
    final_index.add(static_cast<faiss::Index::idx_t>(k), clus.centroids.data());
    final_index.search(static_cast<faiss::Index::idx_t>(n), points.data(), 1, dist.data(), label.data());
    for (const float d : dist) faiss_obj += d;
  }
  std::printf("n %7lld dim %2lld k %4lld: dare::KMeans objective %.6g (%lld iterations, %s, %.3f s); "
              "faiss::Clustering objective %.6g (last iteration's %.6g, %d iterations, %.3f s); dare/faiss %.4f\n",
              static_cast<long long>(n), static_cast<long long>(dim), static_cast<long long>(k), r.objective,
              static_cast<long long>(r.iterations), r.converged ? "converged" : "not converged", dare_s, faiss_obj,
              static_cast<double>(clus.iteration_stats.back().obj), iterations, faiss_s, r.objective / faiss_obj);
  std::fflush(stdout);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cost and cluster sizes of TWIN-V2's offline history clustering"};
  std::string dataset;
  std::vector<long long> gammas = {5, 10, 20};
  std::vector<long long> branchings = {2, 0};
  bool faiss_only = false;
  app.add_option("--dataset", dataset, "a dare dataset (clusters stored or not)");
  app.add_option("--gamma", gammas, "cluster sizes γ")->delimiter(',');
  app.add_option("--branching", branchings, "k per split: 2 (bisecting) or 0 (ceil(size / γ))")->delimiter(',');
  app.add_flag("--faiss-only", faiss_only, "only the comparison with faiss::Clustering");
  CLI11_PARSE(app, argc, argv);
  try {
#ifdef DARE_BENCH_HAVE_FAISS
    for (const auto& [n, dim, k] : {std::tuple<int, int, int>{2000, 2, 8}, {20000, 2, 50}, {50000, 8, 100}, {100000, 16, 64}}) {
      against_faiss(n, dim, k, 25);
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
