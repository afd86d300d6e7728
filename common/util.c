/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "util.h"

#include <string.h>
#include <time.h>

void erase_mem(void *p, size_t n) {
        /* explicit_bzero, which the compiler may not drop as a dead store,
         * and no OPENSSL_cleanse: the module and the library link no
         * libcrypto. */
        if (p && n > 0)
                explicit_bzero(p, n);
}

char *erase_and_free(char *s) {
        if (s) {
                erase_mem(s, strlen(s));
                free(s);
        }
        return NULL;
}

char **strv_free(char **v) {
        if (v) {
                for (char **i = v; *i; i++)
                        free(*i);
                free(v);
        }
        return NULL;
}

size_t strv_length(char *const *v) {
        size_t n = 0;
        if (v)
                while (v[n])
                        n++;
        return n;
}

char **strv_copy(const char *const *v) {
        char **r = calloc(strv_length((char *const *) v) + 1, sizeof(char *));
        if (!r)
                return NULL;
        for (size_t i = 0; v && v[i]; i++) {
                r[i] = strdup(v[i]);
                if (!r[i])
                        return strv_free(r);
        }
        return r;
}

int strv_push(char ***v, const char *s) {
        size_t n = strv_length(*v);
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        char **r = realloc(*v, (n + 2) * sizeof(char *));
        if (!r) {
                free(c);
                return -ENOMEM;
        }
        r[n] = c;
        r[n + 1] = NULL;
        *v = r;
        return 0;
}

bool strv_contains(char *const *v, const char *s) {
        for (size_t i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

static uint64_t clock_usec(clockid_t id) {
        struct timespec ts;
        (void) clock_gettime(id, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t now_usec(void) {
        return clock_usec(CLOCK_REALTIME);
}

uint64_t mono_usec(void) {
        return clock_usec(CLOCK_MONOTONIC);
}
