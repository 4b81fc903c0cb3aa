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
  # UBSan without three of its checks, each a large share of this build's compile time for
  # little it would find that nothing else does:
  #  - vptr (calls through a pointer to the wrong dynamic type): dare has few virtual calls
  #    (LoadedModel), and the RTTI instrumentation of every member call was a fifth of the
  #    compile time (tests/train/trainer_test.cpp: 91 s with it, 72 s without);
  #  - null and alignment (a check before every load and store): half of what remains
  #    (tests/serve/serve_test.cpp: 202 s with them, 102 s without; ASan alone 83 s). A null
  #    dereference still stops the test with ASan's SEGV report and stack; a misaligned SIMD
  #    aligned load faults the same way; and the fuzzers (scripts/fuzz.sh, clang, full UBSan)
  #    run every reader and loader, where misaligned scalar reads would come from, with both on.
  # Times at -O1 on a 2-core Zen 4.
  set(dare_ubsan_off -fno-sanitize=vptr,null,alignment)
  target_compile_options(dare_sanitize INTERFACE -fsanitize=address,undefined ${dare_ubsan_off}
                         -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(dare_sanitize INTERFACE -fsanitize=address,undefined ${dare_ubsan_off})
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
