/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accesskeyctl as a user meets it: the built binary, run as root and as other
 * real users against a private deny-by-default bus and a real accesskeyd.
 * Every test checks what a person at the terminal would check: the text, the
 * JSON and the exit status (0 success, 1 refused by the daemon, 2 usage).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------- lifecycle */

static ak_client *client(void) {
        ak_client *c = NULL;
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 5000, &c), 0);
        return c;
}

/* Authenticates as the key's owner (root unless user is given) in this
 * process, through libaccesskey, as the PAM module would. */
static int auth_as(const char *user, const char *id, const char *secret) {
        ak_client *c = client();
        ak_auth_request req = { .user = user, .service = "login" };
        ak_auth_result *res = NULL;
        int r = ak_authenticate(c, id, secret, &req, &res);
        ak_auth_result_free(res);
        ak_client_close(c);
        return r;
}

static int auth(const char *id, const char *secret) {
        return auth_as("root", id, secret);
}

/* Like create_key(), and returns the secret too. */
static void create_key_secret(char ret_id[AK_ID_LEN + 1], char ret_secret[AK_SECRET_LEN + 1],
                              const char *name, const char *extra1, const char *extra2) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        int r = ctl(&out, &err, "create", "--name", name, extra1, extra2);

        ck_assert_msg(r == 0, "create failed (%d): %s%s", r, out, err);
        ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, ret_id, AK_ID_LEN + 1),
                      "no access key ID in: %s", out);
        ck_assert_msg(
                matches("^Secret:         (" SECRET_RE ")$", out, ret_secret, AK_SECRET_LEN + 1),
                "no secret in: %s", out);
}

/* `show --json ID` as uid, parsed; NULL when the command failed. */
static json_object *show_json_as(uid_t uid, const char *id) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        if (ctl_as(uid, &out, &err, "--json", "show", id, NULL) != 0)
                return NULL;
        json_object *o = json_tokener_parse(out);
        ck_assert_msg(o && json_object_is_type(o, json_type_object), "not JSON: %s", out);
        return o;
}

static json_object *show_json(const char *id) {
        json_object *o = show_json_as(AS_ROOT, id);
        ck_assert_msg(o, "show %s failed", id);
        return o;
}

static bool json_is_null(json_object *o, const char *key) {
        json_object *v = NULL;
        return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static size_t json_array_len(json_object *o, const char *key) {
        json_object *v = NULL;
        ck_assert(json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array));
        return json_object_array_length(v);
}

/* "YYYY-MM-DD" days from now, and its ISO form at midnight. */
static void date_in_days(int days, char date[16], char iso[32]) {
        time_t t = time(NULL) + (time_t) days * 24 * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, 16, "%Y-%m-%d", &tm);
        snprintf(iso, 32, "%sT00:00:00Z", date);
}

START_TEST(test_update_changes_fields) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *sout = NULL, *e2 = NULL, *e3 = NULL,
                              *e4 = NULL;
        char id[AK_ID_LEN + 1], date[16], iso[32];
        json_object *o;

        create_key(id, "before", "--description", "old text");
        date_in_days(200, date, iso);

        ck_assert_int_eq(ctl(&out, &err, "update", id, "--name", "after", "--description",
                             "new text", "--expires", date),
                         0);
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, "");
        o = show_json(id);
        ck_assert_str_eq(json_str(o, "name"), "after");
        ck_assert_str_eq(json_str(o, "description"), "new text");
        ck_assert_str_eq(json_str(o, "expires_at"), iso);
        ck_assert_ptr_nonnull(json_str(o, "updated_at"));
        json_object_put(o);

        ck_assert_int_eq(ctl(&sout, NULL, "show", id), 0);
        ck_assert_msg(matches("^Name: +after$", sout, NULL, 0), "%s", sout);
        ck_assert_msg(
                matches("^Updated: +[0-9-]{10} [0-9:]{5} UTC by root \\(uid 0\\)$", sout, NULL, 0),
                "%s", sout);

        /* Restrictions: a list replaces the old one, --clear-* lifts it;
         * an empty description clears it; never means never. */
        ck_assert_int_eq(ctl(NULL, &e2, "update", id, "--service", "sshd", "--service", "login",
                             "--network", "10.0.0.0/8", "--scope", "deploy"),
                         0);
        o = show_json(id);
        ck_assert_uint_eq(json_array_len(o, "services"), 2);
        ck_assert_uint_eq(json_array_len(o, "networks"), 1);
        ck_assert_uint_eq(json_array_len(o, "scopes"), 1);
        ck_assert_str_eq(json_str(o, "name"), "after"); /* untouched */
        json_object_put(o);

        ck_assert_int_eq(ctl(NULL, &e3, "update", id, "--clear-services", "--clear-scopes",
                             "--description", "", "--expires", "never"),
                         0);
        o = show_json(id);
        ck_assert_uint_eq(json_array_len(o, "services"), 0);
        ck_assert_uint_eq(json_array_len(o, "networks"), 1);
        ck_assert_uint_eq(json_array_len(o, "scopes"), 0);
        ck_assert(json_is_null(o, "description"));
        ck_assert(json_is_null(o, "expires_at"));
        json_object_put(o);

        /* A bad value is the daemon's to refuse: exit 1, its reason. */
        ck_assert_int_eq(ctl(NULL, &e4, "update", id, "--network", "10.0.0.0/99"), 1);
        ck_assert_msg(strstr(e4, id) && strstr(e4, "10.0.0.0/99"), "%s", e4);
}
END_TEST

