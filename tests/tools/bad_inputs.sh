#!/usr/bin/env bash
# A table of bad inputs to the tools: each must fail with the given exit code (1: the tool's
# own error, 105: CLI11's option validation) and a message naming the problem, and must harm
# no file (the inputs keep their checksums, device nodes stay devices, no temporary is left).
#   bad_inputs.sh <dir with the tools> <scratch dir>
source "$(dirname "$0")/tools_lib.sh"

"$GEN" --format taobao --users 300 --out log.csv --seed 1 --profile-users 0 >/dev/null || fail "dare_gen failed"
"$PREP" --format taobao --input log.csv --out log.dare >/dev/null || fail "dare_prep failed"
ln log.csv hardlink.csv
mkfifo fifo
protect log.csv log.dare
D=(--format taobao --input log.csv)  # dare_prep's usual arguments
T=(--input log.dare --quiet --batch-size 256 --max-steps 3)  # a tiny dare_train run

# ---- outputs that would destroy an input or a device ------------------------------------
expect 1 "--out 'log.csv' is the same file as --input" "prep --out = --input" -- "$PREP" "${D[@]}" --out log.csv
expect 1 "is the same file as --input" "prep --out = ./--input" -- "$PREP" "${D[@]}" --out ./log.csv
expect 1 "is the same file as --input" "prep --out = a hard link of --input" -- "$PREP" "${D[@]}" --out hardlink.csv
expect 1 "is not a regular file" "prep --out a device" -- "$PREP" "${D[@]}" --out "$FULLDEV"
expect 1 "is not a regular file" "prep --out a FIFO" -- "$PREP" "${D[@]}" --out fifo
expect 1 "is a directory" "prep --out a directory" -- "$PREP" "${D[@]}" --out "$WORK"
expect 1 "does not exist" "prep --out in a missing directory" -- "$PREP" "${D[@]}" --out missing/x.dare
expect 1 "--cache 'log.csv' is the same file as --input" "train --cache = --input" -- \
  "$TRAIN" --input log.csv --cache log.csv --rebuild-cache --quiet
expect 1 "--checkpoint 'log.dare' is the same file as --input" "train --checkpoint = --input" -- \
  "$TRAIN" "${T[@]}" --checkpoint log.dare
expect 1 "--metrics-out 'log.dare' is the same file as --input" "train --metrics-out = --input" -- \
  "$TRAIN" "${T[@]}" --metrics-out log.dare
expect 1 "--metrics-out '$FULLDEV' is not a regular file" "train --metrics-out a device" -- \
  "$TRAIN" "${T[@]}" --metrics-out "$FULLDEV"
expect 1 "does not exist" "train --metrics-out in a missing directory (checked before training)" -- \
  "$TRAIN" "${T[@]}" --metrics-out missing/m.json
expect 1 "is not a regular file" "gen --out a device" -- "$GEN" --users 10 --out "$FULLDEV"
# A write that fails (here: the file size limit, as a full disk would) is an error, and
# leaves neither a metrics file nor a temporary.
expect 1 "File too large" "train --metrics-out on a full disk" -- \
  bash -c "trap '' XFSZ; ulimit -f 0; exec \"\$0\" \"\$@\"" "$TRAIN" "${T[@]}" --metrics-out full.json
[ ! -e full.json ] || fail "a failed metrics write left full.json"
# A temporary left by a killed run (its pid is gone) is removed by the next write.
echo partial > log2.dare.tmp.4194305.0badf00d
expect 0 "wrote" "prep removes a dead writer's temporary" -- "$PREP" "${D[@]}" --out log2.dare

# ---- sizes and ranges, stated in words -----------------------------------------------------
expect 105 "--stride: must be a whole number from 1 to 4294967295" "prep --stride 2^62" -- \
  "$PREP" "${D[@]}" --out s.dare --stride 4611686018427387904 --train-windows 3
expect 1 "stride must be from 1 to min_clicks = 210" "prep --stride beyond the clicks" -- \
  "$PREP" "${D[@]}" --out s.dare --stride 300 --train-windows 3
expect 1 "min_clicks = 210 is too small" "prep windows that need more clicks" -- \
  "$PREP" "${D[@]}" --out s.dare --stride 100 --train-windows 4
