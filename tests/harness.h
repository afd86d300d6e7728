/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test harness: a throwaway deny-by-default system bus (tests/data/
 * system-bus.conf, which includes the project's own policy file) and a real
 * accesskeyd on a temporary state directory, plus helpers to run programs
 * as other users (setpriv) and capture their output.
 *
 * Integration tests need root: only root may own org.accesskey.KeyStore1 under
 * the project's policy, and other users are real UIDs made with setpriv.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct harness {
        char dir[128];               /* temporary directory, removed at stop */
        char state_dir[PATH_MAX];    /* <dir>/state */
        char bus_address[PATH_MAX];  /* "unix:path=<dir>/bus" */
        char config_path[PATH_MAX];  /* <dir>/accesskeyd.conf (may not exist) */
        char daemon_log[PATH_MAX];   /* <dir>/accesskeyd.log: daemon stdout+stderr */
        char private_socket[PATH_MAX]; /* <dir>/private: the daemon's peer-to-peer socket */
        pid_t bus_pid;
        pid_t daemon_pid;
} harness;

/* Absolute build and source directories (from AK_TOP_BUILDDIR/AK_TOP_SRCDIR
 * set by `make check`, else the current directory). */
const char *harness_builddir(void);
const char *harness_srcdir(void);
/* "<builddir>/<rel>", in a static buffer per call site's copy: strdup it. */
char *harness_path(const char *rel);

/* Creates the directory and starts the bus, then the daemon (with --debug,
 * --private-socket=<dir>/private and any extra arguments, NULL-terminated or
 * NULL).  Aborts the test on failure.  harness_start_bus() again after the
 * bus was stopped brings it back at the same address. */
void harness_start(harness *h, const char *const *daemon_args);
void harness_start_bus(harness *h);
void harness_start_daemon(harness *h, const char *const *daemon_args);
/* The directory and the paths in it, no bus (idempotent). */
void harness_prepare(harness *h);
/* Starts the daemon on h->bus_address without waiting for it to take its
 * name: for a test that plays the bus itself. */
void harness_spawn_daemon(harness *h, const char *const *daemon_args);
/* SIGTERM and wait; returns the daemon's exit status (as from waitpid). */
int harness_stop_daemon(harness *h);
/* Stops daemon and bus, removes the directory. */
void harness_stop(harness *h);

/* Runs argv (argv[0] a path) as uid/gid (uid == (uid_t)-1: as we are),
 * with stdin from `input` (NULL: /dev/null).  A program of the build tree
 * run as another user runs from a copy in a directory every user can
 * enter, with the tree's libraries, wherever the checkout is.  Captured stdout/stderr are
 * returned NUL-terminated when ret_* are non-NULL.  Returns the exit code,
 * or 128+signal. */
int harness_run(const char *const *argv, uid_t uid, gid_t gid, const char *input, char **ret_stdout,
                char **ret_stderr);

/* Other users for tests.  They must be real accounts: dbus-daemon refuses
 * connections from UIDs without a passwd entry.  Debian's base system has
 * daemon (1), bin (2) and nobody (65534) everywhere; tests use them rather
 * than adding accounts to the machine.  Their GIDs equal their UIDs. */
#define HARNESS_UID_OTHER 1
#define HARNESS_UID_THIRD 2
#define HARNESS_UID_NOBODY 65534

/* Runs a Check suite and returns the process's exit code.  With need_root,
 * a test program not run as root is skipped (77), saying why. */
struct Suite;
int harness_main(struct Suite *s, bool need_root);

/* Reads a whole file into a NUL-terminated buffer (NULL on failure). */
char *harness_read_file(const char *path);

/* Makes this process's syslog() lines readable by the test, leaving the
 * host's log alone: in a mount namespace of the calling process only (a
 * forked Check test), /dev becomes a tmpfs with null, zero, urandom, random
 * and a datagram socket at /dev/log that a thread reads.
 * harness_syslog_text() returns (malloc'd) every line since the capture
 * started or was last cleared, one message a line. */
void harness_capture_syslog(void);
/* The same namespace and /dev/log, as a non-blocking datagram socket for
 * the caller to read. */
int harness_syslog_socket(void);
char *harness_syslog_text(bool clear);