/* The scope a stack requires is added without dropping the key's others
 * (the hint the daemon gives names this command), and removed alike. */
START_TEST(test_update_add_remove_scope) {
        _cleanup_(freep) char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
        char id[AK_ID_LEN + 1];
        json_object *o, *v;

        create_key(id, "scoped", "--scope", "deploy");
        ck_assert_int_eq(ctl(NULL, &e1, "update", id, "--add-scope", "mail", "--add-scope",
                             "deploy", "--service", "dovecot"),
                         0);
        o = show_json(id);
        ck_assert(json_object_object_get_ex(o, "scopes", &v));
        ck_assert_msg(json_object_array_length(v) == 2, "scopes: %s",
                      json_object_to_json_string(v));
        const char *a = json_object_get_string(json_object_array_get_idx(v, 0));
        const char *b = json_object_get_string(json_object_array_get_idx(v, 1));
        ck_assert_msg((streq(a, "deploy") && streq(b, "mail")) ||
                              (streq(a, "mail") && streq(b, "deploy")),
                      "scopes: %s", json_object_to_json_string(v));
        ck_assert_uint_eq(json_array_len(o, "services"), 1);
        json_object_put(o);

        /* Removing one keeps the other; a scope the key lacks is no error. */
        ck_assert_int_eq(ctl(NULL, &e2, "update", id, "--remove-scope", "deploy", "--remove-scope",
                             "absent"),
                         0);
        o = show_json(id);
        ck_assert(json_object_object_get_ex(o, "scopes", &v));
        ck_assert_uint_eq(json_object_array_length(v), 1);
        ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 0)), "mail");
        json_object_put(o);

        /* Mixed with the options that replace the list: a usage error. */
        ck_assert_int_eq(ctl(NULL, &e3, "update", id, "--add-scope", "x", "--scope", "y"), 2);
        ck_assert_ptr_nonnull(strstr(e3, "--add-scope"));
        ck_assert_int_eq(ctl(NULL, &e4, "update", id, "--add-scope", "x", "--remove-scope", "x"),
                         2);
        /* An invalid scope is the daemon's to refuse, and nothing changes. */
        ck_assert_int_eq(ctl(NULL, &e5, "update", id, "--add-scope", "Mail"), 1);
        ck_assert_msg(strstr(e5, "Mail"), "%s", e5);
        o = show_json(id);
        ck_assert_uint_eq(json_array_len(o, "scopes"), 1);
        json_object_put(o);
}
END_TEST

START_TEST(test_update_expires_in_past_refused) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        char id[AK_ID_LEN + 1];
        json_object *o;

        create_key(id, "keeps-expiry", "--expires", "90d");
        o = show_json(id);
        _cleanup_(freep) char *before = strdup(json_str(o, "expires_at"));
        json_object_put(o);

        ck_assert_int_eq(ctl(&out, &err, "update", id, "--expires", "2020-01-01"), 2);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, "--expires 2020-01-01") && strstr(err, "future"), "%s", err);

        o = show_json(id);
        ck_assert_str_eq(json_str(o, "expires_at"), before);
        json_object_put(o);
}
END_TEST

