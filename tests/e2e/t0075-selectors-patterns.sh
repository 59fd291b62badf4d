#!/usr/bin/env bash
# Snapshot selectors (--host, --tag, --path; repeated is OR, "a,b" is AND; snapshots --latest N;
# a selector that matches nothing names itself) and patterns (restore --include with wildcards in
# the middle and "**", an include that matches nothing, excludes with "**").
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

dr_init
S="$T/srv"
mkdir -p "$S/a/out" "$S/b/out" "$S/b/in" "$S/c/deep/x/out" "$T/home"
echo 1 > "$S/a/out/f1"; echo 2 > "$S/b/out/f2"; echo 3 > "$S/b/in/f3"
echo 4 > "$S/c/deep/x/out/f4"; echo 5 > "$S/a/top.log"; echo 6 > "$S/c/deep/k.log"
echo h > "$T/home/h.txt"

# --- patterns ---
dr_expect_success "snapshot with a ** exclude" drrepo snapshot "$S" --exclude "$S/c/**/*.log" --host h1 --tag web
drrepo ls latest > "$T/ls"
dr_check "** exclude leaves out the deep .log" sh -c "! grep -q 'k.log' '$T/ls'"
dr_check "** exclude keeps a .log outside" grep -q 'a/top.log' "$T/ls"

drrepo restore latest --target "$T/r1" --include "$S/*/out" > "$T/out" 2> "$T/err"
dr_check "restore --include with a wildcard in the middle exits 0" test $? -eq 0
(cd "$T/r1" && find . -type f | sort) > "$T/got"
printf '%s\n' ".$S/a/out/f1" ".$S/b/out/f2" > "$T/want"
dr_check "it restores exactly the matching files" dr_cmp "$T/want" "$T/got"

drrepo restore latest --target "$T/r2" --include "$S/**/out" > "$T/out" 2> "$T/err"
dr_check "restore --include with ** exits 0" test $? -eq 0
(cd "$T/r2" && find . -type f | sort) > "$T/got"
printf '%s\n' ".$S/a/out/f1" ".$S/b/out/f2" ".$S/c/deep/x/out/f4" > "$T/want"
dr_check "** restores exactly the matching files" dr_cmp "$T/want" "$T/got"

drrepo restore latest --target "$T/r3" --include 'f[2-3]' > "$T/out" 2> "$T/err"
(cd "$T/r3" && find . -type f | sort) > "$T/got"
printf '%s\n' ".$S/b/in/f3" ".$S/b/out/f2" > "$T/want"
dr_check "an unanchored include with [a-c] restores the matching names" dr_cmp "$T/want" "$T/got"

dr_must_fail 1 "an include that matches nothing exits 1" drrepo restore latest --target "$T/r4" --include "$S/*/nothing"
dr_check "it names the include" grep -q "matches --include '$S/\*/nothing'" "$T/err"
dr_check "it creates nothing in the target" test ! -e "$T/r4"
dr_check "it gives no hint about damage" sh -c '! grep -q "repair snapshots" "$1"' - "$T/err"
drrepo restore latest --target "$T/r4" --include "$S/*/nothing" --json > "$T/out" 2> "$T/err"
dr_check "with --json it counts nothing restored and no error" \
    jq -e '.files == 0 and .dirs == 0 and .bytes == 0 and .errors == 0 and .bytes_used == 0' "$T/out"

