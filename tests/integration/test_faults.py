# SPDX-License-Identifier: LGPL-2.1-or-later
"""The lease invariant under faults (issue 11): a holder that exits at the
wrong moment, a forged hand-off token, bad fence pids. Real sanlock daemons,
stopped (SIGSTOP) and resumed where a test needs a window to open.

What must hold after each: vmleased is alive; State says held if and only
if a live holder holds the lease in sanlock; a holder lost on the way ends
in the fence, Lost and a free state; a source never lets go unless a live
destination holds the lease shared."""

import base64
import contextlib
import hashlib
import os
import re
import signal
import subprocess

import pytest

from conftest import (LEASE_IFACE, ERROR_PREFIX, DBusCallError, lease_path,
                      process_alive, raises_dbus, s, u32, wait_process_exit,
                      wait_until)
from gi.repository import Gio, GLib
from test_transfer import owners, xfer

TOKEN_PREFIX = 'vml1.'
TOKEN_VERSION = 1
TOKEN_CHECKSUM_SIZE = 16
KIND_BEGUN = 1
KIND_PREPARED = 2


def _vm():
    """A stand-in for a VM process, to be fenced."""
    return subprocess.Popen(['sleep', '600'])


@contextlib.contextmanager
def stand_in_vm():
    vm = _vm()
    try:
        yield vm
    finally:
        if vm.poll() is None:
            vm.kill()
        vm.wait()


def sanlock_pid(sb, k):
    for p in sb.pids()['processes']:
        if p['host'] == k and p['role'] == 'sanlock':
            return p['pid']
    raise AssertionError('no sanlock daemon recorded for host %d' % k)


@contextlib.contextmanager
def sanlock_stopped(sb, k):
    """Host k's sanlock daemon SIGSTOPped for the block (resumed whatever
    happens)."""
    pid = sanlock_pid(sb, k)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


class Pipelined:
    """Calls sent one after another on one connection without waiting for
    their replies; results() pumps the main context until all answered."""

    def __init__(self, host):
        self.conn = host.connect()
        self.replies = []

    def call(self, path, method, sig, args, timeout_ms=60000):
        slot = {}
        self.replies.append(slot)

        def done(conn, res, _data):
            try:
                slot['value'] = conn.call_finish(res).unpack()
            except GLib.Error as e:
                slot['error'] = Gio.DBusError.get_remote_error(e) or str(e)
                slot['message'] = e.message
        self.conn.call('org.example.VMLease', path, LEASE_IFACE, method,
                       GLib.Variant('(%s)' % sig, tuple(args)), None,
                       Gio.DBusCallFlags.NONE, timeout_ms, None, done, None)

    def results(self, timeout=60):
        ctx = GLib.MainContext.default()
        wait_until(lambda: (ctx.iteration(False), all(self.replies))[1], timeout,
                   interval=0.01, what='the pipelined calls to be answered')
        return self.replies


def assert_state_agrees_with_sanlock(h, u):
    """State held/migrating <=> a live holder holds u in h's sanlock."""
    p = h.lease_props(u)
    holders = h.sanlock_holders_of(u)
    if p['State'] in ('held', 'held-shared', 'migrating-out', 'migrating-in'):
        assert p['HolderPid'] != 0 and process_alive(p['HolderPid']), p
        assert holders == [p['HolderPid']], (p, h.sanlock_status()['text'])
    else:
        assert holders == [], (p, h.sanlock_status()['text'])
        assert p['HolderPid'] == 0, p
    return p


# --- a holder that exits while operations are queued or running ---------------

def test_holder_killed_while_transfer_steps_are_queued(sb, hosts, leases):
    """The crash of issue 11 (3): begin runs (its sanlock call held up by a
    stopped daemon), two more wait in the queue, the holder dies. The loss
    is reported at once; no step runs on a holder that is gone."""
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    with stand_in_vm() as vm:
        h1.acquire(u, {'pid': u32(vm.pid)})
        holder = h1.lease_props(u)['HolderPid']
        lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
        calls = Pipelined(h1)
        with sanlock_stopped(sb, 1):
            for _ in range(3):
                calls.call(lease_path(u), 'Transfer', 'ssa{sv}', ['begin', '', {}])
            lost.pump(0.3)
            os.kill(holder, signal.SIGKILL)
            assert wait_process_exit(holder, 5)
            # vmleased's main loop is not held up by the daemon: the loss
            # is out before sanlock is back
            items = lost.wait(lambda it: it, timeout=10, what='Lost on host 1')
            assert vm.wait(timeout=5) == -signal.SIGKILL
            p = h1.lease_props(u)
            assert (p['State'], p['HolderPid'], p['TransferStep']) == ('lost', 0, ''), p
        replies = calls.results()
        assert items[0][1][0] == 'holder-exited', items
        assert h1.vmleased_pid() and process_alive(h1.vmleased_pid())
        for r in replies:
            assert 'error' in r, 'a Transfer begin succeeded after the holder died: %r' % r
            assert r['error'] in (ERROR_PREFIX + 'NotHeld', ERROR_PREFIX + 'WrongStep'), r
        assert_state_agrees_with_sanlock(h1, u)
        lost.close()
    # the lease can be taken again at once
    h1.acquire(u)
    assert_state_agrees_with_sanlock(h1, u)
    h1.release(u)


