# SPDX-License-Identifier: LGPL-2.1-or-later
"""The migration hand-off (Transfer) between sandbox hosts, with real sanlock.

Every hand-off here runs under an Observer: a thread that reads the lease
from storage (`sanlock direct dump -a 0`, one read of the lease's 1 MiB
area, so the exclusive owner and the shared holders come from the same
instant) and asks each live host's sanlock daemon what it holds (`sanlock
client status -D`, resources on its "held" list; an acquire in progress is
not a hold) about every 20 ms, and records a violation whenever

  - the lease is free: no exclusive owner on storage and no shared holder
    whose host is alive, or
  - two hosts' sanlock daemons both hold it exclusively.

The one moment the contract itself leaves the lease free is the failure path
after a pre-copy perform (the destination lets go at finish(failure) or
cancel, then the source's confirm(failure) or cancel takes it back, lease-
version checked): there the test says so (Observer.allow_free) and checks
instead that nobody but the source got it.

The dead-destination test waits for sanlock to declare host 2 dead: 8 x
io_timeout + watchdog_fire_timeout (60 s in /etc/sanlock/sanlock.conf; this
test does not shorten it, so about 68 s -- less only if the session's sandbox
was started with --watchdog-fire-timeout). Everything else takes seconds.
"""

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import (VMLEASECTL, ctl, CALL_TIMEOUT_MS, ERROR_PREFIX, IO_TIMEOUT,
                      LEASE_IFACE, MiB, DBusCallError, b, lease_path, process_alive,
                      raises_dbus, run_sandbox, s, sanlock_run, u32,
                      wait_process_exit, wait_until)

POLL_S = 0.02


# --- Transfer ------------------------------------------------------------------

def variant(v):
    if isinstance(v, bool):
        return b(v)
    if isinstance(v, int):
        return u32(v)
    if isinstance(v, str):
        return s(v)
    return v


def xfer_now(h, u, step, token='', timeout_ms=CALL_TIMEOUT_MS, **options):
    """Transfer(step, token, options) on host h; returns the next token as
    soon as the step answers (finish: before the conversion is done)."""
    opts = {k: variant(v) for k, v in options.items()}
    return h.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                      [step, token, opts], reply='(s)', timeout_ms=timeout_ms)[0]


def wait_converted(h, u, timeout=20):
    """finish answers while the destination converts its share to exclusive
    (State "converting"); wait until that is over here."""
    wait_until(lambda: h.lease_props(u)['State'] != 'converting', timeout,
               what='host %d to end its conversion after finish' % h.id)


def xfer(h, u, step, token='', timeout_ms=CALL_TIMEOUT_MS, **options):
    """Transfer(step, token, options) on host h; returns the next token. A
    successful finish returns once the conversion after it is over too."""
    t = xfer_now(h, u, step, token, timeout_ms, **options)
    if step == 'finish' and options.get('success', True):
        wait_converted(h, u)
    return t


def props(h, u):
    return h.lease_props(u)


def props_or_none(h, u):
    try:
        return props(h, u)
    except DBusCallError:
        return None


def state(h, u):
    p = props(h, u)
    return p['State'], p['TransferStep']


# --- what storage and the sanlock daemons say ------------------------------------

def dump(sb, path, offset, via=1):
    """(exclusive owner or 0, its generation, lver, {shared host: generation})
    from one read of the lease area."""
    rc, out = sanlock_run(sb.host(via).sanlock_env, 'direct', 'dump',
                          '%s:%d:%d' % (path, offset, MiB), '-a', '0')
    assert rc == 0, 'sanlock direct dump failed: %s' % out
    ex = gen = lver = None
    shared = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 7 and parts[0].isdigit():
            ts, own, gen, lver = int(parts[3]), int(parts[4]), int(parts[5]), int(parts[6])
            ex = own if ts else 0
        elif len(parts) == 3 and parts[2] == 'SH':
            shared[int(parts[0])] = int(parts[1])
    assert ex is not None, 'no paxos lease at %s:%d: %s' % (path, offset, out)
    return ex, gen, lver, shared


def owners(sb, loc):
    ex, _, lver, shared = dump(sb, loc['path'], loc['offset'])
    return {'ex': ex, 'shared': sorted(shared), 'lver': lver}


