#!/bin/bash
# t0250: garbage in any page of the local index, for every command that uses the index. The
# index is a cache: no command may die of it. Each command either does its job (the page was
# not on its path), or exits 13 naming the damaged index with the recovery hint (check: exit 4,
# "damage: index"); the run after it rebuilds the index from the repository by itself and
# succeeds. Deterministic: the garbage of page P comes from seed DR_TEST_SEED+P (default 1700).
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# ten commands per index page, some 300 runs: no leak check at their exits (tests/README.md)
dr_no_leak_check
seed=${DR_TEST_SEED:-1700}

"$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --pack-size 1M --chunk-min 16K \
    --chunk-avg 64K --chunk-max 128K >"$T/out" 2>"$T/err" || dr_fail "init"
mkdir -p "$T/src/a/b" "$T/src/c"
for i in 1 2 3 4 5 6; do "$TOOL" gen "$T/src/a/f$i" 150K "$i"; done
for i in 1 2 3; do "$TOOL" gen "$T/src/a/b/g$i" 100K $((10 + i)) text; done
for i in $(seq 1 20); do echo "small $i" >"$T/src/c/s$i"; done
dr_expect_success "setup: first snapshot" drrepo snapshot "$T/src"
"$TOOL" gen "$T/src/a/f7" 200K 7
dr_expect_success "setup: second snapshot" drrepo snapshot "$T/src"
ids=$(drrepo snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4)
S1=$(echo "$ids" | head -n 1)
S2=$(echo "$ids" | tail -n 1)
dr_check "setup: two snapshots" test -n "$S1" -a "$S1" != "$S2"
IDX=$(find "$T/cache" -mindepth 2 -maxdepth 2 -type d -name index)
# compacted, so that every page holds something (garbage in a free page proves nothing)
mkdir "$T/compact"
mdb_copy -c "$IDX" "$T/compact" && mv "$T/compact/data.mdb" "$IDX/data.mdb" ||
    dr_fail "setup: compact the index"
dr_expect_success "setup: the compacted index works" drrepo snapshots
# the pristine cache and repository under the names they are used by, so that one cp puts both
# back for each of the ~300 runs (a process costs some 20 ms on a loaded VM)
mkdir "$T/pristine"
cp -a "$T/cache" "$REPO" "$T/pristine/"
npages=$(($(stat -c %s "$IDX/data.mdb") / 4096))
echo "# the index has $npages pages"
dr_check "setup: the index has several pages" test "$npages" -ge 8

# the commands, as "NAME|ARGS"; NAME is what the messages say
cmds=(
    "snapshots|snapshots"
    "ls|ls latest"
    "stats|stats"
    "snapshot|snapshot $T/src"
    "restore|restore $S2 --target $T/r"
    "dump|dump $S2 $T/src/a/f1"
    "diff|diff $S1 $S2"
    "check|check"
    "forget|forget --keep-last 10"
    "prune|prune"
)
bad=""
runs=0 n_work=0 n_atopen=0 n_13=0 n_check=0
for pg in $(seq 0 $((npages - 1))); do
    "$TOOL" gen "$T/garbage" 4K $((seed + pg))
    for c in "${cmds[@]}"; do
        name=${c%%|*}
        read -r -a args <<<"${c#*|}"
        rm -rf "$T/cache" "$T/r" "$REPO"
        cp -a "$T/pristine/cache" "$T/pristine/repo" "$T/"
        dd if="$T/garbage" of="$IDX/data.mdb" bs=4096 seek="$pg" conv=notrunc status=none
        "$DRREPO" -r "$REPO" "${args[@]}" >"$T/out" 2>"$T/err"
        rc=$?
        runs=$((runs + 1))
        if [ "$rc" -eq 0 ] && grep -q "rebuilding it from the repository" "$T/err"; then
            n_atopen=$((n_atopen + 1))
        elif [ "$rc" -eq 0 ]; then
            n_work=$((n_work + 1))
        elif [ "$rc" -eq 13 ]; then
            n_13=$((n_13 + 1))
        elif [ "$rc" -eq 4 ]; then
            n_check=$((n_check + 1))
        fi
        if [ "$rc" -ge 128 ] || grep -qE 'Sanitizer|runtime error' "$T/err"; then
            bad="$bad p$pg/$name(crash:$rc)"
            continue
        fi
        if [ "$rc" -ne 0 ]; then
            want=13
            [ "$name" = check ] && want=4
            if [ "$rc" -ne "$want" ]; then
                bad="$bad p$pg/$name(exit:$rc)"
                sed "s/^/# p$pg $name: /" "$T/err" | head -n 3
                continue
            fi
            if ! grep -q "index '$IDX' is damaged" "$T/err" ||
                ! grep -qE "repair index" "$T/err"; then
                bad="$bad p$pg/$name(message)"
                sed "s/^/# p$pg $name: /" "$T/err" | head -n 3
                continue
            fi
            # the next run rebuilds the index by itself and does the job
            rm -rf "$T/r"
            "$DRREPO" -r "$REPO" "${args[@]}" >"$T/out" 2>"$T/err"
            rc=$?
            if [ "$rc" -ne 0 ] || ! grep -q "rebuilding it from the repository" "$T/err"; then
                bad="$bad p$pg/$name(not-rebuilt:$rc)"
                sed "s/^/# p$pg $name again: /" "$T/err" | head -n 3
            fi
        fi
    done
done
echo "# $runs runs over $npages pages: $n_work worked (page not on the path), $n_atopen rebuilt" \
    "at open, $n_13 exited 13, $n_check check runs exited 4"
dr_check "garbage in any index page: no command crashes, each reports or recovers" test -z "$bad"
[ -z "$bad" ] || echo "# went wrong:$bad"
dr_done
