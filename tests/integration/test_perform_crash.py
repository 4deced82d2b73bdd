# SPDX-License-Identifier: LGPL-2.1-or-later
"""A crash of the source's vmleased inside perform (finding 1 of
docs/model.md), at the crash points of perform's write-ahead record
(docs/decisions.md "Crash points"), with real sanlock daemons:

  - "transfer.performed": after sanlock's release, before the step's own
    record. The restart finds the record "performing" and a holder that
    holds only the marker: the perform counts as done (pre-copy, even when
    post-copy was asked: it never answered), and the virt manager's cancels
    (destination first, then the source, with a wait) take the lease back
    to the source, whose paused guest was not fenced.
  - "transfer.performing": after the record, before the release. The
    restart finds the holder still sharing: the hand-off is back after
    begin, and perform, finish and confirm complete it.
"""


import pytest

from conftest import DBusCallError, s, u32, wait_process_exit, wait_until
from test_fencing import vms  # noqa: F401 (a fixture: VM stand-ins)
from test_transfer import (Observer, hand_leases, held_lease, owners, xfer)  # noqa: F401


def perform_crashing(sb, h1, u, t2, point, postcopy):
    """perform on host 1, whose vmleased dies at @point: the caller gets
    NoReply."""
    sb.restart(1, crash_at=point)
    pid = h1.vmleased_pid()
    with pytest.raises(DBusCallError) as err:
        xfer(h1, u, 'perform', t2, postcopy=postcopy)
    assert err.value.short.endswith('.NoReply'), err.value
    assert wait_process_exit(pid, 10), 'vmleased of host 1 did not stop at %s' % point
    sb.restart(1)


@pytest.mark.parametrize('postcopy', [False, True], ids=['precopy', 'postcopy'])
def test_crash_after_release_can_take_back(sb, hosts, hand_leases, vms, postcopy):
    h1, h2, _ = hosts
    guest = vms()
    u = hand_leases()
    h1.create(u, options={'name': s('vm-perform-crash')})
    h1.acquire(u, options={'pid': u32(guest.pid), 'fence': s('kill')})
    for h in hosts:
        h.get_lease(u)
    info = h1.inquire(u)
    loc = {'path': info['path'], 'offset': info['offset']}
    with Observer(sb, u, loc) as obs:
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        perform_crashing(sb, h1, u, t2, 'transfer.performed', postcopy)
        own = owners(sb, loc)
        assert own['ex'] == 0 and own['shared'] == [2], own
        p = h1.lease_props(u)
        assert (p['State'], p['TransferStep']) == ('migrating-out', 'perform'), p
        assert h1.inquire(u)['transfer']['postcopy'] is False
        # perform failed for the caller: it gives up, the destination first
        obs.allow_free('cancel after a perform (the take-back waits for a free lease)')
        xfer(h2, u, 'cancel', '')
        xfer(h1, u, 'cancel', '', wait=10)
    p = h1.lease_props(u)
    assert (p['State'], p['TransferStep'], p['Mode']) == ('held', '', 'exclusive'), p
    assert owners(sb, loc)['ex'] == 1
    assert guest.poll() is None, 'the paused guest was fenced'
    assert h1.lease_props(u)['FencePid'] == guest.pid


def test_crash_before_release_resumes_after_begin(sb, hosts, hand_leases):
    h1, h2, _ = hosts
    u, loc = held_lease(hosts, hand_leases)
    with Observer(sb, u, loc):
        t1 = xfer(h1, u, 'begin')
        t2 = xfer(h2, u, 'prepare', t1)
        perform_crashing(sb, h1, u, t2, 'transfer.performing', False)
        own = owners(sb, loc)
        assert own['shared'] == [1, 2], own
        wait_until(lambda: h1.lease_props(u)['TransferStep'] == 'begin', 10,
                   what='host 1 to resume after begin')
        t3 = xfer(h1, u, 'perform', t2)
        t4 = xfer(h2, u, 'finish', t3)
        assert xfer(h1, u, 'confirm', t4) == ''
    assert owners(sb, loc)['ex'] == 2
    assert h2.lease_props(u)['State'] == 'held'
