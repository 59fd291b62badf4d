#!/bin/bash
# t0130: the repository's disk fills up during a snapshot. The snapshot fails with a clear "no
# space" error, no half-written object is visible, the repository stays valid (check
# --read-data, the earlier snapshot restores), and once space is freed snapshots work again.
# Also the injected enospc fault at fs.before_rename. Needs root (mounts a small tmpfs).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_mount_tmpfs 20m

# the repository and the big source share the small filesystem; the cache and restores do not
REPO="$MNT/repo"
mkdir -p "$MNT/src" "$T/small/dir"
"$TOOL" gen "$T/small/a" 700K 1
"$TOOL" gen "$T/small/dir/b.sql" 100K 2 text
echo "tiny" >"$T/small/dir/c"

tmp_files() { find "$REPO" -name '.drrepo-tmp-*'; }
# every content-named object's name is the hash of its bytes: nothing is half-written (packs:
# SHA-256 in format version 4; snapshots and key files: BLAKE2b-256)
objects_whole() {
    local f sum bad=0
    while IFS= read -r f; do
        case "${f#"$REPO"/}" in
            data/* | tree/*) sum=$(sha256sum "$f") ;;
            *) sum=$(b2sum -l 256 "$f") ;;
        esac
        [ "${sum%% *}" = "$(basename "$f")" ] || {
            echo "# object does not match its name: ${f#"$REPO"/}"
            bad=1
        }
    done < <(find "$REPO/data" "$REPO/tree" "$REPO/snapshots" "$REPO/keys" -type f \
        ! -name '.drrepo-tmp-*')
    return $bad
}
restore_same() { # NAME SNAP SRC
    rm -rf "$T/r"
    dr_expect_success "$1: restore" drrepo restore "$2" --target "$T/r"
    dr_check "$1: identical" dr_same_tree "$3" "$T/r$3"
}

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
    --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init on the tmpfs"
dr_expect_success "first snapshot" drrepo snapshot "$T/small"
drrepo snapshots --json >"$T/snaps.before" 2>/dev/null

# 13 MB of incompressible data into what is left of 20 MB: several packs fit, then no more
"$TOOL" gen "$MNT/src/big1" 7M 10
"$TOOL" gen "$MNT/src/big2" 6M 11
dr_must_fail 1 "snapshot on a full disk: exit 1" drrepo snapshot "$MNT/src"
dr_check "full disk: the error says no space" grep -qi "no space" "$T/err"
dr_check "full disk: one error line" test "$(grep -c '^drrepo: error' "$T/err")" -eq 1
echo "# full disk: $(df -k "$MNT" | tail -n 1)"
echo "# full disk: temporary files left by the failed run: $(tmp_files | wc -l)"
dr_check "full disk: the failed run released its lock" test -z "$(find "$REPO/locks" -type f)"
dr_check "full disk: no half-written object" objects_whole
drrepo snapshots --json >"$T/snaps.after" 2>/dev/null
dr_check "full disk: no snapshot recorded" dr_cmp "$T/snaps.before" "$T/snaps.after"

# still full: reading works and the repository is valid
dr_expect_success "full disk: check --read-data" drrepo check --read-data
dr_check "full disk: no temporary files after the next command" test -z "$(tmp_files)"
restore_same "full disk: earlier snapshot" latest "$T/small"
dr_must_fail 1 "full disk: a second try fails the same way" drrepo snapshot "$MNT/src"
dr_check "full disk: second error says no space" grep -qi "no space" "$T/err"
dr_check "full disk: still no half-written object" objects_whole

# free space: remove the big source; a snapshot of something small works, then a bigger one
rm -f "$MNT/src/big1"
echo "changed" >"$T/small/dir/c"
dr_expect_success "space freed: snapshot" drrepo snapshot "$T/small"
dr_check "space freed: no temporary files" test -z "$(tmp_files)"
restore_same "space freed: new snapshot" latest "$T/small"
dr_expect_success "space freed: snapshot of the remaining big file" drrepo snapshot "$MNT/src"
rm -rf "$T/r"
dr_expect_success "space freed: restore the big snapshot" drrepo restore latest --target "$T/r"
# (not dr_same_tree: directory sizes differ between the tmpfs and the scratch filesystem)
dr_check "space freed: big file identical" dr_cmp "$MNT/src/big2" "$T/r$MNT/src/big2"
dr_check "space freed: only that file restored" test "$(ls "$T/r$MNT/src")" = big2
dr_expect_success "space freed: check --read-data" drrepo check --read-data
dr_check "space freed: objects whole" objects_whole

# the injected fault: the same clear error on any disk, nothing half-written, nothing lost
if [ "${DR_FAULTS_BUILT:-0}" = 1 ]; then
    REPO="$T/repo2"
    "$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M \
        --chunk-min 64K --chunk-avg 256K --chunk-max 1M >"$T/out" 2>"$T/err" || dr_fail "init repo2"
    dr_expect_success "repo2: first snapshot" drrepo snapshot "$T/small"
    drrepo snapshots --json >"$T/snaps.before" 2>/dev/null
    mkdir -p "$T/src2"
    for i in 1 2 3; do "$TOOL" gen "$T/src2/f$i" 900K $((20 + i)); done
    for k in "" ":1" ":3"; do
        DR_FAULT="fs.before_rename:enospc$k" dr_must_fail 1 "enospc$k: exit 1" \
            drrepo snapshot "$T/src2"
        dr_check "enospc$k: the error says no space" grep -qi "no space" "$T/err"
        dr_check "enospc$k: a hint is printed" grep -q "^hint:" "$T/err"
        echo "# enospc$k: temporary files left by the failed run: $(tmp_files | wc -l)"
        dr_check "enospc$k: no half-written object" objects_whole
        drrepo snapshots --json >"$T/snaps.after" 2>/dev/null
        dr_check "enospc$k: no snapshot recorded" dr_cmp "$T/snaps.before" "$T/snaps.after"
        dr_expect_success "enospc$k: check --read-data" drrepo check --read-data
        dr_check "enospc$k: no temporary files after the next command" test -z "$(tmp_files)"
        restore_same "enospc$k: earlier snapshot" latest "$T/small"
    done
    dr_expect_success "enospc: without the fault the snapshot works" drrepo snapshot "$T/src2"
    restore_same "enospc: new snapshot" latest "$T/src2"
    dr_expect_success "enospc: check --read-data at the end" drrepo check --read-data
fi
dr_done