def sanlock_holds(h, timeout=5):
    """[(resource name, pid, 'EX'|'SH')] held in host h's sanlock daemon
    (`client status -D` "list=held"; an acquire still in progress is listed
    too, as "list=add", and is not a hold), None if the daemon does not
    answer, within @timeout seconds too (a loaded machine can starve the
    client: a sample missed, not a hold seen)."""
    try:
        rc, out = h.sanlock_client('status', '-D', timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if rc != 0:
        return None
    holds, current = [], None
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ('r', 'p', 's', 'daemon', 'h'):
            current = None
        if len(parts) >= 4 and parts[0] == 'r' and parts[2] == 'p':
            fields = parts[1].split(':')
            if len(fields) >= 2:
                current = (fields[1], int(parts[3]), 'SH' if fields[-1] == 'SH' else 'EX')
        elif current and parts == ['list=held']:
            holds.append(current)
    return holds


def sanlock_modes(h, u, timeout=5):
    """{pid: 'EX'|'SH'} of u as held in host h's sanlock daemon, None if the
    daemon does not answer."""
    holds = sanlock_holds(h, timeout)
    if holds is None:
        return None
    return {pid: mode for name, pid, mode in holds if name == u}


class Observer:
    """Polls storage and every live host's sanlock daemon about every 20 ms
    while a hand-off runs (see the module doc)."""

    def __init__(self, sb, u, loc, skip_hosts=()):
        self.sb, self.u, self.loc = sb, u, loc
        self.skip = set(skip_hosts)     # hosts whose daemon is gone
        self.live = set(sb.storage.live_hosts())
        self.check_free = True
        self.samples = 0
        self.seen = set()
        self.violations = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def allow_free(self, why):
        """From now on a free lease is expected (the contract's failure path
        after a pre-copy perform)."""
        with self._lock:
            self.check_free = False
            self.seen.add('free allowed: ' + why)

    def skip_host(self, k):
        with self._lock:
            self.skip.add(k)

    def _sample(self):
        ex, _, _, shared = dump(self.sb, self.loc['path'], self.loc['offset'])
        live_sh = sorted(k for k in shared if k in self.live)
        with self._lock:
            check_free, skip = self.check_free, set(self.skip)
        label = 'EX %d SH %s' % (ex, live_sh)
        if check_free and ex == 0 and not live_sh:
            self.violations.append('%.3f: the lease is free on storage (SH %r)'
                                   % (time.monotonic(), sorted(shared)))
        ex_hosts, seen = [], {}
        for h in self.sb.hosts:
            if h.id in skip:
                continue
            modes = sanlock_modes(h, self.u)
            seen[h.id] = modes
            if modes and 'EX' in modes.values():
                ex_hosts.append(h.id)
        if len(ex_hosts) > 1:
            self.violations.append('%.3f: held exclusively on hosts %r at once (%r)'
                                   % (time.monotonic(), ex_hosts, seen))
        self.seen.add(label)
        self.samples += 1

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                self._sample()
            except Exception as e:      # noqa: BLE001 -- reported, not raised
                self.violations.append('observer failed: %r' % e)
            self._stop.wait(max(0.0, POLL_S - (time.monotonic() - t0)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        if exc[0] is None:
            assert self.samples > 0, 'the observer took no sample'
            assert not self.violations, (
                'the observer saw %d violation(s) in %d samples (states seen: %s):\n%s'
                % (len(self.violations), self.samples, sorted(self.seen),
                   '\n'.join(self.violations[:20])))
        return False


# --- fixtures and setup ---------------------------------------------------------------

@pytest.fixture
def hand_leases(sb, leases):
    """Like `leases`, but first undoes any hand-off a test left half done
    (destinations first), so that the leases can be released and deleted."""
    made = []

    def make():
        u = leases()
        made.append(u)
        return u
    yield make
    for u in made:
        for role in ('migrating-in', 'migrating-out'):
            for h in sb.hosts:
                with contextlib.suppress(Exception):
                    if props(h, u)['State'] == role:
                        xfer(h, u, 'cancel', '', wait=5, timeout_ms=20000)


def held_lease(hosts, make, on=1, name='vm-transfer'):
    """A new lease, acquired exclusively on host `on` and exported on every
    host. Returns (uuid, {'path', 'offset', 'lver'})."""
    u = make()
    h = hosts[on - 1]
    h.create(u, options={'name': s(name)})
    h.acquire(u)
    for other in hosts:
        other.get_lease(u)
    info = h.inquire(u)
    return u, {'path': info['path'], 'offset': info['offset'], 'lver': info['lver']}


def assert_owner(sb, hosts, u, loc, ex, shared=()):
    """Storage says `ex` holds it exclusively (0: nobody) with these shared
    holders; the hosts agree."""
    own = owners(sb, loc)
    assert own['ex'] == ex and own['shared'] == sorted(shared), (
        'storage: expected EX %r SH %r, found %r' % (ex, sorted(shared), own))
    for h in hosts:
        st, step = state(h, u)
        if h.id == ex:
            assert (st, step) == ('held', ''), 'host %d: %s/%s' % (h.id, st, step)
            info = h.inquire(u)
            assert info['held_here'] is True and info['mode'] == 'exclusive', info
            assert 'transfer' not in info, info
        elif h.id not in shared:
            assert st in ('free', 'lost') and step == '', 'host %d: %s/%s' % (h.id, st, step)
            assert h.sanlock_holders_of(u) == [], h.sanlock_status()['text']
    return own


def third_host_refused(sb, u, third):
    """A third host's (exclusive) Acquire is refused while the hand-off runs."""
    with raises_dbus('Busy'):
        third.acquire(u)
    assert state(third, u)[0] in ('free', 'lost')


def snapshot(sb, hosts, u, loc):
    """Everything a refused call must leave alone."""
    own = owners(sb, loc)
    # not the lease version: a refused cancel may have tried a conversion,
    # which sanlock counts (checked where it matters)
    snap = {'storage': (own['ex'], own['shared'])}
    for h in hosts:
        p = props(h, u)
        snap[h.id] = (p['State'], p['TransferStep'], p['Mode'], p['HolderPid'],
                      tuple(h.sanlock_holders_of(u)))
    return snap


# --- the whole hand-off ---------------------------------------------------------------

def handoff(sb, src, dst, third, u, loc, postcopy=False):
    """One complete hand-off src -> dst, checking each step on both sides, on
    storage, and that the third host cannot take the lease."""
    lver0 = owners(sb, loc)['lver']
    holder_src = props(src, u)['HolderPid']

    t1 = xfer(src, u, 'begin')
    assert t1.startswith('vml1.'), t1
    p = props(src, u)
    assert (p['State'], p['TransferStep'], p['Mode']) == ('migrating-out', 'begin', 'shared'), p
    tr = src.inquire(u)['transfer']
    assert tr['role'] == 'source' and tr['step'] == 'begin' and len(tr['id']) >= 16, tr
    assert owners(sb, loc)['ex'] == 0 and owners(sb, loc)['shared'] == [src.id]
    # Release and Acquire are refused on the lease in a hand-off
    with raises_dbus('WrongStep'):
        src.release(u)
    third_host_refused(sb, u, third)

    t2 = xfer(dst, u, 'prepare', t1)
    p = props(dst, u)
    assert (p['State'], p['TransferStep'], p['Mode']) == ('migrating-in', 'prepare', 'shared'), p
    assert process_alive(p['HolderPid'])
    tr2 = dst.inquire(u)['transfer']
    assert tr2['role'] == 'destination' and tr2['peer'] == src.id and tr2['id'] == tr['id'], tr2
    assert owners(sb, loc)['shared'] == sorted([src.id, dst.id])
    with raises_dbus('WrongStep'):
        dst.release(u)
    third_host_refused(sb, u, third)

    t3 = xfer(src, u, 'perform', t2, postcopy=postcopy)
    p = props(src, u)
    if postcopy:
        # the point of no return: the source is done with the lease (its
        # holder keeps only the transfer marker, until finish)
        assert (p['State'], p['TransferStep']) == ('free', ''), p
    else:
        assert (p['State'], p['TransferStep']) == ('migrating-out', 'perform'), p
        assert src.inquire(u)['transfer']['peer'] == dst.id
    own = owners(sb, loc)
    assert own['ex'] == 0 and own['shared'] == [dst.id], own
    third_host_refused(sb, u, third)

    t4 = xfer(dst, u, 'finish', t3)
    p = props(dst, u)
    assert (p['State'], p['TransferStep'], p['Mode']) == ('held', '', 'exclusive'), p
    own = owners(sb, loc)
    assert own['ex'] == dst.id and own['shared'] == [] and own['lver'] > lver0, own
    third_host_refused(sb, u, third)

    # post-copy too: confirm with the token of finish succeeds (the source
    # let go at perform; its holder kept only the transfer marker)
    assert xfer(src, u, 'confirm', t4) == ''
    assert wait_process_exit(holder_src, 5), 'source holder %d still runs' % holder_src
    assert state(src, u) == ('free', '')
    assert 'transfer' not in src.inquire(u)
    assert_owner(sb, sb.hosts, u, loc, dst.id)
    return t1, t2, t3, t4


def test_precopy_handoff_there_and_back(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc) as obs:
        handoff(sb, h1, h2, h3, u, loc)
        handoff(sb, h2, h1, h3, u, loc)
    assert obs.samples >= 3
    # the lease works as usual afterwards
    h1.release(u)
    h3.acquire(u)
    assert_owner(sb, hosts, u, loc, 3)
    h3.release(u)


def test_postcopy_handoff(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        t1, t2, t3, t4 = handoff(sb, h1, h2, h3, u, loc, postcopy=True)
        # past the point of no return: the source can neither cancel nor
        # confirm, whatever the token
        for tok in ('', t3, t4):
            with raises_dbus('Committed'):
                xfer(h1, u, 'cancel', tok)
        with raises_dbus('Committed'):
            xfer(h1, u, 'confirm', '', success=False)
        assert_owner(sb, hosts, u, loc, 2)
        # and back, post-copy again
        handoff(sb, h2, h1, h3, u, loc, postcopy=True)


def test_handoff_between_other_hosts_and_two_leases_at_once(sb, hosts, hand_leases):
    """Hosts 3 -> 2 with lease A while lease B goes 2 -> 1, interleaved."""
    h1, h2, h3 = hosts
    a, loc_a = held_lease(hosts, hand_leases, on=3)
    bb, loc_b = held_lease(hosts, hand_leases, on=2)
    with Observer(sb, a, loc_a), Observer(sb, bb, loc_b):
        a1 = xfer(h3, a, 'begin')
        b1 = xfer(h2, bb, 'begin')
        a2 = xfer(h2, a, 'prepare', a1)
        b2 = xfer(h1, bb, 'prepare', b1)
        b3 = xfer(h2, bb, 'perform', b2)
        a3 = xfer(h3, a, 'perform', a2)
        a4 = xfer(h2, a, 'finish', a3)
        b4 = xfer(h1, bb, 'finish', b3)
        assert xfer(h2, bb, 'confirm', b4) == ''
        assert xfer(h3, a, 'confirm', a4) == ''
    assert_owner(sb, hosts, a, loc_a, 2)
    assert_owner(sb, hosts, bb, loc_b, 1)


# --- cancel at every step, on either side -----------------------------------------------

CANCEL_CASES = [
    # (after which step, cancel order, who holds it at the end)
    ('begin', ['source'], 1),
    ('begin', ['destination!WrongStep', 'source'], 1),
    ('prepare', ['destination', 'source'], 1),
    ('prepare', ['source!Busy', 'destination', 'source'], 1),
    ('perform', ['source!Busy', 'destination', 'source'], 1),
    ('perform-postcopy', ['source!Committed', 'third!WrongStep'], 2),
    ('finish', ['destination!WrongStep', 'source!Busy'], 2),
    ('confirm', ['source!WrongStep', 'destination!WrongStep'], 2),
]


@pytest.mark.parametrize('after,order,owner', CANCEL_CASES,
                         ids=['%s-%s' % (c[0], '-'.join(c[1])) for c in CANCEL_CASES])
def test_cancel_at_every_step(sb, hosts, hand_leases, after, order, owner):
    h1, h2, h3 = hosts
    side = {'source': h1, 'destination': h2, 'third': h3}
    u, loc = held_lease(hosts, hand_leases)
    steps = ['begin', 'prepare', 'perform', 'finish', 'confirm']
    postcopy = after == 'perform-postcopy'
    last = steps.index('perform' if postcopy else after)
    tok = ''
    with Observer(sb, u, loc) as obs:
        for step in steps[:last + 1]:
            h = h1 if step in ('begin', 'perform', 'confirm') else h2
            opts = {'postcopy': True} if (postcopy and step == 'perform') else {}
            tok = xfer(h, u, step, tok, **opts)
        for what in order:
            who, _, err = what.partition('!')
            h = side[who]
            if err:
                before = snapshot(sb, hosts, u, loc)
                with raises_dbus(err):
                    xfer(h, u, 'cancel', '')
                assert snapshot(sb, hosts, u, loc) == before, \
                    'a refused cancel on host %d changed something' % h.id
                continue
            if after == 'perform' and who == 'destination':
                # the contract's failure path after a pre-copy perform
                obs.allow_free('the destination cancels after a pre-copy perform')
            assert xfer(h, u, 'cancel', '') == ''
            assert state(h, u)[1] == ''
    if after == 'finish':
        assert xfer(h1, u, 'confirm', tok) == ''
    if postcopy:
        tok = xfer(h2, u, 'finish', tok)
    assert_owner(sb, hosts, u, loc, owner)
    for h in hosts:
        assert state(h, u)[1] == '' and 'transfer' not in h.inquire(u)


# --- failure at every step ----------------------------------------------------------------

def test_failure_begin(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    before = snapshot(sb, hosts, u, loc)
    with raises_dbus('WrongStep'):
        xfer(h2, u, 'begin')            # not held there
    with raises_dbus('InvalidArgument'):
        xfer(h1, u, 'begin', '', postcopy=True)   # not an option of begin
    with raises_dbus('InvalidArgument'):
        xfer(h1, u, 'start')
    assert snapshot(sb, hosts, u, loc) == before
    with Observer(sb, u, loc):
        xfer(h1, u, 'begin')
        mid = snapshot(sb, hosts, u, loc)
        with raises_dbus('WrongStep'):
            xfer(h1, u, 'begin')        # already in a hand-off
        assert snapshot(sb, hosts, u, loc) == mid
        xfer(h1, u, 'cancel')
    assert_owner(sb, hosts, u, loc, 1)


def test_failure_prepare(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        t1 = xfer(h1, u, 'begin')
        mid = snapshot(sb, hosts, u, loc)
        with raises_dbus('WrongStep'):
            xfer(h1, u, 'prepare', t1)  # on the source itself
        with raises_dbus('StaleToken'):
            xfer(h2, u, 'prepare', '')
        assert snapshot(sb, hosts, u, loc) == mid
        # the source gives up before the destination prepared: T1 is void
        xfer(h1, u, 'cancel')
        after = snapshot(sb, hosts, u, loc)
        with raises_dbus('StaleToken'):
            xfer(h2, u, 'prepare', t1)
        assert snapshot(sb, hosts, u, loc) == after
    assert_owner(sb, hosts, u, loc, 1)


def test_failure_perform(sb, hosts, hand_leases):
    """perform never lets go unless the destination holds the lease."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        xfer(h2, u, 'cancel')
        mid = snapshot(sb, hosts, u, loc)
        with raises_dbus('Busy'):
            xfer(h1, u, 'perform', t2)
        assert snapshot(sb, hosts, u, loc) == mid
        assert state(h1, u) == ('migrating-out', 'begin')
        xfer(h1, u, 'cancel')
    assert_owner(sb, hosts, u, loc, 1)


def test_failure_finish_gives_lease_back_to_source(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc) as obs:
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        t3 = xfer(h1, u, 'perform', t2)
        lver = owners(sb, loc)['lver']
        obs.allow_free('finish(failure) after a pre-copy perform')
        t4 = xfer(h2, u, 'finish', t3, success=False)
        assert state(h2, u) == ('free', '')
        # confirm believes the token (failure) unless told otherwise; told
        # the opposite, it refuses and changes nothing
        mid = snapshot(sb, hosts, u, loc)
        with raises_dbus('InvalidArgument'):
            xfer(h1, u, 'confirm', t4, success=True)
        assert snapshot(sb, hosts, u, loc) == mid
        assert xfer(h1, u, 'confirm', t4) == ''
    own = assert_owner(sb, hosts, u, loc, 1)
    assert own['lver'] == lver + 1, (lver, own)


def test_failure_confirm_without_finish_token(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        t3 = xfer(h1, u, 'perform', t2)
        mid = snapshot(sb, hosts, u, loc)
        with raises_dbus('StaleToken'):
            xfer(h1, u, 'confirm', '')              # success needs T4
        with raises_dbus('Busy'):
            xfer(h1, u, 'confirm', t3)              # perform's own: only once host 2 holds it
                                                    # exclusively (test_early_finish.py)
        with raises_dbus('Busy'):
            xfer(h1, u, 'confirm', '', success=False)   # the destination holds it
        assert snapshot(sb, hosts, u, loc) == mid
        t4 = xfer(h2, u, 'finish', t3)
        assert xfer(h1, u, 'confirm', t4) == ''
    assert_owner(sb, hosts, u, loc, 2)


def test_confirm_failure_refused_if_taken_meanwhile(sb, hosts, hand_leases):
    """After finish(failure) the lease is free (by design) until the source
    takes it back; if a third host took it meanwhile, the source's confirm
    is refused -- also after that host let go again (lease version) -- and
    the source must still be able to leave the hand-off."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc) as obs:
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        t3 = xfer(h1, u, 'perform', t2)
        obs.allow_free('finish(failure) after a pre-copy perform')
        t4 = xfer(h2, u, 'finish', t3, success=False)
        h3.acquire(u)
        with raises_dbus('Busy'):
            xfer(h1, u, 'confirm', t4)
        assert owners(sb, loc)['ex'] == 3
        h3.release(u)
        mid = snapshot(sb, hosts, u, loc)
        with raises_dbus('Busy') as e:
            xfer(h1, u, 'confirm', t4)
        assert 'version' in e.value.message, e.value.message
        assert snapshot(sb, hosts, u, loc) == mid
        assert owners(sb, loc)['ex'] == 0
    # The source holds nothing and cannot take the lease back through this
    # hand-off: cancel must end its part (undo this side), not leave it in
    # migrating-out for good (Release and Acquire refuse a lease in a
    # hand-off).
    try:
        xfer(h1, u, 'cancel', '')
    except DBusCallError as err:
        pytest.fail('the source cannot leave a hand-off whose lease another host '
                    'took meanwhile: cancel -> %s: %s; state %r'
                    % (err.short, err.message, state(h1, u)))
    assert state(h1, u) in (('free', ''), ('lost', '')), state(h1, u)
    h1.acquire(u)
    assert_owner(sb, hosts, u, loc, 1)


def test_third_host_shared_acquire_during_handoff_is_refused(sb, hosts, hand_leases):
    """vmleased must refuse shared acquisitions of a lease in a hand-off
    other than the destination's prepare (sanlock alone would grant them,
    and the destination's finish could then never convert; docs/decisions.md
    "Hand-off details")."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    t1 = xfer(h1, u, 'begin')
    t2 = xfer(h2, u, 'prepare', t1)
    try:
        h3.acquire(u, options={'mode': s('shared')})
    except DBusCallError as err:
        assert err.short in ('Busy', 'WrongStep'), err
    else:
        h3.release(u)
        pytest.fail('host 3 took the lease shared in the middle of a hand-off 1 -> 2 '
                    '(a third sharer blocks the destination\'s finish)')
    finally:
        t3 = xfer(h1, u, 'perform', t2)
        t4 = xfer(h2, u, 'finish', t3)
        xfer(h1, u, 'confirm', t4)
    assert_owner(sb, hosts, u, loc, 2)


# --- tokens: replayed, swapped, truncated, flipped -------------------------------------

def flipped(token, pos):
    """token with one bit of its decoded body flipped at pos (0..1 of the
    length), re-encoded."""
    body = token[len('vml1.'):]
    pad = '=' * (-len(body) % 4)
    urlsafe = '-' in body or '_' in body
    raw = bytearray((base64.urlsafe_b64decode if urlsafe else base64.b64decode)(body + pad))
    i = min(len(raw) - 1, int(pos * len(raw)))
    raw[i] ^= 0x01
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(bytes(raw)).decode()
    if not pad:
        enc = enc.rstrip('=')
    return 'vml1.' + enc


def mangled(token):
    """Changed and cut versions of a token (other bytes once decoded), each
    of which must be refused."""
    out = {
        'cut by four chars': token[:-4],
        'cut in half': token[:len(token) // 2],
        'prefix only': 'vml1.',
        'four more chars': token + 'AAAA',
        'other version': 'vml2.' + token[5:],
        'garbage': 'not a token',
        'empty': '',
    }
    for pos in (0.0, 0.1, 0.5, 0.9, 0.999):
        out['bit flipped at %d%%' % (pos * 100)] = flipped(token, pos)
    for i in (10, len(token) // 2):
        c = token[i]
        out['char %d changed' % i] = token[:i] + ('B' if c != 'B' else 'C') + token[i + 1:]
    return out


B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'


def same_bytes_variants(token):
    """Other texts that a lenient base64 decoder reads as the same bytes: a
    padding '=' cut off, or the unused low bits of the last character
    before the padding changed."""
    out = {}
    if token.endswith('='):
        out['one padding "=" cut off'] = token[:-1]
        body = token.rstrip('=')
        i = B64.index(body[-1])
        out['unused bits of the last character changed'] = (
            body[:-1] + B64[i ^ 1] + token[len(body):])
    return out


def refused(sb, hosts, leases_locs, h, u, step, token, errors=('StaleToken',), **opts):
    before = {x: snapshot(sb, hosts, x, loc) for x, loc in leases_locs}
    with pytest.raises(DBusCallError) as e:
        xfer(h, u, step, token, **opts)
    assert e.value.name in [ERROR_PREFIX + x for x in errors], (
        '%s on host %d with a bad token: expected %s, got %s: %s'
        % (step, h.id, errors, e.value.name, e.value.message))
    for x, loc in leases_locs:
        assert snapshot(sb, hosts, x, loc) == before[x], (
            'a refused %s on host %d changed lease %s' % (step, h.id, x))


def test_bad_tokens_are_refused_and_change_nothing(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    a, loc_a = held_lease(hosts, hand_leases)
    bb, loc_b = held_lease(hosts, hand_leases)
    both = [(a, loc_a), (bb, loc_b)]

    def bad(h, u, step, token, errors=('StaleToken',), **opts):
        refused(sb, hosts, both, h, u, step, token, errors, **opts)

    with Observer(sb, a, loc_a), Observer(sb, bb, loc_b):
        a1, b1 = xfer(h1, a, 'begin'), xfer(h1, bb, 'begin')
        bad(h2, a, 'prepare', b1)                       # swapped between leases
        for what, tok in mangled(a1).items():
            bad(h2, a, 'prepare', tok)
        a2, b2 = xfer(h2, a, 'prepare', a1), xfer(h2, bb, 'prepare', b1)

        bad(h2, a, 'prepare', a1, errors=('WrongStep',))   # replayed
        bad(h1, a, 'perform', b2)                       # swapped
        bad(h1, a, 'perform', a1)                       # the wrong step's token
        for what, tok in mangled(a2).items():
            bad(h1, a, 'perform', tok)
        a3, b3 = xfer(h1, a, 'perform', a2), xfer(h1, bb, 'perform', b2)

        bad(h1, a, 'perform', a2, errors=('WrongStep',))   # replayed
        bad(h2, a, 'finish', b3)
        bad(h2, a, 'finish', a1)       # prepare's own token would do (test_side_by_side.py)
        bad(h2, a, 'finish', b2)       # ...but only this hand-off's
        bad(h3, a, 'finish', a3, errors=('WrongStep',))    # not its hand-off
        for what, tok in mangled(a3).items():
            bad(h2, a, 'finish', tok)
        a4, b4 = xfer(h2, a, 'finish', a3), xfer(h2, bb, 'finish', b3)

        bad(h2, a, 'finish', a3, errors=('WrongStep',))    # replayed
        bad(h1, a, 'confirm', b4)
        bad(h1, a, 'confirm', b3)      # perform's own T3 would do (finish's answer lost,
                                       # test_early_finish.py), but only this lease's
        for what, tok in mangled(a4).items():
            bad(h1, a, 'confirm', tok)
        assert xfer(h1, a, 'confirm', a4) == ''
        assert xfer(h1, bb, 'confirm', b4) == ''

        # after the hand-off, every token of it is spent
        bad(h1, a, 'confirm', a4, errors=('WrongStep',))
        bad(h2, a, 'prepare', a1, errors=('WrongStep',))   # host 2 holds it now
        bad(h3, a, 'prepare', a1)                          # source no longer shares it
        # a new hand-off back: the old tokens are for an earlier one
        n1 = xfer(h2, a, 'begin')
        bad(h1, a, 'prepare', a1, errors=('StaleToken', 'WrongStep'))
        n2 = xfer(h1, a, 'prepare', n1)
        bad(h2, a, 'perform', a2)
        bad(h2, a, 'perform', b2)
        n3 = xfer(h2, a, 'perform', n2)
        bad(h1, a, 'finish', a3)
        n4 = xfer(h1, a, 'finish', n3)
        bad(h2, a, 'confirm', a4)
        assert xfer(h2, a, 'confirm', n4) == ''
    assert_owner(sb, hosts, a, loc_a, 1)
    assert_owner(sb, hosts, bb, loc_b, 2)


def test_begin_token_replayed_to_a_third_host_is_refused(sb, hosts, hand_leases):
    """T1 is for one destination: once host 2 prepared with it, host 3 must
    not prepare with it too (it would hold the lease shared as a second
    destination, and host 2's finish could then never convert)."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        before = snapshot(sb, hosts, u, loc)
        try:
            xfer(h3, u, 'prepare', t1)
        except DBusCallError as err:
            assert err.short in ('StaleToken', 'Busy', 'WrongStep'), err
            assert snapshot(sb, hosts, u, loc) == before
            accepted = None
        else:
            accepted = snapshot(sb, hosts, u, loc)
            xfer(h3, u, 'cancel')
        t3 = xfer(h1, u, 'perform', t2)
        t4 = xfer(h2, u, 'finish', t3)
        xfer(h1, u, 'confirm', t4)
    assert_owner(sb, hosts, u, loc, 2)
    assert accepted is None, ('host 3 prepared with the begin token host 2 had already '
                              'used: %r' % accepted)


def test_token_texts_that_decode_alike_are_refused(sb, hosts, hand_leases):
    """A token is refused unless it is the text issued: also a cut padding
    character or changed unused bits, which a lenient base64 decoder reads as
    the same bytes."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    accepted = []
    with Observer(sb, u, loc):
        t1 = xfer(h1, u, 'begin')
        for what, tok in same_bytes_variants(t1).items():
            assert tok != t1
            try:
                xfer(h2, u, 'prepare', tok)
            except DBusCallError as err:
                assert err.short == 'StaleToken', err
            else:
                accepted.append(what)
                xfer(h2, u, 'cancel')
        xfer(h1, u, 'cancel')
    assert_owner(sb, hosts, u, loc, 1)
    assert not accepted, 'prepare accepted begin\'s token with: %s' % ', '.join(accepted)


# --- vmleased killed between steps ------------------------------------------------------

KILL_CASES = [
    # (after which step, whose vmleased is killed, then: complete or cancel)
    ('begin', 'source', 'complete'),
    ('begin', 'source', 'cancel'),
    ('prepare', 'source', 'complete'),
    ('prepare', 'destination', 'complete'),
    ('prepare', 'destination', 'cancel'),
    ('perform', 'source', 'complete'),
    ('perform', 'destination', 'complete'),
    ('perform', 'source', 'cancel'),
    ('finish', 'source', 'complete'),
    ('finish', 'destination', 'complete'),
]


@pytest.mark.parametrize('after,killed,then', KILL_CASES,
                         ids=['%s-kill-%s-%s' % c for c in KILL_CASES])
def test_sigkill_vmleased_between_steps(sb, hosts, hand_leases, after, killed, then):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    steps = ['begin', 'prepare', 'perform', 'finish', 'confirm']
    side = {'begin': h1, 'prepare': h2, 'perform': h1, 'finish': h2, 'confirm': h1}
    victim = h1 if killed == 'source' else h2
    tokens = ['']
    with Observer(sb, u, loc) as obs:
        for step in steps[:steps.index(after) + 1]:
            tokens.append(xfer(side[step], u, step, tokens[-1]))
        before = props(victim, u)
        holder = before['HolderPid']
        old_pid = victim.vmleased_pid()
        sb.kill(victim.id)
        assert not process_alive(old_pid)
        if holder:
            assert process_alive(holder), 'the holder died with vmleased'
        sb.restart(victim.id)
        assert victim.vmleased_pid() != old_pid
        p = wait_until(lambda: props_or_none(victim, u), 10,
                       what='the lease on the restarted host')
        assert (p['State'], p['TransferStep'], p['Mode'], p['HolderPid']) == (
            before['State'], before['TransferStep'], before['Mode'], before['HolderPid']), (
            'host %d after restart: %r, before: %r' % (victim.id, p, before))
        if p['State'] in ('migrating-out', 'migrating-in'):
            tr = victim.inquire(u)['transfer']
            assert tr['step'] == p['TransferStep'], tr

        if then == 'complete':
            for step in steps[steps.index(after) + 1:]:
                tokens.append(xfer(side[step], u, step, tokens[-1]))
            owner = 2
        else:
            if after in ('prepare', 'perform'):
                if after == 'perform':
                    obs.allow_free('the destination cancels after a pre-copy perform')
                xfer(h2, u, 'cancel')
            xfer(h1, u, 'cancel')
            owner = 1
    assert_owner(sb, hosts, u, loc, owner)
    for h in hosts:
        assert state(h, u)[1] == ''


# --- the destination host dies after prepare ----------------------------------------------

def kill_by_pid(sb, k, roles):
    """SIGKILL host k's processes of these roles (recorded pids only)."""
    killed = []
    for p in sb.pids()['processes']:
        if p['host'] == k and p['role'] in roles and process_alive(p['pid']):
            os.kill(p['pid'], signal.SIGKILL)
            killed.append(p['pid'])
    for pid in killed:
        assert wait_process_exit(pid, 10), 'pid %d survived SIGKILL' % pid
    return killed


def bring_back(sb, k):
    """Start host k's sanlock daemon and vmleased again; wait until it has
    re-joined the lockspace."""
    run_sandbox('restart', '--dir', sb.dir, '--host', str(k), '--all', timeout=120)
    h = sb.host(k)
    wait_until(lambda: all(ls[4] == 'joined' for ls in h.lockspaces()) and h.lockspaces(),
               60, interval=0.2, what='host %d to re-join the lockspace' % k)


def test_destination_host_dies_after_prepare(sb, hosts, hand_leases):
    """Host 2's sanlock daemon and vmleased are killed after prepare; host
    1's confirm(failure, "", wait 120) takes the lease back once sanlock has
    declared host 2 dead (about 8 x 1 s + 60 s), and never before. Host 2 is
    brought back afterwards (`vmlease-sandbox restart --all`)."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    # 8 x io_timeout + watchdog_fire_timeout (60, unless the sandbox was
    # started with --watchdog-fire-timeout)
    host_dead_s = 8 * IO_TIMEOUT + (sb.pids().get('watchdog_fire_timeout') or 60)
    errors = []
    try:
        with Observer(sb, u, loc) as obs:
            t1 = xfer(h1, u, 'begin')
            xfer(h2, u, 'prepare', t1)
            holder2 = props(h2, u)['HolderPid']
            obs.skip_host(2)
            kill_by_pid(sb, 2, ('vmleased', 'sanlock'))
            killed_at = time.monotonic()
            # host 2's shared hold stays on storage: nobody else may take it
            with raises_dbus('Busy'):
                h3.acquire(u)

            def waiting_call(step, **options):
                """Runs the step in a thread; after 2 s, reads what Inquire
                says the source waits for."""
                result = {}

                def run():
                    try:
                        result['token'] = xfer(h1, u, step, '', wait=120,
                                               timeout_ms=150000, **options)
                    except DBusCallError as e:
                        result['error'] = e
                    result['at'] = time.monotonic()

                th = threading.Thread(target=run)
                th.start()
                time.sleep(2)
                if th.is_alive():
                    waiting = h1.inquire(u).get('transfer', {}).get('waiting')
                    if not waiting:
                        errors.append('%s: Inquire shows no "waiting" while it waits' % step)
                    elif 'host 2' not in waiting:
                        errors.append('%s: Inquire says it waits %r, which does not name '
                                      'host 2' % (step, waiting))
                th.join(150)
                assert not th.is_alive(), '%s still waiting after 150 s' % step
                return result

            result = waiting_call('confirm', success=False)
            if 'error' in result:
                e = result['error']
                errors.append('confirm(success false, token "", wait 120) after prepare '
                              'failed after %.1f s: %s: %s'
                              % (result['at'] - killed_at, e.short, e.message))
                # recover the way the contract also offers, to check the rest
                result = waiting_call('cancel')
                assert 'error' not in result, result
            assert result['token'] == ''
            # not before sanlock could declare host 2 dead
            assert result['at'] - killed_at >= host_dead_s - 3, (
                'the source took the lease back %.1f s after host 2 died: before sanlock '
                'could declare it dead (%d s)' % (result['at'] - killed_at, host_dead_s))
        own = assert_owner(sb, [h1, h3], u, loc, 1)
        assert own['lver'] > loc['lver']
        assert not process_alive(holder2)
    finally:
        bring_back(sb, 2)
    # host 2 is usable again, and forgot the hand-off
    wait_until(lambda: state(h2, u)[0] in ('free', 'lost'), 10,
               what='host 2 to show the lease not held')
    assert state(h2, u)[1] == ''
    assert h2.sanlock_holders_of(u) == []
    handoff(sb, h1, h2, h3, u, loc)
    assert not errors, '\n'.join(errors)


# --- vmleasectl ---------------------------------------------------------------------------



def test_vmleasectl_transfer_pipes_tokens_between_hosts(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    env = {k: 'DBUS_SYSTEM_BUS_ADDRESS=%s' % h.address for k, h in ((1, h1), (2, h2))}
    # begin on 1 | prepare on 2 | perform on 1 | finish on 2 | confirm on 1,
    # each reading the previous token on stdin
    pipeline = ' | '.join([
        'env %s %s transfer begin %s' % (env[1], VMLEASECTL, u),
        'env %s %s transfer prepare %s' % (env[2], VMLEASECTL, u),
        'env %s %s transfer perform %s -' % (env[1], VMLEASECTL, u),
        'env %s %s --json transfer finish %s' % (env[2], VMLEASECTL, u),
        'env %s %s transfer confirm %s -' % (env[1], VMLEASECTL, u),
    ])
    with Observer(sb, u, loc):
        r = subprocess.run(['bash', '-o', 'pipefail', '-c', pipeline], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout == '', r.stdout
    assert_owner(sb, hosts, u, loc, 2)

    # one step at a time, tokens as arguments; --json prints {"token": ...}
    t1 = ctl(h2, 'transfer', 'begin', u, check=0).stdout
    assert t1.endswith('\n') and t1.count('\n') == 1 and t1.startswith('vml1.')
    t1 = t1.strip()
    r = ctl(h1, '--json', 'transfer', 'prepare', u, t1, check=0)
    t2 = json.loads(r.stdout)['token']
    # exit codes: StaleToken 12, WrongStep 10, usage 2
    ctl(h2, 'transfer', 'perform', u, t2[:-2], check=12)
    ctl(h2, 'transfer', 'perform', u, flipped(t2, 0.5), check=12)
    ctl(h1, 'transfer', 'prepare', u, t1, check=10)
    ctl(h2, 'transfer', 'perform', u, t2, '--success', check=2)
    ctl(h2, 'transfer', 'frobnicate', u, check=2)
    ctl(h2, 'transfer', 'perform', u, stdin='two\nlines\n', check=2)
    t3 = ctl(h2, 'transfer', 'perform', u, '-', stdin=t2 + '\n', check=0).stdout.strip()
    t4 = ctl(h1, 'transfer', 'finish', u, stdin=json.dumps({'token': t3}), check=0).stdout.strip()
    r = ctl(h2, 'transfer', 'confirm', u, t4, check=0)
    assert r.stdout == ''
    ctl(h2, 'transfer', 'confirm', u, t4, check=10)
    assert_owner(sb, hosts, u, loc, 1)

    # post-copy: cancel after perform is Committed (11)
    t1 = ctl(h1, 'transfer', 'begin', u, check=0).stdout.strip()
    t2 = ctl(h3, 'transfer', 'prepare', u, t1, check=0).stdout.strip()
    t3 = ctl(h1, 'transfer', 'perform', u, t2, '--postcopy', check=0).stdout.strip()
    ctl(h1, 'transfer', 'cancel', u, '', check=11)
    ctl(h3, 'transfer', 'finish', u, t3, check=0)
    wait_converted(h3, u)   # finish answers before the conversion to exclusive
    assert_owner(sb, hosts, u, loc, 3)


def test_vmleasectl_migrate(sb, hosts, hand_leases):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    env = {h.id: os.path.join(sb.dir, 'host%d.env' % h.id) for h in hosts}
    with Observer(sb, u, loc) as obs:
        r = ctl(h3, 'migrate', '--from', env[1], '--to', env[2], u, check=0)
        for step in ('begin', 'prepare', 'perform', 'finish', 'confirm'):
            assert re.search(r'^\s+%s\s+on host \d\s+[\d.]+ ms' % step, r.stdout, re.M), r.stdout
        assert 'Blackout' in r.stdout, r.stdout
        assert_owner(sb, hosts, u, loc, 2)

        r = ctl(h3, '--json', 'migrate', '--from', env[2], '--to', env[1], u, '--postcopy',
                check=0)
        out = json.loads(r.stdout)
        assert out['migrated'] is True and out['postcopy'] is True, out
        assert [x['step'] for x in out['steps']] == ['begin', 'prepare', 'perform', 'finish',
                                                     'confirm'], out
        # post-copy's confirm succeeds too: no Committed taken as done
        assert all(x['ok'] and 'error' not in x for x in out['steps']), out
        assert out['blackout_ms'] > 0 and out['total_ms'] >= out['blackout_ms'], out
        assert_owner(sb, hosts, u, loc, 1)

        # --pipelined: finish (prepare's token, a wait) goes out with perform,
        # before perform answered (and may answer first: it needs only the
        # source's release on storage, not perform's reply)
        for src, dst, mode in ((1, 2, ()), (2, 1, ('--postcopy',))):
            r = ctl(h3, '--json', 'migrate', '--from', env[src], '--to', env[dst], u,
                    '--pipelined', *mode, check=0)
            out = json.loads(r.stdout)
            steps = {x['step']: x for x in out['steps']}
            assert out['migrated'] is True and out['pipelined'] is True, out
            assert all(x['ok'] for x in out['steps']), out
            perform, finish = steps['perform'], steps['finish']
            assert finish['start_ms'] < perform['start_ms'] + perform['ms'], out
            assert_owner(sb, hosts, u, loc, dst)

        # rehearsed failures: undone, the source holds the lease again, exit 1
        for step in ('prepare', 'perform', 'finish'):
            if step == 'finish':
                obs.allow_free('finish(failure) after a pre-copy perform')
            r = ctl(h3, 'migrate', '--from', env[1], '--to', env[2], u, '--fail-at', step,
                    check=1)
            assert 'as asked' in r.stderr, r.stderr
            assert_owner(sb, hosts, u, loc, 1)
    # a real failure: the destination is host 1 itself -> usage error (2);
    # the lease not exported on a bus that has no vmleased: 3
    ctl(h3, 'migrate', '--from', env[1], '--to', env[1], u, check=2)
    ctl(h3, 'migrate', '--from', env[1], '--to', '/nonexistent/host9.env', u, check=2)
    ctl(h3, 'migrate', '--from', env[1], '--to', 'unix:path=/nonexistent/bus', u, check=3)
    assert_owner(sb, hosts, u, loc, 1)
    # a failing step: host 2 cannot begin (not held there) -> WrongStep (10), nothing changed
    r = ctl(h3, 'migrate', '--from', env[2], '--to', env[1], u, check=10)
    assert 'begin on host 2' in r.stderr, r.stderr
    assert_owner(sb, hosts, u, loc, 1)


def test_old_postcopy_source_cancel_is_committed_only_until_it_moves_on(sb, hosts, hand_leases):
    """A host that was the source of a post-copy hand-off answers Committed
    to a cancel of it; once it took part in another hand-off (a prepare,
    even one that failed) or holds the lease again, a cancel is about that:
    WrongStep when there is nothing to cancel (docs/chaos.md, bug 2)."""
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    t3 = xfer(h1, u, 'perform', xfer(h2, u, 'prepare', xfer(h1, u, 'begin')), postcopy=True)
    xfer(h1, u, 'confirm', xfer(h2, u, 'finish', t3))
    with raises_dbus('Committed'):
        xfer(h1, u, 'cancel', '')
    # a hand-off back whose prepare on host 1 fails: the begin token is stale
    stale = xfer(h2, u, 'begin')
    xfer(h2, u, 'cancel', '')
    with raises_dbus('StaleToken'):
        xfer(h1, u, 'prepare', stale)
    with raises_dbus('WrongStep'):
        xfer(h1, u, 'cancel', '')
    assert owners(sb, loc)['ex'] == 2


def test_old_postcopy_source_holding_again_cancel_is_wrong_step(sb, hosts, hand_leases):
    """The same after host 1 acquired the lease again (docs/chaos.md, bug 2)."""
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    t3 = xfer(h1, u, 'perform', xfer(h2, u, 'prepare', xfer(h1, u, 'begin')), postcopy=True)
    xfer(h1, u, 'confirm', xfer(h2, u, 'finish', t3))
    h2.release(u)
    h1.acquire(u)
    with raises_dbus('WrongStep'):
        xfer(h1, u, 'cancel', '')
    assert owners(sb, loc)['ex'] == 1
