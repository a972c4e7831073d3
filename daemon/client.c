/* client: permwatchctl. Exit codes (PRODUCT.md): the end line's exit; 2 usage; 3 when no
 * daemon answers (socket missing or refused, connection closed without an end line, an
 * invalid reply); 4 on permission denied (EACCES/EPERM on connect, or the daemon's). */
#include "client.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "esc.h"
#include "proto.h"

/* Which commands take which arguments. */
enum { ARG_KIND = 1, ARG_PATH = 2, ARG_DRY_RUN = 4 };

static const struct client_cmd {
    const char *name;
    unsigned args;
} client_cmds[] = {
    {"status", 0},      {"findings", ARG_KIND | ARG_PATH},
    {"scan", ARG_PATH}, {"repair", ARG_PATH | ARG_DRY_RUN},
    {"dispatch", 0},    {"reload", 0},
    {"metrics", 0},
};

/* The usage text to OUT. */
static void client_usage(FILE *out)
{
    fprintf(out, "Usage: permwatchctl [-s SOCKET | --site NAME] [--json] COMMAND [ARGS]\n"
                 "Commands: status, findings [--kind KIND] [PATH], scan [PATH],\n"
                 "          repair [--dry-run] [PATH], dispatch, reload,\n"
                 "          metrics [--textfile FILE], instances\n"
                 "  --site NAME   the instance permwatchd@NAME (" CLIENT_RUN_DIR "/NAME.sock)\n"
                 "  instances     the daemons of this host and whether they answer\n"
                 "  metrics --textfile FILE  every site's metrics, labelled site=NAME, into\n"
                 "                FILE for the node exporter (FILE.tmp, then renamed)\n"
                 "Exit codes: 0 ok, 1 findings/refusals present, 2 usage, 3 daemon not\n"
                 "            reachable, 4 permission denied\n");
}

/* Print "permwatchctl: MESSAGE" to stderr, escaped for humans (esc.h), and return CODE. */
__attribute__((format(printf, 2, 3))) static int client_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = NULL, *text = NULL;
    if (vasprintf(&raw, fmt, ap) >= 0)
        text = esc_dup(raw, 0);
    va_end(ap);
    fprintf(stderr, "permwatchctl: %s\n", text ? text : "out of memory");
    free(text);
    free(raw);
    return code;
}

bool client_site_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("_.@-", name[i]))
            return false;
    return true;
}

int client_site_socket(const char *dir, const char *name, char *buf, size_t len)
{
    if (!client_site_valid(name))
        return errno = EINVAL, -1;
    int n = snprintf(buf, len, "%s/%s.sock", dir, name);
    if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return errno = ENAMETOOLONG, -1;
    return 0;
}

void client_names_free(char **names)
{
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

/* qsort: strcmp of two char *. */
static int client_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **client_instances(const char *dir, size_t *n)
{
    *n = 0;
    char **v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return v;
        int e = errno;
        free(v);
        return errno = e, NULL;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l <= 5 || strcmp(de->d_name + l - 5, ".sock") != 0)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(l - 5), de->d_name);
        struct stat st;
        if (!client_site_valid(name) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        char **nv = realloc(v, (*n + 2) * sizeof(*v));
        if (!nv || !(nv[*n] = strdup(name))) {
            closedir(d);
            client_names_free(nv ? nv : v);
            return errno = ENOMEM, NULL;
        }
        v = nv;
        v[++*n] = NULL;
    }
    closedir(d);
    qsort(v, *n, sizeof(*v), client_name_cmp);
    return v;
}

int client_choose_socket(const char *dir, const char *default_socket, char *buf, size_t len,
                         char *msg, size_t msglen)
{
    msg[0] = '\0';
    struct stat st;
    size_t n = 0;
    char **names = lstat(default_socket, &st) == 0 ? NULL : client_instances(dir, &n);
    size_t others = 0, pick = 0;
    for (size_t i = 0; names && i < n; i++)
        if (strcmp(names[i], "control") != 0)
            others++, pick = i;
    int rc = 0;
    if (others == 1) {
        if (client_site_socket(dir, names[pick], buf, len) < 0)
            rc = PROTO_EXIT_USAGE,
            snprintf(msg, msglen, "%s/%s.sock: %s", dir, names[pick], strerror(errno));
    } else if (others > 1) {
        size_t at = (size_t)snprintf(msg, msglen, "several permwatch instances run here: ");
        for (size_t i = 0, k = 0; i < n && at < msglen; i++)
            if (strcmp(names[i], "control") != 0)
                at += (size_t)snprintf(msg + at, msglen - at, "%s%s", k++ ? ", " : "", names[i]);
        if (at < msglen)
            snprintf(msg + at, msglen - at, "; pick one with --site NAME");
        rc = PROTO_EXIT_USAGE;
    } else if (snprintf(buf, len, "%s", default_socket) >= (int)len) {
        rc = PROTO_EXIT_USAGE;
        snprintf(msg, msglen, "socket path too long: %s", default_socket);
    }
    client_names_free(names);
    return rc;
}

