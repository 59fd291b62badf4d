#!/usr/bin/env bash
# t0630-pg-pages.sh: `snapshot --pg` against a real PostgreSQL 15 cuts relation files (main,
# _fsm and _vm forks under base/ and global/) in fixed 8 KiB blocks and everything else by
# content (format/chunker.md "Page-aligned relation files"), in a repository with the default
# 1 MiB content-defined chunks, where a relation file cut by content would have at most one
# chunk per 512 KiB. A relation file of 8 blocks or more keeps them in a chunk list
# (format/chunklist.md): a full list in the first snapshot, a change to it (depth 1) in the
# next after an update, the same list when the file did not change. The restored directory
# passes pg_verifybackup, so the blocks reassemble; check --read-data passes. `copy` of one
# snapshot a run gives the target the same kind of lists (a full list, then a change to it),
# which check and restore the same files. Forgetting the first snapshot and pruning keeps the
# full list the second one's change is made on (check --read-data and pg_verifybackup again);
# `copy` of the second alone into another repository writes a full list there, which restores
# the same files.
. "${DR_SRC:?}/tests/e2e/lib.sh" || exit 1

. "$DR_SRC/tests/integration/pg_lib.sh"

db=drt_pages_$$
DSN_DB="$DR_TEST_PG_DSN dbname=$db"
src -c "create database $db" || exit 1
cleanup_db() { src -c "drop database if exists $db" >/dev/null 2>&1; }
trap 'cleanup_db; dr_cleanup' EXIT
"$PGB/pgbench" -q -i -s 2 "$DSN_DB" >/dev/null 2>&1 || { echo "not ok - pgbench -i"; exit 1; }
rel=$("$PGB/psql" -X -At "$DSN_DB" -c "select pg_relation_filepath('pgbench_accounts')")
dr_check "pgbench_accounts has a file under base/" sh -c "echo '$rel' | grep -Eq '^base/[0-9]+/[0-9]+$'"

dr_init
dr_expect_success "snapshot --pg" drrepo snapshot --pg "$DR_TEST_PG_DSN"
drrepo snapshots --json >"$T/snaps.json" 2>/dev/null
dr_check "the policy is recorded" grep -q '"pg.chunking":"relation-pages-v2 8192"' "$T/snaps.json"

# every file's chunk count against its size: ceil(size / 8192) for relation files; at most
# size / 512 KiB + 1 (the default minimum chunk) for the others
cat >"$T/chunks.py" <<'EOF'
import json, re, sys
rel = re.compile(r'^/(global|base/[0-9]+|pg_tblspc/[0-9]+/PG_[^/]+/[0-9]+)/[0-9]+(_fsm|_vm)?(\.[0-9]+)?$')
want_rel = sys.argv[2]
nrel = ncdc = 0
seen = set()
for line in open(sys.argv[1]):
    n = json.loads(line)
    if n.get('message_type') != 'node' or n['type'] != 'file':
        continue
    size, chunks, path = n['size'], n['chunks'], n['path']
    if rel.match(path):
        nrel += 1
        if chunks != (size + 8191) // 8192:
            sys.exit(f'{path}: {size} bytes in {chunks} chunks, not in 8 KiB blocks')
        for fork in ('', '_fsm', '_vm'):
            if path == '/' + want_rel + fork:
                seen.add(fork or 'main')
                print(f'# {path}: {size} bytes in {chunks} chunks')
    else:
        ncdc += 1
        if chunks > size // 524288 + 1:
            sys.exit(f'{path}: {size} bytes in {chunks} chunks, not by content')
if seen != {'main', '_fsm', '_vm'}:
    sys.exit(f'the forks of {want_rel} seen: {sorted(seen)}')
if nrel < 100 or ncdc < 10:
    sys.exit(f'{nrel} relation files and {ncdc} others: too few to tell')
print(f'# {nrel} relation files in 8 KiB blocks, {ncdc} other files by content')
EOF
drrepo ls latest --json >"$T/ls.json" 2>"$T/err" || dr_fail "ls --json"
if python3 "$T/chunks.py" "$T/ls.json" "$rel" >"$T/out" 2>"$T/err"; then
    cat "$T/out"
    dr_ok "relation files in 8 KiB blocks, the rest by content"
else
    dr_fail "chunking of the base backup"
fi

# how a file of a snapshot keeps its chunks: "list DEPTH NLISTS NCHUNKS LISTID" or "tree NCHUNKS"
node_list() { "$TOOL" node-list "$REPO" "$1" "$2" 2>"$T/err"; }
snap_ids() { drrepo snapshots --json 2>/dev/null | python3 -c 'import json,sys; print(" ".join(s["id"] for s in sorted(json.load(sys.stdin), key=lambda s: s["time"])))'; }
read -r s1 <<<"$(snap_ids)"
got=$(node_list "$s1" "/$rel")
dr_check "first snapshot: pgbench_accounts in a full chunk list ($got)" sh -c "echo '$got' | grep -Eq '^list 0 1 [0-9]+ [0-9a-f]{64}$'"

