#!/usr/bin/env bash
# The main job: builds the tools (dare_gen, dare_prep, dare_train), generates the default
# synthetic Taobao-format log and trains DARE and TWIN on it with the reference settings,
# printing their test metrics side by side. Extra arguments go to dare_train (e.g. --epochs 1,
# --threads 1).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/release
data=build/data
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DDARE_BUILD_TESTS=OFF -DDARE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$dir" -j "${DARE_JOBS:-$(nproc)}" --target dare_gen dare_prep dare_train
mkdir -p "$data"
log="$data/synthetic_taobao.csv"
# Always regenerated (well under a second), so a changed generator never leaves stale data.
"$dir/examples/dare_gen" --format taobao --out "$log" --seed 1
"$dir/examples/dare_train" --format taobao --input "$log" --compare --metrics-out "$data/metrics.json" "$@"
echo "metrics written to $data/metrics.json"
