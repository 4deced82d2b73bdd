# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmleased killed with SIGKILL while it holds a lease: the lease stays held
(its holder keeps it), and a restarted vmleased exports it again."""

from conftest import (LEASE_IFACE, lease_path, process_alive, process_comm,
                      raises_dbus, s, wait_process_exit, wait_until)


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
