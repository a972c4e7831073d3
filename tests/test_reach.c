/* reach: the model of "may www-data execute this command?" against the real kernel. Every
 * test builds a real tree under /tmp (owners, modes, ACLs, symlinks, scripts, a noexec tmpfs
 * in a private mount namespace) and compares each verdict of the model with the kernel's own
 * answer: test(1) run as the principal through setpriv (`test -x`, and `test -r` for a
 * script), then with reach_kernel_confirm. Needs root and the users of ensure-users.sh. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "reach.h"

#define ELF "\177ELF\2\1\1\0 not run by the tests\n"

static char *tmp;
static struct principal web, oc, root;
static struct reach_verdict v;

static void setup(void)
{
    tmp = harness_tempdir("reach");
    cr_assert(account_principal_load("www-data", &web) == 0, "www-data: %s", strerror(errno));
    cr_assert(account_principal_load("opencode", &oc) == 0,
              "opencode is missing: run tests/ensure-users.sh");
    cr_assert(account_principal_load("root", &root) == 0);
}

static void teardown(void)
{
    reach_verdict_free(&v);
    harness_rmtree(tmp);
    free(tmp);
    account_principal_free(&web);
    account_principal_free(&oc);
    account_principal_free(&root);
    account_cache_clear();
}

TestSuite(reach, .init = setup, .fini = teardown);

/* --- the tree ----------------------------------------------------------------------------- */

/* TMP + "/" + REL in one of 16 rotating buffers (several may be used in one call). */
static const char *at(const char *rel)
{
    static char bufs[16][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 16];
    snprintf(b, PATH_MAX, "%s/%s", tmp, rel);
    return b;
}

/* printf into one of the rotating buffers. */
__attribute__((format(printf, 1, 2))) static const char *fmt(const char *f, ...)
{
    static char bufs[8][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, PATH_MAX, f, ap);
    va_end(ap);
    return b;
}

static void own(const char *rel, const char *user, const char *group)
{
    cr_assert(lchown(at(rel), harness_uid(user), harness_gid(group)) == 0, "chown %s: %s", rel,
              strerror(errno));
}

/* mkdir TMP/REL with MODE, owned USER:GROUP. */
static void mkd(const char *rel, mode_t mode, const char *user, const char *group)
{
    cr_assert(mkdir(at(rel), 0700) == 0, "mkdir %s: %s", rel, strerror(errno));
    own(rel, user, group);
    cr_assert(chmod(at(rel), mode) == 0);
}

/* Write TEXT to TMP/REL with MODE, owned USER:GROUP. */
static void mkf(const char *rel, mode_t mode, const char *user, const char *group, const char *text)
{
    harness_write_file(at(rel), text);
    own(rel, user, group);
    cr_assert(chmod(at(rel), mode) == 0);
}

static void mkl(const char *target, const char *rel)
{
    cr_assert(symlink(target, at(rel)) == 0, "symlink %s: %s", rel, strerror(errno));
}

/* Set the access ACL of TMP/REL from its text form (the mode follows, as with setfacl). */
static void acl(const char *rel, const char *text)
{
    acl_t a = acl_from_text(text);
    cr_assert(a, "acl_from_text %s", text);
    cr_assert(acl_set_file(at(rel), ACL_TYPE_ACCESS, a) == 0, "acl %s: %s", rel, strerror(errno));
    acl_free(a);
}

/* setfacl ARGS... on TMP/REL, as an operator does. */
static void setfacl(const char *spec, const char *rel)
{
    char *argv[] = {"/usr/bin/setfacl", "-m", (char *)spec, (char *)at(rel), NULL};
    struct run_result r;
    cr_assert(harness_run(argv, &r) == 0);
    cr_assert_eq(r.status, 0, "setfacl: %s", r.err);
    run_result_free(&r);
}

/* --- the kernel's answer ------------------------------------------------------------------ */

/* Exit status of `test FLAG PATH` as WHO: through setpriv with WHO's uid, gid and groups (or
 * directly for root). Returns 0 (true), 1 (false), or -1 when it could not run. No Criterion
 * assertion: also used in a forked child. */
static int kernel_run(const struct principal *who, const char *flag, const char *path)
{
    char reuid[32], regid[32];
    snprintf(reuid, sizeof(reuid), "--reuid=%u", (unsigned)who->uid);
    snprintf(regid, sizeof(regid), "--regid=%u", (unsigned)who->gid);
    char *as[] = {"/usr/bin/setpriv", reuid,        regid,        "--init-groups",
                  "/usr/bin/test",    (char *)flag, (char *)path, NULL};
    char *direct[] = {"/usr/bin/test", (char *)flag, (char *)path, NULL};
    struct run_result r;
    if (harness_run(who->uid == 0 ? direct : as, &r) < 0)
        return -1;
    int st = r.status;
    run_result_free(&r);
    return st == 0 || st == 1 ? st : -1;
}

/* Whether the kernel grants `test FLAG PATH` to WHO. */
static bool kernel(const struct principal *who, const char *flag, const char *path)
{
    int st = kernel_run(who, flag, path);
    cr_assert(st >= 0, "test %s %s as %s could not run", flag, path, who->name);
    return st == 0;
}

/* The kernel's answer for executing a binary, and for a script (x and r). */
#define KX(who, p)  kernel(who, "-x", p)
#define KXR(who, p) (kernel(who, "-x", p) && kernel(who, "-r", p))

