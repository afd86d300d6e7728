/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PAM module against a real accesskeyd on a private bus, driven through
 * libpam itself (pam_start_confdir) with stack files that name the built
 * module by absolute path.  Options reach the module only as module
 * arguments (bus=, timeout=), never through the environment.
 *
 * Each test states the exact PAM code a user would see.  libpam never hands
 * PAM_IGNORE to the application, so the "probe" stack turns it into a
 * sentinel: our module with [success=done ignore=ignore default=die],
 * followed by pam_debug returning PAM_MODULE_UNKNOWN, which pam_accesskey
 * itself never returns.  login() maps that sentinel back to PAM_IGNORE.
 *
 * Every refusal is also run in a `sufficient` stack followed by pam_deny, in
 * a `required` stack followed by pam_permit and in the `[success=1
 * default=ignore]` form before pam_deny, and must not succeed in any.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "accesskey.h"
#include "credential.h"
#include "harness.h"
#include "redact.h"
#include "util.h"
#include "verifier.h"

/* Where no daemon can be: proves the module answered without asking one. */
#define NOWHERE_BUS "unix:path=/nonexistent/accesskey-test-bus"
#define SENTINEL_IGNORE PAM_MODULE_UNKNOWN
#define RHOST_DEFAULT "192.0.2.10"

static harness h;
static char confdir[PATH_MAX];

typedef struct login {
        int auth;     /* pam_authenticate() */
        int acct;     /* pam_acct_mgmt() after a successful auth, else -1 */
        char *id_env; /* ACCESSKEY_ID of the PAM environment, or NULL */
        char *scopes_env;
        char *final_user; /* PAM_USER after pam_authenticate() */
        unsigned prompts;
        char messages[2048];   /* PAM_TEXT_INFO and PAM_ERROR_MSG, one a line */
        uint64_t elapsed_usec; /* of pam_authenticate() */
} login;

typedef struct conv_data {
        const char *password;
        login *out;
} conv_data;

static void login_done(login *l) {
        free(l->id_env);
        free(l->scopes_env);
        free(l->final_user);
        memset(l, 0, sizeof(*l));
}

static int conversation(int n, const struct pam_message **msg, struct pam_response **ret,
                        void *userdata) {
        conv_data *d = userdata;
        struct pam_response *resp = calloc((size_t) n, sizeof(*resp));
        if (!resp)
                return PAM_BUF_ERR;
        for (int i = 0; i < n; i++) {
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                        d->out->prompts++;
                        resp[i].resp = strdup(d->password);
                        break;
                case PAM_TEXT_INFO:
                case PAM_ERROR_MSG: {
                        size_t len = strlen(d->out->messages);
                        snprintf(d->out->messages + len, sizeof(d->out->messages) - len, "%s\n",
                                 msg[i]->msg);
                        break;
                }
                default:
                        free(resp);
                        return PAM_CONV_ERR;
                }
        }
        *ret = resp;
        return PAM_SUCCESS;
}

static const char *module_path(void) {
        static char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/.libs/pam_accesskey.so", harness_builddir());
        ck_assert_msg(access(path, R_OK) == 0, "the module is not built: %s", path);
        return path;
}

static void write_file(const char *name, const char *fmt, ...) {
        char path[PATH_MAX + 64];
        va_list ap;

        snprintf(path, sizeof(path), "%s/%s", confdir, name);
        FILE *f = fopen(path, "we");
        ck_assert_msg(f, "cannot create %s: %s", path, strerror(errno));
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        ck_assert_int_eq(fclose(f), 0);
}

/* The probe stack under the service name `service`. */
static void write_probe(const char *service, const char *args) {
        write_file(service,
                   "auth    [success=done ignore=ignore default=die] %1$s %2$s\n"
                   "auth    requisite pam_debug.so auth=module_unknown cred=module_unknown\n"
                   "account [success=done ignore=ignore default=die] %1$s %2$s\n"
                   "account requisite pam_debug.so acct=module_unknown\n"
                   "session [success=done ignore=ignore default=die] %1$s %2$s\n"
                   "session requisite pam_debug.so open_session=module_unknown "
                   "close_session=module_unknown\n",
                   module_path(), args);
}

/* The stacks every test uses, with the module's arguments args. */
static void write_stacks(const char *args) {
        const char *m = module_path();

        write_probe("probe", args);
        write_file("sufficient",
                   "auth    sufficient %1$s %2$s\n"
                   "auth    required   pam_deny.so\n"
                   "account sufficient %1$s %2$s\n"
                   "account required   pam_deny.so\n",
                   m, args);
        write_file("required",
                   "auth    required %1$s %2$s\n"
                   "auth    required pam_permit.so\n"
                   "account required %1$s %2$s\n"
                   "account required pam_permit.so\n",
                   m, args);
        /* Debian's common-auth form: a success skips pam_deny, anything
         * else falls into it. */
        write_file("skip",
                   "auth    [success=1 default=ignore] %1$s %2$s\n"
                   "auth    requisite pam_deny.so\n"
                   "auth    required  pam_permit.so\n"
                   "account [success=1 default=ignore] %1$s %2$s\n"
                   "account requisite pam_deny.so\n"
                   "account required  pam_permit.so\n",
                   m, args);
        /* The module as the only one: an IGNORE must not become a success. */
        write_file("only",
                   "auth    required %1$s %2$s\n"
                   "account required %1$s %2$s\n",
                   m, args);
}

static void write_stacks_f(const char *fmt, ...) {
        char args[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        write_stacks(args);
}

/* One login attempt: which stack (PAM service), as whom, from where. */
typedef struct attempt {
        const char *service;
        const char *user;
        const char *password;
        const char *rhost; /* NULL: PAM_RHOST left unset */
} attempt;

static void login_run_at(const attempt *a, login *ret) {
        conv_data d = { .password = a->password, .out = ret };
        struct pam_conv conv = { conversation, &d };
        pam_handle_t *pamh = NULL;

        memset(ret, 0, sizeof(*ret));
        ret->acct = -1;
        ck_assert_int_eq(pam_start_confdir(a->service, a->user, &conv, confdir, &pamh),
                         PAM_SUCCESS);
        if (a->rhost)
                ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, a->rhost), PAM_SUCCESS);
        ck_assert_int_eq(pam_set_item(pamh, PAM_TTY, "ssh"), PAM_SUCCESS);

        uint64_t t0 = mono_usec();
        ret->auth = pam_authenticate(pamh, 0);
        ret->elapsed_usec = mono_usec() - t0;
        if (ret->auth == PAM_SUCCESS)
                ret->acct = pam_acct_mgmt(pamh, 0);

        const char *v = pam_getenv(pamh, "ACCESSKEY_ID");
        ret->id_env = v ? strdup(v) : NULL;
        v = pam_getenv(pamh, "ACCESSKEY_SCOPES");
        ret->scopes_env = v ? strdup(v) : NULL;
        const void *u = NULL;
        ck_assert_int_eq(pam_get_item(pamh, PAM_USER, &u), PAM_SUCCESS);
        ret->final_user = u ? strdup(u) : NULL;
        pam_end(pamh, ret->auth);

        /* Only the probe stacks hold pam_debug, and the module itself never
         * returns the sentinel. */
        if (ret->auth == SENTINEL_IGNORE)
                ret->auth = PAM_IGNORE;
        if (ret->acct == SENTINEL_IGNORE)
                ret->acct = PAM_IGNORE;
}

static void login_run(const char *service, const char *user, const char *password, login *ret) {
        const attempt a = { service, user, password, RHOST_DEFAULT };
        login_run_at(&a, ret);
}

/* The module's own code for this login, via the probe stack. */
static int module_auth(const char *user, const char *password) {
        login l;
        login_run("probe", user, password, &l);
        int r = l.auth;
        login_done(&l);
        return r;
}

/* A refused login: the module says `expected`, no stack lets it in, and the
 * PAM user stays what the application gave. */
static void assert_refused_at(const attempt *a, int expected) {
        /* A required module that ignores the login leaves pam_permit to
         * decide, so that stack is only meaningful for refusals proper. */
        const char *const stacks[] = { "probe", "sufficient", "skip",
                                       expected == PAM_IGNORE ? "only" : "required" };
        login l;

        for (size_t i = 0; i < ELEMENTSOF(stacks); i++) {
                attempt b = *a;
                b.service = stacks[i];
                login_run_at(&b, &l);
                if (i == 0)
                        ck_assert_msg(l.auth == expected,
                                      "user %s: module returned %d (%s), expected %d (%s)", a->user,
                                      l.auth, pam_strerror(NULL, l.auth), expected,
                                      pam_strerror(NULL, expected));
                else
                        ck_assert_msg(l.auth != PAM_SUCCESS, "user %s: stack '%s' let it in",
                                      a->user, stacks[i]);
                ck_assert_ptr_null(l.id_env);
                ck_assert_ptr_null(l.scopes_env);
                ck_assert_ptr_nonnull(l.final_user);
                ck_assert_str_eq(l.final_user, a->user);
                login_done(&l);
        }
}

