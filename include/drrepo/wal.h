/* wal.h: PostgreSQL WAL archiving into the repository (docs/SOURCES.md "Continuous archiving",
 * format/wal.md): `wal push` as archive_command, `wal get` as restore_command, the listing of
 * what is archived per cluster with its gaps, and what a point-in-time restore needs (the base
 * backup before a target, the recovery settings).
 *
 * A cluster is named by its system identifier (pg_control), so that any number of clusters can
 * archive into one repository without configuration, and a restored cluster fetches its own WAL:
 * its pg_control came from the base backup. */
#ifndef DR_WAL_H
#define DR_WAL_H

#include "drrepo/repo.h"
#include "drrepo/walseg.h"

/* The system identifier of the cluster whose data directory is datadir, read from its
 * global/pg_control. Errors: DR_ENOENT (no pg_control: not a data directory), DR_ECORRUPT (not
 * a pg_control PostgreSQL 9.0 or later wrote), DR_EIO; each names the file. */
DR_MUST_CHECK int dr_wal_sysid_of(const char *datadir, uint64_t *out);

/* What dr_wal_push found. */
enum dr_wal_pushed {
    DR_WAL_STORED = 1, /* stored now */
    DR_WAL_ALREADY,    /* the same bytes were already archived (a retry) */
};

/* Archives the file at path (its base name is the WAL file name) for cluster sysid: durable in
 * the repository when this returns 0. The object is written exclusively, so of two pushes of one
 * name one writes; a push of a name already archived reads the archived copy and succeeds when
 * the bytes are the same. Errors: DR_EEXIST (archived with different bytes: the message says
 * so), DR_EUSAGE (not a WAL file name, too large), DR_ENOENT (no file at path), DR_ECORRUPT (the
 * archived copy is damaged), DR_EIO, DR_ENOSPC, DR_ENET. */
DR_MUST_CHECK int dr_wal_push(struct dr_repo *r, uint64_t sysid, const char *path,
                              enum dr_wal_pushed *out);

/* Fetches the archived object obj (a name dr_wal_object_name built), opens it and appends the
 * file's bytes to out. Errors: DR_ENOENT, DR_ECORRUPT, DR_EUNSUPPORTED (each naming obj),
 * DR_EIO, DR_ENET. */
DR_MUST_CHECK int dr_wal_read(struct dr_repo *r, const char *obj, struct dr_buf *out);

/* The error of a WAL file that is not archived: DR_ENOENT, naming the file and the cluster. */
int dr_wal_not_archived(const char *name, uint64_t sysid);

/* Fetches WAL file name of cluster sysid into dest, atomically (a temporary file renamed):
 * PostgreSQL may read dest as soon as it exists. Errors: DR_ENOENT (not archived; nothing is
 * written), DR_EUSAGE (not a WAL file name), DR_ECORRUPT, DR_EIO, DR_ENET. */
DR_MUST_CHECK int dr_wal_get(struct dr_repo *r, uint64_t sysid, const char *name, const char *dest);

/* One archived file. */
struct dr_wal_entry {
    struct dr_wal_file f;
    uint64_t size; /* of the object */
};

/* A run of consecutive archived segments of one timeline: [first, last] as segment numbers. */
struct dr_wal_range {
    uint32_t tli;
    uint64_t first, last;
};

/* What is archived of one cluster. */
struct dr_wal_archive {
    uint64_t sysid;
    uint64_t seg_size;      /* bytes per segment (from the first segment's object); 0: none */
    struct dr_wal_entry *v; /* sorted: by timeline, then segment, then name */
    size_t n;
    struct dr_wal_range *ranges; /* runs of segments per timeline, in order */
    size_t nranges;
    uint64_t bytes; /* of all objects */
    size_t valloc;  /* v's allocation (dr_wal_list) */
};

