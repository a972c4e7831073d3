/* helper_control_server SOCKET [GROUP]: the real control server (control.c) on its own libev
 * loop with a stand-in command table, for test_control to drive the real permwatchctl
 * against. GROUP (a name) becomes the control group. Prints "ready" on stdout once
 * listening; SIGTERM or SIGINT stop it (control_free, exit 0). Exits 1 when control_new
 * fails (the error is on stderr, "errno=NAME" on stdout's first line).
 *
 * Commands: status, findings [count] (exit 1 with rows), echo (the args back plus the
 * caller's credentials), big [rows] (1-KiB rows), metrics (one "text" row), fail (an
 * internal error), dispatch (as echo), stream [rows] (1-KiB rows numbered from 0, from a
 * generator: produced as the client reads), all read-only; repair [path, dry_run], scan and
 * reload (as echo) need root. $HELPER_METRICS_TEXT replaces the metrics text. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "proto.h"

/* status: one row. */
static int cmd_status(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    control_reply_row(rep, json_pack("{s:s,s:i,s:s,s:b}", "site", "/srv/test", "watched", 19,
                                     "last_scan", "2024-01-01T00:00:00Z", "degraded", 0));
    return 0;
}

/* findings: args.count rows (default 3); exit 1 when there are some. */
static int cmd_findings(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    json_int_t n = 3;
    const json_t *count = json_object_get(req->args, "count");
    if (count)
        n = json_integer_value(count);
    const char *kind = json_string_value(json_object_get(req->args, "kind"));
    for (json_int_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/srv/test/f%lld", (long long)i);
        if (control_reply_row(rep,
                              json_pack("{s:s,s:s,s:i,s:s}", "finding", kind ? kind : "root_owned",
                                        "path", path, "uid", 0, "mode", "0644")) < 0)
            break;
    }
    return n > 0 ? PROTO_EXIT_FINDINGS : PROTO_EXIT_OK;
}

/* echo: the args back, plus who asked. */
static int cmd_echo(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    json_t *row = json_deep_copy(req->args);
    json_object_set_new(row, "peer_uid", json_integer(req->uid));
    json_object_set_new(row, "peer_gid", json_integer(req->gid));
    json_object_set_new(row, "peer_pid", json_integer(req->pid));
    json_object_set_new(row, "peer_root", json_boolean(req->root));
    control_reply_row(rep, row);
    return 0;
}

/* big: args.rows rows of about 1 KiB each (default 3000: about 3 MiB). */
static int cmd_big(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    json_int_t n = 3000;
    const json_t *rows = json_object_get(req->args, "rows");
    if (rows)
        n = json_integer_value(rows);
    char pad[1001];
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    for (json_int_t i = 0; i < n; i++)
        if (control_reply_row(rep, json_pack("{s:I,s:s}", "n", i, "pad", pad)) < 0)
            break;
    return 0;
}

/* stream's state: rows left to produce, the next row's number. */
struct stream {
    json_int_t next, end;
};

/* control_gen_fn of stream: the next rows while there is room. */
static int stream_slice(void *ctx, void *state, struct control_reply *rep)
{
    struct stream *st = state;
    char pad[1001];
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    while (st->next < st->end && control_reply_room(rep))
        if (control_reply_row(rep, json_pack("{s:I,s:s}", "n", st->next++, "pad", pad)) < 0)
            return -1;
    return st->next < st->end ? CONTROL_MORE : 0;
}

/* stream: args.rows rows of about 1 KiB (default 100,000: about 100 MB), generated. */
static int cmd_stream(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    struct stream *st = calloc(1, sizeof(*st));
    if (!st)
        return -1;
    const json_t *rows = json_object_get(req->args, "rows");
    st->end = rows ? json_integer_value(rows) : 100000;
    return control_reply_generate(rep, stream_slice, free, st);
}

/* metrics: Prometheus text in one row ($HELPER_METRICS_TEXT when set). */
static int cmd_metrics(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    const char *text = getenv("HELPER_METRICS_TEXT");
    control_reply_row(rep, json_pack("{s:s}", "text",
                                     text ? text
                                          : "# HELP permwatch_open_findings Open findings.\n"
                                            "# TYPE permwatch_open_findings gauge\n"
                                            "permwatch_open_findings{kind=\"root_owned\"} 3\n"));
    return 0;
}

/* fail: a handler that fails without saying why. */
static int cmd_fail(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    return -1;
}

/* repair: root only; echoes what it would do. */
static int cmd_repair(void *ctx, const struct control_request *req, struct control_reply *rep)
{
    const char *path = json_string_value(json_object_get(req->args, "path"));
    control_reply_row(rep, json_pack("{s:s,s:b,s:s}", "path", path ? path : "/srv/test", "dry_run",
                                     json_is_true(json_object_get(req->args, "dry_run")), "action",
                                     "chown www-data:www-data"));
    return 0;
}

static const struct control_command table[] = {
    {"status", "status", CONTROL_READ_ONLY, cmd_status},
    {"findings", "findings [--kind KIND] [PATH]", CONTROL_READ_ONLY, cmd_findings},
    {"echo", "echo", CONTROL_READ_ONLY, cmd_echo},
    {"big", "big", CONTROL_READ_ONLY, cmd_big},
    {"stream", "stream", CONTROL_READ_ONLY, cmd_stream},
    {"metrics", "metrics", CONTROL_READ_ONLY, cmd_metrics},
    {"fail", "fail", CONTROL_READ_ONLY, cmd_fail},
    {"dispatch", "dispatch", CONTROL_READ_ONLY, cmd_echo},
    {"repair", "repair [--dry-run] [PATH]", 0, cmd_repair},
    {"scan", "scan [PATH]", 0, cmd_echo},
    {"reload", "reload", 0, cmd_echo},
};

/* libev: SIGTERM or SIGINT: leave the loop. */
static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    ev_break(ev, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: helper_control_server SOCKET [GROUP]\n");
        return 2;
    }
    struct config c = {.control_socket = argv[1], .control_gid = (gid_t)-1};
    if (argc == 3) {
        struct group *g = getgrnam(argv[2]);
        if (!g) {
            fprintf(stderr, "helper_control_server: unknown group %s\n", argv[2]);
            return 2;
        }
        c.control_group = argv[2];
        c.control_gid = g->gr_gid;
    }
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *ev = ev_default_loop(EVFLAG_AUTO);
    struct control *ctl = control_new(ev, &c, table, sizeof(table) / sizeof(table[0]), NULL);
    if (!ctl) {
        printf("errno=%s\n", strerrorname_np(errno));
        return 1;
    }
    ev_signal sigterm, sigint;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(ev, &sigterm);
    ev_signal_start(ev, &sigint);
    printf("ready\n");
    fflush(stdout);
    ev_run(ev, 0);
    control_free(ctl);
    ev_loop_destroy(ev);
    return 0;
}
