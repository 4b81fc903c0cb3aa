// Benchmarks of the search stage (GSU): score N history rows of attention width A against one
// target (M = 1) or M = 100 candidate targets (batched ranking) and keep each target's top K.
//
// Case names: search/<method>/<hot|cold>/M:<m>/A:<a>/N:<n>/K:<k>, where <method> is
//   dare     the library: dare::MultiSearch<A>. For M = 1, dot_rows_max (the scores and the
//            group maxima of TopK's bound in one pass) + TopK::select_with_maxima; for
//            M = 100 and long histories a per-target threshold test inside the transposed
//            dot-product kernel, else dot_rows_multi + TopK (see multi_search.hpp)
//   dare_unfused  M = 100 only: dot_rows_multi<A> into the whole M x N matrix, then
//            TopK::select_many (what MultiSearch replaces)
//   dot      the same dot products alone (no K in the name): what the top-K adds
//   eigen_dot   Eigen's scores alone (GEMV, GEMM for M = 100), to set against dot
//   scalar   reference::dot_rows (a plain loop) + std::nth_element and a sort of the K kept
//   eigen    Eigen GEMV (GEMM for M = 100) over the same rows + the same nth_element top-K
//   faiss    FAISS exhaustive inner-product search, single-threaded: IndexFlatIP::search when
//            hot; cold, faiss::knn_inner_product on the history in place (the function
//            IndexFlatIP::search calls on its own copy of the rows), since an index per
//            history would double the 1 GiB pool
//   probe    search/probe/<hot|cold>/A:<a>/N:<n>: a plain read of the same N*A floats
//            (vector loads and adds), the machine's read bandwidth at that footprint
// ETA's Hamming search (dare/search/hamming.hpp) names B:<bits> (SimHash signature bits,
// B/8 bytes per behaviour) where the float cases name A:<a>:
//   hamming  search/hamming/<hot|cold>/M:1/B:<b>/N:<n>/K:<k>: dare::HammingTopK::search, the
//            Hamming distances of one query signature to N signatures and the K nearest
//   hamming_dist  search/hamming_dist/<hot|cold>/M:1/B:<b>/N:<n>: the distances alone
//            (default architecture: VPOPCNTDQ where the build has it); hamming_dist_avx2
//            and hamming_dist_popcnt (hot only): the AVX2 kernel and the scalar popcnt one
//            of the same build, for the kernel comparison of hamming.hpp's design note
//   probe    search/probe/<hot|cold>/B:<b>/N:<n>: the plain read of the same N*B/8 bytes
// Signatures come from a second 1 GiB pool of random bits (made on first use); the float
// cases to set them beside are dare/.../A:32 (ETA hashes the 2A = 32-float attention key of
// A = 16) and A:16.
// hot reads the same history every iteration (it stays in cache as far as it fits); cold
// reads the next history of a fixed random cycle through a 1 GiB pool, more than twice the
// last-level cache (480 MiB on the project's machine), so every history comes from memory.
// Rows are dense (stride A = aligned_stride(A) for these widths), 64-byte aligned.
//
// Time per iteration = one query (M targets). Counters: bytes_per_second = history bytes
// (N*A*4) per query, items_per_second = target-row scores (M*N) per query. A case's fraction
// of the machine's limit is its bytes/s over the probe's at the same footprint and temperature
// (scripts/search_report.py computes it). Iterations rotate through 16 query vectors (sets of
// M for batched ranking): with one fixed query the branch predictor learns a short history
// and flatters every selection method.
//
// Grid: A in {8, 16, 32, 64, 128, 256} (compile-time), N in {200, 1000, 10000, 100000},
// hot and cold, M in {1, 100}. The main grid has K = 20 everywhere and K in {50, 100} at
// N = 10000 (all widths); the rest of the K cross product is named search_full/... (same
// scheme). On the project's 2-core machine, with --benchmark_min_time=0.05 and 5 repetitions:
//   main grid (888 cases, ~7 min):   dare_bench --benchmark_filter='^search/'
//   full grid (1536 cases, ~15 min): dare_bench --benchmark_filter='^search'
// The Hamming rows (B in {32, 64, 128, 256}, M = 1, K = 20) and their float and probe
// counterparts:
//   dare_bench --benchmark_filter='^search/(hamming[a-z_0-9]*/.*|probe/[a-z]+/B:.*|probe/[a-z]+/A:(16|32)/.*|dare/[a-z]+/M:1/A:(16|32)/.*/K:20)$'
//   (160 cases, ~70 s); bench/hamming_recall prints how much of the float top-K they find.
// The slowest cases are the baselines at M = 100, N = 100000 (about 1 s per iteration).
// README.md ("Search speed") has the exact commands and scripts/search_report.py turns
// the JSON into docs/search_speed.{md,png}.
#include <benchmark/benchmark.h>

