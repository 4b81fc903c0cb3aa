#!/usr/bin/env bash
# DARE vs TWIN over several seeds on one log: runs `dare_train --compare --seed S` for
# S = 1..N (default 3) and prints each run's test AUC, then the mean and sample standard
# deviation of each model's test AUC and of the difference, and how many runs DARE won.
#
#   scripts/compare_seeds.sh LOG [N] [extra dare_train flags...]
#
# Expects build/release/examples/dare_train (scripts/run.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:?usage: scripts/compare_seeds.sh LOG [N] [dare_train flags...]}
n=${2:-3}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "compare_seeds: N must be a positive number of seeds, got '$n'" >&2; exit 2; }
shift $(( $# >= 2 ? 2 : 1 ))
train=build/release/examples/dare_train
[ -x "$train" ] || { echo "compare_seeds: $train is missing; run scripts/run.sh first" >&2; exit 1; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for seed in $(seq 1 "$n"); do
  "$train" --input "$log" --compare --quiet --seed "$seed" "$@" |
    awk -v seed="$seed" '$1 == "dare" { d = $2 } $1 == "twin" { t = $2 } END { print seed, d, t }' >> "$results"
done
awk '
  { seed[NR] = $1; d[NR] = $2; t[NR] = $3; printf "seed %-3s DARE %.5f  TWIN %.5f  DARE - TWIN %+.5f\n", $1, $2, $3, $2 - $3 }
  function mean(x,   i, s) { s = 0; for (i = 1; i <= NR; i++) s += x[i]; return s / NR }
  function sd(x, m,   i, s) { if (NR < 2) return 0; s = 0; for (i = 1; i <= NR; i++) s += (x[i] - m) ^ 2; return sqrt(s / (NR - 1)) }
  END {
    for (i = 1; i <= NR; i++) { diff[i] = d[i] - t[i]; wins += d[i] > t[i] }
    md = mean(d); mt = mean(t); mf = mean(diff)
    printf "test AUC over %d seeds (mean ± sd): DARE %.4f ± %.4f, TWIN %.4f ± %.4f, DARE - TWIN %+.4f ± %.4f; DARE ahead in %d of %d\n",
           NR, md, sd(d, md), mt, sd(t, mt), mf, sd(diff, mf), wins, NR
  }' "$results"
