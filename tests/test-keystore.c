/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the daemon's record encoding, LMDB keystore and policy
 * decision, on a temporary directory, without a bus. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "harness.h"
#include "keystore.h"
#include "policy.h"
#include "record.h"
#include "store-edit.h"
#include "util.h"

static char dir[64];

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/accesskey-ks-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        strcat(dir, "/state"); /* keystore_open creates it */
}

static void teardown(void) {
        char cmd[128];
        dir[strlen(dir) - strlen("/state")] = 0;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

static key_record *make_record(uint32_t owner, const char *name) {
        key_record *r = key_record_new();
        char secret[AK_SECRET_LEN + 1];
        uint8_t pepper[AK_PEPPER_LEN] = { 1 };
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(ak_id_generate(r->id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        ck_assert_int_eq(ak_verifier_compute(pepper, r->id, owner, secret, r->verifier), 0);
        r->owner_uid = owner;
        r->owner_name = strdup("owner");
        r->name = strdup(name);
        r->description = strdup("a description");
        r->created_at = r->updated_at = 1000;
        r->services = calloc(1, sizeof(char *));
        r->networks = calloc(1, sizeof(char *));
        r->scopes = calloc(1, sizeof(char *));
        return r;
}

START_TEST(test_record_roundtrip) {
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "ci-deploy"), *d = NULL;
        ck_assert_int_eq(strv_push(&r->services, "sshd"), 0);
        ck_assert_int_eq(strv_push(&r->services, "dovecot"), 0);
        ck_assert_int_eq(strv_push(&r->networks, "10.0.0.0/8"), 0);
        ck_assert_int_eq(strv_push(&r->scopes, "backup:read"), 0);
        r->expires_at = 123456789;
        r->state = KEY_STATE_INACTIVE;
        r->prev_verifier_until = 99;
        r->locked = true;
        memset(r->prev_verifier, 5, AK_VERIFIER_LEN);

        uint8_t *buf;
        size_t len;
        ck_assert_int_eq(key_record_encode(r, &buf, &len), 0);
        ck_assert_int_eq(buf[0], RECORD_VERSION);
        ck_assert_int_eq(key_record_decode(buf, len, &d), 0);
        ck_assert_str_eq(d->id, r->id);
        ck_assert_str_eq(d->name, "ci-deploy");
        ck_assert_uint_eq(d->owner_uid, 1000);
        ck_assert_uint_eq(d->expires_at, 123456789);
        ck_assert_uint_eq(d->state, KEY_STATE_INACTIVE);
        ck_assert_uint_eq(strv_length(d->services), 2);
        ck_assert_str_eq(d->services[1], "dovecot");
        ck_assert_str_eq(d->networks[0], "10.0.0.0/8");
        ck_assert_str_eq(d->scopes[0], "backup:read");
        ck_assert_mem_eq(d->verifier, r->verifier, AK_VERIFIER_LEN);
        ck_assert_uint_eq(d->prev_verifier_until, 99);
        ck_assert(d->locked);
        ck_assert_mem_eq(d->prev_verifier, r->prev_verifier, AK_VERIFIER_LEN);

        /* Every truncation is refused, never half-read. */
        for (size_t cut = 0; cut < len; cut++) {
                key_record *t = NULL;
                int k = key_record_decode(buf, cut, &t);
                if (k == 0) {
                        /* Only a cut at a field boundary after every required
                         * field may decode; the ID and verifier come first. */
                        ck_assert_str_eq(t->id, r->id);
                        key_record_free(t);
                } else
                        ck_assert_int_eq(k, -EBADMSG);
        }
        /* An unknown version is refused. */
        buf[0] = 99;
        ck_assert_int_eq(key_record_decode(buf, len, &d), -EPROTONOSUPPORT);
        free(buf);
}
END_TEST

START_TEST(test_record_skips_unknown_fields) {
        _cleanup_(key_record_freep) key_record *r = make_record(7, "x"), *d = NULL;
        uint8_t *buf;
        size_t len;
        ck_assert_int_eq(key_record_encode(r, &buf, &len), 0);
        /* A field from a later release: tag 200, 3 bytes. */
        buf = realloc(buf, len + 8);
        memcpy(buf + len, (uint8_t[]){ 200, 3, 0, 0, 0, 'a', 'b', 'c' }, 8);
        ck_assert_int_eq(key_record_decode(buf, len + 8, &d), 0);
        ck_assert_str_eq(d->name, "x");
        free(buf);
}
END_TEST

START_TEST(test_store_persists) {
        keystore *ks;
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "persist"), *g = NULL;

        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_insert(ks, r, 0), 0);
        ck_assert_int_eq(keystore_insert(ks, r, 0), -EEXIST);
        keystore_close(ks);

        /* State dir and pepper are private to the daemon. */
        struct stat st;
        char path[128];
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_uint_eq(st.st_mode & 0777, 0700);
        snprintf(path, sizeof(path), "%s/pepper", dir);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_size, AK_PEPPER_LEN);
        ck_assert_uint_eq(st.st_mode & 0077, 0);

        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_get(ks, r->id, &g), 0);
        ck_assert_str_eq(g->name, "persist");
        ck_assert_mem_eq(g->verifier, r->verifier, AK_VERIFIER_LEN);
        keystore_close(ks);
}
END_TEST

