/* finding: names, the readable message and the JSON form of one finding. */
#include "finding.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "writer.h"

static const char *const kind_names[FINDING_KIND_COUNT] = {
    [FINDING_ROOT_OWNED] = "root_owned",
    [FINDING_OWNER_MISMATCH] = "owner_mismatch",
    [FINDING_GROUP_MISMATCH] = "group_mismatch",
    [FINDING_MODE_MISMATCH] = "mode_mismatch",
    [FINDING_WEB_UNREADABLE] = "web_unreadable",
    [FINDING_DISPATCH_UNREACHABLE] = "dispatch_unreachable",
    [FINDING_DISPATCH_INVALID] = "dispatch_invalid",
    [FINDING_SPECIAL_FILE] = "special_file",
    [FINDING_SETID] = "setid",
    [FINDING_NOT_WRITABLE] = "not_writable",
    [FINDING_ROOT_WRITER] = "root_writer",
};

/* Name of kind K; NULL when K is out of range. */
const char *finding_kind_name(enum finding_kind k)
{
    if ((unsigned)k >= FINDING_KIND_COUNT)
        return NULL;
    return kind_names[k];
}

/* Kind named NAME, or -1 for NULL or an unknown name. */
int finding_kind_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < FINDING_KIND_COUNT; k++)
        if (strcmp(kind_names[k], name) == 0)
            return k;
    return -1;
}

void finding_append_escaped(char *buf, size_t len, size_t *pos, const char *s)
{
    esc_append(buf, len, pos, s);
}

/* Append printf output to BUF (capacity LEN, fill *POS), truncating safely. Only for text
 * whose bytes are all known to be printable (numbers, fixed words). */
static void put_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        buf[*pos] = '\0';
    else if ((size_t)n >= len - *pos)
        *pos = len - 1;
    else
        *pos += (size_t)n;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

/* " (owner:group 0644)" when F carries stat data; names fall back to numeric ids. */
static void put_stat(char *buf, size_t len, size_t *pos, const struct finding *f)
{
    if (!f->has_stat)
        return;
    put_fmt(buf, len, pos, " (");
    if (empty(f->owner))
        put_fmt(buf, len, pos, "%u", (unsigned)f->uid);
    else
        finding_append_escaped(buf, len, pos, f->owner);
    put_fmt(buf, len, pos, ":");
    if (empty(f->group))
        put_fmt(buf, len, pos, "%u", (unsigned)f->gid);
    else
        finding_append_escaped(buf, len, pos, f->group);
    put_fmt(buf, len, pos, " %04o)", (unsigned)(f->mode & 07777));
}

/* "file" or "directory" (or "path" without stat data). */
static const char *object_word(const struct finding *f)
{
    return !f->has_stat ? "path" : f->is_dir ? "directory" : "file";
}

static const char *const bit_names[12] = {
    "setuid",     "setgid",      "sticky",        "owner read", "owner write", "owner execute",
    "group read", "group write", "group execute", "world read", "world write", "world execute",
};

/* Append the names of BITS joined by ", " ("group write, world write"). */
static void put_bits(char *buf, size_t len, size_t *pos, mode_t bits)
{
    const char *sep = "";
    for (int i = 0; i < 12; i++) {
        if (bits & ((mode_t)04000 >> i)) {
            put_fmt(buf, len, pos, "%s%s", sep, bit_names[i]);
            sep = ", ";
        }
    }
}

/* Parse EXPECTED as a 3- or 4-digit octal mode; returns false when it is not one. */
static bool parse_mode(const char *s, mode_t *out)
{
    size_t n = strlen(s);
    if (n < 3 || n > 4)
        return false;
    mode_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return false;
        m = (m << 3) | (mode_t)(s[i] - '0');
    }
    *out = m;
    return true;
}

/* ": rule R wants WHAT EXPECTED", or ": wants ..." without a rule; nothing without
 * EXPECTED. */
