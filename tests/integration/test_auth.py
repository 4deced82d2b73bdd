# SPDX-License-Identifier: LGPL-2.1-or-later
"""Authorization (docs/authorization.md) against the real thing.

Every host's polkitd is real: it loads the project's actions from the build
directory and the SHIPPED rules file policy/50-vmlease.rules (no test-only
rules), and -- through `vmlease-sandbox up --test-identities` -- knows the
group vmlease and the test users of conftest.TEST_USERS in its own view of
/etc/passwd and /etc/group. Callers of other uids are real processes started
with `setpriv --reuid --regid --clear-groups|--groups`, each running a small
/usr/bin/python3 GDBus snippet. Nothing is mocked.

Whether a call carries ALLOW_INTERACTIVE_AUTHORIZATION is always explicit
(Gio.DBusCallFlags). Note: busctl (systemd 252) sets that flag by default
(its --allow-interactive-authorization defaults to yes), so busctl is not
used for calls that must go without it.
"""

import contextlib
import grp
import json
import os
import pwd
import re
import socket
import subprocess
import time

import pytest

from conftest import (BUILD_DIR, DBusCallError, LEASE_IFACE, LOCKSPACE, MANAGER_IFACE,
                      MANAGER_PATH, REPO, TEST_USERS, VMLEASE_GID, MiB,
                      StateSnapshot, lease_path, new_uuid, process_alive,
                      raises_dbus, s, u32, b, wait_until)

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

NOT_AUTHORIZED = 'org.example.VMLease.Error.NotAuthorized'
INVALID_ARGUMENT = 'org.example.VMLease.Error.InvalidArgument'
ACTION = 'org.example.vmlease.'
POLKIT_NAME = 'org.freedesktop.PolicyKit1'
POLKIT_PATH = '/org/freedesktop/PolicyKit1/Authority'
POLKIT_IFACE = 'org.freedesktop.PolicyKit1.Authority'
PROPS = 'org.freedesktop.DBus.Properties'
OM = 'org.freedesktop.DBus.ObjectManager'

MEMBER, OTHER, OUTSIDER = 'vmltest-member', 'vmltest-other', 'vmltest-outsider'
NOBODY = 'nobody'   # uid 65534: the machine's own unprivileged user
# What vmleased says when polkit would need authentication and the call did
# not allow interaction (docs/authorization.md, "Interactive authorization").
NOT_PROMPTED = 'call with interactive authorization allowed'
# ... and when the call allowed it but no agent authenticated the caller.
NOT_GIVEN = 'authentication is needed and was not given'


# --- the {interface, member, action, action_on_others} table -----------------

def action_table():
    """The rows of dbus/vml-actions.c, read from the source:
    {(interface, member): (action, action_on_others or None)}."""
    with open(os.path.join(REPO, 'dbus', 'vml-actions.h')) as f:
        macros = dict(re.findall(r'#define\s+(VML_\w+)\s+"([^"]+)"', f.read()))
    with open(os.path.join(REPO, 'dbus', 'vml-actions.c')) as f:
        text = f.read()
    rows = re.findall(r'\{\s*(VML_\w+_INTERFACE)\s*,\s*"(\w+)"\s*,\s*(VML_ACTION_\w+)\s*,'
                      r'\s*(VML_ACTION_\w+|NULL)\s*\}', text)
    # every row of the array was understood (a new column or spelling
    # would otherwise silently drop rows)
    array = text[text.index('vml_action_table[]'):]
    array = array[:array.index('};')]
    assert len(rows) == array.count('{ VML_') and rows, \
        'could not parse the table in dbus/vml-actions.c:\n%s' % array
    table = {}
    for iface, member, action, others in rows:
        table[(macros[iface], member)] = (macros[action],
                                          None if others == 'NULL' else macros[others])
    return table


# --- callers of other uids ---------------------------------------------------

# Runs as another uid: connects to the host's bus, optionally waits for a
# "go" line on stdin (so that a test agent can be registered for this very
# process first), performs each call and prints one JSON object.
SNIPPET = r'''
import json, os, sys, time
import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib
addr, spec = sys.argv[1], json.loads(sys.argv[2])
conn = Gio.DBusConnection.new_for_address_sync(addr,
    Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
if spec.get('wait'):
    print('ready', flush=True)
    sys.stdin.readline()
out = []
for c in spec['calls']:
    params = GLib.Variant(c['sig'], tuple(
        {k: GLib.Variant(t, v) for k, (t, v) in a.items()} if isinstance(a, dict) else a
        for a in c['args'])) if c['sig'] else None
    flags = (Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION if c.get('interactive')
             else Gio.DBusCallFlags.NONE)
    t0 = time.monotonic()
    try:
        r = conn.call_sync('org.example.VMLease', c['path'], c['iface'], c['method'],
                           params, None, flags, c.get('timeout_ms', 30000), None)
        out.append({'label': c['label'], 'ok': True, 'seconds': time.monotonic() - t0,
                    'reply': r.unpack() if r is not None else None})
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        msg = e.message.replace('GDBus.Error:%s: ' % name, '', 1)
        out.append({'label': c['label'], 'ok': False, 'seconds': time.monotonic() - t0,
                    'error': name, 'message': msg})
print(json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(),
                  'groups': sorted(os.getgroups()), 'results': out}, default=str))
'''

CALLER_ENV = {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'HOME': '/'}


def identity(user):
    """(uid, gid, supplementary gids) a caller of `user` runs with: what a
    real login of that user would have (so members carry gid 60000). polkit
    itself asks NSS, not the process, about groups."""
    if user == NOBODY:
        return 65534, 65534, ()
    return TEST_USERS[user]


def setpriv_argv(user):
    uid, gid, groups = identity(user)
    argv = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % gid]
    argv += ['--groups=' + ','.join(map(str, groups))] if groups else ['--clear-groups']
    return argv + ['--']


def _check_caller_output(user, host, r_stdout, r_stderr, rc):
    assert rc == 0, ('the caller as %s failed (exit %d; can it reach host %d\'s bus? '
                     'that would be a sandbox bug):\n%s%s'
                     % (user, rc, host.id, r_stdout, r_stderr))
    data = json.loads(r_stdout.strip().splitlines()[-1])
    uid, gid, groups = identity(user)
    assert (data['uid'], data['euid'], data['gid']) == (uid, uid, gid), data
    assert data['groups'] == sorted(groups), data
    return {x['label']: x for x in data['results']}


def run_as(user, host, calls):
    """Perform calls (see call()) as `user` in one process; {label: result}."""
    r = subprocess.run(setpriv_argv(user) + ['/usr/bin/python3', '-c', SNIPPET, host.address,
                                             json.dumps({'calls': calls})],
                       capture_output=True, text=True, timeout=120, cwd='/', env=CALLER_ENV)
    return _check_caller_output(user, host, r.stdout, r.stderr, r.returncode)


