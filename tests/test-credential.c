/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of common/: the credential format, verifiers, the a{sv}-free
 * validators and the error table. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "errors.h"
#include "harness.h"
#include "hashmap.h"
#include "netaddr.h"
#include "timeutil.h"
#include "util.h"
#include "validate.h"
#include "verifier.h"

static bool matches(const char *re, const char *s) {
        regex_t r;
        ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
        bool ok = regexec(&r, s, 0, NULL, 0) == 0;
        regfree(&r);
        return ok;
}

START_TEST(test_id_format) {
        char id[AK_ID_LEN + 1], other[AK_ID_LEN + 1];
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_id_generate(other), 0);
        ck_assert_msg(matches("^AK[A-Z2-7]{18}$", id), "bad id %s", id);
        ck_assert_str_ne(id, other);
        ck_assert(ak_id_is_valid(id));
        ck_assert(!ak_id_is_valid("AK"));
        ck_assert(!ak_id_is_valid("AKAAAAAAAAAAAAAAAAA1")); /* 1 is not base32 */
        ck_assert(!ak_id_is_valid("akAAAAAAAAAAAAAAAAAA"));
        ck_assert(!ak_id_is_valid("AKAAAAAAAAAAAAAAAAAAA")); /* 21 characters */
        ck_assert(!ak_id_is_valid(NULL));
}
END_TEST

START_TEST(test_id_uses_all_bits) {
        /* Over many IDs every base32 character shows up in every position
         * but the last (whose low bits hold the 90th bit): no position is
         * stuck. */
        bool seen[18][32] = {};
        for (int n = 0; n < 4000; n++) {
                char id[AK_ID_LEN + 1];
                ck_assert_int_eq(ak_id_generate(id), 0);
                for (int i = 0; i < 18; i++) {
                        char c = id[2 + i];
                        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c - '2' + 26;
                        seen[i][v] = true;
                }
        }
        for (int i = 0; i < 18; i++)
                for (int v = 0; v < 32; v++)
                        ck_assert_msg(seen[i][v], "position %d never had value %d", i, v);
}
END_TEST

START_TEST(test_secret_format) {
        char s[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_secret_generate(s), 0);
        ck_assert_msg(matches("^aks_[0-9A-Za-z]{46}$", s), "bad secret shape");
        ck_assert_int_eq(ak_secret_check(s), 0);

        /* Any single-character typo is caught by the checksum. */
        for (size_t i = 4; i < AK_SECRET_LEN; i++) {
                char t[AK_SECRET_LEN + 1];
                memcpy(t, s, sizeof(t));
                t[i] = t[i] == 'a' ? 'b' : 'a';
                ck_assert_int_eq(ak_secret_check(t), -EBADMSG);
        }
        ck_assert_int_eq(ak_secret_check("aks_short"), -EINVAL);
        ck_assert_int_eq(ak_secret_check("hunter2"), -EINVAL);
        ck_assert_int_eq(ak_secret_check(""), -EINVAL);
        char bad[AK_SECRET_LEN + 1];
        memcpy(bad, s, sizeof(bad));
        bad[10] = '-';
        ck_assert_int_eq(ak_secret_check(bad), -EINVAL);
}
END_TEST

START_TEST(test_crc32_known_value) {
        /* The standard check value of CRC-32/ISO-HDLC. */
        ck_assert_uint_eq(ak_crc32("123456789", 9), 0xCBF43926u);
}
END_TEST

