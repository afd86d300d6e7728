/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaccesskey — client library of the accesskey keystore.
 *
 * Every function that can fail returns 0 (or a positive count) on success and
 * a negative errno on failure; ak_strerror() turns it into text.  The errno
 * values that name keystore outcomes are:
 *
 *   -ENOENT        no such key (or a key the caller may not see)
 *   -EACCES        permission denied, or a login refused by the key's policy
 *   -EDQUOT        the owner has as many keys as allowed
 *   -EINVAL        an argument was refused; the daemon's message says which
 *   -EKEYREJECTED  authentication failed (unknown ID and wrong secret alike)
 *   -EKEYEXPIRED   the key has expired
 *   -EKEYREVOKED   the key is inactive
 *   -EBUSY         rate limited
 *   -ECONNREFUSED  the daemon cannot be reached
 *   -ETIMEDOUT     the daemon did not answer in time
 *
 * The library opens private D-Bus connections only and never makes the
 * process exit when a connection drops.  A client handle must not be shared
 * between threads or across fork().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AK_ID_LEN 20     /* "AK" + 18 base32 characters */
#define AK_SECRET_LEN 50 /* "aks_" + 40 base62 + 6 base62 checksum */

#define AK_DEFAULT_TIMEOUT_MS 2000
#define AK_DEFAULT_PRIVATE_SOCKET "/run/accesskey/private"

typedef struct ak_client ak_client;

/* A key as the daemon shows it: never its secret nor its verifier.  String
 * arrays are NULL-terminated; times are microseconds since the epoch (UTC),
 * 0 meaning never/none. */
typedef struct ak_key {
        char id[AK_ID_LEN + 1];
        uint32_t owner_uid;
        char *owner_name;
        char *name;
        char *description;
        uint64_t created_at;
        uint32_t created_by;
        uint64_t updated_at;
        uint32_t updated_by;
        uint64_t expires_at;
        bool active;
        uint64_t rotated_at;
        char **services;
        char **networks;
        char **scopes;
        uint64_t last_used_at;
        char *last_used_service;
        char *last_used_rhost;
        uint64_t use_count;
        uint32_t failures;
} ak_key;

typedef struct ak_create_options {
        const char *owner;       /* user name; NULL: the caller */
        const char *name;        /* required label */
        const char *description; /* optional */
        bool set_expires;        /* false: the configured default lifetime */
        uint64_t expires_at;     /* with set_expires: 0 means never */
        const char *const *services; /* NULL-terminated, NULL: any */
        const char *const *networks; /* NULL-terminated, NULL: any */
        const char *const *scopes;   /* NULL-terminated, NULL: none */
} ak_create_options;

typedef struct ak_list_filter {
        const char *owner; /* user name; NULL: the caller's own keys */
        bool all;          /* every key the caller may manage */
} ak_list_filter;

typedef struct ak_auth_request {
        const char *user;    /* the PAM user; must be the key's owner */
        const char *service; /* the PAM service */
        const char *rhost;   /* remote host, NULL or "" for local logins */
        const char *tty;
        /* The PAM user is the key ID itself: the key decides the user, and
         * the result's owner_name is who logs in. */
        bool keyid_user;
        /* Scopes the service requires (NULL-terminated, NULL: none): a key
         * lacking one is refused. */
        const char *const *scopes;
        /* The user who asked for a local login (PAM_RUSER: the user running
         * su or sudo), NULL when unknown.  The daemon counts failed local
         * logins run by root per requesting user; without one, the real UID
         * of the calling process (the invoking user of a setuid program)
         * stands for it. */
        const char *ruser;
} ak_auth_request;

typedef struct ak_auth_result {
        char id[AK_ID_LEN + 1];
        uint32_t owner_uid;
        char *owner_name;
        char **scopes;
        uint64_t expires_at;
        bool expires_soon; /* inside the daemon's ExpiryWarning window */
} ak_auth_result;

/* What UpdateKey changes; fields left NULL / false stay as they are. */
typedef struct ak_update_options {
        const char *name;
        const char *description;     /* "" clears it */
        bool set_expires;
        uint64_t expires_at;         /* with set_expires: 0 means never */
        bool set_services;
        const char *const *services; /* with set_services: NULL or empty means any */
        bool set_networks;
        const char *const *networks;
        bool set_scopes;
        const char *const *scopes;
} ak_update_options;

/* Counts over the keys the caller may manage (an administrator: all). */
typedef struct ak_summary {
        uint64_t total;
        uint64_t active;   /* active and not expired */
        uint64_t inactive;
        uint64_t expired;  /* active but past their expiry */
        uint64_t expiring; /* active, not expired, expiring within `within` */
        uint64_t within;   /* microseconds */
} ak_summary;

/* Opens a private connection to accesskeyd.
 *
 * bus: NULL for the system bus, "system", "session", or a D-Bus address.
 * socket_path: the daemon's peer-to-peer socket; tried first when given.
 *   With both NULL the default private socket is tried first and the system
 *   bus second.  With bus given and socket_path NULL, only the bus is used.
 * timeout_ms: the budget of each call, connecting included (0: default). */
int ak_client_open(const char *bus, const char *socket_path, unsigned timeout_ms, ak_client **ret);
ak_client *ak_client_close(ak_client *c);

/* The daemon's message for the last failed call, or NULL.  Valid until the
 * next call on the handle. */
const char *ak_client_last_error(const ak_client *c);

int ak_authenticate(ak_client *c, const char *id, const char *secret, const ak_auth_request *req,
                    ak_auth_result **ret);
void ak_auth_result_free(ak_auth_result *r);

/* On success *ret_secret holds the only copy of the secret there will ever
 * be; release it with ak_secret_free(), which wipes it. */
int ak_create_key(ak_client *c, const ak_create_options *opts, char **ret_id, char **ret_secret);
int ak_list_keys(ak_client *c, const ak_list_filter *filter, ak_key ***ret_keys, size_t *ret_n);
int ak_get_key(ak_client *c, const char *id, ak_key **ret);
int ak_delete_key(ak_client *c, const char *id);
int ak_update_key(ak_client *c, const char *id, const ak_update_options *opts);
int ak_deactivate_key(ak_client *c, const char *id);
int ak_reactivate_key(ak_client *c, const char *id);
/* A new secret for the same key and settings.  With grace_usec > 0 the
 * previous secret keeps working that long (at most 7 days), then never
 * again.  Release *ret_secret with ak_secret_free(). */
int ak_rotate_secret(ak_client *c, const char *id, uint64_t grace_usec, char **ret_secret);
/* within_usec: the "expiring" horizon; 0 means 30 days. */
int ak_get_summary(ak_client *c, uint64_t within_usec, ak_summary *ret);

void ak_key_free(ak_key *k);
void ak_key_list_free(ak_key **keys, size_t n);
void ak_secret_free(char *secret);

const char *ak_strerror(int err);

#ifdef __cplusplus
}
#endif