def test_holder_killed_while_acquire_completes_never_leaves_a_stale_held(sb, hosts, leases):
    """A holder that dies around the moment its acquire completes (here:
    while the daemon is stopped, so its exit and the acquire's answer
    arrive together) ends either in a failed Acquire and a free lease, or
    in held followed at once by Lost: never in held without a holder."""
    h1 = hosts[0]
    for attempt in range(4):
        u = leases()
        h1.create(u)
        spares = spare_holders(h1)
        assert spares, 'host 1 keeps no spare holder'
        lost = h1.record(LEASE_IFACE, 'Lost', lease_path(u))
        with stand_in_vm() as vm:
            calls = Pipelined(h1)
            with sanlock_stopped(sb, 1):
                calls.call(lease_path(u), 'Acquire', 'a{sv}', [{'pid': GLib.Variant('u', vm.pid)}])
                lost.pump(0.2 + 0.1 * attempt)
                for pid in spares:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            (reply,) = calls.results()
            lost.pump(0.5)
            p = h1.lease_props(u)
            if 'error' in reply:
                assert p['State'] in ('free', 'lost'), (reply, p)
            else:
                # acquired by a holder that was dead by then: lost at once
                lost.wait(lambda it: it, timeout=10, what='Lost after the acquire')
                assert vm.wait(timeout=5) == -signal.SIGKILL
                assert h1.lease_props(u)['State'] == 'lost'
            assert_state_agrees_with_sanlock(h1, u)
        lost.close()


def spare_holders(h):
    """vmleased's children that are holders but hold no lease: the spares."""
    vmleased = h.vmleased_pid()
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        ppid = int(stat[stat.rindex(')') + 2:].split()[1])
        if ppid == vmleased and comm == 'vmlease-holder':
            pids.append(int(d))
    clients = h.sanlock_status()['clients']
    return [p for p in pids if not clients.get(p)]


# --- fence pids ------------------------------------------------------------------

@pytest.mark.parametrize('pid', [4294967295, 2147483648, 4194305, 0x7fffffff])
def test_fence_pid_out_of_range_is_refused(hosts, leases, pid):
    h1, h2 = hosts[0], hosts[1]
    u = leases()
    h1.create(u)
    with raises_dbus('InvalidArgument') as e:
        h1.acquire(u, {'pid': u32(pid)})
    assert str(pid) in e.value.message
    assert h1.lease_props(u)['State'] == 'free'


def test_prepare_checks_its_fence_pid_as_acquire_does(sb, hosts, leases):
    h1, h2, _ = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    h1.acquire(u)
    t1 = xfer(h1, u, 'begin')
    try:
        with raises_dbus('InvalidArgument'):
            xfer(h2, u, 'prepare', t1, pid=4294967295)
        with raises_dbus('InvalidArgument'):
            xfer(h2, u, 'prepare', t1, fence='kill')          # kill whom?
        dead = _vm()
        dead.kill()
        dead.wait()
        with raises_dbus('InvalidArgument'):
            xfer(h2, u, 'prepare', t1, pid=dead.pid)
        assert h2.lease_props(u)['State'] == 'free'
    finally:
        xfer(h1, u, 'cancel')
    assert h1.lease_props(u)['State'] == 'held'
    h1.release(u)


# --- perform believes nothing the destination's token claims -----------------------

def _token_body(token):
    raw = base64.b64decode(token[len(TOKEN_PREFIX):])
    return raw[:-TOKEN_CHECKSUM_SIZE]


def _decoded(token):
    v = GLib.Variant.new_from_bytes(GLib.VariantType.new('(yya{sv}ayay)'),
                                    GLib.Bytes.new(_token_body(token)), False)
    return v.unpack()


def forged_token(kind, claims, inner=b''):
    """A token with these claims and a made-up MAC, checksummed as vmleased
    does: what a caller without the issuing host's key can build."""
    types = {k: ('s' if isinstance(v, str) else 'b' if isinstance(v, bool) else 't')
             for k, v in claims.items()}
    dict_v = GLib.Variant('a{sv}', {k: GLib.Variant(types[k], v) for k, v in claims.items()})
    v = GLib.Variant.new_tuple(GLib.Variant.new_byte(TOKEN_VERSION), GLib.Variant.new_byte(kind),
                               dict_v, GLib.Variant('ay', inner),
                               GLib.Variant('ay', b'\x01' * 32))
    body = v.get_normal_form().get_data_as_bytes().get_data()
    raw = body + hashlib.sha256(body).digest()[:TOKEN_CHECKSUM_SIZE]
    return TOKEN_PREFIX + base64.b64encode(raw).decode()


