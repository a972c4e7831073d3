/* helper_watch_limit N CMD [ARGS...]: run CMD with at most N inotify watches, without touching
 * the host's limit: this process enters a new user namespace that maps every uid and gid to
 * itself (so www-data is 33 inside as outside), sets user.max_inotify_watches = N there (a
 * per-namespace limit, checked on top of the host's) and execs CMD, keeping its pid: whoever
 * started it may signal and wait that pid, and sd_notify datagrams carry it. Needs real root.
 *
 * A user namespace's maps must be written from outside it, so a short-lived child writes
 * /proc/PARENT/uid_map and gid_map once this process has unshared, and is reaped before the
 * exec. Exits 125 (and says why on stderr) when any step fails; otherwise CMD's status.
 *
 * helper_watch_limit --set PID N: change that limit while CMD runs (PID: CMD's pid, whose user
 * namespace it is): joins PID's user namespace (as its owner, with every capability there)
 * and writes N to its /proc/sys/user/max_inotify_watches. Exits 0, or 125 on failure. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL 125

/* Print "helper_watch_limit: WHAT: strerror(errno)" and exit FAIL. */
__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "helper_watch_limit: %s: %s\n", what, strerror(errno));
    exit(FAIL);
}

/* Write TEXT to the existing file PATH in one write(2). Returns 0 or -1 (errno set). */
static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int err = errno;
    close(fd);
    if (w != (ssize_t)len) {
        errno = w < 0 ? err : EIO;
        return -1;
    }
    return 0;
}

/* The mapping child: wait until PARENT has unshared (a byte on GO_FD), write its identity
 * maps, exit 0; exit 1 when the parent went away or a map could not be written. */
static void map_child(pid_t parent, int go_fd)
{
    char c, path[64];
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(1);
    if (read(go_fd, &c, 1) != 1)
        _exit(1);
    static const char *const files[] = {"uid_map", "gid_map"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)parent, files[i]);
        if (write_text(path, "0 0 4294967295\n") < 0) {
            fprintf(stderr, "helper_watch_limit: %s: %s\n", path, strerror(errno));
            _exit(1);
        }
    }
    _exit(0);
}

/* --set PID N: write N to the watch limit of PID's user namespace. Returns the exit code. */
static int set_limit(const char *pid, const char *n)
{
    char path[64], text[32];
    snprintf(path, sizeof(path), "/proc/%s/ns/user", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(path);
    if (setns(fd, CLONE_NEWUSER) < 0)
        die("setns(CLONE_NEWUSER)");
    close(fd);
    snprintf(text, sizeof(text), "%s\n", n);
    if (write_text("/proc/sys/user/max_inotify_watches", text) < 0)
        die("/proc/sys/user/max_inotify_watches");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--set") == 0)
        return set_limit(argv[2], argv[3]);
    if (argc < 3) {
        fprintf(stderr, "usage: helper_watch_limit N CMD [ARGS...] | --set PID N\n");
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long n = strtoul(argv[1], &end, 10);
    if (errno || end == argv[1] || *end || n > INT_MAX) {
        fprintf(stderr, "helper_watch_limit: bad watch count '%s'\n", argv[1]);
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "helper_watch_limit: needs root (it writes identity uid/gid maps)\n");
        return FAIL;
    }

    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        die("pipe");
    pid_t self = getpid();
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(go[1]);
        map_child(self, go[0]);
    }
    close(go[0]);

    /* unshare(CLONE_NEWUSER) keeps the parent-death signal (the kernel uids do not change),
     * but restore it anyway: the harness relies on it to never leave a daemon behind. */
    int pdeath = 0;
    prctl(PR_GET_PDEATHSIG, &pdeath);
    if (unshare(CLONE_NEWUSER) < 0) {
        int err = errno;
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        errno = err;
        die("unshare(CLONE_NEWUSER)");
    }
    if (write(go[1], "u", 1) != 1)
        die("write to the mapping child");
    close(go[1]);
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "helper_watch_limit: writing the uid/gid maps failed\n");
        return FAIL;
    }
    if (pdeath > 0)
        prctl(PR_SET_PDEATHSIG, pdeath);
    if (getuid() != 0 || getgid() != 0) {
        fprintf(stderr, "helper_watch_limit: not root inside the namespace (uid %u)\n",
                (unsigned)getuid());
        return FAIL;
    }

    char text[32];
    snprintf(text, sizeof(text), "%lu\n", n);
    if (write_text("/proc/sys/user/max_inotify_watches", text) < 0)
        die("/proc/sys/user/max_inotify_watches");

    execvp(argv[2], argv + 2);
    die(argv[2]);
}
