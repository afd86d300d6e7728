/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "keystore.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "util.h"

#define INITIAL_MAP_SIZE (UINT64_C(16) << 20)
#define BATCH_MAX 64
#define PEPPER_FILE "pepper"

/* A write handed to the writer thread. */
typedef int (*write_fn)(keystore *ks, MDB_txn *txn, void *userdata);
struct keystore_op {
        write_fn fn;
        void *args; /* freed with the op */
        keystore_done_fn done;
        void *userdata;
        int result;
        keystore_op *next;
};

struct keystore {
        MDB_env *env;
        MDB_dbi keys, owners, usage, retired, meta;
        ak_verifier_key *verifier_key;
        uint64_t commits; /* atomic: the writer counts, anyone reads */

        /* One write transaction at a time in this process (LMDB would
         * serialise them too, but the map may only grow while none is
         * open). */
        pthread_mutex_t write_lock;
        /* Read transactions hold it shared; growing the map holds it
         * exclusively, since LMDB allows that only with no transaction
         * open in the process. */
        pthread_rwlock_t map_lock;

        /* The writer thread: lifecycle changes and usage figures are
         * committed (and synced to disk) there, so that a login, which
         * only reads, never waits behind a disk sync. */
        bool writer_running;
        pthread_t writer;
        pthread_mutex_t queue_lock;
        pthread_cond_t queue_cond;
        bool stopping;
        keystore_op *queue, **queue_tail; /* waiting, in order */
        keystore_op *done, **done_tail;   /* written, for keystore_dispatch() */
        int event_fd;                     /* readable while done is not empty */
};

static int read_txn(keystore *ks, MDB_txn **ret);
static void read_end(keystore *ks, MDB_txn *txn);

static int mdb_to_errno(int rc) {
        switch (rc) {
        case 0:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
                return -ENOSPC;
        case MDB_VERSION_MISMATCH:
        case MDB_INVALID:
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
                return -EBADMSG;
        default:
                return rc > 0 ? -rc : -EIO;
        }
}

/* The daemon trusts what its state directory holds: whoever can write
 * data.mdb can give their key to root (a verifier binds only the ID and the
 * owner), whoever can write the directory can replace any file in it, and
 * whoever can read the pepper can test secrets offline.  So each must be
 * the daemon user's, writable by it alone (the pepper readable by it
 * alone), and never a link to somewhere else.  Each refusal names the path
 * and the command that fixes it. */
/* What chown needs to give a file to the daemon's user. */
static const char *owner_arg(char buf[static 16]) {
        uid_t euid = geteuid();
        if (euid == 0)
                return "root:root";
        snprintf(buf, 16, "%u", (unsigned) euid);
        return buf;
}

static int check_private(const char *path, const struct stat *st, bool is_dir, bool secret) {
        uid_t euid = geteuid();
        mode_t mode = st->st_mode & 07777;
        char owner[16];

        if (S_ISLNK(st->st_mode) || (is_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))) {
                log_error(
                        "keystore: %s is not a %s (it is %s); accesskeyd uses only the %s it made itself. "
                        "Not starting; move it away",
                        path, is_dir ? "directory" : "regular file",
                        S_ISLNK(st->st_mode)    ? "a symbolic link"
                        : S_ISDIR(st->st_mode)  ? "a directory"
                        : S_ISFIFO(st->st_mode) ? "a FIFO"
                                                : "a special file",
                        is_dir ? "directory" : "files");
                return -EPERM;
        }
        if (st->st_uid != euid) {
                log_error(
                        "keystore: %s is owned by UID %u, not by UID %u that runs accesskeyd, so that user "
                        "could change the access keys. Not starting; if its content is trustworthy, fix it with "
                        "'chown %s %s'",
                        path, (unsigned) st->st_uid, (unsigned) euid, owner_arg(owner), path);
                return -EPERM;
        }
        if (mode & (secret ? 0077 : 0022)) {
                log_error(
                        "keystore: %s has mode %04o: %s. Not starting; if its content is trustworthy, fix it "
                        "with 'chmod %s %s'",
                        path, (unsigned) mode,
                        secret ? "the pepper must be readable by its owner alone"
                               : "users other than its owner may write it, and so change the access keys",
                        secret ? "0400" : "go-w", path);
                return -EPERM;
        }
        return 0;
}

/* An entry of the state directory; a missing one is fine (made later). */
static int check_entry(int dirfd, const char *dir, const char *name, bool secret) {
        struct stat st;
        char path[PATH_MAX];

        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return check_private(path, &st, false, secret);
}

/* The directories above the state directory: one that another user may
 * write (without the sticky bit, as /tmp has) lets that user rename the
 * state directory away and put their own in its place.  Both the path as
 * given and the one its links lead to are checked, so a link on the way
 * cannot be swapped either.  path is changed. */
static int check_parents_of(const char *dir, char *path) {
        uid_t euid = geteuid();
        char owner[16];

        for (char *slash = strrchr(path, '/'); slash; slash = strrchr(path, '/')) {
                struct stat st;
                if (slash == path)
                        slash[1] = 0; /* the root directory */
                else
                        *slash = 0;
                if (stat(path, &st) < 0)
                        return -errno;
                if (st.st_uid != 0 && st.st_uid != euid) {
                        log_error(
                                "keystore: %s, above the state directory %s, is owned by UID %u, who could "
                                "replace the state directory. Not starting; fix it with 'chown %s %s', or "
                                "choose another --state-dir",
                                path, dir, (unsigned) st.st_uid, owner_arg(owner), path);
                        return -EPERM;
                }
                if ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX)) {
                        log_error(
                                "keystore: %s, above the state directory %s, has mode %04o: other users could "
                                "replace the state directory. Not starting; fix it with 'chmod go-w %s' (or "
                                "'chmod +t %s', as /tmp has), or choose another --state-dir",
                                path, dir, (unsigned) (st.st_mode & 07777), path, path);
                        return -EPERM;
                }
                if (slash == path)
                        break;
        }
        return 0;
}

