# redis_lib.sh: helpers shared by the Redis integration tests (sourced after tests/e2e/lib.sh).
#   redis_require             skip (77) unless DR_TEST_REDIS_URL names our tagged server
#   rcli ARGS...              redis-cli against the test server
#   redis_scratch_start NAME [ARGS...]  a private redis-server on a Unix socket in $T/NAME
#                             (port 0); sets SCRATCH_SOCK and SCRATCH_PID
#   redis_scratch_stop        stops it by pid
#   rdb_body FILE             the RDB without its aux fields (ctime, used-mem differ between
#                             two saves of the same data) and without the checksum, on stdout

redis_require() {
    dr_need_server DR_TEST_REDIS_URL
    for b in redis-cli redis-server redis-check-rdb python3; do
        command -v "$b" >/dev/null || { echo "not ok - $b not installed"; exit 1; }
    done
    RHOST=$(echo "$DR_TEST_REDIS_URL" | sed -E 's|^redis://([^@]*@)?([^:/]+):([0-9]+).*|\2|')
    RPORT=$(echo "$DR_TEST_REDIS_URL" | sed -E 's|^redis://([^@]*@)?([^:/]+):([0-9]+).*|\3|')
    # the server answering must be the one test-servers.sh started: it holds our tag
    local tag
    tag=$(redis-cli -h "$RHOST" -p "$RPORT" get __drrepo_test_tag 2>/dev/null)
    if [ -z "$tag" ] || [ "$tag" != "${DR_TEST_REDIS_TAG:-}" ]; then
        echo "not ok - the server at $DR_TEST_REDIS_URL is not ours (tag '$tag')"
        exit 1
    fi
}

rcli() { redis-cli -h "$RHOST" -p "$RPORT" "$@"; }

SCRATCH_PID=
redis_scratch_start() {
    local name=$1; shift
    mkdir -p "$T/$name"
    SCRATCH_SOCK="$T/$name/redis.sock"
    redis-server --port 0 --unixsocket "$SCRATCH_SOCK" --unixsocketperm 700 --dir "$T/$name" \
        --save "" --appendonly no --daemonize yes --pidfile "$T/$name/redis.pid" \
        --logfile "$T/$name/redis.log" "$@" >/dev/null || return 1
    for _ in $(seq 1 100); do
        [ -s "$T/$name/redis.pid" ] && redis-cli -s "$SCRATCH_SOCK" ping 2>/dev/null | grep -q PONG \
            && break
        sleep 0.1
    done
    SCRATCH_PID=$(cat "$T/$name/redis.pid")
    redis-cli -s "$SCRATCH_SOCK" ping 2>/dev/null | grep -q PONG
}

redis_scratch_stop() {
    if [ -n "$SCRATCH_PID" ]; then
        kill "$SCRATCH_PID" 2>/dev/null
        for _ in $(seq 1 50); do dr_running "$SCRATCH_PID" || break; sleep 0.1; done
        kill -9 "$SCRATCH_PID" 2>/dev/null
        SCRATCH_PID=
    fi
}

rdb_body() {
    python3 - "$1" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
assert d[:5] == b'REDIS', 'not an RDB file'
o = 9
def strlen(o):
    b = d[o]; t = b >> 6
    if t == 0: return o + 1, b & 0x3f, None
    if t == 1: return o + 2, ((b & 0x3f) << 8) | d[o + 1], None
    if b == 0x80: return o + 5, int.from_bytes(d[o + 1:o + 5], 'big'), None
    if b == 0x81: return o + 9, int.from_bytes(d[o + 1:o + 9], 'big'), None
    enc = b & 0x3f
    if enc in (0, 1, 2): return o + 1 + (1 << enc), 0, None
    o, clen, _ = strlen(o + 1)
    o, _, _ = strlen(o)
    return o, clen, None
while d[o] == 0xfa:
    o += 1
    for _ in range(2):
        o, n, _ = strlen(o)
        o += n
sys.stdout.buffer.write(d[o:-8])
PY
}
