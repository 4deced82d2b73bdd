# SPDX-License-Identifier: LGPL-2.1-or-later
"""libvmlease-1 through GObject introspection (gi.repository.Vmlease, from
the build tree) against the real sandbox: acquire and release; `lost` heard
when another host seizes; a migration through VmleaseMigration, step by
step, with switchover() (perform and finish side by side) and with run(); errors in the VMLEASE_ERROR domain; leases and
lockspaces followed through the ObjectManager.

Every outcome is checked independently of the library too: with raw D-Bus
calls (conftest's Host) and with the sanlock daemons and storage.
"""

import os
import subprocess
import time

import pytest

import gi
gi.require_version('GIRepository', '2.0')
gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
from gi.repository import GIRepository, Gio, GLib  # noqa: E402

from conftest import (BUILD_DIR, LEASE_IFACE, LOCKSPACE, lease_path, process_alive,  # noqa: E402
                      wait_until)

LIB_DIR = os.path.join(BUILD_DIR, 'lib')
if not os.path.exists(os.path.join(LIB_DIR, 'Vmlease-1.0.typelib')):
    pytest.fail('%s/Vmlease-1.0.typelib is missing: build with -Dintrospection=true'
                % LIB_DIR, pytrace=False)
# The typelib and the library of this build, not an installed one.
GIRepository.Repository.prepend_search_path(LIB_DIR)
GIRepository.Repository.prepend_library_path(LIB_DIR)
gi.require_version('Vmlease', '1.0')
from gi.repository import Vmlease  # noqa: E402


def test_the_typelib_is_this_builds():
    path = GIRepository.Repository.get_default().get_typelib_path('Vmlease')
    assert path and os.path.realpath(path).startswith(os.path.realpath(LIB_DIR)), path


def pump(pred, timeout=10, what='condition'):
    """Run the default main context (where the library's signals and
    property changes arrive) until pred() is true."""
    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while True:
        while ctx.pending():
            ctx.iteration(False)
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))
        ctx.iteration(False)
        time.sleep(0.01)


def client(h):
    c = Vmlease.Client.new_for_address_sync(h.address, None)
    assert c.get_address() == h.address
    return c


def vm():
    """A stand-in for a VM process, to be fenced."""
    return subprocess.Popen(['sleep', '600'])


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def assert_vmlease_error(excinfo, code):
    e = excinfo.value
    assert e.matches(Vmlease.error_quark(), code), (
        'expected %s, got %s:%d %s' % (code.value_nick, e.domain, e.code, e.message))
    assert e.domain == 'vmlease-error-quark'
    assert e.message and not e.message.startswith('GDBus.Error'), e.message


def test_acquire_and_release(hosts, leases):
    h1, _, _ = hosts
    u = leases()
    c = client(h1)
    notified = []
    p = vm()
    try:
        lease = c.create_lease_sync(u, LOCKSPACE, 'lib-vm', None)
        assert lease.get_uuid() == u and lease.props.lockspace == LOCKSPACE
        assert lease.props.name == 'lib-vm' and lease.props.state == 'free'
        assert lease.get_object_path() == h1.get_lease(u)
        lease.connect('notify::state', lambda obj, _: notified.append(obj.props.state))
        opts = Vmlease.AcquireOptions(pid=p.pid, fence=Vmlease.Fence.PAUSE)
        assert lease.acquire_sync(opts, None) is True
        # the properties follow PropertiesChanged
        pump(lambda: lease.props.state == 'held', what='State held through the library')
        assert 'held' in notified
        assert lease.props.fence_pid == p.pid and lease.props.fence == 'pause'
        assert lease.props.holder_pid > 0 and lease.props.mode == 'exclusive'
        assert lease.props.owner == h1.id
        # what the service and sanlock say, not through the library
        raw = h1.lease_props(u)
        assert raw['State'] == 'held' and raw['FencePid'] == p.pid
        assert h1.sanlock_holders_of(u) == [lease.props.holder_pid]
        info = lease.inquire_sync(None).unpack()
        assert info['held_here'] is True and info['owner'] == h1.id, info
        assert info['fence_pid'] == p.pid

        assert lease.release_sync(None) is True
        pump(lambda: lease.props.state == 'free', what='State free through the library')
        assert h1.lease_props(u)['State'] == 'free'
        assert h1.sanlock_holders_of(u) == []
        assert process_alive(p.pid), 'a release must not fence the VM'
    finally:
        stop(p)


