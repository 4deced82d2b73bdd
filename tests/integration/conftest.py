# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration tests of vmleased: real sanlock daemons, real dbus-daemons.

One 3-host sandbox (tools/vmlease-sandbox, io_timeout 1) is brought up for
the whole pytest session and torn down at its end, whatever happens. Nothing
is mocked: every host has its own dbus-daemon (system type), polkitd,
unprivileged sanlock daemon and vmleased from the build tree
($VMLEASE_BUILD_DIR, default <repo>/build); all hosts share one lease file.
polkitd loads the project's actions (<build>/policy) and its shipped rules
(policy/50-vmlease.rules); with --test-identities, polkitd and dbus-daemon
(only they, in their own mount namespaces) know the test users and the group
vmlease (TEST_USERS below), whom test_auth.py runs callers as.

A missing part (no build, sanlock not installed, the sandbox not coming up)
makes the tests FAIL, never skip.
"""

import contextlib
import json
import os
import re
import struct
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import pytest

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
BUILD_DIR = os.path.abspath(os.environ.get('VMLEASE_BUILD_DIR') or os.path.join(REPO, 'build'))
SANDBOX_TOOL = os.path.join(REPO, 'tools', 'vmlease-sandbox')
VMLEASECTL = os.path.join(BUILD_DIR, 'cli', 'vmleasectl')
PYTHON = '/usr/bin/python3'
SANLOCK = '/usr/sbin/sanlock'

N_HOSTS = 3
IO_TIMEOUT = 1
LOCKSPACE = 'sandbox'
MiB = 1 << 20
LEASE_FILE_SIZE = 512 * MiB
PAXOS_DISK_MAGIC = 0x06152010

BUS_NAME = 'org.example.VMLease'
MANAGER_PATH = '/org/example/VMLease'
MANAGER_IFACE = 'org.example.VMLease.Manager'
LEASE_IFACE = 'org.example.VMLease'
LEASE_PATH_PREFIX = '/org/example/VMLease/vm/'
ERROR_PREFIX = 'org.example.VMLease.Error.'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'

CALL_TIMEOUT_MS = 30000

# The users and groups `vmlease-sandbox up --test-identities` adds to the
# /etc/passwd and /etc/group that the hosts' polkitd and dbus-daemon see
# (never the machine's): name -> (uid, gid, supplementary gids).
VMLEASE_GID = 60000
TEST_USERS = {
    'vmltest-member': (60001, 60001, (VMLEASE_GID,)),
    'vmltest-other': (60002, 60002, (VMLEASE_GID,)),
    'vmltest-outsider': (60003, 60003, ()),
}
BASE_ENV = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}


# --- small helpers ----------------------------------------------------------

def lease_path(u):
    return LEASE_PATH_PREFIX + u.replace('-', '_')


def new_uuid():
    return str(uuid.uuid4())


def opts(**kw):
    """a{sv} from keyword args; values must already be GLib.Variant."""
    for k, v in kw.items():
        assert isinstance(v, GLib.Variant), 'option %s must be a GLib.Variant' % k
    return kw


def s(v):
    return GLib.Variant('s', v)


def u32(v):
    return GLib.Variant('u', v)


def t64(v):
    return GLib.Variant('t', v)


def b(v):
    return GLib.Variant('b', v)


class DBusCallError(Exception):
    """A D-Bus error reply: .name is the remote error name, .message the text."""

    def __init__(self, name, message, method):
        super().__init__('%s: %s (calling %s)' % (name, message, method))
        self.name = name
        self.message = message
        self.method = method

    @property
    def short(self):
        if self.name and self.name.startswith(ERROR_PREFIX):
            return self.name[len(ERROR_PREFIX):]
        return self.name


def _convert_error(e, method):
    if isinstance(e, GLib.Error):
        name = Gio.DBusError.get_remote_error(e)
        msg = e.message or ''
        # PyGObject hands out a copy, so strip_remote_error() cannot be used
        prefix = 'GDBus.Error:%s: ' % name
        if name and msg.startswith(prefix):
            msg = msg[len(prefix):]
        return DBusCallError(name or ('%s:%d' % (e.domain, e.code)), msg, method)
    return e


@contextlib.contextmanager
def raises_dbus(short_name):
    """Expect the block to fail with org.example.VMLease.Error.<short_name>.

    Yields a holder whose .value is the DBusCallError after the block.
    """
    class Holder:
        value = None
    h = Holder()
    try:
        yield h
    except DBusCallError as e:
        h.value = e
        assert e.name == ERROR_PREFIX + short_name, (
            'expected %s%s, got %s: %s (calling %s)'
            % (ERROR_PREFIX, short_name, e.name, e.message, e.method))
        assert e.message and e.message.strip(), 'error %s has no message' % e.name
        return
    raise AssertionError('expected %s%s, but the call succeeded'
                         % (ERROR_PREFIX, short_name))


def wait_until(pred, timeout, interval=0.05, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError('timed out after %.1f s waiting for %s' % (timeout, what))
        time.sleep(interval)


# --- processes --------------------------------------------------------------

def proc_stat(pid):
    """(state, ppid, comm) of pid, or None when there is no such process."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index('(') + 1:data.rindex(')')]
    fields = data.rsplit(')', 1)[1].split()
    return fields[0], int(fields[1]), comm