static void assert_refused(const char *user, const char *password, int expected) {
        const attempt a = { "probe", user, password, RHOST_DEFAULT };
        assert_refused_at(&a, expected);
}

/* A login the module accepts as `as_user`, in every stack form. */
static void assert_accepted_at(const attempt *a, const char *id, const char *as_user) {
        const char *const stacks[] = { "probe", "sufficient", "skip", "required" };
        login l;

        for (size_t i = 0; i < ELEMENTSOF(stacks); i++) {
                attempt b = *a;
                b.service = stacks[i];
                login_run_at(&b, &l);
                ck_assert_msg(l.auth == PAM_SUCCESS && l.acct == PAM_SUCCESS,
                              "user %s, stack %s: auth %d (%s), account %d: %s", a->user, stacks[i],
                              l.auth, pam_strerror(NULL, l.auth), l.acct, l.messages);
                ck_assert_ptr_nonnull(l.id_env);
                ck_assert_str_eq(l.id_env, id);
                ck_assert_ptr_nonnull(l.final_user);
                ck_assert_str_eq(l.final_user, as_user);
                login_done(&l);
        }
}

static const char *strna(const char *s) {
        return s ? s : "(unset)";
}

static char *credential_of(const char *id, const char *secret) {
        char *p = NULL;
        ck_assert_int_ge(asprintf(&p, "%s:%s", id, secret), 0);
        return p;
}

typedef struct key {
        char *id;
        char *secret;
        char *password; /* "<id>:<secret>" */
} key;

static void key_create(const ak_create_options *o, key *ret) {
        ak_client *c = NULL;
        int r = ak_client_open(h.bus_address, NULL, 2000, &c);
        ck_assert_msg(r == 0, "ak_client_open(%s): %s", h.bus_address, ak_strerror(r));
        r = ak_create_key(c, o, &ret->id, &ret->secret);
        ck_assert_msg(r == 0, "ak_create_key: %s (%s)", ak_strerror(r),
                      ak_client_last_error(c) ?: "");
        ak_client_close(c);
        ret->password = credential_of(ret->id, ret->secret);
}

static void key_create_simple(key *ret) {
        const ak_create_options o = { .name = "pam-test" };
        key_create(&o, ret);
}

static void key_done(key *k) {
        free(k->id);
        ak_secret_free(k->secret);
        erase_and_free(k->password);
}

static void confdir_setup(void) {
        snprintf(confdir, sizeof(confdir), "/tmp/accesskey-pam-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(confdir));
}

static void confdir_teardown(void) {
        const char *const rm[] = { "/bin/rm", "-rf", confdir, NULL };
        if (strncmp(confdir, "/tmp/accesskey-pam-", 19) == 0)
                (void) harness_run(rm, (uid_t) -1, (gid_t) -1, NULL, NULL, NULL);
}

/* A daemon with the configuration `conf` (accesskeyd.conf(5)). */
static void daemon_start_with(const char *conf) {
        confdir_setup();
        harness_start_bus(&h);
        FILE *f = fopen(h.config_path, "we");
        ck_assert_msg(f, "cannot create %s: %s", h.config_path, strerror(errno));
        fputs(conf, f);
        ck_assert_int_eq(fclose(f), 0);
        harness_start_daemon(&h, NULL);
        write_stacks_f("bus=%s timeout=1000", h.bus_address);
}

static void daemon_setup(void) {
        /* Most tests refuse the same source many times over, in several
         * stacks each; the rate limit has a test of its own. */
        daemon_start_with("RateLimitBurst = 0\n");
}

static void ratelimit_setup(void) {
        daemon_start_with("RateLimitBurst = 3\nRateLimitInterval = 1h\n");
}

static void daemon_teardown(void) {
        harness_stop(&h);
        confdir_teardown();
}

static void nodaemon_setup(void) {
        confdir_setup();
        write_stacks("bus=" NOWHERE_BUS " timeout=500");
}

/* ------------------------------------------------------------ with a daemon */

START_TEST(test_good_key) {
        key k;
        login l;

        key_create_simple(&k);

        login_run("probe", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        ck_assert_ptr_nonnull(l.id_env);
        ck_assert_str_eq(l.id_env, k.id);
        ck_assert_ptr_nonnull(l.scopes_env);
        ck_assert_str_eq(l.scopes_env, "");
        ck_assert_uint_eq(l.prompts, 1);
        login_done(&l);

        login_run("sufficient", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        login_done(&l);

        login_run("required", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        login_done(&l);

        key_done(&k);
}
END_TEST

START_TEST(test_pam_login_tool) {
        key k;
        char *out = NULL, *input = NULL;
        char *exe = strdup(harness_path("tests/pam-login"));

        key_create_simple(&k);
        ck_assert_int_ge(asprintf(&input, "%s\n", k.password), 0);

        const char *const argv[] = { exe,          "--confdir",        confdir, "--service",
                                     "sufficient", "--user",           "root",  "--rhost",
                                     "192.0.2.10", "--password-stdin", NULL };
        int r = harness_run(argv, (uid_t) -1, (gid_t) -1, input, &out, NULL);
        ck_assert_msg(r == 0, "pam-login exited %d: %s", r, out);
        ck_assert_ptr_nonnull(strstr(out, "pam_authenticate: Success\n"));
        ck_assert_ptr_nonnull(strstr(out, "pam_acct_mgmt: Success\n"));
        char *want = NULL;
        ck_assert_int_ge(asprintf(&want, "ACCESSKEY_ID=%s\n", k.id), 0);
        ck_assert_ptr_nonnull(strstr(out, want));
        free(out);

        r = harness_run(argv, (uid_t) -1, (gid_t) -1, "hunter2\n", &out, NULL);
        ck_assert_int_eq(r, PAM_AUTH_ERR);
        ck_assert_ptr_nonnull(strstr(out, "pam_authenticate: Authentication failure\n"));
        ck_assert_ptr_null(strstr(out, "ACCESSKEY_"));

        free(want);
        free(out);
        erase_and_free(input);

        /* A NUL inside the password: PAM would pass on only what precedes
         * it (the key), so the tool refuses it before PAM sees anything. */
        const char *script = "printf '%s\\000junk\\n' \"$1\" | \"$2\" --confdir \"$3\" "
                             "--service sufficient --user root";
        char *err = NULL;
        const char *const sh[] = { "/bin/sh", "-c", script, "sh", k.password, exe, confdir, NULL };
        r = harness_run(sh, (uid_t) -1, (gid_t) -1, NULL, &out, &err);
        ck_assert_msg(r == 65, "pam-login exited %d: %s%s", r, out, err);
        ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
        ck_assert_ptr_null(strstr(out, "pam_authenticate"));
        free(out);
        free(err);

        /* The key ID as the user: the tool shows whom the module logged in,
         * and the session steps. */
        write_file("keyid",
                   "auth    required %1$s bus=%2$s keyid_user\n"
                   "account required %1$s bus=%2$s\n"
                   "session optional %1$s bus=%2$s\n"
                   "session required pam_permit.so\n",
                   module_path(), h.bus_address);
        ck_assert_int_ge(asprintf(&input, "%s\n", k.secret), 0);
        const char *const argv2[] = { exe,      "--confdir", confdir,     "--service", "keyid",
                                      "--user", k.id,        "--session", NULL };
        r = harness_run(argv2, (uid_t) -1, (gid_t) -1, input, &out, NULL);
        ck_assert_msg(r == 0, "pam-login exited %d: %s", r, out);
        ck_assert_ptr_nonnull(strstr(out, "PAM_USER: root\n"));
        ck_assert_ptr_nonnull(strstr(out, "pam_open_session: Success\n"));
        ck_assert_ptr_nonnull(strstr(out, "ACCESSKEY_SCOPES=\n"));
        free(out);
        erase_and_free(input);

        free(exe);
        key_done(&k);
}
END_TEST

START_TEST(test_scopes) {
        const char *const scopes[] = { "deploy", "read", NULL };
        const ak_create_options o = { .name = "pam-scopes", .scopes = scopes };
        key k;
        login l;

        key_create(&o, &k);

        login_run("probe", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_ptr_nonnull(l.scopes_env);
        ck_assert_msg(streq(l.scopes_env, "deploy read") || streq(l.scopes_env, "read deploy"),
                      "ACCESSKEY_SCOPES=%s", l.scopes_env);
        login_done(&l);

        write_stacks_f("bus=%s scope=deploy", h.bus_address);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);

        write_stacks_f("bus=%s scope=deploy scope=admin", h.bus_address);
        assert_refused("root", k.password, PAM_AUTH_ERR);

        key_done(&k);
}
END_TEST

START_TEST(test_wrong_secret) {
        char other[AK_SECRET_LEN + 1];
        key k;

        key_create_simple(&k);
        ck_assert_int_eq(ak_secret_generate(other), 0);
        ck_assert_int_eq(ak_secret_check(other), 0);
        char *pw = credential_of(k.id, other);

        assert_refused("root", pw, PAM_AUTH_ERR);
        /* The right secret still works afterwards: a refusal locks nothing. */
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);

        erase_and_free(pw);
        erase_mem(other, sizeof(other));
        key_done(&k);
}
END_TEST

START_TEST(test_unknown_id) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];

        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        char *pw = credential_of(id, secret);
        assert_refused("root", pw, PAM_AUTH_ERR);
        erase_and_free(pw);
}
END_TEST

START_TEST(test_other_users_key) {
        key k;

        key_create_simple(&k); /* owned by root, the caller */
        assert_refused("nobody", k.password, PAM_AUTH_ERR);
        assert_refused("no-such-user-accesskey", k.password, PAM_AUTH_ERR);
        key_done(&k);
}
END_TEST

START_TEST(test_deleted_key) {
        ak_client *c = NULL;
        key k;

        key_create_simple(&k);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);

        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 2000, &c), 0);
        ck_assert_int_eq(ak_delete_key(c, k.id), 0);
        ak_client_close(c);

        /* Nothing is cached: the very next login fails. */
        assert_refused("root", k.password, PAM_AUTH_ERR);
        key_done(&k);
}
END_TEST

