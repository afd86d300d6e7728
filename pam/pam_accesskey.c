/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_accesskey — log in with an access key "<ID>:<SECRET>" as the password.
 *
 * Thin on purpose (DESIGN.md "PAM module"): parse the options, read the
 * credential, ask accesskeyd through libaccesskey, turn the answer into a PAM
 * code.  No globals: every option is parsed per call and the only state that
 * outlives a call is the pam_set_data() record of a successful key login,
 * which the account, setcred and session phases read.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "accesskey.h"
#include "credential.h"
#include "redact.h"
#include "timeutil.h"
#include "util.h"
#include "validate.h"

/* The pam_set_data() name of a login made by key. */
#define LOGIN_DATA "pam_accesskey_login"
#define ENV_ID "ACCESSKEY_ID"
#define ENV_SCOPES "ACCESSKEY_SCOPES"
#define TIMEOUT_MAX_MS 60000u
#define REQUIRED_SCOPES_MAX 16
/* A peer-chosen field as it may be logged (see redact()). */
#define LOG_FIELD_MAX 256
/* The longest path a struct sockaddr_un holds (108 bytes with its NUL). */
#define SOCKET_PATH_MAX 107

/* What a password that is not shaped like an access key gets. */
typedef enum nokey {
        /* PAM_AUTH_ERR: a `required` line of a keys-only stack must not let
         * an empty or ordinary password through (pam_u2f's CVE-2025-23013).
         * A `sufficient` or `[success=N default=ignore]` line behaves the
         * same either way. */
        NOKEY_FAIL,
        /* PAM_IGNORE: the stack's other modules alone decide. */
        NOKEY_IGNORE,
} nokey;

typedef struct options {
        bool debug;
        bool silent;
        bool keyid_user; /* the PAM user may be the key ID, the password the bare secret */
        nokey nokey;
        unsigned timeout_ms;
        const char *bus;         /* NULL: the system bus */
        const char *socket_path; /* NULL: none, when bus is given */
        const char *scopes[REQUIRED_SCOPES_MAX + 1];
        size_t n_scopes;
} options;

/* What a successful key login leaves on the handle. */
typedef struct login_data {
        char id[AK_ID_LEN + 1];
        uid_t uid;
        char *user;          /* the user logged in: the key's owner */
        char *scopes_env;    /* "ACCESSKEY_SCOPES=a b c" */
        uint64_t expires_at; /* µs since the epoch, 0: never */
} login_data;

/* The module's only copy of the secret lives here and is wiped on every
 * return path by the cleanup attribute. */
typedef struct credential {
        char id[AK_ID_LEN + 1];
        char secret[AK_SECRET_LEN + 1];
} credential;

static void credential_erase(credential *c) {
        erase_mem(c, sizeof(*c));
}

static void ak_client_closep(ak_client **c) {
        *c = ak_client_close(*c);
}

static void ak_auth_result_freep(ak_auth_result **r) {
        ak_auth_result_free(*r);
        *r = NULL;
}

static login_data *login_data_free(login_data *d) {
        if (d) {
                free(d->user);
                free(d->scopes_env);
                free(d);
        }
        return NULL;
}

static void login_data_freep(login_data **d) {
        *d = login_data_free(*d);
}

static void login_data_cleanup(pam_handle_t *pamh, void *data, int error_status) {
        login_data_free(data);
}

static const char *strna(const char *s) {
        return isempty(s) ? "-" : s;
}

/* NULL when bus= names an address that libaccesskey connects to without
 * the caller's environment, else the rule it breaks: "system", or D-Bus
 * unix addresses (alternatives separated by ';') with an absolute path= or
 * an abstract= name.  "session" is refused: it comes from the environment
 * of the program the module runs in. */
