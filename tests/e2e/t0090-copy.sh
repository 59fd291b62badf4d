#!/usr/bin/env bash
# t0090-copy: `drrepo copy` from one local repository into another with its own password (and
# so its own keys and blob ids): every snapshot restores byte-identical from the target (file
# trees with symlinks, an empty file, a FIFO and hard links; a stream; record-encoded RDB files
# on two days), the copy names its original in meta copied_from, a second copy stores nothing
# and says so (text and --json), copies by id, --tag, --host, --path and latest, drill results
# come along, `check --read-data` passes on the target, a copy back into a third repository
# restores identical, a copy killed before its snapshot object leaves a target that checks
# clean and a re-run completes, and the target's password is read like the source's
# (--to-password-file, --to-password-command, DRREPO_TO_PASSWORD*) with clean failures.
. "$(dirname "$0")/lib.sh" || exit 1

TGT="$T/target"
THIRD="$T/third"
echo "other-secret" >"$T/tpw"
dr_init
DRREPO_PASSWORD=other-secret dr_init "$TGT"
DRREPO_PASSWORD=third-secret dr_init "$THIRD"
copy() { "$DRREPO" -r "$REPO" copy --to "$TGT" --to-password-file "$T/tpw" "$@"; }
tgt() { DRREPO_PASSWORD=other-secret "$DRREPO" -r "$TGT" "$@"; }

# day 1: a file tree and a stream
mkdir -p "$T/src/sub/deeper"
"$TOOL" gen "$T/src/a.bin" 3000000 1 >/dev/null
"$TOOL" gen "$T/src/sub/b.txt" 400000 2 text >/dev/null
"$TOOL" gen "$T/src/sub/deeper/c.bin" 70000 3 >/dev/null
ln -s a.bin "$T/src/link"
ln "$T/src/sub/b.txt" "$T/src/sub/hard.txt"
: >"$T/src/empty"
mkfifo "$T/src/fifo"
dr_expect_success 'snapshot day 1' drrepo snapshot --tag day1 --host filehost "$T/src"
"$TOOL" gen "$T/stream.bin" 1500000 4 >/dev/null
dr_expect_success 'stream snapshot' sh -c "\"$DRREPO\" -r \"$REPO\" snapshot --host streamhost --stdin --stdin-name db.dump <\"$T/stream.bin\""
# day 2: a changed tree
cp -a "$T/src" "$T/src1"
"$TOOL" gen "$T/src/sub/new.bin" 500000 5 >/dev/null
echo appended >>"$T/src/sub/b.txt"
dr_expect_success 'snapshot day 2' drrepo snapshot --tag day2 --host filehost "$T/src"
dr_expect_success 'drill of day 2' drrepo drill --latest --host filehost --tmpdir "$T"
drrepo snapshots --json >"$T/src-snaps.json"
day1=$(grep -o '"id":"[0-9a-f]*"' "$T/src-snaps.json" | sed -n 1p | cut -d'"' -f4)
day2=$(grep -o '"id":"[0-9a-f]*"' "$T/src-snaps.json" | sed -n 3p | cut -d'"' -f4)

# command-line errors and the target's password
dr_must_fail 2 'copy without --to' drrepo copy
dr_check 'it names --to' grep -q -- '--to REPO' "$T/err"
dr_must_fail 10 'copy into a directory that is no repository' drrepo copy --to "$T/none" \
    --to-password-file "$T/tpw"
dr_must_fail 12 'copy with a wrong target password' \
    env DRREPO_TO_PASSWORD=wrong "$DRREPO" -r "$REPO" copy --to "$TGT"
dr_must_fail 2 'copy with no target password and no terminal' \
    setsid "$DRREPO" -r "$REPO" copy --to "$TGT"
dr_check 'it names the target password options' \
    grep -q 'no target password given.*DRREPO_TO_PASSWORD, --to-password-file' "$T/err"
dr_must_fail 1 'a target password command that fails' \
    "$DRREPO" -r "$REPO" copy --to "$TGT" --to-password-command false
dr_check 'it says the target password command failed' \
    grep -q "target password command 'false' exited with status 1" "$T/err"
dr_must_fail 2 'copy into the source itself' \
    env DRREPO_TO_PASSWORD=correct-horse "$DRREPO" -r "$REPO" copy --to "$REPO"
