/* notify: the systemd service manager protocol (sd_notify) of the live daemon. Every call is
 * a no-op without $NOTIFY_SOCKET and keeps errno. None blocks on a full socket queue: STATUS=
 * and WATCHDOG=1 are then dropped; READY, RELOADING and STOPPING are retried for at most
 * 200 ms. */
#ifndef PERMWATCH_NOTIFY_H
#define PERMWATCH_NOTIFY_H

#include <stdint.h>

/* READY=1 with a one-line STATUS= (printf format). */
void notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* STATUS=... alone. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* EXTEND_TIMEOUT_USEC=USEC: ask for more time to become ready (long crawls). */
void notify_extend_timeout(uint64_t usec);

/* RELOADING=1 with MONOTONIC_USEC=now, then (after the reload) notify_ready again. */
void notify_reloading(void);

/* STOPPING=1 with a STATUS=. */
void notify_stopping(const char *status);

/* WATCHDOG=1 keep-alive ping. */
void notify_watchdog(void);

/* The watchdog interval the manager asked for ($WATCHDOG_USEC for this pid), or 0 when the
 * watchdog is off. Ping at half of it. */
uint64_t notify_watchdog_usec(void);

#endif
