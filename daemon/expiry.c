/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "expiry.h"

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

static void warn(manager *m, const char *id, uint64_t now) {
        _cleanup_(key_record_freep) key_record *r = NULL;
        char when[32];

        /* Read again: the scan saw a snapshot. */
        if (keystore_get(m->ks, id, &r) < 0 || !due(m, r, now))
                return;
        r->expiry_warned_for = r->expires_at;
        int k = keystore_update(m->ks, r);
        if (k < 0) {
                log_error("key %s: cannot record its expiry warning: %s", id, strerror(-k));
                return;
        }
        log_warning("key %s of %s (%u) expires on %s; extend it with 'accesskeyctl update %s --expires 30d'",
                    r->id, r->owner_name, r->owner_uid, format_time(r->expires_at, when), r->id);
        key_emit_expiring(m->bus, r->id, r->expires_at);
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
