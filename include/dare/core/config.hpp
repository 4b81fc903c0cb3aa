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

/// The longest history window (max_len) dare accepts from a file, an option or a model
/// configuration: a batch holds batch_size x max_len ids and embeddings, so a corrupt or
/// mistyped window must fail with a message, not with std::bad_alloc.
inline constexpr Index kMaxHistoryLength = 10000;

/// The widest embedding per field (att_dim, repr_dim) a model accepts.
inline constexpr Index kMaxEmbeddingDim = 1024;

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
