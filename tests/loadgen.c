/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Load generator (tools/loadtest): N client processes, each with its own
 * persistent connection, mix authentications (right and wrong secrets,
 * from a host of their own) with lifecycle calls for D seconds, while the
 * parent samples the daemon's memory and descriptors.  Prints the totals and
 * exits non-zero on any failure other than rate limiting, on memory that
 * keeps growing after warm-up, or on descriptors that leak.
 *
 *   loadgen --address ADDR [--socket PATH] --daemon-pid PID [--clients 64] [--seconds 60]
 *
 * With --partial N (and --socket), the other load of docs/SECURITY.md: each
 * of --uids U UIDs (default 16, from 10000 up, no accounts needed) holds N
 * connections to the private socket, each with a 1 MiB message (--size)
 * but for its last byte.  Prints the daemon's anonymous memory before, once they are
 * all sent, and --seconds later (past the daemon's deadline for a partial
 * message); checks that root is served meanwhile and that no connection is
 * left open at the end.
 *
 *   loadgen --address ADDR --socket PATH --daemon-pid PID --partial 64 [--uids 16] [--size BYTES]
 *           [--seconds 10]
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accesskey.h"
#include "credential.h"
#include "util.h"
#include "verifier.h"

typedef struct counts {
        unsigned long calls, auth_ok, auth_rejected, rate_limited, lifecycle_ok, other;
        int first_error;
} counts;

static const char *address, *socket_path;

static void client(int n, uint64_t end, counts *out) {
        ak_client *c = NULL;
        char *id = NULL, *secret = NULL, wrong[AK_SECRET_LEN + 1], rhost[32], bad_host[32], name[32];
        unsigned seed = (unsigned) n * 7919u + 1;
        int r;

        if (ak_client_open(address, socket_path, 5000, &c) < 0 ||
            ak_create_key(c, &(ak_create_options){ .name = "load" }, &id, &secret) < 0) {
                out->other++;
                out->first_error = -EIO;
                return;
        }
        (void) ak_secret_generate(wrong);
        snprintf(rhost, sizeof(rhost), "10.%d.%d.1", n / 250, n % 250);
        /* Wrong secrets come from a host of their own: it gets rate limited,
         * the client's own logins go on. */
        snprintf(bad_host, sizeof(bad_host), "192.0.%d.%d", n / 250, n % 250 + 1);
        ak_auth_request req = { .user = "root", .service = "load", .rhost = rhost };
        ak_auth_request bad = { .user = "root", .service = "load", .rhost = bad_host };

        while (mono_usec() < end) {
                int dice = rand_r(&seed) % 100;
                ak_auth_result *res = NULL;
                out->calls++;
                if (dice < 75) {
                        r = ak_authenticate(c, id, secret, &req, &res);
                        if (r == 0)
                                out->auth_ok++;
                } else if (dice < 80) {
                        r = ak_authenticate(c, id, wrong, &bad, &res);
                        if (r == -EKEYREJECTED) {
                                out->auth_rejected++;
                                r = 0;
                        }
                } else if (dice < 88) {
                        ak_key *k = NULL;
                        r = ak_get_key(c, id, &k);
                        ak_key_free(k);
                } else if (dice < 93) {
                        snprintf(name, sizeof(name), "load-%d", dice);
                        r = ak_update_key(c, id, &(ak_update_options){ .name = name });
                } else if (dice < 96) {
                        char *s = NULL;
                        r = ak_rotate_secret(c, id, 0, &s);
                        if (r == 0) {
                                ak_secret_free(secret);
                                secret = s;
                        }
                } else {
                        /* A new key replaces the old one: create, delete. */
                        char *nid = NULL, *ns = NULL;
                        r = ak_create_key(c, &(ak_create_options){ .name = "load" }, &nid, &ns);
                        if (r == 0) {
                                r = ak_delete_key(c, id);
                                free(id);
                                ak_secret_free(secret);
                                id = nid;
                                secret = ns;
                        }
                }
                ak_auth_result_free(res);
                if (r == -EBUSY)
                        out->rate_limited++;
                else if (r < 0) {
                        if (!out->first_error)
                                out->first_error = r;
                        out->other++;
                } else if (dice >= 80)
                        out->lifecycle_ok++;
        }
        (void) ak_delete_key(c, id);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}

