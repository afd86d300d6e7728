/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Usage figures (last used, use count, failures since the last success) are
 * updated in memory on every authentication and written in one transaction
 * by usage_flush(), which the daemon calls every few seconds and at
 * shutdown: a login never waits for a disk write.  A crash loses at most the
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

/* Writes every pending figure; returns how many, or a negative errno (the
 * figures then stay pending for the next try). */
int usage_flush(usage_cache *u);
