/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What accesskeyd trusts at start and in its stored data, tested from the
 * outside: a real daemon on a throwaway bus, its configuration and state
 * directory tampered with as an administrator's mistake or a local user
 * would, and what an administrator sees (the exit status and the log) or a
 * login gets.  The store is edited behind the daemon's back with
 * tests/store-edit.c while the daemon is stopped.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accesskey.h"
#include "credential.h"
#include "harness.h"
#include "store-edit.h"
#include "timeutil.h"
#include "util.h"
#include "verifier.h"

static harness h;

static void setup(void) {
        memset(&h, 0, sizeof(h));
        harness_start_bus(&h);
}

static void teardown(void) {
        harness_stop(&h);
}

static char *state_path(const char *name) {
        static char p[PATH_MAX + 32];
        snprintf(p, sizeof(p), "%s/%s", h.state_dir, name);
        return p;
}

/* Starts the daemon and waits until it answers; the log is emptied first
 * so that what a test reads is this start's. */
static void start(void) {
        ck_assert_int_eq(truncate(h.daemon_log, 0) == 0 || errno == ENOENT, 1);
        harness_start_daemon(&h, NULL);
}

static void stop(void) {
        int status = harness_stop_daemon(&h);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "accesskeyd did not exit cleanly: %d",
                      status);
}

static char *log_text(void) {
        char *log = harness_read_file(h.daemon_log);
        ck_assert_ptr_nonnull(log);
        return log;
}

/* Starts the daemon and expects a refusal an administrator notices: exit
 * status 1 within 10 s (not a hang, not a silent start), and the log
 * naming each of the NULL-terminated words.  Returns the log. */
static char *expect_refusal(const char *const *words) {
        int status;

        ck_assert_int_eq(truncate(h.daemon_log, 0) == 0 || errno == ENOENT, 1);
        harness_spawn_daemon(&h, NULL);
        for (int i = 0; i < 1000; i++) {
                if (waitpid(h.daemon_pid, &status, WNOHANG) == h.daemon_pid) {
                        h.daemon_pid = 0;
                        char *log = log_text();
                        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                                      "accesskeyd ended with status %d, not exit 1: %s", status, log);
                        for (size_t k = 0; words && words[k]; k++)
                                ck_assert_msg(strstr(log, words[k]), "the log does not say '%s': %s", words[k],
                                              log);
                        return log;
                }
                usleep(10000);
        }
        char *log = log_text();
        ck_abort_msg("accesskeyd did not refuse to start within 10 s (a hang, or a start): %s", log);
        return NULL;
}

static ak_client *client(void) {
        ak_client *c = NULL;
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 3000, &c), 0);
        return c;
}

static void create(const char *owner, char **ret_id, char **ret_secret) {
        ak_client *c = client();
        ak_create_options o = { .name = "startup", .owner = owner };
        int r = ak_create_key(c, &o, ret_id, ret_secret);
        ck_assert_msg(r == 0, "create failed: %s: %s", ak_strerror(r), strempty(ak_client_last_error(c)));
        ak_client_close(c);
}

static int login(const char *id, const char *secret, const char *user) {
        ak_client *c = client();
        ak_auth_request req = { .user = user, .service = "login" };
        ak_auth_result *res = NULL;
        int r = ak_authenticate(c, id, secret, &req, &res);
        ak_auth_result_free(res);
        ak_client_close(c);
        return r;
}

static void write_config(const char *text) {
        FILE *f = fopen(h.config_path, "we");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
        ck_assert_int_eq(chmod(h.config_path, 0644), 0);
}

/* ---- the configuration file ---- */

/* A FIFO as the configuration hung the daemon in open(): now it is a
 * refusal at start, and on SIGHUP the old configuration stays in force
 * with the daemon serving. */
static void config_not_a_file_at_start(bool fifo) {
        if (fifo)
                ck_assert_int_eq(mkfifo(h.config_path, 0644), 0);
        else
                ck_assert_int_eq(mkdir(h.config_path, 0755), 0);
        const char *const words[] = { h.config_path, fifo ? "is a FIFO" : "is a directory", "regular file",
                                      "not starting", NULL };
        free(expect_refusal(words));
}