static long status_kib(pid_t pid, const char *field) {
        char path[64], line[256];
        long v = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, strlen(field)) == 0)
                        v = strtol(line + strlen(field), NULL, 10);
        fclose(f);
        return v;
}

static int count_fds(pid_t pid) {
        char path[64];
        int n = 0;
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        if (!d)
                return -1;
        for (struct dirent *e; (e = readdir(d));)
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* The size of the message each connection leaves unfinished. */
static size_t partial_size = 1024 * 1024;

typedef struct partial_counts {
        unsigned sent;    /* the whole message but its last byte taken */
        unsigned refused; /* connect, handshake or send failed */
        unsigned open;    /* still open at the end */
        int ready;
} partial_counts;

/* A connection to the private socket past the handshake, as uid; -1 on
 * failure. */
static int partial_connect(uid_t uid) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char hello[128], digits[16], reply[128];
        int n = snprintf(digits, sizeof(digits), "%u", (unsigned) uid), k;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = { .tv_sec = 10 };

        if (fd < 0 || strlen(socket_path) >= sizeof(sa.sun_path))
                return -1;
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        k = snprintf(hello, sizeof(hello), "%cAUTH EXTERNAL ", 0);
        for (int i = 0; i < n; i++)
                k += snprintf(hello + k, sizeof(hello) - (size_t) k, "%02x", digits[i]);
        k += snprintf(hello + k, sizeof(hello) - (size_t) k, "\r\nBEGIN\r\n");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            send(fd, hello, (size_t) k, MSG_NOSIGNAL) != k || recv(fd, reply, sizeof(reply), 0) < 3 ||
            memcmp(reply, "OK ", 3) != 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static void partial_client(uid_t uid, int conns, const char *msg, uint64_t end, partial_counts *out) {
        int *fds = calloc((size_t) conns, sizeof(int));
        if (!fds || setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
                out->refused = (unsigned) conns;
                __atomic_store_n(&out->ready, 1, __ATOMIC_RELEASE);
                return;
        }
        for (int i = 0; i < conns; i++) {
                fds[i] = partial_connect(uid);
                if (fds[i] >= 0 && send(fds[i], msg, partial_size - 1, MSG_NOSIGNAL) == (ssize_t) partial_size - 1)
                        out->sent++;
                else
                        out->refused++;
        }
        __atomic_store_n(&out->ready, 1, __ATOMIC_RELEASE);
        /* Until the end: which ones the daemon closes. */
        usleep((useconds_t) (end - MIN(end, mono_usec())));
        for (int i = 0; i < conns; i++) {
                struct pollfd p = { .fd = fds[i], .events = POLLIN };
                char b;
                if (fds[i] >= 0 && poll(&p, 1, 0) == 0)
                        out->open++;
                else if (fds[i] >= 0 && (p.revents & POLLIN) && recv(fds[i], &b, 1, MSG_DONTWAIT) > 0)
                        out->open++;
                if (fds[i] >= 0)
                        close(fds[i]);
        }
        free(fds);
}

/* How long a call of root's takes over the private socket (-1: failed). */
static long root_call_usec(void) {
        ak_client *c = NULL;
        ak_summary sum;
        uint64_t t0 = mono_usec();
        int r = ak_client_open("unix:path=/nonexistent", socket_path, 5000, &c);
        if (r == 0)
                r = ak_get_summary(c, 0, &sum);
        ak_client_close(c);
        return r < 0 ? -1 : (long) (mono_usec() - t0);
}

static int run_partial(pid_t daemon, int conns, int uids, int seconds) {
        partial_counts *shared = mmap(NULL, sizeof(partial_counts) * (size_t) uids, PROT_READ | PROT_WRITE,
                                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        char *msg = calloc(1, partial_size);
        if (shared == MAP_FAILED || !msg)
                return 1;
        memset(shared, 0, sizeof(partial_counts) * (size_t) uids);
        /* The fixed header of a method call with no header fields and a
         * body making it partial_size in all: 'l', METHOD_CALL, no flags,
         * version 1, body length, serial 1, an empty array of fields. */
        uint32_t fixed[4] = { 0, (uint32_t) partial_size - 16, 1, 0 };
        memcpy(fixed, "l\1\0\1", 4);
        memcpy(msg, fixed, sizeof(fixed));

        long anon0 = status_kib(daemon, "RssAnon:");
        int fds0 = count_fds(daemon);
        uint64_t start = mono_usec();
        uint64_t end = start + (uint64_t) seconds * USEC_PER_SEC;
        for (int i = 0; i < uids; i++) {
                pid_t pid = fork();
                if (pid == 0) {
                        partial_client((uid_t) (10000 + i), conns, msg, end, &shared[i]);
                        _exit(0);
                }
        }
        long anon_peak = anon0;
        for (int i = 0; i < uids;) {
                anon_peak = MAX(anon_peak, status_kib(daemon, "RssAnon:"));
                if (__atomic_load_n(&shared[i].ready, __ATOMIC_ACQUIRE))
                        i++;
                else
                        usleep(10000);
        }
        usleep(200000);
        long anon1 = status_kib(daemon, "RssAnon:");
        anon_peak = MAX(anon_peak, anon1);
        int fds1 = count_fds(daemon);
        long root_usec = root_call_usec();
        printf("  all sent after %.1f s: daemon anon RSS %ld KiB (highest %ld), fds %d; a call of root's took %ld us\n",
               (double) (mono_usec() - start) / USEC_PER_SEC, anon1, anon_peak, fds1, root_usec);
        fflush(stdout);
        while (wait(NULL) > 0)
                ;
        long anon2 = status_kib(daemon, "RssAnon:");
        partial_counts t = {};
        for (int i = 0; i < uids; i++) {
                t.sent += shared[i].sent;
                t.refused += shared[i].refused;
                t.open += shared[i].open;
        }
        printf("partial: %d UIDs x %d connections with %zu bytes but one: %u sent whole, %u refused or dropped "
               "while sending; daemon anon RSS %ld KiB before, %ld KiB once sent (+%ld), %ld KiB after %d s; "
               "%u connections still open after %d s; fds %d before\n",
               uids, conns, partial_size, t.sent, t.refused, anon0, anon1, anon1 - anon0, anon2, seconds, t.open, seconds,
               fds0);
        bool ok = true;
        if (root_usec < 0) {
                printf("partial: FAILED: root was not served\n");
                ok = false;
        }
        if (t.open > 0) {
                printf("partial: FAILED: %u connections with a partial message still open after %d s\n", t.open,
                       seconds);
                ok = false;
        }
        free(msg);
        return ok ? 0 : 1;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "address", required_argument, NULL, 'a' }, { "socket", required_argument, NULL, 's' },
                { "daemon-pid", required_argument, NULL, 'p' }, { "clients", required_argument, NULL, 'c' },
                { "seconds", required_argument, NULL, 't' }, { "partial", required_argument, NULL, 'P' },
                { "uids", required_argument, NULL, 'u' }, { "size", required_argument, NULL, 'S' }, {},
        };
        int clients = 64, seconds = -1, partial = 0, uids = 16, o;
        pid_t daemon = 0;
        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (o) {
                case 'a': address = optarg; break;
                case 's': socket_path = optarg; break;
                case 'p': daemon = (pid_t) atoi(optarg); break;
                case 'c': clients = atoi(optarg); break;
                case 't': seconds = atoi(optarg); break;
                case 'P': partial = atoi(optarg); break;
                case 'u': uids = atoi(optarg); break;
                case 'S': partial_size = (size_t) atol(optarg); break;
                default: return 2;
                }
        if (partial > 0) {
                if (!socket_path || daemon <= 0 || uids < 1 || uids > 256 || partial > 4096 || partial_size < 32 ||
                    partial_size > 128 * 1024 * 1024) {
                        fprintf(stderr, "usage: loadgen --address ADDR --socket PATH --daemon-pid PID --partial N "
                                        "[--uids U] [--size BYTES] [--seconds S]\n");
                        return 2;
                }
                return run_partial(daemon, partial, uids, seconds < 0 ? 10 : seconds);
        }
        if (seconds < 0)
                seconds = 60;
        if (!address || daemon <= 0 || clients < 1 || clients > 1024 || seconds < 5) {
                fprintf(stderr, "usage: loadgen --address ADDR [--socket PATH] --daemon-pid PID [--clients N] [--seconds S>=5]\n");
                return 2;
        }

        counts *shared = mmap(NULL, sizeof(counts) * (size_t) clients, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED)
                return 1;
        memset(shared, 0, sizeof(counts) * (size_t) clients);
        int fds_start = count_fds(daemon), fds_max = fds_start;
        uint64_t start = mono_usec(), end = start + (uint64_t) seconds * USEC_PER_SEC;
        for (int i = 0; i < clients; i++) {
                pid_t pid = fork();
                if (pid == 0) {
                        client(i, end, &shared[i]);
                        _exit(0);
                }
        }

        /* Samples every 5 s; warm-up is the first fifth of the run. */
        long rss_warm = -1, rss_max = 0, rss_last = 0;
        for (uint64_t t = start + 5 * USEC_PER_SEC; t <= end; t += 5 * USEC_PER_SEC) {
                usleep((useconds_t) (t - MIN(t, mono_usec())));
                long rss = status_kib(daemon, "RssAnon:");
                int fds = count_fds(daemon);
                if (rss_warm < 0 && t - start >= (uint64_t) seconds * USEC_PER_SEC / 5)
                        rss_warm = rss;
                rss_max = MAX(rss_max, rss);
                rss_last = rss;
                fds_max = MAX(fds_max, fds);
                printf("  t=%3us  daemon anon RSS %6ld KiB  fds %d\n", (unsigned) ((t - start) / USEC_PER_SEC), rss, fds);
                fflush(stdout);
        }
        while (wait(NULL) > 0)
                ;
        usleep(300000);
        int fds_end = count_fds(daemon);

        counts total = {};
        int first_error = 0;
        for (int i = 0; i < clients; i++) {
                total.calls += shared[i].calls;
                total.auth_ok += shared[i].auth_ok;
                total.auth_rejected += shared[i].auth_rejected;
                total.rate_limited += shared[i].rate_limited;
                total.lifecycle_ok += shared[i].lifecycle_ok;
                total.other += shared[i].other;
                if (!first_error)
                        first_error = shared[i].first_error;
        }
        printf("load: %d clients, %d s: %lu calls (%.0f/s): %lu logins, %lu wrong secrets rejected, %lu lifecycle "
               "calls, %lu rate limited, %lu other failures%s%s\n",
               clients, seconds, total.calls, (double) total.calls / seconds, total.auth_ok, total.auth_rejected,
               total.lifecycle_ok, total.rate_limited, total.other, first_error ? ", first: " : "",
               first_error ? ak_strerror(first_error) : "");
        printf("load: daemon anon RSS after warm-up %ld KiB, highest %ld KiB, at the end %ld KiB; descriptors %d at "
               "start, %d highest, %d after the clients left\n",
               rss_warm, rss_max, rss_last, fds_start, fds_max, fds_end);

        bool ok = total.other == 0;
        /* Flat after warm-up: allow allocator slack of a quarter or 2 MiB. */
        if (rss_warm > 0 && rss_last > rss_warm + MAX(rss_warm / 4, 2048)) {
                printf("load: FAILED: memory grew after warm-up\n");
                ok = false;
        }
        if (fds_end > fds_start) {
                printf("load: FAILED: %d descriptors leaked\n", fds_end - fds_start);
                ok = false;
        }
        if (total.other) {
                printf("load: FAILED: failures other than rate limiting\n");
        }
        return ok ? 0 : 1;
}