static void put_wants(char *buf, size_t len, size_t *pos, const struct finding *f, const char *what)
{
    if (empty(f->expected))
        return;
    if (!empty(f->rule)) {
        put_fmt(buf, len, pos, ": rule ");
        finding_append_escaped(buf, len, pos, f->rule);
        put_fmt(buf, len, pos, " wants ");
    } else {
        put_fmt(buf, len, pos, ": wanted ");
    }
    put_fmt(buf, len, pos, "%s", what);
    finding_append_escaped(buf, len, pos, f->expected);
}

/* Append SEP + reason when the finding has one. */
static void put_reason(char *buf, size_t len, size_t *pos, const struct finding *f, const char *sep,
                       const char *end)
{
    if (empty(f->reason))
        return;
    put_fmt(buf, len, pos, "%s", sep);
    finding_append_escaped(buf, len, pos, f->reason);
    put_fmt(buf, len, pos, "%s", end);
}

/* Dispatch findings: "dispatch command CMD of channel CH is ...". */
static void put_dispatch(char *buf, size_t len, size_t *pos, const struct finding *f)
{
    if (f->kind == FINDING_DISPATCH_INVALID && empty(f->command) && empty(f->channel)) {
        /* the file itself, not one of its commands */
        put_fmt(buf, len, pos, "%s",
                f->fatal ? "PHP cannot parse the channels file " : "the channels file ");
        finding_append_escaped(buf, len, pos, empty(f->path) ? "(none)" : f->path);
        put_fmt(buf, len, pos, "%s",
                f->fatal ? ": every request of the site fails" : " is invalid");
        put_reason(buf, len, pos, f, ": ", "");
        return;
    }
    put_fmt(buf, len, pos, "dispatch command ");
    if (!empty(f->command))
        finding_append_escaped(buf, len, pos, f->command);
    else if (!empty(f->path))
        finding_append_escaped(buf, len, pos, f->path);
    else
        put_fmt(buf, len, pos, "(none)");
    if (!empty(f->channel)) {
        put_fmt(buf, len, pos, " of channel ");
        finding_append_escaped(buf, len, pos, f->channel);
    }
    if (f->kind == FINDING_DISPATCH_UNREACHABLE) {
        put_fmt(buf, len, pos, " is unreachable for the web user");
        if (!empty(f->blocked_at)) {
            put_fmt(buf, len, pos, ": blocked at ");
            finding_append_escaped(buf, len, pos, f->blocked_at);
            put_reason(buf, len, pos, f, " (", ")");
        } else {
            put_reason(buf, len, pos, f, ": ", "");
        }
    } else {
        put_fmt(buf, len, pos, " is invalid");
        put_reason(buf, len, pos, f, ": ", "");
    }
}

/* " (written by cron.service, pid 123 comm php)" when the writer W is reported; "(written by
 * pid 123, exited)" when only its pid is known. */
static void put_written_by(char *buf, size_t len, size_t *pos, const struct writer_info *w)
{
    if (!w || w->pid <= 0)
        return;
    put_fmt(buf, len, pos, " (written by ");
    if (!w->known) {
        put_fmt(buf, len, pos, "pid %d, exited)", (int)w->pid);
        return;
    }
    if (*w->unit) {
        finding_append_escaped(buf, len, pos, w->unit);
        put_fmt(buf, len, pos, ", ");
    }
    put_fmt(buf, len, pos, "pid %d comm ", (int)w->pid);
    finding_append_escaped(buf, len, pos, w->comm);
    put_fmt(buf, len, pos, ")");
}

/* root_writer: "unit cron.service (user root, uid 0) keeps writing root-owned files: 10 within
 * 10 min, e.g. PATH" ("command php" without a unit). */
static void put_root_writer(char *buf, size_t len, size_t *pos, const struct finding *f)
{
    const struct writer_info *w = f->writer;
    if (w && *w->unit) {
        put_fmt(buf, len, pos, "%s ",
                w->unit_kind == WRITER_UNIT_USER      ? "user unit"
                : w->unit_kind == WRITER_UNIT_SESSION ? "session"
                                                      : "unit");
        finding_append_escaped(buf, len, pos, w->unit);
    } else {
        put_fmt(buf, len, pos, "command ");
        finding_append_escaped(buf, len, pos, w ? w->comm : "unknown");
    }
    if (w) {
        put_fmt(buf, len, pos, " (user ");
        finding_append_escaped(buf, len, pos, *w->user ? w->user : "?");
        put_fmt(buf, len, pos, ", uid %u)", (unsigned)w->uid);
    }
    put_fmt(buf, len, pos, " keeps writing root-owned files");
    put_reason(buf, len, pos, f, ": ", "");
    if (!empty(f->path)) {
        put_fmt(buf, len, pos, ", e.g. ");
        finding_append_escaped(buf, len, pos, f->path);
    }
}

