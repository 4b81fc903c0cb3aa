# Shared by the tool tests (sourced, not run): the tool paths, a scratch directory, and
# `expect`, which runs one command and checks its exit code, a distinctive part of its
# message, and that it harmed no file.
#   usage of the test scripts: <script> <dir with dare_gen, dare_prep, dare_train> <scratch dir>
set -uo pipefail

TOOLS=$(cd "$1" && pwd) || exit 1
WORK=$2
GEN=$TOOLS/dare_gen
PREP=$TOOLS/dare_prep
TRAIN=$TOOLS/dare_train
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 1
WORK=$(pwd)

failures=0
cases=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# The files no command may change (set by the scripts), with their checksums.
PROTECTED=()
declare -A SUMS=()
protect() {
  for f in "$@"; do
    PROTECTED+=("$f")
    SUMS[$f]=$(sha256sum "$f" | cut -d' ' -f1)
  done
}

# Device nodes given as outputs: our own when we are root (so a regression cannot replace
# the system's /dev/full), else /dev/full, which we could not replace anyway.
if [ "$(id -u)" = 0 ] && mknod "$WORK/fulldev" c 1 7 2>/dev/null; then
  FULLDEV=$WORK/fulldev
else
  FULLDEV=/dev/full
fi

check_no_harm() {
  local label=$1
  for f in "${PROTECTED[@]}"; do
    if [ ! -f "$f" ] || [ "$(sha256sum "$f" | cut -d' ' -f1)" != "${SUMS[$f]}" ]; then
      fail "$label: changed the input $f"
      SUMS[$f]=$( [ -f "$f" ] && sha256sum "$f" | cut -d' ' -f1)
    fi
  done
  [ -c "$FULLDEV" ] || fail "$label: $FULLDEV is no longer a character device"
  [ -c /dev/null ] || fail "$label: /dev/null is no longer a character device"
  local temps
  temps=$(find "$WORK" -name '*.tmp*' -print)
  if [ -n "$temps" ]; then
    fail "$label: left temporary files: $temps"
    rm -f $temps
  fi
}

# expect RC PATTERN LABEL -- COMMAND...: runs COMMAND, which must exit with RC and print
# PATTERN (a fixed string) on stdout or stderr, then checks that no file was harmed.
expect() {
  local rc=$1 pattern=$2 label=$3
  shift 4
  cases=$((cases + 1))
  local out got
  out=$(timeout 300 "$@" 2>&1)
  got=$?
  if [ "$got" != "$rc" ]; then
    fail "$label: exit code $got, expected $rc; output:"$'\n'"$out"
  elif ! grep -qF -- "$pattern" <<<"$out"; then
    fail "$label: the output lacks '$pattern'; output:"$'\n'"$out"
  fi
  check_no_harm "$label"
}

finish() {
  echo "$cases cases, $failures failures"
  [ "$failures" = 0 ]
  exit $?
}
