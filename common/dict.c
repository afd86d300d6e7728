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

static int read_string(DBusMessageIter *v, size_t max, char **ret, const char **ret_reason) {
        const char *s;
        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_STRING) {
                *ret_reason = "must be a string (s)";
                return -EINVAL;
        }
        dbus_message_iter_get_basic(v, &s);
        if (max && strlen(s) > max) {
                *ret_reason = "is too long";
                return -EINVAL;
        }
        if (!string_is_clean_utf8(s)) {
                *ret_reason = "must be UTF-8 without control characters";
                return -EINVAL;
        }
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        free(*ret);
        *ret = c;
        return 0;
}

static int read_strv(DBusMessageIter *v, size_t max, char ***ret, const char **ret_reason) {
        DBusMessageIter a;
        _cleanup_(strv_freep) char **l = calloc(1, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(v) != DBUS_TYPE_STRING) {
                *ret_reason = "must be an array of strings (as)";
                return -EINVAL;
        }
        dbus_message_iter_recurse(v, &a);
        for (; dbus_message_iter_get_arg_type(&a) == DBUS_TYPE_STRING; dbus_message_iter_next(&a)) {
                const char *s;
                if (max && ++n > max) {
                        *ret_reason = "has too many elements";
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(&a, &s);
                if (strlen(s) > 1024 || !string_is_clean_utf8(s)) {
                        *ret_reason = "holds an element that is too long or not clean UTF-8";
                        return -EINVAL;
                }
                if (strv_push(&l, s) < 0)
                        return -ENOMEM;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

static int read_value(DBusMessageIter *v, const dict_field *f, const char **ret_reason) {
        int t = dbus_message_iter_get_arg_type(v);
        dbus_bool_t b;

        switch (f->type) {
        case DICT_STRING:
                return read_string(v, f->max, f->dest, ret_reason);
        case DICT_STRV:
                return read_strv(v, f->max, f->dest, ret_reason);
        case DICT_UINT32:
                if (t != DBUS_TYPE_UINT32) {
                        *ret_reason = "must be an unsigned 32-bit integer (u)";
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(v, f->dest);
                return 0;
        case DICT_UINT64:
                if (t != DBUS_TYPE_UINT64) {
                        *ret_reason = "must be an unsigned 64-bit integer (t)";
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(v, f->dest);
                return 0;
        case DICT_BOOL:
                if (t != DBUS_TYPE_BOOLEAN) {
                        *ret_reason = "must be a boolean (b)";
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(v, &b);
                *(bool *) f->dest = b;
                return 0;
        case DICT_USER: {
                dict_user *u = f->dest;
                if (t == DBUS_TYPE_UINT32) {
                        dbus_message_iter_get_basic(v, &u->uid);
                        u->by_uid = true;
                        return 0;
                }
                if (t != DBUS_TYPE_STRING) {
                        *ret_reason = "must be a user name (s) or a UID (u)";
                        return -EINVAL;
                }
                u->by_uid = false;
                return read_string(v, 256, &u->name, ret_reason);
        }
        }
        return -EINVAL;
}

int dict_read(DBusMessageIter *iter, const dict_field *fields, size_t n_fields, bool strict,
              const char **ret_bad_key, const char **ret_reason) {
        DBusMessageIter array;
        uint64_t seen = 0;

        assert(n_fields <= 64);
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
                DBusMessageIter entry, v;
                const char *key;
                size_t i;

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

                for (i = 0; i < n_fields; i++)
                        if (streq(fields[i].key, key))
                                break;
                if (i == n_fields) {
                        if (!strict)
                                continue;
                        *ret_bad_key = key;
                        *ret_reason = "is not a known option";
                        return -EINVAL;
                }
                if (seen & (UINT64_C(1) << i)) {
                        *ret_bad_key = key;
                        *ret_reason = "is given more than once";
                        return -EINVAL;
                }
                seen |= UINT64_C(1) << i;

                int r = read_value(&v, &fields[i], ret_reason);
                if (r < 0) {
                        *ret_bad_key = key;
                        return r;
                }
                if (fields[i].present)
                        *fields[i].present = true;
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

void dict_user_clear(dict_user *u) {
        free(u->name);
        *u = (dict_user){};
}
