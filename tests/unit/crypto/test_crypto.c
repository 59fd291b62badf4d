/* test_crypto.c: unit tests for src/crypto/keys.c, aead.c and keyfile.c.
 *
 * Covers: dr_crypto_init; dr_keys_new_random/from_master/free (subkeys are crypto_kdf with ids
 * 1/2/3 and context "drrepo01"); dr_crypto_blob_id; dr_crypto_hash and its streaming form;
 * dr_crypto_seal/seal_nonce/seal_in_place/unseal (round trips, in place equal to a copy, nonces
 * distinct across many seals, threads and a fork, every byte tampered, wrong ad or key, every
 * short length, out's max); dr_keyfile_create/create_det/info/open (round trip, wrong password,
 * wrong repository, empty password, limits, long names, every header byte corrupted, every
 * truncation, trailing bytes, newer version, oversize file; version 2: sealed details, open
 * only under the repository's key, every byte flipped, every truncation, longest names);
 * dr_keyfile_details; dr_kdf_check_floor; dr_kdf_work, dr_kdf_budget and dr_kdf_may_try. Argon2
 * runs with libsodium's minimum limits to keep the tests fast. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>

#include "drrepo/crypto.h"
#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/mem.h"
#include "drrepo/secure.h"

#define OPS crypto_pwhash_OPSLIMIT_MIN
#define MEM crypto_pwhash_MEMLIMIT_MIN
#define PW "correct horse battery staple"

static const uint8_t master_a[32] = {0x11, 0x22, 0x33};
static const struct dr_id repo_a = {{0xaa, 0xbb}};
static const struct dr_id repo_b = {{0xaa, 0xbc}};

static struct dr_keys *keys_a;

static int setup(void **state)
{
    (void)state;
    if (dr_crypto_init() != 0) {
        return -1;
    }
    keys_a = dr_keys_from_master(master_a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dr_keys_free(keys_a);
    return 0;
}

static void test_keys(void **state)
{
    (void)state;
    assert_int_equal(dr_crypto_init(), 0);
    struct dr_keys *k = dr_keys_from_master(master_a);
    struct dr_keys *k2 = dr_keys_from_master(master_a);
    assert_memory_equal(k, k2, sizeof(*k));
    assert_memory_equal(k->master, master_a, 32);

    uint8_t sub[32];
    assert_int_equal(crypto_kdf_derive_from_key(sub, 32, 1, "drrepo01", master_a), 0);
    assert_memory_equal(sub, k->id_key, 32);
    assert_int_equal(crypto_kdf_derive_from_key(sub, 32, 2, "drrepo01", master_a), 0);
    assert_memory_equal(sub, k->enc_key, 32);
    assert_int_equal(crypto_kdf_derive_from_key(sub, 32, 3, "drrepo01", master_a), 0);
    assert_memory_equal(sub, k->chunker_key, 32);
    assert_memory_not_equal(k->id_key, k->enc_key, 32);
    assert_memory_not_equal(k->enc_key, k->chunker_key, 32);

    struct dr_keys *r1 = dr_keys_new_random();
    struct dr_keys *r2 = dr_keys_new_random();
    assert_memory_not_equal(r1->master, r2->master, 32);
    dr_keys_free(r1);
    dr_keys_free(r2);
    dr_keys_free(k);
    dr_keys_free(k2);
    dr_keys_free(NULL);
}

static void test_ids_and_hashes(void **state)
{
    (void)state;
    struct dr_keys *k = dr_keys_from_master(master_a);
    struct dr_keys *r = dr_keys_new_random();
    static const char msg[] = "some blob contents";
    struct dr_id id, id2, want;

    dr_crypto_blob_id(k, msg, sizeof(msg) - 1, &id);
    assert_int_equal(
        crypto_generichash(want.b, 32, (const uint8_t *)msg, sizeof(msg) - 1, k->id_key, 32), 0);
    assert_true(dr_id_eq(&id, &want));
    dr_crypto_blob_id(r, msg, sizeof(msg) - 1, &id2);
    assert_false(dr_id_eq(&id, &id2));
    dr_crypto_blob_id(k, NULL, 0, &id2);
    assert_false(dr_id_eq(&id, &id2));

    dr_crypto_hash(msg, sizeof(msg) - 1, &id);
    assert_int_equal(crypto_generichash(want.b, 32, (const uint8_t *)msg, sizeof(msg) - 1, NULL, 0),
                     0);
    assert_true(dr_id_eq(&id, &want));

    /* streaming equals one-shot for every split */
    for (size_t split = 0; split < sizeof(msg); split++) {
        struct dr_hash_state st;
        dr_crypto_hash_init(&st);
        dr_crypto_hash_update(&st, msg, split);
        dr_crypto_hash_update(&st, msg + split, sizeof(msg) - 1 - split);
        dr_crypto_hash_final(&st, &id2);
        assert_true(dr_id_eq(&id, &id2));
    }
    dr_keys_free(k);
    dr_keys_free(r);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    struct dr_keys *k = dr_keys_from_master(master_a);
    static const size_t sizes[] = {0, 1, 15, 16, 17, 1000, 1u << 20};
    for (size_t i = 0; i < DR_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        uint8_t *pt = dr_xmalloc(n ? n : 1);
        randombytes_buf(pt, n);
        struct dr_buf s1 = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_buf s2 = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        struct dr_buf o = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        assert_int_equal(dr_crypto_seal(k, "ad", 2, pt, n, &s1), 0);
        assert_int_equal(dr_crypto_seal(k, "ad", 2, pt, n, &s2), 0);
        assert_int_equal(s1.len, n + DR_AEAD_OVERHEAD);
        /* fresh random nonces */
        assert_memory_not_equal(s1.buf, s2.buf, DR_NONCE_LEN);
        assert_int_equal(dr_buf_adds(&o, "pre"), 0);
        assert_int_equal(dr_crypto_unseal(k, "ad", 2, s1.buf, s1.len, &o), 0);
        assert_int_equal(o.len, 3 + n);
        if (n) {
            assert_memory_equal(o.buf + 3, pt, n);
        }
        dr_buf_release(&s1);
        dr_buf_release(&s2);
        dr_buf_release(&o);
        free(pt);
    }

    /* seal_nonce is deterministic and puts the nonce first */
    uint8_t nonce[DR_NONCE_LEN] = {7};
    struct dr_buf a = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    struct dr_buf b = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_crypto_seal_nonce(k, nonce, NULL, 0, "hello", 5, &a), 0);
    assert_int_equal(dr_crypto_seal_nonce(k, nonce, NULL, 0, "hello", 5, &b), 0);
    assert_int_equal(a.len, 5 + DR_AEAD_OVERHEAD);
    assert_memory_equal(a.buf, b.buf, a.len);
    assert_memory_equal(a.buf, nonce, DR_NONCE_LEN);

    /* out's max is honoured and out is left unchanged */
    struct dr_buf cap = DR_BUF_INIT(5 + DR_AEAD_OVERHEAD - 1);
    assert_int_equal(dr_crypto_seal(k, NULL, 0, "hello", 5, &cap), DR_ECORRUPT);
    assert_int_equal(cap.len, 0);
    struct dr_buf cap2 = DR_BUF_INIT(4);
    assert_int_equal(dr_crypto_unseal(k, NULL, 0, a.buf, a.len, &cap2), DR_ECORRUPT);
    assert_int_equal(cap2.len, 0);

    dr_buf_release(&a);
    dr_buf_release(&b);
    dr_keys_free(k);
}

