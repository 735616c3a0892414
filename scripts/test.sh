#!/usr/bin/env bash
# Installs what is missing (Debian 12), builds smart-api and runs the whole
# test suite (unit and integration tests).
#
#   scripts/test.sh          the CI preset: optimised build, warnings are errors
#   scripts/test.sh asan     the same suite under AddressSanitizer + UBSan
#   scripts/test.sh tsan     the same suite under ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-ci}
scripts/install-deps.sh --tools
cmake --workflow --preset "$preset"
