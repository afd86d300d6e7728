/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Integration: a real dbus-daemon with a deny-by-default system policy and
 * the project's policy file, a real accesskeyd on a temporary state
 * directory, driven through libaccesskey and busctl, as root and as other
 * real UIDs.
 */
#include <check.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accesskey.h"
#include "credential.h"
#include "harness.h"
#include "util.h"
#include "verifier.h"

static harness h;

static void start(void) {
        harness_start(&h, NULL);
}

static void stop(void) {
        harness_stop(&h);
}

static ak_client *client(void) {
        ak_client *c = NULL;
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 5000, &c), 0);
        return c;
}

static void create(ak_client *c, const char *name, const char *owner, char **ret_id, char **ret_secret) {
        ak_create_options o = { .name = name, .owner = owner };
        int r = ak_create_key(c, &o, ret_id, ret_secret);
        ck_assert_msg(r == 0, "create failed: %s: %s", ak_strerror(r), strempty(ak_client_last_error(c)));
}

/* busctl against the test bus, as uid (or as root with -1). */
static int busctl(uid_t uid, char **ret_out, char **ret_err, const char *method, const char *sig, ...) {
        const char *argv[32] = { "/usr/bin/busctl", "--address", h.bus_address, "call",
                                 "org.accesskey.KeyStore1", "/org/accesskey/KeyStore1",
                                 "org.accesskey.KeyStore1.Manager", method, sig };
        size_t n = 9;
        va_list ap;
        va_start(ap, sig);
        for (const char *a; n < ELEMENTSOF(argv) - 1 && (a = va_arg(ap, const char *));)
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;
        return harness_run(argv, uid, uid == (uid_t) -1 ? (gid_t) -1 : uid, NULL, ret_out, ret_err);
}

START_TEST(test_introspect_lists_methods) {
        const char *argv[] = { "/usr/bin/busctl", "--address", h.bus_address, "introspect",
                               "org.accesskey.KeyStore1", "/org/accesskey/KeyStore1", NULL };
        _cleanup_(freep) char *out = NULL;
        ck_assert_int_eq(harness_run(argv, (uid_t) -1, (gid_t) -1, NULL, &out, NULL), 0);
        static const char *const expect[] = { ".CreateKey", ".ListKeys", ".GetKey", ".DeleteKey",
                                              ".Authenticate", "org.freedesktop.DBus.Properties" };
        for (size_t i = 0; i < ELEMENTSOF(expect); i++)
                ck_assert_msg(strstr(out, expect[i]), "introspection lacks %s:\n%s", expect[i], out);
}
END_TEST

