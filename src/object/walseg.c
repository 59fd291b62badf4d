/* walseg.c: the archived WAL file object (see walseg.h, format/wal.md). */
#include "drrepo/walseg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "drrepo/error.h"
#include "drrepo/mem.h"
#include "drrepo/util.h"

#define WALSEG_VERSION 1u

/* n uppercase hex digits at s, as PostgreSQL writes WAL file names; their value in *out. */
static bool upper_hex(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            v = v << 4 | (uint32_t)(c - '0');
        } else if (c >= 'A' && c <= 'F') {
            v = v << 4 | (uint32_t)(c - 'A' + 10);
        } else {
            return false;
        }
    }
    *out = v;
    return true;
}

int dr_wal_file_parse(const char *name, struct dr_wal_file *out)
{
    struct dr_wal_file f;
    memset(&f, 0, sizeof(f));
    size_t n = strlen(name);
    uint32_t offset;
    bool ok = false;
    if (n == 16 && strcmp(name + 8, ".history") == 0) {
        f.kind = DR_WAL_HISTORY;
        ok = upper_hex(name, 8, &f.tli);
    } else if (n >= 24 && upper_hex(name, 8, &f.tli) && upper_hex(name + 8, 8, &f.log) &&
               upper_hex(name + 16, 8, &f.seg)) {
        const char *rest = name + 24;
        if (*rest == '\0') {
            f.kind = DR_WAL_SEGMENT;
            ok = true;
        } else if (strcmp(rest, ".partial") == 0) {
            f.kind = DR_WAL_PARTIAL;
            ok = true;
        } else if (strlen(rest) == 16 && rest[0] == '.' && strcmp(rest + 9, ".backup") == 0) {
            f.kind = DR_WAL_BACKUP;
            ok = upper_hex(rest + 1, 8, &offset);
        }
    }
    /* timeline 0 does not exist: PostgreSQL's first is 1 */
    if (!ok || f.tli == 0) {
        return dr_errorf(DR_EUSAGE, "'%.64s' is not the name of a WAL file PostgreSQL archives",
                         name);
    }
    memcpy(f.name, name, n + 1);
    *out = f;
    return 0;
}

char *dr_wal_object_name(uint64_t sysid, const struct dr_wal_file *f)
{
    if (f->kind == DR_WAL_HISTORY) {
        return dr_xasprintf("%s/%016" PRIx64 "/%s", DR_WAL_PREFIX, sysid, f->name);
    }
    return dr_xasprintf("%s/%016" PRIx64 "/%.16s/%s", DR_WAL_PREFIX, sysid, f->name, f->name);
}

bool dr_wal_object_parse(const char *rest, uint64_t *out_sysid, struct dr_wal_file *out)
{
    uint64_t sysid = 0;
    for (int i = 0; i < 16; i++) {
        char c = rest[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return false;
        }
        sysid = sysid << 4 | (uint64_t)d;
    }
    if (rest[16] != '/') {
        return false;
    }
    const char *file = strrchr(rest + 17, '/');
    file = file ? file + 1 : rest + 17;
    struct dr_wal_file f;
    if (strlen(file) >= DR_WAL_FILE_NAME_MAX || dr_wal_file_parse(file, &f) < 0) {
        dr_error_clear();
        return false;
    }
    /* exactly the name the builder writes: no other directory, no other depth */
    char *want = dr_wal_object_name(sysid, &f);
    bool same = strcmp(want + strlen(DR_WAL_PREFIX) + 1, rest) == 0;
    free(want);
    if (same && out_sysid) {
        *out_sysid = sysid;
    }
    if (same && out) {
        *out = f;
    }
    return same;
}

/* The associated data: the clear header and the object's name, so that an object moved under
 * another name (another segment, another cluster) does not open. */
static int make_ad(const uint8_t *hdr, const char *obj, struct dr_buf *ad)
{
    int rc = dr_buf_add(ad, hdr, DR_WALSEG_HDR_LEN);
    return rc < 0 ? rc : dr_buf_add(ad, obj, strlen(obj));
}

