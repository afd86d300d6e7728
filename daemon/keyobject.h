/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A key as the bus shows it: the a{sv} of GetKey/ListKeys, the read-only
 * properties of its object /org/accesskey/KeyStore1/key/<ID>, and the
 * signals that tell of its changes.  Never the secret nor its verifier.
 */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>

#include "record.h"


/* "/org/accesskey/KeyStore1/key/<ID>" into buf (at least 64 bytes). */
const char *key_object_path(const char *id, char buf[static 64]);
/* The ID of a key object path, or NULL when path is not one. */
const char *key_id_from_path(const char *path);

/* The key's fields as an a{sv} with snake_case names (GetKey, ListKeys). */
int key_append_dict(DBusMessageIter *it, const key_record *r, const key_usage *u);
/* The key's properties as an a{sv} with their D-Bus names (GetAll). */
int key_append_properties(DBusMessageIter *it, const key_record *r, const key_usage *u);
/* One property as a variant (Get); -ENOENT when there is no such one. */
int key_append_property(DBusMessageIter *it, const key_record *r, const key_usage *u, const char *name);


typedef enum key_event {
        KEY_CREATED,
        KEY_CHANGED,
        KEY_DELETED,
} key_event;

/* Emits KeyCreated/KeyChanged/KeyDeleted on the Manager object and, for a
 * change, PropertiesChanged on the key object with the changed properties
 * invalidated: values reach only callers who may read them.  No-op without
 * a bus. */
void key_emit(DBusConnection *bus, key_event ev, const char *id);
void key_emit_expiring(DBusConnection *bus, const char *id, uint64_t expires_at);
