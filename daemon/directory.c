/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The LDAP session of fleet mode: connect, protect, bind, check, and the
 * RFC 4533 sync session read message by message (directory.h says why not
 * through ldap_sync_*()).  Entries are turned into keys by
 * directory-entry.c.
 */
#define LDAP_DEPRECATED 0
#include "directory.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ldap.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define PROBE_INTERVAL_DEFAULT_MS 30000
#define PASSWORD_MAX 1024

struct directory {
        LDAP *ld;
        char *uri, *base;
        unsigned timeout_ms, probe_interval_ms;
        int sync_msgid;  /* -1: no session */
        int probe_msgid; /* -1: no probe in flight */
        uint64_t last_heard, probe_sent;
        bool had_cookie;    /* the refresh started from a cookie */
        bool present_phase; /* the refresh sent a present phase */
};

/* Every attribute a host reads; the sync search asks for these alone. */
static char *const wanted[] = {
        "accessKeyId",          "accessKeyOwner",          "accessKeyVerifier",      "accessKeyPepperVersion",
        "accessKeyState",       "accessKeyDeactivatedBy",  "accessKeyLocked",        "accessKeyExpires",
        "accessKeyService",     "accessKeyNetwork",        "accessKeyScope",         "accessKeyHostGroup",
        "accessKeyName",        "description",             "accessKeyCreatedBy",     "accessKeyCreatedAt",
        "accessKeyUpdatedBy",   "accessKeyUpdatedAt",      "accessKeyRotatedAt",     "accessKeyPreviousVerifier",
        "accessKeyPreviousUntil", NULL,
};

static int say(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (ret_error && vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

/* libldap's own words for the last failure on ld, with the server's
 * diagnostic message when it sent one. */
static const char *ldap_reason(LDAP *ld, int rc, char *buf, size_t n) {
        char *diag = NULL;
        (void) ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
        if (!isempty(diag))
                snprintf(buf, n, "%s: %s", ldap_err2string(rc), diag);
        else
                snprintf(buf, n, "%s", ldap_err2string(rc));
        ldap_memfree(diag);
        return buf;
}

static bool address_is_loopback(const struct sockaddr *sa) {
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
                if (IN6_IS_ADDR_LOOPBACK(a))
                        return true;
                return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
        }
        return false;
}

/* Whether every address host resolves to is this machine's loopback: only
 * then may plain LDAP carry a password and verifiers. */
static bool host_is_loopback(const char *host) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
        if (isempty(host))
                return true; /* libldap's default: localhost */
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
                return false;
        bool all = true;
        for (struct addrinfo *p = res; p; p = p->ai_next)
                all = all && address_is_loopback(p->ai_addr);
        freeaddrinfo(res);
        return all;
}

/* Reads the bind password from a file only root may read or change. */
static int read_password(const char *path, char **ret, char **ret_error) {
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        if (fd < 0)
                return say(ret_error, -errno, "cannot open DirectoryPasswordFile %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return say(ret_error, -errno, "cannot read DirectoryPasswordFile %s: %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077))
                return say(ret_error, -EPERM,
                           "DirectoryPasswordFile %s must be a regular file owned by root that only root may "
                           "read (chown root: %s; chmod 600 %s)",
                           path, path, path);
        _cleanup_(erase_and_freep) char *buf = calloc(1, PASSWORD_MAX + 1);
        if (!buf)
                return -ENOMEM;
        size_t n = 0;
        for (;;) {
                ssize_t k = read(fd, buf + n, PASSWORD_MAX + 1 - n);
                if (k < 0)
                        return say(ret_error, -errno, "cannot read DirectoryPasswordFile %s: %s", path,
                                   strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > PASSWORD_MAX)
                        return say(ret_error, -EINVAL, "DirectoryPasswordFile %s is longer than %d bytes", path,
                                   PASSWORD_MAX);
        }
        /* One trailing newline is the editor's, not the password's. */
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r')
                buf[--n] = '\0';
        if (n == 0 || memchr(buf, '\0', n))
                return say(ret_error, -EINVAL, "DirectoryPasswordFile %s holds no password (or a NUL byte)",
                           path);
        *ret = TAKE_PTR(buf);
        return 0;
}

