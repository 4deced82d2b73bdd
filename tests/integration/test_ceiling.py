# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ceiling on held leases per host ([daemon] max_leases, docs/decisions.md
"Sanlock's client table"): sanlock serves at most 1,024 clients per host and
makes a client beyond that wait forever, so vmleased refuses a lease holder
past its ceiling at once, with Busy naming the ceiling and the key, and
keeps Release, Inquire and CreateLease working there.

The test lowers host 3's ceiling to 3 (its vmleased.conf, then a restart)
and puts the configuration back afterwards; every test leaves every host's
vmleased running."""

import contextlib
import os
import re
import subprocess
import time

from conftest import BUILD_DIR, process_comm, raises_dbus, s, wait_until

CEILING = 3
# "at once": far below any sanlock or D-Bus timeout (sanlock's own would be
# forever, the D-Bus call's 30 s here)
AT_ONCE_S = 2.0


@contextlib.contextmanager
def lowered_ceiling(sb, k, max_leases):
    """Host k's vmleased restarted with [daemon] max_leases=@max_leases."""
    path = os.path.join(sb.dir, 'host%d' % k, 'vmleased.conf')
    with open(path) as f:
        original = f.read()
    assert '[daemon]\n' in original, original
    with open(path, 'w') as f:
        f.write(original.replace('[daemon]\n', '[daemon]\nmax_leases=%d\n' % max_leases, 1))
    try:
        sb.restart(k)
        yield path
    finally:
        with open(path, 'w') as f:
            f.write(original)
        sb.restart(k)


def timed(call):
    t0 = time.monotonic()
    try:
        call()
    finally:
        timed.elapsed = time.monotonic() - t0


def test_acquire_past_the_ceiling_is_busy_at_once_and_release_makes_room(sb, hosts, leases):
    h3 = hosts[2]
    with lowered_ceiling(sb, 3, CEILING) as conf:
        held = [leases() for _ in range(CEILING)]
        for u in held:
            h3.create(u, options={'name': s('vm-ceiling')})
            h3.acquire(u)
        extra = leases()
        h3.create(extra)     # creating needs no lease holder: it works at the ceiling

        with raises_dbus('Busy') as e:
            timed(lambda: h3.acquire(extra))
        assert timed.elapsed < AT_ONCE_S, 'the refusal took %.1f s' % timed.elapsed
        msg = e.value.message
        assert 'max_leases=%d in [daemon] of %s' % (CEILING, conf) in msg, msg
        assert re.search(r'keeps %d lease holders' % CEILING, msg), msg
        assert h3.inquire(extra)['state'] == 'free'

        # Inquire and Release still work at the ceiling
        for u in held:
            info = h3.inquire(u)
            assert info['held_here'] is True and info['state'] == 'held', info
        h3.release(held[0])
        assert h3.inquire(held[0])['state'] == 'free'

        # one released, one place free: the Acquire succeeds now
        h3.acquire(extra)
        assert h3.inquire(extra)['held_here'] is True
        with raises_dbus('Busy'):
            h3.acquire(held[0])
        for u in held[1:] + [extra]:
            h3.release(u)
        # and the spare comes back once there is room for it
        wait_until(lambda: spares(h3), 10, what='a spare holder on host 3')


def spares(host):
    """Holders registered with the host's sanlock that hold nothing."""
    return [pid for pid, held in host.sanlock_status()['clients'].items()
            if not held and process_comm(pid) == 'vmlease-holder']


def test_a_ceiling_out_of_range_stops_vmleased_with_a_clear_message(sb, tmp_path):
    # vmleased reads its configuration before it touches the bus or sanlock
    vmleased = os.path.join(BUILD_DIR, 'service', 'vmleased')
    conf = str(tmp_path / 'vmleased.conf')
    for bad in ('0', '1001', 'lots'):
        with open(conf, 'w') as f:
            f.write('[daemon]\nmax_leases=%s\n' % bad)
        r = subprocess.run([vmleased, '--config', conf, '--state-dir', str(tmp_path)],
                           capture_output=True, text=True, timeout=20,
                           env={'PATH': '/usr/bin:/bin',
                                'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=' + str(tmp_path / 'none')})
        assert r.returncode != 0, (bad, r)
        assert ('max_leases in [daemon] of %s must be a number from 1 to 1000' % conf
                in r.stderr), (bad, r.stderr)
