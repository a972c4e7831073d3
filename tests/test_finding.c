/* test_finding: kind names, the readable message of every kind, the JSON form, truncation. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "finding.h"
#include "writer.h"

/* One finding of every kind, as the audit and dispatch modules fill them. */
static struct finding sample(enum finding_kind k)
{
    struct finding f = {.kind = k, .rule = "site", .has_stat = true};
    switch (k) {
    case FINDING_ROOT_OWNED:
        f.path = "/var/www/site/wp-content/uploads/a.jpg";
        f.owner = "root";
        f.group = "root";
        f.mode = 0644;
        snprintf(f.expected, sizeof(f.expected), "www-data");
        snprintf(f.reason, sizeof(f.reason), "owned by uid 0 (root); rule site allows www-data");
        break;
    case FINDING_OWNER_MISMATCH:
        f.path = "/var/www/site/wp-content/plugins/x/x.php";
        f.uid = 1001; /* a user without a name: owner stays NULL */
        f.gid = 33;
        f.group = "www-data";
        f.mode = 0664;
        snprintf(f.expected, sizeof(f.expected), "www-data, opencode");
        snprintf(f.reason, sizeof(f.reason), "owned by uid 1001; rule site allows www-data");
        break;
    case FINDING_GROUP_MISMATCH:
        f.path = "/var/www/site/.opencode";
        f.rule = "agents";
        f.is_dir = true;
        f.uid = 1000;
        f.gid = 1000;
        f.owner = "opencode";
        f.group = "opencode";
        f.mode = 02775;
        snprintf(f.expected, sizeof(f.expected), "www-data");
        snprintf(f.reason, sizeof(f.reason), "group gid 1000; rule agents allows group www-data");
        break;
    case FINDING_MODE_MISMATCH:
        f.path = "/var/www/site/index.php";
        f.uid = 33;
        f.gid = 33;
        f.owner = "www-data";
        f.group = "www-data";
        f.mode = 0644;
        snprintf(f.expected, sizeof(f.expected), "0664");
        snprintf(f.reason, sizeof(f.reason), "missing 0020 (group write)");
        break;
    case FINDING_WEB_UNREADABLE:
        f.path = "/var/www/site/wp-content/mu-plugins/wp-coding-agents-channels.php";
        f.owner = "root";
        f.group = "root";
        f.mode = 0600;
        snprintf(f.expected, sizeof(f.expected), "readable by www-data");
        snprintf(f.reason, sizeof(f.reason),
                 "mode 0600 uid 0 gid 0: www-data falls in class other, which lacks r");
        break;
    case FINDING_DISPATCH_UNREACHABLE:
        f.has_stat = false;
        f.rule = NULL;
        f.path = "/root/.kimaki/bin/kimaki";
        f.channel = "kimaki";
        f.command = "/root/.kimaki/bin/kimaki";
        f.blocked_at = "/root";
        snprintf(f.expected, sizeof(f.expected), "executable by www-data");
        snprintf(f.reason, sizeof(f.reason), "/root is root:root 0700: www-data may not search it");
        break;
    case FINDING_DISPATCH_INVALID:
        f.has_stat = false;
        f.rule = NULL;
        f.channel = "roadie";
        f.command = "roadie-dispatch";
        snprintf(f.reason, sizeof(f.reason), "not found in the web user's PATH");
        break;
    case FINDING_SPECIAL_FILE:
        f.path = "/var/www/site/wp-content/uploads/null";
        f.owner = f.group = "root";
        f.mode = 0666;
        snprintf(f.expected, sizeof(f.expected), "a regular file or directory");
        snprintf(f.reason, sizeof(f.reason),
                 "a character device (device 1:3); a web site needs no device nodes, FIFOs or "
                 "sockets");
        break;
    case FINDING_SETID:
        f.path = "/var/www/site/wp-content/uploads/sh";
        f.owner = f.group = "root";
        f.mode = 04755;
        snprintf(f.expected, sizeof(f.expected), "no setuid or setgid bit");
        snprintf(f.reason, sizeof(f.reason), "setuid: runs with the rights of uid 0 (root)");
        break;
    case FINDING_NOT_WRITABLE:
        f.path = "/var/www/site/wp-content/plugins/a.php";
        f.uid = 999;
        f.gid = 33;
        f.owner = "opencode";
        f.group = "www-data";
        f.mode = 0644;
        snprintf(f.expected, sizeof(f.expected), "writable by www-data, opencode");
        snprintf(f.reason, sizeof(f.reason),
                 "www-data cannot write: owner opencode, group www-data (www-data is in it), "
                 "class group lacks w");
        break;
    case FINDING_ROOT_WRITER: {
        static const struct writer_info w = {.pid = 4242,
                                             .known = true,
                                             .uid = 0,
                                             .user = "root",
                                             .comm = "php",
                                             .exe = "/usr/bin/php8.2",
                                             .unit = "cron.service",
                                             .unit_kind = WRITER_UNIT_SYSTEM};
        f.path = "/var/www/site/wp-content/cache/a.php";
        f.writer = &w;
        f.writes = 12;
        snprintf(f.reason, sizeof(f.reason), "10 within 10m (12 in all)");
        break;
    }
    default:
        break;
    }
    return f;
}

