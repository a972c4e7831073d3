/* helper_ctl_flood SOCKET N LINE: a control client that never reads. Keeps N connections to
 * SOCKET open, each having sent LINE (plus a newline) and never reading the reply; a
 * connection the server closes (it drops clients that do not read) is opened and sent again
 * at once. Prints "ready" on stdout once N requests are sent, then "reconnects K" every
 * second; runs until SIGTERM. Run it as a control-group member (setpriv). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A connected socket that has sent LINE (LEN bytes), or -1. */
static int flood_connect(const char *path, const char *line, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int small = 4096; /* a small receive buffer: the server's replies stop early */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: helper_ctl_flood SOCKET N LINE\n");
        return 2;
    }
    int n = atoi(argv[2]);
    if (n <= 0 || n > 4096)
        return 2;
    size_t len = strlen(argv[3]) + 1;
    char *line = malloc(len + 1);
    if (!line)
        return 1;
    memcpy(line, argv[3], len - 1);
    line[len - 1] = '\n';
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    if (!p)
        return 1;
    for (int i = 0; i < n; i++) {
        p[i].fd = flood_connect(argv[1], line, len);
        if (p[i].fd < 0) {
            fprintf(stderr, "helper_ctl_flood: connect %d: %s\n", i, strerror(errno));
            return 1;
        }
        p[i].events = POLLRDHUP;
    }
    printf("ready\n");
    fflush(stdout);
    unsigned long reconnects = 0;
    time_t last = time(NULL);
    for (;;) {
        if (poll(p, (nfds_t)n, 200) < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < n; i++)
            if (p[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
                close(p[i].fd);
                p[i].fd = flood_connect(argv[1], line, len);
                p[i].revents = 0;
                reconnects++;
                if (p[i].fd < 0)
                    p[i].fd = -1; /* poll ignores it; try again next round */
            } else if (p[i].fd < 0) {
                p[i].fd = flood_connect(argv[1], line, len);
            }
        if (time(NULL) != last) {
            last = time(NULL);
            printf("reconnects %lu\n", reconnects);
            fflush(stdout);
        }
    }
}
