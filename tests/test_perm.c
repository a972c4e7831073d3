/* Tests of perm (the pure permission model), permacl (the ACL xattr reader) and the writable
 * check end to end (audit_evaluate) against real files with real modes, owners and POSIX
 * ACLs (setfacl), each verdict compared with the kernel's own: a child that becomes the
 * principal (setgroups, setgid, setuid) and calls access(2). Needs root, setfacl, an ext4
 * or other ACL-capable /tmp, and the users www-data, opencode (in group www-data: see
 * ensure-users.sh) and nobody (not in it). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "account.h"
#include "audit.h"
#include "config.h"
#include "harness.h"
#include "harness_site.h"
#include "perm.h"
#include "permacl.h"
#include "policy.h"

static char *dir;

static void setup(void)
{
    cr_assert_eq(geteuid(), 0, "test_perm needs root");
    dir = harness_tempdir("perm");
}

static void teardown(void)
{
    harness_rmtree(dir);
    free(dir);
}

TestSuite(perm, .init = setup, .fini = teardown);

/* Create the file (or directory when DIR_) NAME in dir with MODE, owner USER:GROUP. */
static void mk(const char *name, bool is_dir, mode_t mode, const char *user, const char *group)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (is_dir)
        cr_assert_eq(mkdir(p, 0700), 0);
    else
        harness_write_file(p, "x");
    cr_assert_eq(chown(p, harness_uid(user), harness_gid(group)), 0);
    cr_assert_eq(chmod(p, mode), 0);
}

/* Whether the kernel grants P the access WANT (PERM_* bits) on dir/NAME: a child becomes P
 * and calls access(2). */
static bool kernel_can(const struct principal *p, const char *name, int want)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int amode =
        (want & PERM_R ? R_OK : 0) | (want & PERM_W ? W_OK : 0) | (want & PERM_X ? X_OK : 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (setgroups(p->ngroups, p->groups) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0)
            _exit(2);
        _exit(access(path, amode) == 0 ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) < 2, "child failed");
    return WEXITSTATUS(st) == 0;
}

/* perm's verdict for P on dir/NAME with its real ACL, checked against the kernel's. */
static bool model_can(const struct principal *p, const char *name, int want, struct perm_verdict *v)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dfd, 0);
    struct stat st;
    cr_assert_eq(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    struct perm_acl acl;
    int rc = permacl_read_at(dfd, name, &acl);
    cr_assert_geq(rc, 0, "permacl_read_at: %s", strerror(errno));
    bool ok = perm_check(p, st.st_uid, st.st_gid, st.st_mode, rc ? &acl : NULL, want, v);
    permacl_free(&acl);
    close(dfd);
    bool k = kernel_can(p, name, want);
    cr_assert_eq(ok, k, "%s for %s want %d: model %d, kernel %d", name, p->name, want, ok, k);
    return ok;
}

struct users {
    struct principal www, oc, nobody;
};

static void load_users(struct users *u)
{
    cr_assert_eq(account_principal_load("www-data", &u->www), 0);
    cr_assert_eq(account_principal_load("opencode", &u->oc), 0);
    cr_assert_eq(account_principal_load("nobody", &u->nobody), 0);
    cr_assert(account_principal_in_group(&u->oc, harness_gid("www-data")),
              "opencode must be in group www-data (tests/ensure-users.sh)");
    cr_assert_not(account_principal_in_group(&u->nobody, harness_gid("www-data")));
}

static void free_users(struct users *u)
{
    account_principal_free(&u->www);
    account_principal_free(&u->oc);
    account_principal_free(&u->nobody);
}

/* Findings of audit_evaluate for dir/NAME under a writable rule with WRITERS (a
 * `[site] writers` value). */
static size_t evaluate(const char *writers, const char *name, struct finding *f)
{
    char text[512];
    snprintf(text, sizeof(text),
             "[site]\nroot = %s\nwriters = %s\n[rule w]\nmatch = **\ngroup = www-data\n"
             "writable = yes\n",
             dir, writers);
    struct config *c = NULL;
    struct config_error err;
    char buf[512];
    cr_assert_eq(config_load_string(text, "perm.ini", &c, &err), 0, "%s",
                 config_error_format(&err, buf, sizeof(buf)));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dfd, 0);
    struct stat st;
    cr_assert_eq(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    size_t n = audit_evaluate(c, policy_match(c, name), dfd, name, &st, f);
    close(dfd);
    for (size_t i = 0; i < n; i++)
        f[i].rule = "w"; /* the config is freed: keep no pointer into it */
    config_free(c);
    return n;
}

