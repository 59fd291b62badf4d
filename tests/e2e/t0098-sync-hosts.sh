#!/bin/bash
# t0098: two hosts (each its own cache directory) on one repository, in format versions 4 (the
# default), 3 and 2. From format version 3 a host's sync lists every pack only when it must (docs/DESIGN.md "The index is a cache"): on a
# fresh cache, when another host's snapshot needs packs it has not indexed, and after a prune
# (its epoch); otherwise it lists the snapshots only. In format version 2 (init
# --format-version 2) every sync lists every pack, and prune writes no epoch. In both, the other
# host's forget is taken back without a rebuild of the index, and a snapshot after the other
# host's prune stores again what the prune deleted: it restores and check passes. Every pack is
# named by the SHA-256 of its bytes in version 4 and by their BLAKE2b-256 before. A copy of the
# version 3 repository into a new one is of version 4, checks and restores identical.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

mkdir -p "$T/src" "$T/src2"
"$TOOL" gen "$T/src/a" 300K 1
"$TOOL" gen "$T/src/b" 300K 2
"$TOOL" gen "$T/src2/c" 300K 3

dr_must_fail 2 "init --format-version 5 is refused" drrepo init --format-version 5
dr_must_fail 2 "init --format-version 1 is refused" drrepo init --format-version 1
dr_check "nothing was created" test ! -e "$REPO"

for fv in 4 3 2; do
    REPO="$T/repo$fv"
    CA="$T/cacheA$fv" CB="$T/cacheB$fv"
    A() { DRREPO_CACHE_DIR="$CA" "$DRREPO" -r "$REPO" "$@"; }
    B() { DRREPO_CACHE_DIR="$CB" "$DRREPO" -r "$REPO" "$@"; }
    A init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 64K \
        --chunk-avg 128K --chunk-max 512K --format-version "$fv" >"$T/out" 2>"$T/err" \
        || dr_fail "v$fv: init"
    dr_check "v$fv: the config says format $fv" test "$(od -An -tu4 -j8 -N4 "$REPO/config" | tr -d ' ')" = "$fv"
    dr_expect_success "v$fv: A snapshots src" A snapshot "$T/src"
    if [ "$fv" = 4 ]; then sum() { sha256sum "$1"; }; else sum() { b2sum -l 256 "$1"; }; fi
    for p in $(find "$REPO/data" "$REPO/tree" -type f); do
        dr_check "v$fv: $p is named by the hash of its bytes" \
            test "$(sum "$p" | cut -d' ' -f1)" = "$(basename "$p")"
    done

    dr_expect_success "v$fv: B lists the snapshots" B -v snapshots
    if [ "$fv" != 2 ]; then
        dr_check "v$fv: B's first sync lists every pack" grep -q "no listing of every pack yet" "$T/err"
    else
        dr_check "v2: B's sync lists every pack" grep -q "format version 2 has no epochs" "$T/err"
    fi
    dr_expect_success "v$fv: B lists the snapshots again" B -v snapshots
    if [ "$fv" != 2 ]; then
        dr_check "v$fv: B's next sync lists no pack" grep -q "packs not listed" "$T/err"
    else
        dr_check "v2: B's next sync lists every pack again" grep -q "has no epochs" "$T/err"
    fi

    # A's snapshot of new data: B's sync meets blobs it has not indexed and lists every pack
    dr_expect_success "v$fv: A snapshots src2" A snapshot "$T/src2"
    dr_expect_success "v$fv: B dumps A's new file" B -v dump latest "$T/src2/c"
    dr_check "v$fv: B's dump is the file" cmp -s "$T/out" "$T/src2/c"
    [ "$fv" != 2 ] && dr_check "v$fv: B listed every pack for A's snapshot" \
        grep -q "packs the index does not know; listing every pack" "$T/err"

    # A forgets that snapshot (no prune): B takes its references back, it does not rebuild
    dr_expect_success "v$fv: A forgets its latest snapshot" A forget latest
    dr_expect_success "v$fv: B lists the snapshots after the forget" B -v snapshots --json
    dr_check "v$fv: B sees one snapshot" test "$(grep -o '"id":' "$T/out" | wc -l)" -eq 1
    dr_check "v$fv: B did not rebuild its index" test -z "$(grep 'rebuilding the index' "$T/err")"

    # A forgets everything and prunes: every data pack goes. B's index still names them; its
    # next snapshot of src must store a and b again, not point at the deleted packs.
    ids=$(A snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
    # shellcheck disable=SC2086 # one id per word
    dr_expect_success "v$fv: A forgets all and prunes" A forget $ids --prune
    dr_check "v$fv: the prune deleted every data pack" test "$(find "$REPO/data" -type f | wc -l)" -eq 0
    if [ "$fv" != 2 ]; then
        dr_check "v$fv: one epoch left" test "$(find "$REPO/epochs" -type f | wc -l)" -eq 1
    else
        dr_check "v2: no epoch" test ! -e "$REPO/epochs"
    fi
    dr_expect_success "v$fv: B snapshots src after the prune" B -v snapshot "$T/src"
    [ "$fv" != 2 ] && dr_check "v$fv: B saw the prune's epoch" \
        grep -q "a prune ran since the last listing" "$T/err"
    dr_expect_success "v$fv: check --read-data passes" B check --read-data
    dr_expect_success "v$fv: B restores its snapshot" B restore latest --target "$T/r$fv"
    dr_check "v$fv: the restore is src" dr_same_tree "$T/src" "$T/r$fv$T/src"
done

# a repository moves to the newest version by init + copy: the copy recomputes every id
printf '%s\n' "$DRREPO_PASSWORD" >"$T/tpw"
REPO="$T/repo-moved"
dr_expect_success "init a repository of the newest version" drrepo init --insecure-kdf \
    --kdf-memlimit 8K --kdf-opslimit 1
dr_check "the new repository is format 4" \
    test "$(od -An -tu4 -j8 -N4 "$REPO/config" | tr -d ' ')" = 4
dr_expect_success "copy the version 3 repository's snapshots into it" \
    "$DRREPO" -r "$T/repo3" copy --to "$REPO" --to-password-file "$T/tpw"
for p in $(find "$REPO/data" "$REPO/tree" -type f); do
    dr_check "moved: $p is named by the SHA-256 of its bytes" \
        test "$(sha256sum "$p" | cut -d' ' -f1)" = "$(basename "$p")"
done
dr_expect_success "moved: check --read-data passes" drrepo check --read-data
dr_expect_success "moved: restore" drrepo restore latest --target "$T/rmoved"
dr_check "moved: the restore is src" dr_same_tree "$T/src" "$T/rmoved$T/src"
dr_done
