/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "usage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"
#include "util.h"

struct usage_cache {
        keystore *ks;
        hashmap *pending; /* id → key_usage* */
        /* Figures on their way to disk (usage_flush_async()): the writer
         * thread reads them, so nobody changes them until written. */
        hashmap *flushing;
        const char **flushing_ids;
        key_usage *flushing_figs;
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

static void flushing_free(usage_cache *u) {
        hashmap_free(u->flushing, usage_free);
        free(u->flushing_ids);
        free(u->flushing_figs);
        u->flushing = NULL;
        u->flushing_ids = NULL;
        u->flushing_figs = NULL;
}

usage_cache *usage_cache_free(usage_cache *u) {
        if (u) {
                hashmap_free(u->pending, usage_free);
                flushing_free(u);
                free(u);
        }
        return NULL;
}

static int usage_copy(const key_usage *e, key_usage *ret) {
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

/* The figures of id that are not pending: those on their way to disk, or
 * the stored ones. */
static int settled(usage_cache *u, const char *id, key_usage *ret) {
        const key_usage *f = u->flushing ? hashmap_get(u->flushing, id) : NULL;
        return f ? usage_copy(f, ret) : keystore_get_usage(u->ks, id, ret);
}

/* The pending entry of id, loaded on first touch. */
static int entry(usage_cache *u, const char *id, key_usage **ret) {
        key_usage *e = hashmap_get(u->pending, id);
        if (e) {
                *ret = e;
                return 0;
        }
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        int r = settled(u, id, e);
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
        return e ? usage_copy(e, ret) : settled(u, id, ret);
}

void usage_forget(usage_cache *u, const char *id) {
        usage_free(hashmap_remove(u->pending, id));
}

/* The pending figures as the arrays keystore_put_usage() takes; they point
 * into the map. */
static int snapshot(hashmap *map, const char ***ret_ids, key_usage **ret_figs, size_t *ret_n) {
        size_t n = hashmap_size(map), i = 0, state = 0;
        const char *key;
        void *value;

        const char **ids = calloc(n, sizeof(*ids));
        key_usage *figs = calloc(n, sizeof(*figs));
        if (!ids || !figs) {
                free(ids);
                free(figs);
                return -ENOMEM;
        }
        while (i < n && hashmap_iterate(map, &state, &key, &value)) {
                ids[i] = key;
                figs[i] = *(key_usage *) value;
                i++;
        }
        *ret_ids = ids;
        *ret_figs = figs;
        *ret_n = i;
        return 0;
}

int usage_flush(usage_cache *u) {
        const char **ids;
        key_usage *figs;
        size_t n;

        if (hashmap_size(u->pending) == 0)
                return 0;
        int r = snapshot(u->pending, &ids, &figs, &n);
        if (r < 0)
                return r;
        r = keystore_put_usage(u->ks, ids, figs, n);
        free(ids);
        free(figs);
        if (r < 0)
                return r;
        hashmap *fresh = hashmap_new();
        if (!fresh)
                return -ENOMEM;
        hashmap_free(u->pending, usage_free);
        u->pending = fresh;
        return (int) n;
}

static void on_flushed(int r, void *userdata) {
        usage_cache *u = userdata;

        if (r < 0) {
                /* Back to pending, for the next flush, unless newer
                 * figures of the same key are there already. */
                size_t state = 0;
                const char *key;
                void *value;
                log_warning("cannot write usage figures: %s; will retry", strerror(-r));
                while (hashmap_iterate(u->flushing, &state, &key, &value)) {
                        if (hashmap_get(u->pending, key))
                                continue;
                        key_usage *e = calloc(1, sizeof(*e));
                        if (!e || usage_copy(value, e) < 0 || hashmap_put(u->pending, key, e, NULL) < 0)
                                usage_free(e); /* lost, as a crash would lose them */
                }
        } else
                log_debug("usage figures of %zu key(s) written", hashmap_size(u->flushing));
        flushing_free(u);
}

int usage_flush_async(usage_cache *u) {
        if (u->flushing || hashmap_size(u->pending) == 0)
                return 0; /* one at a time; the next timer takes the rest */
        hashmap *fresh = hashmap_new();
        if (!fresh)
                return -ENOMEM;
        size_t n;
        int r = snapshot(u->pending, &u->flushing_ids, &u->flushing_figs, &n);
        if (r < 0) {
                hashmap_free(fresh, NULL);
                return r;
        }
        u->flushing = u->pending;
        u->pending = fresh;
        r = keystore_submit_usage(u->ks, u->flushing_ids, u->flushing_figs, n, on_flushed, u);
        if (r < 0) {
                /* Nothing queued: the figures go back. */
                hashmap_free(u->pending, usage_free);
                u->pending = u->flushing;
                u->flushing = NULL;
                free(u->flushing_ids);
                free(u->flushing_figs);
                u->flushing_ids = NULL;
                u->flushing_figs = NULL;
        }
        return r;
}
