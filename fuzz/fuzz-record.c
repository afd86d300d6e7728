/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The decoders of the stored key record and usage figures (daemon/record.c).
 * The database is root's, but a decoder that trusts its input turns one
 * corrupt page into a daemon crash at every start.  A record that decodes
 * must survive an encode/decode round trip unchanged, and its encoding is
 * canonical: encoding the re-decoded record gives the same bytes.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "util.h"

static void assert_str_equal(const char *a, const char *b) {
        assert(!a == !b);
        assert(!a || streq(a, b));
}

static void assert_strv_equal(char **a, char **b) {
        assert(a && b); /* the decoder gives empty lists, never NULL */
        size_t n = strv_length(a);
        assert(n == strv_length(b));
        assert(n <= 256);
        for (size_t i = 0; i < n; i++)
                assert(streq(a[i], b[i]));
}

static void assert_record_equal(const key_record *a, const key_record *b) {
        assert(streq(a->id, b->id));
        assert(a->owner_uid == b->owner_uid);
        assert_str_equal(a->owner_name, b->owner_name);
        assert_str_equal(a->name, b->name);
        assert_str_equal(a->description, b->description);
        assert(a->created_at == b->created_at && a->created_by == b->created_by);
        assert(a->updated_at == b->updated_at && a->updated_by == b->updated_by);
        assert(a->expires_at == b->expires_at);
        assert(a->state == b->state);
        assert(a->rotated_at == b->rotated_at);
        assert(memcmp(a->verifier, b->verifier, AK_VERIFIER_LEN) == 0);
        /* The previous verifier is stored only while its grace period runs. */
        assert(a->prev_verifier_until == b->prev_verifier_until);
        if (a->prev_verifier_until)
                assert(memcmp(a->prev_verifier, b->prev_verifier, AK_VERIFIER_LEN) == 0);
        assert_strv_equal(a->services, b->services);
        assert_strv_equal(a->networks, b->networks);
        assert_strv_equal(a->scopes, b->scopes);
        assert(a->expiry_warned_for == b->expiry_warned_for);
}

static void fuzz_record(const uint8_t *data, size_t size) {
        _cleanup_(key_record_freep) key_record *r = NULL, *r2 = NULL, *r3 = NULL;
        _cleanup_(freep) uint8_t *enc = NULL, *enc2 = NULL;
        size_t len, len2;

        int k = key_record_decode(data, size, &r);
        assert(k == 0 || k == -EBADMSG || k == -EPROTONOSUPPORT || k == -ENOMEM);
        if (k < 0) {
                assert(!r);
                return;
        }
        assert(r && ak_id_is_valid(r->id));
        assert(r->state == KEY_STATE_ACTIVE || r->state == KEY_STATE_INACTIVE);
        assert(r->owner_uid != UINT32_MAX);
        /* The count of unbound verifiers at start reads the scheme the
         * decoder keeps. */
        uint8_t scheme;
        assert(key_record_peek_verifier_scheme(data, size, &scheme) == 0 &&
               scheme == r->verifier[0]);

        if (key_record_encode(r, &enc, &len) < 0)
                return;
        assert(len >= 1 && enc[0] == RECORD_VERSION);
        assert(key_record_decode(enc, len, &r2) == 0);
        assert_record_equal(r, r2);

        if (key_record_encode(r2, &enc2, &len2) < 0)
                return;
        assert(len == len2 && memcmp(enc, enc2, len) == 0);
        assert(key_record_decode(enc2, len2, &r3) == 0);
        assert_record_equal(r2, r3);
}

static void fuzz_usage(const uint8_t *data, size_t size) {
        key_usage u = {}, u2 = {};
        _cleanup_(freep) uint8_t *enc = NULL;
        size_t len;

        int k = key_usage_decode(data, size, &u);
        assert(k == 0 || k == -EBADMSG || k == -EPROTONOSUPPORT || k == -ENOMEM);
        if (k < 0)
                return;
        if (key_usage_encode(&u, &enc, &len) == 0) {
                assert(key_usage_decode(enc, len, &u2) == 0);
                assert(u.last_used_at == u2.last_used_at && u.use_count == u2.use_count &&
                       u.failures == u2.failures);
                assert_str_equal(u.last_used_service, u2.last_used_service);
                assert_str_equal(u.last_used_rhost, u2.last_used_rhost);
        }
        key_usage_clear(&u);
        key_usage_clear(&u2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Both stored forms share the TLV reader; every input feeds both. */
        fuzz_record(data, size);
        fuzz_usage(data, size);
        return 0;
}
