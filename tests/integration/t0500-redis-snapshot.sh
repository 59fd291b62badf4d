#!/usr/bin/env bash
# t0500-redis-snapshot: snapshot --redis against the real test server, in both payload forms
# ($len after a disk-based BGSAVE, $EOF:<mark> for diskless sync), every data type, several
# databases; the restored RDB passes redis-check-rdb, loads in a fresh redis-server with the same
# keys per database and the same values, and matches `redis-cli --rdb FILE` apart from the aux
# fields; drills pass on good snapshots and fail on damaged data; repository growth over days.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/redis_lib.sh"
redis_require

# leave the server's replication config as we found it, whatever happens
old_diskless=$(rcli config get repl-diskless-sync | sed -n 2p)
old_delay=$(rcli config get repl-diskless-sync-delay | sed -n 2p)
restore_server() {
    rcli config set repl-diskless-sync "$old_diskless" >/dev/null
    rcli config set repl-diskless-sync-delay "$old_delay" >/dev/null
    for db in 0 1 3; do
        rcli -n $db --scan --pattern 't0500:*' | sed 's/^/DEL /' | rcli -n $db >/dev/null
    done
    redis_scratch_stop
    dr_cleanup
}
trap restore_server EXIT

populate() {
    {
        for i in $(seq 1 3000); do echo "SET t0500:str:$i value-$i-$((i * 7919))"; done
        for i in $(seq 1 200); do echo "RPUSH t0500:list:$i a b c $i"; done
        for i in $(seq 1 200); do echo "SADD t0500:set:$i x y $i"; done
        for i in $(seq 1 200); do echo "ZADD t0500:zset:$i 1 one 2 two $i n$i"; done
        for i in $(seq 1 200); do echo "HSET t0500:hash:$i f1 v1 f2 $i"; done
        for i in $(seq 1 50); do echo "XADD t0500:stream:$i * field $i other x"; done
        for i in $(seq 1 100); do echo "SET t0500:ttl:$i v EX 86400"; done
        echo "SELECT 1"
        for i in $(seq 1 500); do echo "SET t0500:db1:$i $i"; done
        echo "HSET t0500:db1:big $(for j in $(seq 1 300); do printf 'f%s v%s ' $j $j; done)"
        echo "SELECT 3"
        for i in $(seq 1 300); do echo "LPUSH t0500:db3:list v$i"; done
        for i in $(seq 1 30); do echo "SET t0500:db3:ttl:$i v PX 86400000"; done
    } | rcli >/dev/null
}
populate
dr_check 'server holds several databases' test "$(rcli info keyspace | grep -c '^db')" -ge 3

dr_init
keyspace() { rcli info keyspace | grep '^db' | sed 's/,avg_ttl=.*//' | tr -d '\r'; }
snapjson() { drrepo snapshots --json >"$T/snaps.json" 2>"$T/err"; }

# --- the $len form: disk-based sync ---
rcli config set repl-diskless-sync no >/dev/null
dr_expect_success 'snapshot --redis (disk-based, $len form)' drrepo snapshot --redis "$DR_TEST_REDIS_URL" --json
drrepo snapshots --json >"$T/s1.json"
dr_check 'recorded as redis, payload disk' grep -q '"redis.payload":"disk"' "$T/s1.json"
for k in redis.version redis.replid redis.repl_offset redis.keys redis.rdb_size redis.rdb_crc64; do
    dr_check "metadata $k recorded" grep -q "\"$k\":\"[^\"]" "$T/s1.json"
done
dr_expect_success 'dump dump.rdb' sh -c "\"$DRREPO\" -r \"$REPO\" dump latest dump.rdb >\"$T/disk.rdb\""
dr_expect_success 'redis-check-rdb accepts it (disk form)' redis-check-rdb "$T/disk.rdb"
rcli --rdb "$T/ref.rdb" >/dev/null 2>&1
if cmp -s "$T/disk.rdb" "$T/ref.rdb"; then
    dr_ok 'byte-identical to redis-cli --rdb'
else
    rdb_body "$T/disk.rdb" >"$T/disk.body"
    rdb_body "$T/ref.rdb" >"$T/ref.body"
    dr_check 'identical to redis-cli --rdb apart from aux fields' dr_cmp "$T/disk.body" "$T/ref.body"
fi

# --- the $EOF:<mark> form: diskless sync ---
rcli config set repl-diskless-sync yes >/dev/null
rcli config set repl-diskless-sync-delay 0 >/dev/null
dr_expect_success 'snapshot --redis (diskless, EOF form)' drrepo snapshot --redis "$DR_TEST_REDIS_URL"
drrepo snapshots --json >"$T/s2.json"
dr_check 'payload diskless recorded' grep -q '"redis.payload":"diskless"' "$T/s2.json"
"$DRREPO" -r "$REPO" dump latest dump.rdb >"$T/eof.rdb"
dr_expect_success 'redis-check-rdb accepts it (EOF form)' redis-check-rdb "$T/eof.rdb"
rdb_body "$T/eof.rdb" >"$T/eof.body"
rdb_body "$T/ref.rdb" >"$T/ref.body"
dr_check 'EOF form: same data as redis-cli --rdb' dr_cmp "$T/eof.body" "$T/ref.body"
dr_check 'no end mark left in the file' test "$(tail -c 9 "$T/eof.rdb" | head -c 1 | od -An -tx1 | tr -d ' ')" = ff

