#!/usr/bin/env bash
# t0045-rdb-records: RDB files stored by their key records relative to the parent snapshot
# (format/rdb.md), without a Redis server: synthetic RDB files (strings with and without TTLs,
# ~4% of the keys changed a day, one day in another key order as after a restart). Each day
# restores byte for byte, adds a small fraction of the file, and reuses the parent's records;
# forget + prune of the first days keeps the later ones whole; a parent whose blobs are missing
# is reported and not used, and the new snapshot is whole; mount reads it as an ordinary file;
# --no-rdb-records stores plain chunks.
. "$(dirname "$0")/lib.sh" || exit 1

# gen.py FILE NKEYS DAY [shuffle]: a version-11 RDB with a zero (unchecked) checksum
cat > "$T/gen.py" <<'PY'
import random, struct, sys
path, n, day = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
shuffle = len(sys.argv) > 4
def s(b):
    assert len(b) < 16384
    return (bytes([len(b)]) if len(b) < 64 else struct.pack('>H', 0x4000 | len(b))) + b
gen = {}
rng = random.Random(1)
for i in range(n):
    gen[i] = 0
for d in range(1, day + 1):
    for i in range(n):
        if rng.random() < 0.04:
            gen[i] = -1 if gen[i] >= 0 and rng.random() < 0.1 else d
keys = [i for i in range(n) if gen[i] >= 0]
if shuffle:
    random.Random(day).shuffle(keys)
out = [b"REDIS0011", b"\xfa" + s(b"redis-ver") + s(b"7.0.15"), b"\xfe\x00"]
for i in keys:
    rec = b''
    if i % 5 == 0:
        rec += b'\xfc' + struct.pack('<Q', 1800000000000 + i)
    v = ('{"user":%d,"gen":%d,"name":"user-%d","mail":"u%d@example.com","pad":"%s"}'
         % (i, gen[i], i, i, 'abcdefgh' * (1 + i % 7))).encode()
    rec += b'\x00' + s(b'user:%d' % i) + s(v)
    out.append(rec)
out.append(b'\xff' + b'\0' * 8)
open(path, 'wb').write(b''.join(out))
PY

dr_init
N=20000
snap() { # DAY FILE [extra args]
    local d=$1 f=$2
    shift 2
    dr_expect_success "snapshot day $d" sh -c "'$DRREPO' -r '$REPO' -v snapshot --stdin --stdin-name dump.rdb $* < '$f'"
}
size_now() { du -sb "$REPO" | cut -f1; }
dump_same() { # NAME FILE [SNAP]
    dr_expect_success "dump $1" sh -c "'$DRREPO' -r '$REPO' dump ${3:-latest} dump.rdb > '$T/out.rdb'"
    dr_check "$1 restores byte for byte" cmp -s "$2" "$T/out.rdb"
}

python3 "$T/gen.py" "$T/d0.rdb" $N 0
snap 0 "$T/d0.rdb"
dr_check 'day 0 stored by its records' grep -q "unchanged from the parent" "$T/err"
dump_same 'day 0' "$T/d0.rdb"
prev=$(size_now)
for d in 1 2 3; do
    python3 "$T/gen.py" "$T/d$d.rdb" $N $d
    snap $d "$T/d$d.rdb"
    # most records come from the parent: at least 90% of them
    line=$(grep "unchanged from the parent" "$T/err")
    recs=$(echo "$line" | sed -E 's/.*: ([0-9]+) key records, ([0-9]+) unchanged.*/\1/')
    reused=$(echo "$line" | sed -E 's/.*: ([0-9]+) key records, ([0-9]+) unchanged.*/\2/')
    dr_check "day $d: $reused of $recs records reused from the parent" test "$reused" -ge $((recs * 9 / 10))
    now=$(size_now)
    fsize=$(stat -c %s "$T/d$d.rdb")
    dr_check "day $d adds $((now - prev)) bytes, less than 10% of the $fsize-byte file" \
        test $((now - prev)) -lt $((fsize / 10))
    prev=$now
    dump_same "day $d" "$T/d$d.rdb"
done

# a restart writes the keys in another order: still reused, still identical
python3 "$T/gen.py" "$T/d4.rdb" $N 4 shuffle
snap 4 "$T/d4.rdb"
dump_same 'day 4 (another key order)' "$T/d4.rdb"
now=$(size_now)
dr_check "reordered day adds less than a quarter of the file" test $((now - prev)) -lt $(($(stat -c %s "$T/d4.rdb") / 4))

# forget the first days: the later snapshots list the blobs they still need
drrepo snapshots --json > "$T/snaps.json"
ids=$(jq -r '.[].id' "$T/snaps.json")
first3=$(echo "$ids" | head -3)
dr_expect_success 'forget the first three days' drrepo forget $first3
dr_expect_success 'prune' drrepo prune
dr_expect_success 'check --read-data after prune' drrepo check --read-data
dump_same 'day 4 after prune' "$T/d4.rdb"
dump_same 'day 3 after prune' "$T/d3.rdb" "$(echo "$ids" | sed -n 4p)"

# a parent whose blobs are gone (the data packs moved away): reported, not used, and the new
# snapshot is whole
mkdir -p "$T/saved"
(cd "$REPO" && find data -type f) > "$T/datapacks"
dr_check 'setup: data packs exist' test -s "$T/datapacks"
while read -r pk; do mv "$REPO/$pk" "$T/saved/$(basename "$pk")"; done < "$T/datapacks"
python3 "$T/gen.py" "$T/d5.rdb" $N 5
snap 5 "$T/d5.rdb"
dr_check 'the unreadable parent is reported' grep -q "parent snapshot's records cannot be read" "$T/err"
dump_same 'day 5 (written without the missing parent)' "$T/d5.rdb"

# mount shows a record-encoded file as an ordinary one (when FUSE is available)
if [ -e /dev/fuse ] && command -v fusermount3 >/dev/null; then
    mkdir -p "$T/mnt"
    "$DRREPO" -r "$REPO" mount "$T/mnt" >"$T/mount.log" 2>&1 &
    mpid=$!
    trap 'fusermount3 -u -z "$T/mnt" 2>/dev/null; kill $mpid 2>/dev/null; dr_cleanup' EXIT
    for _ in $(seq 1 100); do grep -q " $T/mnt fuse" /proc/mounts && break; sleep 0.1; done
    dr_check 'mount: the RDB has its size' test "$(stat -c %s "$T/mnt/latest/dump.rdb")" = "$(stat -c %s "$T/d5.rdb")"
    dr_check 'mount: the RDB reads back byte for byte' cmp -s "$T/d5.rdb" "$T/mnt/latest/dump.rdb"
    fusermount3 -u "$T/mnt"
    wait $mpid
    trap dr_cleanup EXIT
fi

# opting out stores plain chunks
snap 6 "$T/d5.rdb" --no-rdb-records
dr_check 'no record encoding with --no-rdb-records' sh -c "! grep -q 'unchanged from the parent' '$T/err'"
dump_same 'day 6 (plain chunks)' "$T/d5.rdb"
dr_done
