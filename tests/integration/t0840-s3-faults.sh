#!/usr/bin/env bash
# t0840-s3-faults: an S3 gateway that fails. A proxy in front of RGW (tests/helper/
# s3-fault-proxy.py) answers 503 and 500, resets connections, cuts bodies short, loses answers
# of requests it carried out, and delays. With a fifth of all requests broken, every command
# completes through its retries, restores are byte-identical and check --read-data passes;
# with every request broken, each command fails with one line naming the object and the
# server's answer, and nothing is lost: the repository checks and restores through the gateway
# itself afterwards.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/s3_lib.sh"
s3_require
command -v python3 >/dev/null || { echo "not ok - python3 not installed"; exit 1; }
upstream=${DR_TEST_S3_ENDPOINT##*:}
PROXY_PID=
start_proxy() { # RATE SEED [KINDS]
    stop_proxy
    rm -f "$T/proxy-port" "$T/proxy-counts"
    python3 "$DR_SRC/tests/helper/s3-fault-proxy.py" "$upstream" "$T/proxy-port" \
        "$T/proxy-counts" "$@" &
    PROXY_PID=$!
    for _ in $(seq 1 100); do [ -s "$T/proxy-port" ] && break; sleep 0.05; done
    [ -s "$T/proxy-port" ] || dr_fail "the fault proxy did not start"
    PROXY=http://127.0.0.1:$(cat "$T/proxy-port")
}
stop_proxy() {
    if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; fi
    PROXY_PID=
}
trap 'stop_proxy; dr_cleanup' EXIT
injected() { awk '{ n += $2 } END { print n + 0 }' "$T/proxy-counts" 2>/dev/null || echo 0; }

SRC="$T/src"
mkdir -p "$SRC/d"
"$TOOL" gen "$SRC/big" 5M 1
for i in $(seq 1 30); do "$TOOL" gen "$SRC/d/f$i" 20K $((10 + i)); done

# a fifth of the requests fail in every way: the retries carry every command through
start_proxy 0.2 840
R="s3:$PROXY/$S3_BUCKET/repo"
export DRREPO_S3_RETRIES=10
p() { DRREPO_CACHE_DIR="$T/cache" "$DRREPO" -r "$R" --connections 3 "$@"; }
dr_expect_success "init through the failing proxy" p init --insecure-kdf
dr_expect_success "snapshot through the failing proxy" p snapshot "$SRC" --json
S1=$(dr_json_field snapshot_id)
"$TOOL" gen "$SRC/big" 5M 2
dr_expect_success "a second snapshot" p snapshot "$SRC"
rm -rf "$T/r"
dr_expect_success "restore of the first snapshot with a new cache" \
    env DRREPO_CACHE_DIR="$T/cache2" "$DRREPO" -r "$R" restore "$S1" --target "$T/r"
"$TOOL" gen "$T/expect-big" 5M 1
dr_check "the restore is byte-identical" cmp -s "$T/expect-big" "$T/r$SRC/big"
dr_check "the small files too" diff -r "$SRC/d" "$T/r$SRC/d"
dr_expect_success "check --read-data through the failing proxy" p check --read-data
dr_expect_success "forget and prune through the failing proxy" p forget "$S1" --prune
n=$(injected)
dr_check "faults were injected ($n: $(tr '\n' ' ' <"$T/proxy-counts"))" test "$n" -ge 20
dr_check "every kind of fault happened" \
    test "$(awk '$2 > 0' "$T/proxy-counts" | wc -l)" -eq 6

# every request fails: one line, exit 1, nothing lost
start_proxy 1 841 503
R="s3:$PROXY/$S3_BUCKET/repo"
export DRREPO_S3_RETRIES=2
dr_must_fail 1 "snapshot when every request gets 503" p snapshot "$SRC"
dr_check "the error names the object, the status and the server's code" \
    grep -q "object '.*': .* answered HTTP 503 SlowDown.*(after 3 tries)" "$T/err"
dr_check "in one line" test "$(grep -c . "$T/err")" -eq 1
start_proxy 1 842 reset
dr_must_fail 1 "restore when every connection is reset" p restore latest --target "$T/r2"
dr_check "the error names the object" grep -q "object '" "$T/err"
start_proxy 1 843 truncate
dr_must_fail 1 "check --read-data when every body is cut short" p check --read-data
stop_proxy
R=$(s3_loc repo)
dr_expect_success "afterwards, check --read-data through the gateway itself" p check --read-data
dr_expect_success "the snapshot list is intact" p snapshots
dr_check "one snapshot (the second) is there" grep -q "^1 snapshot$" "$T/out"
rm -rf "$T/r"
dr_expect_success "and it restores" p restore latest --target "$T/r"
dr_check "byte-identical" diff -r "$SRC" "$T/r$SRC"
dr_done
