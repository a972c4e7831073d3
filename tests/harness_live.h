/* harness_live: drive the live daemon (or a stand-in) in a test: its sd_notify datagrams on a
 * private notify socket, its journal entries through `journalctl -f -o json`, its signals and
 * exit status; plus the global inotify queue sysctl and running commands as another user.
 *
 * Tests using it run inside tests/journald-ns.sh (binaries named test_live*): the daemon and
 * the reader then see a private, real journald. Nothing runs in the background: the harness
 * reads what arrived whenever a test calls live_pump or one of the live_wait_* functions.
 *
 * The journal reader never misses the daemon's first entries and never replays older ones:
 * before the daemon starts, the harness logs a marker entry and, once journald stored it,
 * starts `journalctl -f --after-cursor=` that marker (see reader_start in harness_live.c). */
#ifndef PERMWATCH_HARNESS_LIVE_H
#define PERMWATCH_HARNESS_LIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct live;

/* How live_start runs the daemon. Zero-initialised fields take the defaults. Arrays are
 * NULL-terminated; the harness copies what it needs, so they may live on the stack. */
struct live_opts {
    /* > 0: WATCHDOG_USEC= this, and WATCHDOG_PID= the daemon's pid unless watchdog_no_pid */
    uint64_t watchdog_usec;
    bool watchdog_no_pid;
    /* appended after "-c CONFIG --log-target journal" */
    const char *const *extra_argv;
    /* argv prefix, e.g. {helper_watch_limit's path, "64", NULL}: it must exec the command,
     * keeping its pid */
    const char *const *wrapper;
    /* "NAME=value" added to the daemon's environment, overriding the harness's own
     * (NOTIFY_SOCKET, WATCHDOG_*; e.g. "WATCHDOG_PID=1" for a watchdog meant for another pid) */
    const char *const *env;
    /* replaces "permwatchd -c CONFIG --log-target journal EXTRA" (stand-ins in the harness's
     * own tests); the wrapper still applies */
    const char *const *argv;
    /* live_stop: SIGKILL after this long (default 10000) */
    int stop_timeout_ms;
};

/* One datagram received on the notify socket. */
struct live_notify {
    char *text;         /* the datagram, NUL-terminated (lines "NAME=value\n...") */
    pid_t pid;          /* sender, verified by the kernel (SCM_CREDENTIALS) */
    uid_t uid;          /* sender's uid */
    uint64_t mono_usec; /* CLOCK_MONOTONIC when the harness read it */
    unsigned nfds;      /* file descriptors it carried (closed at once, as systemd does) */
};

/* Start the reader and then the daemon on CONFIG_PATH (ignored with opts->argv). Fails the
 * test when something cannot be started; OPTS may be NULL. Free with live_free. */
struct live *live_start(const char *config_path, const struct live_opts *opts);

/* The daemon's pid (the wrapper's, which execs into the daemon). */
pid_t live_pid(const struct live *l);

/* The private directory of this run (notify socket, daemon.out, daemon.err). */
const char *live_dir(const struct live *l);

/* Read whatever the daemon and the reader sent, waiting up to TIMEOUT_MS for the first of it.
 * Returns true when something new arrived. Returns at once once the daemon has exited (and
 * reaps it: live_running turns false). */
bool live_pump(struct live *l, int timeout_ms);

/* ---- sd_notify ---------------------------------------------------------------------------
 * LINE is a whole line of a datagram ("READY=1"), or a prefix ending in '=' ("STATUS=").
 * Only datagrams sent by the daemon's pid count, except in live_notify_at. */

/* Wait until a datagram holding LINE arrived from the daemon. False on timeout or exit. */
bool live_wait_notify(struct live *l, const char *line, int timeout_ms);

/* Wait until COUNT datagrams holding LINE arrived from the daemon. */
bool live_wait_notify_count(struct live *l, const char *line, size_t count, int timeout_ms);

/* How many datagrams from the daemon held LINE so far (no pumping). */
size_t live_notify_count(const struct live *l, const char *line);

/* Arrival index (for live_notify_at) of the NTH (0-based) datagram from the daemon holding
 * LINE, or -1. Compare indexes to assert order: RELOADING=1 before the second READY=1. */
ssize_t live_notify_index(const struct live *l, const char *line, size_t nth);

