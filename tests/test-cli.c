/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accesskeyctl as a user meets it: the built binary, run as root and as other
 * real users against a private deny-by-default bus and a real accesskeyd.
 * Every test checks what a person at the terminal would check: the text, the
 * JSON and the exit status (0 success, 1 refused by the daemon, 2 usage).
 */
#include <check.h>
#include <json.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "accesskey.h"
#include "harness.h"
#include "util.h"

#define ID_RE "AK[A-Z2-7]{18}"
#define SECRET_RE "aks_[0-9A-Za-z]{46}"
#define NOWHERE "unix:path=/nonexistent"
#define NOTICE "shown only this once"

#define AS_ROOT ((uid_t) -1)

static harness h;

static void stop_harness(void) {
        harness_stop(&h);
}

/* Check forks each test; a failed assertion exits the child without running
 * the teardown, so the child stops its bus and daemon at exit as well. */
static void setup(void) {
        static bool registered;
        if (!registered) {
                atexit(stop_harness);
                registered = true;
        }
        harness_start(&h, NULL);
}

static void teardown(void) {
        harness_stop(&h);
}

/* Runs accesskeyctl --bus=BUS ARGS... (NULL-terminated) as uid (gid = uid). */
static int ctl_v(uid_t uid, const char *bus, char **ret_out, char **ret_err, va_list ap) {
        _cleanup_(freep) char *exe = strdup(harness_path("accesskeyctl"));
        char busarg[PATH_MAX + 16];
        const char *argv[32];
        size_t n = 0;
        const char *a;

        ck_assert_ptr_nonnull(exe);
        snprintf(busarg, sizeof busarg, "--bus=%s", bus);
        argv[n++] = exe;
        argv[n++] = busarg;
        while ((a = va_arg(ap, const char *)) && n < ELEMENTSOF(argv) - 1)
                argv[n++] = a;
        argv[n] = NULL;

        return harness_run(argv, uid, uid == AS_ROOT ? (gid_t) -1 : (gid_t) uid, NULL, ret_out,
                           ret_err);
}

static int ctl_as(uid_t uid, char **ret_out, char **ret_err, ...) {
        va_list ap;
        va_start(ap, ret_err);
        int r = ctl_v(uid, h.bus_address, ret_out, ret_err, ap);
        va_end(ap);
        return r;
}

#define ctl(out, err, ...) ctl_as(AS_ROOT, out, err, __VA_ARGS__, NULL)
#define ctl_other(out, err, ...) ctl_as(HARNESS_UID_OTHER, out, err, __VA_ARGS__, NULL)

static int ctl_nowhere(char **ret_out, char **ret_err, ...) {
        va_list ap;
        va_start(ap, ret_err);
        int r = ctl_v(AS_ROOT, NOWHERE, ret_out, ret_err, ap);
        va_end(ap);
        return r;
}

/* Whether the extended regex re matches somewhere in s (^ and $ match at
 * line ends); the first group goes to ret_group when asked. */
static bool matches(const char *re, const char *s, char *ret_group, size_t n) {
        regex_t rx;
        regmatch_t m[2];
        bool r;

        ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
        r = regexec(&rx, s, 2, m, 0) == 0;
        if (r && ret_group && m[1].rm_so >= 0) {
                size_t len = (size_t) (m[1].rm_eo - m[1].rm_so);
                ck_assert_uint_lt(len, n);
                memcpy(ret_group, s + m[1].rm_so, len);
                ret_group[len] = '\0';
        }
        regfree(&rx);
        return r;
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Creates a key named name as root (extra options after it) and returns its
 * ID, checked against the text output. */
static void create_key(char ret_id[AK_ID_LEN + 1], const char *name, const char *extra1,
                       const char *extra2) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        int r = ctl(&out, &err, "create", "--name", name, extra1, extra2);

        ck_assert_msg(r == 0, "create failed (%d): %s%s", r, out, err);
        ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, ret_id, AK_ID_LEN + 1),
                      "no access key ID in: %s", out);
}

/* ------------------------------------------------------------------ create */

