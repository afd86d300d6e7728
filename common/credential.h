/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The credential format (DESIGN.md "Credentials").
 *
 *   access key ID  "AK" + 18 base32 [A-Z2-7]            (90 random bits)
 *   secret         "aks_" + 40 base62 + 6 base62 CRC32  (≈238 random bits)
 *   PAM password   "<ID>:<SECRET>"
 *
 * Only the format, in plain C: the module and the library parse and check
 * credentials and link no libcrypto.  New IDs and secrets and the verifier
 * (an HMAC under the pepper) are the daemon's: daemon/verifier.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accesskey.h"

#define AK_ID_PREFIX "AK"
#define AK_SECRET_PREFIX "aks_"
#define AK_SECRET_RANDOM_LEN 40
#define AK_SECRET_CHECKSUM_LEN 6
#define AK_CREDENTIAL_LEN (AK_ID_LEN + 1 + AK_SECRET_LEN)

/* The characters of an ID after its prefix, and of a secret after its. */
extern const char ak_base32_alphabet[];
extern const char ak_base62_alphabet[];

bool ak_id_is_valid(const char *id);

/* 0 when s is a well-formed secret with a correct checksum; -EINVAL when it
 * is not shaped like a secret; -EBADMSG when the shape is right but the
 * checksum is not (a typo). */
int ak_secret_check(const char *s);

/* Splits a PAM password "<ID>:<SECRET>" of length len (the password may hold
 * NUL bytes, which are never part of a credential).  Returns 0, -EINVAL when
 * the password is not shaped like a credential (so it is an ordinary
 * password), or -EBADMSG when it is shaped like one but its checksum fails. */
int ak_credential_split(const char *password, size_t len, char ret_id[AK_ID_LEN + 1],
                        char ret_secret[AK_SECRET_LEN + 1]);

uint32_t ak_crc32(const void *data, size_t len);
/* A secret's checksum: the CRC-32 of its first len characters as
 * AK_SECRET_CHECKSUM_LEN base62 digits, most significant first. */
void ak_secret_checksum_encode(const char *s, size_t len, char ret[AK_SECRET_CHECKSUM_LEN]);
