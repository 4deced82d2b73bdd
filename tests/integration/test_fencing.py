# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fencing exactly one VM, and fencing without sanlock (issue 11, items 1, 2, 4).

However the holding host came to hold the lease -- Acquire, a hand-off's
prepare + finish (pre-copy and post-copy), the take-back after a failed
hand-off, cancel after begin or perform, adoption by a restarted vmleased
-- another host's seize (Acquire force) must kill that lease's VM stand-in
and nothing else: another stand-in and another lease held on the same host
live on, and so does that host's sanlock daemon. (sanlock records no pid for
a lease acquired shared and converted; a forced request made its daemon
kill(0, SIGKILL): its own process group.) The revocation goes through the
holder's kill path (`vmlease-holder --revoke`, logged in sanlock's log).

And the holder fences through a pidfd taken at the claim: a process that
got the VM's pid after the VM exited survives the seize.

When host 1's sanlock daemon dies, its holder fences the VM at once,
whether vmleased runs or not; Lost says sanlock-gone, the lockspace is lost
and joined again once the daemon is back.

Session sandbox (3 hosts, io_timeout 1); a seize takes 2-8 s; the daemon
test with vmleased down waits once for host 1's host lease to expire
(8 x io_timeout + 60 s).
"""

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import (IO_TIMEOUT, LEASE_IFACE, b, lease_path, process_alive, run_sandbox, s,
                      u32, wait_process_exit, wait_until)
from test_transfer import hand_leases, kill_by_pid, xfer  # noqa: F401 (a fixture)

SEIZE_WAIT_S = 30


def sanlock_daemon_pid(sb, k):
    for p in sb.pids()['processes']:
        if p['host'] == k and p['role'] == 'sanlock':
            return p['pid']
    return None


@pytest.fixture
def vms(sb):
    """Starts VM stand-ins (sleep); stops them afterwards. A host whose
    sanlock daemon a seize killed (the bug this guards against) is brought
    back, so that one failure does not cascade."""
    started = []

    def start():
        p = subprocess.Popen(['sleep', '600'])
        started.append(p)
        return p
    yield start
    for p in started:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
            p.wait(timeout=10)
    for h in sb.hosts:
        if not process_alive(sanlock_daemon_pid(sb, h.id)):
            run_sandbox('restart', '--dir', sb.dir, '--host', str(h.id), '--all', timeout=120)
        wait_until(lambda: lockspace_state(h) == 'joined', 60, interval=0.2,
                   what='host %d to re-join' % h.id)


def new_lease(hosts, make, on, vm=None):
    """A lease created on host `on`, exported everywhere, acquired there
    (with `vm` as its VM process, fence kill) if vm is given."""
    u = make()
    h = hosts[on - 1]
    h.create(u)
    for other in hosts:
        other.get_lease(u)
    if vm is not None:
        h.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
    return u


def bystander(hosts, make, vms, on):
    """Another lease held on host `on`, with its own VM stand-in."""
    vm = vms()
    return new_lease(hosts, make, on, vm), vm


def kill_path_ran(sb, k, holder, since):
    """Host k's sanlock log (from byte `since`) shows the holder's kill path
    revoking `holder`: sanlock signalled no pid by itself."""
    path = os.path.join(sb.dir, 'host%d' % k, 'sanlock.log')
    with open(path, errors='replace') as f:
        f.seek(since)
        text = f.read()
    return re.search(r'vmlease-holder --revoke: sanlock revokes the leases of holder %d;'
                     % holder, text) is not None


def sanlock_log_size(sb, k):
    return os.path.getsize(os.path.join(sb.dir, 'host%d' % k, 'sanlock.log'))


def seize_fences_only(sb, holding, seizer, u, vm, other):
    """Seizes u from host `holding` on host `seizer` and checks that exactly
    `vm` was fenced: `other` (uuid, VM stand-in), held on the same host,
    and that host's sanlock daemon live on."""
    other_u, other_vm = other
    daemon = sanlock_daemon_pid(sb, holding.id)
    holder = holding.lease_props(u)['HolderPid']
    log_at = sanlock_log_size(sb, holding.id)
    lost = holding.record(LEASE_IFACE, 'Lost', lease_path(u))
    t0 = time.monotonic()
    try:
        seizer.acquire(u, {'force': b(True), 'wait': u32(SEIZE_WAIT_S)},
                       timeout_ms=(SEIZE_WAIT_S + 30) * 1000)
    finally:
        assert process_alive(daemon), (
            'the seize killed host %d\'s sanlock daemon (pid %d)' % (holding.id, daemon))
    print('seize took %.2f s' % (time.monotonic() - t0))
    assert vm.wait(timeout=5) == -signal.SIGKILL
    (_, (reason, details)), = lost.wait(lambda it: it, timeout=10,
                                        what='Lost on host %d' % holding.id)
    lost.close()
    assert reason == 'revoked', (reason, details)
    assert details['fence_pid'] == vm.pid, details
    assert kill_path_ran(sb, holding.id, holder, log_at), (
        'host %d\'s sanlock did not revoke holder %d through its kill path'
        % (holding.id, holder))
    assert seizer.lease_props(u)['State'] == 'held'
    # nothing else on the holding host was touched
    assert other_vm.poll() is None and process_alive(other_vm.pid)
    info = holding.inquire(other_u)
    assert info['held_here'] is True and info['state'] == 'held', info
    assert holding.sanlock_holders_of(other_u) == [info['holder_pid']]
    assert process_alive(daemon)
    seizer.release(u)


