/* account: users and groups of this host (NSS), resolved by name or numeric id. */
#ifndef PERMWATCH_ACCOUNT_H
#define PERMWATCH_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A user as the kernel sees it when it runs a process: uid, primary gid and every
 * supplementary group (from getgrouplist). */
struct principal {
    char *name;
    uid_t uid;
    gid_t gid;
    size_t ngroups;
    gid_t *groups; /* includes gid */
};

/* Resolve a user name or a decimal uid. Returns 0, or -1 with errno ENOENT (no such user)
 * or EINVAL (malformed). *gid gets the user's primary group (may be NULL). */
int account_user_lookup(const char *name_or_id, uid_t *uid, gid_t *gid);

/* Resolve a group name or a decimal gid. Returns 0, or -1 with errno ENOENT or EINVAL. */
int account_group_lookup(const char *name_or_id, gid_t *gid);

/* Fill *p for the user NAME (name or uid) with all its groups. Returns 0, or -1 with errno
 * (ENOENT: no such user). On success the caller frees with account_principal_free(). */
int account_principal_load(const char *name, struct principal *p);
void account_principal_free(struct principal *p);

/* Whether the principal has gid among its primary and supplementary groups. */
bool account_principal_in_group(const struct principal *p, gid_t gid);

/* Name of uid/gid for display, or its decimal number when unknown. The string is owned by a
 * process-wide cache and stays valid until account_cache_clear(). */
const char *account_user_name(uid_t uid);
const char *account_group_name(gid_t gid);
void account_cache_clear(void);

#endif