/* Every datagram received (from any sender), in arrival order; NULL past the end. */
const struct live_notify *live_notify_at(const struct live *l, size_t i);
size_t live_notify_total(const struct live *l);

/* The text after "STATUS=" of the daemon's last datagram carrying one, or NULL. */
const char *live_notify_status(const struct live *l);

/* ---- journal -----------------------------------------------------------------------------
 * Entries are the JSON objects of `journalctl -o json --all` with SYSLOG_IDENTIFIER=permwatchd
 * and _PID = the daemon's pid, in journal order. The variadic arguments are FIELD, VALUE pairs
 * ending with NULL; an entry matches when every FIELD has exactly VALUE (binary values, which
 * journalctl prints as arrays of bytes, compare as bytes). References are borrowed: they stay
 * valid until live_free. */

/* Wait up to TIMEOUT_MS for the first entry matching every pair; NULL on timeout or exit. */
json_t *live_wait_entry(struct live *l, int timeout_ms, ...) __attribute__((sentinel));

/* The same for the NTH (0-based) matching entry. */
json_t *live_wait_nth_entry(struct live *l, size_t nth, int timeout_ms, ...)
    __attribute__((sentinel));

/* How many entries stored so far match every pair (no pumping; live_sync first). */
size_t live_count_entries(const struct live *l, ...) __attribute__((sentinel));

/* The stored entries as a JSON array (borrowed), for json_array_foreach. */
json_t *live_entries(const struct live *l);

/* A field of ENTRY as a string, or NULL when missing or not a string. */
const char *live_field(const json_t *entry, const char *name);

/* Barrier: returns true once every entry the daemon sent to journald (sd_journal_send, the
 * native socket) before this call is stored. It logs a marker entry of its own through the
 * same socket, which journald serves in order, and reads until the reader shows it. */
bool live_sync(struct live *l, int timeout_ms);

/* Pump for MS milliseconds (less if the daemon exits), then live_sync: afterwards a count is
 * final for that moment, so a test can assert that something was NOT logged (e.g. no repeat
 * of an open finding). */
void live_settle(struct live *l, int ms);

/* ---- process -------------------------------------------------------------------------- */

/* Send SIG to the daemon (nothing once it has exited). */
void live_signal(struct live *l, int sig);

/* True while the daemon has not exited (pumps nothing). */
bool live_running(struct live *l);

/* SIGTERM the daemon and wait for it (SIGKILL after opts.stop_timeout_ms), reading what it
 * sends meanwhile; then stop the reader. Returns the exit code, 128+signal when a signal
 * ended it, or -1 when it had to be killed. Idempotent. */
int live_stop(struct live *l);

/* Stop (SIGKILL) whatever still runs, remove the temp dir, free everything. NULL is a no-op.
 * What a test does not free (say, after a failed assertion) is freed at exit. */
void live_free(struct live *l);

/* Print the daemon's stderr and stdout, the reader's stderr, the datagrams and the entries
 * seen, to stderr (call before a failing assertion). */
void live_dump(const struct live *l);

/* The daemon's stderr so far (malloc'd, NUL-terminated; caller frees). */
char *live_stderr(const struct live *l);

/* ---- fs.inotify.max_queued_events --------------------------------------------------------
 * A global sysctl: the kernel copies it into an inotify instance at inotify_init, so a test
 * lowers it, starts the daemon, waits for READY=1 and restores it at once. While lowered, a
 * lock on the sysctl file serialises tests (of any process) that lower it. The old value comes
 * back on live_queued_events_restore, at exit, on SIGTERM/SIGINT/SIGABRT, and, through a
 * guardian process, even when the test process is killed outright. */

/* Lower the limit to N; *OLD receives the value to restore. Returns 0 or -1 (errno). */
int live_queued_events_set(unsigned n, unsigned *old);

/* Put OLD back and release the lock. Returns 0 or -1 (errno). */
int live_queued_events_restore(unsigned old);

/* ---- other users -------------------------------------------------------------------------- */

/* Run SHELL_CMD with /bin/sh -c as USER (its uid, primary gid and supplementary groups,
 * through setpriv). Returns the exit code (128+signal), or -1 when it could not run. Prints
 * the command's stderr when it fails. */
int live_as_user(const char *user, const char *shell_cmd);

#endif
