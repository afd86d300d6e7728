/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The credential parser: what the PAM module runs on every password it is
 * given, before anything is sent to the daemon.  The input is the PAM
 * password as typed (it may hold NUL bytes).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "verifier.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];

        int r = ak_credential_split((const char *) data, size, id, secret);
        assert(r == 0 || r == -EINVAL || r == -EBADMSG);
        if (r == 0) {
                /* A password that splits is exactly "<ID>:<SECRET>", and
                 * both halves pass the checks the daemon applies again. */
                assert(size == AK_CREDENTIAL_LEN);
                assert(ak_id_is_valid(id));
                assert(ak_secret_check(secret) == 0);
                assert(strlen(id) == AK_ID_LEN && strlen(secret) == AK_SECRET_LEN);
                assert(memcmp(data, id, AK_ID_LEN) == 0 && data[AK_ID_LEN] == ':' &&
                       memcmp(data + AK_ID_LEN + 1, secret, AK_SECRET_LEN) == 0);

                static const uint8_t pepper[AK_PEPPER_LEN] = { 1, 2, 3 };
                uint8_t v1[AK_VERIFIER_LEN], v2[AK_VERIFIER_LEN];
                assert(ak_verifier_compute(pepper, id, 1000, secret, v1) == 0);
                assert(ak_verifier_compute(pepper, id, 1000, secret, v2) == 0);
                assert(v1[0] == AK_VERIFIER_SCHEME_BOUND && ak_verifier_equal(v1, v2));
                /* Bound to the owner, and apart from the unbound scheme. */
                assert(ak_verifier_compute(pepper, id, 1001, secret, v2) == 0);
                assert(!ak_verifier_equal(v1, v2));
                ak_verifier_key *k;
                assert(ak_verifier_key_new(pepper, &k) == 0);
                assert(ak_verifier_compute_scheme(k, AK_VERIFIER_SCHEME_HMAC_SHA256, id, 1000,
                                                  secret, v2) == 0);
                assert(v2[0] == AK_VERIFIER_SCHEME_HMAC_SHA256 &&
                       memcmp(v1 + 1, v2 + 1, AK_VERIFIER_LEN - 1));
                assert(ak_verifier_compute_scheme(k, 0, id, 1000, secret, v2) == -EINVAL);
                ak_verifier_key_free(k);
        }

        /* The same bytes as C strings, as the daemon sees an ID or a secret
         * arriving over D-Bus. */
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        if (ak_id_is_valid(s))
                assert(strlen(s) == AK_ID_LEN && memcmp(s, AK_ID_PREFIX, 2) == 0);
        int k = ak_secret_check(s);
        assert(k == 0 || k == -EINVAL || k == -EBADMSG);
        if (k == 0)
                assert(strlen(s) == AK_SECRET_LEN && memcmp(s, AK_SECRET_PREFIX, 4) == 0);
        /* Either half of a split credential, checked alone, agrees. */
        char *colon = strchr(s, ':');
        if (colon) {
                *colon = 0;
                bool id_ok = ak_id_is_valid(s);
                int sk = ak_secret_check(colon + 1);
                if (r == 0)
                        assert(id_ok && sk == 0);
                else if (id_ok && sk == 0 && size == AK_CREDENTIAL_LEN)
                        assert(!"split refused a well-formed credential");
        }
        free(s);
        return 0;
}
