#!/usr/bin/env bash
# Monitoring (docs/MONITORING.md): --metrics-file writes the Prometheus text format after a
# successful run and after a failed one (the last success time carried over from the old file,
# the exit code of the failure), for snapshot, check, prune and drill, also through
# DRREPO_METRICS_FILE; label values are escaped; snapshot --warn-size-change warns naming both
# sizes (exit 0) and exits 3 with --fail-on-size-change, the snapshot saved; `drrepo metrics`
# lists every host and source. Every file is checked by promcheck.py (the format's rules).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

promcheck() { python3 "$DR_SRC/tests/e2e/promcheck.py" "$@"; }
# val FILE NAME LABELS: the value of the sample NAME{LABELS} (labels exactly as written)
val() { awk -v k="$2{$3}" 'index($0, k " ") == 1 { v = $2 } END { print v }' "$1"; }
L='host="h1",source="files",command="snapshot"'
R=$REPO

dr_init
mkdir -p "$T/src"
head -c 200000 /dev/urandom >"$T/src/a"
dr_expect_success "snapshot with --metrics-file" drrepo snapshot -H h1 --metrics-file "$T/s.prom" "$T/src"
dr_check "the file is in the text format" promcheck "$T/s.prom"
dr_check "exit code 0" test "$(val "$T/s.prom" drrepo_exit_code "$L")" = 0
dr_check "a last success time" test -n "$(val "$T/s.prom" drrepo_last_success_timestamp_seconds "$L")"
dr_check "bytes read" test "$(val "$T/s.prom" drrepo_bytes_read "$L")" = 200000
dr_check "snapshot size" test "$(val "$T/s.prom" drrepo_snapshot_size_bytes "$L")" = 200000
dr_check "new files" test "$(val "$T/s.prom" drrepo_files "$L,state=\"new\"")" = 1
dr_check "no temporary file is left" test "$(ls -A "$T" | grep -c '^\.drrepo-tmp')" = 0

# a failed run keeps the earlier success time
C='host="h1",source="command",command="snapshot"'
dr_expect_success "a command's snapshot" \
    drrepo snapshot -H h1 --metrics-file "$T/c.prom" --from-command --stdin-name db.sql -- echo hello
ok=$(val "$T/c.prom" drrepo_last_success_timestamp_seconds "$C")
dr_check "its success time" test -n "$ok"
sleep 1
dr_must_fail 1 "a failing command" \
    drrepo snapshot -H h1 --metrics-file "$T/c.prom" --from-command --stdin-name db.sql -- sh -c 'exit 1'
dr_check "the file is still in the text format" promcheck "$T/c.prom"
dr_check "exit code 1" test "$(val "$T/c.prom" drrepo_exit_code "$C")" = 1
dr_check "the last success is the earlier one" \
    test "$(val "$T/c.prom" drrepo_last_success_timestamp_seconds "$C")" = "$ok"
dr_check "the last run is later" test "$(val "$T/c.prom" drrepo_last_run_timestamp_seconds "$C")" -gt "$ok"
printf 'garbage\n\x01\ndrrepo_last_success_timestamp_seconds{%s} 12abc\n' "$C" >"$T/c.prom"
dr_must_fail 1 "a failure over a garbled file" \
    drrepo snapshot -H h1 --metrics-file "$T/c.prom" --from-command --stdin-name db.sql -- sh -c 'exit 1'
dr_check "no success time is made up" \
    test -z "$(val "$T/c.prom" drrepo_last_success_timestamp_seconds "$C")"
dr_check "and the file is valid" promcheck "$T/c.prom"
dr_must_fail 2 "a usage error is reported too" drrepo snapshot -H h1 --metrics-file "$T/u.prom"
dr_check "with exit code 2" test "$(val "$T/u.prom" drrepo_exit_code "$L")" = 2

# label values are escaped
printf 'x' | drrepo snapshot --stdin --stdin-name x -H 'we"b\1' --metrics-file "$T/e.prom" >"$T/out" 2>"$T/err"
dr_check "a host with a quote and a backslash" \
    grep -qF 'drrepo_exit_code{host="we\"b\\1",source="stdin",command="snapshot"} 0' "$T/e.prom"
dr_check "is valid" promcheck "$T/e.prom"