START_TEST(test_create_list_get_delete) {
        ak_client *c = client();
        char *id, *secret;
        create(c, "ci-deploy", NULL, &id, &secret);
        ck_assert(ak_id_is_valid(id));
        ck_assert_int_eq(ak_secret_check(secret), 0);

        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_str_eq(k->id, id);
        ck_assert_str_eq(k->name, "ci-deploy");
        ck_assert_uint_eq(k->owner_uid, 0);
        ck_assert_str_eq(k->owner_name, "root");
        ck_assert(k->active);
        ck_assert_uint_eq(k->expires_at, 0);
        ck_assert_uint_eq(k->created_by, 0);
        ck_assert_uint_gt(k->created_at, 0);
        ak_key_free(k);

        ak_key **keys;
        size_t n;
        ck_assert_int_ge(ak_list_keys(c, NULL, &keys, &n), 0);
        bool found = false;
        for (size_t i = 0; i < n; i++)
                found = found || streq(keys[i]->id, id);
        ck_assert(found);
        ak_key_list_free(keys, n);

        ck_assert_int_eq(ak_delete_key(c, id), 0);
        ck_assert_int_eq(ak_get_key(c, id, &k), -ENOENT);
        ck_assert_int_eq(ak_delete_key(c, id), -ENOENT);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), id));
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_records_survive_restart) {
        ak_client *c = client();
        char *id, *secret;
        create(c, "survivor", NULL, &id, &secret);
        ak_client_close(c);

        ck_assert_int_eq(harness_stop_daemon(&h), 0); /* exit 0 on SIGTERM */
        harness_start_daemon(&h, NULL);

        c = client();
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_str_eq(k->name, "survivor");
        ak_key_free(k);
        /* And the secret still verifies: the pepper survived too. */
        ak_auth_request req = { .user = "root", .service = "login" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ak_auth_result_free(res);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_authenticate) {
        ak_client *c = client();
        char *id, *secret, wrong[AK_SECRET_LEN + 1], unknown[AK_ID_LEN + 1];
        ak_auth_result *res = NULL;
        ak_auth_request req = { .user = "root", .service = "sshd", .rhost = "192.0.2.1" };

        create(c, "auth", NULL, &id, &secret);
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ck_assert_str_eq(res->id, id);
        ck_assert_str_eq(res->owner_name, "root");
        ck_assert_uint_eq(res->owner_uid, 0);
        ck_assert_ptr_nonnull(res->scopes);
        ak_auth_result_free(res);

        /* Wrong secret and unknown ID: the same error and the same words. */
        ck_assert_int_eq(ak_secret_generate(wrong), 0);
        ck_assert_int_eq(ak_authenticate(c, id, wrong, &req, &res), -EKEYREJECTED);
        _cleanup_(freep) char *msg1 = strdup(strempty(ak_client_last_error(c)));
        ck_assert_int_eq(ak_id_generate(unknown), 0);
        ck_assert_int_eq(ak_authenticate(c, unknown, secret, &req, &res), -EKEYREJECTED);
        ck_assert_str_eq(msg1, strempty(ak_client_last_error(c)));

        /* Right secret, wrong user: refused, and the reason is told. */
        req.user = "nobody";
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), -EACCES);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "owner"));
        req.user = "no-such-user-here";
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), -EACCES);
        req.user = "root";

        /* Usage is recorded: one success so far, then failures counted. */
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->use_count, 1);
        ck_assert_str_eq(k->last_used_service, "sshd");
        ck_assert_str_eq(k->last_used_rhost, "192.0.2.1");
        ck_assert_uint_eq(k->failures, 3);
        ck_assert_uint_gt(k->last_used_at, 0);
        ak_key_free(k);

        /* A deleted key never authenticates again. */
        ck_assert_int_eq(ak_delete_key(c, id), 0);
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), -EKEYREJECTED);

        /* A malformed secret is refused by the library before any call. */
        ck_assert_int_eq(ak_authenticate(c, id, "aks_nope", &req, &res), -EINVAL);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_other_user_cannot_see_roots_keys) {
        ak_client *c = client();
        char *id, *secret;
        create(c, "roots-key", NULL, &id, &secret);
        _cleanup_(freep) char *out = NULL, *err = NULL;

        /* daemon (uid 1) lists: root's key is not there. */
        ck_assert_int_eq(busctl(HARNESS_UID_OTHER, &out, &err, "ListKeys", "a{sv}", "0", NULL), 0);
        ck_assert_ptr_null(strstr(out, id));
        free(out), free(err);
        out = err = NULL;

        /* GetKey and DeleteKey: NotFound — existence is not confirmed. */
        ck_assert_int_ne(busctl(HARNESS_UID_OTHER, &out, &err, "GetKey", "s", id, NULL), 0);
        ck_assert_msg(strstr(err, "no access key"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl(HARNESS_UID_OTHER, &out, &err, "DeleteKey", "s", id, NULL), 0);
        free(out), free(err);
        out = err = NULL;
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ak_key_free(k);

        /* Listing everyone's keys is for administrators. */
        ck_assert_int_ne(busctl(HARNESS_UID_OTHER, &out, &err, "ListKeys", "a{sv}", "1", "all", "b", "true", NULL),
                         0);
        ck_assert_msg(strstr(err, "administrators"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;

        /* Nor can a user create a key for someone else. */
        ck_assert_int_ne(busctl(HARNESS_UID_OTHER, &out, &err, "CreateKey", "a{sv}", "2", "name", "s", "x", "owner",
                                "s", "root", NULL),
                         0);
        ck_assert_msg(strstr(err, "administrators"), "stderr: %s", err);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_user_manages_own_keys_and_quota) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        char ids[2][AK_ID_LEN + 1];

        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "CreateKey", "a{sv}", "1", "name", "s",
                                        "mine", NULL),
                                 0);
                /* ss "AK..." "aks_..." */
                char *q = strchr(out, '"');
                ck_assert_ptr_nonnull(q);
                memcpy(ids[i], q + 1, AK_ID_LEN);
                ids[i][AK_ID_LEN] = 0;
                ck_assert(ak_id_is_valid(ids[i]));
                free(out), free(err);
                out = err = NULL;
        }
        /* The third is over MaxKeysPerUser (default 2). */
        ck_assert_int_ne(
                busctl(HARNESS_UID_THIRD, &out, &err, "CreateKey", "a{sv}", "1", "name", "s", "third", NULL), 0);
        ck_assert_msg(strstr(err, "MaxKeysPerUser"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;

        /* The owner sees and deletes their own. */
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "ListKeys", "a{sv}", "0", NULL), 0);
        ck_assert_ptr_nonnull(strstr(out, ids[0]));
        ck_assert_ptr_nonnull(strstr(out, ids[1]));
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "DeleteKey", "s", ids[0], NULL), 0);

        /* Root sees the other's key by owner, and all of them. */
        ak_client *c = client();
        ak_list_filter f = { .owner = "bin" };
        ak_key **keys;
        size_t n;
        ck_assert_int_eq(ak_list_keys(c, &f, &keys, &n), 1);
        ck_assert_str_eq(keys[0]->id, ids[1]);
        ck_assert_uint_eq(keys[0]->owner_uid, HARNESS_UID_THIRD);
        ak_key_list_free(keys, n);
        f = (ak_list_filter){ .all = true };
        ck_assert_int_ge(ak_list_keys(c, &f, &keys, &n), 1);
        ak_key_list_free(keys, n);
        /* Root may delete it. */
        ck_assert_int_eq(ak_delete_key(c, ids[1]), 0);
        ak_client_close(c);
}
END_TEST

