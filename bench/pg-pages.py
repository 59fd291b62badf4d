#!/usr/bin/env python3
"""pg-pages.py: what changed between two copies of a PostgreSQL data directory, page by page.

    bench/pg-pages.py OLD_DIR NEW_DIR [BLOCK ...]

Compares the relation files of both directories (the paths that format/chunker.md "Page-aligned
relation files" names; the same rule as src/source/pg_rel.c) in 8 KiB pages. A page of NEW that
differs from OLD's page at the same offset, or that OLD does not have, is changed. Prints
key=value lines:

    rel_bytes            bytes of relation files in NEW
    pages_changed        8 KiB pages changed
    changed_zstd         zstd -3 size of the changed pages, each file's changed pages
                         compressed together in file order (what a page-level store keeps)
    block<B>_changed     B-byte aligned blocks that hold at least one changed page
    block<B>_zstd        their zstd -3 size, each block compressed alone (what drrepo stores
                         per block before encryption overhead)
    block<B>_per_gib     index entries (blocks) per GiB of relation files

BLOCK defaults to 16384 32768 65536 131072 262144. Uses python3-zstandard if installed, the
zstd command otherwise."""
import os
import re
import subprocess
import sys

PAGE = 8192
# base/<db>/<rel>, global/<rel>, pg_tblspc/<ts>/<version dir>/<db>/<rel>; <rel> is a
# relfilenode with an optional _fsm or _vm fork and an optional .<segment>
REL = re.compile(r'^(global|base/[0-9]+|pg_tblspc/[0-9]+/[^/]+/[0-9]+)/[0-9]+(_fsm|_vm)?(\.[0-9]+)?$')


try:
    import zstandard  # Debian: python3-zstandard; the zstd command otherwise (slower)
    _ZC = zstandard.ZstdCompressor(level=3)
except ImportError:
    _ZC = None


def zstd_size(data):
    if not data:
        return 0
    if _ZC:
        return len(_ZC.compress(data))
    out = subprocess.run(['zstd', '-3', '-q', '-c'], input=data, stdout=subprocess.PIPE, check=True)
    return len(out.stdout)


def relation_files(root):
    for dirpath, _, files in os.walk(root, followlinks=True):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            if REL.match(rel):
                yield rel


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    old, new = sys.argv[1], sys.argv[2]
    blocks = [int(b) for b in sys.argv[3:]] or [16384, 32768, 65536, 131072, 262144]
    rel_bytes = 0
    pages = 0
    changed_z = 0
    bchanged = {b: 0 for b in blocks}
    bz = {b: 0 for b in blocks}
    for rel in sorted(relation_files(new)):
        with open(os.path.join(new, rel), 'rb') as f:
            nd = f.read()
        rel_bytes += len(nd)
        try:
            with open(os.path.join(old, rel), 'rb') as f:
                od = f.read()
        except FileNotFoundError:
            od = b''
        if nd == od:
            continue
        changed = []
        for off in range(0, len(nd), PAGE):
            if nd[off:off + PAGE] != od[off:off + PAGE]:
                changed.append(off)
        pages += len(changed)
        changed_z += zstd_size(b''.join(nd[o:o + PAGE] for o in changed))
        for b in blocks:
            seen = sorted({o // b for o in changed})
            bchanged[b] += len(seen)
            # each block alone, as the store compresses each blob
            for i in seen:
                bz[b] += zstd_size(nd[i * b:(i + 1) * b])
    print(f'rel_bytes={rel_bytes}')
    print(f'pages_changed={pages}')
    print(f'changed_zstd={changed_z}')
    for b in blocks:
        print(f'block{b}_changed={bchanged[b]}')
        print(f'block{b}_zstd={bz[b]}')
        print(f'block{b}_per_gib={(1 << 30) // b}')


if __name__ == '__main__':
    main()
