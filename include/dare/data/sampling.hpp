// dare/data/sampling.hpp — the data layer's random numbers: a seeded generator and an exact
// sampler for integer weights.
//
// Design note. Preprocessing and the synthetic generator must be reproducible bit for bit
// from a seed on every platform, so neither uses <random>'s distributions (their algorithms
// are implementation-defined). `DataRng` is xoshiro256** seeded through splitmix64, with
// Lemire's unbiased bounded integers. `AliasTable` draws index i with probability exactly
// w_i / sum(w) for integer weights (click counts): Walker's alias method done in integer
// arithmetic, so there is no floating-point rounding in the sampling distribution and a draw
// costs two random numbers and two table reads whatever the number of outcomes.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare {
namespace detail {

/// One step of splitmix64: a strong 64-bit mixer, used to seed and to derive streams.
inline std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// xoshiro256**: fast, 256 bits of state, identical output on every platform.
class DataRng {
 public:
  /// Seeds from `seed` and a stream number: different streams of one seed are independent
  /// for all practical purposes (e.g. one stream per user, or per preprocessing phase).
  explicit DataRng(std::uint64_t seed = 0, std::uint64_t stream = 0) noexcept {
    std::uint64_t sm = seed ^ (0xD1B54A32D192ED03ULL * (stream + 1));
    for (auto& word : s_) word = splitmix64(sm);
  }

  /// 64 uniformly random bits.
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Uniform integer in [0, n), exactly unbiased (Lemire's multiply-and-reject); n > 0.
  std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ using U128 = unsigned __int128;
    U128 m = static_cast<U128>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<U128>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// True with probability p.
  bool bernoulli(double p) noexcept { return uniform() < p; }

  /// Standard normal deviate (Box-Muller; one value per call, the twin is discarded so the
  /// stream position never depends on call history).
  double normal() noexcept {
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  /// Exponential deviate with the given mean.
  double exponential(double mean) noexcept { return -mean * std::log(1.0 - uniform()); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

/// Draws index i in [0, n) with probability exactly weights[i] / sum(weights) (integer
/// weights, e.g. click counts). Zero weights are allowed and never drawn.
///
/// Every bucket b has capacity W = sum(weights) and holds outcome b with mass threshold(b)
/// and outcome alias(b) with mass W - threshold(b). Outcome i is built from w_i * n units
/// in total, so a uniform bucket and a uniform integer in [0, W) give probability
/// w_i * n / (n * W) exactly.
class AliasTable {
 public:
  AliasTable() = default;

  explicit AliasTable(const std::vector<std::uint64_t>& weights) {
    const auto n = static_cast<std::uint64_t>(weights.size());
    DARE_CHECK_ARG(n > 0, "AliasTable: weights must not be empty");
    std::uint64_t total = 0;
    for (const std::uint64_t w : weights) {
      DARE_CHECK_ARG(w <= std::numeric_limits<std::uint64_t>::max() - total,
                     "AliasTable: the sum of the weights overflows 64 bits");
      total += w;
    }
    DARE_CHECK_ARG(total > 0, "AliasTable: all weights are zero");
    DARE_CHECK_ARG(total <= std::numeric_limits<std::uint64_t>::max() / n,
                   "AliasTable: sum(weights) * count overflows 64 bits");
    total_ = total;
    threshold_.assign(weights.size(), total);
    alias_.resize(weights.size());

    // Scaled masses; buckets below capacity are "small", the others "large".
    std::vector<std::uint64_t> mass(weights.size());
    std::vector<std::uint32_t> small;
    std::vector<std::uint32_t> large;
    DARE_CHECK_ARG(n <= std::numeric_limits<std::uint32_t>::max(),
                   "AliasTable: at most 2^32 - 1 outcomes");
    for (std::uint64_t i = 0; i < n; ++i) {
      mass[i] = weights[i] * n;
      alias_[i] = static_cast<std::uint32_t>(i);
      (mass[i] < total ? small : large).push_back(static_cast<std::uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const std::uint32_t s = small.back();
      small.pop_back();
      const std::uint32_t l = large.back();
      threshold_[s] = mass[s];
      alias_[s] = l;
      mass[l] -= total - mass[s];
      if (mass[l] < total) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Integer arithmetic is exact: whatever is left has exactly one bucket's mass each.
    for (const std::uint32_t l : large) threshold_[l] = total;
    for (const std::uint32_t s : small) threshold_[s] = total;
  }

  /// Number of outcomes.
  Index size() const noexcept { return static_cast<Index>(threshold_.size()); }
  /// Sum of the weights.
  std::uint64_t total() const noexcept { return total_; }
  /// Mass of bucket b kept by outcome b (out of total()).
  std::uint64_t threshold(Index b) const { return threshold_[static_cast<std::size_t>(b)]; }
  /// The other outcome of bucket b.
  Index alias(Index b) const { return alias_[static_cast<std::size_t>(b)]; }

  /// One draw.
  Index sample(DataRng& rng) const noexcept {
    const auto b = static_cast<std::size_t>(rng.below(threshold_.size()));
    return rng.below(total_) < threshold_[b] ? static_cast<Index>(b)
                                              : static_cast<Index>(alias_[b]);
  }

 private:
  std::uint64_t total_ = 0;
  std::vector<std::uint64_t> threshold_;
  std::vector<std::uint32_t> alias_;
};

}  // namespace detail
}  // namespace dare
