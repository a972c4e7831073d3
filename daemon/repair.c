/* repair: the policy applied to the disk. The walk is scan_walk (directory fds opened
 * O_RDONLY|O_DIRECTORY|O_NOFOLLOW from the site root, each re-checked by inode and mount
 * before it is read, mounts never entered). Each object to change is then opened O_PATH|
 * O_NOFOLLOW under the directory fd the walk holds, its identity (type, mount id, st_ino,
 * st_dev) and mount re-checked on that fd, and changed through that fd only. The site's mount
 * is told by mount id, never by st_dev: overlayfs shows files on their layer's device. */
#include "repair.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "account.h"
#include "audit.h"
#include "log.h"
#include "permacl.h"
#include "policy.h"
#include "writer.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* the same number on every architecture (Linux 6.6) */
#endif

#define PERM_BITS 07777

bool repair_plan(const struct rule *r, const struct stat *st, uid_t *uid, gid_t *gid, mode_t *mode)
{
    *uid = st->st_uid;
    *gid = st->st_gid;
    *mode = st->st_mode & PERM_BITS;
    if (!r || r->ignore || r->repair == REPAIR_NEVER)
        return false;
    if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
        return false;
    bool uid_ok = r->nowners == 0, gid_ok = r->ngroups == 0;
    for (size_t i = 0; i < r->nowners && !uid_ok; i++)
        uid_ok = r->owners[i] == st->st_uid;
    for (size_t i = 0; i < r->ngroups && !gid_ok; i++)
        gid_ok = r->groups[i] == st->st_gid;
    if (!uid_ok)
        *uid = r->owners[0];
    if (!gid_ok)
        *gid = r->groups[0];
    *mode = policy_target_mode(r, st->st_mode) & PERM_BITS;
    return *uid != st->st_uid || *gid != st->st_gid || *mode != (st->st_mode & PERM_BITS);
}

/* The class bits P needs on an object of owner UID, group GID: WANT (an rwx triple) shifted to
 * the owner, group or other class P falls in. */
static mode_t repair_class_bits(const struct principal *p, uid_t uid, gid_t gid, mode_t want)
{
    if (p->uid == uid)
        return want << 6;
    if (account_principal_in_group(p, gid))
        return want << 3;
    return want;
}

bool repair_plan_access(const struct config *c, const struct rule *r, const struct stat *st,
                        uid_t *uid, gid_t *gid, mode_t *mode)
{
    bool change = repair_plan(r, st, uid, gid, mode);
    if (!c || !r || r->ignore || r->repair == REPAIR_NEVER)
        return change;
    bool dir = S_ISDIR(st->st_mode);
    if (!dir && !S_ISREG(st->st_mode))
        return change;
    mode_t add = 0;
    if (r->writable)
        for (size_t i = 0; i < c->nwriters; i++)
            if (c->writers[i].uid != 0)
                add |= repair_class_bits(&c->writers[i], *uid, *gid, dir ? 03 : 02);
    if (r->web_readable && c->web.uid != 0)
        add |= repair_class_bits(&c->web, *uid, *gid, dir ? 05 : 04);
    add &= ~(dir ? r->dir_forbid : r->file_forbid) & 0777;
    *mode |= add;
    return change || *mode != (st->st_mode & PERM_BITS);
}

size_t repair_kinds_fixed(const struct config *c, const struct rule *r, int dirfd, const char *name,
                          const struct stat *st, uid_t uid, gid_t gid, mode_t mode,
                          enum finding_kind *out)
{
    struct finding before[FINDING_KIND_COUNT], after[FINDING_KIND_COUNT];
    struct stat changed = *st;
    changed.st_uid = uid;
    changed.st_gid = gid;
    changed.st_mode = (st->st_mode & ~(mode_t)PERM_BITS) | (mode & PERM_BITS);
    struct perm_acl acl = {.mask = -1}, acl_after;
    bool have_acl = dirfd >= 0 && policy_needs_acl(r, st) &&
                    permacl_read_at(dirfd, *name ? name : ".", &acl) == 1;
    /* chmod sets an extended ACL's mask to the new group bits */
    acl_after = acl;
    if (acl_after.mask >= 0)
        acl_after.mask = (int)((mode >> 3) & 7);
    struct policy_subjects who = {.web = &c->web,
                                  .writers = c->writers,
                                  .nwriters = c->nwriters,
                                  .acl = have_acl ? &acl : NULL};
    size_t nb = policy_check(r, &who, st, before);
    who.acl = have_acl ? &acl_after : NULL;
    size_t na = policy_check(r, &who, &changed, after);
    if (have_acl)
        permacl_free(&acl);
    size_t n = 0;
    for (size_t i = 0; i < nb; i++) {
        bool left = false;
        for (size_t j = 0; j < na && !left; j++)
            left = after[j].kind == before[i].kind;
        if (!left)
            out[n++] = before[i].kind;
    }
    return n;
}

