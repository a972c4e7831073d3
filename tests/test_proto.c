/* Unit tests of proto: every request parse error, the size bounds (exactly at and one past
 * the limit), UTF-8 and NUL handling, and round trips of requests, rows and end lines. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Parse the C string S as a request; returns proto_parse_request's result, ERR filled. */
static int parse(const char *s, struct proto_request *req, char *err, size_t errlen)
{
    return proto_parse_request(s, strlen(s), req, err, errlen);
}

/* Expect S to be refused with a message containing WANT. */
static void refused(const char *s, const char *want)
{
    struct proto_request req;
    char err[256] = "";
    cr_expect_eq(parse(s, &req, err, sizeof(err)), -1, "accepted: %s", s);
    cr_expect(strstr(err, want) != NULL, "for %s: '%s' lacks '%s'", s, err, want);
    cr_expect_null(req.args);
}

Test(proto, valid_request)
{
    struct proto_request req;
    char err[256];
    cr_assert_eq(parse("{\"v\":1,\"cmd\":\"findings\",\"args\":{\"kind\":\"root_owned\"}}", &req,
                       err, sizeof(err)),
                 0, "%s", err);
    cr_expect_str_eq(req.cmd, "findings");
    cr_expect_str_eq(json_string_value(json_object_get(req.args, "kind")), "root_owned");
    proto_request_clear(&req);
    cr_expect_null(req.args);
    proto_request_clear(&req); /* twice is fine */
}

