/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "keyobject.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "credential.h"
#include "dict.h"
#include "errors.h"
#include "util.h"

/* One field of a key: its name in dictionaries, its property name, and a
 * pointer to its value. */
typedef struct field {
        const char *key, *property;
        int type; /* DBUS_TYPE_STRING, _UINT32, _UINT64, _BOOLEAN, or 'S' for as */
        const void *value;
} field;

enum { N_FIELDS = 20 };

static void key_fields(const key_record *r, const key_usage *u, const bool *active, field f[N_FIELDS]) {
        size_t n = 0;
#define F(k, p, t, v) f[n++] = (field){ k, p, t, v }
        F("id", "Id", DBUS_TYPE_STRING, r->id);
        F("owner_uid", "OwnerUid", DBUS_TYPE_UINT32, &r->owner_uid);
        F("owner_name", "OwnerName", DBUS_TYPE_STRING, r->owner_name);
        F("name", "Name", DBUS_TYPE_STRING, r->name);
        F("description", "Description", DBUS_TYPE_STRING, r->description);
        F("created_at", "CreatedAt", DBUS_TYPE_UINT64, &r->created_at);
        F("created_by", "CreatedBy", DBUS_TYPE_UINT32, &r->created_by);
        F("updated_at", "UpdatedAt", DBUS_TYPE_UINT64, &r->updated_at);
        F("updated_by", "UpdatedBy", DBUS_TYPE_UINT32, &r->updated_by);
        F("expires_at", "ExpiresAt", DBUS_TYPE_UINT64, &r->expires_at);
        F("active", "Active", DBUS_TYPE_BOOLEAN, active);
        F("rotated_at", "RotatedAt", DBUS_TYPE_UINT64, &r->rotated_at);
        F("services", "Services", 'S', r->services);
        F("networks", "Networks", 'S', r->networks);
        F("scopes", "Scopes", 'S', r->scopes);
        F("last_used_at", "LastUsedAt", DBUS_TYPE_UINT64, &u->last_used_at);
        F("last_used_service", "LastUsedService", DBUS_TYPE_STRING, u->last_used_service);
        F("last_used_rhost", "LastUsedRhost", DBUS_TYPE_STRING, u->last_used_rhost);
        F("use_count", "UseCount", DBUS_TYPE_UINT64, &u->use_count);
        F("failures", "Failures", DBUS_TYPE_UINT32, &u->failures);
#undef F
}

static int add_field(DBusMessageIter *array, const char *name, const field *f) {
        switch (f->type) {
        case DBUS_TYPE_STRING:
                return dict_add_string(array, name, f->value);
        case DBUS_TYPE_UINT32:
                return dict_add_uint32(array, name, *(const uint32_t *) f->value);
        case DBUS_TYPE_UINT64:
                return dict_add_uint64(array, name, *(const uint64_t *) f->value);
        case DBUS_TYPE_BOOLEAN:
                return dict_add_bool(array, name, *(const bool *) f->value);
        default:
                return dict_add_strv(array, name, (char *const *) f->value);
        }
}

static int append_all(DBusMessageIter *it, const key_record *r, const key_usage *u, bool properties) {
        bool active = r->state == KEY_STATE_ACTIVE;
        field f[N_FIELDS];
        DBusMessageIter a;
        int k;

        key_fields(r, u, &active, f);
        if ((k = dict_open(it, &a)) < 0)
                return k;
        for (size_t i = 0; i < N_FIELDS; i++)
                if ((k = add_field(&a, properties ? f[i].property : f[i].key, &f[i])) < 0)
                        return k;
        return dict_close(it, &a);
}

int key_append_dict(DBusMessageIter *it, const key_record *r, const key_usage *u) {
        return append_all(it, r, u, false);
}

int key_append_properties(DBusMessageIter *it, const key_record *r, const key_usage *u) {
        return append_all(it, r, u, true);
}

