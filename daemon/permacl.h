/* permacl: read an object's POSIX access ACL (the system.posix_acl_access xattr, kernel ABI
 * version 2) into the pure struct perm_acl of perm.h. No libacl. */
#ifndef PERMWATCH_PERMACL_H
#define PERMWATCH_PERMACL_H

#include "perm.h"

/* Read the access ACL of NAME in the directory DIRFD without following a final symlink
 * (one getxattrat(2) where the kernel has it (6.13), else one lgetxattr through
 * /proc/self/fd/DIRFD/NAME; nothing is opened, so FIFOs and devices are safe). Returns 1 with *OUT
 * holding an extended ACL (the caller frees with permacl_free), 0 when there is none (*OUT = no
 * ACL: a minimal one, ENODATA, or a filesystem without ACLs), or -1 with errno (ENOMEM; ENOENT when
 * NAME vanished; EINVAL for a malformed xattr). */
int permacl_read_at(int dirfd, const char *name, struct perm_acl *out);

/* The same for PATH, following symlinks (like acl_get_file). */
int permacl_read_path(const char *path, struct perm_acl *out);

/* Parse the xattr value BUF (LEN bytes) into *OUT. Returns 1 (extended, caller frees),
 * 0 (minimal) or -1 with errno EINVAL (malformed) or ENOMEM. */
int permacl_parse(const void *buf, size_t len, struct perm_acl *out);

/* Free what permacl_read_* or permacl_parse allocated; *ACL becomes "no ACL". */
void permacl_free(struct perm_acl *acl);

#endif
