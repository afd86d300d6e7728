/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-auth — K clients, each on its own persistent libaccesskey
 * connection, call the daemon as fast as it answers for T seconds (or N
 * calls each), and report the rate and the latency percentiles.
 *
 *   bench-auth (--socket PATH | --bus ADDRESS) [--clients K]
 *              [--seconds T | --count N] [--op auth|ping|echo|connect|list|create|update]
 *              [--creds FILE] [--user NAME] [--service NAME] [--label TEXT]
 *              [--refusals-ok]
 *
 * Operations:
 *   auth    Authenticate with the credentials of FILE ("ID:SECRET" lines),
 *           client i starting at line i and going round them
 *   ping    org.freedesktop.DBus.Peer.Ping on the daemon's object, over
 *           the library's own transport: the round trip with no work
 *           behind it, the baseline of auth
 *   echo    32 bytes over a socketpair to a thread of this process that
 *           sends them back: a wakeup each way and nothing else, the floor
 *           under any one client's round trip on this machine
 *   connect a fresh connection per call, and on it one call with no work
 *           behind it: Peer.Ping to the daemon on the private socket;
 *           Hello and GetId to the bus daemon itself on a bus (accesskeyd
 *           plays no part): the floor under a login's connection
 *   list    ListKeys of the caller's own keys
 *   create  CreateKey (one durable commit each)
 *   update  UpdateKey of the description of a key of FILE (client i
 *           starting at line i): a durable change each, the churn that
 *           must not slow logins down
 *
 * One line of key=value figures on stdout; exit 1 if any call failed,
 * except with --refusals-ok, where calls refused as rate limited are
 * counted (refused=N) and the clients go on: a flood as a user would send
 * it.
 * Clients are threads: a client handle is never shared between them.
 */
#include <dbus/dbus.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "accesskey.h"
#include "peer.h"

#define MAX_CLIENTS 256
#define MAX_CREDS 4096
#define TIMEOUT_MS 10000

typedef enum op { OP_AUTH, OP_PING, OP_ECHO, OP_CONNECT, OP_LIST, OP_CREATE, OP_UPDATE } op;

static struct {
        const char *socket_path, *bus, *user, *service, *label;
        bool refusals_ok;
        op op;
        unsigned clients;
        double seconds;
        unsigned long count;
        char **creds;
        size_t n_creds;
} cfg = { .user = "root", .service = "bench", .clients = 1, .seconds = 5, .label = "-" };

typedef struct client {
        unsigned index;
        pthread_t thread;
        double *lat; /* seconds */
        size_t n, cap;
        unsigned long errors, refused;
        int first_error;
        char message[256];
} client;

static pthread_barrier_t ready;
static double t_start;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void note_error(client *cl, int r, const char *msg) {
        if (cl->errors++ == 0) {
                cl->first_error = r;
                snprintf(cl->message, sizeof(cl->message), "%s", msg ? msg : "");
        }
}

/* A connection of the library's transport, without the library's calls:
 * to the private socket, or to the bus. */
static peer_conn *open_raw(void) {
        peer_conn *c = NULL;
        int r = cfg.socket_path ? peer_connect(cfg.socket_path, &c) : peer_connect_bus(cfg.bus, &c);
        if (r < 0)
                fprintf(stderr, "bench-auth: %s: %s\n", cfg.socket_path ? cfg.socket_path : cfg.bus, strerror(-r));
        return c;
}

/* One call with no work behind it: Peer.Ping to the daemon on the
 * private socket; on a bus, GetId to the bus daemon when to_bus (the first
 * call also says Hello), else Peer.Ping to the daemon through the bus. */
static int do_ping(peer_conn *c, client *cl, bool to_bus) {
        DBusMessage *m =
                to_bus ? dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "GetId")
                       : dbus_message_new_method_call(cfg.socket_path ? NULL : "org.accesskey.KeyStore1",
                                                      "/org/accesskey/KeyStore1", "org.freedesktop.DBus.Peer", "Ping");
        DBusMessage *reply = NULL;
        if (!m)
                return -ENOMEM;
        int r = peer_call(c, m, TIMEOUT_MS, &reply);
        dbus_message_unref(m);
        if (r == 0 && dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR)
                r = -EIO;
        if (reply)
                dbus_message_unref(reply);
        if (r < 0)
                note_error(cl, r, strerror(-r));
        return r;
}

static int do_connect(client *cl) {
        peer_conn *c = open_raw();
        if (!c) {
                note_error(cl, -ECONNREFUSED, "cannot connect");
                return -ECONNREFUSED;
        }
        int r = do_ping(c, cl, !cfg.socket_path);
        peer_close(c);
        return r;
}

/* The other end of an echo client's socketpair. */
static void *echo(void *userdata) {
        int fd = (int) (intptr_t) userdata;
        char b[64];
        for (;;) {
                ssize_t k = read(fd, b, sizeof(b));
                if (k <= 0 || write(fd, b, (size_t) k) != k)
                        break;
        }
        close(fd);
        return NULL;
}