static void test_seal_in_place(void **state)
{
    (void)state;
    struct dr_keys *k = dr_keys_from_master(master_a);
    static const size_t sizes[] = {0, 1, 100, 70000};
    for (size_t i = 0; i < DR_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        uint8_t *pt = dr_xmalloc(n + 1);
        randombytes_buf(pt, n);
        uint8_t *buf = dr_xmalloc(n + DR_AEAD_OVERHEAD);
        memcpy(buf + DR_NONCE_LEN, pt, n);
        uint8_t nonce[DR_NONCE_LEN] = {9, 8, 7};
        assert_int_equal(dr_crypto_seal_in_place_nonce(k, nonce, "ad", 2, buf, n), 0);
        struct dr_buf want = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        assert_int_equal(dr_crypto_seal_nonce(k, nonce, "ad", 2, pt, n, &want), 0);
        assert_int_equal(want.len, n + DR_AEAD_OVERHEAD);
        assert_memory_equal(buf, want.buf, want.len);

        memcpy(buf + DR_NONCE_LEN, pt, n);
        assert_int_equal(dr_crypto_seal_in_place(k, "ad", 2, buf, n), 0);
        assert_memory_not_equal(buf, nonce, DR_NONCE_LEN);
        struct dr_buf o = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        assert_int_equal(dr_crypto_unseal(k, "ad", 2, buf, n + DR_AEAD_OVERHEAD, &o), 0);
        assert_int_equal(o.len, n);
        if (n) {
            assert_memory_equal(o.buf, pt, n);
        }
        dr_buf_release(&o);
        dr_buf_release(&want);
        free(buf);
        free(pt);
    }
    dr_keys_free(k);
}

#define NONCE_RUN 200 /* seals per thread: more than one batch of the generator */

