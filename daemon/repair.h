/* repair: bring owners, groups and modes in line with the policy, safely inside a tree that
 * untrusted users can write (systemd-tmpfiles after CVE-2017-18078 / CVE-2018-6954): every
 * object is reached through directory fds opened O_NOFOLLOW from the site root, changed
 * through an O_PATH fd whose identity was re-checked, never across a mount, never through a
 * symlink, never on a device, socket or FIFO, never on a hardlinked file by default. */
#ifndef PERMWATCH_REPAIR_H
#define PERMWATCH_REPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config.h"
#include "finding.h"
#include "scan.h"

/* Exit codes of --scan --repair. */
enum { REPAIR_EXIT_DONE = 0, REPAIR_EXIT_REFUSED = 1, REPAIR_EXIT_ERROR = 2 };

/* The change rule R wants on an object with stat ST: owner = owners[0] when st_uid is not
 * allowed, group = groups[0] likewise, mode = policy_target_mode. Pure. Writes the targets
 * (unchanged values where nothing changes) and returns whether anything changes. False for
 * R NULL, `ignore` rules, `repair = never` rules and objects other than files/directories. */
bool repair_plan(const struct rule *r, const struct stat *st, uid_t *uid, gid_t *gid, mode_t *mode);

/* repair_plan, then what `writable = yes` and `web_readable = yes` need on top of the rule's
 * bits, judged by mode bits against the planned owner and group: for each of C's writers the
 * class it falls in gets w (and x on a directory), the web user's class r (and x on a
 * directory); bits the rule forbids are never added, nor set-id bits. A writer that falls in
 * class other of a rule forbidding 0002 stays unable to write (the finding stays open). Pure.
 * Returns whether anything changes. */
bool repair_plan_access(const struct config *c, const struct rule *r, const struct stat *st,
                        uid_t *uid, gid_t *gid, mode_t *mode);

/* The finding kinds rule R of config C reports on the object ST (NAME in the directory
 * DIRFD) that a change to UID, GID and MODE (permission bits) clears: those policy_check
 * (C's web user and writers) reports on ST and no longer on ST so changed, in its order
 * (root_owned or owner_mismatch first), into OUT (room for FINDING_KIND_COUNT). The access
 * ACL is read as audit_evaluate does (DIRFD < 0: none), its mask following the new group
 * bits as chmod sets it. Returns their count; changes nothing. */
size_t repair_kinds_fixed(const struct config *c, const struct rule *r, int dirfd, const char *name,
                          const struct stat *st, uid_t uid, gid_t gid, mode_t mode,
                          enum finding_kind *out);

enum repair_outcome { REPAIR_CHANGED, REPAIR_REFUSED };

/* One change (done, or would be done in a dry run) or one refusal, handed to the report
 * callback. Strings valid during the call only. For a refusal new_* are the targets. */
struct repair_report {
    enum repair_outcome outcome;
    bool dry_run;
    const char *path;    /* absolute */
    const char *relpath; /* relative to the site root, "" for the root */
    const char *rule;
    uid_t old_uid, new_uid;
    gid_t old_gid, new_gid;
    mode_t old_mode, new_mode; /* permission bits only (07777) */
    const char *reason;        /* refusals only */
    /* the findings the change clears (a refusal: would have cleared), most important first
     * (repair_kinds_fixed) */
    const enum finding_kind *kinds;
    size_t nkinds;
};

typedef void (*repair_report_fn)(void *ctx, const struct repair_report *rep);

struct repair_options {
    bool dry_run;            /* report what would change, change nothing */
    bool include_manual;     /* also `repair = manual` rules (on demand); auto rules always */
    bool allow_hardlinks;    /* repair files with st_nlink > 1, only if fs.protected_hardlinks=1 */
    bool recursive;          /* descend below SUBPATH when it is a directory */
    repair_report_fn report; /* called by one thread at a time (under a lock with THREADS) */
    void *ctx;
    unsigned threads; /* walk on this many threads (scan_run_parallel); 0 or 1: the caller's */
};

struct repair_stats {
    struct scan_stats scan;
    uint64_t changed, refused; /* objects changed (or that would be), refusals */
    uint64_t ok;               /* objects that needed nothing */
    uint64_t skipped;          /* special files, ignored subtrees, rules not repaired here */
};

