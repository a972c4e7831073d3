/* dispatch: the commands registered for WP-cron (channels file + `[dispatch] command`) and
 * whether the web user can execute them: collected and judged once (--scan), or kept under
 * watch on the live daemon's loop, logging a verdict only when it changes.
 *
 * The web user writes the channels file, so judging is bounded and kept off the event loop: at
 * most DISPATCH_MAX_COMMANDS bridges of the file are judged (the rest are counted in a
 * dispatch_invalid), identical commands once per round, and the live daemon judges on a worker
 * thread (model and kernel checks, DISPATCH_MAX_CHILDREN children at a time); the loop only
 * opens the file and takes the results. The file is read only when it is safe to: a regular
 * file with a single link, owned by root, the web user or an owner the policy's rule for it
 * allows, and readable by the web user; else it is refused unread. */
#ifndef PERMWATCH_DISPATCH_H
#define PERMWATCH_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "channels.h"
#include "config.h"
#include "finding.h"
#include "reach.h"

struct ev_loop;

/* Bridges of the channels file judged per round, in file order (the policy's own commands are
 * always judged). */
#define DISPATCH_MAX_COMMANDS 256
/* Kernel confirmations (reach_kernel_start) running at once. */
#define DISPATCH_MAX_CHILDREN 4
/* Directories watched for the verdicts at most (the inotify watches are shared with the
 * site's: a hostile channels file must not use them up). */
#define DISPATCH_MAX_WATCHES 1024

/* One command and its verdict. */
struct dispatch_entry {
    char *channel; /* bridge name; "" for a `[dispatch] command` of the policy */
    char *command; /* as registered */
    unsigned line; /* in the channels file; 0 for policy commands */
    struct reach_verdict verdict;
    int kernel_errno; /* the kernel could not be asked (reach_kernel_confirm's errno), else 0 */
};

/* Everything registered, judged. */
struct dispatch_set {
    char *channels_path; /* absolute path of the channels file */
    int channels_errno;  /* 0, or why it could not be read (ENOENT: none, not a finding) */
    char refused[200];   /* why it was opened but not read (unsafe to read), else "" */
    size_t beyond_cap;   /* bridges registered beyond DISPATCH_MAX_COMMANDS, not judged */
    struct dispatch_entry *items;
    size_t n;
    struct channels_error *errors; /* problems of the channels file */
    size_t nerrors;
    char syntax_check[300]; /* who judged the file's syntax: "php -l (PATH)" or "permwatch's
                             * own (WHY php was not asked or gave no answer)"; "" unread */
};

/* Read and parse C's channels file (never through a symlink, only when safe to read; at most
 * 4 MiB), add the policy's commands, and judge each for the web user with the model and the
 * kernel, on the calling thread, to completion. Returns 0, or -1 with errno ENOMEM. Free with
 * dispatch_set_free. */
int dispatch_collect(const struct config *c, struct dispatch_set *out);
void dispatch_set_free(struct dispatch_set *s);

/* Call FN for each finding of S: one dispatch_unreachable per command that is not OK, one
 * dispatch_invalid for a channels file with problems (unreadable but present, refused, more
 * bridges than DISPATCH_MAX_COMMANDS, parse errors; the reason never quotes the file). The
 * finding and its strings are valid during the call only. Returns the count. */
typedef void (*dispatch_finding_fn)(void *ctx, const struct finding *f);
size_t dispatch_findings(const struct config *c, const struct dispatch_set *s,
                         dispatch_finding_fn fn, void *ctx);

/* ---- live ---------------------------------------------------------------------------- */

struct dispatch;

/* A watcher on loop EV for the policy C (borrowed: pass the new one to dispatch_reload).
 * Starts judging everything on a worker thread; when it is done, logs the findings and
 * watches every directory a verdict depends on. Until then dispatch_last is an empty set.
 * Returns NULL with errno (EMFILE: no inotify instance left). */
struct dispatch *dispatch_new(struct ev_loop *ev, const struct config *c);

/* Switch to policy C and judge again (findings open and close accordingly); a judgement under
 * way for the old policy is abandoned. */
void dispatch_reload(struct dispatch *d, const struct config *c);

/* Open dispatch findings now, and how many commands are registered. */
size_t dispatch_open_count(const struct dispatch *d);
size_t dispatch_command_count(const struct dispatch *d);

/* The commands as last judged (valid until the next judgement), or NULL. */
const struct dispatch_set *dispatch_last(const struct dispatch *d);

/* Stop watching and free (no `resolved` entries: stopping is not a resolution). Waits for a
 * judgement under way to notice (within one command's model or 100 ms of kernel checks). */
void dispatch_free(struct dispatch *d);

#endif
