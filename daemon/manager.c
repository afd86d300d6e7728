/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "dict.h"
#include "errors.h"
#include "introspect-xml.h"
#include "log.h"
#include "policy.h"
#include "util.h"
#include "validate.h"

typedef struct call {
        manager *m;
        DBusConnection *conn;
        DBusMessage *msg;
        caller who;
        char err[512]; /* the error message, when a handler fails */
} call;

static int fail(call *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(call *c, int err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
        return err;
}

static void message_unrefp(DBusMessage **m) {
        if (*m)
                dbus_message_unref(*m);
}

/* The one place where a negative errno becomes a D-Bus error. */
static void reply_error(call *c, int err) {
        const char *text = c->err[0] ? c->err : ak_error_text(err);
        if (err != -ENOMEM && !c->err[0] && err != -ENOENT && err != -EACCES)
                log_error("%s: %s", dbus_message_get_member(c->msg), strerror(-err));
        _cleanup_(message_unrefp) DBusMessage *reply = dbus_message_new_error(c->msg, ak_error_to_dbus(err), text);
        if (reply)
                (void) dbus_connection_send(c->conn, reply, NULL);
}

static bool may_manage(const call *c, const key_record *rec) {
        return c->who.admin || c->who.uid == rec->owner_uid;
}

/* A key the caller may not manage is reported exactly like a missing one:
 * its existence is not confirmed. */
static int get_managed(call *c, const char *id, key_record **ret) {
        key_record *rec = NULL;
        int r = ak_id_is_valid(id) ? keystore_get(c->m->ks, id, &rec) : -EINVAL;
        if (r == -EINVAL)
                return fail(c, r, "'%s' is not an access key ID (AK followed by 18 characters A-Z, 2-7)", id);
        if (r == -ENOENT || (r == 0 && !may_manage(c, rec))) {
                key_record_free(rec);
                return fail(c, -ENOENT, "no access key %s among the keys you may manage", id);
        }
        if (r < 0)
                return r;
        *ret = rec;
        return 0;
}

static int append_key(DBusMessageIter *it, const key_record *rec, const key_usage *u) {
        DBusMessageIter a;
        int r;
        if ((r = dict_open(it, &a)) < 0 || (r = dict_add_string(&a, "id", rec->id)) < 0 ||
            (r = dict_add_uint32(&a, "owner_uid", rec->owner_uid)) < 0 ||
            (r = dict_add_string(&a, "owner_name", rec->owner_name)) < 0 ||
            (r = dict_add_string(&a, "name", rec->name)) < 0 ||
            (r = dict_add_string(&a, "description", rec->description)) < 0 ||
            (r = dict_add_uint64(&a, "created_at", rec->created_at)) < 0 ||
            (r = dict_add_uint32(&a, "created_by", rec->created_by)) < 0 ||
            (r = dict_add_uint64(&a, "updated_at", rec->updated_at)) < 0 ||
            (r = dict_add_uint32(&a, "updated_by", rec->updated_by)) < 0 ||
            (r = dict_add_uint64(&a, "expires_at", rec->expires_at)) < 0 ||
            (r = dict_add_bool(&a, "active", rec->state == KEY_STATE_ACTIVE)) < 0 ||
            (r = dict_add_uint64(&a, "rotated_at", rec->rotated_at)) < 0 ||
            (r = dict_add_strv(&a, "services", rec->services)) < 0 ||
            (r = dict_add_strv(&a, "networks", rec->networks)) < 0 ||
            (r = dict_add_strv(&a, "scopes", rec->scopes)) < 0 ||
            (r = dict_add_uint64(&a, "last_used_at", u->last_used_at)) < 0 ||
            (r = dict_add_string(&a, "last_used_service", u->last_used_service)) < 0 ||
            (r = dict_add_string(&a, "last_used_rhost", u->last_used_rhost)) < 0 ||
            (r = dict_add_uint64(&a, "use_count", u->use_count)) < 0 ||
            (r = dict_add_uint32(&a, "failures", u->failures)) < 0)
                return r;
        return dict_close(it, &a);
}

/* Reads the a{sv} argument at it strictly, naming a bad key in the error. */
static int read_options(call *c, DBusMessageIter *it, const dict_field *fields, size_t n, const char *what) {
        const char *bad, *reason;
        int r = dict_read(it, fields, n, true, &bad, &reason);
        if (r == -EINVAL) {
                if (bad)
                        return fail(c, r, "%s '%s' %s", what, bad, reason);
                return fail(c, r, "%s: %s", what, reason);
        }
        return r;
}

static int check_list(call *c, const char *field, char **l, size_t max, const char *(*check)(const char *)) {
        size_t n = strv_length(l);
        if (n > max)
                return fail(c, -EINVAL, "%s: at most %zu entries, %zu given", field, max, n);
        for (size_t i = 0; i < n; i++) {
                const char *reason = check(l[i]);
                if (reason)
                        return fail(c, -EINVAL, "%s: '%s' %s", field, l[i], reason);
                for (size_t k = 0; k < i; k++)
                        if (streq(l[k], l[i]))
                                return fail(c, -EINVAL, "%s: '%s' is given twice", field, l[i]);
        }
        return 0;
}

/* The UID an owner option names; only administrators may name another
 * user. */
static int resolve_owner(call *c, const dict_user *u, bool given, uint32_t *ret) {
        uint32_t uid = c->who.uid;
        if (given) {
                if (u->by_uid)
                        uid = u->uid;
                else if (name_to_uid(u->name, &uid) < 0)
                        return fail(c, -EINVAL, "owner: no user '%s' on this host", u->name);
        }
        if (uid == UINT32_MAX)
                return fail(c, -EINVAL, "owner: 4294967295 is not a valid UID");
        if (uid != c->who.uid && !c->who.admin)
                return fail(c, -EACCES, "only administrators may act on keys of other users");
        *ret = uid;
        return 0;
}

static int method_create_key(call *c, DBusMessage **ret) {
        _cleanup_(freep) char *name = NULL, *description = NULL;
        _cleanup_(strv_freep) char **services = NULL, **networks = NULL, **scopes = NULL;
        dict_user owner = {};
        bool have_owner = false, have_expires = false;
        uint64_t expires_at = 0, now = now_usec();
        DBusMessageIter it;
        int r;

        dbus_message_iter_init(c->msg, &it);
        const dict_field fields[] = {
                { "name", DICT_STRING, &name, KEY_NAME_MAX },
                { "description", DICT_STRING, &description, KEY_DESCRIPTION_MAX },
                { "owner", DICT_USER, &owner, 0, &have_owner },
                { "expires_at", DICT_UINT64, &expires_at, 0, &have_expires },
                { "services", DICT_STRV, &services, KEY_SERVICES_MAX },
                { "networks", DICT_STRV, &networks, KEY_NETWORKS_MAX },
                { "scopes", DICT_STRV, &scopes, KEY_SCOPES_MAX },
        };
        r = read_options(c, &it, fields, ELEMENTSOF(fields), "option");
        uint32_t owner_uid = 0;
        if (r == 0)
                r = resolve_owner(c, &owner, have_owner, &owner_uid);
        dict_user_clear(&owner);
        if (r < 0)
                return r;
        if (isempty(name))
                return fail(c, -EINVAL, "option 'name' is required: a label of 1 to %d bytes", KEY_NAME_MAX);
        if (have_expires && expires_at != 0 && expires_at <= now)
                return fail(c, -EINVAL, "option 'expires_at' is in the past; give a future time or 0 for never");
        if ((r = check_list(c, "services", services, KEY_SERVICES_MAX, validate_service_name)) < 0 ||
            (r = check_list(c, "networks", networks, KEY_NETWORKS_MAX, validate_network)) < 0 ||
            (r = check_list(c, "scopes", scopes, KEY_SCOPES_MAX, validate_scope)) < 0)
                return r;

        _cleanup_(key_record_freep) key_record *rec = key_record_new();
        if (!rec)
                return -ENOMEM;
        rec->owner_uid = owner_uid;
        rec->owner_name = uid_to_name(owner_uid);
        rec->name = TAKE_PTR(name);
        rec->description = TAKE_PTR(description);
        rec->created_at = rec->updated_at = now;
        rec->created_by = rec->updated_by = c->who.uid;
        rec->expires_at = expires_at;
        rec->state = KEY_STATE_ACTIVE;
        rec->services = services ? TAKE_PTR(services) : calloc(1, sizeof(char *));
        rec->networks = networks ? TAKE_PTR(networks) : calloc(1, sizeof(char *));
        rec->scopes = scopes ? TAKE_PTR(scopes) : calloc(1, sizeof(char *));
        if (!rec->owner_name || !rec->services || !rec->networks || !rec->scopes)
                return -ENOMEM;

        uint32_t limit = uid_is_admin(owner_uid, c->m->cfg.admin_group) ? c->m->cfg.max_keys_per_admin
                                                                        : c->m->cfg.max_keys_per_user;
        char secret[AK_SECRET_LEN + 1];
        /* 90 random bits make a collision all but impossible; the insert
         * refuses one anyway, and we draw again. */
        for (int attempt = 0;; attempt++) {
                if ((r = ak_id_generate(rec->id)) < 0 || (r = ak_secret_generate(secret)) < 0)
                        return r;
                r = ak_verifier_compute(keystore_pepper(c->m->ks), rec->id, secret, rec->verifier);
                if (r == 0)
                        r = keystore_insert(c->m->ks, rec, limit);
                if (r != -EEXIST || attempt >= 3)
                        break;
        }
        if (r == -EDQUOT) {
                erase_mem(secret, sizeof(secret));
                return fail(c, r, "%s already has %u access keys, the most allowed (MaxKeysPerUser); delete one "
                                  "first",
                            rec->owner_name, limit);
        }
        if (r < 0) {
                erase_mem(secret, sizeof(secret));
                return r;
        }

        log_info("key %s created: owner=%s(%u) name=\"%s\" by uid %u", rec->id, rec->owner_name,
                 rec->owner_uid, rec->name, c->who.uid);
        DBusMessage *reply = dbus_message_new_method_return(c->msg);
        const char *id = rec->id, *s = secret;
        if (!reply || !dbus_message_append_args(reply, DBUS_TYPE_STRING, &id, DBUS_TYPE_STRING, &s,
                                                DBUS_TYPE_INVALID)) {
                erase_mem(secret, sizeof(secret));
                if (reply)
                        dbus_message_unref(reply);
                return -ENOMEM;
        }
        erase_mem(secret, sizeof(secret));
        *ret = reply;
        return 0;
}

static int append_with_usage(call *c, DBusMessageIter *it, const key_record *rec) {
        key_usage u = {};
        int r = usage_get(c->m->usage, rec->id, &u);
        if (r == 0)
                r = append_key(it, rec, &u);
        key_usage_clear(&u);
        return r;
}

static int method_list_keys(call *c, DBusMessage **ret) {
        dict_user owner = {};
        bool have_owner = false, all = false;
        DBusMessageIter it, arr;
        int r;

        dbus_message_iter_init(c->msg, &it);
        const dict_field fields[] = {
                { "owner", DICT_USER, &owner, 0, &have_owner },
                { "all", DICT_BOOL, &all },
        };
        r = read_options(c, &it, fields, ELEMENTSOF(fields), "filter");
        uint32_t uid = c->who.uid;
        if (r == 0 && have_owner)
                r = resolve_owner(c, &owner, true, &uid);
        dict_user_clear(&owner);
        if (r < 0)
                return r;
        if (all && have_owner)
                return fail(c, -EINVAL, "filter: give 'owner' or 'all', not both");
        if (all && !c->who.admin)
                return fail(c, -EACCES, "only administrators may list every key; without 'all' the list holds your own keys");

        key_record **l = NULL;
        size_t n = 0;
        if ((r = keystore_list(c->m->ks, all, uid, &l, &n)) < 0)
                return r;

        _cleanup_(message_unrefp) DBusMessage *reply = dbus_message_new_method_return(c->msg);
        if (!reply)
                r = -ENOMEM;
        else {
                dbus_message_iter_init_append(reply, &it);
                if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &arr))
                        r = -ENOMEM;
                for (size_t i = 0; i < n && r == 0; i++)
                        r = append_with_usage(c, &arr, l[i]);
                if (r == 0 && !dbus_message_iter_close_container(&it, &arr))
                        r = -ENOMEM;
        }
        key_record_list_free(l, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(reply);
        return 0;
}

