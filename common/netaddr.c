/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int parse_addr(const char *s, int *ret_family, uint8_t ret[16]) {
        if (inet_pton(AF_INET, s, ret) == 1) {
                *ret_family = AF_INET;
                return 0;
        }
        if (inet_pton(AF_INET6, s, ret) == 1) {
                *ret_family = AF_INET6;
                return 0;
        }
        return -EINVAL;
}

int net_prefix_parse(const char *s, net_prefix *ret, const char **ret_reason) {
        char buf[INET6_ADDRSTRLEN + 8];
        net_prefix p = {};
        const char *slash;
        unsigned maxlen;

        *ret_reason = NULL;
        if (!s || strlen(s) >= sizeof(buf)) {
                *ret_reason = "is not an IPv4 or IPv6 address with an optional /prefix";
                return -EINVAL;
        }
        strcpy(buf, s);
        slash = strchr(buf, '/');
        if (slash)
                buf[slash - buf] = 0;
        if (parse_addr(buf, &p.family, p.addr) < 0) {
                *ret_reason = "is not an IPv4 or IPv6 address with an optional /prefix";
                return -EINVAL;
        }
        maxlen = p.family == AF_INET ? 32 : 128;
        p.prefixlen = maxlen;
        if (slash) {
                const char *d = s + (slash - buf) + 1;
                char *end;
                if (*d < '0' || *d > '9' || (d[0] == '0' && d[1]) || strlen(d) > 3) {
                        *ret_reason = "has a malformed prefix length";
                        return -EINVAL;
                }
                unsigned long n = strtoul(d, &end, 10);
                if (*end || n > maxlen) {
                        *ret_reason = p.family == AF_INET ? "has a prefix length over 32"
                                                          : "has a prefix length over 128";
                        return -EINVAL;
                }
                p.prefixlen = (unsigned) n;
        }
        /* Host bits set (10.0.0.1/8) usually mean a typo for a different
         * network: refuse rather than guess. */
        for (unsigned bit = p.prefixlen; bit < maxlen; bit++)
                if (p.addr[bit / 8] & (0x80 >> (bit % 8))) {
                        *ret_reason = "has host bits set after the prefix";
                        return -EINVAL;
                }
        *ret = p;
        return 0;
}

static bool prefix_contains(const net_prefix *p, int family, const uint8_t addr[16]) {
        if (family != p->family)
                return false;
        unsigned full = p->prefixlen / 8, rest = p->prefixlen % 8;
        if (memcmp(p->addr, addr, full) != 0)
                return false;
        if (rest == 0)
                return true;
        uint8_t mask = (uint8_t) (0xff00 >> rest);
        return (p->addr[full] & mask) == (addr[full] & mask);
}

bool net_entry_matches(const char *entry, const char *rhost) {
        if (streq(entry, NET_LOCAL))
                return isempty(rhost);
        if (isempty(rhost))
                return false;

        net_prefix p;
        const char *reason;
        uint8_t addr[16] = {};
        int family;
        if (net_prefix_parse(entry, &p, &reason) < 0 || parse_addr(rhost, &family, addr) < 0)
                return false;
        /* An IPv4-mapped IPv6 rhost (::ffff:a.b.c.d) is the IPv4 host. */
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (family == AF_INET6 && p.family == AF_INET && memcmp(addr, mapped, 12) == 0) {
                memmove(addr, addr + 12, 4);
                family = AF_INET;
        }
        return prefix_contains(&p, family, addr);
}
