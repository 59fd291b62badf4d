#!/usr/bin/env bash
# bench/s3.sh: drrepo vs restic with the repository on S3 (a one-node Ceph RGW on 127.0.0.1 that
# this script starts with tools/test-servers.sh and stops again), on the data of bench/run.sh.
#
#   bench/s3.sh [-s SCALE] [-n REPS] [-t "TOOLS"] [-w WORKDIR] [-o OUTDIR] [-d DRREPO] [--ext4-restore]
#
#   -s SCALE   data size multiplier (1 = ~1 GB)                              default 0.3
#   -n REPS    repetitions of the whole sequence, each into new buckets      default 1
#   -t TOOLS   subset of "drrepo restic"                                     default both
#   -w DIR     scratch dir for data, caches, restores and the Ceph cluster   default /tmp/drrepo-s3bench
#   -o DIR     results dir                                                   default bench/out
#   -d PATH    drrepo binary (a Release build)                default build-bench/drrepo
#   --ext4-restore  restore into a new ext4 file system (bench/ext4-scratch.sh; needs root)
#
# Steps per tool: snapshot of day 1, of day 2 (bench/gen-data.c's changes), an unchanged
# re-snapshot, a full restore (compared byte for byte), check --read-data. For each: wall time,
# CPU, peak RSS, and the requests the gateway served by method (from its access log), and the
# bytes stored in the bucket. RGW keeps objects in memory (memstore): SCALE 1 needs ~6 GiB.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCALE=0.3 REPS=1 TOOLS="drrepo restic" WORK=/tmp/drrepo-s3bench OUT=$HERE/out DRREPO="" EXT4=0
while [ $# -gt 0 ]; do
    case $1 in
        -s) SCALE=$2; shift 2 ;;
        -n) REPS=$2; shift 2 ;;
        -t) TOOLS=$2; shift 2 ;;
        -w) WORK=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        -d) DRREPO=$2; shift 2 ;;
        --ext4-restore) EXT4=1; shift ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "s3.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
die() { echo "s3.sh: FATAL: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
DRREPO=${DRREPO:-$ROOT/build-bench/drrepo}
[ -x "$DRREPO" ] || die "no drrepo binary at $DRREPO (build Release: see bench/README.md, or -d)"
for t in $TOOLS; do
    case $t in
        drrepo) ;;
        restic) command -v restic >/dev/null || die "restic not installed (apt-get install restic)" ;;
        *) die "unknown tool '$t'" ;;
    esac
done
command -v radosgw >/dev/null || die "radosgw not installed (bash tools/deps.sh --test)"
[ -x /usr/bin/time ] || die "/usr/bin/time not installed (apt-get install time)"

mkdir -p "$OUT" "$WORK"
WORK=$(cd "$WORK" && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$OUT/s3-raw-$STAMP.tsv
LOGDIR=$OUT/s3-logs-$STAMP
mkdir -p "$LOGDIR"
SRC=$WORK/data/current

# ---- the gateway: ports of its own, so a test run's servers are not disturbed ----
export DR_TEST_SERVERS_DIR=$WORK/servers DR_TEST_RGW_PORT=${BENCH_RGW_PORT:-27580}
export DR_TEST_CEPH_MON_PORT=${BENCH_MON_PORT:-26889}
export DR_TEST_MEMSTORE_BYTES=$(awk -v s="$SCALE" -v n="$REPS" -v t="$(echo $TOOLS | wc -w)" \
    'BEGIN {printf "%d", (1 + 2.5 * s * n * t) * 1073741824}')
bash "$ROOT/tools/test-servers.sh" stop 2>/dev/null || true
. "$HERE/ext4-scratch.sh"
trap 'ext4_scratch_umount; bash "$ROOT/tools/test-servers.sh" stop' EXIT
eval "$(bash "$ROOT/tools/test-servers.sh" start rgw)"
[ -n "${DR_TEST_S3_ENDPOINT:-}" ] || die "the gateway did not start"
if [ "$EXT4" = 1 ]; then
    ext4_scratch_mount "$WORK/restore-ext4.img" "$WORK/restore" \
        "$(awk -v s="$SCALE" 'BEGIN {printf "%d", s * 2 + 1}')" || die "cannot make the ext4 scratch"
fi
RGWLOG=$DR_TEST_SERVERS_DIR/ceph/log/client.rgw.log
export AWS_ACCESS_KEY_ID=$DR_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$DR_TEST_S3_SECRET_KEY
export AWS_REGION=$DR_TEST_S3_REGION AWS_DEFAULT_REGION=$DR_TEST_S3_REGION
export DRREPO_PASSWORD=bench-password RESTIC_PASSWORD=bench-password

{
    echo "date	$(date -Is)"
    echo "scale	$SCALE"
    echo "nproc	$(nproc)"
    echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "drrepo	$("$DRREPO" version 2>&1 | head -1) ($DRREPO)"
    echo "tree_head	$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo -)"
    command -v restic >/dev/null && echo "restic	$(restic version | head -1)"
    echo "rgw	$(radosgw --version | head -1)"
} > "$OUT/s3-machine-$STAMP.tsv"
cat "$OUT/s3-machine-$STAMP.tsv" >&2

GEN=$WORK/gen-data
cc -O2 -o "$GEN" "$HERE/gen-data.c" -lm || die "cannot compile bench/gen-data.c"
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}'; }

