# SPDX-License-Identifier: LGPL-2.1-or-later
"""One identity's fuzzer worker (started by tests/fuzz/vmlease-fuzz).

Self-contained (only the standard library and PyGObject), because it runs as
another uid through setpriv with `python3 -c <this file's text>`: it must not
need to read anything from the source tree. Reads one JSON object (the
"spec", made by vmlease-fuzz) on stdin, sends spec["calls"] D-Bus calls to
the hosts' vmleased, pipelined (up to spec["inflight"] in flight, spread over
one connection per host), and prints one JSON object of counts on stdout.

What a call looks like comes from a random.Random(spec["seed"]) alone: the
sequence of calls a worker *sends* is reproducible; the replies, and so the
tokens it harvests and re-sends, depend on timing and the other workers.

Values that name processes ("pid") only ever come from spec["pids"] (this
worker's own stand-in processes, and a root-owned decoy for unprivileged
workers) or from numbers that are no process id (0, above PID_MAX_LIMIT):
a fuzzer must never make vmleased fence a process of this machine.
"""

import base64
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback

import gi
gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.example.VMLease'
MANAGER_PATH = '/org/example/VMLease'
MANAGER_IFACE = 'org.example.VMLease.Manager'
LEASE_IFACE = 'org.example.VMLease'
LEASE_PATH_PREFIX = '/org/example/VMLease/vm/'
ERROR_PREFIX = 'org.example.VMLease.Error.'
TOKEN_PREFIX = 'vml1.'
TOKEN_TYPE = '(yya{sv}ayay)'
CHECKSUM_SIZE = 16
STEPS = ('begin', 'prepare', 'perform', 'finish', 'confirm', 'cancel')
NEXT_STEP = {'begin': 'prepare', 'prepare': 'perform', 'perform': 'finish',
             'finish': 'confirm'}

MiB = 1 << 20
KiB64 = 64 * 1024
HUGE = {
    'u': [0, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1],
    't': [0, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - MiB, 2**64 - 1],
    'y': [0, 255], 'n': [-2**15, 2**15 - 1], 'q': [0, 2**16 - 1],
    'i': [-2**31, -1, 2**31 - 1], 'x': [-2**63, -1, 2**63 - 1],
    'd': [0.0, -1.0, 1e308, float('inf'), float('nan')],
}
# Disk keys: three good ones (each becomes a lease in the index), bad ones.
DISK_KEYS = ['fuzz-a', 'fuzz-b', 'fuzz/c@1', '', 'a b', 'k' * 257, '\u00e9']
# Strings that are valid UTF-8 (D-Bus allows nothing else) but odd.
ODD_STRINGS = [
    '', ' ', '-', '.', '..', '/', '%s%s%s%n', '%x%x%x', '{}', '\\', '"\'',
    'e\u0301', '\u202eevil', '\ufeffbom', '\u00a0', '\U0001F600\U0001F4A9',
    '\uffff', '\U0010FFFF', '\x01\x02\x7f', 'line\nbreak\ttab', 'ÄÖÜ' * 40,
    '\u0130\u0131', 'a' * 49, 'a' * 256, 'x' * 4096,
]
LONG = 'A' * KiB64
WRONG_TYPES = ['b', 'y', 'n', 'q', 'i', 'u', 'x', 't', 'd', 's', 'o', 'g',
               'ay', 'as', 'a{sv}', 'v', '(ss)', 'at']


