// dare/models/selectors.hpp — which history positions a sequence model attends to: the
// Selector policy of SequenceModel.
//
// Design. A selector turns the L masked scores of one target (padded positions hold the
// sentinel -2^32+1) into `count` positions and their scores; the model takes the softmax of
// those scores and aggregates the representation rows at those positions. A selector also
// says what the auxiliary head attends to (docs/design.md §1.5): the public reference's
// auxiliary head sees the attention over its whole mask, which is every valid position for
// the soft search and the hard search's own positions for the hard search.
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
#pragma once

#include <cstdint>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "dare/search/topk.hpp"

namespace dare {

/// Soft search: the top K scores.
struct TopKSearch {
  static constexpr std::uint32_t kId = 1;
  static constexpr const char* kName = "topk";
  static constexpr bool kAllPositions = false;
  static constexpr bool kAuxAttendsAll = true;

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(Index k) : topk_(k), k_(k) {}
    Index count() const noexcept { return k_; }
    void select(const Scalar* scores, Index n, const std::uint8_t* valid, const Id* /*hist_cat*/, Id /*target_cat*/,
                Index* positions, Scalar* out_scores) {
      topk_.select(scores, n, valid, positions, out_scores);
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

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(Index k) : k_(k) { DARE_CHECK_ARG(k > 0, "HardSearch: k must be positive, got ", k); }
    Index count() const noexcept { return k_; }
    void select(const Scalar* scores, Index n, const std::uint8_t* valid, const Id* hist_cat, Id target_cat,
                Index* positions, Scalar* out_scores) const {
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

  template <class Scalar>
  class Worker {
   public:
    explicit Worker(Index n) : n_(n) {}
    Index count() const noexcept { return n_; }
    void select(const Scalar* scores, Index n, const std::uint8_t*, const Id*, Id, Index* positions,
                Scalar* out_scores) const {
      for (Index j = 0; j < n; ++j) {
        positions[j] = j;
        out_scores[j] = scores[j];
      }
    }

   private:
    Index n_;
  };
};

}  // namespace dare
