#!/bin/bash
# t0240: no single flipped bit in a small critical object loses the repository. Single bits are
# flipped in every byte region of `config` (magic, version, reserved, repository id, the sealed
# body's nonce, ciphertext and tag, the checksum) and of the only key file (magic, version, kdf,
# limits, salt, the details' length, the wrapped key's nonce, ciphertext and tag, the sealed
# details), and one in each of their second copies (`copies/config`, `copies/keys/<id>`). For
# each flip, in a fresh copy of the repository and its cache:
#   - opening it (`snapshots`) works with a warning naming the damaged object, or fails with a
#     clear error naming it (never a signal); a damaged second copy is found by `check` only;
#   - `check` exits 4 with a `damage:` line naming the object (and never suggests
#     `repair index`);
#   - `repair config` or `repair keys` exits 0 and puts back the original bytes (so the
#     repository is again byte for byte the intact one), and every snapshot restores
#     byte-identical.
# One flip per region by default, so that the run stays short under ASan; DR_FLIPS_PER_REGION=N
# flips more.
# Prints per object: flips, detected (check names it), survivable (repaired and restored).
# Positions come from a fixed seed; DR_TEST_SEED=N draws others.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1
# five runs per flip: no leak check at their exits (tests/README.md)
dr_no_leak_check

SEED=${DR_TEST_SEED:-240}
PER_REGION=${DR_FLIPS_PER_REGION:-1}
echo "# seed $SEED, $PER_REGION flips per region (DR_TEST_SEED, DR_FLIPS_PER_REGION)"

C0="$T/cache-base"
R="$T/base" C="$C0"
dr_r() { DRREPO_CACHE_DIR="$C" "$DRREPO" -r "$R" "$@"; }

DRREPO_CACHE_DIR="$C0" "$DRREPO" -r "$R" init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1 \
    --pack-size 1M --chunk-min 4K --chunk-avg 16K --chunk-max 64K >"$T/out" 2>"$T/err" \
    || dr_fail "init"
mkdir -p "$T/d1/sub" "$T/d2"
"$TOOL" gen "$T/d1/a" 40K 1
"$TOOL" gen "$T/d1/sub/b" 20K 2 text
echo "tiny" >"$T/d1/sub/c"
dr_expect_success "snapshot 1" dr_r snapshot "$T/d1"
"$TOOL" gen "$T/d2/x" 30K 3
dr_expect_success "snapshot 2" dr_r snapshot "$T/d2"
S1=$(dr_r snapshots --json | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | head -n 1)
S2=$(dr_r snapshots --json | grep -o '"id":"[0-9a-f]\{64\}"' | cut -d'"' -f4 | tail -n 1)
dr_check "setup: two snapshots" test -n "$S1" -a -n "$S2" -a "$S1" != "$S2"
K=$(cd "$R/keys" && ls)
dr_check "setup: one key file" test "$(echo "$K" | wc -w)" -eq 1
dr_check "setup: config has its second copy" cmp -s "$R/config" "$R/copies/config"
dr_check "setup: the key file has its second copy" cmp -s "$R/keys/$K" "$R/copies/keys/$K"
dr_expect_success "setup: check of the intact repository" dr_r check

# regions: object name offset length (the layouts of format/repository.md and format/crypto.md)
csize=$(stat -c %s "$R/config")
ksize=$(stat -c %s "$R/keys/$K")
kversion=$(od -An -tu1 -j 8 -N1 "$R/keys/$K" | tr -d ' ')
{
    echo "config magic 0 8"
    echo "config version 8 4"
    echo "config reserved 12 4"
    echo "config repo_id 16 32"
    echo "config body_nonce 48 24"
    echo "config body_ciphertext 72 $((csize - 32 - 16 - 72))"
    echo "config body_tag $((csize - 32 - 16)) 16"
    echo "config checksum $((csize - 32)) 32"
    echo "keys/$K magic 0 8"
    echo "keys/$K version 8 4"
    echo "keys/$K kdf 12 4"
    echo "keys/$K opslimit 16 8"
    echo "keys/$K memlimit 24 8"
    echo "keys/$K salt 32 16"
    if [ "$kversion" = 1 ]; then
        echo "keys/$K created_host_user 48 $((ksize - 48 - 72))"
        echo "keys/$K key_nonce $((ksize - 72)) 24"
        echo "keys/$K key_ciphertext $((ksize - 48)) 32"
        echo "keys/$K key_tag $((ksize - 16)) 16"
    else
        echo "keys/$K details_len 48 2"
        echo "keys/$K key_nonce 50 24"
        echo "keys/$K key_ciphertext 74 32"
        echo "keys/$K key_tag 106 16"
        echo "keys/$K details_nonce 122 24"
        echo "keys/$K details_ciphertext 146 $((ksize - 146 - 16))"
        echo "keys/$K details_tag $((ksize - 16)) 16"
    fi
    echo "copies/config any 0 $csize"
    echo "copies/keys/$K any 0 $ksize"
} >"$T/regions"