START_TEST(test_pepper_stable_and_checked) {
        keystore *ks;
        uint8_t first[AK_VERIFIER_LEN], again[AK_VERIFIER_LEN], pepper[AK_PEPPER_LEN];
        char path[128], id[AK_ID_LEN + 1], secret[AK_SECRET_LEN + 1];

        ck_assert_int_eq(ak_id_generate(id), 0);
        ck_assert_int_eq(ak_secret_generate(secret), 0);
        /* The same pepper after a restart: the same verifier. */
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(
                ak_verifier_compute_with(keystore_verifier_key(ks), id, 1000, secret, first), 0);
        keystore_close(ks);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(
                ak_verifier_compute_with(keystore_verifier_key(ks), id, 1000, secret, again), 0);
        ck_assert_mem_eq(first, again, AK_VERIFIER_LEN);
        keystore_close(ks);
        /* And it is the file's: the one-shot form over its bytes agrees. */
        snprintf(path, sizeof(path), "%s/pepper", dir);
        FILE *f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(pepper, 1, sizeof(pepper), f), sizeof(pepper));
        fclose(f);
        ck_assert_int_eq(ak_verifier_compute(pepper, id, 1000, secret, again), 0);
        ck_assert_mem_eq(first, again, AK_VERIFIER_LEN);

        /* A pepper readable by others is refused, not used. */
        ck_assert_int_eq(chmod(path, 0644), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
        ck_assert_int_eq(chmod(path, 0400), 0);
        ck_assert_int_eq(truncate(path, 16), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
}
END_TEST

START_TEST(test_owner_index_and_delete) {
        keystore *ks;
        key_record *a = make_record(1000, "a"), *b = make_record(1000, "b"), *c = make_record(2000, "c");
        key_record **l;
        size_t n;

        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_insert(ks, a, 0), 0);
        ck_assert_int_eq(keystore_insert(ks, b, 0), 0);
        ck_assert_int_eq(keystore_insert(ks, c, 0), 0);

        ck_assert_int_eq(keystore_list(ks, false, 1000, &l, &n), 0);
        ck_assert_uint_eq(n, 2);
        key_record_list_free(l, n);
        ck_assert_int_eq(keystore_list(ks, false, 2000, &l, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(l[0]->name, "c");
        key_record_list_free(l, n);
        ck_assert_int_eq(keystore_list(ks, true, 0, &l, &n), 0);
        ck_assert_uint_eq(n, 3);
        key_record_list_free(l, n);

        key_usage u = { .use_count = 5, .last_used_at = 77 };
        const char *ids[] = { a->id };
        ck_assert_int_eq(keystore_put_usage(ks, ids, &u, 1), 0);
        key_usage g = {};
        ck_assert_int_eq(keystore_get_usage(ks, a->id, &g), 0);
        ck_assert_uint_eq(g.use_count, 5);
        key_usage_clear(&g);

        ck_assert_int_eq(keystore_delete(ks, a->id), 0);
        ck_assert_int_eq(keystore_delete(ks, a->id), -ENOENT);
        key_record *gone;
        ck_assert_int_eq(keystore_get(ks, a->id, &gone), -ENOENT);
        /* Its usage figures went with it. */
        ck_assert_int_eq(keystore_get_usage(ks, a->id, &g), 0);
        ck_assert_uint_eq(g.use_count, 0);
        size_t count;
        ck_assert_int_eq(keystore_count_owner(ks, 1000, &count), 0);
        ck_assert_uint_eq(count, 1);
        keystore_close(ks);
        key_record_free(a);
        key_record_free(b);
        key_record_free(c);
}
END_TEST

START_TEST(test_quota) {
        keystore *ks;
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        for (int i = 0; i < 2; i++) {
                _cleanup_(key_record_freep) key_record *r = make_record(1000, "q");
                ck_assert_int_eq(keystore_insert(ks, r, 2), 0);
        }
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "q3"), *g = NULL;
        ck_assert_int_eq(keystore_insert(ks, r, 2), -EDQUOT);
        /* Nothing was written by the refused insert. */
        ck_assert_int_eq(keystore_get(ks, r->id, &g), -ENOENT);
        /* Another owner is not affected; unlimited (0) is unlimited. */
        _cleanup_(key_record_freep) key_record *o = make_record(1001, "o");
        ck_assert_int_eq(keystore_insert(ks, o, 2), 0);
        ck_assert_int_eq(keystore_insert(ks, r, 0), 0);
        keystore_close(ks);
}
END_TEST

START_TEST(test_map_grows) {
        keystore *ks;
        /* 64 KiB fills after a few hundred records: every insert must still
         * land, the map growing as needed. */
        ck_assert_int_eq(keystore_open_sized(dir, 64 * 1024, &ks), 0);
        char ids[600][AK_ID_LEN + 1];
        for (int i = 0; i < 600; i++) {
                _cleanup_(key_record_freep) key_record *r = make_record(5, "grow-grow-grow-grow-grow-grow");
                ck_assert_int_eq(keystore_insert(ks, r, 0), 0);
                memcpy(ids[i], r->id, sizeof(ids[i]));
        }
        keystore_close(ks);
        ck_assert_int_eq(keystore_open_sized(dir, 64 * 1024, &ks), 0);
        for (int i = 0; i < 600; i++) {
                key_record *g;
                ck_assert_int_eq(keystore_get(ks, ids[i], &g), 0);
                key_record_free(g);
        }
        keystore_close(ks);
}
END_TEST

/* A record is refused, not read with a guessed owner, when its owner
 * field is missing (it would read as root's) or is (uid_t) -1. */
START_TEST(test_record_needs_owner) {
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "x"), *d = NULL;
        uint8_t *buf;
        size_t len;

        r->owner_uid = UINT32_MAX;
        ck_assert_int_eq(key_record_encode(r, &buf, &len), 0);
        ck_assert_int_eq(key_record_decode(buf, len, &d), -EBADMSG);
        /* The owner field (tag 2) follows the ID (tag 1, 20 bytes): cut
         * it out. */
        ck_assert_int_eq(buf[1], 1);
        size_t at = 1 + 5 + AK_ID_LEN;
        ck_assert_int_eq(buf[at], 2);
        memmove(buf + at, buf + at + 9, len - at - 9);
        ck_assert_int_eq(key_record_decode(buf, len - 9, &d), -EBADMSG);
        uint8_t scheme = 0;
        ck_assert_int_eq(key_record_peek_verifier_scheme(buf, len - 9, &scheme), 0);
        ck_assert_int_eq(scheme, AK_VERIFIER_SCHEME_BOUND);
        free(buf);
}
END_TEST

