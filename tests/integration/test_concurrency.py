# SPDX-License-Identifier: LGPL-2.1-or-later
"""Calls racing on one lease, and acquisitions of different leases in parallel."""

import contextlib
import os
import random
import threading
import time

from conftest import (DBusCallError, proc_stat, process_alive, process_comm,
                      unstick_index, wait_until)

ITERATIONS = 25


def hammer(host, u, seed, allowed, log, barrier):
    """Acquire/Release u at random from a connection of its own."""
    rnd = random.Random(seed)
    conn = host.connect()
    barrier.wait()
    try:
        for i in range(ITERATIONS):
            method = rnd.choice(('Acquire', 'Acquire', 'Release'))
            try:
                host.lease(u, method, {}, conn=conn, timeout_ms=30000)
                log.append((host.id, seed, i, method, 'ok', ''))
            except DBusCallError as e:
                log.append((host.id, seed, i, method, e.short, e.message))
                if e.short not in allowed:
                    return
            if rnd.random() < 0.3:
                time.sleep(rnd.random() * 0.01)
    finally:
        conn.close_sync(None)


def holders_of_vmleased(host):
    """vmlease-holder processes whose parent is this host's vmleased."""
    vm = host.vmleased_pid()
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == vm and st[2] == 'vmlease-holder' and st[0] != 'Z':
                out.append(int(d))
    return sorted(out)


def consistent(host, u, storage):
    """Inquire, the lease's properties and sanlock agree; returns the state."""
    info = host.inquire(u)
    props = host.lease_props(u)
    sl = host.sanlock_holders_of(u)
    if info['state'] in ('held', 'held-shared'):
        assert info['held_here'] is True, info
        assert sl == [info['holder_pid']], ('host %d: Inquire says holder %d, sanlock '
                                            'client status says %r' % (host.id, info['holder_pid'], sl))
        assert process_comm(info['holder_pid']) == 'vmlease-holder'
        assert props['HolderPid'] == info['holder_pid'], (props, info)
        own = storage.owners(u, info['path'], info['offset'])
        assert own['exclusive'] == host.id, own
    else:
        assert info['state'] == 'free', info
        assert info['held_here'] is False and info['holder_pid'] == 0, info
        assert sl == [], 'host %d: Inquire says free but sanlock has holders %r' % (host.id, sl)
        assert props['HolderPid'] == 0, props
    assert props['State'] == info['state'], (props, info)
    return info


def run_race(workers):
    log = []
    barrier = threading.Barrier(len(workers))
    threads = [threading.Thread(target=hammer, args=(h, u, seed, allowed, log, barrier))
               for (h, u, seed, allowed) in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), 'racing calls did not finish'
    bad = [e for e in log if e[4] != 'ok' and e[4] not in
           next(w[3] for w in workers if w[0].id == e[0] and w[2] == e[1])]
    assert not bad, 'unexpected errors in racing calls:\n' + '\n'.join(map(repr, bad))
    counts = {}
    for e in log:
        counts[(e[0], e[3], e[4])] = counts.get((e[0], e[3], e[4]), 0) + 1
    print('racing calls (host, method, outcome): count', sorted(counts.items()))
    return log


# vmleased keeps a spare holder registered with sanlock, ready for the next
# Acquire (service/vml-manager.c: SPARE_HOLDERS 1); allow a little slack.
IDLE_HOLDERS_MAX = 2


def no_stray_holders(host, storage_known=None):
    """Every holder child of vmleased is a registered sanlock client holding
    a resource, but for at most IDLE_HOLDERS_MAX spares (no leaked holders)."""
    def idle():
        st = host.sanlock_status()
        holding = {pid for pid, res in st['clients'].items() if res}
        return [p for p in holders_of_vmleased(host) if p not in holding]
    try:
        wait_until(lambda: len(idle()) <= IDLE_HOLDERS_MAX or None, 5, 0.1,
                   'idle holders to exit')
    except AssertionError:
        st = host.sanlock_status()
        raise AssertionError('host %d: %d vmlease-holder processes hold nothing (%r; at most '
                             '%d spares expected); sanlock status:\n%s'
                             % (host.id, len(idle()), idle(), IDLE_HOLDERS_MAX, st['text']))


