# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Makes ldap/accesskey.ldif (cn=config form) from ldap/accesskey.schema
# (slapd.conf form), so that the schema is written once:
#   awk -f schema-to-ldif.awk accesskey.schema > accesskey.ldif
# A definition's continuation lines become LDIF continuation lines: LDIF
# drops the first space of one, so two are written to keep a separator.
# Comments and blank lines are left out (a blank line ends an LDIF entry).
BEGIN {
        print "# accesskey.ldif - the accesskey LDAP schema for slapd's cn=config, made from"
        print "# accesskey.schema (read that file for what each attribute means).  Load it with"
        print "#   ldapadd -Y EXTERNAL -H ldapi:/// -f /usr/share/accesskey/ldap/accesskey.ldif"
        print "dn: cn=accesskey,cn=schema,cn=config"
        print "objectClass: olcSchemaConfig"
        print "cn: accesskey"
}
/^[ \t]*(#|$)/ { next }
/^attributetype[ \t]/ { sub(/^attributetype[ \t]+/, "olcAttributeTypes: "); print; next }
/^objectclass[ \t]/ { sub(/^objectclass[ \t]+/, "olcObjectClasses: "); print; next }
/^[ \t]/ { sub(/^[ \t]+/, "  "); print; next }
{ print "schema-to-ldif: line " NR " is not part of a definition: " $0 > "/dev/stderr"; exit 1 }
