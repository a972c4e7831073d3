/* live: the long-running watchdog. One libev loop carries the inotify descriptor, the
 * signals (SIGTERM, SIGINT: stop; SIGHUP: reload) and the timers (periodic rescan, degraded
 * rescans, overflow backoff, suppressed summaries, systemd watchdog, site root wait). */
#ifndef PERMWATCH_LIVE_H
#define PERMWATCH_LIVE_H

#include "config.h"

struct live;

/* Set up the daemon for the policy C (ownership passes to the daemon, which frees it or the
 * configs that replace it on reload) loaded from CONFIG_PATH (kept for reloads). Returns
 * NULL with errno when the event loop or inotify cannot be set up (EMFILE: no inotify
 * instance left); the caller still owns C then. */
struct live *live_new(struct config *c, const char *config_path);

/* Crawl the site, place the watches, tell systemd READY=1 and run until SIGTERM or SIGINT.
 * Returns 0 on a clean stop, or 2 when the site root cannot be opened at startup. */
int live_run(struct live *l);

/* Free everything (watches, findings, the config). */
void live_free(struct live *l);

#endif
