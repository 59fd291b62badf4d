#!/usr/bin/env bash
# Streams: --stdin and --from-command store a single named file; dump gives it back byte for
# byte; a command that fails never becomes a snapshot.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
"$TOOL" gen "$T/db.sql" 20M 5 text
dr_expect_success "snapshot --stdin" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name db.sql --tag nightly < '$T/db.sql'"
dr_expect_success "dump latest db.sql" sh -c "'$DRREPO' -r '$REPO' dump latest db.sql > '$T/out.sql'"
dr_check "dump is byte-identical" cmp -s "$T/db.sql" "$T/out.sql"
dr_expect_success "snapshot --from-command" drrepo snapshot --from-command --stdin-name gen.sql -- cat "$T/db.sql"
dr_expect_success "dump the command's output" sh -c "'$DRREPO' -r '$REPO' dump latest /gen.sql > '$T/out2.sql'"
dr_check "command output is byte-identical" cmp -s "$T/db.sql" "$T/out2.sql"
dr_expect_success "snapshots --json" drrepo snapshots --json
dr_check "the command is recorded in the snapshot" grep -q "\"command\":\"cat $T/db.sql\"" "$T/out"
n_before=$(grep -o '"id"' "$T/out" | wc -l)
dr_must_fail 1 "a failing command is not a snapshot" drrepo snapshot --from-command --stdin-name x.sql -- sh -c 'echo partial; exit 3'
dr_check "the error names the command and status" grep -q "exited with status 3" "$T/err"
dr_must_fail 1 "a killed command is not a snapshot" drrepo snapshot --from-command --stdin-name x.sql -- sh -c 'echo partial; kill -9 $$'
dr_check "the error names the signal" grep -q "signal 9" "$T/err"
dr_must_fail 1 "an empty stream is refused" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name e < /dev/null"
dr_must_fail 1 "a command that cannot run is refused" drrepo snapshot --from-command --stdin-name x -- /no/such/program
drrepo snapshots --json > "$T/after" 2>/dev/null
dr_check "no snapshot was added by the failures" test "$(grep -o '"id"' "$T/after" | wc -l)" -eq "$n_before"
dr_expect_success "--allow-empty accepts an empty stream" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name e --allow-empty < /dev/null"
dr_must_fail 2 "--stdin without --stdin-name is a usage error" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin < '$T/db.sql'"
dr_must_fail 2 "--stdin-name must be a plain name" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name ../x < '$T/db.sql'"
dr_expect_success "latest filtered by tag" drrepo ls latest --tag nightly
dr_check "the tagged snapshot holds db.sql" grep -qx "/db.sql" "$T/out"
dr_expect_success "check --read-data" drrepo check --read-data
dr_done
