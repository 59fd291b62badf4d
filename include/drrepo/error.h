/* error.h: the one error convention of drrepo.
 *
 * Every fallible function returns int: >= 0 is success (possibly a count), < 0 is a value of
 * enum dr_err. The code that detects a failure records a message in a thread-local slot with
 * dr_errorf(); callers pass the code up unchanged or prefix context with dr_error_wrap(). Only
 * src/cmd/ prints the message, once, and maps the code to an exit code (docs/exit-codes.md).
 *
 * The enum is append-only: a value never changes meaning. */
#ifndef DR_ERROR_H
#define DR_ERROR_H

#include "drrepo/common.h"

enum dr_err {
    DR_OK = 0,
    DR_EIO = -1,           /* an I/O operation failed (read, write, fsync, rename) */
    DR_ENOENT = -2,        /* an object, file or snapshot does not exist */
    DR_ECORRUPT = -3,      /* bytes failed validation: bad magic, bad length, bad tag, bad id */
    DR_EAUTH = -4,         /* wrong password or key: no key file opens */
    DR_ENOSPC = -5,        /* no space left on the device */
    DR_ELOCKED = -6,       /* the repository is locked by another process */
    DR_EUSAGE = -7,        /* bad command line or bad argument from the caller */
    DR_ESOURCE = -8,       /* an input failed: command exited non-zero, stdin empty, server error */
    DR_ENET = -9,          /* a network peer could not be reached or dropped the connection */
    DR_EUNSUPPORTED = -10, /* a format version or feature this build does not know */
    DR_EINTERNAL = -11,    /* a library call failed in a way that is not the input's fault */
    DR_ENOREPO = -12,      /* the path is not a drrepo repository */
    DR_EEXIST = -13,       /* the object or file already exists */
    DR_EPARTIAL = -14,     /* finished, but some inputs could not be read */
    DR_EINTR = -15,        /* interrupted by a signal */
    DR_EDAMAGED = -16,     /* check found damage in the repository */
    DR_EINDEX = -17,       /* the local index (a cache) is damaged; the next open rebuilds it */
};

/* Returns a short, static name for code ("corrupt data", "wrong password", ...). */
const char *dr_strerror(int code);
/* Returns code's stable machine name: the enum name without "DR_E", in lower case ("io",
 * "corrupt", "locked", ...; "ok" for 0, "unknown" for a value not in the enum). Scripts read
 * it in JSON errors (docs/JSON.md): a name never changes, as the codes never do. */
const char *dr_error_name(int code);

/* Records a message for code in the thread-local slot and returns code. */
DR_PRINTF(2, 3) int dr_errorf(int code, const char *fmt, ...);

/* Like dr_errorf, appending ": " and strerror(errno). errno is read before anything else. */
DR_PRINTF(2, 3) int dr_error_errno(int code, const char *fmt, ...);

/* Maps an errno value to the closest code (ENOSPC -> DR_ENOSPC, ENOENT -> DR_ENOENT, ...). */
int dr_error_from_errno(int err);

/* Prefixes the recorded message with "context: " and returns code unchanged. */
DR_PRINTF(2, 3) int dr_error_wrap(int code, const char *fmt, ...);

/* The message recorded last on this thread, or "" when none is. Valid until the next dr_error*
 * call on this thread. */
const char *dr_error_msg(void);

/* Clears the message slot. */
void dr_error_clear(void);

/* An error carried away from the thread-local slot: from a worker thread to the thread that
 * reports it, or past a cleanup that may record errors of its own. */
struct dr_error_saved {
    int code;  /* DR_OK: nothing saved */
    char *msg; /* owned */
};

/* Saves code with the message recorded last on this thread into *out, replacing what it held. */
void dr_error_save(struct dr_error_saved *out, int code);

/* Records the saved message (dr_strerror of its code when none was saved) on this thread and
 * returns the saved code, as dr_errorf does. */
int dr_error_restore(const struct dr_error_saved *e);

/* Frees the saved message and resets e to nothing saved. */
void dr_error_saved_release(struct dr_error_saved *e);

#endif