static const char *const expected_message[FINDING_KIND_COUNT] = {
    "root-owned file /var/www/site/wp-content/uploads/a.jpg (root:root 0644): rule site wants "
    "owner www-data",
    "wrong owner on file /var/www/site/wp-content/plugins/x/x.php (1001:www-data 0664): rule site "
    "wants owner www-data, opencode",
    "wrong group on directory /var/www/site/.opencode (opencode:opencode 2775): rule agents wants "
    "group www-data",
    "group write missing on /var/www/site/index.php (www-data:www-data 0644): rule site wants mode "
    "0664",
    "web user cannot read file /var/www/site/wp-content/mu-plugins/wp-coding-agents-channels.php "
    "(root:root 0600): mode 0600 uid 0 gid 0: www-data falls in class other, which lacks r",
    "dispatch command /root/.kimaki/bin/kimaki of channel kimaki is unreachable for the web user: "
    "blocked at /root (/root is root:root 0700: www-data may not search it)",
    "dispatch command roadie-dispatch of channel roadie is invalid: not found in the web user's "
    "PATH",
    "special file /var/www/site/wp-content/uploads/null (root:root 0666): a character device "
    "(device 1:3); a web site needs no device nodes, FIFOs or sockets",
    "set-id file /var/www/site/wp-content/uploads/sh (root:root 4755): setuid: runs with the "
    "rights "
    "of uid 0 (root)",
    "not writable file /var/www/site/wp-content/plugins/a.php (opencode:www-data 0644): www-data "
    "cannot write: owner opencode, group www-data (www-data is in it), class group lacks w",
    "unit cron.service (user root, uid 0) keeps writing root-owned files: 10 within 10m (12 in "
    "all), e.g. /var/www/site/wp-content/cache/a.php",
};

Test(finding, kind_names_round_trip)
{
    const char *names[] = {"root_owned",       "owner_mismatch", "group_mismatch",
                           "mode_mismatch",    "web_unreadable", "dispatch_unreachable",
                           "dispatch_invalid", "special_file",   "setid",
                           "not_writable",     "root_writer"};
    cr_assert_eq(sizeof(names) / sizeof(names[0]), FINDING_KIND_COUNT);
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        cr_assert_str_eq(finding_kind_name(k), names[k]);
        cr_assert_eq(finding_kind_from_name(names[k]), k);
    }
    cr_assert_null(finding_kind_name(FINDING_KIND_COUNT));
    cr_assert_null(finding_kind_name((enum finding_kind) - 1));
    cr_assert_eq(finding_kind_from_name("bogus"), -1);
    cr_assert_eq(finding_kind_from_name(""), -1);
    cr_assert_eq(finding_kind_from_name("ROOT_OWNED"), -1);
    cr_assert_eq(finding_kind_from_name(NULL), -1);
}

Test(finding, message_of_every_kind)
{
    char buf[1024];
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        struct finding f = sample(k);
        cr_assert_eq(finding_format_message(&f, buf, sizeof(buf)), buf);
        cr_assert_str_eq(buf, expected_message[k], "kind %s", finding_kind_name(k));
        cr_assert_null(strchr(buf, '\n'));
    }
}

