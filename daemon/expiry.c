/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "expiry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyobject.h"
#include "log.h"
#include "timeutil.h"
#include "util.h"

static bool due(const manager *m, const key_record *r, uint64_t now) {
        return m->cfg.expiry_warning > 0 && r->state == KEY_STATE_ACTIVE && r->expires_at != 0 &&
               now <= r->expires_at && r->expires_at - now <= m->cfg.expiry_warning &&
               r->expiry_warned_for != r->expires_at;
}

/* A warning's record on its way to disk. */
typedef struct warning {
        manager *m;
        key_record *rec;
} warning;

static void on_warning_written(int k, void *userdata) {
        warning *w = userdata;
        const key_record *r = w->rec;
        char when[32];

        /* -ESTALE: the key changed meanwhile; its change checks it again. */
        if (k < 0 && k != -ESTALE && k != -ENOENT)
                log_error("key %s: cannot record its expiry warning: %s", r->id, strerror(-k));
        else if (k == 0) {
                log_warning("key %s of %s (%u) expires on %s; extend it with 'accesskeyctl update %s --expires 30d'",
                            r->id, r->owner_name, r->owner_uid, format_time(r->expires_at, when), r->id);
                key_emit_expiring(w->m->bus, r->id, r->expires_at);
        }
        key_record_free(w->rec);
        free(w);
}

static void warn(manager *m, const char *id, uint64_t now) {
        keystore_version version;
        key_record *r = NULL;

        /* Read again: the scan saw a snapshot.  The warning is recorded
         * only if the key is still as read, and announced once it is. */
        if (keystore_get_versioned(m->ks, id, &r, &version) < 0 || !due(m, r, now)) {
                key_record_free(r);
                return;
        }
        r->expiry_warned_for = r->expires_at;
        warning *w = malloc(sizeof(*w));
        if (!w) {
                key_record_free(r);
                return;
        }
        *w = (warning){ m, r };
        if (keystore_submit_update(m->ks, r, &version, false, on_warning_written, w) < 0) {
                key_record_free(r);
                free(w);
        }
}

void expiry_check_key(manager *m, const char *id) {
        warn(m, id, now_usec());
}

typedef struct scan {
        manager *m;
        uint64_t now;
        char (*ids)[AK_ID_LEN + 1];
        size_t n, cap;
} scan;

static int collect(const key_record *r, void *userdata) {
        scan *s = userdata;
        if (!due(s->m, r, s->now))
                return 0;
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                void *p = realloc(s->ids, cap * sizeof(*s->ids));
                if (!p)
                        return -ENOMEM;
                s->ids = p;
                s->cap = cap;
        }
        memcpy(s->ids[s->n++], r->id, AK_ID_LEN + 1);
        return 0;
}

void expiry_scan(manager *m) {
        scan s = { .m = m, .now = now_usec() };
        int k = keystore_foreach(m->ks, collect, &s);
        if (k < 0)
                log_error("expiry scan: %s", strerror(-k));
        for (size_t i = 0; i < s.n; i++)
                warn(m, s.ids[i], s.now);
        free(s.ids);
}
