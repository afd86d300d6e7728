/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Edits a keystore behind the daemon's back, straight through LMDB, as
 * anyone who could write data.mdb could: for the tests of what accesskeyd
 * trusts in its stored data.  Only on a store no daemon has open.
 */
#pragma once

#include <stddef.h>

#include "record.h"

/* A value of a named database (keys, meta, ...): a malloc'd copy in *ret.
 * Return 0 or a negative errno (-ENOENT when there is none). */
int store_edit_get(const char *dir, const char *db, const void *key, size_t klen, void **ret,
                   size_t *ret_len);
int store_edit_put(const char *dir, const char *db, const void *key, size_t klen, const void *v,
                   size_t vlen);
int store_edit_del(const char *dir, const char *db, const void *key, size_t klen);

/* Decodes the record of id (daemon/record.c), hands it to fn to change,
 * and stores it again under the same ID. */
int store_edit_record(const char *dir, const char *id, void (*fn)(key_record *r, void *userdata),
                      void *userdata);
