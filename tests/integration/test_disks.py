# SPDX-License-Identifier: LGPL-2.1-or-later
"""Disk leases (issue 13): per-disk sanlock resources taken with a VM lease
(Acquire "disks"), hot-plugged (AttachDisks) and unplugged (DetachDisks),
more than 8 of them, adopted after a restart, seized, and lost as one unit
with the VM lease. Every claim is checked on storage with sanlock's own
tools (conftest.Storage), not only with what vmleased says."""

import hashlib
import threading
import time
import os
import signal
import uuid

import pytest
from gi.repository import GLib

from conftest import (LEASE_IFACE, b, lease_path, process_alive, raises_dbus, run_sandbox, s,
                      u32, wait_process_exit, wait_until)
from test_fencing import vms  # noqa: F401  (VM stand-ins, a fixture)
from test_transfer import (dump, hand_leases, kill_by_pid, sanlock_holds,  # noqa: F401
                           xfer)  # (hand_leases: a fixture)


def disk_key(tag):
    # keys stay in the index for good: a fresh one per test run
    return 'vol-%s/%s' % (tag, uuid.uuid4().hex[:12])


def disk_name(key):
    return 'd' + hashlib.sha256(key.encode()).hexdigest()[:40]


def disks(*pairs):
    return GLib.Variant('a(ss)', [(k, m) for k, m in pairs])


def attach(h, u, pairs, options=None, **kw):
    return h.raw_call(lease_path(u), LEASE_IFACE, 'AttachDisks', 'a(ss)a{sv}',
                      [list(pairs), options or {}], **kw)


def detach(h, u, keys, **kw):
    return h.raw_call(lease_path(u), LEASE_IFACE, 'DetachDisks', 'asa{sv}', [list(keys), {}],
                      **kw)


def disk_owners(sb, key):
    """Storage's word on a disk: {'exclusive': id or 0, 'shared': [ids]}."""
    name = disk_name(key)
    off = sb.storage.index_lookup(name)
    assert off is not None, 'disk %s (%s) is not in the index' % (key, name)
    return sb.storage.owners(name, sb.lease_file, off)


def held_disks(h, u):
    return sorted(tuple(x) for x in h.lease_props(u)['Disks'])


def disk_holder_pids(h):
    """Pids holding disk resources ("d...") in this host's sanlock."""
    st = h.sanlock_status()
    return sorted({pid for (res, pid, rest) in st['resources']
                   if pid is not None and res.split(':')[1:2] and
                   res.split(':')[1].startswith('d') and len(res.split(':')[1]) == 41})


def new_vm_lease(hosts, make, on):
    u = make()
    hosts[on - 1].create(u)
    for h in hosts:
        h.get_lease(u)
    return u


def held_unit(hosts, leases, vms, tag, n=3):
    """A VM lease held on host 1 with n exclusive disks and a VM stand-in
    fenced by kill: (uuid, vm, keys)."""
    keys = [disk_key('%s%d' % (tag, i)) for i in range(n)]
    u = new_vm_lease(hosts, leases, 1)
    vm = vms()
    hosts[0].acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'),
                         'disks': disks(*[(k, '') for k in keys])})
    return u, vm, keys


def assert_disks_free(sb, keys):
    for k in keys:
        o = disk_owners(sb, k)
        assert o['exclusive'] == 0 and o['shared'] == [], (k, o)


def test_bad_disks_are_refused(sb, hosts, leases):
    h1 = hosts[0]
    u = new_vm_lease(hosts, leases, 1)
    k = disk_key('bad')
    for bad, what in (([('', '')], 'empty key'),
                      ([('a b', '')], 'blank in key'),
                      ([('x' * 257, '')], 'key over 256 bytes'),
                      ([(k, 'sometimes')], 'unknown mode'),
                      ([(k, ''), (k, 'shared')], 'key twice'),
                      ([('k%d' % i, '') for i in range(65)], 'over 64 disks')):
        with raises_dbus('InvalidArgument') as e:
            h1.acquire(u, {'disks': disks(*bad)})
        assert h1.lease_props(u)['State'] == 'free', what
        print('%s: %s' % (what, e.value.message))
    with raises_dbus('NotHeld'):
        attach(h1, u, [(k, '')])
    with raises_dbus('NotHeld'):
        detach(h1, u, [k])


