#!/usr/bin/env bash
# bench/run.sh: drrepo vs restic vs borg on the same generated data. See bench/README.md.
#
#   bench/run.sh [-s SCALE] [-n REPS] [-t "TOOLS"] [-w WORKDIR] [-o OUTDIR] [-d DRREPO] [-R DIR] [-k]
#
#   -s SCALE   data size multiplier (1 = ~1 GB; env BENCH_SCALE)              default 1
#   -n REPS    repetitions of every timed step (env BENCH_REPS)              default 3
#   -t TOOLS   subset of "drrepo restic borg-lz4 borg-zstd" (env BENCH_TOOLS) default all
#   -w DIR     scratch dir for data, repos, caches (env BENCH_WORK)
#              default ${TMPDIR:-/tmp}/drrepo-bench (needs ~ (2 + 2*tools) x data size free)
#   -o DIR     results dir (env BENCH_OUT)                                  default bench/out
#   -d PATH    drrepo binary (env DRREPO)   default build-bench/drrepo, else build/drrepo
#   -R DIR     where restores are written (env BENCH_RESTORE_DIR), e.g. a tmpfs such as
#              /dev/shm/drrepo-bench to take the disk out    default WORKDIR/restore
#   --ext4-restore  write restores to a new ext4 file system (mkfs.ext4 defaults, journal on)
#              in an image file under WORKDIR, loop-mounted at the restore dir (needs root;
#              bench/ext4-scratch.sh says why)
#   -k         keep the scratch dir afterwards
#   --drop-caches  drop the page cache before every timed step (needs root; default off:
#                  all data is read from the page cache, i.e. CPU-bound measurements)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCALE=${BENCH_SCALE:-1}
REPS=${BENCH_REPS:-3}
TOOLS=${BENCH_TOOLS:-drrepo restic borg-lz4 borg-zstd}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/drrepo-bench}
OUT=${BENCH_OUT:-$HERE/out}
SEED=${BENCH_SEED:-1}
KEEP=0
DROP=0
EXT4=0
DRREPO=${DRREPO:-}
RESTORE_DIR=${BENCH_RESTORE_DIR:-}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
        -s) SCALE=$2; shift 2 ;;
        -n) REPS=$2; shift 2 ;;
        -t) TOOLS=$2; shift 2 ;;
        -w) WORK=$2; shift 2 ;;
        -o) OUT=$2; shift 2 ;;
        -d) DRREPO=$2; shift 2 ;;
        -R) RESTORE_DIR=$2; shift 2 ;;
        -k) KEEP=1; shift ;;
        --drop-caches) DROP=1; shift ;;
        --ext4-restore) EXT4=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

die() { echo "run.sh: FATAL: $*" >&2; exit 1; }
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- prerequisites ----
if [ -z "$DRREPO" ]; then
    for c in "$ROOT/build-bench/drrepo" "$ROOT/build/drrepo"; do
        [ -x "$c" ] && { DRREPO=$c; break; }
    done
fi
missing=()
[ -n "$DRREPO" ] && [ -x "$DRREPO" ] || missing+=("drrepo binary (build it: see bench/README.md, or pass -d)")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (apt-get install time)")
command -v cc >/dev/null || missing+=("cc (apt-get install gcc)")
command -v awk >/dev/null || missing+=("awk")
for t in $TOOLS; do
    case $t in
        drrepo) ;;
        restic) command -v restic >/dev/null || missing+=("restic (apt-get install restic)") ;;
        borg-lz4|borg-zstd) command -v borg >/dev/null || missing+=("borg (apt-get install borgbackup)") ;;
        *) die "unknown tool '$t' (known: drrepo restic borg-lz4 borg-zstd)" ;;
    esac
