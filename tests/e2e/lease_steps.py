# SPDX-License-Identifier: LGPL-2.1-or-later
"""The lease hooks of a live migration (vmlqemu.Migration) done with
vmlease: Transfer steps on the source's and the destination's vmleased,
over D-Bus, as a virt manager makes them (docs/e2e.md, docs/api.md
"Transfer: the migration hand-off"). Used by tests/e2e and bench/migrate.

@src and @dst are tests/integration/conftest.py Host objects (anything with
its raw_call()).
"""

import sys
import time

import gi
gi.require_version('GLib', '2.0')
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.example.VMLease'
LEASE_IFACE = 'org.example.VMLease'
LEASE_PATH_PREFIX = '/org/example/VMLease/vm/'


def _options(options):
    """Python values as Transfer's a{sv}: bool b, int u, str s."""
    conv = {bool: 'b', int: 'u', str: 's'}
    return {k: GLib.Variant(conv[type(v)], v) for k, v in options.items()}


def transfer(host, u, step, token='', timeout_ms=30000, **options):
    """Transfer(step, token, options) on @host; returns the next token."""
    return host.raw_call(LEASE_PATH_PREFIX + u.replace('-', '_'), LEASE_IFACE,
                         'Transfer', 'ssa{sv}', [step, token, _options(options)], reply='(s)',
                         timeout_ms=timeout_ms)[0]


class _Pending:
    """Transfer(step, token, options) on @host, built now and sent by
    send() without waiting for its answer: GDBus's asynchronous call, its
    answer dispatched in a main context of its own, which result() runs
    until the answer came. A virt manager builds the calls it sends at the
    source's STOP beforehand, so that only sending them is left for the
    guest's pause. result() returns the next token, or raises the call's
    error as Host.raw_call would."""

    def __init__(self, host, u, step, token='', timeout_ms=30000, **options):
        self.host, self.step = host, step
        self.timeout_ms = timeout_ms
        self.answer = None
        self.t0 = self.t1 = None
        self._ctx = GLib.MainContext.new()
        self._msg = Gio.DBusMessage.new_method_call(
            BUS_NAME, LEASE_PATH_PREFIX + u.replace('-', '_'), LEASE_IFACE, 'Transfer')
        self._msg.set_body(GLib.Variant('(ssa{sv})', (step, token, _options(options))))

    def send(self):
        self.t0 = time.monotonic()
        self._ctx.push_thread_default()
        try:
            self.host.conn.send_message_with_reply(self._msg, Gio.DBusSendMessageFlags.NONE,
                                                   self.timeout_ms, None, self._answered)
        finally:
            self._ctx.pop_thread_default()
        return self

    def _answered(self, conn, result):
        self.t1 = time.monotonic()
        self.answer = result

    def result(self):
        while self.answer is None:
            self._ctx.iteration(True)
        try:
            reply = self.host.conn.send_message_with_reply_finish(self.answer)
            reply.to_gerror()
            return reply.get_body().unpack()[0]
        except GLib.Error as e:
            conftest = sys.modules[type(self.host).__module__]
            raise conftest._convert_error(e, '%s.Transfer %s on host %d'
                                          % (LEASE_IFACE, self.step, self.host.id)) from None

    @property
    def ms(self):
        return ((self.t1 or time.monotonic()) - self.t0) * 1000


class LeaseHandoff:
    """begin + prepare (the destination QEMU as fence pid) before the
    destination listens; perform at the source's STOP, with finish side by
    side (prepare's token and a wait: it answers once the source let go);
    confirm after completion. With early_finish=False, finish follows
    perform's answer with perform's token instead. Keeps every token and
    how long each call took (ms)."""

    FINISH_WAIT_S = 10

    def __init__(self, src, dst, u, postcopy=False, fence='kill', early_finish=True,
                 resume=True):
        self.src, self.dst, self.u = src, dst, u
        self.postcopy = postcopy
        self.fence = fence
        self.early_finish = early_finish
        self.resume = resume
        self.tokens = {}
        self.ms = {}
        self.confirm_answer = None
        self._performing = self._finishing = None

    def _step(self, host, step, token='', **options):
        t0 = time.monotonic()
        r = transfer(host, self.u, step, token, **options)
        self.ms[step] = (time.monotonic() - t0) * 1000
        self.tokens[step] = r
        return r

    def prepare(self, dst):
        """@dst: the destination QEMU (vmlqemu.Qemu), the fence's target;
        its second monitor is vmleased's (a pause fence, resume)."""
        t1 = self._step(self.src, 'begin')
        t2 = self._step(self.dst, 'prepare', t1, pid=dst.pid, fence=self.fence,
                        qmp=dst.lease_qmp_path, resume=self.resume)
        # the calls of the source's STOP, built ahead
        self._performing = _Pending(self.src, self.u, 'perform', t2, postcopy=self.postcopy)
        if self.early_finish:
            self._finishing = _Pending(self.dst, self.u, 'finish', t2,
                                       wait=self.FINISH_WAIT_S, resume=self.resume)

    def at_stop(self):
        performing, self._performing = self._performing.send(), None
        if self._finishing is not None:
            self._finishing.send()
        self.tokens['perform'] = performing.result()
        self.ms['perform'] = performing.ms

    def finish(self):
        if self._finishing is not None:
            finishing, self._finishing = self._finishing, None
            self.tokens['finish'] = finishing.result()
            self.ms['finish'] = finishing.ms
        else:
            self._step(self.dst, 'finish', self.tokens['perform'], resume=self.resume)

    def confirm(self, completed):
        """After a completed migration, pre-copy or post-copy alike."""
        if not completed:
            return
        self._step(self.src, 'confirm', self.tokens['finish'])
        self.confirm_answer = 'ok'

    def cancel(self, wait=10):
        """Undo before the point of no return: the destination first (it
        lets go of its share), then the source (takes it back)."""
        for host in (self.dst, self.src):
            transfer(host, self.u, 'cancel', '', wait=wait, timeout_ms=(wait + 30) * 1000)
