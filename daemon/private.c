/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"
#include "util.h"

/* A peer sends requests of a few hundred bytes; a megabyte bounds what a
 * misbehaving client can make us buffer. */
#define PEER_MAX_MESSAGE (1024 * 1024)
/* Replies a peer does not read pile up in our outgoing buffer: past this,
 * the peer is dropped rather than served. */
#define PEER_MAX_OUTGOING (1024 * 1024)
/* A connection must finish the EXTERNAL handshake within this. */
#define PEER_AUTH_DEADLINE (5 * USEC_PER_SEC)
/* Connections one non-root UID may hold; root (sshd, su, login) serves
 * every user and is bounded by PRIVATE_MAX_CONNECTIONS alone. */
#define PEER_MAX_PER_UID 64

typedef struct peer {
        DBusConnection *conn;
        uint64_t accepted_at;
        bool counted; /* its UID has been checked against PEER_MAX_PER_UID */
        uint32_t uid;
} peer;

struct private_server {
        loop *l;
        manager *m;
        DBusServer *server;
        char *path;
        peer *peers;
        size_t n_peers;
};

static peer *find(private_server *p, DBusConnection *c) {
        for (size_t i = 0; i < p->n_peers; i++)
                if (p->peers[i].conn == c)
                        return &p->peers[i];
        return NULL;
}

static void drop(private_server *p, DBusConnection *c) {
        peer *e = find(p, c);
        if (!e)
                return;
        *e = p->peers[--p->n_peers];
        loop_detach_connection(p->l, c);
        dbus_connection_close(c);
        dbus_connection_unref(c);
}

/* Whether a newly authenticated peer's UID already holds its share. */
static bool over_uid_limit(private_server *p, peer *e) {
        size_t n = 0;
        unsigned long uid;
        if (!dbus_connection_get_unix_user(e->conn, &uid))
                return true;
        e->uid = (uint32_t) uid;
        e->counted = true;
        if (uid == 0)
                return false;
        for (size_t i = 0; i < p->n_peers; i++)
                n += p->peers[i].counted && p->peers[i].uid == e->uid;
        return n > PEER_MAX_PER_UID;
}

static DBusHandlerResult on_peer_message(DBusConnection *c, DBusMessage *msg, void *userdata) {
        private_server *p = userdata;
        peer *e = find(p, c);

        if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected") || !e) {
                drop(p, c);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        if (!e->counted && over_uid_limit(p, e)) {
                log_warning("private socket: UID %u holds %d connections already; dropping another", e->uid,
                            PEER_MAX_PER_UID);
                drop(p, c);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        /* A client that does not read its replies is not served more. */
        if (dbus_connection_get_outgoing_size(c) > PEER_MAX_OUTGOING) {
                log_warning("private socket: a client of UID %u does not read its replies; dropped", e->uid);
                drop(p, c);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

void private_expire(private_server *p) {
        uint64_t now = mono_usec();
        /* Connections that never finished the handshake hold a slot and a
         * descriptor each: give them a few seconds. */
        for (size_t i = 0; p && i < p->n_peers;) {
                DBusConnection *c = p->peers[i].conn;
                if (!dbus_connection_get_is_authenticated(c) && now - p->peers[i].accepted_at > PEER_AUTH_DEADLINE)
                        drop(p, c); /* the last entry moved here */
                else
                        i++;
        }
}

static DBusHandlerResult on_peer_object(DBusConnection *c, DBusMessage *msg, void *userdata) {
        private_server *p = userdata;
        return manager_handle(p->m, c, true, msg);
}

/* libdbus admits only its own UID by default; every local user may log
 * in, and the daemon decides per UID what each may do. */
static dbus_bool_t allow_any_user(DBusConnection *c, unsigned long uid, void *userdata) {
        return TRUE;
}

static void on_new_connection(DBusServer *server, DBusConnection *c, void *userdata) {
        static const DBusObjectPathVTable vtable = { .message_function = on_peer_object };
        private_server *p = userdata;

        if (p->n_peers >= PRIVATE_MAX_CONNECTIONS) {
                log_warning("private socket: %d connections open; refusing another", PRIVATE_MAX_CONNECTIONS);
                dbus_connection_close(c);
                return;
        }
        peer *n = realloc(p->peers, (p->n_peers + 1) * sizeof(*n));
        if (!n) {
                dbus_connection_close(c);
                return;
        }
        p->peers = n;
        dbus_connection_set_unix_user_function(c, allow_any_user, NULL, NULL);
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        dbus_connection_set_max_message_size(c, PEER_MAX_MESSAGE);
        dbus_connection_set_max_received_size(c, 4 * PEER_MAX_MESSAGE);
        if (!dbus_connection_add_filter(c, on_peer_message, p, NULL) ||
            !dbus_connection_register_fallback(c, AK_OBJECT_PATH, &vtable, p) || loop_attach_connection(p->l, c) < 0) {
                dbus_connection_close(c);
                return;
        }
        p->peers[p->n_peers++] = (peer){ .conn = dbus_connection_ref(c), .accepted_at = mono_usec() };
}

int private_start(loop *l, manager *m, const char *path, private_server **ret) {
        static const char *mechanisms[] = { "EXTERNAL", NULL };
        DBusError e = DBUS_ERROR_INIT;
        struct stat st;
        char address[512];
        int r;

        _cleanup_(freep) char *escaped = dbus_address_escape_value(path);
        if (!escaped || (size_t) snprintf(address, sizeof(address), "unix:path=%s", escaped) >= sizeof(address))
                return -ENAMETOOLONG;

        /* A socket left by a previous run would make listen() fail.  We own
         * the bus name by now, so no other accesskeyd is serving it. */
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        log_error("private socket: %s exists and is not a socket; remove it or choose another path",
                                  path);
                        return -EEXIST;
                }
                (void) unlink(path);
        }

        private_server *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->l = l;
        p->m = m;
        p->path = strdup(path);
        p->server = dbus_server_listen(address, &e);
        if (!p->path || !p->server) {
                log_error("private socket: cannot listen on %s: %s", path, e.message ? e.message : "out of memory");
                dbus_error_free(&e);
                private_stop(p);
                return -EADDRNOTAVAIL;
        }
        /* Every local user may connect: logins run as many users. */
        if (chmod(path, 0666) < 0) {
                r = -errno;
                log_error("private socket: chmod %s: %m", path);
                private_stop(p);
                return r;
        }
        if (!dbus_server_set_auth_mechanisms(p->server, mechanisms)) {
                private_stop(p);
                return -ENOMEM;
        }
        dbus_server_set_new_connection_function(p->server, on_new_connection, p, NULL);
        if ((r = loop_attach_server(l, p->server)) < 0) {
                private_stop(p);
                return r;
        }
        log_info("serving %s on the private socket %s", AK_BUS_NAME, path);
        *ret = p;
        return 0;
}

private_server *private_stop(private_server *p) {
        if (!p)
                return NULL;
        while (p->n_peers > 0)
                drop(p, p->peers[0].conn);
        free(p->peers);
        if (p->server) {
                dbus_server_disconnect(p->server);
                dbus_server_unref(p->server);
                (void) unlink(p->path);
        }
        free(p->path);
        free(p);
        return NULL;
}