START_TEST(test_deactivate_and_reactivate) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *sout = NULL, *lout = NULL, *rout = NULL,
                              *sout2 = NULL;
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1], re[128];

        create_key_secret(id, secret, "switchable", NULL, NULL);
        ck_assert_int_eq(auth(id, secret), 0);

        ck_assert_int_eq(ctl(&out, &err, "deactivate", id), 0);
        ck_assert_str_eq(out, "");
        ck_assert_int_eq(ctl(&sout, NULL, "show", id), 0);
        ck_assert_msg(matches("^State: +inactive$", sout, NULL, 0), "%s", sout);
        ck_assert_int_eq(ctl(&lout, NULL, "list"), 0);
        snprintf(re, sizeof re, "^%s +switchable +root +inactive ", id);
        ck_assert_msg(matches(re, lout, NULL, 0), "%s", lout);

        /* The very next login fails, and says why to whoever had the secret. */
        ck_assert_int_eq(auth(id, secret), -EKEYREVOKED);

        ck_assert_int_eq(ctl(&rout, NULL, "reactivate", id), 0);
        ck_assert_str_eq(rout, "");
        ck_assert_int_eq(ctl(&sout2, NULL, "show", id), 0);
        ck_assert_msg(matches("^State: +active$", sout2, NULL, 0), "%s", sout2);
        ck_assert_int_eq(auth(id, secret), 0);
}
END_TEST

START_TEST(test_rotate_replaces_secret) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *sout = NULL;
        char id[AK_ID_LEN + 1], id2[AK_ID_LEN + 1], old[AK_SECRET_LEN + 1], new[AK_SECRET_LEN + 1];

        create_key_secret(id, old, "rotating", "--scope", "deploy");
        ck_assert_int_eq(ctl(&out, &err, "rotate", id), 0);
        ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, id2, sizeof id2), "%s", out);
        ck_assert_str_eq(id2, id);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", out, new, sizeof new), "%s",
                      out);
        ck_assert_str_ne(new, old);
        ck_assert_msg(matches("^Expires: +", out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^The previous secret no longer works\\.$", out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^The secret is " NOTICE " and cannot be recovered", out, NULL, 0),
                      "%s", out);
        ck_assert_str_eq(err, "");

        ck_assert_int_eq(auth(id, new), 0);
        ck_assert_int_eq(auth(id, old), -EKEYREJECTED);

        /* Same key, same settings; the rotation is on record. */
        json_object *o = show_json(id);
        ck_assert_str_eq(json_str(o, "name"), "rotating");
        ck_assert_uint_eq(json_array_len(o, "scopes"), 1);
        ck_assert_ptr_nonnull(json_str(o, "rotated_at"));
        json_object_put(o);
        ck_assert_int_eq(ctl(&sout, NULL, "show", id), 0);
        ck_assert_msg(!strstr(sout, "aks_"), "%s", sout);
}
END_TEST

START_TEST(test_rotate_with_grace) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *eout = NULL, *eerr = NULL;
        char id[AK_ID_LEN + 1], old[AK_SECRET_LEN + 1], new[AK_SECRET_LEN + 1];

        create_key_secret(id, old, "graceful", NULL, NULL);
        ck_assert_int_eq(ctl(&out, &err, "rotate", id, "--grace", "10m"), 0);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", out, new, sizeof new), "%s",
                      out);
        ck_assert_msg(matches("^The previous secret keeps working until [0-9-]{10} [0-9:]{5} UTC "
                              "\\(in 10 minutes\\), then never again\\.$",
                              out, NULL, 0),
                      "%s", out);
        ck_assert_int_eq(auth(id, new), 0);
        ck_assert_int_eq(auth(id, old), 0);

        /* The daemon caps the grace, and says so. */
        ck_assert_int_eq(ctl(&eout, &eerr, "rotate", id, "--grace", "8d"), 1);
        ck_assert_str_eq(eout, "");
        ck_assert_msg(strstr(eerr, id) && strstr(eerr, "invalid argument") && strstr(eerr, "grace"),
                      "%s", eerr);
        ck_assert_int_eq(auth(id, new), 0); /* nothing changed */

        /* Only the last previous secret is kept: a second rotation ends the
         * grace of the first. */
        _cleanup_(freep) char *out2 = NULL, *err2 = NULL;
        char newer[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ctl(&out2, &err2, "rotate", id, "--grace", "10m"), 0);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", out2, newer, sizeof newer), "%s",
                      out2);
        ck_assert_int_eq(auth(id, newer), 0);
        ck_assert_int_eq(auth(id, new), 0);
        ck_assert_int_eq(auth(id, old), -EKEYREJECTED);
}
END_TEST

