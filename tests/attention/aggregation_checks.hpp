// The aggregation's forward at a fixed width (its sums in SIMD registers) against the Dynamic
// loop: shared by the default build's test (tests/attention/target_aggregation_test.cpp) and
// the ISA-specific binaries (tests/arch/aggregation_arch_test.cpp), where xsimd's default
// architecture is AVX2 or AVX-512. Bit for bit without FMA instructions; with them (__FMA__),
// GCC may contract a multiply and an add into one FMA in one form and not in the other (its
// default -ffp-contract=fast decides per context), so there the sums must agree to 4 ulp of
// Σ |w_i r_i|. forward_selected (rows picked by index) against forward on the picked rows
// copied out: bit for bit everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dare/attention/target_aggregation.hpp"

namespace dare_test {

/// Widths around the lane counts of SSE2, AVX2 and AVX-512 (whole batches, a tail, both),
/// 0 to 200 rows, strided rows: u and tr from TargetAggregation<Scalar, D> and <Scalar,
/// Dynamic> compared (see the header note). Returns "" or the first case that differed.
template <class Scalar, int D>
std::string check_fixed_aggregation_bits_at() {
  const dare::TargetAggregation<Scalar, D> fixed;
  const dare::TargetAggregation<Scalar> dynamic(D);
  std::mt19937_64 rng(D);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  for (const dare::Index n : {dare::Index{0}, dare::Index{1}, dare::Index{3}, dare::Index{20}, dare::Index{200}}) {
    const dare::Index stride = D + 5;
    const auto draw = [&](dare::Index count) {
      std::vector<Scalar> x(static_cast<std::size_t>(count));
      for (auto& v : x) v = static_cast<Scalar>(uniform(rng));
      return x;
    };
    const std::vector<Scalar> w = draw(n), rows = draw(n * stride), v = draw(D);
    std::vector<Scalar> u1(D), tr1(D), u2(D), tr2(D);
    fixed.forward(w.data(), rows.data(), stride, n, v.data(), u1.data(), tr1.data());
    dynamic.forward(w.data(), rows.data(), stride, n, v.data(), u2.data(), tr2.data());
#if defined(__FMA__)
    const Scalar ulp = std::numeric_limits<Scalar>::epsilon();
    for (dare::Index c = 0; c < D; ++c) {
      Scalar magnitude = 0;
      for (dare::Index i = 0; i < n; ++i) magnitude += std::abs(w[i] * rows[i * stride + c]);
      const auto at = static_cast<std::size_t>(c);
      if (std::abs(u1[at] - u2[at]) > 4 * ulp * magnitude ||
          std::abs(tr1[at] - tr2[at]) > 4 * ulp * magnitude * std::abs(v[at])) {
        std::ostringstream os;
        os << "width " << D << ", " << n << " rows: the fixed width's u or tr differs at " << c << "; ";
        return os.str();
      }
    }
#endif
    // forward_selected over rows picked by index (any order, repeats) equals forward over
    // those rows copied out, bit for bit: one order of operations.
    std::vector<dare::Index> index(static_cast<std::size_t>(n));
    std::vector<Scalar> picked(static_cast<std::size_t>(n * stride));
    for (dare::Index i = 0; i < n; ++i) {
      index[i] = static_cast<dare::Index>(rng() % static_cast<std::uint64_t>(n));
      std::memcpy(picked.data() + i * stride, rows.data() + index[i] * stride, sizeof(Scalar) * D);
    }
    for (const bool fixed_width : {true, false}) {
      std::vector<Scalar> u3(D), tr3(D), u4(D), tr4(D);
      if (fixed_width) {
        fixed.forward(w.data(), picked.data(), stride, n, v.data(), u3.data(), tr3.data());
        fixed.forward_selected(w.data(), rows.data(), stride, n, index.data(), n, v.data(), u4.data(), tr4.data());
      } else {
        dynamic.forward(w.data(), picked.data(), stride, n, v.data(), u3.data(), tr3.data());
        dynamic.forward_selected(w.data(), rows.data(), stride, n, index.data(), n, v.data(), u4.data(), tr4.data());
      }
      if (std::memcmp(u3.data(), u4.data(), sizeof(Scalar) * D) != 0 ||
          std::memcmp(tr3.data(), tr4.data(), sizeof(Scalar) * D) != 0) {
        std::ostringstream os;
        os << "width " << D << ", " << n << " rows" << (fixed_width ? " (fixed)" : " (Dynamic)")
           << ": forward_selected differs from forward on the copied rows; ";
        return os.str();
      }
    }
#if !defined(__FMA__)
    if (std::memcmp(u1.data(), u2.data(), sizeof(Scalar) * D) != 0 ||
        std::memcmp(tr1.data(), tr2.data(), sizeof(Scalar) * D) != 0) {
      std::ostringstream os;
      os << "width " << D << ", " << n << " rows: the fixed width's u or tr differs; ";
      return os.str();
    }
#endif
  }
  return "";
}

template <class Scalar>
std::string check_fixed_aggregation_bits() {
  return check_fixed_aggregation_bits_at<Scalar, 1>() + check_fixed_aggregation_bits_at<Scalar, 7>() +
         check_fixed_aggregation_bits_at<Scalar, 8>() + check_fixed_aggregation_bits_at<Scalar, 16>() +
         check_fixed_aggregation_bits_at<Scalar, 20>() + check_fixed_aggregation_bits_at<Scalar, 48>() +
         check_fixed_aggregation_bits_at<Scalar, 130>();
}

}  // namespace dare_test