def process_alive(pid):
    st = proc_stat(pid) if pid else None
    return st is not None and st[0] not in ('Z', 'X')


def process_comm(pid):
    st = proc_stat(pid)
    return st[2] if st else None


def wait_process_exit(pid, timeout=10):
    """Wait until pid has exited (gone, or a zombie); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


# --- the sandbox -------------------------------------------------------------

def ctl(h, *args, check=None, stdin=None):
    """vmleasectl ARGS against host h's bus; with check, its exit status must
    be that."""
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
           'DBUS_SYSTEM_BUS_ADDRESS': h.address}
    r = subprocess.run([VMLEASECTL] + list(args), input=stdin, env=env,
                       capture_output=True, text=True, timeout=60)
    if check is not None:
        assert r.returncode == check, 'vmleasectl %s on host %d -> %d, expected %d\n%s%s' % (
            ' '.join(args), h.id, r.returncode, check, r.stdout, r.stderr)
    return r


def run_sandbox(*args, timeout=120, check=True):
    argv = [PYTHON, SANDBOX_TOOL] + list(args)
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError('`%s` failed (exit %d):\n%s%s' % (
            ' '.join(argv[1:]), r.returncode, r.stdout, r.stderr))
    return r


def sanlock_run(env, *args, timeout=20):
    r = subprocess.run([SANLOCK] + list(args), env=dict(BASE_ENV, **env),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stdout + r.stderr


class SignalRecorder:
    """Records one kind of signal from the moment it is created.

    Signals are dispatched in the main thread's default GLib main context,
    which wait() iterates.
    """

    def __init__(self, conn, interface, member, path=None):
        self.conn = conn
        self.items = []
        self._id = conn.signal_subscribe(
            None, interface, member, path, None, Gio.DBusSignalFlags.NONE,
            self._on_signal, None)
        # make sure the AddMatch reached the bus before the test acts
        conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                       'org.freedesktop.DBus', 'GetId', None, None,
                       Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        self.pump(0.05)

    def _on_signal(self, conn, sender, path, iface, member, params, data):
        self.items.append((path, params.unpack()))

    @staticmethod
    def pump(seconds=0.0):
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + seconds
        while True:
            while ctx.pending():
                ctx.iteration(False)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01)

    def wait(self, pred, timeout=10, what='signal'):
        """Wait until pred(list of (path, args)) is true; returns its value."""
        deadline = time.monotonic() + timeout
        ctx = GLib.MainContext.default()
        while True:
            while ctx.pending():
                ctx.iteration(False)
            v = pred(self.items)
            if v:
                return v
            if time.monotonic() >= deadline:
                raise AssertionError('timed out after %.1f s waiting for %s; got %r'
                                     % (timeout, what, self.items))
            time.sleep(0.01)

    def close(self):
        if self._id:
            self.conn.signal_unsubscribe(self._id)
            self._id = 0


class Host:
    """One simulated host: its bus, its sanlock daemon, its vmleased."""

    def __init__(self, sandbox, k, env):
        self.sandbox = sandbox
        self.id = k
        self.env = env
        self.address = env['DBUS_SYSTEM_BUS_ADDRESS']
        self.sanlock_env = {'SANLOCK_RUN_DIR': env['SANLOCK_RUN_DIR'],
                            'SANLOCK_PRIVILEGED': '0'}
        self.log_path = os.path.join(sandbox.dir, 'host%d' % k, 'vmleased.log')
        self._conn = None

    def __repr__(self):
        return '<host %d>' % self.id

    def connect(self):
        """A new, private connection to this host's bus."""
        return Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    @property
    def conn(self):
        if self._conn is None or self._conn.is_closed():
            self._conn = self.connect()
        return self._conn

    # -- calls
    def raw_call(self, path, iface, method, sig, args, reply=None, conn=None,
                 timeout_ms=CALL_TIMEOUT_MS):
        params = GLib.Variant('(%s)' % sig, tuple(args)) if sig else None
        c = conn or self.conn
        try:
            r = c.call_sync(BUS_NAME, path, iface, method, params,
                            GLib.VariantType.new(reply) if reply else None,
                            Gio.DBusCallFlags.NONE, timeout_ms, None)
        except GLib.Error as e:
            raise _convert_error(e, '%s.%s on host %d' % (iface, method, self.id)) from None
        return r.unpack() if r is not None else None

    def manager(self, method, sig, *args, **kw):
        return self.raw_call(MANAGER_PATH, MANAGER_IFACE, method, sig, args, **kw)

    def lease(self, u, method, options=None, **kw):
        return self.raw_call(lease_path(u), LEASE_IFACE, method, 'a{sv}',
                             [options or {}], **kw)

    # -- manager shortcuts
    def create(self, u, lockspace=LOCKSPACE, options=None, **kw):
        return self.manager('CreateLease', 'ssa{sv}', u, lockspace, options or {}, **kw)[0]

    def get_lease(self, u, **kw):
        return self.manager('GetLease', 's', u, **kw)[0]

    def delete(self, u, options=None, **kw):
        return self.manager('DeleteLease', 'sa{sv}', u, options or {}, **kw)

    def add_lockspace(self, name, host_id, path, offset, options=None, **kw):
        return self.manager('AddLockspace', 'ststa{sv}', name, host_id, path,
                            offset, options or {}, **kw)

    def remove_lockspace(self, name, options=None, **kw):
        return self.manager('RemoveLockspace', 'sa{sv}', name, options or {}, **kw)

    # -- lease shortcuts
    def acquire(self, u, options=None, **kw):
        return self.lease(u, 'Acquire', options, **kw)

    def release(self, u, options=None, **kw):
        return self.lease(u, 'Release', options, **kw)

    def inquire(self, u, options=None, **kw):
        return self.lease(u, 'Inquire', options, **kw)[0]

    # -- properties
    def get_prop(self, path, iface, name, **kw):
        return self.raw_call(path, PROPS_IFACE, 'Get', 'ss', [iface, name],
                             reply='(v)', **kw)[0]

    def get_all(self, path, iface, **kw):
        return self.raw_call(path, PROPS_IFACE, 'GetAll', 's', [iface],
                             reply='(a{sv})', **kw)[0]

    def manager_prop(self, name):
        return self.get_prop(MANAGER_PATH, MANAGER_IFACE, name)

    def lease_props(self, u):
        return self.get_all(lease_path(u), LEASE_IFACE)

    def lockspaces(self):
        return [tuple(x) for x in self.manager_prop('Lockspaces')]

    def managed_objects(self):
        return self.raw_call(MANAGER_PATH, OM_IFACE, 'GetManagedObjects', None, (),
                             reply='(a{oa{sa{sv}}})')[0]

    # -- signals
    def record(self, interface, member, path=None):
        return SignalRecorder(self.conn, interface, member, path)

    # -- sanlock, seen from this host's daemon
    def sanlock_client(self, *args, timeout=20):
        return sanlock_run(self.sanlock_env, 'client', *args, timeout=timeout)

    def sanlock_status(self):
        """{'clients': {pid: [resource strings]}, 'lockspaces': [...]}."""
        rc, out = self.sanlock_client('status')
        assert rc == 0, 'sanlock client status on host %d failed: %s' % (self.id, out)
        clients, lockspaces, resources = {}, [], []
        for line in out.splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == 'p' and len(parts) >= 2 and parts[1].lstrip('-').isdigit():
                pid = int(parts[1])
                if pid > 0:
                    clients.setdefault(pid, [])
            elif parts[0] == 's' and len(parts) >= 2:
                lockspaces.append(parts[1])
            elif parts[0] == 'r' and len(parts) >= 2:
                pid = None
                if len(parts) >= 4 and parts[2] == 'p':
                    pid = int(parts[3])
                    clients.setdefault(pid, []).append(parts[1])
                resources.append((parts[1], pid, parts[4:] if len(parts) > 4 else []))
        return {'clients': clients, 'lockspaces': lockspaces,
                'resources': resources, 'text': out}

    def sanlock_holders_of(self, u):
        """Pids that hold resource u in this host's sanlock daemon."""
        st = self.sanlock_status()
        return sorted({pid for (res, pid, rest) in st['resources']
                       if res.split(':')[1:2] == [u] and pid is not None})

    def vmleased_pid(self):
        data = self.sandbox.pids()
        for p in data['processes']:
            if p['host'] == self.id and p['role'] == 'vmleased':
                return p['pid']
        return None

    def has_bus_name(self, name=BUS_NAME):
        try:
            c = self.connect()
            r = c.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                            'org.freedesktop.DBus', 'NameHasOwner',
                            GLib.Variant('(s)', (name,)), None,
                            Gio.DBusCallFlags.NONE, 5000, None)
            c.close_sync(None)
            return r.unpack()[0]
        except GLib.Error:
            return False

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.log_path, errors='replace') as f:
                f.seek(offset)
                return f.read()
        except OSError as e:
            return '(cannot read %s: %s)' % (self.log_path, e)


