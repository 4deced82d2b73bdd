# SPDX-License-Identifier: LGPL-2.1-or-later
"""Lockspaces: the sandbox's joined lockspace, AddLockspace/RemoveLockspace."""

import os
import subprocess
import time

from conftest import (IO_TIMEOUT, LEASE_IFACE, LOCKSPACE, MANAGER_IFACE, MiB, b,
                      lease_path, new_uuid, raises_dbus, s, u32,
                      wait_process_exit)


def test_lockspaces_property_on_every_host(hosts, sb):
    for h in hosts:
        ls = h.lockspaces()
        assert ('sandbox', h.id, sb.lease_file, 0, 'joined', IO_TIMEOUT) in ls, (
            'host %d Lockspaces: %r' % (h.id, ls))
        # and sanlock agrees: this host's daemon holds the host lease
        st = h.sanlock_status()
        assert '%s:%d:%s:0' % (LOCKSPACE, h.id, sb.lease_file) in st['lockspaces'], st['text']
    assert sorted(sb.storage.live_hosts()) == [1, 2, 3]


def test_add_lockspace_again_is_idempotent(hosts, sb, leases):
    h1, h2 = hosts[0], hosts[1]
    # a lease created before, to prove the lockspace is not re-formatted
    u = leases()
    h1.create(u)
    before = h1.lockspaces()
    sig = h1.record(MANAGER_IFACE, 'LockspaceChanged')
    h1.add_lockspace(LOCKSPACE, 1, sb.lease_file, 0, {'io_timeout': u32(IO_TIMEOUT)})
    assert h1.lockspaces() == before
    # no leave/re-join happened
    sig.pump(0.3)
    assert [a for (_, a) in sig.items if a[0] == LOCKSPACE and a[1] != 'joined'] == [], sig.items
    sig.close()
    assert h2.get_lease(u)


def test_add_lockspace_other_host_id_is_exists(hosts, sb):
    h1 = hosts[0]
    before = h1.lockspaces()
    with raises_dbus('Exists') as e:
        h1.add_lockspace(LOCKSPACE, 2, sb.lease_file, 0, {'io_timeout': u32(IO_TIMEOUT)})
    assert LOCKSPACE in e.value.message
    assert h1.lockspaces() == before


def test_init_on_joined_lockspace_is_invalid(hosts, sb, leases):
    h1, h3 = hosts[0], hosts[2]
    u = leases()
    h1.create(u)
    h1.acquire(u)
    snap_lver = h1.inquire(u)['lver']
    before = h1.lockspaces()
    with raises_dbus('InvalidArgument'):
        h1.add_lockspace(LOCKSPACE, 1, sb.lease_file, 0,
                         {'init': b(True), 'io_timeout': u32(IO_TIMEOUT)})
    assert h1.lockspaces() == before
    # nothing was formatted: the held lease, the index and the host leases survive
    info = h1.inquire(u)
    assert info['held_here'] is True and info['lver'] == snap_lver, info
    assert h3.get_lease(u)
    assert h3.inquire(u)['owner'] == 1
    assert sorted(sb.storage.live_hosts(via=3)) == [1, 2, 3]
    h1.release(u)


def test_remove_unknown_lockspace_is_notfound(hosts):
    h = hosts[1]
    before = h.lockspaces()
    with raises_dbus('NotFound') as e:
        h.remove_lockspace('no-such-lockspace')
    assert 'no-such-lockspace' in e.value.message
    assert h.lockspaces() == before