def handed_over(hosts, make, vms, postcopy=False):
    """A lease acquired on host 1 with a VM stand-in, handed to host 2
    (prepare with another stand-in, finish; confirm for pre-copy). Returns
    (uuid, host 2's VM)."""
    h1, h2, _ = hosts
    u = new_lease(hosts, make, 1, vms())
    vm2 = vms()
    t = xfer(h1, u, 'begin')
    t = xfer(h2, u, 'prepare', t, pid=vm2.pid, fence='kill')
    t = xfer(h1, u, 'perform', t, postcopy=postcopy)
    t = xfer(h2, u, 'finish', t)
    if not postcopy:
        xfer(h1, u, 'confirm', t)
    assert h2.lease_props(u)['State'] == 'held'
    return u, vm2


def test_seize_after_acquire(sb, hosts, hand_leases, vms):
    h1, h2, _ = hosts
    vm = vms()
    u = new_lease(hosts, hand_leases, 1, vm)
    seize_fences_only(sb, h1, h2, u, vm, bystander(hosts, hand_leases, vms, 1))


@pytest.mark.parametrize('postcopy', [False, True], ids=['precopy', 'postcopy'])
def test_seize_after_handoff(sb, hosts, hand_leases, vms, postcopy):
    h1, h2, _ = hosts
    u, vm2 = handed_over(hosts, hand_leases, vms, postcopy)
    seize_fences_only(sb, h2, h1, u, vm2, bystander(hosts, hand_leases, vms, 2))


def test_seize_after_take_back(sb, hosts, hand_leases, vms):
    """finish(failure) on the destination, confirm(failure) on the source:
    the source takes the lease back with a new holder."""
    h1, h2, _ = hosts
    vm1 = vms()
    u = new_lease(hosts, hand_leases, 1, vm1)
    t = xfer(h1, u, 'begin')
    t = xfer(h2, u, 'prepare', t, pid=vms().pid, fence='kill')
    t = xfer(h1, u, 'perform', t)
    t = xfer(h2, u, 'finish', t, success=False)
    xfer(h1, u, 'confirm', t, success=False, wait=10)
    assert h1.lease_props(u)['State'] == 'held'
    seize_fences_only(sb, h1, h2, u, vm1, bystander(hosts, hand_leases, vms, 1))


@pytest.mark.parametrize('after', ['begin', 'perform'])
def test_seize_after_cancel(sb, hosts, hand_leases, vms, after):
    h1, h2, _ = hosts
    vm1 = vms()
    u = new_lease(hosts, hand_leases, 1, vm1)
    t = xfer(h1, u, 'begin')
    if after == 'perform':
        t = xfer(h2, u, 'prepare', t, pid=vms().pid, fence='kill')
        xfer(h1, u, 'perform', t)
        xfer(h2, u, 'cancel')
    xfer(h1, u, 'cancel', wait=10)
    assert h1.lease_props(u)['State'] == 'held'
    seize_fences_only(sb, h1, h2, u, vm1, bystander(hosts, hand_leases, vms, 1))