cmd_for() { # TOOL OP LOCATION CACHE [EXTRA]: sets CMD
    local tool=$1 op=$2 loc=$3 cache=$4 extra=${5:-}
    case $tool in
        drrepo)
            local d=("$DRREPO" -r "$loc" --cache-dir "$cache")
            case $op in
                init) CMD=("${d[@]}" init) ;;
                snap) CMD=("${d[@]}" snapshot --json "$SRC") ;;
                restore) CMD=("${d[@]}" restore latest --target "$extra") ;;
                check) CMD=("${d[@]}" check --read-data) ;;
            esac ;;
        restic)
            local r=(restic -r "$loc" --cache-dir "$cache")
            case $op in
                init) CMD=("${r[@]}" init) ;;
                snap) CMD=("${r[@]}" backup "$SRC") ;;
                restore) CMD=("${r[@]}" restore latest --target "$extra") ;;
                check) CMD=("${r[@]}" check --read-data) ;;
            esac ;;
    esac
}

# requests in the gateway's access log from byte offset $1 on, by method, for bucket $2
requests() {
    tail -c +"$(($1 + 1))" "$RGWLOG" | grep -F "beast: " | grep -F " /$2" |
        awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^"(GET|PUT|HEAD|DELETE|POST)$/) { m = substr($i, 2); n[m]++ } }
             END { printf "%d\t%d\t%d\t%d\t%d", n["PUT"], n["GET"], n["HEAD"], n["DELETE"], n["POST"] }'
}
bucket_bytes() {
    radosgw-admin -c "$DR_TEST_CEPH_CONF" bucket stats --bucket "$1" 2>/dev/null |
        awk -F'[:,]' '/"size_actual"/ { s += $2 } END { printf "%d", s }'
}

printf 'tool\trep\tstep\twall_s\tuser_s\tsys_s\tmaxrss_kb\tinput_bytes\tbucket_bytes\tput\tget\thead\tdelete\tpost\n' > "$RAW"
measure() { # TOOL REP STEP INPUT BUCKET (uses CMD)
    local tool=$1 rep=$2 step=$3 input=$4 bucket=$5 base=$LOGDIR/$1-$2-$3 off rc=0
    sleep 1 # the access log is written asynchronously: let the last step's lines land
    sync    # the last step's dirty pages are written back untimed (bench/run.sh's settle)
    off=$(stat -c %s "$RGWLOG")
    /usr/bin/time -f '%e %U %S %M' -o "$base.time" "${CMD[@]}" </dev/null >"$base.out" 2>"$base.err" || rc=$?
    [ "$rc" = 0 ] || { tail -n 20 "$base.err" >&2; die "$tool $step failed (exit $rc): ${CMD[*]}"; }
    sleep 1
    local wall user sys rss reqs
    read -r wall user sys rss < <(tail -n 1 "$base.time")
    reqs=$(requests "$off" "$bucket")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$rep" "$step" "$wall" "$user" "$sys" \
        "$rss" "$input" "$(bucket_bytes "$bucket")" "$reqs" >> "$RAW"
    log "$(printf '%-7s rep %s %-15s %7.2fs  rss %5d MiB  PUT/GET/HEAD/DEL %s' "$tool" "$rep" "$step" \
        "$wall" $((rss / 1024)) "$(echo "$reqs" | cut -f1-4 | tr '\t' /)")"
}