START_TEST(test_expiry_warning) {
        const ak_create_options soon = {
                .name = "pam-soon",
                .set_expires = true,
                .expires_at = now_usec() + 24 * 3600 * USEC_PER_SEC,
        };
        const ak_create_options later = {
                .name = "pam-later",
                .set_expires = true,
                .expires_at = now_usec() + 30 * 24 * 3600 * USEC_PER_SEC,
        };
        key k1, k2;
        login l;

        key_create(&soon, &k1);
        key_create(&later, &k2);

        login_run("probe", "root", k1.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        ck_assert_msg(strstr(l.messages, k1.id) && strstr(l.messages, "expires on") &&
                              strstr(l.messages, " UTC"),
                      "no expiry warning: '%s'", l.messages);
        login_done(&l);

        login_run("probe", "root", k2.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_str_eq(l.messages, "");
        login_done(&l);

        write_stacks_f("bus=%s silent", h.bus_address);
        login_run("probe", "root", k1.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_str_eq(l.messages, "");
        login_done(&l);

        key_done(&k1);
        key_done(&k2);
}
END_TEST

START_TEST(test_account_expired) {
        const ak_create_options o = {
                .name = "pam-expiring",
                .set_expires = true,
                .expires_at = now_usec() + 1500 * USEC_PER_MSEC,
        };
        conv_data d;
        login l = {};
        key k;

        key_create(&o, &k);
        d = (conv_data){ .password = k.password, .out = &l };
        struct pam_conv conv = { conversation, &d };
        pam_handle_t *pamh = NULL;

        /* An application that holds the handle between auth and account
         * while the key expires. */
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_SUCCESS);
        while (now_usec() < o.expires_at + 50 * USEC_PER_MSEC)
                usleep(50000);
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), PAM_ACCT_EXPIRED);
        pam_end(pamh, PAM_ACCT_EXPIRED);

        /* And a new login is refused by auth already. */
        assert_refused("root", k.password, PAM_AUTH_ERR);

        key_done(&k);
}
END_TEST

START_TEST(test_account_not_by_key) {
        conv_data d;
        login l = {};
        pam_handle_t *pamh = NULL;
        struct pam_conv conv = { conversation, &d };

        /* Account phase with no auth at all. */
        d = (conv_data){ .password = "hunter2", .out = &l };
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), SENTINEL_IGNORE);
        pam_end(pamh, PAM_SUCCESS);

        /* After an ordinary password, which the module refused unseen. */
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), SENTINEL_IGNORE);
        pam_end(pamh, PAM_SUCCESS);

        /* After a refused key, the account phase does not vouch for it. */
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        char *pw = credential_of(id, secret);
        d.password = pw;
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), SENTINEL_IGNORE);
        pam_end(pamh, PAM_SUCCESS);
        erase_and_free(pw);
}
END_TEST

START_TEST(test_use_first_pass) {
        key k;
        login l;

        key_create_simple(&k);

        /* No earlier module asked: use_first_pass fails without a prompt. */
        write_stacks_f("bus=%s use_first_pass", h.bus_address);
        login_run("probe", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_AUTH_ERR);
        ck_assert_uint_eq(l.prompts, 0);
        login_done(&l);

        /* The password an earlier module asked for is used, not asked again. */
        write_file("first",
                   "auth optional %1$s bus=%2$s\n"
                   "auth [success=done ignore=ignore default=die] %1$s bus=%2$s try_first_pass\n"
                   "auth requisite pam_debug.so auth=module_unknown\n",
                   module_path(), h.bus_address);
        login_run("first", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_uint_eq(l.prompts, 1);
        login_done(&l);

        key_done(&k);
}
END_TEST

START_TEST(test_unknown_option) {
        key k;

        key_create_simple(&k);
        /* Unknown: logged and ignored (a newer option on an older module). */
        write_stacks_f("bus=%s frobnicate", h.bus_address);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);
        key_done(&k);
}
END_TEST

START_TEST(test_socket_option) {
        key k;

        key_create_simple(&k);

        /* A private socket that is not there: the bus is tried next. */
        write_stacks_f("socket=/nonexistent/accesskey-private bus=%s", h.bus_address);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);

        /* Neither there: unavailable, never a success. */
        write_stacks("socket=/nonexistent/accesskey-private bus=" NOWHERE_BUS);
        assert_refused("root", k.password, PAM_AUTHINFO_UNAVAIL);
        key_done(&k);
}
END_TEST

START_TEST(test_daemon_stopped) {
        key k;
        login l;

        key_create_simple(&k);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);
        (void) harness_stop_daemon(&h);

        write_stacks_f("bus=%s timeout=500", h.bus_address);
        login_run("probe", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_AUTHINFO_UNAVAIL);
        ck_assert_uint_lt(l.elapsed_usec, 1500 * USEC_PER_MSEC);
        login_done(&l);
        assert_refused("root", k.password, PAM_AUTHINFO_UNAVAIL);

        /* An ordinary password is still answered at once, without asking. */
        ck_assert_int_eq(module_auth("root", "hunter2"), PAM_AUTH_ERR);
        write_stacks_f("bus=%s timeout=500 nokey=ignore", h.bus_address);
        ck_assert_int_eq(module_auth("root", "hunter2"), PAM_IGNORE);
        key_done(&k);
}
END_TEST

START_TEST(test_daemon_hung) {
        key k;
        login l;

        key_create_simple(&k);
        write_stacks_f("bus=%s timeout=500", h.bus_address);
        ck_assert_int_eq(kill(h.daemon_pid, SIGSTOP), 0);

        login_run("probe", "root", k.password, &l);
        ck_assert_int_eq(l.auth, PAM_AUTHINFO_UNAVAIL);
        ck_assert_uint_ge(l.elapsed_usec, 400 * USEC_PER_MSEC);
        ck_assert_uint_lt(l.elapsed_usec, 1500 * USEC_PER_MSEC);
        login_done(&l);

        login_run("sufficient", "root", k.password, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        ck_assert_uint_lt(l.elapsed_usec, 1500 * USEC_PER_MSEC);
        login_done(&l);

        login_run("required", "root", k.password, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        login_done(&l);

        ck_assert_int_eq(kill(h.daemon_pid, SIGCONT), 0);
        /* Once it answers again, so does the key. */
        write_stacks_f("bus=%s timeout=2000", h.bus_address);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);
        key_done(&k);
}
END_TEST

/* How many Authenticate calls the daemon has logged so far. */
static size_t daemon_auth_calls(void) {
        char *log = harness_read_file(h.daemon_log);
        size_t n = 0;

        ck_assert_ptr_nonnull(log);
        for (const char *p = log; (p = strstr(p, "auth: key=")); p++)
                n++;
        free(log);
        return n;
}

static bool daemon_log_has(const char *a, const char *b) {
        char *log = harness_read_file(h.daemon_log);
        bool found = false;

        ck_assert_ptr_nonnull(log);
        /* One line holding both. */
        for (char *line = strtok(log, "\n"); line && !found; line = strtok(NULL, "\n"))
                found = strstr(line, a) && strstr(line, b);
        free(log);
        return found;
}

START_TEST(test_services) {
        const char *const services[] = { "sshd", "dovecot", NULL };
        const ak_create_options o = { .name = "pam-services", .services = services };
        attempt a = { "sshd", "root", NULL, RHOST_DEFAULT };
        key k;
        login l;

        key_create(&o, &k);
        a.password = k.password;
        char args[PATH_MAX + 64];
        snprintf(args, sizeof(args), "bus=%s timeout=1000", h.bus_address);
        write_probe("sshd", args);
        write_probe("dovecot", args);
        write_probe("su", args);

        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        ck_assert_str_eq(l.id_env, k.id);
        login_done(&l);
        a.service = "dovecot";
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        login_done(&l);

        /* The secret was right, so the user learns why. */
        a.service = "su";
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_AUTH_ERR);
        ck_assert_ptr_null(l.id_env);
        ck_assert_msg(strstr(l.messages, k.id) && strstr(l.messages, "service"),
                      "no reason for the user: '%s'", l.messages);
        login_done(&l);
        ck_assert_msg(daemon_log_has(k.id, "service not allowed"),
                      "the daemon did not log key %s with the reason", k.id);

        /* probe, sufficient, skip and required are services too, and none of
         * them is allowed. */
        assert_refused(a.user, k.password, PAM_AUTH_ERR);

        /* silent: the reason is logged but not shown. */
        snprintf(args, sizeof(args), "bus=%s silent", h.bus_address);
        write_probe("su", args);
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_AUTH_ERR);
        ck_assert_str_eq(l.messages, "");
        login_done(&l);

        key_done(&k);
}
END_TEST