def test_shared_disk_on_two_hosts_and_exclusive_busy_names_the_holder(sb, hosts, leases):
    h1, h2, h3 = hosts
    sh, ex = disk_key('shared'), disk_key('excl')
    u1, u2, u3 = (new_vm_lease(hosts, leases, k) for k in (1, 2, 3))

    h1.acquire(u1, {'disks': disks((sh, 'shared'), (ex, ''))})
    h2.acquire(u2, {'disks': disks((sh, 'shared'))})
    assert held_disks(h1, u1) == sorted([(ex, 'exclusive'), (sh, 'shared')])
    assert held_disks(h2, u2) == [(sh, 'shared')]
    assert disk_owners(sb, sh)['shared'] == [1, 2]
    assert disk_owners(sb, ex)['exclusive'] == 1

    # the exclusive disk for a third VM: Busy, naming the VM lease and host
    with raises_dbus('Busy') as e:
        h3.acquire(u3, {'disks': disks((ex, 'exclusive'))})
    assert ex in e.value.message and u1 in e.value.message and 'host 1' in e.value.message, \
        e.value.message
    # all or nothing: the VM lease of u3 is not held afterwards
    assert h3.lease_props(u3)['State'] == 'free'
    assert sb.storage.owners(u3, sb.lease_file, h3.inquire(u3)['offset'])['exclusive'] == 0
    # nobody exclusive while anyone shares
    with raises_dbus('Busy') as e:
        h3.acquire(u3, {'disks': disks((sh, 'exclusive'))})
    assert sh in e.value.message, e.value.message
    assert disk_owners(sb, sh)['shared'] == [1, 2]
    assert disk_owners(sb, ex)['exclusive'] == 1

    info = h1.inquire(u1)
    by_key = {d['key']: d for d in info['disks']}
    assert by_key[ex]['resource'] == disk_name(ex) and by_key[ex]['owner'] == 1
    assert sorted(by_key[sh]['shared_owners']) == [1, 2] and by_key[sh]['mode'] == 'shared'

    h1.release(u1)
    h2.release(u2)
    assert disk_owners(sb, sh)['shared'] == [] and disk_owners(sb, ex)['exclusive'] == 0
    assert disk_holder_pids(h1) == [] and disk_holder_pids(h2) == []


def test_hotplug_refused_changes_nothing_then_detach_and_attach_elsewhere(sb, hosts, leases):
    h1, h2 = hosts[0], hosts[1]
    a, bk, c = disk_key('a'), disk_key('b'), disk_key('c')
    u1, u2 = new_vm_lease(hosts, leases, 1), new_vm_lease(hosts, leases, 2)
    h1.acquire(u1, {'disks': disks((a, ''))})
    h2.acquire(u2, {'disks': disks((bk, ''))})
    holders_before = disk_holder_pids(h2)

    with raises_dbus('Busy') as e:
        attach(h2, u2, [(c, ''), (a, '')])
    assert a in e.value.message and u1 in e.value.message, e.value.message
    assert held_disks(h2, u2) == [(bk, 'exclusive')]
    assert held_disks(h1, u1) == [(a, 'exclusive')]
    assert disk_owners(sb, c) == dict(disk_owners(sb, c), exclusive=0, shared=[])
    assert disk_owners(sb, a)['exclusive'] == 1
    assert disk_holder_pids(h2) == holders_before

    # hot-unplug on host 1, then hotplug on the other VM
    detach(h1, u1, [a])
    assert held_disks(h1, u1) == []
    assert disk_owners(sb, a)['exclusive'] == 0
    wait_until(lambda: disk_holder_pids(h1) == [], 10, what='the idle disk holder to end')
    attach(h2, u2, [(a, ''), (c, 'shared')])
    assert held_disks(h2, u2) == sorted([(a, 'exclusive'), (bk, 'exclusive'), (c, 'shared')])
    assert disk_owners(sb, a)['exclusive'] == 2 and disk_owners(sb, c)['shared'] == [2]
    with raises_dbus('InvalidArgument'):
        detach(h2, u2, [a, disk_key('never')])
    assert disk_owners(sb, a)['exclusive'] == 2
    h1.release(u1)
    h2.release(u2)


