/* notify: sd_notify messages of the live daemon (libsystemd's sd_notify sends one datagram
 * with MSG_DONTWAIT, so a stuck manager never blocks us). */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

/* Send STATE (newline-separated assignments); keeps errno. */
static void send_state(const char *state)
{
    int saved = errno;
    sd_notify(0, state);
    errno = saved;
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
    send_state(msg);
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
    send_state(msg);
}

void notify_stopping(const char *status)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status ? status : "stopping");
    send_state(msg);
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