def unstick_index(sb):
    """If the index's paxos lease was left held on storage (sanlock skips the
    release write when another host committed the ballot), let its owner run
    one more index operation, which releases it; so that one test's failure
    does not make every later CreateLease fail. Returns the state found."""
    found = sb.storage.index_lease()
    for _ in range(3):
        il = sb.storage.index_lease()
        if not il['timestamp']:
            break
        owner = sb.host(il['own'])
        throwaway = new_uuid()
        with contextlib.suppress(Exception):
            owner.create(throwaway)
        with contextlib.suppress(Exception):
            owner.delete(throwaway)
    return found


class Sandbox:
    def __init__(self, d):
        self.dir = d
        self.lease_file = os.path.join(d, 'leases')
        self.hosts = []
        self.storage = None

    def pids(self):
        with open(os.path.join(self.dir, 'pids.json')) as f:
            return json.load(f)

    def host(self, k):
        return self.hosts[k - 1]

    def kill(self, k):
        return run_sandbox('kill', '--dir', self.dir, '--host', str(k))

    def restart(self, k, crash_at=None):
        """Start host k's vmleased again; with crash_at, it kills itself at
        that crash point (service/common/vml-fault.h)."""
        extra = ['--crash-at', crash_at] if crash_at else []
        return run_sandbox('restart', '--dir', self.dir, '--host', str(k),
                           *extra, timeout=90)

    def polkit(self, k, action):
        """Stop, start or restart host k's polkitd (by its recorded pid)."""
        return run_sandbox('polkit', '--dir', self.dir, '--host', str(k), action,
                           timeout=60)

    def polkitd_pid(self, k):
        for p in self.pids()['processes']:
            if p['host'] == k and p['role'] == 'polkitd':
                return p['pid']
        return None

    def ensure_running(self):
        """Before each test: every host's polkitd and vmleased own their names
        (start one a failed test left stopped, so one failure does not
        cascade)."""
        for h in self.hosts:
            if not h.has_bus_name('org.freedesktop.PolicyKit1'):
                run_sandbox('polkit', '--dir', self.dir, '--host', str(h.id), 'start',
                            timeout=60)
                assert h.has_bus_name('org.freedesktop.PolicyKit1'), \
                    'polkitd of host %d is not on its bus' % h.id
            if not h.has_bus_name():
                run_sandbox('restart', '--dir', self.dir, '--host', str(h.id), timeout=90)
                assert h.has_bus_name(), 'vmleased of host %d is not on its bus' % h.id