/* --- verdicts ----------------------------------------------------------------------------- */

/* Model WHO executing CMD (PATH_ENV may be NULL) into the global verdict. */
static void check(const struct principal *who, const char *cmd, const char *path_env)
{
    reach_verdict_free(&v);
    cr_assert(reach_check(who, cmd, path_env, &v) == 0, "reach_check: %s", strerror(errno));
}

/* The model agrees with KERNEL_OK (the kernel's answer from test(1)), its watch list is sane,
 * and reach_kernel_confirm agrees as well without changing anything. */
static void agree(const struct principal *who, bool kernel_ok)
{
    cr_assert_eq(v.status == REACH_OK, kernel_ok, "model says %s (%s: %s), the kernel says %s",
                 reach_status_name(v.status), v.blocked_at, v.reason, kernel_ok ? "ok" : "no");
    for (size_t i = 0; i < v.nwatch; i++) {
        cr_assert(v.watch[i][0] == '/', "watch %s", v.watch[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(v.watch[i], v.watch[j], "watched twice");
    }
    enum reach_status before = v.status;
    char reason[sizeof(v.reason)];
    memcpy(reason, v.reason, sizeof(reason));
    cr_assert(reach_kernel_confirm(who, &v) == 0, "confirm: %s", strerror(errno));
    cr_assert(v.kernel_checked);
    cr_assert_not(v.kernel_disagreed, "the kernel disagrees: %s", v.reason);
    cr_assert_eq(v.status, before);
    cr_assert_str_eq(v.reason, reason);
}

static bool watched(const char *dir)
{
    for (size_t i = 0; i < v.nwatch; i++)
        if (strcmp(v.watch[i], dir) == 0)
            return true;
    return false;
}

static void expect(enum reach_status s, const char *blocked_at)
{
    cr_assert_eq(v.status, s, "status %s, want %s (%s: %s)", reach_status_name(v.status),
                 reach_status_name(s), v.blocked_at, v.reason);
    if (blocked_at)
        cr_assert_str_eq(v.blocked_at, blocked_at, "%s", v.reason);
}

/* --- homes and groups --------------------------------------------------------------------- */

Test(reach, home_0700_blocks_at_the_home)
{
    mkd("root", 0700, "root", "root");
    mkd("root/.kimaki", 0755, "root", "root");
    mkd("root/.kimaki/bin", 0755, "root", "root");
    mkf("root/.kimaki/bin/kimaki", 0755, "root", "root", ELF);
    const char *cmd = at("root/.kimaki/bin/kimaki");
    check(&web, cmd, NULL);
    expect(REACH_DENIED, at("root"));
    cr_assert_str_eq(v.reason, fmt("%s: mode 0700 root:root, www-data is not owner and not in "
                                   "group root (class other lacks x)",
                                   at("root")));
    cr_assert_str_eq(v.resolved, cmd);
    cr_assert(watched("/") && watched("/tmp") && watched(tmp) && watched(at("root")) &&
              watched(at("root/.kimaki")) && watched(at("root/.kimaki/bin")));
    agree(&web, KX(&web, cmd));
    check(&root, cmd, NULL);
    expect(REACH_OK, "");
    agree(&root, KX(&root, cmd));
}

Test(reach, home_0750_blocks_www_data_not_its_owner)
{
    mkd("home", 0755, "root", "root");
    mkd("home/opencode", 0750, "opencode", "opencode");
    mkd("home/opencode/bin", 0755, "opencode", "opencode");
    mkf("home/opencode/bin/tool", 0755, "opencode", "opencode", ELF);
    const char *cmd = at("home/opencode/bin/tool");
    check(&web, cmd, NULL);
    expect(REACH_DENIED, at("home/opencode"));
    cr_assert_str_eq(v.reason, fmt("%s: mode 0750 opencode:opencode, www-data is not owner and "
                                   "not in group opencode (class other lacks x)",
                                   at("home/opencode")));
    agree(&web, KX(&web, cmd));
    check(&oc, cmd, NULL);
    expect(REACH_OK, "");
    agree(&oc, KX(&oc, cmd));
}

Test(reach, group_class_decides_for_members)
{
    /* 0750 with group www-data: reachable (the stopgap's o+x rule says no) */
    mkd("srv", 0750, "root", "www-data");
    mkf("srv/tool", 0755, "root", "root", ELF);
    check(&web, at("srv/tool"), NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, at("srv/tool")));
    check(&oc, at("srv/tool"), NULL); /* a supplementary group */
    expect(REACH_OK, "");
    agree(&oc, KX(&oc, at("srv/tool")));

    /* 0705 with group www-data: the group class lacks x, other is not consulted */
    mkd("g", 0705, "root", "www-data");
    mkf("g/tool", 0755, "root", "root", ELF);
    check(&web, at("g/tool"), NULL);
    expect(REACH_DENIED, at("g"));
    cr_assert_str_eq(v.reason, fmt("%s: mode 0705 root:www-data, www-data is in group www-data "
                                   "and the group class lacks x (other is not consulted)",
                                   at("g")));
    agree(&web, KX(&web, at("g/tool")));
    check(&root, at("g/tool"), NULL);
    agree(&root, KX(&root, at("g/tool")));
}

Test(reach, owner_class_decides_alone)
{
    mkd("bin", 0755, "root", "root");
    mkf("bin/t0070", 0070, "www-data", "www-data", ELF);
    check(&web, at("bin/t0070"), NULL);
    expect(REACH_DENIED, at("bin/t0070"));
    cr_assert_str_eq(v.reason, fmt("%s: mode 0070 www-data:www-data, www-data is the owner and "
                                   "the owner class lacks x (group and other are not consulted)",
                                   at("bin/t0070")));
    agree(&web, KX(&web, at("bin/t0070")));
    /* others get the group class: opencode (in group www-data) may run it */
    check(&oc, at("bin/t0070"), NULL);
    expect(REACH_OK, "");
    agree(&oc, KX(&oc, at("bin/t0070")));

    mkf("bin/t0605", 0605, "www-data", "www-data", ELF);
    check(&web, at("bin/t0605"), NULL);
    expect(REACH_DENIED, at("bin/t0605"));
    agree(&web, KX(&web, at("bin/t0605")));

    /* 0705: the owner class has x, whatever group and other say */
    mkf("bin/t0705", 0705, "www-data", "www-data", ELF);
    check(&web, at("bin/t0705"), NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, at("bin/t0705")));

    /* a directory owned by www-data, mode 0675: not searchable by its owner */
    mkd("wd", 0675, "www-data", "www-data");
    mkf("wd/tool", 0755, "root", "root", ELF);
    check(&web, at("wd/tool"), NULL);
    expect(REACH_DENIED, at("wd"));
    cr_assert(strstr(v.reason, "www-data is the owner and the owner class lacks x"), "%s",
              v.reason);
    agree(&web, KX(&web, at("wd/tool")));
}