/* --- changing one object through its O_PATH fd ---------------------------------------- */

static bool no_fchmodat2; /* the kernel lacks fchmodat2(AT_EMPTY_PATH): use /proc */

/* chmod the very inode FD (O_PATH, verified not a symlink) refers to. fchmod(2) refuses O_PATH
 * fds (EBADF), and re-opening the object O_RDONLY would open FIFOs/devices swapped in meanwhile
 * and needs read permission semantics we do not want; fchmodat2(fd, "", AT_EMPTY_PATH) (Linux
 * 6.6) and chmod("/proc/self/fd/N") both act on the inode the fd pins, not on a name that could
 * be re-pointed: the /proc magic link is resolved by the kernel to the fd's own path object,
 * never re-walked. This is what systemd-tmpfiles does (fchmod_opath). Returns 0 or -1. */
static int chmod_fd(int fd, mode_t mode)
{
    if (!no_fchmodat2) {
        if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
            return -1;
        no_fchmodat2 = true;
    }
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    return chmod(proc, mode);
}

/* fs.protected_hardlinks: 1, 0, or -1 when unreadable. */
static int read_protected_hardlinks(void)
{
    FILE *f = fopen("/proc/sys/fs/protected_hardlinks", "re");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* --- the walk -------------------------------------------------------------------------- */

struct rctx {
    const struct config *c;
    const struct repair_options *o;
    struct repair_stats *st;
    uint64_t mnt; /* the site's mount (scan_stat's mount key) */
    int protected_hardlinks;
    pthread_mutex_t *report_lock; /* with several threads: one report at a time */
    char *abspath;
    size_t abscap;
};

static void emit(struct rctx *x, enum repair_outcome out, const struct scan_entry *e,
                 const struct rule *r, const struct stat *before, uid_t uid, gid_t gid, mode_t mode,
                 const char *reason)
{
    if (out == REPAIR_CHANGED)
        x->st->changed++;
    else
        x->st->refused++;
    if (!x->o->report)
        return;
    enum finding_kind kinds[FINDING_KIND_COUNT];
    size_t nkinds = repair_kinds_fixed(x->c, r, e->dirfd, e->name, before, uid, gid, mode, kinds);
    struct repair_report rep = {
        .outcome = out,
        .dry_run = x->o->dry_run,
        .path = x->abspath,
        .relpath = e->relpath,
        .rule = r->name,
        .old_uid = before->st_uid,
        .new_uid = uid,
        .old_gid = before->st_gid,
        .new_gid = gid,
        .old_mode = before->st_mode & PERM_BITS,
        .new_mode = mode,
        .reason = reason,
        .kinds = kinds,
        .nkinds = nkinds,
    };
    if (x->report_lock)
        pthread_mutex_lock(x->report_lock);
    x->o->report(x->o->ctx, &rep);
    if (x->report_lock)
        pthread_mutex_unlock(x->report_lock);
}

/* Change (or in a dry run only check) the object E under rule R. */
static void repair_object(struct rctx *x, const struct scan_entry *e, const struct rule *r)
{
    char reason[256];
    uid_t uid;
    gid_t gid;
    mode_t mode;
    repair_plan_access(x->c, r, e->st, &uid, &gid, &mode);
    int fd = openat(e->dirfd, *e->name ? e->name : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) { /* gone meanwhile: nothing left to repair */
            x->st->scan.vanished++;
            return;
        }
        snprintf(reason, sizeof(reason), "cannot open: %s; not touched", strerror(errno));
        emit(x, REPAIR_REFUSED, e, r, e->st, uid, gid, mode, reason);
        return;
    }
    struct stat now;
    bool mount_root;
    uint64_t mnt;
    const char *why = NULL;
    if (scan_stat(fd, "", &now, &mount_root, &mnt) < 0) {
        snprintf(reason, sizeof(reason), "cannot stat: %s; not touched", strerror(errno));
        why = reason;
    } else if ((now.st_mode & S_IFMT) != (e->st->st_mode & S_IFMT) || now.st_ino != e->st->st_ino ||
               now.st_dev != e->st->st_dev || mnt != e->mnt) {
        snprintf(reason, sizeof(reason),
                 "replaced while the repair ran (a %s was seen, now a %s, inode %llu -> %llu): "
                 "not touched",
                 policy_type_name(e->st->st_mode), policy_type_name(now.st_mode),
                 (unsigned long long)e->st->st_ino, (unsigned long long)now.st_ino);
        why = reason;
    } else if (!S_ISREG(now.st_mode) && !S_ISDIR(now.st_mode)) {
        snprintf(reason, sizeof(reason), "a %s: never touched", policy_type_name(now.st_mode));
        why = reason;
    } else if ((mount_root && *e->relpath) || mnt != x->mnt) { /* the root may be one */
        why = "a mount point or another filesystem: never crossed";
    } else if (S_ISREG(now.st_mode) && now.st_nlink > 1 &&
               !(x->o->allow_hardlinks && x->protected_hardlinks == 1)) {
        snprintf(reason, sizeof(reason),
                 "%lu hard links: may be a link to a file outside the site "
                 "(fs.protected_hardlinks=%d%s); not touched",
                 (unsigned long)now.st_nlink, x->protected_hardlinks,
                 x->protected_hardlinks == 1 ? ", hard-linked files not allowed" : "");
        why = reason;
    }
    if (why) {
        emit(x, REPAIR_REFUSED, e, r, e->st, uid, gid, mode, why);
        close(fd);
        return;
    }
    /* plan again from the object we hold: what the walk saw may be stale */
    if (!repair_plan_access(x->c, r, &now, &uid, &gid, &mode)) {
        x->st->ok++;
        close(fd);
        return;
    }
    if (x->o->dry_run) {
        emit(x, REPAIR_CHANGED, e, r, &now, uid, gid, mode, NULL);
        close(fd);
        return;
    }
    /* narrow first: never leave a moment where the new owner holds set-id or group/other
     * write bits the final mode does not grant; chown then clears set-id bits of files, so
     * the final mode is set after it */
    mode_t cur = now.st_mode & PERM_BITS, narrow = cur & mode;
    bool chown_needed = uid != now.st_uid || gid != now.st_gid;
    const char *op = NULL;
    if (narrow != cur && chmod_fd(fd, narrow) < 0)
        op = "chmod";
    else if (chown_needed && fchownat(fd, "", uid != now.st_uid ? uid : (uid_t)-1,
                                      gid != now.st_gid ? gid : (gid_t)-1, AT_EMPTY_PATH) < 0)
        op = "chown";
    else if ((mode != narrow || (chown_needed && (mode & 06000))) && chmod_fd(fd, mode) < 0)
        op = "chmod";
    if (op) {
        snprintf(reason, sizeof(reason), "%s failed: %s", op, strerror(errno));
        emit(x, REPAIR_REFUSED, e, r, &now, uid, gid, mode, reason);
    } else {
        emit(x, REPAIR_CHANGED, e, r, &now, uid, gid, mode, NULL);
    }
    close(fd);
}

