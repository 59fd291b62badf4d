/* retention.h: which snapshots a keep policy keeps (restic's rules, which users know).
 *
 * Snapshots are grouped (by host and paths by default); within a group, newest first:
 *   --keep-last N       the N newest
 *   --keep-hourly N     the newest of each of the N newest hours that have snapshots
 *   --keep-daily N      ... days;  --keep-weekly N ... ISO weeks;  --keep-monthly N ... months;
 *   --keep-yearly N     ... years
 *   --keep-within D     every snapshot within D of the group's newest snapshot
 *   --keep-tag T        every snapshot with tag T
 * A snapshot is kept if any rule keeps it; the reasons are recorded. Time buckets use the
 * local time zone (TZ). A pure function: no I/O. */
#ifndef DR_RETENTION_H
#define DR_RETENTION_H

#include "drrepo/common.h"

struct dr_keep_policy {
    uint32_t last, hourly, daily, weekly, monthly, yearly;
    int64_t within_ns;
    char **tags;
    size_t ntags;
};

/* Group by these fields. */
#define DR_GROUP_HOST 1u
#define DR_GROUP_TAGS 2u
#define DR_GROUP_PATHS 4u

struct dr_keep_input {
    int64_t time_ns;
    const char *host;
    char **tags;
    size_t ntags;
    char **paths;
    size_t npaths;
};

#define DR_KEEP_LAST 1u
#define DR_KEEP_HOURLY 2u
#define DR_KEEP_DAILY 4u
#define DR_KEEP_WEEKLY 8u
#define DR_KEEP_MONTHLY 16u
#define DR_KEEP_YEARLY 32u
#define DR_KEEP_WITHIN 64u
#define DR_KEEP_TAG 128u
#define DR_KEEP_WAL 256u /* forget --keep-wal-within: the base backup a PITR window starts from */

struct dr_keep_result {
    unsigned reasons; /* 0: remove */
    size_t group;     /* index of the snapshot's group (0-based, in order of first appearance) */
};

/* True when the policy keeps nothing by itself: an empty policy would remove everything, so
 * forget refuses it. */
bool dr_keep_policy_empty(const struct dr_keep_policy *p);

/* Applies p to the n snapshots in (any order), writing one result per input to out.
 * group_by is a mask of DR_GROUP_*. */
void dr_keep_apply(const struct dr_keep_policy *p, unsigned group_by,
                   const struct dr_keep_input *in, size_t n, struct dr_keep_result *out);

/* "last,daily,tag" for the reasons mask, into buf. */
void dr_keep_reasons(unsigned reasons, char *buf, size_t len);

#endif
