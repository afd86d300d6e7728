/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "wire.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dbus/dbus.h>

#include "util.h"

#if __BYTE_ORDER == __LITTLE_ENDIAN
#define WIRE_ENDIAN 'l'
#else
#define WIRE_ENDIAN 'B'
#endif

/* Header field codes and their types (the specification's table). */
enum {
        FIELD_PATH = 1,
        FIELD_INTERFACE,
        FIELD_MEMBER,
        FIELD_ERROR_NAME,
        FIELD_REPLY_SERIAL,
        FIELD_DESTINATION,
        FIELD_SENDER,
        FIELD_SIGNATURE,
        FIELD_UNIX_FDS,
        FIELD_MAX = FIELD_UNIX_FDS,
};
static const char field_type[FIELD_MAX + 1] = { 0, 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u' };

/* An array may hold at most 64 MiB (the specification's limit). */
#define WIRE_ARRAY_MAX (64u * 1024 * 1024)

/* ------------------------------------------------------------------ writing */

void wire_writer_done(wire_writer *w) {
        if (w->buf)
                erase_mem(w->buf, w->cap);
        free(w->buf);
        *w = (wire_writer){};
}

static uint8_t *grow(wire_writer *w, size_t n) {
        if (w->error)
                return NULL;
        if (w->cap - w->len < n) {
                if (n > WIRE_MESSAGE_MAX - w->len) {
                        w->error = -E2BIG;
                        return NULL;
                }
                size_t cap = MAX(w->cap * 2, MAX(w->len + n, (size_t) 256));
                uint8_t *b = malloc(cap);
                if (!b) {
                        w->error = -ENOMEM;
                        return NULL;
                }
                if (w->buf) {
                        memcpy(b, w->buf, w->len);
                        erase_mem(w->buf, w->cap);
                        free(w->buf);
                }
                w->buf = b;
                w->cap = cap;
        }
        uint8_t *p = w->buf + w->len;
        w->len += n;
        return p;
}

static void align(wire_writer *w, size_t a) {
        size_t pad = (a - w->len % a) % a;
        uint8_t *p = pad ? grow(w, pad) : NULL;
        if (p)
                memset(p, 0, pad);
}

void wire_put_u8(wire_writer *w, uint8_t v) {
        uint8_t *p = grow(w, 1);
        if (p)
                *p = v;
}

void wire_put_u32(wire_writer *w, uint32_t v) {
        align(w, 4);
        uint8_t *p = grow(w, 4);
        if (p)
                memcpy(p, &v, 4);
}

void wire_put_u64(wire_writer *w, uint64_t v) {
        align(w, 8);
        uint8_t *p = grow(w, 8);
        if (p)
                memcpy(p, &v, 8);
}

void wire_put_bool(wire_writer *w, bool v) {
        wire_put_u32(w, v ? 1 : 0);
}

void wire_put_string(wire_writer *w, const char *s) {
        size_t n = strlen(s);
        /* A receiver drops a message with invalid UTF-8 whole. */
        if (!w->error && (n > UINT32_MAX || !dbus_validate_utf8(s, NULL)))
                w->error = -EINVAL;
        wire_put_u32(w, (uint32_t) n);
        uint8_t *p = grow(w, n + 1);
        if (p)
                memcpy(p, s, n + 1);
}

void wire_put_signature(wire_writer *w, const char *s) {
        size_t n = strlen(s);
        if (!w->error && n > 255)
                w->error = -EINVAL;
        wire_put_u8(w, (uint8_t) n);
        uint8_t *p = grow(w, n + 1);
        if (p)
                memcpy(p, s, n + 1);
}

void wire_open_array(wire_writer *w, size_t element_alignment, wire_array *ret) {
        wire_put_u32(w, 0);
        ret->length_at = w->len - 4;
        /* The padding before the first element is not counted. */
        align(w, element_alignment);
        ret->start = w->len;
}

void wire_close_array(wire_writer *w, const wire_array *a) {
        if (w->error)
                return;
        if (w->len - a->start > WIRE_ARRAY_MAX) {
                w->error = -E2BIG;
                return;
        }
        uint32_t n = (uint32_t) (w->len - a->start);
        memcpy(w->buf + a->length_at, &n, 4);
}

static void put_field_start(wire_writer *w, const char *key, const char *signature) {
        align(w, 8);
        wire_put_string(w, key);
        wire_put_signature(w, signature);
}

void wire_put_dict(wire_writer *w, const dict_field *fields, size_t n_fields) {
        wire_array dict;

        wire_open_array(w, 8, &dict);
        for (size_t i = 0; i < n_fields; i++) {
                const dict_field *f = &fields[i];
                switch (f->type) {
                case DICT_STRING: {
                        const char *s = *(char *const *) f->dest;
                        put_field_start(w, f->key, "s");
                        wire_put_string(w, strempty(s));
                        break;
                }
                case DICT_UINT32:
                        put_field_start(w, f->key, "u");
                        wire_put_u32(w, *(const uint32_t *) f->dest);
                        break;
                case DICT_UINT64:
                        put_field_start(w, f->key, "t");
                        wire_put_u64(w, *(const uint64_t *) f->dest);
                        break;
                case DICT_BOOL:
                        put_field_start(w, f->key, "b");
                        wire_put_bool(w, *(const bool *) f->dest);
                        break;
                case DICT_STRV: {
                        char *const *v = *(char **const *) f->dest;
                        wire_array a;
                        put_field_start(w, f->key, "as");
                        wire_open_array(w, 4, &a);
                        for (size_t k = 0; v && v[k]; k++)
                                wire_put_string(w, v[k]);
                        wire_close_array(w, &a);
                        break;
                }
                case DICT_USER: /* read only */
                        if (!w->error)
                                w->error = -EINVAL;
                        break;
                }
        }
        wire_close_array(w, &dict);
}

static void put_header_field(wire_writer *w, uint8_t code, const char *value) {
        char sig[2] = { field_type[code], 0 };
        if (!value)
                return;
        align(w, 8);
        wire_put_u8(w, code);
        wire_put_signature(w, sig);
        if (code == FIELD_SIGNATURE)
                wire_put_signature(w, value);
        else
                wire_put_string(w, value);
}

int wire_message(const wire_header *h, const wire_writer *body, uint8_t **ret, size_t *ret_len) {
        _cleanup_(wire_writer_done) wire_writer w = {};
        size_t body_len = body ? body->len : 0;
        wire_array fields;

        if (body && body->error)
                return body->error;
        if (body_len > UINT32_MAX || h->serial == 0)
                return -EINVAL;
        if ((h->path && !dbus_validate_path(h->path, NULL)) ||
            (h->interface && !dbus_validate_interface(h->interface, NULL)) ||
            (h->member && !dbus_validate_member(h->member, NULL)) ||
            (h->error_name && !dbus_validate_error_name(h->error_name, NULL)) ||
            (h->destination && !dbus_validate_bus_name(h->destination, NULL)) ||
            (h->signature && !dbus_signature_validate(h->signature, NULL)))
                return -EINVAL;
        wire_put_u8(&w, WIRE_ENDIAN);
        wire_put_u8(&w, h->type);
        wire_put_u8(&w, h->flags);
        wire_put_u8(&w, 1); /* protocol version */
        wire_put_u32(&w, (uint32_t) body_len);
        wire_put_u32(&w, h->serial);
        wire_open_array(&w, 8, &fields);
        put_header_field(&w, FIELD_PATH, h->path);
        put_header_field(&w, FIELD_INTERFACE, h->interface);
        put_header_field(&w, FIELD_MEMBER, h->member);
        put_header_field(&w, FIELD_ERROR_NAME, h->error_name);
        if (h->reply_serial) {
                align(&w, 8);
                wire_put_u8(&w, FIELD_REPLY_SERIAL);
                wire_put_signature(&w, "u");
                wire_put_u32(&w, h->reply_serial);
        }
        put_header_field(&w, FIELD_DESTINATION, h->destination);
        put_header_field(&w, FIELD_SENDER, h->sender);
        if (body_len || h->signature)
                put_header_field(&w, FIELD_SIGNATURE, strempty(h->signature));
        wire_close_array(&w, &fields);
        align(&w, 8);
        uint8_t *p = body_len ? grow(&w, body_len) : NULL;
        if (p)
                memcpy(p, body->buf, body_len);
        if (w.error)
                return w.error;
        *ret = TAKE_PTR(w.buf);
        *ret_len = w.len;
        w = (wire_writer){};
        return 0;
}

/* ------------------------------------------------------------------ reading */

static int ralign(wire_reader *r, size_t a) {
        size_t pad = (a - r->pos % a) % a;
        if (pad > r->len - r->pos)
                return -EBADMSG;
        /* Padding is zero, or libdbus would refuse the message. */
        for (size_t i = 0; i < pad; i++)
                if (r->buf[r->pos + i])
                        return -EBADMSG;
        r->pos += pad;
        return 0;
}

static int rbytes(wire_reader *r, size_t n, const uint8_t **ret) {
        if (n > r->len - r->pos)
                return -EBADMSG;
        *ret = r->buf + r->pos;
        r->pos += n;
        return 0;
}

static int get_u8(wire_reader *r, uint8_t *ret) {
        const uint8_t *p;
        int k = rbytes(r, 1, &p);
        if (k == 0)
                *ret = *p;
        return k;
}

int wire_get_u32(wire_reader *r, uint32_t *ret) {
        const uint8_t *p;
        int k = ralign(r, 4);
        if (k == 0 && (k = rbytes(r, 4, &p)) == 0)
                memcpy(ret, p, 4);
        return k;
}

int wire_get_u64(wire_reader *r, uint64_t *ret) {
        const uint8_t *p;
        int k = ralign(r, 8);
        if (k == 0 && (k = rbytes(r, 8, &p)) == 0)
                memcpy(ret, p, 8);
        return k;
}

int wire_get_bool(wire_reader *r, bool *ret) {
        uint32_t v;
        int k = wire_get_u32(r, &v);
        if (k == 0 && v > 1)
                return -EBADMSG;
        if (k == 0)
                *ret = v;
        return k;
}

/* n bytes and a NUL, none inside. */
static int get_chars(wire_reader *r, size_t n, const char **ret) {
        const uint8_t *p;
        if (n >= r->len - r->pos || rbytes(r, n + 1, &p) < 0 || p[n] != 0 || memchr(p, 0, n))
                return -EBADMSG;
        *ret = (const char *) p;
        return 0;
}

int wire_get_string(wire_reader *r, const char **ret) {
        uint32_t n;
        const char *s;
        int k = wire_get_u32(r, &n);
        if (k < 0 || (k = get_chars(r, n, &s)) < 0)
                return k;
        if (!dbus_validate_utf8(s, NULL))
                return -EBADMSG;
        *ret = s;
        return 0;
}

int wire_get_signature(wire_reader *r, const char **ret) {
        uint8_t n;
        const char *s;
        int k = get_u8(r, &n);
        if (k < 0 || (k = get_chars(r, n, &s)) < 0)
                return k;
        if (!dbus_signature_validate(s, NULL))
                return -EBADMSG;
        *ret = s;
        return 0;
}

int wire_enter_array(wire_reader *r, size_t element_alignment, size_t *ret_end) {
        uint32_t n;
        int k = wire_get_u32(r, &n);
        if (k < 0 || (k = ralign(r, element_alignment)) < 0)
                return k;
        if (n > WIRE_ARRAY_MAX || n > r->len - r->pos)
                return -EBADMSG;
        *ret_end = r->pos + n;
        return 0;
}

bool wire_at_end(const wire_reader *r) {
        return r->pos == r->len;
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool valid_field(uint8_t code, const char *s) {
        switch (code) {
        case FIELD_PATH:
                /* libdbus refuses messages that claim its local path and
                 * interface, which only it may use: anything that starts
                 * with them (it compares that many bytes). */
                return dbus_validate_path(s, NULL) && !startswith(s, DBUS_PATH_LOCAL);
        case FIELD_INTERFACE:
                return dbus_validate_interface(s, NULL) && !startswith(s, DBUS_INTERFACE_LOCAL);
        case FIELD_MEMBER:
                return dbus_validate_member(s, NULL);
        case FIELD_ERROR_NAME:
                return dbus_validate_error_name(s, NULL);
        case FIELD_DESTINATION:
        case FIELD_SENDER:
                return dbus_validate_bus_name(s, NULL);
        }
        return true;
}

int wire_parse(const uint8_t *buf, size_t len, wire_header *h, wire_reader *ret_body) {
        uint32_t body_len, fields_len, unix_fds = 0;
        unsigned seen = 0;

        *h = (wire_header){};
        if (len < WIRE_HEADER_MIN || len > WIRE_MESSAGE_MAX || buf[0] != WIRE_ENDIAN ||
            buf[1] < WIRE_METHOD_CALL || buf[1] > WIRE_SIGNAL || buf[3] != 1)
                return -EBADMSG;
        h->type = buf[1];
        h->flags = buf[2];
        memcpy(&body_len, buf + 4, 4);
        memcpy(&h->serial, buf + 8, 4);
        memcpy(&fields_len, buf + 12, 4);
        if (h->serial == 0 || fields_len > WIRE_ARRAY_MAX)
                return -EBADMSG;
        size_t fields_end = WIRE_HEADER_MIN + (size_t) fields_len;
        size_t body_start = (fields_end + 7) & ~(size_t) 7;
        if (body_start > len || len - body_start != body_len)
                return -EBADMSG;
        for (size_t i = fields_end; i < body_start; i++)
                if (buf[i])
                        return -EBADMSG;

        wire_reader r = { .buf = buf, .len = fields_end, .pos = WIRE_HEADER_MIN };
        while (r.pos < r.len) {
                uint8_t code;
                const char *sig, *s = NULL;
                uint32_t u = 0;
                int k;

                if ((k = ralign(&r, 8)) < 0 || (k = get_u8(&r, &code)) < 0)
                        return k;
                /* Unknown codes are valid D-Bus, but not ours to read. */
                if (code == 0 || code > FIELD_MAX || (seen & (1u << code)))
                        return -EBADMSG;
                seen |= 1u << code;
                if ((k = wire_get_signature(&r, &sig)) < 0)
                        return k;
                if (sig[0] != field_type[code] || sig[1])
                        return -EBADMSG;
                if (sig[0] == 'u')
                        k = wire_get_u32(&r, &u);
                else if (sig[0] == 'g')
                        k = wire_get_signature(&r, &s);
                else
                        k = wire_get_string(&r, &s);
                if (k < 0 || (s && !valid_field(code, s)))
                        return -EBADMSG;
                switch (code) {
                case FIELD_PATH:
                        h->path = s;
                        break;
                case FIELD_INTERFACE:
                        h->interface = s;
                        break;
                case FIELD_MEMBER:
                        h->member = s;
                        break;
                case FIELD_ERROR_NAME:
                        h->error_name = s;
                        break;
                case FIELD_REPLY_SERIAL:
                        h->reply_serial = u;
                        break;
                case FIELD_DESTINATION:
                        h->destination = s;
                        break;
                case FIELD_SENDER:
                        h->sender = s;
                        break;
                case FIELD_SIGNATURE:
                        h->signature = s;
                        break;
                case FIELD_UNIX_FDS:
                        unix_fds = u;
                        break;
                }
        }
        /* The fields each type must have; no descriptors (never sent here). */
        if (unix_fds || ((seen & (1u << FIELD_REPLY_SERIAL)) && h->reply_serial == 0))
                return -EBADMSG;
        switch (h->type) {
        case WIRE_METHOD_CALL:
                if (!h->path || !h->member)
                        return -EBADMSG;
                break;
        case WIRE_METHOD_RETURN:
                if (!h->reply_serial)
                        return -EBADMSG;
                break;
        case WIRE_ERROR:
                if (!h->reply_serial || !h->error_name)
                        return -EBADMSG;
                break;
        case WIRE_SIGNAL:
                if (!h->path || !h->interface || !h->member)
                        return -EBADMSG;
                break;
        }
        if (body_len && !h->signature)
                return -EBADMSG;
        *ret_body = (wire_reader){ .buf = buf + body_start, .len = body_len };
        return 0;
}

typedef struct strings {
        wire_reader *r;
        size_t end;
} strings;

static int next_string(void *it, const char **ret) {
        strings *a = it;
        if (a->r->pos == a->end)
                return 0;
        if (wire_get_string(a->r, ret) < 0 || a->r->pos > a->end)
                return -EBADMSG;
        return 1;
}

int wire_get_dict(wire_reader *r, const dict_field *fields, size_t n_fields, bool strict,
                  const char **ret_bad_key, const char **ret_reason) {
        uint64_t seen = 0;
        size_t end;
        int k;

        *ret_bad_key = NULL;
        *ret_reason = NULL;
        if ((k = wire_enter_array(r, 8, &end)) < 0)
                return k;
        while (r->pos < end) {
                const char *key, *sig, *s;
                dict_value v = {};
                strings a = { .r = r };

                if ((k = ralign(r, 8)) < 0 || (k = wire_get_string(r, &key)) < 0 ||
                    (k = wire_get_signature(r, &sig)) < 0)
                        return k;
                if (streq(sig, "s"))
                        k = wire_get_string(r, &v.s);
                else if (streq(sig, "u"))
                        k = wire_get_u32(r, &v.u);
                else if (streq(sig, "t"))
                        k = wire_get_u64(r, &v.t);
                else if (streq(sig, "b"))
                        k = wire_get_bool(r, &v.b);
                else if (streq(sig, "as")) {
                        k = wire_enter_array(r, 4, &a.end);
                        v.next = next_string;
                        v.it = &a;
                } else
                        return -EBADMSG; /* a type this reader does not take */
                if (k < 0)
                        return k;
                v.type = sig[0];
                if ((k = dict_take(fields, n_fields, strict, &seen, key, &v, ret_bad_key,
                                   ret_reason)) < 0)
                        return k;
                /* What the fields did not read is still checked. */
                while (v.type == 'a' && (k = next_string(&a, &s)) > 0)
                        ;
                if (k < 0 || r->pos > end)
                        return -EBADMSG;
        }
        return r->pos == end ? 0 : -EBADMSG;
}
