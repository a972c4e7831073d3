/* root: the site root, opened without trusting symlinks, its identity pinned, and the
 * ownership chain of its ancestors checked (like OpenSSH StrictModes, systemd-tmpfiles).
 *
 * The walk starts at "/" and opens one component at a time (O_PATH|O_NOFOLLOW). A symbolic
 * link on the way is followed only when it is owned by root and lies in a directory no
 * non-root user can write (the "safe directory" rule below); any other symlink is refused
 * (ELOOP). The root itself is then opened O_RDONLY|O_DIRECTORY through the pinned fd.
 *
 * A directory is safe when no user but root can change its entries:
 *   - owned by uid 0;
 *   - not writable by its group unless that group is gid 0, not writable by others;
 *   - no POSIX ACL entry granting write (effective through the mask) to a user other than
 *     uid 0 or a group other than gid 0;
 *   - except: a sticky directory (like /tmp, 1777) writable by others is safe for the
 *     next component of the path when that component is owned by root: others can then
 *     neither rename nor remove it (the sticky rule), only root can.
 * Every ancestor of the site root ("/" included, the root itself excluded) is checked. */
#ifndef PERMWATCH_ROOT_H
#define PERMWATCH_ROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What identifies the site root: device, inode, and mount id (STATX_MNT_ID; 0 unknown). */
struct root_ident {
    uint64_t dev, ino, mnt_id;
};

/* An ancestor of the site root that a non-root user can write. */
struct root_unsafe {
    char *path; /* the ancestor (its physical path, symlinks resolved) */
    uid_t uid;  /* its owner */
    gid_t gid;
    mode_t mode;
    char reason[192]; /* who can write it, in words */
};

/* The unsafe ancestors found by root_open (n == 0: the chain is safe). */
struct root_chain {
    struct root_unsafe *items;
    size_t n;
};

/* Open the directory PATH (absolute) by the rules above. Returns an O_RDONLY|O_DIRECTORY|
 * O_CLOEXEC fd, *ID (may be NULL) and in *CHAIN (may be NULL; free with root_chain_free)
 * the unsafe ancestors; or -1 with errno (ELOOP: an untrusted symlink or too many; ENOENT,
 * ENOTDIR, EACCES...) and, when WHY is not NULL, a sentence naming the component and why. */
int root_open(const char *path, struct root_ident *id, struct root_chain *chain, char *why,
              size_t whylen);

/* The same walk for PATH's parent directory: an O_PATH|O_DIRECTORY fd of it, or -1. */
int root_open_parent(const char *path, char *why, size_t whylen);

/* Identity of the directory FD into *ID. Returns 0 or -1 with errno. */
int root_ident_of(int fd, struct root_ident *id);

bool root_ident_eq(const struct root_ident *a, const struct root_ident *b);

/* "dev 8:1 ino 1234 mnt 56" into BUF. Returns BUF. */
const char *root_ident_format(const struct root_ident *id, char *buf, size_t len);

void root_chain_free(struct root_chain *c);

/* Log one `unsafe_ancestor` entry (warning) per item of CHAIN for the site SITE_ROOT. */
void root_log_unsafe(const struct root_chain *chain, const char *site_root);

#endif
