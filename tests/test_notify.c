/* Unit tests of notify: messages reach a real datagram socket, and a reader that never reads
 * (a full socket queue) never blocks the sender. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"

static char dir[] = "/tmp/pw-notify-XXXXXX";
static char path[sizeof(dir) + 16];
static int reader = -1;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/n.sock", dir);
    reader = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(reader, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert_eq(bind(reader, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
}

static void teardown(void)
{
    close(reader);
    unlink(path);
    rmdir(dir);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

TestSuite(notify, .init = setup, .fini = teardown);

Test(notify, messages_arrive)
{
    notify_ready("watching %d directories", 3);
    char buf[1024];
    ssize_t n = recv(reader, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "READY=1\nSTATUS=watching 3 directories");
    notify_watchdog();
    n = recv(reader, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "WATCHDOG=1");
}

/* libsystemd 252's sd_notify blocks here once the queue (net.unix.max_dgram_qlen) is full. */
Test(notify, a_reader_that_never_reads_blocks_nothing)
{
    alarm(20); /* a blocking sender would hang: fail by SIGALRM instead */
    double t0 = now_ms();
    for (int i = 0; i < 5000; i++) {
        notify_watchdog();
        notify_status("status %d", i);
    }
    double t = now_ms() - t0;
    cr_assert_lt(t, 2000.0, "10,000 messages to a full queue took %.0f ms", t);
    /* a state change is retried briefly, then given up */
    t0 = now_ms();
    notify_stopping("bye");
    t = now_ms() - t0;
    cr_assert_lt(t, 1000.0, "STOPPING on a full queue took %.0f ms", t);
    alarm(0);
}

Test(notify, no_socket_is_a_no_op)
{
    unsetenv("NOTIFY_SOCKET");
    errno = 42;
    notify_ready("x");
    notify_watchdog();
    cr_assert_eq(errno, 42);
}
