# lib.sh: helpers for shell tests that run drrepo like a user (git's t/test-lib.sh, in small).
#
# Each test script sources this, gets its own scratch directory ($T) and a fresh environment
# (password, cache dir), and calls:
#   dr_expect_success NAME CMD...     run CMD, fail the test unless it exits 0
#   dr_must_fail CODE NAME CMD...     run CMD, fail unless it exits with exactly CODE
#   dr_cmp EXPECTED ACTUAL            files must be identical
#   dr_same_tree A B                  two trees are identical (content and metadata)
#   dr_same_meta A B FORMAT           their find -printf metadata and hard links are the same
#   dr_fail MSG                       fail now
#   dr_init [REPO]                    create a repository with a fast KDF
#   dr_mount_tmpfs SIZE               a tmpfs at $MNT for this test (skips unless root)
#   dr_snap_ids, dr_same_ids NAME     the snapshots of $R from snapshots/; checked against the CLI
#   dr_no_leak_check                  no LeakSanitizer pass at the exits of this test's runs
#   dr_need_server VAR...             skip (77), or fail in CI, unless the test servers' VARs are set
#   dr_running PID                    the process exists and has not exited (zombies have)
#   dr_done                           print the summary and exit (0 if all passed)
# stdout/stderr of the last command are in $T/out and $T/err.
set -u
DRREPO=${DRREPO_BIN:?DRREPO_BIN must point to the drrepo binary}
: "${DR_SRC:?DR_SRC must point to the source tree}"
TOOL=${DR_TEST_TOOL:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/drrepo-test.XXXXXX")
export DRREPO_PASSWORD=correct-horse
export DRREPO_CACHE_DIR="$T/cache"
unset DRREPO_REPOSITORY DRREPO_PASSWORD_FILE DRREPO_PASSWORD_COMMAND
REPO="$T/repo"
dr_passed=0
dr_failed=0
dr_keep=${DR_TEST_KEEP:-0}

dr_cleanup() {
    if [ "$dr_keep" = 1 ] || [ "$dr_failed" -gt 0 ]; then
        echo "# scratch directory kept: $T"
    else
        chmod -R u+w "$T" 2>/dev/null
        rm -rf "$T"
    fi
}
trap dr_cleanup EXIT

dr_ok() { dr_passed=$((dr_passed + 1)); echo "ok - $1"; }
dr_fail() {
    dr_failed=$((dr_failed + 1))
    echo "not ok - $1"
    if [ -s "$T/err" ]; then sed 's/^/#   stderr: /' "$T/err" | tail -n 20; fi
}

drrepo() { "$DRREPO" -r "$REPO" "$@"; }

# dr_need_server VAR...: the test servers' variables (tools/test-servers.sh) must be set; without
# them the test skips (77), or fails under DR_TEST_REQUIRE_SERVERS=1 (CI)
dr_need_server() {
    local v
    for v in "$@"; do
        [ -z "${!v:-}" ] || continue
        if [ "${DR_TEST_REQUIRE_SERVERS:-0}" = 1 ]; then
            echo "not ok - $v is not set and DR_TEST_REQUIRE_SERVERS=1"
            exit 1
        fi
        echo "# skip: $v not set"
        exit 77
    done
}

dr_expect_success() {
    local name=$1; shift
    if "$@" >"$T/out" 2>"$T/err"; then dr_ok "$name"; else dr_fail "$name (exit $?)"; fi
}

dr_must_fail() {
    local code=$1 name=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -eq "$code" ]; then dr_ok "$name"; else dr_fail "$name (exit $rc, expected $code)"; fi
}

dr_cmp() {
    if cmp -s "$1" "$2"; then return 0; fi
    echo "# files differ: $1 $2"
    return 1
}

# dr_check NAME CONDITION...: a named assertion on a shell condition
dr_check() {
    local name=$1; shift
    if "$@"; then dr_ok "$name"; else dr_fail "$name"; fi
}

# dr_same_tree A B: content, modes, mtimes, symlinks and hard-link structure are identical
dr_same_tree() {
    # diff reports two FIFOs as a difference; their type is compared with the metadata below
    local d
    d=$(diff -r --no-dereference "$1" "$2" 2>&1)
    [ -z "$d" ] || d=$(grep -v 'is a fifo while file .* is a fifo' <<<"$d")
    [ -z "$d" ] || { echo "# diff -r differs: $1 $2"; echo "$d" | head -n 5 | sed 's/^/#   /'; return 1; }
    # a directory's size is the file system's (it grows with the names it ever held, such as a
    # restore's temporary files, and never shrinks): not part of what is restored
    dr_same_meta "$1" "$2" '%P %y %m %T@ %s %l' '%P %y %m %T@'
}

# dr_same_meta A B FORMAT [DIRFORMAT]: the metadata of the names of A and B, as find -printf
# FORMAT (DIRFORMAT for directories) prints it, are the same set of lines, and the names that
# share an inode form groups of the same sizes (the hard-link structure). One find per tree and
# one awk (each process costs some 20 ms on a loaded VM, and restores are compared hundreds of
# times in the suite); the lines are compared as multisets, so that no sort is needed.
dr_same_meta() {
    local f="%n %i %y|$3\n" df="%n %i %y|${4:-$3}\n"
    awk '
        FNR == 1 { side++ }
        { p = index($0, "|"); m = substr($0, p + 1); split(substr($0, 1, p - 1), f, " ")
          c[m] += side == 1 ? 1 : -1
          if (f[3] == "f" && f[1] > 1) links[side SUBSEP f[2]]++ }
        END {
            for (k in links) { split(k, s, SUBSEP); g[links[k]] += s[1] == 1 ? 1 : -1 }
            for (m in c) if (c[m] != 0) {
                if (!bad) print "# metadata differs:"
                if (bad++ < 10) print "#   " (c[m] > 0 ? "< " : "> ") m
            }
            if (!bad) for (n in g) if (g[n] != 0) { print "# hard links differ"; bad = 1; break }
            exit bad != 0
        }' <(find "$1" \( -type d -printf "$df" \) -o -printf "$f") \
        <(find "$2" \( -type d -printf "$df" \) -o -printf "$f")
}