START_TEST(test_admin_creates_for_user) {
        ak_client *c = client();
        char *id, *secret;
        create(c, "for-nobody", "nobody", &id, &secret);
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->owner_uid, HARNESS_UID_NOBODY);
        ck_assert_str_eq(k->owner_name, "nobody");
        ck_assert_uint_eq(k->created_by, 0);
        ak_key_free(k);

        ak_auth_request req = { .user = "nobody", .service = "sshd" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ck_assert_str_eq(res->owner_name, "nobody");
        ak_auth_result_free(res);
        req.user = "root";
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), -EACCES);

        ak_create_options o = { .name = "x", .owner = "no-such-user-zz" };
        char *i2, *s2;
        ck_assert_int_eq(ak_create_key(c, &o, &i2, &s2), -EINVAL);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "no-such-user-zz"));
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_bad_arguments) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "CreateKey", "a{sv}", "1", "nmae", "s", "typo", NULL), 0);
        ck_assert_msg(strstr(err, "'nmae' is not a known option"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "CreateKey", "a{sv}", "1", "name", "u", "5", NULL), 0);
        ck_assert_msg(strstr(err, "'name' must be a string"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "CreateKey", "a{sv}", "0", NULL), 0);
        ck_assert_msg(strstr(err, "'name' is required"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        char longname[300];
        memset(longname, 'n', 256);
        longname[256] = 0;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "CreateKey", "a{sv}", "1", "name", "s", longname, NULL), 0);
        ck_assert_msg(strstr(err, "'name' is too long"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "CreateKey", "a{sv}", "2", "name", "s", "n", "networks", "as",
                                "1", "10.0.0.1/8", NULL),
                         0);
        ck_assert_msg(strstr(err, "host bits"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "GetKey", "s", "not-an-id", NULL), 0);
        ck_assert_msg(strstr(err, "not an access key ID"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "Authenticate", "ssa{sv}", "AKAAAAAAAAAAAAAAAAAA",
                                "wrong", "0", NULL),
                         0);
        ck_assert_msg(strstr(err, "not well-formed"), "stderr: %s", err);

        /* Nothing was stored by any of it. */
        ak_client *c = client();
        ak_list_filter f = { .all = true };
        ak_key **keys;
        size_t n;
        ck_assert_int_ge(ak_list_keys(c, &f, &keys, &n), 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_ne(keys[i]->name, "typo");
        ak_key_list_free(keys, n);
        ak_client_close(c);
}
END_TEST