START_TEST(test_credential_split) {
        char id[AK_ID_LEN + 1], s[AK_SECRET_LEN + 1], pw[AK_CREDENTIAL_LEN + 8];
        char rid[AK_ID_LEN + 1], rs[AK_SECRET_LEN + 1];
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(s), 0);
        snprintf(pw, sizeof(pw), "%s:%s", id, s);

        ck_assert_int_eq(ak_credential_split(pw, strlen(pw), rid, rs), 0);
        ck_assert_str_eq(rid, id);
        ck_assert_str_eq(rs, s);

        ck_assert_int_eq(ak_credential_split("hunter2", 7, rid, rs), -EINVAL);
        ck_assert_int_eq(ak_credential_split("", 0, rid, rs), -EINVAL);
        /* A NUL inside makes the length wrong or the shape wrong. */
        char nul[AK_CREDENTIAL_LEN + 1];
        memcpy(nul, pw, sizeof(nul));
        nul[30] = 0;
        ck_assert_int_eq(ak_credential_split(nul, AK_CREDENTIAL_LEN, rid, rs), -EINVAL);
        /* Right shape, bad checksum: a typo. */
        pw[AK_CREDENTIAL_LEN - 1] = pw[AK_CREDENTIAL_LEN - 1] == 'x' ? 'y' : 'x';
        ck_assert_int_eq(ak_credential_split(pw, strlen(pw), rid, rs), -EBADMSG);
        /* Separator other than ':' */
        snprintf(pw, sizeof(pw), "%s;%s", id, s);
        ck_assert_int_eq(ak_credential_split(pw, strlen(pw), rid, rs), -EINVAL);
        /* Trailing newline */
        snprintf(pw, sizeof(pw), "%s:%s\n", id, s);
        ck_assert_int_eq(ak_credential_split(pw, strlen(pw), rid, rs), -EINVAL);
}
END_TEST

START_TEST(test_verifier) {
        uint8_t pepper[AK_PEPPER_LEN], pepper2[AK_PEPPER_LEN];
        uint8_t v1[AK_VERIFIER_LEN], v2[AK_VERIFIER_LEN], v3[AK_VERIFIER_LEN];
        char id[AK_ID_LEN + 1], id2[AK_ID_LEN + 1], s[AK_SECRET_LEN + 1], s2[AK_SECRET_LEN + 1];
        memset(pepper, 7, sizeof(pepper));
        memset(pepper2, 8, sizeof(pepper2));
        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_id_generate(id2), 0);
        ck_assert_int_eq(ak_secret_generate(s), 0);
        ck_assert_int_eq(ak_secret_generate(s2), 0);

        ck_assert_int_eq(ak_verifier_compute(pepper, id, 1000, s, v1), 0);
        ck_assert_int_eq(v1[0], AK_VERIFIER_SCHEME_BOUND);
        ck_assert_int_eq(ak_verifier_compute(pepper, id, 1000, s, v2), 0);
        ck_assert(ak_verifier_equal(v1, v2));
        ck_assert_int_eq(ak_verifier_compute(pepper, id, 1000, s2, v3), 0);
        ck_assert(!ak_verifier_equal(v1, v3));
        /* Another pepper verifies nothing: a copied database is useless. */
        ck_assert_int_eq(ak_verifier_compute(pepper2, id, 1000, s, v3), 0);
        ck_assert(!ak_verifier_equal(v1, v3));
        /* Bound: the same secret under another owner or another ID (a record
         * edited or copied outside the daemon) verifies nothing. */
        ck_assert_int_eq(ak_verifier_compute(pepper, id, 0, s, v3), 0);
        ck_assert(!ak_verifier_equal(v1, v3));
        ck_assert_int_eq(ak_verifier_compute(pepper, id2, 1000, s, v3), 0);
        ck_assert(!ak_verifier_equal(v1, v3));
        ck_assert_int_eq(ak_verifier_compute(pepper, "AKshort", 1000, s, v3), -EINVAL);

        /* The unbound scheme of earlier releases ignores the owner, and an
         * unknown scheme is refused rather than guessed at. */
        ak_verifier_key *k;
        ck_assert_int_eq(ak_verifier_key_new(pepper, &k), 0);
        ck_assert_int_eq(
                ak_verifier_compute_scheme(k, AK_VERIFIER_SCHEME_HMAC_SHA256, id, 1000, s, v2), 0);
        ck_assert_int_eq(v2[0], AK_VERIFIER_SCHEME_HMAC_SHA256);
        ck_assert_int_eq(
                ak_verifier_compute_scheme(k, AK_VERIFIER_SCHEME_HMAC_SHA256, id, 0, s, v3), 0);
        ck_assert(ak_verifier_equal(v2, v3));
        ck_assert(!ak_verifier_equal(v1, v2));
        ck_assert_int_eq(ak_verifier_compute_scheme(k, 0, id, 1000, s, v3), -EINVAL);
        ck_assert_int_eq(ak_verifier_compute_scheme(k, 3, id, 1000, s, v3), -EINVAL);
        ak_verifier_key_free(k);
}
END_TEST

