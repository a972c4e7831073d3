/* fan: the fanotify source (see fan.h).
 *
 * Handle table: entries of 40 bytes (id, two chain links, hash, handle type and up to
 * HANDLE_MAX handle bytes inline) in one array with a free list (grown by a quarter), indexed
 * twice by chained buckets of 4 bytes (by handle, by id), one bucket per entry at most and an
 * eighth at least: 48 to 66 bytes per directory (test_fan measures it). Ids are handed out
 * cyclically from 1 (an id is not reused before the counter wraps at INT32_MAX, and then only when
 * free), so an event queued for a directory that was removed since never names another one.
 *
 * Reader thread: poll + read of 64 KiB of events; per event a few comparisons and one or two
 * table lookups under the table's lock; site events are appended to the half of the queue it
 * fills, and one eventfd write per read wakes the loop. The loop takes the other half.
 *
 * What the kernel reports (6.18, ext4; FAN_REPORT_DFID_NAME, measured in tests/test_fan.c):
 * events on an entry name its directory's handle and its name; an event on a directory itself
 * (chmod of it) names the directory's own handle and "."; FAN_RENAME names the old and the new
 * directory and name. Events of one object and process are merged while queued (touch: one
 * event CREATE|ATTRIB|CLOSE_WRITE), so their order is lost: a merge holding a removal is
 * translated to a removal followed by a look at the disk (IN_CREATE), which ends right in
 * either order. */
#include "fan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FAN_REPORT_PIDFD
#define FAN_REPORT_PIDFD 0x00000080
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_PIDFD
#define FAN_EVENT_INFO_TYPE_PIDFD 4
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif

#define HANDLE_MAX  20 /* ext4, xfs: 8; tmpfs: 12; btrfs: 20 at most without the parent */
#define MIN_BUCKETS 16u
#define READ_BYTES  (64u * 1024)

struct ent {
    int32_t id;     /* 0: free */
    uint32_t hnext; /* index + 1 of the next entry in the handle chain (free list: next free) */
    uint32_t inext; /* index + 1 of the next entry in the id chain */
    uint32_t hash;  /* of the handle */
    uint8_t type, len;
    unsigned char b[HANDLE_MAX];
};

/* One queued event: the writer, then the inotify event and its name (padded to 4 bytes). */
struct rec {
    pid_t pid;
    int pidfd;
    struct inotify_event ev;
};

struct qbuf {
    char *b;
    size_t used, cap, pos;
    unsigned events;
};

struct fan {
    int fd, wake, stop[2];
    bool has_pidfd, has_rename, marked, thread;
    dev_t marked_dev;
    uint64_t mask;
    pthread_t reader;
    pid_t self;

    pthread_mutex_t lock; /* everything below */
    struct ent *ents;
    uint32_t nents, cap_ents, free_head, count;
    uint32_t *hb, *ib, nb; /* buckets (index + 1), a power of two */
    int32_t next_id;
    uint64_t key;
    struct qbuf fill;
    bool overflow;
    unsigned pidfds, queue_limit;
    size_t dir_limit; /* registered directories at most (0: no limit) */
    uint32_t cookie;
    uint64_t dropped, queued;

    struct qbuf take; /* the loop thread's half */
};

/* ---- the handle table (callers hold f->lock) ------------------------------------------- */

/* Hash of handle TYPE/B (LEN bytes) under the table's key. */
static uint32_t fan_hash(const struct fan *f, int type, const unsigned char *b, unsigned len)
{
    uint64_t h = f->key ^ ((uint64_t)(unsigned)type << 32) ^ len;
    for (unsigned i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(h ^ (h >> 31));
}

/* Bucket of id ID. */
static uint32_t fan_id_bucket(const struct fan *f, int32_t id)
{
    uint64_t h = ((uint64_t)(uint32_t)id ^ f->key) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32) & (f->nb - 1);
}