START_TEST(test_create_prints_id_secret_and_notice) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];

        ck_assert_int_eq(ctl(&out, &err, "create", "--name", "ci-deploy", "--description",
                             "deploys from CI"),
                         0);
        ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, id, sizeof id), "%s", out);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", out, secret, sizeof secret),
                      "%s", out);
        ck_assert_msg(matches("^Expires:        ", out, NULL, 0), "%s", out);
        ck_assert_msg(
                matches("^$\n^The secret is " NOTICE " and cannot be recovered", out, NULL, 0),
                "%s", out);
        ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_create_json) {
        _cleanup_(freep) char *out = NULL, *err = NULL;

        ck_assert_int_eq(ctl(&out, &err, "--json", "create", "--name", "ci-json"), 0);
        json_object *o = json_tokener_parse(out);
        ck_assert_msg(o && json_object_is_type(o, json_type_object), "not a JSON object: %s", out);
        const char *id = json_str(o, "id"), *secret = json_str(o, "secret");
        ck_assert_msg(id && matches("^" ID_RE "$", id, NULL, 0), "id in %s", out);
        ck_assert_msg(secret && matches("^" SECRET_RE "$", secret, NULL, 0), "secret in %s", out);
        ck_assert_msg(json_object_object_get_ex(o, "expires_at", NULL), "no expires_at in %s", out);
        /* stdout is JSON alone; the warning goes to the person. */
        ck_assert_ptr_nonnull(strstr(err, NOTICE));
        json_object_put(o);
}
END_TEST

START_TEST(test_create_expires_duration_and_date) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        char id[AK_ID_LEN + 1], date[16], iso[32];

        ck_assert_int_eq(ctl(&out, &err, "create", "--name", "ninety", "--expires", "90d"), 0);
        ck_assert_msg(matches("^Expires:        [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC "
                              "\\(in 90 days\\)$",
                              out, NULL, 0),
                      "%s", out);
        ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, id, sizeof id), "%s", out);
        ck_assert_int_eq(ctl(NULL, NULL, "delete", id), 0);

        /* An absolute date, a month ahead, is midnight UTC of that day. */
        time_t t = time(NULL) + 30 * 24 * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        snprintf(iso, sizeof iso, "%sT00:00:00Z", date);
        create_key(id, "dated", "--expires", date);
        ck_assert_int_eq(ctl(&out2, &err2, "--json", "show", id), 0);
        json_object *o = json_tokener_parse(out2);
        ck_assert_msg(o, "not JSON: %s", out2);
        ck_assert_str_eq(json_str(o, "expires_at"), iso);
        json_object_put(o);
}
END_TEST

START_TEST(test_create_expires_never) {
        _cleanup_(freep) char *out = NULL, *err = NULL;

        ck_assert_int_eq(ctl(&out, &err, "create", "--name", "forever", "--expires", "never"), 0);
        ck_assert_msg(matches("^Expires:        never$", out, NULL, 0), "%s", out);
}
END_TEST

START_TEST(test_create_bad_expires_is_usage_error) {
        static const char *const bad[] = { "tomorrow", "2020-01-01", "2030-02-30",
                                           "0d",       "12y",        "2030-01-01T25:00:00Z",
                                           "" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(freep) char *err = NULL;
                ck_assert_int_eq(
                        ctl_nowhere(NULL, &err, "create", "--name", "x", "--expires", bad[i], NULL),
                        2);
                ck_assert_msg(strstr(err, "--expires"), "for '%s': %s", bad[i], err);
        }
}
END_TEST

START_TEST(test_create_needs_name) {
        _cleanup_(freep) char *err = NULL;

        ck_assert_int_eq(ctl_nowhere(NULL, &err, "create", NULL), 2);
        ck_assert_ptr_nonnull(strstr(err, "--name NAME"));
}
END_TEST

/* ----------------------------------------------------------- list and show */