/* Lists the archive of every cluster in the repository (sysid 0), or of one. *out is sorted by
 * system identifier; free with dr_wal_archives_free. Errors: DR_EIO, DR_ENET, DR_ECORRUPT (a
 * segment object whose header is damaged, when its size is needed). */
DR_MUST_CHECK int dr_wal_list(struct dr_repo *r, uint64_t sysid, struct dr_wal_archive **out,
                              size_t *out_n);
void dr_wal_archives_free(struct dr_wal_archive *a, size_t n);

/* Parses an LSN as PostgreSQL prints it ("16/B374D848") into its 64-bit value. Errors:
 * DR_EUSAGE (not an LSN). */
DR_MUST_CHECK int dr_wal_parse_lsn(const char *s, uint64_t *out);
/* The WAL file name of segment segno of timeline tli for segments of seg_size bytes. */
void dr_wal_segment_name(uint32_t tli, uint64_t segno, uint64_t seg_size,
                         char out[DR_WAL_FILE_NAME_MAX]);
/* The segment number of a parsed segment file name. */
uint64_t dr_wal_segno(const struct dr_wal_file *f, uint64_t seg_size);

/* Parses a recovery target time as PostgreSQL's recovery_target_time takes it, in the forms
 * "YYYY-MM-DD HH:MM:SS[.fraction][Z|+HH|+HH:MM|+HHMM|-...| UTC]" (or 'T' between date and
 * time); without a zone the local time zone. Errors: DR_EUSAGE naming s. */
DR_MUST_CHECK int dr_wal_parse_time(const char *s, int64_t *out_ns);

/* The gap that keeps a base backup from recovering to the end of the archive: the first
 * segment missing on timeline tli after from (a segment number), or 0 when the archive runs
 * without gap from from to the last archived segment of tli. *out_last_ok is the last segment
 * reachable. */
uint64_t dr_wal_first_gap(const struct dr_wal_archive *a, uint32_t tli, uint64_t from,
                          uint64_t *out_last_ok);

/* Recovery settings for a restored data directory (PostgreSQL 12 and later): appends them to
 * datadir/postgresql.auto.conf and creates recovery.signal (and removes standby.signal), so
 * that starting the server recovers with no manual step. restore_command is the shell command;
 * end_command (NULL: none) is recovery_end_command, run once when recovery ends; target_kind is
 * "time", "lsn", "xid" or NULL (to the end of the archive), target its value. Errors: DR_EIO
 * naming the file. */
DR_MUST_CHECK int dr_wal_write_recovery(const char *datadir, const char *restore_command,
                                        const char *end_command, const char *target_kind,
                                        const char *target);

/* ---- point-in-time restore ---- */

/* A recovery target: the end of the archive, a time, an LSN or a transaction id. */
enum dr_wal_target_kind {
    DR_WAL_TARGET_LATEST = 0,
    DR_WAL_TARGET_TIME,
    DR_WAL_TARGET_LSN,
    DR_WAL_TARGET_XID,
};
struct dr_wal_target {
    enum dr_wal_target_kind kind;
    const char *value; /* as given: what recovery_target_* is set to */
    int64_t time_ns;   /* DR_WAL_TARGET_TIME, parsed */
    uint64_t lsn;      /* DR_WAL_TARGET_LSN, parsed */
};

/* Parses value as a target of kind (value NULL for latest). Errors: DR_EUSAGE naming it. */
DR_MUST_CHECK int dr_wal_target_parse(enum dr_wal_target_kind kind, const char *value,
                                      struct dr_wal_target *out);
/* The recovery_target_* suffix of a target ("time", "lsn", "xid"), NULL for latest. */
const char *dr_wal_target_setting(const struct dr_wal_target *t);

/* Whether base backup s (a postgresql snapshot) can recover to target t: it ended before the
 * target (its end time, else its start, before a time; its end LSN at or before an LSN); any
 * base backup can reach the latest point or a transaction id (whose time is not known before
 * replay). False for a snapshot that is not a base backup. */
