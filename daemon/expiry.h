/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Expiry warnings: once per key and expiry date, when a key enters the
 * configured window (ExpiryWarning) before its expiry, the daemon logs a
 * warning and emits KeyExpiring.  The key records which expiry it warned
 * for, so a restart does not warn again and an extended key warns anew.
 */
#pragma once

#include "manager.h"

/* Checks one key (after it was created or changed). */
void expiry_check_key(manager *m, const char *id);
/* Checks every key, one record in memory at a time. */
void expiry_scan(manager *m);