// GCC 12 warns (-Waggressive-loop-optimizations) inside Eigen's GEMV for a fixed-width
// map, on a loop the fixed width makes unreachable.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Waggressive-loop-optimizations"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic pop
#endif
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "dare/core/aligned.hpp"
#include "dare/core/simd.hpp"
#include "dare/search/dot_kernels.hpp"
#include "dare/search/hamming.hpp"
#include "dare/search/multi_search.hpp"
#include "dare/search/topk.hpp"

#if defined(DARE_BENCH_HAVE_FAISS)
#  include <faiss/IndexFlat.h>
#  include <faiss/utils/distances.h>
#  include <omp.h>
#endif

namespace {

using dare::Index;

constexpr Index kBatch = 100;      // candidate targets per user in batched ranking
constexpr Index kQuerySets = 16;   // iterations rotate through this many queries
constexpr std::size_t kPoolBytes = std::size_t(1) << 30;
constexpr std::size_t kPoolFloats = kPoolBytes / sizeof(float);
constexpr std::size_t kSlotAlign = 4096;

enum class Temp { hot, cold };

/// 1 GiB of uniform [-1, 1) floats, from dare's AlignedAllocator: 2 MiB aligned, transparent
/// huge pages requested (so a cold history costs memory traffic, not page walks). Made on
/// first use, shared by all cases.
class Pool {
 public:
  /// Floats uniform in [-1, 1), or (raw_bits) the generator's 32-bit words themselves.
  explicit Pool(bool raw_bits = false) {
    data_.reset(dare::AlignedAllocator<float>().allocate(kPoolFloats));
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    for (std::size_t i = 0; i < kPoolFloats; ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift64
      if (raw_bits) {
        const auto word = static_cast<std::uint32_t>(state >> 32);
        std::memcpy(data_.get() + i, &word, sizeof word);
      } else {
        data_.get()[i] = float(std::int32_t(state >> 32)) * (1.0f / 2147483648.0f);
      }
    }
  }
  float* data() const { return data_.get(); }

 private:
  struct Free {
    void operator()(float* p) const { dare::AlignedAllocator<float>().deallocate(p, kPoolFloats); }
  };
  std::unique_ptr<float, Free> data_;
};

const Pool& pool() {
  static const Pool instance;
  return instance;
}

/// Random signature words for the Hamming cases (uniform bits, as SimHash gives).
const Pool& signature_pool() {
  static const Pool instance(true);
  return instance;
}

/// Where the cold cycle of slots of each size stands, kept across cases: a case starts where
/// the last one with the same slots stopped, so no slot is read again before the whole
/// cycle (1 GiB) has been.
std::size_t& cold_cursor(std::size_t slot_floats) {
  static std::map<std::size_t, std::size_t> cursors;
  return cursors[slot_floats];
}

/// The history each iteration reads: the pool's first slot every time (hot), or the next
/// slot of a fixed random cycle through all of the pool's slots (cold).
class Histories {
 public:
  Histories(Temp temp, Index n, Index a, const Pool& from = pool()) : base_(from.data()) {
    const std::size_t bytes = std::size_t(n * a) * sizeof(float);
    slot_floats_ = (bytes + kSlotAlign - 1) / kSlotAlign * kSlotAlign / sizeof(float);
    const std::size_t slots = temp == Temp::hot ? 1 : kPoolFloats / slot_floats_;
    order_.resize(slots);
    std::iota(order_.begin(), order_.end(), std::size_t(0));
    std::shuffle(order_.begin(), order_.end(), std::mt19937_64(slots));
    if (temp == Temp::cold) cursor_ = &cold_cursor(slot_floats_);
  }
  const float* next() {
    std::size_t& at = cursor_ != nullptr ? *cursor_ : hot_at_;
    const float* rows = base_ + order_[at] * slot_floats_;
    at = at + 1 == order_.size() ? 0 : at + 1;
    return rows;
  }
  const float* first() const { return base_ + order_[0] * slot_floats_; }

