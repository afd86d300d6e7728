#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/test-ldap-schema.sh — the fleet mode's LDAP schema and example access
# rules (ldap/), loaded into a real slapd, as an administrator would.
#
# It starts a slapd of its own in a temporary directory (cn=config, the mdb
# backend, the syncprov overlay, listening on a Unix socket only), loads the
# built ldap/accesskey.ldif and checks that
#   - the slapd.conf form (ldap/accesskey.schema) is accepted too (slaptest),
#     and both forms define the same attribute types and object class;
#   - a well-formed key entry is accepted, and the schema refuses what a
#     host could not use: an entry without a verifier, two states, a time
#     that is not one (slapd does not enforce the length bounds: the
#     daemon checks every value it copies);
#   - with ldap/acl-example.ldif applied: a host reads every key entry,
#     verifier included, and writes nothing; a management host writes; a
#     user and an anonymous client read nothing of the keys;
#   - a host can run the RFC 4533 sync search (syncprov) that accesskeyd's
#     consumer runs, and gets the keys.
#
# Exit status: 0 pass, 1 fail, 77 skip (no slapd).  The last line is
# "ldap-schema: N passed, N failed".
set -uo pipefail

passed=0
failed=0
top_builddir=${AK_TOP_BUILDDIR:-$(pwd)}
top_srcdir=${AK_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

skip() {
        echo "ldap-schema: SKIP: $*"
        exit 77
}

for prog in slapd slapadd slaptest slappasswd ldapadd ldapmodify ldapsearch; do
        command -v "$prog" >/dev/null || [[ -x /usr/sbin/$prog ]] ||
                skip "$prog not found: install slapd and ldap-utils (tools/install-deps does it)"
done
export PATH=$PATH:/usr/sbin
ldif=$top_builddir/ldap/accesskey.ldif
[[ -f $ldif ]] || { echo "ldap-schema: $ldif is missing: run make first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/accesskey-ldap.XXXXXX) || exit 1
cleanup() {
        "$top_srcdir/tools/slapd-testbed" stop "$tmp/ldap"
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

check() {
        local what=$1
        shift
        if "$@" >"$tmp/out" 2>&1; then
                passed=$((passed + 1))
                echo "PASS: $what"
        else
                failed=$((failed + 1))
                echo "FAIL: $what"
                sed 's/^/    /' "$tmp/out"
        fi
}

base=dc=example,dc=com
# The directory of tools/slapd-testbed: its hosts, management host and user.
uri=$("$top_srcdir/tools/slapd-testbed" start "$tmp/ldap" "$ldif") || {
        echo "ldap-schema: the test directory did not start (tools/slapd-testbed)" >&2
        exit 1
}
passed=$((passed + 1))
echo "PASS: ldap/accesskey.ldif loads into cn=config (slapadd -n0), and the example access rules apply"

# ---- the slapd.conf form: accepted, and the same definitions

printf 'include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude %s\n' \
        "$top_srcdir/ldap/accesskey.schema" >"$tmp/slapd.conf"
mkdir -p "$tmp/conf-test.d"
check "ldap/accesskey.schema is accepted in slapd.conf (slaptest)" \
        slaptest -f "$tmp/slapd.conf" -F "$tmp/conf-test.d"

# The definitions slapd holds for each form, one per line, sorted.
definitions() {
        ldapsearch -LLL -o ldif-wrap=no -Y EXTERNAL -H "$1" -b "cn=schema,cn=config" \
                "(cn=*accesskey)" olcAttributeTypes olcObjectClasses 2>/dev/null |
                sed -n 's/^olc\(AttributeTypes\|ObjectClasses\): {[0-9]*}/\1 /p' | tr -s ' ' | sort
}
same_definitions() {
        local conf
        conf=$(cat "$tmp"/conf-test.d/cn=config/cn=schema/cn=*accesskey.ldif |
                sed -e ':a' -e 'N' -e '$!ba' -e 's/\n //g' |
                sed -n 's/^olc\(AttributeTypes\|ObjectClasses\): {[0-9]*}/\1 /p' | tr -s ' ' | sort)
        local live
        live=$(definitions "$uri")
        [[ -n $live && $live == "$conf" ]] || {
                diff <(echo "$live") <(echo "$conf")
                return 1
        }
        echo "$live" | grep -c '^AttributeTypes' | grep -qx 20 || {
                echo "expected 20 attribute types, slapd holds:"
                echo "$live"
                return 1
        }
}
check "both forms define the same 20 attribute types and the object class" same_definitions

# ---- the directory: hosts, management hosts, a user, the keys' subtree

admin=(-x -H "$uri" -D "cn=admin,$base" -y "$tmp/ldap/admin.pw")

verifier=$(head -c 33 /dev/urandom | base64 -w0)
key_entry() { # ID [extra LDIF lines]
        cat <<EOF
dn: accessKeyId=$1,ou=accesskeys,$base
objectClass: accessKey
accessKeyId: $1
accessKeyOwner: alice
accessKeyVerifier:: $verifier
accessKeyPepperVersion: 1
accessKeyState: active
accessKeyCreatedAt: 20261204183000Z
EOF
        shift
        printf '%s\n' "$@"
}

# ldap_refuses EXPECTED-RESULT-CODE COMMAND...: the command fails with that
# LDAP result code (the exit status of the ldap tools).
ldap_refuses() {
        local want=$1
        shift
        "$@"
        local rc=$?
        [[ $rc -eq $want ]] || { echo "exit status $rc, expected $want"; return 1; }
}

check "a key entry with every attribute is accepted" \
        ldapadd "${admin[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA1 \
                "accessKeyName: deploy" "description: the CI deploy key" \
                "accessKeyExpires: 20270101000000Z" "accessKeyService: sshd" "accessKeyService: dovecot" \
                "accessKeyNetwork: 192.0.2.0/24" "accessKeyScope: deploy" "accessKeyHostGroup: web" \
                "accessKeyCreatedBy: root" "accessKeyUpdatedBy: root" "accessKeyUpdatedAt: 20261204183100Z" \
                "accessKeyRotatedAt: 20261204183100Z" "accessKeyPreviousVerifier:: $verifier" \
                "accessKeyPreviousUntil: 20261205183100Z" "accessKeyDeactivatedBy: root" \
                "accessKeyLocked: FALSE")
# 65: objectClassViolation, 19: constraintViolation, 21: invalidAttributeSyntax
check "an entry without a verifier is refused (objectClassViolation)" \
        ldap_refuses 65 ldapadd "${admin[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA2 | grep -v '^accessKeyVerifier')
check "two states are refused (single-valued)" \
        ldap_refuses 19 ldapadd "${admin[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA3 "accessKeyState: inactive")
check "an expiry that is not a GeneralizedTime is refused" \
        ldap_refuses 21 ldapadd "${admin[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA4 "accessKeyExpires: tomorrow")
check "a second key for the same owner is accepted" \
        ldapadd "${admin[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA6)

# ---- the example access rules (applied by tools/slapd-testbed)

as_host=(-x -H "$uri" -D "cn=host1,ou=hosts,$base" -y "$tmp/ldap/host.pw")
as_manager=(-x -H "$uri" -D "cn=manager1,ou=hosts,$base" -y "$tmp/ldap/host.pw")
as_user=(-x -H "$uri" -D "uid=alice,ou=people,$base" -y "$tmp/ldap/host.pw")
as_anonymous=(-x -H "$uri")
keys=(-LLL -b "ou=accesskeys,$base" "(objectClass=accessKey)")

# sees_keys N VERIFIERS BIND...: the search returns N key entries, and
# VERIFIERS verifier values among them.
sees_keys() {
        local n=$1 v=$2
        shift 2
        ldapsearch "$@" "${keys[@]}" '*' >"$tmp/search" 2>&1
        local rc=$?
        # 32 (noSuchObject) is how slapd hides a base the client may not see.
        [[ $rc -eq 0 || $rc -eq 32 ]] || { cat "$tmp/search"; return 1; }
        local got gotv
        got=$(grep -c '^dn: accessKeyId=' "$tmp/search")
        gotv=$(grep -c '^accessKeyVerifier::' "$tmp/search")
        [[ $got -eq $n && $gotv -eq $v ]] || {
                echo "saw $got entries and $gotv verifiers, expected $n and $v"
                cat "$tmp/search"
                return 1
        }
}
check "a host reads every key, verifiers included" sees_keys 2 2 "${as_host[@]}"
check "a management host reads every key, verifiers included" sees_keys 2 2 "${as_manager[@]}"
check "a user reads no key" sees_keys 0 0 "${as_user[@]}"
check "an anonymous client reads no key" sees_keys 0 0 "${as_anonymous[@]}"
# 50: insufficientAccess
check "a host cannot change a key" ldap_refuses 50 ldapmodify "${as_host[@]}" <<EOF
dn: accessKeyId=AKAAAAAAAAAAAAAAAAA1,ou=accesskeys,$base
changetype: modify
replace: accessKeyState
accessKeyState: inactive
EOF
check "a host cannot add a key" ldap_refuses 50 ldapadd "${as_host[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA7)
check "a user cannot add a key" ldap_refuses 50 ldapadd "${as_user[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA8)
check "a management host deactivates a key" ldapmodify "${as_manager[@]}" <<EOF
dn: accessKeyId=AKAAAAAAAAAAAAAAAAA1,ou=accesskeys,$base
changetype: modify
replace: accessKeyState
accessKeyState: inactive
-
replace: accessKeyDeactivatedBy
accessKeyDeactivatedBy: root
EOF
check "a management host adds and deletes a key" bash -c '
        ldapadd "$@" && ldapdelete "$@" "accessKeyId=AKAAAAAAAAAAAAAAAAA9,ou=accesskeys,'"$base"'"' _ \
        "${as_manager[@]}" < <(key_entry AKAAAAAAAAAAAAAAAAA9)

# ---- the host's sync session (RFC 4533, refreshOnly here)

sync_search() {
        ldapsearch "${as_host[@]}" -E '!sync=ro' -b "ou=accesskeys,$base" "(objectClass=accessKey)" accessKeyState accessKeyVerifier >"$tmp/sync" 2>&1 ||
                { cat "$tmp/sync"; return 1; }
        grep -q '^accessKeyState: inactive' "$tmp/sync" && [[ $(grep -c '^accessKeyVerifier::' "$tmp/sync") -eq 2 ]] &&
                grep -q '^# cookie: rid=.*csn=' "$tmp/sync" || { cat "$tmp/sync"; return 1; }
}
check "a host's sync search returns the keys as they are now, and a cookie" sync_search

echo "ldap-schema: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