static const char *bus_rule_broken(const char *v) {
        static const char rule[] =
                "expected 'system' or unix:path=/ABSOLUTE/PATH or unix:abstract=NAME "
                "(alternatives separated by ';'); libaccesskey connects to nothing else";

        if (streq(v, "system"))
                return NULL;
        if (isempty(v))
                return rule;
        for (const char *e = v; e;) {
                const char *end = strchr(e, ';');
                size_t len = end ? (size_t) (end - e) : strlen(e);
                bool target = false;

                if (len < 5 || strncmp(e, "unix:", 5) != 0)
                        return rule;
                for (const char *kv = e + 5; kv < e + len;) {
                        const char *comma = memchr(kv, ',', (size_t) (e + len - kv));
                        size_t n = comma ? (size_t) (comma - kv) : (size_t) (e + len - kv);
                        if (n > 6 && strncmp(kv, "path=/", 6) == 0)
                                target = true;
                        else if (n > 9 && strncmp(kv, "abstract=", 9) == 0)
                                target = true;
                        else if (!(n > 5 && strncmp(kv, "guid=", 5) == 0))
                                return rule;
                        kv += n + 1;
                }
                if (!target)
                        return rule;
                e = end ? end + 1 : NULL;
        }
        return NULL;
}

/* Reads the module's arguments into *ret.  An unknown option is logged and
 * ignored; an invalid value of a known one is logged, naming the option and
 * its rule, and makes this -EINVAL: the caller then refuses with
 * PAM_SERVICE_ERR rather than guess (a dropped scope= would weaken the
 * stack, a bad bus= would look like a wrong password). */
static int parse_options(pam_handle_t *pamh, int flags, int argc, const char **argv, options *ret) {
        int r = 0;

        *ret = (options){
                .timeout_ms = AK_DEFAULT_TIMEOUT_MS,
                .silent = flags & PAM_SILENT,
        };

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];
                const char *broken = NULL;
                char rule[160];

                if (streq(a, "debug"))
                        ret->debug = true;
                else if (streq(a, "silent") || streq(a, "quiet"))
                        ret->silent = true;
                else if (streq(a, "use_first_pass") || streq(a, "try_first_pass"))
                        /* pam_get_authtok() reads these from our argv itself. */
                        continue;
                else if (streq(a, "keyid_user"))
                        ret->keyid_user = true;
                else if (streq(a, "service_required") || streq(a, "strict"))
                        /* Older names of the default. */
                        ret->nokey = NOKEY_FAIL;
                else if (strncmp(a, "nokey=", 6) == 0) {
                        if (streq(a + 6, "fail"))
                                ret->nokey = NOKEY_FAIL;
                        else if (streq(a + 6, "ignore"))
                                ret->nokey = NOKEY_IGNORE;
                        else
                                broken = "expected 'fail' (the default) or 'ignore'";
                } else if (strncmp(a, "timeout=", 8) == 0) {
                        char *end = NULL;
                        errno = 0;
                        unsigned long v = strtoul(a + 8, &end, 10);
                        if (errno != 0 || end == a + 8 || *end != 0 || a[8] == '-' || v == 0 ||
                            v > TIMEOUT_MAX_MS)
                                broken = "expected milliseconds, from 1 to 60000";
                        else
                                ret->timeout_ms = (unsigned) v;
                } else if (strncmp(a, "bus=", 4) == 0) {
                        broken = bus_rule_broken(a + 4);
                        if (!broken)
                                ret->bus = a + 4;
                } else if (strncmp(a, "socket=", 7) == 0) {
                        /* A relative path would depend on the host program's
                         * working directory. */
                        if (a[7] != '/' || strlen(a + 7) > SOCKET_PATH_MAX)
                                broken = "expected an absolute path of at most 107 bytes";
                        else
                                ret->socket_path = a + 7;
                } else if (strncmp(a, "scope=", 6) == 0) {
                        /* The daemon's own rule for a key's scopes: a scope
                         * no key can carry would refuse every key. */
                        const char *why = validate_scope(a + 6);
                        if (why) {
                                snprintf(rule, sizeof(rule),
                                         "a scope %s, as for 'accesskeyctl update --scope'", why);
                                broken = rule;
                        } else if (ret->n_scopes >= REQUIRED_SCOPES_MAX)
                                broken = "at most 16 scope= options";
                        else
                                ret->scopes[ret->n_scopes++] = a + 6;
                } else
                        pam_syslog(pamh, LOG_ERR,
                                   "unknown option '%s'; ignored (see pam_accesskey(8))", a);

                if (broken) {
                        pam_syslog(pamh, LOG_ERR,
                                   "invalid option '%s': %s; every login through this stack "
                                   "fails until it is fixed (see pam_accesskey(8))",
                                   a, broken);
                        r = -EINVAL;
                }
        }

        if (ret->debug)
                pam_syslog(pamh, LOG_DEBUG,
                           "options: timeout=%ums bus=%s socket=%s scopes=%zu silent=%s "
                           "keyid_user=%s nokey=%s",
                           ret->timeout_ms, ret->bus ? ret->bus : "(system)",
                           strna(ret->socket_path), ret->n_scopes, ret->silent ? "yes" : "no",
                           ret->keyid_user ? "yes" : "no",
                           ret->nokey == NOKEY_IGNORE ? "ignore" : "fail");
        return r;
}