def test_seize_after_adoption(sb, hosts, hand_leases, vms):
    """A lease that came by a hand-off, adopted by host 2's restarted
    vmleased."""
    h1, h2, _ = hosts
    u, vm2 = handed_over(hosts, hand_leases, vms)
    other = bystander(hosts, hand_leases, vms, 2)
    holder = h2.lease_props(u)['HolderPid']
    sb.kill(2)
    sb.restart(2)
    wait_until(lambda: h2.lease_props(u)['State'] == 'held', 10,
               what='host 2 to adopt the lease')
    assert h2.lease_props(u)['HolderPid'] == holder
    seize_fences_only(sb, h2, h1, u, vm2, other)


# --- pid reuse ---------------------------------------------------------------

NS_LAST_PID = '/proc/sys/kernel/ns_last_pid'


def spawn_with_pid(pid, tries=50):
    """A new process (sleep) with exactly this pid, or None. Sets
    ns_last_pid to pid - 1 under its lock (the convention CRIU follows), so
    the next fork on the machine gets pid; another process forking in
    between takes it, hence the retries."""
    with open(NS_LAST_PID, 'r+') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            for _ in range(tries):
                f.seek(0)
                f.write(str(pid - 1))
                f.flush()
                p = subprocess.Popen(['sleep', '600'])
                if p.pid == pid:
                    return p
                p.kill()
                p.wait()
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return None


def test_seize_spares_a_process_that_reused_the_vm_pid(sb, hosts, hand_leases, vms):
    h1, h2, _ = hosts
    vm = vms()
    u = new_lease(hosts, hand_leases, 1, vm)
    holder = h1.lease_props(u)['HolderPid']
    old_pid = vm.pid
    vm.kill()
    vm.wait()
    newcomer = spawn_with_pid(old_pid)
    assert newcomer is not None, 'could not get pid %d again' % old_pid
    try:
        log_at = h1.log_size()
        h2.acquire(u, {'force': b(True), 'wait': u32(SEIZE_WAIT_S)},
                   timeout_ms=(SEIZE_WAIT_S + 30) * 1000)
        assert wait_until(lambda: not process_alive(holder), 10, what='the holder to exit')
        time.sleep(0.2)
        assert newcomer.poll() is None and process_alive(newcomer.pid), (
            'the process that reused pid %d was fenced' % old_pid)
        assert re.search(r'VM process %d had already exited' % old_pid,
                         h1.log_since(log_at)), h1.log_since(log_at)
        assert h2.lease_props(u)['State'] == 'held'
        h2.release(u)
    finally:
        newcomer.kill()
        newcomer.wait()


# --- the sanlock daemon dies (item 2) -----------------------------------------

class StorageObserver(threading.Thread):
    """Independent of vmleased and of host 1: when the VM stand-in was
    first seen dead (every 5 ms), and when storage first named host 2 the
    lease's exclusive owner (sanlock's own reader, every 0.1 s)."""

    def __init__(self, storage, u, loc, vm):
        super().__init__(daemon=True)
        self.storage, self.u, self.loc, self.vm = storage, u, loc, vm
        self.fenced = self.host2_owner = None
        self._halt = threading.Event()

    def _watch_vm(self):
        while not self._halt.is_set() and self.fenced is None:
            if not process_alive(self.vm.pid):
                self.fenced = time.monotonic()
            self._halt.wait(0.005)

    def run(self):
        vm = threading.Thread(target=self._watch_vm, daemon=True)
        vm.start()
        while not self._halt.is_set() and self.host2_owner is None:
            own = self.storage.owners(self.u, self.loc['path'], self.loc['offset'])
            if own['exclusive'] == 2:
                self.host2_owner = time.monotonic()
            self._halt.wait(0.1)
        vm.join(timeout=5)

    def stop(self):
        self._halt.set()
        self.join(timeout=10)


def sanlock_state(h):
    return h.manager_prop('SanlockDaemon')


def lockspace_state(h):
    return {ls[0]: ls[4] for ls in h.lockspaces()}.get('sandbox')