/* F with its inline arrays NUL-terminated even when a writer filled them completely. */
static const struct finding *terminate(struct finding *f)
{
    f->expected[sizeof(f->expected) - 1] = '\0';
    f->reason[sizeof(f->reason) - 1] = '\0';
    return f;
}

const char *finding_format_message(const struct finding *f, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!f)
        return buf;
    struct finding copy = *f;
    f = terminate(&copy);
    size_t pos = 0;
    const char *path = empty(f->path) ? "(unknown path)" : f->path;
    mode_t want;

    switch (f->kind) {
    case FINDING_ROOT_OWNED:
    case FINDING_OWNER_MISMATCH:
        put_fmt(buf, len, &pos, "%s %s ",
                f->kind == FINDING_ROOT_OWNED ? "root-owned" : "wrong owner on", object_word(f));
        finding_append_escaped(buf, len, &pos, path);
        put_stat(buf, len, &pos, f);
        put_wants(buf, len, &pos, f, "owner ");
        if (empty(f->expected))
            put_reason(buf, len, &pos, f, ": ", "");
        break;
    case FINDING_GROUP_MISMATCH:
        put_fmt(buf, len, &pos, "wrong group on %s ", object_word(f));
        finding_append_escaped(buf, len, &pos, path);
        put_stat(buf, len, &pos, f);
        put_wants(buf, len, &pos, f, "group ");
        if (empty(f->expected))
            put_reason(buf, len, &pos, f, ": ", "");
        break;
    case FINDING_MODE_MISMATCH:
        if (f->has_stat && !empty(f->expected) && parse_mode(f->expected, &want) &&
            (want & 07777) != (f->mode & 07777)) {
            mode_t missing = want & ~f->mode & 07777, extra = f->mode & ~want & 07777;
            if (missing) {
                put_bits(buf, len, &pos, missing);
                put_fmt(buf, len, &pos, " missing");
            }
            if (extra) {
                put_fmt(buf, len, &pos, "%s", missing ? ", " : "");
                put_bits(buf, len, &pos, extra);
                put_fmt(buf, len, &pos, " set");
            }
            put_fmt(buf, len, &pos, " on ");
        } else {
            put_fmt(buf, len, &pos, "wrong mode on ");
        }
        if (f->has_stat && f->is_dir)
            put_fmt(buf, len, &pos, "directory ");
        finding_append_escaped(buf, len, &pos, path);
        put_stat(buf, len, &pos, f);
        put_wants(buf, len, &pos, f, "mode ");
        if (empty(f->expected))
            put_reason(buf, len, &pos, f, ": ", "");
        break;
    case FINDING_WEB_UNREADABLE:
        put_fmt(buf, len, &pos, "web user cannot read %s ", object_word(f));
        finding_append_escaped(buf, len, &pos, path);
        put_stat(buf, len, &pos, f);
        put_reason(buf, len, &pos, f, ": ", "");
        break;
    case FINDING_NOT_WRITABLE:
        put_fmt(buf, len, &pos, "not writable %s ", object_word(f));
        finding_append_escaped(buf, len, &pos, path);
        put_stat(buf, len, &pos, f);
        put_reason(buf, len, &pos, f, ": ", "");
        break;
    case FINDING_DISPATCH_UNREACHABLE:
    case FINDING_DISPATCH_INVALID:
        put_dispatch(buf, len, &pos, f);
        break;
    case FINDING_SPECIAL_FILE:
    case FINDING_SETID:
        put_fmt(buf, len, &pos, "%s ",
                f->kind == FINDING_SPECIAL_FILE ? "special file" : "set-id file");
        finding_append_escaped(buf, len, &pos, path);
        put_stat(buf, len, &pos, f);
        put_reason(buf, len, &pos, f, ": ", "");
        break;
    case FINDING_ROOT_WRITER:
        put_root_writer(buf, len, &pos, f);
        break;
    default:
        put_fmt(buf, len, &pos, "unknown finding on ");
        finding_append_escaped(buf, len, &pos, path);
        put_reason(buf, len, &pos, f, ": ", "");
        break;
    }
    if (f->kind != FINDING_ROOT_WRITER)
        put_written_by(buf, len, &pos, f->writer);
    return buf;
}

