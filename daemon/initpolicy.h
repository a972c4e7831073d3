/* initpolicy: `permwatchd --init-policy`: a starting policy that fits an existing site. The
 * walk (initpolicy_survey_site) records who owns what and with which modes, in a few distinct
 * "shapes"; the pure part (initpolicy_choose, initpolicy_write) turns a survey into the web
 * user, the writers, the groups and INI text, so it can be tested without a tree or NSS. */
#ifndef PERMWATCH_INITPOLICY_H
#define PERMWATCH_INITPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "account.h"

/* Objects of the site with the same owner, group, mode and type, counted. */
struct initpolicy_shape {
    uid_t uid;
    gid_t gid;
    mode_t mode; /* permission bits (07777) */
    bool dir;
    size_t count;
};

/* An owner found in the site. name NULL: no account on this host (then loaded is false). */
struct initpolicy_user {
    uid_t uid;
    char *name;
    bool loaded;        /* p holds the user with all its groups */
    struct principal p; /* valid when loaded */
};

/* A group found in the site; name NULL: no group entry (the number is used). */
struct initpolicy_group {
    gid_t gid;
    char *name;
};

struct initpolicy_survey {
    char *root; /* absolute site root */
    uid_t root_uid;
    struct initpolicy_shape *shapes; /* regular files and directories, root included */
    size_t nshapes;
    struct initpolicy_user *users; /* one per distinct uid of the shapes */
    size_t nusers;
    struct initpolicy_group *groups; /* one per distinct gid of the shapes */
    size_t ngroups;
    size_t nfiles, ndirs, nskipped; /* skipped: symlinks, special files, ignored caches */
};

/* What initpolicy_choose decided. Indices point into the survey's users/groups arrays. */
#define INITPOLICY_MAX 32
struct initpolicy_choice {
    const char *web_user;           /* a survey user's name or "www-data" */
    ssize_t web;                    /* index of the web user in users, -1 when not an owner */
    size_t writers[INITPOLICY_MAX]; /* users, the web user first when it owns anything */
    size_t nwriters;
    size_t others[INITPOLICY_MAX]; /* non-root owners left out (they could not write) */
    size_t nothers;
    size_t groups[INITPOLICY_MAX]; /* groups of the writers' objects, gid 0 never */
    size_t ngroups;
};

/* Walk the tree at ROOT (absolute, not following symlinks, not crossing mounts, skipping
 * wp-content/cache and wp-content/upgrade-temp-backup) and resolve its owners (with their
 * groups) and groups through NSS. Returns 0 and fills *s (free with initpolicy_survey_free),
 * or -1 with errno (the root cannot be read, ENOMEM). */
int initpolicy_survey_site(const char *root, struct initpolicy_survey *s);

/* Add N objects of one shape to S (merging with an equal shape). Returns 0, or -1 ENOMEM. */
int initpolicy_survey_add(struct initpolicy_survey *s, uid_t uid, gid_t gid, mode_t mode, bool dir,
                          size_t n);

void initpolicy_survey_free(struct initpolicy_survey *s);

/* Whether P may write an object of shape O by its mode bits alone (files: w, directories: w
 * and x; owner class decides alone, then the group class when P is in the group, else
 * other; uid 0 always). ACLs are not seen by the survey. */
bool initpolicy_can_write(const struct principal *p, const struct initpolicy_shape *o);

/* Pure. The web user: the site root's owner when it is not root and has an account, else
 * "www-data". The writers: the web user, then every other non-root owner with an account that
 * can write at least 9 in 10 of the objects the web user owns (none when the web user owns
 * nothing: the writers are then the web user alone), most objects first, at most
 * INITPOLICY_MAX; the other non-root owners go to `others`. The groups: the non-zero
 * gids of the writers' objects, the web user's primary group first, then by count. */
void initpolicy_choose(const struct initpolicy_survey *s, struct initpolicy_choice *c);

/* Pure. Print the starting policy for S as INI that config_load_file accepts (given the names
 * exist on the host) to OUT: [site] root, web_user, writers; rules agent-state, caches,
 * wp-config, mu-plugins, content and site with owner = the writers, group = the groups,
 * writable/web_readable = yes and world write forbidden (wp-config.php: web_readable, no group
 * write, nothing for others). Returns 0, or -1 on a write error. */
int initpolicy_write(const struct initpolicy_survey *s, FILE *out);

/* --init-policy: survey the site at ROOT (a relative path is made absolute) and write its starting
 * policy to OUT; errors to stderr. Returns 0, or 2 when the site cannot be read (the --scan error
 * code). */
int initpolicy_run(const char *root, FILE *out);

#endif