def call(label, path, iface, method, sig, *args, interactive=False):
    return {'label': label, 'path': path, 'iface': iface, 'method': method,
            'sig': sig, 'args': list(args), 'interactive': interactive}


def lease_call(label, u, method, options=None, interactive=False):
    return call(label, lease_path(u), LEASE_IFACE, method, '(a{sv})', options or {},
                interactive=interactive)


def transfer_call(label, u, step, token='', options=None, interactive=False):
    return call(label, lease_path(u), LEASE_IFACE, 'Transfer', '(ssa{sv})', step, token,
                options or {}, interactive=interactive)


def one(user, host, c):
    return run_as(user, host, [c])[c['label']]


def describe(r):
    if r['ok']:
        return 'succeeded (%r)' % (r.get('reply'),)
    return '%s: %s' % (r['error'], r['message'])


def assert_refused(r, action, what, extra=()):
    """NotAuthorized, naming the polkit action (and the extra phrases)."""
    assert not r['ok'] and r['error'] == NOT_AUTHORIZED, \
        '%s: expected NotAuthorized (action %s), got %s' % (what, action, describe(r))
    assert '(action %s)' % action in r['message'], \
        '%s: the refusal does not name the action %s: %r' % (what, action, r['message'])
    for phrase in extra:
        assert phrase in r['message'], '%s: %r not in %r' % (what, phrase, r['message'])


def assert_ok(r, what):
    assert r['ok'], '%s: expected success, got %s' % (what, describe(r))
    return r['reply']


# --- a polkit authentication agent, run by the test (root) -------------------

AGENT_XML = '''<node><interface name="org.freedesktop.PolicyKit1.AuthenticationAgent">
 <method name="BeginAuthentication">
  <arg type="s" name="action_id" direction="in"/><arg type="s" name="message" direction="in"/>
  <arg type="s" name="icon_name" direction="in"/><arg type="a{ss}" name="details" direction="in"/>
  <arg type="s" name="cookie" direction="in"/>
  <arg type="a(sa{sv})" name="identities" direction="in"/>
 </method>
 <method name="CancelAuthentication"><arg type="s" name="cookie" direction="in"/></method>
</interface></node>'''


class RecordingAgent:
    """A real polkit authentication agent (the D-Bus interface pkttyagent
    implements), registered with the host's polkitd for ONE process: records
    every BeginAuthentication (a prompt), then either declines or -- as root,
    like polkit-agent-helper-1 after a good password -- tells polkitd the
    admin (uid 0) authenticated."""

    def __init__(self, host, pid, uid, approve):
        self.host = host
        self.approve = approve
        self.prompts = []
        self.conn = host.connect()
        node = Gio.DBusNodeInfo.new_for_xml(AGENT_XML)
        self.path = '/org/example/VMLeaseTest/Agent'
        self._reg = self.conn.register_object(self.path, node.interfaces[0],
                                              self._on_call, None, None)
        with open('/proc/%d/stat' % pid) as f:
            start_time = int(f.read().rsplit(')', 1)[1].split()[19])
        self.subject = ('unix-process', {'pid': GLib.Variant('u', pid),
                                         'start-time': GLib.Variant('t', start_time),
                                         'uid': GLib.Variant('i', uid)})
        self.conn.call_sync(POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
                            'RegisterAuthenticationAgentWithOptions',
                            GLib.Variant('((sa{sv})ssa{sv})', (self.subject, 'C', self.path, {})),
                            None, Gio.DBusCallFlags.NONE, 10000, None)

    def _on_call(self, conn, sender, path, iface, method, params, invocation):
        if method != 'BeginAuthentication':
            invocation.return_value(None)
            return
        action_id, message, icon, details, cookie, identities = params.unpack()
        self.prompts.append({'action': action_id, 'message': message, 'details': details,
                             'identities': identities})
        if not self.approve:
            invocation.return_dbus_error('org.freedesktop.PolicyKit1.Error.Cancelled',
                                         'the test agent declines')
            return
        conn.call_sync(POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, 'AuthenticationAgentResponse2',
                       GLib.Variant('(us(sa{sv}))', (0, cookie,
                                                     ('unix-user', {'uid': GLib.Variant('u', 0)}))),
                       None, Gio.DBusCallFlags.NONE, 10000, None)
        invocation.return_value(None)

    def close(self):
        with contextlib.suppress(GLib.Error):
            self.conn.call_sync(POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
                                'UnregisterAuthenticationAgent',
                                GLib.Variant('((sa{sv})s)', (self.subject, self.path)),
                                None, Gio.DBusCallFlags.NONE, 5000, None)
        self.conn.unregister_object(self._reg)
        self.conn.close_sync(None)


def run_as_with_agent(user, host, calls, approve, timeout=60):
    """Like run_as, with a RecordingAgent registered for the caller's process
    before it makes its calls. Returns ({label: result}, agent.prompts)."""
    p = subprocess.Popen(setpriv_argv(user) + ['/usr/bin/python3', '-c', SNIPPET, host.address,
                                               json.dumps({'calls': calls, 'wait': True})],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd='/', env=CALLER_ENV)
    agent = None
    try:
        line = p.stdout.readline()
        assert line.strip() == 'ready', 'caller did not start: %r %s' % (line, p.stderr.read())
        agent = RecordingAgent(host, p.pid, identity(user)[0], approve)
        p.stdin.write('go\n')
        p.stdin.flush()
        # serve the agent (main context) until the caller is done
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while p.poll() is None:
            while ctx.pending():
                ctx.iteration(False)
            assert time.monotonic() < deadline, 'the caller as %s did not finish in %d s' % (
                user, timeout)
            time.sleep(0.01)
        out, err = p.stdout.read(), p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if agent:
            agent.close()
    return _check_caller_output(user, host, out, err, p.returncode), agent.prompts


# --- fixtures -----------------------------------------------------------------

@pytest.fixture
def table():
    return action_table()


def free_lease(h, leases, name):
    u = leases()
    h.create(u, options={'name': s(name)})
    return u


# --- the set-up these tests rely on --------------------------------------------