/* The one place where an outcome becomes a PAM code.  Only 0 is a success:
 * anything unforeseen means the key could not be verified, which must never
 * let a login through. */
static int pam_code_from_errno(int r) {
        switch (r) {
        case 0:
                return PAM_SUCCESS;
        case -EKEYREJECTED: /* unknown ID or wrong secret, alike */
        case -EKEYEXPIRED:
        case -EKEYREVOKED:
        case -EACCES: /* refused by the key's policy, or not the key's owner */
        case -ENOENT:
        case -EINVAL:
        case -EBADMSG: /* checksum typo, caught locally */
                return PAM_AUTH_ERR;
        case -EBUSY: /* rate limited */
                return PAM_MAXTRIES;
        case -ENOMEM:
                return PAM_BUF_ERR;
        default: /* -ECONNREFUSED, -ETIMEDOUT, -EIO, … */
                return PAM_AUTHINFO_UNAVAIL;
        }
}

/* The UID of a user name through NSS: 0, -ENOENT, or another negative errno. */
static int user_to_uid(const char *name, uid_t *ret) {
        struct passwd pw, *found = NULL;
        char buf[16384];

        int e = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
        if (e != 0)
                return -e;
        if (!found)
                return -ENOENT;
        *ret = found->pw_uid;
        return 0;
}

/* Reads the credential out of the PAM user and password.  Returns 0 with
 * *ret_keyid_user telling which form was used, -EINVAL when the password is
 * not shaped like a credential (an ordinary password), -EBADMSG for a
 * checksum typo (cred->id is then set), -EACCES with reason set when the
 * parts cannot belong together. */
static int read_credential(const options *o, const char *user, const char *password,
                           credential *cred, bool *ret_keyid_user, char *reason,
                           size_t reason_len) {
        size_t len = strlen(password);
        int r;

        *ret_keyid_user = false;
        if (o->keyid_user && ak_id_is_valid(user)) {
                if (len == AK_SECRET_LEN) {
                        r = ak_secret_check(password);
                        if (r == 0 || r == -EBADMSG) {
                                memcpy(cred->id, user, AK_ID_LEN + 1);
                                if (r == 0)
                                        memcpy(cred->secret, password, AK_SECRET_LEN + 1);
                                *ret_keyid_user = true;
                                return r;
                        }
                }
                /* The full "<ID>:<SECRET>" works too, but only for the key
                 * the user name names. */
                r = ak_credential_split(password, len, cred->id, cred->secret);
                if (r == -EBADMSG) {
                        memcpy(cred->id, password, AK_ID_LEN);
                        cred->id[AK_ID_LEN] = 0;
                }
                if (r < 0)
                        return r;
                if (!streq(cred->id, user)) {
                        snprintf(reason, reason_len,
                                 "the password is a credential of access key %s, but the user "
                                 "name is access key %s",
                                 cred->id, user);
                        return -EACCES;
                }
                *ret_keyid_user = true;
                return 0;
        }

        r = ak_credential_split(password, len, cred->id, cred->secret);
        if (r == -EBADMSG) {
                /* Shaped like a key, so the first AK_ID_LEN bytes are a valid
                 * ID (not secret). */
                memcpy(cred->id, password, AK_ID_LEN);
                cred->id[AK_ID_LEN] = 0;
        }
        return r;
}

