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
/* Calls that may wait for the bus to say who sent them: from one name,
 * and in all, and how many names may be looked up at once. */
#define CALLER_WAITING_PER_NAME 64
#define CALLER_WAITING_MAX 4096
#define CALLER_LOOKUPS_MAX 1024
#define CALLER_WAITING_BYTES_PER_NAME (1024 * 1024)
#define CALLER_WAITING_BYTES_MAX (16 * 1024 * 1024)
/* A bus that stops answering times out up to CALLER_LOOKUPS_MAX look-ups
 * at once: one warning in this long says so for all of them. */
#define NO_ANSWER_WARN_USEC (10 * USEC_PER_SEC)

struct caller_cache {
        hashmap *by_name; /* unique name → caller* */
        hashmap *pending; /* unique name → lookup* */
        size_t n_waiting; /* calls queued in all lookups */
        size_t bytes;     /* and their size */
        uint64_t warned_at;  /* the last "no answer" warning (mono_usec) */
        unsigned unwarned;   /* look-ups timed out since, not logged */
};

/* A GetConnectionUnixUser on its way for one unique name, and the calls
 * from that name that wait for its answer, in the order they came. */
typedef struct lookup {
        caller_cache *cache;
        char *name;
        DBusConnection *conn;
        DBusPendingCall *call;
        const config *cfg;
        caller_identified_fn done;
        void *userdata;
        DBusMessage **waiting;
        size_t n_waiting, n_allocated, bytes;
        bool gone; /* the name left the bus: do not cache it */
} lookup;

static void lookup_free(void *p);

caller_cache *caller_cache_new(void) {
        caller_cache *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->by_name = hashmap_new();
        c->pending = hashmap_new();
        if (!c->by_name || !c->pending) {
                hashmap_free(c->by_name, NULL);
                hashmap_free(c->pending, NULL);
                free(c);
                return NULL;
        }
        return c;
}

caller_cache *caller_cache_free(caller_cache *c) {
        if (c) {
                hashmap_free(c->pending, lookup_free);
                hashmap_free(c->by_name, free);
                free(c);
        }
        return NULL;
}

void caller_cache_forget(caller_cache *c, const char *unique_name) {
        lookup *k = hashmap_get(c->pending, unique_name);
        if (k)
                k->gone = true;
        free(hashmap_remove(c->by_name, unique_name));
}

