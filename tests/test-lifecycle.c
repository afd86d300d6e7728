/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key lifecycle end to end on a real bus and daemon: expiry, deactivate
 * and reactivate, rotation with and without grace, limits under concurrency,
 * administrators as real group members, key objects and their properties,
 * signals, summary, configuration reload.
 */
#include <check.h>
#include <dbus/dbus.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accesskey.h"
#include "credential.h"
#include "harness.h"
#include "util.h"

#define DAY (24 * 3600 * USEC_PER_SEC)

static harness h;

static void write_config(const char *text) {
        FILE *f;
        if (!h.dir[0]) {
                /* The harness makes its directory at start; make it now so
                 * the daemon finds its configuration from the first start. */
                memset(&h, 0, sizeof(h));
                harness_start_bus(&h);
        }
        f = fopen(h.config_path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
}

/* Each test its own bus and daemon, configured as the test says. */
static void start_with(const char *config) {
        memset(&h, 0, sizeof(h));
        write_config(config);
        harness_start_daemon(&h, NULL);
}

static void start(void) {
        /* daemon (uid 1, primary group daemon) is an administrator. */
        start_with("AdminGroup = daemon\n");
}

static void start_change_limited(void) {
        start_with("ChangeRateLimitBurst = 5\nChangeRateLimitInterval = 1h\n");
}

static void stop(void) {
        harness_stop(&h);
}

static ak_client *client(void) {
        ak_client *c = NULL;
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 5000, &c), 0);
        return c;
}

static void create_full(ak_client *c, const ak_create_options *o, char **id, char **secret) {
        int r = ak_create_key(c, o, id, secret);
        ck_assert_msg(r == 0, "create: %s: %s", ak_strerror(r), strempty(ak_client_last_error(c)));
}

static int auth(ak_client *c, const char *id, const char *secret, const char *user) {
        ak_auth_request req = { .user = user, .service = "sshd" };
        ak_auth_result *res = NULL;
        int r = ak_authenticate(c, id, secret, &req, &res);
        ak_auth_result_free(res);
        return r;
}

/* busctl against the test bus as uid (root: -1); returns its exit code. */
static int busctl(uid_t uid, char **out, char **err, ...) {
        const char *argv[40] = { "/usr/bin/busctl", "--address", h.bus_address };
        size_t n = 3;
        va_list ap;
        va_start(ap, err);
        for (const char *a; n < ELEMENTSOF(argv) - 1 && (a = va_arg(ap, const char *));)
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;
        return harness_run(argv, uid, uid == (uid_t) -1 ? (gid_t) -1 : uid, NULL, out, err);
}

#define M "org.accesskey.KeyStore1", "/org/accesskey/KeyStore1", "org.accesskey.KeyStore1.Manager"

