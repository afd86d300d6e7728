/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of daemon/ratelimit.c, without a bus: the limiter fed
 * monotonic times, a burst and its recovery, and a full table that still
 * limits new sources and never frees a counter that holds failures. */
#include <check.h>
#include <stdio.h>

#include "harness.h"
#include "ratelimit.h"
#include "util.h"

#define BURST 10
#define INTERVAL (10 * USEC_PER_SEC)

/* An attacker's loop: for each source, one guess unless refused.  Returns
 * how many were checked (and failed); the rest were refused unchecked. */
static int guess(ratelimit *rl, const char *prefix, int n, uint64_t now) {
        int checked = 0;
        for (int i = 0; i < n; i++) {
                char key[64];
                snprintf(key, sizeof(key), "%s%d", prefix, i);
                if (ratelimit_blocked(rl, key, now, BURST, INTERVAL, NULL, NULL))
                        continue;
                ratelimit_fail(rl, key, now, INTERVAL);
                checked++;
        }
        return checked;
}

START_TEST(test_burst_then_one_per_interval) {
        ratelimit *rl = ratelimit_new(RATELIMIT_MAX_BUCKETS);
        ck_assert_ptr_nonnull(rl);
        /* The daemon's clock: CLOCK_MONOTONIC, whatever the wall clock does. */
        uint64_t t = mono_usec(), wait = 0;
        bool shared = true;

        for (int i = 0; i < BURST; i++) {
                ck_assert(!ratelimit_blocked(rl, "uid:1000", t, BURST, INTERVAL, NULL, NULL));
                ratelimit_fail(rl, "uid:1000", t, INTERVAL);
        }
        ck_assert(ratelimit_blocked(rl, "uid:1000", t, BURST, INTERVAL, &wait, &shared));
        ck_assert_uint_eq(wait, INTERVAL);
        ck_assert(!shared);
        /* Another source is not touched. */
        ck_assert(!ratelimit_blocked(rl, "uid:1001", t, BURST, INTERVAL, NULL, NULL));
        /* One more failure each interval, no sooner. */
        ck_assert(ratelimit_blocked(rl, "uid:1000", t + INTERVAL - 1, BURST, INTERVAL, NULL, NULL));
        ck_assert(!ratelimit_blocked(rl, "uid:1000", t + INTERVAL, BURST, INTERVAL, NULL, NULL));
        ratelimit_fail(rl, "uid:1000", t + INTERVAL, INTERVAL);
        ck_assert(ratelimit_blocked(rl, "uid:1000", t + INTERVAL, BURST, INTERVAL, &wait, NULL));
        ck_assert_uint_eq(wait, INTERVAL);
        /* Burst 0: off. */
        ck_assert(!ratelimit_blocked(rl, "uid:1000", t, 0, INTERVAL, NULL, NULL));
        ratelimit_free(rl);
}
END_TEST

START_TEST(test_one_failure_locks_out_for_one_interval_at_most) {
        /* The case: one wrong guess, then the wall clock is set an
         * hour back.  The limiter sees only the monotonic clock, which no
         * one steps: the next attempt is refused for one interval at most
         * (burst 1 here, the strictest), never for an hour. */
        ratelimit *rl = ratelimit_new(RATELIMIT_MAX_BUCKETS);
        uint64_t t = mono_usec(), wait = 0;
        ratelimit_fail(rl, "local:1000", t, INTERVAL);
        ck_assert(ratelimit_blocked(rl, "local:1000", t + USEC_PER_SEC, 1, INTERVAL, &wait, NULL));
        ck_assert_uint_le(wait, INTERVAL);
        ck_assert(!ratelimit_blocked(rl, "local:1000", t + INTERVAL, 1, INTERVAL, NULL, NULL));
        ratelimit_free(rl);
}
END_TEST