def test_async_acquire_with_a_main_loop(hosts, leases):
    h1, _, _ = hosts
    u = leases()
    h1.create(u)
    results = {}
    loop = GLib.MainLoop()

    def on_client(_src, res):
        c = Vmlease.Client.new_for_address_finish(res)
        results['client'] = c
        c.get_lease(u, None, on_lease)

    def on_lease(c, res):
        lease = c.get_lease_finish(res)
        results['lease'] = lease
        lease.acquire(Vmlease.AcquireOptions(wait=5), None, on_acquired)

    def on_acquired(lease, res):
        results['acquired'] = lease.acquire_finish(res)
        lease.inquire(None, on_inquired)

    def on_inquired(lease, res):
        results['info'] = lease.inquire_finish(res).unpack()
        loop.quit()

    Vmlease.Client.new_for_address(h1.address, None, on_client)
    GLib.timeout_add_seconds(30, loop.quit)
    loop.run()
    assert results.get('acquired') is True, results
    assert results['info']['held_here'] is True
    assert h1.lease_props(u)['State'] == 'held'
    results['lease'].release_sync(None)


def test_errors_are_in_the_vmlease_domain(hosts, leases):
    h1, h2, _ = hosts
    u = leases()
    c1, c2 = client(h1), client(h2)
    lease1 = c1.create_lease_sync(u, LOCKSPACE, None, None)
    with pytest.raises(GLib.Error) as ei:
        c1.create_lease_sync(u, LOCKSPACE, None, None)
    assert_vmlease_error(ei, Vmlease.Error.EXISTS)
    with pytest.raises(GLib.Error) as ei:
        c1.create_lease_sync(leases(), 'no-such-lockspace', None, None)
    assert_vmlease_error(ei, Vmlease.Error.LOCKSPACE_NOT_JOINED)
    with pytest.raises(GLib.Error) as ei:
        c1.get_lease_sync(leases(), None)
    assert_vmlease_error(ei, Vmlease.Error.NOT_FOUND)
    with pytest.raises(GLib.Error) as ei:
        lease1.release_sync(None)
    assert_vmlease_error(ei, Vmlease.Error.NOT_HELD)

    lease1.acquire_sync(None, None)
    lease2 = c2.get_lease_sync(u, None)
    with pytest.raises(GLib.Error) as ei:
        lease2.acquire_sync(None, None)
    assert_vmlease_error(ei, Vmlease.Error.BUSY)
    assert 'host' in ei.value.message, ei.value.message
    # a step out of order
    with pytest.raises(GLib.Error) as ei:
        lease1.transfer_sync(Vmlease.TransferStep.PERFORM, 'vml1.x', None, None)
    assert ei.value.matches(Vmlease.error_quark(), Vmlease.Error.WRONG_STEP) or \
        ei.value.matches(Vmlease.error_quark(), Vmlease.Error.STALE_TOKEN), ei.value.message
    # an option the step does not take is refused before anything is sent
    with pytest.raises(GLib.Error) as ei:
        lease1.transfer_sync(Vmlease.TransferStep.BEGIN, None,
                             Vmlease.TransferOptions(postcopy=True), None)
    assert ei.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.INVALID_ARGUMENT), ei.value
    assert h1.lease_props(u)['State'] == 'held'
    # every code has its D-Bus name
    assert Vmlease.Error.get_dbus_name(Vmlease.Error.BUSY) == 'org.example.VMLease.Error.Busy'
    lease1.release_sync(None)


