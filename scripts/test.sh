#!/usr/bin/env bash
# Builds and runs the whole test suite with ctest: once plain (Release with assertions) and
# once with AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            both builds
#   scripts/test.sh plain      only the plain build      (build dir: build/test)
#   scripts/test.sh sanitize   only the sanitized build  (build dir: build/sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${DARE_JOBS:-$(nproc)}
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(plain sanitize)

for mode in "${modes[@]}"; do
  case "$mode" in
    # Both builds compile the examples: ctest runs the tools end to end and through a table
    # of bad inputs (tests/tools/), so the sanitizers watch them too.
    # -g1 (line tables): the sanitizers' and a crash's stack traces name file and line, and
    # the template-heavy tests compile faster than with full debug information.
    plain)    dir=build/test;     opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1" -DDARE_BUILD_EXAMPLES=ON) ;;
    sanitize) dir=build/sanitize; opts=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DDARE_SANITIZE=ON -DDARE_BUILD_EXAMPLES=ON) ;;
    *) echo "test.sh: unknown mode '$mode' (plain or sanitize)" >&2; exit 2 ;;
  esac
  echo "=== dare tests: $mode build in $dir ==="
  cmake -S . -B "$dir" "${opts[@]}" -DDARE_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$dir" -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs"
done
