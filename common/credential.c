/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "credential.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "util.h"

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char base62_alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static bool is_base32(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7');
}

static bool is_base62(char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

uint32_t ak_crc32(const void *data, size_t len) {
        /* CRC-32 (IEEE 802.3, reflected 0xEDB88320), bitwise: it runs once per
         * login on 44 bytes, where a table buys nothing. */
        const uint8_t *p = data;
        uint32_t crc = UINT32_MAX;
        for (size_t i = 0; i < len; i++) {
                crc ^= p[i];
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (UINT32_C(0xEDB88320) & (0u - (crc & 1u)));
        }
        return ~crc;
}

static void checksum_encode(const char *s, size_t len, char ret[AK_SECRET_CHECKSUM_LEN]) {
        uint64_t v = ak_crc32(s, len);
        /* 62^6 > 2^32: six fixed-width base62 digits, most significant first. */
        for (int i = AK_SECRET_CHECKSUM_LEN - 1; i >= 0; i--) {
                ret[i] = base62_alphabet[v % 62];
                v /= 62;
        }
}

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
                ret[2 + n++] = base32_alphabet[(acc >> (bits - 5)) & 31];
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
                                ret[plen + n++] = base62_alphabet[buf[i] % 62];
        }
        checksum_encode(ret, plen + AK_SECRET_RANDOM_LEN, ret + plen + AK_SECRET_RANDOM_LEN);
        ret[AK_SECRET_LEN] = 0;
        erase_mem(buf, sizeof(buf));
        return 0;
}

bool ak_id_is_valid(const char *id) {
        if (!id || strncmp(id, AK_ID_PREFIX, 2) != 0)
                return false;
        for (size_t i = 2; i < AK_ID_LEN; i++)
                if (!is_base32(id[i]))
                        return false;
        return id[AK_ID_LEN] == 0;
}

static int secret_check_len(const char *s, size_t len) {
        const size_t plen = strlen(AK_SECRET_PREFIX);
        if (len != AK_SECRET_LEN || memcmp(s, AK_SECRET_PREFIX, plen) != 0)
                return -EINVAL;
        for (size_t i = plen; i < AK_SECRET_LEN; i++)
                if (!is_base62(s[i]))
                        return -EINVAL;

        char sum[AK_SECRET_CHECKSUM_LEN];
        checksum_encode(s, plen + AK_SECRET_RANDOM_LEN, sum);
        /* The checksum is not secret, but a constant-time compare costs
         * nothing here and keeps timing free of the secret's contents. */
        if (CRYPTO_memcmp(sum, s + plen + AK_SECRET_RANDOM_LEN, AK_SECRET_CHECKSUM_LEN) != 0)
                return -EBADMSG;
        return 0;
}

int ak_secret_check(const char *s) {
        if (!s)
                return -EINVAL;
        return secret_check_len(s, strnlen(s, AK_SECRET_LEN + 1));
}

int ak_credential_split(const char *password, size_t len, char ret_id[AK_ID_LEN + 1],
                        char ret_secret[AK_SECRET_LEN + 1]) {
        if (!password || len != AK_CREDENTIAL_LEN || password[AK_ID_LEN] != ':')
                return -EINVAL;

        char id[AK_ID_LEN + 1];
        memcpy(id, password, AK_ID_LEN);
        id[AK_ID_LEN] = 0;
        if (!ak_id_is_valid(id))
                return -EINVAL;

        int r = secret_check_len(password + AK_ID_LEN + 1, AK_SECRET_LEN);
        if (r < 0)
                return r;

        memcpy(ret_id, id, AK_ID_LEN + 1);
        memcpy(ret_secret, password + AK_ID_LEN + 1, AK_SECRET_LEN);
        ret_secret[AK_SECRET_LEN] = 0;
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

int ak_verifier_compute_with(ak_verifier_key *k, const char *id, const char *secret, uint8_t ret[AK_VERIFIER_LEN]) {
        unsigned char msg[AK_CREDENTIAL_LEN];
        size_t il = strnlen(id, AK_ID_LEN + 1), sl = strnlen(secret, AK_SECRET_LEN + 1), mdlen = 0;

        if (il != AK_ID_LEN || sl != AK_SECRET_LEN)
                return -EINVAL;
        memcpy(msg, id, il);
        msg[il] = ':';
        memcpy(msg + il + 1, secret, sl);

        ret[0] = AK_VERIFIER_SCHEME_HMAC_SHA256;
        /* A NULL key re-initialises the context with the pepper it holds. */
        bool ok = EVP_MAC_init(k->ctx, NULL, 0, NULL) == 1 && EVP_MAC_update(k->ctx, msg, sizeof(msg)) == 1 &&
                  EVP_MAC_final(k->ctx, ret + 1, &mdlen, AK_VERIFIER_LEN - 1) == 1 && mdlen == AK_VERIFIER_LEN - 1;
        erase_mem(msg, sizeof(msg));
        if (!ok) {
                erase_mem(ret, AK_VERIFIER_LEN);
                return -EIO;
        }
        return 0;
}

int ak_verifier_compute(const uint8_t pepper[AK_PEPPER_LEN], const char *id, const char *secret,
                        uint8_t ret[AK_VERIFIER_LEN]) {
        ak_verifier_key *k;
        int r = ak_verifier_key_new(pepper, &k);
        if (r < 0)
                return r;
        r = ak_verifier_compute_with(k, id, secret, ret);
        ak_verifier_key_free(k);
        return r;
}

bool ak_verifier_equal(const uint8_t a[AK_VERIFIER_LEN], const uint8_t b[AK_VERIFIER_LEN]) {
        return CRYPTO_memcmp(a, b, AK_VERIFIER_LEN) == 0;
}
