#!/usr/bin/env bash
# t0047: `wal push --spool` and `wal get --spool` (docs/SOURCES.md "Asynchronous archiving and
# prefetching"): a background worker archives every file marked ready, or fetches the segments
# that follow, once for many files; the commands PostgreSQL runs then take the worker's work
# from the spool without opening the repository, and do themselves what the worker failed at.
# Fake data directories and 1 MiB segments; no server is needed.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

SYSID=7301234567890123456
SEGSZ=$((1024 * 1024))
WALDIR="$REPO/wal/65533227e8e4bac0/0000000100000000"

dr_init
PG="$T/pg"
dr_mkpgdata "$PG" "$SYSID"
dr_mkwal_ready "$PG" 12 "$SEGSZ"
PUSH="$T/spool/$SYSID/push"

# ---- push ----
(cd "$PG" && "$DRREPO" -r "$REPO" wal push --spool "$T/spool" "pg_wal/$(dr_walseg 1)") >"$T/out" 2>"$T/err"
dr_check "the first push exits 0" test $? -eq 0
dr_check "its file is archived when it exits" test -f "$WALDIR/$(dr_walseg 1)"
dr_check "the worker finishes" dr_spool_idle "$PUSH"
n=0
for i in $(seq 1 12); do [ -f "$WALDIR/$(dr_walseg $i)" ] && n=$((n + 1)); done
dr_check "the worker archived every ready file ($n of 12)" test "$n" -eq 12
dr_check "it marked the ones PostgreSQL has not asked for yet" \
    test -f "$PUSH/$(dr_walseg 2).ok" -a -f "$PUSH/$(dr_walseg 12).ok"
dr_check "the worker's log shows no error (nor a leak report)" test ! -s "$PUSH/worker.log"

# PostgreSQL now asks for the next files: the marks answer, no repository is opened
(cd "$PG" && "$DRREPO" -r "$T/no-repository" wal push --spool "$T/spool" "pg_wal/$(dr_walseg 2)") \
    >"$T/out" 2>"$T/err"
dr_check "a push the worker did exits 0 without the repository" test $? -eq 0
dr_check "its mark is consumed" test ! -e "$PUSH/$(dr_walseg 2).ok"
dr_expect_success "the same with --pg-data and an absolute path" \
    "$DRREPO" -r "$T/no-repository" wal push --pg-data "$PG" --spool "$T/spool" "$PG/pg_wal/$(dr_walseg 3)"

# a file the worker fails at: its own command pushes it, and the refusal is loud
mkdir -p "$T/other/pg_wal"
dr_mkwalseg "$T/other/pg_wal/$(dr_walseg 13)" "other bytes" "$SEGSZ"
dr_expect_success "segment 13 archived with other bytes first" \
    drrepo wal push --system-id $SYSID "$T/other/pg_wal/$(dr_walseg 13)"
dr_mkwalseg "$PG/pg_wal/$(dr_walseg 13)" "segment 13" "$SEGSZ"
: >"$PG/pg_wal/archive_status/$(dr_walseg 13).ready"
for i in $(seq 1 12); do mv "$PG/pg_wal/archive_status/$(dr_walseg $i).ready" \
    "$PG/pg_wal/archive_status/$(dr_walseg $i).done"; done
(cd "$PG" && "$DRREPO" -r "$REPO" wal push --spool "$T/spool" "pg_wal/$(dr_walseg 13)") >"$T/out" 2>"$T/err"
rc=$?
dr_check "a push of different bytes through the spool fails (exit $rc)" test "$rc" -ne 0
dr_check "and says why" grep -q "already archived with different content" "$T/err"
drrepo wal get --system-id $SYSID "$(dr_walseg 13)" "$T/13" >/dev/null 2>&1
dr_check "the archived copy is unchanged" cmp -s "$T/13" "$T/other/pg_wal/$(dr_walseg 13)"
dr_spool_idle "$PUSH"
(cd "$PG" && "$DRREPO" -r "$REPO" wal push --spool "$T/spool" "pg_wal/$(dr_walseg 13)") >"$T/out" 2>"$T/err"
rc=$?
dr_check "PostgreSQL's retry fails the same way (exit $rc)" test "$rc" -ne 0
dr_check "and says why again" grep -q "already archived with different content" "$T/err"

# ---- get ----
GET="$T/spool/$SYSID/get"
mkdir -p "$T/r"
(cd "$PG" && "$DRREPO" -r "$REPO" wal get --spool "$T/spool" "$(dr_walseg 1)" "$T/r/1") >"$T/out" 2>"$T/err"
dr_check "the first get exits 0" test $? -eq 0
dr_check "it gives the archived bytes" cmp -s "$PG/pg_wal/$(dr_walseg 1)" "$T/r/1"
dr_check "the prefetch worker finishes" dr_spool_idle "$GET"
dr_check "the prefetch worker's log shows no error (nor a leak report)" test ! -s "$GET/worker.log"
dr_check "its plan is the next 8 segments" \
    test "$(tr '\n' ' ' <"$GET/plan")" = "$(for i in $(seq 2 9); do printf '%s ' "$(dr_walseg $i)"; done)"
n=0
for i in $(seq 2 9); do cmp -s "$GET/$(dr_walseg $i)" "$PG/pg_wal/$(dr_walseg $i)" && n=$((n + 1)); done
dr_check "it fetched them, byte-identical ($n of 8)" test "$n" -eq 8

