/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's side of the credentials (DESIGN.md "Credentials"): new IDs
 * and secrets, and the verifier stored for them, with OpenSSL.  The format
 * that the module and the library share is common/credential.h.
 *
 *   verifier       0x02 || HMAC-SHA256(pepper, "accesskey verifier" 0x00 || 0x02 ||
 *                         ID || owner UID (u32 big endian) || SECRET)
 *                  (bound: the verifier of one key ID and owner verifies
 *                  nothing in a record edited to name another)
 *                  0x01 || HMAC-SHA256(pepper, ID ":" SECRET)
 *                  (unbound, of earlier releases: still verified, and
 *                  replaced by the bound form at the key's next successful
 *                  login)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credential.h"

#define AK_PEPPER_LEN 32
#define AK_VERIFIER_SCHEME_HMAC_SHA256 0x01 /* unbound, of earlier releases */
#define AK_VERIFIER_SCHEME_BOUND 0x02       /* bound to the key ID and owner UID */
#define AK_VERIFIER_SCHEME_CURRENT AK_VERIFIER_SCHEME_BOUND
#define AK_VERIFIER_LEN 33
#define AK_PEPPER_CHECK_LEN 32

/* Fill ret with a new ID / secret from the OS random source.
 * Return 0 or -EIO when no randomness could be had. */
int ak_id_generate(char ret[AK_ID_LEN + 1]);
int ak_secret_generate(char ret[AK_SECRET_LEN + 1]);

/* The stored verifier of (id, owner_uid, secret) under pepper, in the
 * current scheme.  Returns 0, -EINVAL for a malformed ID or secret, or
 * -EIO. */
int ak_verifier_compute(const uint8_t pepper[AK_PEPPER_LEN], const char *id, uint32_t owner_uid,
                        const char *secret, uint8_t ret[AK_VERIFIER_LEN]);

/* The same with the pepper keyed once: the daemon computes a verifier per
 * login, and setting up an HMAC from scratch costs three times the hash. */
typedef struct ak_verifier_key ak_verifier_key;
int ak_verifier_key_new(const uint8_t pepper[AK_PEPPER_LEN], ak_verifier_key **ret);
ak_verifier_key *ak_verifier_key_free(ak_verifier_key *k);
/* In the current scheme. */
int ak_verifier_compute_with(ak_verifier_key *k, const char *id, uint32_t owner_uid,
                             const char *secret, uint8_t ret[AK_VERIFIER_LEN]);
/* In a given scheme (the one a stored verifier starts with); -EINVAL for a
 * scheme this release does not know.  The unbound scheme ignores owner_uid. */
int ak_verifier_compute_scheme(ak_verifier_key *k, uint8_t scheme, const char *id,
                               uint32_t owner_uid, const char *secret,
                               uint8_t ret[AK_VERIFIER_LEN]);
/* HMAC-SHA256(pepper, "accesskey pepper check" NUL): stored beside the keys, it
 * tells a changed pepper from wrong secrets without revealing the pepper. */
int ak_pepper_check_compute(ak_verifier_key *k, uint8_t ret[AK_PEPPER_CHECK_LEN]);

/* Constant-time comparison of two verifiers. */
bool ak_verifier_equal(const uint8_t a[AK_VERIFIER_LEN], const uint8_t b[AK_VERIFIER_LEN]);
