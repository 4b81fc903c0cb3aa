// TopK against the full-sort reference for one xsimd architecture, shared by
// tests/search/topk_test.cpp (the default architecture) and tests/arch/topk_arch_test.cpp
// (AVX2 and AVX-512 builds).
//
// The sizes cover every path of TopK::select: ranking all n (small n), the group-maxima
// bound then ranking (distinct scores), the bound then the cut to k (many ties), the heap
// (k > 256), and no bound (n <= G); with and without masks, at several padded fractions. Long histories (the
// segmented bound pass of n > 8W * G), NaN scores hidden among them, and scores at the edges
// of the order (signed zeros, infinities) have checks of their own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/search/topk.hpp"

namespace dare_test {

/// True when topk.select on the scores gives exactly the reference's positions and scores.
template <class Scalar, class Arch>
bool same_as_reference(dare::TopK<Scalar, Arch>& topk, const std::vector<Scalar>& scores,
                       const std::uint8_t* mask) {
  const dare::Index n = static_cast<dare::Index>(scores.size()), k = topk.k();
  std::vector<dare::Index> got_pos(k), want_pos(k);
  std::vector<Scalar> got(k), want(k);
  topk.select(scores.data(), n, mask, got_pos.data(), got.data());
  dare::reference::topk_reference(scores.data(), n, mask, k, want_pos.data(), want.data());
  return got_pos == want_pos && got == want;
}

/// "" when TopK<Scalar, Arch> equals reference::topk_reference on every case, else the
/// first difference; `cases` counts the comparisons made.
template <class Scalar, class Arch>
std::string check_topk_random(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (int levels : {10, 1 << 20}) {  // ten distinct scores: ties everywhere; or hardly any
    std::uniform_int_distribution<int> level(0, levels - 1);
    for (Index n : {1, 2, 5, 19, 20, 21, 40, 41, 63, 64, 65, 200, 1000, 5000}) {
      for (Index k : {Index(1), Index(5), Index(20), Index(64), Index(100), n}) {
        if (k > n) continue;
        dare::TopK<Scalar, Arch> topk(k);
        for (double padded_fraction : {-1.0, 0.0, 0.3, 0.9, 1.0}) {  // -1: no mask at all
          for (int trial = 0; trial < 2; ++trial) {
            std::vector<Scalar> scores(n);
            for (auto& s : scores) s = Scalar(level(rng)) * Scalar(0.5) - Scalar(2);
            std::vector<std::uint8_t> valid(n);
            for (auto& v : valid) v = unit(rng) < padded_fraction ? 0 : 1;
            const std::uint8_t* mask = padded_fraction < 0 ? nullptr : valid.data();
            ++cases;
            if (!same_as_reference(topk, scores, mask)) {
              std::ostringstream os;
              os << Arch::name() << " n=" << n << " k=" << k << " levels=" << levels
                 << " padded fraction " << padded_fraction << ": results differ";
              return os.str();
            }
          }
        }
      }
    }
  }
  return "";
}

/// Distinct scores but for a few ties among the best (equal values, or -0 against +0), so
/// that the few candidates left after the bound hold a tie: TopK ranks them by counting the
/// higher scores only, which equal scores leave short of a permutation, and must then
/// rank ties by position. A tie at the k-th place decides which of the two is kept.
template <class Scalar, class Arch>
std::string check_topk_few_ties(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(4321);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (Index n : {Index(64), Index(200), Index(1000)})
    for (Index k : {Index(5), Index(20), Index(50)}) {
      dare::TopK<Scalar, Arch> topk(k);
      for (int trial = 0; trial < 20; ++trial) {
        std::vector<Scalar> scores(static_cast<std::size_t>(n));
        for (auto& s : scores) s = Scalar(unit(rng) * 2 - 1);
        std::vector<Index> order(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](Index a, Index b) { return scores[a] > scores[b]; });
        // trial 0 ties the k-th and (k+1)-th best; others tie a random rank above k with
        // the next, and from trial 10 on one pair is -0 and +0 instead.
        const Index r = trial == 0 ? k - 1 : Index(unit(rng) * double(k - 1));
        if (r + 1 >= n) continue;
        const Index a = order[r], b = order[r + 1];
        if (trial >= 10) {  // shift every score so that a's is 0, then a = -0 and b = +0
          const Scalar shift = scores[a];
          for (auto& s : scores) s -= shift;
          scores[a] = Scalar(-0.0);
          scores[b] = Scalar(0.0);
        } else {
          scores[a] = scores[b];
        }
        ++cases;
        if (!same_as_reference(topk, scores, nullptr)) {
          std::ostringstream os;
          os << Arch::name() << " n=" << n << " k=" << k << " trial " << trial
             << ": results differ with a tie at rank " << r;
          return os.str();
        }
      }
    }
  return "";
}