START_TEST(test_second_daemon_refused) {
        char bus[PATH_MAX + 16], state[PATH_MAX + 16];
        snprintf(bus, sizeof(bus), "--bus=%s", h.bus_address);
        snprintf(state, sizeof(state), "--state-dir=%s/state2", h.dir);
        _cleanup_(freep) char *exe = strdup(harness_path("accesskeyd"));
        const char *argv[] = { exe, bus, state, NULL };
        _cleanup_(freep) char *out = NULL, *err = NULL;
        ck_assert_int_eq(harness_run(argv, (uid_t) -1, (gid_t) -1, NULL, &out, &err), 1);
        ck_assert_msg(strstr(err, "already owned"), "stderr: %s", err);
}
END_TEST

START_TEST(test_bad_config_refused) {
        char bus[PATH_MAX + 16], state[PATH_MAX + 16], conf[PATH_MAX + 16], path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/bad.conf", h.dir);
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("# comment\nMaxKeysPerUser = 3\nMaxKeysPerUser = lots\n", f);
        fclose(f);
        snprintf(bus, sizeof(bus), "--bus=%s", h.bus_address);
        snprintf(state, sizeof(state), "--state-dir=%s/state3", h.dir);
        snprintf(conf, sizeof(conf), "--config=%s", path);
        _cleanup_(freep) char *exe = strdup(harness_path("accesskeyd"));
        const char *argv[] = { exe, bus, state, conf, NULL };
        _cleanup_(freep) char *out = NULL, *err = NULL;
        ck_assert_int_eq(harness_run(argv, (uid_t) -1, (gid_t) -1, NULL, &out, &err), 1);
        ck_assert_msg(strstr(err, "bad.conf:3: MaxKeysPerUser: 'lots'"), "stderr: %s", err);
}
END_TEST

/* Runs fn as uid in a child process (a real other caller); returns its
 * exit code. */
static int run_as(uid_t uid, int (*fn)(void)) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(100);
                _exit(fn());
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char peer_id[AK_ID_LEN + 1];

/* As another user over the private socket: root's key is not there. */
static int peer_get_roots_key(void) {
        ak_client *c;
        ak_key *k;
        if (ak_client_open(NULL, h.private_socket, 2000, &c) < 0)
                return 2;
        int r = ak_get_key(c, peer_id, &k);
        ak_client_close(c);
        return r == -ENOENT ? 0 : 1;
}

