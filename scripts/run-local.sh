#!/usr/bin/env bash
# Installs what is missing (Debian 12), builds smart-api and runs it on :8000
# with the bundled upstream simulator (on :9000) standing in for the real
# upstream, which may be offline. Ctrl-C stops both.
#
#   scripts/run-local.sh [smart-api options...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target smart-api upstream-sim

sim_port=${SIM_PORT:-9000}
./build/release/upstream-sim --host 127.0.0.1 --port "$sim_port" &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true' EXIT

./build/release/smart-api --upstream-url "http://127.0.0.1:${sim_port}/api/work" "$@"
