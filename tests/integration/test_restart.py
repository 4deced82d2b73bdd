# SPDX-License-Identifier: LGPL-2.1-or-later
"""Restarts of vmleased (docs/decisions.md "Restart"):
killed with SIGKILL or stopped with SIGTERM while it holds leases, the
leases stay held (their holders keep them), and a restarted vmleased exports
them again as they were -- in every lease state, hand-offs included, which
then complete. Damaged records are logged and skipped; a holder that died
while vmleased was down is reported lost (and its VM fenced) at start; 200
held leases are re-adopted (the time it takes is printed, recorded as a junit
property, and written to the terminal so it shows in meson's test log).

Every test leaves every host's vmleased running (sb.ensure_running())."""

import contextlib
import ctypes
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gi.repository import GLib

from conftest import (BUILD_DIR, CALL_TIMEOUT_MS, LEASE_IFACE, SignalRecorder, b,
                      lease_path, new_uuid, proc_stat, process_alive, process_comm,
                      raises_dbus, s, u32, wait_process_exit, wait_until)


def test_sigkill_vmleased_keeps_lease_and_restart_recovers_it(sb, hosts, storage, leases):
    h1, h3 = hosts[0], hosts[2]
    u = leases()
    h3.create(u, options={'name': s('vm-restart')})
    h3.acquire(u)
    before = h3.inquire(u)
    holder = before['holder_pid']
    assert before['held_here'] is True and process_comm(holder) == 'vmlease-holder'
    h1.get_lease(u)
    old_pid = h3.vmleased_pid()

    sb.kill(3)
    assert not process_alive(old_pid), 'vmleased of host 3 survived SIGKILL'
    assert not h3.has_bus_name()

    # the holder kept the lease: sanlock of host 3 and storage say so
    assert process_alive(holder), 'the holder %d died with vmleased' % holder
    assert h3.sanlock_holders_of(u) == [holder], h3.sanlock_status()['text']
    own = storage.owners(u, before['path'], before['offset'])
    assert own['exclusive'] == 3 and own['lver'] == before['lver'], own
    assert 3 in storage.live_hosts(via=1)
    info = h1.inquire(u)
    assert info['owner'] == 3 and info['owners_live'] is True, info
    with raises_dbus('Busy'):
        h1.acquire(u)

    sb.restart(3)
    assert h3.vmleased_pid() != old_pid
    # the lease object is exported again at start, without a GetLease
    objs = wait_until(lambda: (lambda o: o if lease_path(u) in o else None)(h3.managed_objects()),
                      10, what='the lease object on host 3 after restart')
    p = objs[lease_path(u)][LEASE_IFACE]
    assert p['State'] == 'held' and p['HolderPid'] == holder, p
    assert p['Mode'] == 'exclusive' and p['Name'] == 'vm-restart', p
    info = h3.inquire(u)
    assert info['held_here'] is True and info['holder_pid'] == holder, info
    assert info['lver'] == before['lver'], (before, info)
    assert process_alive(holder)

    h3.release(u)
    assert wait_process_exit(holder, 5), 'holder %d still running after Release' % holder
    assert h3.sanlock_holders_of(u) == []
    assert storage.owners(u, before['path'], before['offset'])['exclusive'] == 0
    assert h3.inquire(u)['state'] == 'free'
    # and another host can take it now
    h1.acquire(u)
    assert h1.inquire(u)['owner'] == 1
    h1.release(u)


# --- Issue 6: restart in every lease state, graceful stop, damaged records,
# --- a holder that died while vmleased was down, many leases ------------------

VMLEASECTL = os.path.join(BUILD_DIR, 'cli', 'vmleasectl')

# The properties a restart must give back exactly as they were.
RESTORED_PROPS = ('State', 'Mode', 'HolderPid', 'Owner', 'Version', 'Fence',
                  'FencePid', 'TransferStep', 'Uuid', 'Name', 'Lockspace', 'Disks')


def xfer(h, u, step, token='', timeout_ms=CALL_TIMEOUT_MS, **options):
    """Transfer(step, token, options) on host h; returns the next token."""
    def variant(v):
        if isinstance(v, bool):
            return b(v)
        if isinstance(v, int):
            return u32(v)
        if isinstance(v, str):
            return s(v)
        return v
    o = {k: variant(v) for k, v in options.items()}
    if step == 'finish' and options.get('success', True):
        # finish answers before its conversion to exclusive is over
        # (State "converting"); the tests here look at what follows it
        t = h.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                       [step, token, o], reply='(s)', timeout_ms=timeout_ms)[0]
        wait_until(lambda: h.lease_props(u)['State'] != 'converting', 20,
                   what='the conversion after finish')
        return t
    return h.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                      [step, token, o], reply='(s)', timeout_ms=timeout_ms)[0]


