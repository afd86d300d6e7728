/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "policy.h"

#include <errno.h>

#include "netaddr.h"
#include "util.h"

const char *policy_missing_scope(const key_record *rec, const policy_request *req) {
        for (size_t i = 0; req->scopes && req->scopes[i]; i++)
                if (!strv_contains(rec->scopes, req->scopes[i]))
                        return req->scopes[i];
        return NULL;
}

/* Debian runs `su -` as the PAM service su-l and `runuser -l` as
 * runuser-l: stacks that include su's and runuser's.  An administrator who
 * allowed "su" means both ways of running su, so the login form of a
 * service a key names is allowed too (not the other way round: a key for
 * su-l only stays limited to it). */
static const struct {
        const char *service;
        const char *login_form;
} service_aliases[] = {
        { "su", "su-l" },
        { "runuser", "runuser-l" },
};

bool policy_service_allowed(char *const *services, const char *service) {
        if (!services || !services[0])
                return true;
        if (isempty(service))
                return false;
        if (strv_contains(services, service))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(service_aliases); i++)
                if (streq(service, service_aliases[i].login_form) &&
                    strv_contains(services, service_aliases[i].service))
                        return true;
        return false;
}

policy_verdict policy_decide(const key_record *rec, const policy_request *req, uint64_t now) {
        if (rec->state != KEY_STATE_ACTIVE)
                return POLICY_INACTIVE;
        /* Expired from the first microsecond after expires_at. */
        if (rec->expires_at != 0 && now > rec->expires_at)
                return POLICY_EXPIRED;
        /* A key logs in only as its owner: a user that does not resolve is
         * not the owner. */
        if (!req->user_known || req->user_uid != rec->owner_uid)
                return POLICY_WRONG_USER;
        if (!policy_service_allowed(rec->services, req->service))
                return POLICY_SERVICE;
        if (rec->networks && rec->networks[0]) {
                bool ok = false;
                for (size_t i = 0; rec->networks[i] && !ok; i++)
                        ok = net_entry_matches(rec->networks[i], req->rhost);
                if (!ok)
                        return POLICY_NETWORK;
        }
        if (policy_missing_scope(rec, req))
                return POLICY_SCOPE;
        return POLICY_ALLOW;
}

int policy_verdict_to_errno(policy_verdict v) {
        switch (v) {
        case POLICY_ALLOW:
                return 0;
        case POLICY_INACTIVE:
                return -EKEYREVOKED;
        case POLICY_EXPIRED:
                return -EKEYEXPIRED;
        default:
                return -EACCES;
        }
}

const char *policy_verdict_to_string(policy_verdict v) {
        switch (v) {
        case POLICY_ALLOW:
                return "allowed";
        case POLICY_INACTIVE:
                return "key inactive";
        case POLICY_EXPIRED:
                return "key expired";
        case POLICY_WRONG_USER:
                return "user is not the key's owner";
        case POLICY_SERVICE:
                return "service not allowed for this key";
        case POLICY_NETWORK:
                return "remote host not in the key's networks";
        case POLICY_SCOPE:
                return "key lacks a scope the service requires";
        }
        return "refused";
}
