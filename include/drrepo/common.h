/* common.h: attributes, little-endian helpers and the bug macro shared by every module. */
#ifndef DR_COMMON_H
#define DR_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DR_MUST_CHECK __attribute__((warn_unused_result))
#define DR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DR_NORETURN __attribute__((noreturn))
#define DR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* A broken invariant: a bug in drrepo, never bad input. Logs the location and aborts. */
DR_NORETURN void dr_bug_at(const char *file, int line, const char *msg);
#define DR_BUG(msg) dr_bug_at(__FILE__, __LINE__, (msg))

static inline void dr_put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void dr_put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline void dr_put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint16_t dr_get_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t dr_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t dr_get_u64le(const uint8_t *p)
{
    return (uint64_t)dr_get_u32le(p) | ((uint64_t)dr_get_u32le(p + 4) << 32);
}

#endif