def read_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
            if m:
                v = m.group(2).strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in '\'"':
                    v = v[1:-1]
                env[m.group(1)] = v
    return env


class Storage:
    """Reads lease owners straight from the shared lease file with sanlock
    (`sanlock direct read_leader`, `sanlock direct dump`), and host liveness
    from a sanlock daemon (`sanlock client host_status`). Independent of
    vmleased."""

    def __init__(self, sandbox):
        self.sandbox = sandbox

    def _env(self, via=1):
        return self.sandbox.host(via).sanlock_env

    def leader(self, u, path, offset, check=True):
        """The paxos leader of resource u: dict with owner_id,
        owner_generation, lver, timestamp (0: not held exclusively),
        resource_name."""
        rc, out = sanlock_run(self._env(), 'direct', 'read_leader', '-r',
                              '%s:%s:%s:%d' % (LOCKSPACE, u, path, offset))
        if check:
            assert rc == 0, 'sanlock direct read_leader failed: %s' % out
        d = {}
        for line in out.splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2:
                d[parts[0]] = parts[1].strip()
        assert 'owner_id' in d, 'unexpected read_leader output: %s' % out
        res = {k: int(d[k], 0) for k in ('owner_id', 'owner_generation', 'lver',
                                         'timestamp', 'sector_size') if k in d}
        res['magic'] = int(d.get('magic', '0'), 0)
        res['rc'] = rc
        # a valid paxos lease of resource u (sanlock writes another magic when
        # it clears an area)
        res['valid'] = (rc == 0 and res['magic'] == PAXOS_DISK_MAGIC
                        and d.get('resource_name') == u)
        res['resource_name'] = d.get('resource_name', '')
        res['space_name'] = d.get('space_name', '')
        return res

    def dump(self, path, offset):
        """(resource name, own, gen, lver, timestamp, shared host ids) at offset."""
        rc, out = sanlock_run(self._env(), 'direct', 'dump', '%s:%d:%d' % (path, offset, MiB))
        assert rc == 0, 'sanlock direct dump failed: %s' % out
        lines = [l for l in out.splitlines() if l.strip()]
        main, shared = None, []
        for l in lines[1:]:
            parts = l.split()
            if len(parts) >= 7 and parts[0].isdigit():
                main = {'offset': int(parts[0]), 'lockspace': parts[1],
                        'resource': parts[2], 'timestamp': int(parts[3]),
                        'own': int(parts[4]), 'gen': int(parts[5]),
                        'lver': int(parts[6])}
            elif len(parts) == 3 and parts[2] == 'SH':
                shared.append(int(parts[0]))
        return main, sorted(shared), out

    def client_read_lver(self, u, path, offset, via=1):
        """lver as the sanlock daemon of host `via` reads it (client read -r)."""
        rc, out = sanlock_run(self._env(via), 'client', 'read', '-r',
                              '%s:%s:%s:%d' % (LOCKSPACE, u, path, offset))
        assert rc == 0, 'sanlock client read -r failed: %s' % out
        m = re.search(r'^r \S+:(\d+)\s*$', out, re.M)
        assert m, 'unexpected sanlock client read output: %s' % out
        return int(m.group(1))

    def live_hosts(self, via=1):
        rc, out = sanlock_run(self._env(via), 'client', 'host_status', '-s', LOCKSPACE)
        assert rc == 0, 'sanlock client host_status failed: %s' % out
        live = []
        for line in out.splitlines():
            m = re.match(r'^(\d+) timestamp (\d+)', line)
            if m and int(m.group(2)) > 0:
                live.append(int(m.group(1)))
        return live

    @staticmethod
    def released_by(path, offset, host_id, lver, sector_size):
        """Whether host_id's paxos dblock of the lease at offset says it let
        go of version lver. sanlock leaves the leader as it is when another
        host wrote it (it completed this host's ballot: "paxos_release skip
        write"), and takes the owner's RELEASED dblock of the same version
        as free, as this does (sector 2 is host 1's dblock; the dblock is
        mbal, bal, inp, inp2, inp3, lver, checksum, flags; flag 1 released)."""
        with open(path, 'rb') as f:
            f.seek(offset + (1 + host_id) * (sector_size or 512))
            raw = f.read(56)
        if len(raw) < 56:
            return False
        *_, dlver, _checksum, flags = struct.unpack('<QQQQQQII', raw)
        return dlver == lver and bool(flags & 1)

    def owners(self, u, path, offset):
        """What storage says: {'exclusive': host id or 0, 'shared': [ids], 'lver'}."""
        ld = self.leader(u, path, offset)
        _, shared, _ = self.dump(path, offset)
        held = bool(ld['timestamp']) and not (
            ld['owner_id'] and self.released_by(path, offset, ld['owner_id'], ld['lver'],
                                                ld.get('sector_size')))
        return {'exclusive': ld['owner_id'] if held else 0,
                'generation': ld['owner_generation'] if held else 0,
                'shared': shared, 'lver': ld['lver'],
                'resource_name': ld['resource_name']}

    def index_lease(self, path=None, offset=2 * MiB):
        """The paxos lease that guards the resource index (after the index):
        dict with own, timestamp (non-zero: held on storage), lver."""
        main, _, out = self.dump(path or self.sandbox.lease_file, offset)
        assert main and main['resource'] == 'rindex_lease', 'no index lease: %s' % out
        return main

    def index_lookup(self, u, path=None, offset=MiB):
        """Offset of u in the lockspace's resource index, or None."""
        path = path or self.sandbox.lease_file
        rc, out = sanlock_run(self._env(), 'direct', 'lookup', '-x',
                              '%s:%s:%d' % (LOCKSPACE, path, offset), '-e', u + ':0')
        if rc != 0:
            return None
        m = re.search(r'(\d+)\s*$', out.strip())
        return int(m.group(1)) if m and u in out else None


