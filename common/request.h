/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The a{sv} request of Authenticate (user, service, rhost, tty,
 * keyid_user, scopes) as the daemon reads it: one table of fields, with
 * their limits, for dict_read() and wire_get_dict() alike.
 */
#pragma once

#include <stdbool.h>

#include "dict.h"

typedef struct auth_request {
        char *user, *service, *rhost, *tty;
        bool keyid_user;
        char **scopes;
} auth_request;

#define AUTH_REQUEST_FIELDS 6

void auth_request_fields(auth_request *q, dict_field ret[static AUTH_REQUEST_FIELDS]);
void auth_request_clear(auth_request *q);