START_TEST(test_list_shows_key) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *jout = NULL;
        char id[AK_ID_LEN + 1], re[128];

        create_key(id, "ci-deploy", NULL, NULL);

        ck_assert_int_eq(ctl(&out, &err, "list"), 0);
        ck_assert_msg(matches("^ID +NAME +OWNER +STATE +EXPIRES +LAST USED$", out, NULL, 0), "%s",
                      out);
        snprintf(re, sizeof re, "^%s +ci-deploy +root +active +[^ ].* +never$", id);
        ck_assert_msg(matches(re, out, NULL, 0), "%s", out);

        ck_assert_int_eq(ctl(&jout, NULL, "list", "--json"), 0);
        json_object *a = json_tokener_parse(jout);
        ck_assert_msg(a && json_object_is_type(a, json_type_array), "not a JSON array: %s", jout);
        ck_assert_uint_eq(json_object_array_length(a), 1);
        json_object *k = json_object_array_get_idx(a, 0);
        ck_assert_str_eq(json_str(k, "id"), id);
        ck_assert_str_eq(json_str(k, "name"), "ci-deploy");
        ck_assert_str_eq(json_str(k, "owner_name"), "root");
        ck_assert_str_eq(json_str(k, "state"), "active");
        ck_assert_ptr_nonnull(json_str(k, "created_at"));
        /* Never used: null, not a made-up time. */
        json_object *v = NULL;
        ck_assert(json_object_object_get_ex(k, "last_used_at", &v) && v == NULL);
        ck_assert(json_object_object_get_ex(k, "secret", NULL) == false);
        json_object_put(a);
}
END_TEST

START_TEST(test_list_empty) {
        _cleanup_(freep) char *out = NULL, *jout = NULL;

        ck_assert_int_eq(ctl(&out, NULL, "list"), 0);
        ck_assert_str_eq(out, "No access keys.\n");
        ck_assert_int_eq(ctl(&jout, NULL, "--json", "list"), 0);
        json_object *a = json_tokener_parse(jout);
        ck_assert_msg(a && json_object_is_type(a, json_type_array), "%s", jout);
        ck_assert_uint_eq(json_object_array_length(a), 0);
        json_object_put(a);
}
END_TEST

START_TEST(test_show_every_field) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *jout = NULL;
        char id[AK_ID_LEN + 1], re[64];

        create_key(id, "nightly-backup", "--description", "pushes backups");
        ck_assert_int_eq(ctl(&out, &err, "show", id), 0);
        snprintf(re, sizeof re, "^ID: +%s$", id);
        ck_assert_msg(matches(re, out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^Name: +nightly-backup$", out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^Description: +pushes backups$", out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^Owner: +root \\(uid 0\\)$", out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^State: +active$", out, NULL, 0), "%s", out);
        ck_assert_msg(
                matches("^Created: +[0-9-]{10} [0-9:]{5} UTC by root \\(uid 0\\)$", out, NULL, 0),
                "%s", out);
        static const char *const labels[] = { "Updated", "Expires",   "Services",  "Networks",
                                              "Scopes",  "Last used", "Use count", "Failures" };
        for (size_t i = 0; i < ELEMENTSOF(labels); i++) {
                snprintf(re, sizeof re, "^%s: +[^ ]", labels[i]);
                ck_assert_msg(matches(re, out, NULL, 0), "no %s in %s", labels[i], out);
        }
        ck_assert_msg(matches("^Last used: +never$", out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^Use count: +0$", out, NULL, 0), "%s", out);
        ck_assert_msg(!strstr(out, "aks_"), "a secret in show: %s", out);

        ck_assert_int_eq(ctl(&jout, NULL, "show", "--json", id), 0);
        json_object *o = json_tokener_parse(jout);
        ck_assert_msg(o && json_object_is_type(o, json_type_object), "%s", jout);
        ck_assert_str_eq(json_str(o, "name"), "nightly-backup");
        ck_assert_str_eq(json_str(o, "description"), "pushes backups");
        json_object_put(o);
}
END_TEST

/* ------------------------------------------------------------------ delete */

START_TEST(test_delete_removes_key) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *lout = NULL, *sout = NULL, *serr = NULL,
                              *derr = NULL;
        char id[AK_ID_LEN + 1];

        create_key(id, "short-lived", NULL, NULL);
        ck_assert_int_eq(ctl(&out, &err, "delete", id), 0);
        ck_assert_str_eq(out, "");

        ck_assert_int_eq(ctl(&lout, NULL, "list"), 0);
        ck_assert_msg(!strstr(lout, id), "deleted key still listed: %s", lout);

        ck_assert_int_eq(ctl(&sout, &serr, "show", id), 1);
        ck_assert_str_eq(sout, "");
        ck_assert_msg(strstr(serr, id) && strstr(serr, "no such access key") &&
                              strstr(serr, "accesskeyctl list"),
                      "%s", serr);

        ck_assert_int_eq(ctl(NULL, &derr, "delete", id), 1);
        ck_assert_ptr_nonnull(strstr(derr, "no such access key"));
}
END_TEST

