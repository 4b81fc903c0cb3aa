// hamming_recall — how much of the float search ETA's Hamming search keeps. For N keys and Q
// queries of width D (default 32: the 2A = 32-float attention key of A = 16), the fraction
// of the dot-product top-K (and of the cosine top-K, what SimHash estimates: it sees angles,
// not norms) that the Hamming top-K of SimHash signatures finds, for 32, 64, 128 and 256
// bits; and the fraction of the dot top-K inside the Hamming top-4K (ETA's search with a
// wider net). Keys are i.i.d. Gaussian, or clustered: C Gaussian centres, each key and query
// a centre plus spread * Gaussian noise (several behaviours of one interest).
//
//   hamming_recall [--n N]... [--queries Q] [--k K] [--dim D] [--clusters C] [--spread S]
//                  [--seeds S]
//
// Every (keys, N, bits) row averages Q queries x S SimHash seeds.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dare/search/dot_kernels.hpp"
#include "dare/search/hamming.hpp"
#include "dare/search/topk.hpp"

namespace {

using dare::Index;

struct Data {
  std::vector<float> keys, queries;  // n x dim, q x dim
};

Data make_data(Index n, Index q, Index dim, Index clusters, double spread, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Data d{std::vector<float>(std::size_t(n * dim)), std::vector<float>(std::size_t(q * dim))};
  std::vector<double> centres(std::size_t(std::max<Index>(clusters, 1) * dim));
  for (auto& c : centres) c = normal(rng);
  std::uniform_int_distribution<Index> pick(0, std::max<Index>(clusters, 1) - 1);
  const auto fill = [&](std::vector<float>& rows, Index count) {
    for (Index r = 0; r < count; ++r) {
      const Index c = pick(rng);
      for (Index k = 0; k < dim; ++k) {
        const double x = clusters > 0 ? centres[std::size_t(c * dim + k)] + spread * normal(rng) : normal(rng);
        rows[std::size_t(r * dim + k)] = static_cast<float>(x);
      }
    }
  };
  fill(d.keys, n);
  fill(d.queries, q);
  return d;
}

/// |a ∩ b| for two sets of positions.
Index overlap(std::vector<Index> a, std::vector<Index> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<Index> both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  return Index(both.size());
}

struct Recall {
  double dot = 0, cosine = 0, dot_in_wide = 0;
};

Recall measure(const Data& d, Index n, Index q, Index dim, Index k, Index bits, Index seeds) {
  // Float references: dot products and cosines (dot / |key|; the query's norm ranks nothing).
  std::vector<float> norms(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    double s = 0;
    for (Index c = 0; c < dim; ++c) s += double(d.keys[std::size_t(i * dim + c)]) * d.keys[std::size_t(i * dim + c)];
    norms[std::size_t(i)] = float(std::sqrt(s));
  }
  const Index wide = std::min(n, 4 * k);
  dare::TopK<float> topk(k);
  dare::HammingTopK<> hamming(k, bits), hamming_wide(wide, bits);
  std::vector<float> scores(static_cast<std::size_t>(n)), cosines(static_cast<std::size_t>(n)), best(static_cast<std::size_t>(k));
  std::vector<Index> by_dot(static_cast<std::size_t>(k)), by_cosine(static_cast<std::size_t>(k)), by_hamming(static_cast<std::size_t>(k)),
      by_hamming_wide(static_cast<std::size_t>(wide));
  std::vector<std::uint16_t> distances(static_cast<std::size_t>(wide));
  Recall r;
  for (Index s = 0; s < seeds; ++s) {
    const dare::SimHash<float> hash(dim, bits, 1000 + std::uint64_t(s));
    std::vector<std::uint32_t> sigs(std::size_t(n * hash.words())), query_sig(std::size_t(hash.words()));
    hash.sign_rows(d.keys.data(), n, dim, sigs.data());
    for (Index j = 0; j < q; ++j) {
      const float* query = d.queries.data() + j * dim;
      dare::dot_rows(query, d.keys.data(), n, dim, scores.data(), dim);
      for (Index i = 0; i < n; ++i) cosines[std::size_t(i)] = scores[std::size_t(i)] / norms[std::size_t(i)];
      topk.select(scores.data(), n, nullptr, by_dot.data(), best.data());
      topk.select(cosines.data(), n, nullptr, by_cosine.data(), best.data());
      hash.sign(query, query_sig.data());
      hamming.search(query_sig.data(), sigs.data(), n, nullptr, by_hamming.data(), distances.data());
      hamming_wide.search(query_sig.data(), sigs.data(), n, nullptr, by_hamming_wide.data(), distances.data());
      r.dot += double(overlap(by_hamming, by_dot)) / double(k);
      r.cosine += double(overlap(by_hamming, by_cosine)) / double(k);
      r.dot_in_wide += double(overlap(by_hamming_wide, by_dot)) / double(k);
    }
  }
  const double runs = double(q * seeds);
  r.dot /= runs;
  r.cosine /= runs;
  r.dot_in_wide /= runs;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Index> lengths = {200, 1000, 10000};
  Index queries = 200, k = 20, dim = 32, clusters = 20, seeds = 4;
  double spread = 0.5;
  CLI::App app{"Recall of the float top-K by ETA's Hamming top-K (SimHash signatures)"};
  app.add_option("--n", lengths, "history lengths (default 200 1000 10000)");
  app.add_option("--queries", queries, "queries per row (default 200)");
  app.add_option("--k", k, "K (default 20)");
  app.add_option("--dim", dim, "key width (default 32)");
  app.add_option("--clusters", clusters, "centres of the clustered keys (default 20)");
  app.add_option("--spread", spread, "noise around a centre (default 0.5; centres are N(0, 1))");
  app.add_option("--seeds", seeds, "SimHash seeds averaged per row (default 4)");
  CLI11_PARSE(app, argc, argv);

  std::printf("Hamming top-%ld vs float top-%ld, width %ld, %ld queries x %ld SimHash seeds per row\n", long(k),
              long(k), long(dim), long(queries), long(seeds));
  std::printf("%-10s %7s %5s %12s %15s %22s\n", "keys", "N", "bits", "recall(dot)", "recall(cosine)",
              "dot top-K in Ham top-4K");
  for (const bool clustered : {false, true}) {
    for (const Index n : lengths) {
      if (k > n) continue;
      const Data d = make_data(n, queries, dim, clustered ? clusters : 0, spread, 77 + std::uint64_t(n));
      for (const Index bits : {32, 64, 128, 256}) {
        const Recall r = measure(d, n, queries, dim, k, bits, seeds);
        std::printf("%-10s %7ld %5ld %12.3f %15.3f %22.3f\n", clustered ? "clustered" : "gaussian", long(n), long(bits),
                    r.dot, r.cosine, r.dot_in_wide);
      }
    }
  }
  return 0;
}
