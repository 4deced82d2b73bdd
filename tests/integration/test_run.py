# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vmleasectl run` (supervisor mode, cli/vml-cmd-run.c) against the real
sandbox: CMD runs as the lease's fence pid only once the lease is held, its
exit status comes back and the lease is released; signals are passed on;
a refused Acquire never starts CMD (125); a seize from another host fences
CMD (kill, or pause: SIGSTOP) and run exits 124 saying why.

CMD is a small sh script that writes its pid to a file, so the test knows
which process is CMD without guessing.

Then the QMP fence (docs/decisions.md "QMP fence") as vmleased applies it,
with a stand-in VM process that serves QMP on a unix socket the way QEMU
does (greeting, qmp_capabilities, stop, the STOP event before stop's
return) and writes down each command: the fence pauses through QMP, also
after a restart of vmleased (the socket is in the lease's record) and when
given at Transfer finish (the holder's fence line); a socket that is not
there falls back to SIGSTOP; bad qmp options are refused. The real QEMU
does the same in tests/e2e/test_run_qmp.py."""

import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import (LEASE_IFACE, VMLEASECTL, b, ctl, lease_path, proc_stat, process_alive,
                      raises_dbus, s, u32, wait_process_exit, wait_until)

LOST = 124
FAILED = 125
NOT_FOUND = 127


class Run:
    """`vmleasectl run UUID ARGS -- sh -c SCRIPT` on host h, in a scratch
    directory: $D in SCRIPT is that directory; CMD writes its pid to $D/pid
    before SCRIPT."""

    def __init__(self, h, u, script, *args):
        self.dir = tempfile.mkdtemp(prefix='vmlrun.', dir='/tmp')
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
               'DBUS_SYSTEM_BUS_ADDRESS': h.address, 'D': self.dir}
        argv = [VMLEASECTL, 'run', u, *args, '--',
                'sh', '-c', 'echo $$ > "$D/pid.tmp"; mv "$D/pid.tmp" "$D/pid"; ' + script]
        self.p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out = self.err = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def cmd_pid(self, timeout=30):
        wait_until(lambda: os.path.exists(self.path('pid')) or self.p.poll() is not None,
                   timeout, what='CMD to start')
        assert os.path.exists(self.path('pid')), 'CMD never started; run exited %s: %s' % (
            self.p.poll(), self.p.stderr.read())
        with open(self.path('pid')) as f:
            return int(f.read())

    def touch(self, name):
        with open(self.path(name), 'w'):
            pass

    def wait(self, timeout=60):
        self.out, self.err = self.p.communicate(timeout=timeout)
        return self.p.returncode

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()
        if os.path.exists(self.path('pid')):
            with open(self.path('pid')) as f:
                pid = int(f.read())
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(['rm', '-rf', self.dir], check=False)


@pytest.fixture
def runs():
    made = []

    def make(*args):
        r = Run(*args)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


# Waits for $D/go, then does the rest.
WAIT_GO = 'while [ ! -e "$D/go" ]; do sleep 0.05; done; '


def test_exit_status_comes_back_and_the_lease_is_released(hosts, leases, runs):
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    r = runs(h1, u, WAIT_GO + 'exit 3')
    pid = r.cmd_pid()
    props = h1.lease_props(u)
    # CMD is the fence pid, and runs only once the lease is held.
    assert props['State'] == 'held', props
    assert props['FencePid'] == pid and props['Fence'] == 'kill', props
    r.touch('go')
    assert r.wait() == 3, r.err
    assert h1.lease_props(u)['State'] != 'held'

    # A signal's death comes back as 128+N, as shells say it.
    r = runs(h1, u, 'kill -USR2 $$')
    assert r.wait() == 128 + signal.SIGUSR2, r.err
    assert h1.lease_props(u)['State'] != 'held'

    # CMD not found: 127, and the lease released all the same.
    r2 = subprocess.run([VMLEASECTL, 'run', u, '--', '/nonexistent/vmlease-cmd'],
                        env={'PATH': '/usr/bin:/bin', 'DBUS_SYSTEM_BUS_ADDRESS': h1.address},
                        capture_output=True, text=True, timeout=60)
    assert r2.returncode == NOT_FOUND, r2
    assert 'No such file' in r2.stderr, r2.stderr
    assert h1.lease_props(u)['State'] != 'held'


def test_signals_are_passed_on(hosts, leases, runs):
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    r = runs(h1, u, 'trap "echo usr1 >> \\"$D/log\\"" USR1; trap "exit 42" TERM; '
             'touch "$D/ready"; while :; do sleep 0.05; done')
    r.cmd_pid()
    wait_until(lambda: os.path.exists(r.path('ready')), 10, what='traps set')
    r.p.send_signal(signal.SIGUSR1)
    wait_until(lambda: os.path.exists(r.path('log')), 10, what='SIGUSR1 to reach CMD')
    assert r.p.poll() is None
    r.p.send_signal(signal.SIGTERM)
    assert r.wait() == 42, r.err
    with open(r.path('log')) as f:
        assert f.read() == 'usr1\n'
    assert h1.lease_props(u)['State'] != 'held'


def test_refused_acquire_never_starts_cmd(hosts, leases, runs):
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    h2.acquire(u, {})
    r = runs(h1, u, 'touch "$D/ran"')
    assert r.wait() == FAILED, r.err
    assert 'Busy' in r.err and 'CMD was not started' in r.err, r.err
    assert not os.path.exists(r.path('pid')) and not os.path.exists(r.path('ran'))
    assert h2.lease_props(u)['State'] == 'held'

    # SIGTERM while Acquire waits: run gives up (125), CMD never runs, and
    # vmleased ends the wait of a caller that left.
    r = runs(h1, u, 'touch "$D/ran"', '--wait', '60')
    wait_until(lambda: _blocks(r.p.pid, signal.SIGTERM), 10, what='run to block SIGTERM')
    time.sleep(0.5)
    r.p.send_signal(signal.SIGTERM)
    assert r.wait() == FAILED, r.err
    assert 'interrupted by signal %d' % signal.SIGTERM in r.err, r.err
    assert not os.path.exists(r.path('pid')) and not os.path.exists(r.path('ran'))
    assert h1.lease_props(u)['State'] != 'held'
    assert h2.lease_props(u)['State'] == 'held'
    h2.release(u)


def _blocks(pid, signo):
    """Whether process @pid blocks signal @signo (run reads it from a
    signalfd from then on)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('SigBlk:'):
                return bool(int(line.split()[1], 16) >> (signo - 1) & 1)
    return False


def _seize(h, u):
    started = time.monotonic()
    h.acquire(u, {'force': b(True), 'wait': u32(60)}, timeout_ms=90000)
    print('seize took %.2f s' % (time.monotonic() - started))


def _run_then_seize(hosts, leases, runs, fence):
    """CMD (sleep) under run on host 1 with @fence, then seized by host 2:
    (u, the Run, CMD's pid)."""
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    r = runs(h1, u, 'exec sleep 600', '--fence', fence)
    pid = r.cmd_pid()
    assert h1.lease_props(u)['Fence'] == fence
    _seize(h2, u)
    return u, r, pid


def test_seized_lease_kills_cmd_and_run_says_why(hosts, leases, runs):
    h1, h2, _ = hosts
    u, r, pid = _run_then_seize(hosts, leases, runs, 'kill')
    assert r.wait() == LOST, (r.p.returncode, r.err)
    assert not process_alive(pid)
    assert 'lost (revoked)' in r.err and 'another host took the lease' in r.err, r.err
    assert 'CMD (pid %d) fenced: kill' % pid in r.err, r.err
    assert h1.lease_props(u)['State'] == 'lost'
    assert h2.lease_props(u)['State'] == 'held'
    h2.release(u)


def test_seized_lease_pauses_cmd(hosts, leases, runs):
    h1, h2, _ = hosts
    u, r, pid = _run_then_seize(hosts, leases, runs, 'pause')
    wait_until(lambda: proc_stat(pid)[0] == 'T', 10, what='CMD stopped (SIGSTOP)')
    # run waits for the paused CMD, which is someone else's to end now.
    time.sleep(0.5)
    assert r.p.poll() is None
    assert h1.lease_props(u)['State'] == 'lost'
    os.kill(pid, signal.SIGKILL)
    assert wait_process_exit(pid)
    assert r.wait() == LOST, (r.p.returncode, r.err)
    assert 'lost (revoked)' in r.err and 'CMD (pid %d) fenced: pause' % pid in r.err, r.err
    assert h2.lease_props(u)['State'] == 'held'
    h2.release(u)


# --- the QMP fence ---------------------------------------------------------------

# A VM process that serves QMP as QEMU does, one client at a time, and
# appends each command's name to LOG.
QMP_VM = r"""
import json, socket, sys
path, log = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(4)
open(log, 'a').close()
while True:
    c, _ = srv.accept()
    f = c.makefile('rwb', buffering=0)
    f.write(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
    for line in f:
        cmd = json.loads(line)['execute']
        with open(log, 'a') as out:
            out.write(cmd + '\n')
        if cmd == 'stop':
            f.write(b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n')
        f.write(b'{"return": {}}\r\n')
    c.close()
"""


@pytest.fixture
def qmp_vm():
    """start() -> (process, socket path, log path) of a QMP-serving VM."""
    d = tempfile.mkdtemp(prefix='vmlqmp.', dir='/tmp')
    procs = []

    def start():
        sock, log = os.path.join(d, 'vm.qmp'), os.path.join(d, 'vm.log')
        p = subprocess.Popen(['/usr/bin/python3', '-c', QMP_VM, sock, log],
                             stdin=subprocess.DEVNULL)
        procs.append(p)
        wait_until(lambda: os.path.exists(log), 10, what='the QMP stand-in to listen')
        return p, sock, log
    yield start
    for p in procs:
        p.kill()
        p.wait()
    subprocess.run(['rm', '-rf', d], check=False)


def _commands(log):
    with open(log) as f:
        return f.read().split()


def test_qmp_fence_after_restart_pauses_through_qmp(sb, hosts, leases, qmp_vm):
    """The holder killed (it fences nothing then): vmleased, restarted since
    the Acquire, fences from its record, through QMP, not by SIGSTOP."""
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    vm, sock, log = qmp_vm()
    h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('pause'), 'qmp': s(sock)})
    holder = h1.lease_props(u)['HolderPid']
    sb.kill(1)
    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] == 'held', 15, what='the lease restored')
    info = h1.inquire(u)
    assert (info['fence'], info['fence_pid'], info.get('fence_qmp')) == ('pause', vm.pid, sock), (
        'Inquire after the restore: %r' % info)
    lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    at = h1.log_size()
    os.kill(holder, signal.SIGKILL)
    items = lost.wait(lambda it: it, timeout=10, what='Lost on host 1')
    lost.close()
    reason, details = items[0][1]
    assert reason == 'holder-exited', (reason, details)
    assert details['fence'] == 'pause' and details['fence_qmp'] == sock, details
    wait_until(lambda: 'stop' in _commands(log), 10, what='QMP stop at the VM')
    assert _commands(log) == ['qmp_capabilities', 'stop'], _commands(log)
    wait_until(lambda: 'guest paused with QMP stop on %s' % sock in h1.log_since(at), 10,
               what="vmleased's QMP fence in its log")
    assert proc_stat(vm.pid)[0] != 'T', 'the VM was SIGSTOPped: %r' % (proc_stat(vm.pid),)


