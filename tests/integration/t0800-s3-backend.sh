#!/usr/bin/env bash
# t0800-s3-backend: a repository on Ceph RGW (tools/test-servers.sh). The backend conformance
# cases run against it; then the commands a user runs (init, snapshot, snapshots, ls, diff,
# stats, restore, dump, check --read-data and a subset, forget, prune, repair index, key, unlock)
# work on it, restores are byte-identical, the local index is a cache that a second cache
# directory builds from the bucket alone, and unreachable or refused requests fail cleanly.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/s3_lib.sh"
s3_require

DR_TEST_S3_LOCATION=$(s3_loc conformance) dr_expect_success "the conformance cases pass on RGW" \
    "$DR_BUILD/tests/test_backend_conformance"
dr_check "the S3 round ran" grep -q "round s3:" "$T/out"

R=$(s3_loc repo)
s3() { DRREPO_CACHE_DIR="$T/cache" "$DRREPO" -r "$R" "$@"; }
dr_expect_success "init on S3 (the bucket is created)" s3 init --insecure-kdf
dr_check "init names the S3 location" grep -qF "$R" "$T/out"
dr_must_fail 1 "a second init is refused" s3 init --insecure-kdf

SRC="$T/src"
mkdir -p "$SRC/a/b" "$SRC/big"
"$TOOL" gen "$SRC/big/one" 6M 1
"$TOOL" gen "$SRC/big/two" 3M 2
for i in $(seq 1 40); do "$TOOL" gen "$SRC/a/b/f$i" 7K $((100 + i)) text; done
ln -s a/b/f1 "$SRC/link"
: >"$SRC/empty"
dr_expect_success "snapshot 1" s3 snapshot "$SRC" --json --tag first
S1=$(dr_json_field snapshot_id)
cp -a "$SRC" "$T/state1"
dr_expect_success "stats --json after snapshot 1" s3 stats --json
P1=$(dr_json_field packs) # every pack snapshot 1 can touch
"$TOOL" gen "$SRC/big/two" 3M 3
rm "$SRC/a/b/f7"
dr_expect_success "snapshot 2" s3 snapshot "$SRC" --json
S2=$(dr_json_field snapshot_id)
dr_expect_success "snapshots" s3 snapshots
dr_check "both snapshots listed" grep -q "^2 snapshots" "$T/out"
# virtual-host style (https://BUCKET.HOST/KEY): the test gateway's rgw_dns_name is localhost,
# and curl resolves BUCKET.localhost by itself
VR="s3:http://localhost:${DR_TEST_S3_ENDPOINT##*:}/$S3_BUCKET/repo"
DRREPO_CACHE_DIR="$T/cache-vh" dr_expect_success "--s3-virtual-host reads the same repository" \
    "$DRREPO" --s3-virtual-host -r "$VR" snapshots
dr_check "it lists both snapshots" grep -q "^2 snapshots" "$T/out"
if [ -n "${DR_TEST_CEPH_CONF:-}" ]; then
    sleep 1 # the gateway writes its access log asynchronously
    dr_check "its requests named the bucket in the host, not the path" \
        grep -q '"GET /repo/keys/' "$(dirname "$DR_TEST_CEPH_CONF")/log/client.rgw.log"
fi
dr_expect_success "ls" s3 ls "$S1"
dr_check "ls shows a file" grep -q "a/b/f7" "$T/out"
dr_expect_success "diff" s3 diff "$S1" "$S2"
dr_check "diff shows the changed and the removed file" \
    sh -c "grep -q 'big/two' '$T/out' && grep -q 'f7' '$T/out'"
dr_expect_success "stats" s3 stats

rm -rf "$T/r1"
dr_expect_success "restore snapshot 1" s3 restore "$S1" --target "$T/r1" --json
dr_check "snapshot 1 restores byte-identical" dr_same_tree "$T/state1" "$T/r1$SRC"
gets=$(dr_json_field gets)
dr_check "restore makes one ranged GET per pack it touches ($gets GETs, $P1 packs)" \
    test "$gets" -ge 1 -a $((gets * 10)) -le $((P1 * 11))
