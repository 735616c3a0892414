#!/usr/bin/env bash
# Static checks of what cannot run here (no Docker engine, no AWS) and of the
# operations files: Prometheus config and alert rules (with their unit tests),
# the compose file, the Dockerfile, the OpenAPI document, the vendored Swagger
# UI, the shell scripts, the C++ sources' formatting.
#
#   tests/e2e/static_checks.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "-- promtool check config"
promtool check config prometheus/prometheus.yml
echo "-- promtool check rules"
promtool check rules prometheus/alerts.yml
echo "-- promtool test rules"
promtool test rules prometheus/alerts_test.yml

echo "-- docker-compose config"
# It needs no file besides itself: a fresh clone starts with `up --build`
# (tests/e2e/containers_test.py runs the stack).
docker-compose -f docker-compose.yml config -q

# npm tools, pinned; installed once per machine into a cache folder.
tools=${SMART_NPM_TOOLS:-$HOME/.cache/smart-api-npm}
if [[ ! -x $tools/node_modules/.bin/redocly || ! -x $tools/node_modules/.bin/dockerfilelint ]]; then
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" \
    @redocly/cli@2.77.0 dockerfilelint@1.8.0 >/dev/null
fi

echo "-- dockerfilelint"
"$tools/node_modules/.bin/dockerfilelint" Dockerfile tests/e2e/prometheus.Dockerfile
# Its missing_tag rule is off (it mistakes stage names for images): every
# image taken from a registry must still name a tag.
stages=$(awk 'toupper($1) == "FROM" && toupper($3) == "AS" { print $4 }' Dockerfile)
while read -r image; do
  grep -qxF "$image" <<<"$stages" && continue
  [[ $image == *:* ]] || { echo "Dockerfile: FROM $image has no tag"; exit 1; }
done < <(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile)

echo "-- redocly lint docs/openapi.json"
"$tools/node_modules/.bin/redocly" lint docs/openapi.json

echo "-- docs/swagger-ui/dist is the pinned swagger-ui-dist"
# It fetches the package by the lock file: where the npm registry cannot be
# reached, there is nothing to compare with (CI reaches it).
if npm ping >/dev/null 2>&1; then
  scripts/update-swagger-ui.sh --check
else
  echo "skipped: the npm registry cannot be reached"
fi

echo "-- clang-format"
git ls-files -z '*.cpp' '*.hpp' '*.h' | xargs -0 clang-format --dry-run -Werror

echo "-- shellcheck"
shellcheck scripts/*.sh .ci/run tests/e2e/*.sh tests/terraform/*.sh bench/*.sh

echo "static checks passed"
