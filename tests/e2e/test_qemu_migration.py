# SPDX-License-Identifier: LGPL-2.1-or-later
"""A VM's lease following a real QEMU guest through live migrations between
two sandbox hosts (docs/e2e.md).

Each test runs the tiny guest of guest.s in real QEMU processes (KVM where
/dev/kvm works, else TCG), migrates it over a local unix socket driven
through QMP, and does the lease's Transfer steps at the instants the seeds
require (vmlqemu.Migration): prepare before the destination's
migrate-incoming with the destination QEMU as fence pid; perform only after
the source's STOP; finish before the destination's `cont`; confirm after
completion. The integration suite's Observer (tests/integration/
test_transfer.py) watches storage and both sanlock daemons during each
migration: the lease is never free, never exclusive on two hosts.

After each migration: the lease is held exclusively on the destination only
(vmleased on both hosts, storage read directly, and both sanlock daemons
agree), fenced to the destination QEMU; the destination guest runs, its
counter advances, with 0 memory errors; the source QEMU is stopped; and
QEMU's own event timestamps show perform after the source's STOP and
finish before the destination's RESUME. One way there finish goes side by
side with perform and vmleased resumes the guest (finish's resume: its
"Transfer finished" log line comes before the RESUME); the way back the
virt manager calls finish after perform and sends `cont` itself.
"""

import datetime
import os
import re
import signal
import time

import pytest

from conftest import it, transfer as tt
import lease_steps
import vmlqemu

LEASE_IFACE = it.LEASE_IFACE


def lease_on(sb, u, loc, owner, vm):
    """The lease of @u is held exclusively by host @owner only, fenced to
    @vm: vmleased on every host, storage and every sanlock daemon agree."""
    tt.assert_owner(sb, sb.hosts, u, loc, owner.id)
    p = owner.lease_props(u)
    assert (p['FencePid'], p['Fence'], p['Mode']) == (vm.pid, 'kill', 'exclusive'), p
    for h in sb.hosts:
        modes = tt.sanlock_modes(h, u, timeout=30)
        if h is owner:
            assert modes == {p['HolderPid']: 'EX'}, (
                'sanlock of host %d: %r, expected holder %d EX' % (h.id, modes, p['HolderPid']))
        else:
            assert modes == {}, 'sanlock of host %d holds %s: %r' % (h.id, u, modes)


def guest_runs(vm, min_passes=20, what=''):
    """@vm runs the guest: status running, counter advancing (by
    @min_passes, waited for: a loaded host runs the guest slowly), 0
    errors. @what (the migration that led here, its timestamps) goes into
    every failure message."""
    where = '%s%s' % (vm.name, (' after ' + what) if what else '')
    assert vm.alive(), '%s: QEMU exited: %s' % (where, vm.proc.returncode)
    assert vm.status() == 'running', '%s: QEMU status %s' % (where, vm.status())
    a = vm.guest()
    assert a['magic'] == vmlqemu.GUEST_MAGIC, '%s: no guest status block: %r' % (where, a)
    try:
        b = it.wait_until(lambda: (lambda g: g if g['passes'] >= a['passes'] + min_passes
                                   else None)(vm.guest()), 10,
                          what='%d more guest passes' % min_passes)
    except Exception as e:
        raise AssertionError('%s: the guest counter did not advance: %r -> %r (%s)'
                             % (where, a, vm.guest(), e)) from None
    assert b['errors'] == 0 and b['fault'] == 0, (
        '%s: the guest found %d memory errors (%d KiB of its working set stale: one word '
        'checked every 256 bytes), last bad address 0x%x, exception flag %d, at pass %d '
        '(guest read %s UTC)' % (where, b['errors'], b['errors'] * 256 // 1024, b['bad'],
                                  b['fault'], b['passes'], utc(time.time())))
    return b


def guest_stopped(vm, what=''):
    """@vm (a migration's source) is alive but stopped, its counter still."""
    where = '%s%s' % (vm.name, (' after ' + what) if what else '')
    assert vm.alive(), '%s: QEMU exited: %s' % (where, vm.proc.returncode)
    assert vm.status() == 'postmigrate', '%s: QEMU status %s' % (where, vm.status())
    a, b = vmlqemu.guest_advancing(vm, 0.2)
    assert a['passes'] == b['passes'], '%s: the source guest still runs: %r -> %r' % (
        where, a, b)


