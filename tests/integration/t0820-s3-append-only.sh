#!/usr/bin/env bash
# t0820-s3-append-only: the append-only recipe of docs/S3.md on Ceph RGW. A second RGW user (the
# backup host's credentials) gets, by the bucket owner's policy, GetObject, PutObject and
# ListBucket, DeleteObject only below locks/, and an explicit deny of every other delete. With
# it snapshot, check --read-data and restore work and leave no lock behind; forget and prune
# fail with one line before they write anything (a DELETE of a missing key is the probe: 403)
# and the bucket's listing (keys, sizes, ETags) is the same before and after. The owner's
# credentials, from a trusted machine, then forget and prune. The strict variant of the policy
# (no delete at all) still lets snapshots run; their locks stay, and the owner's unlock removes
# them.
. "$(dirname "$0")/../e2e/lib.sh" || exit 1
. "$(dirname "$0")/s3_lib.sh"
s3_require
if [ -z "${DR_TEST_CEPH_CONF:-}" ] || ! command -v radosgw-admin >/dev/null; then
    echo "# skip: needs radosgw-admin and DR_TEST_CEPH_CONF to create a user"
    exit 77
fi

# the backup host's user, with keys of its own, removed at the end
APP_UID="drrepo-t0820-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
APP_AK=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
APP_SK=$(od -An -N30 -tx1 /dev/urandom | tr -d ' \n')
trap 'radosgw-admin -c "$DR_TEST_CEPH_CONF" user rm --uid "$APP_UID" >/dev/null 2>&1; dr_cleanup' EXIT
dr_expect_success "radosgw-admin creates the append-only user" \
    radosgw-admin -c "$DR_TEST_CEPH_CONF" user create --uid "$APP_UID" \
    --display-name "drrepo append-only test" --access-key "$APP_AK" --secret-key "$APP_SK"
OWNER_UID=drrepo-test
OWNER_AK=$AWS_ACCESS_KEY_ID OWNER_SK=$AWS_SECRET_ACCESS_KEY
EP=$DR_TEST_S3_ENDPOINT
SIG="aws:amz:$DR_TEST_S3_REGION:s3"
B=$S3_BUCKET
R=$(s3_loc repo)

own() { DRREPO_CACHE_DIR="$T/cache-own" "$DRREPO" -r "$R" "$@"; }
app() {
    AWS_ACCESS_KEY_ID=$APP_AK AWS_SECRET_ACCESS_KEY=$APP_SK DRREPO_CACHE_DIR="$T/cache-app" \
        "$DRREPO" -r "$R" "$@"
}
# signed requests of the owner, as the recipe sends them
owner_curl() {
    curl -sS --aws-sigv4 "$SIG" --user "$OWNER_AK:$OWNER_SK" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}
# every key of the bucket with its size and ETag, one a line, sorted (one page: < 1000 keys)
listing() {
    owner_curl "$EP/$B?list-type=2" | sed 's/<Contents>/\n/g' |
        sed -n 's/.*<Key>\([^<]*\)<\/Key>.*<ETag>\([^<]*\)<\/ETag><Size>\([0-9]*\)<.*/ \1 \2 \3/p' | sort
}
nlocks() { listing | grep -c ' repo/locks/'; }
# put_policy FILE: the owner sets the bucket's policy (curl 7.88 signs the query as given)
put_policy() {
    owner_curl -o "$T/policy.out" -w '%{http_code}' -X PUT --data-binary "@$1" "$EP/$B?policy=" \
        >"$T/policy.code"
    grep -q '^20[04]$' "$T/policy.code"
}

# the policy of docs/S3.md, "Append-only credentials"
cat >"$T/policy.json" <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "OwnerReadsAndDeletesEveryObject", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam:::user/$OWNER_UID"]},
     "Action": ["s3:GetObject", "s3:DeleteObject"],
     "Resource": ["arn:aws:s3:::$B/*"]},
    {"Sid": "BackupHostAppends", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam:::user/$APP_UID"]},
     "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::$B", "arn:aws:s3:::$B/*"]},
    {"Sid": "BackupHostReleasesItsLocks", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam:::user/$APP_UID"]},
     "Action": ["s3:DeleteObject"],
     "Resource": ["arn:aws:s3:::$B/repo/locks/*"]},
    {"Sid": "BackupHostDeletesNothingElse", "Effect": "Deny",
     "Principal": {"AWS": ["arn:aws:iam:::user/$APP_UID"]},
     "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
     "NotResource": ["arn:aws:s3:::$B/repo/locks/*"]}
  ]
}
EOF

