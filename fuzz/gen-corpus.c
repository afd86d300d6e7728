/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the binary seeds of fuzz/corpus/ with the project's own encoders,
 * so that the fuzzers start from real records, credentials and messages:
 *
 *   tools/fuzz --gen-corpus
 *
 * Each run makes new random IDs and secrets; the seeds need not be stable,
 * only well-formed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbus/dbus.h>

#include "credential.h"
#include "dict.h"
#include "record.h"
#include "util.h"

static const char *outdir;

static void write_file(const char *target, const char *name, const void *data, size_t len) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
        FILE *f = fopen(path, "we");
        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
                perror(path);
                exit(EXIT_FAILURE);
        }
}

static void check(int ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "gen-corpus: %s failed\n", what);
                exit(EXIT_FAILURE);
        }
}

static void credentials(void) {
        char id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1], buf[256];

        check(ak_id_generate(id) == 0 && ak_secret_generate(secret) == 0, "ak_*_generate");
        snprintf(buf, sizeof(buf), "%s:%s", id, secret);
        write_file("credential", "valid", buf, strlen(buf));
        char *last = buf + strlen(buf) - 1;
        *last = *last == 'A' ? 'B' : 'A'; /* a typo in the checksum */
        write_file("credential", "bad-checksum", buf, strlen(buf));
        write_file("credential", "id", id, strlen(id));
        write_file("credential", "secret", secret, strlen(secret));
        write_file("credential", "password", "correct horse battery staple", 28);
}

static void records(void) {
        _cleanup_(key_record_freep) key_record *r = key_record_new();
        char *services[] = { "sshd", "dovecot", NULL };
        char *networks[] = { "10.0.0.0/8", "2001:db8::/32", "local", NULL };
        char *scopes[] = { "deploy", "read:logs", NULL };
        uint8_t *buf;
        size_t len;

        check(r != NULL, "key_record_new");
        check(ak_id_generate(r->id) == 0, "ak_id_generate");
        r->verifier[0] = AK_VERIFIER_SCHEME_HMAC_SHA256;
        memset(r->verifier + 1, 0x5a, AK_VERIFIER_LEN - 1);
        check(key_record_encode(r, &buf, &len) == 0, "key_record_encode");
        write_file("record", "minimal", buf, len);
        free(buf);

        r->owner_uid = 1000;
        r->owner_name = strdup("deploy");
        r->name = strdup("ci-deploy");
        r->description = strdup("the CI pipeline's deploy key");
        r->created_at = r->updated_at = r->rotated_at = UINT64_C(1767225600000000);
        r->expires_at = UINT64_C(1774990200000000);
        r->created_by = 0;
        r->updated_by = 1000;
        r->state = KEY_STATE_INACTIVE;
        r->prev_verifier[0] = AK_VERIFIER_SCHEME_HMAC_SHA256;
        memset(r->prev_verifier + 1, 0xa5, AK_VERIFIER_LEN - 1);
        r->prev_verifier_until = UINT64_C(1767229200000000);
        r->services = services;
        r->networks = networks;
        r->scopes = scopes;
        r->expiry_warned_for = r->expires_at;
        check(key_record_encode(r, &buf, &len) == 0, "key_record_encode");
        r->services = r->networks = r->scopes = NULL; /* not ours to free */
        write_file("record", "full", buf, len);
        free(buf);

        key_usage u = {
                .last_used_at = UINT64_C(1767225600000000),
                .last_used_service = "sshd",
                .last_used_rhost = "192.0.2.7",
                .use_count = 42,
                .failures = 3,
        };
        check(key_usage_encode(&u, &buf, &len) == 0, "key_usage_encode");
        write_file("record", "usage", buf, len);
        free(buf);
}

/* A CreateKey call as a client sends it, marshalled; fill adds the
 * options. */
static void message(const char *name, void (*fill)(DBusMessageIter *array)) {
        DBusMessage *m =
                dbus_message_new_method_call("org.accesskey.KeyStore1", "/org/accesskey/KeyStore1",
                                             "org.accesskey.KeyStore1.Manager", "CreateKey");
        DBusMessageIter it, array;
        char *buf;
        int len;

        check(m != NULL, "dbus_message_new_method_call");
        dbus_message_iter_init_append(m, &it);
        check(dict_open(&it, &array) == 0, "dict_open");
        fill(&array);
        check(dict_close(&it, &array) == 0, "dict_close");
        dbus_message_set_serial(m, 1);
        check(dbus_message_marshal(m, &buf, &len), "dbus_message_marshal");
        write_file("dict", name, buf, (size_t) len);
        dbus_free(buf);
        dbus_message_unref(m);
}

static void fill_empty(DBusMessageIter *a) {
        (void) a;
}

static void fill_full(DBusMessageIter *a) {
        char *services[] = { "sshd", "su", NULL };
        char *networks[] = { "10.0.0.0/8", "local", NULL };
        char *scopes[] = { "deploy", NULL };
        check(dict_add_string(a, "name", "ci-deploy") == 0 &&
                      dict_add_string(a, "description", "deploys from CI") == 0 &&
                      dict_add_string(a, "owner", "deploy") == 0 &&
                      dict_add_uint64(a, "expires_at", UINT64_C(1774990200000000)) == 0 &&
                      dict_add_strv(a, "services", services) == 0 &&
                      dict_add_strv(a, "networks", networks) == 0 &&
                      dict_add_strv(a, "scopes", scopes) == 0,
              "dict_add_*");
}

static void fill_owner_uid(DBusMessageIter *a) {
        check(dict_add_string(a, "name", "backup") == 0 && dict_add_uint32(a, "owner", 1000) == 0,
              "dict_add_*");
}

static void fill_unknown_key(DBusMessageIter *a) {
        check(dict_add_string(a, "name", "x") == 0 && dict_add_bool(a, "expire", true) == 0,
              "dict_add_*");
}

static void fill_wrong_type(DBusMessageIter *a) {
        check(dict_add_uint32(a, "expires_at", 90) == 0, "dict_add_*");
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: gen-corpus CORPUS-DIR\n");
                return EXIT_FAILURE;
        }
        outdir = argv[1];
        credentials();
        records();
        message("empty", fill_empty);
        message("full", fill_full);
        message("owner-uid", fill_owner_uid);
        message("unknown-key", fill_unknown_key);
        message("wrong-type", fill_wrong_type);
        return EXIT_SUCCESS;
}
