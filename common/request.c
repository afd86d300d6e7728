/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "request.h"

#include <stdlib.h>

#include "util.h"
#include "validate.h"

void auth_request_fields(auth_request *q, dict_field ret[static AUTH_REQUEST_FIELDS]) {
        ret[0] = (dict_field){ "user", DICT_STRING, &q->user, 256 };
        ret[1] = (dict_field){ "service", DICT_STRING, &q->service, 256 };
        ret[2] = (dict_field){ "rhost", DICT_STRING, &q->rhost, 255 };
        ret[3] = (dict_field){ "tty", DICT_STRING, &q->tty, 256 };
        ret[4] = (dict_field){ "keyid_user", DICT_BOOL, &q->keyid_user };
        ret[5] = (dict_field){ "scopes", DICT_STRV, &q->scopes, KEY_SCOPES_MAX };
        ret[6] = (dict_field){ "ruid", DICT_UINT32, &q->ruid, 0, &q->have_ruid };
}

void auth_request_clear(auth_request *q) {
        free(q->user);
        free(q->service);
        free(q->rhost);
        free(q->tty);
        strv_free(q->scopes);
        *q = (auth_request){};
}
