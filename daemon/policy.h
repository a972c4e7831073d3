/* policy: which rule governs a path and what is wrong with it. Pure functions, no I/O. */
#ifndef PERMWATCH_POLICY_H
#define PERMWATCH_POLICY_H

#include <stddef.h>
#include <sys/stat.h>

#include "config.h"
#include "finding.h"
#include "perm.h"

/* Who an object is judged for: the web user (NULL: no web_unreadable check), the writers
 * (writable = yes), and the object's access ACL as read by the caller (permacl.h; NULL:
 * none, or not read). USER_NAME and GROUP_NAME (may be NULL) name an id for a reason when
 * the writers, the web user and the rule do not (account_user_name fits); called only while
 * a finding is written. Borrowed. */
struct policy_subjects {
    const struct principal *web;
    const struct principal *writers;
    size_t nwriters;
    const struct perm_acl *acl;
    const char *(*user_name)(uid_t uid);
    const char *(*group_name)(gid_t gid);
};

/* The first rule (file order) with any `match` glob that matches RELPATH (relative to the
 * site root, "" for the root). NULL when no rule matches. An `ignore` rule wins like any
 * other (the caller prunes on r->ignore). No allocation: called for every file. */
const struct rule *policy_match(const struct config *c, const char *relpath);

/* Evaluate the object described by ST (st_uid, st_gid, st_mode with its type bits) under
 * rule R for the web user WEB. Writes up to FINDING_KIND_COUNT findings into OUT and returns
 * their count. Each finding gets kind, rule, has_stat, is_dir, uid, gid, mode, expected
 * and reason; path, owner and group are left NULL for the caller.
 * An `ignore` rule yields 0, a symlink 0 (never followed); a device node, FIFO or socket
 * yields exactly one special_file finding (expected "a regular file or directory", reason
 * "a character device (device 1:3); a web site needs no ..."; whoever owns it). Regular files
 * and directories get the checks: root_owned (uid 0 and root not an allowed owner), owner_mismatch,
 * group_mismatch, mode_mismatch (require/forbid of the object's type), web_unreadable
 * (web_readable = yes and the POSIX class rules deny the web user read, or for a directory
 * read or search). Details the callers rely on:
 * - R NULL yields 0; WEB NULL skips the web_unreadable check.
 * - Findings come in this order: root_owned or owner_mismatch, group_mismatch,
 *   mode_mismatch, web_unreadable, setid (at most 5).
 * - setid: a regular file with setuid or setgid (setgid directories are normal), under any
 *   rule; expected "no setuid or setgid bit", reason "setuid: runs with the rights of uid 0
 *   (root); a web site has no use for set-id programs".
 * - root_owned/owner_mismatch: st_uid not in a non-empty owner list; root_owned when uid 0.
 *   expected "www-data, opencode" (owner names as written, ", "-joined),
 *   reason "owned by uid 0 (root); rule site allows www-data, opencode"
 *   ("owned by uid 1000; rule ..." for owner_mismatch).
 * - group_mismatch: st_gid not in a non-empty group list (gid 0 included).
 *   expected "www-data", reason "group gid 0; rule site allows group www-data".
 * - mode_mismatch: (mode & require) != require or mode & forbid, using file_* for regular
 *   files and dir_* for directories. expected = policy_target_mode() as "%04o" ("0664"),
 *   reason "missing 0020 (group write); forbidden 0002 (world write) is set" (either part
 *   alone when only one applies; bits named setuid, setgid, sticky, owner|group|world
 *   read|write|execute, ", "-joined).
 * - web_unreadable: the class that decides is owner when web->uid == st_uid, else group
 *   when st_gid is among web's groups (account_principal_in_group), else other; that class
 *   alone must grant r (files) or r and x (directories). A web user with uid 0 never gets
 *   this finding. expected "readable by www-data" (web->name), reason
 *   "mode 0600 uid 0 gid 0: www-data falls in class other, which lacks r" (lacks "r",
 *   "x" or "r and x").
 * - Names missing from owner_names/group_names fall back to the numeric id; text that
 *   does not fit expected/reason is cut and ends in "...". */
size_t policy_evaluate(const struct rule *r, const struct principal *web, const struct stat *st,
                       struct finding *out);

/* policy_evaluate with writers and ACL: as above, plus, between web_unreadable and setid,
 * not_writable (at most 6 findings in all):
 * - web_unreadable and not_writable use perm_check (perm.h): the kernel's model with the
 *   ACL WHO->acl; an ACL class names the entry and mask: "falls in class ACL user (entry
 *   rw-, mask r--), which lacks r".
 * - not_writable: r->writable and some writer (in order) lacks w (files) or w and x
 *   (directories); one finding for the first such writer. uid 0 can always write. A
 *   root-owned object can get both root_owned and not_writable. expected "writable by
 *   www-data, opencode" (writer names), reason "opencode cannot write: owner www-data, group
 *   www-data (opencode is not in it), class other lacks w" (owner named after a writer, the
 *   web user, the rule's owners or USER_NAME, else "uid N"; group after the rule's groups or
 *   GROUP_NAME, else "gid N"; lacks "w", "x" or "w and x"). */
size_t policy_check(const struct rule *r, const struct policy_subjects *who, const struct stat *st,
                    struct finding *out);

/* Whether the verdict of R on ST can depend on an access ACL, so the caller must read it:
 * R checks writable or web_readable, ST is a regular file or directory and its group class
 * (the mask, with an ACL) is non-zero (the kernel skips the ACL otherwise). The mode alone
 * cannot rule an ACL out: named entries grant beyond it and group entries restrict it. */
bool policy_needs_acl(const struct rule *r, const struct stat *st);

/* The mode a repair sets: (mode | require) & ~forbid for the object's type, never leaving
 * setuid/setgid on a file. Precisely (07777 bits only): regular file ((mode | file_require) &
 * ~file_forbid) & ~06000 (set-id bits removed, even when file_require names them: the
 * `setid` finding); directory (mode | dir_require) & ~dir_forbid (so an existing setgid bit
 * stays unless forbidden, and dir_require may add it); anything else: its mode unchanged.
 * Forbid wins over require when both name a bit. */
mode_t policy_target_mode(const struct rule *r, mode_t st_mode);

/* "regular file", "directory", "symbolic link", "FIFO", "socket", "character device",
 * "block device" or "unknown object" for the type bits of ST_MODE. Static string. */
const char *policy_type_name(mode_t st_mode);

#endif
