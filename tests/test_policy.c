/* Unit tests of policy_match, policy_evaluate and policy_target_mode. Rules, configs and
 * principals are built by hand: nothing here depends on NSS or the file system. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "policy.h"

/* --- fixtures ----------------------------------------------------------------------------- */

/* www-data (33:33), also in the supplementary group 1500; opencode is uid 1001. */
static gid_t web_groups[] = {33, 1500};
static struct principal web = {
    .name = "www-data", .uid = 33, .gid = 33, .ngroups = 2, .groups = web_groups};
static gid_t root_groups[] = {0};
static struct principal web_root = {
    .name = "root", .uid = 0, .gid = 0, .ngroups = 1, .groups = root_groups};

static char *site_match[] = {"**"};
static char *site_owner_names[] = {"www-data", "opencode"};
static uid_t site_owners[] = {33, 1001};
static char *site_group_names[] = {"www-data"};
static gid_t site_groups[] = {33};

/* The PRODUCT.md `site` rule with dir_forbid added. */
static struct rule site = {
    .name = "site",
    .match = site_match,
    .nmatch = 1,
    .owner_names = site_owner_names,
    .owners = site_owners,
    .nowners = 2,
    .group_names = site_group_names,
    .groups = site_groups,
    .ngroups = 1,
    .file_require = 0660,
    .file_forbid = 0002,
    .dir_require = 0770,
    .dir_forbid = 0002,
    .web_readable = true,
    .repair = REPAIR_AUTO,
};

/* A rule that checks only web readability. */
static struct rule web_only = {
    .name = "web", .match = site_match, .nmatch = 1, .web_readable = true};

static struct stat mkstat(mode_t mode, uid_t uid, gid_t gid)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_mode = mode;
    st.st_uid = uid;
    st.st_gid = gid;
    return st;
}

/* Evaluate and return the count; OUT is filled with sentinel bytes first so that a field the
 * module forgets to set shows up. */
static size_t eval(const struct rule *r, const struct principal *p, mode_t mode, uid_t uid,
                   gid_t gid, struct finding *out)
{
    struct stat st = mkstat(mode, uid, gid);
    memset(out, 0xa5, sizeof(struct finding) * FINDING_KIND_COUNT);
    return policy_evaluate(r, p, &st, out);
}

/* Common fields every policy finding must carry. */
static void check_common(const struct finding *f, enum finding_kind kind, const struct rule *r,
                         mode_t mode, uid_t uid, gid_t gid)
{
    cr_assert_eq(f->kind, kind, "kind %d, want %d", f->kind, kind);
    cr_assert_eq(f->rule, r->name);
    cr_assert(f->has_stat);
    cr_assert_eq(f->is_dir, S_ISDIR(mode));
    cr_assert_eq(f->uid, uid);
    cr_assert_eq(f->gid, gid);
    cr_assert_eq(f->mode, mode & 07777, "mode %o", (unsigned)f->mode);
    cr_assert_null(f->path);
    cr_assert_null(f->owner);
    cr_assert_null(f->group);
    cr_assert_null(f->channel);
    cr_assert_null(f->command);
    cr_assert_null(f->blocked_at);
}

static bool has_kind(const struct finding *f, size_t n, enum finding_kind k)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].kind == k)
            return true;
    return false;
}

/* --- policy_match ------------------------------------------------------------------------- */

static char *m_wpconfig[] = {"wp-config.php"};
static char *m_uploads[] = {"wp-content/uploads/**"};
static char *m_all[] = {"**"};
static struct rule order_rules[] = {
    {.name = "wp-config", .match = m_wpconfig, .nmatch = 1},
    {.name = "uploads", .match = m_uploads, .nmatch = 1, .ignore = true},
    {.name = "site", .match = m_all, .nmatch = 1},
};
static struct config order_cfg = {.rules = order_rules, .nrules = 3};

Test(policy_match, first_rule_in_file_order_wins)
{
    cr_assert_eq(policy_match(&order_cfg, "wp-config.php"), &order_rules[0]);
    cr_assert_eq(policy_match(&order_cfg, "index.php"), &order_rules[2]);
    cr_assert_eq(policy_match(&order_cfg, "wp-content/plugins/a/a.php"), &order_rules[2]);
    cr_assert_eq(policy_match(&order_cfg, ""), &order_rules[2]);
    /* a nested wp-config.php is not the top-level one */
    cr_assert_eq(policy_match(&order_cfg, "sub/wp-config.php"), &order_rules[2]);
}

Test(policy_match, ignore_rule_shadows_later_rules)
{
    const struct rule *r = policy_match(&order_cfg, "wp-content/uploads/2024/05/a.jpg");
    cr_assert_eq(r, &order_rules[1]);
    cr_assert(r->ignore);
    /* a trailing `**` component matches the directory itself, so the subtree root is pruned too */
    cr_assert_eq(policy_match(&order_cfg, "wp-content/uploads"), &order_rules[1]);
    cr_assert_eq(policy_match(&order_cfg, "wp-content/uploadsx"), &order_rules[2]);
    cr_assert_eq(policy_match(&order_cfg, "wp-content"), &order_rules[2]);
}

/* The second rule has a NULL glob array: consulting it would crash the test. */
static char *m_php[] = {"*.php"};
static struct rule poisoned_rules[] = {
    {.name = "php", .match = m_php, .nmatch = 1},
    {.name = "poison", .match = NULL, .nmatch = 3},
};
static struct config poisoned_cfg = {.rules = poisoned_rules, .nrules = 2};

Test(policy_match, later_rule_not_consulted)
{
    cr_assert_eq(policy_match(&poisoned_cfg, "index.php"), &poisoned_rules[0]);
    cr_assert_eq(policy_match(&poisoned_cfg, "wp-login.php"), &poisoned_rules[0]);
}