def test_sandbox_polkit_sees_shipped_policy_rules_and_test_users(sb, hosts):
    """polkitd of every host loads the built action file and the shipped
    rules file (no test-only rules) and knows the test users; the machine's
    own /etc, /usr and mount table do not change."""
    data = sb.pids()
    ids = data['test_identities']
    assert ids, 'the session sandbox was not started with --test-identities'
    assert {g['name']: g['gid'] for g in ids['groups']} == {'vmlease': VMLEASE_GID}, ids
    gids = {g['name']: g['gid'] for g in ids['groups']}
    assert {u['name']: (u['uid'], u['gid'], tuple(gids[g] for g in u['groups']))
            for u in ids['users']} == TEST_USERS, ids

    with open(os.path.join(BUILD_DIR, 'policy', 'org.example.vmlease.policy'), 'rb') as f:
        built_policy = f.read()
    with open(os.path.join(REPO, 'policy', '50-vmlease.rules'), 'rb') as f:
        shipped_rules = f.read()
    for h in hosts:
        pid = sb.polkitd_pid(h.id)
        assert pid and process_alive(pid), 'no polkitd for host %d' % h.id
        # /proc/PID/root shows the files as that polkitd (in its own mount
        # namespace) sees them
        root = '/proc/%d/root' % pid
        with open(root + '/usr/share/polkit-1/actions/org.example.vmlease.policy', 'rb') as f:
            assert f.read() == built_policy, 'polkitd of host %d has another action file' % h.id
        vendor = sorted(os.listdir(root + '/usr/share/polkit-1/rules.d'))
        assert vendor == ['50-vmlease.rules'], vendor
        with open(root + '/usr/share/polkit-1/rules.d/50-vmlease.rules', 'rb') as f:
            assert f.read() == shipped_rules, \
                'polkitd of host %d has another 50-vmlease.rules than policy/' % h.id
        assert os.listdir(root + '/etc/polkit-1/rules.d') == [], \
            'test-only rules in /etc/polkit-1/rules.d of host %d\'s polkitd' % h.id
        with open(root + '/etc/group') as f:
            groups = f.read().splitlines()
        assert 'vmlease:x:%d:vmltest-member,vmltest-other' % VMLEASE_GID in groups, groups[-5:]
        with open(root + '/etc/passwd') as f:
            passwd = f.read()
        for name, (uid, gid, _) in TEST_USERS.items():
            assert re.search(r'^%s:x:%d:%d:' % (name, uid, gid), passwd, re.M), name
        assert re.search(r'^polkitd:', passwd, re.M), 'the machine\'s users are missing'

    # ... and the machine does not know any of it
    for name, (uid, gid, _) in TEST_USERS.items():
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
        with pytest.raises(KeyError):
            pwd.getpwuid(uid)
    with pytest.raises(KeyError):
        grp.getgrnam('vmlease')
    assert not os.path.exists('/usr/share/polkit-1/rules.d/50-vmlease.rules')
    assert not os.path.exists('/usr/share/polkit-1/actions/org.example.vmlease.policy')
    with open('/proc/self/mountinfo') as f:
        mounts = f.read()
    assert sb.dir not in mounts, 'sandbox bind mounts leaked into the machine\'s namespace'


# docs/authorization.md, "Actions" and "Ownership": which member needs which
# action (and which on another uid's lease).
DOCUMENTED_ACTIONS = {
    (MANAGER_IFACE, 'AddLockspace'): (ACTION + 'manage', None),
    (MANAGER_IFACE, 'RemoveLockspace'): (ACTION + 'manage', None),
    (MANAGER_IFACE, 'CreateLease'): (ACTION + 'manage', None),
    (MANAGER_IFACE, 'DeleteLease'): (ACTION + 'manage', None),
    (MANAGER_IFACE, 'GetLease'): (ACTION + 'inquire', None),
    (LEASE_IFACE, 'Acquire'): (ACTION + 'acquire', None),
    (LEASE_IFACE, 'Release'): (ACTION + 'acquire', ACTION + 'manage'),
    # disk leases: as Acquire and Release, on the VM lease's owner
    (LEASE_IFACE, 'AttachDisks'): (ACTION + 'acquire', ACTION + 'manage'),
    (LEASE_IFACE, 'DetachDisks'): (ACTION + 'acquire', ACTION + 'manage'),
    # docs/authorization.md "Ownership": by the uid that acquired it, or by
    # another uid allowed .manage
    (LEASE_IFACE, 'Transfer'): (ACTION + 'migrate', ACTION + 'manage'),
    (LEASE_IFACE, 'Inquire'): (ACTION + 'inquire', None),
}


def test_action_table_is_covered(table):
    """The table in dbus/vml-actions.c is the documented one, and every row
    is tried, by root and by an ordinary uid (a member added to the table
    without a case here fails this test), each row with an action_on_others
    also on another uid's lease."""
    assert table == DOCUMENTED_ACTIONS, (
        'dbus/vml-actions.c and docs/authorization.md disagree: %r'
        % {k: (table.get(k), DOCUMENTED_ACTIONS.get(k))
           for k in set(table) | set(DOCUMENTED_ACTIONS)
           if table.get(k) != DOCUMENTED_ACTIONS.get(k)})
    assert set(ROOT_MEMBERS) | ROOT_ELSEWHERE == set(table), sorted(
        (set(ROOT_MEMBERS) | ROOT_ELSEWHERE) ^ set(table))
    cases = outsider_calls('/nonexistent', new_uuid(), new_uuid(), new_uuid())
    cases += transfer_cases(new_uuid(), new_uuid())
    tried = {(c['iface'], c['method']) for c, _ in cases
             if c['iface'] in (MANAGER_IFACE, LEASE_IFACE)}
    assert tried == set(table), sorted(tried ^ set(table))
    for c, expect in cases:
        if c['iface'] in (MANAGER_IFACE, LEASE_IFACE):
            key = (c['iface'], c['method'])
            assert (expect is None) == (table[key][0] == ACTION + 'inquire'), (key, expect)
    on_others = {k for k, (_, o) in table.items() if o}
    assert on_others == {e[0] for _, e in cases if e and e[1] == 'others'}, on_others


# --- root --------------------------------------------------------------------

ROOT_MEMBERS = [(MANAGER_IFACE, 'AddLockspace'), (MANAGER_IFACE, 'CreateLease'),
                (MANAGER_IFACE, 'GetLease'), (LEASE_IFACE, 'Acquire'),
                (LEASE_IFACE, 'Inquire'), (LEASE_IFACE, 'Release'),
                (LEASE_IFACE, 'AttachDisks'), (LEASE_IFACE, 'DetachDisks'),
                (MANAGER_IFACE, 'DeleteLease'), (MANAGER_IFACE, 'RemoveLockspace')]
# tried by root in test_transfer_authorization
ROOT_ELSEWHERE = {(LEASE_IFACE, 'Transfer')}


