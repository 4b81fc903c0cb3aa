#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <vector>

#include "dare/data/clustering.hpp"
#include "dare/data/sampling.hpp"

using dare::HistoryClusterOptions;
using dare::Id;
using dare::Index;
using dare::KMeans;
using dare::KMeansOptions;
using dare::KMeansResult;

namespace {

/// Three tight blobs of 2-d points far apart, interleaved in the input; blob[i] is the truth.
template <class Scalar>
std::vector<Scalar> three_blobs(std::vector<int>& blob) {
  const double centres[3][2] = {{0.0, 0.0}, {10.0, 0.0}, {0.0, 10.0}};
  const int sizes[3] = {7, 4, 9};
  dare::detail::DataRng rng(3);
  std::vector<Scalar> points;
  blob.clear();
  for (int round = 0; round < 9; ++round) {
    for (int b = 0; b < 3; ++b) {
      if (round >= sizes[b]) continue;
      points.push_back(static_cast<Scalar>(centres[b][0] + rng.uniform() - 0.5));
      points.push_back(static_cast<Scalar>(centres[b][1] + rng.uniform() - 0.5));
      blob.push_back(b);
    }
  }
  return points;
}

/// Checks that `cluster` and `truth` are the same partition (equal up to renaming).
void check_same_partition(const std::vector<std::int32_t>& cluster, const std::vector<int>& truth) {
  REQUIRE(cluster.size() == truth.size());
  std::map<int, std::int32_t> to_cluster;
  std::map<std::int32_t, int> to_truth;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto a = to_cluster.emplace(truth[i], cluster[i]).first->second;
    const auto b = to_truth.emplace(cluster[i], truth[i]).first->second;
    CHECK(a == cluster[i]);
    CHECK(b == truth[i]);
  }
}

/// Random history: `n` behaviours over `cats` categories, random features in [0, 1].
struct History {
  std::vector<Id> cats;
  std::vector<float> features;
};
History random_history(Index n, int cats, std::uint64_t seed) {
  dare::detail::DataRng rng(seed);
  History h;
  for (Index i = 0; i < n; ++i) {
    // Skewed: category 1 is about half of the history, so groups above γ occur.
    h.cats.push_back(rng.bernoulli(0.5) ? 1 : static_cast<Id>(1 + rng.below(static_cast<std::uint64_t>(cats))));
    h.features.push_back(static_cast<float>(n > 1 ? static_cast<double>(i) / static_cast<double>(n - 1) : 0.0));
    h.features.push_back(static_cast<float>(rng.uniform()));
  }
  return h;
}

/// Every cluster id in [0, C), numbered by first occurrence, at most γ long, one category.
void check_clusters(const History& h, const std::vector<std::int32_t>& cluster, Index count, Index gamma) {
  REQUIRE(cluster.size() == h.cats.size());
  std::vector<Index> size(static_cast<std::size_t>(count), 0);
  std::vector<Id> cat(static_cast<std::size_t>(count), 0);
  std::int32_t next = 0;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const std::int32_t c = cluster[i];
    REQUIRE(c >= 0);
    REQUIRE(c <= next);  // first occurrence order
    if (c == next) {
      ++next;
      cat[static_cast<std::size_t>(c)] = h.cats[i];
    }
    REQUIRE(cat[static_cast<std::size_t>(c)] == h.cats[i]);  // clusters never mix categories
    ++size[static_cast<std::size_t>(c)];
  }
  CHECK(next == count);
  for (const Index s : size) CHECK(s <= gamma);
}

}  // namespace

