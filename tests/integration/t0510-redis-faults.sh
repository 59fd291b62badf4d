#!/usr/bin/env bash
# t0510-redis-faults: snapshot --redis when things go wrong: nothing listening, a wrong or
# missing password, a connection dropped in the middle of the payload, a corrupted payload
# (checksum mismatch), a diskless payload whose end mark never comes. Each gives a clear error
# naming the server and the cause, records no snapshot, and leaves the repository valid.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/redis_lib.sh"
redis_require

FAKE_PID=
cleanup() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
    redis_scratch_stop
    dr_cleanup
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

dr_init
rcli set t0510:k v >/dev/null
dr_expect_success 'a good snapshot first' drrepo snapshot --redis "$DR_TEST_REDIS_URL"
rcli del t0510:k >/dev/null
drrepo snapshots --json >"$T/before.json"

unchanged() {
    drrepo snapshots --json >"$T/now.json" 2>/dev/null
    dr_check "$1: no snapshot recorded" dr_cmp "$T/before.json" "$T/now.json"
    dr_expect_success "$1: check passes" drrepo check
}

# --- nothing listening ---
port=$(free_port)
dr_must_fail 1 'redis down: exit 1' drrepo snapshot --redis "redis://127.0.0.1:$port"
dr_check 'redis down: names the server and the cause' \
    grep -q "cannot connect to redis server '127.0.0.1:$port': Connection refused" "$T/err"
unchanged 'redis down'

# --- wrong password: a second server of our own with --requirepass ---
# (no repl-diskless-sync-delay: the good snapshot above waited the default 5 s; the payloads
# here need no other replicas to wait for, so the right password and the reference RDB below
# take no 5 s each)
port=$(free_port)
mkdir -p "$T/auth"
redis-server --port "$port" --bind 127.0.0.1 --requirepass s3cret-t0510 --save "" \
    --appendonly no --daemonize yes --pidfile "$T/auth/redis.pid" --dir "$T/auth" \
    --logfile "$T/auth/redis.log" --repl-diskless-sync-delay 0 >/dev/null
for _ in $(seq 1 50); do [ -s "$T/auth/redis.pid" ] && break; sleep 0.1; done
SCRATCH_PID=$(cat "$T/auth/redis.pid" 2>/dev/null)
for _ in $(seq 1 50); do
    redis-cli -p "$port" -a s3cret-t0510 --no-auth-warning ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
done
redis-cli -p "$port" -a s3cret-t0510 --no-auth-warning set __drrepo_t0510 "$SCRATCH_PID" >/dev/null
dr_check 'the password server is ours' test "$(redis-cli -p "$port" -a s3cret-t0510 \
    --no-auth-warning get __drrepo_t0510)" = "$SCRATCH_PID"
dr_must_fail 14 'wrong password: exit 14 (a source refused us, not the repository)' drrepo snapshot --redis "redis://:pw-t0510-bad@127.0.0.1:$port"
dr_check 'wrong password: says so, names the server' \
    grep -q "redis server '127.0.0.1:$port': authentication failed" "$T/err"
dr_check 'wrong password: the password is not printed' sh -c "! grep -q pw-t0510-bad \"$T/err\""
dr_must_fail 14 'no password: exit 14' drrepo snapshot --redis "redis://127.0.0.1:$port"
dr_check 'no password: says a password is required and where to give it' \
    grep -q 'requires a password.*--redis-password-file, DRREPO_REDIS_PASSWORD or REDISCLI_AUTH' "$T/err"
dr_must_fail 14 'wrong password, with --json: exit 14' drrepo snapshot --json --redis "redis://:pw-t0510-bad@127.0.0.1:$port"
dr_check 'the JSON error says 14 too' grep -q '"code":14,"exit":14' "$T/err"
DRREPO_PASSWORD=wrong-repo-pw dr_must_fail 12 'a wrong repository password is still 12' \
    drrepo snapshot --redis "redis://:pw-t0510-bad@127.0.0.1:$port"
dr_expect_success 'right password works' drrepo snapshot --redis "redis://default:s3cret-t0510@127.0.0.1:$port"
# the password off the command line: a file, or the environment (the URL's wins when it has one)
printf 's3cret-t0510\n' >"$T/redis-pw"
dr_expect_success '--redis-password-file' \
    drrepo snapshot --redis "redis://127.0.0.1:$port" --redis-password-file "$T/redis-pw"
dr_expect_success '--redis-password-file with the ACL user in the URL (redis://default:@host)' \
    drrepo snapshot --redis "redis://default:@127.0.0.1:$port" --redis-password-file "$T/redis-pw"
