/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "redact.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "credential.h"

static char lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

static bool is_base32_any_case(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

/* Whether p starts with an access key ID, a colon and something that may
 * be (part of) a secret.  Any case: a credential typed with caps lock on is
 * still one.  Not a space after the colon: "access key AK...: expired" is
 * the daemon's own wording, and no secret starts with a space. */
static bool id_colon_at(const char *p) {
        if (lower(p[0]) != 'a' || lower(p[1]) != 'k')
                return false;
        for (size_t i = 2; i < AK_ID_LEN; i++)
                if (!is_base32_any_case(p[i]))
                        return false;
        return p[AK_ID_LEN] == ':' && p[AK_ID_LEN + 1] != 0 && p[AK_ID_LEN + 1] != ' ';
}

static bool secret_prefix_at(const char *p) {
        return lower(p[0]) == 'a' && lower(p[1]) == 'k' && lower(p[2]) == 's' && p[3] == '_';
}

size_t redact_span(const char *s) {
        size_t n = strlen(s);

        for (size_t i = 0; i < n; i++) {
                if (secret_prefix_at(s + i))
                        return i;
                /* The ID is not secret and tells the administrator which key
                 * was typed there; what follows its colon is. */
                if (n - i > AK_ID_LEN + 1 && id_colon_at(s + i))
                        return i + AK_ID_LEN + 1;
        }
        return n;
}

const char *redact(const char *s, char *buf, size_t size) {
        assert(size >= REDACT_MIN);
        if (!s) {
                buf[0] = 0;
                return buf;
        }

        size_t span = redact_span(s);
        bool cut = s[span] != 0;
        size_t room = size - 1 - (cut ? strlen(REDACT_MARK) : 0);
        size_t k = span < room ? span : room;
        for (size_t i = 0; i < k; i++) {
                unsigned char c = (unsigned char) s[i];
                /* A newline must not start a forged log line. */
                buf[i] = c < 0x20 || c == 0x7f ? '?' : (char) c;
        }
        buf[k] = 0;
        if (cut)
                strcpy(buf + k, REDACT_MARK);
        return buf;
}
