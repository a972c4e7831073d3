/* harness: shared helpers of the Criterion tests (temp trees, running programs). */
#ifndef PERMWATCH_HARNESS_H
#define PERMWATCH_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

/* Output and exit status of a finished command. */
struct run_result {
    int status; /* exit code, or 128+signal */
    char *out;  /* stdout, NUL-terminated, caller frees with run_result_free */
    char *err;  /* stderr */
};

/* Absolute path of the build directory (PERMWATCH_BUILD, default "build") + "/" + NAME, in
 * a static buffer of the caller's choice of size. Returns BUF. */
const char *harness_build_path(const char *name, char *buf, size_t len);

/* The Debian package the nspawn tests install, into DEB: PERMWATCH_DEB, else the one
 * $PERMWATCH_BUILD/deb/permwatch_*.deb (the ASan pass has no package of its own: the Makefile
 * names it). Fails the test when there is none, or several. */
void harness_deb(char *deb, size_t len);

/* Absolute path of the tests directory (source tree) + "/" + NAME. Returns BUF. */
const char *harness_tests_path(const char *name, char *buf, size_t len);

/* Run ARGV (argv[0] a path) with stdin from /dev/null, capturing stdout and stderr.
 * Returns 0 and fills *res, or -1 when the program could not be started. */
int harness_run(char *const argv[], struct run_result *res);

/* Run a shell command line with /bin/sh -c, capturing like harness_run. */
int harness_sh(struct run_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void run_result_free(struct run_result *res);

/* Make a fresh directory under /tmp, mode 0755; returns a malloc'd path. Fails the test
 * when it cannot. */
char *harness_tempdir(const char *tag);

/* rm -rf PATH (refuses anything outside /tmp). */
void harness_rmtree(const char *path);

/* Write TEXT to PATH (created 0644, truncated). Fails the test on error. */
void harness_write_file(const char *path, const char *text);

/* uid/gid of a user or group that the test needs; fails the test when unknown. */
uid_t harness_uid(const char *user);
gid_t harness_gid(const char *group);

/* The value in KiB of FIELD (e.g. "VmHWM:", colon included) in /proc/PID/status; 0 when the
 * process or the field is missing. */
unsigned long harness_proc_kib(pid_t pid, const char *field);

/* The whole file PATH, NUL-terminated (malloc'd); fails the test when unreadable. */
char *harness_slurp(const char *path);

/* The verdict on a script of "ok NAME" / "not ok NAME: DETAIL" lines (tests/unit-nspawn.sh,
 * tests/deb-nspawn.sh) that SCRIPT printed into R: exit 77 skips the test (its "SKIP: WHY"
 * line the reason); otherwise its output goes to the test log, and exit status 0, no
 * "not ok" line and an "ok NAME" line for each of the N names WANT are expected. Frees R. */
void harness_expect_checks(const char *script, struct run_result *r, const char *const *want,
                           size_t n);

/* Run the nspawn test script PATH (named NAME in messages) with the package (harness_deb) as
 * its argument, bounded by TIMEOUT_S, and judge its lines by harness_expect_checks. */
void harness_run_package_script(const char *name, const char *path, int timeout_s,
                                const char *const *want, size_t n);

#endif