dr_must_fail 1 'copy of an unknown snapshot' copy 0123abcd
dr_check 'nothing was copied' test -z "$(ls "$TGT/snapshots")"

# copy by id prefix, with the password from a command
dr_expect_success 'copy day 1 by id' \
    "$DRREPO" -r "$REPO" copy "${day1:0:8}" --to "$TGT" --to-password-command "cat $T/tpw"
dr_check 'one line for it' grep -q "^copied snapshot ${day1:0:8} to [0-9a-f]\{8\}: [0-9]* blobs, .* added$" "$T/out"
dr_check 'the target has one snapshot' test "$(ls "$TGT/snapshots" | wc -l)" -eq 1

# everything else by selection: --host, then all, with the password from the environment
dr_expect_success 'copy --host streamhost' \
    env DRREPO_TO_PASSWORD_FILE="$T/tpw" "$DRREPO" -r "$REPO" copy --host streamhost --to "$TGT"
dr_check 'one snapshot copied' test "$(grep -c '^copied snapshot' "$T/out")" -eq 1
dr_expect_success 'copy all (--json)' copy --json
cp "$T/out" "$T/copy1.json"
dr_check 'json: three results' test "$(grep -o '"source_id"' "$T/copy1.json" | wc -l)" -eq 3
dr_check 'json: day 2 copied, with its drill result' \
    grep -q "\"source_id\":\"$day2\",\"target_id\":\"[0-9a-f]*\",\"skipped\":false,.*\"drills_copied\":1" "$T/copy1.json"
dr_check 'json: the first two were already copied' \
    test "$(grep -o '"skipped":true' "$T/copy1.json" | wc -l)" -eq 2
dr_check 'the target has three snapshots' test "$(ls "$TGT/snapshots" | wc -l)" -eq 3

# a second copy stores nothing
before=$(find "$TGT" -type f | sort | md5sum)
dr_expect_success 'second copy' copy --json
dr_check 'json: all skipped' test "$(grep -o '"skipped":true' "$T/out" | wc -l)" -eq 3
dr_check 'json: no bytes added' sh -c "! grep -q '\"bytes_added\":[1-9]' '$T/out'"
dr_check 'json: no drill copied again' sh -c "! grep -q '\"drills_copied\":[1-9]' '$T/out'"
dr_check 'the target is unchanged' test "$(find "$TGT" -type f | sort | md5sum)" = "$before"
dr_expect_success 'second copy, text' copy
dr_check 'it says already copied' \
    test "$(grep -c '^snapshot [0-9a-f]\{8\} already copied as [0-9a-f]\{8\}$' "$T/out")" -eq 3

# what the target holds
dr_expect_success 'target snapshots --json' tgt snapshots --json
cp "$T/out" "$T/tgt-snaps.json"
for id in $(grep -o '"id":"[0-9a-f]\{64\}"' "$T/src-snaps.json" | cut -d'"' -f4); do
    grep -q "\"copied_from\":\"$id\"" "$T/tgt-snaps.json" || dr_fail "no copy names $id"
done
dr_ok 'each copy names its original in copied_from'
dr_check 'host, tags and paths are kept' \
    grep -q "\"host\":\"filehost\",.*\"paths\":\[\"$T/src\"\],\"tags\":\[\"day2\"\]" "$T/tgt-snaps.json"
dr_check 'the drill result is shown on the copy' grep -q '"drills":\[{"time"' "$T/tgt-snaps.json"
dr_expect_success 'check --read-data on the target' tgt check --read-data
dr_expect_success 'restore day 1 from the target' tgt restore latest --tag day1 --target "$T/r1"
dr_check 'day 1 restores identical' dr_same_tree "$T/src1" "$T/r1$T/src"
dr_expect_success 'restore day 2 from the target' tgt restore latest --tag day2 --target "$T/r2"
dr_check 'day 2 restores identical' dr_same_tree "$T/src" "$T/r2$T/src"
dr_expect_success 'dump the stream from the target' \
    sh -c "DRREPO_PASSWORD=other-secret '$DRREPO' -r '$TGT' dump latest --host streamhost db.dump > '$T/stream.out'"
dr_check 'the stream is identical' cmp -s "$T/stream.bin" "$T/stream.out"

# record-encoded RDB files (format/rdb.md): the second day reuses the first day's record blobs
python3 - "$T/d0.rdb" "$T/d1.rdb" <<'PY'
import struct, sys
def s(b):
    return (bytes([len(b)]) if len(b) < 64 else struct.pack('>H', 0x4000 | len(b))) + b