/* Repair SUBPATH (relative to the site root, "" for all; see audit_subpath) of the site of C
 * whose root directory is open as ROOT_FD, as OPTS says, reporting each change and refusal.
 * Returns 0, or -1 with errno when SUBPATH cannot be reached (see scan_tree). ST may be NULL.
 */
int repair_run(const struct config *c, int root_fd, const char *subpath,
               const struct repair_options *opts, struct repair_stats *st);

/* Who asked for a repair over the control socket (uid, pid), for the journal. */
struct repair_caller {
    uid_t uid;
    pid_t pid;
};

/* Log REP as a `repaired` (notice) or `repair_refused` (warning) journal entry with
 * PATH, UID/GID/MODE (after), OLD_UID/OLD_GID/OLD_MODE, RULE, REASON (a refusal's reason;
 * for a change repair_setid_note, when there is one), FINDING once per kind in REP->kinds
 * (a repeated field: `journalctl PERMWATCH_FINDING=root_owned` matches a repaired root-owned
 * file), FINDINGS (the same kinds, comma-separated, most important first) and, when CALLER
 * is not NULL, CALLER_UID/CALLER_PID. MESSAGE is repair_format's line + "; findings: KIND,
 * KIND" when there are kinds. Dry-run reports are not logged. */
void repair_log(const struct repair_report *rep, const struct repair_caller *caller);

/* repair_log with the writer of the change that made the repair needed (W NULL or pid 0: none
 * known): PERMWATCH_WRITER_* fields and " (written by ...)" at the end of MESSAGE. */
struct writer_info;
void repair_log_writer(const struct repair_report *rep, const struct repair_caller *caller,
                       const struct writer_info *w);

/* REP's kinds by name, joined by SEP ("root_owned,mode_mismatch"), into BUF (cut to fit;
 * "" when none). Returns BUF. */
const char *repair_kinds_join(const struct repair_report *rep, const char *sep, char *buf,
                              size_t len);

/* One line for REP into BUF: "repaired PATH: owner 0 -> 33, group 0 -> 33, mode 0644 -> 0664
 * (rule site)" or "refused PATH: REASON (rule site)"; dry runs say "would repair". A change
 * that drops set-id bits adds ", setuid bit removed" (repair_setid_note) before the rule. */
const char *repair_format(const struct repair_report *rep, char *buf, size_t len);

/* For a change (done or dry run) that drops set-id bits: "setuid bit removed", "setgid bit
 * removed" or "setuid and setgid bits removed"; otherwise NULL. Static string. */
const char *repair_setid_note(const struct repair_report *rep);

/* Auto-repair fight guard: pure bookkeeping by path, time passed in by the caller. */
struct repair_guard;

enum repair_guard_verdict {
    REPAIR_GUARD_ALLOW,   /* repair it */
    REPAIR_GUARD_TRIPPED, /* just paused: log the reason once (as a refusal) */
    REPAIR_GUARD_PAUSED   /* still paused: refuse, already said */
};

/* A guard pausing a path for PAUSE_USEC once it needed repair more than MAX_REPAIRS times
 * within WINDOW_USEC. NULL on ENOMEM. */
struct repair_guard *repair_guard_new(unsigned max_repairs, uint64_t window_usec,
                                      uint64_t pause_usec);
void repair_guard_free(struct repair_guard *g);

/* PATH needs repair at NOW_USEC (monotonic). WHAT says what happened ("re-created as
 * root"; NULL: "needed repair"). Returns the verdict; for TRIPPED and PAUSED writes the reason
 * ("re-created as root 4 times in 60s: another process keeps undoing the repair; auto-repair
 * paused for 10m") into REASON (may be NULL). ALLOW on ENOMEM (fail open to the repair). */
enum repair_guard_verdict repair_guard_note(struct repair_guard *g, const char *path,
                                            uint64_t now_usec, const char *what, char *reason,
                                            size_t len);

/* Forget entries whose window and pause have both passed at NOW_USEC. Returns how many are
 * left. */
size_t repair_guard_prune(struct repair_guard *g, uint64_t now_usec);

#endif