static int read_id_arg(call *c, const char **ret) {
        DBusError e = DBUS_ERROR_INIT;
        if (!dbus_message_get_args(c->msg, &e, DBUS_TYPE_STRING, ret, DBUS_TYPE_INVALID)) {
                dbus_error_free(&e);
                return fail(c, -EINVAL, "expected one argument: the access key ID (s)");
        }
        return 0;
}

static int method_get_key(call *c, DBusMessage **ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        const char *id;
        DBusMessageIter it;
        int r;

        if ((r = read_id_arg(c, &id)) < 0 || (r = get_managed(c, id, &rec)) < 0)
                return r;
        _cleanup_(message_unrefp) DBusMessage *reply = dbus_message_new_method_return(c->msg);
        if (!reply)
                return -ENOMEM;
        dbus_message_iter_init_append(reply, &it);
        if ((r = append_with_usage(c, &it, rec)) < 0)
                return r;
        *ret = TAKE_PTR(reply);
        return 0;
}

static int method_delete_key(call *c, DBusMessage **ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        const char *id;
        int r;

        if ((r = read_id_arg(c, &id)) < 0 || (r = get_managed(c, id, &rec)) < 0)
                return r;
        if ((r = keystore_delete(c->m->ks, rec->id)) < 0)
                return r == -ENOENT ? fail(c, r, "access key %s was deleted meanwhile", rec->id) : r;
        usage_forget(c->m->usage, rec->id);
        log_info("key %s deleted: owner=%s(%u) by uid %u", rec->id, rec->owner_name, rec->owner_uid, c->who.uid);
        *ret = dbus_message_new_method_return(c->msg);
        return *ret ? 0 : -ENOMEM;
}