/* --- ACLs --------------------------------------------------------------------------------- */

Test(reach, acl_named_user_grants)
{
    mkd("priv", 0700, "root", "root");
    mkf("priv/tool", 0755, "root", "root", ELF);
    check(&web, at("priv/tool"), NULL);
    expect(REACH_DENIED, at("priv"));
    agree(&web, KX(&web, at("priv/tool")));
    setfacl("u:www-data:x", "priv");
    check(&web, at("priv/tool"), NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, at("priv/tool")));
    /* others still fall in class other */
    check(&oc, at("priv/tool"), NULL);
    expect(REACH_DENIED, at("priv"));
    cr_assert_str_eq(v.reason, fmt("%s: ACL other::---, opencode is not owner and matches no "
                                   "user or group entry, lacks x",
                                   at("priv")));
    agree(&oc, KX(&oc, at("priv/tool")));
}

Test(reach, acl_named_user_denies_on_an_open_directory)
{
    mkd("open", 0755, "root", "root");
    mkf("open/tool", 0755, "root", "root", ELF);
    setfacl("u:www-data:---", "open");
    check(&web, at("open/tool"), NULL);
    expect(REACH_DENIED, at("open"));
    cr_assert_str_eq(v.reason, fmt("%s: ACL user:www-data:---, lacks x", at("open")));
    agree(&web, KX(&web, at("open/tool")));
    check(&oc, at("open/tool"), NULL); /* not named: class other r-x */
    expect(REACH_OK, "");
    agree(&oc, KX(&oc, at("open/tool")));
}

Test(reach, acl_mask_limits_named_entries)
{
    mkd("m", 0700, "root", "root");
    mkf("m/tool", 0755, "root", "root", ELF);
    acl("m", "u::rwx,u:www-data:rwx,g::---,m::r--,o::---");
    check(&web, at("m/tool"), NULL);
    expect(REACH_DENIED, at("m"));
    cr_assert_str_eq(
        v.reason,
        fmt("%s: ACL user:www-data:rwx with mask::r-- (effective r--), lacks x", at("m")));
    agree(&web, KX(&web, at("m/tool")));

    /* a file: the named entry under a mask without x */
    mkd("f", 0755, "root", "root");
    mkf("f/tool", 0755, "root", "root", ELF);
    acl("f/tool", "u::rwx,u:www-data:r-x,g::r-x,m::r--,o::r-x");
    check(&web, at("f/tool"), NULL);
    expect(REACH_DENIED, at("f/tool"));
    agree(&web, KX(&web, at("f/tool")));
}

Test(reach, acl_with_an_empty_mask_is_not_consulted)
{
    /* the kernel skips the ACL when the group class bits (the mask) are 0: www-data's named
     * entry is effectively --- but class other grants x (POSIX.1e would deny) */
    mkd("z", 0700, "root", "root");
    mkf("z/tool", 0755, "root", "root", ELF);
    acl("z", "u::rwx,u:www-data:rwx,g::---,m::---,o::--x");
    check(&web, at("z/tool"), NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, at("z/tool")));
    acl("z", "u::rwx,u:www-data:rwx,g::---,m::---,o::---");
    check(&web, at("z/tool"), NULL);
    expect(REACH_DENIED, at("z"));
    cr_assert(strstr(v.reason, "its ACL is not consulted: the mask grants nothing"), "%s",
              v.reason);
    agree(&web, KX(&web, at("z/tool")));
}

