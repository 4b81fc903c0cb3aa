// examples/analyze/summary.hpp — the "mean ± sd" the subcommands print over seeds or model
// files: the mean and the sample standard deviation (n - 1), as scripts/table1.sh and the
// plotting scripts compute them.
#pragma once

#include <cmath>
#include <numeric>
#include <vector>

namespace dare_analyze {

struct MeanSd {
  double mean = 0;
  double sd = 0;
};

/// Mean and sample standard deviation of `v` (sd 0 for fewer than two values; the mean of no
/// values is NaN).
inline MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd r;
  r.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  if (v.size() < 2) return r;
  double q = 0;
  for (double x : v) q += (x - r.mean) * (x - r.mean);
  r.sd = std::sqrt(q / static_cast<double>(v.size() - 1));
  return r;
}

}  // namespace dare_analyze
