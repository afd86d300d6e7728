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
#include "verifier.h"
#include "wire.h"

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

/* Authenticate calls and replies, for fuzz-wire: as the library writes
 * them (wire), and as libdbus does. */
static void wire_messages(void) {
        const char *user = "root", *service = "sshd", *rhost = "192.0.2.7", *id = "AKAAAAAAAAAAAAAAAAAA",
                   *owner = "root";
        char secret[AK_SECRET_LEN + 1], *list[] = { "deploy", "read", NULL }, **scopes = list;
        bool yes = true;
        uint32_t uid = 0, ruid = 1000;
        uint64_t expires = UINT64_C(1774990200000000);
        uint8_t *m;
        size_t len;

        check(ak_secret_generate(secret) == 0, "ak_secret_generate");
        dict_field req[] = { { "user", DICT_STRING, &user },      { "service", DICT_STRING, &service },
                             { "rhost", DICT_STRING, &rhost },    { "keyid_user", DICT_BOOL, &yes },
                             { "scopes", DICT_STRV, &scopes },    { "ruid", DICT_UINT32, &ruid } };
        wire_writer body = {};
        wire_put_string(&body, id);
        wire_put_string(&body, secret);
        wire_put_dict(&body, req, ELEMENTSOF(req));
        wire_header h = { .type = WIRE_METHOD_CALL,
                          .flags = WIRE_FLAG_NO_AUTO_START,
                          .serial = 2,
                          .path = "/org/accesskey/KeyStore1",
                          .interface = "org.accesskey.KeyStore1.Manager",
                          .member = "Authenticate",
                          .destination = "org.accesskey.KeyStore1",
                          .signature = "ssa{sv}" };
        check(wire_message(&h, &body, &m, &len) == 0, "wire_message");
        write_file("wire", "authenticate", m, len);
        free(m);
        wire_writer_done(&body);

        dict_field res[] = { { "id", DICT_STRING, &id },          { "owner_uid", DICT_UINT32, &uid },
                             { "owner_name", DICT_STRING, &owner }, { "scopes", DICT_STRV, &scopes },
                             { "expires_at", DICT_UINT64, &expires }, { "expires_soon", DICT_BOOL, &yes } };
        wire_put_dict(&body, res, ELEMENTSOF(res));
        h = (wire_header){ .type = WIRE_METHOD_RETURN,
                           .serial = 9,
                           .reply_serial = 2,
                           .destination = ":1.42",
                           .signature = "a{sv}" };
        check(wire_message(&h, &body, &m, &len) == 0, "wire_message");
        write_file("wire", "reply", m, len);
        free(m);
        wire_writer_done(&body);

        wire_put_string(&body, "access key AKAAAAAAAAAAAAAAAAAA: key inactive");
        h = (wire_header){ .type = WIRE_ERROR,
                           .serial = 10,
                           .reply_serial = 2,
                           .error_name = "org.accesskey.KeyStore1.Error.KeyInactive",
                           .signature = "s" };
        check(wire_message(&h, &body, &m, &len) == 0, "wire_message");
        write_file("wire", "error", m, len);
        free(m);
        wire_writer_done(&body);

        /* The same call from libdbus, as busctl would send it. */
        DBusMessage *d = dbus_message_new_method_call(NULL, "/org/accesskey/KeyStore1",
                                                      "org.accesskey.KeyStore1.Manager", "Authenticate");
        DBusMessageIter it, a;
        const char *sp = secret;
        char *buf;
        int n;
        check(d != NULL, "dbus_message_new_method_call");
        dbus_message_iter_init_append(d, &it);
        check(dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &id) &&
                      dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &sp) && dict_open(&it, &a) == 0 &&
                      dict_add_string(&a, "user", "root") == 0 && dict_add_strv(&a, "scopes", list) == 0 &&
                      dict_add_uint32(&a, "tty", 1) == 0 && dict_close(&it, &a) == 0,
              "libdbus Authenticate");
        dbus_message_set_serial(d, 1);
        check(dbus_message_marshal(d, &buf, &n), "dbus_message_marshal");
        write_file("wire", "authenticate-libdbus", buf, (size_t) n);
        dbus_free(buf);
        dbus_message_unref(d);
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
        wire_messages();
        return EXIT_SUCCESS;
}
