/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "dict.h"
#include "errors.h"
#include "expiry.h"
#include "keyobject.h"
#include "introspect-xml.h"
#include "log.h"
#include "policy.h"
#include "request.h"
#include "timeutil.h"
#include "util.h"
#include "validate.h"
#include "verifier.h"
#include "wire.h"

typedef struct method method;

/* Where a call's reply goes: the bus connection it came on, or a
 * connection of the private socket. */
typedef struct reply_to {
        DBusConnection *conn; /* NULL: the private socket's peer */
        uint64_t peer;
} reply_to;

typedef struct call {
        manager *m;
        DBusMessage *msg;
        caller who;
        reply_to to;
        const method *method;
        unsigned attempt;          /* runs after a change of this call was overtaken */
        keystore_version version;  /* of the record get_managed() read */
        char err[512];             /* the error message, when a handler fails */
        const char *error_name;    /* a standard D-Bus error instead of ours */
} call;

/* A method's return: its reply comes once the change is on disk. */
#define DEFERRED 1

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

/* The one place where a negative errno becomes a D-Bus error: its name,
 * and the text returned. */
static const char *error_of(call *c, int err, const char *member, const char **ret_name) {
        if (err != -ENOMEM && !c->err[0] && err != -ENOENT && err != -EACCES)
                log_error("%s: %s", member, strerror(-err));
        *ret_name = c->error_name ? c->error_name : ak_error_to_dbus(err);
        return c->err[0] ? c->err : ak_error_text(err);
}

static DBusMessage *reply_error(call *c, int err) {
        const char *name, *text = error_of(c, err, dbus_message_get_member(c->msg), &name);
        return dbus_message_new_error(c->msg, name, text);
}

static bool may_manage(const call *c, const key_record *rec) {
        return c->who.admin || c->who.uid == rec->owner_uid;
}

/* A key the caller may not manage is reported exactly like a missing one:
 * its existence is not confirmed. */
