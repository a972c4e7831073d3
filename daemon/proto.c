/* proto: build and parse the control protocol's lines (see proto.h). jansson checks UTF-8,
 * rejects raw NUL bytes and, without JSON_DISABLE_EOF_CHECK, anything after the value. */
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* printf into ERR (when non-NULL) and return -1. */
__attribute__((format(printf, 3, 4))) static int proto_fail(char *err, size_t errlen,
                                                            const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Whether S is a valid command name: 1..PROTO_MAX_CMD of [a-z0-9_-], starting with a letter. */
static bool proto_valid_cmd(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PROTO_MAX_CMD || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Decode LINE of LEN bytes as one JSON object. Returns it (owned) or NULL with ERR set. */
static json_t *proto_load_object(const char *line, size_t len, size_t max, char *err, size_t errlen)
{
    if (len > max) {
        proto_fail(err, errlen, "line too long: %zu bytes (max %zu)", len, max);
        return NULL;
    }
    if (memchr(line, '\0', len)) {
        proto_fail(err, errlen, "NUL byte in line");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!o) {
        proto_fail(err, errlen, "invalid JSON at byte %d: %s", je.position, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        proto_fail(err, errlen, "not a JSON object");
        return NULL;
    }
    return o;
}

/* Check O's "v" is the integer PROTO_VERSION. Returns 0 or -1 with ERR set. */
static int proto_check_version(const json_t *o, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, "v");
    if (!v)
        return proto_fail(err, errlen, "missing protocol version \"v\"");
    if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION)
        return proto_fail(err, errlen, "unsupported protocol version (this side speaks %d)",
                          PROTO_VERSION);
    return 0;
}

int proto_parse_request(const char *line, size_t len, struct proto_request *req, char *err,
                        size_t errlen)
{
    memset(req, 0, sizeof(*req));
    json_t *o = proto_load_object(line, len, PROTO_MAX_REQUEST, err, errlen);
    if (!o)
        return -1;
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        if (strcmp(key, "v") != 0 && strcmp(key, "cmd") != 0 && strcmp(key, "args") != 0) {
            proto_fail(err, errlen, "unknown key \"%.64s\"", key);
            goto fail;
        }
    }
    if (proto_check_version(o, err, errlen) < 0)
        goto fail;
    const json_t *cmd = json_object_get(o, "cmd");
    if (!cmd) {
        proto_fail(err, errlen, "missing \"cmd\"");
        goto fail;
    }
    if (!json_is_string(cmd) || !proto_valid_cmd(json_string_value(cmd))) {
        proto_fail(err, errlen, "invalid \"cmd\": expected a command name such as \"status\"");
        goto fail;
    }
    json_t *args = json_object_get(o, "args");
    if (args && !json_is_object(args)) {
        proto_fail(err, errlen, "\"args\" must be an object");
        goto fail;
    }
    req->args = args ? json_incref(args) : json_object();
    if (!req->args) {
        proto_fail(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(req->cmd, sizeof(req->cmd), "%s", json_string_value(cmd));
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    return -1;
}

void proto_request_clear(struct proto_request *req)
{
    json_decref(req->args);
    memset(req, 0, sizeof(*req));
}

/* Serialize O compactly plus '\n' into a malloc'd string; NULL with E2BIG beyond MAX bytes
 * (newline excluded) or ENOMEM. */
static char *proto_dump_line(const json_t *o, size_t max, size_t *len)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    size_t n = strlen(s);
    if (n > max) {
        free(s);
        errno = E2BIG;
        return NULL;
    }
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        errno = ENOMEM;
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    if (len)
        *len = n + 1;
    return line;
}

char *proto_build_request(const char *cmd, const json_t *args, size_t *len)
{
    if (!cmd || !proto_valid_cmd(cmd) || (args && !json_is_object(args))) {
        errno = EINVAL;
        return NULL;
    }
    /* "o" steals the reference, also when packing fails (jansson >= 2.11) */
    json_t *a = args ? json_incref((json_t *)args) : json_object();
    json_t *o = json_pack("{s:i,s:s,s:o}", "v", PROTO_VERSION, "cmd", cmd, "args", a);
    if (!o) {
        errno = ENOMEM;
        return NULL;
    }
    char *line = proto_dump_line(o, PROTO_MAX_REQUEST, len);
    json_decref(o);
    return line;
}

char *proto_build_row(const json_t *row, size_t *len)
{
    if (!json_is_object(row)) {
        errno = EINVAL;
        return NULL;
    }
    json_t *o = json_pack("{s:i,s:O}", "v", PROTO_VERSION, "row", (json_t *)row);
    if (!o) {
        errno = ENOMEM;
        return NULL;
    }
    char *line = proto_dump_line(o, PROTO_MAX_REPLY_LINE, len);
    json_decref(o);
    return line;
}

char *proto_build_end(int exit_code, const char *error, size_t *len)
{
    json_t *end = json_pack("{s:i}", "exit", exit_code);
    if (!end) {
        errno = ENOMEM;
        return NULL;
    }
    if (error && *error) {
        json_t *e = json_string(error);
        if (!e)
            e = json_string("(message not valid UTF-8)");
        if (!e || json_object_set_new(end, "error", e) < 0) {
            json_decref(end);
            errno = ENOMEM;
            return NULL;
        }
    }
    json_t *o = json_pack("{s:i,s:o}", "v", PROTO_VERSION, "end", end);
    if (!o) {
        errno = ENOMEM;
        return NULL;
    }
    char *line = proto_dump_line(o, PROTO_MAX_REPLY_LINE, len);
    json_decref(o);
    return line;
}

int proto_parse_reply(const char *line, size_t len, struct proto_reply *rep, char *err,
                      size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    json_t *o = proto_load_object(line, len, PROTO_MAX_REPLY_LINE, err, errlen);
    if (!o)
        return -1;
    if (proto_check_version(o, err, errlen) < 0)
        goto fail;
    json_t *row = json_object_get(o, "row"), *end = json_object_get(o, "end");
    if (!row == !end) {
        proto_fail(err, errlen, "expected exactly one of \"row\" and \"end\"");
        goto fail;
    }
    if (row) {
        if (!json_is_object(row)) {
            proto_fail(err, errlen, "\"row\" must be an object");
            goto fail;
        }
        rep->row = json_incref(row);
    } else {
        const json_t *x = json_object_get(end, "exit"), *e = json_object_get(end, "error");
        if (!json_is_object(end) || !json_is_integer(x) || json_integer_value(x) < 0 ||
            json_integer_value(x) > 255 || (e && !json_is_string(e))) {
            proto_fail(err, errlen,
                       "invalid \"end\": expected {\"exit\":0..255,\"error\":\"...\"}");
            goto fail;
        }
        rep->end = true;
        rep->exit = (int)json_integer_value(x);
        if (e && !(rep->error = strdup(json_string_value(e)))) {
            proto_fail(err, errlen, "out of memory");
            goto fail;
        }
    }
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    return -1;
}

void proto_reply_clear(struct proto_reply *rep)
{
    json_decref(rep->row);
    free(rep->error);
    memset(rep, 0, sizeof(*rep));
}