int client_abspath(const char *path, const char *cwd, char *buf, size_t len)
{
    if (!path || !*path || (path[0] != '/' && (!cwd || cwd[0] != '/')) || len < 2)
        return errno = EINVAL, -1;
    size_t n = 0;
    buf[0] = '\0';
    const char *parts[2] = {path[0] == '/' ? "" : cwd, path};
    for (int k = 0; k < 2; k++) {
        const char *p = parts[k];
        while (*p) {
            while (*p == '/')
                p++;
            const char *e = strchrnul(p, '/');
            size_t cl = (size_t)(e - p);
            if (cl && !(cl == 1 && p[0] == '.')) {
                if (n + 1 + cl + 1 > len)
                    return errno = ENAMETOOLONG, -1;
                buf[n++] = '/';
                memcpy(buf + n, p, cl);
                n += cl;
                buf[n] = '\0';
            }
            p = e;
        }
    }
    if (n == 0)
        strcpy(buf, "/");
    return 0;
}

int client_config_socket(const char *ini, char *buf, size_t len)
{
    FILE *f = fopen(ini, "re");
    if (!f)
        return -1;
    char line[1024];
    bool in_daemon = false;
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '[') {
            in_daemon = strncmp(p, "[daemon]", 8) == 0;
            continue;
        }
        if (!in_daemon || strncmp(p, "control_socket", 14) != 0)
            continue;
        p += 14;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end = strstr(p, " ;");
        if (!end)
            end = p + strcspn(p, "\r\n");
        while (end > p && isspace((unsigned char)end[-1]))
            end--;
        size_t vl = (size_t)(end - p);
        if (vl > 0 && vl < len) {
            memcpy(buf, p, vl);
            buf[vl] = '\0';
            rc = 0;
        }
    }
    fclose(f);
    return rc;
}

/* Whether KEY is the sibling KEY_raw_b64 of esc_json_set (shown through its key). */
static bool client_raw_key(const char *key)
{
    size_t n = strlen(key), m = strlen(ESC_RAW_SUFFIX);
    return n > m && strcmp(key + n - m, ESC_RAW_SUFFIX) == 0;
}

/* Column KEY of ROW as table text in a new malloc'd string (NULL on ENOMEM): strings escaped
 * for humans (esc.h; the exact bytes of KEY_raw_b64 when present; "message" is escaped text
 * from the daemon already), null "-", booleans yes/no, others as compact JSON. */
static char *client_cell(const json_t *row, const char *key)
{
    const json_t *v = json_object_get(row, key);
    char raw_key[256];
    const json_t *raw = NULL;
    if (snprintf(raw_key, sizeof(raw_key), "%s" ESC_RAW_SUFFIX, key) < (int)sizeof(raw_key))
        raw = json_object_get(row, raw_key);
    if (json_is_string(raw)) {
        size_t n;
        char *bytes = esc_b64_decode(json_string_value(raw), &n);
        if (bytes) {
            char *text = esc_dup(bytes, 0); /* (a NUL byte would end it: paths have none) */
            free(bytes);
            return text;
        }
    }
    if (!v || json_is_null(v))
        return strdup("-");
    if (json_is_string(v))
        return esc_dup(json_string_value(v), strcmp(key, "message") == 0 ? ESC_KEEP_BACKSLASH : 0);
    if (json_is_boolean(v))
        return strdup(json_is_true(v) ? "yes" : "no");
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *text = esc_dup(s ? s : "?", 0);
    free(s);
    return text;
}

/* Display width of the UTF-8 string S (code points; good enough for paths). */
static size_t client_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

