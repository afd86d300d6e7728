/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A string-keyed hash map (open addressing, linear probing).  Keys are
 * copied; values are owned by the caller. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct hashmap hashmap;

hashmap *hashmap_new(void);
/* Frees the map; calls free_value on every value when it is not NULL. */
hashmap *hashmap_free(hashmap *h, void (*free_value)(void *));
/* Empties the map in place (it cannot fail), calling free_value on every
 * value when it is not NULL; free_value must not use the map. */
void hashmap_clear(hashmap *h, void (*free_value)(void *));

void *hashmap_get(const hashmap *h, const char *key);
/* Inserts or replaces; returns 0 or -ENOMEM.  *ret_old (optional) receives
 * the value replaced, or NULL. */
int hashmap_put(hashmap *h, const char *key, void *value, void **ret_old);
/* Removes key; returns its value or NULL. */
void *hashmap_remove(hashmap *h, const char *key);
size_t hashmap_size(const hashmap *h);

/* Iteration: *state starts at 0; returns false at the end.  The map must not
 * change during iteration. */
bool hashmap_iterate(const hashmap *h, size_t *state, const char **ret_key, void **ret_value);
