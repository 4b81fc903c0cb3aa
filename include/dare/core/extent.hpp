// dare/core/extent.hpp — a size that is either a compile-time constant or a run-time value.
//
// `Extent<16>` stores nothing and checks any run-time value passed for it;
// `Extent<Dynamic>` stores the value. Classes templated on a width hold one of these so the
// fixed case costs nothing and the compiler sees the constant in the loops.
#pragma once

#include "dare/core/config.hpp"
#include "dare/core/error.hpp"

namespace dare {

template <int N>
class Extent {
  static_assert(N > 0, "a fixed extent must be positive (or Dynamic)");

 public:
  static constexpr bool is_dynamic = false;
  constexpr Extent() = default;
  /// Checks that a run-time size agrees with the compile-time one.
  explicit Extent(Index n, const char* what = "size") {
    DARE_CHECK_ARG(n == N, what, " is ", n, " but the type fixes it to ", N);
  }
  static constexpr Index value() noexcept { return N; }
  constexpr operator Index() const noexcept { return N; }
};

template <>
class Extent<Dynamic> {
 public:
  static constexpr bool is_dynamic = true;
  explicit Extent(Index n, const char* what = "size") : n_(n) {
    DARE_CHECK_ARG(n > 0, what, " must be positive, got ", n);
  }
  Index value() const noexcept { return n_; }
  operator Index() const noexcept { return n_; }

 private:
  Index n_;
};

}  // namespace dare