# --- fixtures ----------------------------------------------------------------

_SANDBOX = None


# What AddressSanitizer, LeakSanitizer, UBSan and valgrind write when they
# find something (a build with -Db_sanitize=..., or VMLEASE_TEST_WRAPPER);
# and GLib's criticals (a g_return_if_fail() that failed: a programming
# error, often a use after free, in any build).
SANITIZER_REPORT = re.compile(r'^==\d+==\s*ERROR: \w+Sanitizer.*$'
                              r'|^\S+ vmleased\[\d+\] critical: .*$'
                              r'|^.*-CRITICAL \*\*: .*$'
                              r'|^.*runtime error: .*$'
                              r'|^==\d+== ERROR SUMMARY: [1-9]\d* errors.*$'
                              r'|^==\d+== (?:Invalid |Conditional jump |Use of uninitialised '
                              r'|Syscall param |Mismatched free|Source and destination overlap'
                              r'|.* definitely lost in loss record ).*$', re.M)


def sanitizer_reports(text, where):
    """The sanitizer or valgrind report lines in @text, each prefixed with
    @where (a log's name)."""
    return ['%s: %s' % (where, m.group(0).strip()) for m in SANITIZER_REPORT.finditer(text)]


class SandboxDown:
    """What stopping a sandbox left: `vmlease-sandbox down`'s result, pids
    still alive, mounts still under its directory, and sanitizer or valgrind
    reports in its vmleased logs."""

    def __init__(self, down, left, mounted, reports=()):
        self.down, self.left, self.mounted = down, left, mounted
        self.reports = list(reports)

    @property
    def clean(self):
        return (self.down.returncode == 0 and not self.left and not self.mounted
                and not self.reports)

    def __str__(self):
        return ('vmlease-sandbox down: exit %d\n%s%s\nstill alive: %s\nstill mounted: %s'
                '\nsanitizer/valgrind reports in vmleased logs: %s'
                % (self.down.returncode, self.down.stdout, self.down.stderr, self.left,
                   self.mounted, '\n  '.join([''] + self.reports) or 'none'))


