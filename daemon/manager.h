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
#include "wire.h"

typedef struct held_reply held_reply;

typedef struct manager {
        keystore *ks;
        usage_cache *usage;
        caller_cache *callers;
        config cfg;
        ratelimit *failures;
        ratelimit *changes;  /* lifecycle calls per UID */
        DBusConnection *bus; /* for signals; NULL until connected */
        unsigned generation; /* bumped on every reload: cached callers are stale */
        /* Sends a reply that was made after its call returned (a change
         * written to disk) to connection peer of the private socket. */
        void (*peer_reply)(void *userdata, uint64_t peer, DBusMessage *reply);
        void *peer_reply_userdata;
        held_reply *held; /* refusals of rate-limited changes, sent when due */
        size_t n_held;
} manager;

/* Sends the held refusals that are due (all of them with all); the daemon
 * calls it every 100 ms, and with all before it stops. */
void manager_release_held(manager *m, bool all);

/* Handles a call from the bus to the daemon's objects (any interface) and
 * sends its reply; returns NOT_YET_HANDLED for what it does not know. */
DBusHandlerResult manager_handle(manager *m, DBusConnection *conn, DBusMessage *msg);

/* The same for a call on the private socket from who (its SO_PEERCRED
 * UID) on its connection number peer: the reply, if any, is left in
 * *ret_reply for the caller to send.  A lifecycle change answers once it
 * is on disk: *ret_deferred is then true, and the reply goes later
 * through m->peer_reply. */
DBusHandlerResult manager_handle_peer(manager *m, const caller *who, uint64_t peer, DBusMessage *msg,
                                      DBusMessage **ret_reply, bool *ret_deferred);

/* Whether h is an Authenticate call, which manager_authenticate_wire()
 * may take. */
bool manager_is_authenticate(const wire_header *h);

/* Authenticate from who on the private socket, read and answered on the
 * wire without libdbus (h and body: the parsed call; serial: the reply's).
 * 0 with the reply message (a return or an error) in *ret, malloc'ed;
 * -EBADMSG when the message is not a well-formed Authenticate, which then
 * goes to manager_handle_peer() as any other call; -ENOMEM. */
int manager_authenticate_wire(manager *m, const caller *who, const wire_header *h, wire_reader *body,
                              uint32_t serial, uint8_t **ret, size_t *ret_len);
