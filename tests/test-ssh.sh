#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/test-ssh.sh — logs in to the real OpenSSH server with the real ssh
# client, through the built pam_accesskey.so.
#
# As root, it starts a private dbus-daemon and accesskeyd (as tests/harness.c
# does), a temporary local user with a known password, and an sshd of its own
# on 127.0.0.1 and a free high port, with its own configuration and host key.
# sshd names its PAM service after the name it was started by, so it runs as
# "sshd-aktest" (a symlink to /usr/sbin/sshd) and reads
# /etc/pam.d/sshd-aktest, a file of this test's own: /etc/pam.d/sshd is never
# touched.  sshpass types the password; both of sshd's password methods
# (keyboard-interactive and password) are tried.
#
# It leaves the machine as it found it.  When the kernel allows it (root on
# a normal host or VM), the test runs in PID and mount namespaces of its own,
# with a private copy of /etc and of the login records (/var/log/btmp, where
# sshd logs each failed login, wtmp, lastlog, faillog) mounted over the real
# ones, and an empty /run: the user and the PAM file never exist outside it,
# and ending the test in any way, even by SIGKILL, ends every process it
# started.  Either way, everything it creates (the user and its home, the
# PAM file, /run/sshd when it was missing, the processes, the temporary
# directory) is removed at the end, and the host is checked afterwards.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root, or no sshd/ssh/sshpass).
# The last line is "ssh: N passed, N failed".

# shellcheck disable=SC2016 # remote commands are quoted to expand in the ssh session
set -uo pipefail

