/* mktree ROOT DIRS FILES_PER_DIR ROOT_EVERY: build a benchmark site fast: DIRS directories
 * (two levels: sqrt-ish fan-out) holding FILES_PER_DIR files each, owned by www-data, files
 * 0664, directories 2775; every ROOT_EVERY-th file is left root:root 0644 (a planted
 * finding). Prints "PLANTED FILES DIRS" (DIRS counts the root too). Run again on the same
 * ROOT with the same shape, it resets the tree instead: existing files are truncated and
 * given the owner and mode they would have been created with (bench/run's repair row). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "mktree: %s: %s\n", what, strerror(errno));
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: mktree ROOT DIRS FILES_PER_DIR ROOT_EVERY\n");
        return 2;
    }
    const char *root = argv[1];
    long dirs = atol(argv[2]), files = atol(argv[3]), every = atol(argv[4]);
    struct passwd *pw = getpwnam("www-data");
    if (!pw)
        die("www-data");
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (mkdir(root, 02775) < 0 && errno != EEXIST)
        die(root);
    int rfd = open(root, O_RDONLY | O_DIRECTORY);
    if (rfd < 0 || fchown(rfd, uid, gid) < 0 || fchmod(rfd, 02775) < 0)
        die(root);
    long top = 1;
    while (top * top < dirs)
        top++;
    long made = 0, planted = 0, n = 0;
    for (long t = 0; t < top && made < dirs; t++) {
        char name[32];
        snprintf(name, sizeof(name), "d%03ld", t);
        if (mkdirat(rfd, name, 02775) < 0 && errno != EEXIST)
            die(name);
        int tfd = openat(rfd, name, O_RDONLY | O_DIRECTORY);
        if (tfd < 0 || fchown(tfd, uid, gid) < 0 || fchmod(tfd, 02775) < 0)
            die(name);
        made++;
        for (long s = 0; s < top && made < dirs; s++, made++) {
            char sub[32];
            snprintf(sub, sizeof(sub), "s%04ld", s);
            if (mkdirat(tfd, sub, 02775) < 0 && errno != EEXIST)
                die(sub);
            int sfd = openat(tfd, sub, O_RDONLY | O_DIRECTORY);
            if (sfd < 0 || fchown(sfd, uid, gid) < 0 || fchmod(sfd, 02775) < 0)
                die(sub);
            for (long f = 0; f < files; f++, n++) {
                char fn[32];
                snprintf(fn, sizeof(fn), "f%05ld.php", f);
                bool existed = false;
                int fd = openat(sfd, fn, O_WRONLY | O_CREAT | O_EXCL, 0644);
                if (fd < 0 && errno == EEXIST) {
                    existed = true;
                    fd = openat(sfd, fn, O_WRONLY | O_TRUNC | O_NOFOLLOW);
                }
                if (fd < 0)
                    die(fn);
                if (every > 0 && n % every == 0) {
                    planted++;
                    if (existed && (fchown(fd, 0, 0) < 0 || fchmod(fd, 0644) < 0))
                        die(fn);
                } else if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0664) < 0) {
                    die(fn);
                }
                close(fd);
            }
            close(sfd);
        }
        close(tfd);
    }
    close(rfd);
    printf("%ld %ld %ld\n", planted, n, made + 1);
    return 0;
}