static int get_managed(call *c, const char *id, key_record **ret) {
        key_record *rec = NULL;
        int r = ak_id_is_valid(id) ? keystore_get_versioned(c->m->ks, id, &rec, &c->version) : -EINVAL;
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

/* A name or description shows in listings, logs and terminals: nothing in
 * it may hide or reorder what it says. */
static int check_label(call *c, const char *what, const char *field, const char *value) {
        size_t pos;
        uint32_t cp;
        const char *reason = value ? validate_label(value, &pos, &cp) : NULL;
        if (reason)
                return fail(c, -EINVAL, "%s '%s': character %zu (%s%04X) %s; remove it", what,
                            field, pos, strstr(reason, "UTF-8") ? "byte 0x" : "U+", (unsigned) cp,
                            reason);
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

#define DAY_USEC (24 * 3600 * USEC_PER_SEC)

/* MaxLifetime and DefaultLifetime bind users; administrators choose freely.
 * given: the caller chose *expires_at (0: never); otherwise the default
 * is filled in. */
static int apply_lifetime(call *c, bool given, uint64_t now, uint64_t *expires_at) {
        const config *cfg = &c->m->cfg;
        if (given && *expires_at != 0 && *expires_at <= now)
                return fail(c, -EINVAL, "option 'expires_at' is in the past; give a future time or 0 for never");
        if (given && *expires_at / USEC_PER_SEC > (uint64_t) MAX_TIME_SEC)
                return fail(c, -EINVAL,
                            "option 'expires_at' is after 9999-12-31T23:59:59Z; give an earlier time "
                            "or 0 for never");
        if (c->who.admin)
                return 0;
        if (!given)
                *expires_at = cfg->default_lifetime ? now + cfg->default_lifetime
                              : cfg->max_lifetime   ? now + cfg->max_lifetime
                                                    : 0;
        if (cfg->max_lifetime && (*expires_at == 0 || *expires_at > now + cfg->max_lifetime)) {
                char when[32];
                return fail(c, -EINVAL,
                            "option 'expires_at': keys may live at most %" PRIu64 " days here (MaxLifetime); "
                            "choose an expiry on or before %s",
                            cfg->max_lifetime / DAY_USEC, format_time(now + cfg->max_lifetime, when));
        }
        return 0;
}

/* A change on its way to disk, with what its reply needs. */
typedef enum change_kind {
        CHANGE_CREATE,
        CHANGE_UPDATE,
        CHANGE_DELETE,
} change_kind;

typedef struct change {
        call c; /* a copy: its message and connection referenced */
        change_kind kind;
        key_record *rec;                /* as written; for a delete, as it was */
        char what[160];                 /* for the log */
        bool has_secret;                /* CreateKey, RotateSecret: the reply carries it */
        char secret[AK_SECRET_LEN + 1]; /* wiped with the change */
        uint32_t limit;                 /* CreateKey: the owner's quota, for its message */
        bool owner_admin;
} change;

/* A call whose change was overtaken runs again this often at most. */
#define CHANGE_ATTEMPTS_MAX 32

static change *change_free(change *ch) {
        if (ch) {
                if (ch->c.msg)
                        dbus_message_unref(ch->c.msg);
                if (ch->c.to.conn)
                        dbus_connection_unref(ch->c.to.conn);
                key_record_free(ch->rec);
                erase_mem(ch->secret, sizeof(ch->secret));
                free(ch);
        }
        return NULL;
}

static void on_written(int r, void *userdata);

/* Hands the change of c to the keystore's writer: the reply is sent by
 * on_written() once it is durable, and the event loop serves logins
 * meanwhile.  Takes over *rec.  DEFERRED, or a negative errno (nothing
 * queued). */
static int submit_change(call *c, change_kind kind, key_record **rec, const char *what, const char *secret,
                         uint32_t limit, bool owner_admin) {
        change *ch = calloc(1, sizeof(*ch));
        if (!ch)
                return -ENOMEM;
        *ch = (change){ .c = *c, .kind = kind, .rec = TAKE_PTR(*rec), .limit = limit, .owner_admin = owner_admin };
        ch->c.err[0] = 0;
        dbus_message_ref(ch->c.msg);
        if (ch->c.to.conn)
                dbus_connection_ref(ch->c.to.conn);
        snprintf(ch->what, sizeof(ch->what), "%s", what);
        if (secret) {
                ch->has_secret = true;
                memcpy(ch->secret, secret, sizeof(ch->secret));
        }
        int r;
        switch (kind) {
        case CHANGE_CREATE:
                r = keystore_submit_insert(c->m->ks, ch->rec, limit, on_written, ch);
                break;
        case CHANGE_UPDATE:
                r = keystore_submit_update(c->m->ks, ch->rec, &c->version, c->attempt > 0, on_written, ch);
                break;
        default:
                r = keystore_submit_delete(c->m->ks, ch->rec->id, on_written, ch);
                break;
        }
        if (r < 0) {
                change_free(ch);
                return r;
        }
        return DEFERRED;
}

/* What a written change tells the log and the bus, and its reply. */
static int change_done(change *ch, DBusMessage **ret) {
        call *c = &ch->c;
        const key_record *rec = ch->rec;
        char qname[LOG_QUOTE_MAX];

        switch (ch->kind) {
        case CHANGE_CREATE:
                log_info("key %s created: owner=%s(%u) name=%s by uid %u", rec->id, rec->owner_name,
                         rec->owner_uid, log_quote(rec->name, qname), c->who.uid);
                key_emit(c->m->bus, KEY_CREATED, rec->id);
                expiry_check_key(c->m, rec->id);
                break;
        case CHANGE_UPDATE:
                log_info("key %s %s: owner=%s(%u) by uid %u", rec->id, ch->what, rec->owner_name, rec->owner_uid,
                         c->who.uid);
                key_emit(c->m->bus, KEY_CHANGED, rec->id);
                expiry_check_key(c->m, rec->id);
                break;
        case CHANGE_DELETE:
                usage_forget(c->m->usage, rec->id);
                key_emit(c->m->bus, KEY_DELETED, rec->id);
                log_info("key %s deleted: owner=%s(%u) by uid %u", rec->id, rec->owner_name, rec->owner_uid,
                         c->who.uid);
                break;
        }

        DBusMessage *reply = dbus_message_new_method_return(c->msg);
        const char *id = rec->id, *s = ch->secret;
        bool ok = reply != NULL;
        if (ok && ch->kind == CHANGE_CREATE)
                ok = dbus_message_append_args(reply, DBUS_TYPE_STRING, &id, DBUS_TYPE_STRING, &s,
                                              DBUS_TYPE_INVALID);
        else if (ok && ch->has_secret)
                ok = dbus_message_append_args(reply, DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID);
        if (!ok) {
                if (reply)
                        dbus_message_unref(reply);
                return -ENOMEM;
        }
        *ret = reply;
        return 0;
}

static void deliver(call *c, DBusMessage *reply);
static void dispatch(call *c);

static void on_written(int r, void *userdata) {
        change *ch = userdata;
        call *c = &ch->c;
        DBusMessage *reply = NULL;

        /* Another change to the key was written after this call read it
         * (or, for a new key, its ID was drawn twice): writing would undo
         * the other, so the call starts again from what is stored now. */
        if ((r == -ESTALE || (r == -EEXIST && ch->kind == CHANGE_CREATE)) && c->attempt < CHANGE_ATTEMPTS_MAX) {
                call again = *c;
                again.attempt++;
                again.err[0] = 0;
                dispatch(&again);
                change_free(ch);
                return;
        }
        if (r == -ESTALE || r == -EEXIST)
                r = fail(c, -EBUSY, "access key %s changed %u times while this change was being made; try again",
                         ch->rec->id, CHANGE_ATTEMPTS_MAX);
        else if (r == -EDQUOT)
                r = fail(c, r, "%s already has %u access keys, the most allowed (%s); delete one first",
                         ch->rec->owner_name, ch->limit, ch->owner_admin ? "MaxKeysPerAdmin" : "MaxKeysPerUser");
        else if (r == -ENOENT)
                r = fail(c, r, "access key %s was deleted meanwhile", ch->rec->id);
        if (r == 0)
                r = change_done(ch, &reply);
        if (r < 0)
                reply = reply_error(c, r);
        deliver(c, reply);
        change_free(ch);
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
        if ((r = check_label(c, "option", "name", name)) < 0 ||
            (r = check_label(c, "option", "description", description)) < 0 ||
            (r = apply_lifetime(c, have_expires, now, &expires_at)) < 0)
                return r;
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

        bool owner_admin = uid_is_admin(owner_uid, c->m->cfg.admin_group);
        uint32_t limit = owner_admin ? c->m->cfg.max_keys_per_admin : c->m->cfg.max_keys_per_user;
        char secret[AK_SECRET_LEN + 1];
        /* 90 random bits make a collision all but impossible; the insert
         * refuses one anyway (-EEXIST), and the call runs again with a new
         * draw. */
        if ((r = ak_id_generate(rec->id)) < 0 || (r = ak_secret_generate(secret)) < 0)
                return r;
        r = ak_verifier_compute_with(keystore_verifier_key(c->m->ks), rec->id, rec->owner_uid, secret,
                                     rec->verifier);
        if (r == 0)
                r = submit_change(c, CHANGE_CREATE, &rec, "created", secret, limit, owner_admin);
        erase_mem(secret, sizeof(secret));
        return r;
}

/* Every key the caller may manage: all for an administrator, else the
 * caller's own, at a cost in proportion to them. */
static int foreach_managed(const call *c, int (*fn)(const key_record *r, void *userdata), void *userdata) {
        if (c->who.admin)
                return keystore_foreach(c->m->ks, fn, userdata);
        return keystore_foreach_owner(c->m->ks, c->who.uid, fn, userdata);
}

static int append_with_usage(call *c, DBusMessageIter *it, const key_record *rec) {
        key_usage u = {};
        int r = usage_get(c->m->usage, rec->id, &u);
        if (r == 0)
                r = key_append_dict(it, rec, &u);
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
        return submit_change(c, CHANGE_DELETE, &rec, "deleted", NULL, 0, false);
}

/* Stores a changed record (if it is still as the call read it) and tells
 * the bus once it is on disk.  Takes over *rec. */
static int commit_change(call *c, key_record **rec, const char *what, const char *secret) {
        (*rec)->updated_at = now_usec();
        (*rec)->updated_by = c->who.uid;
        return submit_change(c, CHANGE_UPDATE, rec, what, secret, 0, false);
}

static int method_update_key(call *c, DBusMessage **ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        _cleanup_(freep) char *name = NULL, *description = NULL;
        _cleanup_(strv_freep) char **services = NULL, **networks = NULL, **scopes = NULL;
        bool have_name = false, have_desc = false, have_expires = false, have_services = false,
             have_networks = false, have_scopes = false;
        uint64_t expires_at = 0;
        const char *id;
        DBusMessageIter it;
        char what[160] = "updated (";
        int r;

        if (!streq(dbus_message_get_signature(c->msg), "sa{sv}"))
                return fail(c, -EINVAL, "expected arguments (s id, a{sv} changes)");
        dbus_message_iter_init(c->msg, &it);
        dbus_message_iter_get_basic(&it, &id);
        dbus_message_iter_next(&it);
        const dict_field fields[] = {
                { "name", DICT_STRING, &name, KEY_NAME_MAX, &have_name },
                { "description", DICT_STRING, &description, KEY_DESCRIPTION_MAX, &have_desc },
                { "expires_at", DICT_UINT64, &expires_at, 0, &have_expires },
                { "services", DICT_STRV, &services, KEY_SERVICES_MAX, &have_services },
                { "networks", DICT_STRV, &networks, KEY_NETWORKS_MAX, &have_networks },
                { "scopes", DICT_STRV, &scopes, KEY_SCOPES_MAX, &have_scopes },
        };
        if ((r = read_options(c, &it, fields, ELEMENTSOF(fields), "change")) < 0 ||
            (r = get_managed(c, id, &rec)) < 0)
                return r;
        if (have_name && isempty(name))
                return fail(c, -EINVAL, "change 'name' must not be empty: a label of 1 to %d bytes", KEY_NAME_MAX);
        if ((r = check_label(c, "change", "name", name)) < 0 ||
            (r = check_label(c, "change", "description", description)) < 0)
                return r;
        if (have_expires && (r = apply_lifetime(c, true, now_usec(), &expires_at)) < 0)
                return r;
        if ((r = check_list(c, "services", services, KEY_SERVICES_MAX, validate_service_name)) < 0 ||
            (r = check_list(c, "networks", networks, KEY_NETWORKS_MAX, validate_network)) < 0 ||
            (r = check_list(c, "scopes", scopes, KEY_SCOPES_MAX, validate_scope)) < 0)
                return r;

#define CHANGE(have, field, value, label)                                                                  \
        if (have) {                                                                                         \
                __typeof__(rec->field) _old = rec->field;                                                   \
                rec->field = value;                                                                          \
                value = _old;                                                                               \
                strncat(what, label " ", sizeof(what) - strlen(what) - 1);                                  \
        }
        CHANGE(have_name, name, name, "name");
        CHANGE(have_desc, description, description, "description");
        CHANGE(have_expires, expires_at, expires_at, "expiry");
        CHANGE(have_services, services, services, "services");
        CHANGE(have_networks, networks, networks, "networks");
        CHANGE(have_scopes, scopes, scopes, "scopes");
#undef CHANGE
        /* Lists cleared with an empty array stay NULL-terminated. */
        char ***lists[] = { &rec->services, &rec->networks, &rec->scopes };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                if (!*lists[i] && !(*lists[i] = calloc(1, sizeof(char *))))
                        return -ENOMEM;
        if (streq(what, "updated ("))
                return fail(c, -EINVAL, "no change given; give one of name, description, expires_at, services, "
                                        "networks, scopes");
        what[strlen(what) - 1] = ')';
        return commit_change(c, &rec, what, NULL);
}

static int set_state(call *c, DBusMessage **ret, key_state state) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        const char *id;
        int r;

        if ((r = read_id_arg(c, &id)) < 0 || (r = get_managed(c, id, &rec)) < 0)
                return r;
        /* An administrator's deactivation of someone else's key (an
         * incident) is not for the owner to undo. */
        if (state == KEY_STATE_ACTIVE && rec->locked && !c->who.admin)
                return fail(c, -EACCES,
                            "access key %s was deactivated by an administrator; ask one to reactivate it", rec->id);
        bool was_locked = rec->locked;
        if (state == KEY_STATE_INACTIVE && c->who.admin && c->who.uid != rec->owner_uid)
                rec->locked = true;
        if (state == KEY_STATE_ACTIVE)
                rec->locked = false;
        /* Asking twice is not an error; only a real change is recorded. */
        if (rec->state != (uint32_t) state || rec->locked != was_locked) {
                rec->state = state;
                return commit_change(c, &rec, state == KEY_STATE_ACTIVE ? "reactivated" : "deactivated", NULL);
        }
        *ret = dbus_message_new_method_return(c->msg);
        return *ret ? 0 : -ENOMEM;
}

static int method_deactivate_key(call *c, DBusMessage **ret) {
        return set_state(c, ret, KEY_STATE_INACTIVE);
}

static int method_reactivate_key(call *c, DBusMessage **ret) {
        return set_state(c, ret, KEY_STATE_ACTIVE);
}

#define ROTATE_GRACE_MAX (7 * DAY_USEC)

static int method_rotate_secret(call *c, DBusMessage **ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        uint64_t grace = 0, now = now_usec();
        const char *id;
        DBusMessageIter it;
        char secret[AK_SECRET_LEN + 1];
        int r;

        if (!streq(dbus_message_get_signature(c->msg), "sa{sv}"))
                return fail(c, -EINVAL, "expected arguments (s id, a{sv} options)");
        dbus_message_iter_init(c->msg, &it);
        dbus_message_iter_get_basic(&it, &id);
        dbus_message_iter_next(&it);
        const dict_field fields[] = { { "grace", DICT_UINT64, &grace } };
        if ((r = read_options(c, &it, fields, ELEMENTSOF(fields), "option")) < 0 ||
            (r = get_managed(c, id, &rec)) < 0)
                return r;
        if (grace > ROTATE_GRACE_MAX)
                return fail(c, -EINVAL, "option 'grace' is longer than 7 days; the previous secret may work at "
                                        "most that long");

        if ((r = ak_secret_generate(secret)) < 0)
                return r;
        /* The previous secret works during the grace period only; without
         * one it stops at once. */
        memcpy(rec->prev_verifier, rec->verifier, AK_VERIFIER_LEN);
        rec->prev_verifier_until = grace ? now + grace : 0;
        if (!grace)
                erase_mem(rec->prev_verifier, AK_VERIFIER_LEN);
        r = ak_verifier_compute_with(keystore_verifier_key(c->m->ks), rec->id, rec->owner_uid,
                                     secret, rec->verifier);
        rec->rotated_at = now;
        if (r == 0)
                r = commit_change(c, &rec, grace ? "secret rotated (with grace period)" : "secret rotated", secret);
        erase_mem(secret, sizeof(secret));
        return r;
}

typedef struct summary {
        const call *c;
        uint64_t now, within;
        uint64_t total, active, inactive, expired, expiring;
} summary;

static int count_key(const key_record *rec, void *userdata) {
        summary *s = userdata;
        if (!may_manage(s->c, rec))
                return 0;
        s->total++;
        if (rec->state != KEY_STATE_ACTIVE)
                s->inactive++;
        else if (rec->expires_at && s->now > rec->expires_at)
                s->expired++;
        else {
                s->active++;
                if (rec->expires_at && rec->expires_at - s->now <= s->within)
                        s->expiring++;
        }
        return 0;
}

static int method_get_summary(call *c, DBusMessage **ret) {
        summary s = { .c = c, .now = now_usec(), .within = 30 * DAY_USEC };
        DBusMessageIter it, a;
        int r;

        dbus_message_iter_init(c->msg, &it);
        const dict_field fields[] = { { "within", DICT_UINT64, &s.within } };
        if ((r = read_options(c, &it, fields, ELEMENTSOF(fields), "option")) < 0)
                return r;
        if (s.within == 0)
                s.within = 30 * DAY_USEC;
        r = foreach_managed(c, count_key, &s);
        if (r < 0)
                return r;
        _cleanup_(message_unrefp) DBusMessage *reply = dbus_message_new_method_return(c->msg);
        if (!reply)
                return -ENOMEM;
        dbus_message_iter_init_append(reply, &it);
        if ((r = dict_open(&it, &a)) < 0 || (r = dict_add_uint64(&a, "total", s.total)) < 0 ||
            (r = dict_add_uint64(&a, "active", s.active)) < 0 ||
            (r = dict_add_uint64(&a, "inactive", s.inactive)) < 0 ||
            (r = dict_add_uint64(&a, "expired", s.expired)) < 0 ||
            (r = dict_add_uint64(&a, "expiring", s.expiring)) < 0 ||
            (r = dict_add_uint64(&a, "within", s.within)) < 0 || (r = dict_close(&it, &a)) < 0)
                return r;
        *ret = TAKE_PTR(reply);
        return 0;
}

/* Verifies a secret against a record; for an unknown ID, against a dummy
 * verifier, so that an unknown ID and a wrong secret cost the same.  A
 * verifier is computed over the record's own ID and owner, so a record
 * whose owner was changed outside the daemon matches no secret.  An
 * unbound verifier of an earlier release that matches is replaced by the
 * bound one; a rotation's previous verifier keeps its scheme. */
static void on_verifier_bound(int r, void *userdata) {
        char *id = userdata;
        if (r == 0)
                log_info("key %s: verifier bound to the key's ID and owner", id);
        else if (r != -ESTALE && r != -ENOENT)
                log_warning("key %s: cannot store its bound verifier: %s; will retry at its next login", id,
                            strerror(-r));
        free(id);
}

static bool secret_matches(call *c, const key_record *rec, const char *id, const char *secret, uint64_t now) {
        static const uint8_t dummy[AK_VERIFIER_LEN] = { AK_VERIFIER_SCHEME_CURRENT };
        ak_verifier_key *key = keystore_verifier_key(c->m->ks);
        uint8_t v[AK_VERIFIER_LEN], bound[AK_VERIFIER_LEN];
        bool ok = false;

        if (!rec) {
                if (ak_verifier_compute_with(key, id, 0, secret, v) == 0)
                        (void) ak_verifier_equal(v, dummy);
        } else {
                if (ak_verifier_compute_scheme(key, rec->verifier[0], rec->id, rec->owner_uid,
                                               secret, v) == 0)
                        ok = ak_verifier_equal(v, rec->verifier);
                if (ok && rec->verifier[0] != AK_VERIFIER_SCHEME_CURRENT &&
                    ak_verifier_compute_with(key, rec->id, rec->owner_uid, secret, bound) == 0) {
                        /* Written by the writer thread: the login does not
                         * wait for it. */
                        char *id_copy = strdup(rec->id);
                        if (id_copy && keystore_submit_upgrade_verifier(c->m->ks, rec->id, rec->verifier, bound,
                                                                        on_verifier_bound, id_copy) < 0)
                                free(id_copy);
                        erase_mem(bound, sizeof(bound));
                }
                /* During a rotation's grace period the previous secret works too. */
                if (!ok && rec->prev_verifier_until && now <= rec->prev_verifier_until &&
                    ak_verifier_compute_scheme(key, rec->prev_verifier[0], rec->id, rec->owner_uid,
                                               secret, v) == 0)
                        ok = ak_verifier_equal(v, rec->prev_verifier);
        }
        erase_mem(v, sizeof(v));
        erase_mem(bound, sizeof(bound));
        return ok;
}

/* One audit line per authentication, whatever its outcome; never the
 * secret.  user is who the login is for: for a login by key ID, the key's
 * owner once the key is known (rec), not the ID that stood in for the
 * name. */
static void audit_auth(const call *c, int priority, const char *id, const auth_request *q, const key_record *rec,
                       const char *result, const char *reason) {
        char qu[LOG_QUOTE_MAX], qs[LOG_QUOTE_MAX], qr[LOG_QUOTE_MAX];
        _cleanup_(freep) char *owner = NULL;
        const char *user = q->user;
        /* The same test as authenticate()'s: the key decides the user. */
        if (q->keyid_user && (isempty(user) || streq(user, id)))
                user = rec ? (owner = uid_to_name(rec->owner_uid)) : NULL;
        log_auth(priority, "auth: key=%s user=%s service=%s rhost=%s caller=%u result=%s%s%s%s", id,
                 log_quote(user, qu), log_quote(q->service, qs), log_quote(q->rhost, qr), c->who.uid, result,
                 reason ? " reason=\"" : "", strempty(reason), reason ? "\"" : "");
}

/* One array serves the request's fields, then the reply's. */
#define AUTH_REPLY_FIELDS 6
#define AUTH_FIELDS MAX(AUTH_REQUEST_FIELDS, AUTH_REPLY_FIELDS)

/* What a successful Authenticate answers. */
typedef struct auth_reply {
        char id[AK_ID_LEN + 1];
        const char *id_str; /* id, for dict_field */
        uint32_t owner_uid;
        char *owner; /* the owner's name now */
        char **scopes;
        uint64_t expires_at;
        bool expires_soon;
} auth_reply;

static void auth_reply_clear(auth_reply *a) {
        free(a->owner);
        strv_free(a->scopes);
        *a = (auth_reply){};
}

static void auth_reply_fields(auth_reply *a, dict_field f[static AUTH_REPLY_FIELDS]) {
        f[0] = (dict_field){ "id", DICT_STRING, &a->id_str };
        f[1] = (dict_field){ "owner_uid", DICT_UINT32, &a->owner_uid };
        f[2] = (dict_field){ "owner_name", DICT_STRING, &a->owner };
        f[3] = (dict_field){ "scopes", DICT_STRV, &a->scopes };
        f[4] = (dict_field){ "expires_at", DICT_UINT64, &a->expires_at };
        f[5] = (dict_field){ "expires_soon", DICT_BOOL, &a->expires_soon };
}

/* The decision, the same on the bus and on the private socket.  The
 * secret is wiped where it lies (the request's buffer) before return. */
static int authenticate(call *c, const char *id, const char *secret, auth_request *q, auth_reply *ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        uint64_t now = now_usec();
        const char *user = q->user, *service = q->service, *rhost = q->rhost;
        int r = 0;

        if (!ak_id_is_valid(id) || ak_secret_check(secret) < 0)
                r = fail(c, -EINVAL, "the ID or the secret is not well-formed");
        if (r == 0 && c->m->cfg.authenticate_group && !c->who.admin &&
            !uid_is_admin(c->who.uid, c->m->cfg.authenticate_group))
                r = fail(c, -EACCES, "only members of the group %s may authenticate keys (AuthenticateGroup)",
                         c->m->cfg.authenticate_group);
        if (r < 0)
                goto done;
        /* Guessing is throttled per source, before the secret is looked
         * at; only failures count, so the owner logging in from elsewhere
         * is never locked out.  Everything a source is made of must be
         * something its guesser cannot choose afresh for each guess. */
        char source[300], shown[320];
        /* The remote host, and the user behind a local login, are the
         * caller's word: only root (sshd, su, login and the like),
         * administrators and AuthenticateGroup members are trusted with
         * them.  Anyone else is one source, its UID, whatever host or user
         * it names: it can neither lock others out nor get a new counter
         * by naming a new host or user each time. */
        bool trusted = c->who.uid == 0 || c->who.admin ||
                       (c->m->cfg.authenticate_group && uid_is_admin(c->who.uid, c->m->cfg.authenticate_group));
        if (!trusted) {
                snprintf(source, sizeof(source), "uid:%u", c->who.uid);
                snprintf(shown, sizeof(shown), "callers of UID %u", c->who.uid);
        } else if (!isempty(rhost)) {
                snprintf(source, sizeof(source), "host:%s", rhost);
                snprintf(shown, sizeof(shown), "%s", rhost);
        } else {
                /* Local logins (su, sudo, login) all call as root: each is
                 * counted for the user who asked for it (the library sends
                 * PAM_RUSER, or the real UID of the setuid program), so one
                 * local user's guessing does not lock out another's. */
                uint32_t ruid = q->have_ruid ? q->ruid : c->who.uid;
                snprintf(source, sizeof(source), "local:%u", ruid);
                snprintf(shown, sizeof(shown), "local logins asked for by UID %u", ruid);
        }
        const config *cfg = &c->m->cfg;
        /* Intervals on the monotonic clock: a step of the wall clock
         * neither locks anyone out nor frees a guesser. */
        uint64_t mono = mono_usec(), wait = 0;
        bool shared = false;
        if (ratelimit_blocked(c->m->failures, source, mono, cfg->rate_limit_burst, cfg->rate_limit_interval, &wait,
                              &shared)) {
                audit_auth(c, LOG_NOTICE, id, q, NULL, "ratelimited", shared ? "table of sources full" : NULL);
                if (shared)
                        r = fail(c, -EBUSY,
                                 "too many failed attempts from many sources at once; try again in %" PRIu64 " s",
                                 (wait + USEC_PER_SEC - 1) / USEC_PER_SEC);
                else
                        r = fail(c, -EBUSY, "too many failed attempts from %s; try again in %" PRIu64 " s", shown,
                                 (wait + USEC_PER_SEC - 1) / USEC_PER_SEC);
                goto done;
        }

        r = keystore_get(c->m->ks, id, &rec);
        if (r < 0 && r != -ENOENT)
                goto done;
        /* An unknown ID and a wrong secret must look the same — same error,
         * same message, same work — so guessing learns nothing. */
        if (!secret_matches(c, rec, id, secret, now)) {
                ratelimit_fail(c->m->failures, source, mono, cfg->rate_limit_interval);
                if (rec)
                        (void) usage_note_failure(c->m->usage, rec->id);
                audit_auth(c, LOG_NOTICE, id, q, rec, "failure", rec ? "wrong secret" : "unknown key");
                r = fail(c, -EKEYREJECTED, "authentication failed");
                goto done;
        }

        /* The secret is proven: from here on the caller may learn why. */
        policy_request req = { .service = service, .rhost = rhost, .scopes = q->scopes };
        if (q->keyid_user && (isempty(user) || streq(user, id))) {
                /* The PAM user was the key ID: the key names its owner, who
                 * is the only user this login can become. */
                req.user_known = true;
                req.user_uid = rec->owner_uid;
        } else
                req.user_known = name_to_uid(user, &req.user_uid) == 0;
        policy_verdict v = policy_decide(rec, &req, now);
        if (v != POLICY_ALLOW) {
                (void) usage_note_failure(c->m->usage, rec->id);
                audit_auth(c, LOG_NOTICE, id, q, rec, "refused", policy_verdict_to_string(v));
                if (v == POLICY_SCOPE)
                        r = fail(c, -EACCES,
                                 "access key %s lacks scope '%s' that this service requires; add it with "
                                 "'accesskeyctl update %s --add-scope %s'",
                                 id, policy_missing_scope(rec, &req), id, policy_missing_scope(rec, &req));
                else
                        r = fail(c, policy_verdict_to_errno(v), "access key %s: %s", id,
                                 policy_verdict_to_string(v));
                goto done;
        }

        (void) usage_note_success(c->m->usage, rec->id, now, service, rhost);
        audit_auth(c, LOG_INFO, id, q, rec, "success", NULL);

        /* The owner's name now, not at creation: the policy compared UIDs,
         * and a renamed owner must not log in under a stale name.  The
         * policy proved the PAM user is the owner, so its name is the
         * owner's current one; only a key-ID login has to look it up. */
        *ret = (auth_reply){ .owner_uid = rec->owner_uid,
                             .expires_at = rec->expires_at,
                             .expires_soon = rec->expires_at && c->m->cfg.expiry_warning &&
                                             rec->expires_at - now <= c->m->cfg.expiry_warning };
        memcpy(ret->id, rec->id, sizeof(ret->id));
        ret->id_str = ret->id;
        ret->owner = q->keyid_user ? uid_to_name(rec->owner_uid) : strdup(user);
        ret->scopes = strv_copy((const char *const *) rec->scopes);
        if (!ret->owner || !ret->scopes) {
                auth_reply_clear(ret);
                r = -ENOMEM;
        }
done:
        /* The secret lives in the request's buffer: wipe it there. */
        if (secret)
                erase_mem((char *) secret, strlen(secret));
        return r;
}

static int method_authenticate(call *c, DBusMessage **ret) {
        _cleanup_(auth_request_clear) auth_request q = {};
        _cleanup_(auth_reply_clear) auth_reply a = {};
        dict_field fields[AUTH_FIELDS];
        const char *id = NULL, *secret = NULL;
        DBusMessageIter it;
        int r;

        if (!streq(dbus_message_get_signature(c->msg), "ssa{sv}"))
                return fail(c, -EINVAL, "expected arguments (s id, s secret, a{sv} request)");
        dbus_message_iter_init(c->msg, &it);
        dbus_message_iter_get_basic(&it, &id);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &secret);
        dbus_message_iter_next(&it);
        auth_request_fields(&q, fields);
        if ((r = read_options(c, &it, fields, AUTH_REQUEST_FIELDS, "request")) < 0) {
                erase_mem((char *) secret, strlen(secret));
                return r;
        }
        if ((r = authenticate(c, id, secret, &q, &a)) < 0)
                return r;

        _cleanup_(message_unrefp) DBusMessage *reply = dbus_message_new_method_return(c->msg);
        auth_reply_fields(&a, fields);
        if (!reply)
                return -ENOMEM;
        dbus_message_iter_init_append(reply, &it);
        if ((r = dict_write(&it, fields, AUTH_REPLY_FIELDS)) < 0)
                return r;
        *ret = TAKE_PTR(reply);
        return 0;
}

