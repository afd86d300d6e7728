/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hashmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct entry {
        char *key; /* NULL: empty */
        void *value;
        uint64_t hash;
} entry;

struct hashmap {
        entry *slots;
        size_t cap, n;
};

/* FNV-1a: keys are daemon-chosen (key IDs, bus unique names) or of bounded
 * count per caller, so a seeded hash buys little here. */
static uint64_t hash_str(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603);
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(1099511628211);
        return h;
}

hashmap *hashmap_new(void) {
        hashmap *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->cap = 16;
        h->slots = calloc(h->cap, sizeof(entry));
        if (!h->slots) {
                free(h);
                return NULL;
        }
        return h;
}

hashmap *hashmap_free(hashmap *h, void (*free_value)(void *)) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->cap; i++)
                if (h->slots[i].key) {
                        free(h->slots[i].key);
                        if (free_value)
                                free_value(h->slots[i].value);
                }
        free(h->slots);
        free(h);
        return NULL;
}

static size_t find(const hashmap *h, const char *key, uint64_t hash) {
        size_t i = hash & (h->cap - 1);
        while (h->slots[i].key && (h->slots[i].hash != hash || !streq(h->slots[i].key, key)))
                i = (i + 1) & (h->cap - 1);
        return i;
}

void *hashmap_get(const hashmap *h, const char *key) {
        size_t i = find(h, key, hash_str(key));
        return h->slots[i].key ? h->slots[i].value : NULL;
}

static int grow(hashmap *h) {
        size_t cap = h->cap * 2;
        entry *old = h->slots, *s = calloc(cap, sizeof(entry));
        if (!s)
                return -ENOMEM;
        size_t oldcap = h->cap;
        h->slots = s;
        h->cap = cap;
        for (size_t i = 0; i < oldcap; i++)
                if (old[i].key)
                        h->slots[find(h, old[i].key, old[i].hash)] = old[i];
        free(old);
        return 0;
}

int hashmap_put(hashmap *h, const char *key, void *value, void **ret_old) {
        uint64_t hash = hash_str(key);
        size_t i = find(h, key, hash);
        if (ret_old)
                *ret_old = NULL;
        if (h->slots[i].key) {
                if (ret_old)
                        *ret_old = h->slots[i].value;
                h->slots[i].value = value;
                return 0;
        }
        if ((h->n + 1) * 4 > h->cap * 3) {
                if (grow(h) < 0)
                        return -ENOMEM;
                i = find(h, key, hash);
        }
        char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        h->slots[i] = (entry){ k, value, hash };
        h->n++;
        return 0;
}

void *hashmap_remove(hashmap *h, const char *key) {
        size_t i = find(h, key, hash_str(key));
        if (!h->slots[i].key)
                return NULL;
        void *v = h->slots[i].value;
        free(h->slots[i].key);
        h->slots[i].key = NULL;
        h->n--;
        /* Backward-shift deletion keeps probe chains whole without
         * tombstones. */
        size_t j = i;
        for (;;) {
                j = (j + 1) & (h->cap - 1);
                if (!h->slots[j].key)
                        break;
                size_t mask = h->cap - 1, home = h->slots[j].hash & mask;
                /* The entry at j may fill the hole at i when i lies on its
                 * probe path from home to j. */
                if (((j - home) & mask) >= ((j - i) & mask)) {
                        h->slots[i] = h->slots[j];
                        h->slots[j].key = NULL;
                        i = j;
                }
        }
        return v;
}

size_t hashmap_size(const hashmap *h) {
        return h->n;
}

bool hashmap_iterate(const hashmap *h, size_t *state, const char **ret_key, void **ret_value) {
        for (; *state < h->cap; (*state)++)
                if (h->slots[*state].key) {
                        *ret_key = h->slots[*state].key;
                        *ret_value = h->slots[*state].value;
                        (*state)++;
                        return true;
                }
        return false;
}