static enum scan_verdict repair_visit(void *arg, const struct scan_entry *e)
{
    struct rctx *x = arg;
    const struct rule *r = policy_match(x->c, e->relpath);
    bool is_dir = S_ISDIR(e->st->st_mode);
    enum scan_verdict next = is_dir && !x->o->recursive ? SCAN_SKIP : SCAN_CONTINUE;
    if (r && r->ignore) {
        x->st->skipped++;
        return SCAN_SKIP;
    }
    if (!r || (!S_ISREG(e->st->st_mode) && !is_dir)) {
        x->st->skipped += r != NULL; /* symlinks, devices, sockets, FIFOs: not the policy's */
        x->st->ok += r == NULL;
        return next;
    }
    if (r->repair == REPAIR_NEVER || (r->repair == REPAIR_MANUAL && !x->o->include_manual)) {
        x->st->skipped++;
        return next;
    }
    uid_t uid;
    gid_t gid;
    mode_t mode;
    if (!repair_plan_access(x->c, r, e->st, &uid, &gid, &mode)) {
        x->st->ok++;
        return next;
    }
    size_t need = strlen(x->c->site_root) + 1 + e->relpath_len + 1;
    if (need > x->abscap) {
        char *p = realloc(x->abspath, need * 2);
        if (!p) {
            x->st->scan.errors++;
            return next;
        }
        x->abspath = p;
        x->abscap = need * 2;
    }
    audit_abspath(x->c, e->relpath, x->abspath, x->abscap);
    repair_object(x, e, r);
    return next;
}

