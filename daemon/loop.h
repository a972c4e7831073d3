/* loop: the long-running watchdog. One libev loop carries the inotify descriptor, the
 * signals (SIGTERM, SIGINT: stop; SIGHUP: reload) and the timers (periodic rescan, degraded
 * rescans, overflow backoff, suppressed summaries, systemd watchdog, site root wait). */
#ifndef PERMWATCH_LOOP_H
#define PERMWATCH_LOOP_H

#include "config.h"
#include "log.h"

struct loop;

/* Set up the daemon for the policy C (ownership passes to the daemon, which frees it or the
 * configs that replace it on reload) loaded from CONFIG_PATH (kept for reloads). Returns
 * NULL with errno when the event loop or inotify cannot be set up (EMFILE: no inotify
 * instance left); the caller still owns C then. */
struct loop *loop_new(struct config *c, const char *config_path);

/* Crawl the site, place the watches, tell systemd READY=1 and run until SIGTERM or SIGINT.
 * Returns 0 on a clean stop, or 2 when the site root cannot be opened at startup. */
int loop_run(struct loop *l);

/* Free everything (watches, findings, the config). */
void loop_free(struct loop *l);

/* ---- for the control commands (commands.c) ----------------------------------------- */

#include <stdbool.h>
#include <stdint.h>

#include "dispatch.h"
#include "ftable.h"
#include "mounts.h"
#include "repair.h"
#include "root.h"

struct loop_status {
    uint64_t uptime_usec;
    size_t watched_dirs;
    size_t open_findings;
    size_t by_kind[FINDING_KIND_COUNT];
    bool degraded;
    bool root_present;
    uint64_t overflows;
    uint64_t full_scans;
    uint64_t last_full_scan_realtime_usec; /* 0: none yet */
    uint64_t crawl_usec;                   /* duration of the last full crawl */
    uint64_t events[LOG_EVENT_COUNT];      /* entries logged per event (before rate limit) */
    uint64_t suppressed;                   /* entries held back by the rate limit */
    /* valid until the loop runs again: */
    bool site_root_changed;                    /* since the pin: repairs refused until reload */
    const char *repairs_refused;               /* why no repair may run, NULL when they may */
    uint64_t repairs_blocked;                  /* repairs refused for that reason */
    const struct root_chain *unsafe_ancestors; /* ancestors a non-root user can write */
    const struct mounts *mounts;               /* mount points inside the site, not crossed */
    uint64_t too_deep_dirs;                    /* directories at the depth cap (scan.h), not read */
    bool site_read_only; /* the site root's filesystem is mounted read-only (ST_RDONLY) */
    /* root_owned findings that appeared since start (at a path without an open one: those
     * of the startup crawl included), whether auto-repaired at once or left open */
    uint64_t root_owned_seen;
    /* by_kind[FINDING_ROOT_WRITER] and open_findings include the open root_writer findings
     * (kept by the writer module, not the findings table) */
    const char *backend;     /* "fanotify" or "inotify" */
    const char *backend_why; /* why that one (valid until the loop runs again) */
    uint64_t fan_dropped;    /* fanotify events dropped (other directories, own), 0 with inotify */
    uint64_t fan_queued;     /* fanotify events queued for the loop */
};

/* The writer resolver: its ranking of the writers behind root-owned writes and its open
 * root_writer findings (writer.h); valid until loop_free. */
struct writer;
const struct writer *loop_writers(const struct loop *l);

/* The running policy (valid until the next reload). */
const struct config *loop_config(const struct loop *l);

/* Fill *S with the daemon's figures now. */
void loop_get_status(const struct loop *l, struct loop_status *s);

/* Visit the open findings at and below RELPATH ("" for all); see ftable_foreach. */
void loop_foreach_finding(const struct loop *l, const char *relpath, ftable_visit_fn fn, void *ctx);

/* The same, resumed strictly after the finding (AFTER, AFTER_KIND); see ftable_foreach_after. */
void loop_foreach_finding_after(const struct loop *l, const char *relpath, const char *after,
                                int after_kind, ftable_visit_fn fn, void *ctx);

/* The dispatch commands as last judged (NULL when not watched). */
const struct dispatch_set *loop_dispatch(const struct loop *l);

/* Crawl RELPATH now, reconciling findings and watches. Returns 0, or -1 with errno
 * (ENOENT, ELOOP: a symlink on the way, EXDEV: another mount). */
int loop_scan(struct loop *l, const char *relpath);

/* Repair RELPATH and below by the policy (auto and manual rules), reporting each change and
 * refusal to FN (which logs them, with its caller, unless DRY_RUN), then crawl it again.
 * Returns 0, or -1 with errno (see repair_run; EPERM: repairs are refused, see
 * loop_repair_block, and a repair_refused entry says why). */
int loop_repair(struct loop *l, const char *relpath, bool dry_run, repair_report_fn fn, void *ctx,
                struct repair_stats *st);

/* Why repairs are refused now (static until the next change), or NULL when they may run. */
const char *loop_repair_block(const struct loop *l);

/* Reload the policy as SIGHUP does. Returns 0 when the new policy is applied, or -1 when it
 * is refused (the running one stays) with the reason in WHY (LEN bytes; "FILE:LINE: KEY: ..."
 * for an invalid file). WHY may be NULL. */
int loop_reload(struct loop *l, char *why, size_t len);

#endif