def utc(t):
    """time.time() @t as HH:MM:SS.ffffff UTC, to match the logs."""
    return time.strftime('%H:%M:%S', time.gmtime(t)) + ('%.6f' % (t % 1))[1:]


def migration_story(m, src_host, dst_host, postcopy):
    """One line naming migration @m and every timestamp of it, for failure
    messages: which step, when."""
    parts = ['%s %s (host %d) -> %s (host %d)' % (
        'post-copy' if postcopy else 'pre-copy', m.src.name, src_host.id, m.dst.name,
        dst_host.id)]
    stop = getattr(m, 'stop_event', None)
    resume = getattr(m, 'resume_event', None)
    # in the order they happen
    for step in ('prepare', 'migrate', 'STOP', 'perform', 'finish', 'cont', 'RESUME', 'confirm'):
        if step == 'STOP' and stop is not None:
            parts.append('source STOP %s' % utc(vmlqemu.event_time(stop)))
        elif step == 'RESUME' and resume is not None:
            parts.append('destination RESUME %s' % utc(vmlqemu.event_time(resume)))
        elif step in m.times:
            a, b = m.times[step]
            parts.append('%s %s+%.1fms' % (step, utc(a), (b - a) * 1000))
    info = getattr(m, 'info', None) or {}
    if info:
        parts.append('QEMU downtime %s ms, setup %s ms, total %s ms, dirty syncs %s, '
                     'RAM transferred %s B' % (
                         info.get('downtime'), info.get('setup-time'), info.get('total-time'),
                         info.get('ram', {}).get('dirty-sync-count'),
                         info.get('ram', {}).get('transferred')))
    return '; '.join(parts)


def start_vm_with_lease(qemus, host, u, name):
    """A new guest in QEMU on @host, its lease acquired with it as fence pid."""
    vm = qemus(name)
    vm.wait_guest_up()
    host.acquire(u, {'pid': it.u32(vm.pid), 'fence': it.s('kill')})
    return vm


def new_lease(sb, make, name):
    u = make()
    h1 = sb.hosts[0]
    h1.create(u, options={'name': it.s(name)})
    for h in sb.hosts:
        h.get_lease(u)
    info = h1.inquire(u)
    return u, {'path': info['path'], 'offset': info['offset']}


def finished_at(host, log_offset):
    """When @host's vmleased logged "Transfer finished" since @log_offset:
    seconds since the epoch, to the millisecond it logs (rounded down; its
    clock is local time, of today)."""
    text = host.log_since(log_offset)
    m = re.search(r'^(\d\d):(\d\d):(\d\d)\.(\d{3}) vmleased\[\d+\] \w+: .*Transfer finished:',
                  text, re.M)
    assert m, 'no "Transfer finished" in the log of host %d:\n%s' % (host.id, text[-3000:])
    h, mi, sec, ms = (int(x) for x in m.groups())
    now = datetime.datetime.now()
    then = now.replace(hour=h, minute=mi, second=sec, microsecond=ms * 1000)
    if then > now + datetime.timedelta(minutes=1):
        then -= datetime.timedelta(days=1)    # logged before midnight
    return then.timestamp()


