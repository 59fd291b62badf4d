#!/usr/bin/env bash
# test-servers.sh start|stop: the real servers the integration tests need, on 127.0.0.1 only,
# on unusual ports, each tagged so a test can check that the server answering is the one
# started here (other processes may hold the usual ports). Stops only what it started, by pid.
#
#   start [redis pg rgw]: starts those (default: all) and prints "export VAR=..." lines for
#          DR_TEST_PG_DSN, DR_TEST_REDIS_URL, DR_TEST_S3_ENDPOINT, ... (eval them)
#   stop:  stops the servers started by a previous start (pids in $DR_TEST_SERVERS_DIR)
#
# The S3 gateway (radosgw of a one-node Ceph, port DR_TEST_RGW_PORT, its monitor on
# DR_TEST_CEPH_MON_PORT) comes with:
#   DR_TEST_S3_ENDPOINT    http://127.0.0.1:PORT, path-style requests (http://.../bucket/key)
#   DR_TEST_S3_ACCESS_KEY  a user's keys, new at every start: a request signed with them is
#   DR_TEST_S3_SECRET_KEY  answered only by this gateway (AWS Signature V4)
#   DR_TEST_S3_REGION      the region for the signature's scope, "default"
#   DR_TEST_CEPH_CONF      the cluster's ceph.conf, for radosgw-admin -c
#   DR_TEST_RGW_TAG        the user's display name (radosgw-admin user info --uid drrepo-test)
set -euo pipefail
dir=${DR_TEST_SERVERS_DIR:-/tmp/drrepo-test-servers}
pg_port=${DR_TEST_PG_PORT:-25432}
redis_port=${DR_TEST_REDIS_PORT:-26379}
mon_port=${DR_TEST_CEPH_MON_PORT:-26789}
rgw_port=${DR_TEST_RGW_PORT:-27480}
tag=drrepo-test-$$

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port something already listens on: another server (perhaps one started here with another
# DR_TEST_SERVERS_DIR) would answer the tests, and redis would get our tag written into it.
refuse_taken() {
    if port_taken "$2"; then
        echo "# $1: 127.0.0.1:$2 is taken by another process; stop it, or choose another port" \
            "(DR_TEST_$3_PORT)" >&2
        return 1
    fi
}

start_redis() {
    command -v redis-server >/dev/null || { echo "# redis-server not installed" >&2; return 0; }
    refuse_taken redis "$redis_port" REDIS || return 1
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
    refuse_taken postgresql "$pg_port" PG || return 1
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

# A throw-away one-node Ceph (one monitor, one OSD keeping its objects in memory, no manager:
# nothing here needs one) with its S3 gateway, all under $dir/ceph (nothing in /etc/ceph or
# /var/lib/ceph). Measured on 2 cores: the Ceph part of start takes 4.5 to 6 s (the monitor
# to the user's creation; radosgw creating its six pools is most of it); the three daemons hold
# about 110 MB RSS idle (mon 31, osd 42, radosgw 35 MB) plus what the tests store, since
# memstore keeps every object in the OSD's memory (70 MB stored: osd 189, radosgw 53 MB), in a
# device of DR_TEST_MEMSTORE_BYTES (default 2 GiB; bench/s3.sh asks for more).
ceph_daemons=(client.rgw osd.0 mon.a)   # stop order: the OSD tells the monitor it goes down

rgw_answers() {
    # any HTTP answer from the gateway; bash's /dev/tcp, so curl is not needed
    (exec 3<>"/dev/tcp/127.0.0.1/$rgw_port" || exit 1
     printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
     read -r -t 5 line <&3 && [[ $line == HTTP/1.?\ * ]]) 2>/dev/null
}

# ceph_started NAME: records the pid of the daemon NAME just started in $dir/ceph/pids. Its
# pid file does not do: radosgw removes it when it gives up, and takes seconds more to exit.
ceph_started() {
    local i
    for i in $(seq 1 100); do
        if [ -s "$dir/ceph/run/$1.pid" ]; then
            echo "$1 $(cat "$dir/ceph/run/$1.pid")" >> "$dir/ceph/pids"
            return 0
        fi
        sleep 0.1
    done
    echo "# ceph: $1 wrote no pid file" >&2
    return 1
}

# ceph_pid NAME: the pid of our daemon NAME if it still runs (the process with the recorded
# pid reads our ceph.conf: a pid reused by another process is not ours)
ceph_pid() {
    local pid cmd
    pid=$(awk -v n="$1" '$1 == n { print $2 }' "$dir/ceph/pids" 2>/dev/null) || return 1
    cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ -n $pid && $cmd == *"-c $dir/ceph/ceph.conf"* ]] && echo "$pid"
}

