#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the D-Bus activation file as dbus-daemon reads it.

A private dbus-daemon runs with --systemd-activation, as the system bus does
on a systemd host, and a service directory holding only our activation file.
This test owns org.freedesktop.systemd1 on that bus, standing in for systemd:

  - org.example.VMLease is among ListActivatableNames (the file parses);
  - a call to org.example.VMLease makes dbus-daemon ask "systemd" to start
    the unit named by SystemdService=, which must be the unit this build
    installs (vmleased.service), with BusName= the same name;
  - the stand-in answers with ActivationFailure, and the caller gets that
    error back (dbus-daemon tied the request to the pending call);
  - the file has User=root (needed for system bus activation) and Exec= the
    unit's ExecStart program.

Nothing is started: no vmleased, no systemd.

Usage: test-dbus-activation.py ACTIVATION_FILE UNIT_FILE
"""

import configparser
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

NAME = 'org.example.VMLease'
SYSTEMD = 'org.freedesktop.systemd1'
ACTIVATOR = 'org.freedesktop.systemd1.Activator'
STAND_IN_ERROR = 'org.example.Test.StandInSystemd'

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{servicedir}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="signal"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

failures = []


def check(ok, what):
    print(('ok     ' if ok else 'FAILED ') + what, flush=True)
    if not ok:
        failures.append(what)


def read_ini(path, section):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    with open(path, encoding='utf-8') as f:
        parser.read_file(f)
    return dict(parser[section]) if parser.has_section(section) else {}


def start_bus(tmp, activation_file):
    servicedir = os.path.join(tmp, 'system-services')
    os.mkdir(servicedir)
    shutil.copy(activation_file, servicedir)
    socket = os.path.join(tmp, 'bus')
    conf = os.path.join(tmp, 'bus.conf')
    with open(conf, 'w') as f:
        f.write(BUS_CONFIG.format(socket=socket, servicedir=servicedir))
    rfd, wfd = os.pipe()
    log = open(os.path.join(tmp, 'dbus-daemon.log'), 'w+')
    proc = subprocess.Popen(
        ['dbus-daemon', '--config-file=' + conf, '--nofork', '--systemd-activation',
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
        sys.exit('dbus-daemon did not start:\n' + log.read())
    return proc, log, 'unix:path=' + socket


def connect(address):
    return Gio.DBusConnection.new_for_address_sync(
        address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def activation_round_trip(address):
    """Returns (units systemd was asked for, error the caller got)."""
    stand_in = connect(address)
    reply = stand_in.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                               'org.freedesktop.DBus', 'RequestName',
                               GLib.Variant('(su)', (SYSTEMD, 4)), GLib.VariantType('(u)'),
                               Gio.DBusCallFlags.NONE, 5000, None)
    check(reply.unpack()[0] == 1, 'the stand-in owns ' + SYSTEMD)

    requested = []

    def on_request(conn, sender, path, iface, member, params):
        unit = params.unpack()[0]
        requested.append(unit)
        # What systemd says when the unit cannot be started.
        conn.emit_signal('org.freedesktop.DBus', '/org/freedesktop/systemd1',
                         ACTIVATOR, 'ActivationFailure',
                         GLib.Variant('(sss)', (unit, STAND_IN_ERROR,
                                                'the stand-in for systemd starts nothing')))

    stand_in.signal_subscribe(None, ACTIVATOR, 'ActivationRequest', None, None,
                              Gio.DBusSignalFlags.NONE, on_request)

    caller = connect(address)
    names = caller.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                             'org.freedesktop.DBus', 'ListActivatableNames', None,
                             GLib.VariantType('(as)'), Gio.DBusCallFlags.NONE, 5000,
                             None).unpack()[0]
    check(NAME in names, '%s is activatable (ListActivatableNames)' % NAME)

    result = {}

    def on_reply(conn, res):
        try:
            conn.call_finish(res)
            result['error'] = None
        except GLib.Error as e:
            result['error'] = e

    caller.call(NAME, '/org/example/VMLease', 'org.freedesktop.DBus.Peer', 'Ping',
                None, None, Gio.DBusCallFlags.NONE, 10000, None, on_reply)
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + 15
    while 'error' not in result and time.monotonic() < deadline:
        ctx.iteration(False)
        time.sleep(0.005)
    return requested, result.get('error', 'no reply')


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    activation_file, unit_file = sys.argv[1:]
    entry = read_ini(activation_file, 'D-BUS Service')
    unit = read_ini(unit_file, 'Service')

    check(entry.get('Name') == NAME, 'Name=%s' % NAME)
    check(entry.get('User') == 'root', 'User=root (system bus activation needs User=)')
    check(entry.get('SystemdService') == os.path.basename(unit_file),
          'SystemdService=%s names the unit this build installs (%s)'
          % (entry.get('SystemdService'), os.path.basename(unit_file)))
    check(unit.get('BusName') == entry.get('Name'),
          "the unit's BusName= (%s) is the activated name" % unit.get('BusName'))
    exec_start = (unit.get('ExecStart') or '').split()
    check(bool(exec_start) and entry.get('Exec', '').split()[:1] == exec_start[:1],
          "Exec= (%s) runs the unit's ExecStart= program" % entry.get('Exec'))

    with tempfile.TemporaryDirectory(prefix='vmlease-activation-') as tmp:
        proc, log, address = start_bus(tmp, activation_file)
        try:
            requested, error = activation_round_trip(address)
            check(requested == [os.path.basename(unit_file)],
                  'a call to %s asked systemd to start %s' % (NAME, requested))
            check(isinstance(error, GLib.Error)
                  and Gio.DBusError.get_remote_error(error) == STAND_IN_ERROR,
                  "the caller got systemd's answer back: %s" % error)
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if failures:
                log.seek(0)
                print('dbus-daemon log:\n' + log.read())

    if failures:
        sys.exit('%d check(s) failed' % len(failures))


if __name__ == '__main__':
    main()
