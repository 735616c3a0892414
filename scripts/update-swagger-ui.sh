#!/usr/bin/env bash
# Vendors the browser files of Swagger UI (the npm package swagger-ui-dist, at
# the exact version pinned in docs/swagger-ui/package.json and its lock file)
# into docs/swagger-ui/dist/, from where the build embeds them in smart-api:
# the documentation page needs no internet access.
#
#   scripts/update-swagger-ui.sh           copy the pinned version's files
#   scripts/update-swagger-ui.sh --check   exit 1 when the vendored files are
#                                          not the pinned package's
#
# To move to another version:
#   (cd docs/swagger-ui && npm install --save-exact --package-lock-only \
#        --ignore-scripts swagger-ui-dist@VERSION)
#   scripts/update-swagger-ui.sh
# then rebuild, run tests/e2e/docs_page_test.py, and commit the three together.
#
# `npm ci` installs exactly what the lock file says (checked against its
# integrity hashes), in a scratch folder, with install scripts off: the package
# depends on @scarf/scarf, whose install script would report the installation
# to a third party.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=$repo/docs/swagger-ui
files=(swagger-ui.css swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt LICENSE NOTICE)

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$dir/package.json" "$dir/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
package=$work/node_modules/swagger-ui-dist
version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$package/package.json" | head -n 1)

if [[ $check == 1 ]]; then
  status=0
  for f in "${files[@]}"; do
    if ! cmp -s "$package/$f" "$dir/dist/$f"; then
      echo "docs/swagger-ui/dist/$f is not swagger-ui-dist $version's (scripts/update-swagger-ui.sh)"
      status=1
    fi
  done
  for path in "$dir"/dist/*; do
    name=${path##*/}
    if [[ ! " ${files[*]} " == *" $name "* ]]; then
      echo "docs/swagger-ui/dist/$name is not a file the update makes"
      status=1
    fi
  done
  [[ $status == 0 ]] && echo "docs/swagger-ui/dist/: swagger-ui-dist $version, as pinned"
  exit "$status"
fi

mkdir -p "$dir/dist"
for f in "${files[@]}"; do
  cp "$package/$f" "$dir/dist/$f"
done
echo "docs/swagger-ui/dist/: swagger-ui-dist $version"
