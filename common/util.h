/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every part: cleanup attributes, secure wiping,
 * string vectors, time. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Wipes memory in a way the compiler may not elide. */
void erase_mem(void *p, size_t n);
/* Wipes a NUL-terminated string, then frees it.  Returns NULL. */
char *erase_and_free(char *s);

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void erase_and_freep(char **p) {
        *p = erase_and_free(*p);
}
static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

/* Returns p with ownership moved out of the variable. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}
static inline const char *strempty(const char *s) {
        return s ? s : "";
}
static inline bool isempty(const char *s) {
        return !s || !*s;
}

/* NULL-terminated string vectors. */
char **strv_free(char **v);
static inline void strv_freep(char ***v) {
        *v = strv_free(*v);
}
size_t strv_length(char *const *v);
char **strv_copy(const char *const *v);
/* Appends a copy of s; returns 0 or -ENOMEM. */
int strv_push(char ***v, const char *s);
bool strv_contains(char *const *v, const char *s);

/* Microseconds since the epoch, CLOCK_REALTIME. */
uint64_t now_usec(void);
/* Microseconds of CLOCK_MONOTONIC. */
uint64_t mono_usec(void);

#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