Test(reach, acl_group_entries)
{
    /* a matching group entry without x denies; other (r-x) is not consulted */
    mkd("g", 0755, "root", "root");
    mkf("g/tool", 0755, "root", "root", ELF);
    acl("g", "u::rwx,g::---,g:www-data:r--,m::r--,o::r-x");
    check(&web, at("g/tool"), NULL);
    expect(REACH_DENIED, at("g"));
    cr_assert_str_eq(v.reason, fmt("%s: ACL group:www-data:r--, mask::r--, www-data matches these "
                                   "group entries and none grants x (other is not consulted)",
                                   at("g")));
    agree(&web, KX(&web, at("g/tool")));
    /* one of several matching entries grants */
    mkd("g2", 0700, "root", "www-data");
    mkf("g2/tool", 0755, "root", "root", ELF);
    acl("g2", "u::rwx,g::r--,g:opencode:--x,m::r-x,o::---");
    check(&oc, at("g2/tool"), NULL);
    expect(REACH_OK, "");
    agree(&oc, KX(&oc, at("g2/tool")));
    check(&web, at("g2/tool"), NULL);
    expect(REACH_DENIED, at("g2"));
    agree(&web, KX(&web, at("g2/tool")));
    /* a mask that removes the granting entry's x */
    acl("g2", "u::rwx,g::r--,g:opencode:--x,m::r--,o::---");
    check(&oc, at("g2/tool"), NULL);
    expect(REACH_DENIED, at("g2"));
    agree(&oc, KX(&oc, at("g2/tool")));
}

/* --- symlinks ----------------------------------------------------------------------------- */

Test(reach, symlink_into_a_private_directory)
{
    mkd("pub", 0755, "root", "root");
    mkd("private", 0700, "root", "root");
    mkd("private/bin", 0755, "root", "root");
    mkf("private/bin/tool", 0755, "root", "root", ELF);
    mkl("../private/bin/tool", "pub/tool");
    check(&web, at("pub/tool"), NULL);
    expect(REACH_DENIED, at("private"));
    cr_assert_str_eq(v.resolved, at("private/bin/tool"));
    cr_assert(watched(at("pub")) && watched(tmp) && watched(at("private")) &&
              watched(at("private/bin")));
    agree(&web, KX(&web, at("pub/tool")));
    check(&root, at("pub/tool"), NULL);
    agree(&root, KX(&root, at("pub/tool")));
}

Test(reach, symlink_in_an_unreachable_directory)
{
    /* the target is reachable, the directory holding the symlink is not */
    mkd("pub", 0755, "root", "root");
    mkf("pub/tool", 0755, "root", "root", ELF);
    mkd("hidden", 0700, "root", "root");
    mkl(at("pub/tool"), "hidden/link");
    check(&web, at("hidden/link"), NULL);
    expect(REACH_DENIED, at("hidden"));
    cr_assert_str_eq(v.resolved, at("pub/tool"));
    cr_assert(watched(at("hidden")) && watched(at("pub")));
    agree(&web, KX(&web, at("hidden/link")));
}

Test(reach, relative_symlinks_and_dotdot_are_physical)
{
    /* a/dl -> ../x/y ; a/dl/../tool is x/tool (the physical parent), not a/tool */
    mkd("a", 0755, "root", "root");
    mkd("x", 0755, "root", "root");
    mkd("x/y", 0755, "root", "root");
    mkf("x/tool", 0755, "root", "root", ELF);
    mkl("../x/y", "a/dl");
    check(&web, at("a/dl/../tool"), NULL);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.resolved, at("x/tool"));
    agree(&web, KX(&web, at("a/dl/../tool")));
    /* '..' needs search permission too: x/y 0700 blocks x/y/.. */
    cr_assert(chmod(at("x/y"), 0700) == 0);
    check(&web, at("a/dl/../tool"), NULL);
    expect(REACH_DENIED, at("x/y"));
    agree(&web, KX(&web, at("a/dl/../tool")));
    /* a chain of relative links through '..' and '.' */
    cr_assert(chmod(at("x/y"), 0755) == 0);
    mkl("./../../x/./y/../tool", "x/y/l2");
    mkl("../x/y/l2", "a/l1");
    check(&web, at("a/l1"), NULL);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.resolved, at("x/tool"));
    agree(&web, KX(&web, at("a/l1")));
}

Test(reach, symlink_loops_and_the_limit_of_40)
{
    mkl("l2", "l1");
    mkl("l1", "l2");
    check(&web, at("l1"), NULL);
    expect(REACH_LOOP, NULL);
    agree(&web, KX(&web, at("l1")));

    mkf("tool", 0755, "root", "root", ELF);
    /* c0 -> c1 -> ... -> c39 -> tool: 40 links pass; d0 .. d40: 41 do not */
    for (int i = 0; i < 40; i++)
        mkl(i == 39 ? "tool" : fmt("c%d", i + 1), fmt("c%d", i));
    for (int i = 0; i < 41; i++)
        mkl(i == 40 ? "tool" : fmt("d%d", i + 1), fmt("d%d", i));
    check(&web, at("c0"), NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, at("c0")));
    check(&web, at("d0"), NULL);
    expect(REACH_LOOP, at("d40"));
    agree(&web, KX(&web, at("d0")));
}

Test(reach, dangling_symlinks_and_missing_components)
{
    mkl(at("nowhere/tool"), "dang");
    check(&web, at("dang"), NULL);
    expect(REACH_MISSING, at("nowhere"));
    cr_assert_str_eq(v.resolved, "");
    cr_assert(watched(tmp));
    agree(&web, KX(&web, at("dang")));
    /* a file used as a directory */
    mkf("file", 0755, "root", "root", ELF);
    check(&web, at("file/tool"), NULL);
    expect(REACH_MISSING, at("file"));
    agree(&web, KX(&web, at("file/tool")));
    /* a trailing slash on a file */
    check(&web, fmt("%s/", at("file")), NULL);
    expect(REACH_INVALID, at("file"));
    cr_assert_not(KX(&web, fmt("%s/", at("file"))));
    /* a missing file behind a denied directory: the kernel stops at the directory */
    mkd("closed", 0700, "root", "root");
    check(&web, at("closed/none"), NULL);
    expect(REACH_DENIED, at("closed"));
    agree(&web, KX(&web, at("closed/none")));
}

