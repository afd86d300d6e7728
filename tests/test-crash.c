/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash safety: SIGKILL the daemon at random moments during a stream of
 * creates, updates, rotations and deletes, 20 rounds.  After each restart
 * every acknowledged change is there, nothing half-written shows, and the
 * store opens cleanly.  The one call in flight at the kill may have landed
 * or not: either outcome is accepted for that key, nothing else.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "accesskey.h"
#include "credential.h"
#include "harness.h"
#include "util.h"

#define MAX_KEYS 4096
#define ROUNDS 20

typedef struct model {
        char id[AK_ID_LEN + 1];
        bool exists;
        char name[32];
        char secret[AK_SECRET_LEN + 1];
        /* the state before the call in flight, when this key had one */
        bool uncertain;
        bool rotating; /* the call in flight was a rotation */
        bool prev_exists;
        char prev_name[32];
        char prev_secret[AK_SECRET_LEN + 1];
} model;

static model keys[MAX_KEYS];
static size_t n_keys;

static int auth(ak_client *c, const char *id, const char *secret) {
        ak_auth_request req = { .user = "root", .service = "crash" };
        ak_auth_result *res = NULL;
        int r = ak_authenticate(c, id, secret, &req, &res);
        ak_auth_result_free(res);
        return r;
}

static void remember(model *k) {
        k->uncertain = true;
        k->rotating = false;
        k->prev_exists = k->exists;
        memcpy(k->prev_name, k->name, sizeof(k->name));
        memcpy(k->prev_secret, k->secret, sizeof(k->secret));
}

/* One random operation; returns 0 when acknowledged, < 0 when the daemon
 * went away (the model then holds the in-flight state as uncertain). */
static int step(ak_client *c, unsigned *seed) {
        int op = n_keys < 4 ? 0 : rand_r(seed) % 4;
        char *id = NULL, *secret = NULL;
        int r;

        if (op == 0 && n_keys < MAX_KEYS) {
                model *k = &keys[n_keys];
                snprintf(k->name, sizeof(k->name), "k%zu", n_keys);
                r = ak_create_key(c, &(ak_create_options){ .name = k->name }, &id, &secret);
                if (r < 0)
                        return r; /* unknown ID: a key created but never acknowledged is not ours to check */
                memcpy(k->id, id, sizeof(k->id));
                memcpy(k->secret, secret, sizeof(k->secret));
                k->exists = true;
                n_keys++;
                free(id);
                ak_secret_free(secret);
                return 0;
        }
        model *k = &keys[rand_r(seed) % n_keys];
        if (!k->exists)
                return 0;
        remember(k);
        switch (op) {
        case 1: {
                char name[32];
                snprintf(name, sizeof(name), "u%u", rand_r(seed) % 100000);
                /* The model holds the state after the call, remember() the
                 * one before: if the daemon dies, either may be true. */
                memcpy(k->name, name, sizeof(name));
                r = ak_update_key(c, k->id, &(ak_update_options){ .name = name });
                break;
        }
        case 2:
                k->rotating = true;
                r = ak_rotate_secret(c, k->id, 0, &secret);
                if (r == 0) {
                        memcpy(k->secret, secret, sizeof(k->secret));
                        ak_secret_free(secret);
                }
                break;
        default:
                k->exists = false;
                r = ak_delete_key(c, k->id);
                break;
        }
        if (r == 0)
                k->uncertain = false;
        return r;
}

static bool matches(ak_client *c, const model *k, bool exists, const char *name, const char *secret) {
        ak_key *got = NULL;
        int r = ak_get_key(c, k->id, &got);
        if (!exists) {
                ak_key_free(got);
                return r == -ENOENT && auth(c, k->id, secret) == -EKEYREJECTED;
        }
        bool ok = r == 0 && streq(got->name, name) && auth(c, k->id, secret) == 0;
        ak_key_free(got);
        return ok;
}

START_TEST(test_sigkill_rounds) {
        harness h;
        unsigned seed = (unsigned) time(NULL);
        fprintf(stderr, "crash test seed %u\n", seed);
        memset(&h, 0, sizeof(h));
        harness_start_bus(&h);
        /* The checks below try wrong secrets on purpose. */
        FILE *f = fopen(h.config_path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("RateLimitBurst = 0\n", f);
        fclose(f);
        harness_start_daemon(&h, NULL);

        for (int round = 0; round < ROUNDS; round++) {
                ak_client *c = NULL;
                ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 2000, &c), 0);

                /* A killer child sends SIGKILL after 20-250 ms of traffic. */
                pid_t daemon = h.daemon_pid;
                unsigned delay = 20000 + (unsigned) (rand_r(&seed) % 230000);
                pid_t killer = fork();
                ck_assert_int_ge(killer, 0);
                if (killer == 0) {
                        usleep(delay);
                        kill(daemon, SIGKILL);
                        _exit(0);
                }
                int r = 0;
                for (int i = 0; i < 100000 && r == 0; i++)
                        r = step(c, &seed);
                ck_assert_int_lt(r, 0);
                waitpid(killer, NULL, 0);
                waitpid(h.daemon_pid, NULL, 0);
                h.daemon_pid = 0;
                ak_client_close(c);

                /* The store opens cleanly... */
                harness_start_daemon(&h, NULL);
                ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 5000, &c), 0);
                /* ...and holds every acknowledged change. */
                for (size_t i = 0; i < n_keys; i++) {
                        model *k = &keys[i];
                        bool now = matches(c, k, k->exists, k->name, k->secret);
                        if (k->uncertain && k->rotating && !now) {
                                /* A rotation that landed without its reply:
                                 * the old secret must be dead, the key
                                 * otherwise unchanged; its new secret is
                                 * lost with the reply, so retire the key. */
                                ak_key *g = NULL;
                                ck_assert_int_eq(ak_get_key(c, k->id, &g), 0);
                                ck_assert_str_eq(g->name, k->name);
                                ak_key_free(g);
                                ck_assert_int_eq(ak_delete_key(c, k->id), 0);
                                k->exists = false;
                                k->uncertain = false;
                        } else if (k->uncertain) {
                                bool before = matches(c, k, k->prev_exists, k->prev_name, k->prev_secret);
                                ck_assert_msg(now || before, "round %d: key %s neither before nor after", round, k->id);
                                if (!now) {
                                        k->exists = k->prev_exists;
                                        memcpy(k->name, k->prev_name, sizeof(k->name));
                                        memcpy(k->secret, k->prev_secret, sizeof(k->secret));
                                }
                                k->uncertain = false;
                        } else
                                ck_assert_msg(now, "round %d: acknowledged state of %s lost", round, k->id);
                }
                /* Nothing that was never created shows up: every listed key
                 * is one we know, or the one create in flight. */
                ak_key **l = NULL;
                size_t n = 0, unknown = 0;
                ck_assert_int_ge(ak_list_keys(c, NULL, &l, &n), 0);
                for (size_t i = 0; i < n; i++) {
                        bool known = false;
                        for (size_t k = 0; k < n_keys && !known; k++)
                                known = streq(keys[k].id, l[i]->id);
                        if (!known) {
                                unknown++;
                                /* adopt the in-flight create: it landed */
                                ck_assert_int_eq(ak_delete_key(c, l[i]->id), 0);
                        }
                }
                ck_assert_uint_le(unknown, 1);
                ak_key_list_free(l, n);
                ak_client_close(c);
        }
        fprintf(stderr, "crash test: %d rounds, %zu keys created, all acknowledged changes present\n", ROUNDS, n_keys);
        harness_stop(&h);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("crash");
        TCase *tc = tcase_create("crash");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_sigkill_rounds);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), true);
}
