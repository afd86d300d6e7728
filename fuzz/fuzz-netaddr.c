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

        /* A key's name or description (validate_label), over the whole
         * input: what it accepts holds no control byte and no encoded
         * bidirectional control, and a refusal points inside the text. */
        memcpy(entry, data, size);
        entry[size] = 0;
        size_t pos = 0, len = strlen(entry), chars = 0;
        uint32_t cp = 0;
        const char *why = validate_label(entry, &pos, &cp);
        for (size_t i = 0; i < len; i++)
                chars += ((uint8_t) entry[i] & 0xc0) != 0x80;
        if (!why) {
                for (size_t i = 0; i < len; i++) {
                        const uint8_t *b = (const uint8_t *) entry + i;
                        assert(b[0] >= 0x20 && b[0] != 0x7f && b[0] != 0xc0 && b[0] != 0xc1 &&
                               b[0] < 0xf5);
                        assert(!(b[0] == 0xc2 && i + 1 < len && b[1] < 0xa0));
                        assert(!(b[0] == 0xe2 && i + 2 < len && b[1] == 0x80 && b[2] >= 0xaa &&
                                 b[2] <= 0xae));
                        assert(!(b[0] == 0xe2 && i + 2 < len && b[1] == 0x81 && b[2] >= 0xa6 &&
                                 b[2] <= 0xa9));
                }
        } else
                assert(*why && pos >= 1 && pos <= len && (pos <= chars || cp < 0x100));
        free(entry);
        return 0;
}
