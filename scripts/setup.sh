#!/usr/bin/env bash
# Installs the Debian packages dare's build, tests, examples and benchmarks need, or only
# the packages named as arguments (scripts/fuzz.sh names its own).
# Runs apt-get only when something is missing; uses sudo only when not root.
set -euo pipefail

packages=("$@")
[ ${#packages[@]} -gt 0 ] ||
  packages=(cmake make g++ libeigen3-dev libxsimd-dev catch2 libbenchmark-dev libcli11-dev libfaiss-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
