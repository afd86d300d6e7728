/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "timeutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

static bool digits(const char *s, size_t n, int *ret) {
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

int parse_date(const char *s, uint64_t *ret_usec) {
        size_t len = strlen(s), ylen = strspn(s, "0123456789");
        struct tm tm = {};
        int year, mon, day, hour = 0, min = 0, sec = 0;

        /* A date of the year 10000 or later is understood, and out of
         * range: said so, rather than "not a date".  The rest of it must
         * still be a date (checked in the year 2000). */
        if (ylen > 4 && len - ylen <= 16) {
                char buf[24];
                uint64_t t;
                snprintf(buf, sizeof(buf), "2000%s", s + ylen);
                return parse_date(buf, &t) == 0 ? -ERANGE : -EINVAL;
        }
        if (len != 10 && len != 20)
                return -EINVAL;
        if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' ||
            !digits(s + 8, 2, &day))
                return -EINVAL;
        if (len == 20 &&
            (s[10] != 'T' || !digits(s + 11, 2, &hour) || s[13] != ':' ||
             !digits(s + 14, 2, &min) || s[16] != ':' || !digits(s + 17, 2, &sec) || s[19] != 'Z'))
                return -EINVAL;
        if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
                return -EINVAL;
        if (year < 1970)
                return -ERANGE; /* a date, before the epoch */

        tm.tm_year = year - 1900;
        tm.tm_mon = mon - 1;
        tm.tm_mday = day;
        tm.tm_hour = hour;
        tm.tm_min = min;
        tm.tm_sec = sec;
        time_t t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;

        /* timegm() normalizes 02-30 to 03-02; a date that moved did not exist. */
        struct tm check;
        if (!gmtime_r(&t, &check) || check.tm_mday != day || check.tm_mon != mon - 1)
                return -EINVAL;

        *ret_usec = (uint64_t) t * USEC_PER_SEC;
        return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec) {
        uint64_t n = 0, unit;
        const char *p = s;

        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                n = n * 10 + (uint64_t) (*p - '0');
                if (n > (uint64_t) MAX_TIME_SEC)
                        return -ERANGE;
        }
        switch (*p) {
        case 'w':
                unit = 7 * 24 * 3600;
                break;
        case 'd':
                unit = 24 * 3600;
                break;
        case 'h':
                unit = 3600;
                break;
        case 'm':
                unit = 60;
                break;
        case 's':
                unit = 1;
                break;
        default:
                return -EINVAL;
        }
        if (p[1] != '\0')
                return -EINVAL;
        if (n == 0)
                return -ERANGE;
        if (n > (uint64_t) MAX_TIME_SEC / unit)
                return -ERANGE;

        *ret_usec = n * unit * USEC_PER_SEC;
        return 0;
}

int parse_expiry(const char *s, uint64_t now, uint64_t *ret_usec) {
        uint64_t t;
        int r;

        if (streq(s, "never")) {
                *ret_usec = 0;
                return 0;
        }
        if (strchr(s, '-'))
                r = parse_date(s, &t);
        else {
                r = parse_timespan(s, &t);
                if (r == 0 && t > (uint64_t) MAX_TIME_SEC * USEC_PER_SEC - now)
                        r = -ERANGE;
                if (r == 0)
                        t += now;
        }
        if (r < 0)
                return r;
        if (t <= now || t / USEC_PER_SEC > (uint64_t) MAX_TIME_SEC)
                return -ERANGE;
        *ret_usec = t;
        return 0;
}

static bool to_tm(uint64_t usec, struct tm *ret) {
        uint64_t sec = usec / USEC_PER_SEC;
        if (sec > (uint64_t) MAX_TIME_SEC)
                return false;
        time_t t = (time_t) sec;
        return gmtime_r(&t, ret) != NULL;
}

const char *format_time(uint64_t usec, char buf[static 32]) {
        struct tm tm;
        if (usec == 0)
                return "never";
        if (!to_tm(usec, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
                return "(invalid time)";
        return buf;
}

const char *format_iso(uint64_t usec, char buf[static 32]) {
        struct tm tm;
        if (usec == 0 || !to_tm(usec, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return NULL;
        return buf;
}