START_TEST(test_expiry_to_the_microsecond) {
        ak_client *c = client();
        char *id, *secret;
        uint64_t exp = now_usec() + 1500 * USEC_PER_MSEC;
        ak_create_options o = { .name = "short-lived", .set_expires = true, .expires_at = exp };
        create_full(c, &o, &id, &secret);
        ck_assert_int_eq(auth(c, id, secret, "root"), 0);
        while (now_usec() <= exp + 1000)
                usleep(50000);
        ck_assert_int_eq(auth(c, id, secret, "root"), -EKEYEXPIRED);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "expired"));

        /* Extended, it works again. */
        ak_update_options u = { .set_expires = true, .expires_at = now_usec() + DAY };
        ck_assert_int_eq(ak_update_key(c, id, &u), 0);
        ck_assert_int_eq(auth(c, id, secret, "root"), 0);
        /* An expiry in the past is refused, naming the field. */
        u.expires_at = now_usec() - DAY;
        ck_assert_int_eq(ak_update_key(c, id, &u), -EINVAL);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "expires_at"));
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_deactivate_reactivate) {
        ak_client *c = client();
        char *id, *secret;
        ak_create_options o = { .name = "toggle" };
        create_full(c, &o, &id, &secret);
        ck_assert_int_eq(auth(c, id, secret, "root"), 0);

        ck_assert_int_eq(ak_deactivate_key(c, id), 0);
        /* The very next authentication fails: no caching window at all. */
        ck_assert_int_eq(auth(c, id, secret, "root"), -EKEYREVOKED);
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert(!k->active);
        ck_assert_uint_eq(k->updated_by, 0);
        ak_key_free(k);
        /* Twice is fine. */
        ck_assert_int_eq(ak_deactivate_key(c, id), 0);

        ck_assert_int_eq(ak_reactivate_key(c, id), 0);
        ck_assert_int_eq(auth(c, id, secret, "root"), 0);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_rotate) {
        ak_client *c = client();
        char *id, *s1, *s2, *s3;
        ak_create_options o = { .name = "rot", .scopes = (const char *const[]){ "deploy:write", NULL } };
        create_full(c, &o, &id, &s1);

        /* Without grace the old secret stops at once. */
        ck_assert_int_eq(ak_rotate_secret(c, id, 0, &s2), 0);
        ck_assert_str_ne(s1, s2);
        ck_assert_int_eq(auth(c, id, s1, "root"), -EKEYREJECTED);
        ck_assert_int_eq(auth(c, id, s2, "root"), 0);

        /* With grace both work until it ends, then only the new one. */
        ck_assert_int_eq(ak_rotate_secret(c, id, 1200 * USEC_PER_MSEC, &s3), 0);
        ck_assert_int_eq(auth(c, id, s2, "root"), 0);
        ck_assert_int_eq(auth(c, id, s3, "root"), 0);
        usleep(1300000);
        ck_assert_int_eq(auth(c, id, s2, "root"), -EKEYREJECTED);
        ck_assert_int_eq(auth(c, id, s3, "root"), 0);

        /* The key kept its ID and every setting. */
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_str_eq(k->name, "rot");
        ck_assert_str_eq(k->scopes[0], "deploy:write");
        ck_assert_uint_gt(k->rotated_at, k->created_at);
        ak_key_free(k);

        /* Grace is bounded. */
        char *s4;
        ck_assert_int_eq(ak_rotate_secret(c, id, 8 * DAY, &s4), -EINVAL);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "7 days"));
        free(id);
        ak_secret_free(s1);
        ak_secret_free(s2);
        ak_secret_free(s3);
        ak_client_close(c);
}
END_TEST

START_TEST(test_update_fields) {
        ak_client *c = client();
        char *id, *secret;
        ak_create_options o = { .name = "before", .description = "d1" };
        create_full(c, &o, &id, &secret);
        ak_update_options u = { .name = "after", .description = "",
                                .set_services = true, .services = (const char *const[]){ "sshd", NULL } };
        ck_assert_int_eq(ak_update_key(c, id, &u), 0);
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_str_eq(k->name, "after");
        ck_assert_str_eq(k->description, "");
        ck_assert_str_eq(k->services[0], "sshd");
        ck_assert_ptr_null(k->services[1]);
        ak_key_free(k);

        /* Invalid values are refused and change nothing. */
        char bad[300];
        memset(bad, 'x', 256);
        bad[256] = 0;
        ak_update_options b = { .name = bad };
        ck_assert_int_eq(ak_update_key(c, id, &b), -EINVAL);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "'name'"));
        b = (ak_update_options){ .name = "ok", .set_scopes = true, .scopes = (const char *const[]){ "Bad Scope", NULL } };
        ck_assert_int_eq(ak_update_key(c, id, &b), -EINVAL);
        ck_assert_ptr_nonnull(strstr(ak_client_last_error(c), "scopes"));
        b = (ak_update_options){ .name = "\x1b[31mred" };
        ck_assert_int_eq(ak_update_key(c, id, &b), -EINVAL);
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_str_eq(k->name, "after");
        ak_key_free(k);
        ck_assert_int_eq(ak_update_key(c, id, &(ak_update_options){}), -EINVAL);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

/* Runs n copies of busctl CreateKey at once as uid; returns successes. */
static int concurrent_creates(uid_t uid, int n) {
        pid_t pids[32];
        int ok = 0;
        for (int i = 0; i < n; i++) {
                pids[i] = fork();
                ck_assert_int_ge(pids[i], 0);
                if (pids[i] == 0) {
                        char *out = NULL, *err = NULL;
                        _exit(busctl(uid, &out, &err, "call", M, "CreateKey", "a{sv}", "1", "name", "s", "race",
                                     NULL));
                }
        }
        for (int i = 0; i < n; i++) {
                int st;
                ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
                if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                        ok++;
        }
        return ok;
}