void client_print_table(const json_t *rows, FILE *out)
{
    json_t *cols = json_array();
    size_t i;
    const json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)row, key, v)
        {
            bool seen = false;
            for (size_t k = 0; k < json_array_size(cols) && !seen; k++)
                seen = strcmp(json_string_value(json_array_get(cols, k)), key) == 0;
            if (!seen && !client_raw_key(key))
                json_array_append_new(cols, json_string(key));
        }
    }
    for (size_t k = 0; k + 1 < json_array_size(cols); k++) /* "message" goes last */
        if (strcmp(json_string_value(json_array_get(cols, k)), "message") == 0) {
            json_t *m = json_incref(json_array_get(cols, k));
            json_array_remove(cols, k);
            json_array_append_new(cols, m);
            break;
        }
    size_t ncols = json_array_size(cols);
    size_t *width = calloc(ncols ? ncols : 1, sizeof(size_t));
    for (size_t k = 0; width && k < ncols; k++) {
        width[k] = client_width(json_string_value(json_array_get(cols, k)));
        json_array_foreach(rows, i, row)
        {
            char *cell = client_cell(row, json_string_value(json_array_get(cols, k)));
            size_t w = cell ? client_width(cell) : 0;
            free(cell);
            if (w > width[k])
                width[k] = w;
        }
    }
    for (size_t k = 0; width && k < ncols; k++) {
        const char *name = json_string_value(json_array_get(cols, k));
        for (const char *p = name; *p; p++)
            fputc(toupper((unsigned char)*p), out);
        if (k + 1 < ncols)
            fprintf(out, "%*s", (int)(width[k] - client_width(name) + 2), "");
    }
    if (ncols)
        fputc('\n', out);
    json_array_foreach(rows, i, row)
    {
        for (size_t k = 0; width && k < ncols; k++) {
            char *cell = client_cell(row, json_string_value(json_array_get(cols, k)));
            fputs(cell ? cell : "?", out);
            if (k + 1 < ncols)
                fprintf(out, "%*s", (int)(width[k] - client_width(cell ? cell : "?") + 2), "");
            free(cell);
        }
        fputc('\n', out);
    }
    free(width);
    json_decref(cols);
}

/* status's "root_writers" (ROWS) as one indented line each: "  cron.service (system unit, uid
 * 0 root, comm php): 42 root-owned writes, last 2026-01-02 03:04:05, e.g. PATH [root_writer
 * open]"; a writer that exited before it was read says so instead of a uid. */
static void client_print_writers(const json_t *rows, FILE *out)
{
    size_t i;
    const json_t *r;
    json_array_foreach((json_t *)rows, i, r)
    {
        char *unit = client_cell(r, "unit"), *user = client_cell(r, "user"),
             *comm = client_cell(r, "comm"), *ex = client_cell(r, "example");
        time_t last = (time_t)json_integer_value(json_object_get(r, "last_seen_unix"));
        char when[32] = "?", who[512];
        struct tm tm;
        if (localtime_r(&last, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        const char *kind = json_string_value(json_object_get(r, "unit_kind"));
        long long uid = (long long)json_integer_value(json_object_get(r, "uid"));
        if (uid < 0) {
            snprintf(who, sizeof(who), "exited before it was read");
        } else {
            bool named = comm && unit && strcmp(comm, unit);
            snprintf(who, sizeof(who), "%s%s, uid %lld %s%s%s",
                     kind && strcmp(kind, "none") ? kind : "no", " unit", uid, user ? user : "?",
                     named ? ", comm " : "", named ? comm : "");
        }
        fprintf(out, "  %s (%s): %lld root-owned writes, last %s, e.g. %s%s\n", unit ? unit : "?",
                who, (long long)json_integer_value(json_object_get(r, "count")), when,
                ex ? ex : "?",
                json_is_true(json_object_get(r, "root_writer")) ? " [root_writer open]" : "");
        free(unit);
        free(user);
        free(comm);
        free(ex);
    }
}

void client_print_record(const json_t *row, FILE *out)
{
    const char *key;
    const json_t *v;
    size_t w = 0;
    json_object_foreach((json_t *)row, key, v)
    {
        if (client_width(key) > w)
            w = client_width(key);
    }
    json_object_foreach((json_t *)row, key, v)
    {
        if (client_raw_key(key))
            continue;
        if (strcmp(key, "root_writers") == 0 && json_is_array(v)) {
            fprintf(out, "%s:%*s %zu\n", key, (int)(w - client_width(key)), "", json_array_size(v));
            client_print_writers(v, out);
            continue;
        }
        char *cell = client_cell(row, key);
        fprintf(out, "%s:%*s %s\n", key, (int)(w - client_width(key)), "", cell ? cell : "?");
        free(cell);
    }
}

/* Connect to SOCKET_PATH. Returns the descriptor, or -1 with the exit code in *CODE. */
static int client_connect(const char *socket_path, int *code)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path)) {
        *code = client_fail(PROTO_EXIT_USAGE, "socket path too long: %s", socket_path);
        return -1;
    }
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return fd;
    int e = errno;
    if (fd >= 0)
        close(fd);
    bool denied = e == EACCES || e == EPERM;
    *code = client_fail(denied ? PROTO_EXIT_DENIED : PROTO_EXIT_UNREACHABLE,
                        "cannot reach permwatchd at %s: %s", socket_path, strerror(e));
    return -1;
}

