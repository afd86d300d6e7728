/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum {
        TAG_ID = 1,
        TAG_OWNER_UID,
        TAG_OWNER_NAME,
        TAG_NAME,
        TAG_DESCRIPTION,
        TAG_CREATED_AT,
        TAG_CREATED_BY,
        TAG_UPDATED_AT,
        TAG_UPDATED_BY,
        TAG_EXPIRES_AT,
        TAG_STATE,
        TAG_ROTATED_AT,
        TAG_VERIFIER,
        TAG_PREV_VERIFIER,
        TAG_PREV_VERIFIER_UNTIL,
        TAG_SERVICE,
        TAG_NETWORK,
        TAG_SCOPE,
        TAG_EXPIRY_WARNED_FOR,
        TAG_LOCKED,
};

enum {
        USAGE_LAST_USED_AT = 1,
        USAGE_LAST_USED_SERVICE,
        USAGE_LAST_USED_RHOST,
        USAGE_USE_COUNT,
        USAGE_FAILURES,
};

/* Values longer than this are refused by the decoder: nothing we store is
 * near it, and it bounds what a corrupt record can make us allocate. */
#define TLV_VALUE_MAX 65536

typedef struct writer {
        uint8_t *buf;
        size_t len, cap;
        bool oom;
} writer;

/* A new buffer holding the version byte. */
static void writer_start(writer *w) {
        *w = (writer){ .buf = malloc(256), .cap = 256 };
        if (!w->buf)
                w->oom = true;
        else
                w->buf[w->len++] = RECORD_VERSION;
}

static void put(writer *w, uint8_t tag, const void *v, size_t n) {
        if (w->oom)
                return;
        if (w->len + 5 + n > w->cap) {
                size_t cap = (w->cap + 5 + n) * 2;
                uint8_t *b = realloc(w->buf, cap);
                if (!b) {
                        w->oom = true;
                        return;
                }
                w->buf = b;
                w->cap = cap;
        }
        w->buf[w->len++] = tag;
        for (int i = 0; i < 4; i++)
                w->buf[w->len++] = (uint8_t) (n >> (8 * i));
        if (n)
                memcpy(w->buf + w->len, v, n);
        w->len += n;
}

static void put_u32(writer *w, uint8_t tag, uint32_t v) {
        uint8_t b[4];
        for (int i = 0; i < 4; i++)
                b[i] = (uint8_t) (v >> (8 * i));
        put(w, tag, b, 4);
}

static void put_u64(writer *w, uint8_t tag, uint64_t v) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
        put(w, tag, b, 8);
}

static void put_str(writer *w, uint8_t tag, const char *s) {
        if (s)
                put(w, tag, s, strlen(s));
}

static void put_strv(writer *w, uint8_t tag, char *const *v) {
        for (size_t i = 0; v && v[i]; i++)
                put_str(w, tag, v[i]);
}

static int finish(writer *w, uint8_t **ret, size_t *ret_len) {
        if (w->oom) {
                free(w->buf);
                return -ENOMEM;
        }
        *ret = w->buf;
        *ret_len = w->len;
        return 0;
}

int key_record_encode(const key_record *r, uint8_t **ret, size_t *ret_len) {
        writer w;

        writer_start(&w);
        put_str(&w, TAG_ID, r->id);
        put_u32(&w, TAG_OWNER_UID, r->owner_uid);
        put_str(&w, TAG_OWNER_NAME, r->owner_name);
        put_str(&w, TAG_NAME, r->name);
        put_str(&w, TAG_DESCRIPTION, r->description);
        put_u64(&w, TAG_CREATED_AT, r->created_at);
        put_u32(&w, TAG_CREATED_BY, r->created_by);
        put_u64(&w, TAG_UPDATED_AT, r->updated_at);
        put_u32(&w, TAG_UPDATED_BY, r->updated_by);
        put_u64(&w, TAG_EXPIRES_AT, r->expires_at);
        put_u32(&w, TAG_STATE, r->state);
        put_u64(&w, TAG_ROTATED_AT, r->rotated_at);
        put(&w, TAG_VERIFIER, r->verifier, AK_VERIFIER_LEN);
        if (r->prev_verifier_until) {
                put(&w, TAG_PREV_VERIFIER, r->prev_verifier, AK_VERIFIER_LEN);
                put_u64(&w, TAG_PREV_VERIFIER_UNTIL, r->prev_verifier_until);
        }
        put_strv(&w, TAG_SERVICE, r->services);
        put_strv(&w, TAG_NETWORK, r->networks);
        put_strv(&w, TAG_SCOPE, r->scopes);
        if (r->expiry_warned_for)
                put_u64(&w, TAG_EXPIRY_WARNED_FOR, r->expiry_warned_for);
        if (r->locked)
                put_u32(&w, TAG_LOCKED, 1);
        return finish(&w, ret, ret_len);
}

