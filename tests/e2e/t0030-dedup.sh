#!/usr/bin/env bash
# Dedup: the same data under another name adds < 1%; a large file with 100 bytes inserted in the
# middle adds only a few chunks. Content-defined chunking has no absolute scale: with the chunker
# parameters and the pack size 1/16 of the defaults (32K/64K/512K, 1 MB packs instead of
# 512K/1M/8M, 16 MB), 12.5 MB and a 64 MB file prove what 200 MB and 1 GB prove with the
# defaults, and the thresholds are scaled the same way (< 1%; < 3 maximal chunks).
# Both content-defined chunkers pass the same checks: gear (the default) and toeplitz-aes
# (init --chunker toeplitz-aes), each in its own repository; an unknown chunker is refused.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_must_fail 2 "init --chunker with an unknown name" drrepo init --chunker rabin
dr_check "the refusal names the choices" grep -q "gear or toeplitz-aes" "$T/err"
case $REPO in
    s3:*) ;; # the S3 run (integration/s3-t0030-dedup) has no local path to look at
    *) dr_check "and creates nothing" test ! -e "$REPO" ;;
esac

base=$REPO
for chunker in gear toeplitz-aes; do
    REPO=$base-$chunker
    echo "# chunker $chunker"
    "$DRREPO" -r "$REPO" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 --chunk-min 32K \
        --chunk-avg 64K --chunk-max 512K --pack-size 1M --chunker "$chunker" >"$T/out" 2>"$T/err" \
        || dr_fail "init --chunker $chunker"
    mkdir -p "$T/a" "$T/b"
    "$TOOL" gen "$T/a/data.sql" 7680K 1 text
    "$TOOL" gen "$T/a/data.bin" 5M 2
    dr_expect_success "$chunker: first snapshot of 12.5 MB" drrepo snapshot "$T/a" --json
    dr_check "$chunker: the first snapshot stores the data ($(dr_json_field bytes_added) bytes)" \
        test "$(dr_json_field bytes_added)" -gt 1048576
    cp "$T/a/data.sql" "$T/b/renamed.sql"; cp "$T/a/data.bin" "$T/b/renamed.bin"
    dr_expect_success "$chunker: the same data under other names" drrepo snapshot "$T/b" --json
    added=$(dr_json_field bytes_added)
    echo "# added $added bytes for 12.5 MB of renamed data"
    dr_check "$chunker: adds less than 1% (128 KB)" test "$added" -lt 131072
    rm -rf "$T/a" "$T/b"

    mkdir -p "$T/big"
    "$TOOL" gen "$T/big/file" 64M 3
    dr_expect_success "$chunker: snapshot a 64 MB file" drrepo snapshot "$T/big" --json
    { head -c 33554432 "$T/big/file"; head -c 100 /dev/urandom; tail -c +33554433 "$T/big/file"; } > "$T/big/file.new"
    mv "$T/big/file.new" "$T/big/file"
    dr_expect_success "$chunker: snapshot it with 100 bytes inserted in the middle" drrepo snapshot "$T/big" --json
    added=$(dr_json_field bytes_added)
    echo "# added $added bytes after a 100-byte insertion into 64 MB"
    dr_check "$chunker: adds only a few chunks (< 1.5 MB of 64 MB: 3 maximal chunks)" test "$added" -lt 1572864
    dr_expect_success "$chunker: restore the edited file" drrepo restore latest --target "$T/rst"
    dr_check "$chunker: restored 64 MB file is identical" cmp -s "$T/big/file" "$T/rst$T/big/file"
    dr_expect_success "$chunker: check --read-data" drrepo check --read-data
    rm -rf "$T/big" "$T/rst"
done
dr_done