# a changed row: the next snapshot's relation files are still in blocks
"$PGB/psql" -X -q "$DSN_DB" -c "update pgbench_accounts set abalance = abalance + 1 where aid = 100000; checkpoint" ||
    dr_fail "update"
dr_expect_success "second snapshot" drrepo snapshot --pg "$DR_TEST_PG_DSN"
drrepo ls latest --json >"$T/ls2.json" 2>"$T/err" || dr_fail "ls --json (2)"
dr_expect_success "second snapshot: relation files in 8 KiB blocks" python3 "$T/chunks.py" "$T/ls2.json" "$rel"
read -r _ s2 <<<"$(snap_ids)"
got=$(node_list "$s2" "/$rel")
dr_check "second snapshot: pgbench_accounts as a change to the first's list ($got)" \
    sh -c "echo '$got' | grep -Eq '^list 1 2 [0-9]+ [0-9a-f]{64}$'"
# a relation that no one wrote to keeps the parent's list (the catalog of functions)
idx=$("$PGB/psql" -X -At "$DSN_DB" -c "select pg_relation_filepath('pg_proc')")
a=$(node_list "$s1" "/$idx") b=$(node_list "$s2" "/$idx")
dr_check "an unchanged relation file has the same full list in both ($a | $b)" \
    sh -c "[ '$a' = '$b' ] && echo '$a' | grep -Eq '^list 0 1 [0-9]+ [0-9a-f]{64}$'"

dr_expect_success "restore" drrepo restore latest --target "$T/data"
chown -R postgres: "$T/data" && chmod 700 "$T/data"
dr_expect_success "pg_verifybackup accepts the restored directory" \
    runuser -u postgres -- "$PGB/pg_verifybackup" "$T/data"
dr_expect_success "check --read-data" drrepo check --read-data

# copy, one snapshot a run as a nightly copy does: the target's lists follow the same policy
# against the target's copy of the parent, so the second copy's list is a change too
echo "$DRREPO_PASSWORD" >"$T/tpw"
tnode() { "$TOOL" node-list "$1" "$("$DRREPO" -r "$1" snapshots --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)[$2]['id'])")" "/$rel" 2>"$T/err"; }
TGT1="$T/tgt1"
dr_init "$TGT1"
dr_expect_success "copy the first snapshot" drrepo copy "$s1" --to "$TGT1" --to-password-file "$T/tpw"
dr_expect_success "copy the rest in a second run" drrepo copy --to "$TGT1" --to-password-file "$T/tpw"
got=$(tnode "$TGT1" 0)
dr_check "the first copy's pgbench_accounts is a full list ($got)" sh -c "echo '$got' | grep -Eq '^list 0 1 [0-9]+ [0-9a-f]{64}$'"
got=$(tnode "$TGT1" 1)
dr_check "the second copy's is a change to it ($got)" sh -c "echo '$got' | grep -Eq '^list 1 2 [0-9]+ [0-9a-f]{64}$'"
dr_expect_success "check --read-data of the copy" "$DRREPO" -r "$TGT1" check --read-data
dr_expect_success "restore the second copy" "$DRREPO" -r "$TGT1" restore latest --target "$T/data1"
dr_expect_success "it restores the same files as its original" diff -r "$T/data" "$T/data1"

# the first snapshot goes: the second's change still needs the first's full list
dr_expect_success "forget the first snapshot" drrepo forget "$s1"
dr_expect_success "prune" drrepo prune
dr_expect_success "check --read-data after prune" drrepo check --read-data
dr_expect_success "restore after prune" drrepo restore latest --target "$T/data2"
chown -R postgres: "$T/data2" && chmod 700 "$T/data2"
dr_expect_success "pg_verifybackup accepts it" runuser -u postgres -- "$PGB/pg_verifybackup" "$T/data2"

# copy of a snapshot whose parent is gone: the target gets a full list of its own chunk ids,
# and restores the same files
TGT="$T/tgt"
dr_init "$TGT"
dr_expect_success "copy into a second repository" drrepo copy --to "$TGT" --to-password-file "$T/tpw"
dr_expect_success "check --read-data of the copy" "$DRREPO" -r "$TGT" check --read-data
t2=$("$DRREPO" -r "$TGT" snapshots --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
got=$("$TOOL" node-list "$TGT" "$t2" "/$rel" 2>"$T/err")
dr_check "the copy's pgbench_accounts is a full list ($got)" sh -c "echo '$got' | grep -Eq '^list 0 1 [0-9]+ [0-9a-f]{64}$'"
dr_expect_success "restore from the copy" "$DRREPO" -r "$TGT" restore latest --target "$T/data3"
dr_expect_success "the copy restores the same files" diff -r "$T/data2" "$T/data3"

dr_done
