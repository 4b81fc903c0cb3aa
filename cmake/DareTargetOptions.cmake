# Compile options for the project's own programs (tests, examples, benchmarks). The library
# target itself carries none: its users choose warnings and the ISA.

add_library(dare_warnings INTERFACE)
target_compile_options(dare_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-psabi)
# GCC 12 reports false "may be used uninitialized" warnings inside its own AVX-512
# intrinsics (GCC bug 105593), which Eigen's GEMM kernels hit under -march=native.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(dare_warnings INTERFACE -Wno-maybe-uninitialized)
endif()

add_library(dare_sanitize INTERFACE)
if(DARE_SANITIZE)
  target_compile_options(dare_sanitize INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(dare_sanitize INTERFACE -fsanitize=address,undefined)
endif()

add_library(dare_native INTERFACE)
if(DARE_NATIVE)
  target_compile_options(dare_native INTERFACE -march=native)
endif()
