/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An accessKey entry's attributes, checked and turned into a directory_key:
 * the same rules a value meets when it comes over D-Bus, because a
 * directory is one more place a value may come from, and a host takes
 * nothing it would refuse from a local caller.  No LDAP calls here: the
 * attributes come as plain byte strings (directory.c reads them).
 */
#include "directory.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "credential.h"
#include "util.h"
#include "validate.h"

directory_key *directory_key_free(directory_key *k) {
        if (!k)
                return NULL;
        free(k->owner);
        free(k->deactivated_by);
        strv_free(k->services);
        strv_free(k->networks);
        strv_free(k->scopes);
        strv_free(k->host_groups);
        free(k->name);
        free(k->description);
        free(k->created_by);
        free(k->updated_by);
        free(k);
        return NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): no timegm(), no TZ. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        const int64_t era = (y >= 0 ? y : y - 399) / 400;
        const unsigned yoe = (unsigned) (y - era * 400);
        const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        *ret = v;
        return true;
}

int directory_parse_time(const char *s, uint64_t *ret) {
        static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        unsigned year, month, day, hour, min = 0, sec = 0;
        uint64_t frac_usec = 0;
        size_t n = strlen(s), i = 10;

        /* YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM]), RFC 4517 3.3.13 */
        if (n < 11 || !digits(s, 4, &year) || !digits(s + 4, 2, &month) || !digits(s + 6, 2, &day) ||
            !digits(s + 8, 2, &hour))
                return -EINVAL;
        if (i + 2 <= n && digits(s + i, 2, &min)) {
                i += 2;
                if (i + 2 <= n && digits(s + i, 2, &sec))
                        i += 2;
        }
        if (s[i] == '.' || s[i] == ',') {
                uint64_t scale = 100000;
                size_t start = ++i;
                for (; s[i] >= '0' && s[i] <= '9'; i++) {
                        frac_usec += (uint64_t) (s[i] - '0') * scale;
                        scale /= 10;
                }
                if (i == start)
                        return -EINVAL;
        }
        int64_t offset = 0;
        if (s[i] == 'Z') {
                i++;
        } else if (s[i] == '+' || s[i] == '-') {
                unsigned oh, om = 0;
                int sign = s[i] == '-' ? -1 : 1;
                if (i + 3 > n || !digits(s + i + 1, 2, &oh))
                        return -EINVAL;
                i += 3;
                if (i + 2 <= n && digits(s + i, 2, &om))
                        i += 2;
                if (oh > 23 || om > 59)
                        return -EINVAL;
                offset = sign * (int64_t) (oh * 3600 + om * 60);
        } else {
                return -EINVAL;
        }
        if (i != n || year < 1970 || month < 1 || month > 12 || day < 1 || day > mdays[month - 1] || hour > 23 ||
            min > 59 || sec > 60)
                return -EINVAL;
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if (month == 2 && day == 29 && !leap)
                return -EINVAL;
        int64_t t = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + (sec == 60 ? 59 : sec) -
                    offset;
        if (t <= 0)
                return -EINVAL;
        *ret = (uint64_t) t * 1000000 + frac_usec;
        return 0;
}

/* A user name as useradd(8) takes it on Debian with its default NAME_REGEX
 * relaxed as adduser allows: letters, digits, '.', '_', '-', not starting with
 * '-', and a trailing '$' for machine accounts. */
static const char *check_user_name(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > 256)
                return "is not a user name (1 to 256 characters)";
        if (s[0] == '-')
                return "is not a user name (it starts with '-')";
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '.' &&
                    c != '_' && c != '-' && !(c == '$' && i == n - 1))
                        return "is not a user name (letters, digits, '.', '_' and '-')";
        }
        return NULL;
}

static const char *check_host_group(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > DIRECTORY_HOST_GROUP_MAX)
                return "is not a host group (1 to 64 characters)";
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '.' &&
                    c != '_' && c != '-')
                        return "is not a host group (letters, digits, '.', '_' and '-')";
        }
        return NULL;
}

static const char *check_label(const char *s) {
        size_t pos;
        uint32_t cp;
        if (strlen(s) > KEY_NAME_MAX)
                return "is longer than 255 bytes";
        return validate_label(s, &pos, &cp);
}