def test_root_may_do_everything(sb, hosts, table):
    """uid 0 (the test itself, no interactive flag) calls every member of
    the table, on a lockspace of its own, and every call succeeds."""
    h = hosts[0]
    assert set(ROOT_MEMBERS) | ROOT_ELSEWHERE == set(table)
    ls = 'authroot'
    path = os.path.join(sb.dir, 'authroot.leases')
    with open(path, 'wb') as f:
        f.truncate(16 * MiB)
    os.chmod(path, 0o644)
    u = new_uuid()
    try:
        h.add_lockspace(ls, 1, path, 0, {'init': b(True), 'io_timeout': u32(1)},
                        timeout_ms=60000)
        assert any(x[:5] == (ls, 1, path, 0, 'joined') for x in h.lockspaces()), h.lockspaces()
        h.create(u, lockspace=ls, options={'name': s('vm-root')})
        assert h.get_lease(u) == lease_path(u)
        h.acquire(u)
        info = h.inquire(u)
        assert info['state'] == 'held' and info['held_here'] is True, info
        assert info['owner_uid'] == 0, info
        h.raw_call(lease_path(u), LEASE_IFACE, 'AttachDisks', 'a(ss)a{sv}',
                   [[('vol-root', 'exclusive')], {}])
        assert h.lease_props(u)['Disks'] == [('vol-root', 'exclusive')]
        h.raw_call(lease_path(u), LEASE_IFACE, 'DetachDisks', 'asa{sv}', [['vol-root'], {}])
        assert h.lease_props(u)['Disks'] == []
        h.release(u)
        assert h.inquire(u)['state'] == 'free'
        h.delete(u)
        h.remove_lockspace(ls, timeout_ms=60000)
        assert not any(x[0] == ls for x in h.lockspaces()), h.lockspaces()
    finally:
        with contextlib.suppress(Exception):
            h.release(u)
        with contextlib.suppress(Exception):
            h.delete(u)
        with contextlib.suppress(Exception):
            h.remove_lockspace(ls, {'force': b(True)}, timeout_ms=60000)
        with contextlib.suppress(OSError):
            os.unlink(path)


# --- an ordinary uid, no rules ------------------------------------------------

def outsider_calls(lease_file, held, free, newu):
    """(call, expectation) pairs for a uid that no rule allows anything;
    `held` is a lease root holds. expectation: None = allowed (a read), else
    ((interface, member) of the table, 'others' when the target lease was
    acquired by another uid, else 'own')."""
    M, L = MANAGER_IFACE, LEASE_IFACE
    mgr = (MANAGER_PATH, M)
    return [
        # AddLockspace of the session's lockspace again, and of a new one
        (call('AddLockspace', *mgr, 'AddLockspace', '(ststa{sv})', 'authnew', 1,
              '/nonexistent/authnew', 0, {'io_timeout': ['u', 1]}), ((M, 'AddLockspace'), 'own')),
        (call('AddLockspace-same', *mgr, 'AddLockspace', '(ststa{sv})', LOCKSPACE, 1,
              lease_file, 0, {}), ((M, 'AddLockspace'), 'own')),
        # the session's lockspace (a lease is held: even a broken check would
        # not leave it), and an unknown one with force
        (call('RemoveLockspace', *mgr, 'RemoveLockspace', '(sa{sv})', LOCKSPACE, {}),
         ((M, 'RemoveLockspace'), 'own')),
        (call('RemoveLockspace-force', *mgr, 'RemoveLockspace', '(sa{sv})', 'authnone',
              {'force': ['b', True]}), ((M, 'RemoveLockspace'), 'own')),
        (call('CreateLease', *mgr, 'CreateLease', '(ssa{sv})', newu, LOCKSPACE, {}),
         ((M, 'CreateLease'), 'own')),
        (call('CreateLease-explicit', *mgr, 'CreateLease', '(ssa{sv})', newu, LOCKSPACE,
              {'path': ['s', lease_file], 'offset': ['t', 400 * MiB]}), ((M, 'CreateLease'), 'own')),
        (call('DeleteLease-free', *mgr, 'DeleteLease', '(sa{sv})', free, {}),
         ((M, 'DeleteLease'), 'own')),
        (call('DeleteLease-held', *mgr, 'DeleteLease', '(sa{sv})', held, {}),
         ((M, 'DeleteLease'), 'own')),
        (call('GetLease', *mgr, 'GetLease', '(s)', held), None),
        (lease_call('Acquire', free, 'Acquire'), ((L, 'Acquire'), 'own')),
        (lease_call('Acquire-shared', free, 'Acquire', {'mode': ['s', 'shared']}),
         ((L, 'Acquire'), 'own')),
        # seize: Acquire with force needs .seize, whatever the table row says
        (lease_call('Acquire-force', free, 'Acquire', {'force': ['b', True]}),
         ((L, 'Acquire'), 'seize')),
        # Release of a lease nobody holds: .acquire; of root's lease: .manage
        (lease_call('Release-free', free, 'Release'), ((L, 'Release'), 'own')),
        (lease_call('Release-roots', held, 'Release'), ((L, 'Release'), 'others')),
        # disk leases: .acquire on a lease nobody holds, .manage on root's
        (call('AttachDisks-free', lease_path(free), L, 'AttachDisks', '(a(ss)a{sv})',
              [('vol-a', 'exclusive')], {}), ((L, 'AttachDisks'), 'own')),
        (call('AttachDisks-roots', lease_path(held), L, 'AttachDisks', '(a(ss)a{sv})',
              [('vol-a', 'exclusive')], {}), ((L, 'AttachDisks'), 'others')),
        (call('DetachDisks-free', lease_path(free), L, 'DetachDisks', '(asa{sv})',
              ['vol-a'], {}), ((L, 'DetachDisks'), 'own')),
        (call('DetachDisks-roots', lease_path(held), L, 'DetachDisks', '(asa{sv})',
              ['vol-a'], {}), ((L, 'DetachDisks'), 'others')),
        (lease_call('Inquire', held, 'Inquire'), None),
        (call('GetAll', lease_path(held), PROPS, 'GetAll', '(s)', L), None),
        (call('Get-State', lease_path(held), PROPS, 'Get', '(ss)', L, 'State'), None),
        (call('Get-Lockspaces', MANAGER_PATH, PROPS, 'Get', '(ss)', M, 'Lockspaces'), None),
        (call('GetManagedObjects', MANAGER_PATH, OM, 'GetManagedObjects', None), None),
    ]


