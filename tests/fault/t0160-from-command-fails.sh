#!/bin/bash
# t0160: snapshot --from-command and --stdin when the input fails: a command exiting non-zero,
# killed by a signal, producing nothing, or empty stdin is refused with a message naming the
# command and what happened, and no snapshot is recorded (even when the command wrote several
# packs' worth before failing). A good command is recorded and dumps back exactly.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
    --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init"
"$TOOL" gen "$T/first.sql" 300K 1 text
dr_expect_success "a first good snapshot" \
    drrepo snapshot --from-command --stdin-name first.sql -- cat "$T/first.sql"

snaps() { drrepo snapshots --json >"$1" 2>/dev/null || echo "snapshots failed" >>"$1"; }
snaps "$T/snaps.before"
# unchanged NAME: no snapshot recorded since the start, and no temporary files or locks left
unchanged() {
    snaps "$T/snaps.after"
    dr_check "$1: no snapshot recorded" dr_cmp "$T/snaps.before" "$T/snaps.after"
    dr_check "$1: no temporary files left" test -z "$(find "$REPO" -name '.drrepo-tmp-*')"
    dr_check "$1: no lock left" test -z "$(find "$REPO/locks" -type f 2>/dev/null)"
}

dr_must_fail 1 "command exits 3: exit 1" \
    drrepo snapshot --from-command --stdin-name db.sql -- sh -c 'echo partial; exit 3'
dr_check "exit 3: message names the command" grep -q "echo partial; exit 3" "$T/err"
dr_check "exit 3: message gives status 3" grep -q "status 3" "$T/err"
unchanged "exit 3"

dr_must_fail 1 "command killed: exit 1" \
    drrepo snapshot --from-command --stdin-name db.sql -- sh -c 'echo partial; kill -9 $$'
dr_check "killed: message names the command" grep -q 'kill -9' "$T/err"
dr_check "killed: message says signal" grep -qi "signal" "$T/err"
unchanged "killed"

# several packs of output, then failure: packs may be stored, but no snapshot refers to them
"$TOOL" gen "$T/big.bin" 5M 7
dr_must_fail 1 "big output then exit 5: exit 1" \
    drrepo snapshot --from-command --stdin-name db.sql -- sh -c "cat '$T/big.bin'; exit 5"
dr_check "big output then exit 5: status 5" grep -q "status 5" "$T/err"
unchanged "big output then exit 5"
dr_must_fail 1 "big output then killed: exit 1" \
    drrepo snapshot --from-command --stdin-name db.sql -- sh -c "cat '$T/big.bin'; kill -TERM \$\$"
dr_check "big output then killed: signal" grep -qi "signal" "$T/err"
unchanged "big output then killed"

dr_must_fail 1 "command with no output: refused" \
    drrepo snapshot --from-command --stdin-name db.sql -- true
dr_check "no output: message says no data" grep -qi "no data" "$T/err"
dr_check "no output: message names the command" grep -q "'true'" "$T/err"
unchanged "no output"

dr_must_fail 1 "command that cannot run: exit 1" \
    drrepo snapshot --from-command --stdin-name db.sql -- "$T/no-such-command"
dr_check "cannot run: message names it" grep -q "no-such-command" "$T/err"
unchanged "cannot run"

dr_must_fail 1 "empty stdin (file): refused" drrepo snapshot --stdin --stdin-name db.sql </dev/null
dr_check "empty stdin: message says no data" grep -qi "no data" "$T/err"
unchanged "empty stdin (file)"
dr_must_fail 1 "empty stdin (pipe): refused" drrepo snapshot --stdin --stdin-name db.sql < <(printf '')
unchanged "empty stdin (pipe)"

dr_must_fail 2 "--from-command without a command: usage" \
    drrepo snapshot --from-command --stdin-name db.sql
dr_must_fail 2 "--from-command without --stdin-name: usage" \
    drrepo snapshot --from-command -- echo x
unchanged "usage errors"

dr_expect_success "check --read-data after the failures" drrepo check --read-data
dr_expect_success "the first snapshot still dumps" drrepo dump latest first.sql
dr_check "first snapshot identical" dr_cmp "$T/first.sql" "$T/out"

# a good command: recorded, and dump gives exactly its output
"$TOOL" gen "$T/dump.sql" 3M 2 text
dr_expect_success "good command: snapshot" \
    drrepo snapshot --from-command --stdin-name db.sql -- sh -c "cat '$T/dump.sql'; printf 'tail without newline'"
{ cat "$T/dump.sql"; printf 'tail without newline'; } >"$T/expected"
snaps "$T/snaps.after"
dr_check "good command: one snapshot recorded" \
    test "$(grep -o '"short_id"' "$T/snaps.after" | wc -l)" -eq 2
dr_check "good command: exit status kept in the snapshot" grep -q '"command.exit_status":"0"' "$T/snaps.after"
dr_expect_success "good command: dump" drrepo dump latest db.sql
dr_check "good command: dump is exactly the output" dr_cmp "$T/expected" "$T/out"
# the same through stdin
dr_expect_success "stdin: snapshot" drrepo snapshot --stdin --stdin-name other.bin <"$T/big.bin"
dr_expect_success "stdin: dump" drrepo dump latest other.bin
dr_check "stdin: dump is exactly the input" dr_cmp "$T/big.bin" "$T/out"
dr_expect_success "--allow-empty accepts an empty stream" \
    drrepo snapshot --allow-empty --from-command --stdin-name empty.sql -- true
dr_expect_success "empty stream dumps empty" drrepo dump latest empty.sql
dr_check "empty stream is empty" test ! -s "$T/out"
dr_expect_success "final check --read-data" drrepo check --read-data
dr_done
