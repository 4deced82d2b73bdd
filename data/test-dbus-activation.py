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

import os
import shutil
import tempfile

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

from vmltest_support import (NAME, Bus, arguments, check, connect, finish,  # noqa: E402
                             iterate_until, own_name, read_ini)

SYSTEMD = 'org.freedesktop.systemd1'
ACTIVATOR = 'org.freedesktop.systemd1.Activator'
STAND_IN_ERROR = 'org.example.Test.StandInSystemd'

# Anyone may do anything: only activation is under test here.
POLICY = """  <servicedir>{servicedir}</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow send_type="signal"/>
    <allow receive_sender="*"/>
  </policy>"""


def start_bus(tmp, activation_file):
    """dbus-daemon as the system bus on a systemd host, activating from a
    service directory with only @activation_file in it."""
    servicedir = os.path.join(tmp, 'system-services')
    os.mkdir(servicedir)
    shutil.copy(activation_file, servicedir)
    return Bus(tmp, POLICY.format(servicedir=servicedir), ['--systemd-activation'])


def activation_round_trip(address):
    """Returns (units systemd was asked for, error the caller got)."""
    stand_in = connect(address)
    check(own_name(stand_in, SYSTEMD), 'the stand-in owns ' + SYSTEMD)

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
    iterate_until(lambda: 'error' in result, 15)
    return requested, result.get('error', 'no reply')


def main():
    activation_file, unit_file = arguments(2)
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
        with start_bus(tmp, activation_file) as bus:
            requested, error = activation_round_trip(bus.address)
            check(requested == [os.path.basename(unit_file)],
                  'a call to %s asked systemd to start %s' % (NAME, requested))
            check(isinstance(error, GLib.Error)
                  and Gio.DBusError.get_remote_error(error) == STAND_IN_ERROR,
                  "the caller got systemd's answer back: %s" % error)
    finish()


if __name__ == '__main__':
    main()
