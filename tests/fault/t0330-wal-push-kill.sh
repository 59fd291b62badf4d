#!/bin/bash
# t0330: `wal push` killed (SIGKILL) at its fault points never leaves a partial archived file:
# before the object's write (wal.before_put), inside it (fs.before_fsync and fs.before_rename at
# their second hit: the first is the lock's), and after it (wal.after_put). After each kill,
# `wal get` gives either nothing (exit 1, no file) or the whole file, `check` passes, a retry of
# the push exits 0, and then `wal get` gives the whole file. Each case starts from a copy of
# one repository (and cache directory) that already holds the segment before it, so that the
# killed push is not the repository's first write under wal/, and the K-th hit of the fs.*
# points is the same in every run: 1 the lock, 2 the segment (a fresh cache directory would add
# a write before the lock). The fault point counter counts across threads.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# skip: the fault points need a build with -DDR_FAULTS=ON"
    exit 77
fi
# the killed runs cannot run their leak check
dr_no_leak_check

SYSID=7301234567890123456 # 0x65533227e8e4bac0
SEG=$((16 * 1024 * 1024))
S1=000000010000000000000001 S2=000000010000000000000002
PG="$T/pg"
mkdir -p "$PG/global" "$PG/pg_wal"
{ printf '\xc0\xba\xe4\xe8\x27\x32\x53\x65\x14\x05\x00\x00'; head -c 8180 /dev/zero; } >"$PG/global/pg_control"
"$TOOL" gen "$T/random" 64K 330
for s in $S1 $S2; do
    { printf '%-64s' "segment $s"; cat "$T/random"; head -c $((SEG - 64 - 65536)) /dev/zero; } \
        >"$PG/pg_wal/$s"
done
dr_check "the fake segments have 16 MiB" test "$(stat -c %s "$PG/pg_wal/$S2")" -eq $SEG

# the pristine repository and its cache are named repo and cache, as each case's copies are
P="$T/p/repo"
mkdir -p "$T/p"
dr_init "$P"
DRREPO_CACHE_DIR="$T/p/cache" "$DRREPO" -r "$P" wal push --pg-data "$PG" "$PG/pg_wal/$S1" >"$T/out" 2>"$T/err" ||
    dr_fail "push of $S1 into the pristine repository"
OBJ="wal/65533227e8e4bac0/0000000100000000/$S2"

dr_r() { DRREPO_CACHE_DIR="$T/cache" "$DRREPO" -r "$REPO" "$@"; }

# run_case POINT K STORED [TMPDIR]: push S2 killed at the K-th hit of the point (- for the
# first); STORED says whether the object must exist then; TMPDIR, where the killed write left
# its temporary file (so that the kill hit that write and no other)
run_case() {
    local spec=$1:kill stored=$3 tmpdir=${4:-} rc
    [ "$2" = - ] || spec=$spec:$2
    rm -rf "$REPO" "$T/cache" "$T/got"
    # the cache too: a fresh cache dir is written (an atomic write) before the lock
    cp -a "$P" "$T/p/cache" "$T/"
    DR_FAULT="$spec" dr_r wal push --pg-data "$PG" "$PG/pg_wal/$S2" >"$T/out" 2>"$T/err"
    rc=$?
    dr_check "$spec: the push was killed (exit $rc)" test $rc -eq 137
    if [ -n "$tmpdir" ]; then
        dr_check "$spec: the killed write's temporary file is in $tmpdir" \
            test -n "$(find "$REPO/$tmpdir" -maxdepth 1 -name '.drrepo-tmp-*')"
    fi
    if [ "$stored" = yes ]; then
        dr_check "$spec: the object is there" test -f "$REPO/$OBJ"
    else
        dr_check "$spec: no object" test ! -e "$REPO/$OBJ"
    fi
    # nothing partial is visible: get gives nothing or the whole file
    dr_r wal get --pg-data "$PG" $S2 "$T/got" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$stored" = yes ]; then
        dr_check "$spec: get exits 0 (exit $rc)" test $rc -eq 0
        dr_check "$spec: get gives the whole file" cmp -s "$PG/pg_wal/$S2" "$T/got"
    else
        dr_check "$spec: get says not archived (exit $rc)" test $rc -eq 1
        dr_check "$spec: get wrote nothing" test ! -e "$T/got"
    fi
    dr_expect_success "$spec: check passes" dr_r check --read-data
    dr_check "$spec: no temporary file left after check" \
        test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
    dr_expect_success "$spec: the retried push exits 0" dr_r wal push --pg-data "$PG" "$PG/pg_wal/$S2"
    rm -f "$T/got"
    dr_expect_success "$spec: get after the retry" dr_r wal get --pg-data "$PG" $S2 "$T/got"
    dr_check "$spec: the whole file" cmp -s "$PG/pg_wal/$S2" "$T/got"
    dr_expect_success "$spec: the first segment is intact" dr_r wal get --pg-data "$PG" $S1 "$T/got1"
    dr_check "$spec: its bytes" cmp -s "$PG/pg_wal/$S1" "$T/got1"
    rm -f "$T/got1"
}

run_case wal.before_put - no
run_case fs.before_fsync 2 no "${OBJ%/*}"
run_case fs.before_rename 2 no "${OBJ%/*}"
run_case wal.after_put - yes
# the lock's own write: the push dies before it reads the segment
run_case fs.before_rename 1 no locks
dr_done
