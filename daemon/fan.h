/* fan: the fanotify detection source. One fanotify group with a filesystem mark on the site
 * root's filesystem (FAN_REPORT_DFID_NAME, and FAN_REPORT_PIDFD where the kernel has it), a
 * table of the site's directory file handles, each named by an id that plays the part of an
 * inotify watch descriptor, and a reader thread that drains the kernel queue continuously: it
 * drops events of directories not in the table (one lookup, no system call) and of this very
 * process, and queues the others, translated to inotify events (IN_CREATE, IN_ATTRIB, ...),
 * in a bounded queue the loop takes them from. */
#ifndef PERMWATCH_FAN_H
#define PERMWATCH_FAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/inotify.h>
#include <sys/types.h>

struct fan;

/* The user-space queue's bound: events (and bytes of them) waiting for the loop, in each of
 * its two halves (the one the reader fills, the one the loop takes from). Beyond: overflow. */
#define FAN_QUEUE_EVENTS 65536u
#define FAN_QUEUE_BYTES  (4u << 20)
/* pidfds held by queued events at most; further events keep their pid only. */
#define FAN_PIDFDS_MAX 256u

/* A new fanotify group (no mark yet) and its reader thread. Returns NULL with errno, and in WHY
 * (LEN bytes) a sentence for the operator ("fanotify_init: Operation not permitted (needs
 * CAP_SYS_ADMIN)"). */
struct fan *fan_new(char *why, size_t len);

/* Stop the reader, close the group and the queued pidfds, free everything. */
void fan_free(struct fan *f);

/* Mark the filesystem of the open directory ROOT_FD (another filesystem's mark is removed
 * first). Returns 1 when it placed the mark, 0 when that filesystem was marked already, or -1
 * with errno and the reason in WHY ("filesystem does not support file handles"). */
int fan_mark(struct fan *f, int root_fd, char *why, size_t len);

/* The descriptor that becomes readable when events are queued (or overflow was flagged). */
int fan_wake_fd(const struct fan *f);

/* Register the open directory FD (thread-safe: walker threads call it). Returns its id (> 0;
 * the same id for the same directory while registered), or -1 with errno (ENOSPC: the limit of
 * fan_set_dir_limit is reached, EOVERFLOW: its file handle is too large, ENOMEM, or
 * name_to_handle_at's). */
int fan_dir_add(struct fan *f, int fd);

/* Register at most MAX directories (0: no limit); those registered stay. Thread-safe. */
void fan_set_dir_limit(struct fan *f, size_t max);

/* Forget the directory of id ID (no-op when unknown). Thread-safe. */
void fan_dir_remove(struct fan *f, int id);

/* The next queued event, or NULL when none is left (the loop thread only). Valid until the
 * next call. *PID: the writer (0 unknown), *PIDFD: its pidfd or -1; the caller owns and closes
 * the pidfd. Directory-less events are never returned: IN_Q_OVERFLOW is fan_take_overflow. */
const struct inotify_event *fan_next(struct fan *f, pid_t *pid, int *pidfd);

/* Whether events were lost (kernel queue overflow, or the user-space queue was full) since the
 * last call; clears the flag. Also consumes the wake-up. */
bool fan_take_overflow(struct fan *f);

/* Whether the kernel gave FAN_REPORT_PIDFD and FAN_RENAME. */
bool fan_has_pidfd(const struct fan *f);
bool fan_has_rename(const struct fan *f);

/* What the handle table holds (for status, tests and benchmarks). */
struct fan_stats {
    size_t dirs;        /* registered directories */
    size_t table_bytes; /* entries and both indexes */
    uint64_t dropped;   /* events dropped: other directories, own pid */
    uint64_t queued;    /* events queued for the loop */
};
void fan_stats(struct fan *f, struct fan_stats *st);

/* Tests only: queue at most N events per half (overflow beyond). */
void fan_debug_set_queue_limit(struct fan *f, unsigned n);

#endif
