/* permwatchd: parse arguments, load the policy, run the one-shot command or the daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>

#include "account.h"
#include "config.h"
#include "control.h"
#include "initpolicy.h"
#include "loop.h"
#include "log.h"
#include "oneshot.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: permwatchd [OPTIONS]\n"
            "       permwatchd --scan [PATH] [--json]\n"
            "       permwatchd --init-policy [PATH]\n"
            "Watch a web site tree's ownership and permissions; log findings to the journal.\n"
            "\n"
            "  -c, --config FILE        policy file (default %s)\n"
            "  -t, --check-config       validate the policy, print it, exit 0 or 1\n"
            "      --scan [PATH]        audit the site (or PATH below it) once; exit 0 when\n"
            "                           clean, 1 when there are findings, 2 on error\n"
            "      --json               with --scan: one JSON object per finding and line\n"
            "      --repair [--dry-run] with --scan: repair by the policy; exit 0 when done,\n"
            "                           1 when refusals remain, 2 on error\n"
            "      --init-policy [PATH] print a starting policy that fits the site at PATH\n"
            "                           (--site PATH too; default: the policy's root)\n"
            "      --log-target TARGET  auto, journal or stderr (default auto)\n"
            "  -V, --version            print the version\n"
            "  -h, --help               print this help\n",
            CONFIG_DEFAULT_PATH);
}

/* Open files are one per directory level during a crawl: allow as many as we may. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    enum { OPT_SCAN = 256, OPT_JSON, OPT_REPAIR, OPT_DRY_RUN, OPT_LOG_TARGET, OPT_INIT, OPT_SITE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"scan", no_argument, NULL, OPT_SCAN},
        {"json", no_argument, NULL, OPT_JSON},
        {"repair", no_argument, NULL, OPT_REPAIR},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"log-target", required_argument, NULL, OPT_LOG_TARGET},
        {"init-policy", no_argument, NULL, OPT_INIT},
        {"site", required_argument, NULL, OPT_SITE},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = CONFIG_DEFAULT_PATH, *log_target = "auto";
    bool check = false, scan = false, json = false, repair = false, dry_run = false;
    bool init = false;
    const char *init_site = NULL;
    int opt;
    control_listen_fds(); /* first: LISTEN_* unset before any thread runs */

    while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            check = true;
            break;
        case OPT_SCAN:
            scan = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_REPAIR:
            repair = true;
            break;
        case OPT_DRY_RUN:
            dry_run = true;
            break;
        case OPT_LOG_TARGET:
            log_target = optarg;
            break;
        case OPT_INIT:
            init = true;
            break;
        case OPT_SITE:
            init_site = optarg;
            break;
        case 'V':
            printf("permwatchd %s\n", PERMWATCH_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    const char *scan_path = NULL;
    if (scan && optind < argc)
        scan_path = argv[optind++];
    if (init && !init_site && optind < argc)
        init_site = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "permwatchd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if ((json || repair || dry_run) && !scan) {
        fprintf(stderr, "permwatchd: --json, --repair and --dry-run go with --scan\n");
        return 2;
    }
    if ((init_site && !init) || (init && (scan || check))) {
        fprintf(stderr, "permwatchd: --site goes with --init-policy, which goes alone\n");
        return 2;
    }
    if (dry_run && !repair) {
        fprintf(stderr, "permwatchd: --dry-run goes with --repair\n");
        return 2;
    }
    unsigned targets;
    if (log_target_parse(log_target, !scan && !check && !init, &targets) < 0) {
        fprintf(stderr, "permwatchd: --log-target: expected auto, journal or stderr, got '%s'\n",
                log_target);
        return 2;
    }
    log_open(targets);

    if (check)
        return oneshot_check_config(config_path, stdout);

    if (init && init_site)
        return initpolicy_run(init_site, stdout);
    struct config *c;
    struct config_error err;
    if (config_load_file(config_path, &c, &err) < 0) {
        char buf[1024];
        config_error_format(&err, buf, sizeof(buf));
        struct log_field f[] = {{"REASON", buf}, {"PATH", config_path}};
        log_event(LOG_EVENT_CONFIG_ERROR, LOG_ERR, f, 2, "not starting: %s", buf);
        exit(2);
    }
    raise_nofile_limit();

    int rc;
    if (init) {
        rc = initpolicy_run(c->site_root, stdout);
    } else if (scan && repair) {
        rc = oneshot_repair(c, scan_path, dry_run, (targets & LOG_TO_JOURNAL) != 0, stdout);
    } else if (scan) {
        struct scan_options so = {scan_path, json, (targets & LOG_TO_JOURNAL) != 0};
        rc = oneshot_scan(c, &so, stdout);
    } else {
        struct loop *l = loop_new(c, config_path);
        if (!l)
            fatal(2, "cannot set up the event loop and inotify: %s%s", strerror(errno),
                  errno == EMFILE ? " (raise fs.inotify.max_user_instances)" : "");
        rc = loop_run(l);
        loop_free(l);
        c = NULL;
    }
    config_free(c);
    account_cache_clear();
    log_close(); /* what is queued for the journal, within a bounded wait */
    return rc;
}