static char *m_multi[] = {"*.php", "wp-content/mu-plugins/**", ".htaccess"};
static char *m_star[] = {"*"};
static struct rule multi_rules[] = {
    {.name = "multi", .match = m_multi, .nmatch = 3},
    {.name = "top", .match = m_star, .nmatch = 1},
};
static struct config multi_cfg = {.rules = multi_rules, .nrules = 2};

Test(policy_match, any_glob_of_a_rule_matches)
{
    cr_assert_eq(policy_match(&multi_cfg, "index.php"), &multi_rules[0]);
    cr_assert_eq(policy_match(&multi_cfg, "wp-content/mu-plugins/a/b.js"), &multi_rules[0]);
    cr_assert_eq(policy_match(&multi_cfg, "wp-content/mu-plugins"), &multi_rules[0]);
    cr_assert_eq(policy_match(&multi_cfg, ".htaccess"), &multi_rules[0]);
    cr_assert_eq(policy_match(&multi_cfg, "readme.txt"), &multi_rules[1]);
    cr_assert_null(policy_match(&multi_cfg, "wp-content/readme.txt"));
    cr_assert_null(policy_match(&multi_cfg, ""));
}

static char *m_logs[] = {"**/*.log"};
static char *m_content[] = {"wp-content/**"};
static struct rule star_rules[] = {
    {.name = "logs", .match = m_logs, .nmatch = 1},
    {.name = "content", .match = m_content, .nmatch = 1},
};
static struct config star_cfg = {.rules = star_rules, .nrules = 2};

Test(policy_match, double_star_rules)
{
    cr_assert_eq(policy_match(&star_cfg, "debug.log"), &star_rules[0]);
    cr_assert_eq(policy_match(&star_cfg, "wp-content/debug.log"), &star_rules[0]);
    cr_assert_eq(policy_match(&star_cfg, "a/b/c/x.log"), &star_rules[0]);
    cr_assert_eq(policy_match(&star_cfg, "wp-content"), &star_rules[1]);
    cr_assert_eq(policy_match(&star_cfg, "wp-content/themes/t/style.css"), &star_rules[1]);
    cr_assert_null(policy_match(&star_cfg, "wp-includes/version.php"));
    cr_assert_null(policy_match(&star_cfg, ""));
}

Test(policy_match, no_rules_no_match)
{
    struct config empty = {.rules = NULL, .nrules = 0};
    cr_assert_null(policy_match(&empty, "index.php"));
    cr_assert_null(policy_match(&empty, ""));
}

/* --- policy_evaluate: healthy objects and what is never evaluated -------------------------- */

Test(policy_evaluate, healthy_file_and_dirs_have_no_findings)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0664, 33, 33, f), 0);
    cr_assert_eq(eval(&site, &web, S_IFREG | 0660, 1001, 33, f), 0); /* second owner */
    cr_assert_eq(eval(&site, &web, S_IFDIR | 0775, 33, 33, f), 0);
    cr_assert_eq(eval(&site, &web, S_IFDIR | 02775, 1001, 33, f), 0);
}

Test(policy_evaluate, symlinks_yield_nothing)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFLNK | 0777, 0, 0, f), 0);
    cr_assert_eq(eval(&site, &web, S_IFLNK | 0000, 0, 0, f), 0);
}

/* --- special_file: device nodes, FIFOs and sockets ------------------------------------------ */

/* Each is exactly one special_file finding, whoever owns it and whatever its mode: no owner,
 * group or mode findings (they are never repaired). */
Test(policy_evaluate, special_files_are_one_finding_each)
{
    struct finding f[FINDING_KIND_COUNT];
    const mode_t types[] = {S_IFSOCK, S_IFIFO, S_IFCHR, S_IFBLK};
    const char *names[] = {"a socket", "a FIFO", "a character device", "a block device"};
    const uid_t uids[] = {0, 33, 1000};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        for (size_t u = 0; u < sizeof(uids) / sizeof(uids[0]); u++) {
            for (mode_t m = 0; m <= 07777; m += 0111) {
                cr_assert_eq(eval(&site, &web, types[i] | m, uids[u], uids[u], f), 1, "type %o",
                             (unsigned)types[i]);
                check_common(&f[0], FINDING_SPECIAL_FILE, &site, types[i] | m, uids[u], uids[u]);
                cr_assert_str_eq(f[0].expected, "a regular file or directory");
                cr_assert_eq(strncmp(f[0].reason, names[i], strlen(names[i])), 0, "%s",
                             f[0].reason);
                cr_assert(strstr(f[0].reason, "a web site needs no device nodes, FIFOs or sockets"),
                          "%s", f[0].reason);
            }
        }
    }
    /* under a rule that checks nothing else, too */
    cr_assert_eq(eval(&web_only, &web, S_IFIFO | 0600, 33, 33, f), 1);
    cr_assert_eq(f[0].kind, FINDING_SPECIAL_FILE);
}

Test(policy_evaluate, device_numbers_in_the_reason)
{
    struct stat st = mkstat(S_IFCHR | 0666, 0, 0);
    st.st_rdev = makedev(1, 3); /* /dev/null */
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(policy_evaluate(&site, &web, &st, f), 1);
    cr_assert_str_eq(f[0].reason,
                     "a character device (device 1:3); a web site needs no device nodes, FIFOs "
                     "or sockets (never repaired: remove it, or exclude it with an ignore rule if "
                     "it is meant to be there)");
    st = mkstat(S_IFBLK | 0660, 0, 6);
    st.st_rdev = makedev(259, 65536);
    cr_assert_eq(policy_evaluate(&site, &web, &st, f), 1);
    cr_assert(strstr(f[0].reason, "a block device (device 259:65536);"), "%s", f[0].reason);
}

Test(policy_evaluate, special_files_under_ignore_or_no_rule_yield_nothing)
{
    struct rule ign = site;
    ign.ignore = true;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&ign, &web, S_IFCHR | 0666, 0, 0, f), 0);
    cr_assert_eq(eval(NULL, &web, S_IFIFO | 0666, 0, 0, f), 0);
}

/* --- setid: set-id regular files ---------------------------------------------------------- */

