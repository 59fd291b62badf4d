#!/usr/bin/env python3
"""pack-padding.py: the space that pack padding (format/pack.md "Padding") costs in a local
repository.

    bench/pack-padding.py REPO_DIR

A version 2 pack holds P zero bytes just before its sealed header; the last record ends with a
random 16-byte tag, so the run of zero bytes before the header is the padding (one byte more
once in 256 packs, when the tag ends in a zero byte). Needs no key. Prints key=value lines:

    packs            version 2 packs (data and tree; version 1 packs are not padded, skipped)
    bytes            their total size
    padding          their total padding
    padding_pct      padding as a percentage of the unpadded size
    worst_pct        the largest padding of one pack, as a percentage of its unpadded size
"""
import os
import struct
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    total = pad = n = 0
    worst = 0.0
    for kind in ("data", "tree"):
        for root, _, files in os.walk(os.path.join(sys.argv[1], kind)):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    b = fh.read()
                if b[:8] != b"DRREPPAK" or struct.unpack("<I", b[8:12])[0] != 2:
                    continue
                hdr_start = len(b) - 12 - struct.unpack("<I", b[-12:-8])[0]
                j = hdr_start
                while j > 16 and b[j - 1] == 0:
                    j -= 1
                p = hdr_start - j
                total += len(b)
                pad += p
                n += 1
                worst = max(worst, 100.0 * p / (len(b) - p))
    print("packs=%d" % n)
    print("bytes=%d" % total)
    print("padding=%d" % pad)
    print("padding_pct=%.2f" % (100.0 * pad / (total - pad) if total > pad else 0.0))
    print("worst_pct=%.2f" % worst)


if __name__ == "__main__":
    main()