START_TEST(test_rotate_json) {
        _cleanup_(freep) char *out = NULL, *err = NULL;
        char id[AK_ID_LEN + 1], old[AK_SECRET_LEN + 1];

        create_key_secret(id, old, "json-rotate", NULL, NULL);
        ck_assert_int_eq(ctl(&out, &err, "--json", "rotate", id, "--grace", "1h"), 0);
        json_object *o = json_tokener_parse(out);
        ck_assert_msg(o && json_object_is_type(o, json_type_object), "%s", out);
        ck_assert_str_eq(json_str(o, "id"), id);
        const char *secret = json_str(o, "secret");
        ck_assert_msg(secret && matches("^" SECRET_RE "$", secret, NULL, 0), "%s", out);
        ck_assert_ptr_nonnull(json_str(o, "previous_secret_expires_at"));
        ck_assert_int_eq(auth(id, secret), 0);
        ck_assert_ptr_nonnull(strstr(err, NOTICE));
        json_object_put(o);
}
END_TEST

START_TEST(test_lifecycle_unknown_key) {
        static const char *const cmds[] = { "deactivate", "reactivate", "rotate" };
        const char *id = "AKQ3ZC7MBY2XW4TL5NR6";

        for (size_t i = 0; i < ELEMENTSOF(cmds); i++) {
                _cleanup_(freep) char *out = NULL, *err = NULL;
                ck_assert_int_eq(ctl(&out, &err, cmds[i], id), 1);
                ck_assert_str_eq(out, "");
                ck_assert_msg(strstr(err, id) && strstr(err, "no such access key") &&
                                      strstr(err, "accesskeyctl list"),
                              "%s: %s", cmds[i], err);
        }
        _cleanup_(freep) char *uerr = NULL;
        ck_assert_int_eq(ctl(NULL, &uerr, "update", id, "--name", "x"), 1);
        ck_assert_ptr_nonnull(strstr(uerr, "no such access key"));
}
END_TEST

/* ----------------------------------------------------------------- summary */

/* Checks `summary` text and JSON as uid against the expected counts. */
static void check_summary(uid_t uid, const char *within, const char *label, uint64_t total,
                          uint64_t active, uint64_t inactive, uint64_t expired, uint64_t expiring) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *jout = NULL;
        char re[128];
        int r = within ? ctl_as(uid, &out, &err, "summary", "--within", within, NULL)
                       : ctl_as(uid, &out, &err, "summary", NULL);

        ck_assert_msg(r == 0, "summary: %d %s", r, err);
        const struct {
                const char *label;
                uint64_t n;
        } rows[] = {
                { "Total", total },     { "Active", active }, { "Inactive", inactive },
                { "Expired", expired }, { label, expiring },
        };
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                snprintf(re, sizeof re, "^%s: +%" PRIu64 "$", rows[i].label, rows[i].n);
                ck_assert_msg(matches(re, out, NULL, 0), "no '%s' in:\n%s", re, out);
        }

        r = within ? ctl_as(uid, &jout, NULL, "--json", "summary", "--within", within, NULL)
                   : ctl_as(uid, &jout, NULL, "--json", "summary", NULL);
        ck_assert_int_eq(r, 0);
        json_object *o = json_tokener_parse(jout), *v;
        ck_assert_msg(o && json_object_is_type(o, json_type_object), "%s", jout);
        const struct {
                const char *key;
                uint64_t n;
        } members[] = {
                { "total", total },     { "active", active },     { "inactive", inactive },
                { "expired", expired }, { "expiring", expiring },
        };
        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                ck_assert_msg(json_object_object_get_ex(o, members[i].key, &v) &&
                                      json_object_is_type(v, json_type_int),
                              "%s in %s", members[i].key, jout);
                ck_assert_int_eq(json_object_get_int64(v), (int64_t) members[i].n);
        }
        ck_assert(json_object_object_get_ex(o, "within_seconds", &v));
        json_object_put(o);
}

START_TEST(test_summary_counts) {
        char id[AK_ID_LEN + 1], off[AK_ID_LEN + 1];

        /* Each test has a daemon of its own: these are all the keys. */
        check_summary(AS_ROOT, NULL, "Expiring within 30 days", 0, 0, 0, 0, 0);

        create_key(id, "forever", "--expires", "never");
        create_key(id, "soon", "--expires", "10d");
        create_key(id, "later", "--expires", "45d");
        create_key(off, "switched-off", "--expires", "never");
        ck_assert_int_eq(ctl(NULL, NULL, "deactivate", off), 0);
        create_key(id, "blink", "--expires", "2s");
        sleep(3);

        check_summary(AS_ROOT, NULL, "Expiring within 30 days", 5, 3, 1, 1, 1);
        check_summary(AS_ROOT, "60d", "Expiring within 60 days", 5, 3, 1, 1, 2);
        check_summary(AS_ROOT, "2w", "Expiring within 2 weeks", 5, 3, 1, 1, 1);

        /* A user counts their own keys; root, an administrator, all. */
        check_summary(HARNESS_UID_OTHER, NULL, "Expiring within 30 days", 0, 0, 0, 0, 0);
        _cleanup_(freep) char *out = NULL, *err = NULL;
        ck_assert_msg(ctl_other(&out, &err, "create", "--name", "mine", "--expires", "5d") == 0,
                      "%s", err);
        check_summary(HARNESS_UID_OTHER, NULL, "Expiring within 30 days", 1, 1, 0, 0, 1);
        check_summary(AS_ROOT, NULL, "Expiring within 30 days", 6, 4, 1, 1, 2);
}
END_TEST