START_TEST(test_verifier_known_answer) {
        /* Expected values computed independently (Python's zlib.crc32 and
         * hmac over the same bytes): the format is a contract with every
         * stored verifier, and must never drift. */
        uint8_t pepper[AK_PEPPER_LEN] = {}, v[AK_VERIFIER_LEN], check[AK_PEPPER_CHECK_LEN];
        const char *id = "AKAAAAAAAAAAAAAAAAAA";
        const char *secret = "aks_00000000000000000000000000000000000000003SOTWi";
        char hex[65];
        ak_verifier_key *k;

        ck_assert_int_eq(ak_secret_check(secret), 0);
        /* Bound: hmac(pepper, b"accesskey verifier\0" + b"\x02" + id +
         * (1000).to_bytes(4, "big") + secret). */
        ck_assert_int_eq(ak_verifier_compute(pepper, id, 1000, secret, v), 0);
        ck_assert_int_eq(v[0], 0x02);
        for (int i = 0; i < 32; i++)
                sprintf(hex + 2 * i, "%02x", v[1 + i]);
        ck_assert_str_eq(hex, "dd6e70329b807cb30b728aa924af18be9cc31fab4bdee8645dea5041f93406aa");
        /* Unbound, of earlier releases: hmac(pepper, id + b":" + secret). */
        ck_assert_int_eq(ak_verifier_key_new(pepper, &k), 0);
        ck_assert_int_eq(ak_verifier_compute_scheme(k, 0x01, id, 1000, secret, v), 0);
        ck_assert_int_eq(v[0], 0x01);
        for (int i = 0; i < 32; i++)
                sprintf(hex + 2 * i, "%02x", v[1 + i]);
        ck_assert_str_eq(hex, "fb1099f5ea7357868a8845cc92845bbc6a175ebdc53cb873f747abc6cbe6a80d");
        /* The pepper's check value: hmac(pepper, b"accesskey pepper check\0"). */
        ck_assert_int_eq(ak_pepper_check_compute(k, check), 0);
        for (int i = 0; i < 32; i++)
                sprintf(hex + 2 * i, "%02x", check[i]);
        ck_assert_str_eq(hex, "c94254637307bd37c8f80ff2eb1305d5502ff6ec293ae46797300bd43722d6d2");
        ak_verifier_key_free(k);
}
END_TEST

START_TEST(test_error_table) {
        static const int errs[] = { ENOENT, EACCES, EDQUOT, EINVAL, EKEYREJECTED, EKEYEXPIRED, EKEYREVOKED, EBUSY };
        for (size_t i = 0; i < ELEMENTSOF(errs); i++) {
                const char *name = ak_error_to_dbus(-errs[i]);
                ck_assert(strncmp(name, AK_ERROR_PREFIX, strlen(AK_ERROR_PREFIX)) == 0);
                ck_assert_int_eq(ak_error_from_dbus(name), -errs[i]);
        }
        ck_assert_str_eq(ak_error_to_dbus(-EKEYREJECTED), "org.accesskey.KeyStore1.Error.AuthFailed");
        ck_assert_int_eq(ak_error_from_dbus("org.freedesktop.DBus.Error.NoReply"), -ETIMEDOUT);
        ck_assert_int_eq(ak_error_from_dbus("org.freedesktop.DBus.Error.ServiceUnknown"), -ECONNREFUSED);
        ck_assert_int_eq(ak_error_from_dbus("x.y.Z"), -EIO);
}
END_TEST

START_TEST(test_networks) {
        net_prefix p;
        const char *why;
        ck_assert_int_eq(net_prefix_parse("10.0.0.0/8", &p, &why), 0);
        ck_assert_int_eq(net_prefix_parse("2001:db8::/32", &p, &why), 0);
        ck_assert_int_eq(net_prefix_parse("192.0.2.7", &p, &why), 0);
        ck_assert_int_eq(net_prefix_parse("10.0.0.1/8", &p, &why), -EINVAL);
        ck_assert_str_eq(why, "has host bits set after the prefix");
        ck_assert_int_eq(net_prefix_parse("10.0.0.0/33", &p, &why), -EINVAL);
        ck_assert_int_eq(net_prefix_parse("10.0.0.0/", &p, &why), -EINVAL);
        ck_assert_int_eq(net_prefix_parse("10.0.0.0/08", &p, &why), -EINVAL);
        ck_assert_int_eq(net_prefix_parse("example.com/8", &p, &why), -EINVAL);

        ck_assert(net_entry_matches("10.0.0.0/8", "10.20.30.40"));
        ck_assert(!net_entry_matches("10.0.0.0/8", "11.0.0.1"));
        ck_assert(net_entry_matches("10.0.0.0/8", "::ffff:10.1.2.3"));
        ck_assert(net_entry_matches("2001:db8::/32", "2001:db8::1"));
        ck_assert(!net_entry_matches("2001:db8::/32", "2001:db9::1"));
        ck_assert(net_entry_matches("192.168.1.0/25", "192.168.1.127"));
        ck_assert(!net_entry_matches("192.168.1.0/25", "192.168.1.128"));
        /* Fail closed: no rhost, a hostname, garbage. */
        ck_assert(!net_entry_matches("10.0.0.0/8", ""));
        ck_assert(!net_entry_matches("10.0.0.0/8", NULL));
        ck_assert(!net_entry_matches("10.0.0.0/8", "host.example"));
        ck_assert(!net_entry_matches("0.0.0.0/0", "10.0.0.1 "));
        ck_assert(net_entry_matches("local", ""));
        ck_assert(!net_entry_matches("local", "127.0.0.1"));
}
END_TEST