START_TEST(test_config_fifo_at_start) {
        config_not_a_file_at_start(true);
}
END_TEST

START_TEST(test_config_directory_at_start) {
        config_not_a_file_at_start(false);
}
END_TEST

static void config_not_a_file_on_reload(bool fifo) {
        _cleanup_(freep) char *id = NULL, *secret = NULL, *id2 = NULL, *secret2 = NULL;

        /* An administrator may hold one key: the setting tells the old
         * configuration from the defaults. */
        write_config("MaxKeysPerAdmin = 1\n");
        start();
        ck_assert_int_eq(unlink(h.config_path), 0);
        if (fifo)
                ck_assert_int_eq(mkfifo(h.config_path, 0644), 0);
        else
                ck_assert_int_eq(mkdir(h.config_path, 0755), 0);
        ck_assert_int_eq(kill(h.daemon_pid, SIGHUP), 0);

        /* Still serving, within the client's 3 s, under the old settings. */
        create(NULL, &id, &secret);
        ak_client *c = client();
        ak_create_options o = { .name = "second" };
        ck_assert_int_eq(ak_create_key(c, &o, &id2, &secret2), -EDQUOT);
        ak_client_close(c);
        ck_assert_int_eq(login(id, secret, "root"), 0);

        _cleanup_(freep) char *log = log_text();
        ck_assert_msg(strstr(log, fifo ? "is a FIFO" : "is a directory") &&
                              strstr(log, "keeping the previous configuration"),
                      "the failed reload is not logged: %s", log);
        /* And SIGTERM still ends it. */
        stop();
}

START_TEST(test_config_fifo_on_reload) {
        config_not_a_file_on_reload(true);
}
END_TEST

START_TEST(test_config_directory_on_reload) {
        config_not_a_file_on_reload(false);
}
END_TEST

/* Who can write the configuration can make themselves an administrator. */
START_TEST(test_config_writable_by_others) {
        write_config("MaxKeysPerAdmin = 1\n");
        ck_assert_int_eq(chmod(h.config_path, 0666), 0);
        const char *const mode[] = { h.config_path, "0666", "chmod go-w", NULL };
        free(expect_refusal(mode));
        ck_assert_int_eq(chmod(h.config_path, 0664), 0);
        ck_assert_int_eq(chown(h.config_path, 0, HARNESS_UID_OTHER), 0);
        const char *const group[] = { h.config_path, "0664", "chmod go-w", NULL };
        free(expect_refusal(group));
        ck_assert_int_eq(chmod(h.config_path, 0644), 0);
        ck_assert_int_eq(chown(h.config_path, HARNESS_UID_OTHER, HARNESS_UID_OTHER), 0);
        const char *const owner[] = { h.config_path, "owned by UID 1", "chown root:root", NULL };
        free(expect_refusal(owner));
        /* Root's file, writable by group root (an administrator's umask
         * 002): accepted. */
        ck_assert_int_eq(chown(h.config_path, 0, 0), 0);
        ck_assert_int_eq(chmod(h.config_path, 0664), 0);
        start();
}
END_TEST

/* A lifetime that would put a default expiry after 9999 is refused as a
 * setting, before any key gets it. */
START_TEST(test_config_lifetime_beyond_9999) {
        write_config("DefaultLifetime = 418000w\n");
        const char *const words[] = { h.config_path, "DefaultLifetime", "1000 years", NULL };
        free(expect_refusal(words));
        write_config("MaxLifetime = 365000d\nDefaultLifetime = 365000d\n");
        start();
}
END_TEST

/* ---- the state directory ---- */

/* Every file of the store and the directory itself, made writable by
 * others or given to another user: a refusal naming the path and the
 * command that fixes it, and a start once it is fixed. */