int repair_run(const struct config *c, int root_fd, const char *subpath,
               const struct repair_options *opts, struct repair_stats *st)
{
    struct repair_stats dummy;
    struct rctx x = {.c = c, .o = opts, .st = st ? st : &dummy};
    memset(x.st, 0, sizeof(*x.st));
    struct stat rs;
    bool root_mount_root;
    if (scan_stat(root_fd, "", &rs, &root_mount_root, &x.mnt) < 0)
        return -1;
    x.protected_hardlinks = read_protected_hardlinks();
    if (audit_ancestor_ignored(c, subpath)) {
        x.st->skipped++;
        return 0;
    }
    unsigned threads = opts->threads > 1 ? opts->threads : 1;
    struct rctx *xs = calloc(threads, sizeof(*xs));
    struct repair_stats *part = calloc(threads, sizeof(*part));
    struct scan_hooks *h = calloc(threads, sizeof(*h));
    if (!xs || !part || !h) {
        free(xs);
        free(part);
        free(h);
        return errno = ENOMEM, -1;
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    for (unsigned i = 0; i < threads; i++) {
        xs[i] = x;
        xs[i].st = i ? &part[i] : x.st;
        xs[i].report_lock = threads > 1 ? &lock : NULL;
        h[i] = (struct scan_hooks){.visit = repair_visit, .ctx = &xs[i]};
    }
    struct scan_stats ss;
    int rc = scan_run_parallel(root_fd, subpath, h, threads, &ss);
    int e = errno;
    /* the walk zeroes its stats first: merge what the visitors counted meanwhile */
    for (unsigned i = 0; i < threads; i++) {
        const struct repair_stats *p = xs[i].st;
        ss.vanished += p->scan.vanished;
        ss.errors += p->scan.errors;
        if (i) {
            x.st->changed += p->changed;
            x.st->refused += p->refused;
            x.st->ok += p->ok;
            x.st->skipped += p->skipped;
        }
        free(xs[i].abspath);
    }
    x.st->scan = ss;
    free(xs);
    free(part);
    free(h);
    errno = e;
    return rc;
}

/* --- reporting ------------------------------------------------------------------------- */

const char *repair_format(const struct repair_report *rep, char *buf, size_t len)
{
    if (rep->outcome == REPAIR_REFUSED) {
        snprintf(buf, len, "refused %s: %s (rule %s)", rep->path, rep->reason, rep->rule);
        return buf;
    }
    size_t n = 0;
    int w = snprintf(buf, len, "%s %s:", rep->dry_run ? "would repair" : "repaired", rep->path);
    const char *sep = " ";
    if (w > 0)
        n = (size_t)w;
    if (rep->old_uid != rep->new_uid && n < len) {
        w = snprintf(buf + n, len - n, "%sowner %u -> %u", sep, (unsigned)rep->old_uid,
                     (unsigned)rep->new_uid);
        n += w > 0 ? (size_t)w : 0;
        sep = ", ";
    }
    if (rep->old_gid != rep->new_gid && n < len) {
        w = snprintf(buf + n, len - n, "%sgroup %u -> %u", sep, (unsigned)rep->old_gid,
                     (unsigned)rep->new_gid);
        n += w > 0 ? (size_t)w : 0;
        sep = ", ";
    }
    if (rep->old_mode != rep->new_mode && n < len) {
        w = snprintf(buf + n, len - n, "%smode %04o -> %04o", sep, (unsigned)rep->old_mode,
                     (unsigned)rep->new_mode);
        n += w > 0 ? (size_t)w : 0;
    }
    const char *setid = repair_setid_note(rep);
    if (setid && n < len) {
        w = snprintf(buf + n, len - n, ", %s", setid);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n < len)
        snprintf(buf + n, len - n, " (rule %s)", rep->rule);
    return buf;
}

const char *repair_setid_note(const struct repair_report *rep)
{
    if (rep->outcome != REPAIR_CHANGED)
        return NULL;
    mode_t removed = rep->old_mode & ~rep->new_mode & (S_ISUID | S_ISGID);
    return removed == (S_ISUID | S_ISGID) ? "setuid and setgid bits removed"
           : removed == S_ISUID           ? "setuid bit removed"
           : removed == S_ISGID           ? "setgid bit removed"
                                          : NULL;
}

void repair_log(const struct repair_report *rep, const struct repair_caller *caller)
{
    repair_log_writer(rep, caller, NULL);
}

void repair_log_writer(const struct repair_report *rep, const struct repair_caller *caller,
                       const struct writer_info *w)
{
    if (rep->dry_run)
        return;
    char uid[16], gid[16], mode[16], ouid[16], ogid[16], omode[16], cuid[16], cpid[16];
    snprintf(uid, sizeof(uid), "%u", (unsigned)rep->new_uid);
    snprintf(gid, sizeof(gid), "%u", (unsigned)rep->new_gid);
    snprintf(mode, sizeof(mode), "%04o", (unsigned)rep->new_mode);
    snprintf(ouid, sizeof(ouid), "%u", (unsigned)rep->old_uid);
    snprintf(ogid, sizeof(ogid), "%u", (unsigned)rep->old_gid);
    snprintf(omode, sizeof(omode), "%04o", (unsigned)rep->old_mode);
    cuid[0] = cpid[0] = '\0';
    if (caller) {
        snprintf(cuid, sizeof(cuid), "%u", (unsigned)caller->uid);
        snprintf(cpid, sizeof(cpid), "%d", (int)caller->pid);
    }
    bool ok = rep->outcome == REPAIR_CHANGED;
    char kinds[FINDING_KIND_COUNT * 32] = "";
    repair_kinds_join(rep, ",", kinds, sizeof(kinds));
    struct log_field f[12 + LOG_WRITER_FIELDS + FINDING_KIND_COUNT] = {
        {"PATH", rep->path},
        {"RULE", rep->rule},
        {"UID", uid},
        {"GID", gid},
        {"MODE", mode},
        {"OLD_UID", ouid},
        {"OLD_GID", ogid},
        {"OLD_MODE", omode},
        {"REASON", ok ? repair_setid_note(rep) : rep->reason},
        {"CALLER_UID", cuid},
        {"CALLER_PID", cpid},
        {"FINDINGS", kinds},
    };
    size_t nf = 12;
    /* one FINDING field per kind: the journal keeps repeated fields, and a match on any
     * one of them finds the entry */
    for (size_t i = 0; i < rep->nkinds && i < FINDING_KIND_COUNT; i++)
        f[nf++] = (struct log_field){"FINDING", finding_kind_name(rep->kinds[i])};
    char by[WRITER_UNIT_MAX + WRITER_COMM_MAX + 64] = "";
    struct log_writer_buf wbuf;
    nf += log_writer_fields(w, f + nf, &wbuf);
    if (w && w->pid > 0) {
        char d[sizeof(by) - 16];
        snprintf(by, sizeof(by), " (written by %s)", writer_describe(w, d, sizeof(d)));
    }
    char msg[PATH_MAX + 512], list[sizeof(kinds) + 16];
    repair_kinds_join(rep, ", ", list, sizeof(list));
    log_event(ok ? LOG_EVENT_REPAIRED : LOG_EVENT_REPAIR_REFUSED, ok ? LOG_NOTICE : LOG_WARNING, f,
              nf, "%s%s%s%s", repair_format(rep, msg, sizeof(msg)), *list ? "; findings: " : "",
              list, by);
}

const char *repair_kinds_join(const struct repair_report *rep, const char *sep, char *buf,
                              size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < rep->nkinds && pos < len; i++) {
        const char *name = finding_kind_name(rep->kinds[i]);
        int w = snprintf(buf + pos, len - pos, "%s%s", i ? sep : "", name ? name : "?");
        if (w < 0)
            break;
        pos += (size_t)w;
    }
    return buf;
}