def test_lost_is_heard_when_another_host_seizes(hosts, storage, leases):
    h1, h2, _ = hosts
    u = leases()
    c1, c2 = client(h1), client(h2)
    p = vm()
    try:
        lease = c1.create_lease_sync(u, LOCKSPACE, None, None)
        heard = []
        lease.connect('lost', lambda _l, reason, details: heard.append((reason, details.unpack())))
        lease.acquire_sync(Vmlease.AcquireOptions(pid=p.pid, fence=Vmlease.Fence.KILL), None)
        other = c2.get_lease_sync(u, None)
        other.acquire_sync(Vmlease.AcquireOptions(force=True, wait=60), None)
        assert lease.wait_lost_sync(20000, None) is True
        assert len(heard) == 1, heard
        reason, details = heard[0]
        assert reason == Vmlease.LostReason.REVOKED, reason
        assert details['fence'] == 'kill' and details['fence_pid'] == p.pid, details
        assert details['fenced'] is True, details
        assert p.wait(timeout=5) == -9
        # and again at once: the lost is remembered until the next take
        assert lease.wait_lost_sync(0, None) is True
        pump(lambda: lease.props.state == 'lost', what='State lost')
        info = h2.inquire(u)
        assert storage.owners(u, info['path'], info['offset'])['exclusive'] == h2.id
        other.release_sync(None)
    finally:
        stop(p)


def test_wait_lost_times_out_while_held(hosts, leases):
    h1, _, _ = hosts
    u = leases()
    lease = client(h1).create_lease_sync(u, LOCKSPACE, None, None)
    lease.acquire_sync(None, None)
    t0 = time.monotonic()
    with pytest.raises(GLib.Error) as ei:
        lease.wait_lost_sync(300, None)
    assert ei.value.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT), ei.value
    assert time.monotonic() - t0 >= 0.25
    lease.release_sync(None)


def created_and_held(client_, host, u, vm_):
    """Lease @u created and acquired through the library, fenced to @vm_:
    the VmleaseLease and its place on storage (path, offset)."""
    lease = client_.create_lease_sync(u, LOCKSPACE, None, None)
    lease.acquire_sync(Vmlease.AcquireOptions(pid=vm_.pid), None)
    info = host.inquire(u)
    return lease, (info['path'], info['offset'])


def test_migration_step_by_step_then_back_with_run(hosts, storage, leases):
    h1, h2, _ = hosts
    u = leases()
    c1, c2 = client(h1), client(h2)
    src_vm, dst_vm, back_vm = vm(), vm(), vm()
    try:
        lease, loc = created_and_held(c1, h1, u, src_vm)

        m = Vmlease.Migration.new(c1, c2, u)
        assert m.props.step == Vmlease.TransferStep.NONE and m.props.token == ''
        m.begin_sync(None)
        assert m.props.step == Vmlease.TransferStep.BEGIN and m.props.token.startswith('vml1.')
        assert h1.lease_props(u)['State'] == 'migrating-out'
        m.prepare_sync(Vmlease.TransferOptions(pid=dst_vm.pid, fence=Vmlease.Fence.KILL), None)
        p2 = h2.lease_props(u)
        assert p2['State'] == 'migrating-in' and p2['FencePid'] == dst_vm.pid, p2
        assert sorted(storage.owners(u, *loc)['shared']) == [h1.id, h2.id]
        m.perform_sync(False, None)
        m.finish_sync(True, None)
        # finish answers once the destination holds the sole share; the
        # conversion to exclusive ends a moment later (State "converting")
        assert h2.lease_props(u)['State'] in ('converting', 'held')
        wait_until(lambda: h2.lease_props(u)['State'] == 'held', 20, what='the conversion')
        m.confirm_sync(True, None)
        assert m.props.step == Vmlease.TransferStep.CONFIRM and m.props.token == ''
        assert h1.lease_props(u)['State'] == 'free'
        assert storage.owners(u, *loc)['exclusive'] == h2.id
        assert process_alive(src_vm.pid) and process_alive(dst_vm.pid)

        # back to host 1 with run(), asynchronously
        back = Vmlease.Migration.new(c2, c1, u)
        loop = GLib.MainLoop()
        done = {}

        def on_run(mig, res):
            try:
                done['ok'] = mig.run_finish(res)
            except GLib.Error as e:
                done['error'] = e
            loop.quit()
        back.run(Vmlease.TransferOptions(pid=back_vm.pid), None, on_run)
        GLib.timeout_add_seconds(60, loop.quit)
        loop.run()
        assert done.get('ok') is True, done
        assert h1.lease_props(u)['State'] == 'held' and h1.lease_props(u)['FencePid'] == back_vm.pid
        assert h2.lease_props(u)['State'] == 'free'
        assert storage.owners(u, *loc)['exclusive'] == h1.id
        lease.release_sync(None)
    finally:
        for p in (src_vm, dst_vm, back_vm):
            stop(p)