@pytest.mark.parametrize('user', [OUTSIDER, NOBODY])
def test_ordinary_uid_refused_every_state_change_may_read(sb, hosts, leases, table, user):
    """A uid in no group and no rule: every state-changing member of the
    table is refused with NotAuthorized naming the table's action (for
    another uid's lease: action_on_others), without prompting (no interactive
    flag); every read works; nothing changes."""
    h1 = hosts[0]
    held, free = free_lease(h1, leases, 'vm-auth'), free_lease(h1, leases, 'vm-free')
    h1.acquire(held)
    assert h1.inquire(held)['owner_uid'] == 0
    newu = new_uuid()
    snap = StateSnapshot(sb, held=[(h1, held)])
    cases = outsider_calls(sb.lease_file, held, free, newu)
    res = run_as(user, h1, [c for c, _ in cases])

    problems = []
    for c, expect in cases:
        r = res[c['label']]
        if expect is None:
            if not r['ok']:
                problems.append('%s (a read) failed: %s' % (c['label'], describe(r)))
            continue
        key, whose = expect
        action, on_others = table[key]
        if whose == 'others' and on_others:
            action = on_others
        if whose == 'seize':
            action = ACTION + 'seize'
        if r['ok'] or r['error'] != NOT_AUTHORIZED:
            problems.append('%s: expected NotAuthorized, got %s' % (c['label'], describe(r)))
        elif '(action %s)' % action not in r['message']:
            problems.append('%s: the refusal does not name %s: %r'
                            % (c['label'], action, r['message']))
        elif NOT_PROMPTED not in r['message']:
            problems.append('%s: without the interactive flag the refusal should say '
                            '%r: %r' % (c['label'], NOT_PROMPTED, r['message']))
        elif r['seconds'] > 5:
            problems.append('%s: took %.1f s to be refused' % (c['label'], r['seconds']))
    assert not problems, '\n'.join(problems)
    assert 'acquired by uid 0' in res['Release-roots']['message'], res['Release-roots']

    info = res['Inquire']['reply'][0]
    assert info['held_here'] is True and info['state'] == 'held' and info['owner'] == 1, info
    assert info['owner_uid'] == 0, info
    assert res['Get-State']['reply'][0] == 'held', res['Get-State']
    assert res['GetLease']['reply'][0] == lease_path(held), res['GetLease']
    assert lease_path(held) in res['GetManagedObjects']['reply'][0]
    assert [LOCKSPACE, 1, sb.lease_file, 0, 'joined', 1] in res['Get-Lockspaces']['reply'][0]

    snap.assert_unchanged('calls from %s' % user)
    p = h1.lease_props(free)
    assert p['State'] == 'free' and p['HolderPid'] == 0, p
    for h in hosts:
        with raises_dbus('NotFound'):
            h.get_lease(newu)
    assert not any(l.startswith('authnew:') for l in h1.sanlock_status()['lockspaces'])
    assert not any(x[0] == 'authnew' for x in h1.lockspaces())


# --- the group vmlease (the shipped rule) ------------------------------------

def test_vmlease_member_acquires_and_releases_own_lease(sb, hosts, storage, leases):
    """The shipped rule lets a member of group vmlease acquire and release
    its own lease without a password (no interactive flag, no agent).
    (Transfer: test_transfer_authorization.)"""
    h1 = hosts[0]
    u = free_lease(h1, leases, 'vm-member')
    r = one(MEMBER, h1, lease_call('Acquire', u, 'Acquire'))
    assert_ok(r, 'Acquire by %s' % MEMBER)
    info = h1.inquire(u)
    assert info['state'] == 'held' and info['held_here'] is True, info
    assert info['owner_uid'] == TEST_USERS[MEMBER][0], info
    assert process_alive(info['holder_pid'])
    assert h1.sanlock_holders_of(u) == [info['holder_pid']]
    assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 1

    r = run_as(MEMBER, h1, [lease_call('Inquire', u, 'Inquire'),
                            lease_call('Release', u, 'Release')])
    assert assert_ok(r['Inquire'], 'Inquire by member')[0]['owner_uid'] == TEST_USERS[MEMBER][0]
    assert_ok(r['Release'], 'Release of its own lease by %s' % MEMBER)
    info = h1.inquire(u)
    assert info['state'] == 'free' and info['owner_uid'] == 0, info
    assert h1.sanlock_holders_of(u) == []
    assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 0

    # shared, too (the same action)
    r = one(MEMBER, h1, lease_call('Acquire-shared', u, 'Acquire', {'mode': ['s', 'shared']}))
    assert_ok(r, 'shared Acquire by %s' % MEMBER)
    assert h1.inquire(u)['state'] == 'held-shared'
    assert_ok(one(MEMBER, h1, lease_call('Release', u, 'Release')), 'Release (shared)')
    assert h1.inquire(u)['state'] == 'free'


def test_vmlease_member_may_not_manage_or_seize(sb, hosts, leases, table):
    """Members of vmlease still may not manage lockspaces or leases (.manage)
    nor seize (Acquire with force, .seize)."""
    h1 = hosts[0]
    held, free = free_lease(h1, leases, 'vm-m-held'), free_lease(h1, leases, 'vm-m-free')
    h1.acquire(held)
    newu = new_uuid()
    snap = StateSnapshot(sb, held=[(h1, held)])
    M = MANAGER_IFACE
    mgr = (MANAGER_PATH, M)
    manage = [
        call('AddLockspace', *mgr, 'AddLockspace', '(ststa{sv})', 'authmember', 1,
             '/nonexistent/authmember', 0, {'io_timeout': ['u', 1]}),
        call('RemoveLockspace', *mgr, 'RemoveLockspace', '(sa{sv})', LOCKSPACE, {}),
        call('CreateLease', *mgr, 'CreateLease', '(ssa{sv})', newu, LOCKSPACE, {}),
        call('DeleteLease', *mgr, 'DeleteLease', '(sa{sv})', free, {}),
    ]
    seize = lease_call('Acquire-force', free, 'Acquire', {'force': ['b', True]})
    res = run_as(MEMBER, h1, manage + [seize])
    for c in manage:
        action = table[(M, c['method'])][0]
        assert action == ACTION + 'manage'
        assert_refused(res[c['label']], action, '%s by %s' % (c['label'], MEMBER), [NOT_PROMPTED])

    # Seize: Acquire with force needs .seize (auth_admin, never kept), which
    # the vmlease group's rule does not grant; the lease must stay free.
    assert_refused(res['Acquire-force'], ACTION + 'seize', 'Acquire-force by %s' % MEMBER,
                   [NOT_PROMPTED])

    snap.assert_unchanged('calls from %s' % MEMBER)
    assert h1.lease_props(free)['State'] == 'free'
    with raises_dbus('NotFound'):
        h1.get_lease(newu)
    assert not any(x[0] == 'authmember' for x in h1.lockspaces())


# --- ownership ---------------------------------------------------------------

