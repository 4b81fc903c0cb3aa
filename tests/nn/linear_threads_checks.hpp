// The check that a Linear layer's products split over threads (linear.hpp) give the one-thread
// bits, shared by tests/nn/linear_test.cpp (this build's flags) and tests/arch/
// linear_arch_test.cpp (built for AVX2 and AVX-512, where Eigen's GEMM takes its wide
// kernels). Returns "" or what differed.
#pragma once

#include <cstring>
#include <random>
#include <sstream>
#include <string>

#include "dare/nn/linear.hpp"

namespace dare_test {

/// Forward, then backward twice (the gradients accumulate), of layers `in` → `out` over a
/// batch of `batch` columns with 1 thread and with 2, 3 and 4: outputs, dx and both
/// parameter gradients compared bit for bit. Covers dx written over dy too.
template <class Scalar>
std::string check_linear_threads(dare::Index in, dare::Index out, dare::Index batch) {
  using Matrix = dare::nn::Matrix<Scalar>;
  std::mt19937_64 rng(static_cast<std::uint64_t>(in * 1000003 + out * 1009 + batch));
  std::normal_distribution<double> normal;
  const auto random = [&](dare::Index r, dare::Index c) {
    Matrix m(r, c);
    for (dare::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(normal(rng));
    return m;
  };
  const Matrix x = random(in, batch), dy = random(out, batch);
  const auto same = [](const Matrix& a, const Matrix& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           std::memcmp(a.data(), b.data(), sizeof(Scalar) * static_cast<std::size_t>(a.size())) == 0;
  };
  struct Result {
    Matrix y, dx, dy_in_place, dw, db;
  };
  const auto run = [&](int threads) {
    dare::nn::Linear<Scalar> layer(in, out);
    layer.init_normal(Scalar(0.5), 7);
    layer.set_threads(threads);
    Result r;
    layer.forward(x, r.y);
    layer.weight().grad.setZero();
    layer.bias().grad.setZero();
    layer.backward(dy, &r.dx);
    r.dy_in_place = dy;
    layer.backward(r.dy_in_place, &r.dy_in_place);
    r.dw = layer.weight().grad;
    r.db = layer.bias().grad;
    return r;
  };
  const Result one = run(1);
  std::ostringstream failures;
  for (int threads : {2, 3, 4}) {
    const Result many = run(threads);
    const auto report = [&](const char* what, const Matrix& a, const Matrix& b) {
      if (!same(a, b)) {
        failures << what << " differs with " << threads << " threads (in " << in << ", out " << out
                 << ", batch " << batch << "); ";
      }
    };
    report("y", one.y, many.y);
    report("dx", one.dx, many.dx);
    report("dx over dy", one.dy_in_place, many.dy_in_place);
    report("dW", one.dw, many.dw);
    report("db", one.db, many.db);
  }
  return failures.str();
}

/// The heads' layer shapes (an input of 32 to 192 features, hidden 200 and 80, output 2) and
/// a few batches, odd and even.
template <class Scalar>
std::string check_linear_threads_shapes() {
  std::string failures;
  const dare::Index shapes[][2] = {{48, 200}, {200, 80}, {80, 2}, {96, 200}, {200, 2}, {192, 200}, {33, 7}};
  for (const auto& s : shapes) {
    for (dare::Index batch : {2048, 1001, 300, 17}) failures += check_linear_threads<Scalar>(s[0], s[1], batch);
  }
  return failures;
}

}  // namespace dare_test