def test_a_cancelled_migration_leaves_the_source_holding(hosts, storage, leases):
    h1, h2, _ = hosts
    u = leases()
    c1, c2 = client(h1), client(h2)
    lease = c1.create_lease_sync(u, LOCKSPACE, None, None)
    lease.acquire_sync(None, None)
    m = Vmlease.Migration.new(c1, c2, u)
    m.begin_sync(None)
    m.prepare_sync(None, None)
    m.cancel_sync(None)
    assert m.props.step == Vmlease.TransferStep.CANCEL
    assert h1.lease_props(u)['State'] == 'held'
    assert h2.lease_props(u)['State'] == 'free'
    info = h1.inquire(u)
    assert storage.owners(u, info['path'], info['offset'])['exclusive'] == h1.id
    lease.release_sync(None)


def test_migration_switchover_sends_perform_and_finish_together(hosts, storage, leases):
    """switchover: perform and finish side by side (finish with prepare's
    token and a default wait), both answered; the step is finish, confirm
    follows. Out of order it is WrongStep at once, nothing sent; a
    perform the source refuses (the source's hand-off cancelled under it)
    is the result, finish's call is given up, and nothing moved."""
    h1, h2, _ = hosts
    u = leases()
    c1, c2 = client(h1), client(h2)
    src_vm, dst_vm = vm(), vm()
    try:
        lease, loc = created_and_held(c1, h1, u, src_vm)
        m = Vmlease.Migration.new(c1, c2, u)
        with pytest.raises(GLib.Error) as e:
            m.switchover_sync(False, None, None)
        assert Vmlease.Error(e.value.code) == Vmlease.Error.WRONG_STEP, e.value
        m.begin_sync(None)
        m.prepare_sync(Vmlease.TransferOptions(pid=dst_vm.pid, fence=Vmlease.Fence.KILL), None)
        # a refused perform: the source's hand-off was cancelled meanwhile
        # (raw call, behind the library's back)
        h2.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['cancel', '', {}])
        h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['cancel', '', {}])
        t0 = time.monotonic()
        with pytest.raises(GLib.Error) as e:
            m.switchover_sync(False, None, None)
        assert Vmlease.Error(e.value.code) == Vmlease.Error.WRONG_STEP, e.value
        assert time.monotonic() - t0 < 5, 'switchover waited for finish after perform failed'
        assert m.props.step == Vmlease.TransferStep.PREPARE
        assert storage.owners(u, *loc)['exclusive'] == h1.id
        # a new hand-off, switched over for real
        m = Vmlease.Migration.new(c1, c2, u)
        m.begin_sync(None)
        m.prepare_sync(Vmlease.TransferOptions(pid=dst_vm.pid, fence=Vmlease.Fence.KILL), None)
        m.switchover_sync(False, None, None)
        assert m.props.step == Vmlease.TransferStep.FINISH and m.props.token.startswith('vml1.')
        assert h2.lease_props(u)['State'] in ('converting', 'held')
        m.confirm_sync(True, None)
        assert h1.lease_props(u)['State'] == 'free'
        assert storage.owners(u, *loc)['exclusive'] == h2.id
        assert h2.lease_props(u)['FencePid'] == dst_vm.pid
        assert process_alive(src_vm.pid) and process_alive(dst_vm.pid)
        h2.release(u)
    finally:
        for p in (src_vm, dst_vm):
            stop(p)


def test_leases_and_lockspaces_are_followed(hosts, leases):
    h1, _, _ = hosts
    c = client(h1)
    added, removed = [], []
    c.connect('lease-added', lambda _c, lease: added.append(lease.get_object_path()))
    c.connect('lease-removed', lambda _c, lease: removed.append(lease.get_object_path()))
    names = [(ls.get_name(), ls.get_host_id(), ls.props.state) for ls in c.get_lockspaces()]
    assert (LOCKSPACE, h1.id, 'joined') in names, names
    assert c.props.version and c.props.sanlock_daemon == 'running'

    u = leases()
    h1.create(u)                       # created behind the library's back
    path = h1.get_lease(u)
    pump(lambda: path in added, what='lease-added for %s' % path)
    listed = {lease.get_object_path(): lease for lease in c.get_leases()}
    assert path in listed
    assert c.get_lease_sync(u, None) is listed[path], 'one VmleaseLease per object'
    h1.delete(u)
    pump(lambda: path in removed, what='lease-removed for %s' % path)
    assert path not in [lease.get_object_path() for lease in c.get_leases()]


