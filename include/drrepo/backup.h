/* backup.h: the backup engine: creates a snapshot from one source (source.h). The snapshot
 * object is written only when the source succeeded: a command that exits non-zero, is killed,
 * or produces nothing never becomes a snapshot. */
#ifndef DR_BACKUP_H
#define DR_BACKUP_H

#include "drrepo/progress.h"
#include "drrepo/repo.h"
#include "drrepo/source.h"

/* Snapshot-level options, whatever the source. */
struct dr_backup_opts {
    /* store RDB files (recognised by their magic) by their key records, relative to the same
     * file in the parent snapshot (format/rdb.md); the command line turns it on by default */
    bool rdb_records;
    char **tags;
    size_t ntags;
    const char *host; /* NULL: gethostname */
    int64_t time_ns;  /* 0: now */
    dr_progress_cb progress;
    void *progress_arg;
    /* read and chunk everything and count what would be added (dr_pipeline_open_dry_run), but
     * write nothing: no pack, no snapshot, no files-cache record; *out_id is left zero */
    bool dry_run;
};

/* Runs the snapshot of src. The parent snapshot is the newest one of the same host and paths.
 * On success (0) or partial success (DR_EPARTIAL: some files could not be read; they are
 * reported through the log with their paths and left out) the snapshot is recorded, *out_id
 * and *out_snap are set. Errors: DR_ESOURCE (the command or stream failed; no snapshot
 * recorded), DR_EUSAGE, the source's, and repository errors (DR_EIO, DR_ENOSPC, ...); DR_EINTR
 * when a signal arrived (interrupt.h: checked between files, buffers, and before the snapshot
 * is written; no snapshot recorded). */
DR_MUST_CHECK int dr_backup_run(struct dr_repo *r, const struct dr_source *src,
                                const struct dr_backup_opts *o, struct dr_id *out_id,
                                struct dr_snapshot *out_snap);

#endif