/* The entry index of handle TYPE/B/LEN with hash H, or UINT32_MAX. */
static uint32_t fan_find_handle(const struct fan *f, uint32_t h, int type, const unsigned char *b,
                                unsigned len)
{
    for (uint32_t i = f->hb[h & (f->nb - 1)]; i; i = f->ents[i - 1].hnext) {
        const struct ent *e = &f->ents[i - 1];
        if (e->hash == h && e->type == type && e->len == len && !memcmp(e->b, b, len))
            return i - 1;
    }
    return UINT32_MAX;
}

/* The entry index of id ID, or UINT32_MAX. */
static uint32_t fan_find_id(const struct fan *f, int32_t id)
{
    for (uint32_t i = f->ib[fan_id_bucket(f, id)]; i; i = f->ents[i - 1].inext)
        if (f->ents[i - 1].id == id)
            return i - 1;
    return UINT32_MAX;
}

/* Re-index every entry in NB buckets. Returns 0, or -1 (ENOMEM: unchanged). */
static int fan_rehash(struct fan *f, uint32_t nb)
{
    uint32_t *hb = calloc(nb, sizeof(*hb)), *ib = calloc(nb, sizeof(*ib));
    if (!hb || !ib) {
        free(hb);
        free(ib);
        return errno = ENOMEM, -1;
    }
    free(f->hb);
    free(f->ib);
    f->hb = hb;
    f->ib = ib;
    f->nb = nb;
    for (uint32_t i = 0; i < f->nents; i++) {
        struct ent *e = &f->ents[i];
        if (!e->id)
            continue;
        uint32_t hk = e->hash & (nb - 1), ik = fan_id_bucket(f, e->id);
        e->hnext = hb[hk];
        hb[hk] = i + 1;
        e->inext = ib[ik];
        ib[ik] = i + 1;
    }
    return 0;
}

/* Unlink entry I from chain BUCKETS[K] following NEXT (hnext or inext). */
static void fan_unchain(struct fan *f, uint32_t *buckets, uint32_t k, uint32_t i, bool by_id)
{
    uint32_t *p = &buckets[k];
    while (*p && *p != i + 1)
        p = by_id ? &f->ents[*p - 1].inext : &f->ents[*p - 1].hnext;
    if (*p)
        *p = by_id ? f->ents[i].inext : f->ents[i].hnext;
}

/* A fresh id not in use. */
static int32_t fan_new_id(struct fan *f)
{
    for (;;) {
        int32_t id = f->next_id;
        f->next_id = id == INT32_MAX ? 1 : id + 1;
        if (fan_find_id(f, id) == UINT32_MAX)
            return id;
    }
}

/* Insert handle TYPE/B/LEN (hash H, not present). Returns its id, or -1 with errno ENOMEM. */
static int fan_insert(struct fan *f, uint32_t h, int type, const unsigned char *b, unsigned len)
{
    if (f->count + 1 > f->nb && fan_rehash(f, f->nb * 2) < 0)
        return -1;
    uint32_t i;
    if (f->free_head) {
        i = f->free_head - 1;
        f->free_head = f->ents[i].hnext;
    } else {
        if (f->nents == f->cap_ents) {
            uint32_t cap = f->cap_ents ? f->cap_ents + f->cap_ents / 4 : 64; /* slack: 1/4 */
            struct ent *p = realloc(f->ents, (size_t)cap * sizeof(*p));
            if (!p)
                return errno = ENOMEM, -1;
            f->ents = p;
            f->cap_ents = cap;
        }
        i = f->nents++;
    }
    struct ent *e = &f->ents[i];
    memset(e, 0, sizeof(*e));
    e->id = fan_new_id(f);
    e->hash = h;
    e->type = (uint8_t)type;
    e->len = (uint8_t)len;
    memcpy(e->b, b, len);
    uint32_t hk = h & (f->nb - 1), ik = fan_id_bucket(f, e->id);
    e->hnext = f->hb[hk];
    f->hb[hk] = i + 1;
    e->inext = f->ib[ik];
    f->ib[ik] = i + 1;
    f->count++;
    return e->id;
}

