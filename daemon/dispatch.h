/* dispatch: the commands registered for WP-cron (channels file + `[dispatch] command`) and
 * whether the web user can execute them: collected and judged once (--scan), or kept under
 * watch on the live daemon's loop, logging a verdict only when it changes. */
#ifndef PERMWATCH_DISPATCH_H
#define PERMWATCH_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "channels.h"
#include "config.h"
#include "finding.h"
#include "reach.h"

struct ev_loop;

/* One command and its verdict. */
struct dispatch_entry {
    char *channel; /* bridge name; "" for a `[dispatch] command` of the policy */
    char *command; /* as registered */
    unsigned line; /* in the channels file; 0 for policy commands */
    struct reach_verdict verdict;
};

/* Everything registered, judged. */
struct dispatch_set {
    char *channels_path; /* absolute path of the channels file */
    int channels_errno;  /* 0, or why it could not be read (ENOENT: none, not a finding) */
    struct dispatch_entry *items;
    size_t n;
    struct channels_error *errors; /* problems of the channels file */
    size_t nerrors;
};

/* Read and parse C's channels file (never through a symlink; at most 4 MiB), add the
 * policy's commands, and judge each for the web user with the model and the kernel.
 * Returns 0, or -1 with errno ENOMEM. Free with dispatch_set_free. */
int dispatch_collect(const struct config *c, struct dispatch_set *out);
void dispatch_set_free(struct dispatch_set *s);

/* Call FN for each finding of S: one dispatch_unreachable per command that is not OK, one
 * dispatch_invalid for a channels file with problems (or unreadable but present). The
 * finding and its strings are valid during the call only. Returns the count. */
typedef void (*dispatch_finding_fn)(void *ctx, const struct finding *f);
size_t dispatch_findings(const struct config *c, const struct dispatch_set *s,
                         dispatch_finding_fn fn, void *ctx);

/* ---- live ---------------------------------------------------------------------------- */

struct dispatch;

/* A watcher on loop EV for the policy C (borrowed: pass the new one to dispatch_reload).
 * Judges everything at once, logs the findings, and watches every directory a verdict
 * depends on. Returns NULL with errno (EMFILE: no inotify instance left). */
struct dispatch *dispatch_new(struct ev_loop *ev, const struct config *c);

/* Switch to policy C and judge again (findings open and close accordingly). */
void dispatch_reload(struct dispatch *d, const struct config *c);

/* Open dispatch findings now, and how many commands are registered. */
size_t dispatch_open_count(const struct dispatch *d);
size_t dispatch_command_count(const struct dispatch *d);

/* The commands as last judged (valid until the next judgement), or NULL. */
const struct dispatch_set *dispatch_last(const struct dispatch *d);

/* Stop watching and free (no `resolved` entries: stopping is not a resolution). */
void dispatch_free(struct dispatch *d);

#endif
