/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "verifier.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util.h"

int ak_id_generate(char ret[AK_ID_LEN + 1]) {
        uint8_t buf[12]; /* 96 bits, of which 90 are used */
        if (RAND_bytes(buf, sizeof(buf)) != 1)
                return -EIO;

        memcpy(ret, AK_ID_PREFIX, 2);
        uint64_t acc = 0;
        unsigned bits = 0;
        size_t n = 0, j = 0;
        while (n < AK_ID_LEN - 2) {
                if (bits < 5) {
                        acc = (acc << 8) | buf[j++];
                        bits += 8;
                }
                ret[2 + n++] = ak_base32_alphabet[(acc >> (bits - 5)) & 31];
                bits -= 5;
        }
        ret[AK_ID_LEN] = 0;
        erase_mem(buf, sizeof(buf));
        return 0;
}

int ak_secret_generate(char ret[AK_SECRET_LEN + 1]) {
        const size_t plen = strlen(AK_SECRET_PREFIX);
        uint8_t buf[64];
        size_t n = 0;

        memcpy(ret, AK_SECRET_PREFIX, plen);
        while (n < AK_SECRET_RANDOM_LEN) {
                if (RAND_bytes(buf, sizeof(buf)) != 1) {
                        erase_mem(buf, sizeof(buf));
                        erase_mem(ret, AK_SECRET_LEN + 1);
                        return -EIO;
                }
                /* Rejection sampling: 248 = 4 * 62, so every character is
                 * equally likely. */
                for (size_t i = 0; i < sizeof(buf) && n < AK_SECRET_RANDOM_LEN; i++)
                        if (buf[i] < 248)
                                ret[plen + n++] = ak_base62_alphabet[buf[i] % 62];
        }
        ak_secret_checksum_encode(ret, plen + AK_SECRET_RANDOM_LEN,
                                  ret + plen + AK_SECRET_RANDOM_LEN);
        ret[AK_SECRET_LEN] = 0;
        erase_mem(buf, sizeof(buf));
        return 0;
}

struct ak_verifier_key {
        EVP_MAC *mac;
        EVP_MAC_CTX *ctx; /* keyed with the pepper; re-initialised per use */
};

ak_verifier_key *ak_verifier_key_free(ak_verifier_key *k) {
        if (k) {
                EVP_MAC_CTX_free(k->ctx);
                EVP_MAC_free(k->mac);
                free(k);
        }
        return NULL;
}

int ak_verifier_key_new(const uint8_t pepper[AK_PEPPER_LEN], ak_verifier_key **ret) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                OSSL_PARAM_construct_end() };
        ak_verifier_key *k = calloc(1, sizeof(*k));

        if (!k)
                return -ENOMEM;
        k->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        k->ctx = k->mac ? EVP_MAC_CTX_new(k->mac) : NULL;
        if (!k->ctx || EVP_MAC_init(k->ctx, pepper, AK_PEPPER_LEN, params) != 1) {
                ak_verifier_key_free(k);
                return -EIO;
        }
        *ret = k;
        return 0;
}

/* One HMAC under the keyed pepper over n parts; ret gets the 32-byte MAC. */
static int mac_parts(ak_verifier_key *k, const void *const *parts, const size_t *lens, size_t n,
                     uint8_t ret[AK_VERIFIER_LEN - 1]) {
        size_t mdlen = 0;
        /* A NULL key re-initialises the context with the pepper it holds. */
        bool ok = EVP_MAC_init(k->ctx, NULL, 0, NULL) == 1;
        for (size_t i = 0; ok && i < n; i++)
                ok = EVP_MAC_update(k->ctx, parts[i], lens[i]) == 1;
        ok = ok && EVP_MAC_final(k->ctx, ret, &mdlen, AK_VERIFIER_LEN - 1) == 1 &&
             mdlen == AK_VERIFIER_LEN - 1;
        if (!ok) {
                erase_mem(ret, AK_VERIFIER_LEN - 1);
                return -EIO;
        }
        return 0;
}

/* The label that starts every bound verifier's message: no unbound message
 * ("AK...:aks_...") and no pepper check starts with it, so a MAC of one
 * kind never stands for another. */
static const char bound_label[] = "accesskey verifier"; /* with its NUL */
static const char check_label[] = "accesskey pepper check";

int ak_verifier_compute_scheme(ak_verifier_key *k, uint8_t scheme, const char *id,
                               uint32_t owner_uid, const char *secret,
                               uint8_t ret[AK_VERIFIER_LEN]) {
        size_t il = strnlen(id, AK_ID_LEN + 1), sl = strnlen(secret, AK_SECRET_LEN + 1);
        int r;

        if (il != AK_ID_LEN || sl != AK_SECRET_LEN)
                return -EINVAL;
        ret[0] = scheme;
        if (scheme == AK_VERIFIER_SCHEME_HMAC_SHA256) {
                /* Of earlier releases: ID ":" SECRET, bound to nothing else. */
                const void *parts[] = { id, ":", secret };
                const size_t lens[] = { il, 1, sl };
                r = mac_parts(k, parts, lens, ELEMENTSOF(parts), ret + 1);
        } else if (scheme == AK_VERIFIER_SCHEME_BOUND) {
                /* Every field has a fixed length, so the encoding is
                 * unambiguous without separators: label NUL, scheme, ID
                 * (20), owner UID (4, big endian), secret (50). */
                const uint8_t uid[4] = { (uint8_t) (owner_uid >> 24), (uint8_t) (owner_uid >> 16),
                                         (uint8_t) (owner_uid >> 8), (uint8_t) owner_uid };
                const void *parts[] = { bound_label, &scheme, id, uid, secret };
                const size_t lens[] = { sizeof(bound_label), 1, il, sizeof(uid), sl };
                r = mac_parts(k, parts, lens, ELEMENTSOF(parts), ret + 1);
        } else
                return -EINVAL;
        if (r < 0)
                erase_mem(ret, AK_VERIFIER_LEN);
        return r;
}

int ak_verifier_compute_with(ak_verifier_key *k, const char *id, uint32_t owner_uid,
                             const char *secret, uint8_t ret[AK_VERIFIER_LEN]) {
        return ak_verifier_compute_scheme(k, AK_VERIFIER_SCHEME_CURRENT, id, owner_uid, secret,
                                          ret);
}

int ak_pepper_check_compute(ak_verifier_key *k, uint8_t ret[AK_PEPPER_CHECK_LEN]) {
        const void *parts[] = { check_label };
        const size_t lens[] = { sizeof(check_label) };
        return mac_parts(k, parts, lens, 1, ret);
}

int ak_verifier_compute(const uint8_t pepper[AK_PEPPER_LEN], const char *id, uint32_t owner_uid,
                        const char *secret, uint8_t ret[AK_VERIFIER_LEN]) {
        ak_verifier_key *k;
        int r = ak_verifier_key_new(pepper, &k);
        if (r < 0)
                return r;
        r = ak_verifier_compute_with(k, id, owner_uid, secret, ret);
        ak_verifier_key_free(k);
        return r;
}

bool ak_verifier_equal(const uint8_t a[AK_VERIFIER_LEN], const uint8_t b[AK_VERIFIER_LEN]) {
        return CRYPTO_memcmp(a, b, AK_VERIFIER_LEN) == 0;
}
