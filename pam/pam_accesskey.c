/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam_accesskey — log in with an access key "<ID>:<SECRET>" as the password.
 *
 * Thin on purpose (DESIGN.md "PAM module"): parse the options, read the
 * credential, ask accesskeyd through libaccesskey, turn the answer into a PAM
 * code.  No globals: every option is parsed per call and the only state that
 * outlives a call is the pam_set_data() record of a successful key login,
 * which the account phase reads.
 */
#include <errno.h>
#include <inttypes.h>
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
#include "util.h"

/* The pam_set_data() name of a login made by key, for the account phase. */
#define LOGIN_DATA "pam_accesskey_login"
/* Keys that expire sooner than this get a warning at login. */
#define EXPIRY_WARNING_USEC (UINT64_C(2) * 24 * 3600 * USEC_PER_SEC)
#define TIMEOUT_MAX_MS 60000u
#define REQUIRED_SCOPES_MAX 16

typedef struct options {
        bool debug;
        bool silent;
        unsigned timeout_ms;
        const char *bus;         /* NULL: the system bus */
        const char *socket_path; /* NULL: none, when bus is given */
        const char *scopes[REQUIRED_SCOPES_MAX + 1];
        size_t n_scopes;
} options;

typedef struct login_data {
        char id[AK_ID_LEN + 1];
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

static const char *strna(const char *s) {
        return isempty(s) ? "-" : s;
}

static void parse_options(pam_handle_t *pamh, int flags, int argc, const char **argv,
                          options *ret) {
        *ret = (options){
                .timeout_ms = AK_DEFAULT_TIMEOUT_MS,
                .silent = flags & PAM_SILENT,
        };

        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];

                if (streq(a, "debug"))
                        ret->debug = true;
                else if (streq(a, "silent") || streq(a, "quiet"))
                        ret->silent = true;
                else if (streq(a, "use_first_pass") || streq(a, "try_first_pass"))
                        /* pam_get_authtok() reads these from our argv itself. */
                        continue;
                else if (strncmp(a, "timeout=", 8) == 0) {
                        char *end = NULL;
                        errno = 0;
                        unsigned long v = strtoul(a + 8, &end, 10);
                        if (errno != 0 || end == a + 8 || *end != 0 || v == 0 || v > TIMEOUT_MAX_MS)
                                pam_syslog(
                                        pamh, LOG_ERR,
                                        "invalid option '%s': expected milliseconds between 1 and %u; "
                                        "using %u",
                                        a, TIMEOUT_MAX_MS, ret->timeout_ms);
                        else
                                ret->timeout_ms = (unsigned) v;
                } else if (strncmp(a, "bus=", 4) == 0) {
                        ret->bus = isempty(a + 4) ? NULL : a + 4;
                } else if (strncmp(a, "socket=", 7) == 0) {
                        /* A relative path would depend on the host program's
                         * working directory. */
                        if (a[7] != '/')
                                pam_syslog(
                                        pamh, LOG_ERR,
                                        "invalid option '%s': the socket path must be absolute; ignored",
                                        a);
                        else
                                ret->socket_path = a + 7;
                } else if (strncmp(a, "scope=", 6) == 0) {
                        if (isempty(a + 6) || ret->n_scopes >= REQUIRED_SCOPES_MAX)
                                pam_syslog(
                                        pamh, LOG_ERR,
                                        "invalid option '%s': empty, or more than %d scope= options; "
                                        "ignored",
                                        a, REQUIRED_SCOPES_MAX);
                        else
                                ret->scopes[ret->n_scopes++] = a + 6;
                } else
                        pam_syslog(pamh, LOG_ERR,
                                   "unknown option '%s'; ignored (see pam_accesskey(8))", a);
        }

        if (ret->debug)
                pam_syslog(pamh, LOG_DEBUG,
                           "options: timeout=%ums bus=%s socket=%s scopes=%zu silent=%s",
                           ret->timeout_ms, ret->bus ? ret->bus : "(system)",
                           strna(ret->socket_path), ret->n_scopes, ret->silent ? "yes" : "no");
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

static void format_time(uint64_t usec, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm) == 0)
                snprintf(buf, n, "@%" PRIu64, usec / USEC_PER_SEC);
}