/* Verifies a secret against a record; for an unknown ID, against a dummy
 * verifier, so that an unknown ID and a wrong secret cost the same. */
static bool secret_matches(call *c, const key_record *rec, const char *id, const char *secret, uint64_t now) {
        static const uint8_t dummy[AK_VERIFIER_LEN] = { AK_VERIFIER_SCHEME_HMAC_SHA256 };
        uint8_t v[AK_VERIFIER_LEN];
        bool ok = false;

        if (ak_verifier_compute(keystore_pepper(c->m->ks), id, secret, v) < 0)
                return false;
        if (!rec)
                (void) ak_verifier_equal(v, dummy);
        else {
                ok = ak_verifier_equal(v, rec->verifier);
                /* During a rotation's grace period the previous secret works too. */
                if (!ok && rec->prev_verifier_until && now <= rec->prev_verifier_until)
                        ok = ak_verifier_equal(v, rec->prev_verifier);
        }
        erase_mem(v, sizeof(v));
        return ok;
}

static int method_authenticate(call *c, DBusMessage **ret) {
        _cleanup_(freep) char *user = NULL, *service = NULL, *rhost = NULL, *tty = NULL;
        _cleanup_(key_record_freep) key_record *rec = NULL;
        const char *id = NULL, *secret = NULL;
        DBusMessageIter it;
        uint64_t now = now_usec();
        int r;

        if (!streq(dbus_message_get_signature(c->msg), "ssa{sv}"))
                return fail(c, -EINVAL, "expected arguments (s id, s secret, a{sv} request)");
        dbus_message_iter_init(c->msg, &it);
        dbus_message_iter_get_basic(&it, &id);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &secret);
        dbus_message_iter_next(&it);

        const dict_field fields[] = {
                { "user", DICT_STRING, &user, 256 },
                { "service", DICT_STRING, &service, 256 },
                { "rhost", DICT_STRING, &rhost, 1024 },
                { "tty", DICT_STRING, &tty, 256 },
        };
        r = read_options(c, &it, fields, ELEMENTSOF(fields), "request");
        if (r == 0 && (!ak_id_is_valid(id) || ak_secret_check(secret) < 0))
                r = fail(c, -EINVAL, "the ID or the secret is not well-formed");
        if (r < 0)
                goto done;

        r = keystore_get(c->m->ks, id, &rec);
        if (r < 0 && r != -ENOENT)
                goto done;
        /* An unknown ID and a wrong secret must look the same — same error,
         * same message, same work — so guessing learns nothing. */
        if (!secret_matches(c, rec, id, secret, now)) {
                if (rec)
                        (void) usage_note_failure(c->m->usage, rec->id);
                log_notice("auth: key=%s user=%s service=%s rhost=%s caller=%u result=failure reason=%s", id,
                           strempty(user), strempty(service), strempty(rhost), c->who.uid,
                           rec ? "wrong secret" : "unknown key");
                r = fail(c, -EKEYREJECTED, "authentication failed");
                goto done;
        }

        /* The secret is proven: from here on the caller may learn why. */
        policy_request req = { .service = service, .rhost = rhost };
        req.user_known = name_to_uid(user, &req.user_uid) == 0;
        policy_verdict v = policy_decide(rec, &req, now);
        if (v != POLICY_ALLOW) {
                (void) usage_note_failure(c->m->usage, rec->id);
                log_notice("auth: key=%s user=%s service=%s rhost=%s caller=%u result=refused reason=%s", id,
                           strempty(user), strempty(service), strempty(rhost), c->who.uid,
                           policy_verdict_to_string(v));
                r = fail(c, policy_verdict_to_errno(v), "access key %s: %s", id, policy_verdict_to_string(v));
                goto done;
        }

        (void) usage_note_success(c->m->usage, rec->id, now, service, rhost);
        log_info("auth: key=%s user=%s service=%s rhost=%s caller=%u result=success", id, strempty(user),
                 strempty(service), strempty(rhost), c->who.uid);

        DBusMessage *reply = dbus_message_new_method_return(c->msg);
        DBusMessageIter a;
        if (!reply) {
                r = -ENOMEM;
                goto done;
        }
        dbus_message_iter_init_append(reply, &it);
        if ((r = dict_open(&it, &a)) < 0 || (r = dict_add_string(&a, "id", rec->id)) < 0 ||
            (r = dict_add_uint32(&a, "owner_uid", rec->owner_uid)) < 0 ||
            (r = dict_add_string(&a, "owner_name", rec->owner_name)) < 0 ||
            (r = dict_add_strv(&a, "scopes", rec->scopes)) < 0 ||
            (r = dict_add_uint64(&a, "expires_at", rec->expires_at)) < 0 || (r = dict_close(&it, &a)) < 0) {
                dbus_message_unref(reply);
                goto done;
        }
        *ret = reply;
