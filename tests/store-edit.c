/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "store-edit.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef enum {
        GET,
        PUT,
        DEL
} op;

static int edit(const char *dir, const char *db, op what, const void *key, size_t klen,
                const void *v, size_t vlen, void **ret, size_t *ret_len) {
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        MDB_dbi dbi;
        MDB_val k = { klen, (void *) key }, val = { vlen, (void *) v };
        int rc;

        if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 8)) ||
            (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) ||
            (rc = mdb_txn_begin(env, NULL, what == GET ? MDB_RDONLY : 0, &txn)) ||
            (rc = mdb_dbi_open(txn, db, 0, &dbi)))
                goto out;
        if (what == GET) {
                rc = mdb_get(txn, dbi, &k, &val);
                if (rc == 0) {
                        *ret = malloc(val.mv_size ? val.mv_size : 1);
                        if (!*ret) {
                                rc = ENOMEM;
                                goto out;
                        }
                        memcpy(*ret, val.mv_data, val.mv_size);
                        *ret_len = val.mv_size;
                }
        } else if (what == PUT)
                rc = mdb_put(txn, dbi, &k, &val, 0);
        else
                rc = mdb_del(txn, dbi, &k, NULL);
        if (rc == 0 && what != GET) {
                rc = mdb_txn_commit(txn);
                txn = NULL;
        }
out:
        if (txn)
                mdb_txn_abort(txn);
        if (env)
                mdb_env_close(env);
        return rc == 0 ? 0 : rc == MDB_NOTFOUND ? -ENOENT : rc > 0 ? -rc : -EIO;
}

int store_edit_get(const char *dir, const char *db, const void *key, size_t klen, void **ret,
                   size_t *ret_len) {
        return edit(dir, db, GET, key, klen, NULL, 0, ret, ret_len);
}

int store_edit_put(const char *dir, const char *db, const void *key, size_t klen, const void *v,
                   size_t vlen) {
        return edit(dir, db, PUT, key, klen, v, vlen, NULL, NULL);
}

int store_edit_del(const char *dir, const char *db, const void *key, size_t klen) {
        return edit(dir, db, DEL, key, klen, NULL, 0, NULL, NULL);
}

int store_edit_record(const char *dir, const char *id, void (*fn)(key_record *r, void *userdata),
                      void *userdata) {
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(key_record_freep) key_record *rec = NULL;
        size_t len;
        int r = store_edit_get(dir, "keys", id, strlen(id), (void **) &buf, &len);
        if (r < 0)
                return r;
        if ((r = key_record_decode(buf, len, &rec)) < 0)
                return r;
        fn(rec, userdata);
        _cleanup_(freep) uint8_t *out = NULL;
        if ((r = key_record_encode(rec, &out, &len)) < 0)
                return r;
        return store_edit_put(dir, "keys", id, strlen(id), out, len);
}
