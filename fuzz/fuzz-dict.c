/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The decoding of a{sv} options (common/dict.c) from a D-Bus message, as the
 * daemon reads any local user's CreateKey call.  The input is a marshalled
 * message (dbus_message_marshal()); libdbus validates the wire format, and
 * dict_read() then walks whatever body the message carries.
 *
 * libdbus aborts on a misuse of its API (a get_basic on the wrong type, say)
 * unless DBUS_FATAL_WARNINGS=0, so such a misuse in dict.c is a crash here.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dbus/dbus.h>

#include "dict.h"
#include "util.h"
#include "validate.h"

typedef struct options {
        char *name, *description;
        dict_user owner;
        bool have_owner, have_expires;
        uint64_t expires_at;
        char **services, **networks, **scopes;
} options;

static void options_clear(options *o) {
        free(o->name);
        free(o->description);
        dict_user_clear(&o->owner);
        strv_free(o->services);
        strv_free(o->networks);
        strv_free(o->scopes);
        *o = (options){};
}

static void assert_clean(const char *s, size_t max) {
        assert(s);
        assert(!max || strlen(s) <= max);
        assert(string_is_clean_utf8(s));
}

static void assert_strv(char **l, size_t max) {
        if (!l)
                return;
        size_t n = strv_length(l);
        assert(n <= max);
        for (size_t i = 0; i < n; i++)
                assert_clean(l[i], 1024);
}

static void read_create_key_options(DBusMessage *m, bool strict) {
        options o = {};
        DBusMessageIter it;
        const char *bad = NULL, *reason = NULL;

        /* The table of method_create_key() in daemon/manager.c. */
        const dict_field fields[] = {
                { "name", DICT_STRING, &o.name, KEY_NAME_MAX },
                { "description", DICT_STRING, &o.description, KEY_DESCRIPTION_MAX },
                { "owner", DICT_USER, &o.owner, 0, &o.have_owner },
                { "expires_at", DICT_UINT64, &o.expires_at, 0, &o.have_expires },
                { "services", DICT_STRV, &o.services, KEY_SERVICES_MAX },
                { "networks", DICT_STRV, &o.networks, KEY_NETWORKS_MAX },
                { "scopes", DICT_STRV, &o.scopes, KEY_SCOPES_MAX },
        };

        (void) dbus_message_iter_init(m, &it);
        int r = dict_read(&it, fields, ELEMENTSOF(fields), strict, &bad, &reason);
        assert(r == 0 || r == -EINVAL || r == -ENOMEM);
        if (r == -EINVAL) {
                /* The reason goes into the error reply; the key, when named,
                 * points into the message, which is still alive. */
                assert(reason && *reason);
                if (bad)
                        assert(strlen(bad) < DBUS_MAXIMUM_MESSAGE_LENGTH);
        } else if (r == 0) {
                assert(!bad && !reason);
                if (o.name)
                        assert_clean(o.name, KEY_NAME_MAX);
                if (o.description)
                        assert_clean(o.description, KEY_DESCRIPTION_MAX);
                if (o.have_owner && !o.owner.by_uid)
                        assert_clean(o.owner.name, 256);
                if (!o.have_owner)
                        assert(!o.owner.name && !o.owner.by_uid);
                if (!o.have_expires)
                        assert(o.expires_at == 0);
                assert_strv(o.services, KEY_SERVICES_MAX);
                assert_strv(o.networks, KEY_NETWORKS_MAX);
                assert_strv(o.scopes, KEY_SCOPES_MAX);
        }
        /* On error what was read so far is the caller's to free. */
        options_clear(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        DBusError error;
        DBusMessage *m;

        if (size > DBUS_MAXIMUM_MESSAGE_LENGTH)
                return 0;
        dbus_error_init(&error);
        m = dbus_message_demarshal((const char *) data, (int) size, &error);
        if (!m) {
                dbus_error_free(&error);
                return 0;
        }
        read_create_key_options(m, true);  /* the daemon reading a caller's options */
        read_create_key_options(m, false); /* the client reading a daemon's reply */
        dbus_message_unref(m);
        return 0;
}
