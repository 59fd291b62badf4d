#!/usr/bin/env bash
# Locks of other hosts: a fresh one blocks and is kept by `unlock`; one not refreshed for 30
# minutes by the repository's clock (the lock file's mtime) is past its lease and removed by the
# next command that locks, with a warning; one whose record alone is old (its host's clock is
# behind) still blocks, and `unlock` removes it as before; --remove-all removes all.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
mkdir -p "$T/src" && echo data > "$T/src/f"
"$TOOL" lock "$REPO" exclusive far-away-host 4242 1900
dr_expect_success "an expired exclusive lock of another host does not block a snapshot" \
    drrepo snapshot "$T/src"
dr_check "the warning names the holder and the repository's clock" \
    grep -q "removing expired lock.*pid 4242 on far-away-host.*31 min.*repository's clock" "$T/err"
dr_check "the expired lock is gone" test ! -e "$REPO/locks/testlock4242"

"$TOOL" lock "$REPO" exclusive far-away-host 4242 1900
touch "$REPO/locks/testlock4242" # rewritten now: only its record (its host's clock) is old
dr_must_fail 11 "a lock refreshed now by the repository's clock blocks" drrepo snapshot "$T/src"
dr_check "the error names the holder" grep -q "far-away-host" "$T/err"
dr_check "the error gives the age by the repository's clock" \
    grep -q "refreshed .* ago by the repository's clock" "$T/err"
dr_expect_success "unlock" drrepo unlock
dr_check "unlock removed the lock with an old record" grep -q "removed lock.*far-away-host" "$T/out"
dr_check "no lock left" test -z "$(ls "$REPO/locks")"
dr_expect_success "the snapshot runs after unlock" drrepo snapshot "$T/src"

"$TOOL" lock "$REPO" exclusive busy-host 4343 60
dr_must_fail 11 "a fresh lock of another host blocks" drrepo snapshot "$T/src"
dr_check "a fresh lock is not called stale" sh -c "! grep -q 'looks stale' '$T/err'"
dr_expect_success "unlock keeps a fresh lock of another host" drrepo unlock
dr_check "the fresh lock is still there" test -n "$(ls "$REPO/locks")"
dr_expect_success "unlock --remove-all" drrepo unlock --remove-all
dr_check "no lock left after --remove-all" test -z "$(ls "$REPO/locks")"
"$TOOL" lock "$REPO" shared busy-host 4444 60
dr_expect_success "a shared lock of another host does not block a snapshot" \
    drrepo snapshot "$T/src"
dr_must_fail 10 "unlock of a missing repository" "$DRREPO" -r "$T/none" unlock
dr_done
