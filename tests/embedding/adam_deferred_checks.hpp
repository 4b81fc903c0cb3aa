// The checks of TableAdam's deferred rows (adam.hpp), shared by tests/embedding/adam_test.cpp
// (this build's flags) and tests/arch/adam_arch_test.cpp (built for AVX2 and AVX-512, where
// the compiler fuses multiplies and adds: the replay must agree with the dense pass there
// too). Each returns "" or what differed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "dare/core/denormals.hpp"
#include "dare/embedding/adam.hpp"

namespace dare_test {

/// Every scalar of row `row` of the table and both moments, padding included, as bits.
template <class Table, class Adam>
bool adam_row_bitwise_equal(const Table& a, const Adam& adam_a, const Table& b, const Adam& adam_b,
                            dare::Index row) {
  const auto bytes = sizeof(*a.row(0)) * static_cast<std::size_t>(a.stride());
  return std::memcmp(a.row(row), b.row(row), bytes) == 0 &&
         std::memcmp(adam_a.moment1(row), adam_b.moment1(row), bytes) == 0 &&
         std::memcmp(adam_a.moment2(row), adam_b.moment2(row), bytes) == 0;
}

/// A deferred Dense TableAdam against a plain one over 900 steps: every row a batch reads is
/// prepared and compared bit for bit before the step, and every row after each
/// synchronize. Rows 0-9 are touched every few steps, 10-19 once in a while, 20-29 only in
/// the first 20 steps (then idle long enough to freeze), 30-46 never; half the gradients
/// are tiny; flush-to-zero is off for steps 300-599 and on otherwise; the learning rate
/// follows a schedule. With `stream_share` 1 every step defers; at 0.1 the steps touching
/// 5 rows or more stream over the whole table instead (TableAdam::set_deferred).
template <class Scalar, int Dim>
std::string check_deferred_adam(dare::Index dim, double stream_share) {
  using dare::Id;
  using dare::Index;
  const Index rows = 47;
  dare::EmbeddingTable<Scalar, Dim> plain_table(rows, dim), table(rows, dim);
  plain_table.init_normal(Scalar(0.1), 5);
  table.init_normal(Scalar(0.1), 5);
  const dare::AdamOptions options{0.01, 0.9, 0.999, 1e-8};
  dare::TableAdam plain(plain_table, options, dare::AdamMode::Dense);
  dare::TableAdam adam(table, options, dare::AdamMode::Dense);
  adam.set_deferred(true, stream_share);
  dare::SparseGrad<Scalar, Dim> grad(dim);
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<Scalar> g(static_cast<std::size_t>(dim));
  std::vector<Id> ids;
  std::ostringstream out;
  for (int t = 0; t < 900; ++t) {
    const dare::ScopedFlushDenormals ftz(t < 300 || t >= 600);
    if (t % 50 == 0) {
      plain.set_lr(0.01 / (1 + t / 100));
      adam.set_lr(0.01 / (1 + t / 100));
    }
    grad.clear();
    for (Id id = 0; id < 30; ++id) {
      const bool touch = id < 10 ? gen() % 3 == 0 : id < 20 ? gen() % 97 == 0 : t < 20 && gen() % 2 == 0;
      if (!touch) continue;
      const double scale = id % 2 == 0 ? 1.0 : 1e-30;
      for (auto& x : g) x = static_cast<Scalar>(scale * unit(gen));
      grad.add(id, g.data());
    }
    ids.clear();
    for (int i = 0; i < 6; ++i) ids.push_back(static_cast<Id>(gen() % rows));
    adam.prepare(ids.data(), static_cast<Index>(ids.size()));
    for (Id id : ids) {
      if (!adam_row_bitwise_equal(plain_table, plain, table, adam, id)) {
        out << "step " << t << ": prepared row " << id << " differs";
        return out.str();
      }
    }
    plain.step(grad);
    adam.step(grad);
    if (t % 149 == 0 || t == 899) {
      adam.synchronize();
      if (!adam.synchronized()) return "synchronize() left rows behind";
      for (Index r = 0; r < rows; ++r) {
        if (!adam_row_bitwise_equal(plain_table, plain, table, adam, r)) {
          out << "step " << t << ": synchronized row " << r << " differs";
          return out.str();
        }
      }
    }
  }
  return "";
}

/// adam_dense_replay against running the same zero-gradient steps one by one with
/// adam_dense_range, bit for bit, with and without flush-to-zero, from a long idle stretch
/// (3000 steps: most lanes freeze) and a short one, for lanes of every kind an idle row
/// holds: moments of any size, zero m or v, zero p, both signs; a length with a scalar tail.
template <class Arch, class Scalar>
std::string check_adam_replay() {
  using dare::Index;
  const Index n = 3 * static_cast<Index>(xsimd::batch<Scalar, Arch>::size) + 5;
  std::mt19937_64 gen(6);
  std::uniform_real_distribution<double> unit(-0.1, 0.1);
  std::vector<Scalar> p0(static_cast<std::size_t>(n)), m0(p0.size()), v0(p0.size());
  for (Index i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const Scalar scale = std::pow(Scalar(10), -static_cast<Scalar>(gen() % 40));
    p0[k] = i % 13 == 0 ? Scalar(0) : static_cast<Scalar>(unit(gen));
    m0[k] = i % 7 == 0 ? Scalar(0) : (gen() % 2 ? scale : -scale) * Scalar(0.5);
    v0[k] = i % 11 == 0 ? Scalar(0) : scale * scale;
  }
  const Index steps = 3000;
  std::vector<dare::detail::AdamStepCoefficients<Scalar>> c;
  double max_step = 0;
  for (Index t = 1; t <= steps; ++t) {
    const dare::AdamOptions o{0.01 / (1 + static_cast<double>(t) / 500), 0.9, 0.999, 1e-8};
    c.push_back(dare::detail::AdamStepCoefficients<Scalar>::make(o, dare::AdamMode::Dense, t + 40));
    max_step = std::max(max_step, static_cast<double>(c.back().step_size));
  }
  const auto freeze = static_cast<Scalar>(2 * max_step / 1e-8);
  const auto bytes = p0.size() * sizeof(Scalar);
  for (const bool ftz : {false, true}) {
    const dare::ScopedFlushDenormals mode(ftz);
    for (const Index from : {Index{0}, Index{2990}}) {
      auto p1 = p0, m1 = m0, v1 = v0;
      for (Index s = from; s < steps; ++s)
        dare::detail::adam_dense_range<true, Arch>(p1.data(), m1.data(), v1.data(), static_cast<const Scalar*>(nullptr),
                                                   n, c[static_cast<std::size_t>(s)]);
      // With the freezing bound, and with none (as when eps is 0).
      for (const Scalar f : {freeze, Scalar(0)}) {
        auto p2 = p0, m2 = m0, v2 = v0;
        dare::detail::adam_dense_replay<Arch>(p2.data(), m2.data(), v2.data(), n, c.data() + from, steps - from, f);
        if (std::memcmp(p1.data(), p2.data(), bytes) != 0 || std::memcmp(m1.data(), m2.data(), bytes) != 0 ||
            std::memcmp(v1.data(), v2.data(), bytes) != 0) {
          std::ostringstream out;
          out << "flush to zero " << ftz << ", steps " << from << ".." << steps << ", freeze " << f << ": differs";
          return out.str();
        }
      }
    }
  }
  return "";
}

}  // namespace dare_test