/* How the reply is shown. */
struct client_out {
    const char *cmd;
    bool json;
    json_t *rows; /* collected for the table (human mode) */
    FILE *to;     /* metrics text goes here (NULL: stdout) */
};

/* Handle one reply row: print it (--json, metrics) or keep it for the table. */
static void client_row(struct client_out *o, json_t *row)
{
    if (o->json) {
        char *s = json_dumps(row, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
    } else if (strcmp(o->cmd, "metrics") == 0) {
        const char *text = json_string_value(json_object_get(row, "text"));
        if (text)
            fputs(text, o->to ? o->to : stdout);
    } else {
        json_array_append(o->rows, row);
    }
}

/* Send LINE on FD and read the reply until its end line, showing rows through O. Returns
 * the exit code. */
static int client_exchange(int fd, const char *line, size_t len, struct client_out *o)
{
    /* The daemon may answer (a refusal) and close before reading: a failed send is not
     * final, the reply may still be waiting. */
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        off += (size_t)w;
    }
    size_t cap = 65536, have = 0;
    char *buf = malloc(cap);
    if (!buf)
        return client_fail(PROTO_EXIT_UNREACHABLE, "out of memory");
    int code = -1;
    while (code < 0) {
        if (have == cap) {
            if (cap > PROTO_MAX_REPLY_LINE) {
                code = client_fail(PROTO_EXIT_UNREACHABLE, "reply line too long");
                break;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                code = client_fail(PROTO_EXIT_UNREACHABLE, "out of memory");
                break;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + have, cap - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            code = client_fail(PROTO_EXIT_UNREACHABLE,
                               "permwatchd closed the connection without a complete reply%s%s",
                               r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
            break;
        }
        have += (size_t)r;
        size_t pos = 0;
        char *nl;
        while (code < 0 && (nl = memchr(buf + pos, '\n', have - pos))) {
            struct proto_reply rep;
            char err[256];
            if (proto_parse_reply(buf + pos, (size_t)(nl - buf) - pos, &rep, err, sizeof(err)) <
                0) {
                code =
                    client_fail(PROTO_EXIT_UNREACHABLE, "invalid reply from permwatchd: %s", err);
                break;
            }
            if (rep.end) {
                if (rep.error)
                    client_fail(0, "%s", rep.error);
                code = rep.exit;
            } else {
                client_row(o, rep.row);
            }
            proto_reply_clear(&rep);
            pos = (size_t)(nl - buf) + 1;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    free(buf);
    return code;
}

/* Whether a daemon answers on SOCKET_PATH: a status request gets its end line (any exit code)
 * within CLIENT_PROBE_SECONDS. A socket unit's socket starts its stopped service here, as any
 * request does. */
#define CLIENT_PROBE_SECONDS 5
static bool client_probe(const char *socket_path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return false;
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct timeval tv = {.tv_sec = CLIENT_PROBE_SECONDS};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    bool answered = false;
    size_t len;
    json_t *args = json_object();
    char *line = proto_build_request("status", args, &len);
    json_decref(args);
    if (line && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        (void)!send(fd, line, len, MSG_NOSIGNAL); /* a refusal may come before reading */
        char buf[65536];
        size_t have = 0;
        for (;;) {
            ssize_t r = read(fd, buf + have, sizeof(buf) - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            char *nl;
            while ((nl = memchr(buf, '\n', have))) {
                struct proto_reply rep;
                char err[64];
                if (proto_parse_reply(buf, (size_t)(nl - buf), &rep, err, sizeof(err)) == 0) {
                    answered |= rep.end;
                    proto_reply_clear(&rep);
                }
                have -= (size_t)(nl - buf) + 1;
                memmove(buf, nl + 1, have);
            }
            if (answered || have == sizeof(buf))
                have = 0; /* a long row: its end is all that matters */
            if (answered)
                break;
        }
    }
    free(line);
    close(fd);
    return answered;
}

/* permwatchctl instances: one row per socket of CLIENT_RUN_DIR ({"instance", "socket",
 * "answers"}), as a table or JSON lines. Exit 0. */
static int client_list(bool json)
{
    size_t n;
    char **names = client_instances(CLIENT_RUN_DIR, &n);
    if (!names)
        return client_fail(PROTO_EXIT_UNREACHABLE, "cannot read %s: %s", CLIENT_RUN_DIR,
                           strerror(errno));
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        if (client_site_socket(CLIENT_RUN_DIR, names[i], path, sizeof(path)) < 0)
            continue;
        json_t *row = json_object();
        json_object_set_new(row, "instance", json_string(names[i]));
        json_object_set_new(row, "socket", json_string(path));
        json_object_set_new(row, "answers", json_boolean(client_probe(path)));
        if (json) {
            char *t = json_dumps(row, JSON_COMPACT);
            if (t)
                printf("%s\n", t);
            free(t);
        }
        json_array_append_new(rows, row);
    }
    if (!json && n)
        client_print_table(rows, stdout);
    else if (!json)
        printf("no permwatch instance sockets in %s\n", CLIENT_RUN_DIR);
    json_decref(rows);
    client_names_free(names);
    return fflush(stdout) == 0 ? PROTO_EXIT_OK : PROTO_EXIT_FINDINGS;
}

/* One metric family of the textfile: its HELP/TYPE lines (from the first site that gave
 * them) and the samples of every site, labelled. */
struct client_family {
    char *name;
    int owner; /* index of the site whose HELP/TYPE lines are kept, -1: none yet */
    char *head, *samples;
    size_t head_len, samples_len;
    FILE *head_f, *samples_f;
};

/* The family NAME (NLEN bytes) of *FAMS (*N of them, each malloc'd: their memstreams point
 * into them), added at the end when missing. NULL on ENOMEM. */
static struct client_family *client_family_get(struct client_family ***fams, size_t *n,
                                               const char *name, size_t nlen)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*fams)[i]->name) == nlen && memcmp((*fams)[i]->name, name, nlen) == 0)
            return (*fams)[i];
    struct client_family **v = realloc(*fams, (*n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    *fams = v;
    struct client_family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->owner = -1;
    f->name = strndup(name, nlen);
    f->head_f = open_memstream(&f->head, &f->head_len);
    f->samples_f = open_memstream(&f->samples, &f->samples_len);
    if (!f->name || !f->head_f || !f->samples_f) {
        free(f->name);
        if (f->head_f)
            fclose(f->head_f);
        if (f->samples_f)
            fclose(f->samples_f);
        free(f->head);
        free(f->samples);
        free(f);
        return NULL;
    }
    v[(*n)++] = f;
    return f;
}

/* SITE as a label value into OUT: backslash, double quote and newline escaped. */
static void client_label_value(FILE *out, const char *site)
{
    for (const char *p = site; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', out), fputc(*p, out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

/* Sort TEXT (one site's metrics, Prometheus text) into the families of *FAMS, every sample
 * labelled site="SITE". Returns 0, or -1 on ENOMEM. */
static int client_textfile_add(struct client_family ***fams, size_t *n, int idx, const char *site,
                               const char *text)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t llen = end ? (size_t)(end - line) : strlen(line);
        const char *next = end ? end + 1 : line + llen;
        if (llen == 0) {
            line = next;
            continue;
        }
        if (line[0] == '#') {
            /* "# HELP name ..." / "# TYPE name ...": kept once per family; other comments
             * dropped */
            if (llen > 7 &&
                (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0)) {
                size_t nl = strcspn(line + 7, " \n");
                struct client_family *f = client_family_get(fams, n, line + 7, nl);
                if (!f)
                    return -1;
                if (f->owner < 0)
                    f->owner = idx;
                if (f->owner == idx)
                    fprintf(f->head_f, "%.*s\n", (int)llen, line);
            }
            line = next;
            continue;
        }
        size_t nl = strcspn(line, "{ \n");
        if (nl > llen)
            nl = llen;
        struct client_family *f = client_family_get(fams, n, line, nl);
        if (!f)
            return -1;
        fprintf(f->samples_f, "%.*s{site=\"", (int)nl, line);
        client_label_value(f->samples_f, site);
        fputc('"', f->samples_f);
        const char *rest = line + nl;
        size_t rlen = llen - nl;
        if (rlen && rest[0] == '{') {
            rest++, rlen--;
            if (rlen && rest[0] != '}')
                fputc(',', f->samples_f);
            else
                fputc('}', f->samples_f), rest++, rlen--;
        } else {
            fputc('}', f->samples_f);
        }
        fprintf(f->samples_f, "%.*s\n", (int)rlen, rest);
        line = next;
    }
    return 0;
}

/* The sites of a host: the instances of RUN_DIR's sockets and CONF_DIR's NAME.ini files
 * ("control" for the single-site unit: control.sock, or permwatch.ini when no NAME.ini is
 * there), sorted, unique, NULL-terminated (client_names_free). NULL on ENOMEM. */
static char **client_sites(const char *run_dir, const char *conf_dir, size_t *n)
{
    char **names = client_instances(run_dir, n);
    if (!names) {
        if (errno == ENOMEM)
            return NULL;
        names = calloc(1, sizeof(char *));
        *n = 0;
        if (!names)
            return NULL;
    }
    DIR *d = opendir(conf_dir);
    bool single = false, instances = false;
    for (struct dirent *de; d && (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l <= 4 || strcmp(de->d_name + l - 4, ".ini") != 0)
            continue;
        char *name = strndup(de->d_name, l - 4);
        if (!name)
            break;
        if (strcmp(name, "permwatch") == 0) {
            single = true;
            free(name);
            continue;
        }
        if (!client_site_valid(name) || strcmp(name, "control") == 0) {
            free(name);
            continue;
        }
        instances = true;
        char **v = realloc(names, (*n + 2) * sizeof(char *));
        if (!v) {
            free(name);
            break;
        }
        names = v;
        names[(*n)++] = name;
        names[*n] = NULL;
    }
    if (d)
        closedir(d);
    if (single && !instances) {
        char **v = realloc(names, (*n + 2) * sizeof(char *));
        char *c = strdup("control");
        if (v && c) {
            names = v;
            names[(*n)++] = c;
            names[*n] = NULL;
        } else {
            free(c);
            if (v)
                names = v;
        }
    }
    qsort(names, *n, sizeof(char *), client_name_cmp);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w && strcmp(names[w - 1], names[i]) == 0)
            free(names[i]);
        else
            names[w++] = names[i];
    }
    *n = w;
    names[w] = NULL;
    return names;
}

