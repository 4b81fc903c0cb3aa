// dare/core/config.hpp — sizes, index type and the hot-path assertion macro.
//
// Follows Eigen: a compile-time size is a template argument, `Dynamic` means the size is
// given at run time. `DARE_ASSERT` guards preconditions on hot paths; it compiles to
// `assert` by default, and a user (or the test suite, with DARE_ASSERT_THROWS) may
// redefine it before including any dare header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dare {

/// Marks a size that is only known at run time (as in Eigen).
inline constexpr int Dynamic = -1;

/// Signed index type used for sizes and positions throughout the library.
using Index = std::ptrdiff_t;

/// Item, category and position ids as stored in datasets (0 is the padding id).
using Id = std::int32_t;

}  // namespace dare

#ifndef DARE_ASSERT
#  ifdef DARE_ASSERT_THROWS
#    include "dare/core/error.hpp"
#    define DARE_ASSERT(cond)                                                              \
       do {                                                                                \
         if (!(cond)) ::dare::detail::assertion_failed(#cond, __FILE__, __LINE__);         \
       } while (false)
#  else
#    include <cassert>
#    define DARE_ASSERT(cond) assert(cond)
#  endif
#endif
