/* loop: the long-running watchdog. One libev loop carries the inotify descriptor, the
 * signals (SIGTERM, SIGINT: stop; SIGHUP: reload) and the timers (periodic rescan, degraded
 * rescans, overflow backoff, suppressed summaries, systemd watchdog, site root wait). */
#ifndef PERMWATCH_LOOP_H
#define PERMWATCH_LOOP_H

#include "config.h"

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

#endif
