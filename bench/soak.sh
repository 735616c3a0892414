#!/usr/bin/env bash
# Runs the service for 10 minutes at a high rate against the simulator's
# failure mix, with clients that give up on some requests, sampling memory
# and descriptors; adds the result to report/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tools
cmake --preset release >/dev/null
cmake --build --preset release --target smart-api upstream-sim smart-loadgen
python3 bench/bench.py --build-dir build/release --only soak "$@"
