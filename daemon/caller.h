/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is calling: the UID the bus daemon vouches for (GetConnectionUnixUser,
 * asked without blocking the daemon, cached per unique name and forgotten
 * on NameOwnerChanged), or SO_PEERCRED on a peer-to-peer connection.  Never
 * a message argument.  A caller that cannot be learnt is denied; one the
 * bus gives no answer for in time is told to try again.
 */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct caller {
        uint32_t uid;
        bool admin; /* root, or a member of AdminGroup */
} caller;

typedef struct caller_cache caller_cache;

caller_cache *caller_cache_new(void);
caller_cache *caller_cache_free(caller_cache *c);

/* Called once for each call that waited for its sender to be looked up:
 * who is NULL when the bus could not say, and error is then -EACCES (the
 * bus cannot vouch for the name: the caller is denied) or -ETIMEDOUT (no
 * answer within the bus call timeout: the caller may try again). */
typedef void (*caller_identified_fn)(DBusConnection *conn, DBusMessage *m, const caller *who, int error,
                                     void *userdata);

/* Identifies the sender of m on the bus connection conn without waiting
 * for the bus: 1 with *ret set when the sender is known; 0 when m has been
 * queued (referenced) behind a GetConnectionUnixUser on its way, and
 * done(conn, m, ...) will be called when the bus answers, in the order the
 * calls came; -EACCES when the caller cannot be established; -ENOBUFS when
 * too many calls, or too many bytes (1 MiB behind a name's first call,
 * 16 MiB in all), already wait; -EINVAL for a call that carries file
 * descriptors; -ENOMEM.  (On the private socket the caller is its
 * SO_PEERCRED UID: see private.c.) */
int caller_identify(caller_cache *c, DBusConnection *conn, DBusMessage *m, const config *cfg,
                    caller_identified_fn done, void *userdata, caller *ret);

/* Drops every lookup on its way, and the calls waiting for them, without
 * answering them: for a bus connection that is going away. */
void caller_cache_cancel(caller_cache *c);

/* Drops a unique name (it left the bus), or everything (config reload). */
void caller_cache_forget(caller_cache *c, const char *unique_name);
void caller_cache_clear(caller_cache *c);

/* Whether uid is root or in the named group (primary or supplementary). */
bool uid_is_admin(uint32_t uid, const char *admin_group);

/* The user name of uid, or its decimal form when it has none.  malloc'ed. */
char *uid_to_name(uint32_t uid);
/* Resolves a user name; -ENOENT when there is no such user. */
int name_to_uid(const char *name, uint32_t *ret);
