#!/usr/bin/env bash
# The paper's analyses on one log, as docs/analyses.md shows them for the built-in synthetic
# log: trains the model files the retrieval and discriminability analyses read (dare_train
# --checkpoint, seeds 1..N), runs every dare_analyze subcommand, and draws the figures.
#
#   scripts/analyses.sh LOG [N] [SYNTHETIC_SEED]
#
# LOG is a raw log or a dataset; N seeds (default 3); SYNTHETIC_SEED, when LOG is dare_gen's
# output with that seed and the default options (the built-in log: 1), adds the generator's
# truths to the retrieval analysis. Everything goes to build/analyses/ (CSV, model files,
# the printed summaries as .txt); the figures to build/analyses/*.png, to be copied into
# docs/ by hand. About 45 minutes on 2 cores for the built-in log and N = 3.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:?usage: scripts/analyses.sh LOG [N] [SYNTHETIC_SEED]}
n=${2:-3}
synthetic=${3:-}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "analyses: N must be a positive number of seeds, got '$n'" >&2; exit 2; }
bin=build/release/examples
for tool in dare_train dare_analyze; do
  [ -x "$bin/$tool" ] || { echo "analyses: $bin/$tool is missing; run scripts/run.sh first" >&2; exit 1; }
done
out=build/analyses
mkdir -p "$out"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

# The dataset the analyses share: the log itself if it is one, else dare_train's cache of it.
data=$log
if ! head -c 4 "$log" | grep -q DARE; then
  data=$out/data.dare
  "$bin/dare_train" --input "$log" --cache "$data" --model dare --max-steps 1 --quiet >/dev/null
fi

# Model files for retrieval (DARE, TWIN, TWIN-4E, TWIN w/ proj., DIN) and discriminability
# (DARE, TWIN, TWIN w/o TR).
for seed in $(seq 1 "$n"); do
  for model in dare twin twin-4e twin-proj din twin-notr; do
    file=$out/$model.seed$seed.dare
    [ -f "$file" ] || "$bin/dare_train" --input "$data" --model "$model" --seed "$seed" --quiet \
      --checkpoint "$file" --metrics-out "$out/$model.seed$seed.json" >"$out/$model.seed$seed.log"
  done
done

"$bin/dare_analyze" widths --input "$data" --seeds "$n" --out "$out/widths.csv" | tee "$out/widths.txt"
"$bin/dare_analyze" convergence --input "$data" --seeds "$n" --eval-interval 4 --out "$out/convergence.csv" |
  tee "$out/convergence.txt"
steps=()
for seed in $(seq 1 "$n"); do
  "$bin/dare_analyze" conflict --input "$data" --seed "$seed" --quiet --out "$out/conflict.seed$seed.csv" \
    --steps-out "$out/conflict_steps.seed$seed.csv" | tee "$out/conflict.seed$seed.txt"
  steps+=("$out/conflict_steps.seed$seed.csv")
done
truth=()
[ -n "$synthetic" ] && truth=(--synthetic-seed "$synthetic")
ndcg=()
for seed in $(seq 1 "$n"); do
  files=()
  for model in dare twin twin-4e twin-proj din; do files+=(--model-file "$out/$model.seed$seed.dare"); done
  # The reference's thin-cell filter keeps no sample of a log this small (docs/analyses.md).
  "$bin/dare_analyze" retrieval --input "$data" "${files[@]}" "${truth[@]}" --max-thin-cells 200 --quiet \
    --out "$out/retrieval.seed$seed.csv" --maps-out "$out/retrieval_maps.seed$seed.csv" | tee "$out/retrieval.seed$seed.txt"
  ndcg+=(--ndcg "$out/retrieval.seed$seed.csv")
done
mi=()
for seed in $(seq 1 "$n"); do
  files=()
  for model in dare twin twin-notr; do files+=(--model-file "$out/$model.seed$seed.dare"); done
  # The reference's raw head inputs, and each coordinate scaled to unit variance first.
  "$bin/dare_analyze" discriminability --input "$data" "${files[@]}" --quiet \
    --out "$out/discriminability.seed$seed.csv" | tee "$out/discriminability.seed$seed.txt"
  "$bin/dare_analyze" discriminability --input "$data" "${files[@]}" --quiet --standardize \
    --out "$out/discriminability_std.seed$seed.csv" | tee "$out/discriminability_std.seed$seed.txt"
  mi+=("$out/discriminability.seed$seed.csv" "$out/discriminability_std.seed$seed.csv")
done

"$py" scripts/plot_analyses.py widths "$out/widths.csv" --png "$out/analysis_widths.png"
"$py" scripts/plot_analyses.py convergence "$out/convergence.csv" --png "$out/analysis_convergence.png"
"$py" scripts/plot_analyses.py conflict "${steps[@]}" --png "$out/gradient_conflict.png"
"$py" scripts/plot_analyses.py retrieval "${ndcg[@]}" --maps "$out/retrieval_maps.seed1.csv" --out-dir "$out"
"$py" scripts/plot_analyses.py discriminability "${mi[@]}" --png "$out/discriminability.png"
echo "analyses: figures and tables in $out/"
