/* lockrec.c: the lock record, the content of a lock object (see lockrec.h). */
#include "drrepo/lockrec.h"

#include "drrepo/error.h"
#include "drrepo/format.h"
#include "drrepo/reader.h"

int dr_lockrec_encode(const struct dr_lock_info *in, struct dr_buf *out)
{
    size_t hl = strlen(in->host), ul = strlen(in->user), bl = strlen(in->boot_id);
    int rc = dr_buf_add(out, DR_MAGIC_LOCK, DR_MAGIC_LEN);
    rc = rc < 0 ? rc : dr_buf_add_u32le(out, DR_FORMAT_VERSION);
    rc = rc < 0 ? rc : dr_buf_add_u8(out, in->exclusive ? 1 : 0);
    rc = rc < 0 ? rc : dr_buf_add_u32le(out, in->pid);
    rc = rc < 0 ? rc : dr_buf_add_u64le(out, in->proc_start);
    rc = rc < 0 ? rc : dr_buf_add_u64le(out, (uint64_t)in->created_ns);
    rc = rc < 0 ? rc : dr_buf_add_u64le(out, (uint64_t)in->refreshed_ns);
    rc = rc < 0 ? rc : dr_buf_add_u16le(out, (uint16_t)bl);
    rc = rc < 0 ? rc : dr_buf_add(out, in->boot_id, bl);
    rc = rc < 0 ? rc : dr_buf_add_u16le(out, (uint16_t)hl);
    rc = rc < 0 ? rc : dr_buf_add(out, in->host, hl);
    rc = rc < 0 ? rc : dr_buf_add_u16le(out, (uint16_t)ul);
    rc = rc < 0 ? rc : dr_buf_add(out, in->user, ul);
    return rc;
}

static void rd_str(struct dr_reader *r, char *out, size_t outlen)
{
    uint16_t n = dr_rd_u16le(r);
    if (n >= outlen) {
        dr_rd_fail(r);
    }
    dr_rd_copy(r, out, dr_rd_ok(r) ? n : 0);
    out[dr_rd_ok(r) ? n : 0] = '\0';
}

int dr_lockrec_parse(const uint8_t *p, size_t len, struct dr_lock_info *out)
{
    struct dr_lock_info li;
    memset(&li, 0, sizeof(li));
    struct dr_reader r;
    dr_rd_init(&r, p, len);
    const uint8_t *magic = dr_rd_bytes(&r, DR_MAGIC_LEN);
    uint32_t version = dr_rd_u32le(&r);
    if (!dr_rd_ok(&r) || memcmp(magic, DR_MAGIC_LOCK, DR_MAGIC_LEN) != 0) {
        return dr_errorf(DR_ECORRUPT, "not a lock file");
    }
    if (version > DR_FORMAT_VERSION) {
        return dr_errorf(DR_EUNSUPPORTED, "lock file version %u is newer than supported", version);
    }
    li.exclusive = dr_rd_u8(&r) != 0;
    li.pid = dr_rd_u32le(&r);
    li.proc_start = dr_rd_u64le(&r);
    li.created_ns = (int64_t)dr_rd_u64le(&r);
    li.refreshed_ns = (int64_t)dr_rd_u64le(&r);
    rd_str(&r, li.boot_id, sizeof(li.boot_id));
    rd_str(&r, li.host, sizeof(li.host));
    rd_str(&r, li.user, sizeof(li.user));
    if (!dr_rd_ok(&r) || dr_rd_left(&r) != 0) {
        return dr_errorf(DR_ECORRUPT, "lock file is malformed");
    }
    *out = li;
    return 0;
}