def test_qmp_fence_falls_back_to_sigstop(hosts, leases):
    """No socket at the path: the pause is SIGSTOP, and the log says why.
    Through `vmleasectl acquire --qmp`."""
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    vm = subprocess.Popen(['sleep', '600'])
    try:
        sock = '/tmp/vmlease-no-such-socket-%d.qmp' % vm.pid
        ctl(h1, 'acquire', u, '--pid', str(vm.pid), '--fence', 'pause', '--qmp', sock, check=0)
        at = h1.log_size()
        os.kill(h1.lease_props(u)['HolderPid'], signal.SIGKILL)
        wait_until(lambda: proc_stat(vm.pid)[0] == 'T', 10, what='the VM stopped by SIGSTOP')
        wait_until(lambda: 'paused with SIGSTOP instead' in h1.log_since(at), 10,
                   what='the fallback in the log')
        assert 'cannot connect to %s' % sock in h1.log_since(at)
    finally:
        vm.kill()
        vm.wait()


def test_qmp_option_is_checked(hosts, leases):
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    vm = subprocess.Popen(['sleep', '600'])
    try:
        for opts, words in (
                ({'fence': s('pause'), 'qmp': s('vm.qmp')}, 'must be absolute'),
                ({'fence': s('pause'), 'qmp': s('/' + 'a' * 107)}, 'at most 107'),
                ({'fence': s('pause'), 'qmp': s('/run/vm 1.qmp')}, 'blanks')):
            with raises_dbus('InvalidArgument') as e:
                h1.acquire(u, dict(opts, pid=u32(vm.pid)))
            assert words in e.value.message, (opts, e.value.message)
        # the socket is the VM's: without a pid there is no VM to check it against
        with raises_dbus('InvalidArgument') as e:
            h1.acquire(u, {'fence': s('none'), 'qmp': s('/run/vm.qmp')})
        assert "needs that process's id in option 'pid'" in e.value.message, e.value.message
        assert h1.lease_props(u)['State'] != 'held'
        r = ctl(h1, 'run', u, '--qmp', '/run/vm.qmp', '--', 'true', check=2)
        assert '--qmp needs --fence pause' in r.stderr, r.stderr
    finally:
        vm.kill()
        vm.wait()