def test_twenty_disks_acquire_restart_seize_release(sb, hosts, leases, vms):
    h1, h2 = hosts[0], hosts[1]
    keys = [disk_key('many%02d' % i) for i in range(20)]
    pairs = [(k, 'shared' if i == 0 else '') for i, k in enumerate(keys)]
    u = new_vm_lease(hosts, leases, 1)
    vm = vms()
    h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'), 'disks': disks(*pairs)},
               timeout_ms=60000)
    want = sorted((k, 'shared' if i == 0 else 'exclusive') for i, k in enumerate(keys))
    assert held_disks(h1, u) == want
    # 4 disks per holder (VML_DISKS_PER_HOLDER): 5 disk holders besides the
    # VM lease's
    pids = disk_holder_pids(h1)
    assert len(pids) == 5, pids
    lease_holder = h1.lease_props(u)['HolderPid']
    assert lease_holder not in pids
    for i, k in enumerate(keys):
        o = disk_owners(sb, k)
        assert (o['shared'] == [1]) if i == 0 else (o['exclusive'] == 1), (k, o)

    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] == 'held', 30, what='adoption')
    assert held_disks(h1, u) == want
    assert h1.lease_props(u)['HolderPid'] == lease_holder
    assert disk_holder_pids(h1) == pids
    assert all(p in {d['holder_pid'] for d in h1.inquire(u)['disks']} for p in pids)

    lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    h2.acquire(u, {'force': b(True), 'wait': u32(60), 'disks': disks(*pairs)},
               timeout_ms=90000)
    got = lost.wait(lambda items: items, timeout=15, what='Lost on host 1')
    lost.pump(1.0)
    assert len(lost.items) == 1, lost.items
    assert got[0][1][0] == 'revoked', got
    wait_process_exit(vm.pid, 10)
    assert held_disks(h2, u) == want
    for i, k in enumerate(keys):
        o = disk_owners(sb, k)
        assert (o['shared'] == [2]) if i == 0 else (o['exclusive'] == 2), (k, o)
    assert disk_holder_pids(h1) == []

    h2.release(u)
    for k in keys:
        o = disk_owners(sb, k)
        assert o['exclusive'] == 0 and o['shared'] == [], (k, o)
    wait_until(lambda: disk_holder_pids(h2) == [], 10, what='disk holders to end')


def test_losing_one_disk_fences_the_vm_once(sb, hosts, leases, vms):
    h1 = hosts[0]
    u, vm, keys = held_unit(hosts, leases, vms, 'loss')
    info = h1.inquire(u)
    victim = info['disks'][1]
    lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    os.kill(victim['holder_pid'], signal.SIGKILL)
    lost.wait(lambda items: items, timeout=10, what='Lost')
    lost.pump(1.0)
    assert len(lost.items) == 1, lost.items
    reason, details = lost.items[0][1]
    assert reason == 'holder-exited', reason
    # the holder kept all three: Lost names every one of them (and the
    # first alone, as "resource" and "disk")
    kept = sorted((d['resource'], d['key']) for d in info['disks']
                  if d['holder_pid'] == victim['holder_pid'])
    assert len(kept) == 3, kept
    assert sorted(zip(details['resources'], details['disks'])) == kept, (details, kept)
    assert (details['resource'], details['disk']) in kept, (details, kept)
    assert all(k in details['message'] for _, k in kept), details['message']
    assert details['fenced'] is True
    wait_process_exit(vm.pid, 10)
    assert h1.lease_props(u)['State'] == 'lost'
    assert held_disks(h1, u) == []
    wait_until(lambda: not process_alive(info['holder_pid']), 10, what='the VM lease holder')
    assert sb.storage.owners(u, info['path'], info['offset'])['exclusive'] == 0
    for k in keys:
        wait_until(lambda: disk_owners(sb, k)['exclusive'] == 0, 10, what='disk %s free' % k)


# --- vmleased dying while it takes disks, and what a restart asks sanlock -------

def lease_record(sb, k, u):
    """Host k's state record of lease u: {key: value} of its [lease] group."""
    path = os.path.join(sb.dir, 'host%d' % k, 'state', 'leases', '%s.lease' % u)
    out = {}
    with open(path) as f:
        for line in f:
            if '=' in line:
                key, _, value = line.rstrip('\n').partition('=')
                out[key] = value
    return out


def crash_during(sb, h, point, call):
    """Start h's vmleased with the crash point, make the call, see it die
    there (it is not started again here)."""
    sb.restart(h.id, crash_at=point)
    pid = h.vmleased_pid()
    with pytest.raises(Exception) as e:
        call()
    print('%s: the call ended with %r' % (point, e.value))
    assert wait_process_exit(pid, 20), 'vmleased did not die at %s' % point


