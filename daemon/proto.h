/* proto: the control socket's wire protocol, version 1. Pure: no I/O, no globals.
 *
 * Newline-delimited JSON (UTF-8). One request per connection:
 *     {"v":1,"cmd":"NAME","args":{...}}\n          at most PROTO_MAX_REQUEST bytes + '\n'
 * The reply is zero or more row lines, then exactly one end line, then the server closes:
 *     {"v":1,"row":{...}}\n
 *     {"v":1,"end":{"exit":N,"error":"..."}}\n     ("error" only when there is one)
 * N is permwatchctl's exit code (0 ok, 1 findings/refusals, 2 bad request, 3 unavailable,
 * 4 permission denied). Unknown keys are errors in requests and ignored in replies. */
#ifndef PERMWATCH_PROTO_H
#define PERMWATCH_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define PROTO_VERSION 1
/* Longest request line, the newline excluded. */
#define PROTO_MAX_REQUEST (64 * 1024)
/* Longest reply line a client accepts, the newline excluded. */
#define PROTO_MAX_REPLY_LINE (1024 * 1024)
/* Longest command name; names are [a-z0-9_-]+. */
#define PROTO_MAX_CMD 32

/* Exit codes carried by end lines (and permwatchctl's own). */
enum proto_exit {
    PROTO_EXIT_OK = 0,
    PROTO_EXIT_FINDINGS = 1,
    PROTO_EXIT_USAGE = 2,
    PROTO_EXIT_UNREACHABLE = 3,
    PROTO_EXIT_DENIED = 4
};

/* A parsed request: CMD and ARGS (an object, {} when absent; owned, freed by
 * proto_request_clear). */
struct proto_request {
    char cmd[PROTO_MAX_CMD + 1];
    json_t *args;
};

/* Parse one request LINE of LEN bytes (without its '\n'; a trailing "\r" or blanks are
 * allowed). Returns 0 and fills *REQ, or -1 with a one-line reason in ERR (too long, embedded
 * NUL, invalid JSON or UTF-8, trailing garbage, not an object, missing/unsupported "v",
 * missing/invalid "cmd", "args" not an object, unknown key). */
int proto_parse_request(const char *line, size_t len, struct proto_request *req, char *err,
                        size_t errlen);

/* Free what proto_parse_request put in REQ (safe on a zeroed or cleared REQ). */
void proto_request_clear(struct proto_request *req);

/* A request line for CMD with ARGS (borrowed; NULL: {}), newline included, malloc'd,
 * NUL-terminated, its length in *LEN. NULL on an invalid CMD, a line over PROTO_MAX_REQUEST
 * (errno E2BIG) or ENOMEM. */
char *proto_build_request(const char *cmd, const json_t *args, size_t *len);

/* A row line for the object ROW (borrowed), newline included, malloc'd; length in *LEN.
 * NULL when ROW is not an object (EINVAL), over PROTO_MAX_REPLY_LINE (E2BIG) or ENOMEM. */
char *proto_build_row(const json_t *row, size_t *len);

/* An end line with EXIT and ERROR (NULL or "": no "error" key; invalid UTF-8 is replaced),
 * newline included, malloc'd; length in *LEN. NULL only on ENOMEM. */
char *proto_build_end(int exit_code, const char *error, size_t *len);

/* One parsed reply line. */
struct proto_reply {
    bool end;    /* an end line; otherwise a row */
    json_t *row; /* row lines: the object (owned) */
    int exit;    /* end lines */
    char *error; /* end lines: malloc'd message or NULL */
};

/* Parse one reply LINE of LEN bytes (without '\n'). Returns 0 and fills *REP, or -1 with a
 * reason in ERR. */
int proto_parse_reply(const char *line, size_t len, struct proto_reply *rep, char *err,
                      size_t errlen);

/* Free what proto_parse_reply put in REP. */
void proto_reply_clear(struct proto_reply *rep);

#endif