/* The id of the handle in FH (a struct file_handle as the kernel reports it), or 0. */
static int32_t fan_lookup_fh(const struct fan *f, const struct file_handle *fh)
{
    if (fh->handle_bytes > HANDLE_MAX || fh->handle_type < 0 || fh->handle_type > 255)
        return 0;
    const unsigned char *b = fh->f_handle;
    uint32_t h = fan_hash(f, fh->handle_type, b, fh->handle_bytes);
    uint32_t i = fan_find_handle(f, h, fh->handle_type, b, fh->handle_bytes);
    return i == UINT32_MAX ? 0 : f->ents[i].id;
}

int fan_dir_add(struct fan *f, int fd)
{
    struct {
        struct file_handle h;
        unsigned char b[HANDLE_MAX];
    } fh;
    int mnt;
    fh.h.handle_bytes = HANDLE_MAX;
    if (name_to_handle_at(fd, "", &fh.h, &mnt, AT_EMPTY_PATH) < 0)
        return -1;
    if (fh.h.handle_type < 0 || fh.h.handle_type > 255)
        return errno = EOVERFLOW, -1;
    pthread_mutex_lock(&f->lock);
    uint32_t h = fan_hash(f, fh.h.handle_type, fh.b, fh.h.handle_bytes);
    uint32_t i = fan_find_handle(f, h, fh.h.handle_type, fh.b, fh.h.handle_bytes);
    int id;
    if (i != UINT32_MAX)
        id = f->ents[i].id;
    else if (f->dir_limit && f->count >= f->dir_limit)
        id = -1, errno = ENOSPC; /* the site may make directories without end */
    else
        id = fan_insert(f, h, fh.h.handle_type, fh.b, fh.h.handle_bytes);
    int e = errno;
    pthread_mutex_unlock(&f->lock);
    errno = e;
    return id;
}

void fan_set_dir_limit(struct fan *f, size_t max)
{
    pthread_mutex_lock(&f->lock);
    f->dir_limit = max;
    pthread_mutex_unlock(&f->lock);
}

void fan_dir_remove(struct fan *f, int id)
{
    pthread_mutex_lock(&f->lock);
    uint32_t i = fan_find_id(f, id);
    if (i != UINT32_MAX) {
        struct ent *e = &f->ents[i];
        fan_unchain(f, f->hb, e->hash & (f->nb - 1), i, false);
        fan_unchain(f, f->ib, fan_id_bucket(f, id), i, true);
        e->id = 0;
        e->hnext = f->free_head;
        f->free_head = i + 1;
        f->count--;
        if (!f->count) { /* the last one: give the entries back */
            free(f->ents);
            f->ents = NULL;
            f->nents = f->cap_ents = f->free_head = 0;
        }
        if (f->nb > MIN_BUCKETS && f->count < f->nb / 8)
            fan_rehash(f, f->nb / 2); /* on ENOMEM it stays big */
    }
    pthread_mutex_unlock(&f->lock);
}

/* ---- the queue ------------------------------------------------------------------------- */

/* Append to the filled half: the event MASK/COOKIE of directory WD, NAME (N bytes, may be 0),
 * by PID with *PIDFD (taken over when kept: set to -1). Returns false when full (overflow). */
static bool fan_push(struct fan *f, uint32_t mask, uint32_t cookie, int32_t wd, const char *name,
                     size_t n, pid_t pid, int *pidfd)
{
    uint32_t len = n ? (uint32_t)((n + 1 + 3) & ~(size_t)3) : 0;
    size_t size = sizeof(struct rec) + len;
    struct qbuf *q = &f->fill;
    if (q->events >= f->queue_limit || q->used + size > FAN_QUEUE_BYTES) {
        f->overflow = true;
        return false;
    }
    if (q->used + size > q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64 * 1024;
        while (cap < q->used + size)
            cap *= 2;
        char *b = realloc(q->b, cap);
        if (!b) {
            f->overflow = true;
            return false;
        }
        q->b = b;
        q->cap = cap;
    }
    struct rec *r = (struct rec *)(q->b + q->used);
    r->pid = pid;
    r->pidfd = -1;
    if (*pidfd >= 0 && f->pidfds < FAN_PIDFDS_MAX) {
        r->pidfd = *pidfd;
        *pidfd = -1;
        f->pidfds++;
    }
    r->ev = (struct inotify_event){.wd = wd, .mask = mask, .cookie = cookie, .len = len};
    if (len) {
        memcpy(r->ev.name, name, n);
        memset(r->ev.name + n, 0, len - n);
    }
    q->used += size;
    q->events++;
    f->queued++;
    return true;
}