def test_add_and_remove_second_lockspace_with_signals(hosts, tmp_path):
    h = hosts[1]
    path = str(tmp_path / 'second-leases')
    with open(path, 'wb') as f:
        f.truncate(16 * MiB)
    os.chmod(tmp_path, 0o755)
    name = 'second'
    sig = h.record(MANAGER_IFACE, 'LockspaceChanged')
    h.add_lockspace(name, 5, path, 0, {'init': b(True), 'io_timeout': u32(1)},
                    timeout_ms=60000)
    states = sig.wait(lambda items: [a[1] for (_, a) in items if a[0] == name]
                      if any(a[0] == name and a[1] == 'joined' for (_, a) in items) else None,
                      timeout=10, what='LockspaceChanged joined')
    assert states[:2] == ['joining', 'joined'], states
    details = [a[2] for (_, a) in sig.items if a[0] == name and a[1] == 'joined'][0]
    assert details.get('host_id') == 5 and details.get('path') == path, details
    assert (name, 5, path, 0, 'joined', 1) in h.lockspaces(), h.lockspaces()
    assert '%s:5:%s:0' % (name, path) in h.sanlock_status()['lockspaces']

    h.remove_lockspace(name)
    sig.wait(lambda items: any(a[0] == name and a[1] == 'removed' for (_, a) in items),
             timeout=10, what='LockspaceChanged removed')
    sig.close()
    assert all(l[0] != name for l in h.lockspaces()), h.lockspaces()
    assert not any(l.startswith(name + ':') for l in h.sanlock_status()['lockspaces'])
    # the sandbox lockspace is untouched
    assert ('sandbox', h.id, h.sandbox.lease_file, 0, 'joined', IO_TIMEOUT) in h.lockspaces()


def test_remove_lockspace_with_held_lease_busy_then_force_loses_it(hosts, tmp_path):
    """RemoveLockspace refuses while a lease in it is held here; with "force"
    it leaves and the lease is lost ("they are lost: sanlock ends their
    holders"): its holder ends, Lost is emitted for it ("Emitted when a lease
    held here is lost") and its fence is applied to the VM process ("Fence:
    what is done to FencePid if the lease is lost"), since another host may
    now take the lease."""
    h = hosts[2]
    path = str(tmp_path / 'third-leases')
    with open(path, 'wb') as f:
        f.truncate(16 * MiB)
    os.chmod(tmp_path, 0o755)
    name = 'third'
    vm = subprocess.Popen(['sleep', '600'])
    h.add_lockspace(name, 7, path, 0, {'init': b(True), 'io_timeout': u32(1)},
                    timeout_ms=60000)
    try:
        u = new_uuid()
        h.create(u, lockspace=name)
        h.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
        holder = h.lease_props(u)['HolderPid']
        with raises_dbus('Busy') as e:
            h.remove_lockspace(name)
        assert u in e.value.message, e.value.message
        assert h.inquire(u)['held_here'] is True
        assert (name, 7, path, 0, 'joined', 1) in h.lockspaces()
        assert vm.poll() is None

        lost = h.record(LEASE_IFACE, 'Lost', lease_path(u))
        removed = h.record(MANAGER_IFACE, 'LockspaceChanged')
        h.remove_lockspace(name, {'force': b(True)})
        removed.wait(lambda it: any(a[0] == name and a[1] == 'removed' for (_, a) in it),
                     timeout=10, what='LockspaceChanged removed')
        assert wait_process_exit(holder, 10), 'holder %d survived the forced removal' % holder
        assert all(l[0] != name for l in h.lockspaces())
        assert not any(x.startswith(name + ':') for x in h.sanlock_status()['lockspaces'])
        problems = []
        try:
            lost.wait(lambda it: it, timeout=5)
        except AssertionError:
            problems.append('no Lost signal for lease %s, held here when its lockspace '
                            'was removed with force' % u)
        time.sleep(0.5)
        if vm.poll() is None:
            problems.append('the VM process %d (fence kill) still runs after its lease was '
                            'lost to a forced RemoveLockspace' % vm.pid)
        lost.close()
        removed.close()
        assert not problems, '\n'.join(problems)
    finally:
        vm.kill()
        vm.wait()
        if any(l[0] == name for l in h.lockspaces()):
            h.remove_lockspace(name, {'force': b(True)})
