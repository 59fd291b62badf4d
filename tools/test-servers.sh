#!/usr/bin/env bash
# test-servers.sh start|stop: the real servers the integration tests need, on 127.0.0.1 only,
# on unusual ports, each tagged so a test can check that the server answering is the one
# started here (other processes may hold the usual ports). Stops only what it started, by pid.
#
#   start: prints "export VAR=..." lines for DR_TEST_PG_DSN, DR_TEST_REDIS_URL, ... (eval them)
#   stop:  stops the servers started by a previous start (pids in $DR_TEST_SERVERS_DIR)
set -euo pipefail
dir=${DR_TEST_SERVERS_DIR:-/tmp/drrepo-test-servers}
pg_port=${DR_TEST_PG_PORT:-25432}
redis_port=${DR_TEST_REDIS_PORT:-26379}
tag=drrepo-test-$$

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_redis() {
    command -v redis-server >/dev/null || { echo "# redis-server not installed" >&2; return 0; }
    mkdir -p "$dir/redis"
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes \
        --pidfile "$dir/redis/redis.pid" --dir "$dir/redis" --logfile "$dir/redis/redis.log" \
        --save "" --appendonly no >/dev/null
    for _ in $(seq 1 50); do
        redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    # the tag proves later that the server on this port is ours
    redis-cli -p "$redis_port" config set enable-debug-command yes >/dev/null 2>&1 || true
    redis-cli -p "$redis_port" set __drrepo_test_tag "$tag" >/dev/null
    echo "$tag" > "$dir/redis/tag"
    echo "export DR_TEST_REDIS_URL=redis://127.0.0.1:$redis_port"
    echo "export DR_TEST_REDIS_TAG=$tag"
}

start_pg() {
    local bin
    bin=$(pg_bin)
    [ -n "$bin" ] || { echo "# postgresql not installed" >&2; return 0; }
    id postgres >/dev/null 2>&1 || { echo "# no postgres user" >&2; return 0; }
    mkdir -p "$dir/pg"
    chown postgres: "$dir/pg"
    # initdb refuses to run as root: the cluster belongs to the postgres user
    runuser -u postgres -- "$bin/initdb" -D "$dir/pg/data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
        -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $dir/pg -c cluster_name=$tag" \
        start >/dev/null
    echo "export DR_TEST_PG_DSN='host=127.0.0.1 port=$pg_port user=postgres dbname=postgres'"
    echo "export DR_TEST_PG_BIN=$bin"
    echo "export DR_TEST_PG_TAG=$tag"
}

case "${1:-}" in
start)
    mkdir -p "$dir"
    start_redis
    start_pg
    ;;
stop)
    if [ -f "$dir/redis/redis.pid" ]; then
        kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
    fi
    if [ -f "$dir/pg/data/postmaster.pid" ]; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$dir/pg/data" -m fast stop >/dev/null \
            2>&1 || kill "$(head -n 1 "$dir/pg/data/postmaster.pid")" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