done
if [ ${#missing[@]} -gt 0 ]; then
    printf 'run.sh: missing prerequisites:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi
case $REPS in ''|*[!0-9]*|0) die "bad -n $REPS" ;; esac
DRREPO=$(cd "$(dirname "$DRREPO")" && pwd)/$(basename "$DRREPO")

mkdir -p "$OUT" "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$OUT/raw-$STAMP.tsv
LOGDIR=$OUT/logs-$STAMP
mkdir -p "$LOGDIR"
SRC=$WORK/data/current        # the one path every tool backs up (day 1, then day 2 in place)
STDIN_FILE=$WORK/stdin-db.sql # a separate 200 MB (scaled) dump for the stdin step

export DRREPO_PASSWORD=bench-password RESTIC_PASSWORD=bench-password BORG_PASSPHRASE=bench-password
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_DISPLAY_PASSPHRASE=no BORG_CHECK_I_KNOW_WHAT_I_AM_DOING=YES
unset RESTIC_REPOSITORY BORG_REPO DRREPO_REPOSITORY 2>/dev/null || true

# ---- machine + versions ----
{
    echo "date	$(date -Is)"
    echo "scale	$SCALE"
    echo "reps	$REPS"
    echo "nproc	$(nproc)"
    echo "cpu	$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "mem_total	$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel	$(uname -r)"
    echo "loadavg_start	$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "drrepo	$("$DRREPO" version 2>&1 | head -1) ($DRREPO, $(stat -c %y "$DRREPO" | cut -d. -f1))"
    echo "tree_head	$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo -) (the binary may be built from elsewhere)"
    command -v restic >/dev/null && echo "restic	$(restic version | head -1)"
    command -v borg >/dev/null && echo "borg	$(borg --version)"
    echo "fs	$(df -T "$WORK" | awk 'NR==2 {print $2}')"
} > "$OUT/machine-$STAMP.tsv"
cat "$OUT/machine-$STAMP.tsv" >&2

# ---- data ----
GEN=$WORK/gen-data
cc -O2 -o "$GEN" "$HERE/gen-data.c" -lm || die "cannot compile bench/gen-data.c"
RESTORE_DIR=${RESTORE_DIR:-$WORK/restore}
rm -rf "$WORK/data" "$WORK/repos" "$WORK/cache" "$RESTORE_DIR"
mkdir -p "$WORK/data" "$WORK/repos" "$WORK/cache" "$RESTORE_DIR"
. "$HERE/ext4-scratch.sh"
if [ "$EXT4" = 1 ]; then
    trap ext4_scratch_umount EXIT
    # room for one restore at a time (the bench removes each after checking it)
    ext4_scratch_mount "$WORK/restore-ext4.img" "$RESTORE_DIR" \
        "$(awk -v s="$SCALE" 'BEGIN {printf "%d", s * 4 + 1}')" || die "cannot make the ext4 scratch"
fi
echo "restore_fs	$(df -T "$RESTORE_DIR" | awk 'NR==2 {print $2}')$([ "$EXT4" = 1 ] && echo ' (new, loop-mounted)')" \
    >> "$OUT/machine-$STAMP.tsv"
log "generating day-1 data (scale $SCALE) in $SRC"
"$GEN" day1 "$SRC" "$SCALE" "$SEED"
stdin_size=$(awk -v s="$SCALE" 'BEGIN {printf "%d", 200 * 1048576 * s}')
"$GEN" stream "$stdin_size" $((SEED + 7)) > "$STDIN_FILE"

tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}'; }
file_count() { find "$1" -type f | wc -l; }
DAY1_BYTES=$(tree_bytes "$SRC")
DAY1_FILES=$(file_count "$SRC")
log "day 1: $DAY1_FILES files, $DAY1_BYTES bytes"
sleep 2   # leave the racy window of every tool's files cache

# ---- tool wrappers: tool_<op> TOOL REPO CACHE [ARGS] ----
borg_env() { # TOOL-REP cache dir
    export BORG_BASE_DIR=$1/base BORG_CACHE_DIR=$1/cache BORG_CONFIG_DIR=$1/config \
        BORG_SECURITY_DIR=$1/security BORG_KEYS_DIR=$1/keys
}
borg_comp() { case $1 in borg-zstd) echo "zstd,3" ;; *) echo "lz4" ;; esac; }