Test(policy_evaluate, setuid_root_file_is_a_setid_finding_last)
{
    struct finding f[FINDING_KIND_COUNT];
    /* the 4755 root binary of issue 9: root_owned, group_mismatch, mode_mismatch, setid */
    cr_assert_eq(eval(&site, &web, S_IFREG | 04755, 0, 0, f), 4);
    check_common(&f[0], FINDING_ROOT_OWNED, &site, S_IFREG | 04755, 0, 0);
    check_common(&f[2], FINDING_MODE_MISMATCH, &site, S_IFREG | 04755, 0, 0);
    cr_assert_str_eq(f[2].expected, "0775"); /* the repair's target has no set-id bit */
    check_common(&f[3], FINDING_SETID, &site, S_IFREG | 04755, 0, 0);
    cr_assert_str_eq(f[3].expected, "no setuid or setgid bit");
    cr_assert_str_eq(f[3].reason, "setuid: runs with the rights of uid 0 (root); a web site has "
                                  "no use for set-id programs");
}

Test(policy_evaluate, setid_finding_alone_and_with_both_bits)
{
    struct finding f[FINDING_KIND_COUNT];
    /* otherwise healthy: setid is the only finding */
    cr_assert_eq(eval(&site, &web, S_IFREG | 02664, 33, 33, f), 1);
    check_common(&f[0], FINDING_SETID, &site, S_IFREG | 02664, 33, 33);
    cr_assert_str_eq(f[0].reason, "setgid: runs with the rights of gid 33; a web site has no use "
                                  "for set-id programs");
    cr_assert_eq(eval(&site, &web, S_IFREG | 06775, 33, 0, f), 2);
    check_common(&f[1], FINDING_SETID, &site, S_IFREG | 06775, 33, 0);
    cr_assert_str_eq(f[1].reason, "setuid: runs with the rights of uid 33; setgid: runs with the "
                                  "rights of gid 0 (root); a web site has no use for set-id "
                                  "programs");
    /* under a rule that checks nothing else */
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 04755, 0, 0, f), 1);
    cr_assert_eq(f[0].kind, FINDING_SETID);
    /* the maximum: five findings */
    cr_assert_eq(eval(&site, &web, S_IFREG | 06700, 0, 0, f), 5);
    cr_assert_eq(f[4].kind, FINDING_SETID);
}

Test(policy_evaluate, setgid_directories_and_sticky_files_are_fine)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFDIR | 02775, 33, 33, f), 0);
    cr_assert_eq(eval(&site, &web, S_IFDIR | 06775, 33, 33, f), 0);
    cr_assert_eq(eval(&site, &web, S_IFREG | 01664, 33, 33, f), 0);
}

Test(policy_evaluate, ignore_rule_yields_nothing)
{
    struct rule ign = site;
    ign.ignore = true;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&ign, &web, S_IFREG | 0000, 0, 0, f), 0);
    cr_assert_eq(eval(&ign, &web, S_IFDIR | 0777, 0, 0, f), 0);
    /* the same object under the non-ignore rule is full of findings */
    cr_assert_eq(eval(&site, &web, S_IFREG | 0000, 0, 0, f), 4);
}

Test(policy_evaluate, null_rule_yields_nothing)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(NULL, &web, S_IFREG | 0000, 0, 0, f), 0);
}

/* --- owner -------------------------------------------------------------------------------- */

Test(policy_evaluate, root_owned_file)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0664, 0, 33, f), 1);
    check_common(&f[0], FINDING_ROOT_OWNED, &site, S_IFREG | 0664, 0, 33);
    cr_assert_str_eq(f[0].expected, "www-data, opencode");
    cr_assert_str_eq(f[0].reason, "owned by uid 0 (root); rule site allows www-data, opencode");
}

Test(policy_evaluate, root_owned_dir)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFDIR | 02775, 0, 33, f), 1);
    check_common(&f[0], FINDING_ROOT_OWNED, &site, S_IFDIR | 02775, 0, 33);
    cr_assert(f[0].is_dir);
    cr_assert_eq(f[0].mode, 02775);
}

Test(policy_evaluate, owner_mismatch_file_and_dir)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0664, 1000, 33, f), 1);
    check_common(&f[0], FINDING_OWNER_MISMATCH, &site, S_IFREG | 0664, 1000, 33);
    cr_assert_str_eq(f[0].expected, "www-data, opencode");
    cr_assert_str_eq(f[0].reason, "owned by uid 1000; rule site allows www-data, opencode");

    cr_assert_eq(eval(&site, &web, S_IFDIR | 0775, 1000, 33, f), 1);
    check_common(&f[0], FINDING_OWNER_MISMATCH, &site, S_IFDIR | 0775, 1000, 33);
}

Test(policy_evaluate, root_allowed_as_owner_is_no_finding)
{
    static char *names[] = {"root"};
    static uid_t ids[] = {0};
    struct rule r = site;
    r.owner_names = names;
    r.owners = ids;
    r.nowners = 1;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 0, 33, f), 0);
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 33, 33, f), 1);
    cr_assert_eq(f[0].kind, FINDING_OWNER_MISMATCH);
    cr_assert_str_eq(f[0].reason, "owned by uid 33; rule site allows root");
}

Test(policy_evaluate, empty_owner_and_group_lists_are_not_checked)
{
    struct rule r = site;
    r.nowners = 0;
    r.ngroups = 0;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 0, 0, f), 0);
}

Test(policy_evaluate, numeric_ids_when_names_missing)
{
    struct rule r = site;
    r.owner_names = NULL;
    r.group_names = NULL;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 7, 8, f), 2);
    cr_assert_str_eq(f[0].expected, "33, 1001");
    cr_assert_str_eq(f[0].reason, "owned by uid 7; rule site allows 33, 1001");
    cr_assert_str_eq(f[1].expected, "33");

    static char *partial[] = {"www-data", NULL};
    r.owner_names = partial;
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 7, 33, f), 1);
    cr_assert_str_eq(f[0].expected, "www-data, 1001");
}

