#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, clang, ASan + UBSan) in build/fuzz and runs each one
# for SECONDS (default 20) over a copy of its committed seed corpus fuzz/corpus/<harness>/,
# after replaying every reproducer of a past finding in fuzz/regressions/<harness>/.
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     all harnesses, or only the ones named
# Prints per harness the executions, exec/s, coverage (libFuzzer's cov/ft), corpus size and
# the result; exits non-zero if any harness found something (crash, sanitizer report,
# allocation over 1 GiB, RSS over 2 GiB, an input running over 10 s). A finding's input is
# saved as build/fuzz/findings/<harness>/<kind>-<sha1>; the log is build/fuzz/logs/<harness>.log.
# The harnesses run side by side, one per core.
# Environment: DARE_JOBS (build jobs, default 2), DARE_FUZZ_JOBS (harnesses at a time, default
# the number of cores), DARE_FUZZ_NICE (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
jobs=${DARE_JOBS:-2}
niceness=${DARE_FUZZ_NICE:-10}
all=(raw_log_taobao raw_log_tmall preprocess dataset embedding_table sgd adagrad table_adam
     parameters nn_adam model)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

# clang 14 and its libFuzzer runtime (Debian 12 packages), with what the harnesses build on.
./scripts/setup.sh cmake make libeigen3-dev libxsimd-dev clang-14 libclang-rt-14-dev
cxx=$(command -v clang++-14 || command -v clang++)

dir=build/fuzz
start=$SECONDS
# A build directory configured with another compiler cannot be switched in place. (The
# cached entry's type alternates between reconfigurations: compare the value only.)
if [ -f "$dir/CMakeCache.txt" ] &&
   [ "$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")" != "$cxx" ]; then
  rm -rf "$dir"
fi
echo "=== dare fuzz: building ${#harnesses[@]} harnesses in $dir with $cxx ==="
cmake -S . -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug \
  -DDARE_BUILD_FUZZERS=ON -DDARE_BUILD_TESTS=OFF -DDARE_BUILD_EXAMPLES=OFF \
  -DDARE_BUILD_BENCHMARKS=OFF >/dev/null
nice -n "$niceness" cmake --build "$dir" -j "$jobs" --target "${harnesses[@]/%/_fuzzer}"
echo "fuzz: build took $((SECONDS - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
limits=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10)
mkdir -p "$dir/logs"

# Fuzzes one harness; prints its summary line and leaves it in $dir/logs/<harness>.summary.
fuzz_one() {
  local h=$1
  local bin="$dir/fuzz/${h}_fuzzer"
  local log="$dir/logs/$h.log"
  local findings="$dir/findings/$h"
  local work="$dir/work/$h"
  local dict
  case "$h" in
    raw_log_*|preprocess) dict=fuzz/dict/raw_log.dict ;;
    *) dict=fuzz/dict/binary.dict ;;
  esac
  rm -rf "$work" "$findings"
  mkdir -p "$work" "$findings"
  cp -r "fuzz/corpus/$h/." "$work/"   # the committed corpus itself is never written
  : >"$log"
  local result=ok
  local regressions=(fuzz/regressions/"$h"/*)
  if [ -e "${regressions[0]}" ]; then
    if ! nice -n "$niceness" "$bin" "${limits[@]}" -runs=1 "${regressions[@]}" >>"$log" 2>&1; then
      result="FAILED (regression input)"
    fi
  fi
  if [ "$result" = ok ]; then
    if ! nice -n "$niceness" "$bin" "${limits[@]}" -max_total_time="$seconds" -dict="$dict" \
        -print_final_stats=1 -artifact_prefix="$findings/" "$work" >>"$log" 2>&1; then
      result="FAILED (finding: $(ls "$findings" | head -1))"
    fi
  fi
  final_stat() { grep -o "^stat::$1: *[0-9]*" "$log" | tail -1 | grep -o '[0-9]*$' || echo "?"; }
  local last cov ft line
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo "?")
  line=$(printf '%-16s %-8s execs %-9s exec/s %-6s cov %-5s ft %-5s corpus %-4s %s' "$h" \
    "${seconds}s" "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" "$cov" "$ft" \
    "$(ls "$work" | wc -l)" "$result")
  echo "$line"
  echo "$line" >"$dir/logs/$h.summary"
}

# libFuzzer runs one process per harness on one core: harnesses run side by side, one per
# core (DARE_FUZZ_JOBS), each for the full SECONDS.
parallel=${DARE_FUZZ_JOBS:-$(nproc)}
for h in "${harnesses[@]}"; do
  rm -f "$dir/logs/$h.summary"
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  fuzz_one "$h" &
done
wait

failed=()
echo "=== dare fuzz summary ($((SECONDS - start)) s in all) ==="
for h in "${harnesses[@]}"; do
  line=$(cat "$dir/logs/$h.summary" 2>/dev/null || echo "$h: no result (the script failed; see $dir/logs/$h.log)")
  echo "$line"
  if [[ "$line" != *" ok" ]]; then
    failed+=("$h")
    grep -E 'ERROR|SUMMARY|FUZZ_CHECK|runtime error|out-of-memory|timeout' "$dir/logs/$h.log" | head -5 | sed 's/^/    /' || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs under $dir/findings/, logs under $dir/logs/)" >&2
  exit 1
fi