 private:
  const float* base_;
  std::size_t slot_floats_ = 0;
  std::vector<std::size_t> order_;
  std::size_t* cursor_ = nullptr;
  std::size_t hot_at_ = 0;
};

/// kQuerySets + kBatch - 1 standard-normal queries of width A; iteration `it` uses the
/// M = 1 or kBatch consecutive ones from `it % kQuerySets`.
template <int A>
class Queries {
 public:
  Queries() : data_(std::size_t((kQuerySets + kBatch) * A)) {
    std::mt19937 rng(2025);
    std::normal_distribution<float> normal;
    for (auto& q : data_) q = normal(rng);
  }
  const float* at(Index it) const { return data_.data() + (it % kQuerySets) * A; }

 private:
  dare::AlignedVector<float> data_;
};

/// Scores and top-K results of M targets.
struct Results {
  Results(Index m, Index n, Index k)
      : scores(std::size_t(m * n)), positions(std::size_t(m * k)), best(std::size_t(m * k)) {}
  dare::AlignedVector<float> scores;
  std::vector<Index> positions;
  std::vector<float> best;
};

// ---- the methods: construct(temp, n, k, m, first history), then run(history, queries) ----

template <int A>
class DareSearch {
 public:
  DareSearch(Temp, Index n, Index k, Index m, const float*)
      : n_(n), k_(k), m_(m), r_(m, n, k), multi_(k) {}
  void run(const float* rows, const float* queries) {
    multi_.search(queries, m_, A, rows, n_, A, nullptr, r_.positions.data(), r_.best.data(), k_);
    benchmark::DoNotOptimize(r_.positions.data());
  }

 private:
  Index n_, k_, m_;
  Results r_;
  dare::MultiSearch<float, A> multi_;
};

template <int A>
class DareUnfused {
 public:
  DareUnfused(Temp, Index n, Index k, Index m, const float*)
      : n_(n), k_(k), m_(m), r_(m, n, k), topk_(k) {}
  void run(const float* rows, const float* queries) {
    dare::dot_rows_multi<A>(queries, m_, A, rows, n_, A, r_.scores.data(), n_);
    topk_.select_many(r_.scores.data(), m_, n_, n_, nullptr, 0, r_.positions.data(),
                      r_.best.data(), k_);
    benchmark::DoNotOptimize(r_.positions.data());
  }

 private:
  Index n_, k_, m_;
  Results r_;
  dare::TopK<float> topk_;
};

template <int A>
class DareDots {
 public:
  DareDots(Temp, Index n, Index, Index m, const float*) : n_(n), m_(m), r_(m, n, 1) {}
  void run(const float* rows, const float* queries) {
    if (m_ == 1)
      dare::dot_rows<A>(queries, rows, n_, A, r_.scores.data());
    else
      dare::dot_rows_multi<A>(queries, m_, A, rows, n_, A, r_.scores.data(), n_);
    benchmark::DoNotOptimize(r_.scores.data());
  }

 private:
  Index n_, m_;
  Results r_;
};

/// The top K of each of m score rows as a straightforward implementation finds them:
/// std::nth_element over positions (same order as TopK: score, then later position), then
/// std::sort of the K kept.
class NthElementTopK {
 public:
  NthElementTopK(Index n, Index k) : k_(k), order_(std::size_t(n)) {}
  void select_many(const float* scores, Index m, Index n, Index* positions) {
    for (Index j = 0; j < m; ++j) {
      const float* s = scores + j * n;
      std::iota(order_.begin(), order_.end(), Index(0));
      const auto better = [s](Index a, Index b) {
        return s[a] > s[b] || (s[a] == s[b] && a > b);
      };
      std::nth_element(order_.begin(), order_.begin() + (k_ - 1), order_.end(), better);
      std::sort(order_.begin(), order_.begin() + k_, better);
      std::copy(order_.begin(), order_.begin() + k_, positions + j * k_);
    }
  }

