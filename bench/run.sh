#!/usr/bin/env bash
# Builds the release binaries and runs every benchmark in one go; writes
# report/ (README.md, plots, data/results.json).
#
#   bench/run.sh                  full run, about half an hour
#   bench/run.sh --smoke          seconds per measurement, into a scratch folder
#   bench/run.sh --only hedging   rerun some measurements, keep the others
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --tools
cmake --preset release >/dev/null
cmake --build --preset release --target smart-api upstream-sim smart-loadgen smart-wakeup \
  smart-payload-bench

args=("$@")
if [[ " $* " == *" --smoke "* && " $* " != *" --out "* ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  args+=(--out "$out")
fi
python3 bench/bench.py --build-dir build/release "${args[@]}"