static int set_options(directory *d, const directory_settings *s, char **ret_error) {
        int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
        int idle = 20, probes = 3, interval = 10;
        struct timeval tv = { .tv_sec = d->timeout_ms / 1000, .tv_usec = (d->timeout_ms % 1000) * 1000 };
        char buf[256];
        int rc;

        if ((rc = ldap_set_option(d->ld, LDAP_OPT_PROTOCOL_VERSION, &v3)) != LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) != LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)) != LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_TIMEOUT, &tv)) != LDAP_OPT_SUCCESS ||
            /* A peer that vanished without a word is noticed in about a
             * minute even when no probe is in flight. */
            (rc = ldap_set_option(d->ld, LDAP_OPT_X_KEEPALIVE_IDLE, &idle)) != LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_X_KEEPALIVE_PROBES, &probes)) != LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_X_KEEPALIVE_INTERVAL, &interval)) != LDAP_OPT_SUCCESS)
                return say(ret_error, -EINVAL, "cannot set up the LDAP connection to %s: %s", d->uri,
                           ldap_reason(d->ld, rc, buf, sizeof(buf)));
        if ((s->ca_certificate &&
             (rc = ldap_set_option(d->ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_certificate)) != LDAP_OPT_SUCCESS) ||
            (s->certificate &&
             (rc = ldap_set_option(d->ld, LDAP_OPT_X_TLS_CERTFILE, s->certificate)) != LDAP_OPT_SUCCESS) ||
            (s->key && (rc = ldap_set_option(d->ld, LDAP_OPT_X_TLS_KEYFILE, s->key)) != LDAP_OPT_SUCCESS) ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand)) != LDAP_OPT_SUCCESS ||
            (rc = ldap_set_option(d->ld, LDAP_OPT_X_TLS_NEWCTX, &zero)) != LDAP_OPT_SUCCESS)
                return say(ret_error, -EINVAL,
                           "cannot set up TLS for %s with DirectoryCACertificate/DirectoryCertificate/"
                           "DirectoryKey: %s; check that the files exist and are PEM",
                           d->uri, ldap_reason(d->ld, rc, buf, sizeof(buf)));
        return 0;
}

