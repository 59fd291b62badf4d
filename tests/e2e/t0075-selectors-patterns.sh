#!/usr/bin/env bash
# Snapshot selectors (--host, --tag, --path; repeated is OR, "a,b" is AND; snapshots --latest N;
# a selector that matches nothing names itself) and patterns (restore --include with wildcards in
# the middle and "**", an include that matches nothing, excludes with "**").
. "$DR_SRC/tests/e2e/lib.sh"

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

dr_done
