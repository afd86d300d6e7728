/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The org.accesskey.KeyStore1.Manager methods: argument checks,
 * authorization, and the keystore and policy calls behind them.  Negative
 * errno values become D-Bus error names in exactly one place, reply_error().
 */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>

#include "caller.h"
#include "config.h"
#include "keystore.h"
#include "ratelimit.h"
#include "usage.h"

typedef struct manager {
        keystore *ks;
        usage_cache *usage;
        caller_cache *callers;
        config cfg;
        ratelimit *failures;
        DBusConnection *bus; /* for signals; NULL until connected */
} manager;

/* Handles a call to the Manager object (any interface); returns
 * NOT_YET_HANDLED for what it does not know. */
DBusHandlerResult manager_handle(manager *m, DBusConnection *conn, bool peer, DBusMessage *msg);
