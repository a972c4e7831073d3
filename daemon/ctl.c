/* permwatchctl: the control client. Connects to the daemon's control socket. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"

enum { CTL_OK = 0, CTL_FINDINGS = 1, CTL_USAGE = 2, CTL_UNREACHABLE = 3, CTL_DENIED = 4 };

static void usage(FILE *out)
{
    fprintf(out, "Usage: permwatchctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
                 "Commands: status, findings [--kind KIND] [PATH], scan [PATH],\n"
                 "          repair [--dry-run] [PATH], dispatch, reload, metrics\n"
                 "Exit codes: 0 ok, 1 findings/refusals present, 2 usage, 3 daemon not\n"
                 "            reachable, 4 permission denied\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *socket_path = CONFIG_DEFAULT_SOCKET;
    int opt;
    while ((opt = getopt_long(argc, argv, "+s:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            socket_path = optarg;
            break;
        case 'j':
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        case 'V':
            printf("permwatchctl %s\n", PERMWATCH_VERSION);
            return CTL_OK;
        default:
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "permwatchctl: socket path too long: %s\n", socket_path);
        return CTL_USAGE;
    }
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        fprintf(stderr, "permwatchctl: cannot reach permwatchd at %s: %s\n", socket_path,
                strerror(e));
        if (fd >= 0)
            close(fd);
        return e == EACCES ? CTL_DENIED : CTL_UNREACHABLE;
    }
    /* The control protocol arrives with the control-socket issue; until then no daemon
     * listens, and a socket that accepts is not one we can speak to. */
    close(fd);
    fprintf(stderr, "permwatchctl: the control protocol is not available in this version\n");
    return CTL_UNREACHABLE;
}