done:
        /* The secret lives in the request's buffer: wipe it there. */
        if (secret)
                erase_mem((char *) secret, strlen(secret));
        return r;
}

static int method_introspect(call *c, DBusMessage **ret) {
        static const char head[] =
                DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE "<node>\n"
                " <interface name=\"org.freedesktop.DBus.Introspectable\">\n"
                "  <method name=\"Introspect\"><arg name=\"xml\" type=\"s\" direction=\"out\"/></method>\n"
                " </interface>\n"
                " <interface name=\"org.freedesktop.DBus.Peer\">\n"
                "  <method name=\"Ping\"/>\n"
                "  <method name=\"GetMachineId\"><arg name=\"id\" type=\"s\" direction=\"out\"/></method>\n"
                " </interface>\n"
                " <interface name=\"org.freedesktop.DBus.Properties\">\n"
                "  <method name=\"Get\"><arg name=\"interface\" type=\"s\" direction=\"in\"/>"
                "<arg name=\"property\" type=\"s\" direction=\"in\"/>"
                "<arg name=\"value\" type=\"v\" direction=\"out\"/></method>\n"
                "  <method name=\"GetAll\"><arg name=\"interface\" type=\"s\" direction=\"in\"/>"
                "<arg name=\"properties\" type=\"a{sv}\" direction=\"out\"/></method>\n"
                "  <method name=\"Set\"><arg name=\"interface\" type=\"s\" direction=\"in\"/>"
                "<arg name=\"property\" type=\"s\" direction=\"in\"/>"
                "<arg name=\"value\" type=\"v\" direction=\"in\"/></method>\n"
                "  <signal name=\"PropertiesChanged\"><arg name=\"interface\" type=\"s\"/>"
                "<arg name=\"changed\" type=\"a{sv}\"/><arg name=\"invalidated\" type=\"as\"/></signal>\n"
                " </interface>\n";
        size_t n = strlen(head) + strlen(introspect_xml) + 16;
        _cleanup_(freep) char *xml = malloc(n);
        if (!xml)
                return -ENOMEM;
        snprintf(xml, n, "%s%s</node>\n", head, introspect_xml);
        DBusMessage *reply = dbus_message_new_method_return(c->msg);
        const char *x = xml;
        if (!reply || !dbus_message_append_args(reply, DBUS_TYPE_STRING, &x, DBUS_TYPE_INVALID)) {
                if (reply)
                        dbus_message_unref(reply);
                return -ENOMEM;
        }
        *ret = reply;
        return 0;
}