/* ------------------------------------------------------- secret hand-off */

static char *tmp_path(const char *name) {
        char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s/%s", h.dir, name), 0);
        return p;
}

static void check_mode_0600(const char *path) {
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_msg((st.st_mode & 07777) == 0600, "%s has mode %o", path,
                      (unsigned) (st.st_mode & 07777));
}

/* The ID and secret written to a file in each format; the secret in the
 * file is the key's, and stdout says where it went without showing it. */
START_TEST(test_output_formats) {
        static const char *const formats[] = { "text", "csv", "env", "json" };

        for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
                _cleanup_(freep) char *path = NULL, *out = NULL, *err = NULL, *data = NULL,
                                      *expected = NULL;
                char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1] = "", name[32], re[PATH_MAX];

                snprintf(name, sizeof name, "key.%s", formats[i]);
                path = tmp_path(name);
                ck_assert_int_eq(ctl(&out, &err, "create", "--name", name, "--output", path,
                                     "--format", formats[i]),
                                 0);
                ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, id, sizeof id), "%s",
                              out);
                snprintf(re, sizeof re, "^Secret written to %s$", path);
                ck_assert_msg(matches(re, out, NULL, 0), "%s", out);
                ck_assert_msg(matches("^Expires: +", out, NULL, 0), "%s", out);
                ck_assert_msg(!strstr(out, "aks_") && !strstr(err, "aks_"), "secret shown: %s%s",
                              out, err);

                check_mode_0600(path);
                data = harness_read_file(path);
                ck_assert_ptr_nonnull(data);
                if (streq(formats[i], "json")) {
                        json_object *o = json_tokener_parse(data);
                        ck_assert_msg(o && json_object_is_type(o, json_type_object), "%s", data);
                        ck_assert_int_eq(json_object_object_length(o), 2);
                        ck_assert_str_eq(json_str(o, "id"), id);
                        ck_assert_msg(json_str(o, "secret") &&
                                              strlen(json_str(o, "secret")) == AK_SECRET_LEN,
                                      "%s", data);
                        strcpy(secret, json_str(o, "secret"));
                        json_object_put(o);
                } else {
                        ck_assert_msg(matches("(" SECRET_RE ")", data, secret, sizeof secret), "%s",
                                      data);
                        int n;
                        if (streq(formats[i], "text"))
                                n = asprintf(&expected, "Access key ID:  %s\nSecret:         %s\n",
                                             id, secret);
                        else if (streq(formats[i], "csv"))
                                n = asprintf(&expected, "access_key_id,secret\n%s,%s\n", id,
                                             secret);
                        else
                                n = asprintf(&expected, "ACCESSKEY_ID=%s\nACCESSKEY_SECRET=%s\n",
                                             id, secret);
                        ck_assert_int_ge(n, 0);
                        ck_assert_str_eq(data, expected);
                }
                ck_assert_int_eq(auth(id, secret), 0);
        }
}
END_TEST

START_TEST(test_output_json_receipt) {
        _cleanup_(freep) char *path = tmp_path("receipt.env"), *out = NULL, *err = NULL;

        ck_assert_int_eq(ctl(&out, &err, "--json", "create", "--name", "receipt", "--output", path,
                             "--format", "env"),
                         0);
        json_object *o = json_tokener_parse(out);
        ck_assert_msg(o && json_object_is_type(o, json_type_object), "%s", out);
        ck_assert_msg(json_str(o, "id") && matches("^" ID_RE "$", json_str(o, "id"), NULL, 0), "%s",
                      out);
        ck_assert_str_eq(json_str(o, "secret_file"), path);
        ck_assert(!json_object_object_get_ex(o, "secret", NULL));
        ck_assert(json_object_object_get_ex(o, "expires_at", NULL));
        json_object_put(o);
        check_mode_0600(path);
}
END_TEST