static void login_data_free(pam_handle_t *pamh, void *data, int error_status) {
        free(data);
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
                const char *msg = ak_client_last_error(c);
                if (isempty(msg))
                        msg = ak_strerror(r);
                if (r == -ETIMEDOUT)
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

/* Checks the daemon's answer once more and publishes it to the session.
 * Returns 0 or a negative errno with reason set. */
static int accept_login(pam_handle_t *pamh, const options *o, const char *user,
                        const ak_auth_result *res, char *reason, size_t reason_len) {
        _cleanup_(freep) char *scopes = NULL;
        _cleanup_(freep) login_data *d = NULL;
        size_t len = strlen("ACCESSKEY_SCOPES=") + 1;
        uint64_t now = now_usec();
        int r;

        /* Defence in depth: the daemon compares owner and PAM user too, but a
         * key must never log in anyone but its owner even if it did not. */
        if (isempty(res->owner_name) || !streq(res->owner_name, user)) {
                snprintf(reason, reason_len, "the key belongs to %s, not to %s",
                         strna(res->owner_name), user);
                return -EACCES;
        }
        if (res->expires_at != 0 && now >= res->expires_at) {
                snprintf(reason, reason_len, "the key has expired");
                return -EKEYEXPIRED;
        }
        for (size_t i = 0; i < o->n_scopes; i++)
                if (!strv_contains(res->scopes, o->scopes[i])) {
                        snprintf(reason, reason_len,
                                 "the key lacks scope '%s' that this service requires",
                                 o->scopes[i]);
                        return -EACCES;
                }

        for (char **s = res->scopes; s && *s; s++)
                len += strlen(*s) + 1;
        scopes = malloc(len);
        if (!scopes)
                return -ENOMEM;
        char *p = stpcpy(scopes, "ACCESSKEY_SCOPES=");
        for (char **s = res->scopes; s && *s; s++)
                p = stpcpy(stpcpy(p, s == res->scopes ? "" : " "), *s);

        char idvar[sizeof("ACCESSKEY_ID=") + AK_ID_LEN];
        snprintf(idvar, sizeof(idvar), "ACCESSKEY_ID=%s", res->id);
        if (pam_putenv(pamh, idvar) != PAM_SUCCESS || pam_putenv(pamh, scopes) != PAM_SUCCESS)
                return -ENOMEM;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        memcpy(d->id, res->id, sizeof(d->id));
        d->expires_at = res->expires_at;
        r = pam_set_data(pamh, LOGIN_DATA, d, login_data_free);
        if (r != PAM_SUCCESS) {
                snprintf(reason, reason_len, "cannot keep the login for the account phase: %s",
                         pam_strerror(pamh, r));
                return -ENOMEM;
        }
        TAKE_PTR(d);

        if (res->expires_at != 0 && res->expires_at - now < EXPIRY_WARNING_USEC && !o->silent) {
                char when[64];
                format_time(res->expires_at, when, sizeof(when));
                (void) pam_info(pamh,
                                "access key %s expires on %s; ask for a new key or extend it with "
                                "'accesskeyctl update %s --expires 30d'",
                                res->id, when, res->id);
        }
        return 0;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        _cleanup_(credential_erase) credential cred = {};
        _cleanup_(ak_auth_result_freep) ak_auth_result *res = NULL;
        const void *service = NULL, *rhost = NULL, *tty = NULL;
        const char *user = NULL, *password = NULL;
        char reason[512] = "";
        options o;
        int r;

        parse_options(pamh, flags, argc, argv, &o);

        /* A key login from an earlier pam_authenticate() on this handle must
         * not vouch for this one in the account phase. */
        (void) pam_set_data(pamh, LOGIN_DATA, NULL, NULL);

        r = pam_get_user(pamh, &user, NULL);
        if (r == PAM_CONV_AGAIN)
                return PAM_INCOMPLETE;
        if (r != PAM_SUCCESS || isempty(user)) {
                pam_syslog(pamh, LOG_ERR, "cannot determine the user name: %s",
                           r != PAM_SUCCESS ? pam_strerror(pamh, r) : "empty");
                return r != PAM_SUCCESS ? r : PAM_USER_UNKNOWN;
        }

        /* With use_first_pass and no earlier password this fails without
         * asking, as in pam_unix. */
        r = pam_get_authtok(pamh, PAM_AUTHTOK, &password, NULL);
        if (r == PAM_CONV_AGAIN)
                return PAM_INCOMPLETE;
        if (r != PAM_SUCCESS || !password) {
                pam_syslog(pamh, LOG_NOTICE, "cannot get the password of user %s: %s", user,
                           r != PAM_SUCCESS ? pam_strerror(pamh, r) : "none given");
                return r != PAM_SUCCESS ? r : PAM_AUTH_ERR;
        }

        (void) pam_get_item(pamh, PAM_SERVICE, &service);
        (void) pam_get_item(pamh, PAM_RHOST, &rhost);
        (void) pam_get_item(pamh, PAM_TTY, &tty);

        r = ak_credential_split(password, strlen(password), cred.id, cred.secret);
        if (r == -EINVAL) {
                /* An ordinary password is none of our business: it is never
                 * sent anywhere, and the next module in the stack decides. */
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG,
                                   "user %s (service %s): not an access key; ignored", user,
                                   strna(service));
                return PAM_IGNORE;
        }
        if (r == -EBADMSG) {
                /* Shaped like a key, so the first AK_ID_LEN bytes are a valid
                 * ID (not secret); the checksum shows a typo and the daemon
                 * need not be asked. */
                memcpy(cred.id, password, AK_ID_LEN);
                cred.id[AK_ID_LEN] = 0;
                snprintf(reason, sizeof(reason), "the secret's checksum is wrong (mistyped?)");
        } else if (r >= 0) {
                const ak_auth_request req = {
                        .user = user,
                        .service = service,
                        .rhost = rhost,
                        .tty = tty,
                };

                r = verify_with_daemon(pamh, &o, &cred, &req, &res, reason, sizeof(reason));
                if (r >= 0)
                        r = accept_login(pamh, &o, user, res, reason, sizeof(reason));
        }

        int code = pam_code_from_errno(r);
        if (code != PAM_SUCCESS)
                /* Nothing of a refused login may reach the account phase. */
                (void) pam_set_data(pamh, LOGIN_DATA, NULL, NULL);

        pam_syslog(pamh, code == PAM_SUCCESS ? LOG_INFO : LOG_NOTICE,
                   "access key %s: user %s, service %s, rhost %s, tty %s: %s%s%s", strna(cred.id),
                   user, strna(service), strna(rhost), strna(tty),
                   code == PAM_SUCCESS ? "accepted" : pam_strerror(pamh, code),
                   reason[0] ? ": " : "", reason);
        if (o.debug && res && code == PAM_SUCCESS)
                pam_syslog(pamh, LOG_DEBUG,
                           "access key %s: owner uid %" PRIu32 ", expires at %" PRIu64, res->id,
                           res->owner_uid, res->expires_at);
        return code;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const void *d = NULL;

        /* There are no credentials to establish; answer only for our logins so
         * the stack's verdict for other logins is not ours. */
        if (pam_get_data(pamh, LOGIN_DATA, &d) != PAM_SUCCESS || !d)
                return PAM_IGNORE;
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        const void *data = NULL, *service = NULL, *user = NULL;
        options o;

        parse_options(pamh, flags, argc, argv, &o);

        if (pam_get_data(pamh, LOGIN_DATA, &data) != PAM_SUCCESS || !data) {
                if (o.debug)
                        pam_syslog(pamh, LOG_DEBUG, "not a login by access key; ignored");
                return PAM_IGNORE;
        }
        const login_data *d = data;

        (void) pam_get_item(pamh, PAM_USER, &user);
        (void) pam_get_item(pamh, PAM_SERVICE, &service);

        /* The auth phase checked everything, but an application may hold the
         * handle for long between the two calls. */
        if (d->expires_at != 0 && now_usec() >= d->expires_at) {
                char when[64];
                format_time(d->expires_at, when, sizeof(when));
                pam_syslog(pamh, LOG_NOTICE, "access key %s: user %s, service %s: expired on %s",
                           d->id, strna(user), strna(service), when);
                if (!o.silent)
                        (void) pam_error(pamh, "access key %s expired on %s; ask for a new key",
                                         d->id, when);
                return PAM_ACCT_EXPIRED;
        }
        if (o.debug)
                pam_syslog(pamh, LOG_DEBUG, "access key %s: account of user %s valid", d->id,
                           strna(user));
        return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
        return PAM_IGNORE;
}
