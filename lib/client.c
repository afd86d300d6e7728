/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libaccesskey: the client side of org.accesskey.KeyStore1.
 *
 * Every connection is private to its handle (never libdbus's shared one),
 * never exits the process on disconnect, and every round trip — the bus
 * Hello included — is bounded by the handle's timeout, because a login must
 * not hang for libdbus's default 25 s when the daemon is stuck.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dbus/dbus.h>

#include "accesskey.h"
#include "credential.h"
#include "dict.h"
#include "errors.h"
#include "peer.h"
#include "util.h"
#include "wire.h"

#define SYSTEM_BUS_ADDRESS "unix:path=/run/dbus/system_bus_socket"

struct ak_client {
        peer_conn *conn;
        bool peer;      /* the private socket: no bus, no destination */
        char *fallback; /* with peer: the bus to retry on if the socket fails */
        int timeout_ms;
        char *last_error;
};

static void set_last_error(ak_client *c, const char *msg) {
        free(c->last_error);
        c->last_error = msg && *msg ? strdup(msg) : NULL;
}

/* The negative errno for a DBusError, remembering its message. */
static int error_from_dbus(ak_client *c, DBusError *e) {
        int r = ak_error_from_dbus(e->name);
        if (c)
                set_last_error(c, e->message);
        dbus_error_free(e);
        return r;
}

static void message_unrefp(DBusMessage **m) {
        if (*m)
                dbus_message_unref(*m);
}

/* The address of a bus: "session" is the user's, as libdbus finds it. */
static int connect_bus(ak_client *c, const char *bus) {
        char runtime[512];
        if (streq(bus, "session")) {
                const char *env = secure_getenv("DBUS_SESSION_BUS_ADDRESS");
                const char *dir = secure_getenv("XDG_RUNTIME_DIR");
                if (env)
                        bus = env;
                else if (dir && (size_t) snprintf(runtime, sizeof(runtime), "unix:path=%s/bus",
                                                  dir) < sizeof(runtime))
                        bus = runtime;
                else {
                        set_last_error(
                                c,
                                "no session bus: DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are unset");
                        return -ECONNREFUSED;
                }
        }
        int r = peer_connect_bus(bus, &c->conn);
        if (r == -EINVAL)
                set_last_error(c, "a bus address must have a unix:path= or unix:abstract= entry");
        return r;
}

static void client_closep(ak_client **c) {
        *c = ak_client_close(*c);
}

int ak_client_open(const char *bus, const char *socket_path, unsigned timeout_ms, ak_client **ret) {
        _cleanup_(client_closep) ak_client *c = calloc(1, sizeof(*c));
        int r = -ECONNREFUSED;

        if (!ret)
                return -EINVAL;
        if (!c)
                return -ENOMEM;
        c->timeout_ms = timeout_ms > 0 ? (int) (timeout_ms > INT32_MAX ? INT32_MAX : timeout_ms)
                                       : AK_DEFAULT_TIMEOUT_MS;

        if (!bus && !socket_path)
                socket_path = AK_DEFAULT_PRIVATE_SOCKET;
        if (socket_path && *socket_path && (r = peer_connect(socket_path, &c->conn)) == 0)
                c->peer = true;
        if (!bus || streq(bus, "system"))
                bus = SYSTEM_BUS_ADDRESS;
        if (c->peer) {
                /* A daemon that accepts and then drops us (overloaded, or
                 * going down) still leaves the bus to try. */
                if (!(c->fallback = strdup(bus)))
                        return -ENOMEM;
        } else
                r = connect_bus(c, bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

ak_client *ak_client_close(ak_client *c) {
        if (c) {
                peer_close(c->conn);
                free(c->fallback);
                free(c->last_error);
                free(c);
        }
        return NULL;
}

const char *ak_client_last_error(const ak_client *c) {
        return c ? c->last_error : NULL;
}

static int new_call(ak_client *c, const char *method, DBusMessage **ret) {
        DBusMessage *m = dbus_message_new_method_call(c->peer ? NULL : AK_BUS_NAME, AK_OBJECT_PATH,
                                                      AK_MANAGER_INTERFACE, method);
        if (!m)
                return -ENOMEM;
        /* A login must never start the daemon (DESIGN.md, PAM module). */
        dbus_message_set_auto_start(m, FALSE);
        *ret = m;
        return 0;
}

/* The private socket refused or dropped us before answering (r): once, on
 * the bus.  (Not after a timeout: that would double the time a login may
 * take.)  1 when the call is to be made again, there. */
static int fall_back(ak_client *c, int r) {
        if (r != -ECONNREFUSED || !c->peer || !c->fallback)
                return r;
        c->conn = peer_close(c->conn);
        c->peer = false;
        r = connect_bus(c, c->fallback);
        return r < 0 ? r : 1;
}

static int call(ak_client *c, DBusMessage *m, DBusMessage **ret_reply) {
        DBusError e = DBUS_ERROR_INIT;
        DBusMessage *reply = NULL;

        set_last_error(c, NULL);
        int r = fall_back(c, peer_call(c->conn, m, c->timeout_ms, &reply));
        if (r == 1) {
                /* A copy: the call was locked with the serial the socket
                 * gave it. */
                _cleanup_(message_unrefp) DBusMessage *copy = dbus_message_copy(m);
                if (!copy || !dbus_message_set_destination(copy, AK_BUS_NAME))
                        return -ENOMEM;
                return call(c, copy, ret_reply);
        }
        if (r < 0)
                return r;
        if (dbus_set_error_from_message(&e, reply)) {
                dbus_message_unref(reply);
                return error_from_dbus(c, &e);
        }
        *ret_reply = reply;
        return 0;
}

/* Checks that a string may go on the wire: libdbus refuses invalid UTF-8
 * with a warning, and we would rather say which argument was wrong. */
static int check_string(ak_client *c, const char *what, const char *s) {
        if (s && !dbus_validate_utf8(s, NULL)) {
                char msg[128];
                snprintf(msg, sizeof(msg), "%s is not valid UTF-8", what);
                set_last_error(c, msg);
                return -EINVAL;
        }
        return 0;
}

static int check_strv(ak_client *c, const char *what, const char *const *v) {
        for (size_t i = 0; v && v[i]; i++) {
                int r = check_string(c, what, v[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_id(ak_client *c, const char *id) {
        if (!ak_id_is_valid(id)) {
                set_last_error(c, "an access key ID is AK followed by 18 characters A-Z and 2-7");
                return -EINVAL;
        }
        return 0;
}

void ak_key_free(ak_key *k) {
        if (!k)
                return;
        free(k->owner_name);
        free(k->name);
        free(k->description);
        strv_free(k->services);
        strv_free(k->networks);
        strv_free(k->scopes);
        free(k->last_used_service);
        free(k->last_used_rhost);
        free(k);
}

void ak_key_list_free(ak_key **keys, size_t n) {
        for (size_t i = 0; keys && i < n; i++)
                ak_key_free(keys[i]);
        free(keys);
}

void ak_secret_free(char *secret) {
        erase_and_free(secret);
}

const char *ak_strerror(int err) {
        return ak_error_text(err < 0 ? err : -err);
}

static int read_key(DBusMessageIter *it, ak_key **ret) {
        ak_key *k = calloc(1, sizeof(*k));
        char *id = NULL;
        const char *bad, *reason;
        if (!k)
                return -ENOMEM;
        const dict_field fields[] = {
                { "id", DICT_STRING, &id },
                { "owner_uid", DICT_UINT32, &k->owner_uid },
                { "owner_name", DICT_STRING, &k->owner_name },
                { "name", DICT_STRING, &k->name },
                { "description", DICT_STRING, &k->description },
                { "created_at", DICT_UINT64, &k->created_at },
                { "created_by", DICT_UINT32, &k->created_by },
                { "updated_at", DICT_UINT64, &k->updated_at },
                { "updated_by", DICT_UINT32, &k->updated_by },
                { "expires_at", DICT_UINT64, &k->expires_at },
                { "active", DICT_BOOL, &k->active },
                { "rotated_at", DICT_UINT64, &k->rotated_at },
                { "services", DICT_STRV, &k->services },
                { "networks", DICT_STRV, &k->networks },
                { "scopes", DICT_STRV, &k->scopes },
                { "last_used_at", DICT_UINT64, &k->last_used_at },
                { "last_used_service", DICT_STRING, &k->last_used_service },
                { "last_used_rhost", DICT_STRING, &k->last_used_rhost },
                { "use_count", DICT_UINT64, &k->use_count },
                { "failures", DICT_UINT32, &k->failures },
        };
        int r = dict_read(it, fields, ELEMENTSOF(fields), false, &bad, &reason);
        if (r == 0 && !ak_id_is_valid(id))
                r = -EIO;
        if (r < 0) {
                free(id);
                ak_key_free(k);
                return r == -EINVAL ? -EIO : r;
        }
        memcpy(k->id, id, AK_ID_LEN + 1);
        free(id);
        /* Arrays are NULL-terminated even when the daemon sent none. */
        char ***lists[] = { &k->services, &k->networks, &k->scopes };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                if (!*lists[i] && !(*lists[i] = calloc(1, sizeof(char *)))) {
                        ak_key_free(k);
                        return -ENOMEM;
                }
        *ret = k;
        return 0;
}

/* Takes the (s id, s secret) — or with ret_id NULL, (s secret) — of a
 * reply, wiping the secret inside the reply once copied. */
static int take_secret(ak_client *c, DBusMessage *reply, char **ret_id, char **ret_secret) {
        const char *id = NULL, *secret;
        DBusError e = DBUS_ERROR_INIT;
        bool ok = ret_id ? dbus_message_get_args(reply, &e, DBUS_TYPE_STRING, &id, DBUS_TYPE_STRING,
                                                 &secret, DBUS_TYPE_INVALID)
                         : dbus_message_get_args(reply, &e, DBUS_TYPE_STRING, &secret,
                                                 DBUS_TYPE_INVALID);
        if (!ok)
                return error_from_dbus(c, &e);
        if ((ret_id && !ak_id_is_valid(id)) || ak_secret_check(secret) < 0)
                return -EIO;
        _cleanup_(freep) char *i = ret_id ? strdup(id) : NULL;
        char *s = strdup(secret);
        /* The reply still holds the secret: wipe it before it is freed. */
        erase_mem((char *) secret, strlen(secret));
        if ((ret_id && !i) || !s) {
                erase_and_free(s);
                return -ENOMEM;
        }
        if (ret_id)
                *ret_id = TAKE_PTR(i);
        *ret_secret = s;
        return 0;
}

int ak_create_key(ak_client *c, const ak_create_options *o, char **ret_id, char **ret_secret) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        DBusMessageIter it, a;
        int r;

        if (!c || !o || !ret_id || !ret_secret)
                return -EINVAL;
        if ((r = check_string(c, "the name", o->name)) < 0 ||
            (r = check_string(c, "the description", o->description)) < 0 ||
            (r = check_string(c, "the owner", o->owner)) < 0 ||
            (r = check_strv(c, "a service", o->services)) < 0 ||
            (r = check_strv(c, "a network", o->networks)) < 0 ||
            (r = check_strv(c, "a scope", o->scopes)) < 0)
                return r;
        if ((r = new_call(c, "CreateKey", &m)) < 0)
                return r;
        dbus_message_iter_init_append(m, &it);
        if ((r = dict_open(&it, &a)) < 0)
                return r;
        if ((o->name && (r = dict_add_string(&a, "name", o->name)) < 0) ||
            (o->description && (r = dict_add_string(&a, "description", o->description)) < 0) ||
            (o->owner && (r = dict_add_string(&a, "owner", o->owner)) < 0) ||
            (o->set_expires && (r = dict_add_uint64(&a, "expires_at", o->expires_at)) < 0) ||
            (o->services && (r = dict_add_strv(&a, "services", (char *const *) o->services)) < 0) ||
            (o->networks && (r = dict_add_strv(&a, "networks", (char *const *) o->networks)) < 0) ||
            (o->scopes && (r = dict_add_strv(&a, "scopes", (char *const *) o->scopes)) < 0) ||
            (r = dict_close(&it, &a)) < 0)
                return r;
        if ((r = call(c, m, &reply)) < 0)
                return r;

        return take_secret(c, reply, ret_id, ret_secret);
}

int ak_list_keys(ak_client *c, const ak_list_filter *f, ak_key ***ret_keys, size_t *ret_n) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        DBusMessageIter it, a;
        int r;

        if (!c || !ret_keys || !ret_n)
                return -EINVAL;
        if (f && (r = check_string(c, "the owner", f->owner)) < 0)
                return r;
        if ((r = new_call(c, "ListKeys", &m)) < 0)
                return r;
        dbus_message_iter_init_append(m, &it);
        if ((r = dict_open(&it, &a)) < 0 ||
            (f && f->owner && (r = dict_add_string(&a, "owner", f->owner)) < 0) ||
            (f && f->all && (r = dict_add_bool(&a, "all", true)) < 0) ||
            (r = dict_close(&it, &a)) < 0)
                return r;
        if ((r = call(c, m, &reply)) < 0)
                return r;

        if (!dbus_message_iter_init(reply, &it) ||
            !streq(dbus_message_get_signature(reply), "aa{sv}"))
                return -EIO;
        dbus_message_iter_recurse(&it, &a);
        ak_key **keys = NULL;
        size_t n = 0;
        for (; dbus_message_iter_get_arg_type(&a) == DBUS_TYPE_ARRAY; dbus_message_iter_next(&a)) {
                ak_key **k = realloc(keys, (n + 1) * sizeof(*keys));
                if (!k) {
                        ak_key_list_free(keys, n);
                        return -ENOMEM;
                }
                keys = k;
                if ((r = read_key(&a, &keys[n])) < 0) {
                        ak_key_list_free(keys, n);
                        return r;
                }
                n++;
        }
        *ret_keys = keys;
        *ret_n = n;
        return (int) (n > INT32_MAX ? INT32_MAX : n);
}

int ak_get_key(ak_client *c, const char *id, ak_key **ret) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        DBusMessageIter it;
        int r;

        if (!c || !ret)
                return -EINVAL;
        if ((r = check_id(c, id)) < 0 || (r = new_call(c, "GetKey", &m)) < 0)
                return r;
        if (!dbus_message_append_args(m, DBUS_TYPE_STRING, &id, DBUS_TYPE_INVALID))
                return -ENOMEM;
        if ((r = call(c, m, &reply)) < 0)
                return r;
        if (!dbus_message_iter_init(reply, &it) ||
            !streq(dbus_message_get_signature(reply), "a{sv}"))
                return -EIO;
        return read_key(&it, ret);
}

/* A method whose only argument is the key ID and which returns nothing. */
static int call_with_id(ak_client *c, const char *method, const char *id) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        int r;

        if (!c)
                return -EINVAL;
        if ((r = check_id(c, id)) < 0 || (r = new_call(c, method, &m)) < 0)
                return r;
        if (!dbus_message_append_args(m, DBUS_TYPE_STRING, &id, DBUS_TYPE_INVALID))
                return -ENOMEM;
        return call(c, m, &reply);
}

int ak_delete_key(ak_client *c, const char *id) {
        return call_with_id(c, "DeleteKey", id);
}

int ak_deactivate_key(ak_client *c, const char *id) {
        return call_with_id(c, "DeactivateKey", id);
}

int ak_reactivate_key(ak_client *c, const char *id) {
        return call_with_id(c, "ReactivateKey", id);
}

/* Appends an empty-or-NULL-terminated list; NULL means an empty one. */
static int add_list(DBusMessageIter *a, const char *key, const char *const *v) {
        static const char *const none[] = { NULL };
        return dict_add_strv(a, key, (char *const *) (v ? v : none));
}

int ak_update_key(ak_client *c, const char *id, const ak_update_options *o) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        DBusMessageIter it, a;
        int r;

        if (!c || !o)
                return -EINVAL;
        if ((r = check_id(c, id)) < 0 || (r = check_string(c, "the name", o->name)) < 0 ||
            (r = check_string(c, "the description", o->description)) < 0 ||
            (r = check_strv(c, "a service", o->services)) < 0 ||
            (r = check_strv(c, "a network", o->networks)) < 0 ||
            (r = check_strv(c, "a scope", o->scopes)) < 0 || (r = new_call(c, "UpdateKey", &m)) < 0)
                return r;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &id))
                return -ENOMEM;
        if ((r = dict_open(&it, &a)) < 0 ||
            (o->name && (r = dict_add_string(&a, "name", o->name)) < 0) ||
            (o->description && (r = dict_add_string(&a, "description", o->description)) < 0) ||
            (o->set_expires && (r = dict_add_uint64(&a, "expires_at", o->expires_at)) < 0) ||
            (o->set_services && (r = add_list(&a, "services", o->services)) < 0) ||
            (o->set_networks && (r = add_list(&a, "networks", o->networks)) < 0) ||
            (o->set_scopes && (r = add_list(&a, "scopes", o->scopes)) < 0) ||
            (r = dict_close(&it, &a)) < 0)
                return r;
        return call(c, m, &reply);
}

