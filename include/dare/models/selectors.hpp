// dare/models/selectors.hpp — which history positions a sequence model attends to: the
// Selector policy of SequenceModel.
//
// Design. A selector sees one target (SelectorInput: the L masked logits of the scorer,
// padded positions holding the sentinel -2^32+1, the padding mask, the history's categories,
// the attention query and keys) and writes `count` positions with, for each, either a logit
// (the model takes the softmax of the kept logits and aggregates the representation rows at
// those positions) or, for a selector with kFixedWeights, the weight itself (no softmax and
// no gradient into the logits). A selector also says what the auxiliary head attends to
// (docs/design.md §1.5): the public reference's auxiliary head sees the attention over its
// whole mask, which is every valid position for the soft search and the hard search's own
// positions for the hard search.
//
// * TopKSearch (soft search, TWIN/DARE): the K best scores (search/topk.hpp: ties to the more
//   recent position; with fewer than K valid positions the rest are padded positions at the
//   sentinel, weight 0).
// * HardSearch (TWIN hard): no scores decide. The positions of the target's category, the K
//   most recent if there are more; if fewer, topped up with the most recent other positions
//   to exactly K, as the reference's dataset mask and DIN.forward build it. Output in
//   position order. One difference, for histories shorter than K only (never in the
//   protocol's data, whose histories are at least 118 long): a padded position taken to top
//   up keeps the sentinel score, where the reference scores it as an item of id 0.
// * FullAttention: every position (the auxiliary head's selection; as the main selector,
//   DIN's original full attention).
// * HammingSearch (ETA, Chen et al. 2021): SimHash signatures (search/hamming.hpp) of the
//   attention query and keys [item | category] through a fixed Gaussian projection, the K
//   positions nearest in Hamming distance (ties to the more recent position, padded positions
//   after every valid one), then the softmax of their logits. No gradient passes through the
//   hashing; the logits of the kept positions carry it, as in TWIN. The projection is drawn
//   from a fixed seed, so it is the same in every model and needs no storage.
// * ClusterSearch (TWIN-V2, Si et al. 2024): the model first replaces the window's positions
//   by its clusters (SequenceBatch::hist_group, made offline by data/clustering.hpp): one
//   slot per cluster, its key and value the mean of its members' rows, its logit offset by
//   ln(cluster size), slots ordered by their most recent member; then the K best slots as
//   TopKSearch keeps them. The gradient of a slot's rows reaches each member divided by the
//   cluster size.
// * HashSampling (SDIM, Cao et al. 2022): m rounds of a τ-bit SimHash bucket; in each round
//   the valid positions whose bucket equals the target's are summed; the rounds are averaged.
//   So position j gets the fixed weight (number of rounds it collides in) / m, no softmax,
//   no top K, and no gradient reaches the attention embeddings from this path (the
//   representation rows get theirs). As in FuxiCTR's public SDIM (its default l2_norm off),
//   the sums are not normalised.
#pragma once

#include <cstdint>
#include <vector>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/search/hamming.hpp"
#include "dare/search/topk.hpp"

namespace dare {

/// What a selector sees of one target.
template <class Scalar>
struct SelectorInput {
  const Scalar* scores = nullptr;     ///< n logits, padded positions at the sentinel
  Index n = 0;                        ///< window length L
  const std::uint8_t* valid = nullptr;
  const Id* hist_cat = nullptr;
  Id target_cat = 0;
  const Scalar* query = nullptr;      ///< the attention query [item | category], key_width wide
  const Scalar* keys = nullptr;       ///< n attention keys, rows of key_stride
  Index key_stride = 0;
  Index key_width = 0;
  /// Increases whenever `keys` hold another window (a selector may cache what it derives
  /// from the keys while it stays the same).
  std::uint64_t window = 0;
};

/// How a model sets up its selectors' workers.
struct SelectorSetup {
  Index count = 0;       ///< positions to keep (K, or L for the all-position selectors)
  Index key_width = 0;   ///< 2A
  Index hash_bits = 0;   ///< ETA: signature bits; SDIM: bits per round (τ)
  Index hash_rounds = 0; ///< SDIM: rounds (m)
};

/// Soft search: the top K scores.
struct TopKSearch {
  static constexpr std::uint32_t kId = 1;
  static constexpr const char* kName = "topk";
  static constexpr bool kAllPositions = false;
  static constexpr bool kAuxAttendsAll = true;
  static constexpr bool kFixedWeights = false;
  static constexpr bool kHashes = false;
  static constexpr bool kGroups = false;

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(const SelectorSetup& s) : topk_(s.count), k_(s.count) {}
    Index count() const noexcept { return k_; }
    void select(const SelectorInput<Scalar>& in, Index* positions, Scalar* out_scores) {
      topk_.select(in.scores, in.n, in.valid, positions, out_scores);
    }

   private:
    TopK<Scalar> topk_;
    Index k_;
  };
};