START_TEST(test_networks) {
        const char *const with_local[] = { "10.0.0.0/8", "local", NULL };
        const char *const no_local[] = { "10.0.0.0/8", NULL };
        const char *const v6[] = { "2001:db8::/32", "192.0.2.0/24", NULL };
        const ak_create_options o1 = { .name = "pam-net-local", .networks = with_local };
        const ak_create_options o2 = { .name = "pam-net", .networks = no_local };
        const ak_create_options o3 = { .name = "pam-net6", .networks = v6 };
        key k1, k2, k3;
        login l;

        key_create(&o1, &k1);
        key_create(&o2, &k2);
        key_create(&o3, &k3);

        const struct {
                const key *k;
                const char *rhost;
                bool ok;
        } cases[] = {
                { &k1, "10.1.2.3", true },
                { &k1, "10.255.255.255", true },
                { &k1, NULL, true }, /* no remote host at all */
                { &k1, "", true },
                { &k1, "192.168.1.1", false },
                { &k1, "11.0.0.1", false },
                /* Hostnames and anything malformed never match: no DNS. */
                { &k1, "host.example", false },
                { &k1, "localhost", false },
                { &k1, "10.1.2.300", false },
                { &k1, "10.1.2.3/8", false },
                { &k1, " 10.1.2.3", false },
                { &k2, "10.1.2.3", true },
                { &k2, NULL, false },
                { &k2, "", false },
                { &k2, "host.example", false },
                { &k3, "2001:db8::1", true },
                { &k3, "2001:DB8:0:0:0:0:0:42", true },
                { &k3, "192.0.2.10", true },
                { &k3, "2001:db9::1", false },
                { &k3, "::1", false },
                { &k3, "[2001:db8::1]", false },
                { &k3, NULL, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const attempt a = { "probe", "root", cases[i].k->password, cases[i].rhost };
                if (cases[i].ok) {
                        login_run_at(&a, &l);
                        ck_assert_msg(l.auth == PAM_SUCCESS, "rhost '%s' (key %s): %s",
                                      strna(cases[i].rhost), cases[i].k->id,
                                      pam_strerror(NULL, l.auth));
                        ck_assert_str_eq(l.id_env, cases[i].k->id);
                        login_done(&l);
                } else
                        assert_refused_at(&a, PAM_AUTH_ERR);
        }
        ck_assert(daemon_log_has(k1.id, "remote host not in the key's networks"));

        key_done(&k1);
        key_done(&k2);
        key_done(&k3);
}
END_TEST

START_TEST(test_required_scope) {
        const char *const none[] = { "deploy", NULL };
        const char *const backup[] = { "backup:read", "deploy", NULL };
        const ak_create_options o0 = { .name = "pam-noscope", .scopes = none };
        const ak_create_options o1 = { .name = "pam-backup", .scopes = backup };
        key k0, k1;
        login l;

        key_create(&o0, &k0);
        key_create(&o1, &k1);
        write_stacks_f("bus=%s scope=backup:read", h.bus_address);

        assert_refused("root", k0.password, PAM_AUTH_ERR);
        login_run("probe", "root", k0.password, &l);
        ck_assert_msg(strstr(l.messages, "backup:read"), "no reason for the user: '%s'",
                      l.messages);
        login_done(&l);

        login_run("probe", "root", k1.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        ck_assert_ptr_nonnull(l.scopes_env);
        ck_assert_msg(streq(l.scopes_env, "backup:read deploy") ||
                              streq(l.scopes_env, "deploy backup:read"),
                      "ACCESSKEY_SCOPES=%s", l.scopes_env);
        login_done(&l);

        /* Every required scope, not any one of them. */
        write_stacks_f("bus=%s scope=backup:read scope=deploy", h.bus_address);
        ck_assert_int_eq(module_auth("root", k1.password), PAM_SUCCESS);
        write_stacks_f("bus=%s scope=backup:read scope=backup:write", h.bus_address);
        assert_refused("root", k1.password, PAM_AUTH_ERR);

        key_done(&k0);
        key_done(&k1);
}
END_TEST

START_TEST(test_keyid_user) {
        const ak_create_options oa = { .name = "pam-keyid-root" };
        const ak_create_options ob = { .name = "pam-keyid-daemon", .owner = "daemon" };
        char unknown[AK_ID_LEN + 1];
        key a, b;

        key_create(&oa, &a); /* owned by root */
        key_create(&ob, &b); /* owned by daemon */
        ck_assert_int_eq(ak_id_generate(unknown), 0);
        write_stacks_f("bus=%s timeout=1000 keyid_user", h.bus_address);

        /* The key ID as the user and the bare secret: the owner logs in, in
         * every stack form, and the account phase sees the owner. */
        attempt t = { "probe", a.id, a.secret, RHOST_DEFAULT };
        assert_accepted_at(&t, a.id, "root");
        t = (attempt){ "probe", b.id, b.secret, RHOST_DEFAULT };
        assert_accepted_at(&t, b.id, "daemon");
        /* The whole credential works too when it is the same key. */
        t = (attempt){ "probe", a.id, a.password, RHOST_DEFAULT };
        assert_accepted_at(&t, a.id, "root");
        /* An ordinary user name: as without the option. */
        t = (attempt){ "probe", "root", a.password, RHOST_DEFAULT };
        assert_accepted_at(&t, a.id, "root");
        t = (attempt){ "probe", "daemon", b.password, RHOST_DEFAULT };
        assert_accepted_at(&t, b.id, "daemon");

        /* No way to become anyone but the key's owner. */
        t = (attempt){ "probe", a.id, b.secret, RHOST_DEFAULT }; /* A's ID, B's secret */
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", b.id, a.secret, RHOST_DEFAULT };
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", a.id, b.password, RHOST_DEFAULT }; /* B's credential */
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", "root", b.password, RHOST_DEFAULT }; /* daemon's key */
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", "daemon", a.password, RHOST_DEFAULT }; /* root's key */
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", "root", b.secret, RHOST_DEFAULT }; /* a bare secret */
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", unknown, a.secret, RHOST_DEFAULT }; /* unknown ID */
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", a.id, "hunter2", RHOST_DEFAULT };
        assert_refused_at(&t, PAM_AUTH_ERR);

        /* Something that is not an ID is an ordinary user name. */
        char *lower = strdup(a.id);
        lower[0] = 'a';
        t = (attempt){ "probe", lower, a.secret, RHOST_DEFAULT };
        assert_refused_at(&t, PAM_AUTH_ERR);
        free(lower);

        /* A refused key (here: network) leaves the key ID as the user. */
        const char *const nets[] = { "10.0.0.0/8", NULL };
        const ak_create_options oc = { .name = "pam-keyid-net", .networks = nets };
        key c;
        key_create(&oc, &c);
        t = (attempt){ "probe", c.id, c.secret, RHOST_DEFAULT };
        assert_refused_at(&t, PAM_AUTH_ERR);
        t.rhost = "10.0.0.1";
        assert_accepted_at(&t, c.id, "root");
        key_done(&c);

        /* Without the option a key ID is no user name of ours. */
        write_stacks_f("bus=%s timeout=1000", h.bus_address);
        t = (attempt){ "probe", a.id, a.secret, RHOST_DEFAULT };
        assert_refused_at(&t, PAM_AUTH_ERR);
        t = (attempt){ "probe", a.id, a.password, RHOST_DEFAULT };
        assert_refused_at(&t, PAM_AUTH_ERR);

        key_done(&a);
        key_done(&b);
}
END_TEST

START_TEST(test_session) {
        const char *const scopes[] = { "deploy", NULL };
        const ak_create_options o = { .name = "pam-session", .scopes = scopes };
        conv_data d;
        login l = {};
        pam_handle_t *pamh = NULL;
        struct pam_conv conv = { conversation, &d };
        key k;

        key_create(&o, &k);

        d = (conv_data){ .password = k.password, .out = &l };
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_SUCCESS);
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), PAM_SUCCESS);
        ck_assert_str_eq(pam_getenv(pamh, "ACCESSKEY_ID"), k.id);

        /* An application that cleared the environment gets it back. */
        (void) pam_putenv(pamh, "ACCESSKEY_ID");
        (void) pam_putenv(pamh, "ACCESSKEY_SCOPES");
        ck_assert_ptr_null(pam_getenv(pamh, "ACCESSKEY_ID"));
        ck_assert_int_eq(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
        ck_assert_str_eq(pam_getenv(pamh, "ACCESSKEY_ID"), k.id);
        ck_assert_str_eq(pam_getenv(pamh, "ACCESSKEY_SCOPES"), "deploy");

        (void) pam_putenv(pamh, "ACCESSKEY_ID");
        (void) pam_putenv(pamh, "ACCESSKEY_SCOPES");
        ck_assert_int_eq(pam_open_session(pamh, 0), PAM_SUCCESS);
        ck_assert_str_eq(pam_getenv(pamh, "ACCESSKEY_ID"), k.id);
        ck_assert_str_eq(pam_getenv(pamh, "ACCESSKEY_SCOPES"), "deploy");
        ck_assert_int_eq(pam_close_session(pamh, 0), SENTINEL_IGNORE);
        ck_assert_int_eq(pam_setcred(pamh, PAM_DELETE_CRED), PAM_SUCCESS);

        /* A later refused authentication on the same handle takes it all
         * back. */
        d.password = "hunter2";
        ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_AUTH_ERR);
        ck_assert_ptr_null(pam_getenv(pamh, "ACCESSKEY_ID"));
        ck_assert_ptr_null(pam_getenv(pamh, "ACCESSKEY_SCOPES"));
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), SENTINEL_IGNORE);
        /* libpam runs setcred along the chain auth took, which stopped
         * at the module's refusal. */
        ck_assert_int_ne(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
        ck_assert_int_eq(pam_open_session(pamh, 0), SENTINEL_IGNORE);
        ck_assert_ptr_null(pam_getenv(pamh, "ACCESSKEY_ID"));
        pam_end(pamh, PAM_SUCCESS);

        /* The account phase vouches only for the user the key logged in. */
        d.password = k.password;
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_authenticate(pamh, 0), PAM_SUCCESS);
        ck_assert_int_eq(pam_set_item(pamh, PAM_USER, "daemon"), PAM_SUCCESS);
        ck_assert_int_eq(pam_acct_mgmt(pamh, 0), PAM_PERM_DENIED);
        pam_end(pamh, PAM_PERM_DENIED);

        key_done(&k);
}
END_TEST

