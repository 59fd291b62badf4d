#!/usr/bin/env bash
# Dedup: the same 200 MB under another name adds < 1%; a large file with 100 bytes inserted in
# the middle adds only a few chunks.
. "$DR_SRC/tests/e2e/lib.sh"

dr_init
mkdir -p "$T/a" "$T/b"
"$TOOL" gen "$T/a/data.sql" 120M 1 text
"$TOOL" gen "$T/a/data.bin" 80M 2
dr_expect_success "first snapshot of 200 MB" drrepo snapshot "$T/a" --json
cp "$T/a/data.sql" "$T/b/renamed.sql"; cp "$T/a/data.bin" "$T/b/renamed.bin"
dr_expect_success "the same data under other names" drrepo snapshot "$T/b" --json
added=$(dr_json_field bytes_added)
echo "# added $added bytes for 200 MB of renamed data"
dr_check "adds less than 1% (2 MB)" test "$added" -lt 2097152
rm -rf "$T/a" "$T/b"

mkdir -p "$T/big"
"$TOOL" gen "$T/big/file" 1G 3
dr_expect_success "snapshot a 1 GB file" drrepo snapshot "$T/big" --json
{ head -c 536870912 "$T/big/file"; head -c 100 /dev/urandom; tail -c +536870913 "$T/big/file"; } > "$T/big/file.new"
mv "$T/big/file.new" "$T/big/file"
dr_expect_success "snapshot it with 100 bytes inserted in the middle" drrepo snapshot "$T/big" --json
added=$(dr_json_field bytes_added)
echo "# added $added bytes after a 100-byte insertion into 1 GB"
dr_check "adds only a few chunks (< 24 MB of 1 GB)" test "$added" -lt 25165824
dr_expect_success "restore the edited file" drrepo restore latest --target "$T/rst"
dr_check "restored 1 GB file is identical" cmp -s "$T/big/file" "$T/rst$T/big/file"
dr_done
