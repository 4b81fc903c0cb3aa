// The SIMD softmax against the scalar loop (std::exp and one running sum), for one xsimd
// architecture: shared by the default build's test and the ISA-specific binaries
// (tests/arch/softmax_arch_test.cpp). Each check returns "" or what went wrong.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "dare/attention/softmax_attention.hpp"

namespace dare_test {

template <class Scalar>
bool same_bits(Scalar a, Scalar b) {
  return std::memcmp(&a, &b, sizeof(Scalar)) == 0;
}

/// Random scores at lengths around every lane count: the weights within `tol` (relative) of
/// the scalar loop's and summing to 1 within n·tol, the largest weight where the largest
/// score is, and the same weights computed in place.
template <class Arch, class Scalar>
std::string check_softmax_matches_scalar() {
  using Att = dare::SoftmaxAttention<Scalar>;
  const Scalar tol = std::is_same_v<Scalar, float> ? Scalar(1e-5) : Scalar(1e-13);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::ostringstream err;
  for (const dare::Index n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 20, 31, 32, 33, 63, 200, 1001}) {
    for (const double spread : {0.1, 3.0, 40.0}) {
      std::vector<Scalar> scores(static_cast<std::size_t>(n)), ref(scores.size()), got(scores.size());
      for (auto& s : scores) s = static_cast<Scalar>(spread * normal(rng) + 5.0);
      Att::template softmax<xsimd::unavailable>(scores.data(), n, ref.data());
      Att::template softmax<Arch>(scores.data(), n, got.data());
      Scalar sum = 0;
      std::size_t best = 0;
      for (std::size_t j = 0; j < scores.size(); ++j) {
        sum += got[j];
        if (scores[j] > scores[best]) best = j;
        const Scalar diff = std::abs(got[j] - ref[j]);
        if (!(diff <= tol * ref[j]) && !(ref[j] < std::numeric_limits<Scalar>::min() && got[j] == 0)) {
          err << "n " << n << " spread " << spread << " position " << j << ": " << got[j] << " vs scalar "
              << ref[j] << "; ";
          break;
        }
      }
      if (!(std::abs(sum - 1) <= tol * Scalar(n))) err << "n " << n << " spread " << spread << ": sum " << sum << "; ";
      for (std::size_t j = 0; j < scores.size(); ++j) {
        if (got[j] > got[best]) {
          err << "n " << n << ": the largest weight is not at the largest score; ";
          break;
        }
      }
      std::vector<Scalar> inplace = scores;
      Att::template softmax<Arch>(inplace.data(), n, inplace.data());
      if (std::memcmp(inplace.data(), got.data(), got.size() * sizeof(Scalar)) != 0)
        err << "n " << n << ": in place differs; ";
    }
  }
  return err.str();
}

/// The cases both forms must agree on exactly: padded positions (the reference's sentinel)
/// weigh 0 and an all-padded row is uniform; -inf scores weigh 0; huge scores neither
/// overflow nor lose the others; a NaN score makes every weight NaN.
template <class Arch, class Scalar>
std::string check_softmax_special() {
  using Att = dare::SoftmaxAttention<Scalar>;
  const Scalar pad = Att::kPaddingScore;
  const Scalar inf = std::numeric_limits<Scalar>::infinity();
  const Scalar nan = std::numeric_limits<Scalar>::quiet_NaN();
  std::ostringstream err;
  auto run = [](std::vector<Scalar> s) {
    std::vector<Scalar> w(s.size());
    Att::template softmax<Arch>(s.data(), static_cast<dare::Index>(s.size()), w.data());
    return w;
  };
  for (const std::size_t n : {1u, 5u, 16u, 19u, 200u}) {
    // All padded: uniform, exactly 1/n as in the scalar loop.
    for (const Scalar w : run(std::vector<Scalar>(n, pad))) {
      if (!same_bits(w, Scalar(1) / Scalar(n))) {
        err << "all-padded row of " << n << ": weight " << w << "; ";
        break;
      }
    }
    // Padded and -inf positions weigh exactly 0; the two valid ones split the rest.
    std::vector<Scalar> s(n, pad);
    for (std::size_t j = 1; j < n; j += 3) s[j] = -inf;
    s[n - 1] = Scalar(6);
    if (n > 2) s[n / 2] = Scalar(-14);
    const auto w = run(s);
    for (std::size_t j = 0; j < n; ++j) {
      const bool valid = j == n - 1 || (n > 2 && j == n / 2);
      if (!valid && w[j] != 0) err << "n " << n << ": padded or -inf position " << j << " weighs " << w[j] << "; ";
    }
    const Scalar expect_top = n > 2 ? Scalar(1) / (Scalar(1) + std::exp(Scalar(-20))) : Scalar(1);
    if (!(std::abs(w[n - 1] - expect_top) <= Scalar(1e-6))) err << "n " << n << ": top weight " << w[n - 1] << "; ";
    // Huge scores: the maximum is subtracted first.
    std::vector<Scalar> big(n, Scalar(1e30));
    big[0] = Scalar(1e30) + Scalar(1e24);
    const auto wb = run(big);
    if (!std::isfinite(wb[0]) || !(wb[0] > Scalar(0.99))) err << "n " << n << ": huge scores gave " << wb[0] << "; ";
    // NaN, first or later: every weight NaN.
    for (const std::size_t at : {std::size_t{0}, n - 1, n / 2}) {
      std::vector<Scalar> sn(n, Scalar(1));
      sn[at] = nan;
      for (const Scalar x : run(sn)) {
        if (!std::isnan(x)) {
          err << "n " << n << ": NaN at " << at << " left a weight " << x << "; ";
          break;
        }
      }
    }
  }
  return err.str();
}

}  // namespace dare_test