Test(policy_evaluate, long_owner_list_is_cut_with_ellipsis)
{
    static char *names[40];
    static uid_t ids[40];
    for (size_t i = 0; i < 40; i++) {
        names[i] = "a-rather-long-user-name";
        ids[i] = (uid_t)(2000 + i);
    }
    struct rule r = site;
    r.owner_names = names;
    r.owners = ids;
    r.nowners = 40;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 0, 33, f), 1);
    size_t n = strlen(f[0].expected);
    cr_assert_eq(n, sizeof(f[0].expected) - 1);
    cr_assert_str_eq(f[0].expected + n - 3, "...");
    cr_assert_eq(strncmp(f[0].expected, "a-rather-long-user-name, a-rather", 33), 0);
    n = strlen(f[0].reason);
    cr_assert_eq(n, sizeof(f[0].reason) - 1);
    cr_assert_str_eq(f[0].reason + n - 3, "...");
}

/* --- group -------------------------------------------------------------------------------- */

Test(policy_evaluate, group_mismatch_file_gid0_is_not_root_owned)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0664, 33, 0, f), 1);
    check_common(&f[0], FINDING_GROUP_MISMATCH, &site, S_IFREG | 0664, 33, 0);
    cr_assert_str_eq(f[0].expected, "www-data");
    cr_assert_str_eq(f[0].reason, "group gid 0; rule site allows group www-data");
}

Test(policy_evaluate, group_mismatch_dir)
{
    struct finding f[FINDING_KIND_COUNT];
    /* 0775: other still grants r and x, so the web user can list it */
    cr_assert_eq(eval(&site, &web, S_IFDIR | 0775, 1001, 1001, f), 1);
    check_common(&f[0], FINDING_GROUP_MISMATCH, &site, S_IFDIR | 0775, 1001, 1001);
    cr_assert_str_eq(f[0].reason, "group gid 1001; rule site allows group www-data");
}

Test(policy_evaluate, group_list_several_names)
{
    static char *names[] = {"www-data", "opencode"};
    static gid_t ids[] = {33, 1001};
    struct rule r = site;
    r.group_names = names;
    r.groups = ids;
    r.ngroups = 2;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 33, 1001, f), 0);
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 33, 5, f), 1);
    cr_assert_str_eq(f[0].expected, "www-data, opencode");
    cr_assert_str_eq(f[0].reason, "group gid 5; rule site allows group www-data, opencode");
}

/* --- mode --------------------------------------------------------------------------------- */

Test(policy_evaluate, mode_mismatch_file_missing_bit)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0644, 1001, 33, f), 1);
    check_common(&f[0], FINDING_MODE_MISMATCH, &site, S_IFREG | 0644, 1001, 33);
    cr_assert_str_eq(f[0].expected, "0664");
    cr_assert_str_eq(f[0].reason, "missing 0020 (group write)");
}

Test(policy_evaluate, mode_mismatch_file_forbidden_bit)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0666, 33, 33, f), 1);
    check_common(&f[0], FINDING_MODE_MISMATCH, &site, S_IFREG | 0666, 33, 33);
    cr_assert_str_eq(f[0].expected, "0664");
    cr_assert_str_eq(f[0].reason, "forbidden 0002 (world write) is set");
}

Test(policy_evaluate, mode_mismatch_file_both)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0646, 33, 33, f), 1);
    cr_assert_str_eq(f[0].expected, "0664");
    cr_assert_str_eq(f[0].reason,
                     "missing 0020 (group write); forbidden 0002 (world write) is set");
}

Test(policy_evaluate, mode_mismatch_names_every_bit)
{
    struct rule r = site;
    r.file_require = 0664;
    r.file_forbid = 06003;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 04603, 33, 33, f), 2);
    cr_assert_str_eq(f[0].expected, "0664"); /* setuid was set, but it is forbidden */
    cr_assert_str_eq(f[0].reason, "missing 0064 (group read, group write, world read); "
                                  "forbidden 4003 (setuid, world write, world execute) is set");
    cr_assert_eq(f[1].kind, FINDING_SETID);
}

Test(policy_evaluate, mode_mismatch_dir)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFDIR | 0755, 33, 33, f), 1);
    check_common(&f[0], FINDING_MODE_MISMATCH, &site, S_IFDIR | 0755, 33, 33);
    cr_assert_str_eq(f[0].expected, "0775");
    cr_assert_str_eq(f[0].reason, "missing 0020 (group write)");

    cr_assert_eq(eval(&site, &web, S_IFDIR | 02777, 33, 33, f), 1);
    cr_assert_str_eq(f[0].expected, "2775");
    cr_assert_str_eq(f[0].reason, "forbidden 0002 (world write) is set");
}

Test(policy_evaluate, dir_uses_dir_bits_and_file_uses_file_bits)
{
    struct rule r = site;
    r.file_require = 0;
    r.file_forbid = 0;
    r.dir_require = 0;
    r.dir_forbid = 0001;
    r.web_readable = false;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0665, 33, 33, f), 0);
    cr_assert_eq(eval(&r, &web, S_IFDIR | 0775, 33, 33, f), 1);
    cr_assert_eq(f[0].kind, FINDING_MODE_MISMATCH);
    cr_assert_str_eq(f[0].expected, "0774");

    r.dir_forbid = 0;
    r.file_require = 0100;
    cr_assert_eq(eval(&r, &web, S_IFDIR | 0664, 33, 33, f), 0);
    cr_assert_eq(eval(&r, &web, S_IFREG | 0664, 33, 33, f), 1);
    cr_assert_str_eq(f[0].reason, "missing 0100 (owner execute)");
}

/* --- all kinds, their order --------------------------------------------------------------- */