struct nonce_run {
    struct dr_keys *k;
    uint8_t nonces[NONCE_RUN][DR_NONCE_LEN];
};

static void seal_nonces(struct nonce_run *r)
{
    for (size_t i = 0; i < NONCE_RUN; i++) {
        struct dr_buf s = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
        if (dr_crypto_seal(r->k, NULL, 0, "x", 1, &s) != 0) {
            abort();
        }
        memcpy(r->nonces[i], s.buf, DR_NONCE_LEN);
        dr_buf_release(&s);
    }
}

static void *seal_nonces_main(void *arg)
{
    seal_nonces(arg);
    return NULL;
}

static int cmp_nonce(const void *a, const void *b)
{
    return memcmp(a, b, DR_NONCE_LEN);
}

/* dr_random_uniform draws from the thread's keystream: values in range, every value reached,
 * none favoured by much (a bias would be a modulo bias: 2^32 mod 3 != 0), 0 below 2. */
static void test_random_uniform(void **state)
{
    (void)state;
    assert_int_equal(dr_random_uniform(0), 0);
    assert_int_equal(dr_random_uniform(1), 0);
    enum { N = 30000 };
    unsigned seen[3] = {0};
    for (int i = 0; i < N; i++) {
        uint32_t v = dr_random_uniform(3);
        assert_true(v < 3);
        seen[v]++;
    }
    for (int k = 0; k < 3; k++) {
        /* 10,000 expected; 5 standard deviations are about 410 */
        assert_true(seen[k] > 9500 && seen[k] < 10500);
    }
    uint32_t big = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t v = dr_random_uniform(0xC0000000u);
        assert_true(v < 0xC0000000u);
        big |= v;
    }
    assert_true(big > 0x80000000u); /* the high bits are reached */
}

/* Nonces come from per-thread generators: across threads, and in a forked child that inherits
 * its parent's generator, no nonce may ever repeat. */
static void test_nonces_distinct(void **state)
{
    (void)state;
    struct dr_keys *k = dr_keys_from_master(master_a);
    enum { RUNS = 4 };
    struct nonce_run *runs = dr_xcalloc(RUNS, sizeof(*runs));
    for (size_t i = 0; i < RUNS; i++) {
        runs[i].k = k;
    }
    /* run 0 on this thread (its generator is then inherited by the child below), runs 1 and 2
     * on threads of their own */
    seal_nonces(&runs[0]);
    pthread_t t[2];
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, seal_nonces_main, &runs[1 + i]), 0);
    }
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    /* run 3: the first nonces of a forked child, which must differ from the parent's next */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        seal_nonces(&runs[3]);
        ssize_t n = write(pfd[1], runs[3].nonces, sizeof(runs[3].nonces));
        _exit(n == (ssize_t)sizeof(runs[3].nonces) ? 0 : 1);
    }
    close(pfd[1]);
    struct nonce_run parent_next = {.k = k};
    seal_nonces(&parent_next);
    size_t got = 0;
    while (got < sizeof(runs[3].nonces)) {
        ssize_t n = read(pfd[0], (uint8_t *)runs[3].nonces + got, sizeof(runs[3].nonces) - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    size_t total = (RUNS + 1) * NONCE_RUN;
    uint8_t(*all)[DR_NONCE_LEN] = dr_xcalloc(total, DR_NONCE_LEN);
    for (size_t i = 0; i < RUNS; i++) {
        memcpy(all[i * NONCE_RUN], runs[i].nonces, sizeof(runs[i].nonces));
    }
    memcpy(all[RUNS * NONCE_RUN], parent_next.nonces, sizeof(parent_next.nonces));
    qsort(all, total, DR_NONCE_LEN, cmp_nonce);
    for (size_t i = 1; i < total; i++) {
        assert_memory_not_equal(all[i - 1], all[i], DR_NONCE_LEN);
    }
    free(all);
    free(runs);
    dr_keys_free(k);
}

static void test_seal_tamper(void **state)
{
    (void)state;
    struct dr_keys *k = dr_keys_from_master(master_a);
    struct dr_keys *other = dr_keys_new_random();
    static const char ad[] = "blob 1";
    struct dr_buf s = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_crypto_seal(k, ad, sizeof(ad), "plaintext!", 10, &s), 0);
    uint8_t *copy = dr_xmalloc(s.len);

    /* every byte (nonce, ciphertext, tag), with two different flips */
    for (size_t i = 0; i < s.len; i++) {
        for (int f = 0; f < 2; f++) {
            memcpy(copy, s.buf, s.len);
            copy[i] ^= f ? 0x80 : 0x01;
            struct dr_buf o = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
            assert_int_equal(dr_crypto_unseal(k, ad, sizeof(ad), copy, s.len, &o), DR_ECORRUPT);
            assert_int_equal(o.len, 0);
            dr_buf_release(&o);
        }
    }

    struct dr_buf o = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_crypto_unseal(k, "blob 2", sizeof(ad), s.buf, s.len, &o), DR_ECORRUPT);
    assert_int_equal(dr_crypto_unseal(k, ad, sizeof(ad) - 1, s.buf, s.len, &o), DR_ECORRUPT);
    assert_int_equal(dr_crypto_unseal(k, NULL, 0, s.buf, s.len, &o), DR_ECORRUPT);
    assert_int_equal(dr_crypto_unseal(other, ad, sizeof(ad), s.buf, s.len, &o), DR_ECORRUPT);
    /* extended or shortened by a byte */
    assert_int_equal(dr_crypto_unseal(k, ad, sizeof(ad), s.buf, s.len - 1, &o), DR_ECORRUPT);
    assert_int_equal(dr_buf_addch(&s, 0), 0);
    assert_int_equal(dr_crypto_unseal(k, ad, sizeof(ad), s.buf, s.len, &o), DR_ECORRUPT);
    assert_int_equal(o.len, 0);

    /* every length too short to hold nonce and tag, from exact-size blocks for ASan */
    for (size_t n = 0; n < DR_AEAD_OVERHEAD; n++) {
        uint8_t *shortp = dr_xmalloc(n ? n : 1);
        memcpy(shortp, s.buf, n);
        dr_error_clear();
        assert_int_equal(dr_crypto_unseal(k, ad, sizeof(ad), shortp, n, &o), DR_ECORRUPT);
        assert_non_null(strstr(dr_error_msg(), "sealed data too short"));
        free(shortp);
    }
    /* the empty plaintext's sealed form is exactly the overhead and opens */
    struct dr_buf e = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    assert_int_equal(dr_crypto_seal(k, NULL, 0, NULL, 0, &e), 0);
    assert_int_equal(e.len, DR_AEAD_OVERHEAD);
    assert_int_equal(dr_crypto_unseal(k, NULL, 0, e.buf, e.len, &o), 0);
    assert_int_equal(o.len, 0);

    dr_buf_release(&e);
    dr_buf_release(&o);
    dr_buf_release(&s);
    free(copy);
    dr_keys_free(k);
    dr_keys_free(other);
}