static int bind_as(directory *d, const directory_settings *s, bool local_socket, char **ret_error) {
        struct berval cred = {};
        char buf[256];
        int rc;

        if (s->bind_dn) {
                _cleanup_(erase_and_freep) char *password = NULL;
                if (!s->password_file)
                        return say(ret_error, -EINVAL,
                                   "DirectoryBindDN is set without DirectoryPasswordFile: name the file that holds "
                                   "its password");
                int r = read_password(s->password_file, &password, ret_error);
                if (r < 0)
                        return r;
                cred.bv_val = password;
                cred.bv_len = strlen(password);
                rc = ldap_sasl_bind_s(d->ld, s->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
                if (rc == LDAP_INVALID_CREDENTIALS)
                        return say(ret_error, -EACCES,
                                   "the directory %s refused DirectoryBindDN %s with the password in %s (invalid "
                                   "credentials): check both",
                                   d->uri, s->bind_dn, s->password_file);
        } else if (s->certificate || local_socket) {
                /* SASL EXTERNAL: the identity is the TLS client certificate,
                 * or over ldapi:// this process's UID. */
                rc = ldap_sasl_bind_s(d->ld, NULL, "EXTERNAL", &cred, NULL, NULL, NULL);
        } else {
                return say(ret_error, -EINVAL,
                           "no credentials for the directory %s: set DirectoryBindDN and DirectoryPasswordFile, "
                           "or DirectoryCertificate and DirectoryKey (SASL EXTERNAL)",
                           d->uri);
        }
        if (rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR)
                return say(ret_error, -EHOSTUNREACH, "cannot reach the directory %s: %s", d->uri,
                           ldap_reason(d->ld, rc, buf, sizeof(buf)));
        if (rc != LDAP_SUCCESS)
                return say(ret_error, -EACCES, "the directory %s refused the bind%s%s: %s", d->uri,
                           s->bind_dn ? " as " : "", strempty(s->bind_dn), ldap_reason(d->ld, rc, buf, sizeof(buf)));
        return 0;
}

static struct timeval timeval_of(unsigned ms) {
        return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* The base must exist and be readable: a typo would otherwise look like a
 * directory without keys, and every host would drop its copies. */
static int check_base(directory *d, char **ret_error) {
        char *attrs[] = { LDAP_NO_ATTRS, NULL }, buf[256];
        struct timeval tv = timeval_of(d->timeout_ms);
        LDAPMessage *res = NULL;
        int rc = ldap_search_ext_s(d->ld, d->base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL, &tv, 1,
                                   &res);
        int n = rc == LDAP_SUCCESS ? ldap_count_entries(d->ld, res) : 0;
        ldap_msgfree(res);
        if (rc == LDAP_NO_SUCH_OBJECT || (rc == LDAP_SUCCESS && n != 1))
                return say(ret_error, -ENOENT,
                           "DirectoryBase %s does not exist in the directory %s, or this host may not read it: "
                           "check the DN and the directory's access rules",
                           d->base, d->uri);
        if (rc != LDAP_SUCCESS)
                return say(ret_error, -EIO, "cannot read DirectoryBase %s in the directory %s: %s", d->base, d->uri,
                           ldap_reason(d->ld, rc, buf, sizeof(buf)));
        return 0;
}

/* The directory's schema must define the accessKey class: without it the
 * sync search finds nothing, which looks like a fleet without keys. */
static int check_schema(directory *d, char **ret_error) {
        char *root_attrs[] = { "subschemaSubentry", NULL }, *schema_attrs[] = { "objectClasses", NULL };
        struct timeval tv = timeval_of(d->timeout_ms);
        LDAPMessage *res = NULL;
        char *subschema = NULL, buf[256];
        bool found = false;

        int rc = ldap_search_ext_s(d->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", root_attrs, 0, NULL, NULL, &tv, 1,
                                   &res);
        if (rc == LDAP_SUCCESS) {
                LDAPMessage *e = ldap_first_entry(d->ld, res);
                struct berval **v = e ? ldap_get_values_len(d->ld, e, "subschemaSubentry") : NULL;
                if (v && v[0])
                        subschema = strndup(v[0]->bv_val, v[0]->bv_len);
                ldap_value_free_len(v);
        }
        ldap_msgfree(res);
        res = NULL;
        if (!subschema)
                subschema = strdup("cn=Subschema");
        if (!subschema)
                return -ENOMEM;
        rc = ldap_search_ext_s(d->ld, subschema, LDAP_SCOPE_BASE, "(objectClass=subschema)", schema_attrs, 0, NULL,
                               NULL, &tv, 1, &res);
        free(subschema);
        if (rc == LDAP_SUCCESS) {
                LDAPMessage *e = ldap_first_entry(d->ld, res);
                struct berval **v = e ? ldap_get_values_len(d->ld, e, "objectClasses") : NULL;
                for (size_t i = 0; v && v[i] && !found; i++) {
                        /* "( 2.25.….2.1 NAME 'accessKey' …" */
                        const char *p = v[i]->bv_val;
                        size_t len = strlen(DIRECTORY_CLASS_OID);
                        while (*p == '(' || *p == ' ')
                                p++;
                        found = strncmp(p, DIRECTORY_CLASS_OID, len) == 0 && p[len] == ' ';
                }
                ldap_value_free_len(v);
        }
        ldap_msgfree(res);
        if (rc != LDAP_SUCCESS)
                return say(ret_error, -EIO, "cannot read the schema of the directory %s: %s", d->uri,
                           ldap_reason(d->ld, rc, buf, sizeof(buf)));
        if (!found)
                return say(ret_error, -ENOENT,
                           "the directory %s does not know the accessKey object class (%s): load "
                           "/usr/share/accesskey/ldap/accesskey.ldif (cn=config) or accesskey.schema into it",
                           d->uri, DIRECTORY_CLASS_OID);
        return 0;
}

int directory_open(const directory_settings *s, directory **ret, char **ret_error) {
        LDAPURLDesc *lud = NULL;
        char buf[256];
        int r, rc;

        if (ret_error)
                *ret_error = NULL;
        if (isempty(s->uri) || isempty(s->base))
                return say(ret_error, -EINVAL, "Directory and DirectoryBase must both be set");
        if (ldap_url_parse(s->uri, &lud) != LDAP_URL_SUCCESS || lud->lud_next ||
            (!streq(lud->lud_scheme, "ldap") && !streq(lud->lud_scheme, "ldaps") &&
             !streq(lud->lud_scheme, "ldapi"))) {
                ldap_free_urldesc(lud);
                return say(ret_error, -EINVAL,
                           "Directory %s is not one LDAP URI: use ldaps://HOST, ldap://HOST (with StartTLS) or "
                           "ldapi://PATH",
                           s->uri);
        }
        bool plain = streq(lud->lud_scheme, "ldap"), local_socket = streq(lud->lud_scheme, "ldapi");
        bool loopback = plain && host_is_loopback(lud->lud_host);
        ldap_free_urldesc(lud);

        _cleanup_(directory_closep) directory *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->sync_msgid = d->probe_msgid = -1;
        d->timeout_ms = s->timeout_ms ? s->timeout_ms : 10000;
        d->probe_interval_ms = s->probe_interval_ms ? s->probe_interval_ms : PROBE_INTERVAL_DEFAULT_MS;
        if (!(d->uri = strdup(s->uri)) || !(d->base = strdup(s->base)))
                return -ENOMEM;
        if ((rc = ldap_initialize(&d->ld, s->uri)) != LDAP_SUCCESS)
                return say(ret_error, -EINVAL, "Directory %s: %s", s->uri, ldap_err2string(rc));
        if ((r = set_options(d, s, ret_error)) < 0)
                return r;
        /* Plain LDAP beyond this machine would carry the bind password and
         * the verifiers in the clear: StartTLS, or nothing.  With a client
         * certificate TLS is needed anyway. */
        if (plain && (!loopback || s->certificate)) {
                rc = ldap_start_tls_s(d->ld, NULL, NULL);
                if (rc != LDAP_SUCCESS)
                        return say(ret_error, rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ? -EHOSTUNREACH
                                                                                                 : -EPROTO,
                                   "StartTLS with the directory %s failed (%s); plain ldap:// is used only with "
                                   "this host's loopback address: make the server offer TLS, or use ldaps://",
                                   s->uri, ldap_reason(d->ld, rc, buf, sizeof(buf)));
        }
        if ((r = bind_as(d, s, local_socket, ret_error)) < 0 || (r = check_base(d, ret_error)) < 0 ||
            (r = check_schema(d, ret_error)) < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

directory *directory_close(directory *d) {
        if (!d)
                return NULL;
        if (d->ld)
                (void) ldap_unbind_ext(d->ld, NULL, NULL);
        free(d->uri);
        free(d->base);
        free(d);
        return NULL;
}

void directory_event_clear(directory_event *ev) {
        directory_key_free(ev->key);
        free(ev->uuids);
        free(ev->dn);
        free(ev->reason);
        free(ev->cookie);
        *ev = (directory_event){};
}

int directory_sync_start(directory *d, const uint8_t *cookie, size_t cookie_len, char **ret_error) {
        BerElement *ber = ber_alloc_t(LBER_USE_DER);
        LDAPControl ctrl = { .ldctl_oid = LDAP_CONTROL_SYNC, .ldctl_iscritical = 1 }, *ctrls[] = { &ctrl, NULL };
        struct berval bv = { .bv_len = cookie_len, .bv_val = (char *) cookie };
        char buf[256];
        int rc;

        if (ret_error)
                *ret_error = NULL;
        if (!ber)
                return -ENOMEM;
        /* syncRequestValue: mode, the cookie if any; reloadHint left at its
         * default (FALSE), which DER omits. */
        rc = cookie ? ber_printf(ber, "{eO}", (ber_int_t) LDAP_SYNC_REFRESH_AND_PERSIST, &bv)
                    : ber_printf(ber, "{e}", (ber_int_t) LDAP_SYNC_REFRESH_AND_PERSIST);
        if (rc < 0 || ber_flatten2(ber, &ctrl.ldctl_value, 0) < 0) {
                ber_free(ber, 1);
                return -ENOMEM;
        }
        rc = ldap_search_ext(d->ld, d->base, LDAP_SCOPE_SUBTREE, "(objectClass=accessKey)", (char **) wanted, 0,
                             ctrls, NULL, NULL, 0, &d->sync_msgid);
        ber_free(ber, 1);
        if (rc != LDAP_SUCCESS) {
                d->sync_msgid = -1;
                return say(ret_error, -ECONNRESET, "cannot start the sync session with the directory %s: %s", d->uri,
                           ldap_reason(d->ld, rc, buf, sizeof(buf)));
        }
        d->had_cookie = cookie != NULL;
        d->present_phase = false;
        d->last_heard = mono_usec();
        return 0;
}

static int take_cookie(directory_event *ev, const struct berval *c) {
        free(ev->cookie);
        ev->cookie = NULL;
        ev->cookie_len = 0;
        if (!c || !c->bv_val)
                return 0;
        if (!(ev->cookie = malloc(MAX(c->bv_len, 1))))
                return -ENOMEM;
        memcpy(ev->cookie, c->bv_val, c->bv_len);
        ev->cookie_len = c->bv_len;
        return 0;
}

static int one_uuid(directory_event *ev, const struct berval *uuid) {
        if (uuid->bv_len != 16)
                return -EBADMSG;
        if (!(ev->uuids = malloc(16)))
                return -ENOMEM;
        memcpy(ev->uuids[0], uuid->bv_val, 16);
        ev->n_uuids = 1;
        return 0;
}

/* The entry's attributes, as directory_key_parse() takes them. */
static int read_entry(directory *d, LDAPMessage *e, const uint8_t uuid[16], directory_event *ev) {
        directory_attr attrs[ELEMENTSOF(wanted)] = {};
        struct berval **vals[ELEMENTSOF(wanted)] = {};
        const uint8_t **values[ELEMENTSOF(wanted)] = {};
        size_t *lens[ELEMENTSOF(wanted)] = {};
        char reason[DIRECTORY_REASON_MAX];
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; wanted[i] && r == 0; i++) {
                struct berval **v = ldap_get_values_len(d->ld, e, wanted[i]);
                if (!v)
                        continue;
                size_t k = ldap_count_values_len(v);
                vals[n] = v;
                values[n] = calloc(k + 1, sizeof(uint8_t *));
                lens[n] = calloc(k + 1, sizeof(size_t));
                if (!values[n] || !lens[n]) {
                        r = -ENOMEM;
                        n++;
                        break;
                }
                for (size_t j = 0; j < k; j++) {
                        values[n][j] = (const uint8_t *) v[j]->bv_val;
                        lens[n][j] = v[j]->bv_len;
                }
                attrs[n] = (directory_attr){ wanted[i], values[n], lens[n] };
                n++;
        }
        if (r == 0) {
                r = directory_key_parse(uuid, attrs, n, &ev->key, reason);
                if (r == -EINVAL) {
                        char *dn = ldap_get_dn(d->ld, e);
                        ev->kind = DIRECTORY_UNUSABLE;
                        ev->dn = dn ? strdup(dn) : NULL;
                        ev->reason = strdup(reason);
                        ldap_memfree(dn);
                        r = one_uuid(ev, &(struct berval){ 16, (char *) uuid });
                } else if (r == 0) {
                        ev->kind = DIRECTORY_PUT;
                }
        }
        for (size_t i = 0; i < n; i++) {
                ldap_value_free_len(vals[i]);
                free(values[i]);
                free(lens[i]);
        }
        return r;
}

/* A search entry of the sync session: its Sync State control says what it
 * is (RFC 4533 2.3). */
static int on_entry(directory *d, LDAPMessage *e, directory_event *ev, char **ret_error) {
        LDAPControl **ctrls = NULL, *state_ctrl;
        BerElement *ber = NULL;
        struct berval uuid = {}, cookie = {};
        ber_int_t state;
        ber_len_t len;
        int r = -EBADMSG;

        if (ldap_get_entry_controls(d->ld, e, &ctrls) != LDAP_SUCCESS ||
            !(state_ctrl = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls, NULL)) ||
            !(ber = ber_init(&state_ctrl->ldctl_value)) || ber_scanf(ber, "{em", &state, &uuid) == LBER_ERROR ||
            uuid.bv_len != 16)
                goto done;
        if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE && ber_scanf(ber, "m", &cookie) == LBER_ERROR)
                goto done;
        if ((r = take_cookie(ev, cookie.bv_val ? &cookie : NULL)) < 0)
                goto done;
        switch (state) {
        case LDAP_SYNC_ADD:
        case LDAP_SYNC_MODIFY:
                r = read_entry(d, e, (const uint8_t *) uuid.bv_val, ev);
                break;
        case LDAP_SYNC_PRESENT:
                d->present_phase = true;
                ev->kind = DIRECTORY_PRESENT;
                r = one_uuid(ev, &uuid);
                break;
        case LDAP_SYNC_DELETE:
                ev->kind = DIRECTORY_DELETE;
                r = one_uuid(ev, &uuid);
                break;
        default:
                r = -EBADMSG;
        }
done:
        if (ber)
                ber_free(ber, 1);
        ldap_controls_free(ctrls);
        if (r == -EBADMSG)
                return say(ret_error, -ECONNRESET, "the directory %s sent an entry without a valid sync state",
                           d->uri);
        return r;
}

/* A Sync Info message (RFC 4533 2.5): a new cookie, the end of a refresh
 * phase, or a set of UUIDs present or deleted. */
static int on_intermediate(directory *d, LDAPMessage *m, directory_event *ev, char **ret_error) {
        char *oid = NULL;
        struct berval *data = NULL, cookie = {};
        BerElement *ber = NULL;
        ber_tag_t tag;
        ber_len_t len;
        int r = -EBADMSG;

        if (ldap_parse_intermediate(d->ld, m, &oid, &data, NULL, 0) != LDAP_SUCCESS || !oid ||
            !streq(oid, LDAP_SYNC_INFO) || !data || !(ber = ber_init(data)))
                goto done;
        tag = ber_peek_tag(ber, &len);
        if (tag == LDAP_TAG_SYNC_NEW_COOKIE) {
                if (ber_scanf(ber, "m", &cookie) == LBER_ERROR)
                        goto done;
                ev->kind = DIRECTORY_COOKIE;
                r = take_cookie(ev, &cookie);
        } else if (tag == LDAP_TAG_SYNC_REFRESH_DELETE || tag == LDAP_TAG_SYNC_REFRESH_PRESENT) {
                ber_int_t refresh_done = 1; /* DEFAULT TRUE */
                if (ber_scanf(ber, "{") == LBER_ERROR)
                        goto done;
                if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE && ber_scanf(ber, "m", &cookie) == LBER_ERROR)
                        goto done;
                if (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDONE && ber_scanf(ber, "b", &refresh_done) == LBER_ERROR)
                        goto done;
                if (tag == LDAP_TAG_SYNC_REFRESH_PRESENT)
                        d->present_phase = true;
                if ((r = take_cookie(ev, cookie.bv_val ? &cookie : NULL)) < 0)
                        goto done;
                if (refresh_done) {
                        ev->kind = DIRECTORY_REFRESH_DONE;
                        /* After a present phase, or a refresh from nothing,
                         * what was not sent is not in the directory. */
                        ev->drop_unseen = d->present_phase || !d->had_cookie;
                } else {
                        ev->kind = DIRECTORY_COOKIE;
                }
        } else if (tag == LDAP_TAG_SYNC_ID_SET) {
                ber_int_t deletes = 0; /* DEFAULT FALSE */
                BerVarray uuids = NULL;
                if (ber_scanf(ber, "{") == LBER_ERROR)
                        goto done;
                if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE && ber_scanf(ber, "m", &cookie) == LBER_ERROR)
                        goto done;
                if (ber_peek_tag(ber, &len) == LDAP_TAG_REFRESHDELETES && ber_scanf(ber, "b", &deletes) == LBER_ERROR)
                        goto done;
                if (ber_scanf(ber, "[W]}", &uuids) == LBER_ERROR)
                        goto done;
                size_t n = 0;
                while (uuids && uuids[n].bv_val)
                        n++;
                r = take_cookie(ev, cookie.bv_val ? &cookie : NULL);
                if (r == 0 && n > 0 && !(ev->uuids = calloc(n, 16)))
                        r = -ENOMEM;
                for (size_t i = 0; r == 0 && i < n; i++) {
                        if (uuids[i].bv_len != 16)
                                r = -EBADMSG;
                        else
                                memcpy(ev->uuids[i], uuids[i].bv_val, 16);
                }
                ber_bvarray_free(uuids);
                ev->n_uuids = n;
                if (!deletes)
                        d->present_phase = true;
                ev->kind = deletes ? DIRECTORY_DELETE : DIRECTORY_PRESENT;
        }
