// Two translation units include the umbrella header: a non-inline definition in any dare
// header makes this binary fail to link.
#include "dare/dare.hpp"

namespace dare_odr {
int dynamic_marker_a() { return dare::Dynamic; }
}  // namespace dare_odr