/* Whether the filled half has room for N more events of at most BYTES. */
static bool fan_room(struct fan *f, unsigned n, size_t bytes)
{
    if (f->fill.events + n <= f->queue_limit && f->fill.used + bytes <= FAN_QUEUE_BYTES)
        return true;
    f->overflow = true;
    return false;
}

/* The directory handle and name of fid record H; NAME NULL when it has none. */
static const struct file_handle *fan_fid(const struct fanotify_event_info_header *h,
                                         const char **name)
{
    const struct fanotify_event_info_fid *fid = (const void *)h;
    const struct file_handle *fh = (const void *)fid->handle;
    *name = (const char *)fh->f_handle + fh->handle_bytes;
    if ((const char *)*name >= (const char *)h + h->len)
        *name = NULL;
    return fh;
}

/* Translate one kernel event (MD) into queued inotify events, or drop it. Holds f->lock. */
static void fan_event(struct fan *f, const struct fanotify_event_metadata *md, const char *raw,
                      int *pidfd)
{
    const struct file_handle *dir = NULL, *odir = NULL, *ndir = NULL;
    const char *name = NULL, *oname = NULL, *nname = NULL;
    const char *end = raw + md->event_len;
    for (const char *p = raw + md->metadata_len;
         p + sizeof(struct fanotify_event_info_header) <= end;) {
        const struct fanotify_event_info_header *h = (const void *)p;
        if (h->len < sizeof(*h) || p + h->len > end)
            break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME)
            dir = fan_fid(h, &name);
        else if (h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME)
            odir = fan_fid(h, &oname);
        else if (h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME)
            ndir = fan_fid(h, &nname);
        p += h->len;
    }
    uint64_t m = md->mask;
    uint32_t isdir = (m & FAN_ONDIR) ? IN_ISDIR : 0;
    pid_t pid = md->pid;
    if (m & FAN_RENAME) {
        int32_t o = odir && oname ? fan_lookup_fh(f, odir) : 0;
        int32_t n = ndir && nname ? fan_lookup_fh(f, ndir) : 0;
        size_t on = o ? strlen(oname) : 0, nn = n ? strlen(nname) : 0;
        if (!o && !n) {
            f->dropped++;
        } else if (o && n) {
            if (!fan_room(f, 2, 2 * sizeof(struct rec) + on + nn + 8))
                return;
            uint32_t c = ++f->cookie ? f->cookie : ++f->cookie;
            int none = -1;
            fan_push(f, IN_MOVED_FROM | isdir, c, o, oname, on, pid, &none);
            fan_push(f, IN_MOVED_TO | isdir, c, n, nname, nn, pid, pidfd);
        } else if (o) {
            fan_push(f, IN_DELETE | isdir, 0, o, oname, on, pid, pidfd);
        } else {
            fan_push(f, IN_CREATE | isdir, 0, n, nname, nn, pid, pidfd);
        }
        return;
    }
    int32_t id = dir && name ? fan_lookup_fh(f, dir) : 0;
    if (!id) {
        f->dropped++;
        return;
    }
    if (name[0] == '.' && !name[1]) { /* the directory itself */
        if (m & FAN_ATTRIB)
            fan_push(f, IN_ATTRIB | IN_ISDIR, 0, id, NULL, 0, pid, pidfd);
        return;
    }
    size_t n = strlen(name);
    bool gone = m & (FAN_DELETE | FAN_MOVED_FROM);
    bool look = m & (FAN_CREATE | FAN_MOVED_TO | FAN_ATTRIB | FAN_CLOSE_WRITE);
    if (gone && look && !fan_room(f, 2, 2 * sizeof(struct rec) + 2 * n + 8))
        return;
    if (gone)
        fan_push(f, IN_DELETE | isdir, 0, id, name, n, pid, pidfd);
    if (look) {
        uint32_t in = gone || (m & (FAN_CREATE | FAN_MOVED_TO)) ? IN_CREATE
                      : (m & FAN_ATTRIB)                        ? IN_ATTRIB
                                                                : IN_CLOSE_WRITE;
        if (in != IN_CREATE && (m & FAN_ATTRIB) && (m & FAN_CLOSE_WRITE))
            in = IN_ATTRIB | IN_CLOSE_WRITE;
        fan_push(f, in | isdir, 0, id, name, n, pid, pidfd);
    }
}

