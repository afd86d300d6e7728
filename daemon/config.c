/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "timeutil.h"
#include "util.h"

#define CONFIG_MAX_SIZE (64 * 1024)
#define LIFETIME_MAX (UINT64_C(365000) * 24 * 3600 * USEC_PER_SEC)

void config_init(config *c) {
        *c = (config){
                .admin_group = NULL,
                .max_keys_per_user = 2,
                .max_keys_per_admin = 0,
                .max_lifetime = 0,
                .default_lifetime = 0,
                .expiry_warning = 2 * 24 * 3600 * USEC_PER_SEC,
                .rate_limit_burst = 10,
                .rate_limit_interval = 10 * USEC_PER_SEC,
                .change_rate_burst = 20,
                .change_rate_interval = 1 * USEC_PER_SEC,
                .busy_poll_usec = 20,
        };
}

void config_clear(config *c) {
        free(c->admin_group);
        free(c->authenticate_group);
        config_init(c);
}

static char *strip(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

/* A count: a decimal number up to 1000000, or "unlimited" (0). */
static int parse_count(const char *v, uint32_t *ret) {
        if (streq(v, "unlimited")) {
                *ret = 0;
                return 0;
        }
        if (!*v || strlen(v) > 7)
                return -EINVAL;
        for (const char *p = v; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
        unsigned long n = strtoul(v, NULL, 10);
        if (n > 1000000)
                return -EINVAL;
        *ret = (uint32_t) n;
        return 0;
}

/* A span ("90d", "12h"), or the word given for none (0). */
static int parse_span(const char *v, const char *none, uint64_t *ret) {
        if (streq(v, none) || streq(v, "0")) {
                *ret = 0;
                return 0;
        }
        return parse_timespan(v, ret);
}

static bool valid_group_name(const char *v) {
        if (!*v || strlen(v) > 32 || *v == '-')
                return false;
        for (const char *p = v; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_-.", *p))
                        return false;
        return true;
}

int config_parse(const char *text, const char *path, config *ret, char *err, size_t errlen) {
        _cleanup_(freep) char *copy = strdup(text);
        config c;
        unsigned line = 0;

        if (!copy)
                return -ENOMEM;
        config_init(&c);
        for (char *l = copy, *next; l; l = next) {
                next = strchr(l, '\n');
                if (next)
                        *next++ = 0;
                line++;
                char *s = strip(l);
                if (!*s || *s == '#')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        snprintf(err, errlen, "%s:%u: expected 'Key = value'", path, line);
                        goto fail;
                }
                *eq = 0;
                char *key = strip(s), *value = strip(eq + 1);

                if (streq(key, "AdminGroup") || streq(key, "AuthenticateGroup")) {
                        char **dst = streq(key, "AdminGroup") ? &c.admin_group : &c.authenticate_group;
                        if (*value && !valid_group_name(value)) {
                                snprintf(err, errlen, "%s:%u: %s: '%s' is not a valid group name", path, line,
                                         key, value);
                                goto fail;
                        }
                        free(*dst);
                        *dst = *value ? strdup(value) : NULL;
                        if (*value && !*dst)
                                goto oom;
                } else if (streq(key, "RateLimitBurst")) {
                        if (parse_count(value, &c.rate_limit_burst) < 0 || c.rate_limit_burst > 100000) {
                                snprintf(err, errlen, "%s:%u: RateLimitBurst: '%s' is not a number from 0 (off) to "
                                                      "100000",
                                         path, line, value);
                                goto fail;
                        }
                } else if (streq(key, "RateLimitInterval")) {
                        if (parse_timespan(value, &c.rate_limit_interval) < 0 ||
                            c.rate_limit_interval > 24 * 3600 * USEC_PER_SEC) {
                                snprintf(err, errlen, "%s:%u: RateLimitInterval: '%s' is not a span from 1s to 1d",
                                         path, line, value);
                                goto fail;
                        }
                } else if (streq(key, "ChangeRateLimitBurst")) {
                        if (parse_count(value, &c.change_rate_burst) < 0 || streq(value, "unlimited") ||
                            c.change_rate_burst > 100000) {
                                snprintf(err, errlen,
                                         "%s:%u: ChangeRateLimitBurst: '%s' is not a number from 0 (off) to 100000",
                                         path, line, value);
                                goto fail;
                        }
                } else if (streq(key, "ChangeRateLimitInterval")) {
                        if (parse_timespan(value, &c.change_rate_interval) < 0 || c.change_rate_interval == 0 ||
                            c.change_rate_interval > 3600 * USEC_PER_SEC) {
                                snprintf(err, errlen,
                                         "%s:%u: ChangeRateLimitInterval: '%s' is not a span from 1s to 1h", path,
                                         line, value);
                                goto fail;
                        }
                } else if (streq(key, "BusyPollMicroseconds")) {
                        if (parse_count(value, &c.busy_poll_usec) < 0 || streq(value, "unlimited") ||
                            c.busy_poll_usec > 1000) {
                                snprintf(err, errlen,
                                         "%s:%u: BusyPollMicroseconds: '%s' is not a number from 0 (off) to 1000",
                                         path, line, value);
                                goto fail;
                        }
                } else if (streq(key, "MaxKeysPerUser") || streq(key, "MaxKeysPerAdmin")) {
                        uint32_t *dst = streq(key, "MaxKeysPerUser") ? &c.max_keys_per_user
                                                                      : &c.max_keys_per_admin;
                        if (parse_count(value, dst) < 0) {
                                snprintf(err, errlen,
                                         "%s:%u: %s: '%s' is not a number from 0 to 1000000 or 'unlimited'",
                                         path, line, key, value);
                                goto fail;
                        }
                } else if (streq(key, "MaxLifetime") || streq(key, "DefaultLifetime") ||
                           streq(key, "ExpiryWarning")) {
                        const char *none = streq(key, "MaxLifetime") ? "unlimited"
                                           : streq(key, "DefaultLifetime") ? "never"
                                                                           : "off";
                        uint64_t *dst = streq(key, "MaxLifetime")       ? &c.max_lifetime
                                        : streq(key, "DefaultLifetime") ? &c.default_lifetime
                                                                        : &c.expiry_warning;
                        if (parse_span(value, none, dst) < 0) {
                                snprintf(err, errlen,
                                         "%s:%u: %s: '%s' is not a span such as 90d, 12h, 30m, or '%s'", path,
                                         line, key, value, none);
                                goto fail;
                        }
                        /* A lifetime counted from now must end before the
                         * year 10000, the last expiry a key may have. */
                        if (dst != &c.expiry_warning && *dst > LIFETIME_MAX) {
                                snprintf(
                                        err, errlen,
                                        "%s:%u: %s: '%s' is longer than 1000 years (365000d); give '%s' for "
                                        "no limit",
                                        path, line, key, value, none);
                                goto fail;
                        }
                } else {
                        snprintf(err, errlen, "%s:%u: unknown setting '%s' (see accesskeyd.conf(5))", path,
                                 line, key);
                        goto fail;
                }
        }
        if (c.max_lifetime && c.default_lifetime > c.max_lifetime) {
                snprintf(err, errlen, "%s: DefaultLifetime is longer than MaxLifetime", path);
                goto fail;
        }
        *ret = c;
        return 0;
oom:
        config_clear(&c);
        return -ENOMEM;
fail:
        config_clear(&c);
        return -EINVAL;
}

static const char *file_type(mode_t m) {
        return S_ISDIR(m)    ? "a directory"
               : S_ISFIFO(m) ? "a FIFO"
               : S_ISSOCK(m) ? "a socket"
               : S_ISCHR(m)  ? "a character device"
               : S_ISBLK(m)  ? "a block device"
                             : "not a regular file";
}

int config_load(const char *path, bool missing_ok, config *ret, char *err, size_t errlen) {
        /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
         * writer, and the daemon with it, deaf to calls and to SIGTERM.
         * Links are followed: configuration management often links files
         * into /etc; what counts is the file reached, checked below. */
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct stat st;

        if (fd < 0) {
                if (errno == ENOENT && missing_ok) {
                        config_init(ret);
                        return 0;
                }
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -errno;
        }
        if (fstat(fd, &st) < 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -errno;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "%s is %s; the configuration must be a regular file", path,
                         file_type(st.st_mode));
                return -EINVAL;
        }
        /* Who can write the configuration can name the admin group. */
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                snprintf(
                        err, errlen,
                        "%s is owned by UID %u, who could make themselves an administrator of every key; "
                        "fix it with 'chown root:root %s'",
                        path, (unsigned) st.st_uid, path);
                return -EPERM;
        }
        /* Group root may write it (an administrator's umask 002 makes such
         * files), any other group may not. */
        if ((st.st_mode & 0002) || ((st.st_mode & 0020) && st.st_gid != 0)) {
                snprintf(
                        err, errlen,
                        "%s has mode %04o: users other than its owner could make themselves administrators "
                        "of every key; fix it with 'chmod go-w %s'",
                        path, (unsigned) (st.st_mode & 07777), path);
                return -EPERM;
        }
        if (st.st_size > CONFIG_MAX_SIZE) {
                snprintf(err, errlen,
                         "%s is larger than 64 KiB; it cannot be accesskeyd's configuration", path);
                return -EINVAL;
        }
        _cleanup_(freep) char *buf = calloc(1, (size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t) st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(err, errlen, "%s: %s", path, strerror(errno));
                        return -errno;
                }
                if (n == 0)
                        break; /* shrunk since fstat(): parse what there is */
                len += (size_t) n;
        }
        if (memchr(buf, 0, len)) {
                snprintf(err, errlen, "%s: holds a NUL byte; it must be a text file", path);
                return -EINVAL;
        }
        return config_parse(buf, path, ret, err, errlen);
}