static char *path_in(const char *name) {
        static char p[192];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return p;
}

static void store_with_key(key_record **ret) {
        keystore *ks;
        key_record *r = make_record(1000, "k");
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_insert(ks, r, 0), 0);
        keystore_close(ks);
        if (ret)
                *ret = r;
        else
                key_record_free(r);
}

/* A pepper that is gone or was replaced while keys are stored is a
 * refusal to open, never a new pepper and a store of wrong secrets. */
START_TEST(test_pepper_missing_or_changed) {
        keystore *ks;
        char saved[192];
        struct stat st;

        store_with_key(NULL);
        snprintf(saved, sizeof(saved), "%s.saved", dir);
        ck_assert_int_eq(rename(path_in("pepper"), saved), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), -ENOKEY);
        ck_assert_int_eq(stat(path_in("pepper"), &st), -1); /* not re-created */
        ck_assert_int_eq(rename(saved, path_in("pepper")), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);

        /* Another pepper in its place. */
        uint8_t other[AK_PEPPER_LEN];
        memset(other, 0x42, sizeof(other));
        ck_assert_int_eq(rename(path_in("pepper"), saved), 0);
        int fd = open(path_in("pepper"), O_WRONLY | O_CREAT | O_EXCL, 0400);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, other, sizeof(other)), sizeof(other));
        close(fd);
        ck_assert_int_eq(keystore_open(dir, &ks), -EKEYREJECTED);
        ck_assert_int_eq(rename(saved, path_in("pepper")), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);
}
END_TEST

/* A store without keys needs no old pepper: a new one is made. */
START_TEST(test_pepper_made_for_empty_store) {
        keystore *ks;
        key_record *r;
        store_with_key(&r);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_delete(ks, r->id), 0);
        keystore_close(ks);
        key_record_free(r);
        ck_assert_int_eq(unlink(path_in("pepper")), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);
        struct stat st;
        ck_assert_int_eq(stat(path_in("pepper"), &st), 0);
        ck_assert_int_eq(st.st_size, AK_PEPPER_LEN);
}
END_TEST

/* A store of an earlier release has keys and a pepper but no check value:
 * it gets one, and from then on a replaced pepper is caught. */
