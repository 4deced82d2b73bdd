# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage under lockspaces (issue 5): sector sizes taken from the device,
and the udev storage monitor seen through vmleased.

Real block devices: loop devices over sparse files in /tmp
(`losetup --sector-size N`), detached again at the end of each test. A
machine without loop devices (or without losetup) FAILS these tests.

1. Sector sizes, with the session sandbox of conftest.py (real sysfs): a
   lockspace formatted on a device with 4096-byte logical sectors uses
   sanlock's 4K sector flags (checked on storage with `sanlock direct
   read_leader`), says so in LockspaceChanged / LockspaceDetails /
   `vmleasectl lockspace list --json` / Inquire, and works from two hosts;
   a 512-byte device gives 512; a lockspace formatted with 512-byte sectors
   on storage that now has 4096-byte ones is refused with a clear error.

2. The storage monitor under umockdev, with this module's OWN one-host
   sandbox whose vmleased runs with umockdev's preload library
   (`vmlease-sandbox up --wrapper "env LD_PRELOAD=libumockdev-preload.so.0
   UMOCKDEV_DIR=<testbed>"`). The testbed (built here through PyGObject)
   holds a block device named like a REAL loop device, with the same device
   number (its "dev" attribute) but sysfs attributes of our choosing
   (queue/logical_block_size, ro) and no /dev node: vmleased's stat() and
   open() of /dev/loopN reach the real device (which the sanlock daemon, not
   preloaded, uses too), while its sysfs reads and its udev uevents come
   from the testbed. The real loop device has 512-byte sectors and the
   testbed says 4096: a lockspace formatted as 4K on it proves that
   vmleased read the testbed. Then the testbed sends "change" (ro 1) and
   "remove" uevents: LockspaceChanged(name, "failing"), StorageState
   "failing" on every lease of it and Warning("storage-failing") on the held
   one arrive within a second, and `vmleasectl monitor --json` prints each
   as one JSON line; ro 0 again brings the lockspace back to "joined".
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import gi
gi.require_version('GLib', '2.0')
from gi.repository import GLib  # noqa: E402

from conftest import (BUILD_DIR, LEASE_IFACE, MANAGER_IFACE, MiB, PROPS_IFACE, VMLEASECTL,
                      MonitorJson as Monitor, Sandbox, lease_path, new_uuid, raises_dbus,
                      sanlock_run, start_sandbox, stop_sandbox, wait_until, b, s, t64, u32,
                      IO_TIMEOUT)

LOSETUP = '/usr/sbin/losetup'
PRELOAD = 'libumockdev-preload.so.0'
DEVICE_SIZE = 64 * MiB
# How soon a uevent must show on the bus (the issue: "at once").
SIGNAL_WITHIN_S = 1.0


# --- loop devices ------------------------------------------------------------

