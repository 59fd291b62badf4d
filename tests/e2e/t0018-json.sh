#!/usr/bin/env bash
# --json (docs/JSON.md): every command's output parses (jq), with the field names documented;
# a snapshot's id is "id" and "short_id" everywhere; names that are not valid UTF-8 keep their
# exact bytes in "<key>_bytes" (base64); a quote and a newline in a name, and a quote in the
# repository's path, are escaped; ls and diff print one object per line; an error with --json
# is a JSON object on the last line of stderr with the exit code.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

# dr_jq NAME [JQ-ARGS...] FILTER: the file $J (default $T/out) parses, and FILTER is true of
# it (jq -e); dr_jqs reads the lines of a JSON-lines output as one array (jq -s)
jq_true() { jq -e "$@" >/dev/null; }
dr_jq() { local n=$1; shift; dr_check "$n" jq_true "$@" "${J:-$T/out}"; }
dr_jqs() { local n=$1; shift; dr_check "$n" jq_true -s "$@" "${J:-$T/out}"; }
# the last line of stderr, which carries the JSON error
last_err() { tail -n 1 "$T/err" >"$T/err.json"; }
# documented SECTION [FILE]: every field of the output is in docs/JSON.md's SECTION (jsondoc.py)
documented() {
    dr_check "$1: every field is documented in docs/JSON.md" \
        python3 "$DR_SRC/tests/e2e/jsondoc.py" "$DR_SRC/docs/JSON.md" "$1" "${2:-$T/out}"
}

REPO="$T/re\"po"
dr_expect_success "init --json, a quote in the repository's path" \
    "$DRREPO" -r "$REPO" --json init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1
dr_jq "init: repository and id" --arg r "$REPO" '.repository == $r and (.id | length) == 64'
documented init

src="$T/src"
mkdir -p "$src/sub"
bad=$(printf 'bad\377\376')
printf 'x' >"$src/$bad"
echo q >"$src/q\"uote"
echo n >"$src/new
line"
echo one >"$src/sub/f"
dr_expect_success "snapshot --json" drrepo snapshot --json --tag 't"ag' "$src"
dr_jq "snapshot: id, short_id, and snapshot_id as alias" \
    '(.id | length) == 64 and .short_id == .id[0:8] and .snapshot_id == .id and .tags == ["t\"ag"]'
documented snapshot
s1=$(jq -r .id "$T/out")
echo two >>"$src/sub/f"
rm "$src/q\"uote"
echo added >"$src/added"
dr_expect_success "second snapshot" drrepo snapshot --json "$src"
s2=$(jq -r .id "$T/out")
dr_jq "its parent is the first" --arg p "$s1" '.parent == $p'

dr_expect_success "ls --json" drrepo ls --json latest
documented ls
dr_check "ls --json: one object per line, each parses" \
    test "$(jq -c . "$T/out" | wc -l)" -eq "$(wc -l <"$T/out")"
dr_check "ls --json: the first line is the snapshot" \
    test "$(head -n 1 "$T/out" | jq -r '.message_type + " " + .id + " " + .short_id')" = \
    "snapshot $s2 ${s2:0:8}"
dr_jqs "ls --json: the nodes have the documented fields" \
    '[.[] | select(.message_type == "node")] | length > 0 and all(has("path") and has("name")
     and has("type") and has("size") and has("mode") and has("mtime") and has("uid")
     and has("gid") and has("user") and has("group"))'
dr_jqs "ls --json: a newline in a name is escaped" \
    'any(.[]; .name == "new\nline" and .type == "file")'
dr_jqs "ls --json: the sizes and types are the files'" \
    'any(.[]; .name == "f" and .size == 8 and .type == "file") and any(.[]; .name == "sub" and .type == "dir")'
dr_jqs "ls --json: a valid UTF-8 name has no name_bytes" 'all(.[]; .name != "added" or (has("name_bytes") | not))'
jq -r 'select(.name_bytes) | .name_bytes' "$T/out" | base64 -d >"$T/name.bin"
printf '%s' "$bad" >"$T/want.bin"
dr_check "ls --json: name_bytes holds the exact bytes of a name that is not UTF-8" \
    dr_cmp "$T/want.bin" "$T/name.bin"