Test(finding, mode_messages_name_missing_and_extra_bits)
{
    char buf[512];
    struct finding f = sample(FINDING_MODE_MISMATCH);
    f.mode = 0666;
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "world write set on /var/www/site/index.php (www-data:www-data 0666): "
                          "rule site wants mode 0664");
    f.mode = 0606;
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "group read, group write missing, world write set on "
                          "/var/www/site/index.php (www-data:www-data 0606): rule site wants "
                          "mode 0664");
    f.is_dir = true;
    f.mode = 0755;
    snprintf(f.expected, sizeof(f.expected), "2775");
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "setgid, group write missing on directory /var/www/site/index.php "
                          "(www-data:www-data 0755): rule site wants mode 2775");
    /* no usable expected mode: the reason explains */
    f.expected[0] = '\0';
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "wrong mode on directory /var/www/site/index.php (www-data:www-data "
                          "0755): missing 0020 (group write)");
}

Test(finding, numeric_ids_without_names_and_no_stat)
{
    char buf[512];
    struct finding f = sample(FINDING_ROOT_OWNED);
    f.owner = NULL;
    f.group = "";
    f.gid = 4;
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "root-owned file /var/www/site/wp-content/uploads/a.jpg (0:4 0644): "
                          "rule site wants owner www-data");
    f.has_stat = false;
    f.rule = NULL;
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "root-owned path /var/www/site/wp-content/uploads/a.jpg: wanted owner "
                          "www-data");
    struct finding d = sample(FINDING_DISPATCH_UNREACHABLE);
    d.blocked_at = NULL;
    d.channel = NULL;
    finding_format_message(&d, buf, sizeof(buf));
    cr_assert_str_eq(buf, "dispatch command /root/.kimaki/bin/kimaki is unreachable for the web "
                          "user: /root is root:root 0700: www-data may not search it");
}

Test(finding, control_and_invalid_bytes_are_escaped)
{
    char buf[512];
    struct finding f = sample(FINDING_ROOT_OWNED);
    f.path = "/var/www/site/evil\nname\x1b[31m\xff\xc3\xa9.php";
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_str_eq(buf, "root-owned file /var/www/site/evil\\x0aname\\x1b[31m\\xff\xc3\xa9.php "
                          "(root:root 0644): rule site wants owner www-data");
}

/* Every buffer size yields a NUL-terminated prefix of the full message, and nothing is
 * written past the buffer. */
Test(finding, truncation_is_safe)
{
    char full[1024], buf[256 + 16];
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        struct finding f = sample(k);
        if (k == FINDING_ROOT_OWNED)
            f.path = "/var/www/site/\xc3\xa9\xc3\xa9\n\n\xff/a.jpg"; /* multi-byte and escapes */
        finding_format_message(&f, full, sizeof(full));
        size_t flen = strlen(full);
        for (size_t len = 1; len <= 256; len++) {
            memset(buf, 'Z', sizeof(buf));
            cr_assert_eq(finding_format_message(&f, buf, len), buf);
            size_t n = strlen(buf);
            cr_assert_lt(n, len);
            cr_assert_eq(strncmp(buf, full, n), 0, "kind %d len %zu: not a prefix", k, len);
            if (flen < len)
                cr_assert_str_eq(buf, full);
            for (size_t i = len; i < sizeof(buf); i++)
                cr_assert_eq(buf[i], 'Z', "kind %d len %zu: byte %zu written", k, len, i);
        }
    }
    /* len 0 writes nothing; a NULL finding gives "" */
    buf[0] = 'Z';
    finding_format_message(NULL, buf, 0);
    cr_assert_eq(buf[0], 'Z');
    finding_format_message(NULL, buf, 8);
    cr_assert_str_eq(buf, "");
}

/* expected/reason filled to the last byte without a NUL must not be read past. */
Test(finding, unterminated_inline_arrays)
{
    char buf[2048];
    struct finding f = sample(FINDING_WEB_UNREADABLE);
    memset(f.expected, 'e', sizeof(f.expected));
    memset(f.reason, 'r', sizeof(f.reason));
    finding_format_message(&f, buf, sizeof(buf));
    cr_assert_lt(strlen(buf), sizeof(buf));
    char *out = NULL;
    size_t outlen = 0;
    FILE *m = open_memstream(&out, &outlen);
    cr_assert(m);
    cr_assert_eq(finding_print_json(&f, m), 0);
    fclose(m);
    json_error_t err;
    json_t *o = json_loads(out, 0, &err);
    cr_assert(o, "bad JSON: %s", err.text);
    cr_assert_eq(strlen(json_string_value(json_object_get(o, "reason"))), sizeof(f.reason) - 1);
    json_decref(o);
    free(out);
}

/* Print F as JSON into a string (caller frees). */
static char *json_of(const struct finding *f)
{
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    cr_assert(m);
    cr_assert_eq(finding_print_json(f, m), 0);
    cr_assert_eq(fclose(m), 0);
    return out;
}

