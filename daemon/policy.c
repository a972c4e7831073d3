/* policy: rule lookup and the checks of one object against its rule. Pure: no I/O, no
 * allocation, no globals; every string lands in the finding's own buffers. */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "account.h"
#include "glob.h"
#include "perm.h"

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

/* The words for a missing right: "r and x" for the bits WANT lacks in V; when every bit is
 * there but spread over several matching ACL group entries, WANT "together". */
static void lacks_words(struct sbuf *s, int want, const struct perm_verdict *v)
{
    int missing = want & ~v->have;
    if (missing)
        sb_printf(s, "%s", perm_bits_words(missing));
    else
        sb_printf(s, "%s together", perm_bits_words(want));
}

/* The name of uid ID for a reason: a writer's, the web user's or the rule's owner name as
 * written, else "uid N". */
static void uid_words(struct sbuf *s, const struct rule *r, const struct policy_subjects *who,
                      uid_t id)
{
    for (size_t i = 0; i < who->nwriters; i++)
        if (who->writers[i].uid == id && who->writers[i].name) {
            sb_printf(s, "%s", who->writers[i].name);
            return;
        }
    if (who->web && who->web->uid == id && who->web->name) {
        sb_printf(s, "%s", who->web->name);
        return;
    }
    for (size_t i = 0; i < r->nowners; i++)
        if (r->owners[i] == id && r->owner_names && r->owner_names[i]) {
            sb_printf(s, "%s", r->owner_names[i]);
            return;
        }
    const char *name = who->user_name ? who->user_name(id) : NULL;
    if (name)
        sb_printf(s, "%s", name);
    else
        sb_printf(s, "uid %u", (unsigned)id);
}

/* The name of gid ID for a reason: the rule's group name as written, WHO's group_name, else
 * "gid N". */
static void gid_words(struct sbuf *s, const struct rule *r, const struct policy_subjects *who,
                      gid_t id)
{
    for (size_t i = 0; i < r->ngroups; i++)
        if (r->groups[i] == id && r->group_names && r->group_names[i]) {
            sb_printf(s, "%s", r->group_names[i]);
            return;
        }
    const char *name = who->group_name ? who->group_name(id) : NULL;
    if (name)
        sb_printf(s, "%s", name);
    else
        sb_printf(s, "gid %u", (unsigned)id);
}

/* Append the deciding class of V to S: "group", or "ACL user (entry rw-, mask r--)". */
static void class_words(struct sbuf *s, const struct perm_verdict *v, const struct perm_acl *acl)
{
    sb_printf(s, "%s", perm_class_name(v->cls));
    if ((v->cls == PERM_CLASS_ACL_USER || v->cls == PERM_CLASS_ACL_GROUP) && acl) {
        char e[4], m[4];
        sb_printf(s, " (entr%s %s", v->cls == PERM_CLASS_ACL_GROUP ? "ies" : "y",
                  perm_rwx(v->entry, e));
        if (acl->mask >= 0)
            sb_printf(s, ", mask %s", perm_rwx(acl->mask, m));
        sb_printf(s, ")");
    }
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

bool policy_needs_acl(const struct rule *r, const struct stat *st)
{
    /* the kernel consults an ACL only when the group class (the mask) is non-zero */
    return r && !r->ignore && (r->writable || r->web_readable) &&
           (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) && (st->st_mode & S_IRWXG);
}

size_t policy_evaluate(const struct rule *r, const struct principal *web, const struct stat *st,
                       struct finding *out)
{
    struct policy_subjects who = {.web = web};
    return policy_check(r, &who, st, out);
}

size_t policy_check(const struct rule *r, const struct policy_subjects *who, const struct stat *st,
                    struct finding *out)
{
    const struct principal *web = who->web;
    const struct perm_acl *acl = perm_acl_extended(who->acl) ? who->acl : NULL;
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

    struct perm_verdict v;
    int rwant = is_dir ? PERM_R | PERM_X : PERM_R;
    if (r->web_readable && web &&
        !perm_check(web, st->st_uid, st->st_gid, st->st_mode, acl, rwant, &v)) {
        struct finding *f = finding_init(&out[n++], FINDING_WEB_UNREADABLE, r, st);
        const char *name = web->name ? web->name : "the web user";
        e = (struct sbuf){f->expected, sizeof(f->expected), 0, false};
        sb_printf(&e, "readable by %s", name);
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        sb_printf(&why, "mode %04o uid %u gid %u: %s falls in class ",
                  (unsigned)(st->st_mode & PERM_MASK), (unsigned)st->st_uid, (unsigned)st->st_gid,
                  name);
        class_words(&why, &v, acl);
        sb_printf(&why, ", which lacks ");
        lacks_words(&why, rwant, &v);
    }

    int wwant = is_dir ? PERM_W | PERM_X : PERM_W;
    for (size_t i = 0; r->writable && i < who->nwriters; i++) {
        const struct principal *w = &who->writers[i];
        if (perm_check(w, st->st_uid, st->st_gid, st->st_mode, acl, wwant, &v))
            continue;
        struct finding *f = finding_init(&out[n++], FINDING_NOT_WRITABLE, r, st);
        const char *name = w->name ? w->name : "a writer";
        e = (struct sbuf){f->expected, sizeof(f->expected), 0, false};
        sb_printf(&e, "writable by ");
        for (size_t j = 0; j < who->nwriters; j++)
            sb_printf(&e, "%s%s", j ? ", " : "", who->writers[j].name ? who->writers[j].name : "?");
        why = (struct sbuf){f->reason, sizeof(f->reason), 0, false};
        sb_printf(&why, "%s cannot write: owner ", name);
        uid_words(&why, r, who, st->st_uid);
        sb_printf(&why, ", group ");
        gid_words(&why, r, who, st->st_gid);
        sb_printf(&why, " (%s is %sin it), class ", name, v.in_group ? "" : "not ");
        class_words(&why, &v, acl);
        sb_printf(&why, " lacks ");
        lacks_words(&why, wwant, &v);
        break; /* one finding: the first writer who cannot write */
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
