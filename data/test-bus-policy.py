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
import subprocess
import tempfile
import threading

from vmltest_support import (NAME, Bus, arguments, check, connect, finish, iterate_until,
                             own_name, system_bus_policy)

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
    iterate_until(lambda: not t.is_alive())
    t.join()
    r = result['r']
    return (r.stdout + r.stderr).strip()


def main():
    policy = os.path.abspath(arguments(1)[0])
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix='vmlease-bus-policy-') as tmp:
        os.chmod(tmp, 0o755)
        with Bus(tmp, system_bus_policy(policy), what=' with our policy included') as bus:
            check(True, 'dbus-daemon accepts a system bus config including '
                  + policy)
            other = NOBODY if root else os.geteuid()
            ok, out = request_name(other, bus.address)
            check(not ok and 'AccessDenied' in out,
                  'uid %d may not own %s (%s)' % (other, NAME, out.splitlines()[0] if out else ''))
            if root:
                root_checks(bus.address)
            else:
                print('not root: the checks that need root (owning the name, '
                      'calls from another uid) were not run')
    finish()


def root_checks(address):
    ok, out = request_name(0, address)
    check(ok, 'root may own %s' % NAME)
    if not ok:
        return

    # Hold the name for the call checks. Calls to a path with no
    # object get GDBus's UnknownMethod: the bus let them through.
    conn = connect(address)
    check(own_name(conn, NAME), 'root holds %s for the call checks' % NAME)

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