/* Asks the daemon.  The connection is private to this call and closed before
 * returning, so nothing is shared across handles or a later fork(). */
static int verify_with_daemon(pam_handle_t *pamh, const options *o, const credential *cred,
                              const ak_auth_request *req, ak_auth_result **ret, char *reason,
                              size_t reason_len) {
        _cleanup_(ak_client_closep) ak_client *c = NULL;
        int r;

        r = ak_client_open(o->bus, o->socket_path, o->timeout_ms, &c);
        if (r < 0) {
                /* Name every place that was tried, as ak_client_open() does. */
                const char *sock = o->socket_path ? o->socket_path
                                   : !o->bus      ? AK_DEFAULT_PRIVATE_SOCKET
                                                  : NULL;
                snprintf(
                        reason, reason_len,
                        "cannot reach accesskeyd on %s%s%s: %s; check 'systemctl status accesskeyd'",
                        strempty(sock), sock ? " or " : "", o->bus ? o->bus : "the system bus",
                        ak_strerror(r));
                return r;
        }
        if (o->debug)
                pam_syslog(pamh, LOG_DEBUG,
                           "access key %s: connected to accesskeyd, authenticating", cred->id);

        r = ak_authenticate(c, cred->id, cred->secret, req, ret);
        if (r < 0) {
                char shown[512];
                /* The daemon's answer may repeat what the client chose (the
                 * user of a rate-limited local login, say); it is logged. */
                const char *msg = ak_client_last_error(c);
                if (msg)
                        msg = redact(msg, shown, sizeof(shown));
                /* A timeout with a message is the daemon's own answer. */
                bool answered = !isempty(msg);
                if (!answered)
                        msg = ak_strerror(r);
                if (r == -ETIMEDOUT && !answered)
                        /* libdbus's own text for this is a paragraph of guesses. */
                        snprintf(
                                reason, reason_len,
                                "accesskeyd did not answer within %u ms; check 'systemctl status accesskeyd'",
                                o->timeout_ms);
                else if (r == -ECONNREFUSED)
                        snprintf(
                                reason, reason_len,
                                "accesskeyd is not running (%s); start it with 'systemctl start accesskeyd'",
                                msg);
                else
                        snprintf(reason, reason_len, "%s", msg);
        }
        return r;
}

/* Puts ACCESSKEY_ID and ACCESSKEY_SCOPES of a key login into the PAM
 * environment; the session phase does it again for applications that read
 * the environment only then. */
static int publish_env(pam_handle_t *pamh, const login_data *d) {
        char idvar[sizeof(ENV_ID "=") + AK_ID_LEN];

        snprintf(idvar, sizeof(idvar), ENV_ID "=%s", d->id);
        if (pam_putenv(pamh, idvar) != PAM_SUCCESS ||
            pam_putenv(pamh, d->scopes_env) != PAM_SUCCESS)
                return -ENOMEM;
        return 0;
}

/* Forgets any key login on the handle: a refused or repeated authentication
 * must not leave an earlier one's data or variables behind. */
static void unpublish(pam_handle_t *pamh) {
        (void) pam_set_data(pamh, LOGIN_DATA, NULL, NULL);
        /* A name without '=' removes the variable; only when it is there,
         * since libpam logs an error for removing one that is not. */
        if (pam_getenv(pamh, ENV_ID))
                (void) pam_putenv(pamh, ENV_ID);
        if (pam_getenv(pamh, ENV_SCOPES))
                (void) pam_putenv(pamh, ENV_SCOPES);
}

static int scopes_env_new(char *const *scopes, char **ret) {
        size_t len = strlen(ENV_SCOPES "=") + 1;

        for (char *const *s = scopes; s && *s; s++)
                len += strlen(*s) + 1;
        char *buf = malloc(len);
        if (!buf)
                return -ENOMEM;
        char *p = stpcpy(buf, ENV_SCOPES "=");
        for (char *const *s = scopes; s && *s; s++)
                p = stpcpy(stpcpy(p, s == scopes ? "" : " "), *s);
        *ret = buf;
        return 0;
}