/* --------------------------------------------------------- usage errors */

START_TEST(test_malformed_id_is_usage_error) {
        /* The bus address leads nowhere: exit 2 rather than 1 proves the
         * daemon was never asked. */
        static const char *const cmds[] = { "show", "delete" };
        for (size_t i = 0; i < ELEMENTSOF(cmds); i++) {
                _cleanup_(freep) char *out = NULL, *err = NULL;
                ck_assert_int_eq(ctl_nowhere(&out, &err, cmds[i], "AK123", NULL), 2);
                ck_assert_str_eq(out, "");
                ck_assert_msg(strstr(err, "'AK123' is not an access key ID") &&
                                      strstr(err, "AK followed by 18 characters"),
                              "%s", err);
        }

        /* Lower case is not an ID either. */
        _cleanup_(freep) char *err2 = NULL;
        ck_assert_int_eq(ctl_nowhere(NULL, &err2, "show", "akq3zc7mby2xw4tl5nr6", NULL), 2);
}
END_TEST

START_TEST(test_pasted_secret_is_not_echoed) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        const char *cred =
                "AKQ3ZC7MBY2XW4TL5NR6:aks_7Gf0abcdefghijklmnopqrstuvwxyzABCDEFGHIJKq3x1b";

        ck_assert_int_eq(ctl_nowhere(&out, &err, "delete", cred, NULL), 2);
        ck_assert_msg(!strstr(err, "aks_7Gf0"), "secret echoed: %s", err);
        ck_assert_ptr_nonnull(strstr(err, "not an access key ID"));
}
END_TEST

START_TEST(test_unknown_command_is_usage_error) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *err2 = NULL, *err3 = NULL, *err4 = NULL;

        ck_assert_int_eq(ctl_nowhere(&out, &err, "frobnicate", NULL), 2);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, "unknown command 'frobnicate'") && strstr(err, "--help"), "%s",
                      err);

        ck_assert_int_eq(ctl_nowhere(NULL, &err2, NULL), 2);
        ck_assert_ptr_nonnull(strstr(err2, "no command"));

        ck_assert_int_eq(ctl_nowhere(NULL, &err3, "list", "--frob", NULL), 2);
        ck_assert_ptr_nonnull(strstr(err3, "--help"));

        ck_assert_int_eq(ctl_nowhere(NULL, &err4, "list", "--all", "--user", "nobody", NULL), 2);
}
END_TEST

START_TEST(test_help_and_version) {
        _cleanup_(freep) char *out = NULL, *out2 = NULL, *out3 = NULL;

        ck_assert_int_eq(ctl_nowhere(&out, NULL, "--help", NULL), 0);
        ck_assert_ptr_nonnull(strstr(out, "Usage: accesskeyctl"));
        ck_assert_ptr_nonnull(strstr(out, "Exit status"));
        ck_assert_int_eq(ctl_nowhere(&out2, NULL, "help", NULL), 0);
        ck_assert_str_eq(out, out2);
        ck_assert_int_eq(ctl_nowhere(&out3, NULL, "--version", NULL), 0);
        ck_assert_ptr_nonnull(strstr(out3, PACKAGE_VERSION));
}
END_TEST

/* ------------------------------------------------------------ other users */