Test(policy_evaluate, four_findings_in_order_file)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFREG | 0600, 0, 0, f), 4);
    check_common(&f[0], FINDING_ROOT_OWNED, &site, S_IFREG | 0600, 0, 0);
    check_common(&f[1], FINDING_GROUP_MISMATCH, &site, S_IFREG | 0600, 0, 0);
    check_common(&f[2], FINDING_MODE_MISMATCH, &site, S_IFREG | 0600, 0, 0);
    check_common(&f[3], FINDING_WEB_UNREADABLE, &site, S_IFREG | 0600, 0, 0);
    cr_assert_str_eq(f[2].expected, "0660");
    cr_assert_str_eq(f[2].reason, "missing 0060 (group read, group write)");
    cr_assert_str_eq(f[3].expected, "readable by www-data");
    cr_assert_str_eq(f[3].reason, "mode 0600 uid 0 gid 0: www-data falls in class other, "
                                  "which lacks r");
}

Test(policy_evaluate, four_findings_in_order_dir)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&site, &web, S_IFDIR | 0700, 1000, 1000, f), 4);
    check_common(&f[0], FINDING_OWNER_MISMATCH, &site, S_IFDIR | 0700, 1000, 1000);
    check_common(&f[1], FINDING_GROUP_MISMATCH, &site, S_IFDIR | 0700, 1000, 1000);
    check_common(&f[2], FINDING_MODE_MISMATCH, &site, S_IFDIR | 0700, 1000, 1000);
    check_common(&f[3], FINDING_WEB_UNREADABLE, &site, S_IFDIR | 0700, 1000, 1000);
    cr_assert_str_eq(f[2].expected, "0770");
    cr_assert_str_eq(f[3].reason, "mode 0700 uid 1000 gid 1000: www-data falls in class other, "
                                  "which lacks r and x");
}

/* --- web_unreadable ----------------------------------------------------------------------- */

Test(policy_web, owner_class_decides_even_when_others_allow)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0077, 33, 33, f), 1);
    check_common(&f[0], FINDING_WEB_UNREADABLE, &web_only, S_IFREG | 0077, 33, 33);
    cr_assert_str_eq(f[0].expected, "readable by www-data");
    cr_assert_str_eq(f[0].reason, "mode 0077 uid 33 gid 33: www-data falls in class owner, "
                                  "which lacks r");
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0400, 33, 0, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFDIR | 0677, 33, 33, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0677 uid 33 gid 33: www-data falls in class owner, "
                                  "which lacks x");
}

Test(policy_web, group_class_via_supplementary_group)
{
    struct finding f[FINDING_KIND_COUNT];
    /* gid 1500 is only a supplementary group of the web user */
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0640, 1001, 1500, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0604, 1001, 1500, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0604 uid 1001 gid 1500: www-data falls in class group, "
                                  "which lacks r");
    cr_assert_eq(eval(&web_only, &web, S_IFDIR | 0750, 0, 1500, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFDIR | 0705, 0, 1500, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0705 uid 0 gid 1500: www-data falls in class group, "
                                  "which lacks r and x");
}

Test(policy_web, group_class_via_primary_gid_only)
{
    /* a principal whose groups list omits its primary gid still counts it */
    static gid_t only_sup[] = {1500};
    struct principal p = {
        .name = "www-data", .uid = 33, .gid = 33, .ngroups = 1, .groups = only_sup};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&web_only, &p, S_IFREG | 0640, 0, 33, f), 0);
    cr_assert_eq(eval(&web_only, &p, S_IFREG | 0604, 0, 33, f), 1);
    cr_assert(strstr(f[0].reason, "class group") != NULL, "%s", f[0].reason);
}

Test(policy_web, other_class)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0604, 0, 0, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0640, 0, 0, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0640 uid 0 gid 0: www-data falls in class other, "
                                  "which lacks r");
    cr_assert_eq(eval(&web_only, &web, S_IFDIR | 0755, 0, 0, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFDIR | 0754, 0, 0, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0754 uid 0 gid 0: www-data falls in class other, "
                                  "which lacks x");
    cr_assert_eq(eval(&web_only, &web, S_IFDIR | 0751, 0, 0, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0751 uid 0 gid 0: www-data falls in class other, "
                                  "which lacks r");
}

Test(policy_web, file_needs_no_execute)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0444, 0, 0, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0111, 0, 0, f), 1);
}

Test(policy_web, root_web_user_reads_everything)
{
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&web_only, &web_root, S_IFREG | 0000, 33, 33, f), 0);
    cr_assert_eq(eval(&web_only, &web_root, S_IFDIR | 0000, 0, 0, f), 0);
    /* the same objects are unreadable for www-data */
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0000, 33, 33, f), 1);
}

Test(policy_web, web_readable_no_or_null_principal_skips_check)
{
    struct rule r = web_only;
    r.web_readable = false;
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(eval(&r, &web, S_IFREG | 0000, 0, 0, f), 0);
    cr_assert_eq(eval(&web_only, NULL, S_IFREG | 0000, 0, 0, f), 0);
    cr_assert_eq(eval(&web_only, &web, S_IFREG | 0000, 0, 0, f), 1);
}

/* For every mode 0000..0777, file and directory, and the web user in each class position,
 * compare the verdict against the plain formula: take the deciding class's 3 bits and
 * require r (files) or r and x (directories). */
Test(policy_web, table_against_independent_formula)
{
    struct pos {
        const char *cls;
        uid_t uid;
        gid_t gid;
        int shift;
    } positions[] = {
        {"owner", 33, 1500, 6}, /* owner wins over a matching group */
        {"group", 0, 1500, 3},  /* supplementary group */
        {"other", 0, 0, 0},
    };
    unsigned checked = 0;
    for (size_t p = 0; p < 3; p++) {
        for (int dir = 0; dir < 2; dir++) {
            for (mode_t m = 0; m <= 0777; m++) {
                unsigned bits = (m >> positions[p].shift) & 7;
                unsigned need = dir ? 5 : 4;
                bool readable = (bits & need) == need;
                struct finding f[FINDING_KIND_COUNT];
                size_t n = eval(&web_only, &web, (dir ? S_IFDIR : S_IFREG) | m, positions[p].uid,
                                positions[p].gid, f);
                cr_assert_eq(n, readable ? 0 : 1, "mode %04o %s class %s: %zu findings",
                             (unsigned)m, dir ? "dir" : "file", positions[p].cls, n);
                if (!readable) {
                    cr_assert_eq(f[0].kind, FINDING_WEB_UNREADABLE);
                    char want[32];
                    snprintf(want, sizeof(want), "class %s,", positions[p].cls);
                    cr_assert(strstr(f[0].reason, want) != NULL, "%04o: %s", (unsigned)m,
                              f[0].reason);
                }
                checked++;
            }
        }
    }
    cr_assert_eq(checked, 3 * 2 * 512);
}

