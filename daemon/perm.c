/* perm: the kernel's permission decision (fs/namei.c acl_permission_check and
 * fs/posix_acl.c posix_acl_permission, plus the DAC override of uid 0), pure. */
#include "perm.h"

#include <sys/stat.h>

bool perm_acl_extended(const struct perm_acl *acl)
{
    return acl && (acl->mask >= 0 || acl->n > 0);
}

/* Fill *V and return its verdict. */
static bool verdict(struct perm_verdict *v, bool allowed, enum perm_class cls, int have, int entry,
                    bool in_group)
{
    if (v)
        *v = (struct perm_verdict){allowed, cls, have, entry, in_group};
    return allowed;
}

/* The ACL step for a non-owner: 1 granted, 0 denied (*V filled), 2 no entry matches WHO
 * (the other bits decide). */
static int acl_step(const struct principal *who, gid_t gid, const struct perm_acl *acl, int want,
                    bool in_group, struct perm_verdict *v)
{
    int mask = acl->mask >= 0 ? acl->mask : PERM_R | PERM_W | PERM_X;
    for (size_t i = 0; i < acl->n; i++) { /* a named user entry decides alone */
        const struct perm_acl_entry *e = &acl->e[i];
        if (e->tag == PERM_ACL_USER && e->id == (unsigned)who->uid) {
            int eff = e->perms & mask;
            return verdict(v, (eff & want) == want, PERM_CLASS_ACL_USER, eff, e->perms, in_group);
        }
    }
    bool found = false, full = false;
    int all = 0;
    if (in_group) {
        found = true;
        full = (acl->group_obj & want) == want;
        all = acl->group_obj;
    }
    for (size_t i = 0; i < acl->n; i++) {
        const struct perm_acl_entry *e = &acl->e[i];
        if (e->tag != PERM_ACL_GROUP || !account_principal_in_group(who, (gid_t)e->id))
            continue;
        found = true;
        full |= (e->perms & want) == want;
        all |= e->perms;
    }
    if (!found)
        return 2;
    /* the first entry holding WANT decides through the mask, the same for all entries */
    bool ok = full && (mask & want) == want;
    return verdict(v, ok, PERM_CLASS_ACL_GROUP, ok ? want : all & mask, all, in_group);
}

bool perm_check(const struct principal *who, uid_t uid, gid_t gid, mode_t mode,
                const struct perm_acl *acl, int want, struct perm_verdict *v)
{
    bool in_group = account_principal_in_group(who, gid);
    struct perm_verdict tmp;
    bool ok;
    if (who->uid == uid) { /* the owner class decides alone, ACL or not */
        int bits = (int)(mode >> 6) & 7;
        ok = verdict(&tmp, !(want & ~bits), PERM_CLASS_OWNER, bits, bits, in_group);
    } else {
        int rc = 2;
        if ((mode & S_IRWXG) && perm_acl_extended(acl)) /* the kernel skips a zero mask */
            rc = acl_step(who, gid, acl, want, in_group, &tmp);
        if (rc == 2) {
            int bits = (int)(in_group ? mode >> 3 : mode) & 7;
            ok = verdict(&tmp, !(want & ~bits), in_group ? PERM_CLASS_GROUP : PERM_CLASS_OTHER,
                         bits, bits, in_group);
        } else {
            ok = rc == 1;
        }
    }
    if (!ok && who->uid == 0) { /* CAP_DAC_OVERRIDE: execute needs some x bit on a file */
        ok = S_ISDIR(mode) || !(want & PERM_X) || (mode & (S_IXUSR | S_IXGRP | S_IXOTH));
        tmp = (struct perm_verdict){ok, PERM_CLASS_ROOT, ok ? want : want & ~PERM_X, tmp.entry,
                                    in_group};
    }
    if (v)
        *v = tmp;
    return ok;
}

const char *perm_class_name(enum perm_class c)
{
    switch (c) {
    case PERM_CLASS_OWNER:
        return "owner";
    case PERM_CLASS_GROUP:
        return "group";
    case PERM_CLASS_OTHER:
        return "other";
    case PERM_CLASS_ACL_USER:
        return "ACL user";
    case PERM_CLASS_ACL_GROUP:
        return "ACL group";
    case PERM_CLASS_ROOT:
        return "root";
    }
    return "?";
}

const char *perm_bits_words(int bits)
{
    static const char *const words[8] = {
        "nothing", "x", "w", "w and x", "r", "r and x", "r and w", "r, w and x",
    };
    return words[bits & 7];
}

const char *perm_rwx(int bits, char buf[4])
{
    buf[0] = bits & PERM_R ? 'r' : '-';
    buf[1] = bits & PERM_W ? 'w' : '-';
    buf[2] = bits & PERM_X ? 'x' : '-';
    buf[3] = '\0';
    return buf;
}