typedef struct reader {
        const uint8_t *p, *end;
} reader;

/* Next field; returns 1 with tag/value, 0 at the end, -EBADMSG if cut. */
static int next(reader *rd, uint8_t *ret_tag, const uint8_t **ret_v, size_t *ret_n) {
        if (rd->p == rd->end)
                return 0;
        if (rd->end - rd->p < 5)
                return -EBADMSG;
        uint32_t n = 0;
        for (int i = 0; i < 4; i++)
                n |= (uint32_t) rd->p[1 + i] << (8 * i);
        if (n > TLV_VALUE_MAX || (size_t) (rd->end - rd->p - 5) < n)
                return -EBADMSG;
        *ret_tag = rd->p[0];
        *ret_v = rd->p + 5;
        *ret_n = n;
        rd->p += 5 + n;
        return 1;
}

static int get_u32(const uint8_t *v, size_t n, uint32_t *ret) {
        if (n != 4)
                return -EBADMSG;
        *ret = 0;
        for (int i = 0; i < 4; i++)
                *ret |= (uint32_t) v[i] << (8 * i);
        return 0;
}

static int get_u64(const uint8_t *v, size_t n, uint64_t *ret) {
        if (n != 8)
                return -EBADMSG;
        *ret = 0;
        for (int i = 0; i < 8; i++)
                *ret |= (uint64_t) v[i] << (8 * i);
        return 0;
}

