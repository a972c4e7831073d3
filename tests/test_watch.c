/* test_watch: the inotify bookkeeping against the real kernel: watches land on the directory
 * that was opened, paths follow renames, subtrees are removed and swept. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "watch.h"

static char *tmp;
static int root_fd;

static void setup(void)
{
    tmp = harness_tempdir("watch");
    root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(root_fd, 0);
}

static void teardown(void)
{
    close(root_fd);
    harness_rmtree(tmp);
    free(tmp);
}

/* mkdir RELPATH under the temp dir and watch it under PARENT as NAME. */
static struct watch_dir *add(struct watch *w, struct watch_dir *parent, const char *relpath,
                             const char *name)
{
    if (*relpath)
        cr_assert_eq(mkdirat(root_fd, relpath, 0755), 0, "mkdir %s: %s", relpath, strerror(errno));
    int fd = openat(root_fd, *relpath ? relpath : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    struct watch_dir *d = watch_add(w, parent, name, fd, NULL);
    close(fd);
    cr_assert_not_null(d, "watch %s: %s", relpath, strerror(errno));
    return d;
}

static const char *path_of(const struct watch_dir *d)
{
    static char buf[PATH_MAX];
    cr_assert_neq(watch_path(d, buf, sizeof(buf)), (size_t)-1);
    return buf;
}

/* Read one event; returns its wd and copies the name. */
static int next_event(struct watch *w, uint32_t *mask, char *name, size_t len)
{
    _Alignas(struct inotify_event) char buf[4096];
    ssize_t n = read(watch_fd(w), buf, sizeof(buf));
    cr_assert_gt(n, 0, "no event: %s", strerror(errno));
    const struct inotify_event *ev = (const void *)buf;
    *mask = ev->mask;
    const char *s = ev->len ? ev->name : "";
    size_t sn = strnlen(s, len - 1);
    memcpy(name, s, sn);
    name[sn] = '\0';
    return ev->wd;
}

/* Discard the events queued so far (the fd is non-blocking). */
static void drain(struct watch *w)
{
    _Alignas(struct inotify_event) char buf[4096];
    while (read(watch_fd(w), buf, sizeof(buf)) > 0)
        ;
}

TestSuite(watch, .init = setup, .fini = teardown);

Test(watch, paths_and_lookup)
{
    struct watch *w = watch_new();
    cr_assert_not_null(w);
    struct watch_dir *r = add(w, NULL, "", "");
    struct watch_dir *a = add(w, r, "a", "a");
    struct watch_dir *b = add(w, a, "a/b", "b");
    cr_assert_str_eq(path_of(r), "");
    cr_assert_str_eq(path_of(a), "a");
    cr_assert_str_eq(path_of(b), "a/b");
    cr_assert_eq(watch_root(w), r);
    cr_assert_eq(watch_child(w, a, "b"), b);
    cr_assert_null(watch_child(w, a, "c"));
    cr_assert_eq(watch_count(w), 3);

    /* an event in a/b names b's wd */
    drain(w);
    cr_assert_eq(mkdirat(root_fd, "a/b/new", 0755), 0);
    uint32_t mask;
    char name[256];
    int wd = next_event(w, &mask, name, sizeof(name));
    cr_assert_eq(watch_lookup(w, wd), b);
    cr_assert_str_eq(name, "new");
    cr_assert(mask & IN_CREATE && mask & IN_ISDIR);

    char small[3];
    errno = 0;
    cr_assert_eq(watch_path(b, small, sizeof(small)), (size_t)-1);
    cr_assert_eq(errno, ENAMETOOLONG);
    watch_free(w);
}

Test(watch, same_directory_twice_moves_the_node)
{
    struct watch *w = watch_new();
    struct watch_dir *r = add(w, NULL, "", "");
    struct watch_dir *a = add(w, r, "a", "a");
    add(w, a, "a/b", "b");
    /* rename a -> z on disk; watching it again under its new name keeps one node */
    cr_assert_eq(renameat(root_fd, "a", root_fd, "z"), 0);
    int fd = openat(root_fd, "z", O_RDONLY | O_DIRECTORY);
    bool existed = true;
    struct watch_dir *z = watch_add(w, r, "z", fd, &existed);
    close(fd);
    cr_assert_not_null(z);
    cr_assert_not(existed);
    cr_assert_eq(watch_count(w), 3);
    cr_assert_null(watch_child(w, r, "a"));
    cr_assert_str_eq(path_of(watch_child(w, z, "b")), "z/b");
    /* the same again at the same place: existed */
    fd = openat(root_fd, "z", O_RDONLY | O_DIRECTORY);
    cr_assert_eq(watch_add(w, r, "z", fd, &existed), z);
    close(fd);
    cr_assert(existed);
    watch_free(w);
}

Test(watch, move_with_longer_name_keeps_children)
{
    struct watch *w = watch_new();
    struct watch_dir *r = add(w, NULL, "", "");
    struct watch_dir *a = add(w, r, "a", "a");
    struct watch_dir *b = add(w, a, "a/b", "b");
    add(w, b, "a/b/c", "c");
    struct watch_dir *other = add(w, r, "other", "other");
    int wd_a = -1;
    for (int i = 1; i < 100; i++)
        if (watch_lookup(w, i) == a)
            wd_a = i;
    cr_assert_eq(watch_move(w, a, other, "a-much-longer-name"), 0);
    struct watch_dir *moved = watch_child(w, other, "a-much-longer-name");
    cr_assert_not_null(moved);
    cr_assert_eq(watch_lookup(w, wd_a), moved);
    cr_assert_str_eq(path_of(watch_child(w, watch_child(w, moved, "b"), "c")),
                     "other/a-much-longer-name/b/c");
    cr_assert_eq(watch_count(w), 5);
    watch_free(w);
}

Test(watch, move_over_an_existing_node_replaces_it)
{
    struct watch *w = watch_new();
    struct watch_dir *r = add(w, NULL, "", "");
    struct watch_dir *x = add(w, r, "x", "x");
    struct watch_dir *y = add(w, r, "y", "y");
    add(w, y, "y/in", "in");
    cr_assert_eq(watch_count(w), 4);
    cr_assert_eq(watch_move(w, x, r, "y"), 0);
    cr_assert_eq(watch_child(w, r, "y"), x);
    cr_assert_null(watch_child(w, x, "in"));
    cr_assert_eq(watch_count(w), 2);
    watch_free(w);
}

Test(watch, remove_subtree_and_forget)
{
    struct watch *w = watch_new();
    struct watch_dir *r = add(w, NULL, "", "");
    struct watch_dir *a = add(w, r, "a", "a");
    struct watch_dir *b = add(w, a, "a/b", "b");
    add(w, b, "a/b/c", "c");
    add(w, r, "d", "d");
    drain(w);
    cr_assert_eq(watch_remove(w, a), 3);
    cr_assert_eq(watch_count(w), 2);
    cr_assert_null(watch_child(w, r, "a"));
    /* the kernel acknowledges each removed watch with IN_IGNORED for a wd we forgot */
    uint32_t mask;
    char name[256];
    int wd = next_event(w, &mask, name, sizeof(name));
    cr_assert(mask & IN_IGNORED);
    cr_assert_null(watch_lookup(w, wd));

    /* rmdir d: the kernel drops the watch; forget keeps the tree consistent */
    struct watch_dir *d = watch_child(w, r, "d");
    watch_forget(w, d);
    cr_assert_eq(watch_count(w), 1);
    watch_free(w);
}

Test(watch, sweep_removes_unvisited_nodes_only_in_scope)
{
    struct watch *w = watch_new();
    struct watch_dir *r = add(w, NULL, "", "");
    struct watch_dir *a = add(w, r, "a", "a");
    add(w, a, "a/old", "old");
    add(w, r, "b", "b");
    watch_sweep_begin(w);
    cr_assert_eq(add(w, NULL, "", ""), r);
    /* a and its child "keep" are seen again; a/old and b are not */
    int fd = openat(root_fd, "a", O_RDONLY | O_DIRECTORY);
    cr_assert_eq(watch_add(w, r, "a", fd, NULL), a);
    close(fd);
    add(w, a, "a/keep", "keep");
    cr_assert_eq(watch_sweep_end(w, a), 1); /* only a/old: b is out of scope */
    cr_assert_null(watch_child(w, a, "old"));
    cr_assert_not_null(watch_child(w, r, "b"));
    cr_assert_eq(watch_sweep_end(w, NULL), 1); /* now b */
    cr_assert_null(watch_child(w, r, "b"));
    cr_assert_eq(watch_count(w), 3);
    watch_free(w);
}

Test(watch, limit_is_read)
{
    cr_assert_gt(watch_limit(), 0);
}

/* A chain deeper than PATH_MAX (built with mkdirat/openat): watch_path says ENAMETOOLONG into
 * a PATH_MAX buffer, watch_path_alloc gives the whole path. */
Test(watch, path_alloc_beyond_path_max)
{
    struct watch *w = watch_new();
    struct watch_dir *d = add(w, NULL, "", "");
    char comp[201], *want = malloc(30 * 201);
    cr_assert_not_null(want);
    memset(comp, 'x', 200);
    comp[200] = '\0';
    size_t len = 0;
    int fd = dup(root_fd);
    for (int i = 0; i < 25; i++) { /* 25 x 201 bytes: 5,024 */
        comp[0] = (char)('a' + i);
        cr_assert_eq(mkdirat(fd, comp, 0755), 0);
        int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(sub, 0);
        close(fd);
        fd = sub;
        d = watch_add(w, d, comp, fd, NULL);
        cr_assert_not_null(d, "%s", strerror(errno));
        len += (size_t)sprintf(want + len, "%s%s", i ? "/" : "", comp);
    }
    close(fd);
    char buf[PATH_MAX];
    errno = 0;
    cr_assert_eq(watch_path(d, buf, sizeof(buf)), (size_t)-1);
    cr_assert_eq(errno, ENAMETOOLONG);
    char *got = watch_path_alloc(d);
    cr_assert_not_null(got);
    cr_expect_eq(strlen(got), len);
    cr_expect_str_eq(got, want);
    free(got);
    got = watch_path_alloc(watch_root(w));
    cr_assert_str_eq(got, "");
    free(got);
    free(want);
    watch_free(w);
}