done:
        if (ber)
                ber_free(ber, 1);
        ldap_memfree(oid);
        ber_bvfree(data);
        if (r == -EBADMSG)
                return say(ret_error, -ECONNRESET, "the directory %s sent a malformed Sync Info message", d->uri);
        return r;
}

/* The end of the sync search: in refreshAndPersist the server ends it only
 * to say the cookie is too old, or because it is going away. */
static int on_result(directory *d, LDAPMessage *m, char **ret_error) {
        int err = LDAP_OTHER;
        char *diag = NULL;
        (void) ldap_parse_result(d->ld, m, &err, NULL, &diag, NULL, NULL, 0);
        d->sync_msgid = -1;
        int r;
        if (err == LDAP_SYNC_REFRESH_REQUIRED)
                r = say(ret_error, -ESTALE,
                        "the directory %s cannot resume from this host's sync cookie (refresh required); "
                        "fetching every key again",
                        d->uri);
        else
                r = say(ret_error, -ECONNRESET, "the directory %s ended the sync session: %s%s%s", d->uri,
                        ldap_err2string(err), isempty(diag) ? "" : ": ", strempty(diag));
        ldap_memfree(diag);
        return r;
}

static int send_probe(directory *d, char **ret_error) {
        char *attrs[] = { LDAP_NO_ATTRS, NULL }, buf[256];
        int rc = ldap_search_ext(d->ld, d->base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL, NULL, 1,
                                 &d->probe_msgid);
        if (rc != LDAP_SUCCESS) {
                d->probe_msgid = -1;
                return say(ret_error, -ECONNRESET, "lost the directory %s: %s", d->uri,
                           ldap_reason(d->ld, rc, buf, sizeof(buf)));
        }
        d->probe_sent = mono_usec();
        return 0;
}