def test_sanlock_daemon_killed_while_vmleased_down_fences_at_once(sb, hosts, hand_leases, vms):
    """Host 1's vmleased is down when its sanlock daemon is SIGKILLed: the
    holder itself fences the VM at once; host 2 gets the lease only after
    that (once host 1's host lease expired). The restarted vmleased reports
    the lease lost with reason sanlock-gone (from the holder's note)."""
    h1, h2, _ = hosts
    vm = vms()
    u = new_lease(hosts, hand_leases, 1, vm)
    info = h1.inquire(u)
    loc = {'path': info['path'], 'offset': info['offset']}
    holder = info['holder_pid']
    host_dead_s = 8 * IO_TIMEOUT + (sb.pids().get('watchdog_fire_timeout') or 60)
    observer = StorageObserver(sb.storage, u, loc, vm)
    observer.start()
    try:
        sb.kill(1)
        kill_by_pid(sb, 1, ('sanlock',))
        killed = time.monotonic()
        assert vm.wait(timeout=5) == -signal.SIGKILL
        assert wait_process_exit(holder, 5)
        fenced = observer.fenced or time.monotonic()
        print('sanlock SIGKILL -> VM fenced %.3f s' % (fenced - killed))
        assert fenced - killed < 1.0, 'fenced %.2f s after the daemon died' % (fenced - killed)
        h2.acquire(u, {'wait': u32(host_dead_s + 30)}, timeout_ms=(host_dead_s + 60) * 1000)
        wait_until(lambda: observer.host2_owner, 5, what='the observer to see host 2 own it')
        print('sanlock SIGKILL -> host 2 owner on storage %.1f s'
              % (observer.host2_owner - killed))
        assert observer.host2_owner > fenced
        lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    finally:
        observer.stop()
        run_sandbox('restart', '--dir', sb.dir, '--host', '1', '--all', timeout=120)
    (_, (reason, details)), = lost.wait(lambda it: it, timeout=20, what='Lost after the restart')
    assert reason == 'sanlock-gone', (reason, details)
    assert details['holder_pid'] == holder and details['fence_pid'] == vm.pid, details
    wait_until(lambda: lockspace_state(h1) == 'joined', 60, interval=0.2,
               what='host 1 to join the lockspace again')
    assert h1.lease_props(u)['State'] == 'lost'
    assert sanlock_state(h1) == 'running'
    h2.release(u)


def test_sanlock_daemon_back_is_joined_again(sb, hosts, hand_leases, vms):
    """vmleased runs while host 1's sanlock daemon dies and comes back: the
    held lease is lost (sanlock-gone), the lockspace lost saying why,
    SanlockDaemon "gone"; then the lockspace is joined again by itself."""
    h1 = hosts[0]
    vm = vms()
    u = new_lease(hosts, hand_leases, 1, vm)
    lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    changed = h1.record('org.example.VMLease.Manager', 'LockspaceChanged')
    try:
        kill_by_pid(sb, 1, ('sanlock',))
        assert vm.wait(timeout=5) == -signal.SIGKILL
        (_, (reason, details)), = lost.wait(lambda it: it, timeout=10, what='Lost')
        assert reason == 'sanlock-gone', (reason, details)
        gone = changed.wait(lambda it: [a for _, a in it if a[0] == 'sandbox' and a[1] == 'lost'],
                            timeout=10, what='LockspaceChanged lost')
        assert 'sanlock daemon is gone' in gone[0][2]['error'], gone
        wait_until(lambda: sanlock_state(h1) == 'gone', 5, what='SanlockDaemon gone')
        assert h1.manager_prop('LockspaceDetails')['sandbox']['state'] == 'lost'
    finally:
        run_sandbox('restart', '--dir', sb.dir, '--host', '1', '--sanlock-only', timeout=120)
    wait_until(lambda: lockspace_state(h1) == 'joined', 60, interval=0.2,
               what='host 1 to join the lockspace again by itself')
    assert sanlock_state(h1) == 'running'
    assert h1.lease_props(u)['State'] == 'lost'


