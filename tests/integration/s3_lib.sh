# s3_lib.sh: helpers shared by the S3 integration tests (sourced after tests/e2e/lib.sh).
#   s3_require      skip (77) unless DR_TEST_S3_ENDPOINT names our Ceph RGW (tools/test-servers.sh);
#                   exports the AWS_* credentials and sets S3_BUCKET, a bucket name of this run
#   s3_loc PREFIX   the location s3:ENDPOINT/S3_BUCKET/PREFIX

s3_require() {
    dr_need_server DR_TEST_S3_ENDPOINT DR_TEST_S3_ACCESS_KEY DR_TEST_S3_SECRET_KEY
    # the gateway answering must be the one test-servers.sh started: its user carries our tag
    # (and its keys are new at every start, so a signed request that succeeds proves it again)
    if [ -n "${DR_TEST_CEPH_CONF:-}" ]; then
        radosgw-admin -c "$DR_TEST_CEPH_CONF" user info --uid drrepo-test 2>/dev/null |
            grep -q "\"display_name\": \"${DR_TEST_RGW_TAG:-none}\"" || {
            echo "not ok - the Ceph cluster of $DR_TEST_CEPH_CONF is not ours (tag ${DR_TEST_RGW_TAG:-})"
            exit 1
        }
    fi
    export AWS_ACCESS_KEY_ID=$DR_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$DR_TEST_S3_SECRET_KEY
    export AWS_REGION=$DR_TEST_S3_REGION
    unset AWS_SESSION_TOKEN AWS_PROFILE
    S3_BUCKET=$(printf 't%s-%s' "$(basename "$0" .sh | cut -c2-5)" "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')")
}

s3_loc() { echo "s3:$DR_TEST_S3_ENDPOINT/$S3_BUCKET/$1"; }
