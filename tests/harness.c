/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "harness.h"
#include "util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_or_cwd(const char *name, char *buf, size_t n) {
        const char *v = getenv(name);
        if (v && *v)
                return v;
        if (!getcwd(buf, n))
                return ".";
        return buf;
}

const char *harness_builddir(void) {
        static char buf[PATH_MAX];
        return env_or_cwd("AK_TOP_BUILDDIR", buf, sizeof(buf));
}

const char *harness_srcdir(void) {
        static char buf[PATH_MAX];
        return env_or_cwd("AK_TOP_SRCDIR", buf, sizeof(buf));
}

char *harness_path(const char *rel) {
        static char buf[PATH_MAX];
        snprintf(buf, sizeof(buf), "%s/%s", harness_builddir(), rel);
        return buf;
}

char *harness_read_file(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
                len += k;
                if (cap - len < 2) {
                        char *b = realloc(buf, cap * 2);
                        if (!b) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = b;
                        cap *= 2;
                }
        }
        fclose(f);
        if (buf)
                buf[len] = 0;
        return buf;
}

static void write_bus_config(harness *h, const char *path) {
        char in[PATH_MAX], policy[PATH_MAX];
        snprintf(in, sizeof(in), "%s/tests/data/system-bus.conf.in", harness_srcdir());
        snprintf(policy, sizeof(policy), "%s/dbus/org.accesskey.KeyStore1.conf", harness_srcdir());
        char *tmpl = harness_read_file(in);
        ck_assert_msg(tmpl, "cannot read %s", in);

        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        for (char *p = tmpl; *p;) {
                if (strncmp(p, "@LISTEN@", 8) == 0) {
                        fprintf(f, "unix:path=%s/bus", h->dir);
                        p += 8;
                } else if (strncmp(p, "@POLICY@", 8) == 0) {
                        fputs(policy, f);
                        p += 8;
                } else
                        fputc(*p++, f);
        }
        ck_assert_int_eq(fclose(f), 0);
        free(tmpl);
}

static bool wait_for_path(const char *path, pid_t pid, int ms) {
        for (int i = 0; i < ms / 10; i++) {
                if (access(path, F_OK) == 0)
                        return true;
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return false;
                usleep(10000);
        }
        return false;
}

void harness_prepare(harness *h) {
        if (!h->dir[0]) {
                snprintf(h->dir, sizeof(h->dir), "/tmp/accesskey-test-XXXXXX");
                ck_assert_ptr_nonnull(mkdtemp(h->dir));
                /* Other test users must reach the bus socket inside it. */
                ck_assert_int_eq(chmod(h->dir, 0755), 0);
                snprintf(h->state_dir, sizeof(h->state_dir), "%s/state", h->dir);
                snprintf(h->config_path, sizeof(h->config_path), "%s/accesskeyd.conf", h->dir);
                snprintf(h->daemon_log, sizeof(h->daemon_log), "%s/accesskeyd.log", h->dir);
                snprintf(h->private_socket, sizeof(h->private_socket), "%s/private", h->dir);
        }
}

void harness_start_bus(harness *h) {
        char conf[PATH_MAX + 16], sock[PATH_MAX + 8];

        harness_prepare(h);
        snprintf(h->bus_address, sizeof(h->bus_address), "unix:path=%s/bus", h->dir);
        snprintf(conf, sizeof(conf), "%s/bus.conf", h->dir);
        snprintf(sock, sizeof(sock), "%s/bus", h->dir);
        (void) unlink(sock);
        write_bus_config(h, conf);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char log[PATH_MAX];
                snprintf(log, sizeof(log), "%s/bus.log", h->dir);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                dup2(null, STDIN_FILENO);
                dup2(out, STDOUT_FILENO);
                dup2(out, STDERR_FILENO);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", "--config-file", conf,
                       (char *) NULL);
                _exit(127);
        }
        h->bus_pid = pid;
        ck_assert_msg(wait_for_path(sock, pid, 10000), "dbus-daemon did not start (%s)", conf);
}

