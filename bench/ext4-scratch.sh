# bench/ext4-scratch.sh: a new ext4 file system for the restores of a bench (run.sh and s3.sh,
# option --ext4-restore). Sourced.
#
# Why: restores create ~20,000 files, and each bench run deletes one restore before the next.
# On an ext4 without a journal (as on the bench machine's root file system) the kernel then
# skips recently freed inodes one by one at every create, which costs ~0.5 ms of system time
# per file: the restore measures that scan, for every tool alike, more than the tool
# (docs/PERFORMANCE.md). A file system with mkfs.ext4's defaults (journal on) and no history
# does not have it, and is what a restore usually writes to.

# ext4_scratch_mount IMG DIR GIB: makes an image of GIB GiB, written with zeros and formatted
# with every inode table initialised (so no restore pays for the image's blocks, for the
# conversion of unwritten extents at writeback, or for ext4's lazy initialisation running
# behind it), and loop-mounts it at DIR. Needs root. The caller's exit trap calls
# ext4_scratch_umount.
ext4_scratch_mount() {
    local img=$1 dir=$2 gib=$3
    [ "$(id -u)" = 0 ] || { echo "--ext4-restore needs root (mkfs.ext4, mount -o loop)" >&2; return 1; }
    rm -f "$img"
    mkdir -p "$dir"
    dd if=/dev/zero of="$img" bs=1M count=$((gib * 1024)) conv=fsync status=none || return 1
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img" || return 1
    mount -o loop "$img" "$dir" || return 1
    EXT4_SCRATCH_IMG=$img EXT4_SCRATCH_DIR=$dir
}

# ext4_scratch_umount: unmounts and removes what ext4_scratch_mount made (nothing if it made
# nothing).
ext4_scratch_umount() {
    [ -n "${EXT4_SCRATCH_DIR:-}" ] || return 0
    umount "$EXT4_SCRATCH_DIR" 2>/dev/null || true
    rm -f "$EXT4_SCRATCH_IMG"
    EXT4_SCRATCH_DIR= EXT4_SCRATCH_IMG=
}
