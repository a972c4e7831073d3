/* ftable memory per open finding (issue 9, held case "1,000,000 root-owned files"): the
 * findings table of a site full of root-owned files stays small per finding. A million files
 * is too slow for make check; 100,000 paths of realistic 47 bytes, each with the findings the
 * policy makes of a root:root 0644 file (as the daemon makes them), measured with
 * ftable_memory() (bytes requested from malloc, without the allocator's overhead). Two
 * policies: owner only (one finding per path: the worst case per finding) and owner, group
 * and mode (three per path). Only the public ftable.h API is used, so the test holds whatever
 * the table's storage becomes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "account.h"
#include "config.h"
#include "ftable.h"
#include "policy.h"

#define NPATHS 100000
/* the bound asserted: bytes of the table per open finding */
#define MAX_BYTES_PER_FINDING 256

/* Fill a table with NPATHS root-owned files judged by the policy TEXT; returns the bytes per
 * open finding and sets *PER_PATH to the number of findings each path has. */
static double bytes_per_finding(const char *text, double *per_path)
{
    struct config *c;
    struct config_error err;
    char buf[1024];
    cr_assert(config_load_string(text, "memory.ini", &c, &err) == 0, "%s",
              config_error_format(&err, buf, sizeof(buf)));
    struct ftable *t = ftable_new(0, NULL, NULL);
    cr_assert_not_null(t);
    size_t empty = ftable_memory(t);
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_mode = S_IFREG | 0644; /* what root's umask 022 leaves */
    char path[64];
    size_t nfind = 0;
    for (size_t i = 0; i < NPATHS; i++) {
        /* 47 bytes: wp-content/uploads/YYYY/MM/img-NNNNNNNN-150.jpg */
        int n = snprintf(path, sizeof(path), "wp-content/uploads/%04zu/%02zu/img-%08zu-150.jpg",
                         2000 + i / 12000 % 25, 1 + i / 1000 % 12, i);
        cr_assert_eq(n, 47);
        st.st_ino = 1000 + i;
        const struct rule *r = policy_match(c, path);
        cr_assert_not_null(r);
        struct finding f[FINDING_KIND_COUNT];
        size_t nf = policy_evaluate(r, &c->web, &st, f);
        cr_assert_geq(nf, 1);
        for (size_t k = 0; k < nf; k++) {
            f[k].owner = account_user_name(f[k].uid);
            f[k].group = account_group_name(f[k].gid);
        }
        nfind += nf;
        cr_assert_eq(ftable_update(t, path, f, nf), 0);
    }
    cr_assert_eq(ftable_count(t), nfind);
    size_t bytes = ftable_memory(t) - empty;
    double per = (double)bytes / (double)nfind;
    *per_path = (double)nfind / NPATHS;
    fprintf(stderr,
            "ftable_memory: %d paths of 47 bytes, %zu open findings (%.0f per path): %zu bytes, "
            "%.1f per path, %.1f per finding\n",
            NPATHS, nfind, *per_path, bytes, (double)bytes / NPATHS, per);
    ftable_free(t);
    config_free(c);
    return per;
}

Test(ftable_memory, bytes_per_open_finding_of_a_root_owned_site)
{
    static const char owner_only[] = "[site]\nroot = /var/www/site\n"
                                     "[rule site]\nmatch = **\nowner = www-data\n";
    static const char full[] = "[site]\nroot = /var/www/site\n"
                               "[rule site]\nmatch = **\nowner = www-data\ngroup = www-data\n"
                               "file_require = 0660\ndir_require = 0770\nrepair = manual\n";
    double kinds;
    double one = bytes_per_finding(owner_only, &kinds);
    cr_expect_eq(kinds, 1.0, "one finding (root_owned) per path");
    cr_expect_leq(one, MAX_BYTES_PER_FINDING, "%.1f bytes per open finding", one);
    double three = bytes_per_finding(full, &kinds);
    cr_expect_eq(kinds, 3.0, "root_owned, group_mismatch, mode_mismatch per path");
    cr_expect_leq(three, MAX_BYTES_PER_FINDING, "%.1f bytes per open finding", three);
}