START_TEST(test_pepper_check_added_to_old_store) {
        keystore *ks;
        void *v;
        size_t len;

        store_with_key(NULL);
        ck_assert_int_eq(store_edit_del(dir, "meta", "pepper_check", 12), 0);
        ck_assert_int_eq(store_edit_get(dir, "meta", "pepper_check", 12, &v, &len), -ENOENT);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);
        ck_assert_int_eq(store_edit_get(dir, "meta", "pepper_check", 12, &v, &len), 0);
        ck_assert_uint_eq(len, AK_PEPPER_CHECK_LEN);
        free(v);
        ck_assert_int_eq(chmod(path_in("pepper"), 0600), 0);
        int fd = open(path_in("pepper"), O_WRONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "x", 1), 1);
        close(fd);
        ck_assert_int_eq(keystore_open(dir, &ks), -EKEYREJECTED);
}
END_TEST

/* What another user could write is refused, each file and the directory;
 * so is a link, and a FIFO in place of the pepper (which would hang the
 * daemon in open()). */
START_TEST(test_store_permissions) {
        keystore *ks;
        char parent[128];
        static const char *const files[] = { "data.mdb", "lock.mdb", "pepper" };

        store_with_key(NULL);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct stat st;
                ck_assert_int_eq(stat(path_in(files[i]), &st), 0);
                ck_assert_int_eq(chmod(path_in(files[i]), 0666), 0);
                ck_assert_msg(keystore_open(dir, &ks) == -EPERM, "%s mode 0666 accepted", files[i]);
                ck_assert_int_eq(chmod(path_in(files[i]), 0620), 0);
                ck_assert_msg(keystore_open(dir, &ks) == -EPERM, "%s mode 0620 accepted", files[i]);
                ck_assert_int_eq(chmod(path_in(files[i]), st.st_mode & 07777), 0);
                if (geteuid() == 0) {
                        ck_assert_int_eq(chown(path_in(files[i]), HARNESS_UID_OTHER, 0), 0);
                        ck_assert_msg(keystore_open(dir, &ks) == -EPERM,
                                      "%s owned by another user accepted", files[i]);
                        ck_assert_int_eq(chown(path_in(files[i]), 0, 0), 0);
                }
                ck_assert_int_eq(keystore_open(dir, &ks), 0);
                keystore_close(ks);
        }

        /* The state directory. */
        ck_assert_int_eq(chmod(dir, 0777), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
        ck_assert_int_eq(chmod(dir, 0755), 0); /* readable is fine */
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);
        if (geteuid() == 0) {
                ck_assert_int_eq(chown(dir, HARNESS_UID_OTHER, HARNESS_UID_OTHER), 0);
                ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
                ck_assert_int_eq(chown(dir, 0, 0), 0);
        }

        /* The directory above it: writable by others only with the sticky
         * bit (as /tmp), which keeps them from renaming what is not theirs. */
        snprintf(parent, sizeof(parent), "%.*s", (int) (strlen(dir) - strlen("/state")), dir);
        ck_assert_int_eq(chmod(parent, 0777), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
        ck_assert_int_eq(chmod(parent, 01777), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);
        ck_assert_int_eq(chmod(parent, 0700), 0);

        /* A link to the state directory is followed, but the directories
         * on the way to the link count too: in one that others may write,
         * they could point the link elsewhere. */
        char link[192], open_dir[192];
        snprintf(link, sizeof(link), "%s/link", parent);
        ck_assert_int_eq(symlink(dir, link), 0);
        ck_assert_int_eq(keystore_open(link, &ks), 0);
        keystore_close(ks);
        snprintf(open_dir, sizeof(open_dir), "%s/open", parent);
        ck_assert_int_eq(mkdir(open_dir, 0777), 0);
        ck_assert_int_eq(chmod(open_dir, 0777), 0);
        snprintf(link, sizeof(link), "%s/open/link", parent);
        ck_assert_int_eq(symlink(dir, link), 0);
        ck_assert_int_eq(keystore_open(link, &ks), -EPERM);

        /* data.mdb as a link to a file of the same content. */
        char elsewhere[192];
        snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.mdb", parent);
        ck_assert_int_eq(rename(path_in("data.mdb"), elsewhere), 0);
        ck_assert_int_eq(symlink(elsewhere, path_in("data.mdb")), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
        ck_assert_int_eq(unlink(path_in("data.mdb")), 0);
        ck_assert_int_eq(rename(elsewhere, path_in("data.mdb")), 0);

        /* A FIFO as the pepper: refused at once. */
        char saved[192];
        snprintf(saved, sizeof(saved), "%s/pepper.saved", parent);
        ck_assert_int_eq(rename(path_in("pepper"), saved), 0);
        ck_assert_int_eq(mkfifo(path_in("pepper"), 0600), 0);
        alarm(10);
        ck_assert_int_eq(keystore_open(dir, &ks), -EPERM);
        alarm(0);
        ck_assert_int_eq(unlink(path_in("pepper")), 0);
        ck_assert_int_eq(rename(saved, path_in("pepper")), 0);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        keystore_close(ks);
}
END_TEST

/* The upgrade of an unbound verifier replaces only what the login proved:
 * a verifier changed since (a rotation) stays. */
START_TEST(test_upgrade_verifier) {
        keystore *ks;
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "up"), *g = NULL;
        uint8_t old[AK_VERIFIER_LEN], new[AK_VERIFIER_LEN], other[AK_VERIFIER_LEN];

        r->verifier[0] = AK_VERIFIER_SCHEME_HMAC_SHA256;
        memcpy(old, r->verifier, sizeof(old));
        memset(new, 0x11, sizeof(new));
        new[0] = AK_VERIFIER_SCHEME_BOUND;
        memset(other, 0x22, sizeof(other));
        other[0] = AK_VERIFIER_SCHEME_HMAC_SHA256;

        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_insert(ks, r, 0), 0);
        ck_assert_int_eq(keystore_upgrade_verifier(ks, r->id, other, new), -ESTALE);
        ck_assert_int_eq(keystore_get(ks, r->id, &g), 0);
        ck_assert_mem_eq(g->verifier, old, AK_VERIFIER_LEN);
        key_record_free(TAKE_PTR(g));

        ck_assert_int_eq(keystore_upgrade_verifier(ks, r->id, old, new), 0);
        ck_assert_int_eq(keystore_get(ks, r->id, &g), 0);
        ck_assert_mem_eq(g->verifier, new, AK_VERIFIER_LEN);
        ck_assert_str_eq(g->name, "up"); /* the rest of the record is kept */
        ck_assert_uint_eq(g->owner_uid, 1000);
        ck_assert_int_eq(keystore_upgrade_verifier(ks, r->id, old, new), -ESTALE);

        char unknown[AK_ID_LEN + 1];
        ck_assert_int_eq(ak_id_generate(unknown), 0);
        ck_assert_int_eq(keystore_upgrade_verifier(ks, unknown, old, new), -ENOENT);
        keystore_close(ks);
}
END_TEST

