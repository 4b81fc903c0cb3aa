#!/usr/bin/env bash
# dare_analyze as a user runs it, on a small generated log: each subcommand's training runs
# are dare_train's (the same test metrics and validation history for the same flags and
# seed), its CSV holds what it printed, and bad options and inputs are refused by name.
#   analyze.sh <dir with the tools> <scratch dir>
source "$(dirname "$0")/tools_lib.sh"
ANALYZE=$TOOLS/dare_analyze

# The value of "key": number inside the "test" object of a metrics JSON.
test_metric() {
  sed -n "s/.*\"test\": {[^}]*\"$2\": \([-0-9.e+]*\).*/\1/p" "$1" | head -n 1
}
# Column `name` of the CSV rows whose first field is `model`.
csv_column() {
  awk -F, -v model="$2" -v name="$3" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == model { print $col[name] }' "$1"
}

expect 0 "wrote log.csv: 300 users" "dare_gen" -- "$GEN" --format taobao --users 300 --out log.csv --seed 4 --profile-users 0
expect 0 "data.dare" "dare_prep" -- "$PREP" --input log.csv --out data.dare
protect log.csv data.dare
# Widths 5 and 6 are compiled into no tool, so dare_train and dare_analyze run the same
# (Dynamic) instantiation and must agree to the last digit.
short=(--max-steps 12 --batch-size 256 --eval-interval 4)

# widths: DARE A = 5 / R = 6 and TWIN D = 5, one seed each.
expect 0 "wrote widths.csv" "widths" -- "$ANALYZE" widths --input data.dare --widths 5 --repr-dim 6 --seeds 1 \
  --lengths 200 "${short[@]}" --out widths.csv
expect 0 "test AUC" "dare_train dare 5/6" -- "$TRAIN" --input data.dare --model dare --att-dim 5 --repr-dim 6 \
  --seed 1 "${short[@]}" --quiet --metrics-out dare.json
expect 0 "test AUC" "dare_train twin 5" -- "$TRAIN" --input data.dare --model twin --dim 5 \
  --seed 1 "${short[@]}" --quiet --metrics-out twin.json
for model in dare twin; do
  trained=$(printf '%.7g' "$(test_metric "$model.json" auc)")
  analyzed=$(printf '%.7g' "$(csv_column widths.csv "$model" test_auc)")
  [ "$trained" = "$analyzed" ] || fail "widths: $model's test AUC $analyzed differs from dare_train's $trained"
  cold=$(csv_column widths.csv "$model" search_cold_us_L200)
  awk -v t="$cold" 'BEGIN { exit !(t > 0 && t < 1e6) }' || fail "widths: $model's search time '$cold' is not a time"
done
[ "$(csv_column widths.csv dare repr_width)" = 6 ] || fail "widths: DARE's representation width is not 6"
[ "$(csv_column widths.csv twin repr_width)" = 5 ] || fail "widths: TWIN's representation width is not its width"

# convergence: every validation of both models, and DARE's equals dare_train's history.
expect 0 "first step whose mean validation AUC" "convergence" -- "$ANALYZE" convergence --input data.dare \
  --att-dim 5 --repr-dim 6 --seeds 1 "${short[@]}" --out convergence.csv
[ "$(csv_column convergence.csv dare step | tr '\n' ' ')" = "4 8 12 " ] ||
  fail "convergence: DARE's validations are not at steps 4, 8 and 12"
[ "$(csv_column convergence.csv twin step | tr '\n' ' ')" = "4 8 12 " ] ||
  fail "convergence: TWIN's validations are not at steps 4, 8 and 12"
history=$(grep -o '"val_auc": [0-9.e+-]*' dare.json | awk '{ printf "%.7g ", $2 }')
analyzed=$(csv_column convergence.csv dare val_auc | awk '{ printf "%.7g ", $1 }')
[ "$history" = "$analyzed" ] || fail "convergence: DARE's validation AUCs ($analyzed) differ from dare_train's ($history)"

# conflict: one row per training step in --steps-out, its role split per row in --out.
expect 0 "steps with a negative mean cosine" "conflict" -- "$ANALYZE" conflict --input data.dare --max-steps 6 \
  --quiet --out conflict_rows.csv --steps-out conflict_steps.csv
[ "$(awk -F, 'NR > 1 { print $1 }' conflict_steps.csv | tr '\n' ' ')" = "1 2 3 4 5 6 " ] ||
  fail "conflict: --steps-out does not hold steps 1 to 6"
awk -F, 'NR > 1 && !($4 >= -1.000001 && $4 <= 1.000001) { bad = 1 } END { exit bad || NR < 2 }' conflict_rows.csv ||
  fail "conflict: a cosine in --out is outside [-1, 1], or --out is empty"

# retrieval: a DARE and a DIN model file against the MI truth and the generator's (the log's
# seed, 4); every NDCG is in [0, 1] and there is one curve per model, truth and retrieval.
for model in dare din; do
  expect 0 "test AUC" "dare_train --checkpoint $model" -- "$TRAIN" --input data.dare --model "$model" "${short[@]}" \
    --quiet --checkpoint "$model.model"
done
expect 0 "NDCG@20" "retrieval" -- "$ANALYZE" retrieval --input data.dare --model-file dare.model \
  --model-file din.model --synthetic-seed 4 --max-thin-cells 200 --min-target-samples 1 --quiet --out retrieval.csv
awk -F, 'NR > 1 && !($6 >= 0 && $6 <= 1.000001) { bad = 1 } END { exit bad || NR < 2 }' retrieval.csv ||
  fail "retrieval: an NDCG in --out is outside [0, 1], or --out is empty"
expect 1 "the input is not that generator's log" "retrieval, the generator's truth of another seed" -- "$ANALYZE" retrieval --input data.dare \
  --model-file dare.model --synthetic-seed 5 --quiet

# discriminability: MI between k-means clusters of the head inputs and the labels, between 0
# and the labels' entropy, and the test AUC of the pass equal to the model file's.
expect 0 "mutual information" "discriminability" -- "$ANALYZE" discriminability --input data.dare \
  --model-file dare.model --k 2,5 --quiet --out discriminability.csv
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { mi = $col["mutual_information_nats"]; h = $col["label_entropy_nats"]; n++
    if (!(mi >= 0 && mi <= h + 1e-9)) bad = 1 }
  END { exit bad || n != 2 }' discriminability.csv ||
  fail "discriminability: not one row per k with 0 <= MI <= H(label)"

# Bad options and inputs.
expect 2 "--widths: must be a whole number from 1 to 512, got '0'" "widths 0" -- \
  "$ANALYZE" widths --input data.dare --widths 8,0
expect 2 "--lengths: must be at least K = 20 behaviours, got 5" "lengths 5" -- \
  "$ANALYZE" widths --search-only --lengths 5
expect 2 "--input (or --search-only) is required" "widths without input" -- "$ANALYZE" widths
expect 1 "is not a dare dataset: preprocess the log first" "raw log as input" -- \
  "$ANALYZE" convergence --input log.csv
expect 1 "is the same file as --input" "out over the input" -- \
  "$ANALYZE" convergence --input data.dare --out data.dare
expect 1 "--out" "out to a device" -- "$ANALYZE" widths --search-only --lengths 200 --widths 4 --out "$FULLDEV"
expect 2 "A subcommand is required" "no subcommand" -- "$ANALYZE"
finish
