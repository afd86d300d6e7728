/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-fill — fills a keystore with N keys for the benchmarks, fast.
 *
 *   bench-fill --state-dir DIR --keys N [--sample S] [--sample-owner UID]
 *              [--creds FILE]
 *
 * The store is created with the daemon's own keystore_open() (pepper, named
 * databases, schema version), then filled through LMDB directly with the
 * daemon's record encoding (key_record_encode), sorted and appended
 * (MDB_APPEND) in large transactions: going through keystore_insert() would
 * commit durably once per key, which is what the daemon does for CreateKey
 * and what tools/bench measures separately.
 *
 * The first S keys ("sample" keys) belong to --sample-owner (default 0,
 * root) and get real secrets, written "ID:SECRET" one a line to --creds; the
 * others belong to synthetic users, two keys each (the default
 * MaxKeysPerUser), with random verifiers nobody can log in with.  Key IDs are
 * random, so the sample keys are spread over the whole B-tree.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/rand.h>

#include "credential.h"
#include "keystore.h"
#include "record.h"
#include "util.h"
#include "verifier.h"

#define BATCH 100000
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#define SYNTHETIC_UID_BASE 100000u

typedef struct entry {
        char id[AK_ID_LEN + 1];
        uint32_t uid;
        uint32_t index;
} entry;

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_id(const void *a, const void *b) {
        return memcmp(((const entry *) a)->id, ((const entry *) b)->id, AK_ID_LEN);
}

static int cmp_owner(const void *a, const void *b) {
        const entry *x = a, *y = b;
        if (x->uid != y->uid)
                return x->uid < y->uid ? -1 : 1;
        return memcmp(x->id, y->id, AK_ID_LEN);
}

