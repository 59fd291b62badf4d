#!/usr/bin/env bash
# Drill results belong to their snapshot: prune removes those of forgotten snapshots and keeps
# the others.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
"$TOOL" gen "$T/a.sql" 2M 1 text
"$TOOL" gen "$T/b.sql" 2M 2 text
dr_expect_success "snapshot a" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name a.sql --json < '$T/a.sql'"
a=$(dr_json_field snapshot_id)
dr_expect_success "snapshot b" sh -c "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name b.sql --json < '$T/b.sql'"
b=$(dr_json_field snapshot_id)
dr_expect_success "drill a" drrepo drill "$a"
dr_expect_success "drill b" drrepo drill "$b"
dr_check "two drill results are stored" test "$(ls "$REPO/drills" | wc -l)" -eq 2
dr_expect_success "forget a" drrepo forget "$a"
dr_check "forget alone leaves the drill results" test "$(ls "$REPO/drills" | wc -l)" -eq 2
dr_expect_success "prune --dry-run" drrepo prune --dry-run
dr_check "a dry run removes no drill result" test "$(ls "$REPO/drills" | wc -l)" -eq 2
dr_expect_success "prune --json" drrepo prune --json
dr_check "prune reports one drill result removed" test "$(dr_json_field drills_removed)" -eq 1
dr_check "only b's drill result remains" test "$(ls "$REPO/drills" | wc -l)" -eq 1
dr_expect_success "snapshots still shows b's drill" drrepo snapshots --json
dr_check "b's drill result is listed" grep -q '"drills":\[{' "$T/out"
dr_expect_success "check after prune" drrepo check
dr_done
