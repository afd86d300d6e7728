/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validators for the fields of a key; each returns NULL when the value is
 * valid and otherwise a reason that completes "FIELD 'VALUE' ...". */
#pragma once

#define KEY_NAME_MAX 255
#define KEY_DESCRIPTION_MAX 255
#define KEY_SERVICES_MAX 32
#define KEY_NETWORKS_MAX 10
#define KEY_SCOPES_MAX 32

const char *validate_service_name(const char *s);
const char *validate_scope(const char *s);
const char *validate_network(const char *s);