START_TEST(test_validators) {
        ck_assert_ptr_null(validate_service_name("sshd"));
        ck_assert_ptr_null(validate_service_name("dovecot-imap"));
        ck_assert_ptr_nonnull(validate_service_name(""));
        ck_assert_ptr_nonnull(validate_service_name("ss hd"));
        ck_assert_ptr_nonnull(validate_service_name("../etc"));
        ck_assert_ptr_null(validate_scope("backup:read"));
        ck_assert_ptr_nonnull(validate_scope("Backup"));
        ck_assert_ptr_nonnull(validate_scope(":x"));
        char longscope[80];
        memset(longscope, 'a', 65);
        longscope[65] = 0;
        ck_assert_ptr_nonnull(validate_scope(longscope));
        ck_assert_ptr_null(validate_network("local"));
        ck_assert_ptr_nonnull(validate_network("10.0.0.1/8"));
}
END_TEST

START_TEST(test_label) {
        size_t pos = 0;
        uint32_t cp = 0;

        ck_assert_ptr_null(validate_label("ci-deploy", &pos, &cp));
        ck_assert_ptr_null(validate_label("Zugang für Müller — ☃ 🔑", &pos, &cp));
        /* The position counts characters, not bytes: "é" is one. */
        ck_assert_ptr_nonnull(validate_label("é\u202Egnp.exe", &pos, &cp));
        ck_assert_uint_eq(pos, 2);
        ck_assert_uint_eq(cp, 0x202E);
        static const uint32_t bidi[] = { 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
                                         0x2066, 0x2067, 0x2068, 0x2069 };
        for (size_t i = 0; i < ELEMENTSOF(bidi); i++) {
                char s[16];
                snprintf(s, sizeof(s), "ab%c%c%c", 0xe0 | (bidi[i] >> 12),
                         0x80 | ((bidi[i] >> 6) & 0x3f), 0x80 | (bidi[i] & 0x3f));
                ck_assert_ptr_nonnull(validate_label(s, &pos, &cp));
                ck_assert_uint_eq(pos, 3);
                ck_assert_uint_eq(cp, bidi[i]);
        }
        /* Neighbours of the ranges are ordinary characters. */
        ck_assert_ptr_null(validate_label("\u2029\u202F\u2065\u206A", &pos, &cp));
        /* Control characters: C0, DEL, C1. */
        ck_assert_ptr_nonnull(validate_label("a\nb", &pos, &cp));
        ck_assert_uint_eq(pos, 2);
        ck_assert_uint_eq(cp, '\n');
        ck_assert_ptr_nonnull(validate_label("\x1b[31mred", &pos, &cp));
        ck_assert_uint_eq(pos, 1);
        ck_assert_ptr_nonnull(validate_label("x\x7f", &pos, &cp));
        ck_assert_uint_eq(cp, 0x7f);
        ck_assert_ptr_nonnull(validate_label("x\xc2\x85", &pos, &cp));
        ck_assert_uint_eq(cp, 0x85);
        /* Not UTF-8: a lone continuation byte, a cut sequence, an overlong
         * form, a surrogate. */
        ck_assert_ptr_nonnull(validate_label("ab\x80", &pos, &cp));
        ck_assert_uint_eq(pos, 3);
        ck_assert_ptr_nonnull(validate_label("ab\xe2\x80", &pos, &cp));
        ck_assert_ptr_nonnull(validate_label("\xc0\xaf", &pos, &cp));
        ck_assert_ptr_nonnull(validate_label("\xed\xa0\x80", &pos, &cp));
}
END_TEST

