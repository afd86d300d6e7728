/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration parser (daemon/config.c), on the text of a file.
 * config_load() refuses files with NUL bytes, so the input is cut at the
 * first one, as a C string would be.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

#define PATH "/etc/accesskey/accesskeyd.conf"

static void assert_group_name(const char *g) {
        if (!g)
                return;
        size_t n = strlen(g);
        assert(n >= 1 && n <= 32 && g[0] != '-');
        for (const char *p = g; *p; p++)
                assert(isalnum((unsigned char) *p) || strchr("_-.", *p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Bigger than config_load() would ever pass on. */
        if (size > 64 * 1024)
                return 0;
        char *text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        config c;
        char err[512] = "";
        memset(&c, 0xaa, sizeof(c)); /* untouched on error: never read, never freed */
        int r = config_parse(text, PATH, &c, err, sizeof(err));
        assert(r == 0 || r == -EINVAL || r == -ENOMEM);
        if (r == -EINVAL) {
                /* Every refusal names the file, for the administrator. */
                assert(strncmp(err, PATH ":", strlen(PATH ":")) == 0);
        } else if (r == 0) {
                assert_group_name(c.admin_group);
                assert_group_name(c.authenticate_group);
                assert(c.max_keys_per_user <= 1000000 && c.max_keys_per_admin <= 1000000);
                assert(c.rate_limit_burst <= 100000);
                assert(c.rate_limit_interval <= 24 * 3600 * USEC_PER_SEC);
                assert(c.max_lifetime % USEC_PER_SEC == 0 &&
                       c.default_lifetime % USEC_PER_SEC == 0 &&
                       c.expiry_warning % USEC_PER_SEC == 0 &&
                       c.rate_limit_interval % USEC_PER_SEC == 0);
                assert(!c.max_lifetime || c.default_lifetime <= c.max_lifetime);
                /* Every expiry a lifetime makes lies before the year 10000. */
                const uint64_t year1000 = UINT64_C(365000) * 24 * 3600 * USEC_PER_SEC;
                assert(c.max_lifetime <= year1000 && c.default_lifetime <= year1000);
                config_clear(&c);
        }

        /* A short message buffer must truncate, not overflow. */
        char small[8];
        r = config_parse(text, PATH, &c, small, sizeof(small));
        if (r == 0)
                config_clear(&c);
        else if (r == -EINVAL)
                assert(memchr(small, 0, sizeof(small)));
        free(text);
        return 0;
}
