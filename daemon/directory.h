/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fleet mode's directory side: one session with an LDAP directory that
 * holds accessKey entries (ldap/accesskey.schema), kept up to date with the
 * RFC 4533 content synchronisation operation in refreshAndPersist mode.
 *
 * This file knows LDAP and the schema, nothing of the store, the bus or the
 * event loop: directory_next() hands out what the directory said, one event
 * at a time, and the caller applies it to its store together with the
 * event's cookie (so that a restart resumes from what was applied).  Every
 * call may block up to the timeout it is given; the daemon runs the session
 * on a thread of its own.
 *
 * The sync protocol is read here, with libldap's control and BER parsers,
 * not through libldap's ldap_sync_*() API: that API hands each handler the
 * first message of a chain instead of the message at hand, and drops what
 * follows the end of the refresh in the same chain, so under load it loses
 * entries (DESIGN-NOTES 13).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accesskey.h"
#include "verifier.h"

/* The object class's OID, to check that a directory knows the schema. */
#define DIRECTORY_CLASS_OID "2.25.158829024677137189965823660812892921040.2.1"
#define DIRECTORY_HOST_GROUP_MAX 64 /* bytes of a host group's name */
#define DIRECTORY_HOST_GROUPS_MAX 32

typedef struct directory_settings {
        const char *uri;            /* ldap://, ldaps:// or ldapi:// */
        const char *base;           /* where the accessKey entries are */
        const char *bind_dn;        /* simple bind with password_file's password */
        const char *password_file;  /* root-only */
        const char *certificate;    /* with key: SASL EXTERNAL over TLS */
        const char *key;
        const char *ca_certificate; /* else the system's trust store */
        unsigned timeout_ms;        /* of each network step (connect, bind, a search's answer) */
        unsigned probe_interval_ms; /* a quiet session is probed this often (0: 30 s) */
} directory_settings;

typedef struct directory directory;

/* One accessKey entry as a host uses it.  Times are microseconds since the
 * epoch, 0 where the entry has none; lists are NULL-terminated, never
 * NULL. */
typedef struct directory_key {
        uint8_t uuid[16]; /* the entry's entryUUID: deletions name only this */
        char id[AK_ID_LEN + 1];
        char *owner; /* a user name */
        uint8_t verifier[AK_VERIFIER_LEN];
        uint32_t pepper_version;
        bool active;
        bool locked;
        char *deactivated_by;
        uint64_t expires_at;
        char **services, **networks, **scopes, **host_groups;
        char *name, *description;
        char *created_by, *updated_by;
        uint64_t created_at, updated_at, rotated_at;
        bool has_prev_verifier;
        uint8_t prev_verifier[AK_VERIFIER_LEN];
        uint64_t prev_until;
} directory_key;

directory_key *directory_key_free(directory_key *k);
static inline void directory_key_freep(directory_key **k) {
        *k = directory_key_free(*k);
}

typedef enum directory_event_kind {
        DIRECTORY_NOTHING,      /* nothing came within the timeout */
        DIRECTORY_PUT,          /* key: an entry added, or changed */
        DIRECTORY_PRESENT,      /* uuids: entries unchanged since the cookie (a refresh's present phase) */
        DIRECTORY_DELETE,       /* uuids: entries deleted, or out of the search's scope now */
        DIRECTORY_UNUSABLE,     /* an entry that cannot be a key (uuids[0], dn, reason): whatever the
                                 * store holds under that UUID must go */
        DIRECTORY_REFRESH_DONE, /* the refresh is over; with drop_unseen, every entry that was neither
                                 * put nor present during it is gone */
        DIRECTORY_COOKIE,       /* a new cookie, and nothing else */
} directory_event_kind;

typedef struct directory_event {
        directory_event_kind kind;
        directory_key *key;
        uint8_t (*uuids)[16];
        size_t n_uuids;
        bool drop_unseen;
        char *dn, *reason;
        /* The cookie to keep once this event is applied: NULL when it did
         * not change. */
        uint8_t *cookie;
        size_t cookie_len;
} directory_event;

void directory_event_clear(directory_event *ev);

/* Connects, protects the connection (ldaps, StartTLS, or a local socket),
 * binds, and checks that the base exists and that the directory knows the
 * schema.  Plain ldap:// to anything but a loopback address is refused
 * unless StartTLS succeeds.  0, or a negative errno with *ret_error (malloc)
 * saying what failed and what to do; -ENOMEM alone without one. */
int directory_open(const directory_settings *s, directory **ret, char **ret_error);
directory *directory_close(directory *d);
static inline void directory_closep(directory **d) {
        *d = directory_close(*d);
}

/* Starts the sync session: a refresh from cookie (NULL: from nothing, a full
 * refresh), then changes as they happen. */
int directory_sync_start(directory *d, const uint8_t *cookie, size_t cookie_len, char **ret_error);

/* The next event, waiting at most timeout_ms.  0 with *ret filled (clear it
 * with directory_event_clear()); -ESTALE when the directory cannot resume
 * from the cookie (e-syncRefreshRequired: start again without one);
 * -ECONNRESET when the session ended or went silent past a probe (connect
 * again); -ENOMEM.  *ret_error (malloc) says why, for the log. */
int directory_next(directory *d, unsigned timeout_ms, directory_event *ret, char **ret_error);

/* Parses one entry's attributes; exposed for the tests.  -EINVAL with
 * reason naming the attribute and the rule. */
#define DIRECTORY_REASON_MAX 160
typedef struct directory_attr {
        const char *name;
        const uint8_t *const *values; /* NULL-terminated */
        const size_t *lens;
} directory_attr;
int directory_key_parse(const uint8_t uuid[16], const directory_attr *attrs, size_t n, directory_key **ret,
                        char reason[static DIRECTORY_REASON_MAX]);

/* "20261204183000Z" (seconds, optional fraction, Z or +hhmm/-hhmm) to
 * microseconds since the epoch; -EINVAL when it is not one. */
int directory_parse_time(const char *s, uint64_t *ret);
