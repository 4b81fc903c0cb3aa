#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "dare/analysis/discriminability.hpp"
#include "dare/data/sampling.hpp"

using dare::ConstSpan;
using dare::Index;

namespace {

ConstSpan<std::int32_t> span(const std::vector<std::int32_t>& v) {
  return ConstSpan<std::int32_t>(v.data(), static_cast<Index>(v.size()));
}

/// `blobs` tight Gaussian blobs in `dim` dimensions with centres 50 apart on the axes,
/// `per_blob` points each, interleaved in the input; blob_of[i] is each point's blob.
std::vector<float> separated_blobs(int blobs, int per_blob, int dim, std::vector<int>& blob_of) {
  dare::detail::DataRng rng(11);
  std::vector<float> rows;
  blob_of.clear();
  for (int i = 0; i < per_blob; ++i) {
    for (int b = 0; b < blobs; ++b) {
      for (int j = 0; j < dim; ++j) {
        const double centre = (j == b % dim ? 50.0 : 0.0) * (1 + b / dim);
        rows.push_back(static_cast<float>(centre + rng.normal()));
      }
      blob_of.push_back(b);
    }
  }
  return rows;
}

}  // namespace

TEST_CASE("cluster-label MI of a hand-computed table, in nats, with the arithmetic normalisation", "[analysis]") {
  // Clusters 0, 1, 2 hold (label 0, label 1) = (4, 0), (1, 2), (1, 2); N = 10.
  // MI = 0.4 ln(0.4 / (0.4 * 0.6)) + 2 * [0.1 ln(0.1 / (0.3 * 0.6)) + 0.2 ln(0.2 / (0.3 * 0.4))].
  const std::vector<std::int32_t> cluster = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
  const std::vector<std::int32_t> label = {0, 0, 0, 0, 1, 1, 0, 1, 1, 0};
  const dare::ClusterLabelInformation r = dare::cluster_label_information(span(cluster), span(label), 3);
  const double mi = 0.4 * std::log(0.4 / (0.4 * 0.6)) + 2 * (0.1 * std::log(0.1 / (0.3 * 0.6)) + 0.2 * std::log(0.2 / (0.3 * 0.4)));
  CHECK(mi == Approx(0.29110316603236880).epsilon(1e-14));
  CHECK(r.mutual_information == Approx(mi).epsilon(1e-12));
  CHECK(r.label_entropy == Approx(-(0.6 * std::log(0.6) + 0.4 * std::log(0.4))).epsilon(1e-12));
  CHECK(r.cluster_entropy == Approx(-(0.4 * std::log(0.4) + 0.6 * std::log(0.3))).epsilon(1e-12));
  CHECK(r.normalized == Approx(0.33044014130397753).epsilon(1e-12));
  CHECK(r.clusters == 3);
  // An empty cluster id (k = 5 with ids 0 .. 2) changes nothing.
  const dare::ClusterLabelInformation wide = dare::cluster_label_information(span(cluster), span(label), 5);
  CHECK(wide.mutual_information == Approx(mi).epsilon(1e-12));
  CHECK(wide.clusters == 3);
}

TEST_CASE("cluster-label MI is H(label) for pure clusters and 0 for one cluster or a constant label", "[analysis]") {
  const std::vector<std::int32_t> cluster = {0, 0, 1, 1, 1, 2, 3, 3};
  const std::vector<std::int32_t> pure = {1, 1, 0, 0, 0, 1, 0, 0};  // each cluster one label
  const auto r = dare::cluster_label_information(span(cluster), span(pure), 4);
  CHECK(r.mutual_information == Approx(r.label_entropy).epsilon(1e-12));
  CHECK(r.label_entropy == Approx(-(3.0 / 8 * std::log(3.0 / 8) + 5.0 / 8 * std::log(5.0 / 8))).epsilon(1e-12));
  const std::vector<std::int32_t> one(8, 0);
  CHECK(dare::cluster_label_information(span(one), span(pure), 1).mutual_information == 0.0);
  const std::vector<std::int32_t> constant(8, 1);
  const auto c = dare::cluster_label_information(span(cluster), span(constant), 4);
  CHECK(c.mutual_information == 0.0);
  CHECK(c.label_entropy == 0.0);
  CHECK(c.normalized == 0.0);
}

TEST_CASE("cluster-label MI rejects mismatched sizes, cluster ids out of range and labels other than 0 and 1",
          "[analysis]") {
  const std::vector<std::int32_t> cluster = {0, 1, 1};
  const std::vector<std::int32_t> label = {0, 1, 1};
  const std::vector<std::int32_t> two = {0, 1};
  CHECK_THROWS_AS(dare::cluster_label_information(span(cluster), span(two), 2), std::invalid_argument);
  CHECK_THROWS_WITH(dare::cluster_label_information(span(cluster), span(label), 1),
                    Catch::Contains("sample 1") && Catch::Contains("cluster 1"));
  const std::vector<std::int32_t> bad = {0, 2, 1};
  CHECK_THROWS_WITH(dare::cluster_label_information(span(cluster), span(bad), 2),
                    Catch::Contains("sample 1") && Catch::Contains("label 2"));
  CHECK_THROWS_AS(dare::cluster_label_information(ConstSpan<std::int32_t>(), ConstSpan<std::int32_t>(), 2),
                  std::invalid_argument);
}