def test_uid_cannot_release_another_uids_lease(sb, hosts, storage, leases):
    """A lease acquired by uid A: uid B (also in vmlease) may not release it
    (that needs .manage), nor take it over; A may; root may release anyone's.
    (Transfer: test_transfer_authorization.)"""
    h1 = hosts[0]
    member_uid = TEST_USERS[MEMBER][0]
    u = free_lease(h1, leases, 'vm-owned')
    assert_ok(one(MEMBER, h1, lease_call('Acquire', u, 'Acquire')), 'Acquire by member')
    info = h1.inquire(u)
    assert info['owner_uid'] == member_uid and info['state'] == 'held', info
    snap = StateSnapshot(sb, held=[(h1, u)])

    for user in (OTHER, OUTSIDER):
        r = run_as(user, h1, [lease_call('Release', u, 'Release'),
                              lease_call('Acquire', u, 'Acquire'),
                              lease_call('Inquire', u, 'Inquire')])
        assert_refused(r['Release'], ACTION + 'manage', 'Release of %s\'s lease by %s'
                       % (MEMBER, user), ['acquired by uid %d' % member_uid])
        # taking it over is no way round: refused, ownership unchanged
        assert not r['Acquire']['ok'], 'Acquire of a held lease by %s: %s' % (
            user, describe(r['Acquire']))
        assert assert_ok(r['Inquire'], 'Inquire')[0]['owner_uid'] == member_uid
    snap.assert_unchanged('Release/Acquire by other uids')
    assert h1.inquire(u)['owner_uid'] == member_uid

    # the owner may
    assert_ok(one(MEMBER, h1, lease_call('Release', u, 'Release')), 'Release by its owner')
    assert h1.inquire(u)['state'] == 'free'

    # root may release anyone's lease
    assert_ok(one(MEMBER, h1, lease_call('Acquire', u, 'Acquire')), 'Acquire by member')
    info = h1.inquire(u)
    assert info['owner_uid'] == member_uid, info
    h1.release(u)
    info = h1.inquire(u)
    assert info['state'] == 'free' and info['owner_uid'] == 0, info
    assert storage.owners(u, info['path'], info['offset'])['exclusive'] == 0

    # once free, the other member may acquire it, and then it is theirs
    assert_ok(one(OTHER, h1, lease_call('Acquire', u, 'Acquire')), 'Acquire by other')
    assert h1.inquire(u)['owner_uid'] == TEST_USERS[OTHER][0]
    assert_refused(one(MEMBER, h1, lease_call('Release', u, 'Release')), ACTION + 'manage',
                   'Release of %s\'s lease by %s' % (OTHER, MEMBER))
    assert_ok(one(OTHER, h1, lease_call('Release', u, 'Release')), 'Release by other')


def run_as_started(user, host, calls):
    """run_as() in the background: returns a function that waits for it."""
    p = subprocess.Popen(setpriv_argv(user) + ['/usr/bin/python3', '-c', SNIPPET, host.address,
                                               json.dumps({'calls': calls})],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd='/',
                         env=CALLER_ENV)

    def finish():
        out, err = p.communicate(timeout=120)
        return _check_caller_output(user, host, out, err, p.returncode)
    return finish


@pytest.mark.parametrize('second', ['Release', 'Transfer'])
def test_ownership_is_decided_when_the_call_runs(sb, hosts, leases, second):
    """Host 2 holds the lease; the member's Acquire waits for it on host 1,
    and the other member's Release (or Transfer begin) is queued behind it,
    authorized while the lease was nobody's. When its turn comes the lease
    is the member's: it is refused, and the lease stays the member's."""
    h1, h2 = hosts[0], hosts[1]
    member_uid = TEST_USERS[MEMBER][0]
    u = free_lease(h1, leases, 'vm-queued-owner')
    h2.get_lease(u)
    h2.acquire(u)
    try:
        acquiring = run_as_started(MEMBER, h1, [lease_call('Acquire', u, 'Acquire',
                                                           {'wait': ['u', 30]})])
        wait_until(lambda: h1.lease_props(u)['State'] == 'acquiring', 20,
                   what='the member\'s Acquire to wait')
        call2 = (lease_call('second', u, 'Release') if second == 'Release'
                 else transfer_call('second', u, 'begin'))
        call2['label'] = 'second'
        queued = run_as_started(OTHER, h1, [call2])
        time.sleep(1.0)   # the second call is authorized and queued by now
        h2.release(u)
        assert_ok(acquiring()['Acquire'], 'the member\'s waiting Acquire')
        r = queued()['second']
        assert_refused(r, ACTION + 'manage', '%s by %s of the lease %s acquired meanwhile'
                       % (second, OTHER, MEMBER), ['acquired by uid %d' % member_uid])
        p = h1.lease_props(u)
        assert (p['State'], p['TransferStep']) == ('held', ''), p
        assert h1.inquire(u)['owner_uid'] == member_uid
    finally:
        with contextlib.suppress(Exception):
            h1.release(u)
        with contextlib.suppress(Exception):
            h2.release(u)


def test_fence_target_must_be_the_callers_to_signal(sb, hosts, leases):
    """A member may name as fence target only a process it could signal
    itself: root's process needs .manage (refused, nothing acquired), its
    own is fine; prepare checks the same. Root may name anyone's."""
    h1, h2 = hosts[0], hosts[1]
    u = free_lease(h1, leases, 'vm-fence-target')
    h2.get_lease(u)
    roots = subprocess.Popen(['sleep', '600'])
    mine = subprocess.Popen(setpriv_argv(MEMBER) + ['sleep', '600'], cwd='/', env=CALLER_ENV)
    try:
        wait_until(lambda: proc_uid(mine.pid) == TEST_USERS[MEMBER][0], 5,
                   what='the member\'s process to run as the member')
        for fence in ('kill', 'pause'):
            r = one(MEMBER, h1, lease_call('Acquire', u, 'Acquire',
                                           {'pid': ['u', roots.pid], 'fence': ['s', fence]}))
            assert_refused(r, ACTION + 'manage', 'Acquire fencing root\'s process (%s)' % fence,
                           ['fence target runs as uid 0'])
            assert h1.lease_props(u)['State'] == 'free'
        assert roots.poll() is None
        # its own process: fine, and it is the one fenced
        assert_ok(one(MEMBER, h1, lease_call('Acquire', u, 'Acquire',
                                             {'pid': ['u', mine.pid]})), 'Acquire, own process')
        assert h1.lease_props(u)['FencePid'] == mine.pid
        t1 = h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                         ['begin', '', {}], reply='(s)')[0]
        r = one(MEMBER, h2, transfer_call('prepare', u, 'prepare', t1,
                                          {'pid': ['u', roots.pid]}))
        assert_refused(r, ACTION + 'manage', 'prepare fencing root\'s process',
                       ['fence target runs as uid 0'])
        assert h2.lease_props(u)['State'] == 'free'
        # root names anyone's
        t2 = h2.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                         ['prepare', t1, {'pid': GLib.Variant('u', mine.pid)}], reply='(s)')[0]
        assert t2 and h2.lease_props(u)['FencePid'] == mine.pid
        h2.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['cancel', '', {}])
        h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['cancel', '', {}])
        assert h1.lease_props(u)['State'] == 'held'
    finally:
        for p in (roots, mine):
            p.kill()
            p.wait()
        with contextlib.suppress(Exception):
            h1.release(u)


