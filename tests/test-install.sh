#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/test-install.sh — checks "make install" and "make uninstall" the way
# a Debian package build runs them.
#
# It configures a build of its own, in a temporary directory, with
# --prefix=/usr --sysconfdir=/etc --localstatedir=/var and the directories
# configure finds on this system (the PAM module directory, the systemd unit
# directory), and runs "make install DESTDIR=…": every file in its place,
# with sane modes, and nothing else; the unit and the D-Bus activation file
# point at the installed daemon; nothing under /var or /run.  The default
# configuration file belongs to the administrator once installed: an edited
# copy survives "make install" and "make uninstall".  "make uninstall" leaves
# no file behind.  When systemd-analyze works here, "systemd-analyze verify"
# must be clean on the installed unit.
#
# Exit status: 0 pass, 1 fail, 77 skip.  The last line is
# "install: N passed, N failed".

set -uo pipefail

passed=0
failed=0
top_srcdir=${AK_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
jobs=$(nproc 2>/dev/null || echo 2)

# This test runs make itself; it must not join the make that runs the suite.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DESTDIR

[[ -x $top_srcdir/configure ]] || {
        echo "install: SKIP: $top_srcdir/configure is missing (run autoreconf -fi)"
        exit 77
}

tmp=$(mktemp -d /tmp/accesskey-install.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
build=$tmp/build
root=$tmp/root

pass() {
        echo "PASS: $*"
        passed=$((passed + 1))
}

fail() {
        echo "FAIL: $*"
        failed=$((failed + 1))
}

finish() {
        echo "install: $passed passed, $failed failed"
        [[ $failed -eq 0 ]]
        exit
}

# Runs a build step, its output in a log shown only when it fails.
run() {
        local what=$1
        shift
        if "$@" >"$tmp/step.log" 2>&1; then
                return 0
        fi
        echo "---- $what failed:"
        tail -n 40 "$tmp/step.log"
        return 1
}

# Every file and symbolic link below $root, sorted, without the $root prefix.
installed() {
        (cd "$root" && find . \( -type f -o -type l \) -printf '/%P\n' | LC_ALL=C sort)
}

mkdir -p "$build" "$root"
echo "install: configuring and building in $build"
cd "$build" || exit 1
run configure "$top_srcdir/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
        --disable-dependency-tracking || { fail "configure --prefix=/usr"; finish; }
run make make -j"$jobs" all || { fail "make"; finish; }
pass "configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var; make"

# The directories configure chose, as the Makefile has them.
makevar() {
        make -s --no-print-directory -f Makefile -f - ak-print-var VAR="$1" <<'EOF'
ak-print-var:
	@echo '$($(VAR))'
EOF
}
pammoddir=$(makevar pammoddir)
unitdir=$(makevar systemdsystemunitdir)
tmpfilesdir=$(makevar tmpfilesdir)
libdir=$(makevar libdir)

# The system's PAM module directory: where pam_unix.so is, as pkg-config
# says (on Debian 12 /lib/x86_64-linux-gnu/security, the same directory as
# /usr/lib/x86_64-linux-gnu/security since /usr was merged).
sys_pamdir=$(pkg-config --variable=libdir pam)/security
if [[ $pammoddir == "$sys_pamdir" ]]; then
        pass "the PAM module directory is the system's: $pammoddir"
else
        fail "the PAM module directory is $pammoddir, the system's is $sys_pamdir"
fi
if [[ -e $sys_pamdir/pam_unix.so ]]; then
        pass "pam_unix.so is in that directory"
else
        fail "$sys_pamdir/pam_unix.so does not exist: configure found the wrong PAM directory"
fi
if pkg-config --exists systemd; then
        want=$(pkg-config --variable=systemdsystemunitdir systemd)
        if [[ $unitdir == "$want" ]]; then
                pass "the unit directory is the system's: $unitdir"
        else
                fail "the unit directory is $unitdir, the system's is $want"
        fi
fi

expected=$(LC_ALL=C sort <<EOF
/usr/sbin/accesskeyd
/usr/bin/accesskeyctl
$pammoddir/pam_accesskey.so
$libdir/libaccesskey.so
$libdir/libaccesskey.so.0
$libdir/libaccesskey.so.0.0.0
$libdir/libaccesskey.la
$libdir/pkgconfig/libaccesskey.pc
/usr/include/accesskey.h
/usr/share/dbus-1/system.d/org.accesskey.KeyStore1.conf
/usr/share/dbus-1/system-services/org.accesskey.KeyStore1.service
/usr/share/dbus-1/interfaces/org.accesskey.KeyStore1.xml
$unitdir/accesskeyd.service
$tmpfilesdir/accesskey.conf
/etc/accesskey/accesskeyd.conf
/usr/share/man/man1/accesskeyctl.1
/usr/share/man/man3/libaccesskey.3
/usr/share/man/man5/accesskeyd.conf.5
/usr/share/man/man8/accesskeyd.8
/usr/share/man/man8/pam_accesskey.8
/usr/share/accesskey/ldap/accesskey.schema
/usr/share/accesskey/ldap/accesskey.ldif
/usr/share/accesskey/ldap/acl-example.ldif
EOF
)

# ---------------------------------------------------------------- make install
run "make install" make install DESTDIR="$root" || { fail "make install DESTDIR=$root"; finish; }
pass "make install DESTDIR=…"

got=$(installed)
if [[ $got == "$expected" ]]; then
        pass "the installed files are exactly the expected ones ($(wc -l <<<"$got"))"
else
        fail "the installed files differ from the expected ones (< missing, > unexpected):"
        diff <(echo "$expected") <(echo "$got") | grep '^[<>]'
fi

# Modes: nothing writable by group or others, nothing setuid or setgid;
# programs executable; data and the configuration not.
bad=$(find "$root" \( -perm /022 -o -perm /6000 \) ! -type l -printf '/%P (%m)\n')
if [[ -z $bad ]]; then
        pass "no installed file or directory is group- or world-writable, setuid or setgid"
else
        fail "unsafe modes: $bad"
fi
for f in /usr/sbin/accesskeyd /usr/bin/accesskeyctl; do
        if [[ -f $root$f && -x $root$f ]]; then
                pass "$f is an executable"
        else
                fail "$f is not an executable file"
        fi
done
bad=
for f in /etc/accesskey/accesskeyd.conf /usr/include/accesskey.h /usr/share/dbus-1/system.d/org.accesskey.KeyStore1.conf \
        "$unitdir/accesskeyd.service" "$tmpfilesdir/accesskey.conf" /usr/share/man/man8/accesskeyd.8; do
        [[ -f $root$f ]] || continue
        mode=$(stat -c %a "$root$f")
        [[ $mode == 644 ]] || bad+=" $f ($mode)"
done
if [[ -z $bad ]]; then
        pass "data files, the unit and the configuration have mode 0644"
else
        fail "data files with another mode than 0644:$bad"
fi
if [[ $(id -u) -eq 0 ]]; then
        bad=$(find "$root" ! -user root -printf '/%P\n')
        if [[ -z $bad ]]; then
                pass "everything installed is owned by root"
        else
                fail "not owned by root: $bad"
        fi
fi
if [[ -e $root/var || -e $root/run ]]; then
        fail "make install wrote below /var or /run: $(cd "$root" && find var run 2>/dev/null | tr '\n' ' ')"
else
        pass "nothing is installed below /var or /run (the state and runtime directories are made at run time)"
fi

# What the clients load: sshd, su and every other PAM service load the module,
# any program may load the library, and none of them should map OpenSSL for
# it.  The verifier (HMAC under the pepper) and key generation are the
# daemon's (daemon/verifier.c); the clients only parse the format.
if command -v readelf >/dev/null; then
        for f in "$pammoddir/pam_accesskey.so" "$libdir/libaccesskey.so.0.0.0" /usr/bin/accesskeyctl; do
                needed=$(readelf -d "$root$f" 2>&1 | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
                if [[ -z $needed ]]; then
                        fail "readelf -d $f lists no NEEDED library: $(readelf -d "$root$f" 2>&1 | head -n 3)"
                elif [[ $needed == *libcrypto* || $needed == *libssl* ]]; then
                        fail "$f links OpenSSL (NEEDED: $needed); only accesskeyd may"
                else
                        pass "$f links no libcrypto (NEEDED: $needed)"
                fi
        done
else
        echo "SKIP: readelf is not available; the libraries the clients link are not checked"
fi

# What the files say.
conf=$root/etc/accesskey/accesskeyd.conf
if cmp -s "$conf" "$top_srcdir/conf/accesskeyd.conf" && ! grep -q '^[[:space:]]*[A-Za-z]' "$conf"; then
        pass "the installed accesskeyd.conf is the shipped one, every setting commented"
else
        fail "the installed accesskeyd.conf is not the shipped, all-commented file"
fi
# Every setting the daemon knows is in the file, and no other.
daemon_keys=$(grep -o 'streq(key, "[A-Za-z]*")' "$top_srcdir/daemon/config.c" | sed 's/.*"\(.*\)")/\1/' | LC_ALL=C sort -u)
conf_keys=$(sed -n 's/^#\([A-Z][A-Za-z]*\) =.*/\1/p' "$conf" | LC_ALL=C sort -u)
if [[ -n $daemon_keys && $daemon_keys == "$conf_keys" ]]; then
        pass "accesskeyd.conf lists every setting of daemon/config.c: ${daemon_keys//$'\n'/ }"
else
        fail "the settings of accesskeyd.conf and daemon/config.c differ:" \
                "$(diff <(echo "$daemon_keys") <(echo "$conf_keys") | grep '^[<>]' | tr '\n' ' ')"
fi
# The file with its settings uncommented (the defaults) is accepted by the
# daemon: it gets past the configuration and stops at the missing bus.
sed -n 's/^#\([A-Z][A-Za-z]* =.*\)/\1/p' "$conf" >"$tmp/defaults.conf"
out=$("$build/accesskeyd" --bus="unix:path=$tmp/no-bus" --state-dir="$tmp/state" --private-socket= \
        --config="$tmp/defaults.conf" 2>&1)
if [[ $out != *configuration* && $out == *"cannot connect to the bus"* ]]; then
        pass "accesskeyd accepts the defaults of accesskeyd.conf, uncommented"
else
        fail "accesskeyd rejects the defaults of accesskeyd.conf, uncommented: $out"
fi

unit=$root$unitdir/accesskeyd.service
activation=$root/usr/share/dbus-1/system-services/org.accesskey.KeyStore1.service
for want in "ExecStart=/usr/sbin/accesskeyd " "Type=dbus" "BusName=org.accesskey.KeyStore1" \
        "StateDirectory=accesskey" "StateDirectoryMode=0700" "Restart=on-failure"; do
        if grep -q "^$want" "$unit"; then
                pass "accesskeyd.service has $want"
        else
                fail "accesskeyd.service lacks $want"
        fi
done
if grep -q '^SystemdService=accesskeyd.service$' "$activation" &&
        grep -q '^Name=org.accesskey.KeyStore1$' "$activation"; then
        pass "the D-Bus activation file starts accesskeyd.service"
else
        fail "the D-Bus activation file does not name accesskeyd.service: $(cat "$activation")"
fi
if grep -q '^d /run/accesskey ' "$root$tmpfilesdir/accesskey.conf"; then
        pass "tmpfiles.d makes /run/accesskey"
else
        fail "tmpfiles.d/accesskey.conf does not make /run/accesskey"
fi
if grep -q '^prefix=/usr$' "$root$libdir/pkgconfig/libaccesskey.pc"; then
        pass "libaccesskey.pc has prefix=/usr"
else
        fail "libaccesskey.pc: $(cat "$root$libdir/pkgconfig/libaccesskey.pc")"
fi
if command -v xmllint >/dev/null; then
        if xmllint --noout "$root/usr/share/dbus-1/system.d/org.accesskey.KeyStore1.conf" \
                "$root/usr/share/dbus-1/interfaces/org.accesskey.KeyStore1.xml" 2>"$tmp/xml.log"; then
                pass "the bus policy and the interface XML are well-formed"
        else
                fail "xmllint: $(cat "$tmp/xml.log")"
        fi
fi

# systemd-analyze verify on the installed unit, with ExecStart pointing into
# DESTDIR (verify checks that the program exists).  --man=no: the man pages
# the unit names are installed in DESTDIR, not on this system.
if command -v systemd-analyze >/dev/null && systemd-analyze --version >/dev/null 2>&1; then
        mkdir -p "$tmp/verify"
        sed -e "s|=/usr/sbin/accesskeyd|=$root/usr/sbin/accesskeyd|" "$unit" >"$tmp/verify/accesskeyd.service"
        if systemd-analyze verify --man=no "$tmp/verify/accesskeyd.service" >"$tmp/verify.log" 2>&1 &&
                [[ ! -s $tmp/verify.log ]]; then
                pass "systemd-analyze verify accesskeyd.service is clean"
        elif grep -qi 'not booted\|Failed to .*manager\|Operation not permitted' "$tmp/verify.log"; then
                echo "SKIP: systemd-analyze verify does not work here: $(head -n 3 "$tmp/verify.log")"
        else
                fail "systemd-analyze verify accesskeyd.service: $(cat "$tmp/verify.log")"
        fi
else
        echo "SKIP: systemd-analyze is not available; the unit is not verified"
fi

# ---------------------------------------------------------------- the administrator's configuration
echo "MaxKeysPerUser = 5" >>"$conf"
cp "$conf" "$tmp/edited.conf"
run "make install (again)" make install DESTDIR="$root" || fail "make install DESTDIR=… over an installed tree"
if cmp -s "$conf" "$tmp/edited.conf"; then
        pass "make install keeps an edited accesskeyd.conf"
else
        fail "make install overwrote an edited accesskeyd.conf"
fi

run "make uninstall" make uninstall DESTDIR="$root" || fail "make uninstall DESTDIR=…"
got=$(installed)
if [[ $got == /etc/accesskey/accesskeyd.conf ]] && cmp -s "$conf" "$tmp/edited.conf"; then
        pass "make uninstall removes every file but the edited accesskeyd.conf"
else
        fail "after make uninstall with an edited accesskeyd.conf, left: ${got//$'\n'/ }"
fi
rm -f "$conf"

# ---------------------------------------------------------------- make uninstall
run "make install (fresh)" make install DESTDIR="$root" || fail "make install DESTDIR=… (fresh)"
run "make uninstall (fresh)" make uninstall DESTDIR="$root" || fail "make uninstall DESTDIR=… (fresh)"
got=$(installed)
if [[ -z $got ]]; then
        pass "make install then make uninstall leaves no file"
else
        fail "make uninstall left: ${got//$'\n'/ }"
fi

finish