START_TEST(test_output_to_stdout_formats) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];

        /* Without --output, a format is for a program: stdout holds only the
         * data, the notice goes to the person on stderr. */
        ck_assert_int_eq(ctl(&out, &err, "create", "--name", "piped", "--format", "env"), 0);
        ck_assert_msg(matches("^ACCESSKEY_ID=(" ID_RE ")\nACCESSKEY_SECRET=" SECRET_RE "\n$", out,
                              id, sizeof id),
                      "%s", out);
        ck_assert_ptr_nonnull(strstr(err, NOTICE));

        ck_assert_int_eq(ctl(&out2, &err2, "rotate", id, "--format", "csv"), 0);
        ck_assert_msg(matches("^access_key_id,secret\n" ID_RE ",(" SECRET_RE ")\n$", out2, secret,
                              sizeof secret),
                      "%s", out2);
        ck_assert_int_eq(auth(id, secret), 0);
}
END_TEST

START_TEST(test_output_refuses_to_overwrite) {
        _cleanup_(freep) char *path = tmp_path("precious"), *link = tmp_path("link"),
                              *target = tmp_path("target"), *out = NULL, *err = NULL, *lout = NULL,
                              *rout = NULL, *rerr = NULL, *serr = NULL, *after = NULL,
                              *after2 = NULL;
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        FILE *f;

        ck_assert_ptr_nonnull(f = fopen(path, "w"));
        fputs("precious\n", f);
        fclose(f);

        ck_assert_int_ne(ctl(&out, &err, "create", "--name", "clobber", "--output", path), 0);
        ck_assert_str_eq(out, "");
        ck_assert_msg(strstr(err, path) && strstr(err, "exists") &&
                              strstr(err, "choose another path or remove it"),
                      "%s", err);
        ck_assert_str_eq(after = harness_read_file(path), "precious\n");
        /* Refused before the daemon was asked: no key was made. */
        ck_assert_int_eq(ctl(&lout, NULL, "list"), 0);
        ck_assert_str_eq(lout, "No access keys.\n");

        /* Rotate likewise: the current secret keeps working. */
        create_key_secret(id, secret, "not-rotated", NULL, NULL);
        ck_assert_int_ne(ctl(&rout, &rerr, "rotate", id, "--output", path), 0);
        ck_assert_str_eq(rout, "");
        ck_assert_msg(strstr(rerr, path) && strstr(rerr, "exists"), "%s", rerr);
        ck_assert_str_eq(after2 = harness_read_file(path), "precious\n");
        ck_assert_int_eq(auth(id, secret), 0);

        /* Nor through a symbolic link, even to a file that does not exist. */
        ck_assert_int_eq(symlink(target, link), 0);
        ck_assert_int_ne(ctl(NULL, &serr, "rotate", id, "--output", link), 0);
        ck_assert_int_eq(access(target, F_OK), -1);
        ck_assert_int_eq(auth(id, secret), 0);
}
END_TEST