static const char *const all_keys[] = {
    "finding",    "path",        "rule",       "uid",         "gid",
    "owner",      "group",       "mode",       "expected",    "reason",
    "channel",    "command",     "blocked_at", "writer_pid",  "writer_comm",
    "writer_uid", "writer_user", "writer_exe", "writer_unit", "writer_unit_kind",
    "writes",     "message",
};

/* Whether sample finding F has a value for KEY. */
static bool has_key(const struct finding *f, const char *key)
{
    if (!strcmp(key, "finding") || !strcmp(key, "message"))
        return true;
    if (!strcmp(key, "uid") || !strcmp(key, "gid") || !strcmp(key, "mode"))
        return f->has_stat;
    if (!strncmp(key, "writer_", 7))
        return f->writer && f->writer->pid > 0 &&
               (!strcmp(key, "writer_pid") || !strcmp(key, "writer_comm") || f->writer->known);
    if (!strcmp(key, "writes"))
        return f->writes > 0;
    const char *v = !strcmp(key, "path")         ? f->path
                    : !strcmp(key, "rule")       ? f->rule
                    : !strcmp(key, "owner")      ? (f->has_stat ? f->owner : NULL)
                    : !strcmp(key, "group")      ? (f->has_stat ? f->group : NULL)
                    : !strcmp(key, "expected")   ? f->expected
                    : !strcmp(key, "reason")     ? f->reason
                    : !strcmp(key, "channel")    ? f->channel
                    : !strcmp(key, "command")    ? f->command
                    : !strcmp(key, "blocked_at") ? f->blocked_at
                                                 : NULL;
    return v && *v;
}

Test(finding, json_of_every_kind)
{
    for (int k = 0; k < FINDING_KIND_COUNT; k++) {
        struct finding f = sample(k);
        char *text = json_of(&f);
        size_t n = strlen(text);
        cr_assert_gt(n, 2);
        cr_assert_eq(text[n - 1], '\n');
        cr_assert_null(memchr(text, '\n', n - 1), "one line: %s", text);
        cr_assert_eq(strncmp(text, "{\"finding\":\"", 12), 0, "compact: %s", text);
        json_error_t err;
        json_t *o = json_loads(text, 0, &err);
        cr_assert(o, "bad JSON %s: %s", text, err.text);
        cr_assert(json_is_object(o));

        /* keys: exactly those that apply, in the stable order */
        size_t want = 0;
        const char *order[32];
        for (size_t i = 0; i < sizeof(all_keys) / sizeof(all_keys[0]); i++)
            if (has_key(&f, all_keys[i]))
                order[want++] = all_keys[i];
        cr_assert_eq(json_object_size(o), want, "kind %d: %s", k, text);
        const char *p = text;
        for (size_t i = 0; i < want; i++) {
            char quoted[32];
            snprintf(quoted, sizeof(quoted), "\"%s\":", order[i]);
            const char *at = strstr(p, quoted);
            cr_assert(at, "kind %d: key %s missing or out of order in %s", k, order[i], text);
            p = at + strlen(quoted);
        }

        cr_assert_str_eq(json_string_value(json_object_get(o, "finding")), finding_kind_name(k));
        cr_assert_str_eq(json_string_value(json_object_get(o, "message")), expected_message[k]);
        if (f.path)
            cr_assert_str_eq(json_string_value(json_object_get(o, "path")), f.path);
        if (f.has_stat) {
            json_t *uid = json_object_get(o, "uid"), *gid = json_object_get(o, "gid");
            cr_assert(json_is_integer(uid) && json_is_integer(gid));
            cr_assert_eq(json_integer_value(uid), (json_int_t)f.uid);
            cr_assert_eq(json_integer_value(gid), (json_int_t)f.gid);
            char mode[8];
            snprintf(mode, sizeof(mode), "%04o", (unsigned)f.mode);
            cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), mode);
            cr_assert_eq(strlen(mode), 4);
        }
        if (f.reason[0])
            cr_assert_str_eq(json_string_value(json_object_get(o, "reason")), f.reason);
        if (f.expected[0])
            cr_assert_str_eq(json_string_value(json_object_get(o, "expected")), f.expected);
        if (f.channel)
            cr_assert_str_eq(json_string_value(json_object_get(o, "channel")), f.channel);
        if (f.command)
            cr_assert_str_eq(json_string_value(json_object_get(o, "command")), f.command);
        if (f.blocked_at)
            cr_assert_str_eq(json_string_value(json_object_get(o, "blocked_at")), f.blocked_at);
        json_decref(o);
        free(text);
    }
}