bool dr_wal_backup_reaches(const struct dr_snapshot *s, const struct dr_wal_target *t);

/* The system identifier of a base backup's cluster and the first segment recovery from it
 * fetches from the archive: the one that holds its end position (meta pg.system_identifier,
 * pg.end_lsn, pg.end_timeline), for segments of seg_size bytes (0: *out_segno is 0); the
 * backup itself carries the WAL before. Errors: DR_ECORRUPT (missing or malformed: not a base
 * backup drrepo took). */
DR_MUST_CHECK int dr_wal_backup_start(const struct dr_snapshot *s, uint64_t seg_size,
                                      uint64_t *out_sysid, uint32_t *out_tli, uint64_t *out_segno);

/* Checks that the archive of the backup's cluster holds the WAL that recovery from s to t
 * replays: without a gap from the backup's end segment (dr_wal_backup_start) to the end of its run
 * (for an LSN target, at least to the target's segment). *out_last (may be NULL) is the name of the
 * last segment recovery can reach ("" when the archive has none of the cluster's WAL). Errors:
 * DR_EDAMAGED (a gap before an LSN target: the message names the missing segment),
 * DR_ECORRUPT (s is not a base backup), listing errors. A gap after the start when the target
 * is not an LSN is not an error: *out_gap names its first missing segment (empty: none). */
DR_MUST_CHECK int dr_wal_check_chain(struct dr_repo *r, const struct dr_snapshot *s,
                                     const struct dr_wal_target *t,
                                     char out_last[DR_WAL_FILE_NAME_MAX],
                                     char out_gap[DR_WAL_FILE_NAME_MAX]);

/* dr_wal_check_chain on an archive already listed (dr_wal_list of the backup's cluster: a, n),
 * for a caller that goes on to fetch from it. */
DR_MUST_CHECK int dr_wal_chain(const struct dr_wal_archive *a, size_t n,
                               const struct dr_snapshot *s, const struct dr_wal_target *t,
                               char out_last[DR_WAL_FILE_NAME_MAX],
                               char out_gap[DR_WAL_FILE_NAME_MAX]);

/* The window a cluster can be recovered to: from the end of the oldest base backup whose WAL
 * chain reaches the newest base backup's reachable end, to that end. */
struct dr_wal_window {
    size_t backups;      /* base backups of the cluster; 0: no window (the rest is unset) */
    struct dr_id backup; /* the oldest base backup that reaches `to` */
    int64_t from_ns;     /* its end (pg.end_time, else the snapshot's time) */
    char from_lsn[32];   /* its end LSN */
    char
        to[DR_WAL_FILE_NAME_MAX]; /* the last segment recovery reaches ("": the backup's own WAL) */
    int64_t to_ns;                /* when that segment was archived (0: unknown) */
};
/* Computes the window of archive a from the snapshots (n, oldest first). Errors: those of
 * dr_backend_age other than DR_EUNSUPPORTED. */
DR_MUST_CHECK int dr_wal_window(struct dr_repo *r, const struct dr_wal_archive *a,
                                const struct dr_snap_entry *snaps, size_t n,
                                struct dr_wal_window *out);

/* ---- retention ---- */

/* Removes the archived WAL that no base backup in the repository can replay: of each cluster
 * that has base backups, every segment, partial segment and backup history file numbered below
 * the start segment of its oldest base backup (history files stay: they are small and name the
 * timelines). The archive of a cluster without a base backup is kept whole. Call under the
 * exclusive lock; dry_run counts without deleting. *out_files and *out_bytes: what was (or would
 * be) removed. Errors: listing and deleting errors, DR_ELOCKED (the lock's lease is lost). */
DR_MUST_CHECK int dr_wal_prune(struct dr_repo *r, bool dry_run, uint64_t *out_files,
                               uint64_t *out_bytes);

/* The index in snaps (n, oldest first) of the newest base backup of cluster sysid that ended at
 * or before time_ns, or n when there is none: the backup a point-in-time window back to
 * time_ns starts from (forget --keep-wal-within). */