START_TEST(test_rotate_output_file) {
        _cleanup_(freep) char *path = tmp_path("rotated.json"), *out = NULL, *err = NULL,
                              *data = NULL;
        char id[AK_ID_LEN + 1], old[AK_SECRET_LEN + 1], re[PATH_MAX];

        create_key_secret(id, old, "rotate-to-file", NULL, NULL);
        ck_assert_int_eq(ctl(&out, &err, "rotate", id, "--grace", "5m", "--output", path,
                             "--format", "json"),
                         0);
        snprintf(re, sizeof re, "^Secret written to %s$", path);
        ck_assert_msg(matches(re, out, NULL, 0), "%s", out);
        ck_assert_msg(matches("^The previous secret keeps working until ", out, NULL, 0), "%s",
                      out);
        ck_assert_msg(!strstr(out, "aks_"), "%s", out);

        check_mode_0600(path);
        ck_assert_ptr_nonnull(data = harness_read_file(path));
        json_object *o = json_tokener_parse(data);
        ck_assert_msg(o, "%s", data);
        ck_assert_str_eq(json_str(o, "id"), id);
        ck_assert_int_eq(auth(id, json_str(o, "secret")), 0);
        ck_assert_int_eq(auth(id, old), 0); /* the grace */
        json_object_put(o);
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

START_TEST(test_lifecycle_usage_errors) {
        /* Each is refused locally (exit 2) before the daemon, which is not
         * there, would be asked. */
        static const struct {
                const char *argv[8];
                const char *says;
        } cases[] = {
                { { "update", "AKQ3ZC7MBY2XW4TL5NR6", NULL }, "needs something to change" },
                { { "update", "AKQ3ZC7MBY2XW4TL5NR6", "--name", "", NULL }, "--name" },
                { { "update", "AKQ3ZC7MBY2XW4TL5NR6", "--service", "sshd", "--clear-services",
                    NULL },
                  "contradict" },
                { { "update", "AKQ3ZC7MBY2XW4TL5NR6", "--expires", "2020-01-01", NULL }, "future" },
                { { "update", "AKQ3ZC7MBY2XW4TL5NR6", "--user", "nobody", "--name", "x", NULL },
                  "--user does not apply" },
                { { "deactivate", NULL }, "needs an argument" },
                { { "reactivate", "AK123", NULL }, "not an access key ID" },
                { { "rotate", "AKQ3ZC7MBY2XW4TL5NR6", "--grace", "0m", NULL }, "--grace" },
                { { "rotate", "AKQ3ZC7MBY2XW4TL5NR6", "--grace", "10", NULL }, "--grace" },
                { { "rotate", "AKQ3ZC7MBY2XW4TL5NR6", "--format", "xml", NULL }, "--format" },
                { { "--json", "rotate", "AKQ3ZC7MBY2XW4TL5NR6", "--format", "csv", NULL },
                  "--json" },
                { { "summary", "--within", "soon", NULL }, "--within" },
                { { "summary", "AKQ3ZC7MBY2XW4TL5NR6", NULL }, "takes no arguments" },
                { { "list", "--output", "/tmp/x", NULL }, "--output does not apply" },
                { { "deactivate", "AKQ3ZC7MBY2XW4TL5NR6", "--grace", "1h", NULL },
                  "--grace does not apply" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *out = NULL, *err = NULL;
                const char *const *v = cases[i].argv;
                int r = ctl_nowhere(&out, &err, v[0], v[1], v[2], v[3], v[4], v[5], v[6], NULL);
                ck_assert_msg(r == 2, "case %zu (%s): exit %d: %s", i, v[0], r, err);
                ck_assert_str_eq(out, "");
                ck_assert_msg(strstr(err, cases[i].says), "case %zu: no '%s' in %s", i,
                              cases[i].says, err);
        }
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

START_TEST(test_other_user_cannot_change_roots_key) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        const char *const attempts[][6] = {
                { "update", id, "--name", "hijacked", NULL },
                { "update", id, "--expires", "never", NULL },
                { "deactivate", id, NULL },
                { "rotate", id, NULL },
                { "rotate", id, "--grace", "1h", NULL },
        };

        create_key_secret(id, secret, "roots-key", "--expires", "30d");
        json_object *before = show_json(id);

        for (size_t i = 0; i < ELEMENTSOF(attempts); i++) {
                _cleanup_(freep) char *out = NULL, *err = NULL;
                const char *const *v = attempts[i];
                int r = ctl_as(HARNESS_UID_OTHER, &out, &err, v[0], v[1], v[2], v[3], v[4], NULL);
                ck_assert_msg(r == 1, "%s: exit %d", v[0], r);
                ck_assert_msg(!strstr(out, "aks_"), "%s", out);
                ck_assert_msg(strstr(err, id) && strstr(err, "no such access key"), "%s: %s", v[0],
                              err);
        }

        /* As root sees it, nothing happened. */
        json_object *after = show_json(id);
        static const char *const fields[] = { "name", "state", "expires_at", "rotated_at",
                                              "updated_at" };
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                ck_assert_str_eq(strempty(json_str(after, fields[i])),
                                 strempty(json_str(before, fields[i])));
        json_object_put(before);
        json_object_put(after);
        ck_assert_int_eq(auth(id, secret), 0);

        /* Root, once inactive, cannot be reactivated by them either. */
        _cleanup_(freep) char *err2 = NULL, *sout = NULL;
        ck_assert_int_eq(ctl(NULL, NULL, "deactivate", id), 0);
        ck_assert_int_eq(ctl_other(NULL, &err2, "reactivate", id), 1);
        ck_assert_ptr_nonnull(strstr(err2, "no such access key"));
        ck_assert_int_eq(ctl(&sout, NULL, "show", id), 0);
        ck_assert_msg(matches("^State: +inactive$", sout, NULL, 0), "%s", sout);
}
END_TEST

START_TEST(test_user_manages_own_key) {
        _cleanup_(freep) char *out = NULL, *err = NULL, *rout = NULL, *rerr = NULL;
        char id[AK_ID_LEN + 1], old[AK_SECRET_LEN + 1], new[AK_SECRET_LEN + 1];

        ck_assert_int_eq(ctl_as(HARNESS_UID_NOBODY, &out, &err, "create", "--name", "own",
                                "--expires", "7d", NULL),
                         0);
        ck_assert_msg(matches("^Access key ID:  (" ID_RE ")$", out, id, sizeof id), "%s", out);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", out, old, sizeof old), "%s",
                      out);

        ck_assert_int_eq(ctl_as(HARNESS_UID_NOBODY, NULL, NULL, "update", id, "--name", "own-2",
                                "--expires", "14d", NULL),
                         0);
        ck_assert_int_eq(ctl_as(HARNESS_UID_NOBODY, NULL, NULL, "deactivate", id, NULL), 0);
        ck_assert_int_eq(auth_as("nobody", id, old), -EKEYREVOKED);
        ck_assert_int_eq(ctl_as(HARNESS_UID_NOBODY, NULL, NULL, "reactivate", id, NULL), 0);
        ck_assert_int_eq(ctl_as(HARNESS_UID_NOBODY, &rout, &rerr, "rotate", id, NULL), 0);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", rout, new, sizeof new), "%s",
                      rout);
        ck_assert_int_eq(auth_as("nobody", id, new), 0);
        ck_assert_int_eq(auth_as("nobody", id, old), -EKEYREJECTED);

        json_object *o = show_json_as(HARNESS_UID_NOBODY, id);
        ck_assert_ptr_nonnull(o);
        ck_assert_str_eq(json_str(o, "name"), "own-2");
        ck_assert_str_eq(json_str(o, "state"), "active");
        json_object_put(o);

        /* Another user does not see it. */
        ck_assert_int_eq(ctl_other(NULL, NULL, "show", id), 1);
}
END_TEST