void caller_cache_clear(caller_cache *c) {
        /* In place: a cache left full for want of memory would vouch for
         * a reused name after the bus restarts. */
        hashmap_clear(c->by_name, free);
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

static void lookup_free(void *p) {
        lookup *k = p;
        if (!k)
                return;
        for (size_t i = 0; i < k->n_waiting; i++)
                dbus_message_unref(k->waiting[i]);
        free(k->waiting);
        if (k->call) {
                dbus_pending_call_cancel(k->call);
                dbus_pending_call_unref(k->call);
        }
        k->cache->n_waiting -= k->n_waiting;
        k->cache->bytes -= k->bytes;
        free(k->name);
        free(k);
}

/* A message's size on the wire (libdbus has no public accessor but this
 * copy; only the calls that must wait pay for it).  SIZE_MAX without
 * memory. */
static size_t message_size(DBusMessage *m) {
        char *bytes;
        int len;
        if (!dbus_message_marshal(m, &bytes, &len))
                return SIZE_MAX;
        dbus_free(bytes);
        return (size_t) len;
}

static int lookup_enqueue(lookup *k, DBusMessage *m) {
        /* No method of ours takes descriptors, and the calls that wait are
         * bounded in bytes too: libdbus stops reading the bus once the
         * messages it has handed out pass its own limits, and the bus's
         * answer to the look-up would never be read. */
        if (dbus_message_contains_unix_fds(m))
                return -EINVAL;
        if (k->n_waiting >= CALLER_WAITING_PER_NAME || k->cache->n_waiting >= CALLER_WAITING_MAX)
                return -ENOBUFS;
        /* One call may always wait, whatever its size (the bus bounds a
         * message): the bounds are on what queues behind it. */
        size_t size = message_size(m);
        if (size == SIZE_MAX ||
            (k->n_waiting > 0 && size > CALLER_WAITING_BYTES_PER_NAME - MIN(k->bytes, CALLER_WAITING_BYTES_PER_NAME)) ||
            (k->cache->bytes > 0 && size > CALLER_WAITING_BYTES_MAX - MIN(k->cache->bytes, CALLER_WAITING_BYTES_MAX)))
                return -ENOBUFS;
        if (k->n_waiting == k->n_allocated) {
                size_t n = k->n_allocated ? 2 * k->n_allocated : 4;
                DBusMessage **w = realloc(k->waiting, n * sizeof(*w));
                if (!w)
                        return -ENOMEM;
                k->waiting = w;
                k->n_allocated = n;
        }
        k->waiting[k->n_waiting++] = dbus_message_ref(m);
        k->cache->n_waiting++;
        k->bytes += size;
        k->cache->bytes += size;
        return 0;
}

/* The UID in a reply to GetConnectionUnixUser; -ETIMEDOUT when the bus
 * did not answer in time, -EACCES for an error (the caller typically left
 * before we asked) or anything else. */
static int uid_of_reply(DBusMessage *reply, const char *name, uint32_t *ret) {
        DBusError e = DBUS_ERROR_INIT;
        uint32_t uid;

        /* libdbus's own NoReply, made here when the timeout passed: it is
         * the only message without a sender (the bus stamps every other).
         * (Look-ups on their way when the bus goes away are dropped, with
         * their calls, by caller_cache_cancel().) */
        if (reply && !dbus_message_get_sender(reply) && dbus_message_is_error(reply, DBUS_ERROR_NO_REPLY))
                return -ETIMEDOUT;
        /* Only the bus daemon answers for the bus: a reply is matched by
         * its serial alone, which any peer on a permissive bus could send. */
        if (!reply || !streq(strempty(dbus_message_get_sender(reply)), DBUS_SERVICE_DBUS))
                return -EACCES;
        if (dbus_set_error_from_message(&e, reply) ||
            !dbus_message_get_args(reply, &e, DBUS_TYPE_UINT32, &uid, DBUS_TYPE_INVALID)) {
                log_debug("cannot learn the UID of %s: %s", name, e.message);
                dbus_error_free(&e);
                return -EACCES;
        }
        /* (uid_t) -1 is never a real caller. */
        if (uid == UINT32_MAX)
                return -EACCES;
        *ret = uid;
        return 0;
}

static void cache_put(caller_cache *c, const char *name, const caller *who) {
        caller *n = malloc(sizeof(*n));
        void *old;
        if (!n)
                return; /* asked again next time */
        *n = *who;
        if (hashmap_size(c->by_name) >= CALLER_CACHE_MAX)
                caller_cache_clear(c);
        if (hashmap_put(c->by_name, name, n, &old) < 0) {
                free(n);
                return;
        }
        free(old);
}

static void warn_no_answer(caller_cache *c, const char *name) {
        uint64_t now = mono_usec();
        if (c->warned_at && now - c->warned_at < NO_ANSWER_WARN_USEC) {
                c->unwarned++;
                return;
        }
        if (c->unwarned)
                log_warning("no answer from the bus within %d ms about who %s is, nor about %u other caller(s) "
                            "before it; their calls are answered 'try again'",
                            BUS_CALL_TIMEOUT_MS, name, c->unwarned);
        else
                log_warning("no answer from the bus within %d ms about who %s is; its calls are answered "
                            "'try again'",
                            BUS_CALL_TIMEOUT_MS, name);
        c->warned_at = now;
        c->unwarned = 0;
}

static void on_lookup_reply(DBusPendingCall *call, void *userdata) {
        lookup *k = userdata;
        DBusMessage *reply = dbus_pending_call_steal_reply(call);
        caller who;
        uint32_t uid;

        int r = uid_of_reply(reply, k->name, &uid);
        bool known = r == 0;
        if (r == -ETIMEDOUT)
                warn_no_answer(k->cache, k->name);
        if (reply)
                dbus_message_unref(reply);
        if (known) {
                who = (caller){ uid, uid_is_admin(uid, k->cfg->admin_group) };
                if (!k->gone)
                        cache_put(k->cache, k->name, &who);
        }
        /* Out of the map before the calls run: nothing they do may find
         * it, and each of them is answered exactly once, here. */
        (void) hashmap_remove(k->cache->pending, k->name);
        for (size_t i = 0; i < k->n_waiting; i++)
                k->done(k->conn, k->waiting[i], known ? &who : NULL, r, k->userdata);
        dbus_pending_call_unref(k->call);
        k->call = NULL; /* completed: nothing to cancel */
        lookup_free(k);
}

static int lookup_start(caller_cache *c, DBusConnection *conn, const char *sender, const config *cfg,
                        caller_identified_fn done, void *userdata, lookup **ret) {
        DBusMessage *m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                      "GetConnectionUnixUser");
        lookup *k = calloc(1, sizeof(*k));
        int r = -ENOMEM;

        if (!m || !k || !dbus_message_append_args(m, DBUS_TYPE_STRING, &sender, DBUS_TYPE_INVALID))
                goto fail;
        *k = (lookup){ .cache = c, .conn = conn, .cfg = cfg, .done = done, .userdata = userdata };
        if (!(k->name = strdup(sender)))
                goto fail;
        if (!dbus_connection_send_with_reply(conn, m, &k->call, BUS_CALL_TIMEOUT_MS))
                goto fail;
        if (!k->call) {
                r = -EACCES; /* disconnected from the bus */
                goto fail;
        }
        if (!dbus_pending_call_set_notify(k->call, on_lookup_reply, k, NULL) ||
            hashmap_put(c->pending, sender, k, NULL) < 0)
                goto fail;
        dbus_message_unref(m);
        *ret = k;
        return 0;
fail:
        if (m)
                dbus_message_unref(m);
        if (k) {
                k->cache = c;
                lookup_free(k);
        }
        return r;
}

int caller_identify(caller_cache *c, DBusConnection *conn, DBusMessage *m, const config *cfg,
                    caller_identified_fn done, void *userdata, caller *ret) {
        const char *sender = dbus_message_get_sender(m);
        if (isempty(sender) || sender[0] != ':')
                return -EACCES;
        caller *cached = hashmap_get(c->by_name, sender);
        if (cached) {
                *ret = *cached;
                return 1;
        }

        lookup *k = hashmap_get(c->pending, sender);
        if (!k) {
                if (hashmap_size(c->pending) >= CALLER_LOOKUPS_MAX || c->n_waiting >= CALLER_WAITING_MAX)
                        return -ENOBUFS;
                int r = lookup_start(c, conn, sender, cfg, done, userdata, &k);
                if (r < 0)
                        return r;
        }
        int r = lookup_enqueue(k, m);
        if (r < 0 && k->n_waiting == 0)
                lookup_free(hashmap_remove(c->pending, sender));
        return r;
}

void caller_cache_cancel(caller_cache *c) {
        hashmap_clear(c->pending, lookup_free);
}