Test(finding, json_mode_is_four_digits_and_owner_optional)
{
    struct finding f = sample(FINDING_MODE_MISMATCH);
    f.mode = 0;
    f.owner = NULL;
    char *text = json_of(&f);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert(o);
    cr_assert_str_eq(json_string_value(json_object_get(o, "mode")), "0000");
    cr_assert_null(json_object_get(o, "owner"));
    cr_assert_eq(json_integer_value(json_object_get(o, "uid")), 33);
    json_decref(o);
    free(text);
}

Test(finding, json_carries_odd_paths)
{
    struct finding f = sample(FINDING_ROOT_OWNED);
    f.path = "/var/www/site/new\nline\xff.php";
    char *text = json_of(&f);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert(o, "%s", text);
    /* not UTF-8: "path" is the escaped text, "path_raw_b64" the exact bytes (esc.h) */
    cr_assert_str_eq(json_string_value(json_object_get(o, "path")),
                     "/var/www/site/new\\x0aline\\xff.php");
    size_t n;
    char *raw = esc_b64_decode(json_string_value(json_object_get(o, "path_raw_b64")), &n);
    cr_assert(raw);
    cr_assert_eq(n, strlen(f.path));
    cr_assert_str_eq(raw, f.path);
    free(raw);
    cr_assert_not_null(
        strstr(json_string_value(json_object_get(o, "message")), "new\\x0aline\\xff.php"));
    json_decref(o);
    free(text);
}

Test(finding, json_reports_write_errors)
{
    struct finding f = sample(FINDING_ROOT_OWNED);
    FILE *full = fopen("/dev/full", "w");
    cr_assert(full);
    setvbuf(full, NULL, _IONBF, 0);
    errno = 0;
    cr_assert_eq(finding_print_json(&f, full), -1);
    cr_assert_eq(errno, ENOSPC);
    fclose(full);
    cr_assert_eq(finding_print_json(NULL, stdout), -1);
    cr_assert_eq(errno, EINVAL);
}

Test(finding, writer_named_in_the_message_and_the_json)
{
    struct writer_info w = {.pid = 123,
                            .known = true,
                            .uid = 0,
                            .user = "root",
                            .comm = "php",
                            .unit = "cron.service",
                            .unit_kind = WRITER_UNIT_SYSTEM};
    struct finding f = sample(FINDING_ROOT_OWNED);
    f.writer = &w;
    char buf[1024];
    finding_format_message(&f, buf, sizeof(buf));
    const char *tail = " (written by cron.service, pid 123 comm php)";
    cr_assert(strlen(buf) > strlen(tail) && !strcmp(buf + strlen(buf) - strlen(tail), tail), "%s",
              buf);
    char *text = json_of(&f);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert(o, "%s", text);
    cr_expect_eq(json_integer_value(json_object_get(o, "writer_pid")), 123);
    cr_expect_eq(json_integer_value(json_object_get(o, "writer_uid")), 0);
    cr_expect_str_eq(json_string_value(json_object_get(o, "writer_comm")), "php");
    cr_expect_str_eq(json_string_value(json_object_get(o, "writer_unit")), "cron.service");
    cr_expect_str_eq(json_string_value(json_object_get(o, "writer_unit_kind")), "system");
    cr_expect_null(json_object_get(o, "writer_exe"), "empty exe is left out");
    json_decref(o);
    free(text);

    /* only the pid known (no pidfd, or exited): comm "unknown", no uid */
    struct writer_info gone = {.pid = 77};
    f.writer = &gone;
    finding_format_message(&f, buf, sizeof(buf));
    cr_expect(strstr(buf, " (written by pid 77, exited)"), "%s", buf);
    text = json_of(&f);
    o = json_loads(text, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(o, "writer_pid")), 77);
    cr_expect_str_eq(json_string_value(json_object_get(o, "writer_comm")), "unknown");
    cr_expect_null(json_object_get(o, "writer_uid"));
    json_decref(o);
    free(text);

    /* no writer (inotify): nothing added */
    struct writer_info none = {0};
    f.writer = &none;
    finding_format_message(&f, buf, sizeof(buf));
    cr_expect_null(strstr(buf, "written by"), "%s", buf);
}
