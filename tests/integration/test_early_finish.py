# SPDX-License-Identifier: LGPL-2.1-or-later
"""finish answers before the destination's conversion to exclusive (issue 15
part 3; docs/decisions.md "Hand-off details", docs/model.md).

On the sandbox (real sanlock daemons, buses, polkitd), under the storage
Observer of test_transfer.py (no moment without a holder, never two
exclusive holders):

  - State goes migrating-in -> converting -> held on the destination, and a
    confirm sent at once after finish waits for the conversion;
  - vmleased killed at the crash point "transfer.converting" (finish done
    and recorded, nothing converted): storage shows the destination's share
    only; the restart completes the conversion, the guest stand-in still
    runs, the source's kept marker goes;
  - killed at "transfer.finished" (recorded, never answered: no T4), the
    source confirms with its own perform token, checked against storage;
  - the holder killed while vmleased is down during the conversion: the
    restart fences the guest and Lost says so;
  - a conversion that cannot complete (a third host shares the lease because
    the source's marker holder died after a post-copy perform) fences the
    guest first and emits Lost("conversion-failed") once it gives up (15 s);
    finish had answered, with State "converting", long before;
  - vmleasectl migrate --pipelined (finish sent with perform) whose source
    dies inside perform before its release: finish gives up after its wait,
    both sides are cancelled as far as they answer, and the restarted
    source takes the lease back with cancel; after its release, finish
    works although perform never answered, and the confirm the source
    missed is printed with finish's token, which the restarted source takes.
"""

import json
import os
import signal
import time

from conftest import (LEASE_IFACE, DBusCallError, SignalRecorder, ctl, lease_path,
                      process_alive, s, wait_process_exit, wait_until)
from test_fencing import vms  # noqa: F401 (a fixture: VM stand-ins)
from test_transfer import (Observer, assert_owner, hand_leases, held_lease,  # noqa: F401
                           owners, xfer, xfer_now)

PROPS_IFACE = 'org.freedesktop.DBus.Properties'


def states_seen(rec):
    """The lease's State values in PropertiesChanged, in order."""
    return [ch['State'] for _, (iface, ch, _) in rec.items
            if iface == LEASE_IFACE and 'State' in ch]


def to_performed(h1, h2, u, guest, postcopy=False):
    t1 = xfer(h1, u, 'begin')
    t2 = xfer(h2, u, 'prepare', t1, pid=guest.pid, fence='kill')
    return xfer(h1, u, 'perform', t2, postcopy=postcopy)


def test_state_converting_between_finish_and_held(sb, hosts, hand_leases, vms):
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    rec = SignalRecorder(h2.conn, PROPS_IFACE, 'PropertiesChanged', lease_path(u))
    try:
        with Observer(sb, u, loc):
            t3 = to_performed(h1, h2, u, guest)
            t4 = xfer_now(h2, u, 'finish', t3)
            # confirm right away: it waits for the conversion
            assert xfer_now(h1, u, 'confirm', t4) == ''
            assert owners(sb, loc)['ex'] == 2
        rec.wait(lambda items: 'held' in states_seen(rec), 10, 'State held on host 2')
        seen = states_seen(rec)
        assert seen[-3:] == ['migrating-in', 'converting', 'held'], seen
    finally:
        rec.close()
    assert guest.poll() is None, 'the guest was fenced'


def crash_after_finish(sb, h2, u, loc, t3, point='transfer.converting'):
    """finish on host 2 whose vmleased dies at the crash point where the
    conversion starts, after finish's work and record. Its answer was sent
    before, but may not have left the process yet (GDBus writes from a
    thread of its own): NoReply is then what the caller gets. At
    "transfer.finished" (recorded, not answered) it always is."""
    sb.restart(2, crash_at=point)
    pid = h2.vmleased_pid()
    try:
        xfer_now(h2, u, 'finish', t3)
    except DBusCallError as err:
        assert err.short.endswith('.NoReply'), err
    assert wait_process_exit(pid, 10), 'vmleased of host 2 did not stop at the crash point'


