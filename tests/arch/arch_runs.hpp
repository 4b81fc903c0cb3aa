// What every ISA-specific test binary (tests/arch/, built for DARE_TEST_ARCH with the matching
// -m flags; see tests/CMakeLists.txt) checks first: that this machine runs that architecture.
#pragma once

#include <catch2/catch.hpp>
#include <xsimd/xsimd.hpp>

namespace dare_test {

/// xsimd 8.1's Arch::available() is a compile-time `true`; the CPUID probe says whether this
/// machine actually runs the architecture.
template <class Arch>
bool arch_runs_here() {
  return Arch::available() && xsimd::available_architectures().best >= Arch::version();
}

}  // namespace dare_test

/// Ends the current test case with a warning when this CPU lacks DARE_TEST_ARCH.
#define DARE_SKIP_UNLESS_ARCH_RUNS()                                                   \
  do {                                                                                 \
    if (!::dare_test::arch_runs_here<DARE_TEST_ARCH>()) {                              \
      WARN("this CPU lacks " DARE_TEST_ARCH_NAME ": test skipped");                    \
      return;                                                                          \
    }                                                                                  \
  } while (false)