static int do_echo(int fd, client *cl) {
        char b[32] = { 0 };
        if (write(fd, b, sizeof(b)) != (ssize_t) sizeof(b) || read(fd, b, sizeof(b)) != (ssize_t) sizeof(b)) {
                note_error(cl, -EIO, "echo");
                return -EIO;
        }
        return 0;
}

static int do_one(ak_client *ak, peer_conn *raw, int echo_fd, client *cl, size_t i) {
        int r = 0;
        switch (cfg.op) {
        case OP_AUTH: {
                const char *cred = cfg.creds[(cl->index + i) % cfg.n_creds];
                char id[AK_ID_LEN + 1];
                memcpy(id, cred, AK_ID_LEN);
                id[AK_ID_LEN] = 0;
                ak_auth_request req = { .user = cfg.user, .service = cfg.service, .rhost = "", .tty = "" };
                ak_auth_result *res = NULL;
                r = ak_authenticate(ak, id, cred + AK_ID_LEN + 1, &req, &res);
                ak_auth_result_free(res);
                break;
        }
        case OP_PING:
                return do_ping(raw, cl, false);
        case OP_ECHO:
                return do_echo(echo_fd, cl);
        case OP_CONNECT:
                return do_connect(cl);
        case OP_LIST: {
                ak_key **keys = NULL;
                size_t n = 0;
                r = ak_list_keys(ak, NULL, &keys, &n);
                if (r >= 0)
                        ak_key_list_free(keys, n);
                break;
        }
        case OP_UPDATE: {
                const char *cred = cfg.creds[(cl->index + i) % cfg.n_creds];
                char id[AK_ID_LEN + 1], desc[64];
                memcpy(id, cred, AK_ID_LEN);
                id[AK_ID_LEN] = 0;
                snprintf(desc, sizeof(desc), "churn %u/%zu", cl->index, i);
                r = ak_update_key(ak, id, &(ak_update_options){ .description = desc });
                break;
        }
        case OP_CREATE: {
                ak_create_options o = { .name = "bench-create", .set_expires = true, .expires_at = 0 };
                char *id = NULL, *secret = NULL;
                r = ak_create_key(ak, &o, &id, &secret);
                free(id);
                ak_secret_free(secret);
                break;
        }
        }
        if (r == -EBUSY && cfg.refusals_ok) {
                cl->refused++;
                return 0;
        }
        if (r < 0)
                note_error(cl, r, ak_client_last_error(ak));
        return r;
}

static void *run(void *userdata) {
        client *cl = userdata;
        ak_client *ak = NULL;
        peer_conn *raw = NULL;
        pthread_t echoer;
        int r = 0, pair[2] = { -1, -1 };

        if (cfg.op == OP_PING)
                r = (raw = open_raw()) ? 0 : -ECONNREFUSED;
        else if (cfg.op == OP_ECHO) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0 ||
                    pthread_create(&echoer, NULL, echo, (void *) (intptr_t) pair[1]) != 0)
                        r = -errno;
        }
        else if (cfg.op != OP_CONNECT)
                r = ak_client_open(cfg.socket_path ? NULL : cfg.bus, cfg.socket_path, TIMEOUT_MS, &ak);
        if (r < 0)
                note_error(cl, r, "cannot connect");
        pthread_barrier_wait(&ready);
        if (r < 0)
                return NULL;

        for (size_t i = 0;; i++) {
                double t0 = now_s();
                if (cfg.count ? i >= cfg.count : t0 - t_start >= cfg.seconds)
                        break;
                if (do_one(ak, raw, pair[0], cl, i) < 0 && cl->errors > 100)
                        break;
                double t1 = now_s();
                if (cl->n == cl->cap) {
                        cl->cap = cl->cap ? cl->cap * 2 : 65536;
                        cl->lat = realloc(cl->lat, cl->cap * sizeof(double));
                        if (!cl->lat)
                                abort();
                }
                cl->lat[cl->n++] = t1 - t0;
        }
        peer_close(raw);
        ak_client_close(ak);
        if (pair[0] >= 0) {
                close(pair[0]);
                (void) pthread_join(echoer, NULL);
        }
        return NULL;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
        if (n == 0)
                return 0;
        size_t i = (size_t) (p * (double) (n - 1) + 0.5);
        return v[i];
}