/* Checks the daemon's answer once more and publishes it: environment, the
 * record for the later phases and, for a login by key ID, PAM_USER.  Returns
 * 0 or a negative errno with reason set. */
static int accept_login(pam_handle_t *pamh, const options *o, const char *user, bool keyid_user,
                        const credential *cred, const ak_auth_result *res, char *reason,
                        size_t reason_len) {
        _cleanup_(login_data_freep) login_data *d = NULL;
        uint64_t now = now_usec();
        uid_t uid = (uid_t) -1;
        int r;

        /* Defence in depth: the daemon checks all of this too, but a key must
         * never log in anyone but its owner even if it did not.  The user who
         * logs in is compared by UID, as the daemon does; with keyid_user it
         * is the owner the daemon named, and only if that name still is the
         * owner's UID on this host. */
        if (!streq(res->id, cred->id)) {
                snprintf(reason, reason_len, "accesskeyd answered for key %s, not %s",
                         strna(res->id), cred->id);
                return -EACCES;
        }
        const char *login_user = keyid_user ? res->owner_name : user;
        if (isempty(login_user)) {
                snprintf(reason, reason_len, "access key %s: accesskeyd named no owner", cred->id);
                return -EACCES;
        }
        r = user_to_uid(login_user, &uid);
        if (r < 0 || uid != (uid_t) res->owner_uid) {
                char shown[LOG_FIELD_MAX];
                snprintf(reason, reason_len,
                         "access key %s belongs to UID %" PRIu32 " (%s), and user %s %s", cred->id,
                         res->owner_uid, strna(res->owner_name),
                         redact(login_user, shown, sizeof(shown)),
                         r == -ENOENT ? "does not exist"
                         : r < 0      ? "cannot be looked up"
                                      : "is not that UID");
                return -EACCES;
        }
        if (res->expires_at != 0 && now >= res->expires_at) {
                snprintf(reason, reason_len, "access key %s has expired", cred->id);
                return -EKEYEXPIRED;
        }

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        memcpy(d->id, res->id, sizeof(d->id));
        d->uid = uid;
        d->expires_at = res->expires_at;
        d->user = strdup(login_user);
        if (!d->user || scopes_env_new(res->scopes, &d->scopes_env) < 0)
                return -ENOMEM;

        /* On any failure from here the caller unpublishes what was set. */
        if (publish_env(pamh, d) < 0)
                return -ENOMEM;
        r = pam_set_data(pamh, LOGIN_DATA, d, login_data_cleanup);
        if (r != PAM_SUCCESS) {
                snprintf(reason, reason_len, "cannot keep the login for the later phases: %s",
                         pam_strerror(pamh, r));
                return -ENOMEM;
        }
        const login_data *kept = TAKE_PTR(d);
        if (keyid_user) {
                /* Last, so that no failure leaves the owner as the user; and
                 * only ever the owner from the daemon's answer, checked
                 * above. */
                r = pam_set_item(pamh, PAM_USER, kept->user);
                if (r != PAM_SUCCESS) {
                        snprintf(reason, reason_len, "cannot set the user to %s: %s", kept->user,
                                 pam_strerror(pamh, r));
                        return -ENOMEM;
                }
        }

        if (res->expires_soon && res->expires_at != 0 && !o->silent) {
                char buf[32];
                (void) pam_info(pamh,
                                "access key %s expires on %s; ask for a new key or extend it with "
                                "'accesskeyctl update %s --expires 30d'",
                                res->id, format_time(res->expires_at, buf), res->id);
        }
        return 0;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        _cleanup_(credential_erase) credential cred = {};
        _cleanup_(ak_auth_result_freep) ak_auth_result *res = NULL;
        const void *service = NULL, *rhost = NULL, *tty = NULL, *ruser = NULL;
        const char *user = NULL, *password = NULL;
        /* What is logged of the fields a peer chose: copies, because a login
         * by key ID replaces (and libpam frees) the PAM user before the
         * final line, and redacted, because a credential may have been
         * typed into any of them. */
        char user_log[LOG_FIELD_MAX], service_log[LOG_FIELD_MAX], rhost_log[LOG_FIELD_MAX],
                tty_log[LOG_FIELD_MAX];
        bool keyid_user = false, proven = false;
        char reason[512] = "";
        options o;
        int r;

        /* A key login from an earlier pam_authenticate() on this handle must
         * not vouch for this one in the later phases. */
        unpublish(pamh);

        if (parse_options(pamh, flags, argc, argv, &o) < 0)
                return PAM_SERVICE_ERR;

        r = pam_get_user(pamh, &user, NULL);
        if (r == PAM_CONV_AGAIN)
                return PAM_INCOMPLETE;
        if (r != PAM_SUCCESS || isempty(user)) {
                pam_syslog(pamh, LOG_ERR, "cannot determine the user name: %s",
                           r != PAM_SUCCESS ? pam_strerror(pamh, r) : "empty");
                return r != PAM_SUCCESS ? r : PAM_USER_UNKNOWN;
        }
        redact(user, user_log, sizeof(user_log));

        /* With use_first_pass and no earlier password this fails without
         * asking, as in pam_unix. */
        r = pam_get_authtok(pamh, PAM_AUTHTOK, &password, NULL);
        if (r == PAM_CONV_AGAIN)
                return PAM_INCOMPLETE;
        if (r != PAM_SUCCESS || !password) {
                pam_syslog(pamh, LOG_NOTICE, "cannot get the password of user %s: %s", user_log,
                           r != PAM_SUCCESS ? pam_strerror(pamh, r) : "none given");
                return r != PAM_SUCCESS ? r : PAM_AUTH_ERR;
        }

        (void) pam_get_item(pamh, PAM_SERVICE, &service);
        (void) pam_get_item(pamh, PAM_RHOST, &rhost);
        (void) pam_get_item(pamh, PAM_TTY, &tty);
        (void) pam_get_item(pamh, PAM_RUSER, &ruser);
        redact(service, service_log, sizeof(service_log));
        redact(rhost, rhost_log, sizeof(rhost_log));
        redact(tty, tty_log, sizeof(tty_log));

        r = read_credential(&o, user, password, &cred, &keyid_user, reason, sizeof(reason));
        if (r == -EINVAL) {
                /* An ordinary password is none of our business: it is never
                 * sent anywhere, and logged only as a fact with debug (the
                 * module usually sits before pam_unix, and a line for every
                 * password login would be noise).  Whether the stack goes
                 * on without us is nokey='s to say. */
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG,
                                   "user %s, service %s: the password is not an access key; %s",
                                   user_log, strna(service_log),
                                   o.nokey == NOKEY_IGNORE ? "ignored (nokey=ignore)"
                                                           : "refused (nokey=fail)");
                return o.nokey == NOKEY_IGNORE ? PAM_IGNORE : PAM_AUTH_ERR;
        }
        if (r == -EBADMSG)
                /* The checksum shows a typo: the daemon need not be asked. */
                snprintf(reason, sizeof(reason), "the secret's checksum is wrong (mistyped?)");
        else if (r >= 0) {
                const ak_auth_request req = {
                        .user = user,
                        .service = service,
                        .rhost = rhost,
                        .tty = tty,
                        .keyid_user = keyid_user,
                        /* The daemon refuses a key lacking one, and says so. */
                        .scopes = o.scopes,
                        /* Who ran su or sudo: their guessing is theirs. */
                        .ruser = ruser,
                };

                r = verify_with_daemon(pamh, &o, &cred, &req, &res, reason, sizeof(reason));
                /* Only these answers come after the daemon proved the secret;
                 * an unknown ID and a wrong secret are both -EKEYREJECTED and
                 * tell the user nothing more. */
                proven = r >= 0 || r == -EACCES || r == -EKEYEXPIRED || r == -EKEYREVOKED;
                if (r >= 0)
                        r = accept_login(pamh, &o, user, keyid_user, &cred, res, reason,
                                         sizeof(reason));
                /* From here `user` may be freed: PAM_USER is the owner. */
                user = NULL;
        }

        int code = pam_code_from_errno(r);
        if (code != PAM_SUCCESS)
                /* Nothing of a refused login may reach the later phases. */
                unpublish(pamh);

        pam_syslog(pamh, code == PAM_SUCCESS ? LOG_INFO : LOG_NOTICE,
                   "access key %s: user %s, service %s, rhost %s, tty %s: %s%s%s%s%s",
                   strna(cred.id), user_log, strna(service_log), strna(rhost_log), strna(tty_log),
                   code == PAM_SUCCESS ? "accepted" : pam_strerror(pamh, code),
                   code == PAM_SUCCESS && keyid_user ? " as " : "",
                   code == PAM_SUCCESS && keyid_user && res ? res->owner_name : "",
                   reason[0] ? ": " : "", reason);
        if (code != PAM_SUCCESS && proven && !o.silent && reason[0])
                (void) pam_error(pamh, "%s", reason);
        if (o.debug && res && code == PAM_SUCCESS)
                pam_syslog(pamh, LOG_DEBUG,
                           "access key %s: owner uid %" PRIu32 ", expires at %" PRIu64, res->id,
                           res->owner_uid, res->expires_at);
        return code;
}

