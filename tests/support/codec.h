/* codec.h: what the object codec unit tests share: two keys that differ, and the loop
 * that feeds a decoder every truncation of an encoding.
 *
 * The functions assert with cmocka, so they are called from inside tests or fixtures only. */
#ifndef DR_TESTS_CODEC_H
#define DR_TESTS_CODEC_H

#include <stddef.h>

#include "drrepo/crypto.h"

/* The keys of the codec tests, set by dr_test_keys_setup: dr_test_key from the master key
 * 00 01 .. 1f, dr_test_other_key from the same with its first bit flipped. */
extern struct dr_keys *dr_test_key, *dr_test_other_key;

/* cmocka group set-up and tear-down of the two keys; the set-up initialises the crypto
 * library and fails (-1) when it does. */
int dr_test_keys_setup(void **state);
int dr_test_keys_teardown(void **state);

/* Calls expect(p, l, DR_ECORRUPT) for every l from 0 to len - 1, p a heap copy of the first
 * l bytes of buf (so that ASan sees any read past the shortened end). */
void dr_test_truncations(const void *buf, size_t len,
                         void (*expect)(const void *p, size_t len, int code));

#endif