/* --- the fight guard ------------------------------------------------------------------- */

#define GUARD_BUCKETS 256

struct guard_entry {
    struct guard_entry *next;
    uint64_t paused_until; /* 0: not paused */
    unsigned n;            /* timestamps held in ring (at most max + 1) */
    unsigned head;         /* next slot to write */
    uint64_t *ring;
    char path[];
};

struct repair_guard {
    unsigned max;
    uint64_t window, pause;
    size_t count;
    struct guard_entry *b[GUARD_BUCKETS];
};

struct repair_guard *repair_guard_new(unsigned max_repairs, uint64_t window_usec,
                                      uint64_t pause_usec)
{
    struct repair_guard *g = calloc(1, sizeof(*g));
    if (g) {
        g->max = max_repairs;
        g->window = window_usec;
        g->pause = pause_usec;
    }
    return g;
}

static void guard_entry_free(struct guard_entry *en)
{
    free(en->ring);
    free(en);
}

void repair_guard_free(struct repair_guard *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < GUARD_BUCKETS; i++)
        while (g->b[i]) {
            struct guard_entry *n = g->b[i]->next;
            guard_entry_free(g->b[i]);
            g->b[i] = n;
        }
    free(g);
}

static size_t guard_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % GUARD_BUCKETS);
}

