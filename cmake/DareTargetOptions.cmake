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
  # Without UBSan's vptr check (calls through a pointer to the wrong dynamic type): dare has
  # few virtual calls (LoadedModel), and the check's RTTI instrumentation of every member call
  # was a fifth of the sanitized build's compile time (tests/train/trainer_test.cpp: 91 s
  # with it, 72 s without, at -O1 on a 2-core Zen 4).
  target_compile_options(dare_sanitize INTERFACE -fsanitize=address,undefined -fno-sanitize=vptr
                         -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(dare_sanitize INTERFACE -fsanitize=address,undefined -fno-sanitize=vptr)
  target_compile_definitions(dare_sanitize INTERFACE DARE_SANITIZED_BUILD)
endif()

# The ISA of the examples and benchmarks: -march=${DARE_MARCH} (default native), e.g.
# -DDARE_MARCH=x86-64-v3 for an AVX2 + FMA build on an AVX-512 machine.
add_library(dare_native INTERFACE)
if(DARE_NATIVE)
  if(DARE_MARCH STREQUAL "")
    message(FATAL_ERROR "DARE_MARCH is empty: set it (e.g. native, x86-64-v3) or turn DARE_NATIVE off")
  endif()
  include(CheckCXXCompilerFlag)
  string(MAKE_C_IDENTIFIER "DARE_COMPILER_HAS_MARCH_${DARE_MARCH}" dare_march_check)
  check_cxx_compiler_flag("-march=${DARE_MARCH}" ${dare_march_check})
  if(NOT ${dare_march_check})
    message(FATAL_ERROR "the compiler does not accept -march=${DARE_MARCH} (DARE_MARCH)")
  endif()
  target_compile_options(dare_native INTERFACE -march=${DARE_MARCH})
endif()