/* Seconds a site has to answer before it counts as down in the textfile. */
#define CLIENT_TEXTFILE_TIMEOUT 10

/* The metrics text of the daemon on SOCKET_PATH into *TEXT (malloc'd). Returns 0, or -1 when
 * it does not answer within CLIENT_TEXTFILE_TIMEOUT (the reason on stderr). */
static int client_fetch_metrics(const char *socket_path, char **text)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return client_fail(PROTO_EXIT_USAGE, "socket path too long: %s", socket_path), -1;
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return client_fail(PROTO_EXIT_UNREACHABLE, "socket: %s", strerror(errno)), -1;
    struct timeval tv = {.tv_sec = CLIENT_TEXTFILE_TIMEOUT};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        client_fail(PROTO_EXIT_UNREACHABLE, "cannot reach permwatchd at %s: %s", socket_path,
                    strerror(errno));
        close(fd);
        return -1;
    }
    size_t len, tlen = 0;
    json_t *args = json_object();
    char *line = proto_build_request("metrics", args, &len);
    json_decref(args);
    *text = NULL;
    struct client_out o = {.cmd = "metrics", .to = open_memstream(text, &tlen)};
    int code = line && o.to ? client_exchange(fd, line, len, &o) : PROTO_EXIT_UNREACHABLE;
    close(fd);
    free(line);
    if (o.to)
        fclose(o.to);
    if (code != 0) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}

