#!/usr/bin/env bash
# The README's use block, run top to bottom as written: each line is read from README.md, its
# host names, paths and credentials adapted to the test servers (PostgreSQL, Redis, the RGW of
# tools/test-servers.sh) and to this test's scratch directory, run as a user runs it (drrepo and
# the PostgreSQL client tools on PATH, the repository and password from the exported variables),
# and then checked against what its comment says. A line of the block that this test does not
# know fails the test, so that the README cannot gain a command nobody ran.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
. "$DR_SRC/tests/integration/pg_lib.sh"
. "$DR_SRC/tests/integration/redis_lib.sh"
. "$DR_SRC/tests/integration/s3_lib.sh"
redis_require
s3_require

# The block: the indented lines between "## Use" and the next heading.
awk '/^## Use$/ { on = 1; next } /^## / { on = 0 } on && /^    [^ ]/ { print substr($0, 5) }' \
    "$DR_SRC/README.md" >"$T/block"
dr_check "README.md has a use block" test "$(wc -l <"$T/block")" -ge 10

# The user's machine: drrepo and the PostgreSQL tools on PATH, libpq aimed at the test server,
# the password files of the block, the tree it backs up and the database it dumps.
mkdir -p "$T/bin" "$T/etc/drrepo" "$T/backup" "$T/mnt" "$T/srv/artifacts/run-1" \
    "$T/srv/artifacts/run-2" "$T/srv/artifacts/logs"
ln -s "$DRREPO" "$T/bin/drrepo"
unset -f drrepo
export PATH="$T/bin:$PGB:$PATH"
eval "$(echo "$DR_TEST_PG_DSN" | tr ' ' '\n' | sed -nE 's/^(host|port|user)=(.*)$/export PG\U\1\E=\2/p')"
echo "repository password" >"$T/etc/drrepo/pw"
echo "offsite password" >"$T/etc/drrepo/pw-offsite"
unset DRREPO_PASSWORD
echo result-1 >"$T/srv/artifacts/run-1/out"
echo result-2 >"$T/srv/artifacts/run-2/out"
echo log >"$T/srv/artifacts/logs/build.log"
echo scratch >"$T/srv/artifacts/run-2/partial.tmp"
DBA="readme_mydb_$$" DBB="readme_scratch_$$"
src -c "create database $DBA" -c "create database $DBB"
"$PGB/psql" -X -q -v ON_ERROR_STOP=1 -d "$DBA" \
    -c "create table t (n int); insert into t select generate_series(1, 1000)" ||
    dr_fail "the database to dump"
cleanup_dbs() { src -c "drop database if exists $DBA" -c "drop database if exists $DBB"; }

