# SPDX-License-Identifier: LGPL-2.1-or-later
"""Disk leases (issue 13): per-disk sanlock resources taken with a VM lease
(Acquire "disks"), hot-plugged (AttachDisks) and unplugged (DetachDisks),
more than 8 of them, adopted after a restart, seized, and lost as one unit
with the VM lease. Every claim is checked on storage with sanlock's own
tools (conftest.Storage), not only with what vmleased says."""

import hashlib
import os
import signal
import uuid

import pytest
from gi.repository import GLib

from conftest import (LEASE_IFACE, b, lease_path, process_alive, raises_dbus, s, u32,
                      wait_process_exit, wait_until)
from test_fencing import vms  # noqa: F401  (VM stand-ins, a fixture)


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
    # 8 disks per holder: 3 disk holders besides the VM lease's
    pids = disk_holder_pids(h1)
    assert len(pids) == 3, pids
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
    keys = [disk_key('loss%d' % i) for i in range(3)]
    u = new_vm_lease(hosts, leases, 1)
    vm = vms()
    h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill'),
                   'disks': disks(*[(k, '') for k in keys])})
    info = h1.inquire(u)
    victim = info['disks'][1]
    lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
    os.kill(victim['holder_pid'], signal.SIGKILL)
    lost.wait(lambda items: items, timeout=10, what='Lost')
    lost.pump(1.0)
    assert len(lost.items) == 1, lost.items
    reason, details = lost.items[0][1]
    assert reason == 'holder-exited', reason
    # the holder kept all three: Lost names one of its disks
    kept = {(d['resource'], d['key']) for d in info['disks']
            if d['holder_pid'] == victim['holder_pid']}
    assert (details['resource'], details['disk']) in kept, (details, kept)
    assert details['fenced'] is True
    wait_process_exit(vm.pid, 10)
    assert h1.lease_props(u)['State'] == 'lost'
    assert held_disks(h1, u) == []
    wait_until(lambda: not process_alive(info['holder_pid']), 10, what='the VM lease holder')
    assert sb.storage.owners(u, info['path'], info['offset'])['exclusive'] == 0
    for k in keys:
        wait_until(lambda: disk_owners(sb, k)['exclusive'] == 0, 10, what='disk %s free' % k)


def test_transfer_of_a_lease_with_disks_is_refused_and_changes_nothing(sb, hosts, leases):
    h1 = hosts[0]
    k = disk_key('xfer')
    u = new_vm_lease(hosts, leases, 1)
    h1.acquire(u, {'disks': disks((k, ''))})
    with raises_dbus('Failed'):
        h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['begin', '', {}])
    assert h1.lease_props(u)['State'] == 'held'
    assert disk_owners(sb, k)['exclusive'] == 1
    h1.release(u)