 private:
  Index k_;
  std::vector<Index> order_;
};

template <int A>
class ScalarSearch {
 public:
  ScalarSearch(Temp, Index n, Index k, Index m, const float*)
      : n_(n), m_(m), r_(m, n, k), topk_(n, k) {}
  void run(const float* rows, const float* queries) {
    dare::reference::dot_rows_multi(queries, m_, A, rows, n_, A, r_.scores.data(), n_, A);
    topk_.select_many(r_.scores.data(), m_, n_, r_.positions.data());
    benchmark::DoNotOptimize(r_.positions.data());
  }

 private:
  Index n_, m_;
  Results r_;
  NthElementTopK topk_;
};

/// Eigen's scores: GEMV for one target (rows mapped with the width fixed: 1.8x faster than
/// a Dynamic map at A = 8, equal above), GEMM for several (Dynamic: the fixed-width GEMM was
/// no faster).
template <int A>
class EigenScores {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using FixedRows = Eigen::Matrix<float, Eigen::Dynamic, A, Eigen::RowMajor>;

 public:
  EigenScores(Index n, Index m) : n_(n), m_(m), scores_(std::size_t(m * n)) {}
  float* run(const float* rows, const float* queries) {
    if (m_ == 1) {
      const Eigen::Map<const FixedRows, Eigen::Aligned64> history(rows, n_, A);
      const Eigen::Map<const Eigen::Matrix<float, A, 1>> query(queries);
      Eigen::Map<Eigen::VectorXf, Eigen::Aligned64> scores(scores_.data(), n_);
      scores.noalias() = history * query;
    } else {
      const Eigen::Map<const RowMajor, Eigen::Aligned64> history(rows, n_, A);
      const Eigen::Map<const RowMajor> targets(queries, m_, A);
      Eigen::Map<RowMajor, Eigen::Aligned64> scores(scores_.data(), m_, n_);
      scores.noalias() = targets * history.transpose();
    }
    return scores_.data();
  }

 private:
  Index n_, m_;
  dare::AlignedVector<float> scores_;
};

template <int A>
class EigenSearch {
 public:
  EigenSearch(Temp, Index n, Index k, Index m, const float*)
      : n_(n), m_(m), scores_(n, m), positions_(std::size_t(m * k)), topk_(n, k) {}
  void run(const float* rows, const float* queries) {
    topk_.select_many(scores_.run(rows, queries), m_, n_, positions_.data());
    benchmark::DoNotOptimize(positions_.data());
  }

 private:
  Index n_, m_;
  EigenScores<A> scores_;
  std::vector<Index> positions_;
  NthElementTopK topk_;
};

/// Eigen's scores alone, to set against `dot`.
template <int A>
class EigenDots {
 public:
  EigenDots(Temp, Index n, Index, Index m, const float*) : scores_(n, m) {}
  void run(const float* rows, const float* queries) {
    benchmark::DoNotOptimize(scores_.run(rows, queries));
  }

 private:
  EigenScores<A> scores_;
};

#if defined(DARE_BENCH_HAVE_FAISS)
template <int A>
class FaissSearch {
 public:
  FaissSearch(Temp temp, Index n, Index k, Index m, const float* first)
      : n_(n), k_(k), m_(m), distances_(std::size_t(m * k)), labels_(std::size_t(m * k)) {
    omp_set_num_threads(1);
    if (temp == Temp::hot) {
      index_ = std::make_unique<faiss::IndexFlatIP>(A);
      index_->add(n, first);
    }
  }
  void run(const float* rows, const float* queries) {
    if (index_)
      index_->search(m_, queries, k_, distances_.data(), labels_.data());
    else
      faiss::knn_inner_product(queries, rows, A, m_, n_, k_, distances_.data(), labels_.data());
    benchmark::DoNotOptimize(labels_.data());
  }