bool manager_is_authenticate(const wire_header *h) {
        return h->type == WIRE_METHOD_CALL && streq(h->path, AK_OBJECT_PATH) && streq(h->member, "Authenticate") &&
               (!h->interface || streq(h->interface, AK_MANAGER_INTERFACE));
}

/* An error message in reply to h: the error of c for r. */
static int wire_error(call *c, int r, const wire_header *h, uint32_t serial, uint8_t **ret, size_t *ret_len) {
        _cleanup_(wire_writer_done) wire_writer w = {};
        wire_header reply = { .type = WIRE_ERROR,
                              .serial = serial,
                              .reply_serial = h->serial,
                              .destination = h->sender,
                              .signature = "s" };
        const char *text = error_of(c, r, "Authenticate", &reply.error_name);
        wire_put_string(&w, text);
        if (w.error == -EINVAL) {
                /* A message cut inside a UTF-8 sequence: the plain one. */
                wire_writer_done(&w);
                wire_put_string(&w, ak_error_text(r));
        }
        return wire_message(&reply, &w, ret, ret_len);
}

int manager_authenticate_wire(manager *m, const caller *who, const wire_header *h, wire_reader *body,
                              uint32_t serial, uint8_t **ret, size_t *ret_len) {
        _cleanup_(auth_request_clear) auth_request q = {};
        _cleanup_(auth_reply_clear) auth_reply a = {};
        _cleanup_(wire_writer_done) wire_writer w = {};
        dict_field fields[AUTH_FIELDS];
        const char *id, *secret, *bad, *reason;
        call c = { .m = m, .who = *who };

        if (!manager_is_authenticate(h) || !streq(strempty(h->signature), "ssa{sv}"))
                return -EBADMSG;
        /* Anything short of a well-formed request goes the long way, through
         * libdbus and dict_read(), which refuse it as they always did. */
        auth_request_fields(&q, fields);
        if (wire_get_string(body, &id) < 0 || wire_get_string(body, &secret) < 0 ||
            wire_get_dict(body, fields, AUTH_REQUEST_FIELDS, true, &bad, &reason) != 0 || !wire_at_end(body))
                return -EBADMSG;

        int r = authenticate(&c, id, secret, &q, &a);
        if (r < 0)
                return wire_error(&c, r, h, serial, ret, ret_len);
        wire_header reply = { .type = WIRE_METHOD_RETURN,
                              .serial = serial,
                              .reply_serial = h->serial,
                              .destination = h->sender,
                              .signature = "a{sv}" };
        auth_reply_fields(&a, fields);
        wire_put_dict(&w, fields, AUTH_REPLY_FIELDS);
        r = wire_message(&reply, &w, ret, ret_len);
        /* The login was decided and logged: the caller gets an answer, not
         * a dropped connection it would retry on the bus (an owner name
         * that is not UTF-8, or no memory). */
        if (r < 0 && r != -ENOMEM)
                r = wire_error(&c, fail(&c, -EIO, "accesskeyd cannot send the result of this login"), h, serial,
                               ret, ret_len);
        return r;
}

