/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table between negative errno values and the D-Bus error names of
 * org.accesskey.KeyStore1 (DESIGN.md "D-Bus API"). */
#pragma once

#define AK_BUS_NAME "org.accesskey.KeyStore1"
#define AK_OBJECT_PATH "/org/accesskey/KeyStore1"
#define AK_KEY_PATH_PREFIX "/org/accesskey/KeyStore1/key/"
#define AK_MANAGER_INTERFACE "org.accesskey.KeyStore1.Manager"
#define AK_KEY_INTERFACE "org.accesskey.KeyStore1.Key"
#define AK_ERROR_PREFIX "org.accesskey.KeyStore1.Error."

/* The D-Bus error name for -err (err < 0).  Errors outside the table become
 * org.freedesktop.DBus.Error.Failed. */
const char *ak_error_to_dbus(int err);

/* The negative errno for a D-Bus error name; names from the bus itself
 * (NoReply, ServiceUnknown, …) map to -ETIMEDOUT or -ECONNREFUSED, unknown
 * names to -EIO. */
int ak_error_from_dbus(const char *name);

/* Human text for a negative errno, with keystore meanings first. */
const char *ak_error_text(int err);