START_TEST(test_private_socket) {
        ak_client *c = NULL;
        char *id, *secret;
        /* The socket alone, no bus: the same API and authorization. */
        ck_assert_int_eq(ak_client_open(NULL, h.private_socket, 2000, &c), 0);
        create(c, "over-peer", NULL, &id, &secret);
        ak_auth_request req = { .user = "root", .service = "sshd" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ak_auth_result_free(res);
        ck_assert_int_eq(ak_authenticate(c, id, "aks_0000000000000000000000000000000000000000000000", &req, &res),
                         -EINVAL);
        memcpy(peer_id, id, sizeof(peer_id));
        /* The caller is who SO_PEERCRED says. */
        ck_assert_int_eq(run_as(HARNESS_UID_OTHER, peer_get_roots_key), 0);
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ak_key_free(k);

        /* Anyone may connect: the socket is 0666 in a directory they can
         * reach; the daemon decides per UID. */
        struct stat st;
        ck_assert_int_eq(stat(h.private_socket, &st), 0);
        ck_assert(S_ISSOCK(st.st_mode));
        ck_assert_uint_eq(st.st_mode & 0777, 0666);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_logins_survive_bus_restart) {
        harness local;
        memset(&local, 0, sizeof(local));
        harness_start(&local, NULL);
        ak_client *c = NULL;
        char *id, *secret;
        ak_create_options o = { .name = "bus-down" };
        ck_assert_int_eq(ak_client_open(local.bus_address, NULL, 2000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &o, &id, &secret), 0);
        ak_client_close(c);

        /* The bus goes away: the daemon stays, logins go on over the
         * private socket. */
        kill(local.bus_pid, SIGKILL);
        waitpid(local.bus_pid, NULL, 0);
        local.bus_pid = 0;
        usleep(200000);
        ck_assert_int_eq(kill(local.daemon_pid, 0), 0);
        ck_assert_int_eq(ak_client_open(NULL, local.private_socket, 2000, &c), 0);
        ak_auth_request req = { .user = "root", .service = "sshd" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ak_auth_result_free(res);
        ak_client_close(c);

        /* The bus comes back: the daemon owns its name again. */
        harness_start_bus(&local);
        int r = -1;
        for (int i = 0; i < 50 && r != 0; i++) {
                usleep(100000);
                if (ak_client_open(local.bus_address, NULL, 2000, &c) == 0) {
                        ak_key *k;
                        r = ak_get_key(c, id, &k);
                        if (r == 0)
                                ak_key_free(k);
                        ak_client_close(c);
                }
        }
        ck_assert_int_eq(r, 0);
        _cleanup_(freep) char *log = harness_read_file(local.daemon_log);
        ck_assert_ptr_nonnull(strstr(log, "reconnected to the bus"));
        free(id);
        ak_secret_free(secret);
        harness_stop(&local);
}
END_TEST

START_TEST(test_guessing_is_rate_limited) {
        harness local;
        memset(&local, 0, sizeof(local));
        harness_start(&local, NULL);
        ak_client *c = NULL;
        char *id, *secret, wrong[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_client_open(local.bus_address, NULL, 5000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &(ak_create_options){ .name = "target" }, &id, &secret), 0);
        ck_assert_int_eq(ak_secret_generate(wrong), 0);

        /* A burst of 1,000 wrong secrets from one host: the first ten are
         * checked (RateLimitBurst), the rest refused unchecked. */
        ak_auth_request attacker = { .user = "root", .service = "sshd", .rhost = "198.51.100.7" };
        ak_auth_result *res;
        int rejected = 0, limited = 0;
        for (int i = 0; i < 1000; i++) {
                int r = ak_authenticate(c, id, wrong, &attacker, &res);
                if (r == -EKEYREJECTED)
                        rejected++;
                else if (r == -EBUSY)
                        limited++;
                else
                        ck_abort_msg("unexpected result %d", r);
        }
        ck_assert_int_eq(rejected, 10);
        ck_assert_int_eq(limited, 990);
        /* Even the right secret is not checked from there now. */
        ck_assert_int_eq(ak_authenticate(c, id, secret, &attacker, &res), -EBUSY);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "198.51.100.7"));
        /* Guessing other IDs from that host is throttled too. */
        char other[AK_ID_LEN + 1];
        ck_assert_int_eq(ak_id_generate(other), 0);
        ck_assert_int_eq(ak_authenticate(c, other, wrong, &attacker, &res), -EBUSY);

        /* The key's metadata counts the failures that were checked. */
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->failures, 10);
        ak_key_free(k);

        /* The owner, from another host, is not locked out; the success
         * resets the count. */
        ak_auth_request owner = { .user = "root", .service = "sshd", .rhost = "203.0.113.9" };
        ck_assert_int_eq(ak_authenticate(c, id, secret, &owner, &res), 0);
        ak_auth_result_free(res);
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->failures, 0);
        ck_assert_uint_eq(k->use_count, 1);
        ak_key_free(k);
        ck_assert_int_eq(ak_authenticate(c, id, wrong, &owner, &res), -EKEYREJECTED);
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->failures, 1);
        ak_key_free(k);

        /* A local caller (no remote host) is a source of its own, by UID. */
        ak_auth_request local_req = { .user = "root", .service = "su" };
        int r = 0;
        for (int i = 0; i < 11 && r != -EBUSY; i++)
                r = ak_authenticate(c, id, wrong, &local_req, &res);
        ck_assert_int_eq(r, -EBUSY);
        ck_assert_msg(strstr(ak_client_last_error(c), "local logins asked for by UID 0"), "%s",
                      ak_client_last_error(c));
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
        harness_stop(&local);
}
END_TEST

/* The daemon takes its bus name before it listens on the private socket:
 * under valgrind the socket may come a while after harness_start(). */
static void wait_for_private_socket(const harness *l) {
        for (int i = 0; i < 3000 && access(l->private_socket, F_OK) < 0; i++)
                usleep(10000);
        ck_assert_msg(access(l->private_socket, F_OK) == 0, "no private socket %s after 30 s", l->private_socket);
}

/* The key the guessing tests aim at, and the private socket of their
 * daemon: set before run_as() forks. */
static char guess_id[AK_ID_LEN + 1];
static const char *guess_socket;
#define GUESSES 5000

/* An untrusted local user's 5,000 guesses, each naming another user (and
 * every other one another remote host and requesting user): exits with how
 * many were checked (199: that many or more), 200 if any answer was
 * neither a check nor a refusal. */
