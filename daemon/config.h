/* config: the INI policy (inih). Loading resolves users and groups through NSS; everything
 * else is parsing. A loaded config is immutable: reload builds a fresh one and swaps it. */
#ifndef PERMWATCH_CONFIG_H
#define PERMWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "account.h"

#define CONFIG_DEFAULT_PATH                 "/etc/permwatch/permwatch.ini"
#define CONFIG_DEFAULT_SOCKET               "/run/permwatch/control.sock"
#define CONFIG_DEFAULT_WEB_USER             "www-data"
#define CONFIG_DEFAULT_RESCAN_USEC          (6ULL * 3600 * 1000000)
#define CONFIG_DEFAULT_DEGRADED_RESCAN_USEC (60ULL * 1000000)
#define CONFIG_DEFAULT_MAX_FINDINGS         1000000
#define CONFIG_DEFAULT_MAX_WATCHED_DIRS     1048576
#define CONFIG_DEFAULT_MAX_FINDINGS_MEMORY  (256ULL * 1024 * 1024)
#define CONFIG_DEFAULT_LOG_BURST            200
#define CONFIG_DEFAULT_LOG_INTERVAL_USEC    (10ULL * 1000000)
#define CONFIG_DEFAULT_CHANNELS_FILE        "wp-content/mu-plugins/wp-coding-agents-channels.php"
#define CONFIG_DEFAULT_DISPATCH_PATH        "/usr/local/bin:/usr/bin:/bin"

enum repair_mode { REPAIR_AUTO, REPAIR_MANUAL, REPAIR_NEVER };

/* One `[rule NAME]` section. Lists keep the names as written (for display) and the
 * resolved ids, index for index. An empty owner/group list means "not checked". */
struct rule {
    char *name;
    unsigned line; /* line of the section header */
    char **match;  /* globs, at least one; a path matches the rule if any matches */
    size_t nmatch;
    char **owner_names;
    uid_t *owners; /* first one is the repair target */
    size_t nowners;
    char **group_names;
    gid_t *groups; /* first one is the repair target */
    size_t ngroups;
    mode_t file_require, file_forbid; /* permission bits, 07777 at most */
    mode_t dir_require, dir_forbid;
    bool web_readable; /* web user must read files and list+search directories */
    bool writable;     /* every writer must write files and write+search directories */
    bool ignore;       /* skip the matched paths (and subtrees) entirely */
    enum repair_mode repair;
};

/* [daemon] backend: how changes are detected. */
enum config_backend {
    CONFIG_BACKEND_AUTO,     /* fanotify where it works, else inotify */
    CONFIG_BACKEND_FANOTIFY, /* asked for: inotify all the same (with a warning) when refused */
    CONFIG_BACKEND_INOTIFY,
};

/* "auto", "fanotify", "inotify". */
const char *config_backend_name(enum config_backend b);

struct config {
    char *path;      /* file it came from ("<string>" for config_load_string) */
    char *site_root; /* absolute, normalized, no trailing '/' */
    char *web_user;
    struct principal web;      /* web_user resolved with all its groups */
    struct principal *writers; /* [site] writers in file order (default: the web user), each
                                * with all its groups; name is the name as written */
    size_t nwriters;

    char *control_socket;
    bool control_socket_set; /* set by the file (not the default) */
    char *control_group;     /* NULL: only root may use the socket */
    gid_t control_gid;
    uint64_t rescan_interval_usec; /* 0 = off */
    uint64_t degraded_rescan_usec; /* rescans of unwatched subtrees when out of watches */
    size_t max_findings;           /* open findings kept in memory, 0 = no limit */
    size_t max_watched_dirs;       /* fanotify: directories registered at most, 0 = no limit */
    size_t max_findings_memory;    /* bytes of the findings table, 0 = no limit */
    unsigned log_burst;            /* entries per event kind per log_interval, 0 = no limit */
    uint64_t log_interval_usec;
    bool repair_existing;  /* the startup and reload crawls repair too (default: findings only) */
    unsigned scan_threads; /* threads of a one-shot walk; 0 = auto (config_scan_threads) */
    enum config_backend backend;

    char *channels_file; /* relative to site_root unless absolute */
    char **commands;     /* extra dispatch commands from `command =` */
    size_t ncommands;
    char *dispatch_path; /* PATH used to resolve bare command names for the web user */
    char *dispatch_php;  /* `php =`: NULL unset (php on the default PATH), "" no, else a path */

    struct rule *rules; /* in file order */
    size_t nrules;
};

/* Where and why loading failed. `line` is 0 when the error is about the file as a whole;
 * `key` is "" when the error is about a section or a line rather than a key. */
struct config_error {
    char file[256];
    unsigned line;
    char section[64];
    char key[64];
    char message[256];
};

/* Load and validate the file PATH. Returns 0 and a new config in *out (caller frees with
 * config_free), or -1 with *err filled (errno: ENOENT/EACCES for an unreadable file, EINVAL
 * for an invalid one). Unknown sections and keys are errors. */
int config_load_file(const char *path, struct config **out, struct config_error *err);

/* Same over a NUL-terminated buffer; NAME is used as the file name in errors. */
int config_load_string(const char *text, const char *name, struct config **out,
                       struct config_error *err);

void config_free(struct config *c);

/* "FILE:LINE: [section] key: message" (parts omitted when empty) into BUF. Returns BUF. */
const char *config_error_format(const struct config_error *err, char *buf, size_t len);

/* Print the effective policy (every key with defaults filled in, ids resolved) as valid INI
 * that config_load_file accepts back. */
void config_print(const struct config *c, FILE *out);

const char *config_repair_mode_name(enum repair_mode m);

/* Threads a one-shot walk of C uses: scan_threads, or for auto the CPUs this process may run
 * on (sched_getaffinity), at least 1 and at most SCAN_MAX_THREADS. */
unsigned config_scan_threads(const struct config *c);

/* The I-th key the parser accepts (file order of its table): *SECTION is "site", "daemon",
 * "dispatch" or "rule" (for [rule NAME]), *REPEATABLE whether it may be given more than once
 * in a section. Returns the key's name, or NULL when I is past the last key. For tests and
 * documentation checks (tests/test_manpage.c). */
const char *config_key_at(size_t i, const char **section, bool *repeatable);

#endif
