#!/usr/bin/env bash
# --exclude, --exclude-file, several paths, and paths given twice.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
mkdir -p "$T/src/keep" "$T/src/cache" "$T/other"
echo a > "$T/src/keep/a.txt"; echo b > "$T/src/keep/b.log"; echo c > "$T/src/cache/c.txt"
echo o > "$T/other/o.txt"
printf '# comment\n*.log\n\n' > "$T/excl"
dr_expect_success "snapshot with excludes" drrepo snapshot "$T/src" "$T/other" "$T/src/keep" --exclude "$T/src/cache" --exclude-file "$T/excl"
drrepo ls latest > "$T/ls"
dr_check "the excluded directory is left out" sh -c "! grep -q cache '$T/ls'"
dr_check "the excluded pattern is left out" sh -c "! grep -q 'b.log' '$T/ls'"
dr_check "both paths are in the snapshot" sh -c "grep -qx '$T/src/keep/a.txt' '$T/ls' && grep -qx '$T/other/o.txt' '$T/ls'"
dr_check "a path inside another is stored once" test "$(grep -c 'a.txt' "$T/ls")" -eq 1
if [ "$(id -u)" = 0 ] && mkdir -p "$T/src/mnt" && mount -t tmpfs -o size=1m tmpfs "$T/src/mnt" 2>/dev/null; then
    echo inner > "$T/src/mnt/inner.txt"
    dr_expect_success "snapshot --one-file-system" drrepo snapshot --one-file-system "$T/src"
    drrepo ls latest > "$T/ls"
    umount "$T/src/mnt"
    dr_check "the mount point is kept, its content is not" sh -c "grep -qx '$T/src/mnt' '$T/ls' && ! grep -q inner.txt '$T/ls'"
fi
dr_done
