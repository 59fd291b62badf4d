#!/usr/bin/env bash
# deps.sh: installs what drrepo needs to build and test on Debian 12 (as root). Idempotent.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      libzstd-dev libsodium-dev liblmdb-dev libpq-dev libhiredis-dev libcurl4-openssl-dev
      libfuse3-dev fuse3 libcmocka-dev lmdb-utils clang-format)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(time psmisc jq)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
