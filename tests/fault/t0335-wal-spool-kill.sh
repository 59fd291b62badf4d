#!/bin/bash
# t0335: the spool's background workers (wal push --spool, wal get --spool) killed (SIGKILL)
# midway never make a command succeed for a file that is not archived, nor hand recovery a
# partial file: the command whose file the worker did not finish does it itself.
# - push worker killed before its 3rd push (wal.before_put:3): the first command still exits 0
#   (its file was archived first), the 3rd file is not archived, and its command archives it;
# - push worker killed after its 2nd push, before marking it (wal.after_put:2): the 2nd file's
#   command finds no mark and archives it again (the same bytes: a success);
# - get worker killed inside its 2nd spool write (fs.before_rename:3; the plan is the 1st): the
#   temporary file is swept, and the segment's command fetches it itself, whole.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
if [ "${DR_FAULTS_BUILT:-0}" != 1 ]; then
    echo "# skip: the fault points need a build with -DDR_FAULTS=ON"
    exit 77
fi
# the killed workers cannot run their leak check
dr_no_leak_check

SYSID=7301234567890123456
SEGSZ=$((1024 * 1024))
WALDIR="$REPO/wal/65533227e8e4bac0/0000000100000000"
push() { (cd "$PG" && "$DRREPO" -r "$REPO" wal push --spool "$T/spool" "pg_wal/$(dr_walseg "$1")"); }

dr_init
PG="$T/pg"
dr_mkpgdata "$PG" "$SYSID"
dr_mkwal_ready "$PG" 6 "$SEGSZ"
PUSH="$T/spool/$SYSID/push"

DR_FAULT=wal.before_put:kill:3 push 1 >"$T/out" 2>"$T/err"
dr_check "push 1 exits 0 though its worker is killed later" test $? -eq 0
dr_check "the worker is gone" dr_spool_idle "$PUSH"
dr_check "segments 1 and 2 are archived" test -f "$WALDIR/$(dr_walseg 1)" -a -f "$WALDIR/$(dr_walseg 2)"
dr_check "segment 3 is not (the worker died before writing it)" test ! -e "$WALDIR/$(dr_walseg 3)"
dr_check "no temporary file in the repository" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
dr_must_fail 1 "get of segment 3 says not archived" \
    drrepo wal get --system-id $SYSID "$(dr_walseg 3)" "$T/got3"
dr_check "and writes nothing" test ! -e "$T/got3"
dr_expect_success "push 2 takes the worker's mark" push 2
mv "$PG/pg_wal/archive_status/$(dr_walseg 1).ready" "$PG/pg_wal/archive_status/$(dr_walseg 1).done"
mv "$PG/pg_wal/archive_status/$(dr_walseg 2).ready" "$PG/pg_wal/archive_status/$(dr_walseg 2).done"

DR_FAULT=wal.after_put:kill:2 push 3 >"$T/out" 2>"$T/err"
dr_check "push 3 exits 0" test $? -eq 0
dr_check "the worker is gone" dr_spool_idle "$PUSH"
dr_check "segment 4 is archived, unmarked" test -f "$WALDIR/$(dr_walseg 4)" -a ! -e "$PUSH/$(dr_walseg 4).ok"
dr_expect_success "push 4 archives it again (the same bytes)" push 4
dr_expect_success "push 5" push 5
dr_expect_success "push 6" push 6
dr_spool_idle "$PUSH"
n=0
for i in $(seq 1 6); do
    drrepo wal get --system-id $SYSID "$(dr_walseg $i)" "$T/got" >/dev/null 2>&1 &&
        cmp -s "$T/got" "$PG/pg_wal/$(dr_walseg $i)" && n=$((n + 1))
    rm -f "$T/got"
done
dr_check "every segment is archived whole ($n of 6)" test "$n" -eq 6
dr_expect_success "check --read-data passes" drrepo check --read-data

# ---- get ----
GET="$T/spool/$SYSID/get"
(cd "$PG" && DR_FAULT=fs.before_rename:kill:3 "$DRREPO" -r "$REPO" wal get --spool "$T/spool" \
    "$(dr_walseg 1)" "$T/r1") >"$T/out" 2>"$T/err"
dr_check "get 1 exits 0" test $? -eq 0
dr_check "the get worker is gone" dr_spool_idle "$GET"
dr_check "it left segment 2 and a temporary file for segment 3" \
    test -f "$GET/$(dr_walseg 2)" -a ! -e "$GET/$(dr_walseg 3)" -a -n "$(find "$GET" -name '.drrepo-tmp-*')"
for i in 2 3; do
    (cd "$PG" && "$DRREPO" -r "$REPO" wal get --spool "$T/spool" "$(dr_walseg $i)" "$T/r$i") \
        >"$T/out" 2>"$T/err"
    dr_check "get $i exits 0" test $? -eq 0
    dr_check "get $i gives the whole segment" cmp -s "$T/r$i" "$PG/pg_wal/$(dr_walseg $i)"
done
dr_spool_idle "$GET"
dr_check "the dead worker's temporary file was swept" \
    test -z "$(find "$GET" -name '.drrepo-tmp-*')"
dr_done