# many small files over several packs. Over a network a restore hands the read engine every
# file it may at once (docs/S3.md), so that each pack it touches is one GET and no pack is kept
# in the restore's cache of packs: failing that cache changes nothing
RM=$(s3_loc many)
sm() { DRREPO_CACHE_DIR="$T/cache-many" "$DRREPO" -r "$RM" "$@"; }
dr_expect_success "init a repository of 1 MiB packs" sm init --insecure-kdf --pack-size 1M
for d in $(seq 1 300); do
    mkdir -p "$T/many/d$d"
    for i in 1 2 3; do "$TOOL" gen "$T/many/d$d/f$i" 6K $((5000 + d * 3 + i)); done
done
dr_expect_success "snapshot of 900 small files in 300 directories" sm snapshot "$T/many" --json
dr_expect_success "stats --json" sm stats --json
PM=$(dr_json_field packs)
dr_expect_success "restore of the 900 files" sm restore latest --target "$T/rmany" --json
gets=$(dr_json_field gets)
dr_check "they restore byte-identical" dr_same_tree "$T/many" "$T/rmany$T/many"
dr_check "one batch: one GET per pack ($gets GETs, $PM packs)" \
    test "$PM" -ge 3 -a "$gets" -ge 1 -a $((gets * 10)) -le $((PM * 11))
# with 256 descriptors a batch holds at most 32 (a quarter, less a margin): the directories of
# its files are open until they are in place, so the restore takes about 10 batches, and
# every pack is needed by more than one; the cache keeps it at about one GET per pack
few_fds() { bash -c 'ulimit -n 256 && exec "$@"' _ env DRREPO_CACHE_DIR="$T/cache-many" "$@"; }
dr_expect_success "restore of the 900 files with 256 descriptors" \
    few_fds "$DRREPO" -r "$RM" restore latest --target "$T/rmany2" --json
bgets=$(dr_json_field gets)
dr_check "batches: byte-identical" dr_same_tree "$T/many" "$T/rmany2$T/many"
dr_check "batches of files share packs: one GET per pack still ($bgets GETs, $PM packs)" \
    test "$bgets" -ge 1 -a $((bgets * 10)) -le $((PM * 11))
# the cache is only a cache: when its file cannot be written (a full cache disk) or read, the
# restore fetches from the bucket instead, with more GETs, and the result is the same
if [ "${DR_FAULTS_BUILT:-0}" = 1 ]; then
    rm -rf "$T/rmany"
    dr_expect_success "one batch, every read.cache.put failing" \
        env DR_FAULT=read.cache.put:fail DRREPO_CACHE_DIR="$T/cache-many" "$DRREPO" -r "$RM" \
        restore latest --target "$T/rmany" --json
    dr_check "one batch keeps no pack: the same GETs ($(dr_json_field gets) against $gets)" \
        test "$(dr_json_field gets)" = "$gets"
    for point in read.cache.put read.cache.get; do
        rm -rf "$T/rmany2"
        dr_expect_success "batches, every $point failing" \
            few_fds DR_FAULT="$point:fail" "$DRREPO" -r "$RM" restore latest --target "$T/rmany2" \
            --json
        fgets=$(dr_json_field gets)
        dr_check "$point failing: byte-identical still" dr_same_tree "$T/many" "$T/rmany2$T/many"
        dr_check "$point failing: the gets went to the bucket ($fgets GETs against $bgets)" \
            test "$fgets" -gt "$bgets"
    done
else
    echo "# the read cache's failure cases need a build with -DDR_FAULTS=ON"
fi

rm -rf "$T/r2"
dr_expect_success "restore snapshot 2 with a new cache directory (index built from the bucket)" \
    env DRREPO_CACHE_DIR="$T/cache2" "$DRREPO" -r "$R" restore "$S2" --target "$T/r2"
dr_check "snapshot 2 restores byte-identical" dr_same_tree "$SRC" "$T/r2$SRC"
# tree packs and snapshots are kept in the cache directory (docs/S3.md): a damaged local copy
# costs a GET, never a wrong answer
cached=$(find "$T/cache" -path '*/objects/*' -type f | wc -l)
dr_check "tree packs and snapshots are kept in the cache ($cached objects)" test "$cached" -ge 3
find "$T/cache" -path '*/objects/*' -type f | while read -r f; do
    printf 'garbage' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
