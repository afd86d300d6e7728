/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A key record and its stored form.
 *
 * Stored form: one version byte, then tag-length-value fields (tag u8,
 * length u32 little endian, value).  Lists repeat their tag.  Decoders skip
 * tags they do not know, so a later release may add fields without a
 * migration; a new version byte marks an incompatible change.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accesskey.h"
#include "verifier.h"

#define RECORD_VERSION 1
#define RECORD_NAME_MAX 255
#define RECORD_MAX_NETWORKS 10

typedef enum key_state {
        KEY_STATE_ACTIVE = 0,
        KEY_STATE_INACTIVE = 1,
} key_state;

typedef struct key_record {
        char id[AK_ID_LEN + 1];
        uint32_t owner_uid;
        char *owner_name;
        char *name;
        char *description;
        uint64_t created_at;
        uint32_t created_by;
        uint64_t updated_at;
        uint32_t updated_by;
        uint64_t expires_at; /* 0: never */
        uint32_t state;      /* key_state */
        uint64_t rotated_at;
        uint8_t verifier[AK_VERIFIER_LEN];
        uint8_t prev_verifier[AK_VERIFIER_LEN];
        uint64_t prev_verifier_until; /* 0: no previous verifier */
        char **services;              /* NULL-terminated; empty: any */
        char **networks;              /* NULL-terminated; empty: any */
        char **scopes;                /* NULL-terminated */
        uint64_t expiry_warned_for;   /* the expires_at a KeyExpiring was sent for */
        bool locked;                  /* deactivated by an administrator: only one reactivates */
} key_record;

/* Usage figures, kept apart from the record: they change on every login and
 * are written in batches. */
typedef struct key_usage {
        uint64_t last_used_at;
        char *last_used_service;
        char *last_used_rhost;
        uint64_t use_count;
        uint32_t failures; /* since the last success */
} key_usage;

key_record *key_record_new(void);
key_record *key_record_free(key_record *r);
static inline void key_record_freep(key_record **r) {
        *r = key_record_free(*r);
}

/* Encode into a new buffer (malloc).  Returns 0 or -ENOMEM. */
int key_record_encode(const key_record *r, uint8_t **ret, size_t *ret_len);
/* Decode; -EBADMSG for anything malformed, -EPROTONOSUPPORT for an unknown
 * version. */
int key_record_decode(const uint8_t *data, size_t len, key_record **ret);

/* The scheme byte of a stored record's verifier, without decoding the rest
 * (a count over every record at start); -EBADMSG when there is none. */
int key_record_peek_verifier_scheme(const uint8_t *data, size_t len, uint8_t *ret);

void key_usage_clear(key_usage *u);
int key_usage_encode(const key_usage *u, uint8_t **ret, size_t *ret_len);
int key_usage_decode(const uint8_t *data, size_t len, key_usage *ret);
