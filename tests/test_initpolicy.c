/* Unit tests of initpolicy's pure part: initpolicy_can_write, initpolicy_choose and
 * initpolicy_write over surveys built by hand (no tree, no NSS), and the printed policy
 * loaded back by config_load_string (that needs www-data and opencode on the host:
 * tests/ensure-users.sh). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "initpolicy.h"

/* www-data 33:33; opencode 999:995, also in www-data; dev 1000:1000 alone. */
static gid_t web_groups[] = {33};
static gid_t oc_groups[] = {995, 33};
static gid_t dev_groups[] = {1000};
static gid_t root_groups[] = {0};

/* A survey with the users www-data, opencode, dev (uid 1000), root, and a user 1234 without
 * an account, and the groups www-data, opencode, root; the site root owned by ROOT_UID. */
static void survey_init(struct initpolicy_survey *s, uid_t root_uid)
{
    memset(s, 0, sizeof(*s));
    s->root = strdup("/var/www/site");
    s->root_uid = root_uid;
    s->users = calloc(5, sizeof(*s->users));
    s->nusers = 5;
    struct {
        const char *name;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        size_t ngroups;
    } u[] = {{"www-data", 33, 33, web_groups, 1},
             {"opencode", 999, 995, oc_groups, 2},
             {"dev", 1000, 1000, dev_groups, 1},
             {"root", 0, 0, root_groups, 1},
             {NULL, 1234, 1234, NULL, 0}};
    for (size_t i = 0; i < 5; i++) {
        s->users[i].uid = u[i].uid;
        if (!u[i].name)
            continue;
        s->users[i].name = strdup(u[i].name);
        s->users[i].loaded = true;
        s->users[i].p.name = strdup(u[i].name);
        s->users[i].p.uid = u[i].uid;
        s->users[i].p.gid = u[i].gid;
        s->users[i].p.ngroups = u[i].ngroups;
        s->users[i].p.groups = calloc(u[i].ngroups + 1, sizeof(gid_t));
        memcpy(s->users[i].p.groups, u[i].groups, u[i].ngroups * sizeof(gid_t));
    }
    s->groups = calloc(3, sizeof(*s->groups));
    s->ngroups = 3;
    s->groups[0] = (struct initpolicy_group){33, strdup("www-data")};
    s->groups[1] = (struct initpolicy_group){995, strdup("opencode")};
    s->groups[2] = (struct initpolicy_group){0, strdup("root")};
}

static void add(struct initpolicy_survey *s, uid_t uid, gid_t gid, mode_t mode, bool dir, size_t n)
{
    cr_assert_eq(initpolicy_survey_add(s, uid, gid, mode, dir, n), 0);
    if (dir)
        s->ndirs += n;
    else
        s->nfiles += n;
}

/* Names of the chosen writers, ", "-joined, into BUF. */
static const char *writers(const struct initpolicy_survey *s, const struct initpolicy_choice *c,
                           char *buf, size_t len)
{
    buf[0] = 0;
    for (size_t i = 0; i < c->nwriters; i++) {
        const struct initpolicy_user *u = &s->users[c->writers[i]];
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", u->name);
    }
    return buf;
}

static const struct principal *user(const struct initpolicy_survey *s, size_t i)
{
    return &s->users[i].p;
}

Test(initpolicy, can_write_follows_the_kernel_class_order)
{
    struct initpolicy_survey s;
    survey_init(&s, 33);
    struct initpolicy_shape f = {33, 33, 0644, false, 1}, d = {33, 33, 0755, true, 1};
    cr_expect(initpolicy_can_write(user(&s, 0), &f));  /* owner w */
    cr_expect(!initpolicy_can_write(user(&s, 1), &f)); /* opencode: group lacks w */
    f.mode = 0664;
    cr_expect(initpolicy_can_write(user(&s, 1), &f));  /* group w, supplementary */
    cr_expect(!initpolicy_can_write(user(&s, 2), &f)); /* dev: other lacks w */
    f.mode = 0464;                                     /* owner class decides alone */
    cr_expect(!initpolicy_can_write(user(&s, 0), &f));
    cr_expect(!initpolicy_can_write(user(&s, 1), &d)); /* 0755 dir: group lacks w */
    d.mode = 02765;                                    /* group w but no x */
    cr_expect(!initpolicy_can_write(user(&s, 1), &d));
    d.mode = 02775;
    cr_expect(initpolicy_can_write(user(&s, 1), &d));
    d.mode = 0777;
    cr_expect(initpolicy_can_write(user(&s, 2), &d));
    cr_expect(initpolicy_can_write(user(&s, 3), &f)); /* root always */
    initpolicy_survey_free(&s);
}

Test(initpolicy, stock_site_has_one_writer)
{
    struct initpolicy_survey s;
    survey_init(&s, 33);
    add(&s, 33, 33, 0755, true, 40);
    add(&s, 33, 33, 0644, false, 300);
    add(&s, 33, 33, 0640, false, 1);
    struct initpolicy_choice c;
    initpolicy_choose(&s, &c);
    char buf[256];
    cr_expect_str_eq(c.web_user, "www-data");
    cr_expect_str_eq(writers(&s, &c, buf, sizeof(buf)), "www-data");
    cr_expect_eq(c.nothers, 0);
    cr_assert_eq(c.ngroups, 1);
    cr_expect_eq(s.groups[c.groups[0]].gid, 33);
    initpolicy_survey_free(&s);
}