/* Changes made at once by several clients to the same key: each reads the
 * key, and each must land; none may undo another (the writer writes a
 * change only onto the record it was made against, else the call runs
 * again). */
START_TEST(test_concurrent_changes_all_land) {
        ak_client *c = client();
        char *id, *secret;
        create_full(c, &(ak_create_options){ .name = "shared" }, &id, &secret);

        for (int round = 0; round < 4; round++) {
                char tag[16];
                pid_t pids[6];
                snprintf(tag, sizeof(tag), "r%d", round);
                for (int i = 0; i < 6; i++) {
                        pids[i] = fork();
                        ck_assert_int_ge(pids[i], 0);
                        if (pids[i] > 0)
                                continue;
                        ak_client *k = NULL;
                        if (ak_client_open(h.bus_address, NULL, 5000, &k) < 0)
                                _exit(2);
                        const char *const one[] = { tag, NULL };
                        const char *const net[] = { round % 2 ? "10.0.0.0/8" : "192.0.2.0/24", NULL };
                        ak_update_options o = {};
                        switch (i) {
                        case 0: o.name = tag; break;
                        case 1: o.description = tag; break;
                        case 2: o.set_expires = true, o.expires_at = now_usec() + (uint64_t) (round + 1) * DAY; break;
                        case 3: o.set_services = true, o.services = one; break;
                        case 4: o.set_networks = true, o.networks = net; break;
                        default: o.set_scopes = true, o.scopes = one; break;
                        }
                        _exit(ak_update_key(k, id, &o) == 0 ? 0 : 1);
                }
                for (int i = 0; i < 6; i++) {
                        int st;
                        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
                        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "update %d of round %d failed", i,
                                      round);
                }
                ak_key *k;
                ck_assert_int_eq(ak_get_key(c, id, &k), 0);
                ck_assert_str_eq(k->name, tag);
                ck_assert_str_eq(k->description, tag);
                ck_assert_str_eq(k->services[0], tag);
                ck_assert_str_eq(k->scopes[0], tag);
                ck_assert_str_eq(k->networks[0], round % 2 ? "10.0.0.0/8" : "192.0.2.0/24");
                ck_assert_uint_gt(k->expires_at, now_usec() + (uint64_t) round * DAY);
                ak_key_free(k);
        }
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_changes_rate_limited_per_uid) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *bins = NULL;

        /* bin (uid 2) may make 5 changes, then one an hour; root is not
         * limited, and bin's limit is not daemon's (uid 1). */
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "CreateKey", "a{sv}", "1", "name", "s",
                                "bins", NULL),
                         0);
        ck_assert_ptr_nonnull(strstr(out, "\"AK"));
        bins = strndup(strstr(out, "\"AK") + 1, AK_ID_LEN);
        for (int i = 0; i < 6; i++) {
                free(out), free(err);
                out = err = NULL;
                uint64_t t0 = mono_usec();
                int rc = busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "UpdateKey", "sa{sv}", bins, "1",
                                "description", "s", "again", NULL);
                if (i < 4)
                        ck_assert_msg(rc == 0, "change %d: %s", i, err);
                else {
                        ck_assert_msg(rc != 0 && strstr(err, "too many key changes from UID 2") &&
                                              strstr(err, "ChangeRateLimitBurst"),
                                      "change %d: %s", i, err);
                        /* The refusal is held back (up to a second), so a
                         * client that retries at once does not spin. */
                        ck_assert_uint_ge(mono_usec() - t0, 800 * USEC_PER_MSEC);
                }
        }
        /* A refused change changed nothing, and deleting is a change too. */
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "DeleteKey", "s", bins, NULL), 0);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(busctl(HARNESS_UID_OTHER, &out, &err, "call", M, "CreateKey", "a{sv}", "1", "name", "s",
                                "daemons", NULL),
                         0);
        ak_client *c = client();
        for (int i = 0; i < 12; i++)
                ck_assert_int_eq(ak_update_key(c, bins, &(ak_update_options){ .description = "by root" }), 0);
        ak_client_close(c);
}
END_TEST

