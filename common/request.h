/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The a{sv} request of Authenticate (user, service, rhost, tty,
 * keyid_user, scopes, ruid) as the daemon reads it: one table of fields,
 * with their limits, for dict_read() and wire_get_dict() alike.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dict.h"

typedef struct auth_request {
        char *user, *service, *rhost, *tty;
        bool keyid_user;
        char **scopes;
        /* The user who asked for a local login (su, sudo: the invoking
         * user), for rate limiting; believed from trusted callers only. */
        uint32_t ruid;
        bool have_ruid;
} auth_request;

#define AUTH_REQUEST_FIELDS 7

void auth_request_fields(auth_request *q, dict_field ret[static AUTH_REQUEST_FIELDS]);
void auth_request_clear(auth_request *q);