def start_vm():
    """A VM stand-in process (ours, in its own session) to fence."""
    return subprocess.Popen(['sleep', '600'], stdin=subprocess.DEVNULL,
                            start_new_session=True)


def stop_vm(p):
    with contextlib.suppress(ProcessLookupError):
        p.kill()
    with contextlib.suppress(Exception):
        p.wait(5)


def record_dir(sb, k):
    return os.path.join(sb.dir, 'host%d' % k, 'state', 'leases')


def record_file(sb, k, u):
    return os.path.join(record_dir(sb, k), u + '.lease')


def read_record(sb, k, u):
    kf = GLib.KeyFile()
    kf.load_from_file(record_file(sb, k, u), GLib.KeyFileFlags.NONE)
    return kf


def pick(props):
    return {k: props[k] for k in RESTORED_PROPS if k in props}


def diff(before, after):
    keys = sorted(set(before) | set(after))
    return ', '.join('%s: %r -> %r' % (k, before.get(k), after.get(k))
                     for k in keys if before.get(k) != after.get(k))


def wait_props_restored(h, expected, problems=None, timeout=10):
    """Wait until host h has restored every lease in `expected` ({uuid:
    props}): exported with the State and HolderPid it had (adoption of the
    holder sets HolderPid); then compare every property. A difference is
    appended to `problems` (so that the test goes on and reports it at the
    end), or raised when `problems` is None."""
    last = {}

    def check():
        objs = h.managed_objects()
        for u in expected:
            got = objs.get(lease_path(u), {}).get(LEASE_IFACE)
            last[u] = pick(got) if got else None
        return all(last[u] is not None and
                   (last[u]['State'], last[u]['HolderPid']) == (want['State'], want['HolderPid'])
                   for u, want in expected.items())
    with contextlib.suppress(AssertionError):
        wait_until(check, timeout, interval=0.05)
    lines = []
    for u, want in expected.items():
        if last.get(u) is None:
            lines.append('%s: not exported' % u)
        elif last[u] != want:
            lines.append('%s (%s before): %s' % (u, want.get('State'), diff(want, last[u])))
    if lines:
        msg = ('after the restart, host %d exports leases differently (before -> after):\n  %s'
               % (h.id, '\n  '.join(lines)))
        if problems is None:
            raise AssertionError(msg)
        problems.append(msg)


def assert_no_problems(problems):
    assert not problems, '\n'.join(problems)


def lost_items(rec, uuids):
    paths = {lease_path(u) for u in uuids}
    SignalRecorder.pump(0)
    return [(p, a) for (p, a) in rec.items if p in paths]


def undo_handoffs(sb, uuids):
    """Cancel what a failed test left half done (destinations first)."""
    for u in uuids:
        for role in ('migrating-in', 'migrating-out'):
            for h in sb.hosts:
                with contextlib.suppress(Exception):
                    if h.lease_props(u)['State'] == role:
                        xfer(h, u, 'cancel', '', wait=5, timeout_ms=20000)