jq -r 'select(.path_bytes) | .path_bytes' "$T/out" | base64 -d >"$T/path.bin"
printf '%s' "$src/$bad" >"$T/want.bin"
dr_check "ls --json: so does path_bytes for its path" dr_cmp "$T/want.bin" "$T/path.bin"

dr_expect_success "diff --json" drrepo diff --json "$s1" "$s2"
documented diff
dr_check "diff --json: every line parses" \
    test "$(jq -c . "$T/out" | wc -l)" -eq "$(wc -l <"$T/out")"
dr_jqs "diff --json: removed, with the quote escaped" \
    --arg p "$src/q\"uote" 'any(.[]; .path == $p and .change == "removed" and .modifier == "-" and .size == 2)'
dr_jqs "diff --json: added" --arg p "$src/added" 'any(.[]; .path == $p and .change == "added")'
dr_jqs "diff --json: modified, with both sizes" \
    --arg p "$src/sub/f" 'any(.[]; .path == $p and .change == "modified" and .old_size == 4 and .new_size == 8)'
dr_check "diff --json: the statistics come last" \
    test "$(tail -n 1 "$T/out" | jq -r '[.message_type, .source.id, .target.short_id, .added, .removed, .modified] | join(" ")')" = \
    "statistics $s1 ${s2:0:8} 1 1 1"

dr_expect_success "find --json" drrepo find --json 'q"uote' "$s1"
dr_check "find --json: every line parses" test "$(jq -c . "$T/out" | wc -l)" -eq "$(wc -l <"$T/out")"
dr_jqs "find --json: the match, with the quote escaped, and the statistics" --arg p "$src/q\"uote" --arg a "$s1" \
    '.[0].message_type == "match" and .[0].path == $p and .[0].snapshot.id == $a and .[0].snapshot.short_id == $a[0:8]
     and .[0].size == 2 and .[1].message_type == "statistics" and .[1].matches == 1'
documented find
dr_expect_success "find --json of a name that is not UTF-8" drrepo find --json 'bad*'
jq -r 'select(.path_bytes) | .path_bytes' "$T/out" | head -n 1 | base64 -d >"$T/path.bin"
printf '%s' "$src/$bad" >"$T/want.bin"
dr_check "find --json: path_bytes holds its exact bytes" dr_cmp "$T/want.bin" "$T/path.bin"
dr_expect_success "snapshots --json" drrepo snapshots --json
documented snapshots
dr_jq "snapshots --json: id and short_id" --arg a "$s1" --arg b "$s2" \
    '[.[].id] == [$a, $b] and all(.[]; .short_id == .id[0:8])'
dr_expect_success "key list --json" drrepo key list --json
documented key
dr_jq "key list --json: the key in use" \
    'length == 1 and .[0].current and (.[0].id | length) == 64 and .[0].readable and (.[0] | has("created") and has("user") and has("host"))'