def test_lockspace_calls(hosts):
    h1, _, _ = hosts
    c = client(h1)
    ls = [x for x in c.get_lockspaces() if x.get_name() == LOCKSPACE][0]
    details = c.dup_lockspace_details().unpack()
    assert details[LOCKSPACE]['state'] == 'joined', details
    assert details[LOCKSPACE]['sector_size'] in (512, 4096), details
    assert details[LOCKSPACE]['path'] == ls.get_path()
    # the same join again is a no-op; another host id for it is refused
    assert c.add_lockspace_sync(LOCKSPACE, ls.get_host_id(), ls.get_path(), ls.get_offset(),
                                ls.get_io_timeout(), False, None) is True
    with pytest.raises(GLib.Error) as ei:
        c.add_lockspace_sync(LOCKSPACE, ls.get_host_id() + 10, ls.get_path(), ls.get_offset(),
                             ls.get_io_timeout(), False, None)
    assert_vmlease_error(ei, Vmlease.Error.EXISTS)
    with pytest.raises(GLib.Error) as ei:
        c.remove_lockspace_sync('no-such-lockspace', False, None)
    assert_vmlease_error(ei, Vmlease.Error.NOT_FOUND)
    assert (LOCKSPACE, h1.id, ls.get_path(), ls.get_offset(), 'joined', ls.get_io_timeout()) \
        in h1.lockspaces()


def test_transfer_requested_is_heard(hosts, leases):
    h1, h2, _ = hosts
    u = leases()
    c1, c2 = client(h1), client(h2)
    lease = c1.create_lease_sync(u, LOCKSPACE, None, None)
    lease.acquire_sync(None, None)
    version = h1.lease_props(u)['Version']
    asked = []
    lease.connect('transfer-requested',
                  lambda _l, host_id, details: asked.append((host_id, details.unpack())))
    with pytest.raises(GLib.Error) as ei:
        c2.get_lease_sync(u, None).acquire_sync(Vmlease.AcquireOptions(request=True), None)
    assert_vmlease_error(ei, Vmlease.Error.BUSY)
    assert 'asked host 1' in ei.value.message, ei.value.message
    pump(lambda: asked, timeout=20, what='transfer-requested on host 1')
    host_id, details = asked[0]
    assert host_id == h2.id and details['lver'] == version + 1, asked
    assert h1.lease_props(u)['State'] == 'held', 'a request changes nothing by itself'
    lease.release_sync(None)


def test_disks_through_the_library(sb, hosts, leases):
    from test_disks import disk_key, disk_owners, held_disks
    h1, _, _ = hosts
    u = leases()
    a, b = disk_key('lib-a'), disk_key('lib-b')
    lease = client(h1).create_lease_sync(u, LOCKSPACE, None, None)
    take = Vmlease.AcquireOptions()
    take.add_disk(a, Vmlease.Mode.EXCLUSIVE)
    lease.acquire_sync(take, None)
    assert held_disks(h1, u) == [(a, 'exclusive')]
    assert disk_owners(sb, a)['exclusive'] == h1.id

    more = Vmlease.AcquireOptions(wait=5)
    more.add_disk(b, Vmlease.Mode.SHARED)
    assert lease.attach_disks_sync(more, None) is True
    assert held_disks(h1, u) == sorted([(a, 'exclusive'), (b, 'shared')])
    assert h1.id in disk_owners(sb, b)['shared']
    pump(lambda: sorted(lease.props.disks.unpack()) == sorted([(a, 'exclusive'), (b, 'shared')]),
         what='the disks property')

    assert lease.detach_disks_sync([b], None) is True
    assert held_disks(h1, u) == [(a, 'exclusive')]
    with pytest.raises(GLib.Error) as ei:
        lease.detach_disks_sync(['vol-never-attached'], None)
    assert_vmlease_error(ei, Vmlease.Error.INVALID_ARGUMENT)
    lease.release_sync(None)
    assert held_disks(h1, u) == []