Test(initpolicy, shared_site_has_the_agent_as_writer)
{
    struct initpolicy_survey s;
    survey_init(&s, 33);
    add(&s, 33, 33, 02775, true, 40);
    add(&s, 33, 33, 0664, false, 300);
    add(&s, 33, 33, 0640, false, 1); /* wp-config.php: opencode cannot write it, fine */
    add(&s, 999, 33, 0664, false, 5);
    add(&s, 999, 33, 02775, true, 2);
    add(&s, 0, 0, 0644, false, 3); /* root-owned drift: root is never a writer */
    struct initpolicy_choice c;
    initpolicy_choose(&s, &c);
    char buf[256];
    cr_expect_str_eq(writers(&s, &c, buf, sizeof(buf)), "www-data, opencode");
    cr_expect_eq(c.nothers, 0);
    cr_assert_eq(c.ngroups, 1); /* gid 0 only on root's files, never a group */
    cr_expect_eq(s.groups[c.groups[0]].gid, 33);
    initpolicy_survey_free(&s);
}

Test(initpolicy, an_owner_that_cannot_write_the_site_is_not_a_writer)
{
    struct initpolicy_survey s;
    survey_init(&s, 33);
    add(&s, 33, 33, 0755, true, 40);
    add(&s, 33, 33, 0644, false, 300);
    add(&s, 999, 33, 0644, false, 2);    /* the seed's opencode files on a stock site */
    add(&s, 1000, 1000, 0664, false, 9); /* a developer's files, other group */
    add(&s, 1234, 33, 0666, false, 1);   /* no account */
    struct initpolicy_choice c;
    initpolicy_choose(&s, &c);
    char buf[256];
    cr_expect_str_eq(writers(&s, &c, buf, sizeof(buf)), "www-data");
    cr_assert_eq(c.nothers, 3);
    /* most objects first */
    cr_expect_eq(s.users[c.others[0]].uid, 1000);
    cr_expect_eq(s.users[c.others[1]].uid, 999);
    cr_expect_eq(s.users[c.others[2]].uid, 1234);
    cr_assert_eq(c.ngroups, 1); /* group 1000 holds only dev's objects */
    initpolicy_survey_free(&s);
}

Test(initpolicy, root_owned_site_falls_back_to_www_data)
{
    struct initpolicy_survey s;
    survey_init(&s, 0);
    add(&s, 0, 0, 0755, true, 4);
    add(&s, 0, 0, 0644, false, 30);
    struct initpolicy_choice c;
    initpolicy_choose(&s, &c);
    cr_expect_str_eq(c.web_user, "www-data");
    cr_expect_eq(c.nwriters, 0); /* www-data owns nothing; root never */
    cr_expect_eq(c.ngroups, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(initpolicy_write(&s, f), 0);
    fclose(f);
    cr_expect(strstr(text, "\nwriters = www-data\n"), "%s", text);
    cr_expect(strstr(text, "\nowner = www-data\n"), "%s", text);
    cr_expect(!strstr(text, "\ngroup = "), "%s", text);
    cr_expect(strstr(text, "; 34 objects are owned by root now"), "%s", text);
    free(text);
    initpolicy_survey_free(&s);
}

Test(initpolicy, written_policy_loads_and_names_the_writers)
{
    struct initpolicy_survey s;
    survey_init(&s, 33);
    add(&s, 33, 33, 02775, true, 40);
    add(&s, 33, 33, 0664, false, 300);
    add(&s, 999, 33, 0664, false, 5);
    add(&s, 1000, 1000, 0644, false, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_eq(initpolicy_write(&s, f), 0);
    fclose(f);
    cr_expect(strstr(text, "\nroot = /var/www/site\n"), "%s", text);
    cr_expect(strstr(text, "\nweb_user = www-data    ; owner of the site root\n"), "%s", text);
    cr_expect(strstr(text, "\nwriters = www-data, opencode\n"), "%s", text);
    cr_expect(strstr(text, "; not a writer: dev owns 1 objects but cannot write those of the "
                           "web user"),
              "%s", text);
    struct config *c;
    struct config_error err;
    char buf[512];
    cr_assert_eq(config_load_string(text, "init.ini", &c, &err), 0, "%s\n%s",
                 config_error_format(&err, buf, sizeof(buf)), text);
    cr_expect_eq(c->nwriters, 2);
    const char *names[] = {"agent-state", "caches", "wp-config", "mu-plugins", "content", "site"};
    cr_assert_eq(c->nrules, 6);
    for (size_t i = 0; i < 6; i++)
        cr_expect_str_eq(c->rules[i].name, names[i]);
    const struct rule *site = &c->rules[5];
    cr_expect_eq(site->nowners, 2);
    cr_expect_eq(site->ngroups, 1);
    cr_expect(site->writable && site->web_readable);
    cr_expect_eq(site->file_forbid, 0002);
    const struct rule *wpc = &c->rules[2];
    cr_expect(!wpc->writable && wpc->web_readable);
    cr_expect_eq(wpc->file_forbid, 0027);
    cr_expect(c->rules[1].ignore);
    config_free(c);
    free(text);
    initpolicy_survey_free(&s);
}
