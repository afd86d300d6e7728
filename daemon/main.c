/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accesskeyd — the access key store daemon.  See accesskeyd(8).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "config.h"
#include "expiry.h"
#include "keystore.h"
#include "log.h"
#include "loop.h"
#include "manager.h"
#include "private.h"
#include "usage.h"
#include "util.h"

#define DEFAULT_STATE_DIR LOCALSTATEDIR "/lib/accesskey"
/* Where libaccesskey looks first, whatever the prefix (systemd's
 * RuntimeDirectory=accesskey is /run/accesskey). */
#define DEFAULT_PRIVATE_SOCKET AK_DEFAULT_PRIVATE_SOCKET
#define BUS_RECONNECT_INTERVAL (1 * USEC_PER_SEC)
#define USAGE_FLUSH_INTERVAL (5 * USEC_PER_SEC)
/* Keys also get checked when they change; the scan catches those that
 * enter their warning window by the passing of time. */
#define EXPIRY_SCAN_INTERVAL (10 * 60 * USEC_PER_SEC)

typedef struct options {
        const char *bus;
        const char *state_dir;
        const char *config_path;
        const char *private_socket; /* "": none */
        bool config_explicit;
        bool debug;
} options;

static manager mgr;

static void help(void) {
        printf("Usage: accesskeyd [OPTIONS]\n\n"
               "The access key store daemon.\n\n"
               "  --bus=system|session|ADDRESS  the bus to serve on (default: system)\n"
               "  --state-dir=DIR               the keystore directory (default: %s)\n"
               "  --config=FILE                 the configuration file (default: %s)\n"
               "  --private-socket=PATH         the peer-to-peer socket (default: %s; empty: none)\n"
               "  --debug                       log debug messages\n"
               "  --help                        show this help\n"
               "  --version                     show the version\n\n"
               "See accesskeyd(8) and accesskeyd.conf(5).\n",
               DEFAULT_STATE_DIR, CONFIG_DEFAULT_PATH, DEFAULT_PRIVATE_SOCKET);
}

static int parse_args(int argc, char **argv, options *o) {
        enum { ARG_BUS = 0x100, ARG_STATE_DIR, ARG_CONFIG, ARG_PRIVATE_SOCKET, ARG_DEBUG, ARG_HELP, ARG_VERSION };
        static const struct option longopts[] = {
                { "bus", required_argument, NULL, ARG_BUS },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "config", required_argument, NULL, ARG_CONFIG },
                { "private-socket", required_argument, NULL, ARG_PRIVATE_SOCKET },
                { "debug", no_argument, NULL, ARG_DEBUG },
                { "help", no_argument, NULL, ARG_HELP },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        int c;

        *o = (options){ .bus = "system",
                        .state_dir = DEFAULT_STATE_DIR,
                        .config_path = CONFIG_DEFAULT_PATH,
                        .private_socket = DEFAULT_PRIVATE_SOCKET };
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0)
                switch (c) {
                case ARG_BUS:
                        o->bus = optarg;
                        break;
                case ARG_STATE_DIR:
                        o->state_dir = optarg;
                        break;
                case ARG_CONFIG:
                        o->config_path = optarg;
                        o->config_explicit = true;
                        break;
                case ARG_PRIVATE_SOCKET:
                        if (*optarg && *optarg != '/') {
                                fprintf(stderr, "accesskeyd: --private-socket needs an absolute path\n");
                                return -EINVAL;
                        }
                        o->private_socket = optarg;
                        break;
                case ARG_DEBUG:
                        o->debug = true;
                        break;
                case ARG_HELP:
                        help();
                        exit(EXIT_SUCCESS);
                case ARG_VERSION:
                        printf("accesskeyd %s\n", PACKAGE_VERSION);
                        exit(EXIT_SUCCESS);
                default:
                        fprintf(stderr, "accesskeyd: see 'accesskeyd --help' for the options\n");
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "accesskeyd: unexpected argument '%s'; see 'accesskeyd --help'\n", argv[optind]);
                return -EINVAL;
        }
        if (isempty(o->bus) || isempty(o->state_dir)) {
                fprintf(stderr, "accesskeyd: --bus and --state-dir need a value\n");
                return -EINVAL;
        }
        return 0;
}

static const options *opts;

static void reload(void) {
        config c;
        char err[512];
        if (config_load(opts->config_path, !opts->config_explicit, &c, err, sizeof(err)) < 0) {
                log_error("reload: %s; keeping the previous configuration", err);
                return;
        }
        config_clear(&mgr.cfg);
        mgr.cfg = c;
        /* Group memberships may have changed with the admin group. */
        caller_cache_clear(mgr.callers);
        mgr.generation++;
        log_info("configuration reloaded from %s", opts->config_path);
        expiry_scan(&mgr);
}

static void on_signal(loop *l, int fd, uint32_t revents, void *userdata) {
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                        reload();
                        loop_set_busy_poll(l, mgr.cfg.busy_poll_usec);
                } else {
                        log_info("received %s; flushing and exiting", strsignal((int) si.ssi_signo));
                        loop_quit(l, 0);
                }
        }
}

static void on_expiry_scan(loop *l, void *userdata) {
        expiry_scan(&mgr);
}