int key_append_property(DBusMessageIter *it, const key_record *r, const key_usage *u, const char *name) {
        bool active = r->state == KEY_STATE_ACTIVE;
        field f[N_FIELDS];
        key_fields(r, u, &active, f);
        for (size_t i = 0; i < N_FIELDS; i++) {
                if (!streq(f[i].property, name))
                        continue;
                /* A variant alone: write it as the value of a one-entry
                 * dictionary would be, without the entry. */
                static const char *const sig[] = { "s", "u", "t", "b", "as" };
                DBusMessageIter v, a;
                int t = f[i].type;
                const char *s = t == DBUS_TYPE_STRING   ? sig[0]
                                : t == DBUS_TYPE_UINT32 ? sig[1]
                                : t == DBUS_TYPE_UINT64 ? sig[2]
                                : t == DBUS_TYPE_BOOLEAN ? sig[3]
                                                         : sig[4];
                if (!dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, s, &v))
                        return -ENOMEM;
                bool ok = true;
                if (t == DBUS_TYPE_STRING) {
                        const char *str = f[i].value ? f[i].value : "";
                        ok = dbus_message_iter_append_basic(&v, t, &str);
                } else if (t == DBUS_TYPE_BOOLEAN) {
                        dbus_bool_t b = *(const bool *) f[i].value;
                        ok = dbus_message_iter_append_basic(&v, t, &b);
                } else if (t == 'S') {
                        char *const *l = f[i].value;
                        ok = dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "s", &a);
                        for (size_t k = 0; ok && l && l[k]; k++)
                                ok = dbus_message_iter_append_basic(&a, DBUS_TYPE_STRING, &l[k]);
                        ok = ok && dbus_message_iter_close_container(&v, &a);
                } else
                        ok = dbus_message_iter_append_basic(&v, t, f[i].value);
                if (!ok || !dbus_message_iter_close_container(it, &v))
                        return -ENOMEM;
                return 0;
        }
        return -ENOENT;
}

const char *key_object_path(const char *id, char buf[static 64]) {
        snprintf(buf, 64, "%s%s", AK_KEY_PATH_PREFIX, id);
        return buf;
}

const char *key_id_from_path(const char *path) {
        size_t n = strlen(AK_KEY_PATH_PREFIX);
        if (!path || strncmp(path, AK_KEY_PATH_PREFIX, n) != 0 || !ak_id_is_valid(path + n))
                return NULL;
        return path + n;
}

static void emit(DBusConnection *bus, DBusMessage *m) {
        if (m) {
                (void) dbus_connection_send(bus, m, NULL);
                dbus_message_unref(m);
        }
}

void key_emit(DBusConnection *bus, key_event ev, const char *id) {
        static const char *const names[] = { "KeyCreated", "KeyChanged", "KeyDeleted" };
        char buf[64];
        const char *path = key_object_path(id, buf);

        if (!bus)
                return;
        DBusMessage *m = dbus_message_new_signal(AK_OBJECT_PATH, AK_MANAGER_INTERFACE, names[ev]);
        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &id, DBUS_TYPE_OBJECT_PATH, &path,
                                           DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                m = NULL;
        }
        emit(bus, m);
        if (ev != KEY_CHANGED)
                return;

        /* PropertiesChanged(s interface, a{sv} changed = {}, as invalidated). */
        key_record none = {};
        key_usage nu = {};
        bool active = false;
        field f[N_FIELDS];
        DBusMessageIter it, a;
        const char *iface = AK_KEY_INTERFACE;
        key_fields(&none, &nu, &active, f);
        m = dbus_message_new_signal(path, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged");
        if (!m)
                return;
        dbus_message_iter_init_append(m, &it);
        bool ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface) && dict_open(&it, &a) == 0 &&
                  dict_close(&it, &a) == 0 && dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &a);
        for (size_t i = 0; ok && i < N_FIELDS; i++)
                ok = dbus_message_iter_append_basic(&a, DBUS_TYPE_STRING, &f[i].property);
        if (!ok || !dbus_message_iter_close_container(&it, &a)) {
                dbus_message_unref(m);
                return;
        }
        emit(bus, m);
}

void key_emit_expiring(DBusConnection *bus, const char *id, uint64_t expires_at) {
        char buf[64];
        const char *path = key_object_path(id, buf);
        if (!bus)
                return;
        DBusMessage *m = dbus_message_new_signal(AK_OBJECT_PATH, AK_MANAGER_INTERFACE, "KeyExpiring");
        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &id, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_UINT64,
                                           &expires_at, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                m = NULL;
        }
        emit(bus, m);
}