int ak_rotate_secret(ak_client *c, const char *id, uint64_t grace_usec, char **ret_secret) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        DBusMessageIter it, a;
        int r;

        if (!c || !ret_secret)
                return -EINVAL;
        if ((r = check_id(c, id)) < 0 || (r = new_call(c, "RotateSecret", &m)) < 0)
                return r;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &id))
                return -ENOMEM;
        if ((r = dict_open(&it, &a)) < 0 ||
            (grace_usec && (r = dict_add_uint64(&a, "grace", grace_usec)) < 0) ||
            (r = dict_close(&it, &a)) < 0)
                return r;
        if ((r = call(c, m, &reply)) < 0)
                return r;
        return take_secret(c, reply, NULL, ret_secret);
}

int ak_get_summary(ak_client *c, uint64_t within_usec, ak_summary *ret) {
        _cleanup_(message_unrefp) DBusMessage *m = NULL, *reply = NULL;
        DBusMessageIter it, a;
        const char *bad, *reason;
        ak_summary s = {};
        int r;

        if (!c || !ret)
                return -EINVAL;
        if ((r = new_call(c, "GetSummary", &m)) < 0)
                return r;
        dbus_message_iter_init_append(m, &it);
        if ((r = dict_open(&it, &a)) < 0 ||
            (within_usec && (r = dict_add_uint64(&a, "within", within_usec)) < 0) ||
            (r = dict_close(&it, &a)) < 0)
                return r;
        if ((r = call(c, m, &reply)) < 0)
                return r;
        const dict_field fields[] = {
                { "total", DICT_UINT64, &s.total },       { "active", DICT_UINT64, &s.active },
                { "inactive", DICT_UINT64, &s.inactive }, { "expired", DICT_UINT64, &s.expired },
                { "expiring", DICT_UINT64, &s.expiring }, { "within", DICT_UINT64, &s.within },
        };
        if (!dbus_message_iter_init(reply, &it) ||
            dict_read(&it, fields, ELEMENTSOF(fields), false, &bad, &reason) < 0)
                return -EIO;
        *ret = s;
        return 0;
}

