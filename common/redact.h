/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Log fields that a peer chooses (the PAM user, remote host, terminal and
 * service; the user, service and remote host of an Authenticate) may hold a
 * credential: someone types "ID:SECRET" as the user name, or pastes a secret
 * into a field.  Every such field goes through redact() before it reaches a
 * log, in the PAM module and in the daemon alike.
 */
#pragma once

#include <stddef.h>

/* What replaces the secret-shaped rest of a field. */
#define REDACT_MARK "[redacted]"
/* Room for the mark and a little of the field before it. */
#define REDACT_MIN (sizeof(REDACT_MARK) + 8)

/* The number of leading bytes of s that hold nothing shaped like a secret:
 * the whole length, or the offset of the first "aks_" (any case) or the
 * offset just after the first "<ID>:" (an access key ID, any case, then a
 * colon) that something other than a space follows.  Everything from there
 * to the end is treated as secret, since where a mistyped or cut secret
 * ends cannot be known. */
size_t redact_span(const char *s);

/* s made safe to log, in buf (size >= REDACT_MIN): the part redact_span()
 * allows, control characters as '?', then REDACT_MARK when the rest was
 * dropped; cut to fit.  NULL gives "".  Returns buf. */
const char *redact(const char *s, char *buf, size_t size);
