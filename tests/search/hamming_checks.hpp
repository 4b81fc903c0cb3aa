// hamming_distances and HammingTopK against their scalar references for one xsimd
// architecture, shared by tests/search/hamming_test.cpp (the default architecture and no
// SIMD) and tests/arch/hamming_arch_test.cpp (AVX2, AVX-512, AVX-512 with VPOPCNTDQ).
//
// The sizes cover every path: distances for 1..8 words at n around the 16-row step (tails
// of every length, the step alone, n = 0 and 1), signatures ending exactly at the end of
// their buffer; HammingTopK on short histories (the exact histogram), long ones (the bound
// pass: n at and around multiples of the group and span sizes, segments), few distance
// levels (ties everywhere) or binomial distances (real signatures), with and without masks,
// k up to n, and padded positions holding garbage distances.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dare/search/hamming.hpp"

namespace dare_test {

/// "" when hamming_distances<Arch> equals reference::hamming_distances for 1..8 words and
/// many n, else the first difference.
template <class Arch>
std::string check_hamming_distances(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(42);
  for (Index words = 1; words <= 8; ++words) {
    for (Index n : {0, 1, 2, 3, 7, 15, 16, 17, 19, 20, 21, 31, 32, 33, 36, 40, 47, 63, 64, 65,
                    100, 255, 256, 257, 1000}) {
      // Exactly n rows: a kernel reading past the last row reads past the buffer (caught by
      // the sanitizers' build).
      std::vector<std::uint32_t> sigs(static_cast<std::size_t>(n * words)), query(8);
      for (auto& w : sigs) w = static_cast<std::uint32_t>(rng());
      for (auto& w : query) w = static_cast<std::uint32_t>(rng());
      if (n > 0) sigs[0] = query[0];  // distance 0 and the largest in the first rows
      if (n > 1) sigs[static_cast<std::size_t>(words)] = ~query[0];
      std::vector<std::uint16_t> got(static_cast<std::size_t>(n) + 1, 0xBEEF), want(static_cast<std::size_t>(n));
      dare::hamming_distances<Arch>(query.data(), sigs.data(), n, words, got.data());
      dare::reference::hamming_distances(query.data(), sigs.data(), n, words, want.data());
      ++cases;
      for (Index i = 0; i < n; ++i)
        if (got[static_cast<std::size_t>(i)] != want[static_cast<std::size_t>(i)]) {
          std::ostringstream os;
          os << Arch::name() << " words=" << words << " n=" << n << ": distance " << i << " is "
             << got[static_cast<std::size_t>(i)] << ", not " << want[static_cast<std::size_t>(i)];
          return os.str();
        }
      if (got[static_cast<std::size_t>(n)] != 0xBEEF) {
        std::ostringstream os;
        os << Arch::name() << " words=" << words << " n=" << n << ": wrote past out[n - 1]";
        return os.str();
      }
    }
  }
  return "";
}

/// True when topk.select gives exactly the reference's positions and distances.
template <class Arch>
bool same_as_hamming_reference(dare::HammingTopK<Arch>& topk, const std::vector<std::uint16_t>& distances,
                               const std::uint8_t* mask) {
  const dare::Index n = static_cast<dare::Index>(distances.size()), k = topk.k();
  std::vector<dare::Index> got_pos(static_cast<std::size_t>(k), -1), want_pos(static_cast<std::size_t>(k));
  std::vector<std::uint16_t> got(static_cast<std::size_t>(k)), want(static_cast<std::size_t>(k));
  topk.select(distances.data(), n, mask, got_pos.data(), got.data());
  dare::reference::hamming_topk(distances.data(), n, mask, k, topk.bits(), want_pos.data(), want.data());
  return got_pos == want_pos && got == want;
}

/// "" when HammingTopK<Arch> equals reference::hamming_topk (a full sort by distance, then
/// position descending) on every case; `cases` counts the comparisons.
template <class Arch>
std::string check_hamming_topk(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (Index bits : {32, 64, 128, 256}) {
    for (int shape = 0; shape < 3; ++shape) {  // 4 levels (ties everywhere), binomial, uniform
      std::binomial_distribution<int> binomial(int(bits), 0.5);
      std::uniform_int_distribution<int> levels(0, 3), uniform(0, int(bits));
      for (Index n : {1, 2, 5, 19, 20, 21, 40, 63, 64, 65, 127, 128, 129, 200, 257, 1000, 4099}) {
        for (Index k : {Index(1), Index(5), Index(20), Index(64), Index(100), n}) {
          if (k > n) continue;
          dare::HammingTopK<Arch> topk(k, bits);
          for (double padded_fraction : {-1.0, 0.0, 0.3, 0.9, 1.0}) {  // -1: no mask at all
            std::vector<std::uint16_t> distances(static_cast<std::size_t>(n));
            std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
            for (Index i = 0; i < n; ++i) {
              const int d = shape == 0 ? levels(rng) * int(bits) / 3 : shape == 1 ? binomial(rng) : uniform(rng);
              const bool padded = unit(rng) < padded_fraction;
              valid[static_cast<std::size_t>(i)] = padded ? 0 : 1;
              // A padded position's distance is never read: give it garbage, even above bits.
              distances[static_cast<std::size_t>(i)] = static_cast<std::uint16_t>(padded ? rng() : unsigned(d));
            }
            const std::uint8_t* mask = padded_fraction < 0 ? nullptr : valid.data();
            if (mask == nullptr)
              for (Index i = 0; i < n; ++i)
                distances[static_cast<std::size_t>(i)] =
                    std::min<std::uint16_t>(distances[static_cast<std::size_t>(i)], static_cast<std::uint16_t>(bits));
            ++cases;
            if (!same_as_hamming_reference(topk, distances, mask)) {
              std::ostringstream os;
              os << Arch::name() << " bits=" << bits << " shape " << shape << " n=" << n << " k=" << k
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

/// Long histories (10k and 100k positions: several segments, most spans skipped), recent
/// behaviours nearest (the best at the end) or the nearest at the start, with and without
/// a mask; and the fused search() against distances + the reference.
template <class Arch>
std::string check_hamming_topk_long(dare::Index& cases) {
  using dare::Index;
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (Index n : {Index(10000), Index(100000)})
    for (Index k : {Index(20), Index(50), Index(100), Index(300)}) {
      const Index bits = 64;
      dare::HammingTopK<Arch> topk(k, bits);
      std::binomial_distribution<int> binomial(int(bits), 0.5);
      for (int shape = 0; shape < 3; ++shape) {
        std::vector<std::uint16_t> distances(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i) {
          int d = binomial(rng);
          if (shape == 1) d = std::max(0, d - int(8 * i / n));   // nearer with recency
          if (shape == 2) d = std::min(int(bits), d + int(8 * i / n));  // farther with recency
          distances[static_cast<std::size_t>(i)] = static_cast<std::uint16_t>(d);
        }
        std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
        for (auto& v : valid) v = unit(rng) < 0.2 ? 0 : 1;
        for (const std::uint8_t* mask : {static_cast<const std::uint8_t*>(nullptr),
                                         static_cast<const std::uint8_t*>(valid.data())}) {
          ++cases;
          if (!same_as_hamming_reference(topk, distances, mask)) {
            std::ostringstream os;
            os << Arch::name() << " n=" << n << " k=" << k << " shape " << shape << (mask ? " masked" : "")
               << ": results differ";
            return os.str();
          }
        }
      }
    }
  // search() = hamming_distances + select, for every width.
  for (Index bits = 32; bits <= 256; bits += 32)
    for (Index n : {Index(20), Index(333), Index(5000)}) {
      const Index words = bits / 32, k = 20;
      std::vector<std::uint32_t> sigs(static_cast<std::size_t>(n * words)), query(static_cast<std::size_t>(words));
      for (auto& w : sigs) w = static_cast<std::uint32_t>(rng());
      for (auto& w : query) w = static_cast<std::uint32_t>(rng());
      std::vector<std::uint8_t> valid(static_cast<std::size_t>(n));
      for (auto& v : valid) v = unit(rng) < 0.1 ? 0 : 1;
      std::vector<std::uint16_t> distances(static_cast<std::size_t>(n));
      dare::reference::hamming_distances(query.data(), sigs.data(), n, words, distances.data());
      std::vector<Index> got_pos(static_cast<std::size_t>(k)), want_pos(static_cast<std::size_t>(k));
      std::vector<std::uint16_t> got(static_cast<std::size_t>(k)), want(static_cast<std::size_t>(k));
      dare::HammingTopK<Arch> topk(k, bits);
      topk.search(query.data(), sigs.data(), n, valid.data(), got_pos.data(), got.data());
      dare::reference::hamming_topk(distances.data(), n, valid.data(), k, bits, want_pos.data(), want.data());
      ++cases;
      if (got_pos != want_pos || got != want) {
        std::ostringstream os;
        os << Arch::name() << " search bits=" << bits << " n=" << n << ": results differ";
        return os.str();
      }
    }
  return "";
}

/// A valid distance above bits is reported with its position, in short and long histories
/// (the scalar and the vector checks), and ignored at a padded position.
template <class Arch>
std::string check_hamming_topk_bad_distance(dare::Index& cases) {
  using dare::Index;
  for (Index n : {Index(10), Index(100), Index(5000)})
    for (Index where : {Index(0), n / 2 + 1, n - 1}) {
      std::vector<std::uint16_t> distances(static_cast<std::size_t>(n), 3);
      distances[static_cast<std::size_t>(where)] = 33;
      dare::HammingTopK<Arch> topk(5, 32);
      std::vector<Index> pos(5);
      std::vector<std::uint16_t> out(5);
      std::ostringstream want;
      want << "distances[" << where << "] = 33 exceeds bits (32)";
      for (int masked = 0; masked < 2; ++masked) {
        std::vector<std::uint8_t> valid(static_cast<std::size_t>(n), 1);
        ++cases;
        try {
          topk.select(distances.data(), n, masked ? valid.data() : nullptr, pos.data(), out.data());
          return std::string(Arch::name()) + ": a distance above bits at " + std::to_string(where) + " passed";
        } catch (const std::invalid_argument& e) {
          if (std::string(e.what()).find(want.str()) == std::string::npos)
            return std::string(Arch::name()) + ": the error says \"" + e.what() + "\"";
        }
      }
      std::vector<std::uint8_t> valid(static_cast<std::size_t>(n), 1);
      valid[static_cast<std::size_t>(where)] = 0;
      ++cases;
      try {
        topk.select(distances.data(), n, valid.data(), pos.data(), out.data());
      } catch (const std::invalid_argument& e) {
        return std::string(Arch::name()) + ": a padded distance above bits raised \"" + e.what() + "\"";
      }
    }
  return "";
}

}  // namespace dare_test
