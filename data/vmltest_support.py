# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the data tests (data/test-*.py) share.

  - check() prints one "ok"/"FAILED" line a check and counts the failures,
    so a test reports every broken promise, not only the first; finish()
    turns the count into the exit status;
  - Bus: a private system-type dbus-daemon on a socket in a temporary
    directory, with the policy a test gives it, e.g. system_bus_policy():
    Debian's, plus our file;
  - connect(), own_name() and iterate_until() for a test that talks D-Bus
    itself, through GDBus;
  - read_ini(), run() and arguments() for the files and tools they look at.

The scripts import it from their own directory, which Python puts first on
sys.path. Only the D-Bus helpers need PyGObject; they import it when called,
so a test that does not use them runs on plain stdlib.
"""

import configparser
import os
import select
import subprocess
import sys
import time

NAME = 'org.example.VMLease'

# Everything of a dbus-daemon configuration but the policy: a system-type
# bus (so policies are enforced as on the real one) on a socket of the test.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
{body}
</busconfig>
"""

# The policy of Debian's system bus (/usr/share/dbus-1/system.conf): no
# name may be owned and no method called but the bus driver's, until a file
# in system.d (here: the one under test) allows it.
SYSTEM_POLICY = """  <policy context="default">
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
"""

failures = []


def check(ok, what):
    print(('ok     ' if ok else 'FAILED ') + what, flush=True)
    if not ok:
        failures.append(what)


def finish():
    """Exits non-zero if any check failed."""
    if failures:
        sys.exit('%d check(s) failed' % len(failures))


def arguments(count):
    """The script's @count arguments; its usage (docstring) if not that many."""
    if len(sys.argv) != count + 1:
        sys.exit(sys.modules['__main__'].__doc__)
    return sys.argv[1:]


def run(argv, show=False, **kw):
    """Runs argv, echoed first; its output is shown if @show or it failed."""
    print('$ ' + ' '.join(argv), flush=True)
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    if show or r.returncode != 0:
        sys.stdout.write(r.stdout + r.stderr)
    return r


def stop(proc, timeout=10):
    """SIGTERM, then SIGKILL if @proc is still there after @timeout s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_ini(path, section):
    """@section of a systemd or D-Bus .service file as a dict ({} if none)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str   # keys are case-sensitive there
    with open(path, encoding='utf-8') as f:
        parser.read_file(f)
    return dict(parser[section]) if parser.has_section(section) else {}


def system_bus_policy(policy_file):
    """A Bus body: Debian's system bus with @policy_file installed in system.d."""
    return SYSTEM_POLICY.format(policy=policy_file)


def _read_address(rfd, proc, timeout):
    """What dbus-daemon --print-address writes: the address once it listens."""
    address = b''
    deadline = time.monotonic() + timeout
    while not address.endswith(b'\n') and time.monotonic() < deadline:
        ready, _, _ = select.select([rfd], [], [], 0.2)
        if ready:
            chunk = os.read(rfd, 4096)
            if not chunk:
                break
            address += chunk
        elif proc.poll() is not None:
            break
    return address.endswith(b'\n')


class Bus:
    """A private system-type dbus-daemon in @tmp whose <busconfig> holds
    @body, started with @args; exits the test if it does not start. As a
    context manager it stops the daemon, and shows its log if a check failed.
    """

    def __init__(self, tmp, body, args=(), what=''):
        socket = os.path.join(tmp, 'bus')
        conf = os.path.join(tmp, 'bus.conf')
        with open(conf, 'w') as f:
            f.write(BUS_CONFIG.format(socket=socket, body=body))
        self.address = 'unix:path=' + socket
        self.log = open(os.path.join(tmp, 'dbus-daemon.log'), 'w+')
        rfd, wfd = os.pipe()
        self.proc = subprocess.Popen(
            ['dbus-daemon', '--config-file=' + conf, '--nofork',
             '--print-address=%d' % wfd] + list(args),
            pass_fds=(wfd,), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        os.close(wfd)
        try:
            started = _read_address(rfd, self.proc, 10)
        finally:
            os.close(rfd)
        if not started:
            self.proc.kill()
            self.proc.wait()
            sys.exit('dbus-daemon did not start%s:\n%s' % (what, self.log_text()))

    def log_text(self):
        self.log.seek(0)
        return self.log.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        stop(self.proc, 5)
        if failures:
            print('dbus-daemon log:\n' + self.log_text())
        self.log.close()


def _gi():
    import gi
    gi.require_version('Gio', '2.0')
    from gi.repository import Gio, GLib
    return Gio, GLib


def connect(address):
    """A GDBus connection to the message bus at @address."""
    Gio, _ = _gi()
    return Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def own_name(conn, name):
    """RequestName(DO_NOT_QUEUE); True if @conn is now its primary owner."""
    Gio, GLib = _gi()
    reply = conn.call_sync(
        'org.freedesktop.DBus', '/org/freedesktop/DBus',
        'org.freedesktop.DBus', 'RequestName',
        GLib.Variant('(su)', (name, 4)), GLib.VariantType('(u)'),
        Gio.DBusCallFlags.NONE, 5000, None)
    return reply.unpack()[0] == 1


def iterate_until(done, timeout=None):
    """Runs the default main context, which dispatches our connections'
    method calls, signals and replies, until done() (or @timeout s)."""
    _, GLib = _gi()
    ctx = GLib.MainContext.default()
    deadline = None if timeout is None else time.monotonic() + timeout
    while not done() and (deadline is None or time.monotonic() < deadline):
        ctx.iteration(False)
        time.sleep(0.005)