def test_racing_acquire_release_on_one_lease_same_host(hosts, storage, leases):
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    allowed = ('Exists', 'NotHeld')
    log = run_race([(h1, u, 1, allowed), (h1, u, 2, allowed)])
    oks = [e for e in log if e[4] == 'ok']
    assert oks, 'no call succeeded: %r' % log
    wait_until(lambda: h1.inquire(u)['state'] in ('held', 'free'), 10, what='a settled state')
    info = consistent(h1, u, storage)
    no_stray_holders(h1, storage)
    if info['state'] == 'held':
        h1.release(u)
    consistent(h1, u, storage)
    no_stray_holders(h1, storage)


def test_racing_acquire_release_on_one_lease_two_hosts(hosts, storage, leases):
    h1, h2 = hosts[0], hosts[1]
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    allowed = ('Exists', 'NotHeld', 'Busy')
    run_race([(h1, u, 3, allowed), (h1, u, 4, allowed),
              (h2, u, 5, allowed), (h2, u, 6, allowed)])
    for h in (h1, h2):
        wait_until(lambda: h.inquire(u)['state'] in ('held', 'free'), 10, what='a settled state')
    i1, i2 = consistent(h1, u, storage), consistent(h2, u, storage)
    held = [h.id for h, i in ((h1, i1), (h2, i2)) if i['state'] == 'held']
    assert len(held) <= 1, 'both hosts hold the lease exclusively: %r %r' % (i1, i2)
    own = storage.owners(u, i1['path'], i1['offset'])
    assert own['exclusive'] == (held[0] if held else 0), (own, held)
    for h in (h1, h2):
        no_stray_holders(h, storage)
        if h.id in held:
            h.release(u)
    assert storage.owners(u, i1['path'], i1['offset'])['exclusive'] == 0


def test_parallel_acquire_of_different_leases(hosts, storage, leases):
    h = hosts[2]
    us = [leases() for _ in range(8)]
    for u in us:
        h.create(u)
    errors = []
    barrier = threading.Barrier(len(us))

    def one(u, method):
        conn = h.connect()
        barrier.wait()
        try:
            h.lease(u, method, {}, conn=conn, timeout_ms=30000)
        except DBusCallError as e:
            errors.append((u, method, e))
        finally:
            conn.close_sync(None)

    for method in ('Acquire', 'Release'):
        barrier.reset()
        threads = [threading.Thread(target=one, args=(u, method)) for u in us]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), '%s calls hang' % method
        assert not errors, errors
        elapsed = time.monotonic() - t0
        want = 'held' if method == 'Acquire' else 'free'
        pids = set()
        for u in us:
            info = consistent(h, u, storage)
            assert info['state'] == want, info
            pids.add(info['holder_pid'])
        if method == 'Acquire':
            assert len(pids) == len(us), 'leases share holders: %r' % pids
            assert all(process_alive(p) for p in pids)
        print('%d parallel %s calls: %.2f s' % (len(us), method, elapsed))
    no_stray_holders(h, storage)


def race_create(hosts, uuids, barrier_timeout=10):
    """CreateLease(uuids[i]) on hosts[i], all at the same moment.
    Returns {i: ('ok', path, seconds) or ('error', short, message, seconds)}."""
    res = {}
    barrier = threading.Barrier(len(hosts))

    def one(i):
        h = hosts[i]
        conn = h.connect()
        barrier.wait(barrier_timeout)
        t0 = time.monotonic()
        try:
            r = h.manager('CreateLease', 'ssa{sv}', uuids[i], 'sandbox', {}, conn=conn,
                          timeout_ms=60000)
            res[i] = ('ok', r[0], round(time.monotonic() - t0, 2))
        except DBusCallError as e:
            res[i] = ('error', e.short, e.message, round(time.monotonic() - t0, 2))
        finally:
            conn.close_sync(None)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(hosts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), 'CreateLease calls hang'
    return res