static int guess_as_untrusted_user(void) {
        static const char *const rusers[] = { "root", "bin", "nobody", "daemon" };
        char wrong[AK_SECRET_LEN + 1], user[32], rhost[32];
        ak_client *c;
        ak_auth_result *res;
        int checked = 0, limited = 0;

        if (ak_secret_generate(wrong) < 0 || ak_client_open(NULL, guess_socket, 5000, &c) < 0)
                return 201;
        for (int i = 0; i < GUESSES; i++) {
                snprintf(user, sizeof(user), "victim%d", i);
                snprintf(rhost, sizeof(rhost), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
                ak_auth_request req = { .user = user, .service = "sshd", .rhost = i % 2 ? rhost : NULL,
                                        .ruser = rusers[i % 4] };
                int r = ak_authenticate(c, guess_id, wrong, &req, &res);
                if (r == -EKEYREJECTED)
                        checked++;
                else if (r == -EBUSY)
                        limited++;
        }
        ak_client_close(c);
        /* An exit code holds 0 to 255. */
        return checked + limited != GUESSES ? 200 : checked < 199 ? checked : 199;
}

START_TEST(test_untrusted_user_is_one_source) {
        harness local;
        memset(&local, 0, sizeof(local));
        harness_start(&local, NULL);
        wait_for_private_socket(&local);
        ak_client *c = NULL;
        char *id, *secret;
        ck_assert_int_eq(ak_client_open(NULL, local.private_socket, 5000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &(ak_create_options){ .name = "target", .owner = "nobody" }, &id, &secret),
                         0);
        memcpy(guess_id, id, sizeof(guess_id));
        guess_socket = local.private_socket;

        /* Whatever user, host or requesting user it names, a caller that is
         * not trusted with them is one source, its UID: RateLimitBurst (10)
         * guesses checked, the other 4,990 refused unchecked. */
        ck_assert_int_eq(run_as(HARNESS_UID_OTHER, guess_as_untrusted_user), 10);
        /* Another user is another source: not locked out by the first. */
        ck_assert_int_eq(run_as(HARNESS_UID_THIRD, guess_as_untrusted_user), 10);
        /* Nor is the owner's login through sshd, from any host. */
        ak_auth_request owner = { .user = "nobody", .service = "sshd", .rhost = "192.0.2.44" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &owner, &res), 0);
        ak_auth_result_free(res);
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->use_count, 1);
        ak_key_free(k);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
        harness_stop(&local);
}
END_TEST

/* Runs fn as a setuid-root program run by ruid does (su): real UID ruid,
 * effective UID root. */
static int run_setuid_by(uid_t ruid, int (*fn)(void)) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setresuid(ruid, 0, 0) < 0)
                        _exit(100);
                _exit(fn());
        }
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *guess_ruser;
static char guess_secret[AK_SECRET_LEN + 1];

/* A local login run by root with no remote host, as su does for whoever
 * runs it (or sudo, naming them in PAM_RUSER): guesses until refused.
 * Exits with how many were checked, 200 on anything else. */
static int guess_locally(void) {
        char wrong[AK_SECRET_LEN + 1];
        ak_client *c;
        ak_auth_result *res;
        int checked = 0, r = 0;

        if (ak_secret_generate(wrong) < 0 || ak_client_open(NULL, guess_socket, 5000, &c) < 0)
                return 201;
        ak_auth_request req = { .user = "nobody", .service = "su", .ruser = guess_ruser };
        while (checked < 100 && (r = ak_authenticate(c, guess_id, wrong, &req, &res)) == -EKEYREJECTED)
                checked++;
        ak_client_close(c);
        return r == -EBUSY ? checked : 200;
}

/* The same login with the right secret: 0 when it succeeds. */
static int login_locally(void) {
        ak_client *c;
        ak_auth_result *res;

        if (ak_client_open(NULL, guess_socket, 5000, &c) < 0)
                return 201;
        ak_auth_request req = { .user = "nobody", .service = "su", .ruser = guess_ruser };
        int r = ak_authenticate(c, guess_id, guess_secret, &req, &res);
        if (r == 0)
                ak_auth_result_free(res);
        ak_client_close(c);
        return r == 0 ? 0 : r == -EBUSY ? 2 : 1;
}

