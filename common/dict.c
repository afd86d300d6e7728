/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dict.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "util.h"

bool string_is_clean_utf8(const char *s) {
        if (!dbus_validate_utf8(s, NULL))
                return false;
        /* C0 controls, DEL, and C1 controls (U+0080..U+009F, encoded as
         * C2 80..C2 9F) would let a label rewrite a terminal or a log line. */
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
                        return false;
        return true;
}

static int read_string(const dict_value *v, size_t max, char **ret, const char **ret_reason) {
        if (v->type != 's') {
                *ret_reason = "must be a string (s)";
                return -EINVAL;
        }
        if (max && strlen(v->s) > max) {
                *ret_reason = "is too long";
                return -EINVAL;
        }
        if (!string_is_clean_utf8(v->s)) {
                *ret_reason = "must be UTF-8 without control characters";
                return -EINVAL;
        }
        char *c = strdup(v->s);
        if (!c)
                return -ENOMEM;
        free(*ret);
        *ret = c;
        return 0;
}

static int read_strv(const dict_value *v, size_t max, char ***ret, const char **ret_reason) {
        _cleanup_(strv_freep) char **l = calloc(1, sizeof(char *));
        const char *s;
        size_t n = 0;
        int r;

        if (!l)
                return -ENOMEM;
        if (v->type != 'a') {
                *ret_reason = "must be an array of strings (as)";
                return -EINVAL;
        }
        while ((r = v->next(v->it, &s)) > 0) {
                if (max && ++n > max) {
                        *ret_reason = "has too many elements";
                        return -EINVAL;
                }
                if (strlen(s) > 1024 || !string_is_clean_utf8(s)) {
                        *ret_reason = "holds an element that is too long or not clean UTF-8";
                        return -EINVAL;
                }
                if (strv_push(&l, s) < 0)
                        return -ENOMEM;
        }
        if (r < 0)
                return r;
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

static int read_value(const dict_value *v, const dict_field *f, const char **ret_reason) {
        switch (f->type) {
        case DICT_STRING:
                return read_string(v, f->max, f->dest, ret_reason);
        case DICT_STRV:
                return read_strv(v, f->max, f->dest, ret_reason);
        case DICT_UINT32:
                if (v->type != 'u') {
                        *ret_reason = "must be an unsigned 32-bit integer (u)";
                        return -EINVAL;
                }
                *(uint32_t *) f->dest = v->u;
                return 0;
        case DICT_UINT64:
                if (v->type != 't') {
                        *ret_reason = "must be an unsigned 64-bit integer (t)";
                        return -EINVAL;
                }
                *(uint64_t *) f->dest = v->t;
                return 0;
        case DICT_BOOL:
                if (v->type != 'b') {
                        *ret_reason = "must be a boolean (b)";
                        return -EINVAL;
                }
                *(bool *) f->dest = v->b;
                return 0;
        case DICT_USER: {
                dict_user *u = f->dest;
                if (v->type == 'u') {
                        u->uid = v->u;
                        u->by_uid = true;
                        return 0;
                }
                if (v->type != 's') {
                        *ret_reason = "must be a user name (s) or a UID (u)";
                        return -EINVAL;
                }
                u->by_uid = false;
                return read_string(v, 256, &u->name, ret_reason);
        }
        }
        return -EINVAL;
}

int dict_take(const dict_field *fields, size_t n_fields, bool strict, uint64_t *seen, const char *key,
              const dict_value *v, const char **ret_bad_key, const char **ret_reason) {
        size_t i;

        assert(n_fields <= 64);
        for (i = 0; i < n_fields; i++)
                if (streq(fields[i].key, key))
                        break;
        if (i == n_fields) {
                if (!strict)
                        return 0;
                *ret_bad_key = key;
                *ret_reason = "is not a known option";
                return -EINVAL;
        }
        if (*seen & (UINT64_C(1) << i)) {
                *ret_bad_key = key;
                *ret_reason = "is given more than once";
                return -EINVAL;
        }
        *seen |= UINT64_C(1) << i;

        int r = read_value(v, &fields[i], ret_reason);
        if (r < 0) {
                *ret_bad_key = key;
                return r;
        }
        if (fields[i].present)
                *fields[i].present = true;
        return 0;
}

static int next_string(void *it, const char **ret) {
        DBusMessageIter *a = it;
        if (dbus_message_iter_get_arg_type(a) != DBUS_TYPE_STRING)
                return 0;
        dbus_message_iter_get_basic(a, ret);
        dbus_message_iter_next(a);
        return 1;
}

/* The variant at v as a dict_value; a holds an array's iterator. */
static void value_of(DBusMessageIter *v, DBusMessageIter *a, dict_value *ret) {
        dbus_bool_t b;

        *ret = (dict_value){};
        switch (dbus_message_iter_get_arg_type(v)) {
        case DBUS_TYPE_STRING:
                ret->type = 's';
                dbus_message_iter_get_basic(v, &ret->s);
                break;
        case DBUS_TYPE_UINT32:
                ret->type = 'u';
                dbus_message_iter_get_basic(v, &ret->u);
                break;
        case DBUS_TYPE_UINT64:
                ret->type = 't';
                dbus_message_iter_get_basic(v, &ret->t);
                break;
        case DBUS_TYPE_BOOLEAN:
                ret->type = 'b';
                dbus_message_iter_get_basic(v, &b);
                ret->b = b;
                break;
        case DBUS_TYPE_ARRAY:
                if (dbus_message_iter_get_element_type(v) != DBUS_TYPE_STRING)
                        break;
                ret->type = 'a';
                dbus_message_iter_recurse(v, a);
                ret->next = next_string;
                ret->it = a;
                break;
        }
}

int dict_read(DBusMessageIter *iter, const dict_field *fields, size_t n_fields, bool strict,
              const char **ret_bad_key, const char **ret_reason) {
        DBusMessageIter array;
        uint64_t seen = 0;

        *ret_bad_key = NULL;
        *ret_reason = NULL;
        if (dbus_message_iter_get_arg_type(iter) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(iter) != DBUS_TYPE_DICT_ENTRY) {
                *ret_reason = "expected a dictionary a{sv}";
                return -EINVAL;
        }
        dbus_message_iter_recurse(iter, &array);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                DBusMessageIter entry, v, a;
                const char *key;
                dict_value value;

                dbus_message_iter_recurse(&array, &entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_STRING) {
                        *ret_reason = "dictionary keys must be strings";
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(&entry, &key);
                dbus_message_iter_next(&entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_VARIANT) {
                        *ret_bad_key = key;
                        *ret_reason = "dictionary values must be variants";
                        return -EINVAL;
                }
                dbus_message_iter_recurse(&entry, &v);
                value_of(&v, &a, &value);
                int r = dict_take(fields, n_fields, strict, &seen, key, &value, ret_bad_key, ret_reason);
                if (r < 0)
                        return r;
        }
        return 0;
}

int dict_open(DBusMessageIter *iter, DBusMessageIter *ret_array) {
        return dbus_message_iter_open_container(iter, DBUS_TYPE_ARRAY, "{sv}", ret_array) ? 0 : -ENOMEM;
}

int dict_close(DBusMessageIter *iter, DBusMessageIter *array) {
        return dbus_message_iter_close_container(iter, array) ? 0 : -ENOMEM;
}

static int add_basic(DBusMessageIter *array, const char *key, int type, const char *sig, const void *value) {
        DBusMessageIter entry, v;
        if (!dbus_message_iter_open_container(array, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
            !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, sig, &v) ||
            !dbus_message_iter_append_basic(&v, type, value) ||
            !dbus_message_iter_close_container(&entry, &v) ||
            !dbus_message_iter_close_container(array, &entry))
                return -ENOMEM;
        return 0;
}

int dict_add_string(DBusMessageIter *array, const char *key, const char *value) {
        if (!value)
                value = "";
        return add_basic(array, key, DBUS_TYPE_STRING, "s", &value);
}

int dict_add_uint32(DBusMessageIter *array, const char *key, uint32_t value) {
        return add_basic(array, key, DBUS_TYPE_UINT32, "u", &value);
}

int dict_add_uint64(DBusMessageIter *array, const char *key, uint64_t value) {
        return add_basic(array, key, DBUS_TYPE_UINT64, "t", &value);
}

int dict_add_bool(DBusMessageIter *array, const char *key, bool value) {
        dbus_bool_t b = value;
        return add_basic(array, key, DBUS_TYPE_BOOLEAN, "b", &b);
}

int dict_add_strv(DBusMessageIter *array, const char *key, char *const *value) {
        DBusMessageIter entry, v, a;
        if (!dbus_message_iter_open_container(array, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
            !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "as", &v) ||
            !dbus_message_iter_open_container(&v, DBUS_TYPE_ARRAY, "s", &a))
                return -ENOMEM;
        for (size_t i = 0; value && value[i]; i++)
                if (!dbus_message_iter_append_basic(&a, DBUS_TYPE_STRING, &value[i]))
                        return -ENOMEM;
        if (!dbus_message_iter_close_container(&v, &a) || !dbus_message_iter_close_container(&entry, &v) ||
            !dbus_message_iter_close_container(array, &entry))
                return -ENOMEM;
        return 0;
}

int dict_write(DBusMessageIter *iter, const dict_field *fields, size_t n_fields) {
        DBusMessageIter a;
        int r = dict_open(iter, &a);
        for (size_t i = 0; r == 0 && i < n_fields; i++) {
                const dict_field *f = &fields[i];
                switch (f->type) {
                case DICT_STRING:
                        r = dict_add_string(&a, f->key, *(char *const *) f->dest);
                        break;
                case DICT_UINT32:
                        r = dict_add_uint32(&a, f->key, *(const uint32_t *) f->dest);
                        break;
                case DICT_UINT64:
                        r = dict_add_uint64(&a, f->key, *(const uint64_t *) f->dest);
                        break;
                case DICT_BOOL:
                        r = dict_add_bool(&a, f->key, *(const bool *) f->dest);
                        break;
                case DICT_STRV:
                        r = dict_add_strv(&a, f->key, *(char **const *) f->dest);
                        break;
                case DICT_USER:
                        r = -EINVAL; /* read only */
                        break;
                }
        }
        return r < 0 ? r : dict_close(iter, &a);
}

void dict_user_clear(dict_user *u) {
        free(u->name);
        *u = (dict_user){};
}