START_TEST(test_deactivated_key) {
        ak_client *c = NULL;
        key k;
        login l;

        key_create_simple(&k);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 2000, &c), 0);
        int r = ak_deactivate_key(c, k.id);
        ck_assert_msg(r == 0, "ak_deactivate_key: %s", ak_strerror(r));

        assert_refused("root", k.password, PAM_AUTH_ERR);
        login_run("probe", "root", k.password, &l);
        ck_assert_msg(strstr(l.messages, k.id), "no reason for the user: '%s'", l.messages);
        login_done(&l);

        ck_assert_int_eq(ak_reactivate_key(c, k.id), 0);
        ck_assert_int_eq(module_auth("root", k.password), PAM_SUCCESS);
        ak_client_close(c);
        key_done(&k);
}
END_TEST

/* An unknown ID and a wrong secret look the same to the user and to the
 * module: same code, same (absent) reason. */
START_TEST(test_refusals_alike) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        key k;
        login l1, l2;

        key_create_simple(&k);
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        char *unknown = credential_of(id, secret);
        char *wrong = credential_of(k.id, secret);

        login_run("probe", "root", unknown, &l1);
        login_run("probe", "root", wrong, &l2);
        ck_assert_int_eq(l1.auth, PAM_AUTH_ERR);
        ck_assert_int_eq(l2.auth, PAM_AUTH_ERR);
        ck_assert_str_eq(l1.messages, "");
        ck_assert_str_eq(l2.messages, "");
        login_done(&l1);
        login_done(&l2);

        erase_and_free(unknown);
        erase_and_free(wrong);
        key_done(&k);
}
END_TEST

static double dmax(double a, double b) {
        return a > b ? a : b;
}

static double dabs(double a) {
        return a < 0 ? -a : a;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* The daemon does the same work for an unknown ID as for a wrong secret.
 * A property check, not a speed target: 200 calls each, interleaved so that
 * drift of the machine hits both alike. */
START_TEST(test_timing_alike) {
        enum {
                N = 200,
                WARMUP = 20
        };
        static uint64_t t_unknown[N], t_wrong[N];
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        ak_client *c = NULL;
        key k;

        key_create_simple(&k);
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 2000, &c), 0);
        const ak_auth_request req = { .user = "root", .service = "probe", .rhost = RHOST_DEFAULT };

        for (int i = -WARMUP; i < N; i++)
                for (int which = 0; which < 2; which++) {
                        const char *kid = which == 0 ? id : k.id;
                        ak_auth_result *res = NULL;
                        uint64_t t0 = mono_usec();
                        int r = ak_authenticate(c, kid, secret, &req, &res);
                        uint64_t dt = mono_usec() - t0;
                        ck_assert_int_eq(r, -EKEYREJECTED);
                        ck_assert_str_eq(strempty(ak_client_last_error(c)),
                                         "authentication failed");
                        if (i >= 0)
                                (which == 0 ? t_unknown : t_wrong)[i] = dt;
                }
        ak_client_close(c);

        /* Trimmed means (the middle 80 %): a scheduler hiccup on a loaded
         * or instrumented machine is not a difference in the work done. */
        qsort(t_unknown, N, sizeof(uint64_t), cmp_u64);
        qsort(t_wrong, N, sizeof(uint64_t), cmp_u64);
        double mean_u = 0, mean_w = 0;
        for (int i = N / 10; i < N - N / 10; i++) {
                mean_u += (double) t_unknown[i] / (N - 2 * (N / 10));
                mean_w += (double) t_wrong[i] / (N - 2 * (N / 10));
        }
        printf("timing: %d Authenticate calls each: unknown ID trimmed mean %.1f us (median %" PRIu64
               " us), wrong secret trimmed mean %.1f us (median %" PRIu64 " us), difference %.1f%%\n",
               N, mean_u, t_unknown[N / 2], mean_w, t_wrong[N / 2],
               100.0 * dabs(mean_u - mean_w) / dmax(mean_u, mean_w));
        fflush(stdout);
        ck_assert_msg(dabs(mean_u - mean_w) <= 0.25 * dmax(mean_u, mean_w),
                      "unknown ID %.1f us vs wrong secret %.1f us: more than 25%% apart", mean_u,
                      mean_w);
        key_done(&k);
}
END_TEST

/* ------------------------------------------- the module's own log lines */

/* The module's syslog lines of this test so far (harness_capture_syslog). */
static char *syslog_text;

static const char *module_log(void) {
        free(syslog_text);
        return syslog_text = harness_syslog_text(false);
}

static void capture_setup(void) {
        daemon_setup();
        harness_capture_syslog();
}

static void capture_teardown(void) {
        free(syslog_text);
        syslog_text = NULL;
        daemon_teardown();
}

/* A login by key ID replaces PAM_USER, and libpam frees the old name: the
 * line that reports it must show what the user typed, not freed memory. */