passed=0
failed=0
top_builddir=${AK_TOP_BUILDDIR:-$(pwd)}
top_srcdir=${AK_TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
sshd_bin=/usr/sbin/sshd
service=sshd-aktest
pam_file=/etc/pam.d/$service

skip() {
        echo "ssh: SKIP: $*"
        exit 77
}

[[ $(id -u) -eq 0 ]] || skip "needs root (a user, an sshd and a file in /etc/pam.d, all removed afterwards)"
[[ -x $sshd_bin ]] || skip "$sshd_bin not found: install openssh-server (tools/install-deps does it)"
for prog in ssh ssh-keygen sshpass dbus-daemon busctl useradd userdel chpasswd; do
        command -v "$prog" >/dev/null || skip "$prog not found (tools/install-deps installs what is needed)"
done
for f in accesskeyd accesskeyctl .libs/pam_accesskey.so; do
        [[ -e $top_builddir/$f ]] || { echo "ssh: $top_builddir/$f is missing: run make first" >&2; exit 1; }
done
[[ -e $pam_file ]] && skip "$pam_file exists already (another run of this test?); not touching it"
# A module built with AddressSanitizer cannot be loaded by an sshd that is
# not: the plain build (tools/check) runs this test.
if ldd "$top_builddir/.libs/pam_accesskey.so" 2>/dev/null | grep -q libasan; then
        skip "the module is built with AddressSanitizer, which the system's sshd cannot load"
fi

user=${AK_SSH_TEST_USER:-aksh$$}
# Inside the namespaces, the counts go to the wrapper outside, which adds its
# own check of the host and prints the last line.
summary_prefix="ssh:"
[[ -n ${AK_SSH_TEST_INNER:-} ]] && summary_prefix="ssh: inner:"
account_files=(/etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/subuid /etc/subgid
        /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow- /etc/subuid- /etc/subgid-)
login_records=(/var/log/btmp /var/log/wtmp /var/log/lastlog /var/log/faillog)

# What this test could leave on the host: its user in the account files
# (and their backups), its PAM file, and login records.  Other users that
# come and go meanwhile (other tests) do not count.
host_state() {
        local f
        for f in "${account_files[@]}"; do
                [[ -e $f ]] && grep -q "^$user:" "$f" && echo "$user in $f"
        done
        [[ -e $pam_file ]] && echo "$pam_file"
        [[ -e /home/$user ]] && echo "/home/$user"
        for f in "${login_records[@]}"; do
                [[ -e $f ]] && echo "$f: $(cksum <"$f")"
        done
        return 0
}

ns=(unshare --pid --fork --kill-child=TERM --mount-proc --mount --propagation private)
if [[ -z ${AK_SSH_TEST_INNER:-} ]] && command -v unshare >/dev/null && "${ns[@]}" true 2>/dev/null; then
        before=$(host_state)
        out=$(mktemp /tmp/accesskey-ssh-out.XXXXXX) || exit 1
        AK_SSH_TEST_INNER=1 AK_SSH_TEST_USER=$user "${ns[@]}" bash "${BASH_SOURCE[0]}" | tee "$out"
        rc=${PIPESTATUS[0]}
        summary=$(tail -n 1 "$out")
        rm -f "$out"
        [[ $rc -eq 77 ]] && exit 77
        if [[ $summary =~ ^ssh:\ inner:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
                passed=${BASH_REMATCH[1]}
                failed=${BASH_REMATCH[2]}
        else
                failed=1
        fi
        after=$(host_state)
        if [[ $after == "$before" ]]; then
                echo "PASS: the host is as it was (users, /etc/pam.d, login records)"
                passed=$((passed + 1))
        else
                echo "FAIL: the host changed: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | tr '\n' ' ')"
                failed=$((failed + 1))
        fi
        echo "ssh: $passed passed, $failed failed"
        [[ $rc -eq 0 && $failed -eq 0 ]]
        exit
fi
user_pw="Pw-$$-$RANDOM$RANDOM"
tmp=$(mktemp -d /tmp/accesskey-ssh.XXXXXX) || exit 1
bus_pid=
daemon_pid=
sshd_pid=
made_user=false
made_pam=false
made_run_sshd=false
cleaned=false
chmod 0755 "$tmp" # the user's home is inside

# Stops pid (SIGTERM, then SIGKILL after 5 s) if it is still ours and alive.
stop_pid() {
        local pid=$1 i
        [[ -n $pid ]] || return 0
        kill -TERM "$pid" 2>/dev/null || return 0
        for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return 0
}

cleanup() {
        local i
        $cleaned && return 0
        cleaned=true
        stop_pid "$sshd_pid"
        sshd_pid=
        stop_pid "$daemon_pid"
        daemon_pid=
        stop_pid "$bus_pid"
        bus_pid=
        if $made_user; then
                # A session that is still closing keeps the user busy for a
                # moment; userdel refuses a user who owns processes.
                for ((i = 0; i < 50; i++)); do
                        userdel -r "$user" 2>/dev/null && break
                        sleep 0.1
                done
                if getent passwd "$user" >/dev/null; then
                        userdel -r -f "$user" 2>&1 | sed 's/^/ssh: userdel: /'
                fi
                made_user=false
        fi
        if $made_pam; then
                rm -f "$pam_file"
                made_pam=false
        fi
        if $made_run_sshd; then
                rmdir /run/sshd 2>/dev/null
                made_run_sshd=false
        fi
        [[ $tmp == /tmp/accesskey-ssh.* ]] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass() {
        echo "PASS: $*"
        passed=$((passed + 1))
}

fail() {
        echo "FAIL: $*"
        failed=$((failed + 1))
}

# Prints the last lines of the logs of the run, so a failure explains itself.
show_logs() {
        local f
        for f in "$tmp"/sshd.log "$tmp"/accesskeyd.log; do
                [[ -s $f ]] || continue
                echo "---- last lines of ${f##*/}"
                tail -n 25 "$f"
        done
}

die() {
        echo "ssh: $*" >&2
        show_logs
        echo "$summary_prefix $passed passed, $((failed + 1)) failed"
        exit 1
}

# ---------------------------------------------------------------- the bus and the daemon
busconf=$tmp/bus.conf
sed -e "s|@LISTEN@|unix:path=$tmp/bus|" \
    -e "s|@POLICY@|$top_srcdir/dbus/org.accesskey.KeyStore1.conf|" \
    "$top_srcdir/tests/data/system-bus.conf.in" >"$busconf" || die "cannot write $busconf"
dbus-daemon --nofork --nopidfile --config-file="$busconf" </dev/null >"$tmp/bus.log" 2>&1 &
bus_pid=$!
for ((i = 0; i < 100; i++)); do
        [[ -S $tmp/bus ]] && break
        kill -0 "$bus_pid" 2>/dev/null || die "dbus-daemon exited at start: $(cat "$tmp/bus.log")"
        sleep 0.1
done
[[ -S $tmp/bus ]] || die "dbus-daemon did not listen within 10 s"

bus=unix:path=$tmp/bus
# The host's /etc/accesskey/accesskeyd.conf is not read; the test user needs
# more keys than the default limit of two.
echo "MaxKeysPerUser = unlimited" >"$tmp/accesskeyd.conf"
"$top_builddir/accesskeyd" --bus="$bus" --state-dir="$tmp/state" --private-socket="$tmp/private" \
        --config="$tmp/accesskeyd.conf" --debug </dev/null >"$tmp/accesskeyd.log" 2>&1 &
daemon_pid=$!
for ((i = 0; i < 100; i++)); do
        busctl --address="$bus" status org.accesskey.KeyStore1 >/dev/null 2>&1 && break
        kill -0 "$daemon_pid" 2>/dev/null || die "accesskeyd exited at start"
        sleep 0.1
done
busctl --address="$bus" status org.accesskey.KeyStore1 >/dev/null 2>&1 ||
        die "accesskeyd did not take its bus name within 10 s"

ctl() {
        "$top_builddir/accesskeyctl" --bus="$bus" "$@"
}

# Creates a key for the arguments given and prints "ID:SECRET".
new_key() {
        local out id secret
        out=$(ctl create "$@") || { echo "ssh: accesskeyctl create $* failed" >&2; return 1; }
        id=$(sed -n 's/^Access key ID: *//p' <<<"$out")
        secret=$(sed -n 's/^Secret: *//p' <<<"$out")
        [[ -n $id && -n $secret ]] || { echo "ssh: cannot read the key from: $out" >&2; return 1; }
        echo "$id:$secret"
}

# ---------------------------------------------------------------- namespaces
if [[ -n ${AK_SSH_TEST_INNER:-} ]]; then
        # Only ever over the mounts of a namespace of our own.
        [[ $$ -eq 1 ]] || die "AK_SSH_TEST_INNER is set outside the test's own namespaces; not mounting anything"
        echo "ssh: running in PID and mount namespaces of its own, on a private copy of /etc"
        { cp -a /etc "$tmp/etc" && mount --bind "$tmp/etc" /etc; } || die "cannot mount a copy of /etc"
        for f in "${login_records[@]}"; do
                [[ -f $f ]] || continue
                { cp -a "$f" "$tmp/${f##*/}" && mount --bind "$tmp/${f##*/}" "$f"; } || die "cannot mount a copy of $f"
        done
        # sshd needs /run/sshd (its privilege separation directory).  An
        # empty /run of our own holds it, so that a run never removes the
        # directory from under the host's sshd or another run's.
        { mount -t tmpfs -o mode=0755,size=1m accesskey-ssh /run && mkdir -m 0755 /run/sshd; } ||
                die "cannot mount a tmpfs on /run"
else
        echo "ssh: no namespaces here; the test user and $pam_file are made on the host and removed at the end"
fi

# ---------------------------------------------------------------- the user
useradd -m -d "$tmp/home" -s /bin/sh -c "accesskey ssh test" "$user" || die "useradd $user failed"
made_user=true
echo "$user:$user_pw" | chpasswd || die "chpasswd $user failed"

# ---------------------------------------------------------------- sshd
module=$top_builddir/.libs/pam_accesskey.so
opts="bus=$bus socket=$tmp/private timeout=5000"
# Written only now that no such file exists (checked above); removed at the
# end.  The account stack of the module sees the login made by key because
# sshd runs pam_acct_mgmt in the same process as pam_authenticate.
made_pam=true
cat >"$pam_file" <<EOF || die "cannot write $pam_file"
# Written by accesskey's tests/test-ssh.sh for one run (pid $$) and removed at
# its end.  If it is still here, no such test is running: delete it.
auth     sufficient  $module $opts
@include common-auth
account  required    $module $opts
@include common-account
session  required    pam_permit.so
password required    pam_deny.so
EOF

if [[ ! -d /run/sshd ]]; then
        # Only without namespaces: removed at the end if we made it.
        mkdir -m 0755 /run/sshd || die "cannot create /run/sshd"
        made_run_sshd=true
fi
ssh-keygen -q -t ed25519 -N '' -C accesskey-test -f "$tmp/host_ed25519" || die "ssh-keygen failed"
# sshd re-executes itself by the absolute path it was started by, and takes
# its PAM service name from that path's last part.
ln -s "$sshd_bin" "$tmp/$service"

port_busy() {
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_sshd() {
        local port=$1 i
        cat >"$tmp/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/host_ed25519
PidFile $tmp/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication yes
PubkeyAuthentication no
HostbasedAuthentication no
AuthorizedKeysFile none
PermitRootLogin no
AllowUsers $user
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxAuthTries 3
LogLevel VERBOSE
EOF
        "$tmp/$service" -D -e -f "$tmp/sshd_config" </dev/null >"$tmp/sshd.log" 2>&1 &
        sshd_pid=$!
        for ((i = 0; i < 100; i++)); do
                port_busy "$port" && return 0
                kill -0 "$sshd_pid" 2>/dev/null || break
                sleep 0.1
        done
        stop_pid "$sshd_pid"
        sshd_pid=
        return 1
}

port=
for ((try = 0; try < 10; try++)); do
        p=$((20000 + RANDOM % 10000))
        port_busy "$p" && continue
        if start_sshd "$p"; then
                port=$p
                break
        fi
done
[[ -n $port ]] || die "sshd did not start: $(cat "$tmp/sshd.log" 2>/dev/null)"
echo "ssh: $service (pid $sshd_pid) listens on 127.0.0.1:$port for user $user"

# ---------------------------------------------------------------- logins
# login METHOD PASSWORD COMMAND: logs in as the test user with sshpass and
# runs COMMAND; prints its output and returns ssh's status.
login() {
        local method=$1 pw=$2
        shift 2
        SSHPASS=$pw timeout 60 sshpass -e ssh -F /dev/null \
                -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
                -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR \
                -o BatchMode=no -o PubkeyAuthentication=no -o GSSAPIAuthentication=no \
                -o PreferredAuthentications="$method" -o NumberOfPasswordPrompts=1 \
                -o ConnectTimeout=10 -p "$port" "$user@127.0.0.1" "$@" </dev/null 2>&1
}

# expect_login WHAT METHOD PASSWORD: the login must succeed as the user.
expect_login() {
        local what=$1 method=$2 out
        out=$(login "$method" "$3" 'echo "logged-in-as-$(id -un)"')
        if [[ $out == *"logged-in-as-$user"* ]]; then
                pass "$what ($method)"
        else
                fail "$what ($method): expected a login as $user, got: $out"
                show_logs
        fi
}

# expect_refused WHAT METHOD PASSWORD: the login must fail.
expect_refused() {
        local what=$1 method=$2 out rc
        out=$(login "$method" "$3" 'echo "logged-in-as-$(id -un)"')
        rc=$?
        if [[ $out == *logged-in-as* ]]; then
                fail "$what ($method): the login was let in: $out"
        elif [[ $rc -eq 0 ]]; then
                fail "$what ($method): ssh exited 0 without logging in: $out"
        else
                pass "$what ($method): refused"
        fi
}

kbd=keyboard-interactive
pwd_method=password

key=$(new_key --user "$user" --name ssh) || die "cannot create a key"
id=${key%%:*}
expect_login "a key of the user" "$kbd" "$key"
expect_login "a key of the user" "$pwd_method" "$key"

out=$(login "$kbd" "$key" 'echo "id=$ACCESSKEY_ID"')
if [[ $out == *"id=$id"* ]]; then
        pass "ACCESSKEY_ID reaches the session through sshd"
else
        fail "ACCESSKEY_ID in the session: expected id=$id, got: $out"
fi

if ctl show "$id" | grep -q "service $service, from 127.0.0.1"; then
        pass "the key's last use names the service and the remote host"
else
        fail "accesskeyctl show $id does not report the last use by $service from 127.0.0.1: $(ctl show "$id")"
fi

ctl deactivate "$id" >/dev/null || die "accesskeyctl deactivate failed"
expect_refused "a deactivated key" "$kbd" "$key"
expect_refused "a deactivated key" "$pwd_method" "$key"
ctl reactivate "$id" >/dev/null || die "accesskeyctl reactivate failed"
expect_login "the key, reactivated" "$kbd" "$key"

# A mistyped secret fails its checksum in the module; the secret of another
# key is well-formed and reaches the daemon, which refuses it.
expect_refused "a mistyped secret" "$kbd" "$id:aks_0000000000000000000000000000000000000000000000"

key_other=$(new_key --user "$user" --name other-service --service other-service) || die "cannot create a key"
expect_refused "a key limited to another service" "$kbd" "$key_other"
key_svc=$(new_key --user "$user" --name this-service --service "$service") || die "cannot create a key"
expect_login "a key limited to this service" "$kbd" "$key_svc"
expect_refused "a key ID with the secret of another key" "$kbd" "$id:${key_svc#*:}"

key_net=$(new_key --user "$user" --name other-net --network 10.0.0.0/8) || die "cannot create a key"
expect_refused "a key limited to another network" "$kbd" "$key_net"
ctl update "${key_net%%:*}" --network 127.0.0.0/8 >/dev/null || die "accesskeyctl update failed"
expect_login "the key, limited to 127.0.0.0/8" "$kbd" "$key_net"
ctl update "${key_net%%:*}" --network local >/dev/null || die "accesskeyctl update failed"
expect_refused "a key limited to local logins, over the network" "$kbd" "$key_net"

key_root=$(new_key --name root-key) || die "cannot create a key"
expect_refused "a key of another user (root)" "$kbd" "$key_root"

ctl delete "${key_svc%%:*}" >/dev/null || die "accesskeyctl delete failed"
expect_refused "a deleted key" "$kbd" "$key_svc"

# Expiry is given to the second; the key is made to expire 4 s from now.
expires=$(date -u -d "@$(($(date +%s) + 4))" +%Y-%m-%dT%H:%M:%SZ)
key_exp=$(new_key --user "$user" --name expiring --expires "$expires") || die "cannot create a key"
expect_login "a key before its expiry" "$kbd" "$key_exp"
while [[ $(date -u +%Y-%m-%dT%H:%M:%SZ) < "$expires" || $(date -u +%Y-%m-%dT%H:%M:%SZ) == "$expires" ]]; do
        sleep 0.5
done
sleep 1
expect_refused "an expired key" "$kbd" "$key_exp"
expect_refused "an expired key" "$pwd_method" "$key_exp"

expect_login "the user's password, through pam_unix" "$kbd" "$user_pw"
expect_login "the user's password, through pam_unix" "$pwd_method" "$user_pw"
expect_refused "a wrong password" "$kbd" "not-the-password"

# With the daemon gone, a key is refused and passwords still work.
stop_pid "$daemon_pid"
daemon_pid=
expect_refused "a key while accesskeyd is stopped" "$kbd" "$key"
expect_login "the user's password while accesskeyd is stopped" "$kbd" "$user_pw"

# ---------------------------------------------------------------- leaving no trace
pid_was=$sshd_pid
run_sshd_made=$made_run_sshd
cleanup
trap - EXIT
left=()
kill -0 "$pid_was" 2>/dev/null && left+=("sshd pid $pid_was")
getent passwd "$user" >/dev/null && left+=("user $user")
getent group "$user" >/dev/null && left+=("group $user")
[[ -e $pam_file ]] && left+=("$pam_file")
[[ -e $tmp ]] && left+=("$tmp")
$run_sshd_made && [[ -e /run/sshd ]] && left+=(/run/sshd)
if [[ ${#left[@]} -eq 0 ]]; then
        pass "nothing is left behind (user, home, PAM file, processes, $tmp)"
else
        fail "left behind: ${left[*]}"
fi

echo "$summary_prefix $passed passed, $failed failed"
[[ $failed -eq 0 ]]