Test(perm, writer_not_in_group_flagged_on_group_only_writable)
{
    struct users u;
    load_users(&u);
    mk("a.php", false, 0664, "www-data", "www-data");
    struct perm_verdict v;
    cr_assert_not(model_can(&u.nobody, "a.php", PERM_W, &v));
    cr_assert_eq(v.cls, PERM_CLASS_OTHER);
    cr_assert(model_can(&u.oc, "a.php", PERM_W, &v), "opencode is in www-data");
    cr_assert_eq(v.cls, PERM_CLASS_GROUP);

    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(evaluate("www-data, nobody", "a.php", f), 1);
    cr_assert_eq(f[0].kind, FINDING_NOT_WRITABLE);
    cr_assert_str_eq(f[0].expected, "writable by www-data, nobody");
    cr_assert_str_eq(f[0].reason, "nobody cannot write: owner www-data, group www-data (nobody "
                                  "is not in it), class other lacks w");
    cr_assert_eq(evaluate("www-data, opencode", "a.php", f), 0,
                 "0664 www-data:www-data with opencode in the group: no finding");
    free_users(&u);
}

Test(perm, opencode_owned_0644_denies_www_data)
{
    struct users u;
    load_users(&u);
    mk("b.php", false, 0644, "opencode", "www-data");
    struct perm_verdict v;
    cr_assert_not(model_can(&u.www, "b.php", PERM_W, &v));
    cr_assert_eq(v.cls, PERM_CLASS_GROUP);
    cr_assert(model_can(&u.oc, "b.php", PERM_W, &v));
    cr_assert_eq(v.cls, PERM_CLASS_OWNER);
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(evaluate("www-data, opencode", "b.php", f), 1);
    cr_assert_str_eq(f[0].reason, "www-data cannot write: owner opencode, group www-data "
                                  "(www-data is in it), class group lacks w");
    free_users(&u);
}

Test(perm, acl_grant_counts_and_mask_limits)
{
    struct users u;
    load_users(&u);
    mk("c.php", false, 0664, "www-data", "www-data");
    site_sh("setfacl -m u:nobody:rw '%s/c.php'", dir);
    struct perm_verdict v;
    cr_assert(model_can(&u.nobody, "c.php", PERM_W, &v), "the ACL grants write");
    cr_assert_eq(v.cls, PERM_CLASS_ACL_USER);
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(evaluate("www-data, nobody", "c.php", f), 0);

    site_sh("setfacl -m m::r '%s/c.php'", dir);
    cr_assert_not(model_can(&u.nobody, "c.php", PERM_W, &v), "the mask takes it back");
    cr_assert_eq(v.cls, PERM_CLASS_ACL_USER);
    cr_assert_not(model_can(&u.oc, "c.php", PERM_W, &v), "group members too");
    cr_assert_eq(v.cls, PERM_CLASS_ACL_GROUP);
    cr_assert_eq(evaluate("www-data, nobody", "c.php", f), 1);
    cr_assert_str_eq(f[0].reason, "nobody cannot write: owner www-data, group www-data (nobody "
                                  "is not in it), class ACL user (entry rw-, mask r--) lacks w");
    free_users(&u);
}

Test(perm, acl_group_entry_and_group_obj)
{
    struct users u;
    load_users(&u);
    mk("d.php", false, 0644, "root", "root");
    site_sh("setfacl -m g:www-data:rw '%s/d.php'", dir);
    struct perm_verdict v;
    cr_assert(model_can(&u.oc, "d.php", PERM_W, &v), "via its supplementary group");
    cr_assert_eq(v.cls, PERM_CLASS_ACL_GROUP);
    cr_assert(model_can(&u.www, "d.php", PERM_W, &v));
    cr_assert_not(model_can(&u.nobody, "d.php", PERM_W, &v));
    cr_assert_eq(v.cls, PERM_CLASS_OTHER);
    /* group::r-- while the mask (the mode's group bits) shows rw: members are denied */
    mk("e.php", false, 0664, "root", "www-data");
    site_sh("setfacl -m g::r,g:nogroup:rw '%s/e.php'", dir);
    cr_assert_not(model_can(&u.www, "e.php", PERM_W, &v));
    cr_assert_eq(v.cls, PERM_CLASS_ACL_GROUP);
    cr_assert(model_can(&u.nobody, "e.php", PERM_W, &v), "nogroup entry");
    /* a named user entry decides alone, even against the owning group's rights */
    mk("f.php", false, 0664, "root", "www-data");
    site_sh("setfacl -m u:opencode:r '%s/f.php'", dir);
    cr_assert_not(model_can(&u.oc, "f.php", PERM_W, &v));
    cr_assert_eq(v.cls, PERM_CLASS_ACL_USER);
    cr_assert(model_can(&u.www, "f.php", PERM_W, &v));
    free_users(&u);
}

Test(perm, directories_need_w_and_x)
{
    struct users u;
    load_users(&u);
    mk("d1", true, 02775, "www-data", "www-data");
    mk("d2", true, 0755, "www-data", "www-data");
    mk("d3", true, 0765, "www-data", "www-data");
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(evaluate("www-data, opencode", "d1", f), 0);
    cr_assert_eq(evaluate("www-data, opencode", "d2", f), 1);
    cr_assert(strstr(f[0].reason, "opencode cannot write") && strstr(f[0].reason, "lacks w"), "%s",
              f[0].reason);
    cr_assert(f[0].is_dir);
    cr_assert_eq(evaluate("www-data, opencode", "d3", f), 1);
    cr_assert(strstr(f[0].reason, "class group lacks x"), "%s", f[0].reason);
    struct perm_verdict v;
    cr_assert_not(model_can(&u.oc, "d3", PERM_W | PERM_X, &v));
    cr_assert(model_can(&u.oc, "d1", PERM_W | PERM_X, &v));
    site_sh("setfacl -m u:nobody:rwx '%s/d2'", dir);
    cr_assert(model_can(&u.nobody, "d2", PERM_W | PERM_X, &v));
    free_users(&u);
}

