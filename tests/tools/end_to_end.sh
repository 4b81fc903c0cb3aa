#!/usr/bin/env bash
# The tools end to end, as a user runs them: dare_gen -> dare_prep -> dare_train (a tiny run),
# and dare_train straight from a raw log through its dataset cache.
#   end_to_end.sh <dir with the tools> <scratch dir>
source "$(dirname "$0")/tools_lib.sh"

expect 0 "wrote log.csv: 300 users" "dare_gen taobao" -- "$GEN" --format taobao --users 300 --out log.csv --seed 1 --profile-users 0
expect 0 "wrote              log.dare" "dare_prep taobao" -- "$PREP" --format taobao --input log.csv --out log.dare
protect log.csv log.dare
expect 0 "test AUC" "dare_train on the dataset" -- \
  "$TRAIN" --input log.dare --max-steps 3 --batch-size 256 --quiet --checkpoint best.ckpt --metrics-out metrics.json
[ -s best.ckpt ] || fail "dare_train wrote no checkpoint"
grep -q '"auc"' metrics.json || fail "metrics.json holds no AUC: $(cat metrics.json)"
expect 0 "preprocessing log.csv" "dare_train from the raw log" -- \
  "$TRAIN" --input log.csv --max-steps 2 --batch-size 256 --quiet --model twin --dim 8
[ -s log.csv.dare ] || fail "dare_train wrote no dataset cache"
expect 0 "using the dataset cache" "dare_train reusing its cache" -- \
  "$TRAIN" --input log.csv --max-steps 2 --batch-size 256 --quiet --att-dim 8 --repr-dim 16
expect 0 "wrote tmall.csv" "dare_gen tmall" -- "$GEN" --format tmall --users 300 --out tmall.csv --seed 2 --profile-users 0
expect 0 "wrote              tmall.dare" "dare_prep tmall" -- "$PREP" --format tmall --input tmall.csv --out tmall.dare
finish