def stop_sandbox(sb, logs_subdir=''):
    """Stops a sandbox this process started: closes the hosts' bus
    connections, runs `vmlease-sandbox down`, keeps every host's logs under
    <build>/tests/integration-logs/<logs_subdir>/hostN (next to the junit
    report) and removes its directory."""
    for h in sb.hosts:
        with contextlib.suppress(Exception):
            if h._conn is not None:
                h._conn.close_sync(None)
    pids = []
    with contextlib.suppress(Exception):
        pids = [p['pid'] for p in sb.pids()['processes']]
    down = run_sandbox('down', '--dir', sb.dir, timeout=120, check=False)
    logs = os.path.join(BUILD_DIR, 'tests', 'integration-logs', logs_subdir)
    reports = []
    for h in sb.hosts:
        with contextlib.suppress(OSError):
            with open(os.path.join(sb.dir, 'host%d' % h.id, 'vmleased.log'),
                      errors='replace') as f:
                reports += sanitizer_reports(f.read(), 'host%d/vmleased.log' % h.id)
    with contextlib.suppress(Exception):
        shutil.rmtree(logs, ignore_errors=True)
        for h in sb.hosts:
            src = os.path.join(sb.dir, 'host%d' % h.id)
            dst = os.path.join(logs, 'host%d' % h.id)
            os.makedirs(dst, exist_ok=True)
            for name in os.listdir(src):
                if name.endswith('.log'):
                    shutil.copy(os.path.join(src, name), dst)
    mounted = [line for line in open('/proc/self/mounts') if sb.dir in line]
    shutil.rmtree(sb.dir, ignore_errors=True)
    return SandboxDown(down, [pid for pid in pids if process_alive(pid)], mounted, reports)


