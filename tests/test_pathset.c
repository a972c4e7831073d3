/* test_pathset: the set of unwatched subtree tops: add without duplicates, pop in order, drop a
 * subtree (and only it: "a-x" and "ab" are not below "a"), and 200,000 paths in well under a
 * second (no quadratic work). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pathset.h"

Test(pathset, add_pop_drop)
{
    struct pathset *s = pathset_new();
    cr_assert_not_null(s);
    const char *paths[] = {"a", "a/b", "a/b/c", "a-x", "ab", "b", "a/c", "a"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_assert_eq(pathset_add(s, paths[i]), 0);
    cr_assert_eq(pathset_count(s), 7, "no duplicate");
    cr_expect_eq(pathset_bytes(s), 2 + 4 + 6 + 4 + 3 + 2 + 4, "lengths plus terminators");
    cr_expect_eq(pathset_drop_below(s, "a/b"), 2);
    cr_expect_eq(pathset_drop_below(s, "a"), 2, "a and a/c");
    cr_expect_eq(pathset_drop_below(s, "zz"), 0);
    const char *left[] = {"a-x", "ab", "b"};
    for (size_t i = 0; i < 3; i++) {
        char *p = pathset_pop(s);
        cr_assert_not_null(p);
        cr_expect_str_eq(p, left[i]);
        free(p);
    }
    cr_expect_null(pathset_pop(s));
    cr_assert_eq(pathset_add(s, ""), 0);
    cr_assert_eq(pathset_add(s, "x"), 0);
    cr_expect_eq(pathset_drop_below(s, ""), 2, "\"\" is everything");
    cr_expect_eq(pathset_count(s), 0);
    cr_expect_eq(pathset_bytes(s), 0);
    pathset_free(s);
}

Test(pathset, many_paths_no_quadratic_cost)
{
    struct pathset *s = pathset_new();
    char p[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 200000; i++) {
        snprintf(p, sizeof(p), "wp-content/uploads/n%06d", i);
        cr_assert_eq(pathset_add(s, p), 0);
        cr_assert_eq(pathset_add(s, p), 0);
    }
    cr_expect_eq(pathset_count(s), 200000);
    cr_expect_eq(pathset_drop_below(s, "wp-content/uploads/n000100"), 1);
    cr_expect_eq(pathset_drop_below(s, "wp-content"), 199999);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s_taken = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_lt(s_taken, 2.0, "%.2f s for 200,000 paths", s_taken);
    pathset_free(s);
}
