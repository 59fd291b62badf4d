/* pg.c: PLACEHOLDER, to be replaced by the PostgreSQL source (issue 5). */
#include "drrepo/source.h"

#include "drrepo/error.h"

int dr_source_pg_open(const char *conninfo, struct dr_pg_source **out,
                      const struct dr_tree_source **out_src)
{
    (void)conninfo;
    (void)out;
    (void)out_src;
    return dr_errorf(DR_EUNSUPPORTED, "postgresql source: not implemented yet");
}

void dr_source_pg_close(struct dr_pg_source *ps)
{
    (void)ps;
}