START_TEST(test_keyid_user_log) {
        key k;
        login l;
        char want[256];

        key_create_simple(&k);
        write_stacks_f("bus=%s timeout=1000 keyid_user", h.bus_address);
        login_run("probe", k.id, k.secret, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_str_eq(l.final_user, "root");
        login_done(&l);

        snprintf(want, sizeof(want),
                 "access key %1$s: user %1$s, service probe, rhost " RHOST_DEFAULT
                 ", tty ssh: accepted as root",
                 k.id);
        const char *log = module_log();
        ck_assert_msg(strstr(log, want), "no line '%s' in the module's log:\n%s", want, log);
        key_done(&k);
}
END_TEST

/* Nothing secret-shaped that a peer typed into a field the module or the
 * daemon logs reaches either log. */
START_TEST(test_no_credential_in_logs) {
        key k;
        login l;
        char *other = NULL, *rhost = NULL;

        key_create_simple(&k);
        /* The user name is the whole credential (a client that put it in
         * the wrong field), the password the key: the daemon is asked. */
        ck_assert_int_ge(asprintf(&other, "%s:%s", k.id, k.secret), 0);
        ck_assert_int_ge(asprintf(&rhost, "host %s", k.secret), 0);
        const attempt a = { "probe", other, k.password, rhost };
        login_run_at(&a, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        login_done(&l);
        /* A bare secret as the user, with a key ID user's tty. */
        const attempt b = { "probe", k.secret, k.password, k.password };
        login_run_at(&b, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        login_done(&l);
        /* The same through the library, into every field the daemon
         * logs. */
        ak_client *c = NULL;
        ak_auth_result *res = NULL;
        ck_assert_int_eq(ak_client_open(h.bus_address, NULL, 2000, &c), 0);
        const ak_auth_request req = { .user = other, .service = other, .rhost = other };
        ck_assert_int_ne(ak_authenticate(c, k.id, k.secret, &req, &res), 0);
        const ak_auth_request req2 = { .user = "root", .service = "sshd", .rhost = rhost };
        ck_assert_int_eq(ak_authenticate(c, k.id, k.secret, &req2, &res), 0);
        ak_auth_result_free(res);
        ak_client_close(c);
        ck_assert_int_eq(harness_stop_daemon(&h), 0);

        const char *mlog = module_log();
        char *dlog = harness_read_file(h.daemon_log);
        ck_assert_ptr_nonnull(dlog);
        /* The lines are there, with the key ID the user typed. */
        ck_assert_msg(strstr(mlog, "user ") && strstr(mlog, k.id) && strstr(mlog, REDACT_MARK),
                      "module log:\n%s", mlog);
        ck_assert_msg(strstr(dlog, REDACT_MARK), "daemon log:\n%s", dlog);
        const char *const logs[] = { mlog, dlog };
        for (size_t i = 0; i < ELEMENTSOF(logs); i++) {
                ck_assert_msg(!strstr(logs[i], k.secret + 4), "a secret in the %s log:\n%s",
                              i ? "daemon's" : "module's", logs[i]);
                ck_assert_msg(!strstr(logs[i], "aks_"), "'aks_' in the %s log:\n%s",
                              i ? "daemon's" : "module's", logs[i]);
        }
        free(dlog);
        free(other);
        free(rhost);
        key_done(&k);
}
END_TEST

/* Invalid option values refuse with PAM_SERVICE_ERR from every phase,
 * saying which option and which rule, even for a good key. */
START_TEST(test_invalid_options) {
        const struct {
                const char *option;
                const char *rule; /* in the logged error */
        } bad[] = {
                { "scope=Mail", "must start with a lower-case letter" },
                { "scope=BAD!", "must start with a lower-case letter" },
                { "scope=", "1 to 64 characters" },
                { "scope=bad!", "may hold only a-z" },
                { "bus=tcp:host=x", "unix:path=/ABSOLUTE" },
                { "bus=session", "unix:path=/ABSOLUTE" },
                { "bus=", "unix:path=/ABSOLUTE" },
                { "bus=unix:path=relative", "unix:path=/ABSOLUTE" },
                { "bus=unix:path=/ok;tcp:host=x", "unix:path=/ABSOLUTE" },
                { "timeout=0", "from 1 to 60000" },
                { "timeout=60001", "from 1 to 60000" },
                { "timeout=nonsense", "from 1 to 60000" },
                { "timeout=-5", "from 1 to 60000" },
                { "socket=relative/path", "absolute path" },
                { "nokey=maybe", "'fail' (the default) or 'ignore'" },
        };
        key k;

        key_create_simple(&k);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char want[256];
                write_stacks_f("bus=%s timeout=1000 %s", h.bus_address, bad[i].option);
                assert_refused("root", k.password, PAM_SERVICE_ERR);

                /* The other phases: never a success either. */
                conv_data d;
                login l = {};
                pam_handle_t *pamh = NULL;
                struct pam_conv conv = { conversation, &d };
                d = (conv_data){ .password = k.password, .out = &l };
                ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh),
                                 PAM_SUCCESS);
                ck_assert_int_eq(pam_acct_mgmt(pamh, 0), PAM_SERVICE_ERR);
                ck_assert_int_eq(pam_setcred(pamh, PAM_ESTABLISH_CRED), PAM_SERVICE_ERR);
                ck_assert_int_eq(pam_open_session(pamh, 0), PAM_SERVICE_ERR);
                pam_end(pamh, PAM_SERVICE_ERR);

                snprintf(want, sizeof(want), "invalid option '%s': ", bad[i].option);
                const char *log = module_log();
                ck_assert_msg(strstr(log, want) && strstr(log, bad[i].rule),
                              "no '%s' ... '%s' in the module's log:\n%s", want, bad[i].rule, log);
                free(harness_syslog_text(true));
        }

        /* More than 16 scopes. */
        char many[17 * 8 + 64] = "";
        for (int i = 0; i < 17; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "scope=s%d ", i);
        write_stacks_f("bus=%s %s", h.bus_address, many);
        assert_refused("root", k.password, PAM_SERVICE_ERR);

        /* The forms that are valid. */
        write_stacks_f("bus=%s;unix:abstract=accesskey-nowhere timeout=60000 scope=a:b.c_d-9 "
                       "nokey=fail socket=/nonexistent/x",
                       h.bus_address);
        ck_assert_int_eq(module_auth("root", k.password), PAM_AUTH_ERR); /* lacks the scope */
        write_stacks_f("bus=unix:abstract=accesskey-nowhere;%s timeout=1", h.bus_address);
        ck_assert_int_ne(module_auth("root", k.password), PAM_SERVICE_ERR);
        key_done(&k);
}
END_TEST

/* A password that is not a key, in every form of stack: the `required`
 * and `requisite` lines of a keys-only stack must not let it through
 * (pam_u2f's CVE-2025-23013); `sufficient` and `[success=1
 * default=ignore]` lines behave the same with nokey=fail and nokey=ignore. */
START_TEST(test_nokey_stacks) {
        char other[AK_SECRET_LEN + 1];
        key k;
        login l;
        const char *m = module_path();

        key_create_simple(&k);
        ck_assert_int_eq(ak_secret_generate(other), 0);
        char *wrong = credential_of(k.id, other);

        const char *const modes[] = { "", "nokey=fail", "service_required", "nokey=ignore" };
        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                bool ignore = streq(modes[i], "nokey=ignore");
                /* The stack: keys only, then a check that passes
                 * for root. */
                write_file("st-required",
                           "auth required %1$s bus=%2$s scope=ftp %3$s\n"
                           "auth required pam_shells.so\n",
                           m, h.bus_address, modes[i]);
                write_file("st-requisite",
                           "auth requisite %1$s bus=%2$s %3$s\n"
                           "auth required pam_permit.so\n",
                           m, h.bus_address, modes[i]);
                write_file("st-sufficient",
                           "auth sufficient %1$s bus=%2$s %3$s\n"
                           "auth required pam_deny.so\n",
                           m, h.bus_address, modes[i]);
                write_file("st-skip",
                           "auth [success=1 default=ignore] %1$s bus=%2$s %3$s\n"
                           "auth requisite pam_deny.so\n"
                           "auth required pam_permit.so\n",
                           m, h.bus_address, modes[i]);
                const char *const stacks[] = { "st-required", "st-requisite", "st-sufficient",
                                               "st-skip" };
                const char *const passwords[] = { "", "not-a-key-at-all", wrong };
                for (size_t s = 0; s < ELEMENTSOF(stacks); s++)
                        for (size_t p = 0; p < ELEMENTSOF(passwords); p++) {
                                login_run(stacks[s], "root", passwords[p], &l);
                                /* nokey=ignore is unsafe in the first two,
                                 * which is why it is not the default. */
                                bool lets_in = ignore && s < 2 && p < 2;
                                ck_assert_msg((l.auth == PAM_SUCCESS) == lets_in,
                                              "'%s', stack %s, password #%zu: %s", modes[i],
                                              stacks[s], p, pam_strerror(NULL, l.auth));
                                login_done(&l);
                        }
        }
        /* The control: the stacks do let a key in. */
        const char *const scopes[] = { "ftp", NULL };
        const ak_create_options o = { .name = "pam-ftp", .scopes = scopes };
        key f;
        key_create(&o, &f);
        login_run("st-required", "root", f.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        login_done(&l);
        login_run("st-sufficient", "root", f.password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        login_done(&l);

        key_done(&f);
        erase_and_free(wrong);
        key_done(&k);
}
END_TEST

/* Guessing is throttled per source: PAM_MAXTRIES, never a success, and the
 * owner from elsewhere still gets in. */
START_TEST(test_rate_limited) {
        char other[AK_SECRET_LEN + 1];
        key k;
        login l;

        key_create_simple(&k);
        ck_assert_int_eq(ak_secret_generate(other), 0);
        char *pw = credential_of(k.id, other);

        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(module_auth("root", pw), PAM_AUTH_ERR);
        assert_refused("root", pw, PAM_MAXTRIES);
        /* Blocked before the secret is looked at: the right one too, from
         * that source. */
        assert_refused("root", k.password, PAM_MAXTRIES);

        const attempt a = { "probe", "root", k.password, "192.0.2.11" };
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        login_done(&l);

        erase_and_free(pw);
        erase_mem(other, sizeof(other));
        key_done(&k);
}
END_TEST

/* The daemon's refusal of a rate-limited local login names the user, which
 * the client chose: the module logs it without the credential typed there. */
START_TEST(test_rate_limited_reason_redacted) {
        char other[AK_SECRET_LEN + 1];
        key k;
        login l;

        harness_capture_syslog();
        key_create_simple(&k);
        ck_assert_int_eq(ak_secret_generate(other), 0);
        char *wrong = credential_of(k.id, other);
        const attempt a = { "probe", k.password, wrong, NULL };

        for (int i = 0; i < 3; i++) {
                login_run_at(&a, &l);
                ck_assert_int_eq(l.auth, PAM_AUTH_ERR);
                login_done(&l);
        }
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_MAXTRIES);
        login_done(&l);

        char *log = harness_syslog_text(false);
        ck_assert_msg(strstr(log, "too many failed attempts") && strstr(log, REDACT_MARK),
                      "module log:\n%s", log);
        ck_assert_msg(!strstr(log, "aks_") && !strstr(log, k.secret + 4), "module log:\n%s", log);
        free(log);
        erase_and_free(wrong);
        erase_mem(other, sizeof(other));
        key_done(&k);
}
END_TEST