static int die_mdb(const char *what, int rc) {
        fprintf(stderr, "bench-fill: %s: %s\n", what, mdb_strerror(rc));
        return 1;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "state-dir", required_argument, NULL, 'd' },
                { "keys", required_argument, NULL, 'n' },
                { "sample", required_argument, NULL, 's' },
                { "sample-owner", required_argument, NULL, 'o' },
                { "creds", required_argument, NULL, 'c' },
                {},
        };
        const char *dir = NULL, *creds_path = NULL;
        unsigned long n = 0, n_sample = 16, sample_owner = 0;
        int c, rc;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'n':
                        n = strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        n_sample = strtoul(optarg, NULL, 10);
                        break;
                case 'o':
                        sample_owner = strtoul(optarg, NULL, 10);
                        break;
                case 'c':
                        creds_path = optarg;
                        break;
                default:
                        fprintf(stderr, "usage: bench-fill --state-dir DIR --keys N [--sample S] "
                                        "[--sample-owner UID] [--creds FILE]\n");
                        return 2;
                }
        }
        if (!dir || n == 0 || n_sample > n || n > UINT32_MAX) {
                fprintf(stderr, "bench-fill: --state-dir and --keys N (N >= --sample) are required\n");
                return 2;
        }

        double t0 = now_s();

        /* The daemon's own code makes the store: pepper, databases, schema. */
        keystore *ks;
        int r = keystore_open(dir, &ks);
        if (r < 0) {
                fprintf(stderr, "bench-fill: keystore_open(%s): %s\n", dir, strerror(-r));
                return 1;
        }
        keystore_close(ks);
        /* LMDB forbids a second handle on the environment in one process, so
         * the fill reads the pepper the store just made from its file. */
        uint8_t pepper[AK_PEPPER_LEN];
        char pepper_path[4096];
        snprintf(pepper_path, sizeof(pepper_path), "%s/pepper", dir);
        FILE *pf = fopen(pepper_path, "re");
        if (!pf || fread(pepper, 1, sizeof(pepper), pf) != sizeof(pepper)) {
                fprintf(stderr, "bench-fill: cannot read %s\n", pepper_path);
                return 1;
        }
        fclose(pf);
        ak_verifier_key *vkey;
        if (ak_verifier_key_new(pepper, &vkey) < 0)
                return 1;

        entry *e = calloc(n, sizeof(*e));
        if (!e)
                return 1;
        FILE *creds = creds_path ? fopen(creds_path, "we") : NULL;
        if (creds_path && !creds) {
                fprintf(stderr, "bench-fill: %s: %m\n", creds_path);
                return 1;
        }
        /* Secrets of the sample keys, by index; the rest get none. */
        char (*secrets)[AK_SECRET_LEN + 1] = calloc(n_sample ? n_sample : 1, sizeof(*secrets));
        if (!secrets)
                return 1;
        for (unsigned long i = 0; i < n; i++) {
                if (ak_id_generate(e[i].id) < 0)
                        return 1;
                e[i].index = (uint32_t) i;
                e[i].uid = i < n_sample ? (uint32_t) sample_owner
                                        : SYNTHETIC_UID_BASE + (uint32_t) ((i - n_sample) / 2);
                if (i < n_sample) {
                        if (ak_secret_generate(secrets[i]) < 0)
                                return 1;
                        if (creds)
                                fprintf(creds, "%s:%s\n", e[i].id, secrets[i]);
                }
        }
        if (creds && fclose(creds) != 0)
                return 1;
        qsort(e, n, sizeof(*e), cmp_id);
        for (unsigned long i = 1; i < n; i++)
                if (memcmp(e[i - 1].id, e[i].id, AK_ID_LEN) == 0) {
                        fprintf(stderr, "bench-fill: duplicate ID drawn; run again\n");
                        return 1;
                }

        MDB_env *env;
        MDB_dbi keys, owners;
        MDB_txn *txn;
        if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 5)) ||
            (rc = mdb_env_set_mapsize(env, (size_t) 1024 * n + (UINT64_C(64) << 20))) ||
            (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)))
                return die_mdb("mdb_env_open", rc);
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
            (rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &keys)) ||
            (rc = mdb_dbi_open(txn, "owners", MDB_CREATE | MDB_DUPSORT | MDB_INTEGERKEY, &owners)) ||
            (rc = mdb_txn_commit(txn)))
                return die_mdb("mdb_dbi_open", rc);

        key_record *rec = key_record_new();
        char name[32], owner_name[16];
        uint64_t now = now_usec();
        rec->services = calloc(1, sizeof(char *));
        rec->networks = calloc(1, sizeof(char *));
        rec->scopes = calloc(1, sizeof(char *));
        rec->name = name;
        rec->owner_name = owner_name;
        rec->created_at = rec->updated_at = now;
        rec->state = KEY_STATE_ACTIVE;
        uint64_t bytes = 0;

        for (unsigned long i = 0; i < n;) {
                if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
                        return die_mdb("mdb_txn_begin", rc);
                MDB_cursor *cur;
                if ((rc = mdb_cursor_open(txn, keys, &cur)))
                        return die_mdb("mdb_cursor_open", rc);
                for (unsigned long end = MIN(n, i + BATCH); i < end; i++) {
                        memcpy(rec->id, e[i].id, sizeof(rec->id));
                        rec->owner_uid = e[i].uid;
                        rec->created_by = rec->updated_by = e[i].uid;
                        snprintf(name, sizeof(name), "bench-%" PRIu32, e[i].index);
                        if (e[i].uid == sample_owner && sample_owner == 0)
                                snprintf(owner_name, sizeof(owner_name), "root");
                        else
                                snprintf(owner_name, sizeof(owner_name), "%" PRIu32, e[i].uid);
                        if (e[i].index < n_sample)
                                r = ak_verifier_compute_with(vkey, e[i].id, e[i].uid,
                                                             secrets[e[i].index], rec->verifier);
                        else {
                                rec->verifier[0] = AK_VERIFIER_SCHEME_CURRENT;
                                r = RAND_bytes(rec->verifier + 1, AK_VERIFIER_LEN - 1) == 1 ? 0 : -EIO;
                        }
                        if (r < 0)
                                return 1;
                        uint8_t *buf;
                        size_t len;
                        if (key_record_encode(rec, &buf, &len) < 0)
                                return 1;
                        MDB_val k = { AK_ID_LEN, e[i].id }, v = { len, buf };
                        rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND);
                        free(buf);
                        if (rc)
                                return die_mdb("put keys", rc);
                        bytes += len;
                }
                mdb_cursor_close(cur);
                if ((rc = mdb_txn_commit(txn)))
                        return die_mdb("commit keys", rc);
        }

        qsort(e, n, sizeof(*e), cmp_owner);
        for (unsigned long i = 0; i < n;) {
                if ((rc = mdb_txn_begin(env, NULL, 0, &txn)))
                        return die_mdb("mdb_txn_begin", rc);
                MDB_cursor *cur;
                if ((rc = mdb_cursor_open(txn, owners, &cur)))
                        return die_mdb("mdb_cursor_open", rc);
                for (unsigned long end = MIN(n, i + BATCH); i < end; i++) {
                        MDB_val k = { sizeof(uint32_t), &e[i].uid }, v = { AK_ID_LEN, e[i].id };
                        rc = mdb_cursor_put(cur, &k, &v, MDB_APPENDDUP);
                        if (rc)
                                return die_mdb("put owners", rc);
                }
                mdb_cursor_close(cur);
                if ((rc = mdb_txn_commit(txn)))
                        return die_mdb("commit owners", rc);
        }

        MDB_envinfo info;
        MDB_stat st;
        mdb_env_info(env, &info);
        mdb_env_stat(env, &st);
        mdb_env_close(env);
        rec->name = rec->owner_name = NULL;
        key_record_free(rec);
        erase_mem(secrets, (n_sample ? n_sample : 1) * sizeof(*secrets));
        free(secrets);
        free(e);

        double t = now_s() - t0;
        printf("fill keys=%lu secs=%.2f rate=%.0f record_bytes_mean=%.0f pages_used=%zu page_size=%u\n", n, t,
               (double) n / t, (double) bytes / (double) n, info.me_last_pgno + 1, st.ms_psize);
        return 0;
}