def migrate(sb, qemus, u, loc, src_host, dst_host, src, postcopy=False,
            pause_before_switchover=False, side_by_side=True):
    """One live migration src -> a new QEMU on @dst_host with the lease
    steps, under the Observer; checks everything the module doc lists and
    returns the destination QEMU. @side_by_side: finish sent with perform
    at the source's STOP, with resume (vmleased sends the destination's
    `cont` the moment finish may answer); else finish after perform, and
    our own `cont` after finish."""
    dst = qemus('%s-%d' % (src.name.split('-')[0], len(os.listdir(qemus.dir))), incoming=True)
    lease = lease_steps.LeaseHandoff(src_host, dst_host, u, postcopy=postcopy,
                                     early_finish=side_by_side, resume=side_by_side)
    log_offset = dst_host.log_size()
    m = vmlqemu.Migration(src, dst, os.path.join(qemus.dir, 'mig.sock'), lease=lease,
                          postcopy=postcopy, pause_before_switchover=pause_before_switchover,
                          downtime_limit_ms=1 if postcopy else None)
    with tt.Observer(sb, u, loc) as obs:
        try:
            m.run()
        except vmlqemu.QemuError as e:
            raise AssertionError('%s: %s' % (migration_story(m, src_host, dst_host, postcopy),
                                             e)) from None
    story = migration_story(m, src_host, dst_host, postcopy)
    assert obs.samples > 0, story
    stop, resume = vmlqemu.event_time(m.stop_event), vmlqemu.event_time(m.resume_event)
    perform_start, _ = m.times['perform']
    _, finish_end = m.times['finish']
    cont_start, _ = m.times['cont']
    assert stop < perform_start, 'perform started before the source STOP: %s' % story
    if side_by_side:
        # vmleased sent `cont` after finish's work was done and recorded
        # (its log line), and finish answered once the guest ran
        finished = finished_at(dst_host, log_offset)
        assert stop < finished <= resume <= finish_end, (
            'the destination resumed before its finish was done (logged %s), or finish '
            'answered before it resumed: %s' % (utc(finished), story))
    else:
        assert finish_end < cont_start <= resume, (
            'finish did not return before cont, or cont came after the destination '
            'RESUME: %s' % story)
    assert lease.confirm_answer == 'ok', (lease.confirm_answer, story)
    print('%s %d -> %d: guest paused %.1f ms (QEMU downtime %s ms), lease steps %s, '
          'confirm %s' % ('post-copy' if postcopy else 'pre-copy', src_host.id, dst_host.id,
                          m.pause_ms, m.qemu_downtime_ms,
                          ', '.join('%s %.1f' % kv for kv in lease.ms.items()),
                          lease.confirm_answer))
    lease_on(sb, u, loc, dst_host, dst)
    guest_runs(dst, what=story)
    guest_stopped(src, what=story)
    return dst


# --- the guest's own check can fail ----------------------------------------------

def test_guest_detects_a_corrupted_word(qemus):
    """The negative control: a bit flipped in the guest's working set is
    counted as one error, read through QMP."""
    vm = qemus('control')
    vm.wait_guest_up()
    before = guest_runs(vm)
    vm.poke_corruption()
    g = it.wait_until(lambda: (lambda g: g if g['errors'] else None)(vm.guest()), 5,
                      what='the guest to count the flipped bit')
    assert g['errors'] == 1 and g['bad'] == 0x01000000, g
    assert g['passes'] > before['passes']


# --- migrations -------------------------------------------------------------------

def test_precopy_there_and_back(sb, hosts, qemus, hand_leases):
    """Pre-copy 1 -> 2 in the pipelined order (perform at STOP while QEMU
    sends its last pages), and back 2 -> 1 with pause-before-switchover
    (perform while QEMU waits at pre-switchover)."""
    h1, h2 = hosts
    u, loc = new_lease(sb, hand_leases, 'e2e-precopy')
    a = start_vm_with_lease(qemus, h1, u, 'pre')
    lease_on(sb, u, loc, h1, a)
    b = migrate(sb, qemus, u, loc, h1, h2, a)
    c = migrate(sb, qemus, u, loc, h2, h1, b, pause_before_switchover=True, side_by_side=False)
    a.quit()
    b.quit()
    guest_runs(c)
    h1.release(u)


def test_postcopy_there_and_back(sb, hosts, qemus, hand_leases):
    """Post-copy 1 -> 2 and back: migrate-start-postcopy at once, perform
    (the point of no return) at the source's STOP."""
    h1, h2 = hosts
    u, loc = new_lease(sb, hand_leases, 'e2e-postcopy')
    a = start_vm_with_lease(qemus, h1, u, 'post')
    b = migrate(sb, qemus, u, loc, h1, h2, a, postcopy=True)
    c = migrate(sb, qemus, u, loc, h2, h1, b, postcopy=True, side_by_side=False)
    for vm in (a, b):
        vm.quit()
    guest_runs(c)
    h1.release(u)


def migration_1_to_2(sb, qemus, hand_leases, name, short):
    """A new lease held on host 1 by a running guest, an incoming QEMU for
    host 2, and their migration with the lease's steps, not set up yet:
    (uuid, its place on storage, source, destination, LeaseHandoff,
    Migration)."""
    h1, h2 = sb.hosts
    u, loc = new_lease(sb, hand_leases, 'e2e-' + name)
    a = start_vm_with_lease(qemus, h1, u, short)
    dst = qemus(short + '-dst', incoming=True)
    lease = lease_steps.LeaseHandoff(h1, h2, u)
    m = vmlqemu.Migration(a, dst, os.path.join(qemus.dir, short + '.sock'), lease=lease)
    return u, loc, a, dst, lease, m


