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

# ---- the cache is the dataset this run would make, or it is rebuilt, saying why ----------
R=(--input log.csv --max-steps 1 --batch-size 256 --quiet --model twin --dim 8)  # a tiny run from the raw log
touch log.csv  # a newer log with the same bytes: the cache still holds
expect 0 "using the dataset cache log.csv.dare" "dare_train reuses its cache for a touched log" -- "$TRAIN" "${R[@]}"
expect 0 "rebuilding the dataset cache log.csv.dare: max_len: the cache has 200, this run asks for 50" \
  "dare_train rebuilds its cache for another --max-len" -- "$TRAIN" "${R[@]}" --max-len 50
expect 0 "using the dataset cache" "dare_train reuses the rebuilt cache" -- "$TRAIN" "${R[@]}" --max-len 50
expect 0 "max_len: the cache has 50, this run asks for 200" "dare_train rebuilds its cache for the default --max-len" -- \
  "$TRAIN" "${R[@]}"
expect 0 "skip_malformed: the cache has false, this run asks for true" "dare_train rebuilds for --skip-malformed" -- \
  "$TRAIN" "${R[@]}" --skip-malformed
expect 0 "cluster_max_size: the cache has 0, this run asks for 10" "dare_train rebuilds for --cluster-max-size" -- \
  "$TRAIN" "${R[@]}" --skip-malformed --cluster-max-size 10
expect 0 "using the dataset cache" "dare_train reuses the clustered cache" -- \
  "$TRAIN" "${R[@]}" --skip-malformed --cluster-max-size 10
expect 0 "cluster_max_size: the cache has 10, this run asks for 5" "dare_train rebuilds for another --cluster-max-size" -- \
  "$TRAIN" "${R[@]}" --skip-malformed --cluster-max-size 5
expect 0 "clusters " "dare_prep --cluster-max-size reports the clusters" -- \
  "$PREP" --input log.csv --out clustered.dare --cluster-max-size 10
cp log.csv edited.csv
C=(--input edited.csv --max-steps 1 --batch-size 256 --quiet --model twin --dim 8)
expect 0 "preprocessing edited.csv" "dare_train makes a cache for a copy of the log" -- "$TRAIN" "${C[@]}"
expect 0 "using the dataset cache" "dare_train reuses the cache of an unchanged copy" -- "$TRAIN" "${C[@]}"
# The first digit changed (the same size): only the hash tells.
first=$(head -c 1 edited.csv)
{ if [ "$first" = 1 ]; then printf 2; else printf 1; fi; tail -c +2 edited.csv; } > edited.tmp && mv edited.tmp edited.csv
expect 0 "rebuilding the dataset cache edited.csv.dare: input_xxh64: the cache has 0x" \
  "dare_train rebuilds its cache for a log with other bytes of the same size" -- "$TRAIN" "${C[@]}"
echo "1,2,3,pv,4" >> edited.csv
expect 0 "input_bytes: the cache has" "dare_train rebuilds its cache for a longer log" -- "$TRAIN" "${C[@]}"
printf 'DAREDSET but not a dataset' > edited.csv.dare
expect 0 "rebuilding the dataset cache edited.csv.dare: it cannot be read:" \
  "dare_train rebuilds a damaged cache" -- "$TRAIN" "${C[@]}"
expect 0 "using the dataset cache" "dare_train reuses the repaired cache" -- "$TRAIN" "${C[@]}" --metrics-out m.json
grep -q "\"input_bytes\": $(stat -c %s edited.csv)," m.json || fail "the metrics JSON lacks the input's size: $(head -4 m.json)"

# ---- dare_prep: taobao by default; --quiet prints nothing ---------------------------------
cases=$((cases + 1))
out=$("$PREP" --input log.csv --out quiet.dare --quiet 2>&1) || fail "dare_prep --quiet failed: $out"
[ -z "$out" ] || fail "dare_prep --quiet printed: $out"
cmp -s quiet.dare log.dare || fail "dare_prep without --format wrote another dataset than --format taobao"
check_no_harm "dare_prep --quiet"
expect 0 "wrote tmall.csv" "dare_gen tmall" -- "$GEN" --format tmall --users 300 --out tmall.csv --seed 2 --profile-users 0
expect 0 "wrote              tmall.dare" "dare_prep tmall" -- "$PREP" --format tmall --input tmall.csv --out tmall.dare
finish