/// Hard search: the target's category, most recent first, topped up to exactly K.
struct HardSearch {
  static constexpr std::uint32_t kId = 2;
  static constexpr const char* kName = "hard";
  static constexpr bool kAllPositions = false;
  static constexpr bool kAuxAttendsAll = false;
  static constexpr bool kFixedWeights = false;
  static constexpr bool kHashes = false;
  static constexpr bool kGroups = false;

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(const SelectorSetup& s) : k_(s.count) {
      DARE_CHECK_ARG(k_ > 0, "HardSearch: k must be positive, got ", k_);
    }
    Index count() const noexcept { return k_; }
    void select(const SelectorInput<Scalar>& in, Index* positions, Scalar* out_scores) const {
      const Scalar* scores = in.scores;
      const Index n = in.n;
      const std::uint8_t* valid = in.valid;
      const Id* hist_cat = in.hist_cat;
      const Id target_cat = in.target_cat;
      DARE_CHECK_ARG(k_ <= n, "HardSearch: k (", k_, ") must not exceed n (", n, ")");
      auto matches = [&](Index j) { return valid[j] != 0 && hist_cat[j] == target_cat; };
      Index matching = 0;
      for (Index j = 0; j < n; ++j) matching += matches(j) ? 1 : 0;
      // With at least K matches, the K most recent matches. With fewer, every match plus
      // every position from the (K - matching)-th most recent non-matching one on.
      const bool enough = matching >= k_;
      Index first = n;
      for (Index j = n - 1, need = enough ? k_ : k_ - matching; j >= 0 && need > 0; --j) {
        if (matches(j) == enough) {
          --need;
          first = j;
        }
      }
      Index out = 0;
      for (Index j = 0; j < n; ++j) {
        const bool take = enough ? (j >= first && matches(j)) : (j >= first || matches(j));
        if (take) {
          positions[out] = j;
          out_scores[out] = scores[j];
          ++out;
        }
      }
      DARE_ASSERT(out == k_);
    }

   private:
    Index k_;
  };
};

/// Every position: full softmax attention over the window.
struct FullAttention {
  static constexpr std::uint32_t kId = 3;
  static constexpr const char* kName = "all";
  static constexpr bool kAllPositions = true;
  static constexpr bool kAuxAttendsAll = true;
  static constexpr bool kFixedWeights = false;
  static constexpr bool kHashes = false;
  static constexpr bool kGroups = false;

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(const SelectorSetup& s) : n_(s.count) {}
    Index count() const noexcept { return n_; }
    void select(const SelectorInput<Scalar>& in, Index* positions, Scalar* out_scores) const {
      for (Index j = 0; j < in.n; ++j) {
        positions[j] = j;
        out_scores[j] = in.scores[j];
      }
    }

   private:
    Index n_;
  };
};

namespace detail {

/// The SimHash signatures a hashing selector compares: the window's keys, signed once per
/// window (SelectorInput::window), and each target's query.
template <class Scalar>
class SignedWindow {
 public:
  SignedWindow(Index key_width, Index bits, std::uint64_t seed)
      : hash_(key_width, bits, seed), query_(static_cast<std::size_t>(hash_.words())) {}
  Index words() const noexcept { return hash_.words(); }
  /// Signs the keys of `in` if they are another window than the last, and its query.
  void sign(const SelectorInput<Scalar>& in) {
    if (in.window != window_ || keys_.empty()) {
      keys_.resize(static_cast<std::size_t>(in.n * words()));
      hash_.sign_rows(in.keys, in.n, in.key_stride, keys_.data());
      window_ = in.window;
    }
    hash_.sign(in.query, query_.data());
  }
  const std::uint32_t* keys() const noexcept { return keys_.data(); }
  const std::uint32_t* query() const noexcept { return query_.data(); }

 private:
  SimHash<Scalar> hash_;
  std::vector<std::uint32_t> query_, keys_;
  std::uint64_t window_ = 0;
};

}  // namespace detail

/// ETA: the K positions nearest to the target in the Hamming distance of SimHash signatures.
struct HammingSearch {
  static constexpr std::uint32_t kId = 4;
  static constexpr const char* kName = "hamming";
  static constexpr bool kAllPositions = false;
  static constexpr bool kAuxAttendsAll = true;
  static constexpr bool kFixedWeights = false;
  static constexpr bool kHashes = true;
  static constexpr bool kGroups = false;
  static constexpr Index kDefaultBits = 64;
  static constexpr Index kDefaultRounds = 1;
  /// The projection's seed: fixed, so a model's projection is known from its width and bits.
  static constexpr std::uint64_t kProjectionSeed = 0x45544131;  // "ETA1"

