#!/usr/bin/env bash
# The scheduling recipes of docs/SCHEDULING.md cannot rot: the units of contrib/systemd/ pass
# `systemd-analyze verify` (where it is installed; without a running systemd) with no warning,
# their ExecStart= lines run as systemd runs them (unitrun.py: Environment=, EnvironmentFile=,
# %i, $VAR) against a repository and succeed, writing Prometheus files in the text format; a
# snapshot unit whose source is missing fails and still writes its metrics; and the lines of
# contrib/systemd/crontab that need no database server run as cron runs them.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

U="$DR_SRC/contrib/systemd"
ROOT="$T/root"
promcheck() { python3 "$DR_SRC/tests/e2e/promcheck.py" "$@"; }
unitrun() { python3 "$DR_SRC/tests/e2e/unitrun.py" "$U/$1" "$2" "$ROOT"; }
val() { awk -v k="$2" 'index($0, k) == 1 { v = $NF } END { print v }' "$1"; }

mkdir -p "$ROOT/etc" "$ROOT/textfile" "$ROOT/cache" "$ROOT/tmp" "$ROOT/lock" "$T/artifacts/run-42"
echo data >"$T/artifacts/run-42/out"
dr_init
# the units read the password from the file of repository.env (unitrun.py drops DRREPO_PASSWORD)
echo "$DRREPO_PASSWORD" >"$ROOT/etc/password"
sed "s|^DRREPO_REPOSITORY=.*|DRREPO_REPOSITORY=$REPO|" "$U/repository.env" >"$ROOT/etc/repository.env"
dr_check "repository.env names the password file" grep -q '^DRREPO_PASSWORD_FILE=/etc/drrepo/password$' "$ROOT/etc/repository.env"
echo "DRREPO_SNAPSHOT_ARGS=$T/artifacts" >"$ROOT/etc/files.env"

if command -v systemd-analyze >/dev/null; then
    mkdir -p "$T/units"
    for f in "$U"/*.service "$U"/*.timer; do
        sed "s|/usr/bin/drrepo|$DRREPO|" "$f" >"$T/units/${f##*/}"
    done
    (cd "$T/units" && systemd-analyze verify --man=no ./drrepo-snapshot@files.service \
        ./drrepo-snapshot@.timer ./drrepo-check.service ./drrepo-check.timer \
        ./drrepo-forget.service ./drrepo-forget.timer ./drrepo-drill.service \
        ./drrepo-drill.timer) >"$T/out" 2>"$T/err"
    rc=$?
    dr_check "systemd-analyze verify passes every unit" test "$rc" = 0
    dr_check "without a warning" test ! -s "$T/err"
    grep -q . "$T/err" && sed 's/^/#   /' "$T/err"
else
    echo "# systemd-analyze not installed: the units are only run"
fi
for t in drrepo-snapshot@.timer drrepo-check.timer drrepo-forget.timer drrepo-drill.timer; do
    dr_check "$t catches up on missed runs" grep -q '^Persistent=true$' "$U/$t"
    dr_check "$t spreads its start" grep -q '^RandomizedDelaySec=' "$U/$t"
done

dr_expect_success "drrepo-snapshot@files.service" unitrun drrepo-snapshot@.service files
dr_expect_success "it again (an incremental snapshot)" unitrun drrepo-snapshot@.service files
drrepo snapshots --tag files --json >"$T/snaps"
dr_check "two snapshots tagged with the instance" \
    test "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/snaps")" = 2
m="$ROOT/textfile/drrepo-snapshot-files.prom"
dr_check "its metrics file is in the text format" promcheck "$m"
dr_check "exit code 0 in it" test "$(val "$m" 'drrepo_exit_code{')" = 0
dr_check "with the size-change warning of the unit's --warn-size-change (not raised)" \
    test "$(val "$m" 'drrepo_snapshot_size_change_warning{')" = 0
dr_expect_success "drrepo-check.service (a 5% data subset)" unitrun drrepo-check.service ""
dr_check "its metrics" promcheck "$ROOT/textfile/drrepo-check.prom"
echo "DRREPO_DRILL_ARGS=--tag=files" >"$ROOT/etc/drill.env"
dr_expect_success "drrepo-drill.service (the latest snapshot tagged files)" unitrun drrepo-drill.service ""
dr_check "its metrics" promcheck "$ROOT/textfile/drrepo-drill.prom"
dr_check "the drill passed" test "$(val "$ROOT/textfile/drrepo-drill.prom" 'drrepo_drill_success{')" = 1
dr_expect_success "drrepo-forget.service (the default policy, and prune)" unitrun drrepo-forget.service ""
dr_check "its metrics" promcheck "$ROOT/textfile/drrepo-forget.prom"
dr_expect_success "check passes after it" drrepo check

echo "DRREPO_SNAPSHOT_ARGS=$T/no-such-dir" >"$ROOT/etc/gone.env"
unitrun drrepo-snapshot@.service gone >"$T/out" 2>"$T/err"
rc=$?
dr_check "a snapshot unit whose source is missing fails (exit $rc)" test "$rc" -ne 0
m="$ROOT/textfile/drrepo-snapshot-gone.prom"
dr_check "and still writes its metrics" promcheck "$m"
dr_check "with its exit code" test "$(val "$m" 'drrepo_exit_code{')" = "$rc"

# the crontab, as cron runs a line of /etc/cron.d (sh -c, the variables of the file)
mkdir -p "$T/bin" && ln -s "$DRREPO" "$T/bin/drrepo"
rm -f "$ROOT"/textfile/*.prom
# cron moves no paths: repository.env names the test's password file itself
sed -i "s|^DRREPO_PASSWORD_FILE=.*|DRREPO_PASSWORD_FILE=$ROOT/etc/password|" "$ROOT/etc/repository.env"
n=0
while IFS= read -r line; do
    case $line in [0-9]*) ;; *) continue ;; esac
    # the drill of the PostgreSQL snapshots drills the files' here
    line=${line/--host=db1 --path=pg:db1:5432/--tag=files}
    case $line in *--pg*) continue ;; esac # needs a PostgreSQL server
    cmd=$(awk '{ $1 = $2 = $3 = $4 = $5 = $6 = ""; sub(/^ +/, ""); print }' <<<"$line" |
        sed -e 's/\\%/%/g' -e "s|/etc/drrepo|$ROOT/etc|g" -e "s|/run/lock|$ROOT/lock|g" \
            -e "s|/srv/artifacts|$T/artifacts|g" -e "s|/var/tmp|$ROOT/tmp|g")
    what=$(grep -o 'drrepo [a-z]*' <<<"$cmd" | head -n 1)
    dr_expect_success "crontab: $what" env -i PATH="$T/bin:/usr/bin:/bin" \
        DRREPO_CACHE_DIR="$ROOT/cache" TEXTFILE="$ROOT/textfile" sh -c "$cmd"
    n=$((n + 1))
done <"$U/crontab"
dr_check "the crontab lines ran" test "$n" = 4
for j in snapshot-files check forget drill; do
    dr_check "crontab: drrepo-$j.prom is written and in the text format" \
        promcheck "$ROOT/textfile/drrepo-$j.prom"
done
# the crontab line that SCHEDULING.md shows is one of those that ran, as it stands
awk '/^```$/ { on = !on; next } on && /^[0-9]/' "$DR_SRC/docs/SCHEDULING.md" >"$T/docline"
dr_check "SCHEDULING.md shows a crontab line" test -s "$T/docline"
dr_check "it is the crontab's" grep -qxF -f "$T/docline" "$U/crontab"
dr_expect_success "check passes at the end" drrepo check
dr_done