TEST_CASE("labels drawn independently of the clusters give MI near the chance level (k - 1) / (2N)", "[analysis]") {
  // Fixed equal clusters, many independent label draws: the mean plug-in MI is the chance
  // level to first order, and no draw is far above it.
  const Index n = 2000, k = 20;
  std::vector<std::int32_t> cluster(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) cluster[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % k);
  dare::detail::DataRng rng(5);
  std::vector<std::int32_t> label(static_cast<std::size_t>(n));
  const int draws = 300;
  double mean = 0.0, most = 0.0;
  for (int d = 0; d < draws; ++d) {
    for (auto& y : label) y = rng.uniform() < 0.3 ? 1 : 0;
    const double mi = dare::cluster_label_information(span(cluster), span(label), k).mutual_information;
    mean += mi / draws;
    most = std::max(most, mi);
  }
  const double chance = dare::chance_mutual_information(k, n);
  CHECK(chance == Approx(19.0 / 4000.0));
  // sd of one draw ≈ sqrt(2 (k - 1)) / (2N) = 0.0015; of the mean of 300, 0.00009 (2%).
  CHECK(mean == Approx(chance).epsilon(0.08));
  CHECK(most < chance + 5 * std::sqrt(2.0 * (k - 1)) / (2.0 * n));
}

TEST_CASE("discriminability of separable blobs whose labels follow the blob is H(label) at every k >= the blobs",
          "[analysis]") {
  // Four blobs labelled 1, 0, 0, 0: k = 4 recovers them; larger k only splits blobs, whose
  // parts stay pure; k = 2 must merge blobs, so it keeps less.
  std::vector<int> blob_of;
  const int dim = 6;
  const std::vector<float> rows = separated_blobs(4, 60, dim, blob_of);
  std::vector<std::int32_t> label;
  for (const int b : blob_of) label.push_back(b == 0 ? 1 : 0);
  const Index n = static_cast<Index>(label.size());
  const double h = -(0.25 * std::log(0.25) + 0.75 * std::log(0.75));
  dare::DiscriminabilityOptions o;
  o.ks = {4, 2, 12, 40};
  o.kmeans.seed = 3;
  o.threads = 1;
  const auto points = dare::discriminability(rows.data(), n, dim, span(label), o);
  REQUIRE(points.size() == 4);
  for (std::size_t j = 0; j < points.size(); ++j) {
    CAPTURE(o.ks[j]);
    CHECK(points[j].k == o.ks[j]);  // in the order of ks
    CHECK(points[j].clusters == o.ks[j]);
    CHECK(points[j].info.label_entropy == Approx(h).epsilon(1e-12));
    CHECK(points[j].converged);
  }
  CHECK(points[0].info.mutual_information == Approx(h).epsilon(1e-12));
  CHECK(points[0].info.normalized == Approx(2 * h / (h + std::log(4.0))).epsilon(1e-12));
  CHECK(points[1].info.mutual_information < h);
  CHECK(points[2].info.mutual_information == Approx(h).epsilon(1e-12));
  CHECK(points[3].info.mutual_information == Approx(h).epsilon(1e-12));
}

TEST_CASE("discriminability of rows unrelated to the labels stays within the chance bound", "[analysis]") {
  const Index n = 3000, dim = 5;
  dare::detail::DataRng rng(21);
  std::vector<float> rows(static_cast<std::size_t>(n * dim));
  for (float& x : rows) x = static_cast<float>(rng.normal());
  std::vector<std::int32_t> label(static_cast<std::size_t>(n));
  for (auto& y : label) y = rng.uniform() < 1.0 / 3 ? 1 : 0;
  dare::DiscriminabilityOptions o;
  o.ks = {2, 10, 50};
  o.threads = 2;
  const auto points = dare::discriminability(rows.data(), n, dim, span(label), o);
  for (const auto& p : points) {
    CAPTURE(p.k);
    CHECK(p.info.mutual_information >= 0.0);
    CHECK(p.info.mutual_information < dare::chance_mutual_information(p.k, n) +
                                          5 * std::sqrt(2.0 * static_cast<double>(p.k - 1)) / (2.0 * n));
  }
}

