/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"
#include "util.h"

static bool debug_on;
static bool to_journal, to_syslog;

void log_set_debug(bool on) {
        debug_on = on;
}

bool log_get_debug(void) {
        return debug_on;
}

/* Whether standard error is the journal's stream: systemd sets
 * JOURNAL_STREAM to its "DEV:INODE", which holds only as long as nobody
 * redirected stderr (a variable inherited from a shell started under
 * systemd, or 2>file, does not make a file the journal). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char end;

        if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &end) != 2 || fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
}

/* Whether a syslog daemon has its socket: without one, syslog() tries to
 * connect again for every line (three failing system calls a login).
 * Looked at again every 10 s, so a syslog daemon started later is used. */
static bool syslog_listens(void) {
        /* Atomic: the keystore's writer thread may log too (a corrupt
         * record it meets). */
        static uint64_t checked_at;
        static bool listens;
        uint64_t now = mono_usec(), then = __atomic_load_n(&checked_at, __ATOMIC_RELAXED);
        struct stat st;

        if (then == 0 || now - then >= 10 * USEC_PER_SEC) {
                __atomic_store_n(&listens, stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode), __ATOMIC_RELAXED);
                __atomic_store_n(&checked_at, now, __ATOMIC_RELAXED);
        }
        return __atomic_load_n(&listens, __ATOMIC_RELAXED);
}

void log_open(void) {
        to_journal = stderr_is_journal();
        /* Without the journal, audit lines reach /var/log/auth.log only
         * through syslog (the daemon is its own program: openlog() is
         * right here, unlike in the PAM module). */
        to_syslog = !to_journal;
        if (to_syslog)
                openlog("accesskeyd", LOG_PID, LOG_DAEMON);
}

void log_msg(int priority, const char *fmt, ...) {
        static const char *const names[] = { "emerg", "alert", "crit", "error",
                                             "warning", "notice", "info", "debug" };
        char line[2048];
        int n, m;
        va_list ap;

        if ((priority & LOG_PRIMASK) == LOG_DEBUG && !debug_on)
                return;
        /* Under systemd, "<N>" lets the journal record the priority and
         * the facility (authpriv for logins). */
        if (to_journal)
                n = snprintf(line, sizeof(line), "<%d>", priority);
        else
                n = snprintf(line, sizeof(line), "accesskeyd: %s: ", names[priority & LOG_PRIMASK]);
        va_start(ap, fmt);
        m = vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
        va_end(ap);
        if (to_syslog && syslog_listens())
                /* The facility in priority when given (authpriv), else
                 * openlog()'s (daemon). */
                syslog(priority, "%s", line + n);
        n += m;
        if (n > (int) sizeof(line) - 2)
                n = (int) sizeof(line) - 2;
        line[n++] = '\n';
        /* One write per line: lines of concurrent writers never interleave,
         * and a login costs one system call for its audit record.  Also
         * beside syslog: tests and foreground runs read it. */
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