TEMPLATE_TEST_CASE("k-means finds well-separated clusters exactly, with their means", "[data][clustering]", float,
                   double) {
  std::vector<int> blob;
  const std::vector<TestType> points = three_blobs<TestType>(blob);
  const auto n = static_cast<Index>(blob.size());
  for (const std::uint64_t seed : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u}) {
    KMeans<TestType> kmeans(3, 2, KMeansOptions{50, seed});
    const KMeansResult<TestType> r = kmeans.fit(points.data(), n);
    REQUIRE(r.k == 3);
    CHECK(r.converged);
    check_same_partition(r.assignment, blob);
    double objective = 0.0;
    for (std::int32_t c = 0; c < 3; ++c) {
      double mean[2] = {0.0, 0.0};
      int count = 0;
      for (Index i = 0; i < n; ++i) {
        if (r.assignment[static_cast<std::size_t>(i)] != c) continue;
        mean[0] += static_cast<double>(points[static_cast<std::size_t>(2 * i)]);
        mean[1] += static_cast<double>(points[static_cast<std::size_t>(2 * i + 1)]);
        ++count;
      }
      for (double& m : mean) m /= count;
      CHECK(static_cast<double>(r.centroids[static_cast<std::size_t>(2 * c)]) == Approx(mean[0]).margin(1e-6));
      CHECK(static_cast<double>(r.centroids[static_cast<std::size_t>(2 * c + 1)]) == Approx(mean[1]).margin(1e-6));
      for (Index i = 0; i < n; ++i) {
        if (r.assignment[static_cast<std::size_t>(i)] != c) continue;
        const double dx = static_cast<double>(points[static_cast<std::size_t>(2 * i)]) - mean[0];
        const double dy = static_cast<double>(points[static_cast<std::size_t>(2 * i + 1)]) - mean[1];
        objective += dx * dx + dy * dy;
      }
    }
    CHECK(r.objective == Approx(objective).epsilon(1e-5));
  }
}

TEMPLATE_TEST_CASE("k-means gives the same clusters for any order of the points, given a seed", "[data][clustering]",
                   float, double) {
  dare::detail::DataRng rng(11);
  const Index n = 300;
  std::vector<TestType> points;
  for (Index i = 0; i < 2 * n; ++i) points.push_back(static_cast<TestType>(rng.uniform()));
  KMeans<TestType> kmeans(6, 2, KMeansOptions{100, 42});
  const KMeansResult<TestType> base = kmeans.fit(points.data(), n);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<std::size_t> perm(static_cast<std::size_t>(n));
    std::iota(perm.begin(), perm.end(), std::size_t{0});
    for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
    std::vector<TestType> shuffled;
    for (const std::size_t p : perm) {
      shuffled.push_back(points[2 * p]);
      shuffled.push_back(points[2 * p + 1]);
    }
    const KMeansResult<TestType> r = kmeans.fit(shuffled.data(), n);
    CHECK(r.centroids == base.centroids);  // bit for bit, numbering included
    CHECK(r.objective == base.objective);
    CHECK(r.iterations == base.iterations);
    for (std::size_t i = 0; i < perm.size(); ++i) REQUIRE(r.assignment[i] == base.assignment[perm[i]]);
  }
  // Deterministic for a seed; another seed still gives a valid clustering.
  CHECK(kmeans.fit(points.data(), n).assignment == base.assignment);
  KMeans<TestType> other(6, 2, KMeansOptions{100, 43});
  const KMeansResult<TestType> r = other.fit(points.data(), n);
  CHECK(r.k == 6);
  CHECK(r.objective > 0.0);
}

TEST_CASE("k-means with k >= n gives every distinct point its own cluster", "[data][clustering]") {
  const std::vector<double> points = {0, 0, 1, 0, 0, 1, 5, 5, 2, 3};
  for (const Index k : {5, 6, 100}) {
    KMeans<double> kmeans(k, 2);
    const KMeansResult<double> r = kmeans.fit(points.data(), 5);
    CHECK(r.k == 5);
    CHECK(r.objective == 0.0);
    CHECK(r.converged);
    CHECK(std::set<std::int32_t>(r.assignment.begin(), r.assignment.end()).size() == 5);
    for (std::size_t i = 0; i < 5; ++i) {
      const auto c = static_cast<std::size_t>(r.assignment[i]);
      CHECK(r.centroids[2 * c] == points[2 * i]);
      CHECK(r.centroids[2 * c + 1] == points[2 * i + 1]);
    }
  }
  // Duplicates: k shrinks to the number of distinct points; equal points share a cluster.
  const std::vector<float> dup = {1, 1, 3, 3, 1, 1, 1, 1};
  KMeans<float> kmeans(4, 2);
  const KMeansResult<float> r = kmeans.fit(dup.data(), 4);
  CHECK(r.k == 2);
  CHECK(r.assignment[0] == r.assignment[2]);
  CHECK(r.assignment[0] == r.assignment[3]);
  CHECK(r.assignment[0] != r.assignment[1]);
  // One point, one cluster.
  CHECK(KMeans<float>(3, 2).fit(dup.data(), 1).k == 1);
}