char *finding_message_alloc(const struct finding *f)
{
    size_t need = 1024; /* the fixed words, numbers and separators */
    if (f) {
        const char *strs[] = {f->path,    f->rule,    f->owner,      f->group,
                              f->channel, f->command, f->blocked_at, f->web_user};
        if (f->writer)
            need +=
                4 * (sizeof(f->writer->unit) + sizeof(f->writer->comm) + sizeof(f->writer->user)) +
                64;
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            need += esc_len(strs[i], 0);
        need += 4 * (sizeof(f->expected) + sizeof(f->reason));
    }
    char *buf = malloc(need);
    return buf ? (char *)finding_format_message(f, buf, need) : NULL;
}

/* Set KEY to the string S unless S is NULL or empty. Returns 0 or -1. */
static int set_str(json_t *o, const char *key, const char *s)
{
    if (empty(s))
        return 0;
    return esc_json_set(o, key, s);
}

static int set_int(json_t *o, const char *key, json_int_t v)
{
    json_t *j = json_integer(v);
    return j ? json_object_set_new(o, key, j) : -1;
}

/* The writer_* keys (and writes) of F into O. Returns 0 or -1. */
static int finding_json_writer(json_t *o, const struct finding *f)
{
    int rc = 0;
    const struct writer_info *w = f->writer;
    if (w && w->pid > 0) {
        rc |= set_int(o, "writer_pid", (json_int_t)w->pid);
        rc |= set_str(o, "writer_comm", w->known ? w->comm : "unknown");
        if (w->known) {
            rc |= set_int(o, "writer_uid", (json_int_t)w->uid);
            rc |= set_str(o, "writer_user", w->user);
            rc |= set_str(o, "writer_exe", w->exe);
            rc |= set_str(o, "writer_unit", w->unit);
            if (*w->unit)
                rc |= set_str(o, "writer_unit_kind", writer_unit_kind_name(w->unit_kind));
        }
    }
    if (f->writes)
        rc |= set_int(o, "writes", (json_int_t)f->writes);
    return rc;
}

int finding_print_json(const struct finding *f, FILE *out)
{
    if (!f || !out) {
        errno = EINVAL;
        return -1;
    }
    char mode[8];
    struct finding copy = *f;
    f = terminate(&copy);
    char *msg = finding_message_alloc(f);
    json_t *o = msg ? json_object() : NULL;
    if (!o) {
        free(msg);
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    rc |= set_str(o, "finding", finding_kind_name(f->kind));
    rc |= set_str(o, "path", f->path);
    rc |= set_str(o, "rule", f->rule);
    if (f->has_stat) {
        snprintf(mode, sizeof(mode), "%04o", (unsigned)(f->mode & 07777));
        rc |= set_int(o, "uid", (json_int_t)f->uid);
        rc |= set_int(o, "gid", (json_int_t)f->gid);
        rc |= set_str(o, "owner", f->owner);
        rc |= set_str(o, "group", f->group);
        rc |= set_str(o, "mode", mode);
    }
    rc |= set_str(o, "expected", f->expected);
    rc |= set_str(o, "reason", f->reason);
    rc |= set_str(o, "channel", f->channel);
    rc |= set_str(o, "command", f->command);
    rc |= set_str(o, "blocked_at", f->blocked_at);
    rc |= set_str(o, "web_user", f->web_user);
    rc |= finding_json_writer(o, f);
    rc |= set_str(o, "message", msg);
    free(msg);
    char *text = rc ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    int w = fprintf(out, "%s\n", text);
    free(text);
    if (w < 0) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
}
