#!/usr/bin/env bash
# init: creates the layout; refuses an existing repository, a non-empty directory and an
# empty password; the repository opens with the password and not without it.
. "$DR_SRC/tests/e2e/lib.sh" || exit 1

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
dr_check "the first command after init is quiet (no \"no local index\" line)" test ! -s "$T/err"
DRREPO_REPOSITORY="$REPO" dr_expect_success "DRREPO_REPOSITORY names the repository" \
    "$DRREPO" snapshots
# restic-style locations are refused (exit 2) before anything is created: a location such as
# "s3:https://…" once made a local directory named "s3:https:"
for loc in 'sftp:user@host:/srv/repo' 'rest:http://127.0.0.1:8000/' 'b2:bucket:path' \
    'azure:container:/'; do
    cd "$T" || dr_fail "cd"
    dr_must_fail 2 "init -r $loc is refused" "$DRREPO" -r "$loc" init
    cd - >/dev/null || dr_fail "cd back"
    dr_check "the error names the location and says what is supported" \
        grep -qF "unsupported repository location '$loc': '${loc%%:*}:' locations are not supported" "$T/err"
done
# s3: is an S3 bucket (docs/S3.md): a malformed one, or one without credentials, is a usage
# error before any request, and is never a local path either
cd "$T" || dr_fail "cd"
dr_must_fail 2 "init -r s3:ftp://... is refused" "$DRREPO" -r 's3:ftp://host/bucket' init
dr_check "the error says what an S3 location looks like" \
    grep -qF "s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]" "$T/err"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE HOME="$T/nohome" \
    AWS_SHARED_CREDENTIALS_FILE="$T/nohome/c" AWS_CONFIG_FILE="$T/nohome/c" \
    "$DRREPO" -r 's3:https://s3.amazonaws.com/bucket/repo' init >"$T/out" 2>"$T/err"
dr_check "init on S3 without credentials exits 2" test $? -eq 2
dr_check "the error says how to give credentials" grep -q "no S3 credentials: set AWS_ACCESS_KEY_ID" "$T/err"
cd - >/dev/null || dr_fail "cd back"
dr_check "nothing was created in the current directory" \
    test -z "$(cd "$T" && ls -d s3* sftp* rest* b2* azure* 2>/dev/null)"
AWS_ACCESS_KEY_ID=a AWS_SECRET_ACCESS_KEY=b DRREPO_S3_RETRIES=0 dr_must_fail 1 \
    "snapshots on an S3 endpoint where nothing listens is an error" \
    "$DRREPO" -r 's3:http://127.0.0.1:9/bkt' snapshots
dr_check "the error names the endpoint" grep -q "127.0.0.1:9" "$T/err"
dr_must_fail 2 "an unknown command is a usage error" drrepo snapshto
dr_check "the error suggests the closest command" grep -q "did you mean 'snapshot'" "$T/err"
dr_must_fail 2 "a missing repository option is a usage error" "$DRREPO" snapshots
want=$(sed -n 's/^#define DR_REPO_VERSION \([0-9]*\)u.*/\1/p' "$DR_SRC/include/drrepo/format.h")
dr_expect_success "version runs without a repository" "$DRREPO" version
dr_check "version names the format version that init writes ($want)" \
    grep -q "(format $want;" "$T/out"
dr_done
