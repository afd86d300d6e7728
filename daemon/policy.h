/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The login decision: may this request log in with this key, now?  One pure
 * function over (record, request, now) — no bus, no store, no clock — so it
 * can be tested exhaustively.  It is asked only after the secret was proven.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "record.h"

typedef enum policy_verdict {
        POLICY_ALLOW = 0,
        POLICY_INACTIVE,
        POLICY_EXPIRED,
        POLICY_WRONG_USER,
        POLICY_SERVICE,
        POLICY_NETWORK,
        POLICY_SCOPE,
} policy_verdict;

typedef struct policy_request {
        bool user_known;   /* the PAM user resolved to a UID */
        uint32_t user_uid; /* with user_known */
        const char *service;
        const char *rhost; /* NULL or "" for a local login */
        char *const *scopes; /* required by the service; NULL: none */
} policy_request;

policy_verdict policy_decide(const key_record *rec, const policy_request *req, uint64_t now);

/* Whether a key limited to services (NULL or empty: none) may log in
 * through the PAM service `service`; a key's "su" also allows "su-l", and
 * "runuser" "runuser-l". */
bool policy_service_allowed(char *const *services, const char *service);

/* The first scope the request requires that the key lacks, or NULL. */
const char *policy_missing_scope(const key_record *rec, const policy_request *req);

/* The negative errno a verdict is reported as. */
int policy_verdict_to_errno(policy_verdict v);
/* A short reason for logs and for a caller that proved the secret. */
const char *policy_verdict_to_string(policy_verdict v);

/* The checks are made in this order, and the first that fails is the
 * verdict: state, expiry, user, service, network, scopes. */