START_TEST(test_quota_under_concurrency) {
        /* bin (uid 2) is an ordinary user: MaxKeysPerUser = 2.  Twelve
         * creates race; exactly two may win. */
        ck_assert_int_eq(concurrent_creates(HARNESS_UID_THIRD, 12), 2);
        _cleanup_(freep) char *out = NULL, *err = NULL;
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "GetSummary", "a{sv}", "0", NULL), 0);
        ck_assert_msg(strstr(out, "\"total\" t 2"), "summary: %s", out);
}
END_TEST

START_TEST(test_admin_group_member) {
        /* daemon (uid 1) is in AdminGroup: it lists every key, manages
         * root's, creates for others, and is not limited to two. */
        ak_client *c = client();
        char *id, *secret;
        create_full(c, &(ak_create_options){ .name = "roots" }, &id, &secret);
        _cleanup_(freep) char *out = NULL, *err = NULL;

        ck_assert_int_eq(busctl(HARNESS_UID_OTHER, &out, &err, "call", M, "ListKeys", "a{sv}", "1", "all", "b", "true",
                                NULL),
                         0);
        ck_assert_ptr_nonnull(strstr(out, id));
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(busctl(HARNESS_UID_OTHER, &out, &err, "call", M, "DeactivateKey", "s", id, NULL), 0);
        ck_assert_int_eq(auth(c, id, secret, "root"), -EKEYREVOKED);
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->updated_by, HARNESS_UID_OTHER);
        ak_key_free(k);
        free(out), free(err);
        out = err = NULL;
        /* It creates keys for bin; bin may own two however they came. */
        for (int i = 0; i < 3; i++) {
                int rc = busctl(HARNESS_UID_OTHER, &out, &err, "call", M, "CreateKey", "a{sv}", "2", "name", "s",
                                "for-bin", "owner", "s", "bin", NULL);
                if (i < 2)
                        ck_assert_msg(rc == 0, "stderr: %s", err);
                else
                        ck_assert_msg(rc != 0 && strstr(err, "MaxKeysPerUser"), "stderr: %s", err);
                free(out), free(err);
                out = err = NULL;
        }
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "GetSummary", "a{sv}", "0", NULL), 0);
        ck_assert_msg(strstr(out, "\"total\" t 2"), "summary: %s", out);
        free(out), free(err);
        out = err = NULL;
        /* Its own keys are not limited (MaxKeysPerAdmin: unlimited). */
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(busctl(HARNESS_UID_OTHER, &out, &err, "call", M, "CreateKey", "a{sv}", "1", "name", "s",
                                        "admins-own", NULL),
                                 0);
                free(out), free(err);
                out = err = NULL;
        }
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_admin_deactivation_is_locked) {
        /* An administrator deactivates bin's key: bin cannot undo it; an
         * administrator can.  bin's own deactivation bin undoes itself. */
        _cleanup_(freep) char *out = NULL, *err = NULL;
        ak_client *c = client();
        char *id, *secret;
        create_full(c, &(ak_create_options){ .name = "incident", .owner = "bin" }, &id, &secret);
        ck_assert_int_eq(busctl(HARNESS_UID_OTHER, &out, &err, "call", M, "DeactivateKey", "s", id, NULL), 0);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "ReactivateKey", "s", id, NULL), 0);
        ck_assert_msg(strstr(err, "deactivated by an administrator"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(auth(c, id, secret, "bin"), -EKEYREVOKED);
        ck_assert_int_eq(ak_reactivate_key(c, id), 0);
        ck_assert_int_eq(auth(c, id, secret, "bin"), 0);
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "DeactivateKey", "s", id, NULL), 0);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "ReactivateKey", "s", id, NULL), 0);
        ck_assert_int_eq(auth(c, id, secret, "bin"), 0);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_user_sees_only_own_objects) {
        ak_client *c = client();
        char *id, *secret;
        create_full(c, &(ak_create_options){ .name = "roots-object" }, &id, &secret);
        char path[128];
        snprintf(path, sizeof(path), "/org/accesskey/KeyStore1/key/%s", id);
        _cleanup_(freep) char *out = NULL, *err = NULL;

        /* root: busctl tree lists it, get-property reads it. */
        ck_assert_int_eq(busctl((uid_t) -1, &out, &err, "tree", "org.accesskey.KeyStore1", NULL), 0);
        ck_assert_msg(strstr(out, id), "tree: %s", out);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(busctl((uid_t) -1, &out, &err, "get-property", "org.accesskey.KeyStore1", path,
                                "org.accesskey.KeyStore1.Key", "Name", NULL),
                         0);
        ck_assert_str_eq(out, "s \"roots-object\"\n");
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_eq(busctl((uid_t) -1, &out, &err, "introspect", "org.accesskey.KeyStore1", path, NULL), 0);
        ck_assert_ptr_nonnull(strstr(out, ".ExpiresAt"));
        /* Never the secret nor its verifier. */
        ck_assert_ptr_null(strstr(out, "ecret"));
        ck_assert_ptr_null(strstr(out, "erifier"));
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl((uid_t) -1, &out, &err, "set-property", "org.accesskey.KeyStore1", path,
                                "org.accesskey.KeyStore1.Key", "Name", "s", "x", NULL),
                         0);
        free(out), free(err);
        out = err = NULL;

        /* bin: neither in the tree nor readable. */
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "tree", "org.accesskey.KeyStore1", NULL), 0);
        ck_assert_ptr_null(strstr(out, id));
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl(HARNESS_UID_THIRD, &out, &err, "get-property", "org.accesskey.KeyStore1", path,
                                "org.accesskey.KeyStore1.Key", "Name", NULL),
                         0);
        ck_assert_ptr_null(strstr(out, "roots-object"));
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