START_TEST(test_time_limits) {
        const uint64_t now = UINT64_C(1767225600) * USEC_PER_SEC; /* 2026-01-01 */
        uint64_t t;

        /* The last second of 9999 is the latest expiry; nothing later. */
        ck_assert_int_eq(parse_expiry("9999-12-31T23:59:59Z", now, &t), 0);
        ck_assert_uint_eq(t / USEC_PER_SEC, (uint64_t) MAX_TIME_SEC);
        ck_assert_int_eq(parse_expiry("9999-12-31", now, &t), 0);
        /* A date of the year 10000 or later is out of range, not "not a
         * date", so the CLI says why; a broken one is still not a date. */
        ck_assert_int_eq(parse_expiry("10000-01-01", now, &t), -ERANGE);
        ck_assert_int_eq(parse_date("10000-01-01", &t), -ERANGE);
        ck_assert_int_eq(parse_date("123456-06-30T12:00:00Z", &t), -ERANGE);
        ck_assert_int_eq(parse_date("10000-13-01", &t), -EINVAL);
        ck_assert_int_eq(parse_date("10000-01-01T", &t), -EINVAL);
        ck_assert_int_eq(parse_date("1969-12-31", &t), -ERANGE);
        ck_assert_int_eq(parse_date("1970-01-01", &t), 0);
        /* A span from now that ends after 9999. */
        char span[32];
        snprintf(span, sizeof(span), "%" PRIu64 "s", (uint64_t) MAX_TIME_SEC - now / USEC_PER_SEC);
        ck_assert_int_eq(parse_expiry(span, now, &t), 0);
        ck_assert_uint_eq(t / USEC_PER_SEC, (uint64_t) MAX_TIME_SEC);
        snprintf(span, sizeof(span), "%" PRIu64 "s",
                 (uint64_t) MAX_TIME_SEC - now / USEC_PER_SEC + 1);
        ck_assert_int_eq(parse_expiry(span, now, &t), -ERANGE);
        ck_assert_int_eq(parse_expiry("420000w", now, &t), -ERANGE);
        ck_assert_int_eq(parse_expiry("3000000d", now, &t), -ERANGE);
        ck_assert_int_eq(parse_expiry("99999999999999999999999h", now, &t), -ERANGE);
        ck_assert_int_eq(parse_timespan("18446744073709551617s", &t), -ERANGE);
}
END_TEST

START_TEST(test_hashmap) {
        hashmap *h = hashmap_new();
        char key[32];
        ck_assert_ptr_nonnull(h);
        for (long i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "k%ld", i);
                ck_assert_int_eq(hashmap_put(h, key, (void *) (i + 1), NULL), 0);
        }
        ck_assert_uint_eq(hashmap_size(h), 5000);
        for (long i = 0; i < 5000; i += 2) {
                snprintf(key, sizeof(key), "k%ld", i);
                ck_assert_ptr_eq(hashmap_remove(h, key), (void *) (i + 1));
        }
        for (long i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "k%ld", i);
                ck_assert_ptr_eq(hashmap_get(h, key), i % 2 ? (void *) (i + 1) : NULL);
        }
        size_t st = 0, n = 0;
        const char *k;
        void *v;
        while (hashmap_iterate(h, &st, &k, &v))
                n++;
        ck_assert_uint_eq(n, 2500);
        hashmap_free(h, NULL);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("credential");
        TCase *tc = tcase_create("core");
        tcase_add_test(tc, test_id_format);
        tcase_add_test(tc, test_id_uses_all_bits);
        tcase_add_test(tc, test_secret_format);
        tcase_add_test(tc, test_crc32_known_value);
        tcase_add_test(tc, test_credential_split);
        tcase_add_test(tc, test_verifier);
        tcase_add_test(tc, test_verifier_known_answer);
        tcase_add_test(tc, test_error_table);
        tcase_add_test(tc, test_networks);
        tcase_add_test(tc, test_validators);
        tcase_add_test(tc, test_label);
        tcase_add_test(tc, test_time_limits);
        tcase_add_test(tc, test_hashmap);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), false);
}
