/* reach: can the web user execute a dispatch command? A model of the kernel's checks (path
 * resolution through symlinks, search permission on every directory passed, read and execute
 * on the file, POSIX ACLs with their mask, noexec mounts, #! interpreters), naming the first
 * component that denies, cross-checked by asking the kernel itself as that user. */
#ifndef PERMWATCH_REACH_H
#define PERMWATCH_REACH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "account.h"

enum reach_status {
    REACH_OK,      /* executable by the principal */
    REACH_DENIED,  /* a permission (mode bits or ACL) denies: see blocked_at, reason */
    REACH_MISSING, /* a component does not exist (or a bare name is not on the PATH) */
    REACH_LOOP,    /* too many symlinks (ELOOP) */
    REACH_NOEXEC,  /* the file (or its interpreter) is on a noexec mount */
    REACH_INVALID  /* not a regular file, empty command, relative path with a slash, ... */
};

struct reach_verdict {
    enum reach_status status;
    char resolved[PATH_MAX];    /* the file the kernel would execute (symlinks resolved) */
    char interpreter[PATH_MAX]; /* for a #! script: the interpreter resolved, else "" */
    char blocked_at[PATH_MAX];  /* the first path component that denies, else "" */
    char reason[512];           /* one line, e.g. "/home/opencode: mode 0750 opencode:opencode,
                                   www-data is not owner and not in group opencode" */
    char **watch;               /* every directory whose change can change the verdict
                                   (each directory passed through, symlinks' directories
                                   included, and the final file's directory), deduplicated;
                                   owned by the verdict */
    size_t nwatch;
    bool kernel_checked;        /* the kernel was asked (reach_kernel_confirm) */
    bool kernel_disagreed;      /* ... and said otherwise: status was set from its answer */
};

/* Model the kernel's answer for WHO executing COMMAND (an absolute path, or a bare name
 * looked up in PATH_ENV, colon-separated absolute directories). Fills *V. Returns 0, or -1
 * with errno ENOMEM (V is then freed). Caller frees with reach_verdict_free. */
int reach_check(const struct principal *who, const char *command, const char *path_env,
                struct reach_verdict *v);

/* Ask the kernel: in a short-lived child that drops to WHO's uid, gid and groups, test
 * execute access to V->resolved (and read on a script, execute on its interpreter) with
 * access(2). When the answer differs from V->status, the kernel wins: V->status becomes
 * REACH_OK or REACH_DENIED, kernel_disagreed is set and reason says so. Returns 0, or -1
 * with errno when the child could not run (V unchanged). */
int reach_kernel_confirm(const struct principal *who, struct reach_verdict *v);

void reach_verdict_free(struct reach_verdict *v);

/* "ok", "denied", "missing", "loop", "noexec", "invalid". */
const char *reach_status_name(enum reach_status s);

#endif
