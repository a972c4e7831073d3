/* test_root: the site root module against real directories: the walk from "/" that refuses
 * untrusted symlinks, the pinned identity, and the ancestor chain (owner, group and other
 * write, the sticky exception, POSIX ACLs). */
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
#include "harness_site.h"
#include "root.h"

static char *tmp;
static char site[PATH_MAX / 2], parent[PATH_MAX / 2];

/* TMP/p/site: TMP and p root-owned 0755, the site www-data's. */
static void setup(void)
{
    tmp = harness_tempdir("root");
    snprintf(parent, sizeof(parent), "%s/p", tmp);
    snprintf(site, sizeof(site), "%s/site", parent);
    site_sh("mkdir -m 0755 '%s' && mkdir '%s' && chown www-data:www-data '%s'", parent, site, site);
}

static void teardown(void)
{
    harness_rmtree(tmp);
    free(tmp);
}

TestSuite(root, .init = setup, .fini = teardown);

/* root_open of SITE; asserts success; returns the chain's size (chain kept in *C). */
static size_t open_chain(struct root_chain *c, struct root_ident *id)
{
    char why[PATH_MAX + 256];
    int fd = root_open(site, id, c, why, sizeof(why));
    cr_assert_geq(fd, 0, "root_open: %s", why);
    close(fd);
    return c->n;
}

Test(root, clean_chain_opens_and_pins_the_directory)
{
    struct root_chain c;
    struct root_ident id;
    cr_assert_eq(open_chain(&c, &id), 0, "a root-owned chain is safe: %s",
                 c.n ? c.items[0].reason : "");
    struct stat st;
    cr_assert_eq(stat(site, &st), 0);
    cr_expect_eq(id.ino, st.st_ino);
    cr_expect_eq(id.dev, st.st_dev);
    cr_expect_neq(id.mnt_id, 0, "statx gives the mount id");
    root_chain_free(&c);
    /* the same directory again: same identity; a replacement: another one */
    struct root_ident again;
    open_chain(&c, &again);
    cr_expect(root_ident_eq(&id, &again));
    root_chain_free(&c);
    site_sh("mv '%s' '%s.old' && mkdir '%s'", site, site, site);
    open_chain(&c, &again);
    cr_expect_not(root_ident_eq(&id, &again), "a new directory at the path is another root");
    root_chain_free(&c);
    char a[96], b[96];
    cr_expect_str_neq(root_ident_format(&id, a, sizeof(a)),
                      root_ident_format(&again, b, sizeof(b)));
    cr_expect(strstr(a, "ino ") && strstr(a, "mnt "), "%s", a);
}

Test(root, parent_owned_by_the_web_user_is_unsafe)
{
    site_sh("chown www-data '%s'", parent);
    struct root_chain c;
    cr_assert_eq(open_chain(&c, NULL), 1);
    cr_expect_str_eq(c.items[0].path, parent);
    cr_expect_eq(c.items[0].uid, harness_uid("www-data"));
    cr_expect(strstr(c.items[0].reason, "www-data"), "%s", c.items[0].reason);
    root_chain_free(&c);
}

Test(root, group_and_other_write)
{
    struct root_chain c;
    site_sh("chgrp www-data '%s' && chmod 0775 '%s'", parent, parent);
    cr_assert_eq(open_chain(&c, NULL), 1);
    cr_expect(strstr(c.items[0].reason, "group www-data"), "%s", c.items[0].reason);
    root_chain_free(&c);
    /* group write by gid 0 is root's own */
    site_sh("chgrp root '%s'", parent);
    cr_expect_eq(open_chain(&c, NULL), 0);
    root_chain_free(&c);
    site_sh("chmod 0757 '%s'", parent);
    cr_assert_eq(open_chain(&c, NULL), 1);
    cr_expect(strstr(c.items[0].reason, "others"), "%s", c.items[0].reason);
    root_chain_free(&c);
}

Test(root, sticky_is_safe_only_for_a_root_owned_next_component)
{
    /* TMP/p 1777 and TMP/p/site www-data's: www-data may rename its own site away */
    site_sh("chmod 1777 '%s'", parent);
    struct root_chain c;
    cr_assert_eq(open_chain(&c, NULL), 1);
    cr_expect_str_eq(c.items[0].path, parent);
    root_chain_free(&c);
    /* TMP/p/d/site with d root-owned inside the sticky p: safe (like /tmp/x/site) */
    char deeper[PATH_MAX];
    snprintf(deeper, sizeof(deeper), "%s/d", parent);
    site_sh("mkdir -m 0755 '%s' && mv '%s' '%s/site'", deeper, site, deeper);
    snprintf(site, sizeof(site), "%s/site", deeper);
    cr_expect_eq(open_chain(&c, NULL), 0, "%s", c.n ? c.items[0].reason : "");
    root_chain_free(&c);
}

