// Benchmarks of the search stage (GSU): score N history rows of attention width A against one
// target with dot_rows, keep the top K = 20 with TopK. Side by side:
//   BM_search<A>/N            dare::dot_rows<A> + dare::TopK (the library's search stage)
//   BM_search_scalar<A>/N     reference::dot_rows + std::nth_element (+ sort of the K kept):
//                             what a straightforward implementation does
//   BM_search_faiss<A>/N      faiss::IndexFlatIP::search for one query, k = 20 (if FAISS was
//                             found): the exhaustive inner-product search DESIGN.md compares to
//   BM_dot_rows<A>/N, BM_topk/N   the two halves alone
// The time per iteration is the time per query. Each iteration takes the next of 16 query
// vectors, so the scores (and TopK's branches) change from call to call as they do in use;
// with one fixed query the branch predictor learns a 200-long history and flatters every
// selection method. Counters: bytes/s of rows read (N*A*4 per query) and items/s = rows
// scored per second.
// Run e.g.: dare_bench --benchmark_filter='<(16|64)>/(200|10000)$' --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "dare/core/aligned.hpp"
#include "dare/search/dot_kernels.hpp"
#include "dare/search/topk.hpp"

#if defined(DARE_BENCH_HAVE_FAISS)
#  include <faiss/IndexFlat.h>
#endif

namespace {

using dare::Index;
constexpr Index kTopK = 20;

constexpr Index kQueries = 16;

/// N rows of width A (rows `aligned_stride` apart) and kQueries queries, standard normal.
template <int A>
struct SearchInput {
  explicit SearchInput(Index n) : n(n), stride(dare::aligned_stride<float>(A)) {
    std::mt19937 rng(2025);
    std::normal_distribution<float> normal;
    rows.resize(static_cast<std::size_t>(n * stride));
    for (Index i = 0; i < n; ++i)
      for (Index k = 0; k < A; ++k) rows[i * stride + k] = normal(rng);
    queries.resize(static_cast<std::size_t>(kQueries * A));
    for (auto& q : queries) q = normal(rng);
  }
  /// The query for iteration `it`.
  const float* query(Index it) const { return queries.data() + (it % kQueries) * A; }

  Index n;
  Index stride;
  dare::AlignedVector<float> rows;
  dare::AlignedVector<float> queries;
};

void set_counters(benchmark::State& state, Index n, Index width) {
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * width * Index(sizeof(float)));
}

template <int A>
void BM_search(benchmark::State& state) {
  const SearchInput<A> in(state.range(0));
  dare::AlignedVector<float> scores(static_cast<std::size_t>(in.n));
  dare::TopK<float> topk(kTopK);
  std::vector<Index> positions(kTopK);
  std::vector<float> best(kTopK);
  Index it = 0;
  for (auto _ : state) {
    dare::dot_rows<A>(in.query(it++), in.rows.data(), in.n, in.stride, scores.data());
    topk.select(scores.data(), in.n, nullptr, positions.data(), best.data());
    benchmark::DoNotOptimize(positions.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, in.n, A);
}

template <int A>
void BM_search_scalar(benchmark::State& state) {
  const SearchInput<A> in(state.range(0));
  std::vector<float> scores(static_cast<std::size_t>(in.n));
  std::vector<Index> order(static_cast<std::size_t>(in.n));
  Index it = 0;
  for (auto _ : state) {
    dare::reference::dot_rows(in.query(it++), in.rows.data(), in.n, in.stride, scores.data(),
                              Index(A));
    std::iota(order.begin(), order.end(), Index(0));
    const auto better = [&](Index a, Index b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a > b);
    };
    std::nth_element(order.begin(), order.begin() + kTopK - 1, order.end(), better);
    std::sort(order.begin(), order.begin() + kTopK, better);
    benchmark::DoNotOptimize(order.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, in.n, A);
}

template <int A>
void BM_dot_rows(benchmark::State& state) {
  const SearchInput<A> in(state.range(0));
  dare::AlignedVector<float> scores(static_cast<std::size_t>(in.n));
  Index it = 0;
  for (auto _ : state) {
    dare::dot_rows<A>(in.query(it++), in.rows.data(), in.n, in.stride, scores.data());
    benchmark::DoNotOptimize(scores.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, in.n, A);
}

void BM_topk(benchmark::State& state) {
  const Index n = state.range(0);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> scores(static_cast<std::size_t>(n * kQueries));
  for (auto& s : scores) s = normal(rng);
  dare::TopK<float> topk(kTopK);
  std::vector<Index> positions(kTopK);
  std::vector<float> best(kTopK);
  Index it = 0;
  for (auto _ : state) {
    topk.select(scores.data() + (it++ % kQueries) * n, n, nullptr, positions.data(), best.data());
    benchmark::DoNotOptimize(positions.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}

#if defined(DARE_BENCH_HAVE_FAISS)
template <int A>
void BM_search_faiss(benchmark::State& state) {
  const SearchInput<A> in(state.range(0));
  faiss::IndexFlatIP index(A);
  std::vector<float> packed(static_cast<std::size_t>(in.n * A));  // FAISS rows are dense
  for (Index i = 0; i < in.n; ++i)
    std::copy(in.rows.begin() + i * in.stride, in.rows.begin() + i * in.stride + A,
              packed.begin() + i * A);
  index.add(in.n, packed.data());
  std::vector<float> distances(kTopK);
  std::vector<faiss::Index::idx_t> labels(kTopK);
  Index it = 0;
  for (auto _ : state) {
    index.search(1, in.query(it++), kTopK, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, in.n, A);
}
#endif

void history_lengths(benchmark::internal::Benchmark* b) {
  for (int n : {200, 1000, 10000, 100000}) b->Arg(n);
}

#define DARE_SEARCH_BENCHMARKS(A)                                     \
  BENCHMARK_TEMPLATE(BM_search, A)->Apply(history_lengths);           \
  BENCHMARK_TEMPLATE(BM_search_scalar, A)->Apply(history_lengths);    \
  BENCHMARK_TEMPLATE(BM_dot_rows, A)->Apply(history_lengths);

DARE_SEARCH_BENCHMARKS(8)
DARE_SEARCH_BENCHMARKS(16)
DARE_SEARCH_BENCHMARKS(32)
DARE_SEARCH_BENCHMARKS(64)
DARE_SEARCH_BENCHMARKS(128)
DARE_SEARCH_BENCHMARKS(256)
BENCHMARK(BM_topk)->Apply(history_lengths);

#if defined(DARE_BENCH_HAVE_FAISS)
BENCHMARK_TEMPLATE(BM_search_faiss, 8)->Apply(history_lengths);
BENCHMARK_TEMPLATE(BM_search_faiss, 16)->Apply(history_lengths);
BENCHMARK_TEMPLATE(BM_search_faiss, 32)->Apply(history_lengths);
BENCHMARK_TEMPLATE(BM_search_faiss, 64)->Apply(history_lengths);
BENCHMARK_TEMPLATE(BM_search_faiss, 128)->Apply(history_lengths);
BENCHMARK_TEMPLATE(BM_search_faiss, 256)->Apply(history_lengths);
#endif

}  // namespace
