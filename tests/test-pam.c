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
 * Every refusal is also run in a `sufficient` stack followed by pam_deny and
 * in a `required` stack followed by pam_permit, and must not succeed there.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "accesskey.h"
#include "credential.h"
#include "harness.h"
#include "util.h"

/* Where no daemon can be: proves the module answered without asking one. */
#define NOWHERE_BUS "unix:path=/nonexistent/accesskey-test-bus"
#define SENTINEL_IGNORE PAM_MODULE_UNKNOWN

static harness h;
static char confdir[PATH_MAX];

typedef struct login {
        int auth;     /* pam_authenticate() */
        int acct;     /* pam_acct_mgmt() after a successful auth, else -1 */
        char *id_env; /* ACCESSKEY_ID of the PAM environment, or NULL */
        char *scopes_env;
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

/* The stacks every test uses, with the module's arguments args. */
static void write_stacks(const char *args) {
        const char *m = module_path();

        write_file("probe",
                   "auth    [success=done ignore=ignore default=die] %1$s %2$s\n"
                   "auth    requisite pam_debug.so auth=module_unknown\n"
                   "account [success=done ignore=ignore default=die] %1$s %2$s\n"
                   "account requisite pam_debug.so acct=module_unknown\n",
                   m, args);
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

static void login_run(const char *service, const char *user, const char *password, login *ret) {
        conv_data d = { .password = password, .out = ret };
        struct pam_conv conv = { conversation, &d };
        pam_handle_t *pamh = NULL;

        memset(ret, 0, sizeof(*ret));
        ret->acct = -1;
        ck_assert_int_eq(pam_start_confdir(service, user, &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_set_item(pamh, PAM_RHOST, "192.0.2.10"), PAM_SUCCESS);
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
        pam_end(pamh, ret->auth);

        if (streq(service, "probe")) {
                if (ret->auth == SENTINEL_IGNORE)
                        ret->auth = PAM_IGNORE;
                if (ret->acct == SENTINEL_IGNORE)
                        ret->acct = PAM_IGNORE;
        }
}

/* The module's own code for this login, via the probe stack. */
static int module_auth(const char *user, const char *password) {
        login l;
        login_run("probe", user, password, &l);
        int r = l.auth;
        login_done(&l);
        return r;
}

/* A refused login: the module says `expected`, and no stack lets it in. */
static void assert_refused(const char *user, const char *password, int expected) {
        login l;

        login_run("probe", user, password, &l);
        ck_assert_msg(l.auth == expected, "module returned %d (%s), expected %d (%s)", l.auth,
                      pam_strerror(NULL, l.auth), expected, pam_strerror(NULL, expected));
        ck_assert_ptr_null(l.id_env);
        login_done(&l);

        login_run("sufficient", user, password, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        ck_assert_ptr_null(l.id_env);
        login_done(&l);

        /* A required module that ignores the login leaves pam_permit to
         * decide, so that stack is only meaningful for refusals proper. */
        login_run(expected == PAM_IGNORE ? "only" : "required", user, password, &l);
        ck_assert_int_ne(l.auth, PAM_SUCCESS);
        ck_assert_ptr_null(l.id_env);
        login_done(&l);
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

static void daemon_setup(void) {
        confdir_setup();
        harness_start(&h, NULL);
        write_stacks_f("bus=%s timeout=1000", h.bus_address);
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

        /* After an ordinary password, which the module ignored. */
        ck_assert_int_eq(pam_start_confdir("probe", "root", &conv, confdir, &pamh), PAM_SUCCESS);
        ck_assert_int_eq(pam_authenticate(pamh, 0), SENTINEL_IGNORE);
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
        write_stacks_f("bus=%s frobnicate timeout=nonsense socket=relative/path", h.bus_address);
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

        /* An ordinary password still goes to the next module at once. */
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

/* ------------------------------------------------- without any daemon */

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

        /* PAM_IGNORE, not PAM_AUTHINFO_UNAVAIL: no daemon was asked. */
        const char *const passwords[] = { "hunter2", "", big,    no_colon, extra,
                                          lower,     id, secret, NULL };
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
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        if (geteuid() != 0) {
                fprintf(stderr,
                        "test-pam: needs root (the test bus lets only root own the daemon's name)\n");
                return 77;
        }
        SRunner *sr = srunner_create(pam_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