def test_finish_answers_before_conversion_and_restart_completes_it(sb, hosts, hand_leases,
                                                                   vms):
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    with Observer(sb, u, loc):
        # post-copy: the source needs no confirm (finish's token may be lost
        # with the crash); its holder keeps the marker until host 2 holds
        # the lease exclusively
        marker_holder = h1.lease_props(u)['HolderPid']
        t3 = to_performed(h1, h2, u, guest, postcopy=True)
        crash_after_finish(sb, h2, u, loc, t3)
        # finish done and recorded, nothing converted: the sole share
        own = owners(sb, loc)
        assert own['ex'] == 0 and own['shared'] == [2], own
        assert process_alive(marker_holder)
        sb.restart(2)
        wait_until(lambda: h2.lease_props(u)['State'] == 'held', 20,
                   what='host 2 to complete the conversion after its restart')
        assert owners(sb, loc)['ex'] == 2
        assert wait_process_exit(marker_holder, 10), 'the source kept the marker'
    assert guest.poll() is None, 'the guest was fenced'
    p = h2.lease_props(u)
    assert (p['Mode'], p['FencePid']) == ('exclusive', guest.pid), p


def test_finish_answer_lost_source_confirms_with_its_perform_token(sb, hosts, hand_leases,
                                                                   vms):
    """Pre-copy: host 2's vmleased dies after finish recorded its work but
    before it answered (crash point "transfer.finished"): the manager has
    no T4. The restart converts; the source confirms with its own T3,
    which holds only while storage shows host 2 holding the lease
    exclusively (in the generation of its prepare); a T3 of an earlier
    hand-off, or a failure confirmed with it, does not fit."""
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    # an earlier hand-off's T3, undone (after perform, cancel leaves the
    # lease free for a moment: not under the Observer)
    old_t3 = to_performed(h1, h2, u, guest)
    xfer(h2, u, 'cancel')
    xfer(h1, u, 'cancel')
    with Observer(sb, u, loc):
        t3 = to_performed(h1, h2, u, guest)
        crash_after_finish(sb, h2, u, loc, t3, point='transfer.finished')
        assert owners(sb, loc)['shared'] == [2]
        sb.restart(2)
        wait_until(lambda: h2.lease_props(u)['State'] == 'held', 20,
                   what='host 2 to complete the conversion after its restart')
        for token, success in ((old_t3, True), (t3, False)):
            try:
                xfer_now(h1, u, 'confirm', token, success=success)
                raise AssertionError('confirm with %s T3, success %s, was taken'
                                     % ('an earlier' if token is old_t3 else 'this', success))
            except DBusCallError as err:
                assert err.short == 'StaleToken', err
        assert xfer_now(h1, u, 'confirm', t3) == ''
        assert owners(sb, loc)['ex'] == 2
        assert h1.lease_props(u)['State'] == 'free'
    assert guest.poll() is None, 'the guest was fenced'


def test_holder_killed_during_conversion_fences(sb, hosts, hand_leases, vms):
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    t3 = to_performed(h1, h2, u, guest, postcopy=True)
    holder = h2.lease_props(u)['HolderPid']
    crash_after_finish(sb, h2, u, loc, t3)
    assert guest.poll() is None
    os.kill(holder, signal.SIGKILL)
    assert wait_process_exit(holder, 10)
    lost = SignalRecorder(h2.conn, LEASE_IFACE, 'Lost', lease_path(u))
    try:
        sb.restart(2)
        reason, details = lost.wait(lambda items: items and items[0][1], 20,
                                    'Lost on host 2')
    finally:
        lost.close()
    assert details['fenced'] is True and details['fence_pid'] == guest.pid, (reason, details)
    assert 'conversion' in details['message'], details
    assert guest.wait(timeout=10) is not None
    assert h2.lease_props(u)['State'] == 'lost'
    own = owners(sb, loc)
    assert own['ex'] == 0 and own['shared'] == [], own