def test_resume_after_the_destinations_vmleased_restarted(sb, hosts, qemus, hand_leases):
    """The destination's vmleased restarts between prepare {resume} and
    finish: the monitor connection prepare made went with it; finish
    {resume} (side by side with perform) connects again, and vmleased's
    `cont` still starts the guest."""
    h1, h2 = hosts
    u, loc, a, dst, lease, m = migration_1_to_2(sb, qemus, hand_leases, 'resume-restart', 'rr')
    with tt.Observer(sb, u, loc):
        m.setup()
        sb.restart(2)
        it.wait_until(lambda: h2.has_bus_name() and
                      (tt.props_or_none(h2, u) or {}).get('TransferStep') == 'prepare', 60,
                      what="host 2's vmleased back with the hand-off at prepare")
        log_offset = h2.log_size()
        m.start()
        m.switchover()
    story = migration_story(m, h1, h2, False)
    resume = vmlqemu.event_time(m.resume_event)
    assert finished_at(h2, log_offset) <= resume <= m.times['finish'][1], story
    assert 'the guest resumes (cont through %s)' % dst.lease_qmp_path in h2.log_since(log_offset)
    lease_on(sb, u, loc, h2, dst)
    guest_runs(dst, what=story)
    guest_stopped(a, what=story)
    a.quit()
    h2.release(u)


def test_destinations_vmleased_dies_between_finishs_record_and_its_cont(
        sb, hosts, qemus, hand_leases):
    """The destination's vmleased dies after finish {resume} recorded its
    work, before its `cont` (crash point "transfer.finished"): the guest
    stays paused, the manager's finish gets no answer. A restart converts
    the lease (its record says "converting"); the manager's own `cont`
    starts the guest, and the source, with no T4 to confirm with, confirms
    with its own perform token: storage shows what T4 would have said."""
    h1, h2 = hosts
    u, loc, a, dst, lease, m = migration_1_to_2(sb, qemus, hand_leases, 'finish-crash', 'fc')
    with tt.Observer(sb, u, loc):
        m.setup()
        sb.restart(2, crash_at='transfer.finished')
        it.wait_until(lambda: h2.has_bus_name() and
                      (tt.props_or_none(h2, u) or {}).get('TransferStep') == 'prepare', 60,
                      what="host 2's vmleased back with the hand-off at prepare")
        pid = h2.vmleased_pid()
        m.start()
        m.stop_event = a.qmp.wait_named('STOP', 60, since=m.src_mark)
        lease.at_stop()
        with pytest.raises(it.DBusCallError) as e:
            lease.finish()
        assert e.value.short.endswith(('.NoReply', '.Disconnected')), e.value
        assert it.wait_process_exit(pid, 10), 'vmleased of host 2 did not stop at the crash point'
        dst.qmp.wait_named('MIGRATION', 60, since=m.dst_mark, status='completed')
        time.sleep(0.2)
        assert dst.status() == 'paused', dst.status()
        assert not any(ev['event'] == 'RESUME' for ev in m.events(dst)), m.events(dst)
        sb.restart(2)
        it.wait_until(lambda: (tt.props_or_none(h2, u) or {}).get('State') == 'held', 30,
                      what='host 2 to complete the conversion after its restart')
        dst.qmp.cmd('cont')
        m.resume_event = dst.qmp.wait_named('RESUME', 30, since=m.dst_mark)
        # no T4: the source confirms with its own T3, and storage must show
        # host 2 holding the lease exclusively (its generation of prepare)
        assert tt.xfer(h1, u, 'confirm', lease.tokens['perform']) == ''
    story = migration_story(m, h1, h2, False)
    lease_on(sb, u, loc, h2, dst)
    guest_runs(dst, what=story)
    a.quit()
    h2.release(u)