START_TEST(test_local_guesser_does_not_lock_out_others) {
        harness local;
        memset(&local, 0, sizeof(local));
        harness_start(&local, NULL);
        wait_for_private_socket(&local);
        ak_client *c = NULL;
        char *id, *secret;
        ck_assert_int_eq(ak_client_open(NULL, local.private_socket, 5000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &(ak_create_options){ .name = "su-target", .owner = "nobody" }, &id,
                                       &secret),
                         0);
        memcpy(guess_id, id, sizeof(guess_id));
        memcpy(guess_secret, secret, sizeof(guess_secret));
        guess_socket = local.private_socket;

        /* su run by daemon (uid 1): the library sends its real UID. */
        guess_ruser = NULL;
        ck_assert_int_eq(run_setuid_by(HARNESS_UID_OTHER, guess_locally), 10);
        ck_assert_int_eq(run_setuid_by(HARNESS_UID_OTHER, login_locally), 2);
        /* su run by bin (uid 2), for the same key: not locked out. */
        ck_assert_int_eq(run_setuid_by(HARNESS_UID_THIRD, login_locally), 0);
        /* sudo runs PAM with every UID root: PAM_RUSER names who ran it. */
        guess_ruser = "bin";
        ck_assert_int_eq(run_setuid_by(0, login_locally), 0);
        guess_ruser = "daemon";
        ck_assert_int_eq(run_setuid_by(0, login_locally), 2);
        /* And root's own local logins (login on a console) are theirs. */
        guess_ruser = NULL;
        ck_assert_int_eq(run_setuid_by(0, login_locally), 0);
        _cleanup_(freep) char *log = harness_read_file(local.daemon_log);
        ck_assert_ptr_nonnull(log);
        ck_assert_msg(strstr(log, "service=\"su\" rhost=\"\" caller=0 result=ratelimited"), "%s", log);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
        harness_stop(&local);
}
END_TEST

START_TEST(test_audit_names_owner_of_keyid_login) {
        harness local;
        memset(&local, 0, sizeof(local));
        harness_start(&local, NULL);
        wait_for_private_socket(&local);
        ak_client *c = NULL;
        char *id, *secret, wrong[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_client_open(NULL, local.private_socket, 5000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &(ak_create_options){ .name = "by-id", .owner = "nobody" }, &id, &secret),
                         0);
        /* The PAM user was the key ID: the line names who logged in. */
        ak_auth_request req = { .user = id, .service = "vsftpd", .rhost = "192.0.2.8", .keyid_user = true };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ck_assert_str_eq(res->owner_name, "nobody");
        ak_auth_result_free(res);
        ck_assert_int_eq(ak_secret_generate(wrong), 0);
        ck_assert_int_eq(ak_authenticate(c, id, wrong, &req, &res), -EKEYREJECTED);

        char want[160];
        _cleanup_(freep) char *log = harness_read_file(local.daemon_log);
        ck_assert_ptr_nonnull(log);
        snprintf(want, sizeof(want), "auth: key=%s user=\"nobody\" service=\"vsftpd\" rhost=\"192.0.2.8\" caller=0 "
                 "result=success", id);
        ck_assert_msg(strstr(log, want), "no '%s' in:\n%s", want, log);
        snprintf(want, sizeof(want), "auth: key=%s user=\"nobody\" service=\"vsftpd\" rhost=\"192.0.2.8\" caller=0 "
                 "result=failure reason=\"wrong secret\"", id);
        ck_assert_msg(strstr(log, want), "no '%s' in:\n%s", want, log);
        snprintf(want, sizeof(want), "user=\"%s\"", id);
        ck_assert_msg(!strstr(log, want), "the ID stands for the user in:\n%s", log);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
        harness_stop(&local);
}
END_TEST

/* libfaketime (Debian's libfaketime, from the faketime package that
 * tools/install-deps installs), wherever the architecture put it. */
