# SPDX-License-Identifier: LGPL-2.1-or-later
"""Lease loss (issue 5): storage failing on one host, a forced request from
another host, a holder killed by hand; and `vmleasectl monitor --json`.

These tests run their OWN small sandbox (2 hosts, io_timeout 1,
`vmlease-sandbox up --storage-per-host`): each host reaches the one shared
lease file through its own FUSE mount (tools/vmlease-faulty-storage,
tools/vml-faultfs.c), so a fault breaks host 1's path and not host 2's.
The session sandbox of conftest.py is not used (nor started) by this module.

Timing, from sanlock 3.8.5 (docs/sandbox.md, "Per-host storage and fault
injection"): after host 1's last good renewal, sanlock runs its holders'
kill path (SIGTERM to the holder) at 8 x io_timeout (the holder fences
its VM process and exits 4) and host 2 may take the leases at 8 x
io_timeout + 60 s (watchdog_fire_timeout, a constant in this sanlock
version: `vmlease-sandbox up --watchdog-fire-timeout` refuses here), so the
storage-fault test takes about 75 s.

Each case prints its figures (fault -> fence, fault -> Lost, sanlock's
revoke -> Lost, fault -> host 2 acquired); run with -s to see them.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import (BUILD_DIR, LEASE_IFACE, REPO, VMLEASECTL, MonitorJson as Monitor,
                      Sandbox, Storage, lease_path, new_uuid, proc_stat, process_alive,
                      raises_dbus, run_sandbox, start_sandbox, stop_sandbox, s, u32, b,
                      IO_TIMEOUT)

N_HOSTS = 2
FAULTY_STORAGE = os.path.join(REPO, 'tools', 'vmlease-faulty-storage')
# 8 x io_timeout + 60 s (sanlock 3.8.5's watchdog_fire_timeout) + slack
HOST_DEAD_S = 8 * IO_TIMEOUT + 60
# What Lost says for a loss by storage failure on this host.
STORAGE_LOSS_REASONS = ('lockspace-failed',)

FIGURES = []


def figure(case, what, seconds):
    line = '%-26s %-34s %7.2f s' % (case, what, seconds)
    FIGURES.append(line)
    sys.stderr.write('figure: %s\n' % line)


# --- the module's own sandbox ----------------------------------------------------

class LossSandbox(Sandbox):
    def fault(self, k, mode):
        run_sandbox('fault', '--dir', self.dir, '--host', str(k), mode, timeout=30)

    def lease_path_of(self, k):
        return self.host(k).env['VMLEASE_LEASE_PATH']


@pytest.fixture(scope='module')
def lsb():
    for p in (os.path.join(BUILD_DIR, 'service', 'vmleased'),
              os.path.join(BUILD_DIR, 'tools', 'vml-faultfs'), VMLEASECTL):
        if not os.access(p, os.X_OK):
            pytest.fail('%s is missing: build first (VMLEASE_BUILD_DIR=%s; '
                        'vml-faultfs needs libfuse3-dev, tools/install-deps)'
                        % (p, BUILD_DIR), pytrace=False)
    if os.geteuid() != 0:
        pytest.fail('the loss tests run a sandbox, which needs root', pytrace=False)
    d = tempfile.mkdtemp(prefix='vmloss.', dir='/tmp')
    sb = LossSandbox(d)
    try:
        start_sandbox(sb, N_HOSTS, '--storage-per-host', label='loss sandbox')
        for h in sb.hosts:
            assert h.env.get('VMLEASE_LEASE_PATH', '').startswith(d + '/host%d/' % h.id), h.env
        sb.storage = Storage(sb)
        yield sb
    finally:
        res = stop_sandbox(sb, 'loss')
        if FIGURES:
            sys.stderr.write('\nlease-loss figures:\n  %s\n' % '\n  '.join(FIGURES))
        assert res.clean, str(res)


@pytest.fixture
def loss(lsb):
    """Healthy storage paths and vmleased on every host before each test."""
    for h in lsb.hosts:
        lsb.fault(h.id, 'off')
        if not h.has_bus_name():
            run_sandbox('restart', '--dir', lsb.dir, '--host', str(h.id), timeout=90)
        recover_host(lsb, h.id)
        wait_joined(h)
    made = []

    def make():
        u = new_uuid()
        made.append(u)
        return u
    yield lsb, make
    for u in made:
        for h in lsb.hosts:
            with contextlib.suppress(Exception):
                h.release(u)
        for h in lsb.hosts:
            with contextlib.suppress(Exception):
                h.delete(u)
                break


def vm_standin():
    """A stand-in for a VM process: the pid the holder fences."""
    return subprocess.Popen(['sleep', '900'])


def stop_vm(vm):
    if vm.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(vm.pid, signal.SIGCONT)
            vm.kill()
        vm.wait(timeout=10)


def proc_state(pid):
    """'R', 'S', 'T', 'Z' ... or None when gone."""
    st = proc_stat(pid)
    return st[0] if st else None


def sanlock_resources(host):
    """Names of the resources host's sanlock daemon holds (any client). A
    resource still being acquired ('ADD', e.g. host 2 waiting for host 1 to
    be seen dead) or released ('REM') is not held."""
    rc, out = host.sanlock_client('status', timeout=5)
    if rc != 0:
        return None
    held = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] != 'r' or 'ADD' in parts[2:] or 'REM' in parts[2:]:
            continue
        fields = parts[1].split(':')
        if len(fields) > 1:
            held.add(fields[1])
    return held


# sanlock's log names the kill path (vmlease-holder --revoke) as signal 100
# (SIGRUNPATH in sanlock's main.c)
SIGRUNPATH = 100


def sanlock_kill_time(host, pid):
    """(CLOCK_MONOTONIC second, how) at which host's sanlock revoked pid,
    from its log: after a renewal failure '<wall> <mono s> [tid]: s1 kill
    <pid> sig 100 count 1' (100: it ran the holder's kill path); for a
    request from another host '... r3 do_request <pid> flags 8 ...' (always
    graceful: the kill path). how is 'kill-path' or the signal sanlock sent
    itself."""
    path = os.path.join(host.sandbox.dir, 'host%d' % host.id, 'sanlock.log')
    with open(path, errors='replace') as f:
        for line in f:
            m = re.match(r'\S+ \S+ (\d+) \[\d+\]: s\d+ kill %d sig (\d+)' % pid, line)
            if m:
                sig = int(m.group(2))
                return int(m.group(1)), 'kill-path' if sig == SIGRUNPATH else sig
            m = re.match(r'\S+ \S+ (\d+) \[\d+\]: r\d+ do_request %d flags' % pid, line)
            if m:
                return int(m.group(1)), 'kill-path'
    return None


class Observer(threading.Thread):
    """Samples every 50 ms, independent of vmleased: which host's sanlock
    daemon holds each lease, and the state of each VM stand-in. Records the
    first instant a VM was fenced (dead, or stopped for pause), the first
    instant host 2 held each lease, and every sample where two hosts held
    one lease at once."""

    def __init__(self, hosts, leases, vms):
        super().__init__(daemon=True)
        self.hosts, self.leases, self.vms = hosts, leases, vms
        self.fenced = {}       # pid -> monotonic time first seen dead/stopped
        self.held_by = {}      # (uuid, host id) -> first time seen held
        self.double = []       # (time, uuid, [host ids])
        self.samples = 0
        self.t0 = None         # the fault's time, when set
        self._halt = threading.Event()

    def run(self):
        vms = threading.Thread(target=self._watch_vms, daemon=True)
        vms.start()
        while not self._halt.is_set():
            now = time.monotonic()
            held = {h.id: sanlock_resources(h) or set() for h in self.hosts}
            for u in self.leases:
                who = [k for k, res in held.items() if u in res]
                for k in who:
                    self.held_by.setdefault((u, k), now)
                if len(who) > 1:
                    self.double.append((round(now - self.t0, 2) if self.t0 else now, u, who))
            self.samples += 1
            self._halt.wait(0.05)
        vms.join(timeout=5)

    def _watch_vms(self):
        """The VM stand-ins, every 5 ms, apart from the sanlock queries
        (which may take a while on a host whose storage fails)."""
        while not self._halt.is_set():
            now = time.monotonic()
            for pid, fence in self.vms.items():
                st = proc_state(pid)
                done = st in (None, 'Z', 'X') if fence == 'kill' else st == 'T'
                if done and pid not in self.fenced:
                    self.fenced[pid] = now
            self._halt.wait(0.005)

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


# --- storage fault on host 1 -----------------------------------------------------

def test_storage_fault_on_one_host_fences_before_the_other_host_acquires(loss):
    sb, leases = loss
    h1, h2 = sb.hosts
    u_kill, u_pause = leases(), leases()
    vm_kill, vm_pause = vm_standin(), vm_standin()
    observer = None
    try:
        for u in (u_kill, u_pause):
            h1.create(u)
            h2.get_lease(u)
        h1.acquire(u_kill, {'pid': u32(vm_kill.pid), 'fence': s('kill')})
        h1.acquire(u_pause, {'pid': u32(vm_pause.pid), 'fence': s('pause')})
        holders = {u: h1.inquire(u)['holder_pid'] for u in (u_kill, u_pause)}
        lost = h1.record(LEASE_IFACE, 'Lost')
        observer = Observer(sb.hosts, (u_kill, u_pause),
                            {vm_kill.pid: 'kill', vm_pause.pid: 'pause'})
        observer.start()
        # host 2's path stays healthy; it sees host 1 hold both leases
        for u in (u_kill, u_pause):
            with raises_dbus('Busy'):
                h2.acquire(u)

        t_fault = observer.t0 = time.monotonic()
        sb.fault(1, 'on')
        # host 2 still reads and writes through its own path
        assert sb.storage.owners(u_kill, sb.lease_path_of(2),
                                 h2.inquire(u_kill)['offset'])['exclusive'] == 1

        got = lost.wait(lambda it: len(it) >= 2 and it, timeout=8 * IO_TIMEOUT + 20,
                        what='Lost of both leases on host 1')
        t_lost = time.monotonic()
        by_path = {p: args for p, args in got}
        for u, vm, fence in ((u_kill, vm_kill, 'kill'), (u_pause, vm_pause, 'pause')):
            reason, details = by_path[lease_path(u)]
            assert reason in STORAGE_LOSS_REASONS, (reason, details)
            assert details.get('fence') == fence and details.get('fence_pid') == vm.pid, details
            assert h1.lease_props(u)['State'] == 'lost'
        # fenced before sanlock's deadline for host 2 (8 x io_timeout + 60 s)
        assert vm_kill.wait(timeout=5) == -signal.SIGKILL
        assert proc_state(vm_pause.pid) == 'T'
        for vm in (vm_kill, vm_pause):
            assert vm.pid in observer.fenced, observer.fenced
            assert observer.fenced[vm.pid] - t_fault < HOST_DEAD_S, observer.fenced
        # the holders are gone and host 1's sanlock no longer holds anything
        for pid in holders.values():
            assert not process_alive(pid), 'holder %d still running' % pid
        assert not (sanlock_resources(h1) or set()) & {u_kill, u_pause}
        lockspace_gone = 'sandbox' not in [l.split(':')[0] for l in
                                           h1.sanlock_status()['lockspaces']]
        sys.stderr.write('host 1: sanlock lockspace %s after the loss; vmleased '
                         'says %r\n' % ('gone' if lockspace_gone else 'still joined',
                                        h1.lockspaces()))
        for u, vm, fence in ((u_kill, vm_kill, 'kill'), (u_pause, vm_pause, 'pause')):
            figure('storage fault (%s)' % fence, 'fault -> VM fenced',
                   observer.fenced[vm.pid] - t_fault)
            # the holder fences as soon as its kill path's SIGTERM arrives
            figure('storage fault (%s)' % fence, 'VM fenced -> Lost', t_lost - observer.fenced[vm.pid])
            kt = sanlock_kill_time(h1, holders[u])
            assert kt is not None and kt[1] == 'kill-path', kt
            figure('storage fault (%s)' % fence, "sanlock's kill path -> Lost (1 s res.)",
                   t_lost - kt[0])
        figure('storage fault', 'fault -> both Lost', t_lost - t_fault)

        # host 2 acquires once sanlock sees host 1 dead
        for u in (u_kill, u_pause):
            h2.acquire(u, {'wait': u32(HOST_DEAD_S + 30)},
                       timeout_ms=(HOST_DEAD_S + 60) * 1000)
            t_acq = time.monotonic()
            figure('storage fault', 'fault -> host 2 acquired %s' %
                   ('kill' if u == u_kill else 'pause'), t_acq - t_fault)
        time.sleep(0.2)
        observer.stop()
        assert not observer.double, 'two hosts held a lease at once: %r' % observer.double[:5]
        for u, vm in ((u_kill, vm_kill), (u_pause, vm_pause)):
            t2 = observer.held_by.get((u, 2))
            assert t2 is not None, 'the observer never saw host 2 hold %s' % u
            assert observer.fenced[vm.pid] < t2, (
                'VM %d fenced at +%.2f s, host 2 held %s from +%.2f s'
                % (vm.pid, observer.fenced[vm.pid] - t_fault, u, t2 - t_fault))
            assert h2.lease_props(u)['State'] == 'held'
            assert sb.storage.owners(u, sb.lease_path_of(2),
                                     h2.inquire(u)['offset'])['exclusive'] == 2
        sys.stderr.write('observer: %d samples, no double holder\n' % observer.samples)
    finally:
        stop_vm(vm_kill)
        stop_vm(vm_pause)
        if observer is not None and observer.is_alive():
            with contextlib.suppress(Exception):
                observer.stop()
        sb.fault(1, 'off')
        recover_host(sb, 1)


def sanlock_joined(h):
    """Host h's sanlock daemon holds the lockspace (not still adding it):
    a line 's sandbox:<host id>:<path>:<offset>' without ADD or REM."""
    for line in h.sanlock_status()['text'].splitlines():
        parts = line.split()
        if (len(parts) >= 2 and parts[0] == 's' and parts[1].split(':')[0] == 'sandbox'
                and 'ADD' not in parts[2:] and 'REM' not in parts[2:]):
            return True
    return False


def vmleased_joined(h):
    return any(ls[0] == 'sandbox' and ls[4] == 'joined' for ls in h.lockspaces())


def recover_host(sb, k):
    """After its lockspace failed: sanlock dropped it, while vmleased still
    lists it as joined (it does not notice yet). Restart host k's vmleased,
    which joins again at start, and wait until it has."""
    h = sb.host(k)
    if sanlock_joined(h):
        return
    run_sandbox('restart', '--dir', sb.dir, '--host', str(k), timeout=120)
    wait_joined(h)


def wait_joined(h, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sanlock_joined(h) and vmleased_joined(h):
            return
        time.sleep(0.2)
    raise AssertionError('host %d has not (re-)joined the lockspace: sanlock %r, '
                         'vmleased %r' % (h.id, h.sanlock_status()['lockspaces'],
                                          h.lockspaces()))


# --- forced request, holder killed by hand, monitor --json -------------------------

def test_forced_request_revokes_with_fence_and_monitor_prints_lost(loss):
    sb, leases = loss
    h1, h2 = sb.hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    vm = vm_standin()
    mon = Monitor(h1)
    try:
        # monitor is up once it reports vmleased on the bus (any line)
        mon.wait(lambda m: m.lines, 10, 'the first line')
        h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
        holder = h1.inquire(u)['holder_pid']
        lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
        t0 = time.monotonic()
        h2.acquire(u, {'force': b(True), 'wait': u32(60)}, timeout_ms=90000)
        t_acq = time.monotonic()
        assert vm.wait(timeout=5) == -signal.SIGKILL
        (path, (reason, details)), = lost.wait(lambda it: it, timeout=15,
                                               what='Lost on host 1')
        t_lost = time.monotonic()
        assert reason == 'revoked', (reason, details)
        assert details['fence'] == 'kill' and details['fence_pid'] == vm.pid, details
        assert h1.lease_props(u)['State'] == 'lost'
        assert h2.lease_props(u)['State'] == 'held'
        kt = sanlock_kill_time(h1, holder)
        assert kt is not None and kt[1] == 'kill-path', kt
        figure('forced request', 'request -> host 2 acquired', t_acq - t0)
        figure('forced request', 'request -> Lost', t_lost - t0)
        figure('forced request', "sanlock's kill path -> Lost (1 s res.)", t_lost - kt[0])
        # the lockspace of host 1 is healthy: a request is not a failure
        assert any(l.split(':')[0] == 'sandbox' for l in h1.sanlock_status()['lockspaces'])
        got = mon.wait(lambda m: [e for e in m.events('lost') if e.get('uuid') == u],
                       10, 'a "lost" line for %s' % u)
        assert len(got) == 1, got
        assert got[0]['reason'] == 'revoked', got[0]
        assert got[0]['details']['fence_pid'] == vm.pid, got[0]
        h2.release(u)
    finally:
        stop_vm(vm)
        rc, err = mon.close()
    assert rc == 0, 'vmleasectl monitor exited %d: %s' % (rc, err)


def test_holder_killed_by_hand_reports_holder_exited(loss):
    sb, leases = loss
    h1, h2 = sb.hosts
    u = leases()
    h1.create(u)
    vm = vm_standin()
    mon = Monitor(h1)
    try:
        mon.wait(lambda m: m.lines, 10, 'the first line')
        h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
        holder = h1.inquire(u)['holder_pid']
        lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
        t0 = time.monotonic()
        os.kill(holder, signal.SIGKILL)
        (path, (reason, details)), = lost.wait(lambda it: it, timeout=15,
                                               what='Lost on host 1')
        figure('holder killed by hand', 'SIGKILL -> Lost', time.monotonic() - t0)
        assert reason == 'holder-exited', (reason, details)
        assert h1.lease_props(u)['State'] == 'lost'
        # the holder could not fence (SIGKILL): vmleased applied the fence
        # when it saw the holder gone, since sanlock released the lease
        # with its client and host 2 may take it now
        assert details.get('fence') == 'kill' and details.get('fenced') is True, details
        assert details.get('fence_pid') == vm.pid, details
        assert vm.wait(timeout=5) == -signal.SIGKILL
        h2.get_lease(u)
        h2.acquire(u, {'wait': u32(20)}, timeout_ms=40000)
        h2.release(u)
        got = mon.wait(lambda m: [e for e in m.events('lost') if e.get('uuid') == u],
                       10, 'a "lost" line for %s' % u)
        assert len(got) == 1 and got[0]['reason'] == 'holder-exited', got
    finally:
        stop_vm(vm)
        rc, err = mon.close()
    assert rc == 0, 'vmleasectl monitor exited %d: %s' % (rc, err)
    # every line monitor printed is one JSON object
    for line in mon.lines:
        assert isinstance(json.loads(line), dict), line
