/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validators for the fields of a key; each returns NULL when the value is
 * valid and otherwise a reason that completes "FIELD 'VALUE' ...". */
#pragma once

#define KEY_NAME_MAX 255
#define KEY_DESCRIPTION_MAX 255
#define KEY_SERVICES_MAX 32
#define KEY_NETWORKS_MAX 10
#define KEY_SCOPES_MAX 32

#include <stddef.h>
#include <stdint.h>

const char *validate_service_name(const char *s);
/* A key's name or description: UTF-8 without control characters (C0, DEL,
 * C1) and without the bidirectional embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069) that make text display otherwise than it
 * reads.  On refusal ret_pos is the 1-based position of the offending
 * character and ret_cp its code point (for invalid UTF-8, the byte). */
const char *validate_label(const char *s, size_t *ret_pos, uint32_t *ret_cp);
const char *validate_scope(const char *s);
const char *validate_network(const char *s);
