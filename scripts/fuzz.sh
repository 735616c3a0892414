#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for a
# bounded time, starting from the seed corpus in tests/fuzz/corpus/.
#
#   scripts/fuzz.sh              60 s per target
#   FUZZ_SECONDS=600 scripts/fuzz.sh
# A crash fails the run; the input that caused it is kept in build/fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}

scripts/install-deps.sh --tools
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

crashes=build/fuzz/crashes
mkdir -p "$crashes"
status=0
for target in timeout upstream_response request http2_frames; do
  corpus=$(mktemp -d)
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  echo "-- fuzz_$target for ${seconds} s"
  if ! build/fuzz/tests/fuzz/fuzz_"$target" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$crashes/$target-" "$corpus" 2>"$crashes/$target.log"; then
    tail -40 "$crashes/$target.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$crashes/$target.log" | tail -2
  fi
  rm -rf "$corpus"
done
exit $status
