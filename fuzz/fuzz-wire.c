/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire reader (common/wire.c), as the daemon runs it on every message
 * any local user sends to the private socket, checked against libdbus:
 *
 *   - it never reads out of bounds or crashes (AddressSanitizer);
 *   - whatever it reads whole (the header with wire_parse(), then a body
 *     of one of the signatures it reads: Authenticate's call "ssa{sv}", a
 *     reply "a{sv}", an error's "s", or none), libdbus accepts too
 *     (dbus_message_demarshal), with the same type, serial, path, member
 *     and signature, and for an Authenticate call the same ID, secret and
 *     request fields; so the fast path can never take a message the
 *     libdbus path would have refused, nor read it differently.
 *
 * The input is one marshalled message.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dbus/dbus.h>

#include "dict.h"
#include "request.h"
#include "util.h"
#include "wire.h"

static bool same(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}

static bool same_strv(char **a, char **b) {
        size_t n = strv_length(a);
        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        wire_header h;
        wire_reader body;

        if (wire_parse(data, size, &h, &body) < 0)
                return 0;

        const char *sig = strempty(h.signature), *id = NULL, *secret = NULL, *text, *bad, *reason;
        auth_request w = {}, d = {};
        dict_field fw[AUTH_REQUEST_FIELDS], fd[AUTH_REQUEST_FIELDS];
        bool whole;
        auth_request_fields(&w, fw);
        auth_request_fields(&d, fd);
        if (streq(sig, "ssa{sv}"))
                whole = wire_get_string(&body, &id) == 0 && wire_get_string(&body, &secret) == 0 &&
                        wire_get_dict(&body, fw, AUTH_REQUEST_FIELDS, false, &bad, &reason) == 0;
        else if (streq(sig, "a{sv}"))
                whole = wire_get_dict(&body, NULL, 0, false, &bad, &reason) == 0;
        else if (streq(sig, "s"))
                whole = wire_get_string(&body, &text) == 0;
        else
                whole = streq(sig, "");
        if (!whole || !wire_at_end(&body)) {
                auth_request_clear(&w);
                return 0;
        }

        /* Read whole: libdbus must take it, and see the same. */
        DBusError e = DBUS_ERROR_INIT;
        DBusMessage *m = dbus_message_demarshal((const char *) data, (int) size, &e);
        assert(m);
        assert(dbus_message_get_type(m) == h.type);
        assert(dbus_message_get_serial(m) == h.serial);
        assert(dbus_message_get_reply_serial(m) == h.reply_serial);
        assert(same(dbus_message_get_path(m), h.path));
        assert(same(dbus_message_get_interface(m), h.interface));
        assert(same(dbus_message_get_member(m), h.member));
        assert(same(dbus_message_get_error_name(m), h.error_name));
        assert(same(dbus_message_get_destination(m), h.destination));
        assert(same(dbus_message_get_sender(m), h.sender));
        assert(streq(dbus_message_get_signature(m), sig));
        if (id) {
                DBusMessageIter it;
                const char *did, *dsecret;
                assert(dbus_message_iter_init(m, &it));
                dbus_message_iter_get_basic(&it, &did);
                dbus_message_iter_next(&it);
                dbus_message_iter_get_basic(&it, &dsecret);
                dbus_message_iter_next(&it);
                assert(streq(id, did) && streq(secret, dsecret));
                assert(dict_read(&it, fd, AUTH_REQUEST_FIELDS, false, &bad, &reason) == 0);
                assert(same(w.user, d.user) && same(w.service, d.service) &&
                       same(w.rhost, d.rhost) && same(w.tty, d.tty) &&
                       w.keyid_user == d.keyid_user && same_strv(w.scopes, d.scopes) &&
                       w.have_ruid == d.have_ruid && w.ruid == d.ruid);
        }
        auth_request_clear(&w);
        auth_request_clear(&d);
        dbus_message_unref(m);
        return 0;
}