int client_textfile(const char *run_dir, const char *conf_dir, const char *file)
{
    size_t n;
    char **names = client_sites(run_dir, conf_dir, &n);
    if (!names)
        return client_fail(PROTO_EXIT_FINDINGS, "out of memory");
    struct client_family **fams = NULL;
    size_t nf = 0;
    char *up = NULL;
    size_t up_len = 0;
    FILE *upf = open_memstream(&up, &up_len);
    int code = upf ? PROTO_EXIT_OK : client_fail(PROTO_EXIT_FINDINGS, "out of memory");
    for (size_t i = 0; upf && i < n && code == PROTO_EXIT_OK; i++) {
        const char *site = strcmp(names[i], "control") == 0 ? "default" : names[i];
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)], conf[sizeof(path)], ini[4096];
        const char *sock = path;
        snprintf(ini, sizeof(ini), "%s/permwatch.ini", conf_dir);
        if (strcmp(names[i], "control") == 0 && client_config_socket(ini, conf, sizeof(conf)) == 0)
            sock = conf;
        else if (client_site_socket(run_dir, names[i], path, sizeof(path)) < 0)
            continue;
        char *text = NULL;
        bool ok = client_fetch_metrics(sock, &text) == 0;
        if (ok && client_textfile_add(&fams, &nf, (int)i, site, text) < 0)
            code = client_fail(PROTO_EXIT_FINDINGS, "out of memory");
        free(text);
        fputs("permwatch_up{site=\"", upf);
        client_label_value(upf, site);
        fprintf(upf, "\"} %d\n", ok ? 1 : 0);
    }
    if (upf)
        fclose(upf);
    char tmp[4096];
    if (code == PROTO_EXIT_OK && snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp))
        code = client_fail(PROTO_EXIT_USAGE, "%s: name too long", file);
    FILE *out = NULL;
    if (code == PROTO_EXIT_OK) {
        /* a left-over FILE.tmp (a crash; or a planted link) is replaced, never followed */
        if (unlink(tmp) < 0 && errno != ENOENT)
            client_fail(0, "%s: %s", tmp, strerror(errno));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        out = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!out) {
            code = client_fail(PROTO_EXIT_FINDINGS, "%s: %s", tmp, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
    }
    if (out) {
        fputs("# HELP permwatch_up 1 when the site's permwatchd answered permwatchctl metrics.\n"
              "# TYPE permwatch_up gauge\n",
              out);
        fputs(up ? up : "", out);
        for (size_t i = 0; i < nf; i++) {
            struct client_family *f = fams[i];
            fclose(f->head_f), f->head_f = NULL;
            fclose(f->samples_f), f->samples_f = NULL;
            if (!f->samples_len)
                continue; /* HELP/TYPE without samples: noise */
            fputs(f->head ? f->head : "", out);
            fputs(f->samples, out);
        }
        bool bad = ferror(out) != 0;
        if (fclose(out) != 0 || bad)
            code = client_fail(PROTO_EXIT_FINDINGS, "%s: %s", tmp, strerror(errno));
        else if (rename(tmp, file) < 0)
            code =
                client_fail(PROTO_EXIT_FINDINGS, "rename %s to %s: %s", tmp, file, strerror(errno));
        if (code != PROTO_EXIT_OK)
            unlink(tmp);
    }
    for (size_t i = 0; i < nf; i++) {
        struct client_family *f = fams[i];
        if (f->head_f)
            fclose(f->head_f);
        if (f->samples_f)
            fclose(f->samples_f);
        free(f->name);
        free(f->head);
        free(f->samples);
        free(f);
    }
    free(fams);
    free(up);
    client_names_free(names);
    return code;
}

