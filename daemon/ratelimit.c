/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ratelimit.h"

#include <stdlib.h>

#include "hashmap.h"
#include "util.h"

struct ratelimit {
        hashmap *tat; /* key → uint64_t* theoretical arrival time */
        uint64_t last_prune;
};

ratelimit *ratelimit_new(void) {
        ratelimit *rl = calloc(1, sizeof(*rl));
        if (rl && !(rl->tat = hashmap_new())) {
                free(rl);
                return NULL;
        }
        return rl;
}

ratelimit *ratelimit_free(ratelimit *rl) {
        if (rl) {
                hashmap_free(rl->tat, free);
                free(rl);
        }
        return NULL;
}

bool ratelimit_blocked(ratelimit *rl, const char *key, uint64_t now, uint32_t burst, uint64_t interval,
                       uint64_t *ret_wait) {
        const uint64_t *tat = hashmap_get(rl->tat, key);
        if (burst == 0 || !tat)
                return false;
        /* Room for one more failure while tat stays within burst intervals
         * of now. */
        uint64_t limit = now + (uint64_t) (burst - 1) * interval;
        if (*tat <= limit)
                return false;
        if (ret_wait)
                *ret_wait = *tat - limit;
        return true;
}

void ratelimit_fail(ratelimit *rl, const char *key, uint64_t now, uint64_t interval) {
        uint64_t *tat = hashmap_get(rl->tat, key);
        if (!tat) {
                /* Full: prune at most once a second here (a prune walks
                 * every bucket), else leave this one out — the per-source
                 * bucket, or the next prune, still counts. */
                if (hashmap_size(rl->tat) >= RATELIMIT_MAX_BUCKETS &&
                    (now - rl->last_prune < USEC_PER_SEC || ratelimit_prune(rl, now) >= RATELIMIT_MAX_BUCKETS))
                        return;
                tat = malloc(sizeof(*tat));
                if (!tat)
                        return;
                *tat = now;
                if (hashmap_put(rl->tat, key, tat, NULL) < 0) {
                        free(tat);
                        return;
                }
        }
        *tat = MAX(*tat, now) + interval;
}

unsigned ratelimit_prune(ratelimit *rl, uint64_t now) {
        hashmap *kept = hashmap_new();
        rl->last_prune = now;
        size_t state = 0;
        const char *key;
        void *value;

        if (!kept)
                return (unsigned) hashmap_size(rl->tat);
        while (hashmap_iterate(rl->tat, &state, &key, &value)) {
                if (*(uint64_t *) value > now && hashmap_put(kept, key, value, NULL) == 0)
                        continue;
                free(value);
        }
        /* Values now belong to kept (or were freed). */
        hashmap_free(rl->tat, NULL);
        rl->tat = kept;
        return (unsigned) hashmap_size(kept);
}
