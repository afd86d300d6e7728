/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-login — logins as sshd makes them, one after the other: for each,
 * pam_start_confdir() (which reads the stack and loads its modules),
 * pam_authenticate() and pam_end() (which unloads them, unless a module is
 * linked -z nodelete), so every login opens and closes its own connection to
 * whatever the stack asks.
 *
 *   bench-login --confdir DIR --service NAME --creds FILE [--count N]
 *               [--warmup W] [--label TEXT] [--preload LIB]...
 *
 * FILE holds "USER<TAB>PASSWORD" lines; login i uses line i mod their
 * number.  The process holds libcrypto already, as sshd does; --preload
 * loads more libraries first (tools/bench gives the ones /usr/sbin/sshd
 * links, so that a module brings in only what sshd would not already hold:
 * libdbus-1 for pam_accesskey, libdb for pam_userdb).  One line of key=value figures on stdout; exit 1 if any login
 * failed.
 */
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <security/pam_appl.h>

#define MAX_CREDS 200000

typedef struct cred {
        char *user, *password;
} cred;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int conversation(int n, const struct pam_message **msg, struct pam_response **ret, void *userdata) {
        const char *password = userdata;
        struct pam_response *resp = calloc((size_t) n, sizeof(*resp));
        if (!resp)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++)
                if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
                        resp[i].resp = strdup(password);
        *ret = resp;
        return PAM_SUCCESS;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p) {
        return n ? v[(size_t) (p * (double) (n - 1) + 0.5)] : 0;
}

static int login(const char *confdir, const char *service, const cred *c, const char **ret_error) {
        struct pam_conv conv = { conversation, c->password };
        pam_handle_t *pamh = NULL;
        int r = pam_start_confdir(service, c->user, &conv, confdir, &pamh);
        if (r != PAM_SUCCESS) {
                *ret_error = pam_strerror(pamh, r);
                return r;
        }
        r = pam_authenticate(pamh, PAM_SILENT);
        if (r != PAM_SUCCESS)
                *ret_error = pam_strerror(pamh, r);
        pam_end(pamh, r);
        return r;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "confdir", required_argument, NULL, 'c' }, { "service", required_argument, NULL, 's' },
                { "creds", required_argument, NULL, 'f' },   { "count", required_argument, NULL, 'n' },
                { "warmup", required_argument, NULL, 'w' },  { "label", required_argument, NULL, 'l' },
                { "preload", required_argument, NULL, 'p' }, {},
        };
        const char *confdir = NULL, *service = NULL, *path = NULL, *label = "-";
        unsigned long count = 1000, warmup = 20;
        int o;

        while ((o = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (o) {
                case 'c':
                        confdir = optarg;
                        break;
                case 's':
                        service = optarg;
                        break;
                case 'f':
                        path = optarg;
                        break;
                case 'n':
                        count = strtoul(optarg, NULL, 10);
                        break;
                case 'w':
                        warmup = strtoul(optarg, NULL, 10);
                        break;
                case 'l':
                        label = optarg;
                        break;
                case 'p':
                        if (!dlopen(optarg, RTLD_NOW | RTLD_GLOBAL)) {
                                fprintf(stderr, "bench-login: --preload %s: %s\n", optarg, dlerror());
                                return 2;
                        }
                        break;
                default:
                        fprintf(stderr, "usage: bench-login --confdir DIR --service NAME --creds FILE "
                                        "[--count N] [--warmup W] [--label TEXT]\n");
                        return 2;
                }
        }
        if (!confdir || !service || !path || count == 0) {
                fprintf(stderr, "bench-login: --confdir, --service and --creds are required\n");
                return 2;
        }
        /* sshd links libcrypto; so does this process. */
        OPENSSL_init_crypto(0, NULL);

        FILE *f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "bench-login: %s: %m\n", path);
                return 2;
        }
        cred *creds = calloc(MAX_CREDS, sizeof(*creds));
        size_t n_creds = 0;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (creds && n_creds < MAX_CREDS && (len = getline(&line, &cap, f)) >= 0) {
                /* PAM would cut a password at a NUL and log in with the rest. */
                if (memchr(line, 0, (size_t) len)) {
                        fprintf(stderr, "bench-login: %s: a line holds a NUL byte; refused\n",
                                path);
                        free(line);
                        fclose(f);
                        return 2;
                }
                line[strcspn(line, "\n")] = 0;
                char *tab = strchr(line, '\t');
                if (!tab)
                        continue;
                *tab = 0;
                creds[n_creds].user = strdup(line);
                creds[n_creds].password = strdup(tab + 1);
                n_creds++;
        }
        free(line);
        fclose(f);
        if (n_creds == 0) {
                fprintf(stderr, "bench-login: no USER<TAB>PASSWORD line in %s\n", path);
                return 2;
        }

        const char *error = NULL;
        unsigned long failures = 0;
        for (unsigned long i = 0; i < warmup; i++)
                if (login(confdir, service, &creds[i % n_creds], &error) != PAM_SUCCESS)
                        failures++;

        double *lat = calloc(count, sizeof(double)), sum = 0, t_all = now_s();
        for (unsigned long i = 0; i < count; i++) {
                double t0 = now_s();
                if (login(confdir, service, &creds[(warmup + i) % n_creds], &error) != PAM_SUCCESS)
                        failures++;
                lat[i] = now_s() - t0;
                sum += lat[i];
        }
        t_all = now_s() - t_all;
        qsort(lat, count, sizeof(double), cmp_double);
        printf("login label=%s service=%s n=%lu secs=%.2f rate=%.0f p50_us=%.1f p99_us=%.1f mean_us=%.1f "
               "failures=%lu\n",
               label, service, count, t_all, (double) count / t_all, pct(lat, count, 0.5) * 1e6,
               pct(lat, count, 0.99) * 1e6, sum / (double) count * 1e6, failures);
        if (failures)
                fprintf(stderr, "bench-login: %lu login(s) failed, last: %s\n", failures, error ? error : "?");
        return failures ? 1 : 0;
}
