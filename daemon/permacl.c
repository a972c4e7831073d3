/* permacl: the access ACL xattr, read with one syscall and parsed by hand. */
#include "permacl.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* getxattrat(2), Linux 6.13: one dirfd-relative lookup, AT_SYMLINK_NOFOLLOW. Older headers
 * lack it; its number is the same on every architecture using the common table. */
#if !defined(SYS_getxattrat) && (defined(__x86_64__) || defined(__aarch64__) || defined(__i386__))
#define SYS_getxattrat 464
#endif

#define XATTR_NAME    "system.posix_acl_access"
#define ACL_VERSION   2
#define TAG_USER_OBJ  0x01
#define TAG_USER      0x02
#define TAG_GROUP_OBJ 0x04
#define TAG_GROUP     0x08
#define TAG_MASK      0x10
#define TAG_OTHER     0x20

/* The on-disk (xattr) entry: little-endian. */
struct raw_entry {
    uint16_t tag, perm;
    uint32_t id;
};

static const struct perm_acl no_acl = {.group_obj = 0, .mask = -1, .n = 0, .e = NULL};

int permacl_parse(const void *buf, size_t len, struct perm_acl *out)
{
    *out = no_acl;
    uint32_t version;
    if (len < sizeof(version) || (len - sizeof(version)) % sizeof(struct raw_entry)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(&version, buf, sizeof(version));
    if (le32toh(version) != ACL_VERSION) {
        errno = EINVAL;
        return -1;
    }
    size_t count = (len - sizeof(version)) / sizeof(struct raw_entry);
    const unsigned char *p = (const unsigned char *)buf + sizeof(version);
    size_t named = 0;
    for (size_t i = 0; i < count; i++) {
        struct raw_entry r;
        memcpy(&r, p + i * sizeof(r), sizeof(r));
        uint16_t tag = le16toh(r.tag);
        named += tag == TAG_USER || tag == TAG_GROUP;
    }
    struct perm_acl a = no_acl;
    if (named && !(a.e = calloc(named, sizeof(*a.e)))) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        struct raw_entry r;
        memcpy(&r, p + i * sizeof(r), sizeof(r));
        uint16_t tag = le16toh(r.tag);
        int perms = le16toh(r.perm) & 7;
        switch (tag) {
        case TAG_USER:
        case TAG_GROUP:
            a.e[a.n++] = (struct perm_acl_entry){tag == TAG_USER ? PERM_ACL_USER : PERM_ACL_GROUP,
                                                 le32toh(r.id), perms};
            break;
        case TAG_GROUP_OBJ:
            a.group_obj = perms;
            break;
        case TAG_MASK:
            a.mask = perms;
            break;
        case TAG_USER_OBJ:
        case TAG_OTHER:
            break; /* the mode holds them */
        default:
            free(a.e);
            errno = EINVAL;
            return -1;
        }
    }
    *out = a;
    return perm_acl_extended(&a) ? 1 : 0;
}

/* The argument block of getxattrat (struct xattr_args, version 0). */
struct xattr_args0 {
    uint64_t value __attribute__((aligned(8)));
    uint32_t size;
    uint32_t flags;
};

/* How read_xattr reaches the object: a path (following a final symlink or not), or NAME
 * in DIRFD through getxattrat. */
struct target {
    const char *path;
    bool follow;
    int dirfd;
    const char *name;
};

#ifdef SYS_getxattrat
static atomic_bool no_getxattrat; /* the kernel said ENOSYS once */
#endif

/* One getxattr of the ACL of T into BUF (CAP bytes; 0: ask for the size), as getxattr(2). */
static ssize_t get(const struct target *t, void *buf, size_t cap)
{
    if (t->name) {
#ifdef SYS_getxattrat
        struct xattr_args0 args = {.value = (uint64_t)(uintptr_t)buf, .size = (uint32_t)cap};
        long n = syscall(SYS_getxattrat, t->dirfd, t->name, AT_SYMLINK_NOFOLLOW, XATTR_NAME, &args,
                         sizeof(args));
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_getxattrat = true;
#endif
        errno = ENOSYS;
        return -1;
    }
    return t->follow ? getxattr(t->path, XATTR_NAME, buf, cap)
                     : lgetxattr(t->path, XATTR_NAME, buf, cap);
}

/* The ACL of T into *OUT, as permacl_read_at returns. */
static int read_xattr(const struct target *t, struct perm_acl *out)
{
    unsigned char small[4 + 8 * 32];
    unsigned char *buf = small;
    size_t cap = sizeof(small);
    *out = no_acl;
    for (int tries = 0;; tries++) {
        ssize_t n = get(t, buf, cap);
        if (n >= 0) {
            int rc = permacl_parse(buf, (size_t)n, out);
            if (buf != small)
                free(buf);
            return rc;
        }
        int e = errno;
        if (buf != small)
            free(buf);
        if (e == ENODATA || e == EOPNOTSUPP)
            return 0;
        if (e != ERANGE || tries > 3) {
            errno = e;
            return -1;
        }
        ssize_t need = get(t, NULL, 0);
        if (need < 0)
            return errno == ENODATA || errno == EOPNOTSUPP ? 0 : -1;
        cap = (size_t)need + 64;
        if (!(buf = malloc(cap))) {
            errno = ENOMEM;
            return -1;
        }
    }
}

int permacl_read_at(int dirfd, const char *name, struct perm_acl *out)
{
#ifdef SYS_getxattrat
    if (!no_getxattrat) {
        int rc = read_xattr(&(struct target){.dirfd = dirfd, .name = name}, out);
        if (rc >= 0 || errno != ENOSYS)
            return rc;
    }
#endif
    char path[64 + 4096];
    int n = snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        *out = no_acl;
        errno = ENAMETOOLONG;
        return -1;
    }
    return read_xattr(&(struct target){.path = path}, out);
}

int permacl_read_path(const char *path, struct perm_acl *out)
{
    return read_xattr(&(struct target){.path = path, .follow = true}, out);
}

void permacl_free(struct perm_acl *acl)
{
    if (!acl)
        return;
    free(acl->e);
    *acl = no_acl;
}