DRREPO_NEW_PASSWORD=second dr_expect_success "key add --json" drrepo key add --json
documented key
dr_jq "key add --json: the new key" '.action == "added" and (.id | length) == 64'
dr_expect_success "version --json" "$DRREPO" version --json
documented version
dr_jq "version --json" '(.version | type) == "string" and (.format | type) == "number" and has("zstd") and has("libsodium")'
dr_expect_success "unlock --json" drrepo unlock --json
documented unlock
dr_jq "unlock --json" '.removed == [] and .kept == 0'
dr_expect_success "stats --json" drrepo stats --json
documented stats
dr_jq "stats --json parses" 'type == "object"'
dr_expect_success "check --json" drrepo check --json
documented check
dr_jq "check --json" '.ok and .damage == 0'
dr_expect_success "restore --dry-run --json" drrepo restore --dry-run --json latest --target "$T/r"
documented restore
jq -r '.actions[] | select(.path_bytes) | .path_bytes' "$T/out" | base64 -d >"$T/path.bin"
dr_check "restore --json: a path that is not UTF-8 keeps its bytes" test -s "$T/path.bin"
dr_expect_success "forget --dry-run --json" drrepo forget --dry-run --json --keep-last 1
documented forget
dr_jq "forget --json: id and short_id" 'all(.[]; (.id | length) == 64 and .short_id == .id[0:8])'
dr_expect_success "drill --json" drrepo drill --json latest --tmpdir "$T"
dr_jq "drill --json: the drilled snapshot and the result" --arg i "$s2" '.id == $i and .ok and .kind == "files"'
documented drill
dr_expect_success "prune --dry-run --json" drrepo prune --dry-run --json
dr_jq "prune --json: a dry run" '.dry_run and (.packs_total | type) == "number"'
documented prune
dr_init "$T/copy\"target"
DRREPO_TO_PASSWORD=$DRREPO_PASSWORD dr_expect_success "copy --json" drrepo copy --json --to "$T/copy\"target"
dr_jq "copy --json: one entry per snapshot" --arg a "$s1" 'length == 2 and .[0].source_id == $a'
documented copy
DRREPO_NEW_PASSWORD=third dr_expect_success "key passwd --json" drrepo key passwd --json
dr_jq "key passwd --json" '.action == "passwd" and (.id | length) == 64'
documented key
export DRREPO_PASSWORD=third
other=$(drrepo key list --json | jq -r '.[] | select(.current | not) | .id' | head -n 1)
dr_expect_success "key remove --json" drrepo key remove --json "${other:0:8}"
dr_jq "key remove --json" --arg i "${other:0:8}" '.action == "removed" and .id_given == $i'
documented key
dr_expect_success "tag --json" drrepo tag --json --add 'q"t' "$s1"
documented tag
dr_jq "tag --json: the new and the old id" --arg o "$s1" \
    '.snapshots_changed == 1 and .changed[0].old.id == $o and .changed[0].short_id == .changed[0].id[0:8] and .changed[0].tags == ["t\"ag", "q\"t"]'
dr_expect_success "snapshots --json after tag" drrepo snapshots --json
dr_jq "snapshots --json: original names the replaced snapshot" --arg o "$s1" 'any(.[]; .original == $o)'
documented snapshots
for sub in index snapshots packs config keys; do
    dr_expect_success "repair $sub --json" drrepo repair "$sub" --json
    documented repair
    dr_jq "repair $sub --json names what it did" --arg s "$sub" '.repair == $s'
done
dr_jq "repair keys --json: nothing rewritten" '.rewritten == []'

# errors: the text line stays; the last line of stderr is the JSON object
dr_must_fail 1 "an error with --json" drrepo ls --json 0000dead
last_err
documented error "$T/err.json"
dr_jq "the error is JSON with the exit code" \
    '.exit == 1 and .code == 1 and .error.code == 1 and (.error.message | length) > 0 and (.error.kind | type) == "string"'
dr_check "the text line stays" grep -q '^drrepo: error: ' "$T/err"
dr_must_fail 2 "a usage error with --json after an unknown option" drrepo ls --bogus --json latest
last_err
documented error "$T/err.json"
J="$T/err.json" dr_jq "a usage error is JSON, kind usage, exit 2" '.exit == 2 and .error.kind == "usage"'
DRREPO_PASSWORD=wrong dr_must_fail 12 "a wrong password with --json" drrepo snapshots --json
last_err
documented error "$T/err.json"
J="$T/err.json" dr_jq "kind auth, exit 12" '.exit == 12 and .error.kind == "auth"'
dr_must_fail 10 "no repository, --json" "$DRREPO" -r "$T/no\"where" --json snapshots
last_err
documented error "$T/err.json"
J="$T/err.json" dr_jq "kind norepo, exit 10, the quote escaped in the message" \
    --arg p "$T/no\"where" '.exit == 10 and .error.kind == "norepo" and (.error.message | contains($p))'
dr_must_fail 1 "an error naming a path that is not UTF-8" drrepo ls --json latest "$src/$bad/x"
last_err
documented error "$T/err.json"
J="$T/err.json" dr_jq "its message parses, with the exact bytes beside it" '.exit == 1 and (.error | has("message_bytes"))'

dr_done
