/* initpolicy: a starting policy that fits an existing site (see initpolicy.h). */
#include "initpolicy.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* Add N objects of one shape to S. Returns 0, or -1 with errno ENOMEM. */
int initpolicy_survey_add(struct initpolicy_survey *s, uid_t uid, gid_t gid, mode_t mode, bool dir,
                          size_t n)
{
    mode &= 07777;
    for (size_t i = 0; i < s->nshapes; i++) {
        struct initpolicy_shape *o = &s->shapes[i];
        if (o->uid == uid && o->gid == gid && o->mode == mode && o->dir == dir) {
            o->count += n;
            return 0;
        }
    }
    struct initpolicy_shape *grown = realloc(s->shapes, (s->nshapes + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    s->shapes = grown;
    s->shapes[s->nshapes++] = (struct initpolicy_shape){uid, gid, mode, dir, n};
    return 0;
}

/* Free everything S holds and zero it. */
void initpolicy_survey_free(struct initpolicy_survey *s)
{
    free(s->root);
    free(s->shapes);
    for (size_t i = 0; i < s->nusers; i++) {
        free(s->users[i].name);
        if (s->users[i].loaded)
            account_principal_free(&s->users[i].p);
    }
    free(s->users);
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i].name);
    free(s->groups);
    memset(s, 0, sizeof(*s));
}

/* nftw has no context argument: the survey being filled and the root's length. */
static struct initpolicy_survey *walk_survey;
static size_t walk_rootlen;
static int walk_errno;

/* nftw visitor: count regular files and directories; skip the caches the policy ignores. */
static int walk_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    const char *rel = path + walk_rootlen;
    if (*rel == '/')
        rel++;
    if (type == FTW_D && (strcmp(rel, "wp-content/cache") == 0 ||
                          strcmp(rel, "wp-content/upgrade-temp-backup") == 0)) {
        walk_survey->nskipped++;
        return FTW_SKIP_SUBTREE;
    }
    if (type == FTW_DNR || type == FTW_NS) {
        walk_survey->nskipped++;
        return FTW_CONTINUE;
    }
    bool dir = S_ISDIR(st->st_mode);
    if (!dir && !S_ISREG(st->st_mode)) {
        walk_survey->nskipped++;
        return FTW_CONTINUE;
    }
    if (initpolicy_survey_add(walk_survey, st->st_uid, st->st_gid, st->st_mode, dir, 1) < 0) {
        walk_errno = errno;
        return FTW_STOP;
    }
    if (dir)
        walk_survey->ndirs++;
    else
        walk_survey->nfiles++;
    return FTW_CONTINUE;
}