/* The model against the kernel over every group-class value with and without ACL entries. */
Test(perm, table_against_kernel)
{
    struct users u;
    load_users(&u);
    const struct principal *who[] = {&u.www, &u.oc, &u.nobody};
    static const char *const acls[] = {"", "u:nobody:rw", "u:opencode:r", "g:www-data:r,m::rwx",
                                       "g::r,g:nogroup:rwx"};
    int k = 0;
    for (size_t a = 0; a < sizeof(acls) / sizeof(acls[0]); a++) {
        for (mode_t g = 0; g < 8; g++) {
            char name[32];
            snprintf(name, sizeof(name), "t%d", k++);
            mk(name, false, 0604 | (g << 3), "opencode", "www-data");
            if (*acls[a]) {
                site_sh("setfacl -m '%s' '%s/%s'", acls[a], dir, name);
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", dir, name);
                struct stat st;
                cr_assert_eq(stat(p, &st), 0);
                cr_assert_eq(chmod(p, (st.st_mode & 07707) | (g << 3)), 0); /* set the mask */
            }
            for (size_t w = 0; w < 3; w++)
                for (int want = 1; want < 8; want++)
                    model_can(who[w], name, want, NULL);
        }
    }
    free_users(&u);
}

Test(perm, permacl_never_follows_nor_opens)
{
    mk("g.php", false, 0664, "root", "root");
    site_sh("setfacl -m u:nobody:rw '%s/g.php'", dir);
    char p[512];
    snprintf(p, sizeof(p), "%s/link", dir);
    cr_assert_eq(symlink("g.php", p), 0);
    snprintf(p, sizeof(p), "%s/fifo", dir);
    cr_assert_eq(mkfifo(p, 0664), 0);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dfd, 0);
    struct perm_acl acl;
    cr_assert_eq(permacl_read_at(dfd, "g.php", &acl), 1);
    cr_assert_eq(acl.n, 1);
    cr_assert_eq(acl.e[0].tag, PERM_ACL_USER);
    cr_assert_eq(acl.e[0].id, (unsigned)harness_uid("nobody"));
    cr_assert_eq(acl.e[0].perms, PERM_R | PERM_W);
    cr_assert_eq(acl.mask, PERM_R | PERM_W);
    permacl_free(&acl);
    cr_assert_eq(permacl_read_at(dfd, "link", &acl), 0, "the symlink itself has no ACL");
    cr_assert_eq(permacl_read_at(dfd, "fifo", &acl), 0, "a FIFO is not opened (no block)");
    cr_assert_eq(permacl_read_at(dfd, "missing", &acl), -1);
    cr_assert_eq(errno, ENOENT);
    close(dfd);
    /* many entries: larger than the stack buffer */
    mk("h.php", false, 0664, "root", "root");
    char cmd[4096] = "";
    size_t len = 0;
    for (int i = 0; i < 60; i++)
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%su:%d:r", i ? "," : "", 20000 + i);
    site_sh("setfacl -m '%s' '%s/h.php'", cmd, dir);
    snprintf(p, sizeof(p), "%s/h.php", dir);
    cr_assert_eq(permacl_read_path(p, &acl), 1);
    cr_assert_eq(acl.n, 60);
    cr_assert_eq(acl.e[59].id, 20059);
    permacl_free(&acl);
}

Test(perm, permacl_parse_rejects_malformed)
{
    struct perm_acl acl;
    unsigned char bad_version[4] = {1, 0, 0, 0};
    cr_assert_eq(permacl_parse(bad_version, 4, &acl), -1);
    cr_assert_eq(errno, EINVAL);
    unsigned char short_entry[4 + 7] = {2, 0, 0, 0};
    cr_assert_eq(permacl_parse(short_entry, sizeof(short_entry), &acl), -1);
    unsigned char bad_tag[4 + 8] = {2, 0, 0, 0, 0x40, 0, 7, 0};
    cr_assert_eq(permacl_parse(bad_tag, sizeof(bad_tag), &acl), -1);
    unsigned char minimal[4 + 24] = {2,    0,    0, 0, 1,    0,    6,    0,    0xff, 0xff,
                                     0xff, 0xff, 4, 0, 4,    0,    0xff, 0xff, 0xff, 0xff,
                                     0x20, 0,    4, 0, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(permacl_parse(minimal, sizeof(minimal), &acl), 0);
    cr_assert_not(perm_acl_extended(&acl));
}