static int check_parents(const char *dir) {
        _cleanup_(freep) char *real = realpath(dir, NULL), *given = NULL;
        char cwd[PATH_MAX];

        if (!real)
                return -errno;
        if (dir[0] == '/')
                given = strdup(dir);
        else if (getcwd(cwd, sizeof(cwd)) && asprintf(&given, "%s/%s", cwd, dir) < 0)
                given = NULL;
        if (!given)
                return -ENOMEM;
        /* "dir/" has no entry after its last slash. */
        for (size_t n = strlen(given); n > 1 && given[n - 1] == '/'; n--)
                given[n - 1] = 0;
        int r = check_parents_of(dir, real);
        return r < 0 ? r : check_parents_of(dir, given);
}

/* The pepper: 32 random bytes in a root-only file beside the database, so a
 * copy of the database alone verifies nothing.  -ENOENT when there is none;
 * -EPERM for a file of the wrong size.  Opened without blocking (a FIFO
 * would hang the daemon in open()) and without following a link. */
static int load_pepper(int dirfd, const char *dir, uint8_t ret[AK_PEPPER_LEN]) {
        _cleanup_(closep) int fd =
                openat(dirfd, PEPPER_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        struct stat st;
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", dir, PEPPER_FILE);
        if (fd < 0 && errno == ELOOP) {
                log_error(
                        "keystore: %s is a symbolic link; the pepper must be a regular file. Not starting; "
                        "put the pepper file itself in its place",
                        path);
                return -EPERM;
        }
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        int r = check_private(path, &st, false, true);
        if (r < 0)
                return r;
        if (st.st_size != AK_PEPPER_LEN) {
                log_error(
                        "keystore: %s holds %lld bytes, not %d: it is not a pepper accesskeyd wrote. Not "
                        "starting; restore the pepper from a backup",
                        path, (long long) st.st_size, AK_PEPPER_LEN);
                return -EPERM;
        }
        if (read(fd, ret, AK_PEPPER_LEN) != AK_PEPPER_LEN)
                return -EIO;
        return 0;
}

/* Sets the map size (0: adopt the size another process set) with no
 * transaction open in this process: the caller holds write_lock and has
 * none open itself; map_lock keeps readers out meanwhile. */
static int set_map_size(keystore *ks, size_t size) {
        pthread_rwlock_wrlock(&ks->map_lock);
        int rc = mdb_env_set_mapsize(ks->env, size);
        pthread_rwlock_unlock(&ks->map_lock);
        return rc;
}

static int create_pepper(int dirfd) {
        uint8_t p[AK_PEPPER_LEN];
        if (RAND_bytes(p, sizeof(p)) != 1)
                return -EIO;
        char tmp[] = PEPPER_FILE ".new";
        (void) unlinkat(dirfd, tmp, 0);
        _cleanup_(closep) int w =
                openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
        if (w < 0) {
                erase_mem(p, sizeof(p));
                return -errno;
        }
        bool ok = write(w, p, sizeof(p)) == (ssize_t) sizeof(p) && fsync(w) == 0;
        erase_mem(p, sizeof(p));
        if (!ok)
                return -EIO;
        /* Atomic: a crash leaves either no pepper or a whole one. */
        if (renameat(dirfd, tmp, dirfd, PEPPER_FILE) < 0 || fsync(dirfd) < 0)
                return -errno;
        return 0;
}

static int grow_map(keystore *ks) {
        MDB_envinfo info;
        int rc = mdb_env_info(ks->env, &info);
        if (rc == 0)
                rc = set_map_size(ks, info.me_mapsize * 2);
        if (rc == 0)
                log_debug("keystore: map grown to %zu MiB", (info.me_mapsize * 2) >> 20);
        return mdb_to_errno(rc);
}

/* Begins a write transaction; the caller holds write_lock. */
static int begin_write(keystore *ks, MDB_txn **ret) {
        int rc = mdb_txn_begin(ks->env, NULL, 0, ret);
        if (rc == MDB_MAP_RESIZED) {
                rc = set_map_size(ks, 0);
                if (rc == 0)
                        rc = mdb_txn_begin(ks->env, NULL, 0, ret);
        }
        return mdb_to_errno(rc);
}

/* Runs a batch of writes in one transaction and commits it: one commit,
 * one disk sync, for every change that arrived while the previous batch
 * was being written (group commit).  With more than one write, each runs
 * in a nested transaction of its own, so that a write that fails (a quota,
 * a record changed meanwhile) leaves the others in; a lone write needs
 * none, and its failure abandons the transaction.  On a full map the
 * transaction is abandoned, the map doubled and the batch run again.
 * Each op's result is set. */
static void write_batch(keystore *ks, keystore_op *batch) {
        bool nested = batch->next != NULL;
        int r = -ENOSPC;

        pthread_mutex_lock(&ks->write_lock);
        for (int attempt = 0; attempt < 8; attempt++) {
                MDB_txn *txn;
                bool full = false, failed = false;

                if ((r = begin_write(ks, &txn)) < 0)
                        break;
                for (keystore_op *op = batch; op; op = op->next) {
                        MDB_txn *t = txn;
                        int rc = nested ? mdb_txn_begin(ks->env, txn, 0, &t) : 0;
                        if (rc != 0) {
                                op->result = mdb_to_errno(rc);
                                continue;
                        }
                        op->result = op->fn(ks, t, op->args);
                        if (op->result < 0 && nested)
                                mdb_txn_abort(t);
                        else if (op->result < 0)
                                failed = true;
                        else if (nested && (rc = mdb_txn_commit(t)) != 0)
                                op->result = mdb_to_errno(rc);
                        if (op->result == -ENOSPC) {
                                full = true;
                                break;
                        }
                }
                if (full || failed) {
                        mdb_txn_abort(txn);
                        /* A lone write that failed keeps its result; a
                         * full map is grown below and the batch run again. */
                        r = 0;
                        if (!full)
                                break;
                } else {
                        int rc = mdb_txn_commit(txn);
                        if (rc == 0) {
                                __atomic_add_fetch(&ks->commits, 1, __ATOMIC_RELAXED);
                                r = 0;
                                break;
                        }
                        r = mdb_to_errno(rc);
                        if (rc != MDB_MAP_FULL)
                                break;
                }
                if ((r = grow_map(ks)) < 0)
                        break;
                r = -ENOSPC;
        }
        pthread_mutex_unlock(&ks->write_lock);
        /* Nothing of the batch was committed: every op failed alike. */
        if (r < 0)
                for (keystore_op *op = batch; op; op = op->next)
                        op->result = r;
}

/* Runs fn in one write transaction on this thread, for the callers that
 * may wait for the disk: opening, tests, tools, shutdown. */
static int write_txn(keystore *ks, write_fn fn, void *userdata) {
        keystore_op op = { .fn = fn, .args = userdata };
        write_batch(ks, &op);
        return op.result;
}

static void *writer_main(void *userdata) {
        keystore *ks = userdata;

        pthread_mutex_lock(&ks->queue_lock);
        for (;;) {
                while (!ks->queue && !ks->stopping)
                        pthread_cond_wait(&ks->queue_cond, &ks->queue_lock);
                if (!ks->queue)
                        break; /* stopping, and all written */
                /* At most BATCH_MAX writes a transaction: each nested one
                 * copies the pages it touches, and the map must hold them
                 * all until the commit. */
                keystore_op *batch = ks->queue, **end = &ks->queue;
                for (unsigned n = 0; *end && n < BATCH_MAX; n++)
                        end = &(*end)->next;
                ks->queue = *end;
                *end = NULL;
                if (!ks->queue)
                        ks->queue_tail = &ks->queue;
                pthread_mutex_unlock(&ks->queue_lock);

                write_batch(ks, batch);

                pthread_mutex_lock(&ks->queue_lock);
                bool was_empty = !ks->done;
                *ks->done_tail = batch;
                while (*ks->done_tail)
                        ks->done_tail = &(*ks->done_tail)->next;
                if (was_empty) {
                        uint64_t one = 1;
                        ssize_t k = write(ks->event_fd, &one, sizeof(one));
                        (void) k; /* an eventfd takes it, or is already readable */
                }
        }
        pthread_mutex_unlock(&ks->queue_lock);
        return NULL;
}

int keystore_start_writer(keystore *ks) {
        assert(!ks->writer_running);
        ks->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (ks->event_fd < 0)
                return -errno;
        ks->stopping = false;
        int e = pthread_create(&ks->writer, NULL, writer_main, ks);
        if (e != 0) {
                (void) close(ks->event_fd);
                ks->event_fd = -1;
                return -e;
        }
        ks->writer_running = true;
        return 0;
}

int keystore_event_fd(const keystore *ks) {
        return ks->event_fd;
}

void keystore_dispatch(keystore *ks) {
        uint64_t n;
        ssize_t k = read(ks->event_fd, &n, sizeof(n));
        (void) k; /* EAGAIN: a spurious wakeup, or already read */

        pthread_mutex_lock(&ks->queue_lock);
        keystore_op *list = ks->done;
        ks->done = NULL;
        ks->done_tail = &ks->done;
        pthread_mutex_unlock(&ks->queue_lock);

        while (list) {
                keystore_op *op = list;
                list = op->next;
                if (op->done)
                        op->done(op->result, op->userdata);
                free(op->args);
                free(op);
        }
}

void keystore_stop_writer(keystore *ks) {
        if (!ks || !ks->writer_running)
                return;
        pthread_mutex_lock(&ks->queue_lock);
        ks->stopping = true;
        pthread_cond_signal(&ks->queue_cond);
        pthread_mutex_unlock(&ks->queue_lock);
        (void) pthread_join(ks->writer, NULL);
        ks->writer_running = false;
        /* What was written is answered. */
        keystore_dispatch(ks);
        (void) close(ks->event_fd);
        ks->event_fd = -1;
}

/* Hands a write to the writer thread, which takes over args (malloc'ed);
 * done runs on the loop's thread, from keystore_dispatch(), once the
 * write is durable or has failed.  Without a writer (tests, tools) the
 * write is made here and done called at once. */
static int submit(keystore *ks, write_fn fn, void *args, bool first, keystore_done_fn done, void *userdata) {
        if (!ks->writer_running) {
                int r = write_txn(ks, fn, args);
                free(args);
                if (done)
                        done(r, userdata);
                return 0;
        }
        keystore_op *op = calloc(1, sizeof(*op));
        if (!op) {
                free(args);
                return -ENOMEM;
        }
        *op = (keystore_op){ .fn = fn, .args = args, .done = done, .userdata = userdata };
        pthread_mutex_lock(&ks->queue_lock);
        if (first && ks->queue) {
                /* A change made again after it was overtaken goes ahead
                 * of those queued since, so that it is not overtaken for
                 * ever. */
                op->next = ks->queue;
                ks->queue = op;
        } else {
                *ks->queue_tail = op;
                ks->queue_tail = &op->next;
        }
        pthread_cond_signal(&ks->queue_cond);
        pthread_mutex_unlock(&ks->queue_lock);
        return 0;
}

static int put_meta(keystore *ks, MDB_txn *txn, void *userdata) {
        MDB_val k = { 14, (void *) "schema_version" }, v;
        uint32_t version = KEYSTORE_SCHEMA_VERSION;
        int rc = mdb_get(txn, ks->meta, &k, &v);
        if (rc == 0) {
                uint32_t have;
                if (v.mv_size != sizeof(have))
                        return -EBADMSG;
                memcpy(&have, v.mv_data, sizeof(have));
                if (have != KEYSTORE_SCHEMA_VERSION) {
                        log_error("keystore: schema version %u, this accesskeyd knows %u", have,
                                  KEYSTORE_SCHEMA_VERSION);
                        return -EPROTONOSUPPORT;
                }
                return 0;
        }
        if (rc != MDB_NOTFOUND)
                return mdb_to_errno(rc);
        v = (MDB_val){ sizeof(version), &version };
        return mdb_to_errno(mdb_put(txn, ks->meta, &k, &v, 0));
}

static int open_dbs(keystore *ks, MDB_txn *txn, void *userdata) {
        int rc;
        if ((rc = mdb_dbi_open(txn, "keys", MDB_CREATE, &ks->keys)) ||
            (rc = mdb_dbi_open(txn, "owners", MDB_CREATE | MDB_DUPSORT | MDB_INTEGERKEY, &ks->owners)) ||
            (rc = mdb_dbi_open(txn, "usage", MDB_CREATE, &ks->usage)) ||
            (rc = mdb_dbi_open(txn, "retired", MDB_CREATE, &ks->retired)) ||
            (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ks->meta)))
                return mdb_to_errno(rc);
        return put_meta(ks, txn, userdata);
}