/* Resolve the survey's distinct uids (with their groups) and gids. Returns 0 or -1 ENOMEM. */
static int resolve(struct initpolicy_survey *s)
{
    for (size_t i = 0; i < s->nshapes; i++) {
        const struct initpolicy_shape *o = &s->shapes[i];
        bool have = false;
        for (size_t j = 0; j < s->nusers && !have; j++)
            have = s->users[j].uid == o->uid;
        if (!have) {
            struct initpolicy_user *u = realloc(s->users, (s->nusers + 1) * sizeof(*u));
            if (!u)
                return -1;
            s->users = u;
            u = &s->users[s->nusers++];
            memset(u, 0, sizeof(*u));
            u->uid = o->uid;
            struct passwd pw, *res = NULL;
            char buf[4096];
            if (getpwuid_r(o->uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
                if (!(u->name = strdup(pw.pw_name)))
                    return -1;
                u->loaded = account_principal_load(u->name, &u->p) == 0;
            }
        }
        have = false;
        for (size_t j = 0; j < s->ngroups && !have; j++)
            have = s->groups[j].gid == o->gid;
        if (!have) {
            struct initpolicy_group *g = realloc(s->groups, (s->ngroups + 1) * sizeof(*g));
            if (!g)
                return -1;
            s->groups = g;
            g = &s->groups[s->ngroups++];
            memset(g, 0, sizeof(*g));
            g->gid = o->gid;
            struct group gr, *res = NULL;
            char buf[8192];
            if (getgrgid_r(o->gid, &gr, buf, sizeof(buf), &res) == 0 && res &&
                !(g->name = strdup(gr.gr_name)))
                return -1;
        }
    }
    return 0;
}

/* Walk ROOT and resolve its owners and groups. Returns 0 or -1 with errno. */
int initpolicy_survey_site(const char *root, struct initpolicy_survey *s)
{
    memset(s, 0, sizeof(*s));
    struct stat st;
    if (lstat(root, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    if (!(s->root = strdup(root)))
        return -1;
    s->root_uid = st.st_uid;
    walk_survey = s;
    walk_rootlen = strlen(root);
    walk_errno = 0;
    int rc = nftw(root, walk_visit, 64, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
    walk_survey = NULL;
    if (rc != 0 || walk_errno) {
        int e = walk_errno ? walk_errno : errno ? errno : EIO;
        initpolicy_survey_free(s);
        errno = e;
        return -1;
    }
    if (resolve(s) < 0) {
        initpolicy_survey_free(s);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* Whether P may write an object of shape O by its mode bits (kernel class order). */
bool initpolicy_can_write(const struct principal *p, const struct initpolicy_shape *o)
{
    if (p->uid == 0)
        return true;
    unsigned bits;
    if (o->uid == p->uid)
        bits = (o->mode >> 6) & 7;
    else if (account_principal_in_group(p, o->gid))
        bits = (o->mode >> 3) & 7;
    else
        bits = o->mode & 7;
    unsigned need = o->dir ? 3 : 2;
    return (bits & need) == need;
}

/* Objects in S owned by UID. */
static size_t owned_by(const struct initpolicy_survey *s, uid_t uid)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nshapes; i++)
        if (s->shapes[i].uid == uid)
            n += s->shapes[i].count;
    return n;
}

/* Objects in S owned by GID whose owner is one of the chosen writers. */
static size_t group_weight(const struct initpolicy_survey *s, const struct initpolicy_choice *c,
                           gid_t gid)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nshapes; i++) {
        if (s->shapes[i].gid != gid)
            continue;
        for (size_t w = 0; w < c->nwriters; w++)
            if (s->users[c->writers[w]].uid == s->shapes[i].uid)
                n += s->shapes[i].count;
    }
    return n;
}

/* Pure: the web user, the writers and the groups (contract in initpolicy.h). */
void initpolicy_choose(const struct initpolicy_survey *s, struct initpolicy_choice *c)
{
    memset(c, 0, sizeof(*c));
    c->web = -1;
    c->web_user = CONFIG_DEFAULT_WEB_USER;
    for (size_t i = 0; i < s->nusers; i++) {
        const struct initpolicy_user *u = &s->users[i];
        if (u->uid != 0 && u->loaded && u->uid == s->root_uid)
            c->web = (ssize_t)i;
    }
    if (c->web < 0)
        for (size_t i = 0; i < s->nusers; i++)
            if (s->users[i].name && strcmp(s->users[i].name, CONFIG_DEFAULT_WEB_USER) == 0 &&
                s->users[i].uid != 0 && s->users[i].loaded && owned_by(s, s->users[i].uid) > 0)
                c->web = (ssize_t)i;
    if (c->web >= 0) {
        c->web_user = s->users[c->web].name;
        c->writers[c->nwriters++] = (size_t)c->web;
    }
    /* the other owners, most objects first */
    size_t order[INITPOLICY_MAX * 4], norder = 0;
    for (size_t i = 0; i < s->nusers && norder < sizeof(order) / sizeof(order[0]); i++)
        if ((ssize_t)i != c->web && s->users[i].uid != 0 && owned_by(s, s->users[i].uid) > 0)
            order[norder++] = i;
    for (size_t i = 1; i < norder; i++)
        for (size_t j = i;
             j > 0 && owned_by(s, s->users[order[j]].uid) > owned_by(s, s->users[order[j - 1]].uid);
             j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    uid_t web_uid = c->web >= 0 ? s->users[c->web].uid : (uid_t)-1;
    size_t web_total = c->web >= 0 ? owned_by(s, web_uid) : 0;
    for (size_t k = 0; k < norder; k++) {
        const struct initpolicy_user *u = &s->users[order[k]];
        bool writer = false;
        if (u->loaded && web_total > 0) {
            size_t can = 0;
            for (size_t i = 0; i < s->nshapes; i++)
                if (s->shapes[i].uid == web_uid && initpolicy_can_write(&u->p, &s->shapes[i]))
                    can += s->shapes[i].count;
            writer = can * 10 >= web_total * 9;
        }
        if (writer && c->nwriters < INITPOLICY_MAX)
            c->writers[c->nwriters++] = order[k];
        else if (!writer && c->nothers < INITPOLICY_MAX)
            c->others[c->nothers++] = order[k];
    }
    /* groups of the writers' objects: the web user's primary group first, then by weight */
    gid_t primary = c->web >= 0 ? s->users[c->web].p.gid : (gid_t)-1;
    for (size_t i = 0; i < s->ngroups && c->ngroups < INITPOLICY_MAX; i++)
        if (s->groups[i].gid != 0 && group_weight(s, c, s->groups[i].gid) > 0)
            c->groups[c->ngroups++] = i;
    for (size_t i = 1; i < c->ngroups; i++)
        for (size_t j = i; j > 0; j--) {
            const struct initpolicy_group *a = &s->groups[c->groups[j]],
                                          *b = &s->groups[c->groups[j - 1]];
            bool before =
                a->gid == primary ||
                (b->gid != primary && group_weight(s, c, a->gid) > group_weight(s, c, b->gid));
            if (!before)
                break;
            size_t t = c->groups[j];
            c->groups[j] = c->groups[j - 1];
            c->groups[j - 1] = t;
        }
}

/* "name" of user index I, or its number. */
static void put_user(FILE *out, const struct initpolicy_survey *s, size_t i)
{
    if (s->users[i].name)
        fputs(s->users[i].name, out);
    else
        fprintf(out, "%u", (unsigned)s->users[i].uid);
}

/* The owner and group lines of a rule. */
static void put_owner_group(FILE *out, const struct initpolicy_survey *s,
                            const struct initpolicy_choice *c)
{
    fputs("owner = ", out);
    if (c->nwriters == 0)
        fputs(c->web_user, out);
    for (size_t w = 0; w < c->nwriters; w++) {
        fputs(w ? ", " : "", out);
        put_user(out, s, c->writers[w]);
    }
    fputc('\n', out);
    if (c->ngroups == 0)
        return;
    fputs("group = ", out);
    for (size_t g = 0; g < c->ngroups; g++) {
        const struct initpolicy_group *gr = &s->groups[c->groups[g]];
        fputs(g ? ", " : "", out);
        if (gr->name)
            fputs(gr->name, out);
        else
            fprintf(out, "%u", (unsigned)gr->gid);
    }
    fputc('\n', out);
}

/* Pure: the starting policy as INI (contract in initpolicy.h). */
int initpolicy_write(const struct initpolicy_survey *s, FILE *out)
{
    struct initpolicy_choice c;
    initpolicy_choose(s, &c);
    size_t root_owned = owned_by(s, 0);

    fprintf(out,
            "; permwatch: starting policy for %s, written by `permwatchd --init-policy` from\n"
            "; what the site holds now (%zu directories, %zu files; %zu symlinks, special files\n"
            "; and cache entries not counted). Check it with `permwatchd -c FILE --scan`: on a\n"
            "; healthy site it reports nothing, afterwards only drift. Root never writes the\n"
            "; site: root-owned objects stay findings.\n",
            s->root, s->ndirs, s->nfiles, s->nskipped);
    if (root_owned)
        fprintf(out, "; %zu objects are owned by root now: they will be root_owned findings.\n",
                root_owned);
    fprintf(out, "\n[site]\nroot = %s\n", s->root);
    fprintf(out, "web_user = %s%s\n", c.web_user,
            c.web >= 0 && s->users[c.web].uid == s->root_uid ? "    ; owner of the site root" : "");
    fputs("; every writer must be able to write the objects of `writable = yes` rules\n", out);
    fputs("writers = ", out);
    if (c.nwriters == 0)
        fputs(c.web_user, out);
    for (size_t w = 0; w < c.nwriters; w++) {
        fputs(w ? ", " : "", out);
        put_user(out, s, c.writers[w]);
    }
    fputc('\n', out);
    for (size_t k = 0; k < c.nothers; k++) {
        const struct initpolicy_user *u = &s->users[c.others[k]];
        fputs("; not a writer: ", out);
        put_user(out, s, c.others[k]);
        fprintf(out, " owns %zu objects but %s: its objects will be findings\n",
                owned_by(s, u->uid),
                !u->loaded   ? "has no account here"
                : c.web >= 0 ? "cannot write those of the web user"
                             : "the web user owns nothing to compare with");
    }

    fputs("\n; agent state (.opencode/ and the like): the writers', never world writable\n"
          "[rule agent-state]\n"
          "match = .wp-coding-agents/**\nmatch = .opencode/**\nmatch = .claude/**\n"
          "match = .codex/**\n",
          out);
    put_owner_group(out, s, &c);
    fputs("writable = yes\nfile_forbid = 0002\ndir_forbid = 0002\nrepair = manual\n", out);

    fputs("\n; caches and update leftovers are rebuilt by WordPress: not watched\n"
          "[rule caches]\nmatch = wp-content/cache/**\n"
          "match = wp-content/upgrade-temp-backup/**\nignore = yes\n",
          out);

    fputs("\n; the database password: readable by the web user, never group writable, nothing\n"
          "; for others (0640, 0600 and 0440 pass)\n"
          "[rule wp-config]\nmatch = wp-config.php\n",
          out);
    put_owner_group(out, s, &c);
    fputs("web_readable = yes\nfile_forbid = 0027\nrepair = manual\n", out);

    fputs("\n; the installer's mu-plugins: PHP includes them on every request\n"
          "[rule mu-plugins]\nmatch = wp-content/mu-plugins/wp-coding-agents-*.php\n",
          out);
    put_owner_group(out, s, &c);
    fputs("writable = yes\nweb_readable = yes\nfile_forbid = 0002\nrepair = auto\n", out);

    fputs("\n; what WordPress writes itself (media, plugin and theme updates)\n"
          "[rule content]\nmatch = wp-content/uploads/**\nmatch = wp-content/plugins/**\n"
          "match = wp-content/themes/**\n",
          out);
    put_owner_group(out, s, &c);
    fputs("writable = yes\nweb_readable = yes\nfile_forbid = 0002\ndir_forbid = 0002\n"
          "repair = auto\n",
          out);

    fputs("\n; everything else: core updates need every writer to write it\n"
          "[rule site]\nmatch = **\n",
          out);
    put_owner_group(out, s, &c);
    fputs("writable = yes\nweb_readable = yes\nfile_forbid = 0002\ndir_forbid = 0002\n"
          "repair = manual\n",
          out);
    return ferror(out) ? -1 : 0;
}

/* --init-policy: survey ROOT and print its policy. Returns 0 or 2. */
int initpolicy_run(const char *root, FILE *out)
{
    char *abs = NULL;
    if (root[0] != '/' && !(root = abs = realpath(root, NULL))) {
        fprintf(stderr, "permwatchd: --init-policy: cannot resolve the site's path: %s\n",
                strerror(errno));
        return 2;
    }
    struct initpolicy_survey s;
    if (initpolicy_survey_site(root, &s) < 0) {
        fprintf(stderr, "permwatchd: --init-policy: cannot read %s: %s\n", root, strerror(errno));
        free(abs);
        return 2;
    }
    free(abs);
    int rc = initpolicy_write(&s, out) == 0 && fflush(out) == 0 ? 0 : 2;
    if (rc)
        fprintf(stderr, "permwatchd: --init-policy: cannot write the policy: %s\n",
                strerror(errno));
    initpolicy_survey_free(&s);
    return rc;
}
