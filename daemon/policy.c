/* policy: rule lookup and the checks of one object against its rule. Pure: no I/O, no
 * allocation, no globals; every string lands in the finding's own buffers. */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "account.h"
#include "glob.h"

#define PERM_MASK  ((mode_t)07777)
#define SETID_BITS ((mode_t)(S_ISUID | S_ISGID))

const struct rule *policy_match(const struct config *c, const char *relpath)
{
    for (size_t i = 0; i < c->nrules; i++) {
        const struct rule *r = &c->rules[i];
        for (size_t j = 0; j < r->nmatch; j++)
            if (glob_match(r->match[j], relpath))
                return r;
    }
    return NULL;
}

mode_t policy_target_mode(const struct rule *r, mode_t st_mode)
{
    mode_t mode = st_mode & PERM_MASK;
    if (S_ISREG(st_mode)) /* a repaired file never keeps a set-id bit (as chown clears it) */
        return ((mode | r->file_require) & ~r->file_forbid) & ~SETID_BITS & PERM_MASK;
    if (S_ISDIR(st_mode))
        return ((mode | r->dir_require) & ~r->dir_forbid) & PERM_MASK;
    return mode;
}

/* Bounded appender over a fixed buffer: once full, further appends are dropped and the text
 * ends in "..." so a truncation is visible. */
struct sbuf {
    char *buf;
    size_t len, pos;
    bool full;
};

/* Append printf-style text to S, truncating (with "...") when it does not fit. */
static void sb_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *s, const char *fmt, ...)
{
    if (s->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf + s->pos, s->len - s->pos, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->buf[s->pos] = '\0';
        return;
    }
    if ((size_t)n < s->len - s->pos) {
        s->pos += (size_t)n;
        return;
    }
    s->full = true;
    s->pos = s->len - 1;
    if (s->len >= 4)
        memcpy(s->buf + s->len - 4, "...", 4);
}

/* join_names takes uid_t and gid_t lists alike: both are unsigned int on Linux. */
_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
               "uid_t and gid_t are unsigned int");

/* Names as written joined with ", " into S; a missing name falls back to the numeric id. */
static void join_names(struct sbuf *s, char *const *names, const unsigned *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? ", " : "";
        if (names && names[i])
            sb_printf(s, "%s%s", sep, names[i]);
        else
            sb_printf(s, "%s%u", sep, ids[i]);
    }
}

/* Words for each permission bit, most significant first (04000 .. 01). */
static const char *const bit_names[12] = {
    "setuid",     "setgid",      "sticky",        "owner read", "owner write", "owner execute",
    "group read", "group write", "group execute", "world read", "world write", "world execute",
};

/* Append "0020 (group write)" for the bits BITS (non-zero) to S. */
static void describe_bits(struct sbuf *s, mode_t bits)
{
    sb_printf(s, "%04o (", (unsigned)bits);
    const char *sep = "";
    for (int i = 0; i < 12; i++) {
        if (bits & ((mode_t)04000 >> i)) {
            sb_printf(s, "%s%s", sep, bit_names[i]);
            sep = ", ";
        }
    }
    sb_printf(s, ")");
}

/* Start a finding of KIND for the object ST under R in F; expected/reason left empty. */
static struct finding *finding_init(struct finding *f, enum finding_kind kind, const struct rule *r,
                                    const struct stat *st)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->rule = r->name;
    f->has_stat = true;
    f->is_dir = S_ISDIR(st->st_mode);
    f->uid = st->st_uid;
    f->gid = st->st_gid;
    f->mode = st->st_mode & PERM_MASK;
    return f;
}