expect 105 "--negatives: must be a whole number from 1 to 1000, got '0'" "prep --negatives 0" -- \
  "$PREP" "${D[@]}" --out s.dare --negatives 0
expect 105 "--negatives: must be a whole number from 1 to 1000" "prep --negatives 100000" -- \
  "$PREP" "${D[@]}" --out s.dare --negatives 100000
expect 105 "--max-len: must be a whole number from 1 to 10000" "prep --max-len 10^8" -- \
  "$PREP" "${D[@]}" --out s.dare --max-len 100000000
expect 105 "--min-clicks: must be a whole number" "prep --min-clicks -1" -- "$PREP" "${D[@]}" --out s.dare --min-clicks -1
expect 105 "--min-clicks: must be a whole number from 1 to 4294967295, got '4294967296'" "prep --min-clicks 2^32" -- \
  "$PREP" "${D[@]}" --out s.dare --min-clicks 4294967296
expect 105 "--max-len: must be a whole number from 1 to 10000, got '-1'" "prep --max-len -1" -- \
  "$PREP" "${D[@]}" --out s.dare --max-len -1
expect 105 "--negatives: must be a whole number from 1 to 1000, got '-1'" "prep --negatives -1" -- \
  "$PREP" "${D[@]}" --out s.dare --negatives -1
expect 105 "--train-windows: must be a whole number from 1 to 100000, got '-1'" "prep --train-windows -1" -- \
  "$PREP" "${D[@]}" --out s.dare --train-windows -1
expect 105 "--train-windows: must be a whole number from 1 to 100000, got '100001'" "prep --train-windows 100001" -- \
  "$PREP" "${D[@]}" --out s.dare --train-windows 100001
expect 105 "--stride: must be a whole number from 1 to 4294967295, got '-1'" "prep --stride -1" -- \
  "$PREP" "${D[@]}" --out s.dare --stride -1
expect 105 "--seed: must be a whole number from 0 to 18446744073709551615, got '-1'" "prep --seed -1" -- \
  "$PREP" "${D[@]}" --out s.dare --seed -1
expect 105 "--seed: must be a whole number from 0 to 18446744073709551615, got '18446744073709551616'" \
  "prep --seed 2^64" -- "$PREP" "${D[@]}" --out s.dare --seed 18446744073709551616
expect 105 "--format: taobao1 not in {taobao,tmall}" "prep --format taobao1" -- "$PREP" "${D[@]}" --out s.dare --format taobao1
expect 105 "--max-steps: must be a whole number from 0 to 1000000000000, got '-1'" "train --max-steps -1" -- \
  "$TRAIN" "${T[@]}" --max-steps -1
expect 105 "--seed: must be a whole number from 0 to 18446744073709551615, got '-1'" "train --seed -1" -- \
  "$TRAIN" "${T[@]}" --seed -1
expect 105 "--epochs: must be a whole number from 1 to 1000, got '0'" "train --epochs 0" -- "$TRAIN" "${T[@]}" --epochs 0
expect 105 "--att-dim: must be a whole number from 1 to 1024" "train --att-dim 100000" -- \
  "$TRAIN" "${T[@]}" --att-dim 100000
expect 105 "--top-k: must be a whole number" "train --top-k 0" -- "$TRAIN" "${T[@]}" --top-k 0
expect 105 "--batch-size: must be a whole number" "train --batch-size 1.5" -- "$TRAIN" "${T[@]}" --batch-size 1.5
expect 105 "--lr: must be a number greater than 0 and at most" "train --lr 1e300" -- "$TRAIN" "${T[@]}" --lr 1e300
expect 105 "--lr: must be a number greater than 0" "train --lr 0" -- "$TRAIN" "${T[@]}" --lr 0
expect 105 "--users: must be a whole number from 1 to 100000000" "gen --users 0" -- "$GEN" --users 0 --out g.csv
expect 1 "lower the learning rate" "train --lr 1e6 diverges" -- "$TRAIN" "${T[@]}" --lr 1e6

# ---- preprocessing flags that contradict a dataset input, a cache that is not a dataset ---
expect 1 "--max-len disagrees with the dataset --input 'log.dare' (max_len: the dataset has 200, the command line asks for 100)" \
  "train a dataset with another --max-len" -- "$TRAIN" "${T[@]}" --max-len 100
