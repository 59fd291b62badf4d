#!/usr/bin/env bash
# t0520-redis-records: record-encoded RDB storage (the default, format/rdb.md). RDBs written by
# a private redis-server with every data type (strings incl. integers and LZF, lists, sets incl.
# intsets, sorted sets, hashes in listpack and table encodings, streams with consumer groups,
# TTLs, three databases, a function library), with rdbcompression on and off, and after a
# restart (whose key order differs), round-trip byte for byte through --stdin, dump, restore,
# a tree snapshot and `snapshot --redis`; a file that only starts with the magic is stored by
# the fallback, noted in the snapshot; repair and check understand record-encoded files. Over
# two "days" of `snapshot --redis` (3.5% of the keys updated, 0.5% added, 0.5% deleted) the
# records come from the parent snapshot and the repository grows by a small part of the RDB.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/redis_lib.sh"
redis_require

trap redis_scratch_stop EXIT

GEN="$DR_SRC/bench/rdb-gen.py"
dr_init
redis_scratch_start rs --dbfilename dump.rdb || dr_fail 'scratch redis-server starts'
S="redis-cli -s $SCRATCH_SOCK"
python3 "$GEN" types | $S --pipe >/dev/null
python3 "$GEN" populate 3000 | $S --pipe >/dev/null

n=0
# every file under the same name, so each is stored relative to the one before (the restart's
# file, in another key order, relative to the file written before the restart)
roundtrip() { # NAME FILE: --stdin with records, dump, compare; the snapshot must say records
    dr_expect_success "snapshot --stdin ($1)" sh -c \
        "'$DRREPO' -r '$REPO' snapshot --stdin --stdin-name dump.rdb < '$2'"
    dr_expect_success "dump ($1)" sh -c "'$DRREPO' -r '$REPO' dump latest dump.rdb > '$T/$1.out'"
    dr_check "dump is byte-identical ($1)" cmp -s "$2" "$T/$1.out"
    dr_check "same sha256 ($1)" test "$(sha256sum < "$2")" = "$(sha256sum < "$T/$1.out")"
    "$DRREPO" -r "$REPO" snapshots --json > "$T/snaps.json" 2>/dev/null
    dr_check "stored by its records ($1)" sh -c "tail -c 2000 '$T/snaps.json' | grep -q '\"rdb.records\":\"1\"'"
}

for comp in yes no; do
    $S config set rdbcompression $comp >/dev/null
    $S save >/dev/null
    cp "$T/rs/dump.rdb" "$T/c-$comp.rdb"
    roundtrip "compress-$comp" "$T/c-$comp.rdb"
done
dr_check 'the two files differ (LZF on and off)' sh -c "! cmp -s '$T/c-yes.rdb' '$T/c-no.rdb'"

# after a restart the server loads the file and writes its keys in another order
$S config set rdbcompression yes >/dev/null
$S save >/dev/null
redis_scratch_stop
redis_scratch_start rs --dbfilename dump.rdb || dr_fail 'scratch redis-server restarts'
S="redis-cli -s $SCRATCH_SOCK"
python3 "$GEN" day 1 3000 | $S --pipe >/dev/null
$S save >/dev/null
cp "$T/rs/dump.rdb" "$T/restart.rdb"
roundtrip restart "$T/restart.rdb"
dr_expect_success 'redis-check-rdb accepts the dumped file' redis-check-rdb "$T/restart.out"

# a tree with an RDB, a fake RDB and a plain file; restore and mount-free checks
mkdir -p "$T/tree"
cp "$T/restart.rdb" "$T/tree/dump.rdb"
printf 'REDIS0011 but not an RDB file at all\n' > "$T/tree/fake.rdb"
head -c 100000 /dev/urandom > "$T/tree/plain.bin"
dr_expect_success 'snapshot a tree' drrepo snapshot --json "$T/tree"
dr_check 'the fake RDB is noted as a fallback' sh -c "grep -q 'rdb.fallback' '$T/out' || '$DRREPO' -r '$REPO' snapshots --json | grep -q 'rdb.fallback'"
dr_expect_success 'restore the tree' drrepo restore latest --target "$T/rt"
for f in dump.rdb fake.rdb plain.bin; do
    dr_check "restored $f is identical" cmp -s "$T/tree/$f" "$T/rt$T/tree/$f"
