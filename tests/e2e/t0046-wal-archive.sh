#!/usr/bin/env bash
# t0046: `drrepo wal push|get|list` as PostgreSQL's archive_command and restore_command
# (format/wal.md), on fake data directories: global/pg_control with a made-up system
# identifier, and fake 16 MiB segments (a marker, then zeros). No server is needed. Among the
# failures PostgreSQL retries: a location without a repository (10), an object store that does
# not answer (1) and a locked repository (11), each archiving nothing.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

SYSID=7301234567890123456 # 0x65533227e8e4bac0
SYSID2=7301234567890123457
WALDIR="$REPO/wal/65533227e8e4bac0/0000000100000000"
SEG=$((16 * 1024 * 1024))

# mkseg DIR NAME MARK: a fake 16 MiB segment whose first 64 bytes are MARK
mkseg() { dr_mkwalseg "$1/pg_wal/$2" "$3" "$SEG"; }

dr_init
PG="$T/pg" PG2="$T/pg2"
dr_mkpgdata "$PG" "$SYSID"
dr_mkpgdata "$PG2" "$SYSID2"
S1=000000010000000000000001 S2=000000010000000000000002 S3=000000010000000000000003
S4=000000010000000000000004 S5=000000010000000000000005
for s in $S1 $S2 $S3 $S5; do mkseg "$PG" $s "cluster 1 segment $s"; done
printf '1\t0/5000060\tno recovery target specified\n' >"$PG/pg_wal/00000002.history"

# push, from inside the data directory as PostgreSQL runs it, and with --pg-data
(cd "$PG" && "$DRREPO" -r "$REPO" wal push pg_wal/$S1) >"$T/out" 2>"$T/err"
dr_check "push from the data directory exits 0" test $? -eq 0
dr_check "the object is wal/<system id in hex>/<first 16>/<file>" test -f "$WALDIR/$S1"
dr_check "the object is compressed (a 16 MiB segment of zeros)" \
    test "$(stat -c %s "$WALDIR/$S1")" -lt 100000
dr_check "the object does not show the segment's bytes" \
    test "$(grep -c "cluster 1 segment" "$WALDIR/$S1")" -eq 0
for s in $S2 $S3 $S5 00000002.history; do
    dr_expect_success "push $s with --pg-data" drrepo wal push --pg-data "$PG" "$PG/pg_wal/$s"
done
dr_check "a history file is wal/<system id>/<file>" \
    test -f "$REPO/wal/65533227e8e4bac0/00000002.history"

# the same file again: a success (PostgreSQL retries a push whose end it did not see)
cp "$WALDIR/$S1" "$T/s1.obj"
dr_expect_success "push of the same file again exits 0" drrepo wal push --pg-data "$PG" "$PG/pg_wal/$S1"
dr_check "the archived object was not rewritten" cmp -s "$T/s1.obj" "$WALDIR/$S1"

# other bytes under the same name: refused, the archived copy unchanged
mkdir -p "$T/other/pg_wal"
mkseg "$T/other" $S1 "something else"
drrepo wal push --pg-data "$PG" "$T/other/pg_wal/$S1" >"$T/out" 2>"$T/err"
rc=$?
dr_check "push of different content under an archived name fails (exit $rc)" test $rc -ne 0 -a $rc -lt 126
dr_check "the message names the file and says the content differs" \
    grep -q "$S1.*different content" "$T/err"
dr_check "the archived object is unchanged" cmp -s "$T/s1.obj" "$WALDIR/$S1"

# get: the bytes pushed; the restore path is written whole
mkdir -p "$T/restore/pg_wal"
(cd "$PG" && "$DRREPO" -r "$REPO" wal get $S1 "$T/restore/pg_wal/RECOVERYXLOG") >"$T/out" 2>"$T/err"
dr_check "get from the data directory exits 0" test $? -eq 0
dr_check "get gives the pushed bytes" cmp -s "$PG/pg_wal/$S1" "$T/restore/pg_wal/RECOVERYXLOG"
dr_expect_success "get of the history file" \
    drrepo wal get --pg-data "$PG" 00000002.history "$T/restore/pg_wal/RECOVERYHISTORY"
dr_check "the history file's bytes" cmp -s "$PG/pg_wal/00000002.history" "$T/restore/pg_wal/RECOVERYHISTORY"
dr_expect_success "get with --system-id" \
    drrepo wal get --system-id $SYSID $S3 "$T/restore/s3"
dr_check "get with --system-id gives the bytes" cmp -s "$PG/pg_wal/$S3" "$T/restore/s3"
dr_check "no temporary file is left beside the restore path" \
    test -z "$(find "$T/restore" -name '.drrepo-tmp-*')"

# a file not archived: exit 1 (the end of the archive for PostgreSQL), nothing written
dr_must_fail 1 "get of a file not archived exits 1" \
    drrepo wal get --pg-data "$PG" $S4 "$T/restore/missing"
dr_check "get of a missing file writes nothing" test ! -e "$T/restore/missing"
dr_check "the message names the missing file" grep -q "$S4" "$T/err"