TEST_CASE("discriminability gives the same figures on any number of workers", "[analysis]") {
  std::vector<int> blob_of;
  const std::vector<float> rows = separated_blobs(7, 40, 4, blob_of);
  std::vector<std::int32_t> label;
  dare::detail::DataRng rng(2);
  for (const int b : blob_of) label.push_back(rng.uniform() < 0.15 * b ? 1 : 0);  // label depends on the blob
  const Index n = static_cast<Index>(label.size());
  dare::DiscriminabilityOptions o;
  o.ks = {2, 3, 5, 7, 20, 60};
  o.kmeans.seed = 9;
  o.threads = 1;
  const auto one = dare::discriminability(rows.data(), n, 4, span(label), o);
  o.threads = 4;
  const auto four = dare::discriminability(rows.data(), n, 4, span(label), o);
  for (std::size_t j = 0; j < one.size(); ++j) {
    CAPTURE(o.ks[j]);
    CHECK(one[j].k == four[j].k);
    CHECK(one[j].objective == four[j].objective);
    CHECK(one[j].info.mutual_information == four[j].info.mutual_information);
    CHECK(one[j].info.mutual_information > 0.0);
  }
}

TEST_CASE("discriminability rejects bad arguments before any fit", "[analysis]") {
  const std::vector<float> rows = {0, 1, 2, 3};
  const std::vector<std::int32_t> label = {0, 1};
  dare::DiscriminabilityOptions o;
  o.ks = {2, 0};
  CHECK_THROWS_WITH(dare::discriminability(rows.data(), 2, 2, span(label), o), Catch::Contains("k must be at least 1"));
  o.ks = {};
  CHECK_THROWS_AS(dare::discriminability(rows.data(), 2, 2, span(label), o), std::invalid_argument);
  o.ks = {2};
  CHECK_THROWS_AS(dare::discriminability(rows.data(), 1, 2, span(label), o), std::invalid_argument);
  const std::vector<std::int32_t> bad = {0, 3};
  CHECK_THROWS_WITH(dare::discriminability(rows.data(), 2, 2, span(bad), o), Catch::Contains("label 3"));
  o.kmeans.max_iterations = 0;
  CHECK_THROWS_AS(dare::discriminability(rows.data(), 2, 2, span(label), o), std::invalid_argument);
}

TEST_CASE("standardize_columns gives every column mean 0 and variance 1, and a constant column 0", "[analysis]") {
  const Index n = 500, dim = 3;
  dare::detail::DataRng rng(8);
  std::vector<double> rows(static_cast<std::size_t>(n * dim));
  for (Index i = 0; i < n; ++i) {
    rows[static_cast<std::size_t>(i * dim)] = 1000.0 + 50.0 * rng.normal();
    rows[static_cast<std::size_t>(i * dim + 1)] = 0.001 * rng.uniform();
    rows[static_cast<std::size_t>(i * dim + 2)] = 7.0;
  }
  dare::standardize_columns(rows.data(), n, dim);
  for (Index j = 0; j < 2; ++j) {
    double mean = 0.0, sq = 0.0;
    for (Index i = 0; i < n; ++i) mean += rows[static_cast<std::size_t>(i * dim + j)] / n;
    for (Index i = 0; i < n; ++i) sq += std::pow(rows[static_cast<std::size_t>(i * dim + j)] - mean, 2) / n;
    CHECK(std::abs(mean) < 1e-12);
    CHECK(sq == Approx(1.0).epsilon(1e-12));
  }
  for (Index i = 0; i < n; ++i) CHECK(rows[static_cast<std::size_t>(i * dim + 2)] == 0.0);
}

TEST_CASE("standardising lets a narrow informative coordinate outweigh a wide uninformative one", "[analysis]") {
  // Column 0: the label ± 0.01 (narrow, informative); column 1: uniform in [-100, 100].
  // Raw, k = 2 splits column 1 and keeps nothing of the label; standardised, splitting
  // column 0 explains all of its variance against 3/4 of column 1's, so k = 2 finds the label.
  const Index n = 1200;
  dare::detail::DataRng rng(4);
  std::vector<float> rows(static_cast<std::size_t>(2 * n));
  std::vector<std::int32_t> label(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    label[static_cast<std::size_t>(i)] = rng.uniform() < 0.4 ? 1 : 0;
    rows[static_cast<std::size_t>(2 * i)] = static_cast<float>(label[static_cast<std::size_t>(i)] + 0.01 * rng.normal());
    rows[static_cast<std::size_t>(2 * i + 1)] = static_cast<float>(200.0 * rng.uniform() - 100.0);
  }
  dare::DiscriminabilityOptions o;
  o.ks = {2};
  const auto raw = dare::discriminability(rows.data(), n, 2, span(label), o);
  CHECK(raw[0].info.mutual_information < 0.01);
  dare::standardize_columns(rows.data(), n, 2);
  const auto standardized = dare::discriminability(rows.data(), n, 2, span(label), o);
  CHECK(standardized[0].info.mutual_information == Approx(standardized[0].info.label_entropy).epsilon(1e-12));
}
