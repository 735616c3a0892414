#!/usr/bin/env bash
# Installs what building and testing smart-api needs on Debian 12 (bookworm).
# Run as root (or with sudo). Idempotent: installs only what is missing.
#
#   scripts/install-deps.sh           build dependencies
#   scripts/install-deps.sh --tools   also the tools of the end-to-end checks and benchmarks
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  exec sudo -- "$0" "$@"
fi

packages=(
  build-essential cmake ccache git pkg-config ca-certificates
  libboost1.81-dev libssl-dev nlohmann-json3-dev libspdlog-dev prometheus-cpp-dev libgtest-dev
  libtcmalloc-minimal4 libnghttp2-dev
  # independent HTTP/2 clients for the integration tests of upstream-sim
  curl nghttp2-client
)
if [[ ${1:-} == --tools ]]; then
  # --no-install-recommends matters: docker-compose would otherwise pull in a
  # whole Docker engine, prometheus a node exporter. The container test builds
  # the images with podman (runc: crun fails on cgroups v1), makes the base
  # image with debootstrap, and needs the dnsname plugin for service names.
  packages+=(python3 prometheus docker-compose shellcheck chromium wrk nginx gnuplot-nox
             clang clang-format libclang-rt-14-dev libbenchmark-dev
             podman runc debootstrap golang-github-containernetworking-plugin-dnsname
             nghttp2-server)
  # Node.js may come from elsewhere (a newer release); only install Debian's
  # when there is none.
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: everything is installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
