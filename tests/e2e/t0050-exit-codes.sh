#!/usr/bin/env bash
# Every row of docs/exit-codes.md that a user can trigger from the command line.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
mkdir -p "$T/src" && echo data > "$T/src/ok"
dr_expect_success "0: success" drrepo snapshot "$T/src"
dr_must_fail 2 "2: usage (unknown option)" drrepo snapshot --no-such-option "$T/src"
dr_must_fail 2 "2: usage (nothing to snapshot)" drrepo snapshot
dr_must_fail 10 "10: no repository" "$DRREPO" -r "$T/nothing-here" snapshots
dr_check "10 names the path" grep -q "$T/nothing-here" "$T/err"
DRREPO_PASSWORD=wrong dr_must_fail 12 "12: wrong password" drrepo snapshots
dr_check "12 says wrong password, in one line" test "$(grep -c 'wrong password' "$T/err")" -eq 1
"$TOOL" lock "$REPO" exclusive other-host 4242
dr_must_fail 11 "11: locked by another host" drrepo snapshot "$T/src"
dr_check "11 names the holder" grep -q "other-host" "$T/err"
rm -f "$REPO"/locks/*
# wal get: 1 only for a file not archived (PostgreSQL's end of the archive), 126 for any other
# error, so that PostgreSQL stops recovery instead of ending it early
dr_must_fail 1 "1: wal get of a file not archived" \
    drrepo wal get --system-id 1 000000010000000000000001 "$T/wal"
dr_must_fail 126 "126: wal get without a repository" \
    "$DRREPO" -r "$T/nothing-here" wal get --system-id 1 000000010000000000000001 "$T/wal"
mkdir -p "$T/pg_wal"
dr_mkwalseg "$T/pg_wal/000000010000000000000002" "segment 2" $((1024 * 1024))
drrepo wal push --system-id 1 "$T/pg_wal/000000010000000000000002" >/dev/null 2>&1
DRREPO_PASSWORD=wrong dr_must_fail 126 "126: wal get of an archived file with a wrong password" \
    drrepo wal get --system-id 1 000000010000000000000002 "$T/wal"
# whether a file is archived is known without the key: a wrong password cannot end a recovery
# early, as the files that are there fail with 126
DRREPO_PASSWORD=wrong dr_must_fail 1 "1: wal get of a file not archived, whatever the password" \
    drrepo wal get --system-id 1 000000010000000000000001 "$T/wal"
dr_check "the failed wal gets wrote nothing" test ! -e "$T/wal"
# 3: partial. Root reads everything, so the unreadable file is read by an unprivileged user.
echo secret > "$T/src/unreadable"; chmod 000 "$T/src/unreadable"
if [ "$(id -u)" = 0 ]; then
    chmod -R a+rwX "$T"; chmod 000 "$T/src/unreadable"
    as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T" "$@"; }
else
    as_user() { "$@"; }
fi
dr_must_fail 3 "3: partial snapshot (an unreadable file)" as_user "$DRREPO" -r "$REPO" snapshot "$T/src"
dr_check "3 names the unreadable file" grep -q "$T/src/unreadable" "$T/err"
as_user "$DRREPO" -r "$REPO" ls latest >"$T/out" 2>"$T/err"
dr_check "the partial snapshot was recorded with the readable file" grep -qx "$T/src/ok" "$T/out"
dr_done
