/* drill_pg.c: PLACEHOLDER, to be replaced by the PostgreSQL drill (issue 5). */
#include "drrepo/drill.h"

#include "drrepo/error.h"

int dr_drill_pg(struct dr_repo *r, const struct dr_snapshot *s, const char *dir,
                const struct dr_drill_opts *o, struct dr_drill_result *res)
{
    (void)r, (void)s, (void)dir, (void)o, (void)res;
    return dr_errorf(DR_EUNSUPPORTED, "postgresql drills: not implemented yet");
}