static const char std_interfaces_xml[] =
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

/* The installed interface file holds both interfaces: the Manager's part
 * comes first, the Key's from its <interface> on. */
static const char *key_part_of_xml(void) {
        const char *k = strstr(introspect_xml, "<interface name=\"" AK_KEY_INTERFACE "\"");
        assert(k);
        /* Back up to the start of its line, and of the comment above it. */
        const char *c = strstr(introspect_xml, "<!-- /org/accesskey/KeyStore1/key/");
        return c && c < k ? c : k;
}

/* A growing string for introspection data. */
typedef struct strbuf {
        char *s;
        size_t len, cap;
        bool oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->len + n + 1 > b->cap) {
                size_t cap = (b->len + n + 1) * 2;
                char *p = realloc(b->s, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->len, s, n);
        b->len += n;
        b->s[b->len] = 0;
}

static void sb_puts(strbuf *b, const char *s) {
        sb_add(b, s, strlen(s));
}

static int add_child(const key_record *rec, void *userdata) {
        void **args = userdata;
        const call *c = args[0];
        if (may_manage(c, rec)) {
                sb_puts(args[1], " <node name=\"");
                sb_puts(args[1], rec->id);
                sb_puts(args[1], "\"/>\n");
        }
        return 0;
}

static int reply_string(call *c, const char *s, DBusMessage **ret) {
        DBusMessage *reply = dbus_message_new_method_return(c->msg);
        if (!reply || !dbus_message_append_args(reply, DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID)) {
                if (reply)
                        dbus_message_unref(reply);
                return -ENOMEM;
        }
        *ret = reply;
        return 0;
}