/// Long histories (10k and 100k positions), where the bound pass works in segments and the
/// gather skips most spans: K in {20, 50, 100}, distinct scores or few levels, recent-heavy
/// scores (the best near the end, as attention scores often are), with and without a mask.
template <class Scalar, class Arch>
std::string check_topk_long(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (Index n : {Index(10000), Index(100000)})
    for (Index k : {Index(20), Index(50), Index(100)}) {
      dare::TopK<Scalar, Arch> topk(k);
      for (int shape = 0; shape < 3; ++shape) {
        std::vector<Scalar> scores(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i) {
          const double u = unit(rng);
          scores[i] = shape == 0   ? Scalar(u)                              // distinct
                      : shape == 1 ? Scalar(std::floor(u * 8))              // 8 levels: ties
                                   : Scalar(u + 3.0 * double(i) / double(n));  // recent-heavy
        }
        std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
        for (auto& v : valid) v = unit(rng) < 0.2 ? 0 : 1;
        for (const std::uint8_t* mask : {static_cast<const std::uint8_t*>(nullptr),
                                         static_cast<const std::uint8_t*>(valid.data())}) {
          ++cases;
          if (!same_as_reference(topk, scores, mask)) {
            std::ostringstream os;
            os << Arch::name() << " n=" << n << " k=" << k << " shape " << shape
               << (mask ? " masked" : "") << ": results differ";
            return os.str();
          }
        }
      }
    }
  return "";
}

/// Scores at the edges of the order: -0 and +0 (equal, so ranked by position, though their
/// bits differ: the bisection on integer keys must not split them), infinities, the
/// largest finite magnitudes, subnormals; with heavy ties, so that the bound pass, the
/// bisection over the group maxima and the cut of tied candidates to k all see them.
template <class Scalar, class Arch>
std::string check_topk_special(dare::Index& cases) {
  using dare::Index;
  using L = std::numeric_limits<Scalar>;
  const Scalar values[] = {-L::infinity(), -L::max(), Scalar(-1), -L::denorm_min(), Scalar(-0.0),
                           Scalar(0.0),    L::denorm_min(), Scalar(1), L::max(), L::infinity()};
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> pick(0, 9);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (Index n : {Index(300), Index(5000)})
    for (Index k : {Index(20), Index(64), Index(100)})
      for (int spread : {10, 6, 2}) {  // draw from the top `spread` values only: more ties
        dare::TopK<Scalar, Arch> topk(k);
        std::vector<Scalar> scores(static_cast<std::size_t>(n));
        for (auto& s : scores) s = values[10 - spread + pick(rng) % spread];
        std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
        for (auto& v : valid) v = unit(rng) < 0.2 ? 0 : 1;
        for (const std::uint8_t* mask : {static_cast<const std::uint8_t*>(nullptr),
                                         static_cast<const std::uint8_t*>(valid.data())}) {
          ++cases;
          if (!same_as_reference(topk, scores, mask)) {
            std::ostringstream os;
            os << Arch::name() << " n=" << n << " k=" << k << " spread " << spread
               << (mask ? " masked" : "") << ": results differ";
            return os.str();
          }
        }
      }
  return "";
}

