/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client's transport to the daemon, on its private socket or on a bus:
 * a plain Unix socket speaking the D-Bus wire protocol, without a libdbus
 * connection.
 *
 * A login opens one connection and makes one call on it.  libdbus spends
 * three round trips on the SASL handshake (and on a bus a fourth on Hello)
 * before the first message, and most of a login's CPU on connection
 * machinery; here the handshake, Hello and the first call go out in one
 * write (as sd-bus does), so a login costs one connect() and one round
 * trip.  Messages are still built and read with libdbus
 * (dbus_message_marshal/demarshal).
 */
#pragma once

#include <dbus/dbus.h>
#include <stddef.h>
#include <stdint.h>

typedef struct peer_conn peer_conn;

/* Connects to the daemon's private socket at path; nothing is sent yet.
 * Refuses a socket whose listener is neither root nor this process's
 * effective UID: the secret is never handed to an impostor.  -ECONNREFUSED
 * when nobody serves the path, -EINVAL when it cannot be a socket address. */
int peer_connect(const char *path, peer_conn **ret);

/* Connects to the bus at a D-Bus address (its unix:path= or
 * unix:abstract= entry); the first call says Hello first.  -EINVAL when
 * the address has no such entry. */
int peer_connect_bus(const char *address, peer_conn **ret);
peer_conn *peer_close(peer_conn *p);

/* The serial for the next call. */
uint32_t peer_next_serial(peer_conn *p);

/* Sends a marshalled method call whose serial is serial (from
 * peer_next_serial()) and waits at most timeout_ms for its reply, a
 * method return or an error, whole in *ret_reply (malloc'ed).  Errors as
 * for peer_call(). */
int peer_exchange(peer_conn *p, const void *call, size_t len, uint32_t serial, int timeout_ms, uint8_t **ret_reply,
                  size_t *ret_len);

/* Sends m (a method call; its serial is set here) and waits at most
 * timeout_ms for its reply, a method return or an error message, in
 * *ret_reply.  -ECONNREFUSED when the daemon refused or dropped the
 * connection before answering (a retry elsewhere is safe to consider),
 * -ETIMEDOUT, -ENOMEM, -EIO for a garbled stream. */
int peer_call(peer_conn *p, DBusMessage *m, int timeout_ms, DBusMessage **ret_reply);
