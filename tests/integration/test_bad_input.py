# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad input: the right error, and nothing changes.

Each test holds a lease on host 1 (exclusive) and keeps a free lease; after
the bad calls it checks on every host that no object appeared or vanished,
no lockspace changed, the held lease is still held (sanlock confirms, same
lver, same holder, storage owner host 1) and the free lease is still free.
"""

import os
import subprocess

import pytest

from conftest import (LOCKSPACE, MiB, StateSnapshot, b, lease_path, new_uuid,
                      raises_dbus, s, t64, u32)


class Fixture:
    def __init__(self, sb, leases):
        self.sb = sb
        self.h1, self.h2, self.h3 = sb.hosts
        self.held = leases()
        self.h1.create(self.held, options={'name': s('vm-held')})
        self.h1.acquire(self.held)
        self.free = leases()
        self.h1.create(self.free)
        # the other hosts know both leases too (GetLease exports them there)
        for h in (self.h2, self.h3):
            h.get_lease(self.held)
            h.get_lease(self.free)
        self.snap = StateSnapshot(sb, held=[(self.h1, self.held)])

    def check(self, what):
        self.snap.assert_unchanged(what)
        p = self.h1.lease_props(self.free)
        assert p['State'] == 'free' and p['HolderPid'] == 0, (
            'after %s the free lease is %r' % (what, p))
        assert self.h1.sanlock_holders_of(self.free) == []

    def not_created(self, u):
        for h in self.sb.hosts:
            with raises_dbus('NotFound'):
                h.get_lease(u)


@pytest.fixture
def fx(sb, leases):
    return Fixture(sb, leases)


@pytest.fixture
def spare_file(tmp_path):
    """A formatted-nowhere sparse file a lockspace could live in."""
    os.chmod(tmp_path, 0o755)
    p = str(tmp_path / 'spare-leases')
    with open(p, 'wb') as f:
        f.truncate(16 * MiB)
    return p


@pytest.fixture
def vm_process():
    """A stand-in VM process (a real process the lease could fence)."""
    p = subprocess.Popen(['sleep', '600'])
    yield p
    p.kill()
    p.wait()


BAD_UUIDS = ['', 'not-a-uuid', '12345678-1234-1234-1234-1234567890ab-x',
             '12345678_1234_1234_1234_1234567890ab', 'g2345678-1234-1234-1234-1234567890ab',
             '../../../../etc/passwd', '12345678-1234-1234-1234-1234567890a']


def test_invalid_uuid(fx):
    for bad in BAD_UUIDS:
        with raises_dbus('InvalidArgument'):
            fx.h1.manager('CreateLease', 'ssa{sv}', bad, LOCKSPACE, {})
        with raises_dbus('InvalidArgument'):
            fx.h1.manager('GetLease', 's', bad)
        with raises_dbus('InvalidArgument'):
            fx.h2.manager('GetLease', 's', bad)
        with raises_dbus('InvalidArgument'):
            fx.h1.manager('DeleteLease', 'sa{sv}', bad, {})
        fx.check('a bad uuid %r' % bad)


def test_unknown_option_key(fx, spare_file):
    bogus = {'bogus': s('x')}
    with raises_dbus('InvalidArgument') as e:
        fx.h1.acquire(fx.free, bogus)
    assert 'bogus' in e.value.message, e.value.message
    with raises_dbus('InvalidArgument'):
        fx.h1.acquire(fx.held, bogus)
    with raises_dbus('InvalidArgument'):
        fx.h1.release(fx.held, bogus)
    with raises_dbus('InvalidArgument'):
        fx.h1.inquire(fx.held, bogus)
    u = new_uuid()
    with raises_dbus('InvalidArgument'):
        fx.h1.create(u, options=bogus)
    with raises_dbus('InvalidArgument'):
        fx.h1.delete(fx.free, bogus)
    with raises_dbus('InvalidArgument'):
        fx.h1.add_lockspace('bogus-opt', 1, spare_file, 0, dict(bogus, init=b(True)))
    with raises_dbus('InvalidArgument'):
        fx.h1.remove_lockspace(LOCKSPACE, bogus)
    fx.check('unknown option keys')
    fx.not_created(u)


def test_option_of_wrong_type(fx, spare_file, vm_process):
    for o in ({'mode': u32(1)}, {'wait': s('5')}, {'pid': s(str(vm_process.pid))},
              {'fence': b(True), 'pid': u32(vm_process.pid)}):
        with raises_dbus('InvalidArgument'):
            fx.h1.acquire(fx.free, o)
        fx.check('Acquire with %r' % o)
    u = new_uuid()
    with raises_dbus('InvalidArgument'):
        fx.h1.create(u, options={'name': u32(1)})
    with raises_dbus('InvalidArgument'):
        fx.h1.create(u, options={'path': u32(1), 'offset': t64(400 * MiB)})
    with raises_dbus('InvalidArgument'):
        fx.h1.add_lockspace('wrongtype', 1, spare_file, 0,
                            {'init': b(True), 'io_timeout': s('1')})
    with raises_dbus('InvalidArgument'):
        fx.h1.remove_lockspace(LOCKSPACE, {'force': s('yes')})
    fx.check('options of the wrong type')
    fx.not_created(u)


def test_unknown_mode(fx):
    for mode in ('exclusiv', 'SHARED', ''):
        with raises_dbus('InvalidArgument') as e:
            fx.h1.acquire(fx.free, {'mode': s(mode)})
        assert 'mode' in e.value.message, e.value.message
        fx.check('mode %r' % mode)


def test_unknown_fence(fx, vm_process):
    with raises_dbus('InvalidArgument') as e:
        fx.h1.acquire(fx.free, {'fence': s('explode'), 'pid': u32(vm_process.pid)})
    assert 'fence' in e.value.message or 'explode' in e.value.message, e.value.message
    fx.check('fence "explode"')
    assert vm_process.poll() is None


def test_fence_without_pid(fx):
    for fence in ('kill', 'pause'):
        with raises_dbus('InvalidArgument') as e:
            fx.h1.acquire(fx.free, {'fence': s(fence)})
        assert 'pid' in e.value.message, e.value.message
        fx.check('fence %s without pid' % fence)


def test_lockspace_name_invalid(fx, spare_file):
    for name in ('', 'a' * 49, 'bad name', 'bad/name', 'bad:name', 'bad\u00e9'):
        with raises_dbus('InvalidArgument'):
            fx.h1.add_lockspace(name, 1, spare_file, 0,
                                {'init': b(True), 'io_timeout': u32(1)})
        fx.check('lockspace name %r' % name)
    # nothing was formatted in the file either
    with open(spare_file, 'rb') as f:
        assert f.read(1 * MiB).count(0) == MiB, 'AddLockspace with a bad name wrote to the file'


def test_vm_name_too_long(fx, leases):
    u = new_uuid()
    with raises_dbus('InvalidArgument') as e:
        fx.h1.create(u, options={'name': s('x' * 256)})
    assert 'name' in e.value.message, e.value.message
    fx.check('a 256-byte VM name')
    fx.not_created(u)
    # 255 bytes (multi-byte UTF-8 counted in bytes) is fine
    v = leases()
    name = '\u00e9' * 127 + 'x'
    assert len(name.encode()) == 255
    fx.h1.create(v, options={'name': s(name)})
    assert fx.h1.lease_props(v)['Name'] == name
    w = new_uuid()
    with raises_dbus('InvalidArgument'):
        fx.h1.create(w, options={'name': s('\u00e9' * 128)})   # 256 bytes
    fx.not_created(w)


def test_offsets_that_wrap_around_are_refused(fx, spare_file):
    """Aligned offsets so large that the areas behind them (or offset +
    length) pass 2^64: refused before sanlock sees them."""
    for off in (18446744073708503040, (1 << 63), (1 << 62) + MiB):
        with raises_dbus('InvalidArgument') as e:
            fx.h1.add_lockspace('wrap', 1, spare_file, off,
                                {'init': b(True), 'io_timeout': u32(1)})
        assert 'beyond any storage' in e.value.message, e.value.message
        fx.check('AddLockspace at offset %d' % off)
        u = new_uuid()
        with raises_dbus('InvalidArgument'):
            fx.h1.create(u, options={'path': s(fx.sb.lease_file), 'offset': t64(off)})
        fx.check('CreateLease at offset %d' % off)
        fx.not_created(u)


def test_host_id_out_of_range(fx, spare_file):
    for host_id in (0, 2001, 1 << 40):
        with raises_dbus('InvalidArgument') as e:
            fx.h1.add_lockspace('hostid-test', host_id, spare_file, 0,
                                {'init': b(True), 'io_timeout': u32(1)})
        assert 'host' in e.value.message.lower(), e.value.message
        fx.check('host id %d' % host_id)


def test_path_does_not_exist(fx):
    with raises_dbus('NotFound') as e:
        fx.h1.add_lockspace('missing-path', 1, '/nonexistent/vmlease/leases', 0,
                            {'init': b(True), 'io_timeout': u32(1)})
    assert '/nonexistent/vmlease/leases' in e.value.message, e.value.message
    fx.check('AddLockspace on a missing path')
    u = new_uuid()
    with raises_dbus('NotFound') as e:
        fx.h1.create(u, options={'path': s('/nonexistent/vmlease/leases'),
                                 'offset': t64(400 * MiB)})
    fx.check('CreateLease on a missing path')
    fx.not_created(u)


def test_relative_path(fx):
    with raises_dbus('InvalidArgument'):
        fx.h1.add_lockspace('relative', 1, 'leases', 0,
                            {'init': b(True), 'io_timeout': u32(1)})
    fx.check('AddLockspace on a relative path')
    u = new_uuid()
    with raises_dbus('InvalidArgument'):
        fx.h1.create(u, options={'path': s('leases'), 'offset': t64(400 * MiB)})
    fx.check('CreateLease on a relative path')
    fx.not_created(u)


def test_offset_not_aligned(fx, spare_file):
    for off in (512, MiB + 4096):
        with raises_dbus('InvalidArgument'):
            fx.h1.add_lockspace('unaligned', 1, spare_file, off,
                                {'init': b(True), 'io_timeout': u32(1)})
        fx.check('AddLockspace at offset %d' % off)
    u = new_uuid()
    for off in (400 * MiB + 512, 400 * MiB + 4096, 1):
        with raises_dbus('InvalidArgument'):
            fx.h1.create(u, options={'path': s(fx.sb.lease_file), 'offset': t64(off)})
        fx.check('CreateLease at offset %d' % off)
    fx.not_created(u)


def test_explicit_location_inside_lockspace_area(fx):
    u = new_uuid()
    # 0: the lockspace (host leases); 1 MiB, 2 MiB: the resource index
    for off in (0, MiB, 2 * MiB):
        with raises_dbus('InvalidArgument'):
            fx.h1.create(u, options={'path': s(fx.sb.lease_file), 'offset': t64(off)})
        fx.check('CreateLease at offset %d of the lockspace file' % off)
    fx.not_created(u)
    # and the area of an existing (held!) lease is never overwritten
    held_off = fx.h1.inquire(fx.held)['offset']
    with pytest.raises(Exception) as ei:
        fx.h1.create(u, options={'path': s(fx.sb.lease_file), 'offset': t64(held_off)})
    assert getattr(ei.value, 'short', None) in ('InvalidArgument', 'Exists', 'Busy'), ei.value
    fx.check('CreateLease at the offset of a held lease')
    fx.not_created(u)


def test_path_without_offset(fx):
    u = new_uuid()
    with raises_dbus('InvalidArgument') as e:
        fx.h1.create(u, options={'path': s(fx.sb.lease_file)})
    assert 'offset' in e.value.message, e.value.message
    with raises_dbus('InvalidArgument') as e:
        fx.h1.create(u, options={'offset': t64(400 * MiB)})
    assert 'path' in e.value.message, e.value.message
    fx.check('path without offset')
    fx.not_created(u)


def test_create_in_lockspace_not_joined(fx):
    u = new_uuid()
    with raises_dbus('LockspaceNotJoined') as e:
        fx.h1.create(u, lockspace='not-joined-here')
    assert 'not-joined-here' in e.value.message
    fx.check('CreateLease in a lockspace not joined')
    fx.not_created(u)


def test_release_of_lease_not_held(fx):
    with raises_dbus('NotHeld'):
        fx.h1.release(fx.free)
    fx.check('Release of a free lease')
    # held on host 1: host 2 cannot release it
    with raises_dbus('NotHeld'):
        fx.h2.release(fx.held)
    fx.check('Release on host 2 of a lease held on host 1')


def test_acquire_of_lease_held_here(fx):
    with raises_dbus('Exists'):
        fx.h1.acquire(fx.held)
    fx.check('Acquire of a held lease')
    with raises_dbus('Exists'):
        fx.h1.acquire(fx.held, {'mode': s('shared')})
    fx.check('shared Acquire of an exclusively held lease')


def test_delete_of_held_lease(fx):
    with raises_dbus('Busy'):
        fx.h1.delete(fx.held)
    fx.check('DeleteLease of a held lease')
    # held anywhere: host 2 cannot delete it either
    with raises_dbus('Busy') as e:
        fx.h2.delete(fx.held)
    assert '1' in e.value.message
    fx.check('DeleteLease on host 2 of a lease held on host 1')
    info = fx.h1.inquire(fx.held)
    assert fx.sb.storage.leader(fx.held, info['path'], info['offset'])['valid']
    assert lease_path(fx.held) in fx.h1.managed_objects()
