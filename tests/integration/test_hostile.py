# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile callers (issue 12), against the real thing: a polkit check that
never answers, waits whose caller left the bus, and unprivileged readers
flooding the service. Callers of other uids run as
in test_auth.py (setpriv + a GDBus snippet); polkitd is real and is
stopped with SIGSTOP where a test says so, and always continued."""

import json
import os
import signal
import subprocess
import time

from conftest import (LEASE_IFACE, MANAGER_IFACE, MANAGER_PATH, b, lease_path, new_uuid,
                      raises_dbus, u32, wait_until)
from test_auth import (CALLER_ENV, MEMBER, NOT_AUTHORIZED, OUTSIDER, SNIPPET,
                       _check_caller_output, call, free_lease, lease_call, one,
                       setpriv_argv)

BUSY = 'org.example.VMLease.Error.Busy'
NOT_FOUND = 'org.example.VMLease.Error.NotFound'
# docs/authorization.md, "Failing closed"
POLKIT_TIMEOUT_S = 25
# docs/api.md, Acquire's `wait`
WAIT_MAX_S = 3600


def start_as(user, host, calls):
    """Like test_auth.run_as, but returns the running caller (a Popen): the
    test decides when it leaves the bus (it exits, or is killed)."""
    return subprocess.Popen(setpriv_argv(user) + ['/usr/bin/python3', '-c', SNIPPET,
                                                  host.address, json.dumps({'calls': calls})],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd='/', env=CALLER_ENV)


def finish(user, host, p, timeout):
    out, err = p.communicate(timeout=timeout)
    return _check_caller_output(user, host, out, err, p.returncode)


def with_timeout(c, ms):
    return dict(c, timeout_ms=ms)


def hold_on(h, u):
    """Host h holds u (root); the caller's host sees it Busy."""
    h.get_lease(u)
    h.acquire(u)
    assert h.lease_props(u)['State'] == 'held'


# --- item 4: waits with a maximum, ended when their caller leaves -------------

def test_acquire_wait_has_a_maximum(hosts, leases):
    h1 = hosts[0]
    u = leases()
    h1.create(u)
    for wait in (WAIT_MAX_S + 1, 4294967295):
        with raises_dbus('InvalidArgument') as e:
            h1.acquire(u, {'wait': u32(wait)})
        assert str(WAIT_MAX_S) in e.value.message, e.value.message
    assert h1.lease_props(u)['State'] == 'free'
    # Transfer's waits (confirm, cancel) too
    h1.acquire(u)
    h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['begin', '', {}], reply='(s)')
    for step in ('cancel', 'confirm'):
        with raises_dbus('InvalidArgument') as e:
            h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                        [step, '', {'wait': u32(4294967295), 'success': b(False)}
                         if step == 'confirm' else {'wait': u32(WAIT_MAX_S + 1)}])
        assert str(WAIT_MAX_S) in e.value.message, e.value.message
    assert h1.lease_props(u)['State'] == 'migrating-out'
    h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['cancel', '', {}])
    h1.release(u)


def test_waiting_acquire_ends_when_its_caller_leaves(hosts, leases):
    """A member's Acquire with the longest wait, its client gone after 3 s:
    the lease goes back to free at once, and is not acquired for nobody
    when the other host lets it go."""
    h1, h2 = hosts[0], hosts[1]
    u = free_lease(h1, leases, 'vm-wait-gone')
    hold_on(h2, u)
    r = finish(MEMBER, h1, start_as(MEMBER, h1, [with_timeout(
        lease_call('Acquire', u, 'Acquire', {'wait': ['u', WAIT_MAX_S]}), 3000)]), 30)
    assert not r['Acquire']['ok'] and 'Timeout' in r['Acquire']['message'], r
    # the caller's process has exited: it is off the bus
    wait_until(lambda: h1.lease_props(u)['State'] == 'free', 5,
               what='the lease back to free after its waiting caller left')
    h2.release(u)
    time.sleep(2)   # several retry periods (0.5 s): none may take it
    assert h1.lease_props(u)['State'] == 'free'
    assert h1.sanlock_holders_of(u) == []


def test_delete_and_remove_lockspace_answer_while_an_acquire_waits(hosts, leases):
    """DeleteLease and RemoveLockspace answer Busy at once, naming the
    waiting Acquire, instead of queueing behind it (client timeout 5 s,
    the wait 60 s)."""
    h1, h2 = hosts[0], hosts[1]
    u = free_lease(h1, leases, 'vm-wait-delete')
    hold_on(h2, u)
    waiter = start_as(MEMBER, h1, [lease_call('Acquire', u, 'Acquire', {'wait': ['u', 60]})])
    try:
        wait_until(lambda: h1.lease_props(u)['State'] == 'acquiring', 10,
                   what='the member\'s Acquire waiting')
        with raises_dbus('Busy') as e:
            h1.delete(u, timeout_ms=5000)
        assert 'Acquire' in e.value.message and 'waiting' in e.value.message, e.value.message
        ls = h1.lease_props(u)['Lockspace']
        with raises_dbus('Busy') as e:
            h1.remove_lockspace(ls, timeout_ms=5000)
        assert 'Acquire' in e.value.message and 'waiting' in e.value.message, e.value.message
        assert u in e.value.message, e.value.message
    finally:
        waiter.kill()
        waiter.wait()
    wait_until(lambda: h1.lease_props(u)['State'] == 'free', 5,
               what='the lease back to free after its waiting caller was killed')


