#!/usr/bin/env bash
# t0850-s3-lease: locks of other hosts on Ceph RGW are judged by the server's clock. A lock of
# another host whose record says it was refreshed an hour ago, but which the server stamped just
# now, is within its lease and blocks (exit 11, its age "by the repository's clock"); once it
# is older than the lease by the server's Date and Last-Modified (DRREPO_LOCK_LEASE_S=2, then a
# 3 s wait), the next snapshot removes it with a warning and runs, and nothing is left behind.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/s3_lib.sh"
s3_require

R=$(s3_loc repo)
s3() { DRREPO_CACHE_DIR="$T/cache" "$DRREPO" -r "$R" "$@"; }
dr_expect_success "init on S3" s3 init --insecure-kdf
mkdir -p "$T/src" && echo data >"$T/src/f"

# the record claims an hour: the other host's clock is behind, the server's says "now"
"$TOOL" lock "$R" exclusive far-away-host 4242 3600 || dr_fail "dr-test-tool lock on S3"
DRREPO_LOCK_LEASE_S=60 dr_must_fail 11 "a lock written now blocks, whatever its record says" \
    s3 snapshot "$T/src"
dr_check "the error names the holder" grep -q "pid 4242 on far-away-host" "$T/err"
dr_check "the age is the server's" grep -q "ago by the repository's clock" "$T/err"

sleep 3
DRREPO_LOCK_LEASE_S=2 dr_expect_success "past its lease by the server's clock: removed" \
    s3 snapshot "$T/src"
dr_check "the warning names the holder and the clock" \
    grep -q "removing expired lock 'locks/testlock4242' of pid 4242 on far-away-host.*by the repository's clock" "$T/err"
dr_expect_success "unlock --remove-all" s3 unlock --remove-all
dr_check "no lock was left: neither the expired one nor the snapshot's" \
    grep -q "^0 locks removed" "$T/out"
dr_expect_success "snapshots" s3 snapshots
dr_check "the snapshot was written" grep -q "^1 snapshot$" "$T/out"
dr_done