typedef enum spec_kind {
        SPEC_ID,
        SPEC_TEXT,     /* one string, checked */
        SPEC_LIST,     /* strings, checked, at most max */
        SPEC_TIME,     /* GeneralizedTime */
        SPEC_VERIFIER, /* AK_VERIFIER_LEN bytes */
        SPEC_UINT32,   /* 1 .. 2^32-1 */
        SPEC_BOOL,     /* TRUE or FALSE */
        SPEC_STATE,    /* active or inactive */
} spec_kind;

typedef struct spec {
        const char *name;
        spec_kind kind;
        size_t offset; /* into directory_key */
        const char *(*check)(const char *s);
        size_t max;
        bool required;
} spec;

#define AT(f) offsetof(directory_key, f)
static const spec specs[] = {
        { "accessKeyId", SPEC_ID, AT(id), NULL, 0, true },
        { "accessKeyOwner", SPEC_TEXT, AT(owner), check_user_name, 0, true },
        { "accessKeyVerifier", SPEC_VERIFIER, AT(verifier), NULL, 0, true },
        { "accessKeyPepperVersion", SPEC_UINT32, AT(pepper_version), NULL, 0, true },
        { "accessKeyState", SPEC_STATE, AT(active), NULL, 0, true },
        { "accessKeyCreatedAt", SPEC_TIME, AT(created_at), NULL, 0, true },
        { "accessKeyDeactivatedBy", SPEC_TEXT, AT(deactivated_by), check_user_name, 0, false },
        { "accessKeyLocked", SPEC_BOOL, AT(locked), NULL, 0, false },
        { "accessKeyExpires", SPEC_TIME, AT(expires_at), NULL, 0, false },
        { "accessKeyService", SPEC_LIST, AT(services), validate_service_name, KEY_SERVICES_MAX, false },
        { "accessKeyNetwork", SPEC_LIST, AT(networks), validate_network, KEY_NETWORKS_MAX, false },
        { "accessKeyScope", SPEC_LIST, AT(scopes), validate_scope, KEY_SCOPES_MAX, false },
        { "accessKeyHostGroup", SPEC_LIST, AT(host_groups), check_host_group, DIRECTORY_HOST_GROUPS_MAX, false },
        { "accessKeyName", SPEC_TEXT, AT(name), check_label, 0, false },
        { "description", SPEC_TEXT, AT(description), check_label, 0, false },
        { "accessKeyCreatedBy", SPEC_TEXT, AT(created_by), check_user_name, 0, false },
        { "accessKeyUpdatedBy", SPEC_TEXT, AT(updated_by), check_user_name, 0, false },
        { "accessKeyUpdatedAt", SPEC_TIME, AT(updated_at), NULL, 0, false },
        { "accessKeyRotatedAt", SPEC_TIME, AT(rotated_at), NULL, 0, false },
        { "accessKeyPreviousVerifier", SPEC_VERIFIER, AT(prev_verifier), NULL, 0, false },
        { "accessKeyPreviousUntil", SPEC_TIME, AT(prev_until), NULL, 0, false },
};
#undef AT

static const spec *find_spec(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                if (strcasecmp(specs[i].name, name) == 0)
                        return &specs[i];
        return NULL;
}

/* A value as a C string (malloc): text attributes hold no NUL. */
static int text_of(const directory_attr *a, size_t i, char **ret, const char **ret_reason) {
        if (memchr(a->values[i], '\0', a->lens[i])) {
                *ret_reason = "holds a NUL byte";
                return -EINVAL;
        }
        return (*ret = strndup((const char *) a->values[i], a->lens[i])) ? 0 : -ENOMEM;
}

