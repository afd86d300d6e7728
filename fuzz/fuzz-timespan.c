/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Durations and dates as people write them (common/timeutil.c): the
 * configuration's spans, and --expires / expires_at of the CLI.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"
#include "util.h"

/* 2026-01-01T00:00:00Z: a fixed "now" keeps every run reproducible. */
#define NOW (UINT64_C(1767225600) * USEC_PER_SEC)
#define MAX_USEC ((uint64_t) MAX_TIME_SEC * USEC_PER_SEC)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;

        uint64_t t = 0;
        int r = parse_timespan(s, &t);
        assert(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r == 0)
                assert(t > 0 && t % USEC_PER_SEC == 0 && t <= MAX_USEC);

        r = parse_date(s, &t);
        assert(r == 0 || r == -EINVAL || r == -ERANGE);
        /* Out of range: a year before 1970 or of five digits or more. */
        if (r == -ERANGE) {
                size_t y = strspn(s, "0123456789");
                assert(y > 4 || (y == 4 && strncmp(s, "1970", 4) < 0));
        }
        if (r == 0) {
                assert(t % USEC_PER_SEC == 0 && t <= MAX_USEC);
                /* A date that parses is one that exists: printing it gives
                 * the input back. */
                char buf[32], want[32];
                const char *iso = format_iso(t, buf);
                snprintf(want, sizeof(want), "%s%s", s, strlen(s) == 10 ? "T00:00:00Z" : "");
                if (t == 0)
                        assert(!iso && streq(want, "1970-01-01T00:00:00Z"));
                else
                        assert(iso && streq(iso, want));
                char tbuf[32];
                assert(format_time(t, tbuf));
        }

        r = parse_expiry(s, NOW, &t);
        assert(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r == 0) {
                assert(t == 0 ? streq(s, "never") : (t > NOW && t <= MAX_USEC));
                char buf[32];
                assert(t == 0 || format_iso(t, buf));
        }
        free(s);
        return 0;
}
