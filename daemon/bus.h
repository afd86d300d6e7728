/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The system bus side: connect, own org.accesskey.KeyStore1, route calls
 * to the manager, and forget callers that leave the bus. */
#pragma once

#include <dbus/dbus.h>

#include "loop.h"
#include "manager.h"

/* address: "system", "session" or a D-Bus address.  Returns 0, -EEXIST when
 * the name is owned by another process, or another negative errno; errors
 * are logged (failing to connect at all only when !quiet). */
int bus_start(loop *l, manager *m, const char *address, bool quiet, DBusConnection **ret);
/* Whether the bus connection of the last bus_start() went away. */
bool bus_is_lost(void);
void bus_stop(loop *l, manager *m, DBusConnection *conn);