@pytest.mark.parametrize('point', ['disks.recorded', 'disks.taken'])
def test_crash_while_taking_disks_leaves_none_orphaned(sb, hosts, leases, vms, point):
    """The disk holders of a take are in the record before sanlock is asked
    (write-ahead): vmleased killed right after that record, or right after
    sanlock gave the disks, restarts with every disk either held by the
    object (Disks, sanlock and storage agree) or free, and no holder
    process left holding or waiting."""
    h1 = hosts[0]
    keys = [disk_key('crash%d' % i) for i in range(3)]
    pairs = [(k, '') for k in keys]
    u = new_vm_lease(hosts, leases, 1)
    vm = vms()
    h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
    lease_holder = h1.lease_props(u)['HolderPid']

    crash_during(sb, h1, point, lambda: attach(h1, u, pairs))
    rec = lease_record(sb, 1, u)
    pending = [int(line.split(' ')[4]) for line in rec.get('pending_disks', '').split(';')
               if line]
    print('record after the crash: pending %s' % rec.get('pending_disks'))
    assert pending, 'the take did not record its disk holder before asking sanlock'
    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] == 'held', 30, what='adoption')
    assert h1.lease_props(u)['HolderPid'] == lease_holder
    held = held_disks(h1, u)
    if point == 'disks.taken':
        assert held == sorted((k, 'exclusive') for k in keys), held
        assert disk_holder_pids(h1) == sorted(set(pending))
        assert {d['holder_pid'] for d in h1.inquire(u)['disks']} == set(pending)
    else:
        assert held == [], held
        for p in set(pending):
            assert wait_process_exit(p, 10), 'disk holder %d holding nothing still runs' % p
    # never orphaned: storage's word matches the object's, disk by disk
    for k in keys:
        assert (disk_owners(sb, k)['exclusive'] == 1) == ((k, 'exclusive') in held), \
            (k, disk_owners(sb, k), held)
    assert 'pending_disks' not in lease_record(sb, 1, u)
    assert process_alive(vm.pid), 'the VM was fenced, nothing was lost'

    h1.release(u)
    assert_disks_free(sb, keys)
    wait_until(lambda: disk_holder_pids(h1) == [], 10, what='disk holders to end')
    for p in set(pending):
        assert wait_process_exit(p, 10), 'disk holder %d still runs after Release' % p


def test_restart_asks_sanlock_which_disks_a_live_holder_holds(sb, hosts, leases, vms):
    """A disk that its (live) holder no longer holds in sanlock when vmleased
    starts again is a loss of that disk: the VM fenced once, Lost naming it."""
    h1 = hosts[0]
    u, vm, keys = held_unit(hosts, leases, vms, 'gone')
    info = h1.inquire(u)
    victim = info['disks'][2]
    sb.kill(1)
    res = [r for (r, pid, _) in h1.sanlock_status()['resources']
           if pid == victim['holder_pid'] and r.split(':')[1] == victim['resource']]
    assert len(res) == 1, res
    rc, out = h1.sanlock_client('release', '-r', res[0], '-p', str(victim['holder_pid']))
    assert rc == 0, out
    assert process_alive(victim['holder_pid'])
    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] == 'lost', 30, what='the loss')
    assert wait_process_exit(vm.pid, 10), 'the VM was not fenced'
    log = h1.log_since(0)
    assert 'sanlock no longer holds disk(s) %s' % victim['key'] in log, log[-3000:]
    assert held_disks(h1, u) == []
    wait_until(lambda: not process_alive(info['holder_pid']), 10, what='the VM lease holder')
    for k in keys:
        wait_until(lambda: disk_owners(sb, k)['exclusive'] == 0, 10, what='disk %s free' % k)
    wait_until(lambda: disk_holder_pids(h1) == [], 10, what='disk holders to end')


def test_seize_with_the_owners_vmleased_down_takes_the_disks_too(sb, hosts, leases, vms):
    """Acquire force while the owner's vmleased is not running: nobody there
    ends the unit, so the owner's disk holders would keep the disks; the
    seizer asks for each disk of this same VM lease too, and gets all."""
    h1, h2 = hosts[0], hosts[1]
    u, vm, keys = held_unit(hosts, leases, vms, 'seize')
    pairs = [(k, '') for k in keys]
    old = disk_holder_pids(h1)
    assert old
    sb.kill(1)
    t0 = time.monotonic()
    h2.acquire(u, {'force': b(True), 'wait': u32(60), 'disks': disks(*pairs)},
               timeout_ms=90000)
    print('seize with disks, owner vmleased down: %.1f s' % (time.monotonic() - t0))
    assert held_disks(h2, u) == sorted((k, 'exclusive') for k in keys)
    for k in keys:
        assert disk_owners(sb, k)['exclusive'] == 2, (k, disk_owners(sb, k))
    assert wait_process_exit(vm.pid, 10), 'the old VM was not fenced'
    for p in old:
        assert wait_process_exit(p, 10), 'old disk holder %d still runs' % p
    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] in ('lost', 'free'), 30, what='host 1 restore')
    assert held_disks(h1, u) == []
    h2.release(u)
    assert_disks_free(sb, keys)