/* A record copied under another key's ID is not that key. */
START_TEST(test_record_under_other_id) {
        keystore *ks;
        key_record *a, *g = NULL;
        char other[AK_ID_LEN + 1];
        void *v;
        size_t len;

        store_with_key(&a);
        ck_assert_int_eq(ak_id_generate(other), 0);
        ck_assert_int_eq(store_edit_get(dir, "keys", a->id, AK_ID_LEN, &v, &len), 0);
        ck_assert_int_eq(store_edit_put(dir, "keys", other, AK_ID_LEN, v, len), 0);
        free(v);
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_get(ks, other, &g), -EBADMSG);
        ck_assert_int_eq(keystore_get(ks, a->id, &g), 0);
        key_record_free(g);
        keystore_close(ks);
        key_record_free(a);
}
END_TEST

/* ---- the writer thread ---- */

static void count_done_any(int r, void *userdata) {
        (*(int *) userdata)--;
}

static void count_done(int r, void *userdata) {
        int *left = userdata;
        ck_assert_int_eq(r, 0);
        (*left)--;
}

/* Runs the callbacks of written changes until none is left. */
static void wait_written(keystore *ks, const int *left) {
        while (*left > 0) {
                struct pollfd p = { .fd = keystore_event_fd(ks), .events = POLLIN };
                ck_assert_int_eq(poll(&p, 1, 10000), 1);
                keystore_dispatch(ks);
        }
}

START_TEST(test_writer_group_commit) {
        enum { N = 64 };
        keystore *ks;
        key_record *recs[N];
        keystore_version v[N];
        int left = N;

        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        for (int i = 0; i < N; i++) {
                recs[i] = make_record(1000 + i, "before");
                ck_assert_int_eq(keystore_insert(ks, recs[i], 0), 0);
                key_record *g;
                ck_assert_int_eq(keystore_get_versioned(ks, recs[i]->id, &g, &v[i]), 0);
                key_record_free(g);
                free(recs[i]->name);
                recs[i]->name = strdup("after");
        }
        ck_assert_int_eq(keystore_start_writer(ks), 0);
        uint64_t before = keystore_commits(ks);
        for (int i = 0; i < N; i++)
                ck_assert_int_eq(keystore_submit_update(ks, recs[i], &v[i], false, count_done, &left), 0);
        /* Submitting returns before anything is on disk. */
        ck_assert_int_gt(left, 0);
        wait_written(ks, &left);
        /* Changes that queue while one commit syncs share the next:
         * far fewer commits than changes. */
        uint64_t commits = keystore_commits(ks) - before;
        ck_assert_uint_ge(commits, 1);
        ck_assert_uint_le(commits, N / 4);
        for (int i = 0; i < N; i++) {
                key_record *g;
                ck_assert_int_eq(keystore_get(ks, recs[i]->id, &g), 0);
                ck_assert_str_eq(g->name, "after");
                key_record_free(g);
                key_record_free(recs[i]);
        }
        keystore_close(ks);
}
END_TEST