def test_sigkill_restart_in_every_lease_state_keeps_leases_and_handoffs(
        sb, hosts, storage, leases):
    """vmleased of hosts 1 and 2 SIGKILLed and restarted while host 1 holds
    one lease exclusively (with a VM to fence), one shared (host 3 shares it),
    and is the source of three hand-offs (after begin; after begin with the
    destination prepared; after a pre-copy perform), host 2 being the
    destination after prepare of two of them. Same objects and properties,
    nothing released on storage, no Lost; then the hand-offs complete."""
    h1, h2, h3 = hosts
    vm1, vm2 = start_vm(), start_vm()
    A, B, C, D, E = (leases() for _ in range(5))
    recs = {}
    try:
        for u, n in ((A, 'held'), (B, 'shared'), (C, 'begin'), (D, 'perform'),
                     (E, 'prepare')):
            h1.create(u, options={'name': s('vm-restart-' + n)})
        h1.acquire(A, {'pid': u32(vm1.pid), 'fence': s('kill')})
        h1.acquire(B, {'mode': s('shared')})
        h3.get_lease(B)
        h3.acquire(B, {'mode': s('shared')})
        for u in (C, D, E):
            h1.acquire(u)
            h2.get_lease(u)
        t1c = xfer(h1, C, 'begin')
        t1d = xfer(h1, D, 'begin')
        t2d = xfer(h2, D, 'prepare', t1d)
        t3d = xfer(h1, D, 'perform', t2d)
        t1e = xfer(h1, E, 'begin')
        t2e = xfer(h2, E, 'prepare', t1e, pid=vm2.pid, fence='pause')

        expect_state = {
            (1, A): ('held', 'exclusive', ''), (1, B): ('held-shared', 'shared', ''),
            (1, C): ('migrating-out', 'shared', 'begin'),
            (1, D): ('migrating-out', '', 'perform'),
            (1, E): ('migrating-out', 'shared', 'begin'),
            (2, D): ('migrating-in', 'shared', 'prepare'),
            (2, E): ('migrating-in', 'shared', 'prepare'),
        }
        # what each host exports, taken before any Inquire (which refreshes
        # Owner and Version from storage)
        before = {1: {}, 2: {}}
        for (k, u), (st, mode, step) in expect_state.items():
            p = pick(hosts[k - 1].lease_props(u))
            assert (p['State'], p['Mode'], p['TransferStep']) == (st, mode, step), (
                'host %d, lease %s: expected %s/%s/%s before the restart, got %r'
                % (k, u, st, mode, step, p))
            assert p['HolderPid'] and process_comm(p['HolderPid']) == 'vmlease-holder', p
            before[k][u] = p
        assert before[1][A]['FencePid'] == vm1.pid and before[1][A]['Fence'] == 'kill'
        assert before[2][E]['FencePid'] == vm2.pid and before[2][E]['Fence'] == 'pause'
        objects = {k: sorted(hosts[k - 1].managed_objects()) for k in (1, 2)}
        holders = {(k, u): p['HolderPid'] for k in before for u, p in before[k].items()}
        # sanlock's view: the holder holds it, except the source after perform
        sanlock_before = {(k, u): hosts[k - 1].sanlock_holders_of(u) for (k, u) in holders}
        for (k, u), pids in sanlock_before.items():
            want = [] if (k, u) == (1, D) else [holders[(k, u)]]
            assert pids == want, 'sanlock of host %d: holders of %s are %r, expected %r' % (
                k, u, pids, want)
        loc = {u: h1.inquire(u) for u in (A, B, C, D, E)}
        stor_before = {u: storage.owners(u, loc[u]['path'], loc[u]['offset'])
                       for u in (A, B, C, D, E)}
        want_owners = {A: (1, []), B: (0, [1, 3]), C: (0, [1]), D: (0, [2]), E: (0, [1, 2])}
        for u, (ex, sh) in want_owners.items():
            o = stor_before[u]
            assert (o['exclusive'], o['shared']) == (ex, sh), (
                'storage before the restart, lease %s: %r, expected EX %d SH %r'
                % (u, o, ex, sh))
        # the records are where the docs say
        for k in (1, 2):
            for u in before[k]:
                assert os.path.isfile(record_file(sb, k, u)), record_file(sb, k, u)

        for k in (1, 2, 3):
            recs[k] = hosts[k - 1].record(LEASE_IFACE, 'Lost')
        old = {k: hosts[k - 1].vmleased_pid() for k in (1, 2)}
        sb.kill(1)
        sb.kill(2)
        for k in (1, 2):
            assert not process_alive(old[k]), 'vmleased of host %d survived SIGKILL' % k
        # while vmleased is down: every holder and every lease stays
        for (k, u), pid in holders.items():
            assert process_alive(pid), 'holder %d of %s on host %d died with vmleased' % (
                pid, u, k)
            assert hosts[k - 1].sanlock_holders_of(u) == sanlock_before[(k, u)]
        for u in want_owners:
            o = storage.owners(u, loc[u]['path'], loc[u]['offset'])
            assert o == stor_before[u], 'storage changed while vmleased was down: %s: %r -> %r' % (
                u, stor_before[u], o)

        problems = []
        t0 = time.monotonic()
        sb.restart(1)
        wait_props_restored(h1, before[1], problems)
        sb.restart(2)
        wait_props_restored(h2, before[2], problems)
        took = time.monotonic() - t0
        for k in (1, 2):
            assert sorted(hosts[k - 1].managed_objects()) == objects[k], (
                'host %d exports other objects after the restart' % k)
            assert hosts[k - 1].vmleased_pid() != old[k]
        for (k, u), pid in holders.items():
            assert process_alive(pid), 'holder %d of %s on host %d is gone' % (pid, u, k)
            assert hosts[k - 1].sanlock_holders_of(u) == sanlock_before[(k, u)], (
                'sanlock of host %d after the restart: %s held by %r, before by %r'
                % (k, u, hosts[k - 1].sanlock_holders_of(u), sanlock_before[(k, u)]))
        for u in want_owners:
            o = storage.owners(u, loc[u]['path'], loc[u]['offset'])
            assert o == stor_before[u], 'storage after the restart: %s: %r -> %r' % (
                u, stor_before[u], o)
        SignalRecorder.pump(0.3)
        for k, r in recs.items():
            assert not lost_items(r, (A, B, C, D, E)), (
                'Lost emitted on host %d across the restart: %r' % (k, r.items))
        # a fresh look agrees
        for (k, u) in expect_state:
            info = hosts[k - 1].inquire(u)
            held = (k, u) != (1, D)
            assert info['held_here'] is held, 'host %d, %s: %r' % (k, u, info)
            if u in (C, D, E):
                tr = info.get('transfer')
                assert tr and tr['role'] == ('source' if k == 1 else 'destination') and \
                    tr['step'] == expect_state[(k, u)][2], 'host %d, %s: %r' % (k, u, info)
        print('hosts 1 and 2 restarted and re-exported 7 leases in %.2f s' % took)

        # the hand-offs resume where they were and complete
        t4d = xfer(h2, D, 'finish', t3d)
        assert xfer(h1, D, 'confirm', t4d) == ''
        t3e = xfer(h1, E, 'perform', t2e)
        t4e = xfer(h2, E, 'finish', t3e)
        assert xfer(h1, E, 'confirm', t4e) == ''
        t2c = xfer(h2, C, 'prepare', t1c)
        t3c = xfer(h1, C, 'perform', t2c)
        t4c = xfer(h2, C, 'finish', t3c)
        assert xfer(h1, C, 'confirm', t4c) == ''
        for u in (C, D, E):
            o = storage.owners(u, loc[u]['path'], loc[u]['offset'])
            assert o['exclusive'] == 2 and o['shared'] == [], (
                'after the hand-off of %s, storage says %r' % (u, o))
            p2, p1 = h2.lease_props(u), h1.lease_props(u)
            assert (p2['State'], p2['Mode'], p2['TransferStep']) == ('held', 'exclusive', ''), p2
            assert (p1['State'], p1['TransferStep']) == ('free', ''), p1
            assert h1.sanlock_holders_of(u) == []
            assert h2.sanlock_holders_of(u) == [p2['HolderPid']]
        assert h2.lease_props(E)['FencePid'] == vm2.pid
        # and the others are still as they were
        assert h1.inquire(A)['held_here'] is True and h1.inquire(B)['held_here'] is True
        assert vm1.poll() is None and vm2.poll() is None, 'a VM stand-in was fenced'
        for r in recs.values():
            assert not lost_items(r, (A, B, C, D, E)), r.items
        assert_no_problems(problems)
    finally:
        for r in recs.values():
            r.close()
        sb.ensure_running()
        undo_handoffs(sb, (C, D, E))
        stop_vm(vm1)
        stop_vm(vm2)


PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on):
    libc = ctypes.CDLL(None, use_errno=True)
    rc = libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)
    assert rc == 0, 'prctl(PR_SET_CHILD_SUBREAPER) failed: %s' % os.strerror(ctypes.get_errno())


def wait_child(pid, timeout):
    """waitpid() for our child pid with a timeout: its wait status, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return status
        time.sleep(0.02)
    return None


def vmleasectl(h, *args):
    r = subprocess.run([VMLEASECTL, '--json', '--address', h.address] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_sigterm_stops_vmleased_without_releasing_leases(sb, hosts, storage, leases):
    """SIGTERM to vmleased: it exits 0 and every lease stays held by its
    holder; after a restart `vmleasectl status` shows the same leases."""
    h2, h3 = hosts[1], hosts[2]
    vm = start_vm()
    X, Y = leases(), leases()
    pid = None
    recs = []
    try:
        # Start host 2's vmleased as our own child (the sandbox tool that
        # spawns it exits, and we are the subreaper meanwhile), so that we
        # can collect its exit status.
        set_subreaper(True)
        try:
            sb.restart(2)
        finally:
            set_subreaper(False)
        pid = h2.vmleased_pid()
        st = proc_stat(pid)
        assert st and st[1] == os.getpid() and st[2] == 'vmleased', (
            'could not make vmleased (pid %s, %r) a child of the test' % (pid, st))

        h2.create(X, options={'name': s('vm-sigterm')})
        h2.create(Y)
        h2.acquire(X, {'pid': u32(vm.pid), 'fence': s('kill')})
        h2.acquire(Y, {'mode': s('shared')})
        h3.get_lease(Y)
        h3.acquire(Y, {'mode': s('shared')})
        before = {u: pick(h2.lease_props(u)) for u in (X, Y)}
        assert before[X]['State'] == 'held' and before[Y]['State'] == 'held-shared', before
        holders = {u: before[u]['HolderPid'] for u in (X, Y)}
        loc = {u: h2.inquire(u) for u in (X, Y)}
        stor = {u: storage.owners(u, loc[u]['path'], loc[u]['offset']) for u in (X, Y)}
        assert stor[X]['exclusive'] == 2 and stor[Y]['shared'] == [2, 3], stor
        recs = [h.record(LEASE_IFACE, 'Lost') for h in (h2, h3)]
        log_at = h2.log_size()

        os.kill(pid, signal.SIGTERM)
        status = wait_child(pid, 15)
        assert status is not None, 'vmleased (pid %d) did not exit within 15 s of SIGTERM' % pid
        pid = None
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (
            'vmleased exited with wait status %#x after SIGTERM (expected exit 0)' % status)
        assert not h2.has_bus_name()
        stop_log = h2.log_since(log_at)
        for u in (X, Y):
            assert process_alive(holders[u]), 'holder %d of %s ended with vmleased' % (
                holders[u], u)
            assert h2.sanlock_holders_of(u) == [holders[u]], h2.sanlock_status()['text']
            o = storage.owners(u, loc[u]['path'], loc[u]['offset'])
            assert o == stor[u], 'storage of %s changed by the stop: %r -> %r' % (u, stor[u], o)
            assert not re.search(re.escape(u) + r'.*[Rr]eleas', stop_log), stop_log
        assert vm.poll() is None, 'the VM process was killed by the stop'

        sb.restart(2)
        problems = []
        wait_props_restored(h2, before, problems)
        rc, out, err = vmleasectl(h2, 'status')
        assert rc == 0, 'vmleasectl status exited %d: %s%s' % (rc, out, err)
        shown = {l['uuid']: l for l in json.loads(out)['leases']}
        for u, want_state, want_mode in ((X, 'held', 'exclusive'), (Y, 'held-shared', 'shared')):
            assert u in shown, 'vmleasectl status does not list %s: %s' % (u, out)
            l = shown[u]
            assert (l['state'], l['mode'], l['holder_pid']) == (
                want_state, want_mode, holders[u]), l
            assert h2.inquire(u)['held_here'] is True
        assert shown[X]['fence_pid'] == vm.pid and shown[X]['fence'] == 'kill', shown[X]
        SignalRecorder.pump(0.3)
        for r in recs:
            assert not lost_items(r, (X, Y)), 'Lost emitted: %r' % r.items
        assert vm.poll() is None
        assert_no_problems(problems)
    finally:
        for r in recs:
            r.close()
        if pid is not None:     # still our child: collect it whenever it ends
            with contextlib.suppress(Exception):
                if wait_child(pid, 0) is None and not process_alive(pid):
                    os.waitpid(pid, 0)
        sb.ensure_running()
        stop_vm(vm)


def damaged_log_lines(log, path):
    """The log lines that name the record file (its path, or its name)."""
    name = os.path.basename(path)
    return [l for l in log.splitlines() if path in l or name in l]


def test_damaged_records_are_logged_and_skipped(sb, hosts, storage, leases):
    """Truncated, garbled and future-format lease records in host 3's state
    directory: after a restart each is named in a log message, vmleased
    runs, and the lease it holds is unaffected."""
    h3 = hosts[2]
    L = leases()
    bad = {}
    try:
        h3.create(L, options={'name': s('vm-records')})
        h3.acquire(L)
        good = record_file(sb, 3, L)
        assert os.path.isfile(good), 'no record at %s: %r' % (good, os.listdir(record_dir(sb, 3)))
        with open(good) as f:
            text = f.read()
        assert re.search(r'^\[record\]\s*^format=1$', text, re.M), text
        assert L in text

        def place(what, make):
            u = new_uuid()
            path = record_file(sb, 3, u)
            data = make(u)
            with open(path, 'wb') as f:
                f.write(data if isinstance(data, bytes) else data.encode())
            bad[what] = (u, path)

        # a copy of the good record cut in the middle of a line
        place('truncated', lambda u: text.replace(L, u)[:len(text) // 2])
        place('empty', lambda u: b'')
        place('garbled', lambda u: bytes(random.Random(6).randrange(256)
                                         for _ in range(400)) + b'\xff\xfe')
        place('garbled-text', lambda u: '[lease]\nuuid=not a uuid\nstate=\x01\x02???\n'
                                        'offset=minus one\n[record]\nformat=1\n')
        # a record that parses, in a known lockspace, with a nonsense state
        garbled_state = re.sub(r'^state=.*$', 'state=h\u00e9ld?!', text, flags=re.M)
        assert garbled_state != text
        place('garbled-values', lambda u: garbled_state.replace(L, u))
        future = re.sub(r'^format=1$', 'format=2', text, flags=re.M)
        assert future != text
        place('future', lambda u: future.replace(L, u))

        before = pick(h3.lease_props(L))
        holder = before['HolderPid']
        loc = h3.inquire(L)
        log_at = h3.log_size()
        sb.kill(3)
        sb.restart(3)
        assert h3.has_bus_name(), 'vmleased of host 3 is not running'
        wait_props_restored(h3, {L: before})
        log = h3.log_since(log_at)
        objs = h3.managed_objects()
        for what, (u, path) in bad.items():
            assert lease_path(u) not in objs, 'the %s record %s was exported: %r' % (
                what, path, objs[lease_path(u)])
        info = h3.inquire(L)
        assert info['held_here'] is True and info['holder_pid'] == holder, info
        assert process_alive(holder)
        assert h3.sanlock_holders_of(L) == [holder]
        o = storage.owners(L, loc['path'], loc['offset'])
        assert o['exclusive'] == 3 and o['lver'] == loc['lver'], o
        # each damaged file is named (path or file name) in the log
        missing = [what for what, (u, path) in bad.items() if not damaged_log_lines(log, path)]
        assert not missing, ('no log message names the %s record file(s) %s; the log since '
                             'the restart:\n%s' % (', '.join(missing),
                                                   [bad[m][1] for m in missing], log))
        # and the lease still works
        h3.release(L)
        assert wait_process_exit(holder, 5)
    finally:
        for u, path in bad.values():
            with contextlib.suppress(OSError):
                os.unlink(path)
        sb.ensure_running()


def test_record_naming_another_leases_holder_leaves_that_lease_alone(
        sb, hosts, storage, leases):
    """A damaged record that is a copy of a held lease's record under another
    uuid (same holder pid and start time, same VM pid): the restart must not
    stop that holder, nor fence that VM, nor report the held lease lost."""
    h3 = hosts[2]
    vm = start_vm()
    L = leases()
    copy_path = None
    rec = None
    try:
        h3.create(L, options={'name': s('vm-copied')})
        h3.acquire(L, {'pid': u32(vm.pid), 'fence': s('kill')})
        before = pick(h3.lease_props(L))
        holder = before['HolderPid']
        loc = h3.inquire(L)
        with open(record_file(sb, 3, L)) as f:
            text = f.read()
        U = new_uuid()
        copy_path = record_file(sb, 3, U)
        with open(copy_path, 'w') as f:
            f.write(text.replace(L, U))
        rec = h3.record(LEASE_IFACE, 'Lost')
        log_at = h3.log_size()
        sb.kill(3)
        sb.restart(3)
        SignalRecorder.pump(1.0)
        problems = []
        if not process_alive(holder):
            problems.append('the restart ended holder %d of the held lease %s (the record %s '
                            'named that holder)' % (holder, L, copy_path))
        if vm.poll() is not None:
            problems.append('the VM process %d of the held lease %s was killed (exit %r)'
                            % (vm.pid, L, vm.returncode))
        lost = lost_items(rec, (L,))
        if lost:
            problems.append('Lost emitted for the held lease: %r (all Lost signals: %r)'
                            % (lost, rec.items))
        pu = h3.managed_objects().get(lease_path(U), {}).get(LEASE_IFACE)
        if pu and pu['HolderPid'] == holder:
            problems.append('the copied record %s was adopted with the holder of %s: %r'
                            % (U, L, pick(pu)))
        if h3.sanlock_holders_of(L) != [holder]:
            problems.append('sanlock of host 3 no longer has %s held by %d: %r'
                            % (L, holder, h3.sanlock_holders_of(L)))
        o = storage.owners(L, loc['path'], loc['offset'])
        if o['exclusive'] != 3 or o['lver'] != loc['lver']:
            problems.append('storage no longer says host 3 holds %s (lver %d): %r'
                            % (L, loc['lver'], o))
        wait_props_restored(h3, {L: before}, problems, timeout=3)
        if problems:
            problems.append('host 3 log since the restart:\n' + h3.log_since(log_at))
        assert_no_problems(problems)
    finally:
        if rec:
            rec.close()
        if copy_path:
            with contextlib.suppress(OSError):
                os.unlink(copy_path)
        sb.ensure_running()
        stop_vm(vm)


def start_time(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


def _spoil_record(sb, k, u, how, other_pid):
    path = record_file(sb, k, u)
    if how == 'no-record':
        os.unlink(path)
        return
    with open(path) as f:
        text = f.read()
    if how == 'future-format':
        spoiled = re.sub(r'^format=1$', 'format=2', text, flags=re.M)
    elif how == 'says-free':
        spoiled = re.sub(r'^state=.*$', 'state=free', text, flags=re.M)
    else:   # the holder pid names a live process that is not a vmlease-holder
        spoiled = re.sub(r'^holder_pid=.*$', 'holder_pid=%d' % other_pid, text, flags=re.M)
        spoiled = re.sub(r'^holder_start=.*$', 'holder_start=%d' % start_time(other_pid),
                         spoiled, flags=re.M)
    assert spoiled != text, (how, text)
    with open(path, 'w') as f:
        f.write(spoiled)


@pytest.mark.parametrize('how', ['future-format', 'no-record', 'says-free',
                                 'holder-pid-not-a-holder'])
def test_lease_held_without_a_usable_record_is_adopted_from_sanlock(
        sb, hosts, storage, leases, how):
    """At start sanlock's view is the truth: a lease a vmlease-holder holds
    is adopted though its record is unreadable, gone, says free, or names a
    live process that is no holder. Never stranded (held in sanlock, with
    an object saying free, Release NotHeld, Acquire -EEXIST); never fenced
    for a record."""
    h3 = hosts[2]
    vm = start_vm()
    L = leases()
    rec = None
    try:
        h3.create(L, options={'name': s('vm-unrecorded')})
        h3.acquire(L, {'pid': u32(vm.pid), 'fence': s('kill')})
        holder = h3.lease_props(L)['HolderPid']
        loc = h3.inquire(L)
        sb.kill(3)
        _spoil_record(sb, 3, L, how, vm.pid)
        rec = h3.record(LEASE_IFACE, 'Lost')
        sb.restart(3)
        wait_until(lambda: lease_path(L) in h3.managed_objects(), 10,
                   what='the held lease to be exported again')
        wait_until(lambda: h3.lease_props(L)['State'] == 'held', 10,
                   what='the held lease to be adopted')
        p = h3.lease_props(L)
        assert p['HolderPid'] == holder, p
        assert process_alive(holder) and vm.poll() is None, 'a holder or VM was stopped'
        assert lost_items(rec, (L,)) == [], rec.items
        assert h3.sanlock_holders_of(L) == [holder]
        # a fresh, usable record
        assert read_record(sb, 3, L).get_string('lease', 'state') == 'held'
        # and the lease works as any held one: released, then deleted
        h3.release(L)
        assert wait_process_exit(holder, 5)
        assert h3.sanlock_holders_of(L) == []
        o = storage.owners(L, loc['path'], loc['offset'])
        assert o['exclusive'] == 0, o
        assert vm.poll() is None, 'Release fenced the VM'
    finally:
        if rec:
            rec.close()
        sb.ensure_running()
        stop_vm(vm)


def test_holder_killed_while_vmleased_down_is_reported_lost_and_fenced(
        sb, hosts, storage, leases):
    """Host 2's vmleased is down when a holder is SIGKILLed: at start it
    emits Lost("holder-exited") for that lease, kills its VM process (fence
    kill), records the lease as lost without a holder, and a second restart
    does not report it again."""
    h2 = hosts[1]
    vm = start_vm()
    V, W = leases(), leases()
    rec = None
    try:
        h2.create(V, options={'name': s('vm-holder-killed')})
        h2.create(W)
        h2.acquire(V, {'pid': u32(vm.pid), 'fence': s('kill')})
        h2.acquire(W)
        holder = h2.lease_props(V)['HolderPid']
        other = pick(h2.lease_props(W))
        loc = h2.inquire(V)
        assert process_comm(holder) == 'vmlease-holder'
        # subscribed before the restart: the signal comes right after start
        rec = h2.record(LEASE_IFACE, 'Lost')

        sb.kill(2)
        os.kill(holder, signal.SIGKILL)
        assert wait_process_exit(holder, 5), 'holder %d survived SIGKILL' % holder
        wait_until(lambda: h2.sanlock_holders_of(V) == [], 10,
                   what='sanlock of host 2 to drop the killed holder')
        assert storage.owners(V, loc['path'], loc['offset'])['exclusive'] == 0
        assert vm.poll() is None, 'the VM was fenced before vmleased ran again'

        sb.restart(2)
        got = rec.wait(lambda items: [a for (p, a) in items if p == lease_path(V)], 10,
                       what='Lost for %s on host 2 after the restart' % V)
        assert len(got) == 1, got
        reason, details = got[0]
        assert reason == 'holder-exited', got
        assert details.get('holder_pid') == holder and details.get('fence_pid') == vm.pid, details
        assert details.get('fence') == 'kill' and details.get('fenced') is True, details
        assert vm.wait(5) == -signal.SIGKILL, 'the VM process was not killed'
        p = h2.lease_props(V)
        assert p['State'] == 'lost' and p['HolderPid'] == 0 and p['Mode'] == '', p
        kf = read_record(sb, 2, V)
        assert kf.get_string('lease', 'state') == 'lost', open(record_file(sb, 2, V)).read()
        assert kf.get_uint64('lease', 'holder_pid') == 0, open(record_file(sb, 2, V)).read()
        # the other lease was adopted
        wait_props_restored(h2, {W: other})
        assert not lost_items(rec, (W,)), rec.items

        # once cleaned, a restart says nothing more about it
        n = len(rec.items)
        sb.restart(2)
        SignalRecorder.pump(0.5)
        assert len(rec.items) == n, 'Lost emitted again: %r' % rec.items[n:]
        assert h2.lease_props(V)['State'] == 'lost'
        wait_props_restored(h2, {W: other})
        # and the lease can be taken again
        h2.acquire(V)
        assert h2.inquire(V)['held_here'] is True
    finally:
        if rec:
            rec.close()
        sb.ensure_running()
        stop_vm(vm)


N_MANY = 200
THREADS = 8


def test_restart_with_200_leases_held(sb, hosts, storage, capsys, record_property):
    """200 leases held on host 1; vmleased restarted: all 200 are exported
    again as held by their holders. Prints how long the restart took."""
    h1 = hosts[0]
    uuids = [new_uuid() for _ in range(N_MANY)]
    local = threading.local()

    def conn():
        if getattr(local, 'c', None) is None:
            local.c = h1.connect()
        return local.c

    def run_all(fn):
        errors = []

        def one(u):
            try:
                fn(u)
            except Exception as e:      # noqa: BLE001 -- collected
                errors.append((u, e))
        with ThreadPoolExecutor(THREADS) as ex:
            list(ex.map(one, uuids))
        return errors

    created = set()
    try:
        t = time.monotonic()

        def create(u):
            h1.create(u, conn=conn())
            created.add(u)
        errors = run_all(create)
        assert not errors, '%d CreateLease failed, first: %r' % (len(errors), errors[0])
        t_create = time.monotonic() - t
        t = time.monotonic()
        errors = run_all(lambda u: h1.acquire(u, conn=conn()))
        assert not errors, '%d Acquire failed, first: %r' % (len(errors), errors[0])
        t_acquire = time.monotonic() - t

        objs = h1.managed_objects()
        holders = {u: objs[lease_path(u)][LEASE_IFACE]['HolderPid'] for u in uuids}
        assert all(holders.values()) and len(set(holders.values())) == N_MANY, \
            'holder pids are not 200 distinct processes'

        rec = h1.record(LEASE_IFACE, 'Lost')
        try:
            t0 = time.monotonic()
            sb.restart(1)
            t_name = time.monotonic() - t0

            def all_held():
                o = h1.managed_objects()
                return all(
                    lease_path(u) in o
                    and o[lease_path(u)][LEASE_IFACE]['State'] == 'held'
                    and o[lease_path(u)][LEASE_IFACE]['HolderPid'] == holders[u]
                    for u in uuids)
            wait_until(all_held, 30, interval=0.02,
                       what='all %d leases re-exported as held on host 1' % N_MANY)
            took = time.monotonic() - t0
            SignalRecorder.pump(0.2)
            assert not lost_items(rec, uuids), 'Lost emitted: %r' % rec.items[:5]
        finally:
            rec.close()
        held = {}
        for res, pid, _ in h1.sanlock_status()['resources']:
            name = res.split(':')[1] if ':' in res else ''
            held.setdefault(name, set()).add(pid)
        wrong = [u for u in uuids if held.get(u) != {holders[u]}]
        assert not wrong, '%d leases not held by their holders in sanlock, e.g. %s: %r' % (
            len(wrong), wrong[0], held.get(wrong[0]))

        msg = ('vmleased restart with %d leases held: %.2f s from `vmlease-sandbox restart` '
               'to all %d reported held (%.2f s to own its bus name); setup: %d CreateLease '
               'in %.2f s, %d Acquire in %.2f s (%d threads)'
               % (N_MANY, took, N_MANY, t_name, N_MANY, t_create, N_MANY, t_acquire, THREADS))
        print(msg)
        record_property('restart_200_leases_seconds', '%.3f' % took)
        with capsys.disabled():
            sys.stdout.write('\n' + msg + '\n')
            sys.stdout.flush()
    finally:
        sb.ensure_running()
        run_all(lambda u: h1.release(u, conn=conn()) if u in created else None)
        errors = run_all(lambda u: h1.delete(u, conn=conn()) if u in created else None)
        if errors:
            # one more, sequential try for what failed (e.g. still held)
            for u, _ in errors:
                with contextlib.suppress(Exception):
                    h1.release(u)
                with contextlib.suppress(Exception):
                    h1.delete(u)
        if sys.exc_info()[0] is None:
            objs = h1.managed_objects()
            left = [u for u in created if lease_path(u) in objs]
            assert not left, '%d of the %d leases could not be deleted, e.g. %s' % (
                len(left), N_MANY, left[:3])