class LoopDevice:
    """A loop device over a sparse file, with the given logical sector size."""

    def __init__(self, sector_size, size=DEVICE_SIZE, backing=None):
        if not os.access(LOSETUP, os.X_OK):
            pytest.fail('%s is missing (util-linux): these tests need loop devices'
                        % LOSETUP, pytrace=False)
        self.own_backing = backing is None
        if backing is None:
            fd, backing = tempfile.mkstemp(prefix='vmlstorage.', suffix='.img', dir='/tmp')
            os.close(fd)
            os.truncate(backing, size)
        self.backing = backing
        self.path = None
        self.attach(sector_size)

    def attach(self, sector_size):
        r = subprocess.run([LOSETUP, '--sector-size', str(sector_size), '--find', '--show',
                            self.backing], capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or not r.stdout.startswith('/dev/loop'):
            pytest.fail('cannot set up a loop device with %d-byte sectors (losetup '
                        'exit %d: %s): these tests need loop devices (modprobe loop?)'
                        % (sector_size, r.returncode, (r.stdout + r.stderr).strip()),
                        pytrace=False)
        self.path = r.stdout.strip()
        name = os.path.basename(self.path)
        with open('/sys/block/%s/queue/logical_block_size' % name) as f:
            self.sector_size = int(f.read())
        assert self.sector_size == sector_size, (self.path, self.sector_size)
        with open('/sys/block/%s/dev' % name) as f:
            self.number = f.read().strip()

    def detach(self):
        if self.path is not None:
            subprocess.run([LOSETUP, '--detach', self.path], capture_output=True, timeout=30)
            self.path = None

    def close(self):
        self.detach()
        if self.own_backing:
            with contextlib.suppress(OSError):
                os.unlink(self.backing)

    @property
    def name(self):
        return os.path.basename(self.path)


@contextlib.contextmanager
def loop_device(sector_size, **kw):
    dev = LoopDevice(sector_size, **kw)
    try:
        yield dev
    finally:
        dev.close()


def on_disk_sector_size(env, spec):
    """sector_size of the leader at spec (-s LS:HOST:PATH:OFF or -r
    LS:RES:PATH:OFF), read straight from storage by `sanlock direct`."""
    kind, value = spec
    rc, out = sanlock_run(env, 'direct', 'read_leader', kind, value)
    assert rc == 0, 'sanlock direct read_leader %s %s failed: %s' % (kind, value, out)
    fields = dict(line.split(None, 1) for line in out.splitlines() if len(line.split(None, 1)) == 2)
    return int(fields['sector_size'])


def lockspace_details(h, name):
    return h.manager_prop('LockspaceDetails').get(name)


def vmleasectl_json(h, *args):
    r = subprocess.run([VMLEASECTL, '--json'] + list(args),
                       env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8',
                            'DBUS_SYSTEM_BUS_ADDRESS': h.address},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, 'vmleasectl --json %s: exit %d: %s' % (
        ' '.join(args), r.returncode, r.stderr)
    return json.loads(r.stdout)


@contextlib.contextmanager
def joined(hosts_and_ids, name, path, init_first=True):
    """Joins each (host, host_id) to lockspace name at path (the first with
    init); leaves them all at the end, whatever happened."""
    done = []
    try:
        for i, (h, host_id) in enumerate(hosts_and_ids):
            options = {'io_timeout': u32(IO_TIMEOUT)}
            if i == 0 and init_first:
                options['init'] = b(True)
            h.add_lockspace(name, host_id, path, 0, options, timeout_ms=60000)
            done.append(h)
        yield
    finally:
        for h in reversed(done):
            with contextlib.suppress(Exception):
                h.remove_lockspace(name, {'force': b(True)}, timeout_ms=60000)


# --- 1. sector sizes from the device (session sandbox, real sysfs) -----------

def test_4k_device_gets_4k_sectors_and_works_from_two_hosts(sb):
    h1, h2, h3 = sb.hosts[:3]
    name = 'ls4k'
    u = new_uuid()
    with loop_device(4096) as dev:
        changed = h1.record(MANAGER_IFACE, 'LockspaceChanged')
        with joined([(h1, 1), (h2, 2)], name, dev.path):
            # what vmleased says
            got = changed.wait(lambda it: [a for _, a in it if a[0] == name and a[1] == 'joined'],
                               timeout=10, what='LockspaceChanged joined')
            assert got[0][2].get('sector_size') == 4096, got
            for h in (h1, h2):
                d = lockspace_details(h, name)
                assert d and d['sector_size'] == 4096 and d['state'] == 'joined', d
                assert d['path'] == dev.path and d['io_timeout'] == IO_TIMEOUT, d
            listed = vmleasectl_json(h1, 'lockspace', 'list')['lockspaces']
            assert [l['sector_size'] for l in listed if l['name'] == name] == [4096], listed
            # what is on storage: sanlock's 4K flags in the lockspace
            assert on_disk_sector_size(h1.sanlock_env,
                                       ('-s', '%s:1:%s:0' % (name, dev.path))) == 4096

            # a lease from the index, on storage with 4096-byte sectors
            h1.create(u, name)
            info = h1.inquire(u)
            assert info['sector_size'] == 4096 and info['offset'] == 4 * MiB, info
            assert on_disk_sector_size(h1.sanlock_env, (
                '-r', '%s:%s:%s:%d' % (name, u, dev.path, info['offset']))) == 4096
            h1.acquire(u)
            info = h1.inquire(u)
            assert info['held_here'] and info['owner'] == 1, info
            assert info['storage_state'] == 'ok', info
            h2.get_lease(u)
            with raises_dbus('Busy'):
                h2.acquire(u)
            h1.release(u)
            h2.acquire(u)
            assert h2.inquire(u)['owner'] == 2
            h2.release(u)

            # 1 MiB alignment with 4K sectors leaves room for 250 hosts only
            with raises_dbus('InvalidArgument') as e:
                h3.add_lockspace(name, 251, dev.path, 0, {'io_timeout': u32(IO_TIMEOUT)},
                                 timeout_ms=60000)
            assert '250' in e.value.message, e.value.message
            assert lockspace_details(h3, name) is None

            h1.delete(u)


def test_512_device_gets_512_sectors(sb):
    h1 = sb.hosts[0]
    name = 'ls512'
    u = new_uuid()
    with loop_device(512) as dev:
        with joined([(h1, 1)], name, dev.path):
            d = lockspace_details(h1, name)
            assert d['sector_size'] == 512, d
            assert on_disk_sector_size(h1.sanlock_env,
                                       ('-s', '%s:1:%s:0' % (name, dev.path))) == 512
            h1.create(u, name)
            h1.acquire(u)
            info = h1.inquire(u)
            assert info['held_here'] and info['sector_size'] == 512, info
            h1.release(u)
            h1.delete(u)
    # a lockspace on a regular file: 512 as well
    d = lockspace_details(h1, 'sandbox')
    assert d['sector_size'] == 512 and d['path'] == sb.lease_file, d


def test_512_lockspace_on_storage_now_4k_is_refused_clearly(sb):
    h1 = sb.hosts[0]
    name = 'lsmoved'
    with loop_device(512) as dev:
        with joined([(h1, 1)], name, dev.path):
            pass
        # the same file attached again, now with 4096-byte sectors
        dev.detach()
        dev.attach(4096)
        with raises_dbus('InvalidArgument') as e:
            h1.add_lockspace(name, 1, dev.path, 0, {'io_timeout': u32(IO_TIMEOUT)},
                             timeout_ms=60000)
        msg = e.value.message
        assert '512-byte sectors' in msg and '4096-byte' in msg and 'init' in msg, msg
        assert lockspace_details(h1, name) is None
        # formatting it again fixes it
        with joined([(h1, 1)], name, dev.path):
            assert lockspace_details(h1, name)['sector_size'] == 4096


def test_explicit_lease_takes_its_lockspace_sector_size(sb):
    """A lease at an explicit path lives by its lockspace's sector size, as
    sanlock reads every lease of a lockspace with the lockspace's. Under a
    lockspace on 4096-byte storage, a lease on a 512-byte device is written
    with 4096-byte sectors and works from two hosts; under one formatted
    with 512-byte sectors, a 4096-byte device cannot hold a lease, and
    CreateLease says so without writing anything."""
    h1, h2 = sb.hosts[:2]
    name = 'ls4kexplicit'
    with loop_device(4096) as dev4k, loop_device(512) as dev512:
        # the session's lockspace is on a regular file: 512-byte sectors
        u = new_uuid()
        where = {'path': s(dev4k.path), 'offset': t64(0)}
        with raises_dbus('InvalidArgument') as e:
            h1.create(u, options=where)
        msg = e.value.message
        assert dev4k.path in msg and '4096-byte sectors' in msg and '512-byte' in msg, msg
        rc, out = sanlock_run(h1.sanlock_env, 'direct', 'read_leader', '-r',
                              '%s:%s:%s:0' % ('sandbox', u, dev4k.path))
        assert rc != 0, 'CreateLease wrote a lease although it refused: %s' % out

        with joined([(h1, 1), (h2, 2)], name, dev4k.path):
            u = new_uuid()
            where = {'path': s(dev512.path), 'offset': t64(0)}
            h1.create(u, name, where)
            assert on_disk_sector_size(h1.sanlock_env, (
                '-r', '%s:%s:%s:0' % (name, u, dev512.path))) == 4096
            assert h1.inquire(u)['sector_size'] == 4096
            h2.create(u, name, where)       # finds it there
            h1.acquire(u)
            with raises_dbus('Busy'):
                h2.acquire(u)
            h1.release(u)
            h2.acquire(u)
            info = h2.inquire(u)
            assert info['held_here'] and info['owner'] == 2, info
            h2.release(u)
            h2.delete(u)


# --- 2. the storage monitor through vmleased under umockdev ------------------

def umockdev():
    try:
        gi.require_version('UMockdev', '1.0')
        from gi.repository import UMockdev
    except (ValueError, ImportError) as e:
        pytest.fail('umockdev through GObject introspection is missing '
                    '(gir1.2-umockdev-1.0): %s' % e, pytrace=False)
    return UMockdev


def add_testbed_disk(testbed, dev, logical_block_size):
    """A block device in the testbed named and numbered like the real loop
    device dev, without a /dev node (so /dev/loopN stays the real one)."""
    major, minor = dev.number.split(':')
    record = ('P: /devices/virtual/block/{name}\n'
              'E: SUBSYSTEM=block\n'
              'E: DEVNAME=/dev/{name}\n'
              'E: DEVTYPE=disk\n'
              'E: MAJOR={major}\n'
              'E: MINOR={minor}\n'
              'A: dev={major}:{minor}\n'
              'A: ro=0\n'
              'A: size={sectors}\n'
              'A: queue/logical_block_size={lbs}\n').format(
                  name=dev.name, major=major, minor=minor,
                  sectors=DEVICE_SIZE // 512, lbs=logical_block_size)
    assert testbed.add_from_string(record)
    sysfs = '/sys/devices/virtual/block/%s' % dev.name
    root = testbed.get_root_dir()
    assert os.path.isfile(os.path.join(root, sysfs.lstrip('/'), 'queue', 'logical_block_size'))
    assert not os.path.exists(os.path.join(root, 'dev', dev.name)), \
        'the testbed must not shadow the real /dev/%s' % dev.name
    return sysfs


class UmockSandbox(Sandbox):
    pass


@pytest.fixture(scope='module')
def usb():
    """A one-host sandbox whose vmleased runs under umockdev's preload, a
    real loop device (512-byte sectors) and a testbed that calls it 4K."""
    UMockdev = umockdev()
    for p in (os.path.join(BUILD_DIR, 'service', 'vmleased'), VMLEASECTL):
        if not os.access(p, os.X_OK):
            pytest.fail('%s is missing: build first' % p, pytrace=False)
    if os.geteuid() != 0:
        pytest.fail('the storage tests need root (loop devices, the sandbox)', pytrace=False)
    dev = LoopDevice(512)
    testbed = UMockdev.Testbed.new()
    # The testbed sets UMOCKDEV_DIR for this process; only vmleased gets it.
    GLib.unsetenv('UMOCKDEV_DIR')
    os.environ.pop('UMOCKDEV_DIR', None)
    d = tempfile.mkdtemp(prefix='vmlumock.', dir='/tmp')
    sb = UmockSandbox(d)
    sb.dev, sb.testbed = dev, testbed
    try:
        sb.sysfs = add_testbed_disk(testbed, dev, 4096)
        wrapper = 'env LD_PRELOAD=%s UMOCKDEV_DIR=%s' % (PRELOAD, testbed.get_root_dir())
        start_sandbox(sb, 1, '--wrapper', wrapper, label='umockdev sandbox')
        yield sb
    finally:
        res = stop_sandbox(sb, 'storage')
        dev.close()
        root = testbed.get_root_dir()
        del sb.testbed, testbed
        shutil.rmtree(root, ignore_errors=True)
        assert res.clean, str(res)


def test_vmleased_runs_under_the_testbed(usb):
    """The preload is in vmleased (and only sysfs/udev go to the testbed)."""
    pid = usb.hosts[0].vmleased_pid()
    with open('/proc/%d/environ' % pid, 'rb') as f:
        environ = dict(e.split(b'=', 1) for e in f.read().split(b'\0') if b'=' in e)
    assert environ.get(b'UMOCKDEV_DIR', b'').decode() == usb.testbed.get_root_dir(), environ
    with open('/proc/%d/maps' % pid) as f:
        assert 'libumockdev-preload' in f.read(), 'vmleased has not loaded %s' % PRELOAD


class Watch:
    """LockspaceChanged, and the lease objects' PropertiesChanged and
    Warning, from one moment on; plus monitor --json."""

    def __init__(self, h, uuids):
        self.changed = h.record(MANAGER_IFACE, 'LockspaceChanged')
        self.props = {u: h.record(PROPS_IFACE, 'PropertiesChanged', lease_path(u))
                      for u in uuids}
        self.warnings = h.record(LEASE_IFACE, 'Warning')

    def lockspace(self, name, state, t0):
        got = self.changed.wait(
            lambda it: [a for _, a in it if a[0] == name and a[1] == state],
            timeout=10, what='LockspaceChanged(%s, %s)' % (name, state))
        return got[0], time.monotonic() - t0

    def storage_state(self, u, state):
        return self.props[u].wait(
            lambda it: [a for _, a in it
                        if a[0] == LEASE_IFACE and a[1].get('StorageState') == state],
            timeout=10, what='StorageState %s of %s' % (state, u))


def check_failing(usb, h, name, held, idle, trigger, words):
    """Trigger a uevent; the documented signals must follow within a second."""
    mon = Monitor(h)
    try:
        mon.wait(lambda m: m.lines, 10, 'the first line')
        w = Watch(h, (held, idle))
        t0 = time.monotonic()
        trigger()
        (_, state, details), dt = w.lockspace(name, 'failing', t0)
        assert words in details.get('error', ''), details
        assert usb.dev.path in details['error'] and details['sector_size'] == 4096, details
        w.storage_state(held, 'failing')
        w.storage_state(idle, 'failing')
        (path, (kind, wd)), = w.warnings.wait(lambda it: it, timeout=10, what='Warning')
        t_all = time.monotonic() - t0
        sys.stderr.write('figure: uevent %s -> LockspaceChanged failing %.3f s, '
                         '-> Warning %.3f s\n' % (words, dt, t_all))
        assert dt < SIGNAL_WITHIN_S and t_all < SIGNAL_WITHIN_S, (dt, t_all)
        # only the held lease warns
        assert path == lease_path(held) and kind == 'storage-failing', (path, kind)
        assert wd['lockspace'] == name and words in wd['error'], wd
        assert wd['fence'] == 'none' and wd['state'] == 'held', wd
        assert wd['io_timeout'] == IO_TIMEOUT and wd['message'], wd
        w.warnings.pump(0.3)
        assert len(w.warnings.items) == 1, w.warnings.items
        assert lockspace_details(h, name)['state'] == 'failing'
        info = h.inquire(held)
        assert info['storage_state'] == 'failing' and info['held_here'], info
        # monitor --json: one JSON line each
        mon.wait(lambda m: [e for e in m.events('lockspace-changed')
                            if e['name'] == name and e['state'] == 'failing'],
                 5, 'a lockspace-changed failing line')
        got = mon.wait(lambda m: m.events('warning'), 5, 'a warning line')
        assert len(got) == 1 and got[0]['uuid'] == held, got
        assert got[0]['kind'] == 'storage-failing', got
        assert got[0]['details']['lockspace'] == name, got
        mon.wait(lambda m: [e for e in m.events('properties-changed')
                            if e.get('uuid') == idle
                            and e['changed'].get('storage_state') == 'failing'],
                 5, 'a properties-changed line with storage_state failing')
        return w, mon
    except BaseException:
        mon.close()
        raise


@contextlib.contextmanager
def umock_lockspace(usb, name):
    """The lockspace on the real loop device (4K, as the testbed says), with
    one lease held and one not."""
    h = usb.hosts[0]
    held, idle = new_uuid(), new_uuid()
    usb.testbed.set_attribute(usb.sysfs, 'ro', '0')
    with joined([(h, 1)], name, usb.dev.path):
        d = lockspace_details(h, name)
        assert d['sector_size'] == 4096 and d['state'] == 'joined', d
        # formatted as 4K on a device whose real sectors are 512 bytes:
        # vmleased read the testbed's sysfs, sanlock wrote the real device
        assert usb.dev.sector_size == 512
        assert on_disk_sector_size(h.sanlock_env,
                                   ('-s', '%s:1:%s:0' % (name, usb.dev.path))) == 4096
        for u in (held, idle):
            h.create(u, name)
            assert h.lease_props(u)['StorageState'] == 'ok'
        h.acquire(held, {'fence': s('none')})
        try:
            yield h, held, idle
        finally:
            for u in (held, idle):
                with contextlib.suppress(Exception):
                    h.release(u)
                with contextlib.suppress(Exception):
                    h.delete(u)


def test_read_only_change_makes_lockspace_failing_and_warns_held_lease(usb):
    name = 'umro'
    with umock_lockspace(usb, name) as (h, held, idle):
        def go_read_only():
            usb.testbed.set_attribute(usb.sysfs, 'ro', '1')
            usb.testbed.uevent(usb.sysfs, 'change')
        w, mon = check_failing(usb, h, name, held, idle, go_read_only, 'went read-only')
        try:
            # a lease acquired while its storage is failing warns at once
            # (the real device is writable, so sanlock lets it be acquired)
            h.acquire(idle, {'fence': s('none')})
            got = w.warnings.wait(lambda it: [a for p, a in it if p == lease_path(idle)],
                                  timeout=5, what='Warning of the lease acquired while failing')
            kind, wd = got[0]
            assert kind == 'storage-failing' and wd['state'] == 'held', (kind, wd)
            assert 'went read-only' in wd['error'], wd
            h.release(idle)
            # writable again while sanlock still renews: joined, ok again
            t0 = time.monotonic()
            usb.testbed.set_attribute(usb.sysfs, 'ro', '0')
            usb.testbed.uevent(usb.sysfs, 'change')
            _, dt = w.lockspace(name, 'joined', t0)
            w.storage_state(held, 'ok')
            w.storage_state(idle, 'ok')
            sys.stderr.write('figure: uevent writable again -> LockspaceChanged joined '
                             '%.3f s\n' % dt)
            info = h.inquire(held)
            assert info['held_here'] and info['storage_state'] == 'ok', info
            assert h.lease_props(held)['State'] == 'held'
            mon.wait(lambda m: [e for e in m.events('lockspace-changed')
                                if e['name'] == name and e['state'] == 'joined'],
                     5, 'a lockspace-changed joined line')
        finally:
            rc, err = mon.close()
        assert rc == 0, 'vmleasectl monitor exited %d: %s' % (rc, err)
        for line in mon.lines:
            assert isinstance(json.loads(line), dict), line


def test_remove_uevent_makes_lockspace_failing_and_warns_held_lease(usb):
    name = 'umrm'
    with umock_lockspace(usb, name) as (h, held, idle):
        w, mon = check_failing(usb, h, name, held, idle,
                               lambda: usb.testbed.uevent(usb.sysfs, 'remove'),
                               'was removed')
        rc, err = mon.close()
        assert rc == 0, 'vmleasectl monitor exited %d: %s' % (rc, err)
        # the lease is still held (the real device is fine): Lost has not come
        assert h.lease_props(held)['State'] == 'held'
        # vmleasectl shows it too
        listed = vmleasectl_json(h, 'list')['leases']
        assert {l['uuid']: l['storage_state'] for l in listed} == {
            held: 'failing', idle: 'failing'}, listed


def test_device_read_only_before_any_uevent_makes_the_joined_lockspace_failing(usb):
    """A device that is read-only already when its lockspace joins (vmleased
    started, or the lockspace was added, while it was): no uevent will come,
    so vmleased looks at it once joined, and it is failing at once."""
    name = 'umroearly'
    h = usb.hosts[0]
    usb.testbed.set_attribute(usb.sysfs, 'ro', '1')
    try:
        w = Watch(h, ())
        t0 = time.monotonic()
        with joined([(h, 1)], name, usb.dev.path):
            (_, _, details), dt = w.lockspace(name, 'failing', t0)
            sys.stderr.write('figure: AddLockspace on a read-only device -> joined, then '
                             'failing, %.3f s after the call\n' % dt)
            assert details['error'] == 'block device %s is read-only' % usb.dev.path, details
            states = [a[1] for _, a in w.changed.items if a[0] == name]
            assert states[-2:] == ['joined', 'failing'], states
            assert lockspace_details(h, name)['state'] == 'failing'
            # writable again, with its change uevent: joined again
            usb.testbed.set_attribute(usb.sysfs, 'ro', '0')
            usb.testbed.uevent(usb.sysfs, 'change')
            w.changed.wait(lambda it: [a for _, a in it if a[0] == name][-1][1] == 'joined',
                           timeout=10, what='LockspaceChanged joined after failing')
            assert lockspace_details(h, name)['state'] == 'joined'
    finally:
        usb.testbed.set_attribute(usb.sysfs, 'ro', '0')


def test_lease_adopted_at_restart_on_read_only_device_warns(usb):
    """vmleased restarts while a lease is held and its device went read-only
    while vmleased was down (so no uevent will tell it): once the lockspace
    is joined again it is failing, and the lease, adopted from its holder,
    warns 'storage-failing' and stays held."""
    name = 'umrestart'
    with umock_lockspace(usb, name) as (h, held, idle):
        w = Watch(h, (held, idle))
        old_pid = h.vmleased_pid()
        usb.kill(1)
        usb.testbed.set_attribute(usb.sysfs, 'ro', '1')
        try:
            t0 = time.monotonic()
            usb.restart(1)
            assert h.vmleased_pid() != old_pid
            got = w.warnings.wait(lambda it: [a for p, a in it if p == lease_path(held)],
                                  timeout=10, what='Warning of the lease adopted at restart')
            sys.stderr.write('figure: restart on a read-only device -> Warning %.3f s\n'
                             % (time.monotonic() - t0))
            kind, wd = got[0]
            assert kind == 'storage-failing' and wd['state'] == 'held', (kind, wd)
            assert wd['error'] == 'block device %s is read-only' % usb.dev.path, wd
            assert wd['lockspace'] == name and wd['fence'] == 'none', wd
            assert not [a for p, a in w.warnings.items if p == lease_path(idle)], \
                'the lease not held warned too: %r' % w.warnings.items
            assert lockspace_details(h, name)['state'] == 'failing'
            info = h.inquire(held)
            assert info['held_here'] and info['storage_state'] == 'failing', info
            assert h.lease_props(held)['State'] == 'held'
        finally:
            usb.testbed.set_attribute(usb.sysfs, 'ro', '0')
            usb.testbed.uevent(usb.sysfs, 'change')
        wait_until(lambda: lockspace_details(h, name)['state'] == 'joined', 10,
                   what='the lockspace joined again once the device is writable')
