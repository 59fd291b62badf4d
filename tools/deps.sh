#!/usr/bin/env bash
# deps.sh [--test]: installs what drrepo needs on Debian 12 (as root). Idempotent. With --test,
# also what the test suite needs: the real servers (PostgreSQL 15, Redis 7, a one-node Ceph 16
# with its S3 gateway), jq, GNU time.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git
      libzstd-dev libsodium-dev liblmdb-dev libpq-dev libhiredis-dev libcurl4-openssl-dev libssl-dev
      libfuse3-dev fuse3 libcmocka-dev lmdb-utils clang-format)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(time psmisc jq python3 postgresql redis-server redis-tools
           radosgw ceph-mon ceph-osd ceph-common
           zsh shellcheck groff-base systemd)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # Packages must not start services (a system PostgreSQL, Redis or Ceph on the usual ports):
    # the tests start their own servers on unusual ports. policy-rc.d exit 101 = "action
    # forbidden".
    policy=/usr/sbin/policy-rc.d
    created=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod +x "$policy"
        created=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [ "$created" = 1 ]; then
        rm -f "$policy"
    fi
fi