/* The pidfd an event carries, or -1. */
static int fan_event_pidfd(const struct fanotify_event_metadata *md, const char *raw)
{
    const char *end = raw + md->event_len;
    for (const char *p = raw + md->metadata_len;
         p + sizeof(struct fanotify_event_info_header) <= end;) {
        const struct fanotify_event_info_header *h = (const void *)p;
        if (h->len < sizeof(*h) || p + h->len > end)
            break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD) {
            int fd = ((const struct fanotify_event_info_pidfd *)(const void *)h)->pidfd;
            return fd >= 0 ? fd : -1;
        }
        p += h->len;
    }
    return -1;
}

/* Handle one read of N bytes of events. */
static void fan_batch(struct fan *f, const char *buf, ssize_t n)
{
    bool wake = false;
    pthread_mutex_lock(&f->lock);
    bool was_over = f->overflow;
    uint64_t before = f->queued;
    /* events are 4-byte aligned (names), the metadata wants 8: each is copied out */
    for (size_t off = 0; off + FAN_EVENT_METADATA_LEN <= (size_t)n;) {
        struct fanotify_event_metadata mdc;
        const struct fanotify_event_metadata *md = &mdc;
        const char *raw = buf + off;
        memcpy(&mdc, raw, sizeof(mdc));
        if (md->event_len < FAN_EVENT_METADATA_LEN || off + md->event_len > (size_t)n ||
            md->metadata_len > md->event_len)
            break;
        off += md->event_len;
        int pidfd = fan_event_pidfd(md, raw);
        if (md->vers != FANOTIFY_METADATA_VERSION) {
        } else if (md->mask & FAN_Q_OVERFLOW) {
            f->overflow = true;
        } else if (md->pid == f->self) {
            f->dropped++; /* our own repairs and crawls */
        } else {
            fan_event(f, md, raw, &pidfd);
        }
        if (md->fd >= 0)
            close(md->fd);
        if (pidfd >= 0)
            close(pidfd);
    }
    wake = f->queued != before || (f->overflow && !was_over);
    pthread_mutex_unlock(&f->lock);
    if (wake) {
        uint64_t one = 1;
        if (write(f->wake, &one, sizeof(one)) < 0) {
        } /* EAGAIN: the counter is full, it is readable anyway */
    }
}

