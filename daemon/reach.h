/* reach: can the web user execute a dispatch command? A model of the kernel's checks (path
 * resolution through symlinks, search permission on every directory passed, read and execute
 * on the file, POSIX ACLs with their mask, noexec mounts, #! interpreters), naming the first
 * component that denies, cross-checked by asking the kernel itself as that user.
 *
 * The model follows fs/namei.c and fs/binfmt_script.c: components are looked up one by one
 * from '/', each directory passed needs search permission (also for "." and ".."); symlinks
 * are expanded in place (relative targets from the symlink's directory), at most 40 per
 * exec; ".." is the physical parent of the directory reached; a trailing symlink in a sticky
 * world-writable directory obeys fs.protected_symlinks. Permissions follow
 * acl_permission_check/posix_acl_permission: the owner class alone decides for the owner;
 * else an ACL (consulted only when the group class bits are not all zero, as the kernel
 * does); else the group class when the file's group is among WHO's groups; else other. uid 0
 * bypasses as CAP_DAC_OVERRIDE does (directories always, files need some x bit). A #! script
 * needs x and r (its interpreter reads it); its interpreter (the first word of the line, as
 * the kernel cuts it from the first 256 bytes) is checked the same way, one more #! level at
 * most; `#!/usr/bin/env NAME` (also `env -S NAME ...`) looks NAME up on the PATH, as env
 * does. A bare command name is looked up as execvp(3) does. */
#ifndef PERMWATCH_REACH_H
#define PERMWATCH_REACH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "account.h"

/* Symlinks one exec may pass (the kernel's MAXSYMLINKS): one more is REACH_LOOP. */
#define REACH_MAX_SYMLINKS 40
/* How long reach_kernel_confirm waits for its child before killing it. */
#define REACH_KERNEL_TIMEOUT_MS 2000
/* The PATH used when reach_check gets none: dash's default, what `/bin/sh -c` (PHP's
 * proc_open) searches when PHP-FPM cleared the environment. */
#define REACH_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum reach_status {
    REACH_OK,      /* executable by the principal */
    REACH_DENIED,  /* a permission (mode bits or ACL) denies: see blocked_at, reason */
    REACH_MISSING, /* a component does not exist (or a bare name is not on the PATH) */
    REACH_LOOP,    /* too many symlinks (ELOOP) */
    REACH_NOEXEC,  /* the file (or its interpreter) is on a noexec mount */
    REACH_INVALID  /* not a regular file, empty command, relative path with a slash, ... */
};

/* One access(2) test that the model's verdict rests on, replayed by reach_kernel_confirm as
 * the principal. */
struct reach_access {
    char *path;     /* as executed (may pass symlinks), so the kernel walks what execve walks;
                       "" stands for "nothing to find" (an empty PATH) */
    char *resolved; /* the same file with symlinks resolved, "" when it does not exist */
    int mode;       /* X_OK (also: must be a regular file) or R_OK */
    bool alt;       /* an alternative to the previous entry (PATH candidates of a name that
                       was not found): the run passes when any of its entries passes */
};

struct reach_verdict {
    enum reach_status status;
    char resolved[PATH_MAX];    /* the file the kernel would execute (symlinks resolved), ""
                                   when it was not found */
    char interpreter[PATH_MAX]; /* for a #! script: the interpreter resolved, else "" */
    char env_command[PATH_MAX]; /* for `#!/usr/bin/env NAME`: NAME as env finds it on the
                                   PATH, resolved, else "" */
    char blocked_at[PATH_MAX];  /* the first path component that denies (for MISSING, LOOP and
                                   INVALID: the component where it fails), else "" */
    char reason[512];           /* one line, e.g. "/home/opencode: mode 0750 opencode:opencode,
                                   www-data is not owner and not in group opencode (class
                                   other lacks x)"; "" for REACH_OK */
    char **watch;               /* every directory whose change can change the verdict
                                   (each directory passed through, symlinks' directories
                                   included, and the final file's directory), deduplicated;
                                   owned by the verdict */
    size_t nwatch;
    struct reach_access *checks; /* what reach_kernel_confirm asks, in order; owned */
    size_t nchecks;
    bool kernel_checked;   /* the kernel was asked (reach_kernel_confirm) */
    bool kernel_disagreed; /* ... and said otherwise: status was set from its answer */
};