/* dr_keyfile_create of version under keys_a and repo_a. */
static int kf_create(uint32_t version, const char *pw, size_t pwlen, uint64_t ops, uint64_t mem,
                     const char *host, const char *user, int64_t created, struct dr_buf *out)
{
    struct dr_keyfile_params p = {version, ops, mem, host, user, created};
    return dr_keyfile_create(keys_a, &repo_a, pw, pwlen, &p, out);
}

static int kf_create_det(uint32_t version, const char *pw, size_t pwlen, uint64_t ops, uint64_t mem,
                         const char *host, const char *user, int64_t created,
                         const uint8_t salt[16], const uint8_t nonce[24], struct dr_buf *out)
{
    static const uint8_t details_nonce[24] = {3};
    struct dr_keyfile_params p = {version, ops, mem, host, user, created};
    return dr_keyfile_create_det(keys_a, &repo_a, pw, pwlen, &p, salt, nonce, details_nonce, out);
}

static void make_keyfile(struct dr_buf *out)
{
    assert_int_equal(
        kf_create(1, PW, strlen(PW), OPS, MEM, "host1", "alice", 1700000000123456789ll, out), 0);
}

/* Opens a copy of data in an exact-size heap block, so ASan sees any overread. */
static int open_copy(const uint8_t *data, size_t len, const struct dr_id *repo, const char *pw,
                     uint8_t master[32])
{
    uint8_t *copy = dr_xmalloc(len ? len : 1);
    memcpy(copy, data, len);
    int rc = dr_keyfile_open(copy, len, repo, pw, strlen(pw), master);
    free(copy);
    return rc;
}