def test_sanlock_daemon_back_within_a_probe_is_joined_again(sb, hosts, hand_leases, vms):
    """The daemon killed and started again at once (a quick systemd restart),
    faster than vmleased's 2 s probe: the probe may never see it gone, but
    the holder did (sanlock-gone marks the lockspace lost); the lockspace
    is joined again all the same (docs/chaos.md, bug 1)."""
    h1 = hosts[0]
    vm = vms()
    u = new_lease(hosts, hand_leases, 1, vm)
    lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    kill_by_pid(sb, 1, ('sanlock',))
    run_sandbox('restart', '--dir', sb.dir, '--host', '1', '--sanlock-only', timeout=120)
    (_, (reason, _)), = lost.wait(lambda it: it, timeout=10, what='Lost')
    assert reason == 'sanlock-gone'
    wait_until(lambda: lockspace_state(h1) == 'joined', 30, interval=0.2,
               what='host 1 to join the lockspace again after a quick daemon restart')
    assert sanlock_state(h1) == 'running'


def test_sanlock_daemon_back_within_a_probe_without_holders_is_joined_again(sb, hosts):
    """The daemon killed and started again at once on a host that holds no
    lease (no holder to see it go): the listener for messages in the
    lockspace ends, and its daemon no longer runs, so vmleased says the
    lockspace is lost at once and joins it again; it never says "joined"
    while sanlock has it joined no more (chaos seed 3287383160)."""
    h3 = hosts[2]
    st = h3.sanlock_status()
    assert not st['resources'], 'host 3 must hold no lease here: %r' % st
    changed = h3.record('org.example.VMLease.Manager', 'LockspaceChanged')
    kill_by_pid(sb, 3, ('sanlock',))
    run_sandbox('restart', '--dir', sb.dir, '--host', '3', '--sanlock-only', timeout=120)
    lost = changed.wait(lambda it: [a for _, a in it if a[0] == 'sandbox' and a[1] == 'lost'],
                        timeout=10, what='LockspaceChanged lost')
    # seen by the listener's end ("... no longer runs") or, when the
    # restart took longer than a probe interval, by the probe ("does not
    # answer"): either way lost with the daemon, and joined again below
    assert 'the sanlock daemon is gone' in lost[0][2]['error'], lost
    wait_until(lambda: lockspace_state(h3) == 'joined', 30, interval=0.2,
               what='host 3 to join the lockspace again')
    assert any(ls.startswith('sandbox:3:') for ls in h3.sanlock_status()['lockspaces'])
    assert sanlock_state(h3) == 'running'


def test_lockspace_left_behind_vmleased_back_is_lost(sb, hosts):
    """An admin removes a lockspace from sanlock behind vmleased's back
    (`sanlock client rem_lockspace`): sanlock ends the listener, a new one
    is refused, and vmleased says the lockspace is lost (not joined) until
    AddLockspace joins it again."""
    h = hosts[0]
    ls = 'leftbehind'
    path = os.path.join(sb.dir, 'leftbehind.leases')
    with open(path, 'wb') as f:
        f.truncate(16 * 1024 * 1024)
    h.add_lockspace(ls, 1, path, 0, {'init': b(True), 'io_timeout': u32(IO_TIMEOUT)},
                    timeout_ms=60000)
    try:
        assert ('leftbehind', 'joined') in [(x[0], x[4]) for x in h.lockspaces()]
        changed = h.record('org.example.VMLease.Manager', 'LockspaceChanged')
        rc, out = h.sanlock_client('rem_lockspace', '-s', '%s:1:%s:0' % (ls, path), timeout=60)
        assert rc == 0, out
        lost = changed.wait(lambda it: [a for _, a in it if a[0] == ls and a[1] == 'lost'],
                            timeout=15, what='LockspaceChanged lost')
        assert 'sanlock left it' in lost[0][2]['error'], lost
        assert sanlock_state(h) == 'running'
        h.add_lockspace(ls, 1, path, 0, {'io_timeout': u32(IO_TIMEOUT)}, timeout_ms=60000)
        assert ('leftbehind', 'joined') in [(x[0], x[4]) for x in h.lockspaces()]
        assert any(x.startswith(ls + ':1:') for x in h.sanlock_status()['lockspaces'])
    finally:
        h.remove_lockspace(ls, timeout_ms=60000)
