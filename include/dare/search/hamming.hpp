// dare/search/hamming.hpp — PROVISIONAL (replaced by the Hamming-kernel branch): SimHash
// signatures and the K nearest positions in Hamming distance, scalar code.
#pragma once

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <numeric>
#include <vector>

#include <Eigen/Core>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/embedding/embedding_table.hpp"

namespace dare {

template <class Scalar>
class SimHash {
 public:
  SimHash(Index dim, int bits, std::uint64_t seed) : dim_(dim), bits_(bits), proj_(bits, dim) {
    DARE_CHECK_ARG(bits >= 32 && bits % 32 == 0, "SimHash: bits must be a positive multiple of 32, got ", bits);
    EmbeddingTable<double, Dynamic> draw(bits, dim);
    draw.init_normal(1.0, seed);
    for (Index b = 0; b < bits; ++b) {
      for (Index c = 0; c < dim; ++c) proj_(b, c) = static_cast<Scalar>(draw.row(b)[c]);
    }
  }
  Index words() const noexcept { return bits_ / 32; }
  int bits() const noexcept { return bits_; }
  void sign(const Scalar* x, std::uint32_t* sig) const {
    std::fill(sig, sig + words(), 0u);
    for (Index b = 0; b < bits_; ++b) {
      Scalar acc = 0;
      for (Index c = 0; c < dim_; ++c) acc += proj_(b, c) * x[c];
      if (acc > 0) sig[b / 32] |= std::uint32_t{1} << (b % 32);
    }
  }
  void sign_rows(const Scalar* rows, Index n, Index stride, std::uint32_t* sigs) const {
    for (Index i = 0; i < n; ++i) sign(rows + i * stride, sigs + i * words());
  }

 private:
  Index dim_;
  int bits_;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> proj_;
};

class HammingTopK {
 public:
  explicit HammingTopK(Index k) : k_(k) {}
  template <class Dist>
  void select(const std::uint32_t* q, const std::uint32_t* sigs, Index n, Index words, const std::uint8_t* valid,
              Index* positions, Dist* distances) {
    idx_.resize(static_cast<std::size_t>(n));
    d_.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) {
      int d = 0;
      for (Index w = 0; w < words; ++w) d += static_cast<int>(std::bitset<32>(q[w] ^ sigs[i * words + w]).count());
      d_[static_cast<std::size_t>(i)] = valid[i] ? d : 32 * static_cast<int>(words) + 1;
    }
    std::iota(idx_.begin(), idx_.end(), Index{0});
    std::sort(idx_.begin(), idx_.end(), [&](Index a, Index b) {
      return d_[static_cast<std::size_t>(a)] != d_[static_cast<std::size_t>(b)] ? d_[static_cast<std::size_t>(a)] < d_[static_cast<std::size_t>(b)] : a > b;
    });
    for (Index k = 0; k < k_; ++k) {
      positions[k] = idx_[static_cast<std::size_t>(k)];
      distances[k] = static_cast<Dist>(d_[static_cast<std::size_t>(positions[k])]);
    }
  }

 private:
  Index k_;
  std::vector<Index> idx_;
  std::vector<int> d_;
};

}  // namespace dare
