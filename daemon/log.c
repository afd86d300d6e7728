/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static bool debug_on;

void log_set_debug(bool on) {
        debug_on = on;
}

bool log_get_debug(void) {
        return debug_on;
}

void log_msg(int priority, const char *fmt, ...) {
        static const char *const names[] = { "emerg", "alert", "crit", "error",
                                             "warning", "notice", "info", "debug" };
        va_list ap;

        if ((priority & LOG_PRIMASK) == LOG_DEBUG && !debug_on)
                return;
        /* Under systemd, "<N>" lets the journal record the priority and
         * the facility (authpriv for logins). */
        if (getenv("JOURNAL_STREAM"))
                fprintf(stderr, "<%d>", priority);
        else
                fprintf(stderr, "accesskeyd: %s: ", names[priority & 7]);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
}
