// Helpers shared by the embedding layer's tests: the widths the typed tests run over, and
// small utilities for file-format tests.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"
#include "core/temp_files.hpp"

namespace dare_test {

/// A table width for TEMPLATE_TEST_CASE: the compile-time Dim and the run-time value.
template <class S, int D, dare::Index Runtime>
struct Width {
  using Scalar = S;
  static constexpr int Dim = D;
  static constexpr dare::Index dim = Runtime;
};
using Fixed16 = Width<float, 16, 16>;
using Dynamic7 = Width<float, dare::Dynamic, 7>;
using Dynamic16 = Width<float, dare::Dynamic, 16>;
using Fixed3d = Width<double, 3, 3>;

/// Runs `f`, which must throw dare::FormatError, and returns the error's field.
inline std::string format_error_field(const std::function<void()>& f) {
  try {
    f();
  } catch (const dare::FormatError& e) {
    return e.field();
  }
  FAIL("expected a dare::FormatError");
  return {};
}

/// A path in the temp directory unique to this process and `tag`; removed on destruction.
class TempPath {
 public:
  explicit TempPath(const std::string& tag)
      : path_("/tmp/dare_embedding_test_" + std::to_string(::getpid()) + "_" + tag) {}
  ~TempPath() {
    std::remove(path_.c_str());
    std::remove((path_ + ".tmp").c_str());
  }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

/// Fills `n` scalars with uniform values in [lo, hi) from `gen`.
template <class Scalar>
void fill_uniform(Scalar* p, dare::Index n, std::mt19937_64& gen, double lo = -1.0,
                  double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  for (dare::Index i = 0; i < n; ++i) p[i] = static_cast<Scalar>(dist(gen));
}

}  // namespace dare_test
