/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failure rate limiting for Authenticate, per source: a generic cell rate
 * algorithm with one timestamp per bucket.  Each failure pushes the
 * bucket's "theoretical arrival time" one interval ahead; a bucket whose
 * time runs more than burst intervals ahead is blocked until time catches
 * up.  Only failures count, so a key's owner is never locked out from
 * another source, and nothing is ever locked for good.
 *
 * Every time given here is CLOCK_MONOTONIC (mono_usec()): a step of the
 * wall clock must neither lock anyone out nor free a guesser.
 *
 * The table is bounded.  A bucket is dropped only once it has recovered
 * (it holds no failure any more), so no flood can free a source's counter.
 * When the table is full, every source without a bucket shares one
 * overflow bucket: a flood of new sources is limited as a whole, never
 * left uncounted.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* The daemon's table size. */
#define RATELIMIT_MAX_BUCKETS 65536

/* max_buckets: RATELIMIT_MAX_BUCKETS, or a small table for a test. */
ratelimit *ratelimit_new(unsigned max_buckets);
ratelimit *ratelimit_free(ratelimit *rl);

/* Whether key has no failure left to spend now; when blocked, *ret_wait
 * (optional) says for how long, and *ret_shared (optional) whether the
 * bucket is the overflow that every new source shares while the table is
 * full. */
bool ratelimit_blocked(ratelimit *rl, const char *key, uint64_t now, uint32_t burst,
                       uint64_t interval, uint64_t *ret_wait, bool *ret_shared);
/* Records a failure: in key's bucket, or in the overflow bucket when the
 * table is full (logged, at most once a minute). */
void ratelimit_fail(ratelimit *rl, const char *key, uint64_t now, uint64_t interval);
/* Drops buckets that have recovered; returns how many remain. */
unsigned ratelimit_prune(ratelimit *rl, uint64_t now);