START_TEST(test_other_user_cannot_see_or_delete) {
        _cleanup_(freep) char *lout = NULL, *sout = NULL, *serr = NULL, *derr = NULL, *rout = NULL,
                              *lerr = NULL;
        char id[AK_ID_LEN + 1];

        create_key(id, "roots-key", NULL, NULL);

        ck_assert_int_eq(ctl_other(&lout, &lerr, "list"), 0);
        ck_assert_msg(!strstr(lout, id), "another user sees root's key: %s", lout);

        ck_assert_int_eq(ctl_other(&sout, &serr, "show", id), 1);
        ck_assert_msg(!strstr(sout, "roots-key"), "%s", sout);
        ck_assert_msg(strstr(serr, "no such access key"), "%s", serr);

        ck_assert_int_eq(ctl_other(NULL, &derr, "delete", id), 1);
        ck_assert_msg(strstr(derr, id), "%s", derr);

        ck_assert_int_eq(ctl(&rout, NULL, "show", id), 0);
        ck_assert_ptr_nonnull(strstr(rout, "roots-key"));
}
END_TEST

START_TEST(test_root_creates_for_user) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *rout = NULL, *nout = NULL;
        char id[AK_ID_LEN + 1], re[128];

        create_key(id, "for-nobody", "--user", "nobody");

        ck_assert_int_eq(ctl(&out, &err, "list", "--user", "nobody"), 0);
        snprintf(re, sizeof re, "^%s +for-nobody +nobody +active ", id);
        ck_assert_msg(matches(re, out, NULL, 0), "%s%s", out, err);

        /* Root's own list holds root's keys only. */
        ck_assert_int_eq(ctl(&rout, NULL, "list"), 0);
        ck_assert_msg(!strstr(rout, id), "%s", rout);

        /* And the owner sees it. */
        ck_assert_int_eq(ctl_as(HARNESS_UID_NOBODY, &nout, NULL, "list", NULL), 0);
        ck_assert_msg(strstr(nout, id), "%s", nout);
}
END_TEST

/* ------------------------------------------------------ daemon unreachable */

START_TEST(test_no_daemon_at_address) {
        _cleanup_(freep) char *out = NULL, *err = NULL;

        ck_assert_int_eq(ctl_nowhere(&out, &err, "list", NULL), 1);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, "cannot be reached") &&
                              strstr(err, "systemctl status accesskeyd"),
                      "%s", err);
}
END_TEST

START_TEST(test_daemon_stopped) {
        _cleanup_(freep) char *err = NULL;

        harness_stop_daemon(&h);
        ck_assert_int_eq(ctl(NULL, &err, "list"), 1);
        ck_assert_msg(strstr(err, "cannot be reached") &&
                              strstr(err, "systemctl status accesskeyd"),
                      "%s", err);
}
END_TEST

static Suite *cli_suite(void) {
        Suite *s = suite_create("accesskeyctl");

        TCase *tc = tcase_create("daemon");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_create_prints_id_secret_and_notice);
        tcase_add_test(tc, test_create_json);
        tcase_add_test(tc, test_create_expires_duration_and_date);
        tcase_add_test(tc, test_create_expires_never);
        tcase_add_test(tc, test_list_shows_key);
        tcase_add_test(tc, test_list_empty);
        tcase_add_test(tc, test_show_every_field);
        tcase_add_test(tc, test_delete_removes_key);
        tcase_add_test(tc, test_other_user_cannot_see_or_delete);
        tcase_add_test(tc, test_root_creates_for_user);
        tcase_add_test(tc, test_daemon_stopped);
        suite_add_tcase(s, tc);

        TCase *local = tcase_create("local");
        tcase_add_test(local, test_create_bad_expires_is_usage_error);
        tcase_add_test(local, test_create_needs_name);
        tcase_add_test(local, test_malformed_id_is_usage_error);
        tcase_add_test(local, test_pasted_secret_is_not_echoed);
        tcase_add_test(local, test_unknown_command_is_usage_error);
        tcase_add_test(local, test_help_and_version);
        tcase_add_test(local, test_no_daemon_at_address);
        suite_add_tcase(s, local);
        return s;
}

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "test-cli needs root (a private system bus and other users); "
                                "skipped\n");
                return 77;
        }
        SRunner *sr = srunner_create(cli_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