size_t dr_wal_window_backup(const struct dr_snap_entry *snaps, size_t n, const char *sysid,
                            int64_t time_ns);

/* ---- the spool: asynchronous push, prefetching get (spool.c) ---- */

/* The spool of the restore_command a point-in-time restore writes, relative to the data
 * directory. */
#define DR_WAL_RESTORE_SPOOL "pg_wal/drrepo-spool"

/* The spool directory of cluster sysid for kind ("push" or "get") below spool, created (0700)
 * when missing; malloc'd into *out. Errors: DR_EIO naming it. */
DR_MUST_CHECK int dr_wal_spool_dir(const char *spool, uint64_t sysid, const char *kind, char **out);
/* Takes the worker lock of spool directory dir: 1 taken (*out_fd holds it, and so does a child
 * forked while it is open), 0 a worker holds it. Errors: DR_EIO. */
DR_MUST_CHECK int dr_wal_spool_lock(const char *dir, int *out_fd);
/* Whether a worker holds the lock of dir now. */
bool dr_wal_spool_busy(const char *dir);

/* Whether the push worker archived WAL file name (1), failed to (-1: the caller pushes it
 * itself, and reports), or neither yet (0); the mark is consumed. */
int dr_wal_spool_pushed(const char *dir, const char *name);
/* The push worker's round: archives every file PostgreSQL marked ready in waldir
 * (archive_status/NAME.ready) that has no mark in dir, history files first, then segments in
 * order, and marks each archived (after dr_wal_push returned) or failed. *out_n: files archived
 * now. Errors: DR_EIO (waldir's archive_status cannot be read), DR_EINTR. */
DR_MUST_CHECK int dr_wal_push_ready(struct dr_repo *r, uint64_t sysid, const char *waldir,
                                    const char *dir, size_t *out_n);

/* The get worker's plan, as dr_wal_spool_plan reads it. */
struct dr_wal_plan {
    bool has;                        /* a worker wrote one */
    bool planned;                    /* the name asked for is in it */
    bool end;                        /* the archive ended before the plan was full */
    size_t queued;                   /* planned files still in the spool */
    char last[DR_WAL_FILE_NAME_MAX]; /* the last planned name ("": none) */
};
/* Reads dir's plan for WAL file name. No plan is not an error (out->has false). Errors:
 * DR_EIO. */
DR_MUST_CHECK int dr_wal_spool_plan(const char *dir, const char *name, struct dr_wal_plan *out);
/* Removes dir's plan (before a new get worker starts: no command may wait on the last one's). */
void dr_wal_spool_plan_clear(const char *dir);
/* Moves WAL file name from get spool dir to dest if the worker fetched it: 1 moved, 0 not
 * there. Removes spooled segments of its timeline before it, which recovery does not ask for
 * again. Errors: DR_EUSAGE (not a WAL file name), DR_EIO. */
DR_MUST_CHECK int dr_wal_spool_take(const char *dir, const char *name, const char *dest);
/* The get worker: writes the plan (the segments that follow segment after on its timeline,
 * archived without a gap, n at most, up to 256), then fetches, verifies and writes each into
 * dir. Errors: those of dr_wal_list and dr_wal_read, DR_EIO, DR_ENOSPC. */
DR_MUST_CHECK int dr_wal_prefetch(struct dr_repo *r, uint64_t sysid, const char *dir,
                                  const char *after, unsigned n);
/* Whether WAL file name of cluster sysid is archived, by the object's presence: no key is
 * needed, so PostgreSQL's probes for files that are not there (the next timeline's history,
 * the end of the archive) cost no key derivation. 0 archived; DR_ENOENT (not archived: the
 * message of dr_wal_not_archived), DR_EUSAGE, DR_EIO, DR_ENET. */
DR_MUST_CHECK int dr_wal_archived(struct dr_backend *b, uint64_t sysid, const char *name);

#endif