def test_parallel_create_of_different_leases_on_three_hosts(sb, hosts, storage, leases):
    """Each host creates a lease at the same moment as the others: all succeed,
    each gets an area of its own, and the index is usable afterwards."""
    problems = []
    try:
        for rnd in range(3):
            us = [leases() for _ in hosts]
            res = race_create(hosts, us)
            offsets = {}
            for i, h in enumerate(hosts):
                r = res[i]
                if r[0] != 'ok':
                    problems.append('round %d: CreateLease on host %d failed after %.1f s: %s: %s'
                                    % (rnd, h.id, r[3], r[1], r[2]))
                    continue
                offsets[us[i]] = h.inquire(us[i])['offset']
                assert storage.index_lookup(us[i]) == offsets[us[i]], (us[i], offsets)
                assert storage.leader(us[i], sb.lease_file, offsets[us[i]])['valid']
            assert len(set(offsets.values())) == len(offsets), 'shared areas: %r' % offsets
            il = storage.index_lease()
            if il['timestamp']:
                problems.append('round %d: after the creates returned, the index lease is '
                                'still held on storage by host %d (%r): %r'
                                % (rnd, il['own'], il, res))
                # does the index stay locked for the other hosts?
                time.sleep(2)
                for h in hosts:
                    if h.id == il['own']:
                        continue
                    v = leases()
                    try:
                        h.create(v)
                    except DBusCallError as e:
                        problems.append('round %d: 2 s later CreateLease on host %d still '
                                        'fails: %s: %s' % (rnd, h.id, e.short, e.message))
                unstick_index_and_note(sb, problems)
            if problems:
                break       # shown; do not spend more time on it
        assert not problems, '\n'.join(problems)
    finally:
        unstick_index(sb)


def unstick_index_and_note(sb, problems):
    unstick_index(sb)
    if sb.storage.index_lease()['timestamp']:
        problems.append('the index lease could not be freed: %r' % sb.storage.index_lease())


def test_parallel_create_of_same_uuid_on_three_hosts_makes_one_lease(sb, hosts, storage, leases):
    """Three hosts create the same VM's lease at once: there must be one lease
    on storage (one area), so that only one host can ever hold it."""
    problems = []
    compared = 0
    try:
        for rnd in range(6):
            u = leases()
            res = race_create(hosts, [u] * len(hosts))
            ok = [hosts[i] for i in range(len(hosts)) if res[i][0] == 'ok']
            for i in range(len(hosts)):
                if res[i][0] != 'ok' and res[i][1] != 'Busy':
                    problems.append('round %d: host %d: %s: %s' % (rnd, hosts[i].id, res[i][1], res[i][2]))
            unstick_index(sb)
            # the hosts that lost the race may create (adopt) it now
            for h in hosts:
                if h not in ok:
                    try:
                        h.create(u)
                        ok.append(h)
                    except DBusCallError as e:
                        problems.append('round %d: CreateLease on host %d after the race: %s: %s'
                                        % (rnd, h.id, e.short, e.message))
            offsets = {h.id: h.inquire(u)['offset'] for h in ok}
            compared += len(offsets) >= 2
            if len(set(offsets.values())) > 1:
                # one VM, several leases: show what that means
                held = []
                for h in ok:
                    try:
                        h.acquire(u)
                        held.append(h.id)
                    except DBusCallError:
                        pass
                for hid in held:
                    with contextlib.suppress(Exception):
                        sb.host(hid).release(u)
                problems.append('round %d: one uuid, %d lease areas: offsets by host %r '
                                '(index lookup: %r); hosts %r then all acquired it exclusively '
                                'at the same time; race results %r'
                                % (rnd, len(set(offsets.values())), offsets,
                                   storage.index_lookup(u), held, res))
                # delete the extra areas' objects from the hosts that hold them
                for h in ok:
                    with contextlib.suppress(Exception):
                        h.delete(u)
            if problems:
                break       # shown; do not spend more time on it
        assert not problems, '\n'.join(problems)
        assert compared, 'no round had two hosts with the lease to compare'
    finally:
        unstick_index(sb)
