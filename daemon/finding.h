/* finding: what is wrong with one path, as logged, printed and (later) kept open. */
#ifndef PERMWATCH_FINDING_H
#define PERMWATCH_FINDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

struct writer_info; /* writer.h */

enum finding_kind {
    FINDING_ROOT_OWNED,
    FINDING_OWNER_MISMATCH,
    FINDING_GROUP_MISMATCH,
    FINDING_MODE_MISMATCH,
    FINDING_WEB_UNREADABLE,
    FINDING_DISPATCH_UNREACHABLE,
    FINDING_DISPATCH_INVALID,
    FINDING_SPECIAL_FILE, /* a device node, FIFO or socket in the site */
    FINDING_SETID,        /* a regular file with the setuid or setgid bit */
    FINDING_NOT_WRITABLE, /* a writer of the site cannot write it (writable = yes) */
    FINDING_ROOT_WRITER,  /* one unit (or command) keeps making root-owned writes (writer.h) */
    FINDING_KIND_COUNT
};

/* Strings are borrowed: the finding lives no longer than what it points to. NULL or ""
 * fields are left out of the journal entry and the JSON object. */
struct finding {
    enum finding_kind kind;
    const char *path; /* absolute */
    const char *rule; /* rule name */
    bool has_stat;    /* uid/gid/mode/owner/group below are set */
    bool is_dir;
    uid_t uid;
    gid_t gid;
    mode_t mode;       /* permission bits only (07777) */
    const char *owner; /* uid's name */
    const char *group; /* gid's name */
    char expected[128];
    char reason[256];
    const char *channel; /* dispatch findings */
    const char *command;
    const char *blocked_at;
    const char *web_user; /* dispatch findings: who was checked */
    bool fatal; /* dispatch_invalid: PHP cannot parse the channels file (every request fails) */
    /* the process that made the change (fanotify), NULL or pid 0 when not known: the
     * PERMWATCH_WRITER_* fields and the message's "(written by ...)" */
    const struct writer_info *writer;
    uint64_t writes; /* root_writer: root-owned writes of the unit within the window */
};

/* "root_owned" ... ; NULL for an out-of-range kind. */
const char *finding_kind_name(enum finding_kind k);

/* Kind from its name; returns -1 when unknown. */
int finding_kind_from_name(const char *name);

/* One readable line (no newline) into BUF, used as the journal MESSAGE and on terminals,
 * e.g. "root-owned file /var/www/site/a.php (root:root 0644), rule site wants owner
 * www-data". Returns BUF. */
const char *finding_format_message(const struct finding *f, char *buf, size_t len);

/* The message of finding_format_message, whole, in a new malloc'd string (the caller frees
 * it); NULL on ENOMEM. */
char *finding_message_alloc(const struct finding *f);

/* Write the finding as one JSON object and a newline to OUT; keys are the journal field
 * names without PERMWATCH_, lowercased; strings by esc_json_set (esc.h). Returns 0, or -1 on a
 * write or encoding error. */
int finding_print_json(const struct finding *f, FILE *out);

/* esc_append (esc.h): S escaped as human text at offset *POS of BUF (capacity LEN). */
void finding_append_escaped(char *buf, size_t len, size_t *pos, const char *s);

#endif
