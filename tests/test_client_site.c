/* test_client_site: permwatchctl's choice of a daemon among the instances of a host (client.c):
 * --site NAME validation, NAME -> DIR/NAME.sock, the listing of a socket directory (only unix
 * sockets NAME.sock with a valid NAME), and the choice without -s/--site (the default socket
 * when it exists, else the one instance, else "several ... pick one" exit 2). Real sockets
 * bound in a temporary directory stand in for /run/permwatch. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "proto.h"

Test(client_site, names)
{
    static const char *const good[] = {"a",   "example.com", "site_1", "wp-blog",
                                       "x@y", "A9",          "a..b",   "control"};
    static const char *const bad[] = {
        "",     ".hidden", "..",
        "a/b",  "a b",     "a;b",
        "sité", "a\n",     "01234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_expect(client_site_valid(good[i]), "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(!client_site_valid(bad[i]), "'%s' accepted", bad[i]);
    cr_expect(!client_site_valid(NULL));
    char buf[108];
    cr_expect_eq(client_site_socket("/run/permwatch", "a", buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "/run/permwatch/a.sock");
    cr_expect_eq(client_site_socket("/run/permwatch", "../x", buf, sizeof(buf)), -1);
    cr_expect_eq(errno, EINVAL);
    char small[12];
    cr_expect_eq(client_site_socket("/run/permwatch", "a", small, sizeof(small)), -1);
    cr_expect_eq(errno, ENAMETOOLONG);
}

/* Bind a unix socket at DIR/NAME (left open: a listening server). Returns the fd. */
static int bind_at(const char *dir, const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", sa.sun_path,
              strerror(errno));
    cr_assert(listen(fd, 4) == 0);
    return fd;
}

/* The names of DIR joined by ",". */
static void listing(const char *dir, char *out, size_t len)
{
    size_t n;
    char **v = client_instances(dir, &n);
    cr_assert(v, "client_instances: %s", strerror(errno));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", v[i]);
    cr_expect_null(v[n]);
    client_names_free(v);
}

Test(client_site, listing_and_choice)
{
    char *dir = harness_tempdir("client-site");
    char path[256], def[256], buf[108], msg[512], got[512];
    snprintf(def, sizeof(def), "%s/control.sock", dir);

    /* a missing directory is an empty list; the default socket is used as it is */
    snprintf(path, sizeof(path), "%s/none", dir);
    listing(path, got, sizeof(got));
    cr_expect_str_eq(got, "");
    cr_expect_eq(client_choose_socket(path, def, buf, sizeof(buf), msg, sizeof(msg)), 0);
    cr_expect_str_eq(buf, def);

    /* not sockets, bad names: not instances */
    snprintf(path, sizeof(path), "%s/file.sock", dir);
    harness_write_file(path, "");
    snprintf(path, sizeof(path), "%s/.hidden.sock", dir);
    close(bind_at(dir, ".hidden.sock")); /* the file stays: a stale socket with a bad name */
    snprintf(path, sizeof(path), "%s/x.sock", dir);
    cr_assert(symlink("/run/permwatch/control.sock", path) == 0);
    snprintf(path, sizeof(path), "%s/plain", dir);
    harness_write_file(path, "");
    listing(dir, got, sizeof(got));
    cr_expect_str_eq(got, "");
    cr_expect_eq(client_choose_socket(dir, def, buf, sizeof(buf), msg, sizeof(msg)), 0);
    cr_expect_str_eq(buf, def, "no instance: the default (the connect says not reachable)");

    /* one instance, no default socket: that one */
    int fb = bind_at(dir, "blog.sock");
    listing(dir, got, sizeof(got));
    cr_expect_str_eq(got, "blog");
    cr_expect_eq(client_choose_socket(dir, def, buf, sizeof(buf), msg, sizeof(msg)), 0);
    snprintf(path, sizeof(path), "%s/blog.sock", dir);
    cr_expect_str_eq(buf, path);

    /* several: exit 2, named in order */
    int fa = bind_at(dir, "a.sock");
    listing(dir, got, sizeof(got));
    cr_expect_str_eq(got, "a,blog");
    cr_expect_eq(client_choose_socket(dir, def, buf, sizeof(buf), msg, sizeof(msg)),
                 PROTO_EXIT_USAGE);
    cr_expect_str_eq(msg,
                     "several permwatch instances run here: a, blog; pick one with --site NAME");

    /* the default socket exists: it wins, whatever else runs; control is listed */
    int fc = bind_at(dir, "control.sock");
    listing(dir, got, sizeof(got));
    cr_expect_str_eq(got, "a,blog,control");
    cr_expect_eq(client_choose_socket(dir, def, buf, sizeof(buf), msg, sizeof(msg)), 0);
    cr_expect_str_eq(buf, def);

    /* control.sock is not an instance to pick: one other instance -> that one */
    close(fa);
    snprintf(path, sizeof(path), "%s/a.sock", dir);
    unlink(path);
    char other[256];
    snprintf(other, sizeof(other), "%s/elsewhere.sock", dir);
    cr_expect_eq(client_choose_socket(dir, other, buf, sizeof(buf), msg, sizeof(msg)), 0);
    snprintf(path, sizeof(path), "%s/blog.sock", dir);
    cr_expect_str_eq(buf, path);
    close(fb);
    close(fc);
    harness_rmtree(dir);
    free(dir);
}

/* permwatchctl itself: --site validation and the -s/--site conflict are usage errors (2). */
Test(client_site, ctl_usage)
{
    char ctl[4096];
    harness_build_path("permwatchctl", ctl, sizeof(ctl));
    static const char *const cases[] = {"--site .x status", "--site 'a/b' status",
                                        "--site= status",   "--site a -s /tmp/x.sock status",
                                        "--site",           "instances extra"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run_result r;
        cr_assert(harness_sh(&r, "'%s' %s", ctl, cases[i]) == 0);
        cr_expect_eq(r.status, PROTO_EXIT_USAGE, "permwatchctl %s: exit %d, stderr %s", cases[i],
                     r.status, r.err);
        run_result_free(&r);
    }
    struct run_result r;
    cr_assert(harness_sh(&r, "'%s' --help", ctl) == 0);
    cr_expect(strstr(r.out, "--site NAME") && strstr(r.out, "instances"), "usage: %s", r.out);
    run_result_free(&r);
}