def test_run_hears_lost_from_a_restarted_vmleased(sb, hosts, leases, runs):
    """vmleased restarts while CMD runs (an upgrade, a crash): run still
    hears Lost from the new one, since it subscribes by bus name."""
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    r = runs(h1, u, 'exec sleep 600', '--fence', 'kill')
    pid = r.cmd_pid()
    sb.kill(1)
    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] == 'held', 15, what='the lease restored')
    assert r.p.poll() is None and process_alive(pid)
    _seize(h2, u)
    assert r.wait() == LOST, (r.p.returncode, r.err)
    assert 'lost (revoked)' in r.err and 'CMD (pid %d) fenced: kill' % pid in r.err, r.err
    assert 'no longer held' not in r.err, r.err
    h2.release(u)


def test_qmp_given_at_finish_reaches_the_holder(hosts, leases, qmp_vm):
    """A hand-off whose finish names the destination VM process with a QMP
    pause fence (Transfer finish's pid, fence, qmp): the destination's holder
    is told on its fence line, and when another host seizes the lease that
    holder pauses the VM through QMP before it lets go."""
    from test_transfer import xfer
    h1, h2, h3 = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    h3.get_lease(u)
    h1.acquire(u)
    assert 'fence_qmp' not in h1.inquire(u), 'Inquire of a lease without a QMP fence'
    vm, sock, log = qmp_vm()
    t1 = xfer(h1, u, 'begin')
    t2 = xfer(h2, u, 'prepare', t1)
    t3 = xfer(h1, u, 'perform', t2)
    t4 = xfer(h2, u, 'finish', t3, pid=vm.pid, fence='pause', qmp=sock)
    xfer(h1, u, 'confirm', t4)
    p = h2.lease_props(u)
    assert (p['State'], p['FencePid'], p['Fence']) == ('held', vm.pid, 'pause'), p
    info = h2.inquire(u)
    assert (info['fence'], info['fence_pid'], info.get('fence_qmp')) == ('pause', vm.pid, sock), (
        'Inquire on the destination: %r' % info)
    at = h2.log_size()
    _seize(h3, u)
    wait_until(lambda: 'paused VM process %d (QMP stop)' % vm.pid in h2.log_since(at), 10,
               what="the holder's QMP fence in host 2's log")
    assert 'stop' in _commands(log), _commands(log)
    assert 'SIGSTOP' not in h2.log_since(at), h2.log_since(at)
    assert proc_stat(vm.pid)[0] != 'T', proc_stat(vm.pid)
    h3.release(u)