Test(root, acl_granting_write_is_unsafe)
{
    site_sh("setfacl -m u:www-data:rwx '%s'", parent);
    struct root_chain c;
    cr_assert_eq(open_chain(&c, NULL), 1);
    cr_expect(strstr(c.items[0].reason, "user www-data") && strstr(c.items[0].reason, "ACL"), "%s",
              c.items[0].reason);
    root_chain_free(&c);
    /* a mask without write makes the entry ineffective */
    site_sh("setfacl -m m::rx '%s'", parent);
    cr_expect_eq(open_chain(&c, NULL), 0, "%s", c.n ? c.items[0].reason : "");
    root_chain_free(&c);
    site_sh("setfacl -b '%s' && setfacl -m g:www-data:rwx '%s'", parent, parent);
    cr_assert_eq(open_chain(&c, NULL), 1);
    cr_expect(strstr(c.items[0].reason, "group www-data"), "%s", c.items[0].reason);
    root_chain_free(&c);
}

Test(root, symlink_of_the_web_user_is_refused)
{
    /* the attack: the web user's own symlink where the site was */
    char outside[PATH_MAX];
    snprintf(outside, sizeof(outside), "%s/outside", tmp);
    site_sh("mkdir '%s' && mv '%s' '%s.old' && ln -s '%s' '%s' && chown -h www-data '%s'", outside,
            site, site, outside, site, site);
    char why[PATH_MAX + 256];
    errno = 0;
    cr_assert_eq(root_open(site, NULL, NULL, why, sizeof(why)), -1);
    cr_expect_eq(errno, ELOOP);
    cr_expect(strstr(why, "symbolic link owned by www-data") && strstr(why, site), "%s", why);
}

Test(root, root_symlink_is_followed_only_in_a_safe_directory)
{
    char real[PATH_MAX];
    snprintf(real, sizeof(real), "%s/real", tmp);
    site_sh("mkdir '%s' && rmdir '%s' && ln -s '%s' '%s'", real, site, real, site);
    struct root_chain c;
    struct root_ident id;
    cr_assert_eq(open_chain(&c, &id), 0);
    root_chain_free(&c);
    struct stat st;
    cr_assert_eq(stat(real, &st), 0);
    cr_expect_eq(id.ino, st.st_ino, "the trusted link was followed");
    /* a relative root-owned link with '..' also resolves */
    site_sh("rm '%s' && ln -s ../real '%s'", site, site);
    cr_assert_eq(open_chain(&c, &id), 0);
    root_chain_free(&c);
    cr_expect_eq(id.ino, st.st_ino);
    /* the same link in a directory the web user can write: not followed */
    site_sh("chown www-data '%s'", parent);
    char why[PATH_MAX + 256];
    errno = 0;
    cr_assert_eq(root_open(site, NULL, NULL, why, sizeof(why)), -1);
    cr_expect_eq(errno, ELOOP);
    cr_expect(strstr(why, "owned by www-data"), "%s", why);
}

Test(root, missing_and_not_a_directory)
{
    char why[PATH_MAX + 256], path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/nope", tmp);
    errno = 0;
    cr_expect_eq(root_open(path, NULL, NULL, why, sizeof(why)), -1);
    cr_expect_eq(errno, ENOENT);
    cr_expect(strstr(why, "nope"), "%s", why);
    snprintf(path, sizeof(path), "%s/file", tmp);
    harness_write_file(path, "x");
    errno = 0;
    cr_expect_eq(root_open(path, NULL, NULL, why, sizeof(why)), -1);
    cr_expect_eq(errno, ENOTDIR);
}

Test(root, parent_fd_is_the_parent)
{
    char why[PATH_MAX + 256];
    int fd = root_open_parent(site, why, sizeof(why));
    cr_assert_geq(fd, 0, "%s", why);
    struct stat a, b;
    cr_assert_eq(fstat(fd, &a), 0);
    cr_assert_eq(stat(parent, &b), 0);
    cr_expect_eq(a.st_ino, b.st_ino);
    close(fd);
}