/* --- scripts and interpreters ------------------------------------------------------------- */

Test(reach, interpreter_in_an_unreachable_directory)
{
    mkd("fake", 0700, "root", "root");
    mkf("fake/node", 0755, "root", "root", ELF);
    mkd("app", 0755, "root", "root");
    mkf("app/run.js", 0755, "root", "root",
        fmt("#!%s --harmony\nconsole.log(1)\n", at("fake/node")));
    check(&web, at("app/run.js"), NULL);
    expect(REACH_DENIED, at("fake"));
    cr_assert_str_eq(v.interpreter, at("fake/node"));
    cr_assert(strncmp(v.reason, "interpreter ", 12) == 0, "%s", v.reason);
    cr_assert(watched(at("fake")) && watched(at("app")));
    agree(&web, KXR(&web, at("app/run.js")) && KX(&web, at("fake/node")));
    /* reachable once the directory is */
    cr_assert(chmod(at("fake"), 0711) == 0);
    check(&web, at("app/run.js"), NULL);
    expect(REACH_OK, "");
    agree(&web, KXR(&web, at("app/run.js")) && KX(&web, at("fake/node")));
    /* an interpreter that does not exist */
    mkf("app/gone.js", 0755, "root", "root", fmt("#!%s\n", at("fake/none")));
    check(&web, at("app/gone.js"), NULL);
    expect(REACH_MISSING, at("fake/none"));
    agree(&web, KXR(&web, at("app/gone.js")) && KX(&web, at("fake/none")));
}

Test(reach, env_looks_the_interpreter_up_on_the_path)
{
    mkd("private", 0700, "root", "root");
    mkd("private/bin", 0755, "root", "root");
    mkf("private/bin/node", 0755, "root", "root", ELF);
    mkd("pubbin", 0755, "root", "root");
    mkd("app", 0755, "root", "root");
    mkf("app/cli.js", 0755, "root", "root", "#!/usr/bin/env node\nrequire('x')\n");
    const char *js = at("app/cli.js");

    /* node only behind a 0700 directory */
    const char *path = fmt("%s:%s", at("private/bin"), at("nobin"));
    check(&web, js, path);
    expect(REACH_DENIED, at("private"));
    cr_assert_str_eq(v.env_command, at("private/bin/node"));
    cr_assert(strstr(v.interpreter, "env"), "%s", v.interpreter);
    cr_assert(watched(at("private/bin")));
    agree(&web, KXR(&web, js) && KX(&web, "/usr/bin/env") && KX(&web, at("private/bin/node")));

    /* a reachable node later on the PATH wins, as with execvp */
    mkf("pubbin/node", 0755, "root", "root", "#!/bin/sh\nexit 0\n");
    path = fmt("%s:%s", at("private/bin"), at("pubbin"));
    check(&web, js, path);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.env_command, at("pubbin/node"));
    agree(&web, KXR(&web, js) && KX(&web, "/usr/bin/env") && KXR(&web, at("pubbin/node")));

    /* no node anywhere */
    check(&web, js, at("nobin"));
    expect(REACH_MISSING, NULL);
    cr_assert(strstr(v.reason, fmt("node: not found in PATH %s", at("nobin"))), "%s", v.reason);
    agree(&web, KXR(&web, js) && KX(&web, at("nobin/node")));

    /* env -S with options and assignments */
    mkf("app/s.js", 0755, "root", "root", "#!/usr/bin/env -S -u HOME FOO=1 node --flag\n");
    check(&web, at("app/s.js"), at("pubbin"));
    expect(REACH_OK, "");
    cr_assert_str_eq(v.env_command, at("pubbin/node"));
    agree(&web, KXR(&web, at("app/s.js")) && KXR(&web, at("pubbin/node")));
}

Test(reach, scripts_need_read_permission)
{
    mkd("bin", 0755, "root", "root");
    mkf("bin/xonly.sh", 0711, "root", "root", "#!/bin/sh\nexit 0\n");
    check(&web, at("bin/xonly.sh"), NULL);
    expect(REACH_DENIED, at("bin/xonly.sh"));
    cr_assert(strstr(v.reason, "class other lacks r") &&
                  strstr(v.reason, "a script must be readable"),
              "%s", v.reason);
    cr_assert(KX(&web, at("bin/xonly.sh")), "execute alone is granted");
    agree(&web, KXR(&web, at("bin/xonly.sh")));
    /* a binary needs no read permission */
    mkf("bin/xonly", 0711, "root", "root", ELF);
    check(&web, at("bin/xonly"), NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, at("bin/xonly")));
    /* no x at all */
    mkf("bin/plain", 0644, "root", "root", "#!/bin/sh\n");
    check(&web, at("bin/plain"), NULL);
    expect(REACH_DENIED, at("bin/plain"));
    agree(&web, KXR(&web, at("bin/plain")));
}

