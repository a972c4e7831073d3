/* helper_listen_fds: calls control_listen_fds() twice, as permwatchd's main() does once, and
 * prints what a child would inherit: "n=N again=N LISTEN_PID=... LISTEN_FDS=...
 * LISTEN_FDNAMES=... cloexec=0|1" (unset variables as "-"; cloexec: fd 3's FD_CLOEXEC). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "control.h"

int main(void)
{
    int n = control_listen_fds();
    int again = control_listen_fds();
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS"),
               *names = getenv("LISTEN_FDNAMES");
    int fl = fcntl(3, F_GETFD);
    printf("n=%d again=%d LISTEN_PID=%s LISTEN_FDS=%s LISTEN_FDNAMES=%s cloexec=%d\n", n, again,
           pid ? pid : "-", fds ? fds : "-", names ? names : "-", fl >= 0 && (fl & FD_CLOEXEC));
    return 0;
}