# --- hand-offs ------------------------------------------------------------------

class UnitObserver:
    """Polls storage (every resource of the VM lease: the lease and each
    disk) and every host's sanlock daemon while a hand-off runs: a resource
    free on storage, or held exclusively by two hosts at once, is a
    violation. Slower than test_transfer's Observer (one read per resource
    per sample), so it samples each step's whole window many times."""

    def __init__(self, sb, resources):
        self.sb = sb
        self.resources = resources        # [(name, offset)]
        self.live = set(sb.storage.live_hosts())
        self.samples = 0
        self.violations = []
        self.free_allowed = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        for name, off in self.resources:
            if name in self.free_allowed:
                continue
            ex, _, _, shared = dump(self.sb, self.sb.lease_file, off)
            if ex == 0 and not [k for k in shared if k in self.live]:
                self.violations.append('%.3f: %s is free on storage' % (time.monotonic(), name))
        ex_hosts = {}
        for h in self.sb.hosts:
            for name, _, mode in sanlock_holds(h) or []:
                if mode == 'EX' and h.id not in ex_hosts.get(name, []):
                    ex_hosts.setdefault(name, []).append(h.id)
        for name, hs in ex_hosts.items():
            if len(hs) > 1:
                self.violations.append('%.3f: %s exclusive on hosts %r' % (time.monotonic(), name, hs))
        self.samples += 1

    def _run(self):
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception as e:      # noqa: BLE001 -- reported, not raised
                self.violations.append('observer failed: %r' % e)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        if exc[0] is None:
            assert self.samples > 1, 'the observer took %d samples' % self.samples
            assert not self.violations, '\n'.join(self.violations[:20])
        return False


def unit_resources(sb, h, u, keys):
    info = h.inquire(u)
    return [(u, info['offset'])] + [(disk_name(k), sb.storage.index_lookup(disk_name(k)))
                                    for k in keys]


def handoff(src, dst, u, postcopy=False, dest_disks=None, settle=0.8):
    """The five steps (post-copy: four; the source is done at perform),
    with a pause in each window between steps for the observer."""
    t1 = xfer(src, u, 'begin')
    time.sleep(settle)
    opts = {} if dest_disks is None else {'disks': disks(*dest_disks)}
    t2 = xfer(dst, u, 'prepare', t1, **opts)
    time.sleep(settle)
    t3 = xfer(src, u, 'perform', t2, postcopy=postcopy)
    time.sleep(settle)
    t4 = xfer(dst, u, 'finish', t3)
    if not postcopy:
        time.sleep(settle)
        xfer(src, u, 'confirm', t4)


def assert_unit_on(sb, h, u, pairs):
    """VM lease u held exclusively on host h with exactly these disks, as
    the object and storage say."""
    want = sorted((k, 'shared' if m == 'shared' else 'exclusive') for k, m in pairs)
    assert h.lease_props(u)['State'] == 'held'
    assert held_disks(h, u) == want
    for k, m in want:
        o = disk_owners(sb, k)
        if m == 'shared':
            assert h.id in o['shared'] and o['exclusive'] == 0, (k, o)
        else:
            assert o['exclusive'] == h.id, (k, o)