int dr_walseg_encode(const struct dr_keys *k, struct dr_compressor *z, const char *obj,
                     const uint8_t *file, size_t len, struct dr_buf *out)
{
    if (len > DR_WAL_FILE_MAX) {
        return dr_errorf(DR_EUSAGE, "%s: %zu bytes, more than the %u a WAL file may have", obj, len,
                         DR_WAL_FILE_MAX);
    }
    uint8_t hdr[DR_WALSEG_HDR_LEN];
    memcpy(hdr, DR_MAGIC_WAL, DR_MAGIC_LEN);
    dr_put_u32le(hdr + DR_MAGIC_LEN, WALSEG_VERSION);
    dr_put_u32le(hdr + DR_MAGIC_LEN + 4, 0);
    dr_put_u64le(hdr + DR_MAGIC_LEN + 8, len);
    struct dr_buf body = DR_BUF_INIT(1 + DR_WAL_FILE_MAX);
    struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    int rc = dr_compress(z, file, len, &body);
    rc = rc < 0 ? rc : make_ad(hdr, obj, &ad);
    rc = rc < 0 ? rc : dr_buf_add(out, hdr, sizeof(hdr));
    rc = rc < 0 ? rc : dr_crypto_seal(k, ad.buf, ad.len, body.buf, body.len, out);
    dr_buf_release(&body);
    dr_buf_release(&ad);
    return rc;
}

int dr_walseg_length(const char *obj, const uint8_t *p, size_t len, uint64_t *out_len)
{
    if (len < DR_WALSEG_HDR_LEN || memcmp(p, DR_MAGIC_WAL, DR_MAGIC_LEN) != 0) {
        return dr_errorf(DR_ECORRUPT, "%s: bad magic (not an archived WAL file)", obj);
    }
    uint32_t version = dr_get_u32le(p + DR_MAGIC_LEN);
    if (version > WALSEG_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "%s: version %u is newer than supported (%u)", obj,
                         version, WALSEG_VERSION);
    }
    uint64_t n = dr_get_u64le(p + DR_MAGIC_LEN + 8);
    if (version != WALSEG_VERSION || dr_get_u32le(p + DR_MAGIC_LEN + 4) != 0 ||
        n > DR_WAL_FILE_MAX) {
        return dr_errorf(DR_ECORRUPT, "%s: invalid version, reserved field or length", obj);
    }
    *out_len = n;
    return 0;
}

int dr_walseg_decode(const struct dr_keys *k, struct dr_compressor *z, const char *obj,
                     const uint8_t *p, size_t len, struct dr_buf *out)
{
    uint64_t flen = 0; /* set by dr_walseg_length on success; 0 quiets GCC -O3 -Werror */
    int rc = dr_walseg_length(obj, p, len, &flen);
    if (rc < 0) {
        return rc;
    }
    if (len - DR_WALSEG_HDR_LEN > DR_WALSEG_OBJ_MAX - DR_WALSEG_HDR_LEN) {
        return dr_errorf(DR_ECORRUPT, "%s: %zu bytes, more than the limit", obj, len);
    }
    struct dr_buf body = DR_BUF_INIT(1 + DR_WAL_FILE_MAX + 1024);
    struct dr_buf ad = DR_BUF_INIT(DR_BUF_MAX_DEFAULT);
    rc = make_ad(p, obj, &ad);
    if (rc >= 0) {
        rc = dr_crypto_unseal(k, ad.buf, ad.len, p + DR_WALSEG_HDR_LEN, len - DR_WALSEG_HDR_LEN,
                              &body);
        if (rc < 0) {
            rc = dr_error_wrap(rc, "%s: cannot open (wrong key, tampered, or moved)", obj);
        }
    }
    if (rc >= 0) {
        size_t start = out->len;
        rc = dr_decompress(z, (const uint8_t *)body.buf, body.len, (size_t)flen, out);
        if (rc < 0) {
            out->len = start;
            rc = dr_error_wrap(DR_ECORRUPT, "%s", obj);
        }
    }
    dr_buf_release(&body);
    dr_buf_release(&ad);
    return rc;
}
