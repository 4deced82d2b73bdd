# SPDX-License-Identifier: LGPL-2.1-or-later
"""A caller that is not root (uid 65534, a real process via setpriv) may read
but not change anything."""

import json
import subprocess

from conftest import (LOCKSPACE, MiB, StateSnapshot, lease_path, new_uuid,
                      raises_dbus, s)

# Runs as uid 65534: performs each call and prints one JSON line per call.
SNIPPET = r'''
import json, sys
import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib
addr, calls = sys.argv[1], json.loads(sys.argv[2])
conn = Gio.DBusConnection.new_for_address_sync(addr,
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
out = []
for c in calls:
    params = GLib.Variant(c['sig'], tuple(
        {k: GLib.Variant(t, v) for k, (t, v) in a.items()} if isinstance(a, dict) else a
        for a in c['args'])) if c['sig'] else None
    try:
        r = conn.call_sync('org.example.VMLease', c['path'], c['iface'], c['method'],
                           params, None, Gio.DBusCallFlags.NONE, 30000, None)
        out.append({'label': c['label'], 'ok': True,
                    'reply': r.unpack() if r is not None else None})
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        msg = e.message.replace('GDBus.Error:%s: ' % name, '', 1)
        out.append({'label': c['label'], 'ok': False, 'error': name, 'message': msg})
print(json.dumps({'uid': __import__('os').getuid(), 'results': out}, default=str))
'''

MGR = ('/org/example/VMLease', 'org.example.VMLease.Manager')


def call(label, path, iface, method, sig, *args):
    return {'label': label, 'path': path, 'iface': iface, 'method': method,
            'sig': sig, 'args': list(args)}


def run_as_nobody(host, calls):
    r = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                        '--', '/usr/bin/python3', '-c', SNIPPET, host.address,
                        json.dumps(calls)],
                       capture_output=True, text=True, timeout=120, cwd='/',
                       env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'HOME': '/'})
    assert r.returncode == 0, ('the uid 65534 caller failed (is the bus socket of host %d '
                               'reachable by nobody? that would be a sandbox bug):\n%s%s'
                               % (host.id, r.stdout, r.stderr))
    data = json.loads(r.stdout.strip().splitlines()[-1])
    assert data['uid'] == 65534
    return {x['label']: x for x in data['results']}


def test_non_root_caller_refused_state_changes_reads_work(sb, hosts, leases):
    h1 = hosts[0]
    held, free = leases(), leases()
    h1.create(held, options={'name': s('vm-auth')})
    h1.acquire(held)
    h1.create(free)
    snap = StateSnapshot(sb, held=[(h1, held)])
    newu = new_uuid()
    lp = lease_path
    L = 'org.example.VMLease'
    P = 'org.freedesktop.DBus.Properties'
    changing = [
        # label, polkit action the message must name
        (call('AddLockspace', *MGR, 'AddLockspace', '(ststa{sv})', 'nobodys', 1,
              sb.lease_file, 0, {'io_timeout': ['u', 1]}), 'manage'),
        (call('AddLockspace-same', *MGR, 'AddLockspace', '(ststa{sv})', LOCKSPACE, 1,
              sb.lease_file, 0, {}), 'manage'),
        (call('RemoveLockspace', *MGR, 'RemoveLockspace', '(sa{sv})', LOCKSPACE, {}), 'manage'),
        (call('RemoveLockspace-force', *MGR, 'RemoveLockspace', '(sa{sv})', LOCKSPACE,
              {'force': ['b', True]}), 'manage'),
        (call('CreateLease', *MGR, 'CreateLease', '(ssa{sv})', newu, LOCKSPACE, {}), 'manage'),
        (call('CreateLease-explicit', *MGR, 'CreateLease', '(ssa{sv})', newu, LOCKSPACE,
              {'path': ['s', sb.lease_file], 'offset': ['t', 400 * MiB]}), 'manage'),
        (call('DeleteLease-free', *MGR, 'DeleteLease', '(sa{sv})', free, {}), 'manage'),
        (call('DeleteLease-held', *MGR, 'DeleteLease', '(sa{sv})', held, {}), 'manage'),
        (call('Acquire', lp(free), L, 'Acquire', '(a{sv})', {}), 'acquire'),
        (call('Acquire-shared', lp(free), L, 'Acquire', '(a{sv})', {'mode': ['s', 'shared']}), 'acquire'),
        (call('Release', lp(held), L, 'Release', '(a{sv})', {}), 'acquire'),
    ]
    reads = [
        call('Inquire', lp(held), L, 'Inquire', '(a{sv})', {}),
        call('GetAll', lp(held), P, 'GetAll', '(s)', L),
        call('Get-State', lp(held), P, 'Get', '(ss)', L, 'State'),
        call('Get-Lockspaces', *MGR[:1], P, 'Get', '(ss)', MGR[1], 'Lockspaces'),
        call('GetLease', *MGR, 'GetLease', '(s)', held),
        call('GetManagedObjects', MGR[0], 'org.freedesktop.DBus.ObjectManager',
             'GetManagedObjects', None),
    ]
    res = run_as_nobody(h1, [c for c, _ in changing] + reads)

    problems = []
    for c, action in changing:
        r = res[c['label']]
        if r['ok']:
            problems.append('%s as uid 65534 succeeded' % c['label'])
        elif r['error'] != 'org.example.VMLease.Error.NotAuthorized':
            problems.append('%s as uid 65534: %s: %s (expected NotAuthorized)'
                            % (c['label'], r['error'], r['message']))
        elif ('org.example.vmlease.' + action) not in r['message'] and c['method'] not in r['message']:
            problems.append('%s: the message does not name the action: %r'
                            % (c['label'], r['message']))
    for c in reads:
        r = res[c['label']]
        if not r['ok']:
            problems.append('%s as uid 65534 failed: %s: %s' % (c['label'], r['error'], r['message']))
    assert not problems, '\n'.join(problems)
    info = res['Inquire']['reply'][0]
    assert info['held_here'] is True and info['state'] == 'held' and info['owner'] == 1, info
    assert res['Get-State']['reply'][0] == 'held', res['Get-State']
    assert res['GetLease']['reply'][0] == lp(held), res['GetLease']
    assert lp(held) in res['GetManagedObjects']['reply'][0], res['GetManagedObjects']
    assert [LOCKSPACE, 1, sb.lease_file, 0, 'joined', 1] in res['Get-Lockspaces']['reply'][0], \
        res['Get-Lockspaces']

    snap.assert_unchanged('calls from uid 65534')
    p = h1.lease_props(free)
    assert p['State'] == 'free' and p['HolderPid'] == 0, p
    for h in hosts:
        with raises_dbus('NotFound'):
            h.get_lease(newu)
    # the refused lockspace was not joined by sanlock either
    assert not any(l.startswith('nobodys:') for l in h1.sanlock_status()['lockspaces'])