/* Parse the command's own arguments ARGV[0..ARGC) (ARGV[0] the command) into ARGS and
 * *JSON. Returns 0 or a usage exit code. */
static int client_parse_args(const struct client_cmd *cmd, int argc, char **argv, json_t *args,
                             bool *json)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            *json = true;
        } else if ((cmd->args & ARG_DRY_RUN) && strcmp(a, "--dry-run") == 0) {
            json_object_set_new(args, "dry_run", json_true());
        } else if ((cmd->args & ARG_KIND) && strncmp(a, "--kind", 6) == 0 &&
                   (a[6] == '\0' || a[6] == '=')) {
            const char *kind = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!kind || !*kind)
                return client_fail(PROTO_EXIT_USAGE, "--kind needs a finding kind");
            json_t *k = json_string(kind);
            if (!k)
                return client_fail(PROTO_EXIT_USAGE, "--kind: not valid UTF-8");
            json_object_set_new(args, "kind", k);
        } else if ((cmd->args & ARG_PATH) && !path && (a[0] != '-' || strcmp(a, "-") == 0)) {
            path = a;
        } else {
            client_fail(PROTO_EXIT_USAGE, "%s: unexpected argument '%s'", cmd->name, a);
            client_usage(stderr);
            return PROTO_EXIT_USAGE;
        }
    }
    if (path) {
        char cwd[4096], abs[8192];
        if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
            return client_fail(PROTO_EXIT_USAGE, "cannot get the current directory: %s",
                               strerror(errno));
        if (client_abspath(path, path[0] == '/' ? NULL : cwd, abs, sizeof(abs)) < 0)
            return client_fail(PROTO_EXIT_USAGE, "%s: %s", path, strerror(errno));
        json_t *p = json_string(abs);
        if (!p)
            return client_fail(PROTO_EXIT_USAGE, "%s: not valid UTF-8", path);
        json_object_set_new(args, "path", p);
    }
    return 0;
}