# --- selectors ---
# snapshots, oldest first: 1 h1 web $S (above); 2 h2 db $T/home; 3 h1 web,prod $T/home; 4 h2 $S
sid() { drrepo snapshots --json | jq -r ".[$1].id"; }
dr_expect_success "snapshot 2" drrepo snapshot "$T/home" --host h2 --tag db
dr_expect_success "snapshot 3" drrepo snapshot "$T/home" --host h1 --tag web --tag prod
dr_expect_success "snapshot 4" drrepo snapshot "$S" --host h2
s1=$(sid 0); s2=$(sid 1); s3=$(sid 2); s4=$(sid 3)
latest_is() { # latest_is NAME WANT SELECTOR...: "ls --json latest SELECTOR" picks WANT
    local name=$1 want=$2; shift 2
    drrepo ls --json latest "$@" > "$T/out" 2> "$T/err"
    dr_check "$name" test "$(head -n 1 "$T/out" | jq -r '.id')" = "$want"
}
latest_is "latest --path picks the latest that saved the path" "$s4" --path "$S"
latest_is "latest --path of a path inside a saved one" "$s4" --path "$S/a/out"
latest_is "latest --host --path" "$s1" --host h1 --path "$S"
latest_is "repeated --host is OR" "$s4" --host h1 --host h2
latest_is "repeated --tag is OR" "$s3" --tag db --tag web
latest_is "--tag a,b is AND" "$s3" --tag web,prod
latest_is "--tag a,b is AND (older one)" "$s2" --tag db --tag nosuch,web
latest_is "repeated --path is OR" "$s4" --path "$T/home" --path "$S"
drrepo ls latest --path "$T/home" "$T/home" > "$T/out" 2> "$T/err"
dr_check "ls latest --path P P lists P" grep -q h.txt "$T/out"

dr_must_fail 1 "a selector that matches nothing exits 1" drrepo ls latest --host h1 --path /nowhere
dr_check "it names the selector" grep -q "no snapshot matches latest --host h1 --path /nowhere" "$T/err"
dr_must_fail 1 "restore with a selector that matches nothing" drrepo restore latest --tag web,db --target "$T/r5"
dr_check "it names the selector" grep -q "no snapshot matches latest --tag web,db" "$T/err"
dr_check "nothing is created" test ! -e "$T/r5"
dr_must_fail 1 "ls latest PATH not in the snapshot" drrepo ls latest --host h2 "$T/home"
dr_check "it names the snapshot and the path" grep -q "snapshot ${s4:0:8} (latest --host h2) has no path '$T/home'" "$T/err"
dr_must_fail 1 "stats with a selector that matches nothing" drrepo stats --host nosuch
dr_expect_success "stats of the selected snapshots" drrepo stats --json --host h2
dr_check "it counts them" test "$(jq -r .snapshots "$T/out")" = 2
dr_expect_success "diff takes the selector" drrepo diff --host h1 "$s1" latest
dr_expect_success "dump takes --path" drrepo dump latest --path "$S" "$S/a/out/f1"
dr_check "it dumps the file" test "$(cat "$T/out")" = 1

drrepo snapshots --json --latest 1 | jq -r '.[].id' > "$T/got"
dr_check "snapshots --latest 1: one per host and paths (4 groups)" test "$(wc -l < "$T/got")" -eq 4
drrepo snapshots --json --latest 1 --path "$S" | jq -r '.[].id' | sort > "$T/got"
dr_check "snapshots --latest 1 --path: one per host" test "$(tr '\n' ' ' < "$T/got")" = "$(printf '%s\n' "$s1" "$s4" | sort | tr '\n' ' ')"
drrepo snapshots --json --latest 1 --host h1 | jq -r '.[].id' | sort > "$T/got"
dr_check "snapshots --latest 1 --host h1" test "$(tr '\n' ' ' < "$T/got")" = "$(printf '%s\n' "$s1" "$s3" | sort | tr '\n' ' ')"
drrepo snapshots --json --latest 2 --host h2 | jq -r '.[].id' | sort > "$T/got"
dr_check "snapshots --latest 2 --host h2" test "$(tr '\n' ' ' < "$T/got")" = "$(printf '%s\n' "$s2" "$s4" | sort | tr '\n' ' ')"
dr_must_fail 2 "snapshots --latest 0 is refused" drrepo snapshots --latest 0

# --- --iexclude (after the selectors: it adds a snapshot) ---
dr_expect_success "snapshot --iexclude" drrepo snapshot "$S" --iexclude '*.LOG' --iexclude "$S/B" --host h3
drrepo ls latest > "$T/ls"
dr_check "--iexclude matches either case" sh -c "! grep -q '\.log' '$T/ls' && ! grep -q '$S/b' '$T/ls' && grep -q '$S/a/out/f1' '$T/ls'"

dr_done