/* Model the kernel's answer for WHO executing COMMAND (an absolute path, or a bare name
 * looked up in PATH_ENV, colon-separated absolute directories; NULL: REACH_DEFAULT_PATH;
 * empty and relative entries are skipped). Run as root: the model looks past a denial (to
 * find what exists, the interpreter and every directory to watch) but reports the first
 * failure in the kernel's order. *V need not be initialized (an earlier verdict in it must
 * have been freed). Returns 0, or -1 with errno ENOMEM (V is then freed). Caller frees with
 * reach_verdict_free. */
int reach_check(const struct principal *who, const char *command, const char *path_env,
                struct reach_verdict *v);

/* Ask the kernel: in a short-lived child that drops to WHO's uid, gid and groups, replay
 * V->checks with access(2) (execute on the file, read on a script, execute on its interpreter
 * and on env's command). When the answer differs from V->status, the kernel wins: V->status
 * becomes REACH_OK or REACH_DENIED, kernel_disagreed is set, blocked_at names the first
 * directory the kernel refuses to search (else the file) and reason says "kernel says ...;
 * model said ...". A REACH_INVALID verdict is never overridden (access(2) cannot see a
 * malformed #! line), and one without checks (an empty or relative command) is left
 * unchecked. Returns 0, or -1 with errno when the child could not run or answer (ETIMEDOUT
 * after REACH_KERNEL_TIMEOUT_MS; V unchanged). Safe in a threaded process: the child makes
 * only system calls before _exit. */
int reach_kernel_confirm(const struct principal *who, struct reach_verdict *v);

/* reach_kernel_confirm in steps, for a caller that runs several children at once: START forks
 * the child (returns 0, or -1 with errno; JOB's fd is a non-blocking pipe to poll for input);
 * when it is readable, FINISH reads the answer: returns 0 with V updated as
 * reach_kernel_confirm does (child reaped, fd closed), -1 with errno EAGAIN when more is to
 * come (poll again), or -2 with errno when the child failed (EIO: no answer; its setup errno)
 * and JOB is ended. ABORT kills and reaps the child and closes the fd (a timeout). V must
 * have checks. The child is a fork of the calling thread: any thread may call these. */
struct reach_kjob {
    int pid;
    int fd;
    size_t got;
    char answer[20]; /* the child's answer, as read so far */
};
int reach_kernel_start(const struct principal *who, const struct reach_verdict *v,
                       struct reach_kjob *job);
int reach_kernel_finish(const struct principal *who, struct reach_verdict *v,
                        struct reach_kjob *job);
void reach_kernel_abort(struct reach_kjob *job);

/* Whether WHO may read the file PATH whose stat is ST, by the rules of the model (mode bits,
 * ACL with its mask, root's override). PATH may be /proc/self/fd/N. Returns 1 or 0, -1 with
 * errno ENOMEM. Thread-safe. */
int reach_readable(const struct principal *who, const char *path, const struct stat *st);

/* Copy SRC into *DST (a deep copy: watch and checks are duplicated). Returns 0, or -1 with
 * errno ENOMEM (*DST then owns nothing). Free with reach_verdict_free. */
int reach_verdict_copy(struct reach_verdict *dst, const struct reach_verdict *src);

/* Free what V owns (watch, checks) and zero those fields; V itself is the caller's. */
void reach_verdict_free(struct reach_verdict *v);

/* "ok", "denied", "missing", "loop", "noexec", "invalid". */
const char *reach_status_name(enum reach_status s);

#endif
