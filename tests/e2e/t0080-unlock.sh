#!/usr/bin/env bash
# Locks of other hosts: a fresh one blocks and is kept by `unlock`; one not refreshed for 30
# minutes is reported as probably stale and `unlock` removes it; --remove-all removes all.
. "$DR_SRC/tests/e2e/lib.sh"

dr_init
mkdir -p "$T/src" && echo data > "$T/src/f"
"$TOOL" lock "$REPO" exclusive far-away-host 4242 1900
dr_must_fail 11 "an old exclusive lock of another host still blocks a snapshot" \
    drrepo snapshot "$T/src"
dr_check "the error names the holder" grep -q "far-away-host" "$T/err"
dr_check "the error says the lock looks stale and how to remove it" \
    grep -q "looks stale.*drrepo unlock" "$T/err"
dr_expect_success "unlock" drrepo unlock
dr_check "unlock removed the stale lock" grep -q "removed lock.*far-away-host" "$T/out"
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
