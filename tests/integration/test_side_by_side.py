# SPDX-License-Identifier: LGPL-2.1-or-later
"""finish side by side with perform, and finish's resume (issue 14 part 2;
docs/api.md "Transfer", docs/decisions.md "finish side by side with
perform").

A virt manager may send finish at the source's STOP together with perform,
with the destination's own prepare token and a `wait`: finish then answers
once storage shows the source's share gone. On the sandbox (real sanlock
daemons, buses, polkitd), under the storage Observer of test_transfer.py
(no moment without a holder, never two exclusive holders):

  - finish sent before perform, pre-copy and post-copy: it answers only
    after perform let go, and confirm takes its token (which carries the
    begin token inside prepare's, not perform's);
  - without a wait, finish with prepare's token is Busy until perform ran,
    and changes nothing;
  - a wait that runs out (no perform) ends Busy, and cancel still undoes
    both sides;
  - resume (a "cont" through the destination QEMU's monitor) is checked
    before anything changes: it needs the monitor (`qmp`) and a pid, and a
    monitor that cannot be reached fails prepare {resume} cleanly. A resume
    with a real QEMU is tests/e2e/test_qemu_migration.py's.
"""

import threading
import time

import pytest

from conftest import ctl, raises_dbus
from test_fencing import vms  # noqa: F401 (a fixture: VM stand-ins)
from test_transfer import (Observer, assert_owner, hand_leases, held_lease, owners,  # noqa: F401
                           props, state, wait_converted, xfer, xfer_now)


class Async:
    """A Transfer call in a thread of its own; result() returns its token or
    raises its error."""

    def __init__(self, h, u, step, token, **options):
        self.value = self.error = None
        self.answered_at = None
        self._thread = threading.Thread(target=self._run, args=(h, u, step, token),
                                        kwargs=options, daemon=True)
        self._thread.start()

    def _run(self, h, u, step, token, **options):
        try:
            self.value = xfer_now(h, u, step, token, **options)
        except Exception as e:  # handed to result()
            self.error = e
        self.answered_at = time.monotonic()

    def result(self, timeout=30):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), 'the call did not answer within %d s' % timeout
        if self.error is not None:
            raise self.error
        return self.value


def begun_and_prepared(h1, h2, u, guest):
    t1 = xfer(h1, u, 'begin')
    return xfer(h2, u, 'prepare', t1, pid=guest.pid, fence='kill')


@pytest.mark.parametrize('postcopy', [False, True], ids=['pre-copy', 'post-copy'])
def test_finish_sent_before_perform_answers_after_it(sb, hosts, hand_leases, vms, postcopy):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    with Observer(sb, u, loc):
        t2 = begun_and_prepared(h1, h2, u, guest)
        finishing = Async(h2, u, 'finish', t2, wait=10)
        time.sleep(0.3)    # finish is waiting for perform, and holds nothing back
        assert finishing.answered_at is None, 'finish answered before perform'
        assert state(h2, u) == ('migrating-in', 'prepare')
        assert owners(sb, loc)['shared'] == [1, 2]
        performed_at = time.monotonic()
        xfer_now(h1, u, 'perform', t2, postcopy=postcopy)
        t4 = finishing.result()
        assert finishing.answered_at >= performed_at
        wait_converted(h2, u)
        # confirm takes the token of a finish that answered prepare's
        assert xfer(h1, u, 'confirm', t4) == ''
    assert_owner(sb, hosts, u, loc, 2)
    assert guest.poll() is None, 'the guest was fenced'


def test_finish_with_prepare_token_without_wait_is_busy_until_perform(sb, hosts, hand_leases,
                                                                      vms):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    with Observer(sb, u, loc):
        t2 = begun_and_prepared(h1, h2, u, guest)
        with raises_dbus('Busy') as e:
            xfer_now(h2, u, 'finish', t2)
        assert 'run perform there first, or give finish a wait' in e.value.message
        assert state(h2, u) == ('migrating-in', 'prepare')
        assert state(h1, u) == ('migrating-out', 'begin')
        assert owners(sb, loc)['shared'] == [1, 2]
        xfer_now(h1, u, 'perform', t2)
        t4 = xfer(h2, u, 'finish', t2)
        assert xfer(h1, u, 'confirm', t4) == ''
    assert_owner(sb, hosts, u, loc, 2)