static bool uid_in(const uid_t *ids, size_t n, uid_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static bool gid_in(const gid_t *ids, size_t n, gid_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* Whether WEB may read (and for a directory also search) ST by the POSIX class rules
 * without ACLs. On false, *cls names the deciding class and *lacks the missing rights. */
static bool web_can_read(const struct principal *web, const struct stat *st, const char **cls,
                         const char **lacks)
{
    if (web->uid == 0)
        return true;
    mode_t m = st->st_mode;
    mode_t rbit, xbit;
    if (web->uid == st->st_uid) {
        *cls = "owner";
        rbit = S_IRUSR;
        xbit = S_IXUSR;
    } else if (account_principal_in_group(web, st->st_gid)) {
        *cls = "group";
        rbit = S_IRGRP;
        xbit = S_IXGRP;
    } else {
        *cls = "other";
        rbit = S_IROTH;
        xbit = S_IXOTH;
    }
    bool r_ok = (m & rbit) != 0;
    bool x_ok = !S_ISDIR(m) || (m & xbit) != 0;
    if (r_ok && x_ok)
        return true;
    *lacks = !r_ok && !x_ok ? "r and x" : !r_ok ? "r" : "x";
    return false;
}

const char *policy_type_name(mode_t st_mode)
{
    return S_ISREG(st_mode)    ? "regular file"
           : S_ISDIR(st_mode)  ? "directory"
           : S_ISLNK(st_mode)  ? "symbolic link"
           : S_ISFIFO(st_mode) ? "FIFO"
           : S_ISSOCK(st_mode) ? "socket"
           : S_ISCHR(st_mode)  ? "character device"
           : S_ISBLK(st_mode)  ? "block device"
                               : "unknown object";
}

/* The special_file finding of a device node, FIFO or socket ST under R into OUT[0]; returns
 * 1, or 0 for a symlink (never followed, not the policy's). */
static size_t special_file(const struct rule *r, const struct stat *st, struct finding *out)
{
    if (S_ISLNK(st->st_mode))
        return 0;
    struct finding *f = finding_init(out, FINDING_SPECIAL_FILE, r, st);
    snprintf(f->expected, sizeof(f->expected), "a regular file or directory");
    struct sbuf why = {f->reason, sizeof(f->reason), 0, false};
    sb_printf(&why, "a %s", policy_type_name(st->st_mode));
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        sb_printf(&why, " (device %u:%u)", major(st->st_rdev), minor(st->st_rdev));
    sb_printf(&why, "; a web site needs no device nodes, FIFOs or sockets (never repaired: "
                    "remove it, or exclude it with an ignore rule if it is meant to be there)");
    return 1;
}

size_t policy_evaluate(const struct rule *r, const struct principal *web, const struct stat *st,
                       struct finding *out)
{
    if (!r || r->ignore)
        return 0;
    bool is_dir = S_ISDIR(st->st_mode);
    if (!is_dir && !S_ISREG(st->st_mode))
        return special_file(r, st, out);
    size_t n = 0;
    struct sbuf e, why;

    if (r->nowners && !uid_in(r->owners, r->nowners, st->st_uid)) {
        bool root = st->st_uid == 0;
        struct finding *f =
            finding_init(&out[n++], root ? FINDING_ROOT_OWNED : FINDING_OWNER_MISMATCH, r, st);
        e = (struct sbuf){f->expected, sizeof(f->expected), 0, false};
        join_names(&e, r->owner_names, r->owners, r->nowners);
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        sb_printf(&why, "owned by uid %u%s; rule %s allows ", (unsigned)st->st_uid,
                  root ? " (root)" : "", r->name);
        join_names(&why, r->owner_names, r->owners, r->nowners);
    }

    if (r->ngroups && !gid_in(r->groups, r->ngroups, st->st_gid)) {
        struct finding *f = finding_init(&out[n++], FINDING_GROUP_MISMATCH, r, st);
        e = (struct sbuf){f->expected, sizeof(f->expected), 0, false};
        join_names(&e, r->group_names, r->groups, r->ngroups);
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        sb_printf(&why, "group gid %u; rule %s allows group ", (unsigned)st->st_gid, r->name);
        join_names(&why, r->group_names, r->groups, r->ngroups);
    }

    mode_t require = (is_dir ? r->dir_require : r->file_require) & PERM_MASK;
    mode_t forbid = (is_dir ? r->dir_forbid : r->file_forbid) & PERM_MASK;
    mode_t missing = require & ~st->st_mode;
    mode_t present = forbid & st->st_mode;
    if (missing || present) {
        struct finding *f = finding_init(&out[n++], FINDING_MODE_MISMATCH, r, st);
        snprintf(f->expected, sizeof(f->expected), "%04o",
                 (unsigned)policy_target_mode(r, st->st_mode));
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        if (missing) {
            sb_printf(&why, "missing ");
            describe_bits(&why, missing);
        }
        if (present) {
            sb_printf(&why, "%sforbidden ", missing ? "; " : "");
            describe_bits(&why, present);
            sb_printf(&why, " is set");
        }
    }

    const char *cls = "", *lacks = "";
    if (r->web_readable && web && !web_can_read(web, st, &cls, &lacks)) {
        struct finding *f = finding_init(&out[n++], FINDING_WEB_UNREADABLE, r, st);
        const char *who = web->name ? web->name : "the web user";
        e = (struct sbuf){f->expected, sizeof(f->expected), 0, false};
        sb_printf(&e, "readable by %s", who);
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        sb_printf(&why, "mode %04o uid %u gid %u: %s falls in class %s, which lacks %s",
                  (unsigned)(st->st_mode & PERM_MASK), (unsigned)st->st_uid, (unsigned)st->st_gid,
                  who, cls, lacks);
    }

    mode_t setid = st->st_mode & SETID_BITS;
    if (S_ISREG(st->st_mode) && setid) {
        struct finding *f = finding_init(&out[n++], FINDING_SETID, r, st);
        snprintf(f->expected, sizeof(f->expected), "no setuid or setgid bit");
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        if (setid & S_ISUID)
            sb_printf(&why, "setuid: runs with the rights of uid %u%s", (unsigned)st->st_uid,
                      st->st_uid == 0 ? " (root)" : "");
        if (setid & S_ISGID)
            sb_printf(&why, "%ssetgid: runs with the rights of gid %u%s",
                      setid & S_ISUID ? "; " : "", (unsigned)st->st_gid,
                      st->st_gid == 0 ? " (root)" : "");
        sb_printf(&why, "; a web site has no use for set-id programs");
    }
    return n;
}
