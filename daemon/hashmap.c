/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hashmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "util.h"

typedef struct entry {
        char *key; /* NULL: empty */
        void *value;
        uint64_t hash;
} entry;

struct hashmap {
        entry *slots;
        size_t cap, n;
        uint64_t key[2];
};

/* SipHash-2-4 under a random key per map: the daemon's maps are keyed by
 * what callers send (remote hosts, bus names), and a keyed hash keeps a
 * caller from choosing keys that collide. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
        do {                                                                                       \
                v0 += v1;                                                                          \
                v1 = ROTL(v1, 13);                                                                 \
                v1 ^= v0;                                                                          \
                v0 = ROTL(v0, 32);                                                                 \
                v2 += v3;                                                                          \
                v3 = ROTL(v3, 16);                                                                 \
                v3 ^= v2;                                                                          \
                v0 += v3;                                                                          \
                v3 = ROTL(v3, 21);                                                                 \
                v3 ^= v0;                                                                          \
                v2 += v1;                                                                          \
                v1 = ROTL(v1, 17);                                                                 \
                v1 ^= v2;                                                                          \
                v2 = ROTL(v2, 32);                                                                 \
        } while (0)

static uint64_t load64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static uint64_t siphash24(const uint64_t key[2], const char *s) {
        const uint8_t *in = (const uint8_t *) s;
        size_t len = strlen(s), left = len & 7;
        uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ key[0], v1 = UINT64_C(0x646f72616e646f6d) ^ key[1];
        uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ key[0], v3 = UINT64_C(0x7465646279746573) ^ key[1];
        const uint8_t *end = in + len - left;

        for (; in != end; in += 8) {
                uint64_t m = load64(in);
                v3 ^= m;
                SIPROUND;
                SIPROUND;
                v0 ^= m;
        }
        uint64_t b = (uint64_t) len << 56;
        for (size_t i = 0; i < left; i++)
                b |= (uint64_t) in[i] << (8 * i);
        v3 ^= b;
        SIPROUND;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

hashmap *hashmap_new(void) {
        hashmap *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->cap = 16;
        if (RAND_bytes((unsigned char *) h->key, sizeof(h->key)) != 1) {
                free(h);
                return NULL;
        }
        h->slots = calloc(h->cap, sizeof(entry));
        if (!h->slots) {
                free(h);
                return NULL;
        }
        return h;
}

void hashmap_clear(hashmap *h, void (*free_value)(void *)) {
        for (size_t i = 0; i < h->cap; i++)
                if (h->slots[i].key) {
                        free(h->slots[i].key);
                        if (free_value)
                                free_value(h->slots[i].value);
                }
        memset(h->slots, 0, h->cap * sizeof(*h->slots));
        h->n = 0;
}

hashmap *hashmap_free(hashmap *h, void (*free_value)(void *)) {
        if (!h)
                return NULL;
        hashmap_clear(h, free_value);
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
        size_t i = find(h, key, siphash24(h->key, key));
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
        uint64_t hash = siphash24(h->key, key);
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
        size_t i = find(h, key, siphash24(h->key, key));
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