  static void check(const SelectorSetup& s) {
    DARE_CHECK_ARG(s.hash_bits >= 32 && s.hash_bits <= 256 && s.hash_bits % 32 == 0,
                   "ETA: hash_bits must be a multiple of 32 from 32 to 256, got ", s.hash_bits);
    DARE_CHECK_ARG(s.hash_rounds == 1, "ETA: hash_rounds must be 1, got ", s.hash_rounds);
  }

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(const SelectorSetup& s)
        : signed_((check(s), s.key_width), s.hash_bits, kProjectionSeed),
          topk_(s.count, s.hash_bits),
          k_(s.count),
          dist_(static_cast<std::size_t>(s.count)) {}
    Index count() const noexcept { return k_; }
    void select(const SelectorInput<Scalar>& in, Index* positions, Scalar* out_scores) {
      signed_.sign(in);
      topk_.search(signed_.query(), signed_.keys(), in.n, in.valid, positions, dist_.data());
      for (Index k = 0; k < k_; ++k) out_scores[k] = in.scores[positions[k]];
    }

   private:
    detail::SignedWindow<Scalar> signed_;
    HammingTopK<> topk_;
    Index k_;
    std::vector<std::uint16_t> dist_;
  };
};

/// SDIM: fixed weights from bucket collisions over m rounds of a τ-bit SimHash.
struct HashSampling {
  static constexpr std::uint32_t kId = 5;
  static constexpr const char* kName = "sampling";
  static constexpr bool kAllPositions = true;
  static constexpr bool kAuxAttendsAll = true;
  static constexpr bool kFixedWeights = true;
  static constexpr bool kHashes = true;
  static constexpr bool kGroups = false;
  // τ = 8, m = 32 (the whole 256-bit signature): the best of the τ x m grid measured on the
  // built-in log (README, Table 1); FuxiCTR's defaults, τ = 4 and m = 2, lost 0.07 AUC there.
  static constexpr Index kDefaultBits = 8;
  static constexpr Index kDefaultRounds = 32;
  static constexpr std::uint64_t kProjectionSeed = 0x5344494d;  // "SDIM"

  static void check(const SelectorSetup& s) {
    DARE_CHECK_ARG(s.hash_bits >= 1 && s.hash_bits <= 32, "SDIM: hash_bits (τ) must be from 1 to 32, got ",
                   s.hash_bits);
    DARE_CHECK_ARG(s.hash_rounds >= 1 && s.hash_rounds <= 64, "SDIM: hash_rounds (m) must be from 1 to 64, got ",
                   s.hash_rounds);
    DARE_CHECK_ARG(s.hash_rounds * s.hash_bits <= kMaxSignatureBits, "SDIM: hash_rounds x hash_bits (",
                   s.hash_rounds, " x ", s.hash_bits, ") must be at most ", kMaxSignatureBits, " bits");
  }

  template <class Scalar>
  class Worker {
   public:
    // Round r's bucket is bits [rτ, (r + 1)τ) of one SimHash of mτ bits (rounded up to whole
    // 32-bit words; the spare bits are unused).
    explicit Worker(const SelectorSetup& s)
        : signed_((check(s), s.key_width), (s.hash_rounds * s.hash_bits + 31) / 32 * 32, kProjectionSeed),
          n_(s.count),
          rounds_(s.hash_rounds),
          bits_(s.hash_bits),
          diff_(static_cast<std::size_t>(signed_.words()) + 1) {}
    Index count() const noexcept { return n_; }
    /// Writes every position and its weight (collisions / m) into `weights`.
    void select(const SelectorInput<Scalar>& in, Index* positions, Scalar* weights) {
      const Index words = signed_.words();
      signed_.sign(in);
      const std::uint32_t* query = signed_.query();
      const auto rounds = static_cast<Scalar>(rounds_);
      const std::uint64_t mask = (std::uint64_t{1} << bits_) - 1;
      for (Index j = 0; j < in.n; ++j) {
        positions[j] = j;
        Index hits = 0;
        if (in.valid[j]) {
          const std::uint32_t* sig = signed_.keys() + j * words;
          for (Index w = 0; w < words; ++w) diff_[static_cast<std::size_t>(w)] = sig[w] ^ query[w];
          for (Index r = 0; r < rounds_; ++r) {
            const Index bit = r * bits_;
            const auto w = static_cast<std::size_t>(bit / 32);
            const std::uint64_t pair = diff_[w] | (static_cast<std::uint64_t>(diff_[w + 1]) << 32);
            hits += ((pair >> (bit % 32)) & mask) == 0 ? 1 : 0;
          }
        }
        weights[j] = static_cast<Scalar>(hits) / rounds;
      }
    }

   private:
    detail::SignedWindow<Scalar> signed_;
    Index n_, rounds_, bits_;
    std::vector<std::uint64_t> diff_;  // one spare word, always 0, for the last round's pair
  };
};

/// TWIN-V2: the top K clusters of the window (the model forms the cluster slots).
struct ClusterSearch {
  static constexpr std::uint32_t kId = 6;
  static constexpr const char* kName = "clusters";
  static constexpr bool kAllPositions = false;
  static constexpr bool kAuxAttendsAll = true;
  static constexpr bool kFixedWeights = false;
  static constexpr bool kHashes = false;
  static constexpr bool kGroups = true;

  template <class Scalar>
  using Worker = TopKSearch::Worker<Scalar>;
};

}  // namespace dare
