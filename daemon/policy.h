/* policy: which rule governs a path and what is wrong with it. Pure functions, no I/O. */
#ifndef PERMWATCH_POLICY_H
#define PERMWATCH_POLICY_H

#include <stddef.h>
#include <sys/stat.h>

#include "config.h"
#include "finding.h"

/* The first rule (file order) with a `match` glob that matches RELPATH (relative to the
 * site root, "" for the root). NULL when no rule matches. */
const struct rule *policy_match(const struct config *c, const char *relpath);

/* Evaluate the object described by ST (st_uid, st_gid, st_mode with its type bits) under
 * rule R for the web user WEB. Writes up to FINDING_KIND_COUNT findings into OUT and returns
 * their count. Each finding gets kind, rule, has_stat, is_dir, uid, gid, mode, expected
 * and reason; path, owner and group are left NULL for the caller.
 * Only regular files and directories are evaluated (others yield 0), and an `ignore` rule
 * yields 0. Checks: root_owned (uid 0 and root not an allowed owner), owner_mismatch,
 * group_mismatch, mode_mismatch (require/forbid of the object's type), web_unreadable
 * (web_readable = yes and the POSIX class rules deny the web user read, or for a directory
 * read or search). */
size_t policy_evaluate(const struct rule *r, const struct principal *web, const struct stat *st,
                       struct finding *out);

/* The mode a repair sets: (mode | require) & ~forbid for the object's type, never adding
 * setuid/setgid to a file. */
mode_t policy_target_mode(const struct rule *r, mode_t st_mode);

#endif