# The snapshots a repository holds are its objects snapshots/<id> (format/repository.md), so
# tests that list them many times (after kills) read the directory of $R instead of starting a
# drrepo process each. dr_same_ids NAME checks that list against what `drrepo snapshots` says
# (with a cache of its own, so that the test's cache stays as it was).
dr_snap_ids() { find "$R/snapshots" -type f ! -name '.drrepo-tmp-*' -printf '%f\n' 2>/dev/null | sort; }
dr_cli_ids() {
    DRREPO_CACHE_DIR="$T/ids-cache" "$DRREPO" -r "$R" snapshots --json 2>/dev/null |
        grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | sort
}
dr_same_ids() {
    dr_check "$1: the snapshots/ objects are what drrepo snapshots lists" \
        test "$(dr_snap_ids | tr '\n' ' ')" = "$(dr_cli_ids | tr '\n' ' ')"
    rm -rf "$T/ids-cache"
}

# dr_no_leak_check: turns off LeakSanitizer's pass at process exit for the rest of the test (a
# later detect_leaks in ASAN_OPTIONS overrides an earlier one). Only for fault tests that start
# hundreds of drrepo processes or kill them: see tests/README.md, "ASan and leak checks".
dr_no_leak_check() { export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"; }

# dr_running PID: true while PID exists and has not exited. A daemon (redis-server, a postmaster)
# is a child of init: once it has exited it stays a zombie until init reaps it, which `kill -0`
# counts as alive (a second or more under some container inits); a zombie holds no socket, file
# or memory. One read of /proc, no process.
dr_running() {
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ "${st:0:1}" != Z ]
}

dr_init() {
    "$DRREPO" -r "${1:-$REPO}" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 >"$T/out" 2>"$T/err" \
        || { dr_fail "init ${1:-$REPO}"; return 1; }
}

# dr_mkpgdata DIR SYSID: a fake PostgreSQL data directory (no server needed): global/pg_control
# whose system identifier is SYSID (u64 LE, then pg_control_version u32 LE 1300, padded to
# pg_control's 8192 bytes), and an empty pg_wal/archive_status
dr_mkpgdata() {
    local hex le="" i
    hex=$(printf '%016x' "$2")
    for i in 14 12 10 8 6 4 2 0; do le="$le\\x${hex:$i:2}"; done
    mkdir -p "$1/global" "$1/pg_wal/archive_status"
    { printf "$le\\x14\\x05\\x00\\x00"; head -c 8180 /dev/zero; } >"$1/global/pg_control"
}

# dr_mkwalseg PATH MARK SIZE: a fake WAL segment of SIZE bytes whose first 64 bytes are MARK
dr_mkwalseg() { { printf '%-64s' "$2"; head -c $(($3 - 64)) /dev/zero; } >"$1"; }

# dr_walseg N: the file name of segment N (below 2^32) of timeline 1
dr_walseg() { printf '0000000100000000%08X' "$1"; }

# dr_mkwal_ready PGDATA COUNT SIZE: segments 1 to COUNT of timeline 1 in PGDATA/pg_wal, of SIZE
# bytes, marked "segment N", each marked ready to archive as PostgreSQL does
dr_mkwal_ready() {
    local i
    for i in $(seq 1 "$2"); do
        dr_mkwalseg "$1/pg_wal/$(dr_walseg "$i")" "segment $i" "$3"
        : >"$1/pg_wal/archive_status/$(dr_walseg "$i").ready"
    done
}

# dr_spool_idle DIR: waits (30 s at most) until no worker of the WAL spool directory DIR runs
# (holds its lock)
dr_spool_idle() {
    local i
    for i in $(seq 300); do
        flock -n "$1/lock" true && return 0
        sleep 0.1
    done
    return 1
}

# JSON field of a flat object (numbers and strings), without jq
dr_json_field() {
    sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "${2:-$T/out}" | head -n 1
}

dr_done() {
    echo "# $dr_passed passed, $dr_failed failed"
    [ "$dr_failed" -eq 0 ]
    exit $?
}

# dr_mount_tmpfs SIZE: mounts a tmpfs of SIZE (e.g. 20m) at $MNT, unmounted when the test exits;
# skips the test (exit 77) when not root or when the mount is refused
dr_mount_tmpfs() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "# skipped: needs root to mount a tmpfs"
        exit 77
    fi
    MNT="$T/mnt"
    mkdir -p "$MNT"
    if ! mount -t tmpfs -o size="$1" tmpfs "$MNT" 2>"$T/err"; then
        echo "# skipped: cannot mount a tmpfs: $(cat "$T/err")"
        exit 77
    fi
    trap 'umount "$MNT" 2>/dev/null || umount -l "$MNT"; dr_cleanup' EXIT
}

# DR_TEST_E2E_S3=1: the repository is an S3 bucket on the test servers' Ceph RGW instead
# (tests/CMakeLists.txt runs the e2e tests that never look inside $REPO so as well)
if [ "${DR_TEST_E2E_S3:-0}" = 1 ]; then
    . "$DR_SRC/tests/integration/s3_lib.sh"
    s3_require
    REPO=$(s3_loc repo)
fi
