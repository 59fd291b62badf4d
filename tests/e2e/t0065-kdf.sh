#!/usr/bin/env bash
# Key files and the password KDF: Argon2id limits below the documented floor are refused at init
# unless --insecure-kdf is given.
. "$DR_SRC/tests/e2e/lib.sh"

# --- the floor ----------------------------------------------------------------------------------
dr_must_fail 2 "init below the floor is refused" drrepo init --kdf-memlimit 8K --kdf-opslimit 1
dr_check "the refusal names the floor and --insecure-kdf" grep -q -- "--insecure-kdf" "$T/err"
dr_check "nothing was created" test ! -e "$REPO"
dr_must_fail 2 "32 MiB of memory is below the floor" drrepo init --kdf-memlimit 32M --kdf-opslimit 4
dr_must_fail 2 "one pass over 64 MiB is below the floor" drrepo init --kdf-memlimit 64M --kdf-opslimit 1
dr_check "nothing was created" test ! -e "$REPO"
dr_expect_success "--insecure-kdf allows it" \
    drrepo init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1
dr_done