static int method_properties(call *c, DBusMessage **ret) {
        /* The Manager object has no properties yet: GetAll is empty, Get
         * and Set name the property as unknown. */
        if (dbus_message_is_method_call(c->msg, DBUS_INTERFACE_PROPERTIES, "GetAll")) {
                DBusMessageIter it, a;
                DBusMessage *reply = dbus_message_new_method_return(c->msg);
                if (!reply)
                        return -ENOMEM;
                dbus_message_iter_init_append(reply, &it);
                if (dict_open(&it, &a) < 0 || dict_close(&it, &a) < 0) {
                        dbus_message_unref(reply);
                        return -ENOMEM;
                }
                *ret = reply;
                return 0;
        }
        return fail(c, -EINVAL, "the Manager object has no such property");
}

typedef struct method {
        const char *interface, *member;
        int (*fn)(call *c, DBusMessage **ret);
} method;

static const method methods[] = {
        { AK_MANAGER_INTERFACE, "CreateKey", method_create_key },
        { AK_MANAGER_INTERFACE, "ListKeys", method_list_keys },
        { AK_MANAGER_INTERFACE, "GetKey", method_get_key },
        { AK_MANAGER_INTERFACE, "DeleteKey", method_delete_key },
        { AK_MANAGER_INTERFACE, "Authenticate", method_authenticate },
        { DBUS_INTERFACE_INTROSPECTABLE, "Introspect", method_introspect },
        { DBUS_INTERFACE_PROPERTIES, "Get", method_properties },
        { DBUS_INTERFACE_PROPERTIES, "GetAll", method_properties },
        { DBUS_INTERFACE_PROPERTIES, "Set", method_properties },
};