/// select_with_maxima, given the maxima of the interleaved groups (a plain loop here),
/// equals select: distinct scores and heavy ties, short and long histories, scores rising
/// with position, and a NaN (named as select names it).
template <class Scalar, class Arch>
std::string check_topk_with_maxima(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(91);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (Index n : {Index(20), Index(150), Index(1001), Index(30000)})
    for (Index k : {Index(1), Index(20), Index(50), Index(100)})
      for (int shape = 0; shape < 3; ++shape) {  // reals, ten levels, rising
        if (k > n) continue;
        dare::TopK<Scalar, Arch> topk(k);
        const Index groups = topk.groups();
        std::vector<Scalar> scores(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i)
          scores[i] = shape == 1 ? Scalar(int(unit(rng) * 10))
                                 : Scalar(unit(rng) + (shape == 2 ? 4.0 * double(i) / double(n) : 0.0));
        std::vector<Scalar> gmax(static_cast<std::size_t>(groups),
                                 -std::numeric_limits<Scalar>::infinity());
        for (Index i = 0; i < n; ++i) gmax[i % groups] = std::max(gmax[i % groups], scores[i]);
        std::vector<Index> got_pos(k), want_pos(k);
        std::vector<Scalar> got(k), want(k);
        topk.select_with_maxima(scores.data(), n, gmax.data(), got_pos.data(), got.data());
        dare::reference::topk_reference(scores.data(), n, nullptr, k, want_pos.data(), want.data());
        ++cases;
        if (got_pos != want_pos || got != want) {
          std::ostringstream os;
          os << Arch::name() << " n=" << n << " k=" << k << " shape " << shape
             << ": select_with_maxima differs from the reference";
          return os.str();
        }
        if (n < 1001) continue;
        scores[n / 3] = std::numeric_limits<Scalar>::quiet_NaN();  // left out of the maxima
        ++cases;
        try {
          topk.select_with_maxima(scores.data(), n, gmax.data(), got_pos.data(), got.data());
          return "select_with_maxima: a NaN score was not reported";
        } catch (const std::invalid_argument& e) {
          if (std::string(e.what()).find("scores[" + std::to_string(n / 3) + "] is NaN") ==
              std::string::npos)
            return std::string("select_with_maxima: the NaN error says ") + e.what();
        }
      }
  return "";
}

/// A NaN score at a valid position anywhere in a long history is reported, naming the first
/// such position, however far below the bound its neighbours are (a NaN must not hide in a
/// span the gather skips); NaN at padded positions is ignored and the result is exact.
template <class Scalar, class Arch>
std::string check_topk_nan_long(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const Scalar nan = std::numeric_limits<Scalar>::quiet_NaN();
  for (Index n : {Index(1000), Index(10000), Index(100000)})
    for (Index k : {Index(20), Index(100)}) {
      dare::TopK<Scalar, Arch> topk(k);
      // The best scores sit at the end, so every earlier span is far below the bound.
      std::vector<Scalar> scores(static_cast<std::size_t>(n));
      for (Index i = 0; i < n; ++i) scores[i] = Scalar(unit(rng) + (i >= n - 2 * k ? 10.0 : 0.0));
      std::vector<Index> got_pos(k);
      std::vector<Scalar> got(k);
      for (Index where : {Index(0), Index(1), Index(63), Index(64), n / 2 + 7, n - 2 * k - 1,
                          n - k, n - 1}) {
        std::vector<Scalar> with_nan = scores;
        with_nan[where] = nan;
        if (where + 1000 < n) with_nan[where + 1000] = nan;  // a second NaN: the first is named
        std::ostringstream where_text;
        where_text << Arch::name() << " n=" << n << " k=" << k << " NaN at " << where;
        std::ostringstream want_msg;
        want_msg << "scores[" << where << "] is NaN";
        ++cases;
        try {
          topk.select(with_nan.data(), n, nullptr, got_pos.data(), got.data());
          return where_text.str() + ": not reported";
        } catch (const std::invalid_argument& e) {
          if (std::string(e.what()).find(want_msg.str()) == std::string::npos)
            return where_text.str() + ": the error says \"" + e.what() + "\"";
        }
        // Masked out (with its second NaN): no error, and the result is the reference's.
        std::vector<std::uint8_t> valid(static_cast<std::size_t>(n), 1);
        valid[where] = 0;
        if (where + 1000 < n) valid[where + 1000] = 0;
        ++cases;
        if (!same_as_reference(topk, with_nan, valid.data()))
          return where_text.str() + " (masked): results differ";
      }
    }
  return "";
}

}  // namespace dare_test