void ak_auth_result_free(ak_auth_result *res) {
        if (res) {
                free(res->owner_name);
                strv_free(res->scopes);
                free(res);
        }
}

/* Who asked for a local login, for the daemon's rate limiting of the
 * logins root runs for others (su, sudo): the user the caller names
 * (PAM_RUSER), else the real UID of this process, which a setuid program
 * keeps from whoever ran it (sudo sets it to 0 before PAM: it names
 * PAM_RUSER).  The daemon takes the caller's own UID when none is sent, so
 * it is sent only when it differs; and believes it only from root and
 * other callers it trusts with the remote host. */
static bool requesting_uid(const ak_auth_request *req, uint32_t *ret) {
        uid_t uid = getuid();
        if (!isempty(req->ruser)) {
                struct passwd pw, *found = NULL;
                char buf[16384];
                if (getpwnam_r(req->ruser, &pw, buf, sizeof(buf), &found) == 0 && found)
                        uid = found->pw_uid;
        }
        *ret = (uint32_t) uid;
        return uid != geteuid();
}

/* One Authenticate on the wire, without libdbus: the call of every
 * login.  *ret_reply is the whole reply message. */
static int authenticate_once(ak_client *c, const char *id, const char *secret,
                             const ak_auth_request *req, uint8_t **ret_reply, size_t *ret_len) {
        _cleanup_(wire_writer_done) wire_writer body = {};
        dict_field f[7];
        size_t n = 0;
        bool yes = true;
        uint32_t ruid;

        if (req->user)
                f[n++] = (dict_field){ "user", DICT_STRING, (void *) &req->user };
        if (req->service)
                f[n++] = (dict_field){ "service", DICT_STRING, (void *) &req->service };
        if (req->rhost)
                f[n++] = (dict_field){ "rhost", DICT_STRING, (void *) &req->rhost };
        if (req->tty)
                f[n++] = (dict_field){ "tty", DICT_STRING, (void *) &req->tty };
        if (req->keyid_user)
                f[n++] = (dict_field){ "keyid_user", DICT_BOOL, &yes };
        if (req->scopes && req->scopes[0])
                f[n++] = (dict_field){ "scopes", DICT_STRV, (void *) &req->scopes };
        if (requesting_uid(req, &ruid))
                f[n++] = (dict_field){ "ruid", DICT_UINT32, &ruid };
        wire_put_string(&body, id);
        wire_put_string(&body, secret);
        wire_put_dict(&body, f, n);

        uint32_t serial = peer_next_serial(c->conn);
        wire_header h = { .type = WIRE_METHOD_CALL,
                          /* A login must never start the daemon (DESIGN.md, PAM module). */
                          .flags = WIRE_FLAG_NO_AUTO_START,
                          .serial = serial,
                          .path = AK_OBJECT_PATH,
                          .interface = AK_MANAGER_INTERFACE,
                          .member = "Authenticate",
                          .destination = c->peer ? NULL : AK_BUS_NAME,
                          .signature = "ssa{sv}" };
        uint8_t *m;
        size_t len;
        int r = wire_message(&h, &body, &m, &len);
        if (r < 0)
                return r;
        r = peer_exchange(c->conn, m, len, serial, c->timeout_ms, ret_reply, ret_len);
        /* The request held the secret. */
        erase_mem(m, len);
        free(m);
        return r;
}