DBusHandlerResult manager_handle(manager *m, DBusConnection *conn, bool peer, DBusMessage *msg) {
        const method *found = NULL;
        call c = { .m = m, .conn = conn, .msg = msg };

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        for (size_t i = 0; i < ELEMENTSOF(methods) && !found; i++)
                /* A call without an interface is matched on the member alone,
                 * as the D-Bus specification allows. */
                if (streq(dbus_message_get_member(msg), methods[i].member) &&
                    (!dbus_message_get_interface(msg) ||
                     streq(dbus_message_get_interface(msg), methods[i].interface)))
                        found = &methods[i];
        if (!found)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        int r = caller_identify(m->callers, conn, peer, msg, &m->cfg, &c.who);
        if (r < 0) {
                /* Whoever cannot be identified is denied, whatever they ask. */
                fail(&c, -EACCES, "cannot establish who is calling; denied");
                reply_error(&c, -EACCES);
                return DBUS_HANDLER_RESULT_HANDLED;
        }

        DBusMessage *reply = NULL;
        r = found->fn(&c, &reply);
        if (r < 0)
                reply_error(&c, r);
        else if (reply) {
                (void) dbus_connection_send(conn, reply, NULL);
                dbus_message_unref(reply);
        }
        return DBUS_HANDLER_RESULT_HANDLED;
}