def test_finish_wait_without_perform_ends_busy_and_cancel_undoes(sb, hosts, hand_leases, vms):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    with Observer(sb, u, loc):
        t2 = begun_and_prepared(h1, h2, u, guest)
        t0 = time.monotonic()
        with raises_dbus('Busy') as e:
            xfer_now(h2, u, 'finish', t2, wait=1)
        waited = time.monotonic() - t0
        assert 'finish waited for it as long as its wait said' in e.value.message
        assert 0.9 <= waited < 10, waited
        assert state(h2, u) == ('migrating-in', 'prepare')
        xfer(h2, u, 'cancel')
        xfer(h1, u, 'cancel', wait=5)
    assert_owner(sb, hosts, u, loc, 1)
    assert guest.poll() is None


def test_resume_is_checked_before_anything_changes(sb, hosts, hand_leases, vms, tmp_path):
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    t1 = xfer(h1, u, 'begin')
    # prepare {resume} needs the destination QEMU's monitor and its pid
    with raises_dbus('InvalidArgument') as e:
        xfer_now(h2, u, 'prepare', t1, pid=guest.pid, resume=True)
    assert 'resume needs the destination QEMU' in e.value.message
    # a monitor nobody serves: prepare fails, and nothing was taken
    gone = str(tmp_path / 'gone.qmp')
    with raises_dbus('Failed') as e:
        xfer_now(h2, u, 'prepare', t1, pid=guest.pid, qmp=gone, resume=True)
    assert "cannot reach the guest's QEMU to resume it (%s)" % gone in e.value.message
    assert state(h2, u) == ('free', '')
    assert owners(sb, loc)['shared'] == [1]
    # a kill fence may name the monitor too (resume's, not the fence's)
    t2 = xfer(h2, u, 'prepare', t1, pid=guest.pid, fence='kill', qmp=gone)
    with raises_dbus('InvalidArgument') as e:
        xfer_now(h2, u, 'finish', t2, success=False, resume=True)
    assert 'resume starts the guest after a finish that worked' in e.value.message
    t3 = xfer_now(h1, u, 'perform', t2)
    with raises_dbus('Failed') as e:
        xfer_now(h2, u, 'finish', t3, resume=True)
    assert "cannot reach the guest's QEMU" in e.value.message
    assert state(h2, u) == ('migrating-in', 'prepare')
    # without resume the hand-off goes on: the caller sends cont itself
    t4 = xfer(h2, u, 'finish', t3)
    assert xfer(h1, u, 'confirm', t4) == ''
    assert_owner(sb, hosts, u, loc, 2)
    assert guest.poll() is None


def test_vmleasectl_finish_side_by_side_with_perform(sb, hosts, hand_leases, vms):
    """The same from the command line: `transfer finish UUID T2 --wait`
    started before `transfer perform`, each on its host."""
    h1, h2, h3 = hosts
    u, loc = held_lease(hosts, hand_leases)
    guest = vms()
    with Observer(sb, u, loc):
        t1 = ctl(h1, 'transfer', 'begin', u, check=0).stdout.strip()
        t2 = ctl(h2, 'transfer', 'prepare', u, t1, '--pid', str(guest.pid),
                 check=0).stdout.strip()
        r = ctl(h2, 'transfer', 'finish', u, t2, check=8)   # Busy: no wait, no perform yet
        assert 'give finish a wait' in r.stderr, r.stderr
        finished = {}
        finishing = threading.Thread(
            target=lambda: finished.update(r=ctl(h2, 'transfer', 'finish', u, t2, '--wait', '10')),
            daemon=True)
        finishing.start()
        time.sleep(0.3)
        assert finishing.is_alive(), finished
        ctl(h1, 'transfer', 'perform', u, t2, check=0)
        finishing.join(30)
        assert finished['r'].returncode == 0, finished['r'].stderr
        t4 = finished['r'].stdout.strip()
        assert t4.startswith('vml1.'), t4
        wait_converted(h2, u)
        ctl(h1, 'transfer', 'confirm', u, t4, check=0)
    assert_owner(sb, hosts, u, loc, 2)
