/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failure rate limiting for Authenticate, per source and per (key, source):
 * a generic cell rate algorithm with one timestamp per bucket.  Each failure
 * pushes the bucket's "theoretical arrival time" one interval ahead; a
 * bucket whose time runs more than burst intervals ahead is blocked until
 * time catches up.  Only failures count, so a key's owner is never locked
 * out from another source, and nothing is ever locked for good.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* At most this many buckets are kept; past it, buckets that have fully
 * recovered are dropped first. */
#define RATELIMIT_MAX_BUCKETS 65536

ratelimit *ratelimit_new(void);
ratelimit *ratelimit_free(ratelimit *rl);

/* Whether key has no failure left to spend now; when blocked, *ret_wait
 * (optional) says for how long. */
bool ratelimit_blocked(ratelimit *rl, const char *key, uint64_t now, uint32_t burst, uint64_t interval,
                       uint64_t *ret_wait);
/* Records a failure. */
void ratelimit_fail(ratelimit *rl, const char *key, uint64_t now, uint64_t interval);
/* Drops buckets that have recovered; returns how many remain. */
unsigned ratelimit_prune(ratelimit *rl, uint64_t now);