class MonitorJson:
    """`vmleasectl monitor --json` on one host, its lines collected."""

    def __init__(self, host):
        self.lines = []
        self.p = subprocess.Popen([VMLEASECTL, 'monitor', '--json'],
                                  env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8',
                                       'DBUS_SYSTEM_BUS_ADDRESS': host.address},
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def events(self, event):
        """Every line is one JSON object; those of @event."""
        return [o for o in (json.loads(line) for line in list(self.lines))
                if o.get('event') == event]

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred(self)
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError('monitor --json: timed out waiting for %s; lines: %r'
                             % (what, self.lines))

    def close(self):
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        err = self.p.stderr.read()
        self._t.join(timeout=5)
        return self.p.returncode, err


def start_sandbox(sb, n_hosts, *extra, label='sandbox'):
    """`vmlease-sandbox up` of @n_hosts hosts in @sb's directory (io_timeout
    IO_TIMEOUT, this build, @extra arguments), failing clearly if it does not
    come up; adds the hosts to @sb. VMLEASE_TEST_WRAPPER wraps vmleased
    unless @extra names a wrapper of its own."""
    args = ['up', '--hosts', str(n_hosts), '--dir', sb.dir, '--io-timeout', str(IO_TIMEOUT),
            '--build', BUILD_DIR, *extra]
    wrapper = os.environ.get('VMLEASE_TEST_WRAPPER')
    if wrapper and '--wrapper' not in extra:
        args += ['--wrapper', wrapper]
    t0 = time.monotonic()
    r = run_sandbox(*args, timeout=180, check=False)
    if r.returncode != 0:
        pytest.fail('vmlease-sandbox %s failed (exit %d):\n%s%s'
                    % (' '.join(args), r.returncode, r.stdout, r.stderr), pytrace=False)
    sys.stderr.write('%s up in %.1f s in %s\n' % (label, time.monotonic() - t0, sb.dir))
    for k in range(1, n_hosts + 1):
        sb.hosts.append(Host(sb, k, read_env_file(os.path.join(sb.dir, 'host%d.env' % k))))


@pytest.fixture(scope='session')
def sandbox():
    global _SANDBOX
    for p in (os.path.join(BUILD_DIR, 'service', 'vmleased'),
              os.path.join(BUILD_DIR, 'service', 'holder', 'vmlease-holder')):
        if not os.access(p, os.X_OK):
            pytest.fail('%s is missing: build first (VMLEASE_BUILD_DIR=%s)'
                        % (p, BUILD_DIR), pytrace=False)
    for p in (SANDBOX_TOOL, SANLOCK, PYTHON):
        if not os.path.exists(p):
            pytest.fail('%s is missing' % p, pytrace=False)
    if os.geteuid() != 0:
        pytest.fail('the integration tests run the sandbox, which needs root',
                    pytrace=False)

    d = tempfile.mkdtemp(prefix='vmlit.', dir='/tmp')
    sb = Sandbox(d)
    try:
        start_sandbox(sb, N_HOSTS, '--test-identities')
        for h in sb.hosts:
            for name in ('DBUS_SYSTEM_BUS_ADDRESS', 'SANLOCK_RUN_DIR', 'VMLEASE_HOST_ID'):
                assert name in h.env, 'host%d.env lacks %s' % (h.id, name)
            assert h.env['VMLEASE_HOST_ID'] == str(h.id)
        sb.storage = Storage(sb)
        _SANDBOX = sb
        yield sb
    finally:
        # a SIGTERM now (a second one from a test harness) must not cut the
        # teardown short and leave the sandbox running
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _SANDBOX = None
        res = stop_sandbox(sb)
        if not res.clean:
            sys.stderr.write('%s\n' % res)
        if res.reports:
            pytest.fail('vmleased reported memory or undefined-behaviour errors:\n  %s'
                        % '\n  '.join(res.reports), pytrace=False)