for day, path in enumerate(sys.argv[1:]):
    out = [b"REDIS0011", b"\xfa" + s(b"redis-ver") + s(b"7.0.15"), b"\xfe\x00"]
    for i in range(3000):
        gen = day if i % 25 == 0 else 0
        v = ('{"user":%d,"gen":%d,"pad":"%s"}' % (i, gen, 'abcdefgh' * (1 + i % 7))).encode()
        out.append(b'\x00' + s(b'user:%d' % i) + s(v))
    out.append(b'\xff' + b'\0' * 8)
    open(path, 'wb').write(b''.join(out))
PY
for d in 0 1; do
    dr_expect_success "rdb snapshot day $d" \
        sh -c "'$DRREPO' -r '$REPO' -v snapshot --tag rdb --stdin --stdin-name dump.rdb < '$T/d$d.rdb'"
done
dr_check 'the RDB file is record-encoded' grep -q 'unchanged from the parent' "$T/err"
dr_expect_success 'copy --tag rdb' copy --tag rdb
dr_check 'two copied' test "$(grep -c '^copied snapshot' "$T/out")" -eq 2
dr_expect_success 'copy latest (already copied)' copy latest
dr_check 'latest was copied by --tag' grep -q 'already copied' "$T/out"
for d in 0 1; do
    snap=$(tgt snapshots --json | grep -o '"id":"[0-9a-f]*"' | sed -n "$((4 + d))p" | cut -d'"' -f4)
    dr_expect_success "dump rdb day $d from the target" \
        sh -c "DRREPO_PASSWORD=other-secret '$DRREPO' -r '$TGT' dump '$snap' dump.rdb > '$T/rdb.out'"
    dr_check "rdb day $d is identical" cmp -s "$T/d$d.rdb" "$T/rdb.out"
done

# a copy killed just before its snapshot object: the target checks clean, a re-run completes
"$TOOL" gen "$T/src/killed.bin" 800000 6 >/dev/null
dr_expect_success 'snapshot day 3' drrepo snapshot --tag day3 --host filehost "$T/src"
dr_must_fail 99 'copy killed before the snapshot object' \
    env DR_FAULT=writer.before_snapshot_put:exit "$DRREPO" -r "$REPO" copy latest --to "$TGT" \
    --to-password-file "$T/tpw"
dr_expect_success 'unlock the target' tgt unlock
dr_expect_success 'the target checks clean after the kill' tgt check
dr_expect_success 'the copy again' copy --path "$T/src" latest
dr_check 'now it is copied' grep -q '^copied snapshot' "$T/out"
dr_expect_success 'restore day 3 from the target' tgt restore latest --tag day3 --target "$T/r3"
dr_check 'day 3 restores identical' dr_same_tree "$T/src" "$T/r3$T/src"

# and back: from the target into a third repository
dr_expect_success 'copy the target into a third repository' \
    env DRREPO_PASSWORD=other-secret DRREPO_TO_PASSWORD=third-secret \
    "$DRREPO" -r "$TGT" copy --to "$THIRD" --json
dr_check 'all six copied' test "$(grep -o '"skipped":false' "$T/out" | wc -l)" -eq 6
dr_expect_success 'check --read-data on the third' \
    env DRREPO_PASSWORD=third-secret "$DRREPO" -r "$THIRD" check --read-data
dr_expect_success 'restore day 2 from the third' \
    env DRREPO_PASSWORD=third-secret "$DRREPO" -r "$THIRD" restore latest --tag day2 --target "$T/r4"
dr_check 'day 2 restores identical from the third' dr_same_tree "$T/r2$T/src" "$T/r4$T/src"
env DRREPO_PASSWORD=third-secret "$DRREPO" -r "$THIRD" snapshots --json >"$T/third.json"
tgt_day2=$(grep -o '"id":"[0-9a-f]\{64\}"' "$T/tgt-snaps.json" | sed -n 3p | cut -d'"' -f4)
dr_check 'the third names the target copy in copied_from' \
    grep -q "\"copied_from\":\"$tgt_day2\"" "$T/third.json"
dr_check 'one copied_from per snapshot' \
    test "$(grep -o '"copied_from"' "$T/third.json" | wc -l)" -eq 6
dr_done