/* ------------------------------------- beside pam_unix, with a real user */

/* A throwaway local user with a known password, made in the parent process
 * (unchecked fixture) so that it is removed even when a test fails or
 * times out. */
static char unix_user[32];
static char unix_password[32];

static void unix_user_remove(void) {
        const char *const del[] = { "/usr/sbin/userdel", "-r", unix_user, NULL };
        char *err = NULL;

        if (!unix_user[0] || !getpwnam(unix_user))
                return;
        int r = harness_run(del, (uid_t) -1, (gid_t) -1, NULL, NULL, &err);
        if (r != 0 || getpwnam(unix_user))
                fprintf(stderr,
                        "test-pam: cannot remove user %s (userdel exited %d: %s); "
                        "remove it with 'userdel -r %s'\n",
                        unix_user, r, strempty(err), unix_user);
        free(err);
}

static void unix_user_setup(void) {
        char id[AK_ID_LEN + 1], *input = NULL, *err = NULL;

        snprintf(unix_user, sizeof(unix_user), "aktest%ld", (long) getpid());
        /* Random, and never shaped like a key. */
        ck_assert_int_eq(ak_id_generate(id), 0);
        snprintf(unix_password, sizeof(unix_password), "pw-%s", id + 2);
        unix_user_remove();

        const char *const add[] = { "/usr/sbin/useradd", "-m", "-s", "/bin/sh", unix_user, NULL };
        int r = harness_run(add, (uid_t) -1, (gid_t) -1, NULL, NULL, &err);
        ck_assert_msg(r == 0, "useradd %s exited %d: %s", unix_user, r, strempty(err));
        free(err);
        err = NULL;

        const char *const chpasswd[] = { "/usr/sbin/chpasswd", NULL };
        ck_assert_int_ge(asprintf(&input, "%s:%s\n", unix_user, unix_password), 0);
        r = harness_run(chpasswd, (uid_t) -1, (gid_t) -1, input, NULL, &err);
        free(input);
        if (r != 0)
                unix_user_remove();
        ck_assert_msg(r == 0, "chpasswd exited %d: %s", r, strempty(err));
        free(err);
}

static void unix_setup(void) {
        daemon_setup();
        const char *m = module_path();
        /* pam_unix's nodelay: no 2 s delay after each failure. */
        write_file("unix-sufficient",
                   "auth    sufficient %1$s bus=%2$s timeout=1000\n"
                   "auth    required   pam_unix.so nodelay try_first_pass\n"
                   "account sufficient %1$s bus=%2$s timeout=1000\n"
                   "account required   pam_unix.so\n",
                   m, h.bus_address);
        /* Debian's common-auth and common-account. */
        write_file("unix-debian",
                   "auth    [success=2 default=ignore] %1$s bus=%2$s timeout=1000\n"
                   "auth    [success=1 default=ignore] pam_unix.so nodelay try_first_pass\n"
                   "auth    requisite pam_deny.so\n"
                   "auth    required  pam_permit.so\n"
                   "account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\n"
                   "account requisite pam_deny.so\n"
                   "account required  pam_permit.so\n",
                   m, h.bus_address);
        /* The daemon gone: passwords still work, keys fail closed. */
        write_file("unix-nodaemon",
                   "auth    sufficient %1$s bus=" NOWHERE_BUS " timeout=500\n"
                   "auth    required   pam_unix.so nodelay try_first_pass\n"
                   "account sufficient %1$s bus=" NOWHERE_BUS " timeout=500\n"
                   "account required   pam_unix.so\n",
                   m);
        write_probe("unix-probe-nodaemon", "bus=" NOWHERE_BUS " timeout=500");
}