PGHP="$PGHOST:$PGPORT"
# adapt LINE: the README's names replaced by this machine's
adapt() {
    local l=$1
    l=${l//\/backup\/repo/$T/backup/repo}
    l=${l//\/etc\/drrepo\//$T/etc/drrepo/}
    l=${l//\/srv\/artifacts/$T/srv/artifacts}
    l=${l//\/tmp\/restore/$T/restore}
    l=${l//\/mnt\/backups/$T/mnt}
    l=${l//pg_dump -Fp mydb/pg_dump -Fp $DBA}
    l=${l//psql scratch/psql -X -q $DBB}
    l=${l//host=db1 user=backup/host=$PGHOST port=$PGPORT user=$PGUSER}
    l=${l//pg:db1:5432/pg:$PGHP}
    l=${l//redis:\/\/cache1:6379/$DR_TEST_REDIS_URL}
    l=${l//https:\/\/s3.eu-central-1.amazonaws.com\/acme-dr/$DR_TEST_S3_ENDPOINT/$S3_BUCKET}
    l=${l//AKIAEXAMPLE/$DR_TEST_S3_ACCESS_KEY}
    l=${l//wJalrEXAMPLEKEY/$DR_TEST_S3_SECRET_KEY}
    l=${l//3f2a1b2c/$FIRST}
    printf '%s\n' "$l"
}

# check LINE: what the line's comment says holds (run after the line, with its output in
# $T/out and $T/err)
snap_count() { "$DRREPO" snapshots --json | jq length; }
check() {
    case $1 in
    "export DRREPO_REPOSITORY="*)
        dr_check "the repository is named by the environment" test "$DRREPO_REPOSITORY" = "$T/backup/repo" ;;
    "export DRREPO_PASSWORD_FILE="*)
        dr_check "the password comes from the file" test -s "$DRREPO_PASSWORD_FILE" ;;
    "drrepo init")
        dr_check "init created the repository" test -s "$T/backup/repo/config" ;;
    "drrepo snapshot /srv/artifacts"*)
        FIRST=$("$DRREPO" snapshots --json | jq -r '.[0].short_id')
        "$DRREPO" ls latest --tag nightly >"$T/ls"
        dr_check "the snapshot is tagged nightly" grep -q 'run-1/out$' "$T/ls"
        dr_check "*.tmp is excluded" sh -c "! grep -q 'partial.tmp' '$T/ls'" ;;
    "drrepo snapshot --from-command"*)
        "$DRREPO" dump latest db.sql >"$T/db.sql"
        dr_check "the dump is stored as db.sql" grep -q 'COPY public.t (n) FROM stdin' "$T/db.sql" ;;
    "drrepo snapshots")
        last=$("$DRREPO" snapshots --json | jq -r '.[-1].short_id')
        dr_check "snapshots lists both, the tree's and the dump's" sh -c "grep -q '^$FIRST' '$T/out' && grep -q '^$last' '$T/out'" ;;
    "drrepo ls latest --path"*)
        dr_check "ls shows the latest snapshot of the tree (not the later dump)" \
            grep -q 'run-2/partial.tmp\|run-1/out' "$T/out"
        dr_check "in the long form" grep -q '^-rw' "$T/out" ;;
    "drrepo restore latest"*)
        dr_check "the included run-* directories are restored" \
            test -f "$T/restore$T/srv/artifacts/run-1/out" -a -f "$T/restore$T/srv/artifacts/run-2/out"
        dr_check "nothing else is" test ! -e "$T/restore$T/srv/artifacts/logs" ;;
    "drrepo dump latest db.sql | psql"*)
        dr_check "the dump loaded into the scratch database" \
            test "$(psql -X -At -d "$DBB" -c 'select count(*) from t')" = 1000 ;;
    "drrepo diff "*)
        dr_check "the diff names what changed" grep -q 'db.sql' "$T/out" ;;
    "drrepo stats")
        dr_check "stats prints the repository's size" grep -qi 'size' "$T/out" ;;
    "drrepo check --read-data-subset"*)
        dr_check "the subset check passed" grep -qi 'no errors' "$T/out" ;;
    "drrepo forget "*)
        dr_check "one snapshot per group is kept (all are from today)" test "$(snap_count)" = 2
        dr_expect_success "the repository checks after the prune" "$DRREPO" check ;;
    "drrepo snapshot --pg "*)
        dr_check "a base backup of the server" \
            sh -c "'$DRREPO' snapshots --json --path 'pg:$PGHP' | jq -e 'length == 1' >/dev/null" ;;
    "drrepo snapshot --redis "*)
        dr_check "an RDB of the server" \
            sh -c "'$DRREPO' ls latest --path 'redis:$RHOST:$RPORT' | grep -q 'dump.rdb'" ;;
    "drrepo drill "*)
        dr_check "the drill passed" grep -qi 'pass' "$T/out"
        dr_check "and recorded its RTO" sh -c "'$DRREPO' drill --list --json 2>/dev/null | grep -q rto ||
            ls '$T/backup/repo/drills' | grep -q ." ;;
    "drrepo mount --background "*)
        dr_check "every snapshot is browsable" sh -c "ls '$T/mnt'/*/* >/dev/null" ;;
    "fusermount3 -u "*)
        dr_check "unmounted" sh -c "! mountpoint -q '$T/mnt'" ;;
    "export AWS_ACCESS_KEY_ID="*)
        dr_check "S3 credentials set" test -n "$AWS_SECRET_ACCESS_KEY" ;;
    "OFFSITE="*)
        dr_check "the offsite location is set" test -n "$OFFSITE" ;;
    "drrepo -r \$OFFSITE "*" init"*)
        dr_check "the offsite repository exists" \
            sh -c "'$DRREPO' -r '$OFFSITE' --password-file '$T/etc/drrepo/pw-offsite' snapshots --json | jq -e 'length == 0' >/dev/null" ;;
    "DRREPO_TO_PASSWORD_FILE="*"drrepo copy latest --to "*)
        off() { DRREPO_PASSWORD_FILE="$T/etc/drrepo/pw-offsite" "$DRREPO" -r "$OFFSITE" "$@"; }
        "$DRREPO" snapshots --json | jq -r '.[-1] | .time, .paths[]' >"$T/s.local"
        off snapshots --json | jq -r '.[] | .time, .paths[]' >"$T/s.offsite"
        dr_check "the offsite repository has the latest snapshot, only" \
            test -s "$T/s.local" -a "$(cat "$T/s.local")" = "$(cat "$T/s.offsite")"
        "$DRREPO" dump latest dump.rdb >"$T/rdb.local"
        off dump latest dump.rdb >"$T/rdb.offsite"
        dr_check "its file restores byte for byte" test -s "$T/rdb.local" -a -s "$T/rdb.offsite"
        dr_check "identical to the local" cmp -s "$T/rdb.local" "$T/rdb.offsite" ;;
    *)
        dr_fail "README line without a check in this test: $1" ;;
    esac
}

FIRST=none
mounted=0
while IFS= read -r line; do
    cmd=${line%%  # *}
    cmd=${cmd%"${cmd##*[! ]}"} # the spaces before the comment
    if [[ $cmd == "drrepo mount"* ]] && [ ! -e /dev/fuse ]; then
        echo "# skip (no /dev/fuse): $line"
        continue
    fi
    if [[ $cmd == "fusermount3 "* ]] && [ "$mounted" = 0 ]; then
        echo "# skip (not mounted): $line"
        continue
    fi
    run=$(adapt "$cmd")
    echo "# \$ $run"
    # the line runs in this shell: its exports hold for the lines after it, as in a terminal
    eval "$run" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" = 0 ]; then dr_ok "README: $cmd"; else dr_fail "README: $cmd (exit $rc)"; fi
    [[ $cmd == "drrepo mount"* ]] && [ "$rc" = 0 ] && mounted=1
    check "$cmd"
done <"$T/block"

[ "$mounted" = 1 ] && mountpoint -q "$T/mnt" && fusermount3 -u "$T/mnt"
cleanup_dbs
dr_done