/* Releases before 0.2 kept the ID of every deleted key, without bound;
 * the space goes back to the map. */
static int forget_retired(keystore *ks, MDB_txn *txn, void *userdata) {
        MDB_stat st;
        int rc = mdb_stat(txn, ks->retired, &st);
        if (rc == 0 && st.ms_entries > 0) {
                log_info("keystore: forgetting %zu IDs of deleted keys (no longer kept)", st.ms_entries);
                rc = mdb_drop(txn, ks->retired, 0);
        }
        return mdb_to_errno(rc);
}

int keystore_open(const char *dir, keystore **ret) {
        return keystore_open_sized(dir, INITIAL_MAP_SIZE, ret);
}

/* The pepper's check value, in meta: a pepper that is not the one the
 * stored keys were made with is told apart from wrong secrets at start.
 * Returns 1 when the value was written for a store that holds keys (a
 * store of an earlier release), -EKEYREJECTED when it differs while keys
 * are stored.  With no keys a differing value is simply replaced: there is
 * nothing the old pepper could still verify. */
typedef struct pepper_check_args {
        uint8_t check[AK_PEPPER_CHECK_LEN];
        size_t keys;
} pepper_check_args;

static int put_pepper_check(keystore *ks, MDB_txn *txn, void *userdata) {
        pepper_check_args *a = userdata;
        MDB_val k = { 12, (void *) "pepper_check" }, v;
        int rc = mdb_get(txn, ks->meta, &k, &v);
        if (rc == 0) {
                if (v.mv_size == AK_PEPPER_CHECK_LEN &&
                    memcmp(v.mv_data, a->check, AK_PEPPER_CHECK_LEN) == 0)
                        return 0;
                if (a->keys > 0)
                        return -EKEYREJECTED;
        } else if (rc != MDB_NOTFOUND)
                return mdb_to_errno(rc);
        v = (MDB_val){ AK_PEPPER_CHECK_LEN, a->check };
        rc = mdb_put(txn, ks->meta, &k, &v, 0);
        if (rc)
                return mdb_to_errno(rc);
        return a->keys > 0;
}

