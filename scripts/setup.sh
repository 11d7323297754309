#!/usr/bin/env bash
# Installs every Debian package dxnorm needs to build, test and run.
# Idempotent: installs only what is missing. Runs apt-get as root or via sudo.
set -euo pipefail
PKGS=(build-essential cmake pkg-config git
      librdkafka-dev rapidjson-dev libyaml-cpp-dev libpoco-dev doctest-dev libssl-dev
      libhowardhinnant-date-dev tzdata libbenchmark-dev libjemalloc-dev kcat curl ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"; exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
