/* drill_wal.c: the WAL of a point-in-time drill (see drill_int.h).
 *
 * The restored server runs as its own user, which may not read the repository (the drill runs
 * as root with a repository only root reads, or with the password in its environment only):
 * the drill fetches the WAL itself, as the user it runs as, into its temporary directory, and
 * recovery copies from there. Every file is authenticated and decoded on the way, and the fetch
 * is part of the drill's RTO, as `wal get` would be part of a real recovery's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "drill_int.h"
#include "drrepo/error.h"
#include "drrepo/fs.h"
#include "drrepo/mem.h"

/* Fetches every file of archive a that recovery from segment `from` of timeline tli may ask
 * for: history files, and files of timeline tli or later from segment `from` on. */
static int fetch_all(struct dr_repo *r, const struct dr_wal_archive *a, uint32_t tli, uint64_t from,
                     const char *dir, size_t *out_n)
{
    int rc = 0;
    *out_n = 0;
    for (size_t i = 0; rc >= 0 && i < a->n; i++) {
        const struct dr_wal_file *f = &a->v[i].f;
        if (f->kind != DR_WAL_HISTORY &&
            (f->tli < tli || (f->tli == tli && dr_wal_segno(f, a->seg_size) < from))) {
            continue;
        }
        char *dest = dr_fs_join(dir, f->name);
        rc = dr_wal_get(r, a->sysid, f->name, dest);
        if (rc >= 0 && chmod(dest, 0644) < 0) {
            rc = dr_error_errno(DR_EIO, "cannot chmod '%s'", dest);
        }
        free(dest);
        (*out_n)++;
    }
    return rc;
}

int drill_stage_wal(struct dr_repo *r, const struct dr_snapshot *s, const struct dr_drill_opts *o,
                    const char *tmp, const char *datadir, struct dr_drill_result *res)
{
    const struct dr_wal_target *t = o->pg_target;
    char last[DR_WAL_FILE_NAME_MAX], gap[DR_WAL_FILE_NAME_MAX];
    uint64_t sysid, segno;
    uint32_t tli;
    struct dr_wal_archive *a = NULL;
    size_t na = 0, nfiles = 0;
    /* one listing serves the chain check and the fetch */
    int rc = dr_wal_backup_start(s, 0, &sysid, &tli, &segno);
    rc = rc < 0 ? rc : dr_wal_list(r, sysid, &a, &na);
    rc = rc < 0 ? rc : dr_wal_chain(a, na, s, t, last, gap);
    if (rc == DR_EDAMAGED || rc == DR_ECORRUPT) {
        drill_fail(res, "%s", dr_error_msg());
        dr_error_clear();
        dr_wal_archives_free(a, na);
        return 0;
    }
    if (rc < 0) {
        dr_wal_archives_free(a, na);
        return rc;
    }
    if (gap[0] && t->kind == DR_WAL_TARGET_LATEST) {
        /* recovery would stop at the gap and promote: a silent loss of everything after it */
        drill_fail(res,
                   "WAL file %s is missing from the archive: recovery to the latest point "
                   "stops at %s",
                   gap, last[0] ? last : "the end of the base backup");
        dr_wal_archives_free(a, na);
        return 0;
    }
    char *dir = dr_fs_join(tmp, "wal");
    if (rc >= 0 && mkdir(dir, 0755) < 0) {
        rc = dr_error_errno(DR_EIO, "cannot create '%s'", dir);
    }
    /* the server's user must reach tmp/wal: tmp is mkdtemp's 0700 */
    if (rc >= 0 && (chmod(tmp, 0711) < 0 || chmod(dir, 0755) < 0)) {
        rc = dr_error_errno(DR_EIO, "cannot chmod '%s'", dir);
    }
    if (rc >= 0 && na == 1 && a[0].seg_size) {
        rc = dr_wal_backup_start(s, a[0].seg_size, &sysid, &tli, &segno);
        rc = rc < 0 ? rc : fetch_all(r, &a[0], tli, segno, dir, &nfiles);
    }
    if (rc == DR_ENOSPC) {
        /* the host's temporary space, as for the restore (drill.c): the drill cannot run here,
         * and the hint about the repository's disk that DR_ENOSPC gets would mislead */
        rc = dr_errorf(DR_EIO,
                       "no space left to fetch the archived WAL into '%s' (%s): give --tmpdir a "
                       "file system with room for the restore and the WAL to replay",
                       dir, dr_error_msg());
    }
    if (rc == DR_ECORRUPT || rc == DR_EUNSUPPORTED) {
        drill_fail(res, "archived WAL cannot be read: %s", dr_error_msg());
        dr_error_clear();
        rc = 0;
    }
    char *cmd = dr_xasprintf("cp '%s/%%f' '%%p'", dir);
    if (rc >= 0 && res->ok) {
        rc = dr_wal_write_recovery(datadir, cmd, NULL, dr_wal_target_setting(t), t->value);
        drill_checked(res, "%zu archived WAL files fetched%s%s, recovery to %s", nfiles,
                      last[0] ? " through " : "", last, t->value ? t->value : "the latest point");
    }
    free(cmd);
    free(dir);
    dr_wal_archives_free(a, na);
    return rc;
}