static int parse_attr(directory_key *k, const spec *sp, const directory_attr *a, const char **ret_reason) {
        void *field = (uint8_t *) k + sp->offset;
        size_t n = 0;
        while (a->values[n])
                n++;
        if (n == 0)
                return 0;
        if (sp->kind != SPEC_LIST && n > 1) {
                *ret_reason = "holds more than one value";
                return -EINVAL;
        }
        if (sp->kind == SPEC_VERIFIER) {
                if (a->lens[0] != AK_VERIFIER_LEN) {
                        *ret_reason = "is not a verifier (33 bytes: the scheme, then the HMAC)";
                        return -EINVAL;
                }
                memcpy(field, a->values[0], AK_VERIFIER_LEN);
                if (sp->offset == offsetof(directory_key, prev_verifier))
                        k->has_prev_verifier = true;
                return 0;
        }
        _cleanup_(freep) char *s = NULL;
        int r = text_of(a, 0, &s, ret_reason);
        if (r < 0)
                return r;
        switch (sp->kind) {
        case SPEC_ID:
                if (!ak_id_is_valid(s)) {
                        *ret_reason = "is not a key ID (AK and 18 letters and digits, with a valid checksum)";
                        return -EINVAL;
                }
                memcpy(k->id, s, AK_ID_LEN + 1);
                return 0;
        case SPEC_TEXT: {
                const char *why = sp->check(s);
                if (why) {
                        *ret_reason = why;
                        return -EINVAL;
                }
                *(char **) field = TAKE_PTR(s);
                return 0;
        }
        case SPEC_LIST: {
                if (n > sp->max) {
                        *ret_reason = "holds more values than a key may have";
                        return -EINVAL;
                }
                char **l = calloc(n + 1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
                *(char ***) field = l;
                for (size_t i = 0; i < n; i++) {
                        const char *why;
                        if ((r = text_of(a, i, &l[i], ret_reason)) < 0)
                                return r;
                        if ((why = sp->check(l[i]))) {
                                *ret_reason = why;
                                return -EINVAL;
                        }
                }
                return 0;
        }
        case SPEC_TIME:
                if (directory_parse_time(s, field) < 0) {
                        *ret_reason = "is not a GeneralizedTime (YYYYMMDDHHMMSSZ) after 1970";
                        return -EINVAL;
                }
                return 0;
        case SPEC_UINT32: {
                char *end;
                errno = 0;
                unsigned long long v = strtoull(s, &end, 10);
                if (errno || *end || end == s || s[0] == '-' || v == 0 || v > UINT32_MAX) {
                        *ret_reason = "is not a number from 1 to 4294967295";
                        return -EINVAL;
                }
                *(uint32_t *) field = (uint32_t) v;
                return 0;
        }
        case SPEC_BOOL:
                if (!streq(s, "TRUE") && !streq(s, "FALSE")) {
                        *ret_reason = "is not TRUE or FALSE";
                        return -EINVAL;
                }
                *(bool *) field = streq(s, "TRUE");
                return 0;
        case SPEC_STATE:
                if (strcasecmp(s, "active") != 0 && strcasecmp(s, "inactive") != 0) {
                        *ret_reason = "is not active or inactive";
                        return -EINVAL;
                }
                *(bool *) field = strcasecmp(s, "active") == 0;
                return 0;
        case SPEC_VERIFIER:
                break;
        }
        return -EINVAL;
}

/* Empty lists are empty, not NULL, so that readers need not care. */
static int fill_lists(directory_key *k) {
        char ***lists[] = { &k->services, &k->networks, &k->scopes, &k->host_groups };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                if (!*lists[i] && !(*lists[i] = calloc(1, sizeof(char *))))
                        return -ENOMEM;
        return 0;
}

int directory_key_parse(const uint8_t uuid[16], const directory_attr *attrs, size_t n, directory_key **ret,
                        char reason[static DIRECTORY_REASON_MAX]) {
        _cleanup_(directory_key_freep) directory_key *k = calloc(1, sizeof(*k));
        bool seen[ELEMENTSOF(specs)] = {};
        const char *why = NULL;
        int r;

        if (!k)
                return -ENOMEM;
        memcpy(k->uuid, uuid, 16);
        for (size_t i = 0; i < n; i++) {
                const spec *sp = find_spec(attrs[i].name);
                if (!sp || !attrs[i].values[0])
                        continue; /* objectClass, and what a later schema adds */
                size_t at = (size_t) (sp - specs);
                if (seen[at]) {
                        why = "holds more than one value";
                        r = -EINVAL;
                } else {
                        seen[at] = true;
                        r = parse_attr(k, sp, &attrs[i], &why);
                }
                if (r == -EINVAL) {
                        snprintf(reason, DIRECTORY_REASON_MAX, "attribute %s %s", sp->name, why);
                        return r;
                }
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(specs); i++)
                if (specs[i].required && !seen[i]) {
                        snprintf(reason, DIRECTORY_REASON_MAX, "attribute %s is missing", specs[i].name);
                        return -EINVAL;
                }
        if ((r = fill_lists(k)) < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}