static int count_keys(keystore *ks, size_t *ret_keys, size_t *ret_unbound) {
        MDB_txn *txn;
        MDB_cursor *c;
        MDB_val k, v;
        MDB_stat st;
        size_t unbound = 0;
        int r = read_txn(ks, &txn);
        if (r < 0)
                return r;
        int rc = mdb_stat(txn, ks->keys, &st);
        if (rc == 0 && ret_unbound)
                rc = mdb_cursor_open(txn, ks->keys, &c);
        if (rc) {
                read_end(ks, txn);
                return mdb_to_errno(rc);
        }
        if (ret_unbound) {
                for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
                     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                        uint8_t scheme;
                        if (key_record_peek_verifier_scheme(v.mv_data, v.mv_size, &scheme) < 0 ||
                            scheme != AK_VERIFIER_SCHEME_CURRENT)
                                unbound++;
                }
                mdb_cursor_close(c);
                *ret_unbound = unbound;
        }
        read_end(ks, txn);
        *ret_keys = st.ms_entries;
        return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_to_errno(rc);
}

/* Loads the pepper, or makes one for a store without keys.  A store whose
 * keys were made with a pepper that is gone or was replaced is refused:
 * going on would turn every login into a "wrong secret" and hide why. */
static int open_pepper(keystore *ks, int dirfd, const char *dir, size_t keys) {
        uint8_t pepper[AK_PEPPER_LEN];
        int r = load_pepper(dirfd, dir, pepper);
        if (r == -ENOENT && keys > 0) {
                log_error(
                        "keystore: the pepper %s/%s is missing, but %s/data.mdb holds %zu access key(s) made "
                        "with it; without it no secret can be verified. Not starting; restore %s/%s from a "
                        "backup (owner root, mode 0400), or move data.mdb and lock.mdb out of %s to start "
                        "with an empty store",
                        dir, PEPPER_FILE, dir, keys, dir, PEPPER_FILE, dir);
                return -ENOKEY;
        }
        if (r == -ENOENT) {
                r = create_pepper(dirfd);
                if (r < 0) {
                        log_error("keystore: cannot create the pepper %s/%s: %s", dir, PEPPER_FILE,
                                  strerror(-r));
                        return r;
                }
                log_info("keystore: created a new pepper in %s/%s; back it up with the database",
                         dir, PEPPER_FILE);
                r = load_pepper(dirfd, dir, pepper);
        }
        if (r == 0)
                r = ak_verifier_key_new(pepper, &ks->verifier_key);
        erase_mem(pepper, sizeof(pepper));
        if (r < 0) {
                if (r != -EPERM)
                        log_error("keystore: cannot read the pepper %s/%s: %s", dir, PEPPER_FILE,
                                  strerror(-r));
                return r;
        }

        pepper_check_args a = { .keys = keys };
        if ((r = ak_pepper_check_compute(ks->verifier_key, a.check)) < 0)
                return r;
        r = write_txn(ks, put_pepper_check, &a);
        if (r == -EKEYREJECTED)
                log_error(
                        "keystore: the pepper %s/%s is not the one the %zu access key(s) in %s/data.mdb were "
                        "made with (its check value differs): every login would fail as a wrong secret. Not "
                        "starting; restore the original pepper from a backup, or move data.mdb and lock.mdb "
                        "out of %s to start with an empty store",
                        dir, PEPPER_FILE, keys, dir, dir);
        else if (r < 0)
                log_error("keystore: cannot record the pepper's check value in %s/data.mdb: %s",
                          dir, strerror(-r));
        else if (r > 0)
                log_info(
                        "keystore: recorded the check value of the pepper %s/%s for the %zu key(s) of an "
                        "earlier release",
                        dir, PEPPER_FILE, keys);
        return r < 0 ? r : 0;
}

