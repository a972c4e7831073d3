/* audit: one pass of the policy over (part of) the site: scan + policy -> findings. */
#ifndef PERMWATCH_AUDIT_H
#define PERMWATCH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "finding.h"
#include "scan.h"

/* Receives each finding; F and its strings are valid only during the call. */
typedef void (*audit_sink_fn)(void *ctx, const struct finding *f);

struct audit_result {
    struct scan_stats scan;
    uint64_t by_kind[FINDING_KIND_COUNT];
    uint64_t findings;
    uint64_t ignored; /* entries skipped by `ignore` rules (a skipped subtree counts once) */
    char *too_deep;   /* the first directory at the depth cap (scan.h) not read: relative, to
                       * free; NULL when none (scan.too_deep counts them) */
};

/* Turn ARG (an absolute path, or one relative to the current directory) into a path relative
 * to the site root C->site_root, lexically ("" for the root itself), into BUF. Returns 0, or
 * -1 with errno EXDEV (outside the site), EINVAL (a '..' component) or ENAMETOOLONG. */
int audit_subpath(const char *site_root, const char *arg, char *buf, size_t len);

/* Evaluate every entry at and below SUBPATH (relative, see audit_subpath) of the site whose
 * root directory is open as ROOT_FD, calling SINK for each finding in walk order and MOUNT
 * (may be NULL), with the same CTX, for each mount point not crossed. Ancestors of SUBPATH
 * covered by an `ignore` rule make the audit empty. Returns 0, or -1 with errno when
 * SUBPATH cannot be reached or read (see scan_run). RES may be NULL. */
int audit_run(const struct config *c, int root_fd, const char *subpath, audit_sink_fn sink,
              scan_mount_fn mount, void *ctx, struct audit_result *res);

/* Whether an ancestor of RELPATH (not RELPATH itself) falls under an `ignore` rule. */
bool audit_ancestor_ignored(const struct config *c, const char *relpath);

/* Absolute path of RELPATH under the site root into BUF. Returns BUF, or NULL when it does
 * not fit. */
/* policy_check (policy.h) of the entry NAME in the directory DIRFD, whose lstat is ST, under
 * rule R (may be NULL) for C's web user and writers, reading its access ACL first (permacl.h,
 * never following a symlink, opening nothing) when policy_needs_acl says it can matter; an
 * ACL that cannot be read counts as none. Writes up to FINDING_KIND_COUNT findings into OUT
 * and returns their count. */
size_t audit_evaluate(const struct config *c, const struct rule *r, int dirfd, const char *name,
                      const struct stat *st, struct finding *out);

const char *audit_abspath(const struct config *c, const char *relpath, char *buf, size_t len);

#endif