static void note_result(int r, void *userdata) {
        *(int *) userdata = r;
}

START_TEST(test_writer_refuses_stale_change) {
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "v0"), *a = NULL, *b = NULL, *g = NULL;
        keystore_version v0;
        keystore *ks;
        int ra = 1, rb = 1;

        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_insert(ks, r, 0), 0);
        ck_assert_int_eq(keystore_start_writer(ks), 0);
        /* Two changes made against the same reading: the second would undo
         * the first, so it is refused and nothing of it is written. */
        ck_assert_int_eq(keystore_get_versioned(ks, r->id, &a, &v0), 0);
        ck_assert_int_eq(keystore_get(ks, r->id, &b), 0);
        free(a->name);
        a->name = strdup("changed-by-a");
        b->state = KEY_STATE_INACTIVE;
        ck_assert_int_eq(keystore_submit_update(ks, a, &v0, false, note_result, &ra), 0);
        ck_assert_int_eq(keystore_submit_update(ks, b, &v0, false, note_result, &rb), 0);
        while (ra == 1 || rb == 1) {
                struct pollfd p = { .fd = keystore_event_fd(ks), .events = POLLIN };
                ck_assert_int_eq(poll(&p, 1, 10000), 1);
                keystore_dispatch(ks);
        }
        ck_assert_int_eq(ra, 0);
        ck_assert_int_eq(rb, -ESTALE);
        ck_assert_int_eq(keystore_get(ks, r->id, &g), 0);
        ck_assert_str_eq(g->name, "changed-by-a");
        ck_assert_uint_eq(g->state, KEY_STATE_ACTIVE);
        keystore_close(ks);
}
END_TEST

static off_t data_size(void) {
        char path[128];
        struct stat st;
        snprintf(path, sizeof(path), "%s/data.mdb", dir);
        ck_assert_int_eq(stat(path, &st), 0);
        return st.st_size;
}

START_TEST(test_churn_keeps_size) {
        enum { ROUNDS = 48, PER_ROUND = 100 };
        key_record *recs[PER_ROUND];
        keystore *ks;
        off_t warm = 0;

        /* Create and delete, over and over: the space of deleted keys is
         * reused, and nothing is kept per deleted key.  The records are
         * made once and given new IDs each round.  (Sized for the
         * sanitized build, where each nested transaction's 2 MiB page
         * list is a fresh mapping.) */
        ck_assert_int_eq(keystore_open(dir, &ks), 0);
        ck_assert_int_eq(keystore_start_writer(ks), 0);
        for (int i = 0; i < PER_ROUND; i++)
                recs[i] = make_record(1000, "churn");
        for (int round = 0; round < ROUNDS; round++) {
                int left = 2 * PER_ROUND;
                for (int i = 0; i < PER_ROUND; i++) {
                        ck_assert_int_eq(ak_id_generate(recs[i]->id), 0);
                        ck_assert_int_eq(keystore_submit_insert(ks, recs[i], 2, count_done_any, &left), 0);
                        ck_assert_int_eq(keystore_submit_delete(ks, recs[i]->id, count_done, &left), 0);
                }
                wait_written(ks, &left);
                if (round == ROUNDS / 4)
                        warm = data_size();
        }
        for (int i = 0; i < PER_ROUND; i++)
                key_record_free(recs[i]);
        /* The file reaches the size that the largest batch of writes
         * needs, and stays there: 3,600 more cycles, and with the IDs of
         * deleted keys kept, about 150 KiB more. */
        ck_assert_int_le(data_size(), warm + 64 * 1024);
        size_t n;
        ck_assert_int_eq(keystore_count_owner(ks, 1000, &n), 0);
        ck_assert_uint_eq(n, 0);
        keystore_close(ks);
}
END_TEST

/* ---- policy ---- */

