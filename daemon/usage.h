/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Usage figures (last used, use count, failures since the last success) are
 * updated in memory on every authentication and written in one transaction
 * by the keystore's writer thread every few seconds (usage_flush_async())
 * and at shutdown (usage_flush()): a login never waits for a disk write.  A crash loses at most the
 * figures of the last flush interval (see accesskeyd(8)).
 */
#pragma once

#include <stdint.h>

#include "keystore.h"

typedef struct usage_cache usage_cache;

usage_cache *usage_cache_new(keystore *ks);
usage_cache *usage_cache_free(usage_cache *u);

int usage_note_success(usage_cache *u, const char *id, uint64_t now, const char *service, const char *rhost);
int usage_note_failure(usage_cache *u, const char *id);

/* The current figures: pending ones, else the stored ones. */
int usage_get(usage_cache *u, const char *id, key_usage *ret);

/* Forgets pending figures of a deleted key. */
void usage_forget(usage_cache *u, const char *id);

/* Writes every pending figure on this thread (at shutdown); returns how
 * many, or a negative errno (the figures then stay pending). */
int usage_flush(usage_cache *u);
/* Hands every pending figure to the keystore's writer thread; one batch at
 * a time (none is started while one is being written).  A batch that
 * fails goes back to pending. */
int usage_flush_async(usage_cache *u);
