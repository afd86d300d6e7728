/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ratelimit.h"

#include <stdlib.h>

#include "hashmap.h"
#include "log.h"
#include "util.h"

#define FULL_WARN_USEC (60 * USEC_PER_SEC)

struct ratelimit {
        hashmap *tat; /* key → uint64_t* theoretical arrival time */
        unsigned max;
        uint64_t overflow;   /* the tat of every source left out of a full table */
        uint64_t last_prune; /* when a full table was last pruned in a request */
        uint64_t warned_at;  /* the last "table full" warning */
        unsigned unwarned;   /* failures put in the overflow since then */
};

ratelimit *ratelimit_new(unsigned max_buckets) {
        ratelimit *rl = calloc(1, sizeof(*rl));
        if (rl && !(rl->tat = hashmap_new())) {
                free(rl);
                return NULL;
        }
        if (rl)
                rl->max = max_buckets;
        return rl;
}

ratelimit *ratelimit_free(ratelimit *rl) {
        if (rl) {
                hashmap_free(rl->tat, free);
                free(rl);
        }
        return NULL;
}

/* Whether the table has no room for one more bucket.  A full table is
 * pruned here at most once a second (a prune walks every bucket), so that
 * recovered buckets make room before anyone is sent to the overflow. */
static bool full(ratelimit *rl, uint64_t now) {
        if (hashmap_size(rl->tat) < rl->max)
                return false;
        if (now - rl->last_prune >= USEC_PER_SEC)
                (void) ratelimit_prune(rl, now);
        return hashmap_size(rl->tat) >= rl->max;
}

bool ratelimit_blocked(ratelimit *rl, const char *key, uint64_t now, uint32_t burst,
                       uint64_t interval, uint64_t *ret_wait, bool *ret_shared) {
        if (burst == 0)
                return false;
        const uint64_t *tat = hashmap_get(rl->tat, key);
        bool shared = false;
        if (!tat && full(rl, now)) {
                tat = &rl->overflow;
                shared = true;
        }
        if (!tat)
                return false;
        /* Room for one more failure while tat stays within burst intervals
         * of now. */
        uint64_t limit = now + (uint64_t) (burst - 1) * interval;
        if (*tat <= limit)
                return false;
        if (ret_wait)
                *ret_wait = *tat - limit;
        if (ret_shared)
                *ret_shared = shared;
        return true;
}

static void warn_full(ratelimit *rl, uint64_t now) {
        /* Whoever floods the table can make this warning: once a minute. */
        if (rl->warned_at && now - rl->warned_at < FULL_WARN_USEC) {
                rl->unwarned++;
                return;
        }
        if (rl->unwarned)
                log_warning(
                        "rate limiting: the table of %u sources is still full of sources that failed "
                        "recently; %u more failures from new sources were counted together",
                        rl->max, rl->unwarned);
        else
                log_warning(
                        "rate limiting: the table of %u sources is full of sources that failed recently "
                        "(a flood of failed logins from many hosts?); failures from new sources are counted "
                        "together, and logins from new sources may be refused as rate limited until it "
                        "stops",
                        rl->max);
        rl->warned_at = now ? now : 1;
        rl->unwarned = 0;
}

void ratelimit_fail(ratelimit *rl, const char *key, uint64_t now, uint64_t interval) {
        uint64_t *tat = hashmap_get(rl->tat, key);
        if (!tat && full(rl, now))
                warn_full(rl, now);
        else if (!tat && (tat = malloc(sizeof(*tat)))) {
                *tat = now;
                if (hashmap_put(rl->tat, key, tat, NULL) < 0) {
                        free(tat);
                        tat = NULL;
                }
        }
        /* Without a bucket of its own (a full table, or no memory) the
         * failure is still counted, in the overflow bucket. */
        if (!tat)
                tat = &rl->overflow;
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
        /* Only buckets that have recovered are dropped: one that still
         * holds a failure is kept whatever the pressure on the table (and
         * without memory for the new map, nothing is dropped). */
        while (hashmap_iterate(rl->tat, &state, &key, &value))
                if (*(uint64_t *) value > now && hashmap_put(kept, key, value, NULL) < 0) {
                        hashmap_free(kept, NULL);
                        return (unsigned) hashmap_size(rl->tat);
                }
        for (state = 0; hashmap_iterate(rl->tat, &state, &key, &value);)
                if (*(uint64_t *) value <= now)
                        free(value);
        /* Values now belong to kept (or were freed). */
        hashmap_free(rl->tat, NULL);
        rl->tat = kept;
        return (unsigned) hashmap_size(kept);
}