/* A bus connection that collects our signals. */
static DBusConnection *listen_signals(void) {
        DBusError e = DBUS_ERROR_INIT;
        DBusConnection *conn = dbus_connection_open_private(h.bus_address, &e);
        ck_assert_ptr_nonnull(conn);
        ck_assert(dbus_bus_register(conn, &e));
        dbus_bus_add_match(conn, "type='signal',sender='org.accesskey.KeyStore1'", &e);
        ck_assert(!dbus_error_is_set(&e));
        return conn;
}

/* Counts the signals named member that arrive within ms. */
static int count_signals(DBusConnection *conn, const char *member, const char *id, int ms) {
        int n = 0;
        uint64_t end = mono_usec() + (uint64_t) ms * 1000;
        while (mono_usec() < end) {
                dbus_connection_read_write(conn, 50);
                DBusMessage *m;
                while ((m = dbus_connection_pop_message(conn))) {
                        const char *sid = NULL;
                        if (dbus_message_is_signal(m, "org.accesskey.KeyStore1.Manager", member) &&
                            dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &sid, DBUS_TYPE_INVALID) &&
                            streq(sid, id))
                                n++;
                        dbus_message_unref(m);
                }
        }
        return n;
}

START_TEST(test_signals_and_expiry_warning) {
        DBusConnection *conn = listen_signals();
        ak_client *c = client();
        char *id, *secret;
        /* Expires within the default 2-day warning window. */
        ak_create_options o = { .name = "soon", .set_expires = true, .expires_at = now_usec() + DAY };
        create_full(c, &o, &id, &secret);
        ck_assert_int_eq(count_signals(conn, "KeyCreated", id, 300), 1);

        ak_update_options u = { .description = "x" };
        ck_assert_int_eq(ak_update_key(c, id, &u), 0);
        /* KeyChanged; and KeyExpiring once only, not again on the update. */
        ck_assert_int_eq(count_signals(conn, "KeyChanged", id, 300), 1);

        dbus_connection_close(conn);
        dbus_connection_unref(conn);
        conn = listen_signals();
        /* A restart does not warn again: the key remembers. */
        ck_assert_int_eq(harness_stop_daemon(&h), 0);
        harness_start_daemon(&h, NULL);
        ck_assert_int_eq(count_signals(conn, "KeyExpiring", id, 500), 0);
        /* The daemon logged the warning exactly once. */
        _cleanup_(freep) char *log = harness_read_file(h.daemon_log);
        char needle[64];
        snprintf(needle, sizeof(needle), "key %s of root (0) expires on", id);
        char *first = strstr(log, needle);
        ck_assert_msg(first, "no warning in the log:\n%s", log);
        ck_assert_ptr_null(strstr(first + 1, needle));

        /* Authentication tells that it expires soon. */
        ak_client_close(c);
        c = client();
        ak_auth_request req = { .user = "root" };
        ak_auth_result *res;
        ck_assert_int_eq(ak_authenticate(c, id, secret, &req, &res), 0);
        ck_assert(res->expires_soon);
        ak_auth_result_free(res);

        ck_assert_int_eq(ak_delete_key(c, id), 0);
        ck_assert_int_eq(count_signals(conn, "KeyDeleted", id, 300), 1);
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_expiring_signal) {
        DBusConnection *conn = listen_signals();
        ak_client *c = client();
        char *id, *secret;
        ak_create_options o = { .name = "soon2", .set_expires = true, .expires_at = now_usec() + DAY };
        create_full(c, &o, &id, &secret);
        ck_assert_int_eq(count_signals(conn, "KeyExpiring", id, 400), 1);
        /* Extended out of the window and back into it: warned anew. */
        ak_update_options u = { .set_expires = true, .expires_at = now_usec() + 30 * DAY };
        ck_assert_int_eq(ak_update_key(c, id, &u), 0);
        ck_assert_int_eq(count_signals(conn, "KeyExpiring", id, 300), 0);
        u.expires_at = now_usec() + DAY / 2;
        ck_assert_int_eq(ak_update_key(c, id, &u), 0);
        ck_assert_int_eq(count_signals(conn, "KeyExpiring", id, 400), 1);
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_summary) {
        ak_client *c = client();
        char *ids[4], *secrets[4];
        create_full(c, &(ak_create_options){ .name = "a" }, &ids[0], &secrets[0]);
        create_full(c, &(ak_create_options){ .name = "b" }, &ids[1], &secrets[1]);
        create_full(c, &(ak_create_options){ .name = "c", .set_expires = true, .expires_at = now_usec() + 10 * DAY },
                    &ids[2], &secrets[2]);
        create_full(c, &(ak_create_options){ .name = "d", .set_expires = true, .expires_at = now_usec() + 600 * 1000 },
                    &ids[3], &secrets[3]);
        ck_assert_int_eq(ak_deactivate_key(c, ids[1]), 0);
        usleep(700000);
        ak_summary s;
        ck_assert_int_eq(ak_get_summary(c, 0, &s), 0);
        ck_assert_uint_eq(s.total, 4);
        ck_assert_uint_eq(s.inactive, 1);
        ck_assert_uint_eq(s.expired, 1);
        ck_assert_uint_eq(s.active, 2);
        ck_assert_uint_eq(s.expiring, 1);
        ck_assert_uint_eq(s.within, 30 * DAY);
        ck_assert_int_eq(ak_get_summary(c, 5 * DAY, &s), 0);
        ck_assert_uint_eq(s.expiring, 0);
        for (int i = 0; i < 4; i++) {
                free(ids[i]);
                ak_secret_free(secrets[i]);
        }
        ak_client_close(c);
}
END_TEST