static void test_keyfile_round_trip(void **state)
{
    (void)state;
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    make_keyfile(&kf);
    assert_int_equal(kf.len, 132 + 5 + 5);
    assert_memory_equal(kf.buf, "DRREPKEY", 8);

    struct dr_keyfile_info info;
    assert_int_equal(dr_keyfile_info(kf.buf, kf.len, &info), 0);
    assert_int_equal(info.version, 1);
    assert_int_equal(info.opslimit, OPS);
    assert_int_equal(info.memlimit, MEM);
    assert_true(info.created_ns == 1700000000123456789ll);
    assert_string_equal(info.host, "host1");
    assert_string_equal(info.user, "alice");

    uint8_t m[32] = {0};
    assert_int_equal(open_copy((uint8_t *)kf.buf, kf.len, &repo_a, PW, m), 0);
    assert_memory_equal(m, master_a, 32);

    /* two key files for one master differ (random salt and nonce) */
    struct dr_buf kf2 = DR_BUF_INIT(DR_KEYFILE_MAX);
    make_keyfile(&kf2);
    assert_memory_not_equal(kf.buf, kf2.buf, kf.len);

    /* the deterministic form reproduces itself byte for byte */
    uint8_t salt[16] = {1}, nonce[24] = {2};
    struct dr_buf d1 = DR_BUF_INIT(DR_KEYFILE_MAX), d2 = DR_BUF_INIT(DR_KEYFILE_MAX);
    assert_int_equal(kf_create_det(1, PW, strlen(PW), OPS, MEM, NULL, NULL, -5, salt, nonce, &d1),
                     0);
    assert_int_equal(kf_create_det(1, PW, strlen(PW), OPS, MEM, "", "", -5, salt, nonce, &d2), 0);
    assert_int_equal(d1.len, 132);
    assert_memory_equal(d1.buf, d2.buf, d1.len);
    assert_int_equal(dr_keyfile_info(d1.buf, d1.len, &info), 0);
    assert_true(info.created_ns == -5);
    assert_string_equal(info.host, "");

    /* longest names */
    char name[256];
    memset(name, 'h', 255);
    name[255] = '\0';
    struct dr_buf big = DR_BUF_INIT(DR_KEYFILE_MAX);
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS, MEM, name, name, 0, &big), 0);
    assert_int_equal(big.len, 132 + 510);
    assert_int_equal(dr_keyfile_info(big.buf, big.len, &info), 0);
    assert_string_equal(info.user, name);
    assert_int_equal(open_copy((uint8_t *)big.buf, big.len, &repo_a, PW, m), 0);

    dr_buf_release(&kf);
    dr_buf_release(&kf2);
    dr_buf_release(&d1);
    dr_buf_release(&d2);
    dr_buf_release(&big);
}

static void test_keyfile_create_errors(void **state)
{
    (void)state;
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    dr_error_clear();
    assert_int_equal(kf_create(1, "", 0, OPS, MEM, "h", "u", 0, &kf), DR_EUSAGE);
    assert_string_equal(dr_error_msg(), "empty password is not allowed");
    assert_int_equal(kf_create(1, NULL, 0, OPS, MEM, "h", "u", 0, &kf), DR_EUSAGE);
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS - 1, MEM, "h", "u", 0, &kf), DR_EUSAGE);
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS, MEM - 1, "h", "u", 0, &kf), DR_EUSAGE);
    assert_int_equal(kf_create(1, PW, strlen(PW), (uint64_t)crypto_pwhash_OPSLIMIT_MAX + 1, MEM,
                               "h", "u", 0, &kf),
                     DR_EUSAGE);
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS, (uint64_t)crypto_pwhash_MEMLIMIT_MAX + 1,
                               "h", "u", 0, &kf),
                     DR_EUSAGE);
    char name[257];
    memset(name, 'x', 256);
    name[256] = '\0';
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS, MEM, name, "u", 0, &kf), DR_EUSAGE);
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS, MEM, "h", name, 0, &kf), DR_EUSAGE);
    assert_int_equal(kf.len, 0);
    /* out's max */
    struct dr_buf small = DR_BUF_INIT(100);
    assert_int_equal(kf_create(1, PW, strlen(PW), OPS, MEM, "h", "u", 0, &small), DR_ECORRUPT);
    assert_int_equal(small.len, 0);
}

static void test_keyfile_wrong(void **state)
{
    (void)state;
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    make_keyfile(&kf);
    uint8_t m[32] = {0};
    assert_int_equal(
        open_copy((uint8_t *)kf.buf, kf.len, &repo_a, "correct horse battery stapl", m), DR_EAUTH);
    assert_int_equal(open_copy((uint8_t *)kf.buf, kf.len, &repo_a, PW "!", m), DR_EAUTH);
    assert_int_equal(open_copy((uint8_t *)kf.buf, kf.len, &repo_b, PW, m), DR_EAUTH);
    assert_int_equal(open_copy((uint8_t *)kf.buf, kf.len, &repo_a, "", m), DR_EAUTH);
    /* out_master is written only on success */
    for (int i = 0; i < 32; i++) {
        assert_int_equal(m[i], 0);
    }
    dr_buf_release(&kf);
}

