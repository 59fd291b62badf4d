#!/usr/bin/env bash
# init: creates the layout; refuses an existing repository, a non-empty directory and an
# empty password; the repository opens with the password and not without it.
. "$DR_SRC/tests/e2e/lib.sh"

dr_expect_success "init creates a repository" dr_init
dr_check "config and one key file exist" test -f "$REPO/config" -a "$(ls "$REPO/keys" | wc -l)" -eq 1
dr_must_fail 1 "init twice is refused" drrepo init --insecure-kdf --kdf-memlimit 8K --kdf-opslimit 1
dr_check "the refusal says a repository exists" grep -q "already exists" "$T/err"
mkdir -p "$T/full" && echo x > "$T/full/file"
dr_must_fail 1 "init in a non-empty directory is refused" "$DRREPO" -r "$T/full" init
DRREPO_PASSWORD= dr_must_fail 2 "an empty password is refused at init" "$DRREPO" -r "$T/r2" init
dr_check "the refusal names the empty password" grep -q "empty password" "$T/err"
dr_check "nothing was created for the refused init" test ! -e "$T/r2/config"
dr_expect_success "snapshots lists an empty repository" drrepo snapshots
dr_check "no snapshots listed" grep -q "^0 snapshots" "$T/out"
DRREPO_REPOSITORY="$REPO" dr_expect_success "DRREPO_REPOSITORY names the repository" \
    "$DRREPO" snapshots
# restic-style locations are refused (exit 2) before anything is created: a location such as
# "s3:https://…" once made a local directory named "s3:https:"
for loc in 's3:https://s3.amazonaws.com/bucket/repo' 'sftp:user@host:/srv/repo' \
    'rest:http://127.0.0.1:8000/' 'b2:bucket:path' 'azure:container:/'; do
    cd "$T" || dr_fail "cd"
    dr_must_fail 2 "init -r $loc is refused" "$DRREPO" -r "$loc" init
    cd - >/dev/null || dr_fail "cd back"
    dr_check "the error names the location and says what is supported" \
        grep -qF "unsupported repository location '$loc': '${loc%%:*}:' locations are not supported" "$T/err"
done
dr_check "nothing was created in the current directory" \
    test -z "$(cd "$T" && ls -d s3* sftp* rest* b2* azure* 2>/dev/null)"
dr_must_fail 2 "snapshots -r s3:... is refused too" "$DRREPO" -r 's3:http://127.0.0.1:9/b' snapshots
dr_must_fail 2 "an unknown command is a usage error" drrepo snapshto
dr_check "the error suggests the closest command" grep -q "did you mean 'snapshot'" "$T/err"
dr_must_fail 2 "a missing repository option is a usage error" "$DRREPO" snapshots
want=$(sed -n 's/^#define DR_REPO_VERSION \([0-9]*\)u.*/\1/p' "$DR_SRC/include/drrepo/format.h")
dr_expect_success "version runs without a repository" "$DRREPO" version
dr_check "version names the format version that init writes ($want)" \
    grep -q "(format $want;" "$T/out"
dr_done
