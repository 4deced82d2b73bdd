# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM leases across hosts: acquire, release, shared mode, wait, properties,
create/delete, explicit locations, the ObjectManager."""

import contextlib
import os
import re
import signal
import subprocess
import threading
import time

from conftest import (LEASE_IFACE, LOCKSPACE, MiB, OM_IFACE, MANAGER_PATH,
                      PROPS_IFACE, DBusCallError, lease_path, process_alive,
                      process_comm, proc_stat, raises_dbus, s, t64, u32,
                      wait_process_exit, wait_until)


def names_hosts(message, ids):
    """Does the error message name these host ids?"""
    nums = {int(n) for n in re.findall(r'\d+', message)}
    return set(ids) <= nums and re.search(r'host', message, re.I)


def test_create_acquire_busy_release_across_hosts(hosts, storage, leases):
    h1, h2 = hosts[0], hosts[1]
    u = leases()
    path = h1.create(u, options={'name': s('vm-cross')})
    assert path == lease_path(u)
    h1.acquire(u)

    info1 = h1.inquire(u)
    assert info1['held_here'] is True, info1
    assert info1['owner'] == 1 and info1['lver'] >= 1, info1
    assert info1['state'] == 'held' and info1['mode'] == 'exclusive', info1
    assert info1['host_id'] == 1 and info1['uuid'] == u, info1
    own = storage.owners(u, info1['path'], info1['offset'])
    assert own['exclusive'] == 1 and own['lver'] == info1['lver'], own
    assert own['resource_name'] == u

    # host 2 never saw this lease: GetLease finds it in the resource index
    assert h2.get_lease(u) == lease_path(u)
    info2 = h2.inquire(u)
    assert info2['owner'] == 1, info2
    assert info2['held_here'] is False and info2['state'] == 'free', info2
    assert info2['owners_live'] is True, info2
    assert (info2['path'], info2['offset']) == (info1['path'], info1['offset']), (info1, info2)
    assert info2['lver'] == info1['lver'], (info1, info2)

    with raises_dbus('Busy') as e:
        h2.acquire(u)
    assert names_hosts(e.value.message, [1]), e.value.message
    # the refused acquire changed nothing on storage or on host 1
    own = storage.owners(u, info1['path'], info1['offset'])
    assert own['exclusive'] == 1, own
    assert h1.inquire(u)['held_here'] is True
    assert h2.lease_props(u)['State'] == 'free'

    h1.release(u)
    assert h1.inquire(u)['held_here'] is False
    assert storage.owners(u, info1['path'], info1['offset'])['exclusive'] == 0

    h2.acquire(u)
    info2 = h2.inquire(u)
    assert info2['held_here'] is True and info2['owner'] == 2, info2
    assert info2['lver'] > info1['lver'], (info1, info2)
    own = storage.owners(u, info1['path'], info1['offset'])
    assert own['exclusive'] == 2 and own['lver'] == info2['lver'], own
    h2.release(u)
    assert storage.owners(u, info1['path'], info1['offset'])['exclusive'] == 0


def test_properties_and_signals_on_acquire_and_release(hosts, leases):
    h1 = hosts[0]
    u = leases()
    h1.create(u, options={'name': s('vm-props')})
    p = h1.lease_props(u)
    assert p['Uuid'] == u and p['Name'] == 'vm-props' and p['Lockspace'] == LOCKSPACE, p
    assert p['State'] == 'free' and p['Mode'] == '' and p['HolderPid'] == 0, p

    rec = h1.record(PROPS_IFACE, 'PropertiesChanged', lease_path(u))

    def merged(items):
        m = {}
        for path, (iface, changed, invalidated) in items:
            if iface == LEASE_IFACE:
                m.update(changed)
        return m

    h1.acquire(u)
    m = rec.wait(lambda items: merged(items) if merged(items).get('State') == 'held' else None,
                 timeout=5, what='PropertiesChanged State=held')
    # the rest may arrive in the same or in further signals
    m = rec.wait(lambda items: merged(items) if all(
        k in merged(items) for k in ('Mode', 'HolderPid', 'Owner', 'Version')) else None,
        timeout=5, what='PropertiesChanged Mode/HolderPid/Owner/Version')
    assert m['State'] == 'held' and m['Mode'] == 'exclusive', m
    assert m['Owner'] == 1 and m['Version'] >= 1 and m['HolderPid'] > 0, m
    p = h1.lease_props(u)
    for k in ('State', 'Mode', 'HolderPid', 'Owner', 'Version'):
        assert p[k] == m[k], (k, p, m)
    holder = p['HolderPid']
    assert process_alive(holder) and process_comm(holder) == 'vmlease-holder', proc_stat(holder)
    assert h1.sanlock_holders_of(u) == [holder]
    assert h1.inquire(u)['lver'] == p['Version']
    version = p['Version']

    rec.items.clear()
    h1.release(u)
    m = rec.wait(lambda items: merged(items) if merged(items).get('State') == 'free'
                 and 'HolderPid' in merged(items) and 'Mode' in merged(items) else None,
                 timeout=5, what='PropertiesChanged State=free, HolderPid, Mode')
    rec.close()
    assert m['HolderPid'] == 0 and m['Mode'] == '', m
    p = h1.lease_props(u)
    assert p['State'] == 'free' and p['HolderPid'] == 0 and p['Mode'] == '', p
    assert p['Version'] >= version, p
    if not wait_process_exit(holder, 5):
        st = h1.sanlock_status()
        raise AssertionError(
            'holder %d still runs 5 s after Release (the contract: Release "gives the lease '
            'up on this host and ends its holder process"); sanlock of host 1 has it as a '
            'client holding %r' % (holder, st['clients'].get(holder, 'nothing (not registered)')))
    # vmleased reaps its holders
    vmleased = h1.vmleased_pid()
    wait_until(lambda: not (proc_stat(holder) and proc_stat(holder)[1] == vmleased),
               5, what='vmleased to reap holder %d' % holder)
    assert h1.sanlock_holders_of(u) == []


def test_shared_mode_on_two_hosts_blocks_exclusive(hosts, storage, leases):
    h1, h2, h3 = hosts
    u = leases()
    h1.create(u)
    h1.acquire(u, {'mode': s('shared')})
    h2.get_lease(u)
    h2.acquire(u, {'mode': s('shared')})
    for h in (h1, h2):
        p = h.lease_props(u)
        assert p['State'] == 'held-shared' and p['Mode'] == 'shared', (h, p)
        info = h.inquire(u)
        assert info['held_here'] is True and info['mode'] == 'shared', (h, info)
    h3.get_lease(u)
    info = h3.inquire(u)
    assert sorted(info['shared_owners']) == [1, 2], info
    assert info['owner'] == 0 and info['owners_live'] is True, info
    own = storage.owners(u, info['path'], info['offset'])
    assert own['shared'] == [1, 2] and own['exclusive'] == 0, own

    with raises_dbus('Busy') as e:
        h3.acquire(u)
    assert names_hosts(e.value.message, [1, 2]), e.value.message
    assert h3.lease_props(u)['State'] == 'free'
    for h in (h1, h2):
        assert h.inquire(u)['held_here'] is True
    assert storage.owners(u, info['path'], info['offset'])['shared'] == [1, 2]

    h1.release(u)
    assert sorted(h3.inquire(u)['shared_owners']) == [2]
    h2.release(u)
    info = h3.inquire(u)
    assert info['shared_owners'] == [] and info['owners_live'] is False, info
    assert storage.owners(u, info['path'], info['offset'])['shared'] == []


def test_acquire_wait_succeeds_after_release_and_times_out_busy(hosts, leases):
    h1, h2 = hosts[0], hosts[1]
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    h1.acquire(u)

    result = {}

    def waiter():
        conn = h2.connect()
        t0 = time.monotonic()
        try:
            h2.acquire(u, {'wait': u32(5)}, conn=conn, timeout_ms=30000)
            result['ok'] = True
        except DBusCallError as e:
            result['error'] = e
        result['elapsed'] = time.monotonic() - t0
        conn.close_sync(None)

    th = threading.Thread(target=waiter)
    t0 = time.monotonic()
    th.start()
    time.sleep(1.0)
    assert th.is_alive(), 'Acquire with wait=5 returned at once: %r' % result
    h1.release(u)
    released_at = time.monotonic() - t0
    th.join(20)
    assert not th.is_alive(), 'Acquire with wait=5 did not return'
    assert result.get('ok'), 'Acquire with wait=5 failed: %r' % result.get('error')
    assert result['elapsed'] >= released_at - 0.2, result
    # it returned when the lease came free, not at the end of its wait
    # (margin for a slow machine: not a speed check)
    assert result['elapsed'] < released_at + 3.0, result
    info = h2.inquire(u)
    assert info['held_here'] is True and info['owner'] == 2, info
    h2.release(u)

    # held the whole time: wait=1 ends in Busy after at least 1 s
    h1.acquire(u)
    t0 = time.monotonic()
    with raises_dbus('Busy') as e:
        h2.acquire(u, {'wait': u32(1)})
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.0, 'Busy after %.2f s, before the 1 s wait' % elapsed
    assert elapsed < 6.0, 'Busy only after %.2f s with wait=1' % elapsed
    assert names_hosts(e.value.message, [1]), e.value.message
    assert h1.inquire(u)['held_here'] is True
    assert h2.lease_props(u)['State'] == 'free'
    h1.release(u)


def test_create_twice_exists_delete_and_explicit_location(hosts, storage, sb, leases):
    h1, h2, h3 = hosts
    u = leases()
    h1.create(u, options={'name': s('vm-twice')})
    with raises_dbus('Exists') as e:
        h1.create(u)
    assert u in e.value.message
    info = h1.inquire(u)
    assert storage.index_lookup(u) == info['offset'], 'index lookup of %s' % u

    h1.delete(u)
    with raises_dbus('NotFound'):
        h1.get_lease(u)
    with raises_dbus('NotFound'):
        h3.get_lease(u)
    assert storage.index_lookup(u) is None, '%s still in the resource index' % u
    ld = storage.leader(u, info['path'], info['offset'], check=False)
    assert not ld['valid'], 'the lease area still holds a lease %s: %r' % (u, ld)
    assert lease_path(u) not in h1.managed_objects()

    # explicit location beyond the index-allocated leases
    v = leases()
    off = 400 * MiB
    h1.create(v, options={'path': s(sb.lease_file), 'offset': t64(off)})
    info = h1.inquire(v)
    assert info['path'] == sb.lease_file and info['offset'] == off, info
    assert storage.leader(v, sb.lease_file, off)['valid']
    h1.acquire(v)
    info = h1.inquire(v)
    assert info['held_here'] is True and info['owner'] == 1, info
    assert storage.owners(v, sb.lease_file, off)['exclusive'] == 1
    # another host adopts the existing lease at that location
    assert h2.create(v, options={'path': s(sb.lease_file), 'offset': t64(off)}) == lease_path(v)
    info2 = h2.inquire(v)
    assert info2['offset'] == off and info2['owner'] == 1, info2
    with raises_dbus('Busy'):
        h2.acquire(v)
    assert h1.inquire(v)['held_here'] is True, 'adopting on host 2 lost the lease on host 1'
    h1.release(v)
    h2.acquire(v)
    assert storage.owners(v, sb.lease_file, off)['exclusive'] == 2
    h2.release(v)
    h1.delete(v)
    with raises_dbus('NotFound'):
        h3.get_lease(v)
    assert not storage.leader(v, sb.lease_file, off, check=False)['valid']


def test_lease_deleted_from_another_host_leaves_no_stale_object(hosts, storage, leases):
    """Host 2 knows a lease (it looked it up); host 1 deletes it. Host 2's
    next use says NotFound in words, and its object goes away, so GetLease
    and the ObjectManager stop offering a lease that does not exist."""
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    assert h2.get_lease(u) == lease_path(u)
    assert h2.inquire(u)['owners_live'] is False
    h1.delete(u)
    assert storage.index_lookup(u) is None
    with raises_dbus('NotFound') as e:
        h2.inquire(u)
    assert 'no longer on storage' in e.value.message, e.value.message
    wait_until(lambda: lease_path(u) not in h2.managed_objects(), 5,
               what='host 2 to unexport the deleted lease')
    with raises_dbus('NotFound'):
        h2.get_lease(u)
    # The same through Acquire on a third host that had looked it up.
    v = leases()
    h1.create(v)
    h3 = hosts[2]
    h3.get_lease(v)
    h1.delete(v)
    with raises_dbus('NotFound'):
        h3.acquire(v)
    wait_until(lambda: lease_path(v) not in h3.managed_objects(), 5,
               what='host 3 to unexport the deleted lease')
    assert h3.sanlock_holders_of(v) == []


def test_lease_area_wiped_says_not_found(hosts, sb, leases):
    """A lease whose area was overwritten with zeros (the storage wiped or
    recreated under it) is gone: Inquire and Acquire say NotFound, 'no lease
    at' its location, as for a deleted lease, and the object goes away;
    sanlock itself only answers EINVAL for an area it finds no sector size
    in."""
    h1, h2, _ = hosts
    u = leases()
    off = 404 * MiB
    h1.create(u, options={'path': s(sb.lease_file), 'offset': t64(off)})
    h2.create(u, options={'path': s(sb.lease_file), 'offset': t64(off)})
    fd = os.open(sb.lease_file, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes(MiB), off)
        os.fsync(fd)
    finally:
        os.close(fd)
    with raises_dbus('NotFound') as e:
        h1.inquire(u)
    assert 'no lease at' in e.value.message, e.value.message
    with raises_dbus('NotFound') as e:
        h2.acquire(u)
    assert 'no lease at' in e.value.message, e.value.message
    wait_until(lambda: lease_path(u) not in h2.managed_objects(), 5,
               what='host 2 to unexport the wiped lease')
    assert h2.sanlock_holders_of(u) == []


def test_object_manager_lists_lease_objects(hosts, leases):
    h = hosts[1]
    u1, u2 = leases(), leases()
    rec_added = h.record(OM_IFACE, 'InterfacesAdded', MANAGER_PATH)
    rec_removed = h.record(OM_IFACE, 'InterfacesRemoved', MANAGER_PATH)
    h.create(u1, options={'name': s('vm-om-1')})
    h.create(u2)
    h.acquire(u2)
    objs = h.managed_objects()
    for u in (u1, u2):
        assert lease_path(u) in objs, sorted(objs)
        props = objs[lease_path(u)][LEASE_IFACE]
        assert props['Uuid'] == u and props['Lockspace'] == LOCKSPACE, props
    assert objs[lease_path(u1)][LEASE_IFACE]['Name'] == 'vm-om-1'
    assert objs[lease_path(u1)][LEASE_IFACE]['State'] == 'free'
    assert objs[lease_path(u2)][LEASE_IFACE]['State'] == 'held'
    assert MANAGER_PATH not in objs or LEASE_IFACE not in objs[MANAGER_PATH]
    rec_added.wait(lambda items: {p for (_, (p, _ifaces)) in items} >= {lease_path(u1), lease_path(u2)},
                   timeout=5, what='InterfacesAdded for both leases')

    h.release(u2)
    h.delete(u1)
    rec_removed.wait(lambda items: any(p == lease_path(u1) for (_, (p, _i)) in items),
                     timeout=5, what='InterfacesRemoved for the deleted lease')
    objs = h.managed_objects()
    assert lease_path(u1) not in objs and lease_path(u2) in objs
    rec_added.close()
    rec_removed.close()


def test_holder_killed_emits_lost_and_applies_fence(hosts, storage, leases):
    """The holder dies without a Release (SIGKILL): sanlock drops the lease.
    Lost("holder-exited") is emitted, State becomes "lost", and the lease's
    fence is applied to FencePid ("Fence: what is done to FencePid if the
    lease is lost"): kill -> the VM process is killed, pause -> stopped."""
    h1 = hosts[0]
    vms, problems = [], []
    try:
        for fence in ('kill', 'pause'):
            u = leases()
            h1.create(u)
            vm = subprocess.Popen(['sleep', '600'])
            vms.append(vm)
            h1.acquire(u, {'pid': u32(vm.pid), 'fence': s(fence)})
            p = h1.lease_props(u)
            assert p['FencePid'] == vm.pid and p['Fence'] == fence, p
            holder = p['HolderPid']
            info = h1.inquire(u)
            rec = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
            os.kill(holder, signal.SIGKILL)
            items = rec.wait(lambda it: it, timeout=10, what='Lost after the holder was killed')
            rec.close()
            reason, details = items[0][1]
            assert reason == 'holder-exited', items
            assert details.get('holder_pid') == holder and details.get('fence_pid') == vm.pid, details
            p = h1.lease_props(u)
            assert p['State'] == 'lost' and p['HolderPid'] == 0, p
            assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 0
            # the lease is gone from storage: the VM must not keep running unfenced
            time.sleep(0.5)
            st = proc_stat(vm.pid)
            if fence == 'kill':
                if vm.poll() is None:
                    problems.append('fence kill: the VM process %d still runs (state %s) after '
                                    'its lease was lost (Lost details %r)' % (vm.pid, st and st[0], details))
            else:
                if not st or st[0] not in ('T', 't'):
                    problems.append('fence pause: the VM process %d is not stopped (state %s) '
                                    'after its lease was lost (Lost details %r)'
                                    % (vm.pid, st and st[0], details))
            # Acquire again recovers
            h1.acquire(u)
            assert h1.lease_props(u)['State'] == 'held'
            h1.release(u)
        assert not problems, '\n'.join(problems)
    finally:
        for vm in vms:
            with contextlib.suppress(Exception):
                os.kill(vm.pid, signal.SIGCONT)
            vm.kill()
            vm.wait()