/* A reply beyond the wire reader (a newer daemon's, with a type it does not
 * take): libdbus reads it, with dict_read()'s rules, as it always did. */
static int read_auth_reply_libdbus(ak_client *c, const uint8_t *m, size_t len,
                                   const dict_field *fields, size_t n) {
        DBusError e = DBUS_ERROR_INIT;
        DBusMessageIter it;
        const char *bad, *reason;

        _cleanup_(message_unrefp) DBusMessage *msg =
                dbus_message_demarshal((const char *) m, (int) len, &e);
        if (!msg) {
                bool oom = dbus_error_has_name(&e, DBUS_ERROR_NO_MEMORY);
                dbus_error_free(&e);
                return oom ? -ENOMEM : -EIO;
        }
        if (dbus_set_error_from_message(&e, msg))
                return error_from_dbus(c, &e);
        if (!streq(dbus_message_get_signature(msg), "a{sv}") || !dbus_message_iter_init(msg, &it))
                return -EIO;
        /* A reply the daemon should never send is the daemon's fault, not
         * the caller's argument. */
        int r = dict_read(&it, fields, n, false, &bad, &reason);
        return r < 0 && r != -ENOMEM ? -EIO : r;
}

/* Reads Authenticate's answer: the result, or the daemon's error. */
static int read_auth_reply(ak_client *c, const char *id, const uint8_t *m, size_t len,
                           ak_auth_result **ret) {
        wire_header h;
        wire_reader body;
        const char *bad, *reason, *text = NULL;
        char *rid = NULL;
        ak_auth_result *res = calloc(1, sizeof(*res));
        int r;

        if (!res)
                return -ENOMEM;
        const dict_field fields[] = {
                { "id", DICT_STRING, &rid },
                { "owner_uid", DICT_UINT32, &res->owner_uid },
                { "owner_name", DICT_STRING, &res->owner_name },
                { "scopes", DICT_STRV, &res->scopes },
                { "expires_at", DICT_UINT64, &res->expires_at },
                { "expires_soon", DICT_BOOL, &res->expires_soon },
        };
        r = wire_parse(m, len, &h, &body);
        if (r == 0 && h.type == WIRE_ERROR) {
                if (h.signature && h.signature[0] == 's' && wire_get_string(&body, &text) < 0)
                        text = NULL;
                set_last_error(c, text);
                r = ak_error_from_dbus(h.error_name);
                goto done;
        }
        if (r == 0 && !streq(strempty(h.signature), "a{sv}")) {
                r = -EIO;
                goto done;
        }
        if (r == 0 &&
            (r = wire_get_dict(&body, fields, ELEMENTSOF(fields), false, &bad, &reason)) == 0 &&
            !wire_at_end(&body))
                r = -EBADMSG;
        if (r == -EBADMSG) {
                /* Start again from nothing: the wire reader may have
                 * filled some fields. */
                free(rid);
                rid = NULL;
                free(res->owner_name);
                strv_free(res->scopes);
                *res = (ak_auth_result){};
                if ((r = read_auth_reply_libdbus(c, m, len, fields, ELEMENTSOF(fields))) < 0)
                        goto done;
        }
        if (r < 0 || !rid || !streq(rid, id) || !res->owner_name) {
                r = r == -ENOMEM ? r : -EIO;
                goto done;
        }
        memcpy(res->id, rid, AK_ID_LEN + 1);
        if (!res->scopes && !(res->scopes = calloc(1, sizeof(char *)))) {
                r = -ENOMEM;
                goto done;
        }
        *ret = TAKE_PTR(res);
        r = 0;
done:
        free(rid);
        ak_auth_result_free(res);
        return r;
}