 private:
  Index n_, k_, m_;
  std::unique_ptr<faiss::IndexFlatIP> index_;
  std::vector<float> distances_;
  std::vector<faiss::Index::idx_t> labels_;
};
#endif

/// Reads p[0, count) (64-byte aligned) with vector loads into 8 independent sums: the
/// fastest plain read a core does, whatever the cache level.
float read_floats(const float* p, Index count) {
  using B = xsimd::batch<float>;
  constexpr Index W = B::size, U = 8;
  std::array<B, U> acc;
  acc.fill(B(0.0f));
  Index i = 0;
  for (; i + U * W <= count; i += U * W) {
#pragma GCC unroll 8
    for (Index u = 0; u < U; ++u) acc[u] += B::load_aligned(p + i + u * W);
  }
  for (; i + W <= count; i += W) acc[0] += B::load_aligned(p + i);
  for (Index u = 1; u < U; ++u) acc[0] += acc[u];
  float sum = dare::detail::reduce_add(acc[0]);
  for (; i < count; ++i) sum += p[i];
  return sum;
}

template <int A>
class ReadProbe {
 public:
  ReadProbe(Temp, Index n, Index, Index, const float*) : n_(n) {}
  void run(const float* rows, const float*) {
    benchmark::DoNotOptimize(read_floats(rows, n_ * A));
  }

 private:
  Index n_;
};

// ---- ETA's Hamming search: construct(n, k), then run(signatures, query signature) ---------

/// kQuerySets random query signatures of up to 8 words.
class QuerySignatures {
 public:
  QuerySignatures() : words_(std::size_t(kQuerySets * 8)) {
    std::mt19937 rng(2026);
    for (auto& w : words_) w = static_cast<std::uint32_t>(rng());
  }
  const std::uint32_t* at(Index it) const { return words_.data() + (it % kQuerySets) * 8; }

 private:
  std::vector<std::uint32_t> words_;
};

template <int Words>
class HammingSearch {
 public:
  HammingSearch(Index n, Index k)
      : n_(n), topk_(k, 32 * Words), positions_(std::size_t(k)), distances_(std::size_t(k)) {}
  void run(const std::uint32_t* sigs, const std::uint32_t* query) {
    topk_.search(query, sigs, n_, nullptr, positions_.data(), distances_.data());
    benchmark::DoNotOptimize(positions_.data());
  }

 private:
  Index n_;
  dare::HammingTopK<> topk_;
  std::vector<Index> positions_;
  std::vector<std::uint16_t> distances_;
};

template <class Arch>
struct HammingDistsOn {
  template <int Words>
  class Method {
   public:
    Method(Index n, Index) : n_(n), distances_(std::size_t(n)) {}
    void run(const std::uint32_t* sigs, const std::uint32_t* query) {
      dare::hamming_distances<Arch>(query, sigs, n_, Words, distances_.data());
      benchmark::DoNotOptimize(distances_.data());
    }

   private:
    Index n_;
    std::vector<std::uint16_t> distances_;
  };
};

template <int Words, template <int> class Method>
void run_hamming_case(benchmark::State& state, Temp temp, Index n, Index k) {
  Histories histories(temp, n, Words, signature_pool());
  const QuerySignatures queries;
  Method<Words> method(n, k);
  Index it = 0;
  for (auto _ : state) {
    method.run(reinterpret_cast<const std::uint32_t*>(histories.next()), queries.at(it++));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * Words * Index(sizeof(std::uint32_t)));
  state.SetItemsProcessed(state.iterations() * n);
}

template <int A, template <int> class Method>
void run_case(benchmark::State& state, Temp temp, Index n, Index k, Index m) {
  Histories histories(temp, n, A);
  const Queries<A> queries;
  Method<A> method(temp, n, k, m, histories.first());
  Index it = 0;
  for (auto _ : state) {
    method.run(histories.next(), queries.at(it++));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * A * Index(sizeof(float)));
  state.SetItemsProcessed(state.iterations() * m * n);
}

// ---- the grid -------------------------------------------------------------------------------

constexpr std::array<Index, 4> kHistoryLengths = {200, 1000, 10000, 100000};
constexpr std::array<Index, 3> kTopKs = {20, 50, 100};
constexpr Index kMainK = 20;
constexpr Index kMainGridKN = 10000;  // the main grid varies K at this N only

template <int A, template <int> class Method>
void add_case(const std::string& name, Temp temp, Index n, Index k, Index m) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& state) {
                                 run_case<A, Method>(state, temp, n, k, m);
                               })
      ->Unit(benchmark::kMicrosecond);
}

