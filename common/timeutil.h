/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Times as people write them: lifetimes ("90d"), dates, and their display.
 * All times are microseconds since the epoch, UTC. */
#pragma once

#include <stdint.h>

/* Dates beyond 9999-12-31 would not fit the output formats. */
#define MAX_TIME_SEC INT64_C(253402300799)

/* "N" followed by w, d, h, m or s (N > 0): a span in microseconds.
 * -EINVAL when not understood, -ERANGE when zero or too large. */
int parse_timespan(const char *s, uint64_t *ret_usec);

/* "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ"; -EINVAL otherwise,
 * including dates that do not exist such as 2026-02-30; -ERANGE for a date
 * before 1970 or after 9999 (a year of five digits or more). */
int parse_date(const char *s, uint64_t *ret_usec);

/* An expiry as given to --expires: "never" (0), a date, or a span from now.
 * Returns 0, -EINVAL (not understood) or -ERANGE (understood, but not in the
 * future or too far in it). */
int parse_expiry(const char *s, uint64_t now, uint64_t *ret_usec);

/* "2027-02-20 23:10 UTC"; "never" for 0. */
const char *format_time(uint64_t usec, char buf[static 32]);
/* ISO 8601, "2027-02-20T23:10:00Z"; NULL for 0 (JSON null). */
const char *format_iso(uint64_t usec, char buf[static 32]);