for ((rep = 1; rep <= REPS; rep++)); do
    rm -rf "$WORK/data"
    mkdir -p "$WORK/data"
    "$GEN" day1 "$SRC" "$SCALE" 1
    DAY1=$(tree_bytes "$SRC")
    log "rep $rep: day 1 is $DAY1 bytes"
    for tool in $TOOLS; do
        bucket=bench-$tool-$rep-$STAMP
        bucket=$(echo "$bucket" | tr 'A-Z_' 'a-z-')
        loc=s3:$DR_TEST_S3_ENDPOINT/$bucket/repo cache=$WORK/cache/$tool-$rep
        rm -rf "$cache"
        mkdir -p "$cache"
        cmd_for "$tool" init "$loc" "$cache"
        "${CMD[@]}" >/dev/null 2>"$LOGDIR/$tool-$rep-init.err" || die "$tool init failed"
        cmd_for "$tool" snap "$loc" "$cache"
        measure "$tool" "$rep" snap-day1 "$DAY1" "$bucket"
    done
    "$GEN" day2 "$SRC" "$SCALE" 1
    DAY2=$(tree_bytes "$SRC")
    sleep 2 # leave the racy window of the files caches
    for tool in $TOOLS; do
        bucket=$(echo "bench-$tool-$rep-$STAMP" | tr 'A-Z_' 'a-z-')
        loc=s3:$DR_TEST_S3_ENDPOINT/$bucket/repo cache=$WORK/cache/$tool-$rep
        cmd_for "$tool" snap "$loc" "$cache"
        measure "$tool" "$rep" snap-day2 "$DAY2" "$bucket"
        measure "$tool" "$rep" snap-unchanged "$DAY2" "$bucket"
        target=$WORK/restore/$tool-$rep
        rm -rf "$target"
        cmd_for "$tool" restore "$loc" "$cache" "$target"
        measure "$tool" "$rep" restore "$DAY2" "$bucket"
        diff -r "$SRC" "$target$SRC" >/dev/null || die "$tool: the restore differs from the data"
        rm -rf "$target"
        sync # the restored data is written back now, not during the check that follows
        cmd_for "$tool" check "$loc" "$cache"
        measure "$tool" "$rep" check-read-data "$DAY2" "$bucket"
    done
done

# ---- report: medians per tool and step, and ratios against restic ----
awk -F'\t' 'NR > 1 { k = $1 FS $3; n[k]++; w[k, n[k]] = $4; r[k] = $7; in_[k] = $8; b[k] = $9;
        put[k] += $10; get[k] += $11; reps[k] = n[k]; steps[$3] = 1; tools[$1] = 1 }
    function med(k,   i, j, t, m, a) { m = n[k]; for (i = 1; i <= m; i++) a[i] = w[k, i];
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
    END {
        printf "%-15s %-7s %8s %9s %8s %10s %10s %8s\n", "step", "tool", "wall_s", "MB/s", "rss_MiB", "PUT/GiB", "GET/GiB", "vs_restic"
        split("snap-day1 snap-day2 snap-unchanged restore check-read-data", order, " ")
        for (s = 1; s <= 5; s++) { st = order[s]
            for (t in tools) { k = t FS st; if (!(k in n)) continue
                m = med(k); gib = in_[k] / 1073741824
                rk = "restic" FS st; ratio = (rk in n && m > 0) ? sprintf("%.2fx", med(rk) / m) : "-"
                printf "%-15s %-7s %8.2f %9.1f %8d %10.0f %10.0f %8s\n", st, t, m, in_[k] / 1048576 / m,
                    r[k] / 1024, put[k] / reps[k] / gib, get[k] / reps[k] / gib, ratio } }
        for (t in tools) { k = t FS "check-read-data"; if (k in b) printf "bucket bytes %-7s %d\n", t, b[k] } }' \
    "$RAW" | tee "$OUT/s3-report-$STAMP.txt"
log "raw: $RAW"
ext4_scratch_umount
rm -rf "$WORK/data" "$WORK/cache" "$WORK/restore" "$GEN"
