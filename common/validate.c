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
