/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The private socket: a peer-to-peer D-Bus server (like systemd's
 * /run/systemd/private) serving the same Manager interface with the same
 * authorization, the caller taken from SO_PEERCRED.  It halves the cost of
 * a login and keeps logins working while the bus daemon restarts.
 */
#pragma once

#include "loop.h"
#include "manager.h"

typedef struct private_server private_server;

#define PRIVATE_MAX_CONNECTIONS 4096

/* Listens on path (replacing a stale socket left by a previous run), mode
 * 0666 so that every local user can log in through it. */
int private_start(loop *l, manager *m, const char *path, private_server **ret);
private_server *private_stop(private_server *p);
/* Drops connections that did not authenticate in time (call every second). */
void private_expire(private_server *p);