def test_resume_cannot_aim_at_a_monitor_of_another_user(sb, hosts, leases, tmp_path):
    """resume makes vmleased (root) send `cont` through the `qmp` socket it
    is given: a member may not aim it at a monitor someone else serves. On
    its own lease, with its own process as the pid, prepare {resume} with a
    socket root's process serves fails before anything is taken (the
    socket's server is neither the VM process nor runs as its user), and
    nothing was sent to that socket; the same holds for root's call: the
    pid and the monitor must belong together."""
    h1, h2 = hosts[0], hosts[1]
    u = free_lease(h1, leases, 'vm-resume-aim')
    h2.get_lease(u)
    mine = subprocess.Popen(setpriv_argv(MEMBER) + ['sleep', '600'], cwd='/', env=CALLER_ENV)
    path = str(tmp_path / 'roots.qmp')
    roots_monitor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    roots_monitor.bind(path)
    roots_monitor.listen(4)
    roots_monitor.settimeout(0.5)
    try:
        wait_until(lambda: proc_uid(mine.pid) == TEST_USERS[MEMBER][0], 5,
                   what='the member\'s process to run as the member')
        assert_ok(one(MEMBER, h1, lease_call('Acquire', u, 'Acquire',
                                             {'pid': ['u', mine.pid]})), 'Acquire, own process')
        t1 = assert_ok(one(MEMBER, h1, transfer_call('begin', u, 'begin')), 'begin')[0]
        r = one(MEMBER, h2, transfer_call('prepare', u, 'prepare', t1,
                                          {'pid': ['u', mine.pid], 'qmp': ['s', path],
                                           'resume': ['b', True]}))
        assert not r['ok'] and r['error'] == 'org.example.VMLease.Error.Failed', describe(r)
        assert 'neither the VM process %d nor its user' % mine.pid in r['message'], r['message']
        assert h2.lease_props(u)['State'] == 'free'
        # vmleased connected (to ask who serves it) and left at once: no
        # byte of QMP reached root's socket
        conn, _ = roots_monitor.accept()
        conn.settimeout(2)
        assert conn.recv(64) == b''
        conn.close()
        # the pid and the monitor must belong together whoever calls: root
        # is refused the same
        with raises_dbus('Failed') as e:
            h2.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                        ['prepare', t1, {'pid': GLib.Variant('u', mine.pid),
                                         'qmp': GLib.Variant('s', path),
                                         'resume': GLib.Variant('b', True)}], reply='(s)')
        assert 'neither the VM process %d nor its user' % mine.pid in e.value.message
        assert h2.lease_props(u)['State'] == 'free'
        h1.raw_call(lease_path(u), LEASE_IFACE, 'Transfer', 'ssa{sv}', ['cancel', '', {}])
        assert h1.lease_props(u)['State'] == 'held'
    finally:
        roots_monitor.close()
        mine.kill()
        mine.wait()
        with contextlib.suppress(Exception):
            h1.release(u)


def proc_uid(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[1])
    return None


def test_ownership_survives_vmleased_restart(sb, hosts, leases):
    """owner_uid is kept in vmleased's state record: after SIGKILL and a
    restart, the lease is still the member's and another uid still may not
    release it."""
    h3 = hosts[2]
    member_uid = TEST_USERS[MEMBER][0]
    u = free_lease(h3, leases, 'vm-owned-restart')
    assert_ok(one(MEMBER, h3, lease_call('Acquire', u, 'Acquire')), 'Acquire by member')
    before = h3.inquire(u)
    assert before['owner_uid'] == member_uid, before
    sb.kill(3)
    sb.restart(3)
    info = wait_until(lambda: (lambda i: i if i.get('state') == 'held' else None)(h3.inquire(u)),
                      10, what='the lease held again on host 3')
    assert info['owner_uid'] == member_uid, info
    assert info['holder_pid'] == before['holder_pid'], (before, info)
    assert_refused(one(OTHER, h3, lease_call('Release', u, 'Release')), ACTION + 'manage',
                   'Release by %s after restart' % OTHER, ['acquired by uid %d' % member_uid])
    assert h3.inquire(u)['state'] == 'held'
    assert_ok(one(MEMBER, h3, lease_call('Release', u, 'Release')), 'Release by owner')
    assert h3.inquire(u)['state'] == 'free'


# --- Transfer ------------------------------------------------------------------

def transfer_cases(free, held):
    """An ordinary uid's Transfer calls: of a lease nobody holds (.migrate)
    and of root's lease (.manage); steps that would change nothing even if
    they were let through."""
    L = LEASE_IFACE
    return [(transfer_call('Transfer-free', free, 'begin'), ((L, 'Transfer'), 'own')),
            (transfer_call('Transfer-roots', held, 'cancel'), ((L, 'Transfer'), 'others'))]


def past_authorization(r):
    """The call got past authorization: vmleased itself answered (success
    or one of its own errors other than NotAuthorized)."""
    return r['ok'] or (r['error'].startswith('org.example.VMLease.Error.')
                       and r['error'] != NOT_AUTHORIZED)


def test_transfer_authorization(sb, hosts, leases, table):
    """Transfer (in the table: .migrate, on another uid's lease .manage):
    refused to an ordinary uid; the shipped rule lets a vmlease member
    transfer its own lease but not another uid's; root may. Only steps that
    change nothing are used (this is not a test of the hand-off itself)."""
    h1 = hosts[0]
    member_uid = TEST_USERS[MEMBER][0]
    migrate, on_others = table[(LEASE_IFACE, 'Transfer')]
    roots, free, members = (free_lease(h1, leases, n) for n in
                            ('vm-tr-root', 'vm-tr-free', 'vm-tr-member'))
    h1.acquire(roots)
    assert_ok(one(MEMBER, h1, lease_call('Acquire', members, 'Acquire')), 'Acquire by member')
    snap = StateSnapshot(sb, held=[(h1, roots), (h1, members)])

    res = run_as(OUTSIDER, h1, [c for c, _ in transfer_cases(free, roots)])
    assert_refused(res['Transfer-free'], migrate, 'Transfer by %s' % OUTSIDER, [NOT_PROMPTED])
    assert_refused(res['Transfer-roots'], on_others, 'Transfer of root\'s lease by %s' % OUTSIDER,
                   ['acquired by uid 0'])

    res = run_as(OTHER, h1, [transfer_call('Transfer', members, 'cancel')])
    assert_refused(res['Transfer'], on_others, 'Transfer of %s\'s lease by %s' % (MEMBER, OTHER),
                   ['acquired by uid %d' % member_uid])

    # a step that does not exist: nothing can move, and the answer shows
    # whether the caller got past authorization
    res = run_as(MEMBER, h1, [transfer_call('Transfer', members, 'no-such-step')])
    assert past_authorization(res['Transfer']), \
        'Transfer of its own lease by %s: %s' % (MEMBER, describe(res['Transfer']))
    try:
        h1.raw_call(lease_path(roots), LEASE_IFACE, 'Transfer', 'ssa{sv}',
                    ['no-such-step', '', {}])
        r = {'ok': True}
    except DBusCallError as e:
        r = {'ok': False, 'error': e.name, 'message': e.message}
    assert past_authorization(r), 'Transfer by root: %s' % describe(r)

    snap.assert_unchanged('Transfer calls')
    assert h1.lease_props(free)['State'] == 'free'