static void test_keyfile_corrupt(void **state)
{
    (void)state;
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    make_keyfile(&kf);
    const size_t len = kf.len;
    uint8_t *copy = dr_xmalloc(len + 1);
    uint8_t m[32];
    struct dr_keyfile_info info;

    /* Every byte flipped, twice. The kdf limit fields (offsets 16..31) are left to the next
     * block: a flip there can ask Argon2 for gigabytes or billions of passes, which is a valid
     * (if hostile) key file and not what this loop is about. */
    for (size_t i = 0; i < len; i++) {
        if (i >= 16 && i < 32) {
            continue;
        }
        for (int f = 0; f < 2; f++) {
            memcpy(copy, kf.buf, len);
            copy[i] ^= f ? 0x80 : 0x01;
            int rc = open_copy(copy, len, &repo_a, PW, m);
            assert_true(rc == DR_ECORRUPT || rc == DR_EAUTH || rc == DR_EUNSUPPORTED);
            int irc = dr_keyfile_info(copy, len, &info);
            assert_true(irc == 0 || irc == DR_ECORRUPT || irc == DR_EUNSUPPORTED);
        }
    }
    /* kdf limits: out of range either way is corrupt; a small change fails the tag */
    static const struct {
        size_t off;
        uint64_t v;
        int rc;
    } lim[] = {
        {16, 0, DR_ECORRUPT},
        {16, (uint64_t)crypto_pwhash_OPSLIMIT_MAX + 1, DR_ECORRUPT},
        {16, UINT64_MAX, DR_ECORRUPT},
        {16, DR_KDF_OPSLIMIT_MAX + 1, DR_ECORRUPT}, /* hostile cost: refused before hashing */
        {16, OPS + 1, DR_EAUTH},
        {24, MEM - 1, DR_ECORRUPT},
        {24, 0, DR_ECORRUPT},
        {24, (uint64_t)crypto_pwhash_MEMLIMIT_MAX + 1, DR_ECORRUPT},
        {24, UINT64_MAX, DR_ECORRUPT},
        {24, DR_KDF_MEMLIMIT_MAX + 1, DR_ECORRUPT},
        {24, MEM + 1024, DR_EAUTH},
    };
    for (size_t i = 0; i < DR_ARRAY_LEN(lim); i++) {
        memcpy(copy, kf.buf, len);
        dr_put_u64le(copy + lim[i].off, lim[i].v);
        assert_int_equal(open_copy(copy, len, &repo_a, PW, m), lim[i].rc);
        if (lim[i].rc == DR_ECORRUPT) {
            assert_int_equal(dr_keyfile_info(copy, len, &info), DR_ECORRUPT);
        }
    }
    /* unknown kdf, bad magic, version 0, names with a NUL or over 255 bytes */
    memcpy(copy, kf.buf, len);
    dr_put_u32le(copy + 12, 2);
    assert_int_equal(dr_keyfile_info(copy, len, &info), DR_ECORRUPT);
    memcpy(copy, kf.buf, len);
    copy[0] = 'X';
    assert_int_equal(dr_keyfile_info(copy, len, &info), DR_ECORRUPT);
    memcpy(copy, kf.buf, len);
    dr_put_u32le(copy + 8, 0);
    assert_int_equal(dr_keyfile_info(copy, len, &info), DR_ECORRUPT);
    memcpy(copy, kf.buf, len);
    copy[58] = '\0'; /* first byte of the host name */
    assert_int_equal(dr_keyfile_info(copy, len, &info), DR_ECORRUPT);
    memcpy(copy, kf.buf, len);
    dr_put_u16le(copy + 56, 300);
    assert_int_equal(dr_keyfile_info(copy, len, &info), DR_ECORRUPT);

    /* every truncation, and one trailing byte */
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(open_copy((uint8_t *)kf.buf, n, &repo_a, PW, m), DR_ECORRUPT);
        uint8_t *t = dr_xmalloc(n ? n : 1);
        memcpy(t, kf.buf, n);
        assert_int_equal(dr_keyfile_info(t, n, &info), DR_ECORRUPT);
        free(t);
    }
    memcpy(copy, kf.buf, len);
    copy[len] = 0;
    assert_int_equal(open_copy(copy, len + 1, &repo_a, PW, m), DR_ECORRUPT);

    /* over the size limit */
    uint8_t *huge = dr_xcalloc(1, DR_KEYFILE_MAX + 1);
    memcpy(huge, kf.buf, len);
    assert_int_equal(dr_keyfile_info(huge, DR_KEYFILE_MAX + 1, &info), DR_ECORRUPT);
    free(huge);

    free(copy);
    dr_buf_release(&kf);
}