/* --- policy_target_mode ------------------------------------------------------------------- */

Test(policy_target_mode, files_and_dirs)
{
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 0644), 0664);
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 0600), 0660);
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 0666), 0664);
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 0755), 0775);
    cr_assert_eq(policy_target_mode(&site, S_IFDIR | 0755), 0775);
    cr_assert_eq(policy_target_mode(&site, S_IFDIR | 0700), 0770);
    cr_assert_eq(policy_target_mode(&site, S_IFDIR | 0777), 0775);
}

Test(policy_target_mode, setgid_directory_kept)
{
    cr_assert_eq(policy_target_mode(&site, S_IFDIR | 02755), 02775);
    cr_assert_eq(policy_target_mode(&site, S_IFDIR | 02777), 02775);
    struct rule r = site;
    r.dir_forbid = 02002;
    cr_assert_eq(policy_target_mode(&r, S_IFDIR | 02755), 0775);
    r = site;
    r.dir_require = 02770;
    cr_assert_eq(policy_target_mode(&r, S_IFDIR | 0755), 02775);
}

Test(policy_target_mode, setid_removed_from_files)
{
    struct rule r = site;
    r.file_require = 06660;
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 0644), 0664);
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 04644), 0664);
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 02644), 0664);
    /* already set and not forbidden: removed all the same (was kept: 4755 -> 4775) */
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 04755), 0775);
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 06755), 0775);
    cr_assert_eq(policy_target_mode(&site, S_IFREG | 06664), 0664);
    /* forbidden: cleared */
    r = site;
    r.file_forbid = 04002;
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 06755), 0775);
    /* sticky bit is an ordinary require bit */
    r = site;
    r.file_require = 01660;
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 0644), 01664);
}

Test(policy_target_mode, forbid_wins_over_require)
{
    struct rule r = site;
    r.file_require = 0666;
    r.file_forbid = 0006; /* overlaps require in 0006 */
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 0644), 0660);
    cr_assert_eq(policy_target_mode(&r, S_IFREG | 0000), 0660);
    r.dir_require = 0777;
    r.dir_forbid = 0007;
    cr_assert_eq(policy_target_mode(&r, S_IFDIR | 0755), 0770);
}

Test(policy_target_mode, other_types_unchanged)
{
    cr_assert_eq(policy_target_mode(&site, S_IFLNK | 0777), 0777);
    cr_assert_eq(policy_target_mode(&site, S_IFIFO | 0600), 0600);
    cr_assert_eq(policy_target_mode(&site, S_IFSOCK | 0755), 0755);
    cr_assert_eq(policy_target_mode(&site, S_IFCHR | 04666), 04666);
}

Test(policy_type_name, every_type)
{
    cr_assert_str_eq(policy_type_name(S_IFREG), "regular file");
    cr_assert_str_eq(policy_type_name(S_IFDIR | 0755), "directory");
    cr_assert_str_eq(policy_type_name(S_IFLNK), "symbolic link");
    cr_assert_str_eq(policy_type_name(S_IFIFO), "FIFO");
    cr_assert_str_eq(policy_type_name(S_IFSOCK), "socket");
    cr_assert_str_eq(policy_type_name(S_IFCHR), "character device");
    cr_assert_str_eq(policy_type_name(S_IFBLK), "block device");
    cr_assert_str_eq(policy_type_name(0), "unknown object");
}

/* After a repair to the target mode, no mode_mismatch remains, set-id bits are never added to
 * files and the type bits never leak into the result: over every mode 0..07777. */
Test(policy_target_mode, repair_converges_for_every_mode)
{
    struct rule rules[3] = {site, site, site};
    rules[1].file_require = 0640;
    rules[1].file_forbid = 0007;
    rules[1].dir_require = 02750;
    rules[1].dir_forbid = 05027;
    rules[2].file_require = 01000;
    rules[2].file_forbid = 06000;
    rules[2].dir_require = 0;
    rules[2].dir_forbid = 07777;
    for (size_t i = 0; i < 3; i++) {
        for (int dir = 0; dir < 2; dir++) {
            for (mode_t m = 0; m <= 07777; m++) {
                mode_t type = dir ? S_IFDIR : S_IFREG;
                mode_t t = policy_target_mode(&rules[i], type | m);
                cr_assert_eq(t & ~07777, 0);
                if (!dir)
                    cr_assert_eq(t & 06000, 0, "rule %zu: %04o -> %04o keeps set-id", i,
                                 (unsigned)m, (unsigned)t);
                struct finding f[FINDING_KIND_COUNT];
                size_t n = eval(&rules[i], &web, type | t, 33, 33, f);
                cr_assert(!has_kind(f, n, FINDING_MODE_MISMATCH) && !has_kind(f, n, FINDING_SETID),
                          "rule %zu %s %04o -> %04o", i, dir ? "dir" : "file", (unsigned)m,
                          (unsigned)t);
                if (t == m)
                    continue;
                /* anything the repair would change was a mode_mismatch or setid finding */
                n = eval(&rules[i], &web, type | m, 33, 33, f);
                cr_assert(has_kind(f, n, FINDING_MODE_MISMATCH) || has_kind(f, n, FINDING_SETID),
                          "%04o", (unsigned)m);
            }
        }
    }
}