void harness_spawn_daemon(harness *h, const char *const *daemon_args) {
        const char *argv[48];
        char bus[PATH_MAX + 16], state[PATH_MAX + 16], config[PATH_MAX + 16], priv[PATH_MAX + 32];
        char *exe = strdup(harness_path("accesskeyd"));
        size_t n = 0;

        snprintf(bus, sizeof(bus), "--bus=%s", h->bus_address);
        snprintf(state, sizeof(state), "--state-dir=%s", h->state_dir);
        snprintf(config, sizeof(config), "--config=%s", h->config_path);
        snprintf(priv, sizeof(priv), "--private-socket=%s", h->private_socket);
        /* tools/check runs one suite with the daemon under memcheck:
         * AK_TEST_VALGRIND_DIR names where the logs go (a test setting,
         * never read by the project's own programs). */
        const char *vdir = getenv("AK_TEST_VALGRIND_DIR");
        char vlog[PATH_MAX + 32];
        if (vdir && *vdir) {
                snprintf(vlog, sizeof(vlog), "--log-file=%s/accesskeyd.%%p.log", vdir);
                argv[n++] = "/usr/bin/valgrind";
                argv[n++] = "--tool=memcheck";
                argv[n++] = "--leak-check=full";
                argv[n++] = "--show-leak-kinds=definite";
                argv[n++] = "--errors-for-leak-kinds=definite";
                argv[n++] = "--num-callers=30";
                argv[n++] = vlog;
        }
        argv[n++] = exe;
        argv[n++] = bus;
        argv[n++] = state;
        argv[n++] = priv;
        if (access(h->config_path, F_OK) == 0)
                argv[n++] = config;
        argv[n++] = "--debug";
        for (size_t i = 0; daemon_args && daemon_args[i] && n < ELEMENTSOF(argv) - 1; i++)
                argv[n++] = daemon_args[i];
        argv[n] = NULL;

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int log = open(h->daemon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                dup2(null, STDIN_FILENO);
                dup2(log, STDOUT_FILENO);
                dup2(log, STDERR_FILENO);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        h->daemon_pid = pid;
        free(exe);
}

void harness_start_daemon(harness *h, const char *const *daemon_args) {
        pid_t pid;

        harness_spawn_daemon(h, daemon_args);
        pid = h->daemon_pid;
        /* Ready when the name answers on the bus (valgrind takes a while). */
        for (int i = 0; i < 3000; i++) {
                const char *const probe[] = { "/usr/bin/busctl", "--address", h->bus_address, "status",
                                              "org.accesskey.KeyStore1", NULL };
                if (harness_run(probe, (uid_t) -1, (gid_t) -1, NULL, NULL, NULL) == 0)
                        return;
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        h->daemon_pid = 0;
                        char *log = harness_read_file(h->daemon_log);
                        ck_abort_msg("accesskeyd exited at start: %s", log ? log : "");
                }
                usleep(10000);
        }
        ck_abort_msg("accesskeyd did not take its bus name within 30 s");
}

void harness_start(harness *h, const char *const *daemon_args) {
        memset(h, 0, sizeof(*h));
        harness_start_bus(h);
        harness_start_daemon(h, daemon_args);
}

static int stop_pid(pid_t *pid) {
        int status = -1;
        if (*pid <= 0)
                return -1;
        (void) kill(*pid, SIGCONT);
        (void) kill(*pid, SIGTERM);
        for (int i = 0; i < 500; i++) {
                if (waitpid(*pid, &status, WNOHANG) == *pid) {
                        *pid = 0;
                        return status;
                }
                usleep(10000);
        }
        (void) kill(*pid, SIGKILL);
        (void) waitpid(*pid, &status, 0);
        *pid = 0;
        return status;
}

int harness_stop_daemon(harness *h) {
        return stop_pid(&h->daemon_pid);
}

void harness_stop(harness *h) {
        (void) stop_pid(&h->daemon_pid);
        (void) stop_pid(&h->bus_pid);
        if (h->dir[0] && strncmp(h->dir, "/tmp/accesskey-test-", 20) == 0) {
                const char *const rm[] = { "/bin/rm", "-rf", h->dir, NULL };
                (void) harness_run(rm, (uid_t) -1, (gid_t) -1, NULL, NULL, NULL);
        }
        h->dir[0] = 0;
}

