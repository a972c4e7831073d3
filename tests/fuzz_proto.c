/* libFuzzer target of the control protocol's parsers, proto_parse_request and
 * proto_parse_reply (the daemon reads the first from any allowed peer, permwatchctl the
 * second from the daemon). The first input byte picks the parser, the rest is the line.
 * Built by `make fuzz` (clang) and, with tests/fuzz_replay.c, by gcc as
 * build/tests/fuzz_proto_replay that `make check` runs over tests/corpus/fuzz_proto/.
 * Besides the sanitizers it checks: a refusal has a reason; an accepted request has a valid
 * command name and object args, and building it again gives a line that parses to the same
 * command; an accepted reply row is an object, an accepted reply line rebuilt (proto_build_row
 * or proto_build_end) parses back to the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a crash the fuzzer reports) naming the check when COND is false. */
#define check(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Check a request parse of LINE. */
static void fuzz_request(const char *line, size_t len)
{
    struct proto_request req;
    char err[256];
    memset(&req, 0, sizeof(req));
    err[0] = '\0';
    if (proto_parse_request(line, len, &req, err, sizeof(err)) < 0) {
        check(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
        proto_request_clear(&req);
        return;
    }
    size_t n = strlen(req.cmd);
    check(n >= 1 && n <= PROTO_MAX_CMD);
    check(strspn(req.cmd, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n);
    check(json_is_object(req.args));
    size_t blen = 0;
    char *built = proto_build_request(req.cmd, req.args, &blen);
    if (built) {
        struct proto_request again;
        memset(&again, 0, sizeof(again));
        check(blen >= 1 && built[blen - 1] == '\n');
        check(proto_parse_request(built, blen - 1, &again, err, sizeof(err)) == 0);
        check(!strcmp(again.cmd, req.cmd) && json_equal(again.args, req.args));
        proto_request_clear(&again);
        free(built);
    }
    proto_request_clear(&req);
}

/* Check a reply parse of LINE. */
static void fuzz_reply(const char *line, size_t len)
{
    struct proto_reply rep;
    char err[256];
    memset(&rep, 0, sizeof(rep));
    err[0] = '\0';
    if (proto_parse_reply(line, len, &rep, err, sizeof(err)) < 0) {
        check(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
        proto_reply_clear(&rep);
        return;
    }
    /* what the server would send for it parses back to the same */
    struct proto_reply again;
    memset(&again, 0, sizeof(again));
    size_t blen = 0;
    char *built;
    if (rep.end) {
        check(rep.row == NULL);
        built = proto_build_end(rep.exit, rep.error, &blen);
    } else {
        check(json_is_object(rep.row));
        built = proto_build_row(rep.row, &blen);
    }
    if (built) {
        check(blen >= 1 && built[blen - 1] == '\n');
        check(proto_parse_reply(built, blen - 1, &again, err, sizeof(err)) == 0);
        check(again.end == rep.end);
        if (rep.end)
            check(again.exit == rep.exit && !again.error == !(rep.error && *rep.error));
        else
            check(json_equal(again.row, rep.row));
        proto_reply_clear(&again);
        free(built);
    }
    proto_reply_clear(&rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > PROTO_MAX_REQUEST + 16)
        return 0;
    char *line = malloc(size);
    if (!line)
        return 0;
    memcpy(line, data + 1, size - 1);
    if (data[0] & 1)
        fuzz_reply(line, size - 1);
    else
        fuzz_request(line, size - 1);
    free(line);
    return 0;
}
