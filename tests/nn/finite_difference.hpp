// Central finite differences for the gradient checks of the attention and nn tests.
//
// Every check has the same shape: a scalar loss L(θ) computed in double by the forward pass
// (usually a random linear functional of the outputs, so every output gradient is
// exercised), the analytic gradient from the backward pass, and the central difference
// (L(θ + h) − L(θ − h)) / 2h for each element of θ. Agreement is measured as the max-norm
// relative error max|a − n| / max(max|a|, max|n|), which is what "relative error < 1e-6"
// means throughout the tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace dare_test {

/// dL/dx_i by central differences, restoring x afterwards. `loss()` recomputes L from the
/// current contents of x.
template <class Loss>
std::vector<double> numeric_gradient(double* x, std::size_t n, Loss&& loss, double h = 1e-6) {
  std::vector<double> g(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double plus = loss();
    x[i] = saved - h;
    const double minus = loss();
    x[i] = saved;
    g[i] = (plus - minus) / (2 * h);
  }
  return g;
}

/// max|a − n| / max(max|a|, max|n|); 0 when both are zero.
inline double relative_error(const double* analytic, const std::vector<double>& numeric) {
  double diff = 0;
  double scale = 0;
  for (std::size_t i = 0; i < numeric.size(); ++i) {
    diff = std::max(diff, std::abs(analytic[i] - numeric[i]));
    scale = std::max({scale, std::abs(analytic[i]), std::abs(numeric[i])});
  }
  return scale == 0 ? 0.0 : diff / scale;
}

inline double relative_error(const std::vector<double>& analytic, const std::vector<double>& numeric) {
  return relative_error(analytic.data(), numeric);
}

/// n values uniform in [lo, hi) from `rng`.
inline std::vector<double> uniform(std::mt19937_64& rng, std::size_t n, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

/// Σ_i c_i x_i: the random linear functional that turns a vector output into a scalar loss.
inline double dot(const double* c, const double* x, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += c[i] * x[i];
  return s;
}

}  // namespace dare_test