/* --- writable: every writer, judged like the kernel (policy_check) ------------------------ */

/* opencode (1001:1001) NOT in group 33; opencode_in (same uid) also in 33. */
static gid_t oc_groups[] = {1001};
static struct principal oc = {
    .name = "opencode", .uid = 1001, .gid = 1001, .ngroups = 1, .groups = oc_groups};
static gid_t oc_in_groups[] = {1001, 33};
static struct principal oc_in = {
    .name = "opencode", .uid = 1001, .gid = 1001, .ngroups = 2, .groups = oc_in_groups};

static char *wr_group_names[] = {"www-data"};
static gid_t wr_groups[] = {33};
/* A rule that checks only writability (groups named for the reasons). */
static struct rule wr = {
    .name = "wr", .match = site_match, .nmatch = 1, .group_names = NULL, .writable = true};
/* The same naming group www-data (group list as written: the reason names it). */
static struct rule wr_named = {.name = "wr",
                               .match = site_match,
                               .nmatch = 1,
                               .group_names = wr_group_names,
                               .groups = wr_groups,
                               .ngroups = 1,
                               .writable = true};

/* policy_check of MODE UID:GID under R for the writers W[0..NW) with ACL. */
static size_t check_w(const struct rule *r, const struct principal *w, size_t nw, mode_t mode,
                      uid_t uid, gid_t gid, const struct perm_acl *acl, struct finding *out)
{
    struct stat st = mkstat(mode, uid, gid);
    struct policy_subjects who = {.web = &web, .writers = w, .nwriters = nw, .acl = acl};
    memset(out, 0xa5, sizeof(struct finding) * FINDING_KIND_COUNT);
    return policy_check(r, &who, &st, out);
}

Test(policy_writable, writer_not_in_group_flagged_on_group_only_writable)
{
    struct principal w[] = {web, oc};
    struct finding f[FINDING_KIND_COUNT];
    size_t n = check_w(&wr_named, w, 2, S_IFREG | 0664, 33, 33, NULL, f);
    cr_assert_eq(n, 1);
    check_common(&f[0], FINDING_NOT_WRITABLE, &wr_named, S_IFREG | 0664, 33, 33);
    cr_assert_str_eq(f[0].expected, "writable by www-data, opencode");
    cr_assert_str_eq(f[0].reason, "opencode cannot write: owner www-data, group www-data "
                                  "(opencode is not in it), class other lacks w");
}

Test(policy_writable, writer_in_group_can_write_group_writable)
{
    struct principal w[] = {web, oc_in};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFREG | 0664, 33, 33, NULL, f), 0);
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFDIR | 02775, 33, 33, NULL, f), 0);
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFREG | 0664, 1001, 33, NULL, f), 0);
}

Test(policy_writable, opencode_owned_0644_denies_www_data_by_group_class)
{
    struct principal w[] = {web, oc_in};
    struct finding f[FINDING_KIND_COUNT];
    size_t n = check_w(&wr_named, w, 2, S_IFREG | 0644, 1001, 33, NULL, f);
    cr_assert_eq(n, 1);
    check_common(&f[0], FINDING_NOT_WRITABLE, &wr_named, S_IFREG | 0644, 1001, 33);
    cr_assert_str_eq(f[0].reason, "www-data cannot write: owner opencode, group www-data "
                                  "(www-data is in it), class group lacks w");
}

Test(policy_writable, owner_class_decides_alone)
{
    /* 0466: the owner lacks w although group and other have it */
    struct principal w[] = {web};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr, w, 1, S_IFREG | 0466, 33, 33, NULL, f), 1);
    cr_assert_str_eq(f[0].reason, "www-data cannot write: owner www-data, group gid 33 (www-data "
                                  "is in it), class owner lacks w");
}

Test(policy_writable, directories_need_w_and_x)
{
    struct principal w[] = {web, oc_in};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFDIR | 0765, 33, 33, NULL, f), 1);
    cr_assert(strstr(f[0].reason, "opencode cannot write") &&
                  strstr(f[0].reason, "class group lacks x"),
              "%s", f[0].reason);
    cr_assert(f[0].is_dir);
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFDIR | 0755, 33, 33, NULL, f), 1);
    cr_assert(strstr(f[0].reason, "class group lacks w"), "%s", f[0].reason);
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFDIR | 0745, 33, 33, NULL, f), 1);
    cr_assert(strstr(f[0].reason, "class group lacks w and x"), "%s", f[0].reason);
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFDIR | 0775, 33, 33, NULL, f), 0);
}

Test(policy_writable, root_owned_gets_both_findings_root_writer_never_flagged)
{
    static char *own_names[] = {"www-data"};
    static uid_t owns[] = {33};
    struct rule r = wr_named;
    r.owner_names = own_names;
    r.owners = owns;
    r.nowners = 1;
    struct principal w[] = {web};
    struct finding f[FINDING_KIND_COUNT];
    size_t n = check_w(&r, w, 1, S_IFREG | 0644, 0, 0, NULL, f);
    cr_assert_eq(n, 3, "root_owned, group_mismatch, not_writable");
    cr_assert_eq(f[0].kind, FINDING_ROOT_OWNED);
    cr_assert_eq(f[2].kind, FINDING_NOT_WRITABLE);
    cr_assert_str_eq(f[2].reason, "www-data cannot write: owner uid 0, group gid 0 (www-data is "
                                  "not in it), class other lacks w");
    /* root as a writer can write anything */
    struct principal rw[] = {web_root};
    cr_assert_eq(check_w(&wr, rw, 1, S_IFREG | 0444, 33, 33, NULL, f), 0);
    cr_assert_eq(check_w(&wr, rw, 1, S_IFDIR | 0000, 33, 33, NULL, f), 0);
}

