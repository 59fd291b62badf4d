/* drillrec.h: the drill result object drills/<64 hex> (format/drill.md): what a restore drill
 * of a snapshot found, sealed under the repository key and named by the hash of its bytes.
 * Running drills is drill/ (drill.h). */
#ifndef DR_DRILLREC_H
#define DR_DRILLREC_H

#include "drrepo/buf.h"
#include "drrepo/crypto.h"
#include "drrepo/format.h"

/* The clear header (magic, version, reserved) and the largest object. */
#define DR_DRILLREC_HDR_LEN (DR_MAGIC_LEN + 4 + 4)
#define DR_DRILLREC_FILE_MAX (DR_DRILLREC_HDR_LEN + DR_DRILL_MAX + DR_AEAD_OVERHEAD)

struct dr_drill_result {
    struct dr_id snapshot;
    int64_t time_ns;     /* when the drill started */
    int64_t duration_ns; /* the whole drill */
    int64_t rto_ns;      /* restore + start until the service answers: what DR plans quote */
    bool ok;
    char *kind;    /* "postgresql", "redis", "stream", "files" */
    char *checked; /* what was checked, one line */
    char *reason;  /* why it failed (NULL when ok) */
};

/* Frees the strings of res and zeroes it. */
void dr_drill_result_release(struct dr_drill_result *res);

/* Appends the drill object of res, recorded as run on host (may be NULL or empty), sealed under
 * k, to out, and its name's id (the hash of the appended bytes) to out_id. Strings longer than
 * DR_STRING_MAX are cut. Errors: DR_EUSAGE (the body is over DR_DRILL_MAX), those of the
 * crypto layer. */
DR_MUST_CHECK int dr_drillrec_encode(const struct dr_keys *k, const struct dr_drill_result *res,
                                     const char *host, struct dr_buf *out, struct dr_id *out_id);
/* Verifies that the len bytes at p hash to id (the object's name), opens them under k and
 * parses them into res (which the caller releases). Unknown fields are skipped. Errors:
 * DR_ECORRUPT (wrong name, bad magic, malformed or tampered; a wrong key reads as tampered),
 * DR_EUNSUPPORTED (a newer version). */
DR_MUST_CHECK int dr_drillrec_decode(const struct dr_keys *k, const struct dr_id *id,
                                     const uint8_t *p, size_t len, struct dr_drill_result *res);

#endif