START_TEST(test_lifetime_limits_and_reload) {
        harness_stop(&h);
        start_with("MaxLifetime = 30d\nDefaultLifetime = 7d\n");
        _cleanup_(freep) char *out = NULL, *err = NULL;
        char far[32];
        snprintf(far, sizeof(far), "%" PRIu64, now_usec() + 60 * DAY);

        /* A user gets the default lifetime, and no more than the maximum. */
        ck_assert_int_eq(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "CreateKey", "a{sv}", "1", "name", "s", "u1",
                                NULL),
                         0);
        char id[AK_ID_LEN + 1];
        memcpy(id, strchr(out, '"') + 1, AK_ID_LEN);
        id[AK_ID_LEN] = 0;
        free(out), free(err);
        out = err = NULL;
        ak_client *c = client();
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_gt(k->expires_at, now_usec() + 6 * DAY);
        ck_assert_uint_le(k->expires_at, now_usec() + 7 * DAY);
        ak_key_free(k);
        ck_assert_int_ne(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "CreateKey", "a{sv}", "2", "name", "s", "u2",
                                "expires_at", "t", far, NULL),
                         0);
        ck_assert_msg(strstr(err, "MaxLifetime"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        ck_assert_int_ne(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "CreateKey", "a{sv}", "2", "name", "s", "u3",
                                "expires_at", "t", "0", NULL),
                         0);
        free(out), free(err);
        out = err = NULL;
        /* Root is not bound. */
        char *rid, *rsecret;
        create_full(c, &(ak_create_options){ .name = "r", .set_expires = true, .expires_at = 0 }, &rid, &rsecret);

        /* SIGHUP reloads: now bin may own only one key. */
        write_config("MaxKeysPerUser = 1\nBusyPollMicroseconds = 0\n");
        kill(h.daemon_pid, SIGHUP);
        for (int i = 0; i < 100; i++) {
                _cleanup_(freep) char *log = harness_read_file(h.daemon_log);
                if (log && strstr(log, "configuration reloaded"))
                        break;
                usleep(20000);
        }
        ck_assert_int_ne(busctl(HARNESS_UID_THIRD, &out, &err, "call", M, "CreateKey", "a{sv}", "1", "name", "s", "u4",
                                NULL),
                         0);
        ck_assert_msg(strstr(err, "MaxKeysPerUser"), "stderr: %s", err);
        free(out), free(err);
        out = err = NULL;
        /* A bad file on reload keeps the running configuration. */
        write_config("MaxKeysPerUser = many\n");
        kill(h.daemon_pid, SIGHUP);
        usleep(300000);
        _cleanup_(freep) char *log = harness_read_file(h.daemon_log);
        ck_assert_ptr_nonnull(strstr(log, "accesskeyd.conf:1: MaxKeysPerUser"));
        ck_assert_ptr_nonnull(strstr(log, "keeping the previous configuration"));
        write_config("# a look of 5 ms after each call would be a busy loop\nBusyPollMicroseconds = 5000\n");
        kill(h.daemon_pid, SIGHUP);
        const char *want = "accesskeyd.conf:2: BusyPollMicroseconds: '5000' is not a number from 0 (off) to 1000";
        for (int i = 0; i < 250; i++) {
                free(log);
                log = harness_read_file(h.daemon_log);
                if (log && strstr(log, want))
                        break;
                usleep(20000);
        }
        ck_assert_msg(log && strstr(log, want), "no complaint about BusyPollMicroseconds in the log");
        free(rid);
        ak_secret_free(rsecret);
        ak_client_close(c);
}
END_TEST