typedef enum object_kind {
        OBJECT_MANAGER,
        OBJECT_KEY_DIR, /* /org/accesskey/KeyStore1/key */
        OBJECT_KEY,
} object_kind;

static object_kind kind_of(const char *path) {
        if (streq(path, AK_OBJECT_PATH))
                return OBJECT_MANAGER;
        if (streq(path, AK_OBJECT_PATH "/key"))
                return OBJECT_KEY_DIR;
        return OBJECT_KEY;
}

/* The key behind a key object path, if the caller may manage it; an object
 * the caller may not see does not exist for them. */
static int get_key_object(call *c, key_record **ret) {
        const char *id = key_id_from_path(dbus_message_get_path(c->msg));
        int r = id ? get_managed(c, id, ret) : -ENOENT;
        if (r == -ENOENT) {
                c->error_name = DBUS_ERROR_UNKNOWN_OBJECT;
                return fail(c, r, "no object %s", dbus_message_get_path(c->msg));
        }
        return r;
}

static int method_introspect(call *c, DBusMessage **ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        strbuf b = {};
        int r = 0;

        sb_puts(&b, DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE "<node>\n");
        switch (kind_of(dbus_message_get_path(c->msg))) {
        case OBJECT_MANAGER: {
                const char *k = key_part_of_xml();
                sb_puts(&b, std_interfaces_xml);
                sb_add(&b, introspect_xml, (size_t) (k - introspect_xml));
                sb_puts(&b, " <node name=\"key\"/>\n");
                break;
        }
        case OBJECT_KEY_DIR: {
                /* busctl tree lists the keys the caller may manage. */
                void *args[] = { c, &b };
                r = foreach_managed(c, add_child, args);
                break;
        }
        case OBJECT_KEY:
                r = get_key_object(c, &rec);
                sb_puts(&b, std_interfaces_xml);
                sb_puts(&b, key_part_of_xml());
                break;
        }
        sb_puts(&b, "</node>\n");
        if (r == 0)
                r = b.oom ? -ENOMEM : reply_string(c, b.s, ret);
        free(b.s);
        return r;
}