TEST_CASE("k-means stops at max_iterations and checks its arguments", "[data][clustering]") {
  dare::detail::DataRng rng(5);
  std::vector<double> points;
  for (int i = 0; i < 400; ++i) points.push_back(rng.uniform());
  KMeans<double> once(8, 2, KMeansOptions{1, 0});
  const KMeansResult<double> r1 = once.fit(points.data(), 200);
  CHECK(r1.iterations == 1);
  CHECK_FALSE(r1.converged);
  // Stopped early, the result is still an assignment and its means, no cluster empty.
  CHECK(std::set<std::int32_t>(r1.assignment.begin(), r1.assignment.end()).size() == 8);
  for (std::int32_t c = 0; c < 8; ++c) {
    double sum = 0.0;
    int count = 0;
    for (std::size_t i = 0; i < 200; ++i) {
      if (r1.assignment[i] != c) continue;
      sum += points[2 * i];
      ++count;
    }
    CHECK(r1.centroids[static_cast<std::size_t>(2 * c)] == Approx(sum / count));
  }
  KMeans<double> many(8, 2, KMeansOptions{1000, 0});
  const KMeansResult<double> r = many.fit(points.data(), 200);
  CHECK(r.converged);
  CHECK(r.objective <= r1.objective);  // Lloyd's steps never increase the objective
  CHECK_THROWS_AS(KMeans<double>(0, 2), std::invalid_argument);
  CHECK_THROWS_AS(KMeans<double>(2, 0), std::invalid_argument);
  CHECK_THROWS_WITH(many.fit(points.data(), 0), Catch::Contains("at least one point"));
  points[7] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(many.fit(points.data(), 200), Catch::Contains("point 3 coordinate 1 is not finite"));
}

TEST_CASE("history clusters hold at most γ behaviours of one category, numbered by first occurrence",
          "[data][clustering]") {
  for (const Index branching : {2, 3, 0}) {
    for (const Index gamma : {1, 3, 10, 20}) {
      for (const Index n : {0, 1, 9, 57, 400, 1500}) {
        const History h = random_history(n, 12, static_cast<std::uint64_t>(n * 31 + gamma));
        HistoryClusterOptions o;
        o.max_size = gamma;
        o.branching = branching;
        std::vector<std::int32_t> cluster(static_cast<std::size_t>(n), -1);
        const Index count = dare::cluster_history(h.cats.data(), h.features.data(), n, cluster.data(), o);
        check_clusters(h, cluster, count, gamma);
        // Splits only where needed: at least ceil(size / γ) per category, never a split below γ.
        std::map<Id, Index> per_cat;
        for (const Id c : h.cats) ++per_cat[c];
        Index least = 0;
        for (const auto& [c, size] : per_cat) least += (size + gamma - 1) / gamma;
        CHECK(count >= least);
        if (gamma == 1) CHECK(count == n);
      }
    }
  }
}

TEST_CASE("history clustering is deterministic, and a reused clusterer equals fresh calls", "[data][clustering]") {
  HistoryClusterOptions o;
  o.max_size = 5;
  o.seed = 9;
  dare::HistoryClusterer reused(o);
  for (int user = 0; user < 20; ++user) {
    const auto n = static_cast<Index>(50 + 37 * user);
    const History h = random_history(n, 4 + user, static_cast<std::uint64_t>(user));
    std::vector<std::int32_t> a(static_cast<std::size_t>(n));
    std::vector<std::int32_t> b(static_cast<std::size_t>(n));
    const Index ca = dare::cluster_history(h.cats.data(), h.features.data(), n, a.data(), o);
    const Index cb = reused.run(h.cats.data(), h.features.data(), n, b.data());
    CHECK(ca == cb);
    CHECK(a == b);
  }
}

