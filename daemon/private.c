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

struct private_server {
        loop *l;
        manager *m;
        DBusServer *server;
        char *path;
        DBusConnection **conns;
        size_t n_conns;
};

static void drop(private_server *p, DBusConnection *c) {
        for (size_t i = 0; i < p->n_conns; i++)
                if (p->conns[i] == c) {
                        p->conns[i] = p->conns[--p->n_conns];
                        loop_detach_connection(p->l, c);
                        dbus_connection_close(c);
                        dbus_connection_unref(c);
                        return;
                }
}

static DBusHandlerResult on_peer_message(DBusConnection *c, DBusMessage *msg, void *userdata) {
        private_server *p = userdata;
        if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
                drop(p, c);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
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

        if (p->n_conns >= PRIVATE_MAX_CONNECTIONS) {
                log_warning("private socket: %d connections open; refusing another", PRIVATE_MAX_CONNECTIONS);
                dbus_connection_close(c);
                return;
        }
        DBusConnection **n = realloc(p->conns, (p->n_conns + 1) * sizeof(*n));
        if (!n) {
                dbus_connection_close(c);
                return;
        }
        p->conns = n;
        dbus_connection_set_unix_user_function(c, allow_any_user, NULL, NULL);
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        dbus_connection_set_max_message_size(c, PEER_MAX_MESSAGE);
        dbus_connection_set_max_received_size(c, 4 * PEER_MAX_MESSAGE);
        if (!dbus_connection_add_filter(c, on_peer_message, p, NULL) ||
            !dbus_connection_register_fallback(c, AK_OBJECT_PATH, &vtable, p) || loop_attach_connection(p->l, c) < 0) {
                dbus_connection_close(c);
                return;
        }
        p->conns[p->n_conns++] = dbus_connection_ref(c);
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
        while (p->n_conns > 0)
                drop(p, p->conns[0]);
        free(p->conns);
        if (p->server) {
                dbus_server_disconnect(p->server);
                dbus_server_unref(p->server);
                (void) unlink(p->path);
        }
        free(p->path);
        free(p);
        return NULL;
}
