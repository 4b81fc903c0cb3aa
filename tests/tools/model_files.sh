#!/usr/bin/env bash
# Model files through the tools, as a user runs them: dare_train --checkpoint writes one,
# dare_eval reproduces the training run's test metrics from it exactly, dare_predict scores
# every sample with raw ids, another log's unknown ids are counted, and a run paused with
# --pause-at-step and resumed with --resume ends where the uninterrupted run ends.
#   model_files.sh <dir with the tools> <scratch dir>
source "$(dirname "$0")/tools_lib.sh"
EVAL=$TOOLS/dare_eval
PREDICT=$TOOLS/dare_predict

# The value of "key": number inside the "test" object of a metrics JSON.
test_metric() {
  sed -n "s/.*\"test\": {[^}]*\"$2\": \([-0-9.e+]*\).*/\1/p" "$1" | head -n 1
}

expect 0 "wrote log.csv: 300 users" "dare_gen" -- "$GEN" --format taobao --users 300 --out log.csv --seed 4 --profile-users 0
expect 0 "wrote other.csv: 200 users" "dare_gen, another log" -- "$GEN" --format taobao --users 200 --out other.csv --seed 9 --profile-users 0
protect log.csv other.csv
# TWIN-V2 trains on clusters: its own cache, preprocessed with --cluster-max-size, which its
# model file records so that dare_eval preprocesses the log the same way.
expect 1 "this dataset has none: preprocess with --cluster-max-size" "dare_train twin-v2 without clusters" -- \
  "$TRAIN" --input log.csv --model twin-v2 --max-steps 2 --quiet
for model in dare twin-hard din eta sdim twin-v2; do
  extra=()
  [ "$model" = twin-v2 ] && extra=(--cluster-max-size 10 --cache clustered.dare)
  expect 0 "test AUC" "dare_train --checkpoint ($model)" -- \
    "$TRAIN" --input log.csv --model "$model" --max-steps 12 --batch-size 256 --eval-interval 4 --quiet \
    --checkpoint "$model.model" --metrics-out "train_$model.json" "${extra[@]}"
  expect 0 "kind=$model" "dare_eval --info ($model)" -- "$EVAL" --model "$model.model" --info
  expect 0 "the input's vocabulary is the model's" "dare_eval ($model)" -- \
    "$EVAL" --model "$model.model" --input log.csv --quiet --metrics-out "eval_$model.json"
  for key in auc gauc category_auc logloss; do
    trained=$(test_metric "train_$model.json" "$key")
    evaluated=$(printf '%.8g' "$(test_metric "eval_$model.json" "$key")")
    [ -n "$trained" ] && [ "$trained" = "$(printf '%.8g' "$trained")" ] || fail "no test $key in train_$model.json"
    [ "$(printf '%.8g' "$trained")" = "$evaluated" ] ||
      fail "dare_eval's test $key of $model ($evaluated) differs from the training run's ($trained)"
  done
done
protect dare.model
expect 0 "samples scored by a dare model" "dare_predict" -- \
  "$PREDICT" --model dare.model --input log.csv --split test --out pred.csv
[ "$(head -n 1 pred.csv)" = "split,user,item,category,label,probability" ] || fail "pred.csv header: $(head -n 1 pred.csv)"
rows=$(($(wc -l < pred.csv) - 1))
samples=$(sed -n 's/.*"test": {[^}]*"samples": \([0-9]*\).*/\1/p' eval_dare.json | head -n 1)
[ "$rows" = "$samples" ] || fail "dare_predict wrote $rows test rows, the test split has $samples samples"
# The first test row's raw ids are the log's: its user clicked its item (label 1) in log.csv.
positive=$(awk -F, 'NR > 1 && $5 == 1 { print $2 "," $3 "," $4; exit }' pred.csv)
grep -q "^$positive," log.csv || fail "the positive $positive of pred.csv is not a click of log.csv"
# A batch-statistics model scores in equal chunks: 819 test samples in chunks of at most 409
# are 3 of 273, never a lone sample that batch statistics cannot normalise.
[ "$samples" = 819 ] || fail "the test split has $samples samples, the next case assumes 819"
expect 0 "test AUC" "dare_train --inference-stats batch" -- \
  "$TRAIN" --input log.csv --max-steps 4 --batch-size 256 --eval-batch-size 409 --inference-stats batch --quiet \
  --checkpoint batch.model
expect 0 "819 samples scored" "dare_predict with batch statistics" -- \
  "$PREDICT" --model batch.model --input log.csv --split test --out batch_pred.csv
expect 0 "ids the model does not know" "dare_predict on another log" -- \
  "$PREDICT" --model dare.model --input other.csv --out other_pred.csv
expect 0 "ids translated through the model's vocabulary" "dare_eval on another log" -- \
  "$EVAL" --model dare.model --input other.csv --quiet
expect 1 "not a dare model file" "dare_eval on a dataset as the model" -- "$EVAL" --model log.csv --input log.csv
expect 1 "is the same file as --model" "dare_predict writing over its model" -- \
  "$PREDICT" --model dare.model --input log.csv --out dare.model
expect 105 "--threads: must be a whole number from 1 to 1024, got '0'" "dare_eval --threads 0" -- \
  "$EVAL" --model dare.model --input log.csv --threads 0
expect 105 "--split: bogus not in" "dare_predict --split bogus" -- "$PREDICT" --model dare.model --input log.csv --split bogus
expect 1 "--input is required" "dare_eval without --input" -- "$EVAL" --model dare.model

# Pause at step 7 (off the validation schedule), resume: the same history and test metrics.
expect 0 "test AUC" "dare_train in one go" -- \
  "$TRAIN" --input log.csv --max-steps 16 --batch-size 256 --eval-interval 5 --quiet --metrics-out whole.json
expect 0 "paused after step 7" "dare_train --pause-at-step" -- \
  "$TRAIN" --input log.csv --max-steps 16 --batch-size 256 --eval-interval 5 --quiet --pause-at-step 7 --save-state run.state
expect 1 "batch_size" "dare_train --resume with other flags" -- \
  "$TRAIN" --input log.csv --max-steps 16 --batch-size 128 --eval-interval 5 --quiet --resume run.state
expect 0 "test AUC" "dare_train --resume" -- \
  "$TRAIN" --input log.csv --max-steps 16 --batch-size 256 --eval-interval 5 --quiet --resume run.state --metrics-out resumed.json
for key in auc logloss; do
  [ "$(test_metric whole.json "$key")" = "$(test_metric resumed.json "$key")" ] ||
    fail "resumed test $key $(test_metric resumed.json "$key") differs from the uninterrupted $(test_metric whole.json "$key")"
done
finish
