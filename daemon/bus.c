/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus.h"

#include <errno.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "util.h"

typedef struct bus_ctx {
        loop *l;
        manager *m;
        bool lost;
} bus_ctx;

static bus_ctx ctx;

static DBusHandlerResult on_object(DBusConnection *conn, DBusMessage *msg, void *userdata) {
        bus_ctx *b = userdata;
        return manager_handle(b->m, conn, msg);
}

static DBusHandlerResult on_filter(DBusConnection *conn, DBusMessage *msg, void *userdata) {
        bus_ctx *b = userdata;

        if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected")) {
                /* Logins go on through the private socket; the daemon
                 * reconnects to the bus when it is back (bus_is_lost()). */
                log_warning("lost the connection to the bus; serving the private socket and reconnecting");
                b->lost = true;
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged") &&
            streq(strempty(dbus_message_get_sender(msg)), DBUS_SERVICE_DBUS)) {
                const char *name, *old_owner, *new_owner;
                if (dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner,
                                          DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID) &&
                    name[0] == ':' && !*new_owner)
                        caller_cache_forget(b->m->callers, name);
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static DBusConnection *bus_connect(const char *address, DBusError *e) {
        if (streq(address, "system"))
                return dbus_bus_get_private(DBUS_BUS_SYSTEM, e);
        if (streq(address, "session"))
                return dbus_bus_get_private(DBUS_BUS_SESSION, e);
        DBusConnection *c = dbus_connection_open_private(address, e);
        if (c && !dbus_bus_register(c, e)) {
                dbus_connection_close(c);
                dbus_connection_unref(c);
                return NULL;
        }
        return c;
}

bool bus_is_lost(void) {
        return ctx.lost;
}

int bus_start(loop *l, manager *m, const char *address, bool quiet, DBusConnection **ret) {
        static const DBusObjectPathVTable vtable = { .message_function = on_object };
        DBusError e = DBUS_ERROR_INIT;
        DBusConnection *c = bus_connect(address, &e);
        int r;

        if (!c) {
                if (!quiet)
                        log_error("cannot connect to the bus %s: %s", address, e.message);
                dbus_error_free(&e);
                return -ECONNREFUSED;
        }
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        ctx = (bus_ctx){ l, m, false };

        /* Only callers that leave matter; NameOwnerChanged for unique
         * names with an empty new owner. */
        dbus_bus_add_match(c,
                           "type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS
                           "',member='NameOwnerChanged',arg2=''",
                           &e);
        if (dbus_error_is_set(&e)) {
                log_error("cannot watch callers leaving the bus: %s", e.message);
                r = -EIO;
                goto fail;
        }
        if (!dbus_connection_add_filter(c, on_filter, &ctx, NULL) ||
            !dbus_connection_register_fallback(c, AK_OBJECT_PATH, &vtable, &ctx)) {
                r = -ENOMEM;
                goto fail;
        }
        if ((r = loop_attach_connection(l, c)) < 0)
                goto fail;

        /* Take the name last, when we are ready to answer. */
        int rc = dbus_bus_request_name(c, AK_BUS_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE, &e);
        if (rc != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
                if (dbus_error_is_set(&e))
                        log_error("cannot own %s on the bus: %s (is this accesskeyd running as root, with "
                                  "the D-Bus policy installed?)",
                                  AK_BUS_NAME, e.message);
                else
                        log_error("%s is already owned on the bus: another accesskeyd is running", AK_BUS_NAME);
                r = dbus_error_is_set(&e) ? -EACCES : -EEXIST;
                loop_detach_connection(l, c);
                goto fail;
        }
        log_info("serving %s on the %s bus", AK_BUS_NAME, address);
        m->bus = c;
        *ret = c;
        return 0;
fail:
        dbus_error_free(&e);
        dbus_connection_close(c);
        dbus_connection_unref(c);
        return r;
}

void bus_stop(loop *l, manager *m, DBusConnection *conn) {
        if (!conn)
                return;
        m->bus = NULL;
        /* Lookups on their way were asked on this connection. */
        caller_cache_cancel(m->callers);
        loop_detach_connection(l, conn);
        dbus_connection_close(conn);
        dbus_connection_unref(conn);
}