START_TEST(test_policy) {
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "p");
        policy_request req = { .user_known = true, .user_uid = 1000, .service = "sshd", .rhost = "10.1.2.3" };
        const uint64_t now = 5000000;

        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_ALLOW);

        r->state = KEY_STATE_INACTIVE;
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_INACTIVE);
        r->state = KEY_STATE_ACTIVE;

        /* Expiry: valid through expires_at, refused from the next
         * microsecond. */
        r->expires_at = now;
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_ALLOW);
        ck_assert_int_eq(policy_decide(r, &req, now + 1), POLICY_EXPIRED);
        r->expires_at = 0;
        ck_assert_int_eq(policy_decide(r, &req, UINT64_MAX), POLICY_ALLOW);

        req.user_uid = 1001;
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_WRONG_USER);
        req.user_uid = 1000;
        req.user_known = false;
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_WRONG_USER);
        req.user_known = true;

        ck_assert_int_eq(strv_push(&r->services, "dovecot"), 0);
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_SERVICE);
        req.service = "dovecot";
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_ALLOW);
        req.service = NULL;
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_SERVICE);
        req.service = "dovecot";

        ck_assert_int_eq(strv_push(&r->networks, "192.168.0.0/16"), 0);
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_NETWORK);
        ck_assert_int_eq(strv_push(&r->networks, "10.0.0.0/8"), 0);
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_ALLOW);
        req.rhost = "";
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_NETWORK);
        ck_assert_int_eq(strv_push(&r->networks, "local"), 0);
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_ALLOW);
        req.rhost = "host.example";
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_NETWORK);

        /* Inactive wins over everything else, so a caller learns the
         * most useful reason first. */
        r->state = KEY_STATE_INACTIVE;
        r->expires_at = 1;
        ck_assert_int_eq(policy_decide(r, &req, now), POLICY_INACTIVE);

        ck_assert_int_eq(policy_verdict_to_errno(POLICY_INACTIVE), -EKEYREVOKED);
        ck_assert_int_eq(policy_verdict_to_errno(POLICY_EXPIRED), -EKEYEXPIRED);
        ck_assert_int_eq(policy_verdict_to_errno(POLICY_NETWORK), -EACCES);
        ck_assert_int_eq(policy_verdict_to_errno(POLICY_ALLOW), 0);
}
END_TEST

/* Debian's `su -` is the PAM service su-l, `runuser -l` runuser-l: a key
 * for su or runuser allows both forms, a key for the login form only that. */
START_TEST(test_policy_su_l) {
        _cleanup_(key_record_freep) key_record *r = make_record(1000, "p");
        policy_request req = { .user_known = true, .user_uid = 1000, .rhost = "" };
        const uint64_t now = 5000000;
        const struct {
                const char *key_service;
                const char *service;
                policy_verdict v;
        } cases[] = {
                { "su", "su", POLICY_ALLOW },           { "su", "su-l", POLICY_ALLOW },
                { "su", "runuser-l", POLICY_SERVICE },  { "su", "sudo", POLICY_SERVICE },
                { "su", "su-", POLICY_SERVICE },        { "su", "xsu-l", POLICY_SERVICE },
                { "su-l", "su-l", POLICY_ALLOW },       { "su-l", "su", POLICY_SERVICE },
                { "runuser", "runuser", POLICY_ALLOW }, { "runuser", "runuser-l", POLICY_ALLOW },
                { "runuser", "su-l", POLICY_SERVICE },  { "runuser-l", "runuser", POLICY_SERVICE },
                { "sshd", "su-l", POLICY_SERVICE },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                r->services = strv_free(r->services);
                ck_assert_int_eq(strv_push(&r->services, cases[i].key_service), 0);
                req.service = cases[i].service;
                ck_assert_msg(policy_decide(r, &req, now) == cases[i].v,
                              "key for %s, service %s: %s", cases[i].key_service, cases[i].service,
                              policy_verdict_to_string(policy_decide(r, &req, now)));
        }
        ck_assert(policy_service_allowed(NULL, NULL));
        ck_assert(!policy_service_allowed(r->services, NULL));
}
END_TEST

/* Every combination of state, expiry, user, service, network and scopes,
 * each dimension's truth written out by hand, and the verdict the first
 * failing check in the documented order. */
