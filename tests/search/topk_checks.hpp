// TopK against the full-sort reference for one xsimd architecture, shared by
// tests/search/topk_test.cpp (the default architecture) and tests/arch/topk_arch_test.cpp
// (AVX2 and AVX-512 builds).
//
// The sizes cover every path of TopK::select: ranking all n (small n), the group-maxima
// bound then ranking (distinct scores), the bound then the heap (many ties), and no bound
// (k > 64); with and without masks, at several padded fractions.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/search/topk.hpp"

namespace dare_test {

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
            std::vector<Index> got_pos(k), want_pos(k);
            std::vector<Scalar> got(k), want(k);
            topk.select(scores.data(), n, mask, got_pos.data(), got.data());
            dare::reference::topk_reference(scores.data(), n, mask, k, want_pos.data(),
                                            want.data());
            ++cases;
            if (got_pos != want_pos || got != want) {
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

}  // namespace dare_test
