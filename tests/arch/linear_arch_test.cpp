// The thread-count check of tests/nn/linear_threads_checks.hpp for the architecture this
// binary is built for (DARE_TEST_ARCH with the matching -m flags: Eigen's GEMM kernels for
// that ISA; see tests/CMakeLists.txt).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#  pragma GCC diagnostic ignored "-Wuninitialized"
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "nn/linear_threads_checks.hpp"

TEMPLATE_TEST_CASE("a linear layer's products give the same bits on any thread count on " DARE_TEST_ARCH_NAME,
                   "[nn][linear][arch]", float, double) {
  DARE_SKIP_UNLESS_ARCH_RUNS();
  CHECK(dare_test::check_linear_threads_shapes<TestType>() == "");
}