start_rgw() {
    local c=$dir/ceph b fsid osd_uuid ak sk i n t
    for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph; do
        command -v "$b" >/dev/null || { echo "# ceph ($b) not installed" >&2; return 0; }
    done
    for i in "$mon_port" "$rgw_port"; do
        # else an HTTP server there would pass for our gateway
        if port_taken "$i"; then echo "# ceph: 127.0.0.1:$i is taken" >&2; return 1; fi
    done
    mkdir -p "$c/mon.a" "$c/osd.0" "$c/client.rgw" "$c/run" "$c/log" "$c/crash"
    fsid=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
    osd_uuid=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
    # auth none: no keyrings to make; the random S3 keys below are what proves the gateway ours
    cat > "$c/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$mon_port
public_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $c/run
pid_file = $c/run/\$name.pid
log_file = $c/log/\$name.log
mon_cluster_log_file = $c/log/cluster.log
crash_dir = $c/crash
keyring = /dev/null
# one copy of everything, few placement groups, no manager to scale them
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_warn_on_msgr2_not_enabled = false
# a full /tmp must not stop the monitor (its store is small)
mon_data_avail_warn = 2
mon_data_avail_crit = 1
[mon]
mon_data = $c/\$name
# each map change (the OSD's boot, each of radosgw's six pools) waited 1 s for company
paxos_propose_interval = 0.05
[osd]
osd_data = $c/\$name
osd_objectstore = memstore
memstore_device_bytes = ${DR_TEST_MEMSTORE_BYTES:-2147483648}
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
osd_crush_update_on_start = false
osd_class_update_on_start = false
[client.rgw]
rgw_data = $c/\$name
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
# virtual-host style requests name the bucket in the host: BUCKET.localhost, which curl
# resolves to 127.0.0.1 by itself (RFC 6761), no DNS needed
rgw_dns_name = localhost
rgw_thread_pool_size = 32
rgw_dynamic_resharding = false
# deleted objects' tails go back to memory within a minute, not two hours
rgw_gc_obj_min_wait = 60
rgw_gc_processor_period = 60
EOF
    monmaptool --create --fsid "$fsid" --add a "v1:127.0.0.1:$mon_port" "$c/monmap" >/dev/null
    # the daemons stay root (no --setuser): they only touch $c
    ceph-mon -c "$c/ceph.conf" -i a --mkfs --monmap "$c/monmap"
    ceph-mon -c "$c/ceph.conf" -i a
    ceph_started mon.a
    # a monitor that has just started may answer "EPERM: problem getting command descriptions"
    # until it has formed its quorum of one (seen on a loaded machine): ask again, bounded
    for i in $(seq 1 20); do
        ceph -c "$c/ceph.conf" --connect-timeout 30 osd new "$osd_uuid" 0 >/dev/null \
            2>>"$c/log/start.log" && break
        [ "$i" -lt 20 ] || { echo "# ceph: osd new failed; log tail:" >&2; tail -n 5 "$c/log/start.log" >&2; return 1; }
        sleep 0.5
    done
    # placed here, not by the OSD at its start: its own request could leave before it knew the
    # cluster's fsid ("wrong fsid"), and it then exited
    ceph -c "$c/ceph.conf" osd crush add osd.0 1 host=localhost root=default 2>>"$c/log/start.log"
    # (the OSD's chatter on stderr goes to a log: stdout and stderr are the caller's eval)
    ceph-osd -c "$c/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 2>>"$c/log/start.log"
    ceph-osd -c "$c/ceph.conf" -i 0 2>>"$c/log/start.log"
    ceph_started osd.0
    radosgw -c "$c/ceph.conf" -n client.rgw
    ceph_started client.rgw
    # radosgw creates its pools before it listens: wait for it, bounded
    t=$SECONDS
    until rgw_answers; do
        n=$(for b in "${ceph_daemons[@]}"; do ceph_pid "$b" >/dev/null || echo "$b"; done)
        if [ -n "$n" ] || [ $((SECONDS - t)) -ge 60 ]; then
            echo "# ceph: radosgw does not answer on 127.0.0.1:$rgw_port after" \
                "$((SECONDS - t)) s (not running: ${n:-none}); log tails:" >&2
            for b in "$c"/log/*.log; do echo "## $b" >&2; tail -n 15 "$b" >&2; done
            return 1
        fi
        sleep 0.1
    done
    # new keys at every start: a request they sign is answered only by this gateway
    ak=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
    sk=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
    radosgw-admin -c "$c/ceph.conf" user create --uid drrepo-test --display-name "$tag" \
        --access-key "$ak" --secret-key "$sk" >/dev/null
    echo "$tag" > "$c/tag"
    echo "export DR_TEST_S3_ENDPOINT=http://127.0.0.1:$rgw_port"
    echo "export DR_TEST_S3_ACCESS_KEY=$ak"
    echo "export DR_TEST_S3_SECRET_KEY=$sk"
    # radosgw ignores the region of the signature's scope; a bucket's LocationConstraint, when
    # sent, must be the zonegroup's name, "default"
    echo "export DR_TEST_S3_REGION=default"
    echo "export DR_TEST_CEPH_CONF=$c/ceph.conf"
    echo "export DR_TEST_RGW_TAG=$tag"
}

stop_rgw() {
    local b pid i
    for b in "${ceph_daemons[@]}"; do
        pid=$(ceph_pid "$b") || continue
        kill "$pid" 2>/dev/null || continue
        for i in $(seq 1 150); do
            ceph_pid "$b" >/dev/null || break
            [ "$i" = 150 ] && kill -9 "$pid" 2>/dev/null
            sleep 0.1
        done
    done
}

case "${1:-}" in
start)
    # "start rgw" starts only the named servers (bench/s3.sh needs only the gateway)
    mkdir -p "$dir"
    want=${*:2}
    want=${want:-redis pg rgw}
    for s in $want; do
        case $s in
        redis) start_redis ;;
        pg) start_pg ;;
        rgw) start_rgw ;;
        *) echo "test-servers.sh: unknown server '$s' (redis, pg, rgw)" >&2; exit 2 ;;
        esac
    done
    ;;
stop)
    stop_rgw
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
