/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Daemon logging: to stderr, with syslog priority prefixes when stderr is
 * the journal; when it is not, to syslog as well (ident accesskeyd,
 * facility daemon, authpriv for the audit lines).  Never give it a
 * secret. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

/* Decides where lines go (the journal, or syslog and stderr); before it,
 * stderr only. */
void log_open(void);
void log_set_debug(bool on);
bool log_get_debug(void);
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s in double quotes with " and \ escaped, in buf (cut to fit): values a
 * caller chose (user, service, remote host, key name) must not be able to
 * forge another key=value field or line of a log.  Through redact() first
 * (common/redact.h): anything shaped like a secret, and what follows it, is
 * replaced, and control characters become '?'. */
#define LOG_QUOTE_MAX 600
const char *log_quote(const char *s, char buf[static LOG_QUOTE_MAX]);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
/* Audit records of logins go to the authpriv facility. */
#define log_auth(priority, ...) log_msg(LOG_AUTHPRIV | (priority), __VA_ARGS__)