# --- item 3: a polkit check that never answers ------------------------------------

class PolkitStopped:
    """polkitd of host k stopped (SIGSTOP) for the with-block; always
    continued afterwards."""

    def __init__(self, sb, k):
        self.pid = sb.polkitd_pid(k)
        assert self.pid, 'no polkitd recorded for host %d' % k

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def cont(self):
        os.kill(self.pid, signal.SIGCONT)

    def __exit__(self, *exc):
        self.cont()


def test_polkit_check_times_out_not_authorized(sb, hosts, leases):
    h1 = hosts[0]
    u = free_lease(h1, leases, 'vm-pk-timeout')
    with PolkitStopped(sb, 1):
        r = one(MEMBER, h1, with_timeout(lease_call('Acquire', u, 'Acquire'),
                                         (POLKIT_TIMEOUT_S + 15) * 1000))
    assert not r['ok'] and r['error'] == NOT_AUTHORIZED, r
    assert 'timed out' in r['message'], r['message']
    assert r['seconds'] >= POLKIT_TIMEOUT_S - 1, r
    assert h1.lease_props(u)['State'] == 'free'


def test_call_whose_caller_left_during_the_polkit_check_is_never_run(sb, hosts, leases):
    h1 = hosts[0]
    u = free_lease(h1, leases, 'vm-pk-gone')
    off = h1.log_size()
    with PolkitStopped(sb, 1) as pk:
        r = finish(MEMBER, h1, start_as(MEMBER, h1, [with_timeout(
            lease_call('Acquire', u, 'Acquire'), 2000)]), 30)
        assert not r['Acquire']['ok'] and 'Timeout' in r['Acquire']['message'], r
        pk.cont()
        time.sleep(3)
    assert h1.lease_props(u)['State'] == 'free'
    assert h1.sanlock_holders_of(u) == []
    assert 'left the bus' in h1.log_since(off)


# --- item 6: readers cannot starve others ------------------------------------------

# Sends every call at once on one connection (no waiting for replies), then
# prints {label: result} as SNIPPET does; connects as SNIPPET does.
PIPELINE = SNIPPET[:SNIPPET.index("if spec.get('wait')")] + r'''
loop, out = GLib.MainLoop(), []
def done(c, res, label):
    try:
        c.call_finish(res)
        out.append({'label': label, 'ok': True})
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        out.append({'label': label, 'ok': False, 'error': name, 'message': e.message})
    if len(out) == len(spec['calls']):
        loop.quit()
for c in spec['calls']:
    conn.call('org.example.VMLease', c['path'], c['iface'], c['method'],
              GLib.Variant(c['sig'], tuple(c['args'])), None, Gio.DBusCallFlags.NONE,
              60000, None, done, c['label'])
loop.run()
print(json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(),
                  'groups': sorted(os.getgroups()), 'results': out}))
'''


def test_caller_with_too_many_calls_in_flight_gets_busy(hosts):
    h1 = hosts[0]
    calls = [call('get-%d' % i, MANAGER_PATH, MANAGER_IFACE, 'GetLease', '(s)', new_uuid())
             for i in range(100)]   # the bus allows 128 pending replies
    p = subprocess.run(setpriv_argv(OUTSIDER) + ['/usr/bin/python3', '-c', PIPELINE,
                                                 h1.address, json.dumps({'calls': calls})],
                       capture_output=True, text=True, timeout=120, cwd='/', env=CALLER_ENV)
    res = _check_caller_output(OUTSIDER, h1, p.stdout, p.stderr, p.returncode)
    errors = {r['error'] for r in res.values()}
    assert errors <= {NOT_FOUND, BUSY}, errors
    busy = [r for r in res.values() if r.get('error') == BUSY]
    assert busy, 'no call was refused for too many calls in flight'
    assert all('too many calls in flight' in r['message'] for r in busy), busy[0]
    # root's calls are not limited, and the outsider may read again now
    root_u = new_uuid()
    with raises_dbus('NotFound'):
        h1.get_lease(root_u)
    r = one(OUTSIDER, h1, call('again', MANAGER_PATH, MANAGER_IFACE, 'GetLease', '(s)',
                               new_uuid()))
    assert r['error'] == NOT_FOUND, r


def test_index_miss_is_cached_and_create_here_invalidates_it(hosts, leases):
    h1 = hosts[0]
    u = leases()
    with raises_dbus('NotFound') as first:
        h1.get_lease(u)
    assert 'cached' not in first.value.message, first.value.message
    with raises_dbus('NotFound') as second:
        h1.get_lease(u)
    assert 'cached' in second.value.message, second.value.message
    # CreateLease here forgets the miss; DeleteLease here forgets the hit
    path = h1.create(u)
    assert h1.get_lease(u) == path
    h1.delete(u)
    with raises_dbus('NotFound') as after:
        h1.get_lease(u)
    assert 'cached' not in after.value.message, after.value.message