/* The key login this handle holds, or NULL. */
static const login_data *get_login(pam_handle_t *pamh) {
        const void *d = NULL;

        if (pam_get_data(pamh, LOGIN_DATA, &d) != PAM_SUCCESS)
                return NULL;
        return d;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const login_data *d = get_login(pamh);
        options o;

        /* A broken configuration is never a success, here either. */
        if (parse_options(pamh, flags, argc, argv, &o) < 0)
                return PAM_SERVICE_ERR;

        /* Answer only for our logins, so the stack's verdict for other
         * logins is not ours.  A key has no credentials to establish beyond
         * the environment. */
        if (!d)
                return PAM_IGNORE;
        if (!(flags & PAM_DELETE_CRED) && publish_env(pamh, d) < 0)
                return PAM_BUF_ERR;
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const void *service = NULL, *user = NULL;
        const login_data *d = get_login(pamh);
        options o;

        /* A broken configuration is never a success, here either. */
        if (parse_options(pamh, flags, argc, argv, &o) < 0)
                return PAM_SERVICE_ERR;

        if (!d) {
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "not a login by access key; ignored");
                return PAM_IGNORE;
        }

        (void) pam_get_item(pamh, PAM_USER, &user);
        (void) pam_get_item(pamh, PAM_SERVICE, &service);

        /* The key vouched for its owner only: if something changed the user
         * since, this account is not the one the key logged in. */
        if (isempty(user) || !streq(user, d->user)) {
                pam_syslog(pamh, LOG_ERR,
                           "access key %s: logged in user %s, but the user is now %s; refused",
                           d->id, d->user, strna(user));
                return PAM_PERM_DENIED;
        }

        /* The auth phase checked everything, but an application may hold the
         * handle for long between the two calls. */
        if (d->expires_at != 0 && now_usec() >= d->expires_at) {
                char buf[32];
                const char *when = format_time(d->expires_at, buf);
                pam_syslog(pamh, LOG_NOTICE, "access key %s: user %s, service %s: expired on %s",
                           d->id, d->user, strna(service), when);
                if (!o.silent)
                        (void) pam_error(pamh, "access key %s expired on %s; ask for a new key",
                                         d->id, when);
                return PAM_ACCT_EXPIRED;
        }
        if (o.debug)
                pam_syslog(pamh, LOG_DEBUG, "access key %s: account of user %s valid", d->id,
                           d->user);
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const login_data *d = get_login(pamh);
        options o;

        /* A broken configuration is never a success, here either. */
        if (parse_options(pamh, flags, argc, argv, &o) < 0)
                return PAM_SERVICE_ERR;

        if (!d) {
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "not a login by access key; ignored");
                return PAM_IGNORE;
        }
        if (publish_env(pamh, d) < 0) {
                pam_syslog(pamh, LOG_ERR, "access key %s: cannot set %s and %s: out of memory",
                           d->id, ENV_ID, ENV_SCOPES);
                return PAM_BUF_ERR;
        }
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        return PAM_IGNORE;
}

/* A secret is changed with 'accesskeyctl rotate', never through PAM, so the
 * module may sit in a password stack without a say. */
PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        return PAM_IGNORE;
}