START_TEST(test_policy_exhaustive) {
        const uint64_t now = 1000000000;
        static const uint32_t states[] = { KEY_STATE_ACTIVE, KEY_STATE_INACTIVE };
        static const struct {
                uint64_t expires_at;
                bool valid;
        } expiries[] = { { 0, true }, { now + 10, true }, { now, true }, { now - 1, false } };
        static const struct {
                bool known;
                uint32_t uid;
                bool owner;
        } users[] = { { true, 1000, true }, { true, 1001, false }, { false, 0, false } };
        static const char *const svc_lists[][3] = { { NULL }, { "sshd", NULL }, { "sshd", "dovecot", NULL } };
        static const char *const svc_requests[] = { "sshd", "su", NULL };
        static const bool svc_ok[3][3] = { { true, true, true }, { true, false, false }, { true, false, false } };
        static const char *const net_lists[][3] = {
                { NULL }, { "10.0.0.0/8", NULL }, { "local", NULL }, { "10.0.0.0/8", "local", NULL }
        };
        static const char *const rhosts[] = { "", "10.1.1.1", "192.168.0.1", "host.example", NULL };
        static const bool net_ok[4][5] = {
                { true, true, true, true, true },
                { false, true, false, false, false },
                { true, false, false, false, true },
                { true, true, false, false, true },
        };
        static const char *const key_scopes[][3] = { { NULL }, { "a", NULL }, { "a", "b", NULL } };
        static const char *const req_scopes[][3] = { { NULL }, { "a", NULL }, { "a", "b", NULL }, { "c", NULL } };
        static const bool scope_ok[3][4] = {
                { true, false, false, false },
                { true, true, false, false },
                { true, true, true, false },
        };
        unsigned checked = 0;

        _cleanup_(key_record_freep) key_record *r = make_record(1000, "p");
        for (size_t st = 0; st < ELEMENTSOF(states); st++)
                for (size_t ex = 0; ex < ELEMENTSOF(expiries); ex++)
                        for (size_t us = 0; us < ELEMENTSOF(users); us++)
                                for (size_t sl = 0; sl < ELEMENTSOF(svc_lists); sl++)
                                        for (size_t sr = 0; sr < ELEMENTSOF(svc_requests); sr++)
                                                for (size_t nl = 0; nl < ELEMENTSOF(net_lists); nl++)
                                                        for (size_t rh = 0; rh < ELEMENTSOF(rhosts); rh++)
                                                                for (size_t ks = 0; ks < ELEMENTSOF(key_scopes); ks++)
                                                                        for (size_t rs = 0; rs < ELEMENTSOF(req_scopes); rs++) {
                r->state = states[st];
                r->expires_at = expiries[ex].expires_at;
                strv_free(r->services);
                strv_free(r->networks);
                strv_free(r->scopes);
                r->services = strv_copy(svc_lists[sl]);
                r->networks = strv_copy(net_lists[nl]);
                r->scopes = strv_copy(key_scopes[ks]);
                policy_request req = {
                        .user_known = users[us].known,
                        .user_uid = users[us].uid,
                        .service = svc_requests[sr],
                        .rhost = rhosts[rh],
                        .scopes = (char *const *) req_scopes[rs],
                };
                policy_verdict expect = states[st] != KEY_STATE_ACTIVE ? POLICY_INACTIVE
                                        : !expiries[ex].valid          ? POLICY_EXPIRED
                                        : !users[us].owner             ? POLICY_WRONG_USER
                                        : !svc_ok[sl][sr]              ? POLICY_SERVICE
                                        : !net_ok[nl][rh]              ? POLICY_NETWORK
                                        : !scope_ok[ks][rs]            ? POLICY_SCOPE
                                                                       : POLICY_ALLOW;
                policy_verdict got = policy_decide(r, &req, now);
                ck_assert_msg(got == expect,
                              "state %zu expiry %zu user %zu services %zu/%zu networks %zu/%zu scopes %zu/%zu: "
                              "got %d, expected %d",
                              st, ex, us, sl, sr, nl, rh, ks, rs, got, expect);
                checked++;
        }
        ck_assert_uint_eq(checked, 2 * 4 * 3 * 3 * 3 * 4 * 5 * 3 * 4);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("keystore");
        TCase *tc = tcase_create("record");
        tcase_add_test(tc, test_record_roundtrip);
        tcase_add_test(tc, test_record_skips_unknown_fields);
        tcase_add_test(tc, test_record_needs_owner);
        suite_add_tcase(s, tc);

        tc = tcase_create("store");
        tcase_add_checked_fixture(tc, setup, teardown);
        /* The writer tests sync to disk a few hundred times. */
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_store_persists);
        tcase_add_test(tc, test_pepper_stable_and_checked);
        tcase_add_test(tc, test_owner_index_and_delete);
        tcase_add_test(tc, test_quota);
        tcase_add_test(tc, test_map_grows);
        tcase_add_test(tc, test_pepper_missing_or_changed);
        tcase_add_test(tc, test_pepper_made_for_empty_store);
        tcase_add_test(tc, test_pepper_check_added_to_old_store);
        tcase_add_test(tc, test_store_permissions);
        tcase_add_test(tc, test_upgrade_verifier);
        tcase_add_test(tc, test_record_under_other_id);
        tcase_add_test(tc, test_writer_group_commit);
        tcase_add_test(tc, test_writer_refuses_stale_change);
        tcase_add_test(tc, test_churn_keeps_size);
        suite_add_tcase(s, tc);

        tc = tcase_create("policy");
        tcase_add_test(tc, test_policy);
        tcase_add_test(tc, test_policy_su_l);
        tcase_add_test(tc, test_policy_exhaustive);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return harness_main(suite(), false);
}