# PER_REGION positions in each region (copies: PER_REGION in the whole file), bit 0..7 each
awk -v seed="$SEED" -v n="$PER_REGION" '
    BEGIN { srand(seed) }
    { for (i = 0; i < n; i++) print $1, $2, $3 + int(rand() * $4), int(rand() * 8) }
' "$T/regions" >"$T/flips"
total=$(wc -l <"$T/flips")
echo "# $total flips: config $csize bytes, key file $ksize bytes"

# restore_all: every snapshot restores byte-identical
restore_all() {
    rm -rf "$T/r1" "$T/r2"
    dr_r restore "$S1" --target "$T/r1" >/dev/null 2>"$T/rerr" || return 1
    dr_r restore "$S2" --target "$T/r2" >/dev/null 2>>"$T/rerr" || return 1
    dr_same_tree "$T/d1" "$T/r1$T/d1" >/dev/null && dr_same_tree "$T/d2" "$T/r2$T/d2" >/dev/null
}

declare -A flips detected survived
bad=""
i=0
while read -r obj region off bit; do
    i=$((i + 1))
    case $obj in
    config | copies/config) kind=config ;;
    *) kind=keys ;;
    esac
    flips[$obj]=$((${flips[$obj]:-0} + 1))
    R="$T/repo" C="$T/cache"
    rm -rf "$R" "$C"
    cp -a "$T/base" "$R"
    cp -a "$C0" "$C"
    "$TOOL" flip "$R/$obj" "$off" "$bit" || dr_fail "flip $obj $off $bit"
    what="$i: $obj $region offset $off bit $bit"
    ok=1

    # opening: a warning naming the object, or a clear error naming it; never a signal (an
    # intact first copy hides a damaged second one until check)
    if [ "${obj#copies/}" = "$obj" ]; then
        dr_r snapshots >"$T/out" 2>"$T/err" </dev/null
        rc=$?
        if [ "$rc" -ge 128 ] || grep -qE 'Sanitizer|runtime error' "$T/err"; then
            bad="$bad
#   $what: opening crashed (exit $rc)"
            ok=0
        elif ! grep -qF "'$obj'" "$T/err"; then
            bad="$bad
#   $what: opening (exit $rc) does not name '$obj': $(head -c 300 "$T/err")"
            ok=0
        fi
    fi

    # check names it as damage, exit 4, and does not send the user to 'repair index'
    dr_r check >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" -eq 4 ] && grep -qE "^damage: [a-z-]+: $obj: " "$T/err" \
        && ! grep -q 'repair index' "$T/err"; then
        detected[$obj]=$((${detected[$obj]:-0} + 1))
    else
        bad="$bad
#   $what: check exit $rc: $(grep -m2 -E '^(damage|drrepo)' "$T/err" | tr '\n' ' ')"
        ok=0
    fi

    # repair puts the original bytes back; then every snapshot restores
    dr_r repair "$kind" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        bad="$bad
#   $what: repair $kind exit $rc: $(head -c 300 "$T/err")"
        ok=0
    elif ! diff -r "$T/base" "$R" >/dev/null; then
        bad="$bad
#   $what: after repair $kind the repository differs from the intact one"
        ok=0
    elif ! restore_all; then
        bad="$bad
#   $what: a snapshot does not restore identically after repair: $(head -c 300 "$T/rerr")"
        ok=0
    fi
    [ "$ok" = 1 ] && survived[$obj]=$((${survived[$obj]:-0} + 1))
    echo "# $what: $([ "$ok" = 1 ] && echo ok || echo FAILED)"
done <"$T/flips"

all_ok=1
echo "# object                      flips  detected  survivable"
for obj in config "keys/$K" copies/config "copies/keys/$K"; do
    name=$obj
    [ "${#name}" -gt 24 ] && name="${obj:0:17}...$(echo "$obj" | tail -c 5)"
    printf '# %-27s %5d  %8d  %10d\n' "$name" "${flips[$obj]:-0}" "${detected[$obj]:-0}" \
        "${survived[$obj]:-0}"
    [ "${flips[$obj]:-0}" -eq "${survived[$obj]:-0}" ] || all_ok=0
done
[ -z "$bad" ] || echo "# failures:$bad"
dr_check "every flip detected and survived ($total flips, seed $SEED)" test "$all_ok" = 1 -a -z "$bad"
dr_done