template <int A>
void register_width() {
  for (const Temp temp : {Temp::hot, Temp::cold}) {
    const std::string t = temp == Temp::hot ? "hot" : "cold";
    for (const Index n : kHistoryLengths) {
      const std::string an = "/A:" + std::to_string(A) + "/N:" + std::to_string(n);
      add_case<A, ReadProbe>("search/probe/" + t + an, temp, n, 1, 1);
      for (const Index m : {Index(1), kBatch}) {
        const std::string tm = t + "/M:" + std::to_string(m);
        add_case<A, DareDots>("search/dot/" + tm + an, temp, n, 1, m);
        add_case<A, EigenDots>("search/eigen_dot/" + tm + an, temp, n, 1, m);
        for (const Index k : kTopKs) {
          const bool main = k == kMainK || n == kMainGridKN;
          const std::string prefix = main ? "search/" : "search_full/";
          const std::string suffix = "/" + tm + an + "/K:" + std::to_string(k);
          add_case<A, DareSearch>(prefix + "dare" + suffix, temp, n, k, m);
          if (m > 1) add_case<A, DareUnfused>(prefix + "dare_unfused" + suffix, temp, n, k, m);
          add_case<A, ScalarSearch>(prefix + "scalar" + suffix, temp, n, k, m);
          add_case<A, EigenSearch>(prefix + "eigen" + suffix, temp, n, k, m);
#if defined(DARE_BENCH_HAVE_FAISS)
          add_case<A, FaissSearch>(prefix + "faiss" + suffix, temp, n, k, m);
#endif
        }
      }
    }
  }
}

template <int Words, template <int> class Method>
void add_hamming_case(const std::string& name, Temp temp, Index n, Index k) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& state) {
                                 run_hamming_case<Words, Method>(state, temp, n, k);
                               })
      ->Unit(benchmark::kMicrosecond);
}

template <int Words>
void register_signature_width() {
  const std::string b = "/B:" + std::to_string(32 * Words);
  for (const Temp temp : {Temp::hot, Temp::cold}) {
    const std::string t = temp == Temp::hot ? "hot" : "cold";
    for (const Index n : kHistoryLengths) {
      const std::string bn = b + "/N:" + std::to_string(n);
      add_case<Words, ReadProbe>("search/probe/" + t + bn, temp, n, 1, 1);
      add_hamming_case<Words, HammingDistsOn<xsimd::default_arch>::Method>("search/hamming_dist/" + t + "/M:1" + bn,
                                                                           temp, n, 1);
      if (temp == Temp::hot) {
#if defined(__AVX2__)
        add_hamming_case<Words, HammingDistsOn<xsimd::fma3<xsimd::avx2>>::Method>(
            "search/hamming_dist_avx2/" + t + "/M:1" + bn, temp, n, 1);
#endif
#if defined(__SSE4_2__)
        add_hamming_case<Words, HammingDistsOn<xsimd::sse4_2>::Method>("search/hamming_dist_popcnt/" + t + "/M:1" + bn,
                                                                       temp, n, 1);
#endif
      }
      add_hamming_case<Words, HammingSearch>("search/hamming/" + t + "/M:1" + bn + "/K:" + std::to_string(kMainK),
                                             temp, n, kMainK);
    }
  }
}

template <int... A>
bool register_widths(std::integer_sequence<int, A...>) {
  (register_width<A>(), ...);
  return true;
}

template <int... Words>
bool register_signature_widths(std::integer_sequence<int, Words...>) {
  (register_signature_width<Words>(), ...);
  return true;
}

[[maybe_unused]] const bool registered = register_widths(std::integer_sequence<int, 8, 16, 32, 64, 128, 256>{});
// 32, 64, 128 and 256 bits.
[[maybe_unused]] const bool registered_signatures =
    register_signature_widths(std::integer_sequence<int, 1, 2, 4, 8>{});

}  // namespace