static void on_release_held(loop *l, void *userdata) {
        manager_release_held(&mgr, false);
}

static void on_prune(loop *l, void *userdata) {
        (void) ratelimit_prune(mgr.failures, mono_usec());
        (void) ratelimit_prune(mgr.changes, mono_usec());
}

static DBusConnection *bus;
static private_server *priv;

/* Every second: drops a lost bus connection and tries to connect again,
 * and drops private-socket connections that never authenticated. */
static void on_bus_check(loop *l, void *userdata) {
        static bool reported;
        private_expire(priv);
        if (bus && bus_is_lost()) {
                bus_stop(l, &mgr, bus);
                bus = NULL;
                caller_cache_clear(mgr.callers);
        }
        if (!bus) {
                if (bus_start(l, &mgr, opts->bus, reported, &bus) == 0) {
                        log_info("reconnected to the bus");
                        reported = false;
                } else
                        reported = true;
        }
}

static void on_flush(loop *l, void *userdata) {
        int r = usage_flush_async(mgr.usage);
        if (r < 0)
                log_warning("cannot write usage figures: %s; will retry", strerror(-r));
}

/* Changes the writer thread has put on disk: their replies and signals. */
static void on_written(loop *l, int fd, uint32_t revents, void *userdata) {
        keystore_dispatch(mgr.ks);
}

int main(int argc, char **argv) {
        options o;
        loop *l = NULL;
        char err[512];
        int r, sfd = -1, code = EXIT_FAILURE;
        sigset_t mask;

        if (parse_args(argc, argv, &o) < 0)
                return 2;
        opts = &o;
        log_open();
        log_set_debug(o.debug);
        umask(0077);
        /* Secrets pass through this process: no core dumps, no ptrace by
         * non-root. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        if (config_load(o.config_path, !o.config_explicit, &mgr.cfg, err, sizeof(err)) < 0) {
                log_error("configuration: %s; not starting", err);
                return EXIT_FAILURE;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        if ((r = keystore_open(o.state_dir, &mgr.ks)) < 0) {
                log_error("cannot open the keystore in %s: %s; not starting", o.state_dir,
                          strerror(-r));
                goto out;
        }
        mgr.usage = usage_cache_new(mgr.ks);
        mgr.callers = caller_cache_new();
        mgr.failures = ratelimit_new(RATELIMIT_MAX_BUCKETS);
        mgr.changes = ratelimit_new(RATELIMIT_MAX_BUCKETS);
        if (!mgr.usage || !mgr.callers || !mgr.failures || !mgr.changes || loop_new(&l) < 0) {
                log_error("out of memory");
                goto out;
        }
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0 || loop_add_fd(l, sfd, EPOLLIN, on_signal, NULL) < 0 ||
            loop_add_timer(l, USAGE_FLUSH_INTERVAL, on_flush, NULL) < 0 ||
            loop_add_timer(l, EXPIRY_SCAN_INTERVAL, on_expiry_scan, NULL) < 0 ||
            loop_add_timer(l, BUS_RECONNECT_INTERVAL, on_bus_check, NULL) < 0 ||
            loop_add_timer(l, 60 * USEC_PER_SEC, on_prune, NULL) < 0 ||
            loop_add_timer(l, 100 * USEC_PER_MSEC, on_release_held, NULL) < 0) {
                log_error("cannot set up signals and timers: %m");
                goto out;
        }
        if ((r = keystore_start_writer(mgr.ks)) < 0 ||
            (r = loop_add_fd(l, keystore_event_fd(mgr.ks), EPOLLIN, on_written, NULL)) < 0) {
                log_error("cannot start the keystore's writer thread: %s", strerror(-r));
                goto out;
        }
        loop_set_busy_poll(l, mgr.cfg.busy_poll_usec);
        /* The bus name first: owning it proves no other accesskeyd runs, so
         * a socket file left at the private path is stale. */
        if (bus_start(l, &mgr, o.bus, false, &bus) < 0)
                goto out;
        if (*o.private_socket) {
                _cleanup_(freep) char *dir = strdup(o.private_socket);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                if (slash && slash != dir) {
                        *slash = 0;
                        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                                log_warning("cannot create %s: %m", dir);
                }
                if (private_start(l, &mgr, o.private_socket, &priv) < 0)
                        goto out;
        }
        /* Keys that entered their warning window while we were not running. */
        expiry_scan(&mgr);

        code = loop_run(l) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
        /* Changes still queued are written and answered while the bus and
         * the private socket are there to take the replies. */
        if (mgr.ks && keystore_event_fd(mgr.ks) >= 0) {
                loop_remove_fd(l, keystore_event_fd(mgr.ks));
                keystore_stop_writer(mgr.ks);
        }
        manager_release_held(&mgr, true);
        private_stop(priv);
        if (mgr.usage && (r = usage_flush(mgr.usage)) < 0)
                log_error("cannot write usage figures at exit: %s", strerror(-r));
        bus_stop(l, &mgr, bus);
        if (sfd >= 0)
                close(sfd);
        loop_free(l);
        usage_cache_free(mgr.usage);
        caller_cache_free(mgr.callers);
        ratelimit_free(mgr.failures);
        ratelimit_free(mgr.changes);
        keystore_close(mgr.ks);
        config_clear(&mgr.cfg);
        return code;
}
