/* phplint: ask PHP itself whether a buffer is valid PHP (`php -n -l`, the code on its standard
 * input), as an unprivileged user, bounded in time and memory. PHP only compiles the code: it is
 * never run. Blocking: call it off the event loop (dispatch's worker thread). */
#ifndef PERMWATCH_PHPLINT_H
#define PERMWATCH_PHPLINT_H

#include <stdbool.h>
#include <stddef.h>

#include "account.h"

#define PHPLINT_SECONDS   5                   /* wall and CPU time allowed */
#define PHPLINT_MAX_BYTES (256 * 1024 * 1024) /* address space (RLIMIT_AS) */

enum phplint_verdict {
    PHPLINT_OK,      /* "No syntax errors detected" */
    PHPLINT_ERROR,   /* a parse error: LINE and MESSAGE say where and what */
    PHPLINT_UNKNOWN, /* PHP could not answer (not found, timed out, killed, odd output) */
};

struct phplint_result {
    enum phplint_verdict verdict;
    unsigned line;     /* PHPLINT_ERROR: the line PHP names, 0 if none */
    char message[160]; /* PHPLINT_ERROR: PHP's message without the file part; UNKNOWN: why */
};

/* Run PHP (an absolute path) as WHO (uid, gid, supplementary groups; the switch needs root,
 * without it PHP runs as permwatch's own user) with an environment of PATH=/usr/bin:/bin only,
 * no php.ini (-n), RLIMIT_AS PHPLINT_MAX_BYTES, RLIMIT_CPU PHPLINT_SECONDS, RLIMIT_CORE and
 * RLIMIT_FSIZE 0, a wall-clock deadline of PHPLINT_SECONDS (then SIGKILL), in a new session,
 * standard error discarded; BUF (LEN bytes) fed on its standard input. Fills *OUT; returns 0,
 * or -1 with errno when the child could not be started (*OUT is then UNKNOWN). Thread-safe:
 * only async-signal-safe calls between fork and exec. */
int phplint_run(const char *php, const struct principal *who, const char *buf, size_t len,
                struct phplint_result *out);

/* The absolute path of "php" on the PATH PATHS (colon separated), executable by root, into
 * DST (LEN bytes). Returns true when found. */
bool phplint_find(const char *paths, char *dst, size_t len);

#endif