/* "60s", "10m", "2h", "1500ms" for USEC into BUF. */
static const char *guard_duration(uint64_t usec, char *buf, size_t len)
{
    if (usec && usec % 3600000000ULL == 0)
        snprintf(buf, len, "%lluh", (unsigned long long)(usec / 3600000000ULL));
    else if (usec && usec % 60000000ULL == 0 && usec >= 600000000ULL)
        snprintf(buf, len, "%llum", (unsigned long long)(usec / 60000000ULL));
    else if (usec % 1000000ULL == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(usec / 1000000ULL));
    else
        snprintf(buf, len, "%llums", (unsigned long long)(usec / 1000ULL));
    return buf;
}

static void guard_reason(const struct repair_guard *g, const char *what, char *reason, size_t len)
{
    if (!reason || !len)
        return;
    char w[32], p[32];
    snprintf(reason, len,
             "%s %u times in %s: another process keeps undoing the repair; auto-repair paused "
             "for %s",
             what ? what : "needed repair", g->max + 1, guard_duration(g->window, w, sizeof(w)),
             guard_duration(g->pause, p, sizeof(p)));
}

enum repair_guard_verdict repair_guard_note(struct repair_guard *g, const char *path,
                                            uint64_t now_usec, const char *what, char *reason,
                                            size_t len)
{
    size_t h = guard_hash(path);
    struct guard_entry *en = g->b[h];
    while (en && strcmp(en->path, path) != 0)
        en = en->next;
    if (!en) {
        size_t n = strlen(path);
        en = calloc(1, sizeof(*en) + n + 1);
        if (!en)
            return REPAIR_GUARD_ALLOW;
        en->ring = calloc(g->max + 1, sizeof(*en->ring));
        if (!en->ring) {
            free(en);
            return REPAIR_GUARD_ALLOW;
        }
        memcpy(en->path, path, n + 1);
        en->next = g->b[h];
        g->b[h] = en;
        g->count++;
    }
    if (en->paused_until) {
        if (now_usec < en->paused_until) {
            guard_reason(g, what, reason, len);
            return REPAIR_GUARD_PAUSED;
        }
        en->paused_until = 0; /* the pause is over: start counting afresh */
        en->n = en->head = 0;
    }
    en->ring[en->head] = now_usec;
    en->head = (en->head + 1) % (g->max + 1);
    if (en->n < g->max + 1)
        en->n++;
    /* the ring holds the last max+1 times; the oldest is at head when full */
    if (en->n == g->max + 1 && now_usec - en->ring[en->head % (g->max + 1)] <= g->window) {
        en->paused_until = now_usec + g->pause;
        if (!en->paused_until)
            en->paused_until = 1;
        guard_reason(g, what, reason, len);
        return REPAIR_GUARD_TRIPPED;
    }
    return REPAIR_GUARD_ALLOW;
}

size_t repair_guard_prune(struct repair_guard *g, uint64_t now_usec)
{
    for (size_t i = 0; i < GUARD_BUCKETS; i++) {
        struct guard_entry **pp = &g->b[i];
        while (*pp) {
            struct guard_entry *en = *pp;
            unsigned last = (en->head + g->max) % (g->max + 1);
            bool paused = en->paused_until && now_usec < en->paused_until;
            bool recent = en->n && now_usec - en->ring[last] <= g->window;
            if (!paused && !recent) {
                *pp = en->next;
                guard_entry_free(en);
                g->count--;
            } else {
                pp = &en->next;
            }
        }
    }
    return g->count;
}