# a damaged object: 126, so that PostgreSQL stops recovery instead of ending it early
size=$(stat -c %s "$WALDIR/$S2")
cp "$WALDIR/$S2" "$T/s2.obj"
"$TOOL" flip "$WALDIR/$S2" $((size / 2))
dr_must_fail 126 "get of a damaged object exits 126" \
    drrepo wal get --pg-data "$PG" $S2 "$T/restore/damaged"
dr_check "the message names the object" grep -q "wal/65533227e8e4bac0/0000000100000000/$S2" "$T/err"
dr_check "get of a damaged object writes nothing" test ! -e "$T/restore/damaged"
cp "$T/s2.obj" "$WALDIR/$S2"
dr_must_fail 126 "get of a non-WAL name exits 126 (not a missing file)" \
    drrepo wal get --pg-data "$PG" RECOVERYXLOG "$T/restore/x"
dr_must_fail 126 "get without a data directory exits 126" \
    drrepo wal get --pg-data "$T/nothing" $S1 "$T/restore/x"
dr_check "nothing was written by the failed gets" test ! -e "$T/restore/x"

# a name that is not a WAL file's: a usage error, before storage is touched
cp "$PG/pg_wal/$S1" "$PG/pg_wal/RECOVERYXLOG"
cp "$PG/pg_wal/$S1" "$PG/pg_wal/000000010000000a00000001"
dr_must_fail 2 "push of a non-WAL file name exits 2" drrepo wal push --pg-data "$PG" "$PG/pg_wal/RECOVERYXLOG"
dr_check "the message quotes the name" grep -q "RECOVERYXLOG" "$T/err"
dr_must_fail 2 "push of a lowercase hex name exits 2" \
    drrepo wal push --pg-data "$PG" "$PG/pg_wal/000000010000000a00000001"
dr_must_fail 2 "wal with an unknown subcommand exits 2" drrepo wal fetch $S1 "$T/x"
dr_check "nothing but the archived files is under wal/" \
    test "$(find "$REPO/wal" -type f | wc -l)" -eq 5

# a second cluster in the same repository: the same file name is its own file
mkseg "$PG2" $S1 "cluster 2 segment $S1"
mkseg "$PG2" $S2 "cluster 2 segment $S2"
dr_expect_success "push of cluster 2's $S1" drrepo wal push --pg-data "$PG2" "$PG2/pg_wal/$S1"
dr_expect_success "push of cluster 2's $S2" drrepo wal push --pg-data "$PG2" "$PG2/pg_wal/$S2"
drrepo wal get --pg-data "$PG2" $S1 "$T/restore/c2" >"$T/out" 2>"$T/err"
dr_check "cluster 2 gets its own $S1" cmp -s "$PG2/pg_wal/$S1" "$T/restore/c2"
drrepo wal get --pg-data "$PG" $S1 "$T/restore/c1" >"$T/out" 2>"$T/err"
dr_check "cluster 1 still gets its own $S1" cmp -s "$PG/pg_wal/$S1" "$T/restore/c1"
dr_must_fail 1 "cluster 2 has no $S3" drrepo wal get --pg-data "$PG2" $S3 "$T/restore/c2-3"

# list: per cluster, its runs of segments and the gap
dr_expect_success "wal list" drrepo wal list
cp "$T/out" "$T/list.txt"
dr_check "list: cluster 1 with its 5 files and the segment size" \
    grep -q "^cluster $SYSID: 5 files, .*segments of 16 MiB" "$T/list.txt"
dr_check "list: cluster 1's first run, then a gap" \
    grep -q "timeline 1: $S1 - $S3 (3 segments), then a gap" "$T/list.txt"
dr_check "list: cluster 1's second run" grep -qx "  timeline 1: $S5 - $S5 (1 segments)" "$T/list.txt"
dr_check "list: cluster 2" grep -q "^cluster $SYSID2: 2 files" "$T/list.txt"
dr_check "list: cluster 2's run" grep -qx "  timeline 1: $S1 - $S2 (2 segments)" "$T/list.txt"
dr_check "list: clusters sorted by system identifier" \
    test "$(grep -o '^cluster [0-9]*' "$T/list.txt" | tr '\n' ' ')" = "cluster $SYSID cluster $SYSID2 "
dr_expect_success "wal list --json" drrepo wal list --json
dr_check "wal list --json: every field is documented in docs/JSON.md" \
    python3 "$DR_SRC/tests/e2e/jsondoc.py" "$DR_SRC/docs/JSON.md" wal "$T/out"
tr -d ' \n' <"$T/out" >"$T/list.json"
dr_check "list --json: cluster 1 as a string, its files and segment size" \
    grep -q "{\"system_identifier\":\"$SYSID\",\"files\":5,\"bytes\":[0-9]*,\"segment_size\":$SEG" "$T/list.json"
dr_check "list --json: cluster 1's two ranges" \
    grep -q "\"ranges\":\[{\"timeline\":1,\"first\":\"$S1\",\"last\":\"$S3\",\"segments\":3},{\"timeline\":1,\"first\":\"$S5\",\"last\":\"$S5\",\"segments\":1}\]" "$T/list.json"