# --- the restored RDB in a fresh server ---
mkdir -p "$T/fresh"
dr_expect_success 'restore' drrepo restore latest --target "$T/fresh"
dr_check 'restored file equals dump output' dr_cmp "$T/fresh/dump.rdb" "$T/eof.rdb"
if redis_scratch_start fresh --dbfilename dump.rdb; then
    dr_ok 'fresh redis-server loads the restored RDB'
else
    dr_fail 'fresh redis-server loads the restored RDB'
fi
fresh_ks=$(redis-cli -s "$SCRATCH_SOCK" info keyspace | grep '^db' | sed 's/,avg_ttl=.*//' | tr -d '\r')
dr_check 'same keys per database' test "$fresh_ks" = "$(keyspace)"
same_values=1
# DUMP where the serialisation is canonical; members sorted for sets and hashes, whose order
# after a reload may differ from the server's
for spec in "0 t0500:str:17 dump" "0 t0500:list:5 dump" "0 t0500:set:9 smembers" \
    "0 t0500:zset:3 dump" "0 t0500:hash:200 hgetall" "0 t0500:stream:7 dump" \
    "1 t0500:db1:big hgetall" "3 t0500:db3:list dump"; do
    set -- $spec
    mode=--raw
    [ "$3" = dump ] && mode=--no-raw # binary: quoted
    a=$(rcli -n "$1" $mode "$3" "$2" | sort)
    b=$(redis-cli -s "$SCRATCH_SOCK" -n "$1" $mode "$3" "$2" | sort)
    [ -n "$a" ] && [ "$a" = "$b" ] || { echo "# value of $2 differs"; same_values=0; }
done
dr_check 'sampled values are identical (DUMP of every type)' test $same_values = 1
dr_check 'TTLs survive' test "$(redis-cli -s "$SCRATCH_SOCK" ttl t0500:ttl:1)" -gt 0
redis_scratch_stop

# --- drills ---
# the drill's scratch directory under $T/dt: its server is told apart from those of drills that
# other tests run at the same time (ctest -j)
mkdir -p "$T/dt"
dr_expect_success 'drill of the redis snapshot passes' drrepo drill latest --tmpdir "$T/dt"
dr_check 'drill names what it checked' grep -q 'keys per database' "$T/out"
dr_check 'drill reports the RTO' grep -q 'RTO' "$T/out"
dr_check 'no scratch server left running' sh -c "! pgrep -f '$T/dt/drrepo-dril[l]-' >/dev/null"
dr_expect_success 'snapshots --json shows the drill' drrepo snapshots --json
dr_check 'drill result recorded' grep -q '"drills":\[{"time":"[^"]*","ok":true,"kind":"redis"' "$T/out"
DRREPO_REDIS_SERVER=/bin/false dr_must_fail 4 'drill whose server cannot start fails (exit 4)' \
    drrepo drill latest
dr_check 'and says why' grep -q 'exited with status 1 before it answered' "$T/err"
DRREPO_REDIS_SERVER=/nonexistent/redis-server dr_must_fail 1 'drill that cannot run exits 1' \
    drrepo drill latest
dr_expect_success 'check passes with drill results stored' drrepo check

# --- several days: a few % of the keys change between snapshots ---
before=$(du -sb "$REPO" | cut -f1)
for day in 1 2 3; do
    for i in $(seq $((day * 90)) $((day * 90 + 90))); do echo "SET t0500:str:$i day-$day-$i"; done | rcli >/dev/null
    dr_expect_success "day $day snapshot" drrepo snapshot --redis "$DR_TEST_REDIS_URL"
done
after=$(du -sb "$REPO" | cut -f1)
rdb_size=$(stat -c %s "$T/eof.rdb")
echo "# repository growth over 3 days with ~3% of string keys changed daily: $((after - before)) bytes (RDB is $rdb_size bytes)"
dr_check 'growth is sane (less than 3 full copies)' test $((after - before)) -lt $((3 * rdb_size + 3 * 65536))

# --- a drill of damaged data fails with the reason ---
for p in $(find "$REPO/data" -type f); do
    size=$(stat -c %s "$p")
    "$TOOL" flip "$p" $((size / 2)) >/dev/null
done
dr_must_fail 4 'drill of a damaged snapshot fails (exit 4)' drrepo drill latest
sed 's/^/# /' "$T/out" "$T/err"
dr_check 'the reason names the damage' grep -qiE 'corrupt|does not verify|damaged|authent|pack' "$T/err"
dr_expect_success 'failed drill recorded' drrepo snapshots --json
dr_check 'failed drill shown with its reason' grep -q '"ok":false,"kind":"redis"' "$T/out"
dr_done