START_TEST(test_usage_flushed_at_exit) {
        ak_client *c = client();
        char *id, *secret;
        create_full(c, &(ak_create_options){ .name = "used" }, &id, &secret);
        for (int i = 0; i < 5; i++)
                ck_assert_int_eq(auth(c, id, secret, "root"), 0);
        ak_client_close(c);
        ck_assert_int_eq(harness_stop_daemon(&h), 0);
        harness_start_daemon(&h, NULL);
        c = client();
        ak_key *k;
        ck_assert_int_eq(ak_get_key(c, id, &k), 0);
        ck_assert_uint_eq(k->use_count, 5);
        ck_assert_str_eq(k->last_used_service, "sshd");
        ak_key_free(k);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("lifecycle");
        TCase *tc = tcase_create("lifecycle");
        tcase_add_checked_fixture(tc, start, stop);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_expiry_to_the_microsecond);
        tcase_add_test(tc, test_deactivate_reactivate);
        tcase_add_test(tc, test_rotate);
        tcase_add_test(tc, test_update_fields);
        tcase_add_test(tc, test_quota_under_concurrency);
        tcase_add_test(tc, test_admin_group_member);
        tcase_add_test(tc, test_user_sees_only_own_objects);
        tcase_add_test(tc, test_admin_deactivation_is_locked);
        tcase_add_test(tc, test_signals_and_expiry_warning);
        tcase_add_test(tc, test_expiring_signal);
        tcase_add_test(tc, test_summary);
        tcase_add_test(tc, test_lifetime_limits_and_reload);
        tcase_add_test(tc, test_usage_flushed_at_exit);
        tcase_add_test(tc, test_concurrent_changes_all_land);
        suite_add_tcase(s, tc);

        tc = tcase_create("change-limit");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, start_change_limited, stop);
        tcase_add_test(tc, test_changes_rate_limited_per_uid);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), true);
}