Test(reach, nested_interpreters)
{
    /* s2 -> s3 (a script) -> /bin/sh: one nested level is fine */
    mkf("s3", 0755, "root", "root", "#!/bin/sh\nexec \"$@\"\n");
    mkf("s2", 0755, "root", "root", fmt("#!%s\n", at("s3")));
    check(&web, at("s2"), NULL);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.interpreter, at("s3"));
    agree(&web, KXR(&web, at("s2")) && KXR(&web, at("s3")) && KX(&web, "/bin/sh"));
    /* the nested script must be readable too */
    cr_assert(chmod(at("s3"), 0711) == 0);
    check(&web, at("s2"), NULL);
    expect(REACH_DENIED, at("s3"));
    agree(&web, KXR(&web, at("s2")) && KXR(&web, at("s3")));
    cr_assert(chmod(at("s3"), 0755) == 0);
    /* s1 -> s2 -> s3 -> /bin/sh: deeper than the model accepts; the kernel's access(2)
     * checks pass, and reach_kernel_confirm leaves the verdict alone */
    mkf("s1", 0755, "root", "root", fmt("#!%s\n", at("s2")));
    check(&web, at("s1"), NULL);
    expect(REACH_INVALID, at("s3"));
    cr_assert(KXR(&web, at("s1")) && KXR(&web, at("s2")) && KXR(&web, at("s3")));
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert(v.kernel_checked && !v.kernel_disagreed);
    expect(REACH_INVALID, at("s3"));
}

Test(reach, malformed_and_relative_interpreters)
{
    mkf("blank", 0755, "root", "root", "#!   \t \n");
    check(&web, at("blank"), NULL);
    expect(REACH_INVALID, at("blank"));
    mkf("rel", 0755, "root", "root", "#!bin/node\n");
    check(&web, at("rel"), NULL);
    expect(REACH_INVALID, at("rel"));
    cr_assert(strstr(v.reason, "relative interpreter bin/node"), "%s", v.reason);
    /* a #! line without a newline: the name ends at the end of the file */
    mkf("nonl", 0755, "root", "root", "#!/bin/sh");
    check(&web, at("nonl"), NULL);
    expect(REACH_OK, "");
    agree(&web, KXR(&web, at("nonl")) && KX(&web, "/bin/sh"));
    /* an interpreter name cut by the 256-byte buffer: the kernel refuses it */
    char longline[400] = "#!/";
    memset(longline + 3, 'a', 300);
    longline[303] = '\0';
    mkf("cut", 0755, "root", "root", longline);
    check(&web, at("cut"), NULL);
    expect(REACH_INVALID, at("cut"));
}

/* --- commands as written ------------------------------------------------------------------ */

Test(reach, bare_names_on_the_path)
{
    mkd("p2", 0755, "root", "root");
    mkd("p3", 0755, "root", "root");
    mkf("p2/tool", 0644, "root", "root", ELF);
    mkf("p3/tool", 0755, "root", "root", ELF);
    mkf("p2/only", 0644, "root", "root", ELF);
    const char *path = fmt("%s:%s:relative::%s", at("p1"), at("p2"), at("p3"));
    /* p1 does not exist, p2/tool is not executable: execvp runs p3/tool */
    check(&web, "tool", path);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.resolved, at("p3/tool"));
    cr_assert(watched(at("p2")) && watched(at("p3")) && watched(tmp));
    cr_assert_not(KX(&web, at("p2/tool")));
    agree(&web, KX(&web, at("p3/tool")));
    /* found but never executable: the first denial */
    check(&web, "only", path);
    expect(REACH_DENIED, at("p2/only"));
    agree(&web, KX(&web, at("p2/only")));
    /* found nowhere */
    check(&web, "nosuch", path);
    expect(REACH_MISSING, "");
    cr_assert_str_eq(v.reason, fmt("nosuch: not found in PATH %s", path));
    agree(&web,
          KX(&web, at("p1/nosuch")) || KX(&web, at("p2/nosuch")) || KX(&web, at("p3/nosuch")));
    /* the default PATH finds the real env */
    check(&web, "env", NULL);
    expect(REACH_OK, "");
    agree(&web, KX(&web, v.resolved));
}

Test(reach, invalid_commands)
{
    check(&web, "", NULL);
    expect(REACH_INVALID, "");
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert_not(v.kernel_checked);
    check(&web, "bin/kimaki", NULL);
    expect(REACH_INVALID, "");
    cr_assert(strstr(v.reason, "relative path"), "%s", v.reason);
    /* a directory: searchable (test -x says yes) but not executable (not a regular file) */
    mkd("dir", 0755, "root", "root");
    check(&web, at("dir"), NULL);
    expect(REACH_INVALID, at("dir"));
    cr_assert(KX(&web, at("dir")) && !kernel(&web, "-f", at("dir")));
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert(v.kernel_checked && !v.kernel_disagreed);
    expect(REACH_INVALID, at("dir"));
    cr_assert_str_eq(reach_status_name(REACH_OK), "ok");
    cr_assert_str_eq(reach_status_name(REACH_NOEXEC), "noexec");
}

Test(reach, root_bypasses_except_for_files_without_x)
{
    mkd("r0", 0000, "www-data", "www-data");
    mkf("r0/tool", 0100, "www-data", "www-data", ELF);
    mkf("r0/data", 0644, "root", "root", ELF);
    check(&root, at("r0/tool"), NULL);
    expect(REACH_OK, "");
    agree(&root, KX(&root, at("r0/tool")));
    check(&root, at("r0/data"), NULL);
    expect(REACH_DENIED, at("r0/data"));
    cr_assert(strstr(v.reason, "no execute bit is set"), "%s", v.reason);
    agree(&root, KX(&root, at("r0/data")));
    check(&web, at("r0/tool"), NULL); /* www-data owns r0 but mode 0000 */
    expect(REACH_DENIED, at("r0"));
    agree(&web, KX(&web, at("r0/tool")));
}

