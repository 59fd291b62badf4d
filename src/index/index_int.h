/* index_int.h: what the files of src/index/ share and nobody else uses. */
#ifndef DR_INDEX_INT_H
#define DR_INDEX_INT_H

#include "drrepo/index.h"

#include <stdio.h>

/* Checks the structure of the LMDB data file open as fd (pages.c): 0 sound, 1 damaged (why says
 * where and what, for the message), < 0 the file could not be read (DR_EIO). */
DR_MUST_CHECK int dr_index_check_pages(int fd, size_t psize, uint64_t last_pgno, uint64_t file_size,
                                       char *why, size_t whylen);

#endif
