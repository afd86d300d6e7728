/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "errors.h"

#include <errno.h>
#include <string.h>

#include "util.h"

static const struct {
        int err;
        const char *name;
        const char *text;
} table[] = {
        { ENOENT, AK_ERROR_PREFIX "NotFound", "no such access key" },
        { EACCES, AK_ERROR_PREFIX "PermissionDenied", "permission denied" },
        { EDQUOT, AK_ERROR_PREFIX "QuotaExceeded", "access key limit reached" },
        { EINVAL, AK_ERROR_PREFIX "InvalidArgument", "invalid argument" },
        { EKEYREJECTED, AK_ERROR_PREFIX "AuthFailed", "authentication failed" },
        { EKEYEXPIRED, AK_ERROR_PREFIX "KeyExpired", "access key expired" },
        { EKEYREVOKED, AK_ERROR_PREFIX "KeyInactive", "access key inactive" },
        { EBUSY, AK_ERROR_PREFIX "RateLimited", "too many attempts, rate limited" },
};

/* Errors the bus daemon or libdbus report on the way. */
static const struct {
        const char *name;
        int err;
} transport[] = {
        { "org.freedesktop.DBus.Error.NoReply", ETIMEDOUT },
        { "org.freedesktop.DBus.Error.Timeout", ETIMEDOUT },
        { "org.freedesktop.DBus.Error.TimedOut", ETIMEDOUT },
        { "org.freedesktop.DBus.Error.ServiceUnknown", ECONNREFUSED },
        { "org.freedesktop.DBus.Error.NameHasNoOwner", ECONNREFUSED },
        { "org.freedesktop.DBus.Error.NoServer", ECONNREFUSED },
        { "org.freedesktop.DBus.Error.FileNotFound", ECONNREFUSED },
        { "org.freedesktop.DBus.Error.Disconnected", ECONNREFUSED },
        { "org.freedesktop.DBus.Error.NoNetwork", ECONNREFUSED },
        { "org.freedesktop.DBus.Error.AccessDenied", EACCES },
        { "org.freedesktop.DBus.Error.AuthFailed", EACCES },
        { "org.freedesktop.DBus.Error.NoMemory", ENOMEM },
        { "org.freedesktop.DBus.Error.InvalidArgs", EINVAL },
        { "org.freedesktop.DBus.Error.BadAddress", EINVAL },
        { "org.freedesktop.DBus.Error.UnknownMethod", EOPNOTSUPP },
        { "org.freedesktop.DBus.Error.LimitsExceeded", ENOBUFS },
};

const char *ak_error_to_dbus(int err) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].err == -err)
                        return table[i].name;
        return "org.freedesktop.DBus.Error.Failed";
}

int ak_error_from_dbus(const char *name) {
        if (!name)
                return -EIO;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(table[i].name, name))
                        return -table[i].err;
        for (size_t i = 0; i < ELEMENTSOF(transport); i++)
                if (streq(transport[i].name, name))
                        return -transport[i].err;
        return -EIO;
}

const char *ak_error_text(int err) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].err == -err)
                        return table[i].text;
        if (err == -ECONNREFUSED)
                return "the accesskey daemon cannot be reached";
        if (err == -ETIMEDOUT)
                return "the accesskey daemon did not answer in time";
        return strerror(-err);
}