int ak_authenticate(ak_client *c, const char *id, const char *secret, const ak_auth_request *req,
                    ak_auth_result **ret) {
        uint8_t *reply;
        size_t len;
        int r;

        if (!c || !req || !ret)
                return -EINVAL;
        /* The format says no before any round trip: a typo or an ordinary
         * password never reaches the daemon. */
        if ((r = check_id(c, id)) < 0)
                return r;
        if (ak_secret_check(secret) < 0) {
                set_last_error(c, "the secret is not well-formed (aks_ and 46 letters and digits)");
                return -EINVAL;
        }
        if ((r = check_string(c, "the user", req->user)) < 0 ||
            (r = check_string(c, "the service", req->service)) < 0 ||
            (r = check_string(c, "the remote host", req->rhost)) < 0 ||
            (r = check_string(c, "the tty", req->tty)) < 0 ||
            (r = check_strv(c, "a scope", req->scopes)) < 0)
                return r;
        set_last_error(c, NULL);
        r = fall_back(c, authenticate_once(c, id, secret, req, &reply, &len));
        if (r == 1)
                r = authenticate_once(c, id, secret, req, &reply, &len);
        if (r < 0)
                return r;
        r = read_auth_reply(c, id, reply, len, ret);
        free(reply);
        return r;
}