cmd_for() { # TOOL OP REPO CACHE [EXTRA]: print nothing, set CMD array
    local tool=$1 op=$2 repo=$3 cache=$4 extra=${5:-}
    case $tool in
        drrepo)
            local d=("$DRREPO" -r "$repo" --cache-dir "$cache")
            case $op in
                init) CMD=("${d[@]}" init) ;;
                snap) CMD=("${d[@]}" snapshot --json "$SRC") ;;
                stdin) CMD=("${d[@]}" snapshot --json --stdin --stdin-name db.sql) ;;
                restore) CMD=("${d[@]}" restore latest --target "$extra") ;;
                dump) CMD=("${d[@]}" dump latest "$SRC/$extra") ;;
                check) CMD=("${d[@]}" check --read-data) ;;
                stats) CMD=("${d[@]}" stats --json) ;;
            esac ;;
        restic)
            local r=(restic -r "$repo" --cache-dir "$cache")
            case $op in
                init) CMD=("${r[@]}" init) ;;
                snap) CMD=("${r[@]}" backup "$SRC") ;;
                stdin) CMD=("${r[@]}" backup --stdin --stdin-filename db.sql) ;;
                restore) CMD=("${r[@]}" restore latest --target "$extra") ;;
                dump) CMD=("${r[@]}" dump latest "$SRC/$extra") ;;
                check) CMD=("${r[@]}" check --read-data) ;;
                stats) CMD=("${r[@]}" stats --mode raw-data) ;;
            esac ;;
        borg-lz4|borg-zstd)
            borg_env "$cache"
            local comp; comp=$(borg_comp "$tool")
            case $op in
                init) CMD=(borg init -e repokey-blake2 "$repo") ;;
                snap) CMD=(borg create --compression "$comp" "$repo::$extra" "$SRC") ;;
                stdin) CMD=(borg create --compression "$comp" --stdin-name db.sql "$repo::stdin" -) ;;
                restore) CMD=(env -C "$extra" borg extract "$repo::day2") ;;
                dump) CMD=(borg extract --stdout "$repo::day2" "${SRC#/}/$extra") ;;
                check) CMD=(borg check --verify-data "$repo") ;;
                stats) CMD=(borg info "$repo") ;;
            esac ;;
    esac
}

# Before every timed step, untimed: the dirty pages of what ran before (the generated data, the
# other tool's repository) are written back now, not by the kernel during the step that follows,
# where the writeback's CPU and I/O would be charged to whichever tool runs next (on 2 cores,
# 0.5-1 s of an initial snapshot). Each tool still pays for the writeback it forces itself.
settle() {
    sync
    [ "$DROP" = 1 ] || return 0
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || die "--drop-caches needs root"
}

printf 'tool\trep\tstep\twall_s\tuser_s\tsys_s\tmaxrss_kb\tinput_bytes\trepo_bytes\tload1\n' > "$RAW"

# measure TOOL REP STEP INPUT_BYTES REPO STDIN_FILE -- (uses CMD): time, check rc, record
measure() {
    local tool=$1 rep=$2 step=$3 input=$4 repo=$5 in=$6
    local base=$LOGDIR/$tool-$rep-$step tf
    tf=$base.time
    settle
    local load; load=$(cut -d' ' -f1 /proc/loadavg)
    local rc=0
    if [ "${step%%-*}" = dump ]; then
        /usr/bin/time -f '%e %U %S %M' -o "$tf" "${CMD[@]}" < "$in" > /dev/null 2> "$base.err" || rc=$?
        : > "$base.out"
    else
        /usr/bin/time -f '%e %U %S %M' -o "$tf" "${CMD[@]}" < "$in" > "$base.out" 2> "$base.err" || rc=$?
    fi
    if [ "$rc" != 0 ]; then
        echo "run.sh: FAILED ($tool rep $rep step $step, exit $rc): ${CMD[*]}" >&2
        tail -n 20 "$base.err" >&2
        echo "$tool	$rep	$step	FAIL	rc=$rc" >> "$OUT/failures-$STAMP.tsv"
        return 1
    fi
    local wall user sys rss
    read -r wall user sys rss < <(tail -n 1 "$tf")
    local size; size=$(du -sb "$repo" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$rep" "$step" "$wall" "$user" "$sys" \
        "$rss" "$input" "$size" "$load" >> "$RAW"
    log "$(printf '%-9s rep %s %-10s %7.2fs  cpu %7.2fs  rss %5d MiB  repo %6d MiB' "$tool" "$rep" \
        "$step" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" $((rss / 1024)) \
        $((size / 1048576)))"
}

