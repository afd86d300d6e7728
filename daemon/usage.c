/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "usage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "util.h"

struct usage_cache {
        keystore *ks;
        hashmap *pending; /* id → key_usage* */
};

static void usage_free(void *p) {
        if (p) {
                key_usage_clear(p);
                free(p);
        }
}

usage_cache *usage_cache_new(keystore *ks) {
        usage_cache *u = calloc(1, sizeof(*u));
        if (!u)
                return NULL;
        u->ks = ks;
        u->pending = hashmap_new();
        if (!u->pending) {
                free(u);
                return NULL;
        }
        return u;
}

usage_cache *usage_cache_free(usage_cache *u) {
        if (u) {
                hashmap_free(u->pending, usage_free);
                free(u);
        }
        return NULL;
}

/* The pending entry of id, loaded from the store on first touch. */
static int entry(usage_cache *u, const char *id, key_usage **ret) {
        key_usage *e = hashmap_get(u->pending, id);
        if (e) {
                *ret = e;
                return 0;
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        int r = keystore_get_usage(u->ks, id, e);
        if (r < 0 || (r = hashmap_put(u->pending, id, e, NULL)) < 0) {
                usage_free(e);
                return r;
        }
        *ret = e;
        return 0;
}

static int replace(char **dst, const char *s) {
        if (*dst && s && streq(*dst, s))
                return 0;
        char *c = s ? strdup(s) : NULL;
        if (s && !c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

int usage_note_success(usage_cache *u, const char *id, uint64_t now, const char *service, const char *rhost) {
        key_usage *e;
        int r = entry(u, id, &e);
        if (r < 0)
                return r;
        e->last_used_at = now;
        e->use_count++;
        e->failures = 0;
        if ((r = replace(&e->last_used_service, service)) < 0)
                return r;
        return replace(&e->last_used_rhost, rhost);
}

int usage_note_failure(usage_cache *u, const char *id) {
        key_usage *e;
        int r = entry(u, id, &e);
        if (r < 0)
                return r;
        if (e->failures < UINT32_MAX)
                e->failures++;
        return 0;
}

int usage_get(usage_cache *u, const char *id, key_usage *ret) {
        key_usage *e = hashmap_get(u->pending, id);
        if (!e)
                return keystore_get_usage(u->ks, id, ret);
        *ret = (key_usage){
                .last_used_at = e->last_used_at,
                .last_used_service = e->last_used_service ? strdup(e->last_used_service) : NULL,
                .last_used_rhost = e->last_used_rhost ? strdup(e->last_used_rhost) : NULL,
                .use_count = e->use_count,
                .failures = e->failures,
        };
        if ((e->last_used_service && !ret->last_used_service) || (e->last_used_rhost && !ret->last_used_rhost)) {
                key_usage_clear(ret);
                return -ENOMEM;
        }
        return 0;
}

void usage_forget(usage_cache *u, const char *id) {
        usage_free(hashmap_remove(u->pending, id));
}

int usage_flush(usage_cache *u) {
        size_t n = hashmap_size(u->pending), i = 0, state = 0;
        const char *key;
        void *value;

        if (n == 0)
                return 0;
        const char **ids = calloc(n, sizeof(*ids));
        key_usage *figs = calloc(n, sizeof(*figs));
        if (!ids || !figs) {
                free(ids);
                free(figs);
                return -ENOMEM;
        }
        while (i < n && hashmap_iterate(u->pending, &state, &key, &value)) {
                ids[i] = key;
                figs[i] = *(key_usage *) value;
                i++;
        }
        int r = keystore_put_usage(u->ks, ids, figs, i);
        free(ids);
        free(figs);
        if (r < 0)
                return r;
        hashmap *fresh = hashmap_new();
        if (!fresh)
                return -ENOMEM;
        hashmap_free(u->pending, usage_free);
        u->pending = fresh;
        return (int) i;
}
