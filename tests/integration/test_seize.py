# SPDX-License-Identifier: LGPL-2.1-or-later
"""Taking a lease from another host: Acquire with force (seize) and with
request (ask for it: TransferRequested). Real sanlock requests and host
messages between the sandbox's hosts."""

import os
import subprocess
import time

from conftest import (LEASE_IFACE, MiB, lease_path, process_alive, raises_dbus, b, s,
                      t64, u32)


def _vm():
    """A stand-in for a VM process, to be fenced."""
    return subprocess.Popen(['sleep', '600'])


def test_seize_fences_the_holder_and_reports_revoked(hosts, storage, leases):
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    info = h1.inquire(u)
    h2.get_lease(u)
    vm = _vm()
    try:
        h1.acquire(u, {'pid': u32(vm.pid), 'fence': s('kill')})
        lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
        started = time.monotonic()
        h2.acquire(u, {'force': b(True), 'wait': u32(60)}, timeout_ms=90000)
        took = time.monotonic() - started
        print('seize took %.2f s' % took)
        # The VM was fenced before host 2 could have the lease: sanlock
        # frees it only once host 1's holder (which fences first) exited.
        assert vm.wait(timeout=5) == -9
        items = lost.wait(lambda it: it, timeout=10, what='Lost on host 1')
        reason, details = items[0][1]
        assert reason == 'revoked', (reason, details)
        assert details['fence'] == 'kill' and details['fence_pid'] == vm.pid, details
        lost.close()
        assert h1.lease_props(u)['State'] == 'lost'
        assert h2.lease_props(u)['State'] == 'held'
        assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 2
        h2.release(u)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()


def test_back_to_back_seizes_are_all_heard(hosts, storage, leases):
    """Host 1 hears one request flag from host 2 per 6 × io_timeout, and
    a flag that lapses before then is lost: a seize that follows another
    at once must keep asking until heard (vmleased asks every 4 ×
    io_timeout), not wait out its whole wait for nothing."""
    h1, h2, _ = hosts
    first, second = leases(), leases()
    for u in (first, second):
        h1.create(u)
        h2.get_lease(u)
        h1.acquire(u, {})
    took = []
    for u in (first, second):
        started = time.monotonic()
        h2.acquire(u, {'force': b(True), 'wait': u32(60)}, timeout_ms=90000)
        took.append(time.monotonic() - started)
    print('seizes took %s s' % ', '.join('%.2f' % t for t in took))
    for u in (first, second):
        info = h2.inquire(u)
        assert h2.lease_props(u)['State'] == 'held'
        assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 2
        assert h1.lease_props(u)['State'] == 'lost'
        h2.release(u)


def test_seize_needs_an_exclusive_owner_and_is_exclusive(hosts, leases):
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    with raises_dbus('InvalidArgument'):
        h2.acquire(u, {'force': b(True), 'mode': s('shared')})
    with raises_dbus('InvalidArgument'):
        h2.acquire(u, {'force': b(True), 'request': b(True)})
    h1.acquire(u, {'mode': s('shared')})
    with raises_dbus('Busy') as e:
        h2.acquire(u, {'force': b(True), 'wait': u32(1)})
    assert 'shared' in e.value.message, e.value.message
    assert h1.inquire(u)['held_here'] is True
    h1.release(u)


def _twin_at_same_offset(sb, h, info, leases):
    """A lease of the same lockspace, at an explicit path in another file
    but at the same offset as the lease described by info."""
    twin = leases()
    path = os.path.join(sb.dir, 'twin-leases')
    with open(path, 'ab') as f:
        f.truncate(max(os.path.getsize(path), info['offset'] + MiB))
    h.create(twin, options={'path': s(path), 'offset': t64(info['offset'])})
    return twin


def test_request_emits_transfer_requested_and_keeps_the_lease(sb, hosts, storage, leases):
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    info = h1.inquire(u)
    h2.get_lease(u)
    # held here as well, at the same offset: the request is not for it
    twin = _twin_at_same_offset(sb, h1, info, leases)
    h1.acquire(twin)
    vm = _vm()
    try:
        h1.acquire(u, {'pid': u32(vm.pid)})
        version = h1.lease_props(u)['Version']
        asked = h1.record(LEASE_IFACE, 'TransferRequested', lease_path(u))
        twin_asked = h1.record(LEASE_IFACE, 'TransferRequested', lease_path(twin))
        started = time.monotonic()
        with raises_dbus('Busy') as e:
            h2.acquire(u, {'request': b(True)})
        assert 'asked host 1' in e.value.message, e.value.message
        items = asked.wait(lambda it: it, timeout=20, what='TransferRequested on host 1')
        print('TransferRequested after %.2f s' % (time.monotonic() - started))
        host_id, details = items[0][1]
        assert host_id == 2, items
        assert details['lver'] == version + 1, (details, version)
        # Said once, even though sanlock delivers a message two or three times.
        time.sleep(4)
        asked.pump(0.2)
        assert len(asked.items) == 1, asked.items
        asked.close()
        assert twin_asked.items == [], twin_asked.items
        twin_asked.close()
        # Host 1 keeps the lease and its VM runs on.
        assert h1.lease_props(u)['State'] == 'held'
        assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 1
        assert vm.poll() is None and process_alive(vm.pid)
        # When host 1's user gives it up, host 2's waiting request gets it.
        h1.release(u)
        h2.acquire(u, {'request': b(True), 'wait': u32(10)})
        assert h2.lease_props(u)['State'] == 'held'
        h2.release(u)
    finally:
        vm.kill()
        vm.wait()