START_TEST(test_store_permissions) {
        static const char *const files[] = { "data.mdb", "lock.mdb", "pepper", "" };
        _cleanup_(freep) char *id = NULL, *secret = NULL;

        start();
        create(NULL, &id, &secret);
        stop();
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char path[PATH_MAX + 32];
                struct stat st;
                snprintf(path, sizeof(path), "%s%s%s", h.state_dir, *files[i] ? "/" : "", files[i]);
                ck_assert_int_eq(stat(path, &st), 0);

                ck_assert_int_eq(chmod(path, (st.st_mode & 07777) | 0022), 0);
                const char *const writable[] = { path, streq(files[i], "pepper") ? "chmod 0400" : "chmod go-w",
                                                 "not starting", NULL };
                free(expect_refusal(writable));
                ck_assert_int_eq(chmod(path, st.st_mode & 07777), 0);

                ck_assert_int_eq(chown(path, HARNESS_UID_OTHER, HARNESS_UID_OTHER), 0);
                const char *const owned[] = { path, "owned by UID 1", "chown root:root", NULL };
                free(expect_refusal(owned));
                ck_assert_int_eq(chown(path, 0, 0), 0);
        }
        start();
        ck_assert_int_eq(login(id, secret, "root"), 0);
}
END_TEST

/* The pepper gone while keys are stored: a refusal that says what to do,
 * never a new pepper under which every key fails as a wrong secret. */
START_TEST(test_pepper_missing) {
        _cleanup_(freep) char *id = NULL, *secret = NULL, *saved = NULL;
        struct stat st;

        start();
        create(NULL, &id, &secret);
        stop();
        saved = strdup(state_path("pepper.saved"));
        ck_assert_int_eq(rename(state_path("pepper"), saved), 0);
        const char *const words[] = { state_path("pepper"), "missing", "restore", "move data.mdb", NULL };
        free(expect_refusal(words));
        ck_assert_int_eq(stat(state_path("pepper"), &st), -1);
        ck_assert_int_eq(rename(saved, state_path("pepper")), 0);
        start();
        ck_assert_int_eq(login(id, secret, "root"), 0);
}
END_TEST

/* Another pepper in place of the one the keys were made with. */
START_TEST(test_pepper_changed) {
        _cleanup_(freep) char *id = NULL, *secret = NULL;
        uint8_t other[AK_PEPPER_LEN];

        start();
        create(NULL, &id, &secret);
        stop();
        memset(other, 0x5c, sizeof(other));
        ck_assert_int_eq(unlink(state_path("pepper")), 0);
        int fd = open(state_path("pepper"), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, other, sizeof(other)), (ssize_t) sizeof(other));
        close(fd);
        const char *const words[] = { state_path("pepper"), "not the one", "restore the original pepper", NULL };
        free(expect_refusal(words));
}
END_TEST

/* ---- the records ---- */

static void set_owner_root(key_record *r, void *userdata) {
        r->owner_uid = 0;
        free(r->owner_name);
        r->owner_name = strdup("root");
}

/* A key's owner changed in data.mdb behind the daemon's back: its secret
 * logs in as nobody, neither as the new owner nor as the old. */
START_TEST(test_owner_edit_refused) {
        _cleanup_(freep) char *id = NULL, *secret = NULL;

        start();
        create("daemon", &id, &secret);
        ck_assert_int_eq(login(id, secret, "daemon"), 0);
        stop();
        ck_assert_int_eq(store_edit_record(h.state_dir, id, set_owner_root, NULL), 0);
        start();
        ck_assert_int_eq(login(id, secret, "root"), -EKEYREJECTED);
        ck_assert_int_eq(login(id, secret, "daemon"), -EKEYREJECTED);
}
END_TEST

static void set_verifier(key_record *r, void *userdata) {
        memcpy(r->verifier, userdata, AK_VERIFIER_LEN);
}

