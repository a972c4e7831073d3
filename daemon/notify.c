/* notify: sd_notify messages of the live daemon. libsystemd 252's sd_notify blocks when the
 * manager's socket queue is full (net.unix.max_dgram_qlen, 10 by default outside systemd), so
 * the datagram is sent here on a non-blocking socket: a stuck or slow reader costs a dropped
 * STATUS= or WATCHDOG=1, never a stalled loop. READY=1, RELOADING=1 and STOPPING=1 are retried
 * for at most NOTIFY_RETRY_MS, since the manager acts on them. */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

/* How long a state change (READY, RELOADING, STOPPING) is retried on a full socket queue. */
#define NOTIFY_RETRY_MS 200

/* Fill *SA from $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Returns the
 * address length, or 0 when it is unset or unusable. */
static socklen_t notify_address(struct sockaddr_un *sa)
{
    const char *e = getenv("NOTIFY_SOCKET");
    size_t n = e ? strlen(e) : 0;
    if (n < 2 || (e[0] != '/' && e[0] != '@') || n > sizeof(sa->sun_path))
        return 0;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, e, n);
    if (e[0] == '@')
        sa->sun_path[0] = '\0';
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/'));
}

/* Send STATE (newline-separated assignments) without ever blocking; with PERSIST, retry a
 * full queue for up to NOTIFY_RETRY_MS. Keeps errno. */
static void send_state_mode(const char *state, bool persist)
{
    int saved = errno;
    struct sockaddr_un sa;
    socklen_t salen = notify_address(&sa);
    int fd = salen ? socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
    if (fd >= 0) {
        for (int waited = 0;; waited++) {
            ssize_t n = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                               (struct sockaddr *)&sa, salen);
            if (n >= 0 || !persist || (errno != EAGAIN && errno != EINTR) ||
                waited >= NOTIFY_RETRY_MS)
                break;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        close(fd);
    }
    errno = saved;
}

/* A state the manager only displays or counts (STATUS=, WATCHDOG=1): dropped when full. */
static void send_state(const char *state)
{
    send_state_mode(state, false);
}

/* Send PREFIX followed by "STATUS=" and the formatted text. */
static void send_with_status(const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void send_with_status(const char *prefix, const char *fmt, va_list ap)
{
    char status[512], msg[600];
    vsnprintf(status, sizeof(status), fmt, ap);
    /* a newline would start another assignment */
    for (char *p = status; *p; p++)
        if (*p == '\n')
            *p = ' ';
    snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, status);
    send_state_mode(msg, *prefix != '\0');
}

void notify_ready(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_with_status("READY=1\n", fmt, ap);
    va_end(ap);
}

void notify_status(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_with_status("", fmt, ap);
    va_end(ap);
}

void notify_extend_timeout(uint64_t usec)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%" PRIu64, usec);
    send_state(msg);
}

void notify_reloading(void)
{
    struct timespec ts;
    char msg[96];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading", now);
    send_state_mode(msg, true);
}

void notify_stopping(const char *status)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status ? status : "stopping");
    send_state_mode(msg, true);
}

void notify_watchdog(void)
{
    send_state("WATCHDOG=1");
}

uint64_t notify_watchdog_usec(void)
{
    int saved = errno;
    uint64_t usec = 0;
    /* unset_environment 0: a reload or a child keeps seeing it */
    if (sd_watchdog_enabled(0, &usec) <= 0)
        usec = 0;
    errno = saved;
    return usec;
}