START_TEST(test_unix_sufficient) {
        const ak_create_options o = { .name = "pam-unix", .owner = unix_user };
        const char *const stacks[] = { "unix-sufficient", "unix-debian" };
        key k, root_key;
        login l;

        key_create(&o, &k);
        key_create_simple(&root_key);

        for (size_t i = 0; i < ELEMENTSOF(stacks); i++) {
                /* The normal password: pam_unix decides, and the daemon never
                 * hears of it. */
                size_t calls = daemon_auth_calls();
                login_run(stacks[i], unix_user, unix_password, &l);
                ck_assert_msg(l.auth == PAM_SUCCESS, "%s: password: %s", stacks[i],
                              pam_strerror(NULL, l.auth));
                ck_assert_int_eq(l.acct, PAM_SUCCESS);
                ck_assert_ptr_null(l.id_env);
                ck_assert_uint_eq(l.prompts, 1);
                login_done(&l);
                ck_assert_uint_eq(daemon_auth_calls(), calls);

                login_run(stacks[i], unix_user, "wrong-password", &l);
                ck_assert_int_ne(l.auth, PAM_SUCCESS);
                login_done(&l);
                ck_assert_uint_eq(daemon_auth_calls(), calls);

                /* The user's key. */
                login_run(stacks[i], unix_user, k.password, &l);
                ck_assert_msg(l.auth == PAM_SUCCESS, "%s: key: %s", stacks[i],
                              pam_strerror(NULL, l.auth));
                ck_assert_int_eq(l.acct, PAM_SUCCESS);
                ck_assert_str_eq(l.id_env, k.id);
                ck_assert_uint_eq(l.prompts, 1);
                login_done(&l);
                ck_assert_uint_eq(daemon_auth_calls(), calls + 1);

                /* Someone else's key, and the user's key as root: pam_unix
                 * gets the credential next and refuses it too. */
                login_run(stacks[i], unix_user, root_key.password, &l);
                ck_assert_int_ne(l.auth, PAM_SUCCESS);
                ck_assert_ptr_null(l.id_env);
                login_done(&l);
                login_run(stacks[i], "root", k.password, &l);
                ck_assert_int_ne(l.auth, PAM_SUCCESS);
                login_done(&l);
        }

        /* The module's own answer to the password: PAM_AUTH_ERR, with no
         * daemon to ask at all. */
        login_run("unix-probe-nodaemon", unix_user, unix_password, &l);
        ck_assert_int_eq(l.auth, PAM_AUTH_ERR);
        login_done(&l);

        /* No daemon: the password works, the key does not. */
        login_run("unix-nodaemon", unix_user, unix_password, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        login_done(&l);
        login_run("unix-nodaemon", unix_user, k.password, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        login_done(&l);

        key_done(&k);
        key_done(&root_key);
}
END_TEST

/* The vsftpd stack of pam_accesskey(8), with keyid_user: a deny list
 * (/etc/ftpusers) in the account phase sees the key's owner, not the key ID
 * the client typed as the user name, and refuses a key of a listed user. */
static void write_vsftpd_stacks(void) {
        const char *m = module_path();

        write_file("ftpusers", "root\ndaemon\n");
        /* As in the man page, continuation lines and all; the session lines
         * are not run here. */
        write_file("vsftpd",
                   "auth     required  pam_listfile.so item=user sense=deny \\\n"
                   "                   file=%3$s/ftpusers onerr=succeed\n"
                   "auth     [success=2 default=ignore]  %1$s bus=%2$s timeout=1000 keyid_user\n"
                   "auth     [success=1 default=ignore]  pam_unix.so nodelay try_first_pass\n"
                   "auth     requisite pam_deny.so\n"
                   "auth     required  pam_permit.so\n"
                   "auth     required  pam_shells.so\n"
                   "account  required  pam_listfile.so item=user sense=deny \\\n"
                   "                   file=%3$s/ftpusers onerr=succeed\n"
                   "account  required  %1$s bus=%2$s timeout=1000\n"
                   "account  required  pam_unix.so\n",
                   m, h.bus_address, confdir);
        /* The example before issue 13: the deny list in auth only, before
         * the module renamed the user. */
        write_file(
                "vsftpd-old",
                "auth     required  pam_listfile.so item=user sense=deny file=%3$s/ftpusers onerr=succeed\n"
                "auth     sufficient %1$s bus=%2$s timeout=1000 keyid_user\n"
                "auth     required  pam_unix.so nodelay try_first_pass\n"
                "account  required  %1$s bus=%2$s timeout=1000\n"
                "account  required  pam_unix.so\n",
                m, h.bus_address, confdir);
}

START_TEST(test_ftpusers_keyid_user) {
        const ak_create_options o = { .name = "pam-ftp-user", .owner = unix_user };
        key root_key, user_key;
        login l;

        write_vsftpd_stacks();
        key_create_simple(&root_key); /* owned by root, who is on the deny list */
        key_create(&o, &user_key);

        /* USER <key ID>, PASS <secret>: root's key is refused. */
        attempt a = { "vsftpd", root_key.id, root_key.secret, RHOST_DEFAULT };
        login_run_at(&a, &l);
        ck_assert_msg(l.auth != PAM_SUCCESS || l.acct != PAM_SUCCESS,
                      "root's key logged in over the ftp stack: auth %d, account %d", l.auth,
                      l.acct);
        ck_assert_int_eq(l.acct, PAM_AUTH_ERR); /* pam_listfile's refusal */
        login_done(&l);
        /* So is root's password-shaped attempt with the full credential. */
        a.password = root_key.password;
        login_run_at(&a, &l);
        ck_assert(l.auth != PAM_SUCCESS || l.acct != PAM_SUCCESS);
        login_done(&l);

        /* The user who is not listed logs in with a key, and by password. */
        a = (attempt){ "vsftpd", user_key.id, user_key.secret, RHOST_DEFAULT };
        login_run_at(&a, &l);
        ck_assert_msg(l.auth == PAM_SUCCESS && l.acct == PAM_SUCCESS, "auth %d, account %d: %s",
                      l.auth, l.acct, l.messages);
        ck_assert_str_eq(l.final_user, unix_user);
        login_done(&l);
        a = (attempt){ "vsftpd", unix_user, unix_password, RHOST_DEFAULT };
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        login_done(&l);
        a.password = "wrong-password";
        login_run_at(&a, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        login_done(&l);

        /* The control: the old example let root's key in. */
        a = (attempt){ "vsftpd-old", root_key.id, root_key.secret, RHOST_DEFAULT };
        login_run_at(&a, &l);
        ck_assert_int_eq(l.auth, PAM_SUCCESS);
        ck_assert_int_eq(l.acct, PAM_SUCCESS);
        ck_assert_str_eq(l.final_user, "root");
        login_done(&l);

        key_done(&root_key);
        key_done(&user_key);
}
END_TEST

/* ------------------------------------------------- without any daemon */

/* Stacks that accept keys only: an ordinary password fails, and still goes
 * nowhere (the bus does not exist, so asking would be UNAVAIL). */
START_TEST(test_service_required) {
        const char *const opts[] = { "service_required", "strict" };
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        login l;

        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        char *pw = credential_of(id, secret);

        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                write_stacks_f("bus=" NOWHERE_BUS " timeout=500 %s", opts[i]);
                assert_refused("root", "hunter2", PAM_AUTH_ERR);
                assert_refused("root", "", PAM_AUTH_ERR);
                assert_refused("root", secret, PAM_AUTH_ERR);
                login_run("probe", "root", "hunter2", &l);
                ck_assert_int_eq(l.auth, PAM_AUTH_ERR);
                ck_assert_uint_lt(l.elapsed_usec, 200 * USEC_PER_MSEC);
                login_done(&l);
                /* The control: a key does go to the (missing) daemon. */
                assert_refused("root", pw, PAM_AUTHINFO_UNAVAIL);
        }

        /* With keyid_user too: a key ID as the user and no secret. */
        write_stacks("bus=" NOWHERE_BUS " timeout=500 keyid_user service_required");
        const attempt a = { "probe", id, "hunter2", RHOST_DEFAULT };
        assert_refused_at(&a, PAM_AUTH_ERR);
        const attempt b = { "probe", id, secret, RHOST_DEFAULT };
        assert_refused_at(&b, PAM_AUTHINFO_UNAVAIL);

        erase_and_free(pw);
}
END_TEST

START_TEST(test_unreachable) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        login l;

        /* The control for the tests below: a well-formed credential does go
         * to the (missing) daemon and comes back unavailable, fast. */
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        char *pw = credential_of(id, secret);
        login_run("probe", "root", pw, &l);
        ck_assert_int_eq(l.auth, PAM_AUTHINFO_UNAVAIL);
        ck_assert_uint_lt(l.elapsed_usec, 1500 * USEC_PER_MSEC);
        login_done(&l);
        assert_refused("root", pw, PAM_AUTHINFO_UNAVAIL);
        erase_and_free(pw);
}
END_TEST

START_TEST(test_bad_checksum) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];

        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        /* A typo in the random part; base62 stays base62. */
        secret[10] = secret[10] == 'a' ? 'b' : 'a';
        ck_assert_int_eq(ak_secret_check(secret), -EBADMSG);
        char *pw = credential_of(id, secret);

        /* PAM_AUTH_ERR, not PAM_AUTHINFO_UNAVAIL: no daemon was asked. */
        assert_refused("root", pw, PAM_AUTH_ERR);
        erase_and_free(pw);
}
END_TEST

START_TEST(test_normal_password) {
        char *big = malloc(64 * 1024 + 1);
        ck_assert_ptr_nonnull(big);
        memset(big, 'x', 64 * 1024);
        big[64 * 1024] = 0;

        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        char *no_colon = NULL, *extra = NULL, *lower = NULL;
        ck_assert_int_ge(asprintf(&no_colon, "%s%s", id, secret), 0);
        ck_assert_int_ge(asprintf(&extra, "%s:%s ", id, secret), 0);
        ck_assert_int_ge(asprintf(&lower, "ak%s:%s", id + 2, secret), 0);

        /* PAM_AUTH_ERR, not PAM_AUTHINFO_UNAVAIL: no daemon was asked.
         * With nokey=ignore, PAM_IGNORE, and still no daemon. */
        const char *const passwords[] = { "hunter2", "", big,    no_colon, extra,
                                          lower,     id, secret, NULL };
        for (size_t i = 0; passwords[i]; i++)
                assert_refused("root", passwords[i], PAM_AUTH_ERR);
        write_stacks("bus=" NOWHERE_BUS " timeout=500 nokey=ignore");
        for (size_t i = 0; passwords[i]; i++)
                assert_refused("root", passwords[i], PAM_IGNORE);

        free(no_colon);
        free(extra);
        free(lower);
        free(big);
}
END_TEST

static Suite *pam_suite(void) {
        Suite *s = suite_create("pam");
        TCase *tc;

        tc = tcase_create("no-daemon");
        tcase_add_checked_fixture(tc, nodaemon_setup, confdir_teardown);
        tcase_add_test(tc, test_unreachable);
        tcase_add_test(tc, test_bad_checksum);
        tcase_add_test(tc, test_normal_password);
        tcase_add_test(tc, test_service_required);
        suite_add_tcase(s, tc);

        /* A fresh bus and daemon per test: no rate limit or stopped daemon
         * carries over from one test to the next. */
        tc = tcase_create("daemon");
        tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_good_key);
        tcase_add_test(tc, test_pam_login_tool);
        tcase_add_test(tc, test_scopes);
        tcase_add_test(tc, test_wrong_secret);
        tcase_add_test(tc, test_unknown_id);
        tcase_add_test(tc, test_other_users_key);
        tcase_add_test(tc, test_deleted_key);
        tcase_add_test(tc, test_expiry_warning);
        tcase_add_test(tc, test_account_expired);
        tcase_add_test(tc, test_account_not_by_key);
        tcase_add_test(tc, test_use_first_pass);
        tcase_add_test(tc, test_unknown_option);
        tcase_add_test(tc, test_socket_option);
        tcase_add_test(tc, test_daemon_stopped);
        tcase_add_test(tc, test_daemon_hung);
        tcase_add_test(tc, test_services);
        tcase_add_test(tc, test_networks);
        tcase_add_test(tc, test_required_scope);
        tcase_add_test(tc, test_keyid_user);
        tcase_add_test(tc, test_session);
        tcase_add_test(tc, test_deactivated_key);
        tcase_add_test(tc, test_refusals_alike);
        tcase_add_test(tc, test_timing_alike);
        tcase_add_test(tc, test_nokey_stacks);
        suite_add_tcase(s, tc);

        /* The module's syslog lines, read in a mount namespace per test. */
        tc = tcase_create("logs");
        tcase_add_checked_fixture(tc, capture_setup, capture_teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_keyid_user_log);
        tcase_add_test(tc, test_no_credential_in_logs);
        tcase_add_test(tc, test_invalid_options);
        suite_add_tcase(s, tc);

        tc = tcase_create("ratelimit");
        tcase_add_checked_fixture(tc, ratelimit_setup, daemon_teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_rate_limited);
        tcase_add_test(tc, test_rate_limited_reason_redacted);
        suite_add_tcase(s, tc);

        tc = tcase_create("unix");
        tcase_add_unchecked_fixture(tc, unix_user_setup, unix_user_remove);
        tcase_add_checked_fixture(tc, unix_setup, daemon_teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_unix_sufficient);
        tcase_add_test(tc, test_ftpusers_keyid_user);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(pam_suite(), true);
}
