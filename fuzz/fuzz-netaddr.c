/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network allowlist (common/netaddr.c): the CIDR parser, and the match
 * of a remote host against an entry that decides a login.  The input is
 * "ENTRY\nRHOST" (without a newline, the whole input is the entry and the
 * remote host is empty).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "util.h"
#include "validate.h"

static bool host_bits_clear(const net_prefix *p) {
        unsigned maxlen = p->family == AF_INET ? 32 : 128;
        for (unsigned bit = p->prefixlen; bit < maxlen; bit++)
                if (p->addr[bit / 8] & (0x80 >> (bit % 8)))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *entry = malloc(size + 1);
        if (!entry)
                return 0;
        memcpy(entry, data, size);
        entry[size] = 0;
        char *rhost = strchr(entry, '\n');
        if (rhost)
                *rhost++ = 0;
        else
                rhost = entry + strlen(entry);

        net_prefix p;
        const char *reason = "unset";
        int r = net_prefix_parse(entry, &p, &reason);
        assert(r == 0 || r == -EINVAL);
        if (r < 0) {
                assert(reason && *reason);
                /* What the daemon's validator refuses matches nothing. */
                assert(!streq(entry, NET_LOCAL) || net_entry_matches(entry, ""));
                if (!streq(entry, NET_LOCAL)) {
                        assert(validate_network(entry));
                        assert(!net_entry_matches(entry, rhost));
                }
        } else {
                assert(!reason);
                assert(validate_network(entry) == NULL);
                assert(p.family == AF_INET || p.family == AF_INET6);
                assert(p.prefixlen <= (p.family == AF_INET ? 32u : 128u));
                assert(host_bits_clear(&p));

                /* The network address is inside its own prefix, and an
                 * empty rhost (a local login) is not. */
                char addr[INET6_ADDRSTRLEN];
                assert(inet_ntop(p.family, p.addr, addr, sizeof(addr)));
                assert(net_entry_matches(entry, addr));
                assert(!net_entry_matches(entry, ""));

                /* Parsing the canonical form gives the same prefix. */
                char canon[INET6_ADDRSTRLEN + 8];
                net_prefix q;
                snprintf(canon, sizeof(canon), "%s/%u", addr, p.prefixlen);
                assert(net_prefix_parse(canon, &q, &reason) == 0);
                assert(q.family == p.family && q.prefixlen == p.prefixlen &&
                       memcmp(q.addr, p.addr, p.family == AF_INET ? 4 : 16) == 0);
        }

        /* "local" matches exactly the local login. */
        assert(net_entry_matches(NET_LOCAL, rhost) == (*rhost == 0));
        (void) net_entry_matches(entry, rhost);
        (void) net_entry_matches(rhost, entry);
        free(entry);
        return 0;
}