done
dr_expect_success 'a second snapshot of the unchanged tree' drrepo snapshot "$T/tree"
dr_expect_success 'dump of the unchanged RDB (reused from the parent)' sh -c \
    "'$DRREPO' -r '$REPO' dump latest '$T/tree/dump.rdb' > '$T/again.rdb'"
dr_check 'reused record-encoded node is still identical' cmp -s "$T/tree/dump.rdb" "$T/again.rdb"
dr_expect_success 'dump the tree as tar' sh -c "'$DRREPO' -r '$REPO' dump latest '$T/tree' > '$T/t.tar'"
mkdir -p "$T/untar" && tar -xf "$T/t.tar" -C "$T/untar"
dr_check 'tar member of the RDB is identical' sh -c "cmp -s '$T/tree/dump.rdb' \"\$(find '$T/untar' -name dump.rdb)\""

# snapshot --redis through the same path, against a private server on a TCP port (the shared
# test server is left alone: t0500 compares its content between two reads)
redis_scratch_stop
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis_scratch_start rt --port "$P" --bind 127.0.0.1 || dr_fail 'scratch redis-server on a TCP port'
python3 "$GEN" types | redis-cli -s "$SCRATCH_SOCK" --pipe >/dev/null
dr_expect_success 'snapshot --redis' drrepo snapshot --redis "redis://127.0.0.1:$P"
dr_expect_success 'dump the redis snapshot' sh -c "'$DRREPO' -r '$REPO' dump latest dump.rdb > '$T/redis.out'"
dr_expect_success 'redis-check-rdb accepts it' redis-check-rdb "$T/redis.out"
dr_check 'stored by its records (--redis)' sh -c \
    "'$DRREPO' -r '$REPO' snapshots --json | tail -c 2000 | grep -q '\"rdb.records\":\"1\"'"

# days of changes through --redis: records reused from the parent, small growth. The snapshot
# above ran with the server's default repl-diskless-sync-delay (5 s of waiting, with the
# keep-alive newlines a real server sends meanwhile); these three only measure reuse and growth,
# which the delay does not change, so the private server starts the transfer at once (15 s less)
redis-cli -s "$SCRATCH_SOCK" config set repl-diskless-sync-delay 0 >/dev/null
python3 "$GEN" populate 20000 | redis-cli -s "$SCRATCH_SOCK" --pipe >/dev/null
dr_expect_success 'snapshot --redis, day 0' drrepo snapshot --redis "redis://127.0.0.1:$P"
for d in 1 2; do
    python3 "$GEN" day $d 20000 | redis-cli -s "$SCRATCH_SOCK" --pipe >/dev/null
    before=$(du -sb "$REPO" | cut -f1)
    dr_expect_success "snapshot --redis, day $d" drrepo -v snapshot --redis "redis://127.0.0.1:$P"
    after=$(du -sb "$REPO" | cut -f1)
    line=$(grep "unchanged from the parent" "$T/err")
    recs=$(echo "$line" | sed -E 's/.*: ([0-9]+) key records, ([0-9]+) unchanged.*/\1/')
    reused=$(echo "$line" | sed -E 's/.*: ([0-9]+) key records, ([0-9]+) unchanged.*/\2/')
    dr_check "day $d: $reused of $recs records from the parent" test "${reused:-0}" -ge $((recs * 9 / 10))
    dr_expect_success "dump day $d" sh -c "'$DRREPO' -r '$REPO' dump latest dump.rdb > '$T/day.out'"
    size=$(stat -c %s "$T/day.out")
    dr_check "day $d adds $((after - before)) bytes, under 10% of the $size-byte RDB" \
        test $((after - before)) -lt $((size / 10))
    dr_expect_success "redis-check-rdb accepts day $d" redis-check-rdb "$T/day.out"
    # every key of every database is in the file (the server has not changed since)
    live=$(redis-cli -s "$SCRATCH_SOCK" info keyspace | sed -nE 's/^db[0-9]+:keys=([0-9]+),.*/\1/p' |
        awk '{s += $1} END {print s}')
    dr_check "day $d: the file holds the server's $live keys" grep -q "$live keys read" "$T/out"
done
redis_scratch_stop

dr_expect_success 'check --read-data' drrepo check --read-data
dr_done