@pytest.fixture
def sb(sandbox):
    """The session's sandbox, checked healthy before the test."""
    sandbox.ensure_running()
    return sandbox


@pytest.fixture
def hosts(sb):
    return sb.hosts


@pytest.fixture
def storage(sb):
    return sb.storage


@pytest.fixture
def leases(sb):
    """Fresh lease uuids for this test; released and deleted afterwards."""
    made = []

    def make():
        u = new_uuid()
        made.append(u)
        return u
    yield make
    for u in made:
        for h in sb.hosts:
            with contextlib.suppress(Exception):
                h.release(u)
        for h in sb.hosts:
            with contextlib.suppress(Exception):
                h.delete(u)
                break


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach what each host's vmleased logged during the test."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == 'setup':
        item._vml_log_sizes = ({h.id: h.log_size() for h in _SANDBOX.hosts}
                               if _SANDBOX else {})
    if rep.failed and rep.when == 'call' and _SANDBOX:
        sizes = getattr(item, '_vml_log_sizes', {})
        for h in _SANDBOX.hosts:
            text = h.log_since(sizes.get(h.id, 0))
            if len(text) > 6000:
                text = '...\n' + text[-6000:]
            rep.sections.append(('vmleased log of host %d during the test' % h.id, text))


# --- "bad input changes nothing" ---------------------------------------------

class StateSnapshot:
    """What every host exports and has joined, and how held leases stand;
    assert_unchanged() checks that none of it moved."""

    def __init__(self, sb, held=()):
        self.sb = sb
        self.held = list(held)        # [(host, uuid)]
        self.objects = {h.id: sorted(h.managed_objects().keys()) for h in sb.hosts}
        self.lockspaces = {h.id: sorted(h.lockspaces()) for h in sb.hosts}
        self.leases = {}
        for h, u in self.held:
            info = h.inquire(u)
            assert info['held_here'] is True, 'lease %s is not held on host %d' % (u, h.id)
            self.leases[(h.id, u)] = info

    def assert_unchanged(self, what='the bad call'):
        for h in self.sb.hosts:
            objs = sorted(h.managed_objects().keys())
            assert objs == self.objects[h.id], (
                'after %s, host %d exports other objects: before %r, after %r'
                % (what, h.id, self.objects[h.id], objs))
            ls = sorted(h.lockspaces())
            assert ls == self.lockspaces[h.id], (
                'after %s, host %d has other lockspaces: before %r, after %r'
                % (what, h.id, self.lockspaces[h.id], ls))
        st = self.sb.storage
        for h, u in self.held:
            before = self.leases[(h.id, u)]
            info = h.inquire(u)
            assert info['held_here'] is True, 'after %s, lease %s is no longer held on host %d: %r' % (what, u, h.id, info)
            assert info['state'] == before['state'], 'after %s, state %s -> %s' % (what, before['state'], info['state'])
            assert info['lver'] == before['lver'], 'after %s, lver %d -> %d' % (what, before['lver'], info['lver'])
            assert info['holder_pid'] == before['holder_pid'], 'after %s, holder pid changed' % what
            assert process_alive(info['holder_pid']), 'after %s, holder %d is gone' % (what, info['holder_pid'])
            assert h.sanlock_holders_of(u) == [info['holder_pid']], (
                'after %s, sanlock of host %d shows holders %r of %s, expected [%d]'
                % (what, h.id, h.sanlock_holders_of(u), u, info['holder_pid']))
            own = st.owners(u, info['path'], info['offset'])
            if before['mode'] == 'exclusive':
                assert own['exclusive'] == h.id, 'after %s, storage owner of %s is %r' % (what, u, own)
            assert own['lver'] == before['lver'], 'after %s, storage lver %r' % (what, own)


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt('SIGTERM (test timeout?)')


def pytest_configure(config):
    """meson ends a test that runs over its timeout with SIGTERM: turn it into
    an interrupt, so that pytest still tears the sandbox down."""
    import signal
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
