#!/usr/bin/env bash
# The DARE paper's Table 1 on one log: trains every model of the zoo (dare_train --model)
# for seeds 1..N (default 3) and prints, per model, each seed's test AUC, the mean ± sample
# standard deviation, and the paper's figure for Taobao at width 16 beside it. The metrics
# JSON of every run is kept in build/table1/<model>.seed<S>.json.
#
#   scripts/table1.sh LOG [N] [extra dare_train flags...]
#   TABLE1_MODELS="dare twin din" scripts/table1.sh LOG 3     # a subset
#
# Expects build/release/examples/dare_train (scripts/run.sh builds it). The paper's column
# is its Table 1 (Taobao, embedding width 16): the synthetic log is not Taobao, so the
# comparison is of the ordering, not of the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:?usage: scripts/table1.sh LOG [N] [dare_train flags...]}
n=${2:-3}
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "table1: N must be a positive number of seeds, got '$n'" >&2; exit 2; }
shift $(( $# >= 2 ? 2 : 1 ))
train=build/release/examples/dare_train
[ -x "$train" ] || { echo "table1: $train is missing; run scripts/run.sh first" >&2; exit 1; }
models=${TABLE1_MODELS:-dare twin twin-hard twin-proj twin-notr twin-4e din eta sdim twin-v2}
out=build/table1
mkdir -p "$out"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for model in $models; do
  for seed in $(seq 1 "$n"); do
    json="$out/$model.seed$seed.json"
    # TWIN-V2 reads clusters: its own cache, preprocessed with the suggested cluster size.
    extra=()
    [ "$model" = twin-v2 ] && extra=(--cluster-max-size 10 --cache "$out/clustered.dare")
    "$train" --input "$log" --model "$model" --quiet --seed "$seed" --metrics-out "$json" "${extra[@]}" "$@" \
      > "$out/$model.seed$seed.log"
    auc=$(awk -v m="$model" '$1 == m { print $2; exit }' "$out/$model.seed$seed.log")
    [ -n "$auc" ] || { echo "table1: no test AUC for $model seed $seed (see $out/$model.seed$seed.log)" >&2; exit 1; }
    echo "$model $seed $auc" | tee -a "$results" >&2
  done
done
awk '
  BEGIN {
    paper["dare"] = 0.9257; paper["twin"] = 0.9169; paper["twin-hard"] = 0.9100; paper["twin-notr"] = 0.9073
    paper["din"] = 0.9044; paper["twin-4e"] = 0.9041; paper["twin-proj"] = 0.8964
    paper["eta"] = 0.9133; paper["sdim"] = 0.9043; paper["twin-v2"] = 0.8943
  }
  { if (!($1 in count)) order[++models] = $1; v[$1, ++count[$1]] = $3 }
  END {
    printf "\n%-10s %-28s %-17s %s\n", "model", "test AUC per seed", "mean ± sd", "paper (Taobao, 16)"
    for (i = 1; i <= models; i++) {
      m = order[i]; k = count[m]; s = 0; seeds = ""
      for (j = 1; j <= k; j++) { s += v[m, j]; seeds = seeds sprintf("%.4f ", v[m, j]) }
      mean = s / k; q = 0
      for (j = 1; j <= k; j++) q += (v[m, j] - mean) ^ 2
      sd = k > 1 ? sqrt(q / (k - 1)) : 0
      printf "%-10s %-28s %.4f ± %.4f   %s\n", m, seeds, mean, sd, (m in paper) ? sprintf("%.4f", paper[m]) : "-"
    }
  }' "$results"