/* --- noexec ------------------------------------------------------------------------------- */

/* What the child of the noexec test saw (it cannot use Criterion's assertions). */
struct noexec_report {
    int err; /* errno of a failed setup step, else 0 */
    enum reach_status tool, script, tool_after;
    int tool_kernel, script_kernel, interp_kernel, confirm_rc;
    bool disagreed;
    char blocked[PATH_MAX], interp[PATH_MAX];
};

Test(reach, noexec_mount_in_a_private_namespace)
{
    mkd("mnt", 0755, "root", "root");
    mkd("app", 0755, "root", "root");
    const char *mnt = at("mnt"), *tool = at("mnt/tool"), *script = at("app/run");
    struct noexec_report *rep =
        mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(rep != MAP_FAILED);
    memset(rep, 0, sizeof(*rep));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) { /* never mount in the host's namespace: this child has its own */
        struct reach_verdict cv;
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", mnt, "tmpfs", MS_NOEXEC | MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
            rep->err = errno;
            _exit(1);
        }
        FILE *f = fopen(tool, "w");
        if (!f || fputs(ELF, f) < 0 || fclose(f) != 0 || chmod(tool, 0755) < 0 ||
            !(f = fopen(script, "w")) || fprintf(f, "#!%s\n", tool) < 0 || fclose(f) != 0 ||
            chmod(script, 0755) < 0) {
            rep->err = errno;
            _exit(1);
        }
        if (reach_check(&web, tool, NULL, &cv) < 0)
            _exit(1);
        rep->tool = cv.status;
        snprintf(rep->blocked, sizeof(rep->blocked), "%s", cv.blocked_at);
        rep->tool_kernel = kernel_run(&web, "-x", tool);
        rep->confirm_rc = reach_kernel_confirm(&web, &cv);
        rep->disagreed = cv.kernel_disagreed;
        rep->tool_after = cv.status;
        reach_verdict_free(&cv);
        if (reach_check(&web, script, NULL, &cv) < 0)
            _exit(1);
        rep->script = cv.status;
        snprintf(rep->interp, sizeof(rep->interp), "%s", cv.interpreter);
        rep->script_kernel = kernel_run(&web, "-x", script);
        rep->interp_kernel = kernel_run(&web, "-x", tool);
        reach_verdict_free(&cv);
        umount(mnt);
        _exit(0);
    }
    int st;
    cr_assert(waitpid(pid, &st, 0) == pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed: %s", strerror(rep->err));
    /* the host never saw the mount */
    struct stat a, b;
    cr_assert(stat(mnt, &a) == 0 && stat(tmp, &b) == 0 && a.st_dev == b.st_dev);
    cr_assert(access(tool, F_OK) < 0);

    cr_assert_eq(rep->tool, REACH_NOEXEC, "%s", reach_status_name(rep->tool));
    cr_assert_str_eq(rep->blocked, tool);
    cr_assert_eq(rep->tool_kernel, 1, "the kernel refuses x on a noexec mount");
    cr_assert_eq(rep->confirm_rc, 0);
    cr_assert_not(rep->disagreed);
    cr_assert_eq(rep->tool_after, REACH_NOEXEC);
    cr_assert_eq(rep->script, REACH_NOEXEC, "%s", reach_status_name(rep->script));
    cr_assert_str_eq(rep->interp, tool);
    cr_assert_eq(rep->script_kernel, 0, "the script itself is executable");
    cr_assert_eq(rep->interp_kernel, 1, "its interpreter is not");
    munmap(rep, sizeof(*rep));
}

/* --- the incident ------------------------------------------------------------------------- */