static void test_keyfile_newer(void **state)
{
    (void)state;
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    make_keyfile(&kf);
    uint8_t m[32];
    struct dr_keyfile_info info;
    dr_put_u32le((uint8_t *)kf.buf + 8, 3);
    dr_error_clear();
    assert_int_equal(open_copy((uint8_t *)kf.buf, kf.len, &repo_a, PW, m), DR_EUNSUPPORTED);
    assert_string_equal(dr_error_msg(),
                        "key file version 3 is newer than this drrepo supports (2)");
    assert_int_equal(dr_keyfile_info(kf.buf, kf.len, &info), DR_EUNSUPPORTED);
    /* a newer version is judged before its (unknown) layout: even a bare header says so */
    assert_int_equal(dr_keyfile_info(kf.buf, 12, &info), DR_EUNSUPPORTED);
    dr_buf_release(&kf);
}

/* Version 2: the details (created_ns, host, user) are sealed under the repository's key. */
static void test_keyfile_v2(void **state)
{
    (void)state;
    struct dr_buf kf = DR_BUF_INIT(DR_KEYFILE_MAX);
    assert_int_equal(
        kf_create(2, PW, strlen(PW), OPS, MEM, "host1", "alice", 1700000000123456789ll, &kf), 0);
    const size_t len = kf.len;
    assert_int_equal(len, 174 + 5 + 5);
    assert_null(memmem(kf.buf, len, "host1", 5));
    assert_null(memmem(kf.buf, len, "alice", 5));

    struct dr_keyfile_info info;
    assert_int_equal(dr_keyfile_info(kf.buf, len, &info), 0);
    assert_int_equal(info.version, 2);
    assert_true(info.details_sealed);
    assert_true(info.opslimit == OPS && info.memlimit == MEM && info.created_ns == 0);
    assert_string_equal(info.host, "");
    assert_int_equal(dr_keyfile_details(keys_a, &repo_a, kf.buf, len, &info), 0);
    assert_false(info.details_sealed);
    assert_true(info.created_ns == 1700000000123456789ll);
    assert_string_equal(info.host, "host1");
    assert_string_equal(info.user, "alice");

    uint8_t m[32] = {0};
    assert_int_equal(open_copy((uint8_t *)kf.buf, len, &repo_a, PW, m), 0);
    assert_memory_equal(m, master_a, 32);
    assert_int_equal(open_copy((uint8_t *)kf.buf, len, &repo_b, PW, m), DR_EAUTH);
    assert_int_equal(open_copy((uint8_t *)kf.buf, len, &repo_a, PW "!", m), DR_EAUTH);

    /* the details open only under this repository's key and id: a key file planted by someone
     * without the master key is told apart from one of ours */
    static const uint8_t master_b[32] = {0x99};
    struct dr_keys *kb = dr_keys_from_master(master_b);
    assert_int_equal(dr_keyfile_details(kb, &repo_a, kf.buf, len, &info), DR_ECORRUPT);
    assert_non_null(strstr(dr_error_msg(), "not written with this repository's key"));
    assert_int_equal(dr_keyfile_details(keys_a, &repo_b, kf.buf, len, &info), DR_ECORRUPT);
    dr_keys_free(kb);

    /* every byte flipped (the limits, 16..31, are test_keyfile_corrupt's): never opens, and
     * the details never authenticate */
    uint8_t *copy = dr_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        if (i >= 16 && i < 32) {
            continue;
        }
        memcpy(copy, kf.buf, len);
        copy[i] ^= 0x01;
        int rc = open_copy(copy, len, &repo_a, PW, m);
        assert_true(rc == DR_ECORRUPT || rc == DR_EAUTH || rc == DR_EUNSUPPORTED ||
                    (rc == 0 && i >= 122)); /* the details are not bound to the wrapped key */
        rc = dr_keyfile_details(keys_a, &repo_a, copy, len, &info);
        assert_true(rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED);
    }
    /* every truncation, and one trailing byte */
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(open_copy((uint8_t *)kf.buf, n, &repo_a, PW, m), DR_ECORRUPT);
    }
    memcpy(copy, kf.buf, len);
    copy[len] = 0;
    assert_int_equal(dr_keyfile_details(keys_a, &repo_a, copy, len + 1, &info), DR_ECORRUPT);
    free(copy);

    /* longest names: 684 bytes, still within the layout's limits */
    char name[256];
    memset(name, 'h', 255);
    name[255] = '\0';
    struct dr_buf big = DR_BUF_INIT(DR_KEYFILE_MAX);
    assert_int_equal(kf_create(2, PW, strlen(PW), OPS, MEM, name, name, 0, &big), 0);
    assert_int_equal(big.len, 174 + 510);
    assert_int_equal(dr_keyfile_details(keys_a, &repo_a, big.buf, big.len, &info), 0);
    assert_string_equal(info.user, name);
    assert_int_equal(open_copy((uint8_t *)big.buf, big.len, &repo_a, PW, m), 0);
    dr_buf_release(&big);
    dr_buf_release(&kf);
}