int keystore_open_sized(const char *dir, uint64_t map_size, keystore **ret) {
        keystore *ks = calloc(1, sizeof(*ks));
        _cleanup_(closep) int dirfd = -1;
        size_t keys = 0, unbound = 0;
        struct stat st;
        int rc, r, dead = 0;

        if (!ks)
                return -ENOMEM;
        pthread_mutex_init(&ks->write_lock, NULL);
        pthread_rwlock_init(&ks->map_lock, NULL);
        pthread_mutex_init(&ks->queue_lock, NULL);
        pthread_cond_init(&ks->queue_cond, NULL);
        ks->queue_tail = &ks->queue;
        ks->done_tail = &ks->done;
        ks->event_fd = -1;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                log_error("keystore: cannot create the state directory %s: %s", dir, strerror(-r));
                goto fail;
        }
        /* The directory first: once it is ours alone, nobody else can swap
         * the files in it between their check and their use. */
        if ((r = check_parents(dir)) < 0)
                goto fail;
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0 || fstat(dirfd, &st) < 0) {
                r = -errno;
                log_error("keystore: cannot open the state directory %s: %s", dir, strerror(-r));
                goto fail;
        }
        if ((r = check_private(dir, &st, true, false)) < 0 ||
            (r = check_entry(dirfd, dir, "data.mdb", false)) < 0 ||
            (r = check_entry(dirfd, dir, "lock.mdb", false)) < 0 ||
            (r = check_entry(dirfd, dir, PEPPER_FILE, true)) < 0)
                goto fail;

        if ((rc = mdb_env_create(&ks->env)) || (rc = mdb_env_set_maxdbs(ks->env, 5)) ||
            (rc = mdb_env_set_mapsize(ks->env, map_size)) ||
            (rc = mdb_env_set_maxreaders(ks->env, 126)) ||
            (rc = mdb_env_open(ks->env, dir, MDB_NOTLS, 0600))) {
                log_error("keystore: cannot open LMDB environment in %s: %s", dir, mdb_strerror(rc));
                r = mdb_to_errno(rc);
                goto fail;
        }
        /* A reader slot left by a process that died would pin old pages
         * forever and grow the file. */
        (void) mdb_reader_check(ks->env, &dead);
        if (dead > 0)
                log_info("keystore: cleared %d stale reader slot(s)", dead);

        r = write_txn(ks, open_dbs, NULL);
        if (r == 0)
                r = write_txn(ks, forget_retired, NULL);
        if (r < 0) {
                log_error("keystore: cannot open databases in %s: %s", dir, strerror(-r));
                goto fail;
        }
        if ((r = count_keys(ks, &keys, &unbound)) < 0) {
                log_error("keystore: cannot read %s/data.mdb: %s", dir, strerror(-r));
                goto fail;
        }
        if ((r = open_pepper(ks, dirfd, dir, keys)) < 0)
                goto fail;
        if (unbound > 0)
                log_notice(
                        "keystore: %zu of %zu access key(s) still have a verifier of an earlier release, not "
                        "bound to the key's ID and owner; each is bound at its next successful login, or at "
                        "once by rotating its secret ('accesskeyctl rotate ID')",
                        unbound, keys);
        *ret = ks;
        return 0;
fail:
        keystore_close(ks);
        return r;
}

keystore *keystore_close(keystore *ks) {
        if (ks) {
                keystore_stop_writer(ks);
                if (ks->env)
                        mdb_env_close(ks->env);
                ak_verifier_key_free(ks->verifier_key);
                pthread_mutex_destroy(&ks->write_lock);
                pthread_rwlock_destroy(&ks->map_lock);
                pthread_mutex_destroy(&ks->queue_lock);
                pthread_cond_destroy(&ks->queue_cond);
                free(ks);
        }
        return NULL;
}

ak_verifier_key *keystore_verifier_key(const keystore *ks) {
        return ks->verifier_key;
}

uint64_t keystore_commits(const keystore *ks) {
        return __atomic_load_n(&ks->commits, __ATOMIC_RELAXED);
}

static MDB_val id_val(const char *id) {
        return (MDB_val){ AK_ID_LEN, (void *) id };
}

typedef struct insert_args {
        const key_record *rec;
        uint32_t max_keys;
} insert_args;

