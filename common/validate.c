/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "validate.h"

#include <string.h>

#include "netaddr.h"
#include "util.h"

const char *validate_service_name(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > 64)
                return "must be 1 to 64 characters";
        /* What PAM service file names use in practice. */
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("._-+@", *p)))
                        return "may hold only letters, digits and . _ - + @";
        if (s[0] == '.' || s[0] == '-')
                return "must not start with . or -";
        return NULL;
}

/* The code point at s (n bytes left), its length in *ret_len; -1 when the
 * bytes are not shortest-form UTF-8 of a scalar value. */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *ret_len) {
        uint32_t cp;
        size_t len;
        if (s[0] < 0x80) {
                *ret_len = 1;
                return s[0];
        } else if ((s[0] & 0xe0) == 0xc0) {
                cp = s[0] & 0x1f;
                len = 2;
        } else if ((s[0] & 0xf0) == 0xe0) {
                cp = s[0] & 0x0f;
                len = 3;
        } else if ((s[0] & 0xf8) == 0xf0) {
                cp = s[0] & 0x07;
                len = 4;
        } else
                return -1;
        if (n < len)
                return -1;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -1;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -1;
        *ret_len = len;
        return (int32_t) cp;
}

const char *validate_label(const char *s, size_t *ret_pos, uint32_t *ret_cp) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s), pos = 1;

        for (size_t i = 0, len; i < n; i += len, pos++) {
                int32_t cp = utf8_next(p + i, n - i, &len);
                *ret_pos = pos;
                if (cp < 0) {
                        *ret_cp = p[i];
                        return "is not valid UTF-8";
                }
                *ret_cp = (uint32_t) cp;
                if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                        return "is a control character";
                if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
                        return "is a bidirectional control, which makes text display otherwise than it reads";
        }
        return NULL;
}

const char *validate_scope(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > 64)
                return "must be 1 to 64 characters";
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return "must start with a lower-case letter or a digit";
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr(":._-", *p)))
                        return "may hold only a-z, 0-9 and : . _ -";
        return NULL;
}

const char *validate_network(const char *s) {
        net_prefix p;
        const char *reason;
        if (streq(s, NET_LOCAL))
                return NULL;
        if (net_prefix_parse(s, &p, &reason) < 0)
                return reason;
        return NULL;
}
