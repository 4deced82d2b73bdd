#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check data/org.example.VMLease.conf on a real dbus-daemon.

Starts a private system-type dbus-daemon whose configuration is Debian's
default system policy plus our file, and checks what the file promises:

  - dbus-daemon accepts the configuration (a parse error fails here);
  - root may own org.example.VMLease, another uid (nobody) may not;
  - while root owns it, nobody may call every listed interface and may not
    call an unlisted one.

Run as root (meson test does, here and in CI). As another user only the
parse and "this uid may not own the name" checks are possible; they still run
and the test passes on them, saying so.

Usage: test-bus-policy.py POLICY_FILE
"""

import os
import select
import subprocess
import sys
import tempfile
import threading
import time

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

NAME = 'org.example.VMLease'
ALLOWED = [
    ('org.example.VMLease.Manager', 'GetLease', 'string:x'),
    ('org.example.VMLease', 'Inquire', None),
    ('org.freedesktop.DBus.Properties', 'GetAll', 'string:org.example.VMLease.Manager'),
    ('org.freedesktop.DBus.Introspectable', 'Introspect', None),
    ('org.freedesktop.DBus.ObjectManager', 'GetManagedObjects', None),
    ('org.freedesktop.DBus.Peer', 'Ping', None),
]
DENIED = [
    ('org.example.NotOurs', 'Anything', None),
]
NOBODY = 65534

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include ignore_missing="no">{policy}</include>
</busconfig>
"""

failures = []


def check(ok, what):
    print(('ok     ' if ok else 'FAILED ') + what, flush=True)
    if not ok:
        failures.append(what)


def start_bus(tmp, policy):
    socket = os.path.join(tmp, 'bus')
    conf = os.path.join(tmp, 'bus.conf')
    with open(conf, 'w') as f:
        f.write(BUS_CONFIG.format(socket=socket, policy=policy))
    rfd, wfd = os.pipe()
    log = open(os.path.join(tmp, 'dbus-daemon.log'), 'w+')
    proc = subprocess.Popen(
        ['dbus-daemon', '--config-file=' + conf, '--nofork',
         '--print-address=%d' % wfd],
        pass_fds=(wfd,), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    os.close(wfd)
    address = b''
    deadline = time.monotonic() + 10
    while not address.endswith(b'\n') and time.monotonic() < deadline:
        ready, _, _ = select.select([rfd], [], [], 0.2)
        if ready:
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            address += chunk
        elif proc.poll() is not None:
            break
    os.close(rfd)
    if not address.endswith(b'\n'):
        proc.kill()
        proc.wait()
        log.seek(0)
        sys.exit('dbus-daemon did not start with our policy included:\n'
                 + log.read())
    return proc, 'unix:path=' + socket


def run_as(uid, argv):
    """Run argv as uid (through setpriv when that is not us)."""
    if uid != os.geteuid():
        argv = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid,
                '--clear-groups', '--'] + argv
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


def request_name(uid, address):
    """RequestName as uid; returns (allowed, output)."""
    r = run_as(uid, ['dbus-send', '--bus=' + address, '--print-reply',
                     '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
                     'org.freedesktop.DBus.RequestName',
                     'string:' + NAME, 'uint32:0'])
    out = (r.stdout + r.stderr).strip()
    return r.returncode == 0 and 'uint32 1' in r.stdout, out


def call_while_serving(uid, address, interface, member, arg):
    """Call NAME as uid while our main context serves root's connection."""
    argv = ['dbus-send', '--bus=' + address, '--print-reply',
            '--reply-timeout=5000', '--dest=' + NAME, '/org/example/VMLease',
            interface + '.' + member]
    if arg:
        argv.append(arg)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=run_as(uid, argv)))
    t.start()
    ctx = GLib.MainContext.default()
    while t.is_alive():
        ctx.iteration(False)
        time.sleep(0.005)
    t.join()
    r = result['r']
    return (r.stdout + r.stderr).strip()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    policy = os.path.abspath(sys.argv[1])
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix='vmlease-bus-policy-') as tmp:
        os.chmod(tmp, 0o755)
        proc, address = start_bus(tmp, policy)
        try:
            check(True, 'dbus-daemon accepts a system bus config including '
                  + policy)
            other = NOBODY if root else os.geteuid()
            ok, out = request_name(other, address)
            check(not ok and 'AccessDenied' in out,
                  'uid %d may not own %s (%s)' % (other, NAME, out.splitlines()[0] if out else ''))
            if root:
                root_checks(address)
            else:
                print('not root: the checks that need root (owning the name, '
                      'calls from another uid) were not run')
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if failures:
        sys.exit('%d check(s) failed' % len(failures))


def root_checks(address):
    ok, out = request_name(0, address)
    check(ok, 'root may own %s' % NAME)
    if not ok:
        return

    # Hold the name for the call checks. Calls to a path with no
    # object get GDBus's UnknownMethod: the bus let them through.
    conn = Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    reply = conn.call_sync(
        'org.freedesktop.DBus', '/org/freedesktop/DBus',
        'org.freedesktop.DBus', 'RequestName',
        GLib.Variant('(su)', (NAME, 4)), GLib.VariantType('(u)'),
        Gio.DBusCallFlags.NONE, 5000, None)
    check(reply.unpack()[0] == 1, 'root holds %s for the call checks' % NAME)

    for interface, member, arg in ALLOWED:
        out = call_while_serving(NOBODY, address, interface, member, arg)
        # Through the bus: a reply, or GDBus's "no object here" error.
        passed = 'AccessDenied' not in out and (
            out.startswith('method return') or 'Error.Unknown' in out)
        check(passed, 'nobody may call %s.%s%s' % (
            interface, member, '' if passed else ' (' + out + ')'))
    for interface, member, arg in DENIED:
        out = call_while_serving(NOBODY, address, interface, member, arg)
        check('AccessDenied' in out,
              'nobody may not call %s.%s (unlisted interface)' % (interface, member))
    conn.close_sync(None)


if __name__ == '__main__':
    main()