printf 'pw-t0510-bad\n' >"$T/redis-pw-bad"
dr_must_fail 14 'a wrong password from the file: exit 14' \
    drrepo snapshot --redis "redis://127.0.0.1:$port" --redis-password-file "$T/redis-pw-bad"
dr_check 'it is not printed' sh -c "! grep -q pw-t0510-bad \"$T/err\""
dr_must_fail 1 'a missing password file: exit 1, named' \
    drrepo snapshot --redis "redis://127.0.0.1:$port" --redis-password-file "$T/nope"
dr_check 'it names the file' grep -q "redis password file.*$T/nope" "$T/err"
DRREPO_REDIS_PASSWORD=s3cret-t0510 dr_expect_success 'DRREPO_REDIS_PASSWORD' \
    drrepo snapshot --redis "redis://127.0.0.1:$port"
REDISCLI_AUTH=s3cret-t0510 dr_expect_success 'REDISCLI_AUTH (as redis-cli reads it)' \
    drrepo snapshot --redis "redis://127.0.0.1:$port"
DRREPO_REDIS_PASSWORD=pw-t0510-bad REDISCLI_AUTH=s3cret-t0510 dr_must_fail 14 \
    'DRREPO_REDIS_PASSWORD comes before REDISCLI_AUTH' drrepo snapshot --redis "redis://127.0.0.1:$port"
DRREPO_REDIS_PASSWORD=pw-t0510-bad dr_expect_success 'a password in the URL wins over the environment' \
    drrepo snapshot --redis "redis://:s3cret-t0510@127.0.0.1:$port"
dr_must_fail 2 '--redis-password-file without --redis' drrepo snapshot --redis-password-file "$T/redis-pw" "$T"
drrepo snapshots --json >"$T/before.json"
# the reference RDB for the fake server below, from this server (the shared one would wait 5 s)
redis-cli -p "$port" -a s3cret-t0510 --no-auth-warning --rdb "$T/good.rdb" >/dev/null 2>&1
redis_scratch_stop
unchanged 'wrong password'

# --- a fake server for broken payloads ---
dr_check 'reference RDB fetched' test -s "$T/good.rdb"
cat >"$T/fake.py" <<'PY'
# a fake master: answers the commands before SYNC, then sends a broken payload (MODE)
import socket, sys
mode, rdbf, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
rdb = open(rdbf, 'rb').read()
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', port)); srv.listen(1)
c, _ = srv.accept(); f = c.makefile('rb')
def cmd():
    n = int(f.readline()[1:])
    args = []
    for _ in range(n):
        l = int(f.readline()[1:]); args.append(f.read(l + 2)[:-2].decode())
    return args
info = b'# Server\r\nredis_version:7.0.99\r\n# Replication\r\nmaster_replid:' + b'a' * 40 + b'\r\nmaster_repl_offset:5\r\n# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n'
while True:
    a = cmd()
    if a[0].upper() == 'INFO':
        c.sendall(b'$%d\r\n%s\r\n' % (len(info), info))
    elif a[0].upper() == 'SYNC':
        break
    else:
        c.sendall(b'+OK\r\n')
mark = b'0123456789abcdef0123456789abcdef01234567'
if mode == 'cut':
    c.sendall(b'\n\n+FULLRESYNC ' + b'b' * 40 + b' 7\r\n$%d\r\n' % len(rdb) + rdb[:len(rdb) // 2])
elif mode == 'corrupt':
    bad = bytearray(rdb); bad[len(bad) // 2] ^= 0x20
    c.sendall(b'$%d\r\n' % len(bad) + bytes(bad))
elif mode == 'badmark':
    c.sendall(b'$EOF:' + mark + b'\r\n' + rdb + b'X' + mark[1:])
c.close(); srv.close()
PY

run_fake() { # run_fake MODE NAME EXPECTED-CODE MESSAGE-PATTERN
    port=$(free_port)
    python3 "$T/fake.py" "$1" "$T/good.rdb" "$port" &
    FAKE_PID=$!
    for _ in $(seq 1 50); do grep -q ":$(printf '%04X' "$port") " /proc/net/tcp && break; sleep 0.1; done
    dr_must_fail "$3" "$2: exit $3" drrepo snapshot --redis "redis://127.0.0.1:$port"
    dr_check "$2: names the server and the cause" grep -qE "redis server '127.0.0.1:$port'.*$4" "$T/err"
    wait "$FAKE_PID" 2>/dev/null
    FAKE_PID=
    unchanged "$2"
}
run_fake cut 'connection dropped mid-payload' 1 'connection closed after [0-9]+ of [0-9]+ bytes'
run_fake corrupt 'corrupted payload' 1 'checksum mismatch'
run_fake badmark 'diskless payload without its end mark' 1 'before its end mark'
dr_done