static int count_owner(keystore *ks, MDB_txn *txn, uint32_t uid, size_t *ret) {
        MDB_cursor *c;
        MDB_val k = { sizeof(uid), &uid }, v;
        size_t n = 0;
        int rc = mdb_cursor_open(txn, ks->owners, &c);
        if (rc)
                return mdb_to_errno(rc);
        rc = mdb_cursor_get(c, &k, &v, MDB_SET);
        if (rc == 0)
                rc = mdb_cursor_count(c, &n);
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
                return mdb_to_errno(rc);
        *ret = rc == MDB_NOTFOUND ? 0 : (size_t) n;
        return 0;
}

static int do_put_record(keystore *ks, MDB_txn *txn, const key_record *rec, unsigned flags) {
        _cleanup_(freep) uint8_t *buf = NULL;
        size_t len;
        int r = key_record_encode(rec, &buf, &len);
        if (r < 0)
                return r;
        MDB_val k = id_val(rec->id), v = { len, buf };
        r = mdb_to_errno(mdb_put(txn, ks->keys, &k, &v, flags));
        erase_mem(buf, len);
        return r;
}

static int do_insert(keystore *ks, MDB_txn *txn, void *userdata) {
        insert_args *a = userdata;
        uint32_t uid = a->rec->owner_uid;
        int r;

        if (a->max_keys > 0) {
                size_t n;
                if ((r = count_owner(ks, txn, uid, &n)) < 0)
                        return r;
                if (n >= a->max_keys)
                        return -EDQUOT;
        }
        /* A deleted key's ID is not remembered: 90 random bits make
         * drawing it again as unlikely as drawing a live one (see
         * DESIGN-NOTES), and a list of every ID ever deleted would grow
         * without bound under create/delete churn. */
        if ((r = do_put_record(ks, txn, a->rec, MDB_NOOVERWRITE)) < 0)
                return r;
        MDB_val k = { sizeof(uid), &uid }, v = id_val(a->rec->id);
        return mdb_to_errno(mdb_put(txn, ks->owners, &k, &v, MDB_NODUPDATA));
}

int keystore_insert(keystore *ks, const key_record *rec, uint32_t max_keys) {
        insert_args a = { rec, max_keys };
        return write_txn(ks, do_insert, &a);
}

int keystore_submit_insert(keystore *ks, const key_record *rec, uint32_t max_keys, keystore_done_fn done,
                           void *userdata) {
        insert_args *a = malloc(sizeof(*a));
        if (!a)
                return -ENOMEM;
        *a = (insert_args){ rec, max_keys };
        return submit(ks, do_insert, a, false, done, userdata);
}

/* A digest of a record's stored bytes: what a change was made against. */
static void version_of(const MDB_val *v, keystore_version *ret) {
        unsigned len = sizeof(ret->digest);
        if (EVP_Digest(v->mv_data, v->mv_size, ret->digest, &len, EVP_sha256(), NULL) != 1)
                /* Cannot happen with a built-in digest; an all-zero version
                 * matches no stored record, so the change is refused. */
                memset(ret->digest, 0, sizeof(ret->digest));
}

typedef struct update_args {
        const key_record *rec;
        keystore_version expected;
        bool check;
} update_args;

static int do_update(keystore *ks, MDB_txn *txn, void *userdata) {
        const update_args *a = userdata;
        MDB_val k = id_val(a->rec->id), v;
        int rc = mdb_get(txn, ks->keys, &k, &v);
        if (rc)
                return mdb_to_errno(rc);
        if (a->check) {
                keystore_version now;
                version_of(&v, &now);
                /* Another change landed after this one read the record:
                 * writing would undo it.  The caller starts again. */
                if (CRYPTO_memcmp(now.digest, a->expected.digest, sizeof(now.digest)) != 0)
                        return -ESTALE;
        }
        return do_put_record(ks, txn, a->rec, 0);
}

int keystore_update(keystore *ks, const key_record *rec) {
        update_args a = { .rec = rec };
        return write_txn(ks, do_update, &a);
}

int keystore_submit_update(keystore *ks, const key_record *rec, const keystore_version *expected, bool first,
                           keystore_done_fn done, void *userdata) {
        update_args *a = malloc(sizeof(*a));
        if (!a)
                return -ENOMEM;
        *a = (update_args){ .rec = rec, .expected = *expected, .check = true };
        return submit(ks, do_update, a, first, done, userdata);
}

/* Read transactions hold map_lock shared: the map does not move under
 * them.  read_end() ends one. */
static int read_txn(keystore *ks, MDB_txn **ret) {
        pthread_rwlock_rdlock(&ks->map_lock);
        int rc = mdb_txn_begin(ks->env, NULL, MDB_RDONLY, ret);
        if (rc == MDB_MAP_RESIZED) {
                /* Another process grew the map; adopt its size, with no
                 * transaction of ours open. */
                pthread_rwlock_unlock(&ks->map_lock);
                pthread_mutex_lock(&ks->write_lock);
                rc = set_map_size(ks, 0);
                pthread_mutex_unlock(&ks->write_lock);
                pthread_rwlock_rdlock(&ks->map_lock);
                if (rc == 0)
                        rc = mdb_txn_begin(ks->env, NULL, MDB_RDONLY, ret);
        }
        if (rc != 0)
                pthread_rwlock_unlock(&ks->map_lock);
        return mdb_to_errno(rc);
}

static void read_end(keystore *ks, MDB_txn *txn) {
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&ks->map_lock);
}

/* A record stored under another key's ID (copied there outside the
 * daemon) is corrupt, not that key. */
