// LowpSearch for the architecture this binary is built for (DARE_TEST_ARCH; see
// tests/CMakeLists.txt: AVX2 takes the vpmaddubsw path, AVX-512 the generic one, the
// avx512lowp build vdpbf16ps and vpdpbusd), against its scalar reference.
#include <catch2/catch.hpp>

#include "arch/arch_runs.hpp"
#include "search/lowp_search_checks.hpp"

TEST_CASE("LowpSearch equals its scalar reference on " DARE_TEST_ARCH_NAME, "[search][lowp][arch]") {
  using Arch = DARE_TEST_ARCH;
  DARE_SKIP_UNLESS_ARCH_RUNS();
  dare::Index cases = 0;
  CHECK(dare_test::check_lowp_search<Arch>(cases) == "");
  CHECK(cases > 500);
}