# --- interactive authorization ------------------------------------------------

def test_interactive_flag_honoured(sb, hosts, leases):
    """With an authentication agent registered for the caller: a call
    WITHOUT the interactive flag is refused and the agent is never asked (no
    prompt); WITH the flag the agent is asked, with the lease named in the
    message; what it answers decides. Without any agent, a flagged call is
    refused promptly instead of hanging."""
    h1 = hosts[0]
    outsider_uid = TEST_USERS[OUTSIDER][0]
    u = free_lease(h1, leases, 'web-01')

    # no flag: refused, nobody prompted
    res, prompts = run_as_with_agent(OUTSIDER, h1, [lease_call('Acquire', u, 'Acquire')],
                                     approve=True)
    assert_refused(res['Acquire'], ACTION + 'acquire', 'Acquire without the flag',
                   [NOT_PROMPTED])
    assert prompts == [], 'the agent was asked for a call without the flag: %r' % prompts
    assert h1.inquire(u)['state'] == 'free'

    # flag, the agent declines: one prompt, refused
    res, prompts = run_as_with_agent(
        OUTSIDER, h1, [lease_call('Acquire', u, 'Acquire', interactive=True)], approve=False)
    assert not res['Acquire']['ok'] and res['Acquire']['error'] == NOT_AUTHORIZED, \
        describe(res['Acquire'])
    assert len(prompts) == 1, prompts
    assert prompts[0]['action'] == ACTION + 'acquire', prompts
    # the details vmleased passes reach the agent's message
    assert 'web-01' in prompts[0]['message'] and u in prompts[0]['message'], prompts
    assert h1.inquire(u)['state'] == 'free'

    # flag, the agent authenticates the admin: the call goes through
    res, prompts = run_as_with_agent(
        OUTSIDER, h1, [lease_call('Acquire', u, 'Acquire', interactive=True)], approve=True)
    assert_ok(res['Acquire'], 'Acquire with the flag and an approving agent')
    assert len(prompts) == 1 and prompts[0]['action'] == ACTION + 'acquire', prompts
    info = h1.inquire(u)
    assert info['state'] == 'held' and info['owner_uid'] == outsider_uid, info
    h1.release(u)

    # flag, no agent at all: refused within seconds, not left waiting
    r = one(OUTSIDER, h1, lease_call('Acquire', u, 'Acquire', interactive=True))
    assert_refused(r, ACTION + 'acquire', 'Acquire with the flag and no agent', [NOT_GIVEN])
    assert r['seconds'] < 5, 'refusal took %.1f s' % r['seconds']
    assert h1.inquire(u)['state'] == 'free'


# --- polkitd gone ---------------------------------------------------------------

def test_polkitd_stopped_fails_closed_then_recovers(sb, hosts, storage, leases):
    """polkitd of host 1 stopped mid-run: a member's Acquire and Release are
    refused ("polkit did not answer"), nothing is released; root still works
    (uid 0 does not ask polkit); polkitd started again: the member's calls
    work again, without restarting vmleased."""
    h1 = hosts[0]
    held, free, rootu = (free_lease(h1, leases, n) for n in ('vm-pk-held', 'vm-pk-free',
                                                              'vm-pk-root'))
    assert_ok(one(MEMBER, h1, lease_call('Acquire', held, 'Acquire')), 'Acquire before stop')
    vmleased_pid = h1.vmleased_pid()
    old_polkitd = sb.polkitd_pid(1)
    snap = StateSnapshot(sb, held=[(h1, held)])
    try:
        sb.polkit(1, 'stop')
        assert not process_alive(old_polkitd), 'polkitd %d still running' % old_polkitd
        assert not h1.has_bus_name(POLKIT_NAME)

        res = run_as(MEMBER, h1, [lease_call('Release', held, 'Release'),
                                  lease_call('Acquire', free, 'Acquire'),
                                  lease_call('Release-interactive', held, 'Release',
                                             interactive=True),
                                  lease_call('Inquire', held, 'Inquire')])
        for label in ('Release', 'Acquire', 'Release-interactive'):
            assert_refused(res[label], ACTION + 'acquire', '%s while polkitd is down' % label,
                           ['polkit did not answer'])
            assert res[label]['seconds'] < 5, res[label]
        assert assert_ok(res['Inquire'], 'Inquire while polkitd is down')[0]['state'] == 'held'
        snap.assert_unchanged('calls while polkitd was down')
        info = h1.inquire(held)
        assert info['owner_uid'] == TEST_USERS[MEMBER][0], info
        assert h1.lease_props(free)['State'] == 'free'

        # root does not need polkit
        h1.acquire(rootu)
        assert h1.inquire(rootu)['state'] == 'held'
        h1.release(rootu)
        assert h1.inquire(rootu)['state'] == 'free'

        sb.polkit(1, 'start')
        assert h1.has_bus_name(POLKIT_NAME)
        assert sb.polkitd_pid(1) != old_polkitd
    finally:
        if not h1.has_bus_name(POLKIT_NAME):
            sb.polkit(1, 'start')

    res = run_as(MEMBER, h1, [lease_call('Release', held, 'Release'),
                              lease_call('Acquire', free, 'Acquire'),
                              lease_call('Release-2', free, 'Release')])
    for label in ('Release', 'Acquire', 'Release-2'):
        assert_ok(res[label], '%s after polkitd came back' % label)
    assert h1.inquire(held)['state'] == 'free'
    assert h1.inquire(free)['state'] == 'free'
    assert h1.vmleased_pid() == vmleased_pid, 'vmleased was restarted'
