/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "caller.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "util.h"

/* Bounded so a flood of short-lived connections cannot grow it forever
 * should NameOwnerChanged be missed: past this, the cache starts over. */
#define CALLER_CACHE_MAX 65536
#define BUS_CALL_TIMEOUT_MS 5000

struct caller_cache {
        hashmap *by_name; /* unique name → caller* */
};

caller_cache *caller_cache_new(void) {
        caller_cache *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->by_name = hashmap_new();
        if (!c->by_name) {
                free(c);
                return NULL;
        }
        return c;
}

caller_cache *caller_cache_free(caller_cache *c) {
        if (c) {
                hashmap_free(c->by_name, free);
                free(c);
        }
        return NULL;
}

void caller_cache_forget(caller_cache *c, const char *unique_name) {
        free(hashmap_remove(c->by_name, unique_name));
}

void caller_cache_clear(caller_cache *c) {
        hashmap *n = hashmap_new();
        if (!n)
                return;
        hashmap_free(c->by_name, free);
        c->by_name = n;
}

int name_to_uid(const char *name, uint32_t *ret) {
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (isempty(name) || getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -ENOENT;
        *ret = res->pw_uid;
        return 0;
}

char *uid_to_name(uint32_t uid) {
        struct passwd pw, *res = NULL;
        char buf[4096], num[16];
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
                return strdup(res->pw_name);
        snprintf(num, sizeof(num), "%u", uid);
        return strdup(num);
}

bool uid_is_admin(uint32_t uid, const char *admin_group) {
        struct passwd pw, *pres = NULL;
        struct group gr, *gres = NULL;
        char pbuf[4096], gbuf[16384];
        gid_t groups[256];
        int n = ELEMENTSOF(groups);

        if (uid == 0)
                return true;
        if (isempty(admin_group))
                return false;
        if (getgrnam_r(admin_group, &gr, gbuf, sizeof(gbuf), &gres) != 0 || !gres)
                return false;
        if (getpwuid_r(uid, &pw, pbuf, sizeof(pbuf), &pres) != 0 || !pres)
                return false;
        if (pres->pw_gid == gres->gr_gid)
                return true;
        /* Too many groups to list is treated as not a member: fail closed. */
        if (getgrouplist(pres->pw_name, pres->pw_gid, groups, &n) < 0)
                return false;
        for (int i = 0; i < n; i++)
                if (groups[i] == gres->gr_gid)
                        return true;
        return false;
}

static int bus_get_uid(DBusConnection *conn, const char *sender, uint32_t *ret) {
        DBusError e = DBUS_ERROR_INIT;
        DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                      "GetConnectionUnixUser");
        if (!m)
                return -ENOMEM;
        if (!dbus_message_append_args(m, DBUS_TYPE_STRING, &sender, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                return -ENOMEM;
        }
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(conn, m, BUS_CALL_TIMEOUT_MS, &e);
        dbus_message_unref(m);
        if (!reply) {
                /* Typically the caller left before we asked: deny. */
                log_debug("cannot learn the UID of %s: %s", sender, e.message);
                dbus_error_free(&e);
                return -EACCES;
        }
        uint32_t uid;
        bool ok = dbus_message_get_args(reply, &e, DBUS_TYPE_UINT32, &uid, DBUS_TYPE_INVALID);
        dbus_message_unref(reply);
        if (!ok) {
                dbus_error_free(&e);
                return -EACCES;
        }
        *ret = uid;
        return 0;
}

int caller_identify(caller_cache *c, DBusConnection *conn, DBusMessage *m, const config *cfg, caller *ret) {
        const char *sender = dbus_message_get_sender(m);
        if (isempty(sender) || sender[0] != ':')
                return -EACCES;
        caller *cached = hashmap_get(c->by_name, sender);
        if (cached) {
                *ret = *cached;
                return 0;
        }

        uint32_t uid;
        int r = bus_get_uid(conn, sender, &uid);
        if (r < 0)
                return r;
        /* (uid_t) -1 is never a real caller. */
        if (uid == UINT32_MAX)
                return -EACCES;
        caller *n = malloc(sizeof(*n));
        if (!n)
                return -ENOMEM;
        *n = (caller){ uid, uid_is_admin(uid, cfg->admin_group) };
        if (hashmap_size(c->by_name) >= CALLER_CACHE_MAX)
                caller_cache_clear(c);
        void *old;
        if (hashmap_put(c->by_name, sender, n, &old) < 0) {
                *ret = *n;
                free(n);
                return 0;
        }
        free(old);
        *ret = *n;
        return 0;
}