def test_precopy_and_postcopy_handoff_of_ten_disks_one_shared(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    keys = [disk_key('mig%d' % i) for i in range(10)]
    pairs = [(k, 'shared' if i == 0 else '') for i, k in enumerate(keys)]
    u = new_vm_lease(hosts, hand_leases, 1)
    other = new_vm_lease(hosts, hand_leases, 3)
    h1.acquire(u, {'disks': disks(*pairs)})
    h3.acquire(other, {'disks': disks(pairs[0])})      # the shared disk: a second VM
    resources = unit_resources(sb, h1, u, keys)

    with UnitObserver(sb, resources) as obs:
        handoff(h1, h2, u)
    print('pre-copy: %d samples' % obs.samples)
    assert_unit_on(sb, h2, u, pairs)
    assert held_disks(h1, u) == [] and disk_holder_pids(h1) == []
    assert disk_owners(sb, keys[0])['shared'] == [2, 3]

    with UnitObserver(sb, resources) as obs:
        handoff(h2, h1, u, postcopy=True)
    print('post-copy: %d samples' % obs.samples)
    assert_unit_on(sb, h1, u, pairs)
    assert held_disks(h2, u) == []
    wait_until(lambda: disk_holder_pids(h2) == [], 10, what='host 2 to end its disk holders')
    assert disk_owners(sb, keys[0])['shared'] == [1, 3]
    h1.release(u)
    h3.release(other)


def test_nonshared_storage_handoff_and_its_cancel(sb, hosts, hand_leases):
    h1, h2 = hosts[0], hosts[1]
    a, sh, old, new, other_new = (disk_key(t) for t in ('ns-a', 'ns-sh', 'ns-old', 'ns-new',
                                                        'ns-new2'))
    u = new_vm_lease(hosts, hand_leases, 1)
    src = [(a, ''), (sh, 'shared'), (old, '')]
    h1.acquire(u, {'disks': disks(*src)})

    # cancel after prepare: the destination's new disk goes, all else as before
    t1 = xfer(h1, u, 'begin')
    xfer(h2, u, 'prepare', t1, disks=disks((a, ''), (other_new, '')))
    assert disk_owners(sb, other_new)['exclusive'] == 2
    assert disk_owners(sb, a)['shared'] == [1, 2]
    assert disk_owners(sb, old)['shared'] == [1]
    xfer(h2, u, 'cancel')
    assert disk_owners(sb, other_new) == dict(disk_owners(sb, other_new), exclusive=0, shared=[])
    xfer(h1, u, 'cancel', wait=10)
    assert_unit_on(sb, h1, u, src)
    assert held_disks(h2, u) == []

    # a mode that differs from the source's is refused, nothing changes
    t1 = xfer(h1, u, 'begin')
    with raises_dbus('InvalidArgument'):
        xfer(h2, u, 'prepare', t1, disks=disks((sh, 'exclusive')))
    xfer(h1, u, 'cancel', wait=10)
    assert_unit_on(sb, h1, u, src)

    # the hand-off: a moves, sh stays shared, old goes at confirm, new comes at prepare
    dst = [(a, ''), (sh, 'shared'), (new, '')]
    keys = [a, sh, old, new]
    resources = unit_resources(sb, h1, u, [a, sh])
    with UnitObserver(sb, resources) as obs:
        handoff(h1, h2, u, dest_disks=dst)
    print('non-shared storage: %d samples' % obs.samples)
    assert_unit_on(sb, h2, u, dst)
    o = disk_owners(sb, old)
    assert o['exclusive'] == 0 and o['shared'] == [], o
    assert held_disks(h1, u) == []
    h2.release(u)
    assert_disks_free(sb, keys)


def test_restart_at_every_step_of_a_handoff_keeps_the_disks(sb, hosts, hand_leases):
    h1, h2 = hosts[0], hosts[1]
    keys = [disk_key('rs%d' % i) for i in range(9)]
    pairs = [(k, 'shared' if i == 0 else '') for i, k in enumerate(keys)]
    want = sorted((k, 'shared' if i == 0 else 'exclusive') for i, k in enumerate(keys))
    u = new_vm_lease(hosts, hand_leases, 1)
    h1.acquire(u, {'disks': disks(*pairs)})
    resources = unit_resources(sb, h1, u, keys)

    def restart(h, state):
        sb.restart(h.id)
        wait_until(lambda: h.lease_props(u)['State'] == state, 30,
                   what='host %d to adopt the lease (%s)' % (h.id, state))

    with UnitObserver(sb, resources) as obs:
        t1 = xfer(h1, u, 'begin')
        restart(h1, 'migrating-out')
        assert held_disks(h1, u) == want
        t2 = xfer(h2, u, 'prepare', t1)
        restart(h2, 'migrating-in')
        assert held_disks(h2, u) == want
        assert held_disks(h1, u) == want
        t3 = xfer(h1, u, 'perform', t2)
        restart(h1, 'migrating-out')
        assert held_disks(h1, u) == []
        t4 = xfer(h2, u, 'finish', t3)
        restart(h2, 'held')
        xfer(h1, u, 'confirm', t4)
    print('restarts: %d samples' % obs.samples)
    assert_unit_on(sb, h2, u, pairs)
    assert disk_holder_pids(h1) == []
    h2.release(u)


def test_restart_inside_perform_lets_the_source_only_disks_go(sb, hosts, hand_leases, vms):
    """vmleased dies inside the source's perform after it let the common
    disks and the VM lease go (the record still says begin; the holder
    keeps only the hand-off marker): restore's marker-only path ends the
    hand-off here, and the disks only this side held go too, cleanly (the
    paused VM is not fenced), their holders stopped. The state is made as
    perform makes it: the same sanlock releases, by hand, with vmleased
    killed."""
    h1, h2 = hosts[0], hosts[1]
    common, mine, theirs = (disk_key(t) for t in ('mp-common', 'mp-mine', 'mp-theirs'))
    u = new_vm_lease(hosts, hand_leases, 1)
    vm = vms()
    h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'),
                   'disks': disks((common, ''), (mine, ''))})
    t1 = xfer(h1, u, 'begin')
    xfer(h2, u, 'prepare', t1, disks=disks((common, ''), (theirs, '')))
    lease_holder = h1.lease_props(u)['HolderPid']
    holders = {d['key']: d['holder_pid'] for d in h1.inquire(u)['disks']}
    sb.kill(1)
    st = h1.sanlock_status()['resources']
    for name, pid in ((disk_name(common), holders[common]), (u, lease_holder)):
        res = [r for (r, p, _) in st if p == pid and r.split(':')[1] == name]
        assert len(res) == 1, (name, pid, st)
        rc, out = h1.sanlock_client('release', '-r', res[0], '-p', str(pid))
        assert rc == 0, out
    assert disk_owners(sb, mine)['shared'] == [1] or disk_owners(sb, mine)['exclusive'] == 1

    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['State'] == 'free', 30, what='host 1 to end its part')
    assert held_disks(h1, u) == []
    o = disk_owners(sb, mine)
    assert o['exclusive'] == 0 and o['shared'] == [], o
    assert disk_owners(sb, common)['shared'] == [2]
    for p in set(holders.values()) | {lease_holder}:
        assert wait_process_exit(p, 10), 'holder %d of host 1 still runs' % p
    assert disk_holder_pids(h1) == []
    assert process_alive(vm.pid), 'the paused VM was fenced'

    xfer(h2, u, 'cancel')
    assert_disks_free(sb, [common, mine, theirs])