static void read_pepper(uint8_t ret[AK_PEPPER_LEN]) {
        FILE *f = fopen(state_path("pepper"), "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(ret, 1, AK_PEPPER_LEN, f), AK_PEPPER_LEN);
        fclose(f);
}

static key_record *stored_record(const char *id) {
        _cleanup_(freep) uint8_t *buf = NULL;
        key_record *rec = NULL;
        size_t len;
        ck_assert_int_eq(store_edit_get(h.state_dir, "keys", id, AK_ID_LEN, (void **) &buf, &len), 0);
        ck_assert_int_eq(key_record_decode(buf, len, &rec), 0);
        return rec;
}

static void stored_verifier(const char *id, uint8_t ret[AK_VERIFIER_LEN]) {
        _cleanup_(key_record_freep) key_record *rec = stored_record(id);
        memcpy(ret, rec->verifier, AK_VERIFIER_LEN);
}

/* Replaces the stored verifier of a key (owner ignored: scheme 1) with the
 * unbound form of earlier releases. */
static void make_unbound(const char *id, const char *secret) {
        uint8_t pepper[AK_PEPPER_LEN], old[AK_VERIFIER_LEN];
        ak_verifier_key *k;
        read_pepper(pepper);
        ck_assert_int_eq(ak_verifier_key_new(pepper, &k), 0);
        erase_mem(pepper, sizeof(pepper));
        ck_assert_int_eq(
                ak_verifier_compute_scheme(k, AK_VERIFIER_SCHEME_HMAC_SHA256, id, 0, secret, old),
                0);
        ak_verifier_key_free(k);
        ck_assert_int_eq(store_edit_record(h.state_dir, id, set_verifier, old), 0);
}

/* A verifier of an earlier release (ID ":" secret, bound to nothing else)
 * still logs in, is counted at start, and after its first login is stored
 * bound to the key's ID and owner. */
START_TEST(test_unbound_verifier_upgraded) {
        _cleanup_(freep) char *id = NULL, *secret = NULL;
        uint8_t pepper[AK_PEPPER_LEN], bound[AK_VERIFIER_LEN], now[AK_VERIFIER_LEN];
        ak_verifier_key *k;

        start();
        create("daemon", &id, &secret);
        stop();
        read_pepper(pepper);
        ck_assert_int_eq(ak_verifier_key_new(pepper, &k), 0);
        erase_mem(pepper, sizeof(pepper));
        ck_assert_int_eq(ak_verifier_compute_with(k, id, HARNESS_UID_OTHER, secret, bound), 0);
        ak_verifier_key_free(k);
        stored_verifier(id, now);
        ck_assert_mem_eq(now, bound, AK_VERIFIER_LEN); /* CreateKey writes the bound form */
        make_unbound(id, secret);

        start();
        _cleanup_(freep) char *log = log_text();
        ck_assert_msg(strstr(log, "1 of 1 access key(s) still have a verifier") &&
                              strstr(log, "accesskeyctl rotate"),
                      "the start does not count the unbound verifier: %s", log);
        ck_assert_int_eq(login(id, secret, "daemon"), 0);
        stop();
        stored_verifier(id, now);
        ck_assert_int_eq(now[0], AK_VERIFIER_SCHEME_BOUND);
        ck_assert_mem_eq(now, bound, AK_VERIFIER_LEN);

        start();
        free(log);
        log = log_text();
        ck_assert_msg(!strstr(log, "still have a verifier"), "counted again after the upgrade: %s", log);
        ck_assert_int_eq(login(id, secret, "daemon"), 0);
}
END_TEST

/* RotateSecret writes the bound scheme; the previous verifier it keeps for
 * the grace period keeps its own (unbound) scheme, and still works. */
START_TEST(test_rotation_keeps_previous_scheme) {
        _cleanup_(freep) char *id = NULL, *secret = NULL;
        char *fresh = NULL;

        start();
        create("daemon", &id, &secret);
        stop();
        make_unbound(id, secret);
        start();
        ak_client *c = client();
        ck_assert_int_eq(ak_rotate_secret(c, id, 3600 * USEC_PER_SEC, &fresh), 0);
        ak_client_close(c);
        ck_assert_int_eq(login(id, secret, "daemon"), 0); /* the grace period */
        ck_assert_int_eq(login(id, fresh, "daemon"), 0);
        stop();
        _cleanup_(key_record_freep) key_record *rec = stored_record(id);
        ck_assert_int_eq(rec->verifier[0], AK_VERIFIER_SCHEME_BOUND);
        ck_assert_int_eq(rec->prev_verifier[0], AK_VERIFIER_SCHEME_HMAC_SHA256);
        ck_assert_uint_ne(rec->prev_verifier_until, 0);
        ak_secret_free(fresh);
}
END_TEST

/* ---- what CreateKey and UpdateKey store ---- */

START_TEST(test_bad_labels_and_expiry) {
        _cleanup_(freep) char *id = NULL, *secret = NULL;
        char *nid = NULL, *nsecret = NULL;

        start();
        create(NULL, &id, &secret);
        ak_client *c = client();
        ak_create_options o = { .name = "invoice\u202Efdp.exe" };
        ck_assert_int_eq(ak_create_key(c, &o, &nid, &nsecret), -EINVAL);
        const char *e = strempty(ak_client_last_error(c));
        ck_assert_msg(strstr(e, "'name'") && strstr(e, "character 8") && strstr(e, "U+202E"), "%s", e);

        o = (ak_create_options){ .name = "ok", .description = "line one\nline two" };
        ck_assert_int_eq(ak_create_key(c, &o, &nid, &nsecret), -EINVAL);
        e = strempty(ak_client_last_error(c));
        ck_assert_msg(strstr(e, "'description'") && strstr(e, "control character"), "%s", e);

        ak_update_options u = { .name = "\u2066x" };
        ck_assert_int_eq(ak_update_key(c, id, &u), -EINVAL);
        e = strempty(ak_client_last_error(c));
        ck_assert_msg(strstr(e, "'name'") && strstr(e, "character 1") && strstr(e, "U+2066"), "%s", e);

        /* After 9999-12-31T23:59:59Z: refused, for an administrator too. */
        const uint64_t too_late = ((uint64_t) MAX_TIME_SEC + 1) * USEC_PER_SEC;
        o = (ak_create_options){ .name = "ok", .set_expires = true, .expires_at = too_late };
        ck_assert_int_eq(ak_create_key(c, &o, &nid, &nsecret), -EINVAL);
        e = strempty(ak_client_last_error(c));
        ck_assert_msg(strstr(e, "expires_at") && strstr(e, "9999-12-31"), "%s", e);
        u = (ak_update_options){ .set_expires = true, .expires_at = UINT64_MAX };
        ck_assert_int_eq(ak_update_key(c, id, &u), -EINVAL);
        e = strempty(ak_client_last_error(c));
        ck_assert_msg(strstr(e, "expires_at") && strstr(e, "9999-12-31"), "%s", e);
        /* The CLI says so before asking the daemon, for a date and for a
         * span from now alike. */
        static const char *const whens[] = { "10000-01-01", "9999-12-31T23:59:60Z", "420000w" };
        for (size_t i = 0; i < ELEMENTSOF(whens); i++) {
                _cleanup_(freep) char *exe = strdup(harness_path("accesskeyctl")), *out = NULL,
                                      *err = NULL;
                char bus[PATH_MAX + 16];
                snprintf(bus, sizeof(bus), "--bus=%s", h.bus_address);
                const char *const argv[] = { exe,    bus,         "create", "--name",
                                             "late", "--expires", whens[i], NULL };
                ck_assert_int_ne(harness_run(argv, (uid_t) -1, (gid_t) -1, NULL, &out, &err), 0);
                ck_assert_msg(strstr(err, whens[i]) &&
                                      strstr(err, i == 1 ? "expected" : "before the year 10000"),
                              "accesskeyctl --expires %s: %s", whens[i], err);
        }
        /* The last second of 9999 is fine. */
        u = (ak_update_options){ .set_expires = true, .expires_at = (uint64_t) MAX_TIME_SEC * USEC_PER_SEC };
        ck_assert_int_eq(ak_update_key(c, id, &u), 0);
        ak_client_close(c);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("startup");
        TCase *tc = tcase_create("config");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_config_fifo_at_start);
        tcase_add_test(tc, test_config_directory_at_start);
        tcase_add_test(tc, test_config_fifo_on_reload);
        tcase_add_test(tc, test_config_directory_on_reload);
        tcase_add_test(tc, test_config_writable_by_others);
        tcase_add_test(tc, test_config_lifetime_beyond_9999);
        suite_add_tcase(s, tc);

        tc = tcase_create("store");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_store_permissions);
        tcase_add_test(tc, test_pepper_missing);
        tcase_add_test(tc, test_pepper_changed);
        tcase_add_test(tc, test_owner_edit_refused);
        tcase_add_test(tc, test_unbound_verifier_upgraded);
        tcase_add_test(tc, test_rotation_keeps_previous_scheme);
        suite_add_tcase(s, tc);

        tc = tcase_create("input");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_bad_labels_and_expiry);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), true);
}
