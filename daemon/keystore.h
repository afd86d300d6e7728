/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The keystore: an LMDB environment in the state directory with the named
 * databases keys (id → record), owners (uid → ids, MDB_DUPSORT), usage
 * (id → usage figures), retired (no longer used: emptied at open) and meta
 * (schema version, the pepper's check value), and the pepper file beside it.
 *
 * The daemon writes through a writer thread (keystore_start_writer()):
 * keystore_submit_*() queue a write and return at once; the thread commits
 * every write queued meanwhile in one transaction, each in a nested one of
 * its own, synced to disk once (group commit), and the callback runs on the
 * loop's thread from keystore_dispatch() when the write is durable or has
 * failed.  A login only reads, so it never waits behind a disk sync.  The
 * plain keystore_insert()/update()/delete() write on the calling thread,
 * for tests and tools.  Reads may run on any one thread beside the writer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "verifier.h"

#define KEYSTORE_SCHEMA_VERSION 1

typedef struct keystore keystore;

/* Opens (creating if needed) the store in dir, which is made 0700 when it
 * does not exist.  Loads or creates the pepper.  Clears stale readers.
 * Refuses, with -EPERM and a logged reason, a state directory, data.mdb,
 * lock.mdb or pepper that another user owns or may write (or read, for the
 * pepper), or a directory above the state directory that another user may
 * write; refuses with -ENOKEY a store that holds keys but has no pepper,
 * and with -EKEYREJECTED one whose keys were made with another pepper.
 * Logs how many keys still have a verifier of the unbound scheme. */
int keystore_open(const char *dir, keystore **ret);
/* The same with a chosen initial map size (tests of map growth). */
int keystore_open_sized(const char *dir, uint64_t map_size, keystore **ret);
keystore *keystore_close(keystore *ks);

/* The pepper, keyed for computing verifiers. */
ak_verifier_key *keystore_verifier_key(const keystore *ks);

/* Called with the write's result: 0, or a negative errno. */
typedef void (*keystore_done_fn)(int r, void *userdata);
typedef struct keystore_op keystore_op;

/* A digest of a record as stored, to tell whether it changed since it was
 * read. */
typedef struct keystore_version {
        uint8_t digest[32];
} keystore_version;

/* Starts the writer thread; from then on keystore_event_fd() becomes
 * readable whenever written changes wait for keystore_dispatch(), which
 * runs their callbacks on the calling thread. */
int keystore_start_writer(keystore *ks);
int keystore_event_fd(const keystore *ks);
void keystore_dispatch(keystore *ks);
/* Writes what is queued, stops the thread and runs the last callbacks.
 * Without a writer, nothing. */
void keystore_stop_writer(keystore *ks);

/* Queued writes.  The records and arrays given must stay as they are
 * until done has been called (done may be called before the function
 * returns when no writer runs).  -ENOMEM when nothing was queued (done is
 * then not called). */
int keystore_submit_insert(keystore *ks, const key_record *r, uint32_t max_keys, keystore_done_fn done,
                           void *userdata);
/* Replaces the record only if it is still as read (expected, from
 * keystore_get_versioned()); else -ESTALE and nothing is written.  first:
 * ahead of the writes queued (a change made again after -ESTALE). */
int keystore_submit_update(keystore *ks, const key_record *r, const keystore_version *expected, bool first,
                           keystore_done_fn done, void *userdata);
int keystore_submit_delete(keystore *ks, const char *id, keystore_done_fn done, void *userdata);
int keystore_submit_usage(keystore *ks, const char *const *ids, const key_usage *usage, size_t n,
                          keystore_done_fn done, void *userdata);

/* Inserts a new record.  When max_keys > 0 and the owner already has that
 * many keys, nothing is written and -EDQUOT is returned; the count and the
 * insert are one write transaction, so concurrent creates cannot both pass
 * the limit.  -EEXIST if the ID is taken. */
int keystore_insert(keystore *ks, const key_record *r, uint32_t max_keys);

/* Replaces an existing record (same ID and owner).  -ENOENT if gone. */
int keystore_update(keystore *ks, const key_record *r);

/* -ENOENT when there is no such key; -EBADMSG for a record that is not
 * well-formed or is stored under another key's ID. */
int keystore_get(keystore *ks, const char *id, key_record **ret);
/* The same, with the record's version (ret_version may be NULL). */
int keystore_get_versioned(keystore *ks, const char *id, key_record **ret, keystore_version *ret_version);

/* Replaces the key's verifier with new, only while it still equals old
 * (the unbound verifier a login just proved): -ESTALE when it changed since
 * (a rotation), -ENOENT when the key is gone. */
int keystore_upgrade_verifier(keystore *ks, const char *id, const uint8_t old[AK_VERIFIER_LEN],
                              const uint8_t new[AK_VERIFIER_LEN]);
/* The same through the writer thread (see keystore_submit_update()). */
int keystore_submit_upgrade_verifier(keystore *ks, const char *id, const uint8_t old[AK_VERIFIER_LEN],
                                     const uint8_t new[AK_VERIFIER_LEN], keystore_done_fn done, void *userdata);

/* Removes the key, its owner index entry and its usage figures. */
int keystore_delete(keystore *ks, const char *id);

/* The records of one owner (cost in proportion to that owner's keys), or of
 * every owner with all. */
int keystore_list(keystore *ks, bool all, uint32_t owner_uid, key_record ***ret, size_t *ret_n);
void key_record_list_free(key_record **l, size_t n);

int keystore_count_owner(keystore *ks, uint32_t owner_uid, size_t *ret);

/* Calls fn for every record, one at a time, in one read transaction
 * (memory stays flat whatever the store's size).  fn returns < 0 to stop
 * with that error.  The record is freed after fn returns. */
int keystore_foreach(keystore *ks, int (*fn)(const key_record *r, void *userdata), void *userdata);
/* The same over one owner's records (cost in proportion to them). */
int keystore_foreach_owner(keystore *ks, uint32_t owner_uid, int (*fn)(const key_record *r, void *userdata),
                           void *userdata);

/* Usage figures; a key without any gives zeroes. */
int keystore_get_usage(keystore *ks, const char *id, key_usage *ret);
/* Writes many usage figures in one transaction; ids that no longer exist
 * are skipped. */
int keystore_put_usage(keystore *ks, const char *const *ids, const key_usage *usage, size_t n);

/* Number of write transactions committed since open (for benchmarks). */
uint64_t keystore_commits(const keystore *ks);
