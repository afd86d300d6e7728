/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"

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
        char line[2048];
        int n;
        va_list ap;

        if ((priority & LOG_PRIMASK) == LOG_DEBUG && !debug_on)
                return;
        /* Under systemd, "<N>" lets the journal record the priority and
         * the facility (authpriv for logins). */
        if (getenv("JOURNAL_STREAM"))
                n = snprintf(line, sizeof(line), "<%d>", priority);
        else
                n = snprintf(line, sizeof(line), "accesskeyd: %s: ", names[priority & LOG_PRIMASK]);
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
        va_end(ap);
        if (n > (int) sizeof(line) - 2)
                n = (int) sizeof(line) - 2;
        line[n++] = '\n';
        /* One write per line: lines of concurrent writers never interleave,
         * and a login costs one system call for its audit record. */
        ssize_t k = write(STDERR_FILENO, line, (size_t) n);
        (void) k;
}

const char *log_quote(const char *s, char buf[static LOG_QUOTE_MAX]) {
        /* Half the room: each byte may take two once escaped. */
        char safe[LOG_QUOTE_MAX / 2];
        size_t n = 0;

        /* Whatever a caller chose may hold a credential typed in the wrong
         * field; it is cut before it can reach the log. */
        redact(s, safe, sizeof(safe));
        buf[n++] = '"';
        for (const char *p = safe; *p && n < LOG_QUOTE_MAX - 3; p++) {
                if (*p == '"' || *p == '\\')
                        buf[n++] = '\\';
                buf[n++] = *p;
        }
        buf[n++] = '"';
        buf[n] = 0;
        return buf;
}