def test_every_holder_of_a_unit_leaves_its_own_note_when_sanlock_dies(sb, hosts, leases, vms):
    """A VM lease with 10 disks (its holder and three disk holders) on host 3;
    vmleased is down when the sanlock daemon dies. Every holder ends at
    once and leaves a note of its own (<uuid>.<pid>.note: with one
    <uuid>.note they overwrote each other's); the restarted vmleased reads
    the VM lease holder's and reports sanlock-gone with the fence, and the
    notes nobody read go when the lease is held again."""
    h3 = hosts[2]
    keys = [disk_key('note%02d' % i) for i in range(10)]
    u = new_vm_lease(hosts, leases, 3)
    vm = vms()
    h3.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'),
                   'disks': disks(*[(k, '') for k in keys])}, timeout_ms=60000)
    lease_holder = h3.lease_props(u)['HolderPid']
    holders = sorted([lease_holder] + disk_holder_pids(h3))
    assert len(holders) == 4, holders   # 10 disks, 4 per disk holder
    notes = os.path.join(sb.dir, 'host3', 'state', 'notes')
    lost = h3.record(LEASE_IFACE, 'Lost', lease_path(u))
    try:
        sb.kill(3)
        kill_by_pid(sb, 3, ('sanlock',))
        assert vm.wait(timeout=5) == -signal.SIGKILL
        for pid in holders:
            assert wait_process_exit(pid, 5), 'holder %d lives on' % pid
        left = sorted(n for n in os.listdir(notes) if n.startswith(u + '.'))
        assert left == sorted('%s.%d.note' % (u, pid) for pid in holders), left
    finally:
        run_sandbox('restart', '--dir', sb.dir, '--host', '3', '--all', timeout=120)
    (_, (reason, details)), = lost.wait(lambda it: it, timeout=30, what='Lost after the restart')
    # sanlock-gone comes from the VM lease holder's own note (without it:
    # holder-exited)
    assert reason == 'sanlock-gone', (reason, details)
    assert details['holder_pid'] == lease_holder and details['fence_pid'] == vm.pid, details
    assert h3.lease_props(u)['State'] == 'lost'
    wait_until(lambda: all(ls[4] == 'joined' for ls in h3.lockspaces()), 60, interval=0.2,
               what='host 3 to join the lockspace again')
    h3.acquire(u, {'disks': disks(*[(k, '') for k in keys])}, timeout_ms=60000)
    assert not [n for n in os.listdir(notes) if n.startswith(u + '.')]
    h3.release(u)
    assert_disks_free(sb, keys)