int client_main(int argc, char **argv)
{
    char socket_buf[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    const char *socket_path = NULL, *site = NULL;
    bool json = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
            if (++i >= argc)
                return client_usage(stderr), PROTO_EXIT_USAGE;
            socket_path = argv[i];
        } else if (strncmp(a, "--socket=", 9) == 0) {
            socket_path = a + 9;
        } else if (strcmp(a, "--site") == 0) {
            if (++i >= argc)
                return client_usage(stderr), PROTO_EXIT_USAGE;
            site = argv[i];
        } else if (strncmp(a, "--site=", 7) == 0) {
            site = a + 7;
        } else if (strncmp(a, "-s", 2) == 0) {
            socket_path = a + 2;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            client_usage(stdout);
            return PROTO_EXIT_OK;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("permwatchctl %s\n", PERMWATCH_VERSION);
            return PROTO_EXIT_OK;
        } else {
            client_fail(PROTO_EXIT_USAGE, "unknown option '%s'", a);
            client_usage(stderr);
            return PROTO_EXIT_USAGE;
        }
    }
    if (socket_path && site)
        return client_fail(PROTO_EXIT_USAGE, "-s/--socket and --site: give one of them");
    if (site && client_site_socket(CLIENT_RUN_DIR, site, socket_buf, sizeof(socket_buf)) < 0)
        return client_fail(PROTO_EXIT_USAGE,
                           "--site '%s': not an instance name ([A-Za-z0-9_.@-], at most 64, not "
                           "starting with '.')",
                           site);
    if (site)
        socket_path = socket_buf;
    if (i >= argc) {
        client_usage(stderr);
        return PROTO_EXIT_USAGE;
    }
    if (strcmp(argv[i], "instances") == 0) {
        for (int k = i + 1; k < argc; k++) {
            if (strcmp(argv[k], "--json") != 0)
                return client_fail(PROTO_EXIT_USAGE, "instances: unexpected argument '%s'",
                                   argv[k]);
            json = true;
        }
        return client_list(json);
    }
    const struct client_cmd *cmd = NULL;
    for (size_t k = 0; k < sizeof(client_cmds) / sizeof(client_cmds[0]); k++)
        if (strcmp(argv[i], client_cmds[k].name) == 0)
            cmd = &client_cmds[k];
    if (!cmd) {
        client_fail(PROTO_EXIT_USAGE, "unknown command '%s'", argv[i]);
        client_usage(stderr);
        return PROTO_EXIT_USAGE;
    }
    if (strcmp(cmd->name, "metrics") == 0 && i + 1 < argc &&
        strncmp(argv[i + 1], "--textfile", 10) == 0 &&
        (argv[i + 1][10] == '\0' || argv[i + 1][10] == '=')) {
        const char *file = argv[i + 1][10] == '=' ? argv[i + 1] + 11
                           : i + 2 < argc         ? argv[i + 2]
                                                  : NULL;
        int rest = argv[i + 1][10] == '=' ? i + 2 : i + 3;
        if (!file || !*file)
            return client_fail(PROTO_EXIT_USAGE, "--textfile needs a file name");
        if (rest < argc)
            return client_fail(PROTO_EXIT_USAGE, "metrics: unexpected argument '%s'", argv[rest]);
        if (socket_path || json)
            return client_fail(PROTO_EXIT_USAGE,
                               "metrics --textfile covers every instance: no -s, --site, --json");
        return client_textfile(CLIENT_RUN_DIR, CLIENT_CONF_DIR, file);
    }
    json_t *args = json_object();
    int code = client_parse_args(cmd, argc - i, argv + i, args, &json);
    if (code) {
        json_decref(args);
        return code;
    }
    if (!socket_path) {
        /* the policy's control_socket, else the default; missing: the one instance, if any */
        char conf[sizeof(socket_buf)], msg[1024];
        const char *def = client_config_socket(CONFIG_DEFAULT_PATH, conf, sizeof(conf)) == 0
                              ? conf
                              : CONFIG_DEFAULT_SOCKET;
        code = client_choose_socket(CLIENT_RUN_DIR, def, socket_buf, sizeof(socket_buf), msg,
                                    sizeof(msg));
        if (code) {
            json_decref(args);
            return client_fail(code, "%s", msg);
        }
        socket_path = socket_buf;
    }
    size_t len;
    char *line = proto_build_request(cmd->name, args, &len);
    json_decref(args);
    if (!line)
        return client_fail(PROTO_EXIT_USAGE, "request too large");
    int fd = client_connect(socket_path, &code);
    if (fd < 0) {
        free(line);
        return code;
    }
    struct client_out o = {.cmd = cmd->name, .json = json, .rows = json_array()};
    code = client_exchange(fd, line, len, &o);
    close(fd);
    free(line);
    if (!json && json_array_size(o.rows)) {
        if ((strcmp(cmd->name, "status") == 0 || strcmp(cmd->name, "reload") == 0) &&
            json_array_size(o.rows) == 1)
            client_print_record(json_array_get(o.rows, 0), stdout);
        else
            client_print_table(o.rows, stdout);
    }
    json_decref(o.rows);
    if (fflush(stdout) != 0 && code == 0)
        code = PROTO_EXIT_FINDINGS;
    return code;
}