def failed_migration(sb, qemus, hand_leases, name, break_it, qemu_status):
    """A migration 1 -> 2 prepared and started at 2 MiB/s (32 MiB of
    guest: it stays in pre-copy for seconds), which break_it(src, dst)
    makes fail before switchover; the source QEMU must say @qemu_status.
    Then the virt manager undoes the hand-off (destination first), and
    the source keeps the lease and its guest runs on, never stopped."""
    h1, h2 = sb.hosts
    u, loc = new_lease(sb, hand_leases, 'e2e-' + name)
    a = start_vm_with_lease(qemus, h1, u, name)
    dst = qemus(name + '-dst', incoming=True)
    lease = lease_steps.LeaseHandoff(h1, h2, u)
    m = vmlqemu.Migration(a, dst, os.path.join(qemus.dir, name + '.sock'), lease=lease,
                          max_bandwidth=2 << 20)
    with tt.Observer(sb, u, loc):
        m.setup()
        p = h2.lease_props(u)
        assert (p['State'], p['FencePid']) == ('migrating-in', dst.pid), p
        m.start()
        a.qmp.wait_named('MIGRATION', 30, since=m.src_mark, status='active')
        time.sleep(0.3)
        assert a.migration()['status'] == 'active'
        break_it(a, dst)
        a.qmp.wait_named('MIGRATION', 30, since=m.src_mark, status=qemu_status)
        lease.cancel()
    story = '%s, which failed before switchover: %s' % (
        name, migration_story(m, h1, h2, False))
    assert not any(e['event'] == 'STOP' for e in m.events(a)), (
        'the source stopped its guest: %r; %s' % (m.events(a), story))
    lease_on(sb, u, loc, h1, a)
    guest_runs(a, what=story)
    h1.release(u)
    return dst


def test_cancelled_before_switchover_source_keeps_the_lease(sb, qemus, hand_leases):
    dst = failed_migration(sb, qemus, hand_leases, 'cancel',
                           lambda src, dst: src.qmp.cmd('migrate_cancel'), 'cancelled')
    # the destination QEMU gives up its incoming migration by itself
    assert dst.proc.wait(30) != 0


def test_destination_qemu_dies_after_prepare(sb, qemus, hand_leases):
    def kill(src, dst):
        os.kill(dst.pid, signal.SIGKILL)
        assert dst.proc.wait(10) == -signal.SIGKILL
    failed_migration(sb, qemus, hand_leases, 'dies', kill, 'failed')


def test_seize_of_the_migrated_lease_kills_exactly_the_destination_qemu(
        sb, hosts, qemus, hand_leases):
    """After a migration 1 -> 2, host 1 seizes the lease (Acquire force):
    host 2 fences its VM, the destination QEMU, and nothing else: not the
    stopped source QEMU, not another VM of host 2 with a lease of its own,
    not the daemons."""
    h1, h2 = hosts
    u, loc = new_lease(sb, hand_leases, 'e2e-seize')
    other_u, other_loc = new_lease(sb, hand_leases, 'e2e-bystander')
    a = start_vm_with_lease(qemus, h1, u, 'seize')
    bystander = start_vm_with_lease(qemus, h2, other_u, 'bystander')
    b = migrate(sb, qemus, u, loc, h1, h2, a)
    daemons = [p['pid'] for p in sb.pids()['processes']]
    holder_other = h2.lease_props(other_u)['HolderPid']
    lost = h2.record(LEASE_IFACE, 'Lost', it.lease_path(u))
    t0 = time.monotonic()
    h1.acquire(u, {'force': it.b(True), 'wait': it.u32(60)}, timeout_ms=90000)
    print('seize took %.2f s' % (time.monotonic() - t0))
    assert b.proc.wait(10) == -signal.SIGKILL, 'destination QEMU: %r' % b.proc.returncode
    items = lost.wait(lambda it_: it_, timeout=10, what='Lost on host 2')
    lost.close()
    reason, details = items[0][1]
    assert reason == 'revoked' and details['fence_pid'] == b.pid and details['fenced'], (
        reason, details)
    p = h1.lease_props(u)
    assert (p['State'], p['Mode']) == ('held', 'exclusive'), p
    assert sb.storage.owners(u, loc['path'], loc['offset'])['exclusive'] == h1.id
    assert h2.lease_props(u)['State'] == 'lost'
    # everything else left alone
    guest_stopped(a)
    guest_runs(bystander)
    assert h2.lease_props(other_u)['HolderPid'] == holder_other
    lease_on(sb, other_u, other_loc, h2, bystander)
    assert all(it.process_alive(pid) for pid in daemons), sb.pids()
    h1.release(u)
    h2.release(other_u)