START_TEST(test_full_table_still_limits_new_sources) {
        ratelimit *rl = ratelimit_new(8);
        uint64_t t = mono_usec();

        /* Eight sources fill the table, each with failures to hold for
         * five intervals. */
        for (int k = 0; k < 5; k++)
                ck_assert_int_eq(guess(rl, "host:198.51.100.", 8, t), 8);
        /* A flood of 1,000 new sources, one guess each: counted together,
         * one burst for all of them, not one each (nor none at all). */
        ck_assert_int_eq(guess(rl, "host:2001:db8::", 1000, t), BURST);
        uint64_t wait = 0;
        bool shared = false;
        ck_assert(ratelimit_blocked(rl, "host:203.0.113.2", t, BURST, INTERVAL, &wait, &shared));
        ck_assert(shared);
        ck_assert_uint_eq(wait, INTERVAL);
        /* Later, one more each interval for all the new sources together. */
        ck_assert_int_eq(guess(rl, "host:2001:db8:1::", 1000, t + INTERVAL), 1);
        ratelimit_free(rl);
}
END_TEST

START_TEST(test_full_table_frees_no_counter) {
        ratelimit *rl = ratelimit_new(8);
        uint64_t t = mono_usec();

        /* The attacker spends its burst at one victim's key source... */
        for (int i = 0; i < BURST; i++)
                ratelimit_fail(rl, "host:198.51.100.7", t, INTERVAL);
        ck_assert(ratelimit_blocked(rl, "host:198.51.100.7", t, BURST, INTERVAL, NULL, NULL));
        /* ...then floods the table with new sources for a few seconds,
         * pruning included, hoping that its counter is dropped to make
         * room. */
        for (int s = 0; s <= 5; s++)
                (void) guess(rl, "host:2001:db8::", 1000, t + (uint64_t) s * USEC_PER_SEC);
        ck_assert(ratelimit_blocked(rl, "host:198.51.100.7", t + 5 * USEC_PER_SEC, BURST, INTERVAL,
                                    NULL, NULL));
        /* A counter goes only once it holds no failure: after burst
         * intervals, when it is free anyway. */
        ck_assert_uint_eq(ratelimit_prune(rl, t + BURST * INTERVAL), 0);
        ck_assert(!ratelimit_blocked(rl, "host:198.51.100.7", t + BURST * INTERVAL, BURST, INTERVAL,
                                     NULL, NULL));
        ratelimit_free(rl);
}
END_TEST

START_TEST(test_prune_keeps_what_holds_failures) {
        ratelimit *rl = ratelimit_new(RATELIMIT_MAX_BUCKETS);
        uint64_t t = mono_usec();
        ratelimit_fail(rl, "old", t, INTERVAL);
        ratelimit_fail(rl, "new", t + INTERVAL, INTERVAL);
        ck_assert_uint_eq(ratelimit_prune(rl, t + INTERVAL), 1);
        ck_assert_uint_eq(ratelimit_prune(rl, t + 2 * INTERVAL), 0);
        ratelimit_free(rl);
}
END_TEST

START_TEST(test_full_table_makes_room_from_recovered) {
        ratelimit *rl = ratelimit_new(4);
        uint64_t t = mono_usec();
        ck_assert_int_eq(guess(rl, "a", 4, t), 4);
        /* Once those have recovered, a new source gets a bucket of its own,
         * not the shared one. */
        uint64_t later = t + 2 * INTERVAL;
        bool shared = true;
        for (int i = 0; i < BURST; i++) {
                ck_assert(!ratelimit_blocked(rl, "b", later, BURST, INTERVAL, NULL, NULL));
                ratelimit_fail(rl, "b", later, INTERVAL);
        }
        ck_assert(ratelimit_blocked(rl, "b", later, BURST, INTERVAL, NULL, &shared));
        ck_assert(!shared);
        ck_assert(!ratelimit_blocked(rl, "c", later, BURST, INTERVAL, NULL, NULL));
        ratelimit_free(rl);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("ratelimit");
        TCase *tc = tcase_create("ratelimit");
        tcase_add_test(tc, test_burst_then_one_per_interval);
        tcase_add_test(tc, test_one_failure_locks_out_for_one_interval_at_most);
        tcase_add_test(tc, test_full_table_still_limits_new_sources);
        tcase_add_test(tc, test_full_table_frees_no_counter);
        tcase_add_test(tc, test_prune_keeps_what_holds_failures);
        tcase_add_test(tc, test_full_table_makes_room_from_recovered);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), false);
}