static int read_creds(const char *path) {
        FILE *f = fopen(path, "re");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        if (!f) {
                fprintf(stderr, "bench-auth: %s: %m\n", path);
                return -1;
        }
        cfg.creds = calloc(MAX_CREDS, sizeof(char *));
        while (cfg.creds && cfg.n_creds < MAX_CREDS && (len = getline(&line, &cap, f)) >= 0) {
                /* A secret with a NUL inside is not the one written there. */
                if (memchr(line, 0, (size_t) len)) {
                        fprintf(stderr, "bench-auth: %s: a line holds a NUL byte; refused\n", path);
                        free(line);
                        fclose(f);
                        return -1;
                }
                line[strcspn(line, "\n")] = 0;
                if (strlen(line) == AK_ID_LEN + 1 + AK_SECRET_LEN)
                        cfg.creds[cfg.n_creds++] = strdup(line);
        }
        free(line);
        fclose(f);
        return cfg.n_creds > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 'S' },  { "bus", required_argument, NULL, 'B' },
                { "clients", required_argument, NULL, 'k' }, { "seconds", required_argument, NULL, 't' },
                { "count", required_argument, NULL, 'n' },   { "op", required_argument, NULL, 'o' },
                { "creds", required_argument, NULL, 'c' },   { "user", required_argument, NULL, 'u' },
                { "service", required_argument, NULL, 's' }, { "label", required_argument, NULL, 'l' },
                { "refusals-ok", no_argument, NULL, 'R' },   {},
        };
        const char *creds_path = NULL, *op_name = "auth";
        int c;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case 'S':
                        cfg.socket_path = optarg;
                        break;
                case 'R':
                        cfg.refusals_ok = true;
                        break;
                case 'B':
                        cfg.bus = optarg;
                        break;
                case 'k':
                        cfg.clients = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        cfg.seconds = strtod(optarg, NULL);
                        break;
                case 'n':
                        cfg.count = strtoul(optarg, NULL, 10);
                        break;
                case 'o':
                        op_name = optarg;
                        break;
                case 'c':
                        creds_path = optarg;
                        break;
                case 'u':
                        cfg.user = optarg;
                        break;
                case 's':
                        cfg.service = optarg;
                        break;
                case 'l':
                        cfg.label = optarg;
                        break;
                default:
                        fprintf(stderr, "usage: bench-auth (--socket PATH | --bus ADDRESS) [--clients K] "
                                        "[--seconds T | --count N] [--op auth|ping|echo|connect|list|create|update] [--creds FILE] [--refusals-ok]\n");
                        return 2;
                }
        }
        if (!strcmp(op_name, "auth"))
                cfg.op = OP_AUTH;
        else if (!strcmp(op_name, "ping"))
                cfg.op = OP_PING;
        else if (!strcmp(op_name, "echo"))
                cfg.op = OP_ECHO;
        else if (!strcmp(op_name, "connect"))
                cfg.op = OP_CONNECT;
        else if (!strcmp(op_name, "list"))
                cfg.op = OP_LIST;
        else if (!strcmp(op_name, "create"))
                cfg.op = OP_CREATE;
        else if (!strcmp(op_name, "update"))
                cfg.op = OP_UPDATE;
        else {
                fprintf(stderr, "bench-auth: unknown --op %s\n", op_name);
                return 2;
        }
        if (!cfg.socket_path == !cfg.bus || cfg.clients == 0 || cfg.clients > MAX_CLIENTS) {
                fprintf(stderr, "bench-auth: give one of --socket and --bus, and 1 to %d clients\n", MAX_CLIENTS);
                return 2;
        }
        if ((cfg.op == OP_AUTH || cfg.op == OP_UPDATE) && (!creds_path || read_creds(creds_path) < 0)) {
                fprintf(stderr, "bench-auth: --op %s needs --creds FILE of ID:SECRET lines\n", op_name);
                return 2;
        }

        client *cl = calloc(cfg.clients, sizeof(*cl));
        if (!cl)
                return 1;
        pthread_barrier_init(&ready, NULL, cfg.clients + 1);
        for (unsigned i = 0; i < cfg.clients; i++) {
                cl[i].index = i;
                if (pthread_create(&cl[i].thread, NULL, run, &cl[i]) != 0)
                        return 1;
        }
        t_start = now_s();
        pthread_barrier_wait(&ready);
        t_start = now_s();
        for (unsigned i = 0; i < cfg.clients; i++)
                pthread_join(cl[i].thread, NULL);
        double elapsed = now_s() - t_start;

        size_t total = 0;
        unsigned long errors = 0, refused = 0;
        for (unsigned i = 0; i < cfg.clients; i++) {
                total += cl[i].n;
                errors += cl[i].errors;
                refused += cl[i].refused;
        }
        double *all = malloc((total ? total : 1) * sizeof(double)), sum = 0;
        size_t k = 0;
        for (unsigned i = 0; i < cfg.clients; i++)
                for (size_t j = 0; j < cl[i].n; j++) {
                        all[k++] = cl[i].lat[j];
                        sum += cl[i].lat[j];
                }
        qsort(all, total, sizeof(double), cmp_double);
        printf("op=%s label=%s clients=%u n=%zu secs=%.2f rate=%.0f p50_us=%.1f p99_us=%.1f mean_us=%.1f "
               "errors=%lu refused=%lu\n",
               op_name, cfg.label, cfg.clients, total, elapsed, (double) total / elapsed, pct(all, total, 0.5) * 1e6,
               pct(all, total, 0.99) * 1e6, total ? sum / (double) total * 1e6 : 0, errors, refused);
        for (unsigned i = 0; i < cfg.clients; i++)
                if (cl[i].errors) {
                        fprintf(stderr, "bench-auth: client %u: %lu error(s), first: %s (%s)\n", i, cl[i].errors,
                                ak_strerror(cl[i].first_error), cl[i].message);
                        break;
                }
        return errors ? 1 : 0;
}