Test(reach, seed_kimaki_root_install_and_npm_global_symlink)
{
    /* /root/.kimaki/bin/kimaki on a RUN_AS_ROOT install, /root 0700 */
    mkd("root", 0700, "root", "root");
    mkd("root/.kimaki", 0755, "root", "root");
    mkd("root/.kimaki/bin", 0755, "root", "root");
    mkf("root/.kimaki/bin/kimaki", 0755, "root", "root", "#!/usr/bin/env node\n");
    /* /usr/bin/kimaki -> ../lib/node_modules/kimaki/bin/kimaki.js, #!/usr/bin/env node */
    mkd("usr", 0755, "root", "root");
    mkd("usr/bin", 0755, "root", "root");
    mkd("usr/lib", 0755, "root", "root");
    mkd("usr/lib/node_modules", 0755, "root", "root");
    mkd("usr/lib/node_modules/kimaki", 0755, "root", "root");
    mkd("usr/lib/node_modules/kimaki/bin", 0755, "root", "root");
    mkf("usr/lib/node_modules/kimaki/bin/kimaki.js", 0755, "root", "root",
        "#!/usr/bin/env node\nimport('../dist/cli.js')\n");
    mkl("../lib/node_modules/kimaki/bin/kimaki.js", "usr/bin/kimaki");
    mkf("usr/bin/node", 0755, "root", "root", ELF);
    const char *path = fmt("%s:%s:/usr/bin:/bin", at("root/.kimaki/bin"), at("usr/bin"));
    const char *js = at("usr/lib/node_modules/kimaki/bin/kimaki.js");

    check(&web, at("root/.kimaki/bin/kimaki"), path);
    expect(REACH_DENIED, at("root"));
    cr_assert_str_eq(v.reason, fmt("%s: mode 0700 root:root, www-data is not owner and not in "
                                   "group root (class other lacks x)",
                                   at("root")));
    agree(&web, KXR(&web, at("root/.kimaki/bin/kimaki")));

    check(&web, at("usr/bin/kimaki"), path);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.resolved, js);
    cr_assert_str_eq(v.env_command, at("usr/bin/node"));
    cr_assert(watched(at("usr/bin")) && watched(at("usr/lib/node_modules/kimaki/bin")));
    agree(&web, KXR(&web, at("usr/bin/kimaki")) && KX(&web, "/usr/bin/env") &&
                    KX(&web, at("usr/bin/node")));

    /* the bare name with root's PATH order: execvp skips the trapped copy */
    check(&web, "kimaki", path);
    expect(REACH_OK, "");
    cr_assert_str_eq(v.resolved, js);
    agree(&web, KXR(&web, at("usr/bin/kimaki")));

    /* the stopgap's blind spot: the npm tree made private below a world-searchable /usr */
    cr_assert(chmod(at("usr/lib/node_modules"), 0750) == 0);
    check(&web, "kimaki", path);
    expect(REACH_DENIED, at("root"));
    agree(&web, KXR(&web, at("root/.kimaki/bin/kimaki")) || KXR(&web, at("usr/bin/kimaki")));
    check(&web, at("usr/bin/kimaki"), path);
    expect(REACH_DENIED, at("usr/lib/node_modules"));
    agree(&web, KXR(&web, at("usr/bin/kimaki")));
}

/* --- the kernel wins ---------------------------------------------------------------------- */

Test(reach, kernel_confirm_overrides_a_stale_model)
{
    mkd("pub", 0755, "root", "root");
    mkd("pub/bin", 0755, "root", "root");
    mkf("pub/bin/tool", 0755, "root", "root", ELF);
    check(&web, at("pub/bin/tool"), NULL);
    expect(REACH_OK, "");
    /* the tree changes after the model looked: the kernel's answer wins */
    cr_assert(chmod(at("pub"), 0700) == 0);
    cr_assert_not(KX(&web, at("pub/bin/tool")));
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert(v.kernel_checked && v.kernel_disagreed);
    expect(REACH_DENIED, at("pub"));
    cr_assert(strncmp(v.reason, "kernel says access(", 19) == 0, "%s", v.reason);
    cr_assert(strstr(v.reason, "Permission denied") && strstr(v.reason, "; model said ok"), "%s",
              v.reason);

    /* and the other way round */
    check(&web, at("pub/bin/tool"), NULL);
    expect(REACH_DENIED, at("pub"));
    cr_assert(chmod(at("pub"), 0755) == 0);
    cr_assert(KX(&web, at("pub/bin/tool")));
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert(v.kernel_checked && v.kernel_disagreed);
    expect(REACH_OK, "");
    cr_assert(strncmp(v.reason, "kernel says www-data may execute it", 35) == 0, "%s", v.reason);
    cr_assert(strstr(v.reason, fmt("model said denied at %s: %s: mode 0700", at("pub"), at("pub"))),
              "%s", v.reason);

    /* a script made unreadable after the model looked: the R_OK check catches it */
    mkf("pub/bin/s", 0755, "root", "root", "#!/bin/sh\n");
    check(&web, at("pub/bin/s"), NULL);
    expect(REACH_OK, "");
    cr_assert(chmod(at("pub/bin/s"), 0711) == 0);
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert(v.kernel_disagreed);
    expect(REACH_DENIED, at("pub/bin/s"));
    cr_assert(strstr(v.reason, "R_OK"), "%s", v.reason);
}

Test(reach, kernel_confirm_names_the_directory_on_the_symlink_path)
{
    mkd("pub", 0755, "root", "root");
    mkf("pub/tool", 0755, "root", "root", ELF);
    mkd("links", 0755, "root", "root");
    mkl(at("pub/tool"), "links/tool");
    check(&web, at("links/tool"), NULL);
    expect(REACH_OK, "");
    cr_assert(chmod(at("links"), 0700) == 0);
    cr_assert(reach_kernel_confirm(&web, &v) == 0);
    cr_assert(v.kernel_disagreed);
    expect(REACH_DENIED, at("links"));
    check(&web, at("links/tool"), NULL);
    expect(REACH_DENIED, at("links"));
    agree(&web, KX(&web, at("links/tool")));
}

Test(reach, kernel_confirm_uses_supplementary_groups)
{
    /* opencode reaches a group-only directory through its supplementary group www-data: the
     * child must have set the groups (setgroups), not only the uid and gid */
    mkd("grp", 0710, "root", "www-data");
    mkf("grp/tool", 0750, "root", "www-data", ELF);
    check(&oc, at("grp/tool"), NULL);
    expect(REACH_OK, "");
    agree(&oc, KX(&oc, at("grp/tool")));
    struct principal nogroups = oc;
    gid_t own_only = oc.gid;
    nogroups.groups = &own_only;
    nogroups.ngroups = 1;
    cr_assert(reach_kernel_confirm(&nogroups, &v) == 0);
    cr_assert(v.kernel_disagreed, "without www-data the kernel must refuse");
    expect(REACH_DENIED, at("grp"));
}