# check and prune, DRREPO_METRICS_FILE
DRREPO_METRICS_FILE="$T/k.prom" dr_expect_success "check with DRREPO_METRICS_FILE" drrepo check
dr_check "check's file" promcheck "$T/k.prom"
dr_check "check_errors 0" grep -q '^drrepo_check_errors{.*command="check"} 0$' "$T/k.prom"
dr_check "check's exit code" grep -q '^drrepo_exit_code{.*command="check"} 0$' "$T/k.prom"
dr_expect_success "prune with --metrics-file" drrepo prune --metrics-file "$T/p.prom"
dr_check "prune's file" promcheck "$T/p.prom"
dr_check "prune's exit code" grep -q '^drrepo_exit_code{.*command="prune"} 0$' "$T/p.prom"
dr_check "prune's success time" grep -q '^drrepo_last_success_timestamp_seconds{.*command="prune"} ' "$T/p.prom"
dr_expect_success "drill with --metrics-file" drrepo drill --latest -H h1 --metrics-file "$T/d.prom"
dr_check "drill's file" promcheck "$T/d.prom"
dr_check "drill passed" grep -q '^drrepo_drill_success{host="h1",source="command",command="drill"} 1$' "$T/d.prom"
dr_check "drill's RTO" grep -q '^drrepo_drill_rto_seconds{.*command="drill"} ' "$T/d.prom"

# --warn-size-change: the parent is twice as large
head -c 100000 "$T/src/a" >"$T/src/b"
rm "$T/src/a"
dr_expect_success "a size change of -50% with --warn-size-change 20 exits 0" \
    drrepo snapshot -H h1 --warn-size-change 20 --metrics-file "$T/s.prom" "$T/src"
dr_check "a warning naming both sizes" grep -q 'warning: .*200000 bytes.*100000 bytes' "$T/err"
dr_check "the warning metric" test "$(val "$T/s.prom" drrepo_snapshot_size_change_warning "$L")" = 1
dr_check "the change ratio" test "$(val "$T/s.prom" drrepo_snapshot_size_change_ratio "$L")" = -0.500000
n=$(dr_snap_ids | wc -l)
head -c 50000 "$T/src/b" >"$T/src/c"
rm "$T/src/b"
dr_must_fail 3 "--fail-on-size-change exits 3" \
    drrepo snapshot -H h1 --warn-size-change 20 --fail-on-size-change --metrics-file "$T/s.prom" "$T/src"
dr_check "the snapshot is saved" test "$(dr_snap_ids | wc -l)" = $((n + 1))
dr_check "exit code 3 in the metrics" test "$(val "$T/s.prom" drrepo_exit_code "$L")" = 3
head -c 49000 "$T/src/c" >"$T/src/d"
rm "$T/src/c"
dr_expect_success "a change of 2% does not warn" \
    drrepo snapshot -H h1 --warn-size-change 20 --fail-on-size-change --json "$T/src"
dr_check "no warning" test ! -s "$T/err"
dr_check "--json has the parent's size" grep -q '"parent_bytes_total":50000' "$T/out"
dr_check "and no warning" grep -q '"size_change_warning":false' "$T/out"
dr_must_fail 2 "--fail-on-size-change alone is a usage error" \
    drrepo snapshot --fail-on-size-change "$T/src"
dr_must_fail 2 "a bad percentage" drrepo snapshot --warn-size-change lots "$T/src"

# drrepo metrics: every host and source
dr_expect_success "drrepo metrics" drrepo metrics
cp "$T/out" "$T/all.prom"
dr_check "its output is valid" promcheck "$T/all.prom"
dr_check "h1 files" grep -q "^drrepo_snapshot_size_bytes{$L} 49000\$" "$T/all.prom"
dr_check "h1 command" grep -q "^drrepo_last_success_timestamp_seconds{$C} " "$T/all.prom"
dr_check "the escaped host" grep -qF 'host="we\"b\\1",source="stdin"' "$T/all.prom"
dr_check "the change against the parent" grep -q "^drrepo_snapshot_size_change_ratio{$L} -0.020000\$" "$T/all.prom"
dr_check "the drill" grep -q '^drrepo_drill_success{host="h1",source="command",command="drill"} 1$' "$T/all.prom"
dr_check "three host/source groups" \
    test "$(grep -c '^drrepo_snapshot_size_bytes{' "$T/all.prom")" = 3

# the alert rules of docs/MONITORING.md select only series that these files have: each metric
# the rules name, with the command label a rule gives it, and the host and source labels their
# annotations print
cat "$T"/*.prom >"$T/every.prom"
awk '/^```yaml/ { on = 1; next } /^```/ { on = 0 } on' "$DR_SRC/docs/MONITORING.md" >"$T/rules.yml"
dr_check "MONITORING.md has alert rules" grep -q 'expr: ' "$T/rules.yml"
grep -o 'drrepo_[a-z_]*\({command="[a-z]*"}\)\?' "$T/rules.yml" | sort -u >"$T/selectors"
while read -r sel; do
    name=${sel%%\{*} cmd=
    [ "$sel" = "$name" ] || cmd=$(sed 's/.*command="\([a-z]*\)".*/\1/' <<<"$sel")
    dr_check "a rule's $sel is written" \
        grep -q "^$name{host=\"[^\"]*\",source=\"[^\"]*\",command=\"${cmd:-[a-z]*}\"" "$T/every.prom"
done <"$T/selectors"

dr_done