static int method_properties(call *c, DBusMessage **ret) {
        _cleanup_(key_record_freep) key_record *rec = NULL;
        _cleanup_(message_unrefp) DBusMessage *reply = NULL;
        const char *iface = NULL, *name = NULL;
        bool get_all = dbus_message_has_member(c->msg, "GetAll");
        key_usage u = {};
        DBusMessageIter it;
        int r;

        if (dbus_message_has_member(c->msg, "Set")) {
                c->error_name = DBUS_ERROR_PROPERTY_READ_ONLY;
                return fail(c, -EACCES, "the properties of keys are read-only; change a key with UpdateKey");
        }
        if (!dbus_message_get_args(c->msg, NULL, DBUS_TYPE_STRING, &iface, get_all ? DBUS_TYPE_INVALID : DBUS_TYPE_STRING,
                                   &name, DBUS_TYPE_INVALID))
                return fail(c, -EINVAL, get_all ? "expected (s interface)" : "expected (s interface, s property)");
        object_kind kind = kind_of(dbus_message_get_path(c->msg));
        if (kind == OBJECT_KEY && (r = get_key_object(c, &rec)) < 0)
                return r;
        if (!(reply = dbus_message_new_method_return(c->msg)))
                return -ENOMEM;
        dbus_message_iter_init_append(reply, &it);

        /* The Manager object and the key directory have no properties. */
        if (kind != OBJECT_KEY || (*iface && !streq(iface, AK_KEY_INTERFACE))) {
                if (!get_all) {
                        c->error_name = DBUS_ERROR_UNKNOWN_PROPERTY;
                        return fail(c, -EINVAL, "no property %s on this object", name);
                }
                DBusMessageIter a;
                if ((r = dict_open(&it, &a)) < 0 || (r = dict_close(&it, &a)) < 0)
                        return r;
                *ret = TAKE_PTR(reply);
                return 0;
        }
        if ((r = usage_get(c->m->usage, rec->id, &u)) < 0)
                return r;
        r = get_all ? key_append_properties(&it, rec, &u) : key_append_property(&it, rec, &u, name);
        key_usage_clear(&u);
        if (r == -ENOENT) {
                c->error_name = DBUS_ERROR_UNKNOWN_PROPERTY;
                return fail(c, -EINVAL, "no property %s on %s", name, AK_KEY_INTERFACE);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(reply);
        return 0;
}

struct method {
        object_kind kind;
        const char *interface, *member;
        int (*fn)(call *c, DBusMessage **ret);
        bool changes; /* a lifecycle change: written to disk, rate limited per UID */
};

static const method methods[] = {
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "CreateKey", method_create_key, true },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "ListKeys", method_list_keys },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "GetKey", method_get_key },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "UpdateKey", method_update_key, true },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "DeactivateKey", method_deactivate_key, true },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "ReactivateKey", method_reactivate_key, true },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "RotateSecret", method_rotate_secret, true },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "DeleteKey", method_delete_key, true },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "GetSummary", method_get_summary },
        { OBJECT_MANAGER, AK_MANAGER_INTERFACE, "Authenticate", method_authenticate },
};