dr_check "list --json: cluster 2's range" \
    grep -q "\"system_identifier\":\"$SYSID2\",\"files\":2,.*\"ranges\":\[{\"timeline\":1,\"first\":\"$S1\",\"last\":\"$S2\",\"segments\":2}\]" "$T/list.json"
dr_expect_success "wal list --system-id (one cluster)" drrepo wal list --json --system-id $SYSID2
dr_check "list --system-id shows only that cluster" \
    test "$(grep -o system_identifier "$T/out" | wc -l)" -eq 1 -a "$(grep -c "$SYSID2" "$T/out")" -ge 1

# check on a repository holding WAL objects: cluster 1's archive has a gap (no base backup
# before it, so every segment counts), which check reports as damage naming the range; with
# --read-data it opens every archived file, and a damaged one is named
mkdir -p "$T/src" && echo data >"$T/src/f"
dr_expect_success "a snapshot beside the WAL" drrepo snapshot "$T/src"
dr_must_fail 4 "check reports cluster 1's gap" drrepo check
dr_check "check names the missing range" grep -q "WAL of cluster $SYSID has a gap: $S4 to $S4" "$T/out" "$T/err"
dr_check "check reports nothing of cluster 2 (no gap)" sh -c "! grep -q 'cluster $SYSID2' '$T/out' '$T/err'"
"$TOOL" flip "$WALDIR/$S2" $((size / 2))
dr_must_fail 4 "check --read-data names a damaged archived file" drrepo check --read-data
dr_check "the damaged file is named" grep -q "$S2.*cannot open" "$T/out" "$T/err"
cp "$T/s2.obj" "$WALDIR/$S2"

# unreachable: a repository that is not there, or an object store that does not answer, fails
# the push with a message naming it (PostgreSQL retries), and archives nothing
dr_must_fail 10 "push into a location with no repository exits 10" \
    "$DRREPO" -r "$T/nothing-here" wal push --pg-data "$PG" "$PG/pg_wal/$S1"
dr_check "the message names the location" grep -q "nothing-here" "$T/err"
dr_check "nothing was created there" test ! -e "$T/nothing-here"
# port 9 on the loopback: nothing listens (a refused connection, retried, then one line)
AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y DRREPO_S3_RETRIES=1 dr_must_fail 1 \
    "push into an object store that does not answer exits 1" \
    "$DRREPO" -r s3:http://127.0.0.1:9/bucket wal push --pg-data "$PG" "$PG/pg_wal/$S1"
dr_check "the message names the endpoint and the failure" \
    grep -q "http://127.0.0.1:9/bucket/config: Couldn't connect" "$T/err"

# locked: forget/prune's exclusive lock keeps pushes out (PostgreSQL retries them)
mkseg "$PG" $S4 "cluster 1 segment $S4"
"$TOOL" lock "$REPO" exclusive other-host 4242
dr_must_fail 11 "push under another host's exclusive lock exits 11" \
    drrepo wal push --pg-data "$PG" "$PG/pg_wal/$S4"
dr_check "the message names the holder" grep -q "other-host" "$T/err"
dr_check "nothing was archived under the lock" test ! -e "$WALDIR/$S4"
rm -f "$REPO"/locks/*
if [ "${DR_FAULTS_BUILT:-0}" = 1 ]; then
    # a real prune, paused while it holds the exclusive lock: deleting the pack of a
    # forgotten snapshot
    mkdir -p "$T/src2" && "$TOOL" gen "$T/src2/f" 100000 46
    dr_expect_success "a second snapshot" drrepo snapshot "$T/src2"
    dr_expect_success "forget it" drrepo forget latest
    rm -f "$T/p.paused" "$T/p.go"
    DR_FAULT=prune.delete_pack:pause DR_FAULT_PAUSE="$T/p" \
        "$DRREPO" -r "$REPO" prune >"$T/prune.out" 2>"$T/prune.err" &
    prune_pid=$!
    for _ in $(seq 1 3000); do [ -e "$T/p.paused" ] && break; sleep 0.01; done
    dr_check "prune paused holding its lock" test -e "$T/p.paused"
    dr_must_fail 11 "push while prune holds the exclusive lock exits 11" \
        drrepo wal push --pg-data "$PG" "$PG/pg_wal/$S4"
    touch "$T/p.go"
    wait $prune_pid
    dr_check "the prune went on and exited 0" test $? -eq 0
else
    echo "# a paused prune needs -DDR_FAULTS=ON: only the written lock was tried"
fi
dr_expect_success "push once the lock is gone" drrepo wal push --pg-data "$PG" "$PG/pg_wal/$S4"
dr_expect_success "wal list" drrepo wal list
dr_check "the gap is filled: one run of 5 segments" \
    grep -qx "  timeline 1: $S1 - $S5 (5 segments)" "$T/out"
dr_expect_success "check passes at the end" drrepo check
dr_done