expect 1 "--format disagrees with the dataset --input 'log.dare' (format: the dataset has taobao, the command line asks for tmall)" \
  "train a dataset with another --format" -- "$TRAIN" "${T[@]}" --format tmall
expect 1 "--skip-malformed disagrees with the dataset --input 'log.dare' (skip_malformed: the dataset has false, the command line asks for true)" \
  "train a dataset with --skip-malformed" -- "$TRAIN" "${T[@]}" --skip-malformed
expect 1 "--cluster-max-size disagrees with the dataset --input 'log.dare' (cluster_max_size: the dataset has 0, the command line asks for 10)" \
  "train a dataset with another --cluster-max-size" -- "$TRAIN" "${T[@]}" --cluster-max-size 10
expect 105 "--cluster-max-size: must be a whole number from 0 to 4294967295" "prep --cluster-max-size -1" -- \
  "$PREP" "${D[@]}" --out s.dare --cluster-max-size -1
echo "my notes" > notes.txt
protect notes.txt
expect 1 "--cache 'notes.txt' exists and is not a dare dataset" "train --cache an existing non-dataset file" -- \
  "$TRAIN" --input log.csv --cache notes.txt --quiet

# ---- logs that cannot make a dataset ---------------------------------------------------------
: > empty.csv
printf 'user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type\n' > header_only.csv
head -n 100 log.csv > short.csv
protect empty.csv header_only.csv short.csv
expect 1 "no user qualifies" "prep an empty log" -- "$PREP" "${D[@]:0:2}" --input empty.csv --out e.dare
expect 1 "the log has no rows" "prep a header-only tmall log" -- "$PREP" --format tmall --input header_only.csv --out e.dare
expect 1 "the 210-click rule" "prep a log without a qualifying user" -- "$PREP" --format taobao --input short.csv --out e.dare
expect 1 "needs a regular file" "prep a pipe" -- \
  bash -c "cat log.csv | \"\$0\" --format taobao --input /dev/stdin --out p.dare" "$PREP"
expect 1 "needs a regular file" "prep a FIFO" -- "$PREP" --format taobao --input fifo --out p.dare
expect 1 "needs a regular file" "train a FIFO" -- "$TRAIN" --input fifo --cache p.dare --quiet
[ ! -e e.dare ] && [ ! -e p.dare ] || fail "a refused log left a dataset behind"

# ---- damaged datasets ------------------------------------------------------------------------
{ printf 'DAREXXXX'; tail -c +9 log.dare; } > magic.dare
head -c 4096 log.dare > truncated.dare
protect magic.dare truncated.dare
expect 1 "field 'magic': not a dare dataset file" "train a dataset with damaged magic" -- \
  "$TRAIN" --input magic.dare --quiet
expect 1 "truncated" "train a truncated dataset" -- "$TRAIN" --input truncated.dare --quiet
expect 1 "it is a file dare wrote" "prep a dataset as a raw log" -- "$PREP" --format taobao --input log.dare --out again.dare

# ---- inputs that must work -------------------------------------------------------------------
"$GEN" --format tmall --users 300 --out tmall.csv --seed 2 --profile-users 0 >/dev/null || fail "dare_gen tmall failed"
{ printf '\xef\xbb\xbf'; cat tmall.csv; } > tmall_bom.csv
protect tmall.csv tmall_bom.csv
expect 0 "wrote" "prep a tmall log with a UTF-8 byte-order mark" -- "$PREP" --format tmall --input tmall_bom.csv --out bom.dare
expect 0 "test AUC" "train a dataset with the preprocessing flags it was made with" -- \
  "$TRAIN" "${T[@]}" --max-len 200 --format taobao
cp log.dare 'quote"back\slash.dare'
protect 'quote"back\slash.dare'
expect 0 "test AUC" "train an input whose path holds a quote and a backslash" -- \
  "$TRAIN" --input 'quote"back\slash.dare' --quiet --batch-size 256 --max-steps 2 --metrics-out m.json
grep -qF '"input": "quote\"back\\slash.dare"' m.json || fail "the metrics JSON does not escape the path: $(head -3 m.json)"
if command -v python3 >/dev/null; then
  python3 -c 'import json, sys; json.load(open(sys.argv[1]))' m.json || fail "m.json is not valid JSON"
fi
finish
