#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check vmleased's side of the systemd notify protocol.

The test plays systemd: it binds the notify socket (with SO_PASSCRED, so
every datagram carries its sender's pid, as systemd checks for
NotifyAccess=main) and starts vmleased from the build with NOTIFY_SOCKET,
WATCHDOG_USEC and WATCHDOG_PID set, on a private system-type dbus-daemon with
Debian's system bus policy and ours. No sanlock daemon runs (vmleased only
warns) and no polkitd (nothing here needs it).

  - READY=1 arrives, with a STATUS= line, from vmleased's own pid, and only
    once vmleased owns org.example.VMLease on the bus;
  - WATCHDOG=1 keep-alives arrive from that pid every half WATCHDOG_USEC: at
    least 4 in 2 s with WATCHDOG_USEC=0.4 s, never more than 0.3 s apart
    (systemd's limit is 0.4 s) and not much more often than every 0.2 s;
  - while vmleased's main loop cannot run (the process stopped with SIGSTOP)
    none arrive, and they start again after SIGCONT;
  - SIGTERM: STOPPING=1 with a STATUS= line, then exit 0;
  - a start that fails (--config naming a missing file) exits 1 and says why
    in STATUS=.

Usage: test-sd-notify.py VMLEASED VMLEASE_HOLDER BUS_POLICY
"""

import os
import pwd
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time

from vmltest_support import (NAME, Bus, arguments, check, failures, finish, stop,
                             system_bus_policy)

WATCHDOG_USEC = 400000

# The bus policy lets only root own the name; run by another user, the test
# lets that user own it too.
NON_ROOT_OWNER = '<policy user="{user}"><allow own="org.example.VMLease"/></policy>'


def start_bus(tmp, policy):
    non_root = ''
    if os.geteuid() != 0:
        non_root = NON_ROOT_OWNER.format(user=pwd.getpwuid(os.geteuid()).pw_name)
    return Bus(tmp, system_bus_policy(policy) + non_root)


class NotifySocket:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def receive(self, timeout):
        """[(time, pid, {key: value})] of the datagrams within timeout s."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return out
            data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            pid = None
            for level, kind, cdata in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack('iII', cdata[:12])[0]
            fields = dict(line.split('=', 1) for line in data.decode().splitlines() if '=' in line)
            out.append((time.monotonic(), pid, fields))

    def wait_for(self, key, timeout):
        """Receive until a datagram has key; returns (all received, that one)."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            more = self.receive(min(0.1, deadline - time.monotonic()))
            got += more
            for m in more:
                if key in m[2]:
                    return got, m
        return got, None


def name_owner_pid(address):
    r = subprocess.run(['dbus-send', '--bus=' + address, '--print-reply=literal',
                        '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
                        'org.freedesktop.DBus.GetConnectionUnixProcessID', 'string:' + NAME],
                       capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        return None
    return int(r.stdout.split()[-1])


def start_vmleased(vmleased, holder, tmp, address, notify_path, extra=()):
    env = dict(os.environ,
               DBUS_SYSTEM_BUS_ADDRESS=address,
               NOTIFY_SOCKET=notify_path,
               WATCHDOG_USEC=str(WATCHDOG_USEC),
               SANLOCK_RUN_DIR=os.path.join(tmp, 'no-sanlock'))
    env.pop('WATCHDOG_PID', None)
    env.pop('VMLEASE_DEBUG', None)
    log = open(os.path.join(tmp, 'vmleased.log'), 'a+')
    # WATCHDOG_PID is vmleased's pid, as systemd sets it: the shell's, which
    # exec keeps.
    argv = ['sh', '-c', 'WATCHDOG_PID=$$ exec "$@"', 'sh', vmleased,
            '--state-dir', os.path.join(tmp, 'state'),
            '--config', os.path.join(tmp, 'vmleased.conf'),
            '--holder', holder] + list(extra)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return proc, log


def exit_status(proc, timeout):
    """@proc's exit status, None if it is still running after @timeout s."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def running_checks(proc, notify, address):
    pid = proc.pid
    got, ready = notify.wait_for('READY', 20)
    check(ready is not None, 'READY=1 arrived')
    if ready is None:
        return
    check(ready[2].get('READY') == '1' and ready[2].get('STATUS', '') != '',
          'READY=1 comes with STATUS=%r' % ready[2].get('STATUS'))
    check(all(m[1] == pid for m in got),
          'every message so far came from vmleased itself (pid %d): %s'
          % (pid, sorted({m[1] for m in got})))
    owner = name_owner_pid(address)
    check(owner == pid, 'at READY=1, vmleased (pid %d) owns %s (owner pid %s)'
          % (pid, NAME, owner))

    msgs = notify.receive(2.0)
    pings = [m for m in msgs if m[2].get('WATCHDOG') == '1']
    gaps = [b[0] - a[0] for a, b in zip(pings, pings[1:])]
    check(len(pings) >= 4, '%d WATCHDOG=1 keep-alives in 2 s (WATCHDOG_USEC=%d)'
          % (len(pings), WATCHDOG_USEC))
    check(bool(gaps) and max(gaps) < 0.3 and min(gaps) > 0.1,
          'keep-alives every half of WATCHDOG_USEC: gaps %s s'
          % ', '.join('%.3f' % g for g in gaps))
    check(all(m[1] == pid for m in pings), 'keep-alives come from vmleased itself')
    check('READY' not in ''.join(''.join(m[2]) for m in msgs), 'READY=1 was sent only once')

    os.kill(pid, signal.SIGSTOP)
    notify.receive(0.3)   # what was queued before the stop took effect
    stopped = [m for m in notify.receive(1.0) if 'WATCHDOG' in m[2]]
    os.kill(pid, signal.SIGCONT)
    check(not stopped, 'no keep-alive while the main loop cannot run (%d)' % len(stopped))
    _, again = notify.wait_for('WATCHDOG', 1.0)
    check(again is not None, 'keep-alives again once it runs')

    os.kill(pid, signal.SIGTERM)
    _, stopping = notify.wait_for('STOPPING', 10)
    check(stopping is not None and stopping[2].get('STOPPING') == '1'
          and stopping[2].get('STATUS', '') != '',
          'SIGTERM: STOPPING=1 with STATUS=%r' % (stopping[2].get('STATUS') if stopping else None))
    rc = exit_status(proc, 10)
    check(rc == 0, 'vmleased exited 0 after SIGTERM (%s)' % rc)


def main():
    vmleased, holder, policy = (os.path.abspath(p) for p in arguments(3))
    with tempfile.TemporaryDirectory(prefix='vmlease-notify-') as tmp:
        with open(os.path.join(tmp, 'vmleased.conf'), 'w') as f:
            f.write('# nothing configured\n')
        with start_bus(tmp, policy) as bus:
            notify = NotifySocket(os.path.join(tmp, 'notify'))
            proc = log = None
            try:
                proc, log = start_vmleased(vmleased, holder, tmp, bus.address, notify.path)
                running_checks(proc, notify, bus.address)
                stop(proc)

                proc, log = start_vmleased(vmleased, holder, tmp, bus.address, notify.path,
                                           ['--config', os.path.join(tmp, 'missing.conf')])
                rc = exit_status(proc, 20)
                status = [m[2]['STATUS'] for m in notify.receive(0.5) if 'STATUS' in m[2]]
                check(rc == 1, 'a failed start exits 1 (%s)' % rc)
                check(any('missing.conf' in s for s in status),
                      'a failed start says why in STATUS=: %s' % status)
            finally:
                if proc is not None:
                    stop(proc)
                if failures and log is not None:
                    log.seek(0)
                    print('vmleased log:\n' + log.read())
    finish()


if __name__ == '__main__':
    main()