static const method object_methods[] = {
        { 0, DBUS_INTERFACE_INTROSPECTABLE, "Introspect", method_introspect },
        { 0, DBUS_INTERFACE_PROPERTIES, "Get", method_properties },
        { 0, DBUS_INTERFACE_PROPERTIES, "GetAll", method_properties },
        { 0, DBUS_INTERFACE_PROPERTIES, "Set", method_properties },
};

static const method *find_method(const method *table, size_t n, DBusMessage *msg) {
        for (size_t i = 0; i < n; i++)
                /* A call without an interface is matched on the member alone,
                 * as the D-Bus specification allows. */
                if (streq(dbus_message_get_member(msg), table[i].member) &&
                    (!dbus_message_get_interface(msg) || streq(dbus_message_get_interface(msg), table[i].interface)))
                        return &table[i];
        return NULL;
}

static const method *lookup(DBusMessage *msg) {
        const method *found;
        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return NULL;
        found = find_method(object_methods, ELEMENTSOF(object_methods), msg);
        if (!found && kind_of(dbus_message_get_path(msg)) == OBJECT_MANAGER)
                found = find_method(methods, ELEMENTSOF(methods), msg);
        return found;
}

static void send_reply(DBusConnection *conn, DBusMessage *reply) {
        if (reply) {
                (void) dbus_connection_send(conn, reply, NULL);
                dbus_message_unref(reply);
        }
}

/* Lifecycle changes cost a disk sync each: one user's stream of them must
 * not fill the writer's queue ahead of everyone else's.  Every attempt
 * counts, failed ones too; root is not limited (it can write the store
 * anyway, and provisioning scripts run as root). */
static int charge_change(call *c, uint64_t *ret_wait) {
        const config *cfg = &c->m->cfg;
        uint64_t now = mono_usec(), wait = 0;
        char source[32];

        if (c->who.uid == 0 || cfg->change_rate_burst == 0)
                return 0;
        snprintf(source, sizeof(source), "uid:%u", c->who.uid);
        if (ratelimit_blocked(c->m->changes, source, now, cfg->change_rate_burst, cfg->change_rate_interval,
                              &wait, NULL)) {
                *ret_wait = wait;
                return fail(c, -EBUSY,
                            "too many key changes from UID %u; try again in %" PRIu64 " s (ChangeRateLimitBurst, "
                            "ChangeRateLimitInterval)",
                            c->who.uid, (wait + USEC_PER_SEC - 1) / USEC_PER_SEC);
        }
        ratelimit_fail(c->m->changes, source, now, cfg->change_rate_interval);
        return 0;
}

