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