static int decode_as(const MDB_val *k, const MDB_val *v, key_record **ret) {
        key_record *rec;
        int r = key_record_decode(v->mv_data, v->mv_size, &rec);
        if (r < 0)
                return r;
        if (k->mv_size != AK_ID_LEN || memcmp(k->mv_data, rec->id, AK_ID_LEN) != 0) {
                log_error(
                        "keystore: the record stored under %.*s names the key %s; it was edited outside "
                        "accesskeyd and is ignored",
                        (int) MIN(k->mv_size, (size_t) AK_ID_LEN), (const char *) k->mv_data,
                        rec->id);
                key_record_free(rec);
                return -EBADMSG;
        }
        *ret = rec;
        return 0;
}

static int get_in(keystore *ks, MDB_txn *txn, const char *id, key_record **ret) {
        MDB_val k = id_val(id), v;
        int rc = mdb_get(txn, ks->keys, &k, &v);
        if (rc)
                return mdb_to_errno(rc);
        return decode_as(&k, &v, ret);
}

int keystore_get(keystore *ks, const char *id, key_record **ret) {
        return keystore_get_versioned(ks, id, ret, NULL);
}

int keystore_get_versioned(keystore *ks, const char *id, key_record **ret, keystore_version *ret_version) {
        MDB_txn *txn;
        if (!ak_id_is_valid(id))
                return -ENOENT;
        int r = read_txn(ks, &txn);
        if (r < 0)
                return r;
        MDB_val k = id_val(id), v;
        int rc = mdb_get(txn, ks->keys, &k, &v);
        if (rc)
                r = mdb_to_errno(rc);
        else {
                if (ret_version)
                        version_of(&v, ret_version);
                r = decode_as(&k, &v, ret);
        }
        read_end(ks, txn);
        return r;
}

typedef struct upgrade_args {
        char id[AK_ID_LEN + 1];
        uint8_t old[AK_VERIFIER_LEN], new[AK_VERIFIER_LEN];
} upgrade_args;

static int do_upgrade_verifier(keystore *ks, MDB_txn *txn, void *userdata) {
        upgrade_args *a = userdata;
        _cleanup_(key_record_freep) key_record *rec = NULL;
        int r = get_in(ks, txn, a->id, &rec);
        if (r < 0)
                return r;
        /* Rotated, or bound by another login, since the caller read it:
         * the newer verifier stays. */
        if (!ak_verifier_equal(rec->verifier, a->old))
                return -ESTALE;
        memcpy(rec->verifier, a->new, AK_VERIFIER_LEN);
        return do_put_record(ks, txn, rec, 0);
}

static upgrade_args *upgrade_args_new(const char *id, const uint8_t old[AK_VERIFIER_LEN],
                                      const uint8_t new[AK_VERIFIER_LEN]) {
        upgrade_args *a = calloc(1, sizeof(*a));
        if (a) {
                memcpy(a->id, id, AK_ID_LEN);
                memcpy(a->old, old, AK_VERIFIER_LEN);
                memcpy(a->new, new, AK_VERIFIER_LEN);
        }
        return a;
}

int keystore_upgrade_verifier(keystore *ks, const char *id, const uint8_t old[AK_VERIFIER_LEN],
                              const uint8_t new[AK_VERIFIER_LEN]) {
        if (!ak_id_is_valid(id))
                return -ENOENT;
        _cleanup_(freep) upgrade_args *a = upgrade_args_new(id, old, new);
        if (!a)
                return -ENOMEM;
        return write_txn(ks, do_upgrade_verifier, a);
}

int keystore_submit_upgrade_verifier(keystore *ks, const char *id, const uint8_t old[AK_VERIFIER_LEN],
                                     const uint8_t new[AK_VERIFIER_LEN], keystore_done_fn done, void *userdata) {
        if (!ak_id_is_valid(id))
                return -ENOENT;
        upgrade_args *a = upgrade_args_new(id, old, new);
        if (!a)
                return -ENOMEM;
        return submit(ks, do_upgrade_verifier, a, false, done, userdata);
}

static int do_delete(keystore *ks, MDB_txn *txn, void *userdata) {
        const char *id = userdata;
        _cleanup_(key_record_freep) key_record *rec = NULL;
        int r = get_in(ks, txn, id, &rec);
        if (r < 0)
                return r;
        MDB_val k = id_val(id);
        if ((r = mdb_to_errno(mdb_del(txn, ks->keys, &k, NULL))) < 0)
                return r;
        uint32_t uid = rec->owner_uid;
        MDB_val ok = { sizeof(uid), &uid }, ov = id_val(id);
        r = mdb_to_errno(mdb_del(txn, ks->owners, &ok, &ov));
        if (r < 0 && r != -ENOENT)
                return r;
        r = mdb_to_errno(mdb_del(txn, ks->usage, &k, NULL));
        return r == -ENOENT ? 0 : r;
}

int keystore_delete(keystore *ks, const char *id) {
        if (!ak_id_is_valid(id))
                return -ENOENT;
        return write_txn(ks, do_delete, (void *) id);
}

int keystore_submit_delete(keystore *ks, const char *id, keystore_done_fn done, void *userdata) {
        if (!ak_id_is_valid(id))
                return -ENOENT;
        char *copy = strdup(id);
        if (!copy)
                return -ENOMEM;
        return submit(ks, do_delete, copy, false, done, userdata);
}

void key_record_list_free(key_record **l, size_t n) {
        for (size_t i = 0; l && i < n; i++)
                key_record_free(l[i]);
        free(l);
}

static int list_push(key_record ***l, size_t *n, key_record *rec) {
        key_record **m = realloc(*l, (*n + 1) * sizeof(*m));
        if (!m) {
                key_record_free(rec);
                return -ENOMEM;
        }
        m[(*n)++] = rec;
        *l = m;
        return 0;
}

static int foreach_owned(keystore *ks, int (*fn)(key_record *r, void *userdata), void *userdata);

typedef struct list_acc {
        key_record **l;
        size_t n;
} list_acc;

