/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Network allowlists: CIDRs (IPv4, IPv6) and the word "local". */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define NET_LOCAL "local"

typedef struct net_prefix {
        int family; /* AF_INET, AF_INET6 */
        uint8_t addr[16];
        unsigned prefixlen;
} net_prefix;

/* Parses "A.B.C.D/N" or "X::Y/N" (a bare address is a full-length prefix).
 * -EINVAL with *ret_reason set when malformed or when host bits are set. */
int net_prefix_parse(const char *s, net_prefix *ret, const char **ret_reason);

/* Whether a remote host matches an allowlist entry.  "local" matches only an
 * empty rhost; a CIDR matches only an rhost that is a literal address inside
 * it.  A hostname or anything malformed matches nothing: no DNS, fail
 * closed. */
bool net_entry_matches(const char *entry, const char *rhost);