def test_conversion_that_cannot_complete_fences_and_says_why(sb, hosts, hand_leases, vms):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    marker_holder = h1.lease_props(u)['HolderPid']
    t3 = to_performed(h1, h2, u, guest, postcopy=True)
    # after a post-copy perform the source's holder keeps only the marker;
    # it dies: nothing keeps a third host from sharing the lease now
    os.kill(marker_holder, signal.SIGKILL)
    assert wait_process_exit(marker_holder, 10)
    wait_until(lambda: _shared_acquire(h3, u), 10, what='host 3 to take the lease shared')
    lost = SignalRecorder(h2.conn, LEASE_IFACE, 'Lost', lease_path(u))
    try:
        started = time.monotonic()
        xfer_now(h2, u, 'finish', t3)
        assert h2.lease_props(u)['State'] == 'converting'
        assert guest.poll() is None
        reason, details = lost.wait(lambda items: items and items[0][1], 30,
                                    'Lost on host 2')
        took = time.monotonic() - started
    finally:
        lost.close()
    assert reason == 'conversion-failed', (reason, details)
    assert details['fenced'] is True and details['fence_pid'] == guest.pid, details
    assert guest.wait(timeout=10) is not None
    assert took >= 14, 'gave up after %.1f s' % took
    # fenced first, then the holder let go of the share
    wait_until(lambda: owners(sb, loc)['shared'] == [3], 10,
               what='host 2 to let go of its share')
    assert owners(sb, loc)['ex'] == 0
    assert h2.lease_props(u)['State'] == 'lost'
    h3.release(u)


def _shared_acquire(h, u):
    try:
        h.acquire(u, options={'mode': s('shared')})
        return True
    except Exception:       # noqa: BLE001 -- Busy until the marker is gone
        return False


def pipelined_migrate_1_to_2(sb, hosts, u, crash_at):
    """vmleasectl --json migrate --pipelined from host 1 to host 2, run from
    host 3, with host 1's vmleased killed at @crash_at inside perform.
    Returns the run and its JSON once that vmleased is gone; the callers
    restart it."""
    h1, _, h3 = hosts
    env = {h.id: os.path.join(sb.dir, 'host%d.env' % h.id) for h in hosts}
    sb.restart(1, crash_at=crash_at)
    pid = h1.vmleased_pid()
    r = ctl(h3, '--json', 'migrate', '--from', env[1], '--to', env[2], u, '--pipelined')
    out = json.loads(r.stdout)
    assert r.returncode != 0 and out['migrated'] is False and out['pipelined'] is True, out
    assert wait_process_exit(pid, 10), 'vmleased of host 1 did not stop at the crash point'
    return r, out


def test_pipelined_migrate_whose_source_dies_inside_perform(sb, hosts, hand_leases):
    h1 = hosts[0]
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        # write-ahead recorded, nothing released: the source still shares
        r, out = pipelined_migrate_1_to_2(sb, hosts, u, 'transfer.performing')
        # the failing step's error: the source left the bus without an answer
        assert 'perform on host 1 (source)' in r.stderr, r.stderr
        steps = [(x['step'], x['side'], x['ok'], x['recovery']) for x in out['steps']]
        # perform's answer lost; finish waited for a release that never came
        # (Busy), then the destination gave its share up; the source could
        # not be reached for its cancel
        assert steps == [('begin', 'source', True, False),
                         ('prepare', 'destination', True, False),
                         ('perform', 'source', False, False),
                         ('finish', 'destination', False, False),
                         ('cancel', 'destination', True, True),
                         ('cancel', 'source', False, True)], out
        finish = out['steps'][3]
        assert finish['error'].endswith('.Busy') and finish['ms'] >= 9000, finish
        own = owners(sb, loc)
        assert own['ex'] == 0 and own['shared'] == [1], own
        # the restart finds "performing" and no release: cancel takes it back
        sb.restart(1)
        ctl(h1, 'transfer', 'cancel', u, '', check=0)
        assert_owner(sb, hosts, u, loc, 1)


def test_pipelined_migrate_whose_source_dies_after_its_release(sb, hosts, hand_leases):
    h1 = hosts[0]
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        # released, the record still says "performing", no answer
        r, out = pipelined_migrate_1_to_2(sb, hosts, u, 'transfer.performed')
        steps = [(x['step'], x['ok']) for x in out['steps']]
        # the finish that worked wins over perform's lost answer: the lease
        # moved; only the source's confirm is missing, and how to send it
        assert steps == [('begin', True), ('prepare', True), ('perform', False),
                         ('finish', True), ('confirm', False)], out
        retry = [line for line in r.stderr.splitlines() if 'transfer confirm' in line]
        assert len(retry) == 1, r.stderr
        t4 = retry[0].split()[-1]
        wait_until(lambda: owners(sb, loc)['ex'] == 2, 20, what='host 2 to convert')
        sb.restart(1)
        ctl(h1, 'transfer', 'confirm', u, t4, check=0)
        assert_owner(sb, hosts, u, loc, 2)
        assert h1.lease_props(u)['TransferStep'] == '', h1.lease_props(u)