static int push_record(key_record *rec, void *userdata) {
        list_acc *a = userdata;
        return list_push(&a->l, &a->n, rec);
}

/* Hands one owner's records, through the owners index, to fn, which takes
 * them over. */
static int owner_owned(keystore *ks, uint32_t owner_uid, int (*fn)(key_record *r, void *userdata), void *userdata) {
        MDB_txn *txn;
        MDB_cursor *c;
        MDB_val k = { sizeof(owner_uid), &owner_uid }, v;
        int r = read_txn(ks, &txn);
        if (r < 0)
                return r;
        int rc = mdb_cursor_open(txn, ks->owners, &c);
        if (rc) {
                read_end(ks, txn);
                return mdb_to_errno(rc);
        }
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET); rc == 0 && r == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
                char id[AK_ID_LEN + 1];
                key_record *rec;
                if (v.mv_size != AK_ID_LEN) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(id, v.mv_data, AK_ID_LEN);
                id[AK_ID_LEN] = 0;
                r = get_in(ks, txn, id, &rec);
                if (r == 0)
                        r = fn(rec, userdata);
        }
        mdb_cursor_close(c);
        read_end(ks, txn);
        if (r == 0 && rc != MDB_NOTFOUND)
                r = mdb_to_errno(rc);
        return r;
}

int keystore_list(keystore *ks, bool all, uint32_t owner_uid, key_record ***ret, size_t *ret_n) {
        list_acc a = {};
        int r = all ? foreach_owned(ks, push_record, &a) : owner_owned(ks, owner_uid, push_record, &a);
        if (r < 0) {
                key_record_list_free(a.l, a.n);
                return r;
        }
        *ret = a.l;
        *ret_n = a.n;
        return 0;
}

/* Hands every record, one at a time, to fn, which takes it over. */
static int foreach_owned(keystore *ks, int (*fn)(key_record *r, void *userdata), void *userdata) {
        MDB_txn *txn;
        MDB_cursor *c;
        MDB_val k, v;
        int r = read_txn(ks, &txn);
        if (r < 0)
                return r;
        int rc = mdb_cursor_open(txn, ks->keys, &c);
        if (rc) {
                read_end(ks, txn);
                return mdb_to_errno(rc);
        }
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
                key_record *rec;
                r = decode_as(&k, &v, &rec);
                if (r == 0)
                        r = fn(rec, userdata);
        }
        mdb_cursor_close(c);
        read_end(ks, txn);
        if (r == 0 && rc != MDB_NOTFOUND)
                r = mdb_to_errno(rc);
        return r;
}

typedef struct visit {
        int (*fn)(const key_record *r, void *userdata);
        void *userdata;
} visit;

static int visit_and_free(key_record *rec, void *userdata) {
        visit *x = userdata;
        int r = x->fn(rec, x->userdata);
        key_record_free(rec);
        return r;
}

int keystore_foreach(keystore *ks, int (*fn)(const key_record *r, void *userdata), void *userdata) {
        visit x = { fn, userdata };
        return foreach_owned(ks, visit_and_free, &x);
}

int keystore_foreach_owner(keystore *ks, uint32_t owner_uid, int (*fn)(const key_record *r, void *userdata),
                           void *userdata) {
        visit x = { fn, userdata };
        return owner_owned(ks, owner_uid, visit_and_free, &x);
}

int keystore_count_owner(keystore *ks, uint32_t owner_uid, size_t *ret) {
        MDB_txn *txn;
        int r = read_txn(ks, &txn);
        if (r < 0)
                return r;
        r = count_owner(ks, txn, owner_uid, ret);
        read_end(ks, txn);
        return r;
}

int keystore_get_usage(keystore *ks, const char *id, key_usage *ret) {
        MDB_txn *txn;
        MDB_val k = id_val(id), v;
        int r = read_txn(ks, &txn);
        if (r < 0)
                return r;
        int rc = mdb_get(txn, ks->usage, &k, &v);
        if (rc == MDB_NOTFOUND) {
                *ret = (key_usage){};
                r = 0;
        } else if (rc)
                r = mdb_to_errno(rc);
        else
                r = key_usage_decode(v.mv_data, v.mv_size, ret);
        read_end(ks, txn);
        return r;
}

typedef struct usage_args {
        const char *const *ids;
        const key_usage *usage;
        size_t n;
} usage_args;

static int do_put_usage(keystore *ks, MDB_txn *txn, void *userdata) {
        usage_args *a = userdata;
        for (size_t i = 0; i < a->n; i++) {
                MDB_val k = id_val(a->ids[i]), v;
                int rc = mdb_get(txn, ks->keys, &k, &v);
                if (rc == MDB_NOTFOUND)
                        continue; /* deleted since it was used */
                if (rc)
                        return mdb_to_errno(rc);
                _cleanup_(freep) uint8_t *buf = NULL;
                size_t len;
                int r = key_usage_encode(&a->usage[i], &buf, &len);
                if (r < 0)
                        return r;
                v = (MDB_val){ len, buf };
                if ((r = mdb_to_errno(mdb_put(txn, ks->usage, &k, &v, 0))) < 0)
                        return r;
        }
        return 0;
}

int keystore_put_usage(keystore *ks, const char *const *ids, const key_usage *usage, size_t n) {
        usage_args a = { ids, usage, n };
        if (n == 0)
                return 0;
        return write_txn(ks, do_put_usage, &a);
}

int keystore_submit_usage(keystore *ks, const char *const *ids, const key_usage *usage, size_t n,
                          keystore_done_fn done, void *userdata) {
        usage_args *a = malloc(sizeof(*a));
        if (!a)
                return -ENOMEM;
        *a = (usage_args){ ids, usage, n };
        return submit(ks, do_put_usage, a, false, done, userdata);
}