static void test_kdf_budget(void **state)
{
    (void)state;
    const uint64_t kib = 1024, mib = 1024 * kib, gib = 1024 * mib;
    assert_true(dr_kdf_work(2, 64 * mib) == 128 * mib);
    assert_true(dr_kdf_work(DR_KDF_OPSLIMIT_MAX, DR_KDF_MEMLIMIT_MAX) == 256 * gib);
    /* at least 2 GiB-passes (16 opens at the default limits), else 8 times the cheapest */
    assert_true(dr_kdf_budget(8 * kib) == 2 * gib);
    assert_true(dr_kdf_budget(128 * mib) == 2 * gib);
    assert_true(dr_kdf_budget(4 * gib) == 32 * gib);
    assert_true(dr_kdf_budget(UINT64_MAX) == UINT64_MAX);
    /* the first key file is always tried; later ones while the failed work plus theirs fits */
    assert_true(dr_kdf_may_try(2 * gib, 0, 256 * gib, true));
    assert_false(dr_kdf_may_try(2 * gib, 8 * kib, 4 * gib, false));
    assert_true(dr_kdf_may_try(2 * gib, gib, gib, false));
    assert_false(dr_kdf_may_try(2 * gib, gib, gib + 1, false));
    assert_false(dr_kdf_may_try(UINT64_MAX, UINT64_MAX, 1, false));
}

static void test_kdf_floor(void **state)
{
    (void)state;
    const uint64_t mib = 1024 * 1024;
    /* libsodium's interactive limits and RFC 9106's 1 pass over 2 GiB qualify */
    assert_int_equal(dr_kdf_check_floor(2, 64 * mib), 0);
    assert_int_equal(dr_kdf_check_floor(1, 2048 * mib), 0);
    assert_int_equal(dr_kdf_check_floor(4, 1024 * mib), 0);
    /* too little memory whatever the passes; too little work whatever the memory */
    assert_int_equal(dr_kdf_check_floor(64, 32 * mib), DR_EUSAGE);
    assert_int_equal(dr_kdf_check_floor(1, 64 * mib), DR_EUSAGE);
    assert_int_equal(dr_kdf_check_floor(1, 127 * mib), DR_EUSAGE);
    assert_int_equal(dr_kdf_check_floor(1, 128 * mib), 0);
    assert_int_equal(dr_kdf_check_floor(OPS, MEM), DR_EUSAGE);
    assert_non_null(strstr(dr_error_msg(), "--insecure-kdf"));
}

/* SHA-256 (OpenSSL's): FIPS 180-2's "abc", and a megabyte hashed in uneven pieces against the
 * one-shot and against libsodium's implementation of the same function. */
static void test_sha256(void **state)
{
    (void)state;
    static const uint8_t abc[DR_SHA256_LEN] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                               0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                               0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                               0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t out[DR_SHA256_LEN], one[DR_SHA256_LEN], ref[crypto_hash_sha256_BYTES];
    dr_sha256("abc", 3, out);
    assert_memory_equal(out, abc, sizeof(abc));
    size_t len = 1 << 20;
    uint8_t *p = dr_xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 131 + (i >> 9));
    }
    struct dr_sha256 st;
    dr_sha256_init(&st);
    for (size_t off = 0, step = 1; off < len; off += step, step = step * 3 % 65521 + 1) {
        dr_sha256_update(&st, p + off, off + step <= len ? step : len - off);
    }
    dr_sha256_final(&st, out);
    dr_sha256(p, len, one);
    crypto_hash_sha256(ref, p, len);
    assert_memory_equal(out, one, sizeof(out));
    assert_memory_equal(out, ref, sizeof(out));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_ids_and_hashes),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_in_place),
        cmocka_unit_test(test_nonces_distinct),
        cmocka_unit_test(test_random_uniform),
        cmocka_unit_test(test_seal_tamper),
        cmocka_unit_test(test_keyfile_round_trip),
        cmocka_unit_test(test_keyfile_create_errors),
        cmocka_unit_test(test_keyfile_wrong),
        cmocka_unit_test(test_keyfile_corrupt),
        cmocka_unit_test(test_keyfile_newer),
        cmocka_unit_test(test_keyfile_v2),
        cmocka_unit_test(test_kdf_floor),
        cmocka_unit_test(test_kdf_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
