/* perm: the kernel's permission check (generic_permission with posix_acl_permission) as a
 * pure function of a principal, an object's owner, group, mode and access ACL. No I/O, no
 * allocation; the ACL is read by the caller (permacl.h) and handed in parsed. */
#ifndef PERMWATCH_PERM_H
#define PERMWATCH_PERM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "account.h"

/* Access bits, as in a mode's class triplet and an ACL entry. */
#define PERM_R 4
#define PERM_W 2
#define PERM_X 1

enum perm_tag { PERM_ACL_USER, PERM_ACL_GROUP };

/* One named entry of an access ACL (user:ID:perms or group:ID:perms). */
struct perm_acl_entry {
    enum perm_tag tag;
    unsigned id; /* uid or gid */
    int perms;   /* PERM_R | PERM_W | PERM_X */
};

/* The part of an access ACL the mode does not hold: the owning group's entry (the mode's
 * group bits are the mask when there is one), the mask and the named entries, in the
 * ACL's order (users by uid, then groups by gid). An object without an extended ACL is
 * {.mask = -1, .n = 0} (perm_acl_none) or a NULL pointer. */
struct perm_acl {
    int group_obj; /* group::perms */
    int mask;      /* mask::perms, -1 when absent (then the ACL is minimal) */
    size_t n;
    struct perm_acl_entry *e;
};

/* Which class decided a check. */
enum perm_class {
    PERM_CLASS_OWNER,     /* the owner bits (who is the owner: decides alone) */
    PERM_CLASS_GROUP,     /* the mode's group bits (no extended ACL) */
    PERM_CLASS_OTHER,     /* the other bits */
    PERM_CLASS_ACL_USER,  /* a named user entry, through the mask */
    PERM_CLASS_ACL_GROUP, /* the owning group's or a named group's entry, through the mask */
    PERM_CLASS_ROOT,      /* uid 0's capabilities (granted, or a file without any x bit) */
};

/* The outcome of perm_check. */
struct perm_verdict {
    bool allowed;
    enum perm_class cls; /* the class that decided */
    int have;            /* the rights that class granted (after the mask for ACL classes) */
    int entry;           /* ACL classes: the entry's rights before the mask (the union of the
                          * matching group entries for PERM_CLASS_ACL_GROUP) */
    bool in_group;       /* who has the object's gid among its groups */
};

/* Whether WHO has every right in WANT (PERM_* bits) on an object with owner UID, group GID
 * and MODE (type bits included) carrying the access ACL ACL (NULL or minimal: the mode
 * decides), as the kernel decides it: the owner class alone for the owner; then, when the
 * group class bits are non-zero, the ACL (a named user entry decides alone through the
 * mask; else the matching group entries: granted when one holds WANT and the mask does
 * too, denied when some match but none does); then the group bits for a member of GID
 * (primary or supplementary); else the other bits. uid 0 is granted everything except
 * execute on a non-directory without any x bit. Fills *V (may be NULL); returns V->allowed. */
bool perm_check(const struct principal *who, uid_t uid, gid_t gid, mode_t mode,
                const struct perm_acl *acl, int want, struct perm_verdict *v);

/* Whether ACL holds more than the mode says (a mask or named entries). NULL: false. */
bool perm_acl_extended(const struct perm_acl *acl);

/* "owner", "group", "other", "ACL user", "ACL group", "root". Static string. */
const char *perm_class_name(enum perm_class c);

/* "r", "w", "x", "r and w", "w and x", "r, w and x" for the bits BITS (non-zero), static. */
const char *perm_bits_words(int bits);

/* "rwx" / "r-x" ... for BITS into BUF (4 bytes). Returns BUF. */
const char *perm_rwx(int bits, char buf[4]);

#endif
