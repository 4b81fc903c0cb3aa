#include <catch2/catch.hpp>

#include "dare/dare.hpp"

namespace dare_odr {
int dynamic_marker_a();
}

TEST_CASE("the umbrella header links from two translation units", "[core][odr]") {
  CHECK(dare_odr::dynamic_marker_a() == dare::Dynamic);
}
