#!/usr/bin/env bash
# --progress-json (src/cmd/cmd.c, dr_cmd_progress): progress as JSON lines on stderr for
# snapshot and restore, whatever stderr is; each line parses, the ticks are not final, and the
# last progress line is the only final one and has the totals of the command's summary. Other
# stderr lines (log messages) stay text; stdout keeps the command's own output.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

# the JSON lines of stderr, as one array
progress() { grep '^{' "$T/err" | jq -s '[.[] | select(.message_type == "progress")]'; }

dr_init
mkdir -p "$T/src/a"
head -c 5000000 /dev/urandom >"$T/src/a/big"
echo small >"$T/src/x"
dr_expect_success "snapshot --progress-json --json" drrepo snapshot --progress-json --json "$T/src"
cp "$T/out" "$T/snap.json"
dr_check "every JSON line of stderr parses" test "$(grep -c '^{' "$T/err")" -eq "$(grep '^{' "$T/err" | jq -c . | wc -l)"
progress >"$T/p.json"
dr_check "there is progress, one final line, and it is the last" \
    jq -e 'length >= 1 and ([.[] | select(.final)] | length) == 1 and .[-1].final' "$T/p.json"
dr_check "the final line has the totals of the summary" \
    jq -e --slurpfile s "$T/snap.json" '.[-1] | .command == "snapshot" and .files == 2 and .dirs >= 2
        and .bytes_read == $s[0].bytes_read and .bytes_total == $s[0].bytes_total
        and .percent_done == 100 and .errors == 0 and .current == null and (.elapsed_seconds | type) == "number"' "$T/p.json"
dr_check "stdout is the snapshot's JSON alone" jq -e '.dry_run == false and (.id | length) == 64' "$T/snap.json"

# a stream written in pieces: ticks may come while it is read (how many depends on the clock:
# not asserted), each with the fields and no more bytes than the end
dr_expect_success "snapshot --from-command with --progress-json (before the command)" \
    "$DRREPO" --progress-json -r "$REPO" snapshot --from-command --stdin-name s -- \
    sh -c 'for i in 1 2 3 4; do head -c 100000 /dev/zero; sleep 0.3; done'
progress >"$T/p.json"
dr_check "ticks are not final and never pass the final count" \
    jq -e '.[-1].final and .[-1].bytes_read == 400000 and
           all(.[0:-1][]; (.final | not) and .bytes_read <= 400000 and has("current") and has("percent_done"))' "$T/p.json"
dr_check "without --json, stdout keeps the text summary" grep -q "^snapshot .* saved" "$T/out"

dr_expect_success "restore --progress-json" drrepo restore --progress-json --json latest --path "$T/src" --target "$T/r"
cp "$T/out" "$T/restore.json"
progress >"$T/p.json"
dr_check "restore: one final line with the restore's totals" \
    jq -e --slurpfile s "$T/restore.json" '([.[] | select(.final)] | length) == 1 and (.[-1] |
        .command == "restore" and .final and .files == $s[0].files and .bytes_read == $s[0].bytes
        and .bytes_read == 5000006 and .errors == 0)' "$T/p.json"
dr_check "the files are restored" dr_cmp "$T/src/a/big" "$T/r$T/src/a/big"
dr_expect_success "no progress without the option when stderr is not a terminal" drrepo snapshot --json "$T/src"
dr_check "no JSON on stderr" sh -c "! grep -q '^{' '$T/err'"
# --json with stderr a terminal: JSON progress instead of the text line (script(1) gives the
# command a terminal; stdout goes to a file)
if command -v script >/dev/null; then
    script -qec "'$DRREPO' -r '$REPO' snapshot --json '$T/src' >'$T/tty.json'" /dev/null </dev/null |
        tr -d '\r' >"$T/tty.err"
    dr_check "--json on a terminal: the final progress line is JSON" \
        sh -c "grep '^{' '$T/tty.err' | jq -se '.[-1].final and .[-1].command == \"snapshot\"' >/dev/null"
    dr_check "and no text progress line" sh -c "! grep -q 'snapshot: \\[[0-9]' '$T/tty.err'"
    dr_check "stdout is the snapshot's JSON" jq -e '(.id | length) == 64' "$T/tty.json"
fi
dr_done