static char *drain(int fd) {
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        for (;;) {
                if (cap - len < 2) {
                        buf = realloc(buf, cap *= 2);
                        ck_assert_ptr_nonnull(buf);
                }
                ssize_t k = read(fd, buf + len, cap - len - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = 0;
        return buf;
}

/* Programs of the build tree run as other users from a copy that every
 * user can reach: the checkout may lie below a directory that only root
 * may enter (a clone in /root, a mktemp -d), where exec() fails with
 * EACCES for them.  libtool leaves a wrapper script in the build directory
 * and the program itself in .libs/, linked against the shared libraries in
 * the top .libs/ (found through LD_LIBRARY_PATH, as the wrapper does): the
 * copy takes the program and those libraries.  One copy a process, removed
 * at its exit (Check runs each test in a process of its own). */
static char others_dir[sizeof("/tmp/accesskey-prog-XXXXXX")];
static pid_t others_owner;

static void remove_others_dir(void) {
        if (!others_dir[0] || getpid() != others_owner)
                return;
        DIR *d = opendir(others_dir);
        for (struct dirent *de; d && (de = readdir(d));)
                (void) unlinkat(dirfd(d), de->d_name, 0);
        if (d)
                closedir(d);
        (void) rmdir(others_dir);
}

static void copy_file(const char *from, const char *to) {
        int in = open(from, O_RDONLY | O_CLOEXEC);
        ck_assert_msg(in >= 0, "cannot read %s: %m", from);
        int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
        ck_assert_msg(out >= 0, "cannot create %s: %m", to);
        char buf[65536];
        ssize_t k;
        while ((k = read(in, buf, sizeof(buf))) > 0)
                ck_assert_int_eq(write(out, buf, (size_t) k), k);
        ck_assert_int_eq(k, 0);
        close(in);
        ck_assert_int_eq(close(out), 0);
}

/* The path other users can run for path: path itself when it is not in
 * the build tree, else its copy (made at the first call) in buf. */
static const char *runnable_by_others(const char *path, char *buf, size_t n) {
        const char *top = harness_builddir();
        size_t len = strlen(top);
        if (strncmp(path, top, len) != 0 || path[len] != '/')
                return path;
        if (!others_dir[0] || others_owner != getpid()) {
                char libs[PATH_MAX], from[PATH_MAX + 256], to[sizeof(others_dir) + 256];
                snprintf(others_dir, sizeof(others_dir), "/tmp/accesskey-prog-XXXXXX");
                ck_assert_ptr_nonnull(mkdtemp(others_dir));
                ck_assert_int_eq(chmod(others_dir, 0755), 0);
                if (!others_owner)
                        atexit(remove_others_dir);
                others_owner = getpid();
                /* libaccesskey.so.0 and any other library of the tree. */
                snprintf(libs, sizeof(libs), "%s/.libs", top);
                DIR *d = opendir(libs);
                for (struct dirent *de; d && (de = readdir(d));) {
                        if (!strstr(de->d_name, ".so"))
                                continue;
                        snprintf(from, sizeof(from), "%s/%s", libs, de->d_name);
                        snprintf(to, sizeof(to), "%s/%s", others_dir, de->d_name);
                        copy_file(from, to);
                }
                if (d)
                        closedir(d);
        }
        const char *base = strrchr(path, '/') + 1;
        char real[PATH_MAX + 8];
        /* A libtool wrapper's program, or the program itself. */
        snprintf(real, sizeof(real), "%.*s.libs/%s", (int) (base - path), path, base);
        if (access(real, X_OK) < 0)
                snprintf(real, sizeof(real), "%s", path);
        snprintf(buf, n, "%s/%s", others_dir, base);
        if (access(buf, X_OK) < 0)
                copy_file(real, buf);
        return buf;
}

int harness_run(const char *const *argv, uid_t uid, gid_t gid, const char *input, char **ret_stdout,
                char **ret_stderr) {
        char exe[PATH_MAX];
        const char *prog =
                uid == (uid_t) -1 ? argv[0] : runnable_by_others(argv[0], exe, sizeof(exe));
        char outp[] = "/tmp/accesskey-out-XXXXXX", errp[] = "/tmp/accesskey-err-XXXXXX";
        int out = mkstemp(outp), err = mkstemp(errp);
        ck_assert(out >= 0 && err >= 0);
        (void) unlink(outp);
        (void) unlink(errp);

        int in[2];
        ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(in[0], STDIN_FILENO);
                dup2(out, STDOUT_FILENO);
                dup2(err, STDERR_FILENO);
                if (uid != (uid_t) -1) {
                        char u[32], g[32];
                        const char *args[64];
                        size_t n = 0;
                        snprintf(u, sizeof(u), "--reuid=%u", (unsigned) uid);
                        snprintf(g, sizeof(g), "--regid=%u", (unsigned) gid);
                        args[n++] = "setpriv";
                        args[n++] = u;
                        args[n++] = g;
                        args[n++] = "--clear-groups";
                        args[n++] = prog;
                        for (size_t i = 1; argv[i] && n < ELEMENTSOF(args) - 1; i++)
                                args[n++] = argv[i];
                        args[n] = NULL;
                        if (prog != argv[0])
                                (void) setenv("LD_LIBRARY_PATH", others_dir, 1);
                        execvp("setpriv", (char *const *) args);
                } else
                        execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(in[0]);
        if (input) {
                size_t len = strlen(input);
                /* Inputs in tests are small; a pipe buffer holds them. */
                ssize_t k = write(in[1], input, len);
                (void) k;
        }
        close(in[1]);

        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (ret_stdout) {
                lseek(out, 0, SEEK_SET);
                *ret_stdout = drain(out);
        }
        if (ret_stderr) {
                lseek(err, 0, SEEK_SET);
                *ret_stderr = drain(err);
        }
        close(out);
        close(err);
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

int harness_main(Suite *s, bool need_root) {
        if (need_root && geteuid() != 0) {
                fprintf(stderr, "%s needs root: a private bus whose daemon name only root may own, and other "
                                "real users; skipped\n",
                        program_invocation_short_name);
                return 77;
        }
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- syslog() of this process, read by the test ---- */

#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>

/* The kernel queues only net.unix.max_dgram_qlen (10) datagrams on a
 * socket, and syslog() blocks past them: a thread reads them as they come. */
static struct {
        pthread_mutex_t lock;
        int fd;
        char *text;
        size_t len;
} capture = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* With capture.lock held. */
static void capture_read(void) {
        char msg[4096];
        ssize_t n;

        while ((n = recv(capture.fd, msg, sizeof(msg), MSG_DONTWAIT)) > 0) {
                char *t = realloc(capture.text, capture.len + (size_t) n + 2);
                if (!t)
                        abort();
                capture.text = t;
                memcpy(t + capture.len, msg, (size_t) n);
                capture.len += (size_t) n;
                t[capture.len++] = '\n';
                t[capture.len] = 0;
        }
}

static void *capture_thread(void *arg) {
        struct pollfd p = { .fd = capture.fd, .events = POLLIN };
        (void) arg;
        for (;;) {
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        return NULL;
                pthread_mutex_lock(&capture.lock);
                capture_read();
                pthread_mutex_unlock(&capture.lock);
        }
}

int harness_syslog_socket(void) {
        static const char *const devs[] = { "null", "zero", "urandom", "random" };
        char old[] = "/tmp/accesskey-olddev-XXXXXX";

        /* "none" where the kernel ignores the type: valgrind checks it. */
        ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
        ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_ptr_nonnull(mkdtemp(old));
        ck_assert_int_eq(mount("/dev", old, "none", MS_BIND | MS_REC, NULL), 0);
        ck_assert_int_eq(mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755,size=1m"), 0);
        for (size_t i = 0; i < ELEMENTSOF(devs); i++) {
                char from[128], to[64];
                snprintf(from, sizeof(from), "%s/%s", old, devs[i]);
                snprintf(to, sizeof(to), "/dev/%s", devs[i]);
                int fd = open(to, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
                ck_assert_int_ge(fd, 0);
                close(fd);
                ck_assert_int_eq(mount(from, to, "none", MS_BIND, NULL), 0);
        }
        ck_assert_int_eq(umount2(old, MNT_DETACH), 0);
        ck_assert_int_eq(rmdir(old), 0);
        int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
        ck_assert_int_ge(s, 0);
        ck_assert_int_eq(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return s;
}

void harness_capture_syslog(void) {
        pthread_t t;

        capture.fd = harness_syslog_socket();
        ck_assert_int_eq(pthread_create(&t, NULL, capture_thread, NULL), 0);
        ck_assert_int_eq(pthread_detach(t), 0);
        /* A connection syslog() made before would still reach the host. */
        closelog();
}

char *harness_syslog_text(bool clear) {
        pthread_mutex_lock(&capture.lock);
        capture_read();
        char *r = strdup(capture.text ? capture.text : "");
        if (clear) {
                free(capture.text);
                capture.text = NULL;
                capture.len = 0;
        }
        pthread_mutex_unlock(&capture.lock);
        ck_assert_ptr_nonnull(r);
        return r;
}