TEST_CASE("history clustering: small groups stay whole, clear gaps are found, equal points are cut in runs",
          "[data][clustering]") {
  HistoryClusterOptions o;
  o.max_size = 5;
  // Categories 7, 8, 7, 9, 8: three groups of at most 5, one cluster each.
  {
    const std::vector<Id> cats = {7, 8, 7, 9, 8};
    const std::vector<float> f = {0, 0.5f, 0.25f, 0.5f, 0.5f, 0.5f, 0.75f, 0.5f, 1, 0.5f};
    std::vector<std::int32_t> cluster(5);
    CHECK(dare::cluster_history(cats.data(), f.data(), 5, cluster.data(), o) == 3);
    CHECK(cluster == std::vector<std::int32_t>{0, 1, 0, 2, 1});
  }
  // One category of 10: five old popular behaviours and five recent rare ones, interleaved
  // in popularity, split by the gap between them.
  {
    std::vector<Id> cats(10, 3);
    std::vector<float> f;
    for (int p = 0; p < 10; ++p) {
      f.push_back(static_cast<float>(p) / 9.0f);
      f.push_back(p < 5 ? 0.9f + 0.01f * static_cast<float>(p) : 0.1f + 0.01f * static_cast<float>(p));
    }
    std::vector<std::int32_t> cluster(10);
    for (const Index branching : {2, 0}) {
      o.branching = branching;
      CHECK(dare::cluster_history(cats.data(), f.data(), 10, cluster.data(), o) == 2);
      CHECK(cluster == std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
    }
  }
  // 12 equal feature vectors cannot be split by k-means: runs of γ in sequence order.
  {
    const std::vector<Id> cats(12, 1);
    const std::vector<float> f(24, 0.5f);
    std::vector<std::int32_t> cluster(12);
    o.branching = 2;
    CHECK(dare::cluster_history(cats.data(), f.data(), 12, cluster.data(), o) == 3);
    CHECK(cluster == std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2});
  }
  CHECK_THROWS_WITH(dare::HistoryClusterer(HistoryClusterOptions{0}), Catch::Contains("max_size must be at least 1"));
  HistoryClusterOptions one;
  one.branching = 1;
  CHECK_THROWS_WITH(dare::HistoryClusterer{one}, Catch::Contains("branching must be 0"));
}

TEST_CASE("the clustering features are recency in the sequence and log popularity in the training part",
          "[data][clustering]") {
  // Two users; item 2 is clicked 3 times in training, once more as user 0's test target.
  dare::DatasetData d;
  d.num_cats = 3;
  d.max_len = 4;
  d.group_size = 1;
  d.user_offsets = {0, 5, 8};
  d.user_ids = {1, 2};
  d.raw_user_ids = {1, 2};
  d.click_items = {1, 2, 2, 3, 2, 2, 4, 1};
  d.click_cats = {1, 1, 1, 2, 1, 1, 2, 1};
  d.item_category = {0, 1, 1, 2, 2};
  d.raw_item_ids = {0, 1, 2, 3, 4};
  d.raw_cat_ids = {0, 1, 2};
  d.provenance.options.max_len = 4;
  d.provenance.options.negatives = 0;
  d.train = {{0, 2, 2, 1, 1}};
  d.val = {{0, 3, 3, 2, 1}, {1, 1, 4, 2, 1}};
  d.test = {{0, 4, 2, 1, 1}, {1, 2, 1, 1, 1}};
  const std::vector<float> pop = dare::item_popularity(d);
  // Training-part counts: item 1: 1 (user 1's last click is the test target), item 2: 3,
  // item 3: 0 (user 0's validation target), item 4: 0.
  const double top = std::log1p(3.0);
  REQUIRE(pop.size() == 5);
  CHECK(pop[0] == 0.0f);
  CHECK(pop[1] == static_cast<float>(std::log1p(1.0) / top));
  CHECK(pop[2] == 1.0f);
  CHECK(pop[3] == 0.0f);
  CHECK(pop[4] == 0.0f);
  std::vector<float> f(10);
  dare::history_features(d.click_items.data(), 5, pop, f.data());
  CHECK(f == std::vector<float>{0.0f, pop[1], 0.25f, 1.0f, 0.5f, 1.0f, 0.75f, 0.0f, 1.0f, 1.0f});
  dare::history_features(d.click_items.data(), 1, pop, f.data());
  CHECK(f[0] == 0.0f);
  // cluster_histories runs every user through these features.
  HistoryClusterOptions o;
  o.max_size = 2;
  long long clusters = 0;
  const std::vector<std::int32_t> ids = dare::cluster_histories(d, o, &clusters);
  REQUIRE(ids.size() == 8);
  Index total = 0;
  for (Index u = 0; u < 2; ++u) {
    const auto b = static_cast<std::ptrdiff_t>(d.user_offsets[static_cast<std::size_t>(u)]);
    const auto n = static_cast<Index>(d.user_offsets[static_cast<std::size_t>(u) + 1] - d.user_offsets[static_cast<std::size_t>(u)]);
    std::vector<float> uf(static_cast<std::size_t>(2 * n));
    dare::history_features(d.click_items.data() + b, n, pop, uf.data());
    std::vector<std::int32_t> expect(static_cast<std::size_t>(n));
    total += dare::cluster_history(d.click_cats.data() + b, uf.data(), n, expect.data(), o);
    CHECK(std::vector<std::int32_t>(ids.begin() + b, ids.begin() + b + n) == expect);
  }
  CHECK(clusters == total);
}