def forged_prepared(t1, dest, dest_gen):
    """A prepare token such as a caller without host 2's key could build:
    the real begin token inside, any destination claims, a made-up MAC."""
    fields = dict(_decoded(t1)[2])
    fields.update(dest=dest, dest_gen=dest_gen)
    return forged_token(KIND_PREPARED, fields, _token_body(t1))


def host_generation(h, k):
    """Host k's generation in the lockspace, as host h's sanlock sees it."""
    rc, out = h.sanlock_client('host_status', '-s', 'sandbox', '-D')
    assert rc == 0, out
    current = None
    for line in out.splitlines():
        m = re.match(r'^(\d+) timestamp', line)
        if m:
            current = int(m.group(1))
        m = re.search(r'owner_generation=(\d+)', line)
        if m and current == k:
            return int(m.group(1))
    raise AssertionError('no generation of host %d in: %s' % (k, out))


def begun_on_host_1(hosts, leases):
    """A new lease held by host 1, known to all, with a hand-off begun:
    (uuid, its location, T1)."""
    u = leases()
    hosts[0].create(u)
    for h in hosts[1:]:
        h.get_lease(u)
    hosts[0].acquire(u)
    info = hosts[0].inquire(u)
    return u, {'path': info['path'], 'offset': info['offset']}, xfer(hosts[0], u, 'begin')


@pytest.mark.parametrize('claim', ['huge-id-gen-0', 'live-host-gen-0', 'live-host-not-sharing',
                                   'sharing-host-other-gen'])
def test_perform_lets_go_only_to_a_live_destination_holding_it_shared(sb, hosts, leases, claim):
    h1, h2, h3 = hosts
    u, loc, t1 = begun_on_host_1(hosts, leases)
    t2 = None
    try:
        if claim == 'huge-id-gen-0':
            forged = forged_prepared(t1, 36028797018963967, 0)
        elif claim == 'live-host-gen-0':
            forged = forged_prepared(t1, 3, 0)
        elif claim == 'live-host-not-sharing':
            forged = forged_prepared(t1, 3, host_generation(h1, 3))
        else:
            t2 = xfer(h2, u, 'prepare', t1)
            real_gen = _decoded(t2)[2]['dest_gen']
            forged = forged_prepared(t1, 2, real_gen + 1)
        with pytest.raises(DBusCallError) as e:
            xfer(h1, u, 'perform', forged)
        assert e.value.short in ('StaleToken', 'Busy'), e.value
        # the source still holds it shared: never a moment without a holder
        own = owners(sb, loc)
        assert 1 in own['shared'], own
        assert h1.lease_props(u)['State'] == 'migrating-out'
        assert h1.lease_props(u)['TransferStep'] == 'begin'
        with raises_dbus('Busy'):
            h3.acquire(u)
    finally:
        if t2 is not None:
            xfer(h2, u, 'cancel')
        xfer(h1, u, 'cancel', wait=5)
    assert h1.lease_props(u)['State'] == 'held'
    h1.release(u)


def test_begin_token_made_up_from_inquire_is_refused_and_blocks_nothing(sb, hosts, leases):
    """What a caller on host 2 who never saw T1 knows from Inquire (uuid,
    lockspace, offset, the source's generation, lver) is not enough for a
    begin token: prepare refuses it (the source's note on storage names
    the real one), the lease is not taken shared, and the real hand-off and
    the source's cancel work as if nothing happened."""
    h1, h2, h3 = hosts
    u, loc, t1 = begun_on_host_1(hosts, leases)
    try:
        seen = h2.inquire(u)
        made_up = forged_token(KIND_BEGUN, {
            'uuid': u, 'transfer': 'ab' * 16, 'lockspace': 'sandbox',
            'offset': seen['offset'], 'source': 1, 'source_gen': host_generation(h2, 1),
            'dest': 0, 'dest_gen': 0, 'lver': seen['lver'], 'postcopy': False,
            'success': False})
        # even with the real transfer id (the source's own Inquire shows it)
        with_id = forged_token(KIND_BEGUN, dict(_decoded(t1)[2]))
        for forged in (made_up, with_id):
            with raises_dbus('StaleToken') as e:
                xfer(h2, u, 'prepare', forged)
            assert 'issued last' in e.value.message, e.value.message
            assert h2.lease_props(u)['State'] == 'free'
            assert owners(sb, loc)['shared'] == [1]
        # the real one still goes through
        t2 = xfer(h2, u, 'prepare', t1)
        xfer(h2, u, 'cancel')
        assert owners(sb, loc)['shared'] == [1]
    finally:
        xfer(h1, u, 'cancel', wait=5)
    assert h1.lease_props(u)['State'] == 'held'
    assert t2
    h1.release(u)