/* The reader thread: drain the group until told to stop. */
static void *fan_reader(void *arg)
{
    struct fan *f = arg;
    char *buf = aligned_alloc(_Alignof(struct fanotify_event_metadata), READ_BYTES);
    if (!buf)
        return NULL;
    struct pollfd p[2] = {{.fd = f->fd, .events = POLLIN}, {.fd = f->stop[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        ssize_t n = read(f->fd, buf, READ_BYTES);
        if (n > 0) {
            fan_batch(f, buf, n);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            /* e.g. EMFILE creating a pidfd: do not spin */
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    free(buf);
    return NULL;
}

/* ---- life ------------------------------------------------------------------------------ */

struct fan *fan_new(char *why, size_t len)
{
    unsigned flags = FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK;
    bool pidfd = true;
    int fd = fanotify_init(flags | FAN_REPORT_PIDFD, O_RDONLY | O_LARGEFILE);
    if (fd < 0 && errno == EINVAL) {
        pidfd = false;
        fd = fanotify_init(flags, O_RDONLY | O_LARGEFILE);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(why, len, "fanotify_init: %s%s", strerror(e),
                 e == EPERM    ? " (needs CAP_SYS_ADMIN, and fanotify_init and fanotify_mark "
                                 "allowed by the system call filter)"
                 : e == ENOSYS ? " (not in this kernel, or refused by the system call filter)"
                 : e == EINVAL ? " (this kernel has no FAN_REPORT_DFID_NAME: Linux 5.9 or later)"
                               : "");
        errno = e;
        return NULL;
    }
    struct fan *f = calloc(1, sizeof(*f));
    if (!f) {
        close(fd);
        snprintf(why, len, "out of memory");
        return errno = ENOMEM, NULL;
    }
    f->fd = fd;
    f->has_pidfd = pidfd;
    f->self = getpid();
    f->next_id = 1;
    f->queue_limit = FAN_QUEUE_EVENTS;
    f->stop[0] = f->stop[1] = -1;
    if (getrandom(&f->key, sizeof(f->key), GRND_NONBLOCK) != sizeof(f->key))
        f->key = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uintptr_t)f;
    pthread_mutex_init(&f->lock, NULL);
    f->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f->wake < 0 || pipe2(f->stop, O_CLOEXEC) < 0 || fan_rehash(f, MIN_BUCKETS) < 0) {
        int e = errno;
        snprintf(why, len, "fanotify setup: %s", strerror(e));
        fan_free(f);
        errno = e;
        return NULL;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the reader takes no signal */
    int rc = pthread_create(&f->reader, NULL, fan_reader, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        snprintf(why, len, "fanotify reader thread: %s", strerror(rc));
        fan_free(f);
        errno = rc;
        return NULL;
    }
    f->thread = true;
    return f;
}

/* Close the pidfds held by the records of Q. */
static void fan_close_pidfds(struct qbuf *q, size_t from)
{
    for (size_t p = from; p < q->used;) {
        struct rec *r = (struct rec *)(q->b + p);
        if (r->pidfd >= 0)
            close(r->pidfd);
        p += sizeof(*r) + r->ev.len;
    }
}

void fan_free(struct fan *f)
{
    if (!f)
        return;
    if (f->thread) {
        char c = 0;
        if (write(f->stop[1], &c, 1) == 1)
            pthread_join(f->reader, NULL);
    }
    close(f->fd);
    if (f->wake >= 0)
        close(f->wake);
    if (f->stop[0] >= 0) {
        close(f->stop[0]);
        close(f->stop[1]);
    }
    fan_close_pidfds(&f->fill, 0);
    fan_close_pidfds(&f->take, f->take.pos);
    free(f->fill.b);
    free(f->take.b);
    free(f->ents);
    free(f->hb);
    free(f->ib);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int fan_mark(struct fan *f, int root_fd, char *why, size_t len)
{
    struct stat st;
    if (fstat(root_fd, &st) < 0) {
        snprintf(why, len, "fstat of the site root: %s", strerror(errno));
        return -1;
    }
    if (f->marked && st.st_dev == f->marked_dev)
        return 0; /* marked already */
    if (f->marked) {
        fanotify_mark(f->fd, FAN_MARK_FLUSH | FAN_MARK_FILESYSTEM, 0, AT_FDCWD, NULL);
        f->marked = false;
    }
    struct {
        struct file_handle h;
        unsigned char b[HANDLE_MAX];
    } fh;
    int mnt;
    fh.h.handle_bytes = HANDLE_MAX;
    if (name_to_handle_at(root_fd, "", &fh.h, &mnt, AT_EMPTY_PATH) < 0) {
        int e = errno;
        snprintf(why, len, "%s",
                 e == EOVERFLOW ? "the filesystem's file handles are too large for the table"
                 : e == EOPNOTSUPP || e == ENOTSUP ? "filesystem does not support file handles"
                                                   : strerror(e));
        return errno = e, -1;
    }
    uint64_t base = FAN_CREATE | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_DELETE | FAN_ONDIR;
    uint64_t mask = base | FAN_RENAME;
    int rc = fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, root_fd, NULL);
    if (rc < 0 && errno == EINVAL) { /* before Linux 5.17: no FAN_RENAME */
        mask = base | FAN_MOVED_FROM | FAN_MOVED_TO;
        rc = fanotify_mark(f->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, root_fd, NULL);
    }
    if (rc < 0) {
        int e = errno;
        snprintf(why, len, "fanotify_mark: %s%s", strerror(e),
                 e == EOPNOTSUPP || e == ENOTSUP ? " (filesystem does not support file handles)"
                 : e == EXDEV  ? " (the site is on a subvolume with its own fsid, or an overlay)"
                 : e == ENODEV ? " (the filesystem has no fsid)"
                 : e == EPERM  ? " (needs CAP_SYS_ADMIN in the initial user namespace)"
                               : "");
        return errno = e, -1;
    }
    f->mask = mask;
    f->has_rename = mask & FAN_RENAME;
    f->marked = true;
    f->marked_dev = st.st_dev;
    return 1;
}

int fan_wake_fd(const struct fan *f)
{
    return f->wake;
}

bool fan_has_pidfd(const struct fan *f)
{
    return f->has_pidfd;
}

bool fan_has_rename(const struct fan *f)
{
    return f->has_rename;
}

const struct inotify_event *fan_next(struct fan *f, pid_t *pid, int *pidfd)
{
    struct qbuf *t = &f->take;
    for (int round = 0; t->pos >= t->used; round++) {
        t->used = t->pos = 0;
        t->events = 0;
        pthread_mutex_lock(&f->lock);
        if (!f->fill.used && round == 0) {
            pthread_mutex_unlock(&f->lock);
            /* clear the wake-up, then look once more: a push after this wakes us again */
            uint64_t v;
            if (read(f->wake, &v, sizeof(v)) < 0) {
            }
            continue;
        }
        struct qbuf tmp = f->fill;
        f->fill = *t;
        *t = tmp;
        pthread_mutex_unlock(&f->lock);
        if (!t->used)
            return NULL;
        if (round) { /* its wake-up was consumed above: stay readable while events are left */
            uint64_t one = 1;
            if (write(f->wake, &one, sizeof(one)) < 0) {
            }
        }
    }
    struct rec *r = (struct rec *)(t->b + t->pos);
    t->pos += sizeof(*r) + r->ev.len;
    *pid = r->pid;
    *pidfd = r->pidfd;
    if (r->pidfd >= 0) {
        pthread_mutex_lock(&f->lock);
        f->pidfds--;
        pthread_mutex_unlock(&f->lock);
    }
    return &r->ev;
}

bool fan_take_overflow(struct fan *f)
{
    pthread_mutex_lock(&f->lock);
    bool o = f->overflow;
    f->overflow = false;
    pthread_mutex_unlock(&f->lock);
    return o;
}

void fan_stats(struct fan *f, struct fan_stats *st)
{
    pthread_mutex_lock(&f->lock);
    *st = (struct fan_stats){
        .dirs = f->count,
        .table_bytes =
            (size_t)f->cap_ents * sizeof(struct ent) + 2 * (size_t)f->nb * sizeof(uint32_t),
        .dropped = f->dropped,
        .queued = f->queued,
    };
    pthread_mutex_unlock(&f->lock);
}

void fan_debug_set_queue_limit(struct fan *f, unsigned n)
{
    pthread_mutex_lock(&f->lock);
    f->queue_limit = n;
    pthread_mutex_unlock(&f->lock);
}