SRC="$T/src"
mkdir -p "$SRC/d"
"$TOOL" gen "$SRC/big" 2M 1
for i in $(seq 1 10); do "$TOOL" gen "$SRC/d/f$i" 6K $((40 + i)) text; done
dr_expect_success "the owner inits the repository (the bucket is created)" own init --insecure-kdf
dr_expect_success "the owner's snapshot" own snapshot "$SRC" --json
S1=$(dr_json_field snapshot_id)
dr_check "the owner sets the append-only policy on the bucket" put_policy "$T/policy.json"

"$TOOL" gen "$SRC/d/f2" 7K 99 text
dr_expect_success "append-only: snapshot" app snapshot "$SRC" --json
S2=$(dr_json_field snapshot_id)
cp -a "$SRC" "$T/state2"
"$TOOL" gen "$SRC/new" 300K 5
dr_expect_success "append-only: a second snapshot" app snapshot "$SRC" --json
S3=$(dr_json_field snapshot_id)
dr_expect_success "append-only: check --read-data" app check --read-data
dr_expect_success "append-only: snapshots" app snapshots
dr_check "three snapshots" grep -q "^3 snapshots" "$T/out"
rm -rf "$T/r"
dr_expect_success "append-only: restore" app restore "$S2" --target "$T/r"
dr_check "it is byte-identical" dr_same_tree "$T/state2" "$T/r$SRC"
dr_check "the append-only runs released their locks" test "$(nlocks)" -eq 0

listing >"$T/before"
dr_check "the listing has the repository's objects" grep -q ' repo/snapshots/' "$T/before"
dr_must_fail 1 "append-only: forget fails" app forget "$S1"
dr_check "with one line saying why" \
    sh -c "test \$(wc -l <'$T/err') -eq 1 && grep -q 'may not delete objects (append-only?): forget and prune need credentials that can delete' '$T/err'"
dr_must_fail 1 "append-only: forget --keep-last 1 --prune fails" app forget --keep-last 1 --prune
dr_check "with the same line" grep -q 'may not delete objects' "$T/err"
dr_must_fail 1 "append-only: prune fails" app prune
dr_check "with the same line" grep -q 'may not delete objects' "$T/err"
dr_expect_success "append-only: forget --dry-run still says what it would do" \
    app forget --keep-last 1 --dry-run
dr_check "it would remove two" grep -q "dry run: 2 snapshots to remove" "$T/out"
listing >"$T/after"
dr_check "forget and prune changed nothing in the bucket (keys, sizes, ETags)" \
    dr_cmp "$T/before" "$T/after"

# the owner, from a trusted machine, forgets and prunes
dr_expect_success "the owner forgets snapshot 1 and prunes" own forget "$S1" --prune
dr_expect_success "the owner's check --read-data" own check --read-data
rm -rf "$T/r"
dr_expect_success "the owner restores the append-only snapshot" own restore "$S3" --target "$T/r"
dr_check "byte-identical" dr_same_tree "$SRC" "$T/r$SRC"
dr_expect_success "append-only: snapshot after the owner's prune" app snapshot "$SRC"

# the strict variant: no delete at all, not even of locks
sed -e '/BackupHostReleasesItsLocks/,/repo\/locks\/\*"\]},/d' \
    -e 's/"NotResource": \["arn:aws:s3:::[^"]*"\]/"Resource": ["arn:aws:s3:::'"$B"'\/*"]/' \
    "$T/policy.json" >"$T/strict.json"
dr_check "the owner sets the strict policy" put_policy "$T/strict.json"
dr_expect_success "strict: snapshot" app snapshot "$SRC"
dr_expect_success "strict: a second snapshot (the first one's lock conflicts with nothing)" \
    app snapshot "$SRC"
dr_check "strict: their locks stay behind" test "$(nlocks)" -eq 2
dr_must_fail 1 "strict: a restore of a snapshot that does not exist fails" \
    app restore 0123456789ab --target "$T/r-none"
dr_check "its error names the snapshot (the lock that could not be removed kept it)" \
    grep -q "0123456789ab" "$T/err"
dr_check "strict: its lock stays too" test "$(nlocks)" -eq 3
dr_must_fail 1 "strict: forget fails" app forget --keep-last 1
dr_check "strict: and leaves no lock" test "$(nlocks)" -eq 3
dr_expect_success "the owner's unlock removes locks of processes that are gone" own unlock
dr_check "all three" grep -q "^3 locks removed" "$T/out"
dr_check "no lock left" test "$(nlocks)" -eq 0
dr_expect_success "the owner's forget --keep-last 1 --prune" own forget --keep-last 1 --prune
dr_expect_success "the owner's check" own check
dr_done