/* A refused change's reply, held back until its caller may try again (at
 * most HOLD_MAX): a client that sends changes as fast as they are refused
 * then waits instead of spinning, and a user's flood of refused changes
 * costs this host's CPU next to nothing.  Bounded per UID and in all;
 * beyond, the refusal is answered at once. */
#define HOLD_MAX (1 * USEC_PER_SEC)
#define HELD_PER_UID 64
#define HELD_MAX 4096

struct held_reply {
        DBusMessage *reply;
        reply_to to; /* conn referenced */
        uint32_t uid;
        uint64_t due; /* monotonic */
        held_reply *next;
};

static bool hold_reply(call *c, DBusMessage *reply, uint64_t wait) {
        manager *m = c->m;
        size_t of_uid = 0;

        if (!reply || dbus_message_get_no_reply(c->msg) || m->n_held >= HELD_MAX)
                return false;
        for (const held_reply *h = m->held; h; h = h->next)
                of_uid += h->uid == c->who.uid;
        if (of_uid >= HELD_PER_UID)
                return false;
        held_reply *h = malloc(sizeof(*h));
        if (!h)
                return false;
        *h = (held_reply){ .reply = reply, .to = c->to, .uid = c->who.uid, .due = mono_usec() + MIN(wait, HOLD_MAX) };
        if (h->to.conn)
                dbus_connection_ref(h->to.conn);
        h->next = m->held;
        m->held = h;
        m->n_held++;
        return true;
}

void manager_release_held(manager *m, bool all) {
        uint64_t now = mono_usec();
        for (held_reply **p = &m->held; *p;) {
                held_reply *h = *p;
                if (!all && h->due > now) {
                        p = &h->next;
                        continue;
                }
                *p = h->next;
                m->n_held--;
                if (h->to.conn) {
                        send_reply(h->to.conn, h->reply);
                        dbus_connection_unref(h->to.conn);
                } else if (m->peer_reply)
                        m->peer_reply(m->peer_reply_userdata, h->to.peer, h->reply);
                else
                        dbus_message_unref(h->reply);
                free(h);
        }
}

/* Runs the call: its reply, a method return or an error; NULL when the
 * reply comes later (a change on its way to disk), for a method that has
 * nothing to say, or without memory. */
static DBusMessage *run(call *c, bool *ret_deferred) {
        DBusMessage *reply = NULL;
        uint64_t wait = 0;
        int r = c->attempt == 0 && c->method->changes ? charge_change(c, &wait) : 0;
        if (ret_deferred)
                *ret_deferred = false;
        if (r == -EBUSY) {
                reply = reply_error(c, r);
                if (ret_deferred && hold_reply(c, reply, wait)) {
                        *ret_deferred = true;
                        return NULL;
                }
                return reply;
        }
        if (r == 0)
                r = c->method->fn(c, &reply);
        if (ret_deferred)
                *ret_deferred = r == DEFERRED;
        if (r == DEFERRED)
                return NULL;
        return r < 0 ? reply_error(c, r) : reply;
}

/* Sends a reply made after the call's handler returned. */
static void deliver(call *c, DBusMessage *reply) {
        if (!reply)
                return;
        if (dbus_message_get_no_reply(c->msg))
                dbus_message_unref(reply);
        else if (c->to.conn)
                send_reply(c->to.conn, reply);
        else if (c->m->peer_reply)
                c->m->peer_reply(c->m->peer_reply_userdata, c->to.peer, reply);
        else
                dbus_message_unref(reply);
}

/* Runs a call again (its change was overtaken) and delivers its reply. */
static void dispatch(call *c) {
        deliver(c, run(c, NULL));
}

/* Runs a method for who (NULL: the caller could not be established). */
static DBusMessage *run_for(manager *m, const method *found, const caller *who, DBusMessage *msg, reply_to to,
                            bool *ret_deferred) {
        call c = { .m = m, .msg = msg, .method = found, .to = to };

        *ret_deferred = false;
        if (!who) {
                /* Whoever cannot be identified is denied, whatever they ask. */
                fail(&c, -EACCES, "cannot establish who is calling; denied");
                return reply_error(&c, -EACCES);
        }
        c.who = *who;
        return run(&c, ret_deferred);
}

static void answer(manager *m, DBusConnection *conn, const method *found, const caller *who, DBusMessage *msg) {
        bool deferred;
        send_reply(conn, run_for(m, found, who, msg, (reply_to){ .conn = conn }, &deferred));
}

/* A call that waited for the bus to say who sent it. */
static void on_identified(DBusConnection *conn, DBusMessage *msg, const caller *who, int error, void *userdata) {
        manager *m = userdata;
        const method *found = lookup(msg);
        if (!found)
                return;
        if (!who && error == -ETIMEDOUT)
                /* Not a refusal: the login may go elsewhere, or again. */
                send_reply(conn, dbus_message_new_error(msg, DBUS_ERROR_TIMEOUT,
                                                        "the bus did not say in time who is calling; "
                                                        "try again"));
        else
                answer(m, conn, found, who, msg);
}

DBusHandlerResult manager_handle(manager *m, DBusConnection *conn, DBusMessage *msg) {
        const method *found = lookup(msg);
        caller who;

        if (!found)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        int r = caller_identify(m->callers, conn, msg, &m->cfg, on_identified, m, &who);
        if (r == 0)
                return DBUS_HANDLER_RESULT_HANDLED; /* answered by on_identified() */
        if (r == -ENOBUFS)
                send_reply(conn, dbus_message_new_error(msg, DBUS_ERROR_LIMITS_EXCEEDED,
                                                        "too many calls, or too large, are waiting for the bus "
                                                        "to say who sent them; wait for replies before sending "
                                                        "more"));
        else if (r == -EINVAL)
                send_reply(conn, dbus_message_new_error(msg, DBUS_ERROR_INVALID_ARGS,
                                                        "no method here takes file descriptors"));
        else
                answer(m, conn, found, r > 0 ? &who : NULL, msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

DBusHandlerResult manager_handle_peer(manager *m, const caller *who, uint64_t peer, DBusMessage *msg,
                                      DBusMessage **ret_reply, bool *ret_deferred) {
        const method *found = lookup(msg);
        if (!found)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        *ret_reply = run_for(m, found, who, msg, (reply_to){ .peer = peer }, ret_deferred);
        return DBUS_HANDLER_RESULT_HANDLED;
}