Test(policy_writable, only_first_denied_writer_named_and_off_by_default)
{
    struct principal w[] = {oc, web};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr, w, 2, S_IFREG | 0444, 33, 33, NULL, f), 1);
    cr_assert(strncmp(f[0].reason, "opencode cannot write", 21) == 0, "%s", f[0].reason);
    struct rule off = wr;
    off.writable = false;
    cr_assert_eq(check_w(&off, w, 2, S_IFREG | 0444, 33, 33, NULL, f), 0);
    cr_assert_eq(check_w(&wr, w, 0, S_IFREG | 0444, 33, 33, NULL, f), 0, "no writers");
}

Test(policy_writable, acl_user_entry_grants_write)
{
    /* 0664 www-data:www-data with user:opencode:rw- mask::rw- (setfacl -m u:opencode:rw) */
    struct perm_acl_entry e[] = {{PERM_ACL_USER, 1001, PERM_R | PERM_W}};
    struct perm_acl acl = {.group_obj = PERM_R | PERM_W, .mask = PERM_R | PERM_W, .n = 1, .e = e};
    struct principal w[] = {web, oc};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFREG | 0664, 33, 33, &acl, f), 0);
    /* without the ACL: denied (other) */
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFREG | 0664, 33, 33, NULL, f), 1);
}

Test(policy_writable, acl_mask_limits_the_entry)
{
    /* setfacl -m u:opencode:rw,m::r: the mode's group bits are the mask (r) */
    struct perm_acl_entry e[] = {{PERM_ACL_USER, 1001, PERM_R | PERM_W}};
    struct perm_acl acl = {.group_obj = PERM_R | PERM_W, .mask = PERM_R, .n = 1, .e = e};
    struct principal w[] = {web, oc};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr_named, w, 2, S_IFREG | 0644, 33, 33, &acl, f), 1);
    cr_assert_str_eq(f[0].reason, "opencode cannot write: owner www-data, group www-data "
                                  "(opencode is not in it), class ACL user (entry rw-, mask r--) "
                                  "lacks w");
}

Test(policy_writable, acl_group_entries_restrict_group_members)
{
    /* 0664 with group::r-- and mask::rw- (from a named group entry): a member of the owning
     * group is denied although the mode's group bits show rw */
    struct perm_acl_entry e[] = {{PERM_ACL_GROUP, 2000, PERM_R | PERM_W}};
    struct perm_acl acl = {.group_obj = PERM_R, .mask = PERM_R | PERM_W, .n = 1, .e = e};
    struct principal w[] = {oc_in};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&wr_named, w, 1, S_IFREG | 0664, 33, 33, &acl, f), 1);
    cr_assert(strstr(f[0].reason, "class ACL group (entries r--, mask rw-) lacks w"), "%s",
              f[0].reason);
    /* a mask of zero: the kernel skips the ACL, other decides */
    struct perm_acl zero = {.group_obj = PERM_R, .mask = 0, .n = 1, .e = e};
    cr_assert_eq(check_w(&wr_named, w, 1, S_IFREG | 0606, 33, 33, &zero, f), 1);
    cr_assert(strstr(f[0].reason, "class group lacks w"), "%s", f[0].reason);
}

Test(policy_writable, web_readable_counts_acl)
{
    /* 0640 root:root, user:www-data:r-- grants the web user read */
    struct perm_acl_entry e[] = {{PERM_ACL_USER, 33, PERM_R}};
    struct perm_acl acl = {.group_obj = PERM_R, .mask = PERM_R, .n = 1, .e = e};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(check_w(&web_only, NULL, 0, S_IFREG | 0640, 0, 0, NULL, f), 1);
    cr_assert_eq(check_w(&web_only, NULL, 0, S_IFREG | 0640, 0, 0, &acl, f), 0);
    /* mask::--- in the mode (0600): the ACL is not consulted */
    struct perm_acl masked = {.group_obj = PERM_R, .mask = 0, .n = 1, .e = e};
    cr_assert_eq(check_w(&web_only, NULL, 0, S_IFREG | 0600, 0, 0, &masked, f), 1);
    cr_assert_str_eq(f[0].reason, "mode 0600 uid 0 gid 0: www-data falls in class other, which "
                                  "lacks r");
}

Test(policy_writable, needs_acl_only_when_it_can_matter)
{
    struct stat st = mkstat(S_IFREG | 0644, 33, 33);
    cr_assert(policy_needs_acl(&wr, &st));
    cr_assert(policy_needs_acl(&web_only, &st));
    struct rule plain = {.name = "plain", .match = site_match, .nmatch = 1};
    cr_assert_not(policy_needs_acl(&plain, &st));
    st.st_mode = S_IFREG | 0604; /* group class zero: the kernel skips the ACL */
    cr_assert_not(policy_needs_acl(&wr, &st));
    st.st_mode = S_IFIFO | 0664;
    cr_assert_not(policy_needs_acl(&wr, &st));
    st.st_mode = S_IFDIR | 0775;
    cr_assert(policy_needs_acl(&wr, &st));
    cr_assert_not(policy_needs_acl(NULL, &st));
}

static const char *fake_user(uid_t uid)
{
    return uid == 0 ? "root" : NULL;
}

static const char *fake_group(gid_t gid)
{
    return gid == 0 ? "root" : NULL;
}

Test(policy_writable, names_from_the_callers_lookup)
{
    struct principal w[] = {web};
    struct stat st = mkstat(S_IFREG | 0644, 0, 0);
    struct policy_subjects who = {
        .web = &web, .writers = w, .nwriters = 1, .user_name = fake_user, .group_name = fake_group};
    struct finding f[FINDING_KIND_COUNT];
    cr_assert_eq(policy_check(&wr, &who, &st, f), 1);
    cr_assert_str_eq(f[0].reason, "www-data cannot write: owner root, group root (www-data is "
                                  "not in it), class other lacks w");
    st = mkstat(S_IFREG | 0644, 4242, 4242);
    cr_assert_eq(policy_check(&wr, &who, &st, f), 1);
    cr_assert_str_eq(f[0].reason, "www-data cannot write: owner uid 4242, group gid 4242 "
                                  "(www-data is not in it), class other lacks w");
}