int directory_next(directory *d, unsigned timeout_ms, directory_event *ret, char **ret_error) {
        uint64_t deadline = mono_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        char buf[256];
        int r;

        if (ret_error)
                *ret_error = NULL;
        *ret = (directory_event){};
        if (d->sync_msgid < 0)
                return say(ret_error, -ECONNRESET, "no sync session with the directory %s", d->uri);
        for (;;) {
                uint64_t now = mono_usec(), wake = deadline;
                /* A quiet session may be a dead one: a cheap search on the
                 * same connection must come back in time. */
                if (d->probe_msgid < 0) {
                        uint64_t due = d->last_heard + (uint64_t) d->probe_interval_ms * USEC_PER_MSEC;
                        if (now >= due && (r = send_probe(d, ret_error)) < 0)
                                return r;
                        if (now < due)
                                wake = MIN(wake, due);
                }
                if (d->probe_msgid >= 0) {
                        uint64_t late = d->probe_sent + (uint64_t) d->timeout_ms * USEC_PER_MSEC;
                        if (now >= late)
                                return say(ret_error, -ECONNRESET,
                                           "the directory %s did not answer a probe within %u ms; reconnecting",
                                           d->uri, d->timeout_ms);
                        wake = MIN(wake, late);
                }
                if (now >= deadline) {
                        ret->kind = DIRECTORY_NOTHING;
                        return 0;
                }
                struct timeval tv = timeval_of((unsigned) ((MAX(wake, now) - now + 999) / 1000));
                LDAPMessage *m = NULL;
                int rc = ldap_result(d->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &tv, &m);
                if (rc < 0) {
                        int err = LDAP_SERVER_DOWN;
                        (void) ldap_get_option(d->ld, LDAP_OPT_RESULT_CODE, &err);
                        d->sync_msgid = -1;
                        return say(ret_error, -ECONNRESET, "lost the directory %s: %s", d->uri,
                                   ldap_reason(d->ld, err, buf, sizeof(buf)));
                }
                if (rc == 0)
                        continue;
                d->last_heard = mono_usec();
                int id = ldap_msgid(m);
                if (id == d->probe_msgid) {
                        if (rc == LDAP_RES_SEARCH_RESULT)
                                d->probe_msgid = -1;
                        ldap_msgfree(m);
                        continue;
                }
                if (id != d->sync_msgid) {
                        ldap_msgfree(m);
                        continue;
                }
                switch (rc) {
                case LDAP_RES_SEARCH_ENTRY:
                        r = on_entry(d, m, ret, ret_error);
                        break;
                case LDAP_RES_INTERMEDIATE:
                        r = on_intermediate(d, m, ret, ret_error);
                        break;
                case LDAP_RES_SEARCH_RESULT:
                        r = on_result(d, m, ret_error);
                        break;
                default: /* a referral: not followed */
                        r = 0;
                        ret->kind = DIRECTORY_NOTHING;
                }
                ldap_msgfree(m);
                if (r < 0) {
                        directory_event_clear(ret);
                        return r;
                }
                if (ret->kind != DIRECTORY_NOTHING || ret->cookie)
                        return 0;
        }
}