static bool find_libfaketime(char *buf, size_t n) {
        glob_t g;
        bool found = glob("/usr/lib/*/faketime/libfaketime.so.1", 0, NULL, &g) == 0 && g.gl_pathc > 0;
        if (found)
                snprintf(buf, n, "%s", g.gl_pathv[0]);
        globfree(&g);
        return found;
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_wall_clock_step_does_not_lock_out) {
        /* The daemon's wall clock is set back an hour after a failure, as
         * an administrator or NTP might, without touching this machine's:
         * the daemon runs under libfaketime, which reads the offset from a
         * file at every call, and leaves CLOCK_MONOTONIC alone as a real
         * step would.  (A time namespace cannot do it: it offsets only the
         * monotonic and boot-time clocks.) */
        char lib[PATH_MAX], offset[PATH_MAX + 16];
        ck_assert_msg(find_libfaketime(lib, sizeof(lib)),
                      "libfaketime is missing: install the faketime package (tools/install-deps)");
        harness local;
        memset(&local, 0, sizeof(local));
        harness_prepare(&local);
        write_text(local.config_path, "RateLimitBurst = 1\nRateLimitInterval = 1s\n");
        snprintf(offset, sizeof(offset), "%s/faketime", local.dir);
        write_text(offset, "+0\n");
        harness_start_bus(&local);
        setenv("LD_PRELOAD", lib, 1);
        setenv("FAKETIME_TIMESTAMP_FILE", offset, 1);
        setenv("FAKETIME_NO_CACHE", "1", 1);
        setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
        harness_start_daemon(&local, NULL);
        wait_for_private_socket(&local);
        unsetenv("LD_PRELOAD");
        unsetenv("FAKETIME_TIMESTAMP_FILE");
        unsetenv("FAKETIME_NO_CACHE");
        unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");

        ak_client *c = NULL;
        char *id, *secret, wrong[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_client_open(NULL, local.private_socket, 5000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &(ak_create_options){ .name = "clock" }, &id, &secret), 0);
        ck_assert_int_eq(ak_secret_generate(wrong), 0);
        ak_auth_request req = { .user = "root", .service = "sshd", .rhost = "192.0.2.9" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, wrong, &req, &res), -EKEYREJECTED);
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), -EBUSY);
        /* The wall clock goes back an hour; one interval passes. */
        write_text(offset, "-1h\n");
        usleep(1200 * 1000);
        int r = ak_authenticate(c, id, secret, &req, &res);
        ck_assert_msg(r == 0, "the right secret after the interval: %s: %s", ak_strerror(r),
                      strempty(ak_client_last_error(c)));
        ak_auth_result_free(res);
        /* The daemon did see the step: the login is recorded an hour back. */
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_lt(k->last_used_at, now_usec() - 3000 * USEC_PER_SEC);
        ak_key_free(k);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
        harness_stop(&local);
}
END_TEST

START_TEST(test_unreachable_daemon) {
        ak_client *c = NULL;
        ck_assert_int_eq(ak_client_open("unix:path=/nonexistent/bus", NULL, 500, &c), -ECONNREFUSED);
        ck_assert_int_eq(ak_client_open(NULL, "/nonexistent/private", 500, &c), -ECONNREFUSED);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("integration");
        TCase *tc = tcase_create("bus");
        tcase_add_unchecked_fixture(tc, start, stop);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_introspect_lists_methods);
        tcase_add_test(tc, test_create_list_get_delete);
        tcase_add_test(tc, test_authenticate);
        tcase_add_test(tc, test_other_user_cannot_see_roots_keys);
        tcase_add_test(tc, test_user_manages_own_keys_and_quota);
        tcase_add_test(tc, test_admin_creates_for_user);
        tcase_add_test(tc, test_bad_arguments);
        tcase_add_test(tc, test_second_daemon_refused);
        tcase_add_test(tc, test_bad_config_refused);
        tcase_add_test(tc, test_unreachable_daemon);
        tcase_add_test(tc, test_private_socket);
        suite_add_tcase(s, tc);

        /* Restarts the daemon: a fixture per test, in the test's own
         * process, so that the daemon is its child. */
        tc = tcase_create("restart");
        tcase_add_checked_fixture(tc, start, stop);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_records_survive_restart);
        tcase_add_test(tc, test_logins_survive_bus_restart);
        tcase_add_test(tc, test_guessing_is_rate_limited);
        suite_add_tcase(s, tc);

        /* Each starts a daemon of its own. */
        tc = tcase_create("guessing");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_untrusted_user_is_one_source);
        tcase_add_test(tc, test_local_guesser_does_not_lock_out_others);
        tcase_add_test(tc, test_audit_names_owner_of_keyid_login);
        tcase_add_test(tc, test_wall_clock_step_does_not_lock_out);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), true);
}
