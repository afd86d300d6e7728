/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * a{sv} dictionaries: the options, filters, requests, results and key records
 * of the D-Bus API.  One writer and one table-driven reader serve the daemon
 * and the client library alike.
 */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum dict_type {
        DICT_STRING,  /* char **, strdup'ed */
        DICT_UINT32,  /* uint32_t * */
        DICT_UINT64,  /* uint64_t * */
        DICT_BOOL,    /* bool * */
        DICT_STRV,    /* char ***, NULL-terminated, strdup'ed */
        DICT_USER,    /* dict_user *: a user name (s) or a UID (u) */
} dict_type;

typedef struct dict_user {
        char *name;   /* set when given by name */
        uint32_t uid; /* set when given by UID */
        bool by_uid;
} dict_user;

typedef struct dict_field {
        const char *key;
        dict_type type;
        void *dest;
        size_t max;    /* strings: most bytes; arrays: most elements; 0: no limit */
        bool *present; /* optional: set when the key was given */
} dict_field;

/* Reads an a{sv} at iter into the fields' destinations.
 *
 * Unknown keys are an error when strict (the daemon reading a caller's
 * options: a typo must not be silently ignored) and skipped otherwise (the
 * client reading a newer daemon's reply).  A key given twice, a value of
 * the wrong type, a string that is not valid UTF-8 or holds control
 * characters, or a value over its limit is -EINVAL; *ret_bad_key then names
 * the key (static or pointing into the message) and *ret_reason says why.
 * On error destinations already filled are left for the caller to free. */
int dict_read(DBusMessageIter *iter, const dict_field *fields, size_t n_fields, bool strict,
              const char **ret_bad_key, const char **ret_reason);

/* One value of a dictionary, whatever it was read from: type is the
 * D-Bus type character ('s', 'u', 't', 'b'), 'a' for an array of strings
 * (read with next(it, &s): 1 and a string, 0 at its end, or a negative
 * errno), or 0 for any other type. */
typedef struct dict_value {
        char type;
        const char *s;
        uint32_t u;
        uint64_t t;
        bool b;
        int (*next)(void *it, const char **ret);
        void *it;
} dict_value;

/* The rules of dict_read() for one entry: finds key among the fields
 * (seen: those given so far), checks and stores its value. */
int dict_take(const dict_field *fields, size_t n_fields, bool strict, uint64_t *seen, const char *key,
              const dict_value *v, const char **ret_bad_key, const char **ret_reason);

/* Writes fields as an a{sv} at iter, each dest pointing to the value (a
 * char *, uint32_t, uint64_t, bool or char **); 0 or -ENOMEM. */
int dict_write(DBusMessageIter *iter, const dict_field *fields, size_t n_fields);

/* Writers, between dict_open() and dict_close(); each returns 0 or -ENOMEM. */
int dict_open(DBusMessageIter *iter, DBusMessageIter *ret_array);
int dict_close(DBusMessageIter *iter, DBusMessageIter *array);
int dict_add_string(DBusMessageIter *array, const char *key, const char *value);
int dict_add_uint32(DBusMessageIter *array, const char *key, uint32_t value);
int dict_add_uint64(DBusMessageIter *array, const char *key, uint64_t value);
int dict_add_bool(DBusMessageIter *array, const char *key, bool value);
int dict_add_strv(DBusMessageIter *array, const char *key, char *const *value);

void dict_user_clear(dict_user *u);

/* True when s is valid UTF-8 without control characters. */
bool string_is_clean_utf8(const char *s);