@pytest.mark.parametrize('call', ['attach', 'acquire'])
def test_crash_inside_a_failed_take_undoes_it(sb, hosts, leases, vms, call):
    """A take of four disks whose last one is busy (held by a VM lease on
    host 2); vmleased is killed after the take failed and before it let go
    of the disks it had got (crash point disks.take-failed). Restarted, it
    finds the take unfinished and only partly held in sanlock, and undoes
    it: no disk of it is held (object, sanlock, storage); after AttachDisks
    the VM lease stays held, after Acquire (which never answered) it is
    free as well. Nothing is fenced."""
    h1, h2 = hosts[0], hosts[1]
    busy = disk_key('tfbusy')
    other = new_vm_lease(hosts, leases, 2)
    h2.acquire(other, {'disks': disks((busy, ''))})
    keys = [disk_key('tf%d' % i) for i in range(3)]
    pairs = [(k, '') for k in keys] + [(busy, '')]
    u = new_vm_lease(hosts, leases, 1)
    vm = vms()
    if call == 'attach':
        h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
        crash_during(sb, h1, 'disks.take-failed', lambda: attach(h1, u, pairs))
    else:
        crash_during(sb, h1, 'disks.take-failed',
                     lambda: h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'),
                                            'disks': disks(*pairs)}))
    rec = lease_record(sb, 1, u)
    print('record after the crash: state %s, pending %s' % (rec.get('state'),
                                                            rec.get('pending_disks')))
    taken = [k for k in keys if disk_owners(sb, k)['exclusive'] == 1]
    assert taken, 'the crash came before any disk was taken: nothing to undo'
    sb.restart(1)
    want = 'held' if call == 'attach' else 'free'
    wait_until(lambda: h1.lease_props(u)['State'] == want, 30, what='restore')
    assert held_disks(h1, u) == []
    assert_disks_free(sb, keys)
    assert disk_owners(sb, busy)['exclusive'] == 2
    vm_lease = h1.inquire(u)
    owners = sb.storage.owners(u, vm_lease['path'], vm_lease['offset'])
    assert owners['exclusive'] == (1 if call == 'attach' else 0), owners
    wait_until(lambda: disk_holder_pids(h1) == [], 10, what='the disk holders to end')
    assert process_alive(vm.pid), 'the VM was fenced, nothing was lost'
    if call == 'attach':
        h1.release(u)
    h2.release(other)


def test_crash_inside_perform_between_disk_and_lease_takes_the_disks_back(sb, hosts,
                                                                          hand_leases, vms):
    """perform lets each common disk go before the VM lease. vmleased dies
    inside it with a common disk let go and the VM lease still shared
    (crash point transfer.performing, then that disk released by hand as
    perform releases it). Restarted, it takes the disk back, shared, and
    the hand-off is back after begin: nothing lost, the paused VM not
    fenced, and the hand-off then goes through."""
    h1, h2 = hosts[0], hosts[1]
    common, other = disk_key('pc-common'), disk_key('pc-other')
    u = new_vm_lease(hosts, hand_leases, 1)
    vm = vms()
    h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'),
                   'disks': disks((common, ''), (other, ''))})
    t1 = xfer(h1, u, 'begin')
    t2 = xfer(h2, u, 'prepare', t1)
    holders = {d['key']: d['holder_pid'] for d in h1.inquire(u)['disks']}
    crash_during(sb, h1, 'transfer.performing', lambda: xfer(h1, u, 'perform', t2))
    st = h1.sanlock_status()['resources']
    res = [r for (r, p, _) in st if p == holders[common] and r.split(':')[1] == disk_name(common)]
    assert len(res) == 1, st
    rc, out = h1.sanlock_client('release', '-r', res[0], '-p', str(holders[common]))
    assert rc == 0, out
    assert disk_owners(sb, common)['shared'] == [2], disk_owners(sb, common)

    sb.restart(1)
    wait_until(lambda: h1.lease_props(u)['TransferStep'] == 'begin', 30,
               what='the hand-off back after begin')
    assert h1.lease_props(u)['State'] == 'migrating-out'
    assert held_disks(h1, u) == sorted([(common, 'exclusive'), (other, 'exclusive')])
    assert sorted(disk_owners(sb, common)['shared']) == [1, 2], disk_owners(sb, common)
    assert process_alive(vm.pid), 'the paused VM was fenced'

    t3 = xfer(h1, u, 'perform', t2)
    t4 = xfer(h2, u, 'finish', t3)
    xfer(h1, u, 'confirm', t4)
    wait_until(lambda: h2.lease_props(u)['State'] == 'held', 30, what='host 2 to hold it')
    assert_unit_on(sb, h2, u, [(common, ''), (other, '')])
    h2.release(u)
