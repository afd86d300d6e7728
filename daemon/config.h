/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accesskeyd.conf: "Key = value" lines, '#' comments, blank lines.  Every
 * setting and its default is documented in accesskeyd.conf(5).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/accesskey/accesskeyd.conf"

typedef struct config {
        char *admin_group;           /* NULL: only root is an administrator */
        uint32_t max_keys_per_user;  /* 0: unlimited */
        uint32_t max_keys_per_admin; /* 0: unlimited */
        uint64_t max_lifetime;       /* usec, for non-administrators; 0: unlimited */
        uint64_t default_lifetime;   /* usec, for non-administrators; 0: never expires */
        uint64_t expiry_warning;     /* usec before expiry to warn; 0: no warnings */
        uint32_t rate_limit_burst;   /* failures allowed at once per source and per key; 0: off */
        uint64_t rate_limit_interval; /* usec for one more failure to be allowed */
        uint32_t change_rate_burst;   /* lifecycle calls allowed at once per UID; 0: off */
        uint64_t change_rate_interval; /* usec for one more lifecycle call to be allowed */
        char *authenticate_group;    /* NULL: every local user may call Authenticate */
        uint32_t busy_poll_usec;     /* after work, look for more this long before sleeping; 0: off */
} config;

void config_init(config *c);
void config_clear(config *c);

/* Parses text (from a file named path, for messages) into ret.  On error,
 * returns -EINVAL and writes "PATH:LINE: reason" into err. */
int config_parse(const char *text, const char *path, config *ret, char *err, size_t errlen);

/* Reads and parses a file.  A missing file gives the defaults when
 * missing_ok.  Errors are described in err. */
int config_load(const char *path, bool missing_ok, config *ret, char *err, size_t errlen);