static int get_str(const uint8_t *v, size_t n, char **ret) {
        if (memchr(v, 0, n))
                return -EBADMSG;
        char *s = strndup((const char *) v, n);
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

static int get_strv_elem(const uint8_t *v, size_t n, char ***l) {
        _cleanup_(freep) char *s = NULL;
        int r = get_str(v, n, &s);
        if (r < 0)
                return r;
        if (strv_length(*l) >= 256)
                return -EBADMSG;
        return strv_push(l, s);
}

key_record *key_record_new(void) {
        return calloc(1, sizeof(key_record));
}

key_record *key_record_free(key_record *r) {
        if (r) {
                free(r->owner_name);
                free(r->name);
                free(r->description);
                strv_free(r->services);
                strv_free(r->networks);
                strv_free(r->scopes);
                erase_mem(r, sizeof(*r));
                free(r);
        }
        return NULL;
}

int key_record_decode(const uint8_t *data, size_t len, key_record **ret) {
        _cleanup_(key_record_freep) key_record *r = key_record_new();
        _cleanup_(freep) char *id = NULL;
        reader rd = { data, data + len };
        bool have_verifier = false, have_owner = false;
        uint8_t tag;
        const uint8_t *v;
        size_t n;
        int k;

        if (!r)
                return -ENOMEM;
        if (len < 1)
                return -EBADMSG;
        if (data[0] != RECORD_VERSION)
                return -EPROTONOSUPPORT;
        rd.p++;

        while ((k = next(&rd, &tag, &v, &n)) > 0) {
                switch (tag) {
                case TAG_ID:
                        k = get_str(v, n, &id);
                        break;
                case TAG_OWNER_UID:
                        k = get_u32(v, n, &r->owner_uid);
                        have_owner = true;
                        break;
                case TAG_OWNER_NAME:
                        k = get_str(v, n, &r->owner_name);
                        break;
                case TAG_NAME:
                        k = get_str(v, n, &r->name);
                        break;
                case TAG_DESCRIPTION:
                        k = get_str(v, n, &r->description);
                        break;
                case TAG_CREATED_AT:
                        k = get_u64(v, n, &r->created_at);
                        break;
                case TAG_CREATED_BY:
                        k = get_u32(v, n, &r->created_by);
                        break;
                case TAG_UPDATED_AT:
                        k = get_u64(v, n, &r->updated_at);
                        break;
                case TAG_UPDATED_BY:
                        k = get_u32(v, n, &r->updated_by);
                        break;
                case TAG_EXPIRES_AT:
                        k = get_u64(v, n, &r->expires_at);
                        break;
                case TAG_STATE:
                        k = get_u32(v, n, &r->state);
                        if (k == 0 && r->state > KEY_STATE_INACTIVE)
                                k = -EBADMSG;
                        break;
                case TAG_ROTATED_AT:
                        k = get_u64(v, n, &r->rotated_at);
                        break;
                case TAG_VERIFIER:
                        if (n != AK_VERIFIER_LEN)
                                return -EBADMSG;
                        memcpy(r->verifier, v, n);
                        have_verifier = true;
                        break;
                case TAG_PREV_VERIFIER:
                        if (n != AK_VERIFIER_LEN)
                                return -EBADMSG;
                        memcpy(r->prev_verifier, v, n);
                        break;
                case TAG_PREV_VERIFIER_UNTIL:
                        k = get_u64(v, n, &r->prev_verifier_until);
                        break;
                case TAG_SERVICE:
                        k = get_strv_elem(v, n, &r->services);
                        break;
                case TAG_NETWORK:
                        k = get_strv_elem(v, n, &r->networks);
                        break;
                case TAG_SCOPE:
                        k = get_strv_elem(v, n, &r->scopes);
                        break;
                case TAG_EXPIRY_WARNED_FOR:
                        k = get_u64(v, n, &r->expiry_warned_for);
                        break;
                case TAG_LOCKED: {
                        uint32_t b = 0;
                        k = get_u32(v, n, &b);
                        r->locked = b != 0;
                        break;
                }
                default:
                        break; /* a field of a later release */
                }
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        /* Without its owner a record would read as root's (UID 0); the
         * encoder always writes it.  UID 4294967295 is nobody's ((uid_t) -1). */
        if (!id || !ak_id_is_valid(id) || !have_verifier || !have_owner ||
            r->owner_uid == UINT32_MAX)
                return -EBADMSG;
        memcpy(r->id, id, AK_ID_LEN + 1);

        char ***lists[] = { &r->services, &r->networks, &r->scopes };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                if (!*lists[i] && !(*lists[i] = calloc(1, sizeof(char *))))
                        return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

int key_record_peek_verifier_scheme(const uint8_t *data, size_t len, uint8_t *ret) {
        reader rd = { data, data + len };
        uint8_t tag;
        const uint8_t *v;
        size_t n;
        bool found = false;
        int k;

        if (len < 1 || data[0] != RECORD_VERSION)
                return -EBADMSG;
        rd.p++;
        /* The last one counts, as in key_record_decode(). */
        while ((k = next(&rd, &tag, &v, &n)) > 0)
                if (tag == TAG_VERIFIER) {
                        if (n != AK_VERIFIER_LEN)
                                return -EBADMSG;
                        *ret = v[0];
                        found = true;
                }
        return k == 0 && found ? 0 : -EBADMSG;
}

void key_usage_clear(key_usage *u) {
        free(u->last_used_service);
        free(u->last_used_rhost);
        *u = (key_usage){};
}

int key_usage_encode(const key_usage *u, uint8_t **ret, size_t *ret_len) {
        writer w;

        writer_start(&w);
        put_u64(&w, USAGE_LAST_USED_AT, u->last_used_at);
        put_str(&w, USAGE_LAST_USED_SERVICE, u->last_used_service);
        put_str(&w, USAGE_LAST_USED_RHOST, u->last_used_rhost);
        put_u64(&w, USAGE_USE_COUNT, u->use_count);
        put_u32(&w, USAGE_FAILURES, u->failures);
        return finish(&w, ret, ret_len);
}

int key_usage_decode(const uint8_t *data, size_t len, key_usage *ret) {
        key_usage u = {};
        reader rd = { data, data + len };
        uint8_t tag;
        const uint8_t *v;
        size_t n;
        int k;

        if (len < 1)
                return -EBADMSG;
        if (data[0] != RECORD_VERSION)
                return -EPROTONOSUPPORT;
        rd.p++;
        while ((k = next(&rd, &tag, &v, &n)) > 0) {
                switch (tag) {
                case USAGE_LAST_USED_AT:
                        k = get_u64(v, n, &u.last_used_at);
                        break;
                case USAGE_LAST_USED_SERVICE:
                        k = get_str(v, n, &u.last_used_service);
                        break;
                case USAGE_LAST_USED_RHOST:
                        k = get_str(v, n, &u.last_used_rhost);
                        break;
                case USAGE_USE_COUNT:
                        k = get_u64(v, n, &u.use_count);
                        break;
                case USAGE_FAILURES:
                        k = get_u32(v, n, &u.failures);
                        break;
                default:
                        break;
                }
                if (k < 0)
                        break;
        }
        if (k < 0) {
                key_usage_clear(&u);
                return k;
        }
        *ret = u;
        return 0;
}