for i in 2 3 4; do
    (cd "$PG" && "$DRREPO" -r "$T/no-repository" wal get --spool "$T/spool" "$(dr_walseg $i)" \
        "$T/r/$i") >"$T/out" 2>"$T/err"
    dr_check "get $i from the spool exits 0 without the repository" test $? -eq 0
    dr_check "get $i gives the archived bytes" cmp -s "$PG/pg_wal/$(dr_walseg $i)" "$T/r/$i"
    dr_check "get $i moved the file out of the spool" test ! -e "$GET/$(dr_walseg $i)"
done

# half of the plan used: the next get starts a worker for the segments after it
(cd "$PG" && "$DRREPO" -r "$REPO" wal get --spool "$T/spool" "$(dr_walseg 5)" "$T/r/5") >"$T/out" 2>"$T/err"
dr_check "get 5 exits 0" test $? -eq 0
dr_check "the refill worker finishes" dr_spool_idle "$GET"
dr_check "the refill worker's log shows no error" test ! -s "$GET/worker.log"
dr_check "it planned the rest of the archive and its end" \
    test "$(tr '\n' ' ' <"$GET/plan")" = "$(dr_walseg 10) $(dr_walseg 11) $(dr_walseg 12) $(dr_walseg 13) end "
dr_check "segments 10-13 are in the spool" \
    test -f "$GET/$(dr_walseg 10)" -a -f "$GET/$(dr_walseg 13)"
dr_check "the spool holds segment 13's archived bytes" \
    cmp -s <(head -c 64 "$GET/$(dr_walseg 13)") <(printf '%-64s' "other bytes")

# recovery asks for a later segment: the ones before it are swept
dr_expect_success "get 11 from the spool" \
    "$DRREPO" -r "$T/no-repository" wal get --system-id $SYSID --spool "$T/spool" "$(dr_walseg 11)" "$T/r/11"
dr_check "segments before 11 are gone from the spool" \
    test ! -e "$GET/$(dr_walseg 6)" -a ! -e "$GET/$(dr_walseg 10)" -a -e "$GET/$(dr_walseg 12)"

# the end of the archive: exit 1 and nothing written, without deriving the key
DRREPO_PASSWORD=wrong dr_must_fail 1 "get past the end exits 1 (no password needed)" \
    drrepo wal get --system-id $SYSID --spool "$T/spool" "$(dr_walseg 14)" "$T/r/14"
dr_check "nothing was written" test ! -e "$T/r/14"
DRREPO_PASSWORD=wrong dr_must_fail 1 "a missing history file too" \
    drrepo wal get --system-id $SYSID 00000002.history "$T/r/h"
dr_must_fail 126 "a repository that is not there is not a missing file (126)" \
    "$DRREPO" -r "$T/no-repository" wal get --system-id $SYSID "$(dr_walseg 14)" "$T/r/14"
DRREPO_PASSWORD=wrong dr_must_fail 126 "an archived file with a wrong password: 126" \
    drrepo wal get --system-id $SYSID "$(dr_walseg 12)" "$T/r/12"

# a spool on another file system than the restore path: its files are copied, not renamed, and
# a file that is not in it is fetched (rename says EXDEV before it looks for the file)
XS=$(mktemp -d /dev/shm/drrepo-t0047.XXXXXX 2>/dev/null || true)
if [ -n "$XS" ] && [ "$(stat -c %d "$XS")" != "$(stat -c %d "$T")" ]; then
    (cd "$PG" && "$DRREPO" -r "$REPO" wal get --spool "$XS" "$(dr_walseg 1)" "$T/r/x1") \
        >"$T/out" 2>"$T/err"
    dr_check "across file systems: a segment not in the spool is fetched" \
        cmp -s "$T/r/x1" "$PG/pg_wal/$(dr_walseg 1)"
    dr_spool_idle "$XS/$SYSID/get"
    (cd "$PG" && "$DRREPO" -r "$T/no-repository" wal get --spool "$XS" "$(dr_walseg 2)" \
        "$T/r/x2") >"$T/out" 2>"$T/err"
    dr_check "across file systems: a spooled segment is copied out" \
        cmp -s "$T/r/x2" "$PG/pg_wal/$(dr_walseg 2)"
    dr_check "and leaves the spool" test ! -e "$XS/$SYSID/get/$(dr_walseg 2)"
else
    echo "# skip: no second file system (/dev/shm) for the cross-file-system case"
fi
[ -n "$XS" ] && rm -rf "$XS"

chmod 0777 "$GET"
dr_must_fail 126 "a spool others can write into is refused" \
    drrepo wal get --system-id $SYSID --spool "$T/spool" "$(dr_walseg 12)" "$T/r/12"
dr_check "and the message says why" grep -q "writable by no one else" "$T/err"
dr_check "nothing was written" test ! -e "$T/r/12"
chmod 0700 "$GET"

dr_must_fail 2 "--spool with wal list is a usage error" drrepo wal list --spool "$T/spool"
dr_must_fail 2 "--prefetch without --spool is a usage error" \
    drrepo wal get --system-id $SYSID --prefetch 4 "$(dr_walseg 1)" "$T/r/x"
dr_must_fail 2 "--prefetch 0 is a usage error" \
    drrepo wal get --system-id $SYSID --spool "$T/spool" --prefetch 0 "$(dr_walseg 1)" "$T/r/x"
dr_done