FAILED=0
# rotate the tool order every repetition so no tool always runs first (or after a neighbour)
tools_for_rep() {
    local rep=$1 arr=($TOOLS) n i out=()
    n=${#arr[@]}
    for ((i = 0; i < n; i++)); do out+=("${arr[$(((i + rep - 1) % n))]}"); done
    echo "${out[@]}"
}

# ---- phase A: day 1 ----
for ((rep = 1; rep <= REPS; rep++)); do
    for tool in $(tools_for_rep "$rep"); do
        repo=$WORK/repos/$tool-$rep cache=$WORK/cache/$tool-$rep
        mkdir -p "$cache"
        cmd_for "$tool" init "$repo" "$cache"
        measure "$tool" "$rep" init 0 "$repo" /dev/null || { FAILED=1; continue; }
        cmd_for "$tool" snap "$repo" "$cache" day1
        measure "$tool" "$rep" snap-day1 "$DAY1_BYTES" "$repo" /dev/null || FAILED=1
        cmd_for "$tool" snap "$repo" "$cache" day1b
        measure "$tool" "$rep" snap-unchanged "$DAY1_BYTES" "$repo" /dev/null || FAILED=1
    done
done

# ---- day 2 (in place) ----
log "applying day-2 changes"
"$GEN" day2 "$SRC" "$SCALE" "$SEED"
DAY2_BYTES=$(tree_bytes "$SRC")
DAY2_FILES=$(file_count "$SRC")
DUMP_BYTES=$(stat -c %s "$SRC/dumps/db1.sql")
BIN_BYTES=$(stat -c %s "$SRC/bin/random.bin")
log "day 2: $DAY2_FILES files, $DAY2_BYTES bytes"
( cd "$SRC" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) > "$WORK/day2.sha256"
sleep 2

verify_restore() { # TOOL DIR: compare the restored tree with the source
    local tool=$1 dir=$2 got=$2$SRC
    if [ ! -d "$got" ]; then
        echo "run.sh: VERIFY FAILED ($tool): restored tree not found at $got" >&2
        return 1
    fi
    if ! ( cd "$got" && sha256sum --quiet -c "$WORK/day2.sha256" ) >&2; then
        echo "run.sh: VERIFY FAILED ($tool): restored files differ from the source" >&2
        return 1
    fi
    local n; n=$(file_count "$got")
    if [ "$n" != "$DAY2_FILES" ]; then
        echo "run.sh: VERIFY FAILED ($tool): restored $n files, source has $DAY2_FILES" >&2
        return 1
    fi
    echo "$tool	restore verified: $n files, sha256 identical" >> "$LOGDIR/verify.txt"
}

# ---- phase B: day 2, restore, dump, check, stdin ----
for ((rep = 1; rep <= REPS; rep++)); do
    for tool in $(tools_for_rep "$rep"); do
        repo=$WORK/repos/$tool-$rep cache=$WORK/cache/$tool-$rep
        [ -d "$repo" ] || continue
        cmd_for "$tool" snap "$repo" "$cache" day2
        measure "$tool" "$rep" snap-day2 "$DAY2_BYTES" "$repo" /dev/null || { FAILED=1; continue; }
        tgt=$RESTORE_DIR/$tool-$rep
        rm -rf "$tgt"; mkdir -p "$tgt"
        cmd_for "$tool" restore "$repo" "$cache" "$tgt"
        if measure "$tool" "$rep" restore "$DAY2_BYTES" "$repo" /dev/null; then
            verify_restore "$tool" "$tgt" || { FAILED=1; echo "$tool	$rep	restore	VERIFY" >> "$OUT/failures-$STAMP.tsv"; }
        else
            FAILED=1
        fi
        rm -rf "$tgt"
        # the restored data is written back now, not during the steps that follow
        sync
        cmd_for "$tool" dump "$repo" "$cache" dumps/db1.sql
        measure "$tool" "$rep" dump "$DUMP_BYTES" "$repo" /dev/null || FAILED=1
        cmd_for "$tool" dump "$repo" "$cache" bin/random.bin
        measure "$tool" "$rep" dump-bin "$BIN_BYTES" "$repo" /dev/null || FAILED=1
        rsize=$(du -sb "$repo" | cut -f1)
        cmd_for "$tool" check "$repo" "$cache"
        measure "$tool" "$rep" check "$rsize" "$repo" /dev/null || FAILED=1
        cmd_for "$tool" stats "$repo" "$cache"
        "${CMD[@]}" > "$LOGDIR/$tool-$rep-stats.txt" 2>&1 || true
        if [ "$tool" = drrepo ]; then
            # plaintext bytes that check --read-data verified: lets report.sh compare check with dump
            ub=$(grep -o '"unique_bytes":[0-9]*' "$LOGDIR/$tool-$rep-stats.txt" | cut -d: -f2 || true)
            [ -n "$ub" ] && printf '%s\t%s\tstats-unique\t0\t0\t0\t0\t%s\t%s\t-\n' "$tool" "$rep" "$ub" "$rsize" >> "$RAW"
        fi
        # cold cache: the local cache removed (new machine / lost cache), snapshot day 2 again
        rm -rf "$cache"; mkdir -p "$cache"
        cmd_for "$tool" snap "$repo" "$cache" day2cold
        measure "$tool" "$rep" snap-cold "$DAY2_BYTES" "$repo" /dev/null || FAILED=1
        # stdin: a fresh repository, so the dump is not deduplicated against earlier data
        srepo=$WORK/repos/$tool-$rep-stdin scache=$WORK/cache/$tool-$rep-stdin
        mkdir -p "$scache"
        cmd_for "$tool" init "$srepo" "$scache"
        "${CMD[@]}" > /dev/null 2>&1 || { echo "run.sh: init failed for $tool stdin repo" >&2; FAILED=1; continue; }
        cmd_for "$tool" stdin "$srepo" "$scache"
        measure "$tool" "$rep" stdin "$stdin_size" "$srepo" "$STDIN_FILE" || FAILED=1
        [ "$KEEP" = 1 ] || rm -rf "$repo" "$srepo" "$cache" "$scache"
    done
done

echo "loadavg_end	$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine-$STAMP.tsv"
{
    echo "day1_files	$DAY1_FILES"
    echo "day1_bytes	$DAY1_BYTES"
    echo "day2_files	$DAY2_FILES"
    echo "day2_bytes	$DAY2_BYTES"
    echo "dump_bytes	$DUMP_BYTES"
    echo "bin_bytes	$BIN_BYTES"
    echo "stdin_bytes	$stdin_size"
} >> "$OUT/machine-$STAMP.tsv"

"$HERE/report.sh" "$RAW" | tee "$OUT/summary-$STAMP.md"
ln -sf "$(basename "$RAW")" "$OUT/raw-latest.tsv"
ln -sf "summary-$STAMP.md" "$OUT/summary-latest.md"
ln -sf "summary-$STAMP.json" "$OUT/summary-latest.json"
"$HERE/report.sh" --json "$RAW" > "$OUT/summary-$STAMP.json"

ext4_scratch_umount
[ "$KEEP" = 1 ] || rm -rf "$WORK/data" "$WORK/repos" "$WORK/cache" "$RESTORE_DIR" "$GEN" \
    "$STDIN_FILE" "$WORK/day2.sha256"
log "raw results: $RAW; summary: $OUT/summary-$STAMP.md (.json); logs: $LOGDIR"
if [ "$FAILED" != 0 ]; then
    echo "run.sh: SOME STEPS FAILED, see $OUT/failures-$STAMP.tsv and $LOGDIR" >&2
    exit 1
fi