class Fuzzer:
    def __init__(self, spec):
        self.spec = spec
        self.rng = random.Random(spec['seed'])
        self.identity = spec['identity']
        self.hosts = spec['hosts']                  # [{"id", "address"}]
        self.options = spec['options']              # {method: {key: type}}
        self.step_options = spec['step_options']    # {step: {key: type}}
        self.leases = spec['leases']                # uuids of the fuzzer's own leases
        self.ghosts = spec['ghosts']                # uuids that may or may not exist
        self.lockspaces = spec['lockspaces']
        self.add_lockspaces = spec['add_lockspaces']   # names AddLockspace/Remove may use
        self.paths = spec['paths']
        self.offsets = spec['offsets']
        self.pids = list(spec['pids'])
        self.timeout_ms = spec['call_timeout_ms']
        self.budget = spec['calls']
        self.inflight_max = spec['inflight']
        self.tokens = [tuple(t) for t in spec.get('tokens', [])]  # (token, step, host index, uuid)
        self.conns = []
        self.sent = 0
        self.inflight = 0
        self.counts = {}        # "Method" -> {result: n}
        self.samples = {}       # "Method result" -> the first error message seen
        self.mutations = {}     # kind -> n
        self.loop = GLib.MainLoop()
        self.stand_ins = []
        self.harvested = 0
        self.crash = None
        self.reconnects = 0

    # -- bookkeeping ---------------------------------------------------------
    def note(self, kind):
        self.mutations[kind] = self.mutations.get(kind, 0) + 1

    def count(self, label, result):
        per = self.counts.setdefault(label, {})
        per[result] = per.get(result, 0) + 1

    # -- values --------------------------------------------------------------
    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def odd_string(self):
        r = self.rng.random()
        if r < 0.1:
            self.note('long-string')
            return LONG
        self.note('odd-string')
        return self.pick(ODD_STRINGS)

    def value_of_type(self, t):
        """Any value of GVariant type t (for wrong-type entries)."""
        if t in HUGE:
            return GLib.Variant(t, self.pick(HUGE[t]))
        if t == 'b':
            return GLib.Variant('b', self.rng.random() < 0.5)
        if t == 's':
            return GLib.Variant('s', self.odd_string())
        if t == 'o':
            return GLib.Variant('o', self.pick([MANAGER_PATH, '/', LEASE_PATH_PREFIX + 'x']))
        if t == 'g':
            return GLib.Variant('g', self.pick(['', 'a{sv}', 'u']))
        if t == 'ay':
            return GLib.Variant('ay', bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(64))))
        if t == 'as':
            return GLib.Variant('as', [self.odd_string() for _ in range(self.rng.randrange(4))])
        if t == 'at':
            return GLib.Variant('at', [self.pick(HUGE['t']) for _ in range(self.rng.randrange(4))])
        if t == 'a{sv}':
            return GLib.Variant('a{sv}', {'pid': GLib.Variant('u', 0), 'x': GLib.Variant('s', 'y')})
        if t == 'v':
            return GLib.Variant('v', GLib.Variant('u', 0))
        if t == '(ss)':
            return GLib.Variant('(ss)', ('a', self.odd_string()))
        raise ValueError(t)

    def plausible(self, key, t):
        """A value of the right type that vmleased may well accept."""
        if key == 'pid':
            return self.pick(self.pids + [0, 4194305])
        if key == 'fence':
            return self.pick(['kill', 'pause', 'none'])
        if key == 'mode':
            return self.pick(['exclusive', 'exclusive', 'shared'])
        if key == 'wait':
            return self.pick([0, 0, 1, 2])
        if key == 'io_timeout':
            return self.pick([1, 1, 0, 10, 60, 61])
        if key == 'name':
            return self.pick(['vm-fuzz', 'a' * 255, 'a' * 256, 'ÄÖÜ'])
        if key == 'path':
            return self.pick(self.paths)
        if key == 'disks':
            return self.disk_pairs()
        if key == 'offset':
            return self.pick(self.offsets)
        if t == 'b':
            return self.rng.random() < 0.5
        if t == 's':
            return self.odd_string()
        if t in HUGE:
            return self.pick(HUGE[t])
        raise ValueError((key, t))

    def entry_value(self, key, t, mutate):
        """The value of one option entry: plausible, or (with @mutate) a
        wrong type, a huge number, an odd or long string, nested variants."""
        r = self.rng.random() if mutate else 0.0
        if r < 0.3:
            self.note('plausible')
            return GLib.Variant(t, self.plausible(key, t))
        if r < 0.55:
            self.note('wrong-type')
            return self.value_of_type(self.pick([w for w in WRONG_TYPES if w != t]))
        if r < 0.8:
            if t in HUGE:
                self.note('huge-number')
                return GLib.Variant(t, self.pick(HUGE[t]))
            if t == 's':
                return GLib.Variant('s', self.odd_string())
            return GLib.Variant(t, self.plausible(key, t))
        # nested variants: v, vv, vvv around the right type
        self.note('nested-variant')
        inner = GLib.Variant(t, self.plausible(key, t))
        for _ in range(self.rng.randrange(1, 4)):
            inner = GLib.Variant('v', inner)
        return inner

    def options_dict(self, keys):
        """An a{sv} from the known keys {key: type}, built entry by entry
        (a GVariantBuilder, so that keys can repeat). A third of them are
        plausible throughout, so that real work happens too."""
        b = GLib.VariantBuilder.new(GLib.VariantType.new('a{sv}'))
        r = self.rng.random()
        if r < (0.5 if not keys else 0.15):
            self.note('empty-options')
            return b.end()
        mutate = r >= 0.5
        entries = []
        for k in keys:
            if self.rng.random() < 0.5:
                entries.append((k, self.entry_value(k, keys[k], mutate and self.rng.random() < 0.5)))
        if mutate and entries and self.rng.random() < 0.2:
            self.note('duplicate-key')
            k, _ = self.pick(entries)
            entries.insert(self.rng.randrange(len(entries) + 1),
                           (k, self.entry_value(k, keys[k], self.rng.random() < 0.5)))
        if mutate and (self.rng.random() < 0.15 or not keys):
            self.note('unknown-key')
            unknown = self.pick(['', 'PID', 'pid ', 'wait\u0301', 'force', 'x' * 300,
                                 self.odd_string()])
            entries.append((unknown, self.value_of_type(self.pick(WRONG_TYPES))))
        for k, v in entries:
            b.add_value(GLib.Variant.new_dict_entry(GLib.Variant('s', k), GLib.Variant('v', v)))
        return b.end()

    def uuid_arg(self):
        r = self.rng.random()
        if r < 0.6:
            return self.pick(self.leases)
        if r < 0.8:
            return self.pick(self.ghosts)
        self.note('bad-uuid')
        u = self.pick(self.leases)
        return self.pick([u.upper(), u.replace('-', ''), '{%s}' % u, u + 'x', u[:-1],
                          u.replace('-', '_'), ' ' + u, self.odd_string(),
                          '00000000-0000-0000-0000-000000000000'])

    def lease_object_path(self):
        r = self.rng.random()
        if r < 0.85:
            return LEASE_PATH_PREFIX + self.pick(self.leases).replace('-', '_')
        if r < 0.95:
            return LEASE_PATH_PREFIX + self.pick(self.ghosts).replace('-', '_')
        self.note('odd-object-path')
        return self.pick([MANAGER_PATH, LEASE_PATH_PREFIX + 'x', '/', LEASE_PATH_PREFIX[:-1]])

    # -- tokens --------------------------------------------------------------
    @staticmethod
    def resign(body):
        """body + the checksum vmleased checks first (SHA-256, not keyed), so
        that a changed body reaches the GVariant parser and the MAC check."""
        return TOKEN_PREFIX + base64.b64encode(body + hashlib.sha256(body).digest()[:CHECKSUM_SIZE]).decode()

    def mutate_token(self, tok):
        kind = self.pick(['flip', 'cut', 'extend', 'body-byte', 'body-claims', 'prefix',
                          'whole', 'whole', 'whole'])
        self.note('token-' + kind)
        if kind == 'whole' or not tok:
            return tok
        if kind == 'flip':
            i = self.rng.randrange(len(tok))
            c = self.pick('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=.!\u00e9')
            return tok[:i] + c + tok[i + 1:]
        if kind == 'cut':
            return tok[:self.rng.randrange(len(tok))]
        if kind == 'extend':
            return tok + self.pick(['A', '====', tok, 'x' * 70000, '\U0001F600'])
        if kind == 'prefix':
            return self.pick(['vml2.', 'VML1.', '', 'vml1..']) + tok[len(TOKEN_PREFIX):]
        try:
            raw = base64.b64decode(tok[len(TOKEN_PREFIX):])
        except ValueError:
            return tok
        body = bytearray(raw[:-CHECKSUM_SIZE])
        if kind == 'body-byte' and body:
            for _ in range(self.rng.randrange(1, 4)):
                body[self.rng.randrange(len(body))] ^= 1 << self.rng.randrange(8)
            return self.resign(bytes(body))
        # body-claims: change the claims of a well-formed token and re-serialize
        try:
            v = GLib.Variant.new_from_bytes(GLib.VariantType.new(TOKEN_TYPE),
                                            GLib.Bytes.new(bytes(body)), False)
            version, kind_, claims, inner, mac = v.unpack()
        except Exception:
            return self.resign(bytes(body))
        b = GLib.VariantBuilder.new(GLib.VariantType.new('a{sv}'))
        claims_v = v.get_child_value(2)
        for i in range(claims_v.n_children()):
            entry = claims_v.get_child_value(i)
            key = entry.get_child_value(0).get_string()
            val = entry.get_child_value(1).get_variant()
            r = self.rng.random()
            if r < 0.2:
                continue                                   # drop a claim
            if r < 0.3:
                t = val.get_type_string()
                val = GLib.Variant(t, self.pick(HUGE[t])) if t in HUGE else self.value_of_type('s')
            elif r < 0.4:
                val = self.value_of_type(self.pick(WRONG_TYPES))
            elif r < 0.45:                                  # the same claim twice
                b.add_value(GLib.Variant.new_dict_entry(GLib.Variant('s', key), GLib.Variant('v', val)))
            b.add_value(GLib.Variant.new_dict_entry(GLib.Variant('s', key), GLib.Variant('v', val)))
        new = GLib.Variant.new_tuple(
            GLib.Variant('y', self.pick([version, version, 0, 2, 255])),
            GLib.Variant('y', self.pick([kind_, kind_, 0, 5, 255])),
            b.end(),
            GLib.Variant('ay', bytes(inner) if self.rng.random() < 0.8 else bytes(self.rng.randrange(256) for _ in range(40))),
            GLib.Variant('ay', bytes(mac)))
        return self.resign(bytes(new.get_data_as_bytes().get_data()))

    # -- calls ---------------------------------------------------------------
    def manager_call(self):
        m = self.pick(['AddLockspace', 'RemoveLockspace', 'CreateLease', 'CreateLease',
                       'CreateLease', 'DeleteLease', 'GetLease', 'GetLease', 'GetLease'])
        if m == 'AddLockspace':
            name = self.pick(self.add_lockspaces + [self.odd_string()])
            host_id = self.pick([1, 2, 3, 250, 251, 2000, 2001] + HUGE['t'])
            args = [GLib.Variant('s', name), GLib.Variant('t', host_id),
                    GLib.Variant('s', self.pick(self.paths)),
                    GLib.Variant('t', self.pick(self.offsets)),
                    self.options_dict(self.options['AddLockspace'])]
        elif m == 'RemoveLockspace':
            args = [GLib.Variant('s', self.pick(self.add_lockspaces + [self.odd_string()])),
                    self.options_dict(self.options['RemoveLockspace'])]
        elif m == 'CreateLease':
            args = [GLib.Variant('s', self.uuid_arg()),
                    GLib.Variant('s', self.lockspaces[0] if self.rng.random() < 0.7
                                 else self.pick(self.lockspaces + [self.odd_string()])),
                    self.options_dict(self.options['CreateLease'])]
        elif m == 'DeleteLease':
            args = [GLib.Variant('s', self.uuid_arg()),
                    self.options_dict(self.options['DeleteLease'])]
        else:
            args = [GLib.Variant('s', self.uuid_arg())]
        return self.rng.randrange(len(self.hosts)), MANAGER_PATH, MANAGER_IFACE, m, args

    def transfer_call(self):
        """(host index, path, args): a follow-up of a harvested token now and
        then, so that real hand-offs happen and real tokens come back."""
        if self.tokens and self.rng.random() < 0.6:
            tok, step, hi, u = self.pick(self.tokens)
            nxt = NEXT_STEP.get(step, 'cancel')
            if self.rng.random() < 0.15:
                nxt = self.pick(STEPS)
            host = (hi + 1) % len(self.hosts) if self.rng.random() < 0.85 else hi
            path = LEASE_PATH_PREFIX + u.replace('-', '_')
            token = self.mutate_token(tok)
            self.last_token_mutated = token != tok
        else:
            host = self.rng.randrange(len(self.hosts))
            path = self.lease_object_path()
            nxt = self.pick(STEPS + ('begin', 'begin', 'cancel'))
            token = '' if self.rng.random() < 0.7 else self.odd_string()
        step = nxt
        if self.rng.random() < 0.05:
            self.note('bad-step')
            step = self.pick(['', 'BEGIN', 'begin ', 'prepare\u0301', LONG, self.odd_string()])
        keys = self.step_options.get(nxt, {})
        args = [GLib.Variant('s', step), GLib.Variant('s', token), self.options_dict(keys)]
        return host, path, args

    def disk_pairs(self):
        """(key, mode) pairs for disk leases: a few keys (each one a lease
        in the index for good), some bad ones, repeats and odd modes."""
        return [(self.pick(DISK_KEYS), self.pick(['', 'exclusive', 'shared', 'shared', 'odd']))
                for _ in range(self.rng.randrange(4))]

    def lease_call(self):
        m = self.pick(['Acquire', 'Acquire', 'Release', 'Release', 'Transfer', 'Transfer',
                       'Transfer', 'Inquire', 'AttachDisks', 'DetachDisks'])
        if m == 'Transfer':
            host, path, args = self.transfer_call()
            return host, path, LEASE_IFACE, m, args
        if m in ('AttachDisks', 'DetachDisks'):
            pairs = self.disk_pairs()
            first = (GLib.Variant('a(ss)', pairs) if m == 'AttachDisks'
                     else GLib.Variant('as', [k for k, _ in pairs]))
            return (self.rng.randrange(len(self.hosts)), self.lease_object_path(), LEASE_IFACE,
                    m, [first, self.options_dict(self.options[m])])
        host = self.rng.randrange(len(self.hosts))
        return host, self.lease_object_path(), LEASE_IFACE, m, [self.options_dict(self.options[m])]

    def other_call(self):
        host = self.rng.randrange(len(self.hosts))
        r = self.rng.random()
        if r < 0.3:
            return host, MANAGER_PATH, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects', []
        if r < 0.6:
            return (host, self.lease_object_path(), 'org.freedesktop.DBus.Properties', 'GetAll',
                    [GLib.Variant('s', self.pick([LEASE_IFACE, MANAGER_IFACE, '', self.odd_string()]))])
        if r < 0.8:
            return (host, self.pick([MANAGER_PATH, self.lease_object_path()]),
                    'org.freedesktop.DBus.Properties', 'Set',
                    [GLib.Variant('s', LEASE_IFACE), GLib.Variant('s', 'State'),
                     GLib.Variant('v', GLib.Variant('s', 'held'))])
        # a known method with the wrong signature
        self.note('wrong-signature')
        m = self.pick(['Acquire', 'Transfer', 'Inquire'])
        return host, self.lease_object_path(), LEASE_IFACE, m, [
            self.value_of_type(self.pick(['s', 'u', 'a{sv}', 'ay']))]

    def next_call(self):
        r = self.rng.random()
        if r < 0.62:
            return self.lease_call()
        if r < 0.92:
            return self.manager_call()
        return self.other_call()

    def send_one(self):
        self.last_token_mutated = False
        host, path, iface, method, args = self.next_call()
        params = GLib.Variant.new_tuple(*args) if args else None
        flags = Gio.DBusCallFlags.NONE
        if self.rng.random() < 0.05:
            flags = Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
        label = method
        if method == 'Transfer' and self.last_token_mutated and len(args) == 3 \
                and args[1].get_string() != '':
            label = 'Transfer(mutated token)'
        self.last_token_mutated = False
        ctx = (host, label, args, path)
        self.sent += 1
        self.inflight += 1
        self.conns[host].call(BUS_NAME, path, iface, method, params, None, flags,
                              self.timeout_ms, None, self.on_reply, ctx)

    def on_reply(self, conn, res, ctx):
        self.inflight -= 1
        try:
            self.take_reply(conn, res, ctx)
            self.refill()
        except Exception:
            # a bug of the fuzzer itself: PyGObject would print it and go on,
            # and the run would stall; end it loudly instead
            self.crash = traceback.format_exc()
            self.loop.quit()

    def take_reply(self, conn, res, ctx):
        host, label, args, path = ctx
        try:
            reply = conn.call_finish(res)
            self.count(label, 'ok')
            if label.startswith('Transfer'):
                tok = reply.unpack()[0]
                step = args[0].get_string()
                if tok and path.startswith(LEASE_PATH_PREFIX):
                    self.harvest(tok, step, host, path)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            if name:
                short = name[len(ERROR_PREFIX):] if name.startswith(ERROR_PREFIX) else name
                self.count(label, short)
                if short == 'org.freedesktop.DBus.Error.LimitsExceeded' and conn is self.conns[host]:
                    self.reconnect(host)
                self.samples.setdefault('%s %s' % (label, short), e.message[:300])
            elif e.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT):
                self.count(label, 'client-timeout')
            else:
                self.count(label, 'local:%s' % e.message[:80])

    def connect(self, host):
        return Gio.DBusConnection.new_for_address_sync(
            self.hosts[host]['address'], Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def reconnect(self, host):
        """The bus refuses more calls on this connection: 128 calls that
        vmleased has not answered yet (the client timed out, the bus did
        not). Leave the bus with them -- vmleased then has calls of a caller
        who left -- and go on with a new connection."""
        old = self.conns[host]
        self.conns[host] = self.connect(host)
        self.reconnects += 1
        old.close(None, None, None)

    def harvest(self, tok, step, host, path):
        """Keep a real token (the newest 64)."""
        u = path[len(LEASE_PATH_PREFIX):].replace('_', '-')
        if len(self.tokens) >= 64:
            self.tokens.pop(0)
        self.tokens.append((tok, step, host, u))
        self.harvested += 1

    def refill(self):
        while self.sent < self.budget and self.inflight < self.inflight_max:
            self.send_one()
        if self.sent >= self.budget and self.inflight == 0:
            self.loop.quit()

    # -- the run ---------------------------------------------------------------
    def first_refill(self):
        try:
            self.refill()
        except Exception:
            self.crash = traceback.format_exc()
            self.loop.quit()
        return False

    def start_stand_ins(self):
        for _ in range(self.spec.get('stand_ins', 3)):
            p = subprocess.Popen(['sleep', '100000'], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.stand_ins.append(p)
            self.pids.append(p.pid)

    def stop_stand_ins(self):
        for p in self.stand_ins:
            try:
                p.send_signal(signal.SIGKILL)
            except OSError:
                pass
            p.wait()

    def run(self):
        self.start_stand_ins()
        for k in range(len(self.hosts)):
            self.conns.append(self.connect(k))
        t0 = time.monotonic()
        GLib.idle_add(self.first_refill)
        self.loop.run()
        if self.crash:
            sys.stderr.write('fuzz_worker (%s, seed %d) broke after %d calls:\n%s'
                             % (self.identity, self.spec['seed'], self.sent, self.crash))
            self.stop_stand_ins()
            sys.exit(3)
        seconds = time.monotonic() - t0
        self.stop_stand_ins()
        for c in self.conns:
            c.close_sync(None)
        return {'identity': self.identity, 'uid': os.getuid(), 'seed': self.spec['seed'],
                'calls': self.sent, 'seconds': round(seconds, 2), 'counts': self.counts,
                'mutations': self.mutations, 'samples': self.samples,
                'reconnects': self.reconnects,
                'tokens_harvested': self.harvested}


def main():
    spec = json.loads(sys.stdin.read())
    result = Fuzzer(spec).run()
    print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == '__main__':
    main()