done
rm -rf "$T/r1"
dr_expect_success "restore with every cached object damaged" s3 restore "$S1" --target "$T/r1"
dr_check "it still restores byte-identical" dr_same_tree "$T/state1" "$T/r1$SRC"
dr_expect_success "ls after the cache was damaged" s3 ls "$S2"
s3 dump "$S2" "$SRC/big/two" >"$T/dumped" 2>"$T/err" || dr_fail "dump"
dr_check "dump writes the file's bytes" cmp "$T/dumped" "$SRC/big/two"

# a drill restores the snapshot from the bucket, checks it and records the result there
mkdir -p "$T/drilltmp"
dr_expect_success "drill of snapshot 2" s3 drill "$S2" --tmpdir "$T/drilltmp"
dr_check "the drill passed" grep -q '(files): passed' "$T/out"
dr_expect_success "snapshots shows the drill" s3 snapshots
dr_check "its result is recorded in the repository" grep -q "${S2:0:8}.* ok 20" "$T/out"
# mount reads through the read engine and the metadata cache
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
    mkdir -p "$T/mnt"
    DRREPO_CACHE_DIR="$T/cache" "$DRREPO" -r "$R" mount "$T/mnt" >"$T/mount.out" 2>&1 &
    mpid=$!
    for _ in $(seq 1 100); do [ -e "$T/mnt/latest$SRC/big/two" ] && break; sleep 0.1; done
    dr_check "a file read through mount has the snapshot's bytes" \
        cmp -s "$T/mnt/latest$SRC/big/two" "$SRC/big/two"
    fusermount3 -u "$T/mnt" 2>/dev/null || umount -l "$T/mnt"
    wait "$mpid"
else
    echo "# mount not tried: no /dev/fuse or fusermount3"
fi
dr_expect_success "check --read-data" s3 check --read-data
dr_expect_success "check --read-data-subset 1/2" s3 check --read-data-subset 1/2
echo second >"$T/pw2"
dr_expect_success "key add" s3 key add --new-password-file "$T/pw2"
dr_expect_success "key list" s3 key list
dr_check "two keys" test "$(grep -c '^[ *]*[0-9a-f]\{8\}' "$T/out")" -ge 2
dr_expect_success "repair index" s3 repair index
dr_expect_success "unlock" s3 unlock
dr_expect_success "forget snapshot 1 and prune" s3 forget "$S1" --prune
dr_expect_success "snapshots after forget" s3 snapshots
dr_check "one snapshot left" grep -q "^1 snapshot$" "$T/out"
dr_expect_success "check --read-data after prune" s3 check --read-data
rm -rf "$T/r2"
dr_expect_success "restore snapshot 2 after prune" s3 restore "$S2" --target "$T/r2"
dr_check "snapshot 2 still restores byte-identical" dr_same_tree "$SRC" "$T/r2$SRC"

# failures are clean, one line, with the documented exit codes
DRREPO_S3_RETRIES=0 dr_must_fail 1 "a gateway that does not answer: exit 1" \
    env DRREPO_CACHE_DIR="$T/cache3" "$DRREPO" -r "s3:http://127.0.0.1:9/$S3_BUCKET/repo" snapshots
dr_check "the error names the object and the endpoint" \
    grep -q "object 'config'.*127.0.0.1:9.*after 1 tries\|object 'config'.*127.0.0.1:9" "$T/err"
AWS_SECRET_ACCESS_KEY=wrong dr_must_fail 1 "a wrong secret key: exit 1" s3 snapshots
dr_check "the error gives the status and the server's code" grep -q "HTTP 403 SignatureDoesNotMatch" "$T/err"
dr_check "in one line" test "$(wc -l <"$T/err")" -eq 1
dr_must_fail 10 "a bucket without a repository: exit 10" \
    env DRREPO_CACHE_DIR="$T/cache3" "$DRREPO" -r "$(s3_loc nothing-here)" snapshots
dr_done