START_TEST(test_admin_manages_users_key) {
        _cleanup_(freep) char *rout = NULL, *rerr = NULL;
        char id[AK_ID_LEN + 1], old[AK_SECRET_LEN + 1], new[AK_SECRET_LEN + 1];

        create_key_secret(id, old, "for-nobody", "--user", "nobody");
        ck_assert_int_eq(ctl(NULL, NULL, "update", id, "--description", "set by root"), 0);
        ck_assert_int_eq(ctl(NULL, NULL, "deactivate", id), 0);
        ck_assert_int_eq(auth_as("nobody", id, old), -EKEYREVOKED);
        ck_assert_int_eq(ctl(NULL, NULL, "reactivate", id), 0);
        ck_assert_int_eq(ctl(&rout, &rerr, "rotate", id), 0);
        ck_assert_msg(matches("^Secret:         (" SECRET_RE ")$", rout, new, sizeof new), "%s",
                      rout);
        ck_assert_int_eq(auth_as("nobody", id, new), 0);

        /* The owner sees what the administrator did. */
        json_object *o = show_json_as(HARNESS_UID_NOBODY, id);
        ck_assert_ptr_nonnull(o);
        ck_assert_str_eq(json_str(o, "description"), "set by root");
        ck_assert_ptr_nonnull(json_str(o, "rotated_at"));
        json_object_put(o);
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
        tcase_add_test(tc, test_update_changes_fields);
        tcase_add_test(tc, test_update_add_remove_scope);
        tcase_add_test(tc, test_update_expires_in_past_refused);
        tcase_add_test(tc, test_deactivate_and_reactivate);
        tcase_add_test(tc, test_rotate_replaces_secret);
        tcase_add_test(tc, test_rotate_with_grace);
        tcase_add_test(tc, test_rotate_json);
        tcase_add_test(tc, test_lifecycle_unknown_key);
        tcase_add_test(tc, test_summary_counts);
        tcase_add_test(tc, test_output_formats);
        tcase_add_test(tc, test_output_json_receipt);
        tcase_add_test(tc, test_output_to_stdout_formats);
        tcase_add_test(tc, test_output_refuses_to_overwrite);
        tcase_add_test(tc, test_rotate_output_file);
        tcase_add_test(tc, test_other_user_cannot_change_roots_key);
        tcase_add_test(tc, test_user_manages_own_key);
        tcase_add_test(tc, test_admin_manages_users_key);
        suite_add_tcase(s, tc);

        TCase *local = tcase_create("local");
        tcase_add_test(local, test_create_bad_expires_is_usage_error);
        tcase_add_test(local, test_create_needs_name);
        tcase_add_test(local, test_malformed_id_is_usage_error);
        tcase_add_test(local, test_pasted_secret_is_not_echoed);
        tcase_add_test(local, test_unknown_command_is_usage_error);
        tcase_add_test(local, test_lifecycle_usage_errors);
        tcase_add_test(local, test_help_and_version);
        tcase_add_test(local, test_no_daemon_at_address);
        suite_add_tcase(s, local);
        return s;
}

int main(void) {
        return harness_main(cli_suite(), true);
}