Test(proto, args_optional_and_whitespace)
{
    struct proto_request req;
    char err[256];
    cr_assert_eq(parse(" {\"cmd\":\"status\",\"v\":1} \r", &req, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(req.cmd, "status");
    cr_expect(json_is_object(req.args));
    cr_expect_eq(json_object_size(req.args), 0);
    proto_request_clear(&req);
}

Test(proto, parse_errors)
{
    refused("", "invalid JSON");
    refused("   ", "invalid JSON");
    refused("{", "invalid JSON");
    refused("{\"v\":1,\"cmd\":\"status\"", "invalid JSON");
    refused("[1,2]", "not a JSON object");
    refused("\"status\"", "not a JSON object");
    refused("42", "not a JSON object");
    refused("null", "not a JSON object");
    refused("{\"v\":1,\"cmd\":\"status\"} x", "invalid JSON");
    refused("{\"v\":1,\"cmd\":\"status\"}{}", "invalid JSON");
    refused("{\"v\":1,\"cmd\":\"status\"}\n{\"v\":1,\"cmd\":\"status\"}", "invalid JSON");
    refused("{\"cmd\":\"status\"}", "missing protocol version");
    refused("{\"v\":2,\"cmd\":\"status\"}", "unsupported protocol version");
    refused("{\"v\":0,\"cmd\":\"status\"}", "unsupported protocol version");
    refused("{\"v\":\"1\",\"cmd\":\"status\"}", "unsupported protocol version");
    refused("{\"v\":1.0,\"cmd\":\"status\"}", "unsupported protocol version");
    refused("{\"v\":1}", "missing \"cmd\"");
    refused("{\"v\":1,\"cmd\":3}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":null}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"\"}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"Status\"}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"sta tus\"}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"../x\"}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"1abc\"}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"abcdefghijklmnopqrstuvwxyzabcdefg\"}", "invalid \"cmd\"");
    refused("{\"v\":1,\"cmd\":\"status\",\"args\":[]}", "\"args\" must be an object");
    refused("{\"v\":1,\"cmd\":\"status\",\"args\":\"x\"}", "\"args\" must be an object");
    refused("{\"v\":1,\"cmd\":\"status\",\"extra\":1}", "unknown key");
    refused("{\"v\":1,\"v\":1,\"cmd\":\"status\"}", "invalid JSON"); /* duplicate key */
    refused("{\"v\":1,\"cmd\":\"st\\u0000\"}", "invalid JSON");      /* \u0000 */
    refused("{\"v\":1,\"cmd\":\"status\",\"args\":{\"p\":\"\xff\xfe\"}}", "invalid JSON");
    refused("{\"v\":1,\"cmd\":\"status\",\"args\":{\"p\":\"\xc3\"}}", "invalid JSON");
    refused("{\"v\":1,\"cmd\":\"status\",\"args\":{\"p\":\"\xed\xa0\x80\"}}", "invalid JSON");
}

Test(proto, longest_cmd_accepted)
{
    struct proto_request req;
    char err[256];
    cr_assert_eq(
        parse("{\"v\":1,\"cmd\":\"abcdefghijklmnopqrstuvwxyzabcdef\"}", &req, err, sizeof(err)), 0,
        "%s", err);
    cr_expect_eq(strlen(req.cmd), PROTO_MAX_CMD);
    proto_request_clear(&req);
}

Test(proto, embedded_nul)
{
    static const char line[] = "{\"v\":1,\"cmd\":\"status\"}\0junk";
    struct proto_request req;
    char err[256] = "";
    cr_expect_eq(proto_parse_request(line, sizeof(line) - 1, &req, err, sizeof(err)), -1);
    cr_expect(strstr(err, "NUL") != NULL, "%s", err);
}

/* A request line of exactly N bytes: the command and an "x" string padded to length. */
static char *sized_request(size_t n)
{
    static const char head[] = "{\"v\":1,\"cmd\":\"echo\",\"args\":{\"x\":\"";
    static const char tail[] = "\"}}";
    size_t fixed = strlen(head) + strlen(tail);
    cr_assert(n > fixed);
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memcpy(s, head, strlen(head));
    memset(s + strlen(head), 'x', n - fixed);
    memcpy(s + n - strlen(tail), tail, strlen(tail) + 1);
    cr_assert_eq(strlen(s), n);
    return s;
}

Test(proto, size_limits)
{
    struct proto_request req;
    char err[256] = "";
    char *ok = sized_request(PROTO_MAX_REQUEST);
    cr_expect_eq(proto_parse_request(ok, PROTO_MAX_REQUEST, &req, err, sizeof(err)), 0, "%s", err);
    proto_request_clear(&req);
    char *big = sized_request(PROTO_MAX_REQUEST + 1);
    cr_expect_eq(proto_parse_request(big, PROTO_MAX_REQUEST + 1, &req, err, sizeof(err)), -1);
    cr_expect(strstr(err, "too long") != NULL, "%s", err);
    free(ok);
    free(big);
}

Test(proto, build_request_round_trip)
{
    json_t *args = json_pack("{s:s,s:b}", "path", "/var/www/é ü", "dry_run", 1);
    size_t len;
    char *line = proto_build_request("repair", args, &len);
    cr_assert_not_null(line);
    cr_expect_eq(strlen(line), len);
    cr_expect_eq(line[len - 1], '\n');
    cr_expect_null(memchr(line, '\n', len - 1));
    struct proto_request req;
    char err[256];
    cr_assert_eq(proto_parse_request(line, len - 1, &req, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(req.cmd, "repair");
    cr_expect(json_equal(req.args, args));
    proto_request_clear(&req);
    free(line);
    json_decref(args);

    line = proto_build_request("status", NULL, &len);
    cr_assert_not_null(line);
    cr_expect_str_eq(line, "{\"v\":1,\"cmd\":\"status\",\"args\":{}}\n");
    free(line);
}

Test(proto, build_request_errors)
{
    size_t len;
    errno = 0;
    cr_expect_null(proto_build_request("Bad", NULL, &len));
    cr_expect_eq(errno, EINVAL);
    json_t *arr = json_array();
    cr_expect_null(proto_build_request("status", arr, &len));
    json_decref(arr);
    char *huge = malloc(PROTO_MAX_REQUEST + 1);
    memset(huge, 'a', PROTO_MAX_REQUEST);
    huge[PROTO_MAX_REQUEST] = '\0';
    json_t *args = json_pack("{s:s}", "x", huge);
    errno = 0;
    cr_expect_null(proto_build_request("echo", args, &len));
    cr_expect_eq(errno, E2BIG);
    json_decref(args);
    free(huge);
}

Test(proto, row_round_trip)
{
    json_t *row = json_pack("{s:s,s:i,s:b,s:n}", "path", "/a\nb\"c", "uid", 33, "ok", 1, "x");
    size_t len;
    char *line = proto_build_row(row, &len);
    cr_assert_not_null(line);
    cr_expect_null(memchr(line, '\n', len - 1), "a newline inside a row escapes");
    struct proto_reply rep;
    char err[256];
    cr_assert_eq(proto_parse_reply(line, len - 1, &rep, err, sizeof(err)), 0, "%s", err);
    cr_expect_not(rep.end);
    cr_expect(json_equal(rep.row, row));
    proto_reply_clear(&rep);
    free(line);
    json_decref(row);
    json_t *arr = json_array();
    errno = 0;
    cr_expect_null(proto_build_row(arr, &len));
    cr_expect_eq(errno, EINVAL);
    json_decref(arr);
}

Test(proto, end_round_trip)
{
    size_t len;
    char *line = proto_build_end(4, "permission denied", &len);
    cr_assert_not_null(line);
    cr_expect_str_eq(line, "{\"v\":1,\"end\":{\"exit\":4,\"error\":\"permission denied\"}}\n");
    struct proto_reply rep;
    char err[256];
    cr_assert_eq(proto_parse_reply(line, len - 1, &rep, err, sizeof(err)), 0, "%s", err);
    cr_expect(rep.end);
    cr_expect_eq(rep.exit, 4);
    cr_expect_str_eq(rep.error, "permission denied");
    proto_reply_clear(&rep);
    free(line);

    line = proto_build_end(0, NULL, &len);
    cr_expect_str_eq(line, "{\"v\":1,\"end\":{\"exit\":0}}\n");
    cr_assert_eq(proto_parse_reply(line, len - 1, &rep, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(rep.error);
    proto_reply_clear(&rep);
    free(line);

    line = proto_build_end(1, "bad \xff utf8", &len);
    cr_assert_not_null(line);
    cr_expect(strstr(line, "not valid UTF-8") != NULL, "%s", line);
    free(line);
}

Test(proto, reply_errors)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"row\":{}}",
        "{\"v\":2,\"row\":{}}",
        "{\"v\":1}",
        "{\"v\":1,\"row\":{},\"end\":{\"exit\":0}}",
        "{\"v\":1,\"row\":[]}",
        "{\"v\":1,\"end\":{}}",
        "{\"v\":1,\"end\":{\"exit\":\"0\"}}",
        "{\"v\":1,\"end\":{\"exit\":-1}}",
        "{\"v\":1,\"end\":{\"exit\":256}}",
        "{\"v\":1,\"end\":{\"exit\":0,\"error\":5}}",
        "{\"v\":1,\"end\":3}",
        "{\"v\":1,\"end\":{\"exit\":0}} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proto_reply rep;
        char err[256] = "";
        cr_expect_eq(proto_parse_reply(bad[i], strlen(bad[i]), &rep, err, sizeof(err)), -1,
                     "accepted: %s", bad[i]);
        cr_expect_neq(err[0], '\0');
        cr_expect_null(rep.row);
        cr_expect_null(rep.error);
    }
}

/* Every prefix of a valid request is refused without crashing (a cheap fuzz of truncation),
 * and so is every single-byte corruption of it at a structural position. */
Test(proto, truncations_and_corruptions)
{
    static const char line[] = "{\"v\":1,\"cmd\":\"findings\",\"args\":{\"kind\":\"root_owned\"}}";
    size_t n = strlen(line);
    for (size_t i = 0; i < n; i++) {
        struct proto_request req;
        char err[256];
        cr_expect_eq(proto_parse_request(line, i, &req, err, sizeof(err)), -1, "prefix %zu", i);
    }
    static const char junk[] = {'\0', '\x01', '"', '}', '{', ']', ',', ':', '\xff', '\\'};
    char buf[sizeof(line)];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < sizeof(junk); j++) {
            memcpy(buf, line, sizeof(line));
            buf[i] = junk[j];
            struct proto_request req;
            char err[256];
            if (proto_parse_request(buf, n, &req, err, sizeof(err)) == 0)
                proto_request_clear(&req);
        }
    }
}
