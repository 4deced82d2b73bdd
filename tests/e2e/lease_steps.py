# SPDX-License-Identifier: LGPL-2.1-or-later
"""The lease hooks of a live migration (vmlqemu.Migration) done with
vmlease: Transfer steps on the source's and the destination's vmleased,
over D-Bus, as a virt manager makes them (docs/e2e.md, docs/api.md
"Transfer: the migration hand-off"). Used by tests/e2e and bench/migrate.

@src and @dst are tests/integration/conftest.py Host objects (anything with
its raw_call()).
"""

import time

import gi
gi.require_version('GLib', '2.0')
from gi.repository import GLib  # noqa: E402

LEASE_IFACE = 'org.example.VMLease'
LEASE_PATH_PREFIX = '/org/example/VMLease/vm/'


def transfer(host, u, step, token='', timeout_ms=30000, **options):
    """Transfer(step, token, options) on @host; returns the next token."""
    conv = {bool: 'b', int: 'u', str: 's'}
    opts = {k: GLib.Variant(conv[type(v)], v) for k, v in options.items()}
    return host.raw_call(LEASE_PATH_PREFIX + u.replace('-', '_'), LEASE_IFACE,
                         'Transfer', 'ssa{sv}', [step, token, opts], reply='(s)',
                         timeout_ms=timeout_ms)[0]


class LeaseHandoff:
    """begin + prepare (the destination QEMU as fence pid) before the
    destination listens; perform at the source's STOP; finish right after;
    confirm after completion. Keeps every token and how long each call
    took (ms)."""

    def __init__(self, src, dst, u, postcopy=False, fence='kill'):
        self.src, self.dst, self.u = src, dst, u
        self.postcopy = postcopy
        self.fence = fence
        self.tokens = {}
        self.ms = {}
        self.confirm_answer = None

    def _step(self, host, step, token='', **options):
        t0 = time.monotonic()
        r = transfer(host, self.u, step, token, **options)
        self.ms[step] = (time.monotonic() - t0) * 1000
        self.tokens[step] = r
        return r

    def prepare(self, dst_pid):
        t1 = self._step(self.src, 'begin')
        self._step(self.dst, 'prepare', t1, pid=dst_pid, fence=self.fence)

    def at_stop(self):
        self._step(self.src, 'perform', self.tokens['prepare'], postcopy=self.postcopy)

    def finish(self):
        self._step(self.dst, 'finish', self.tokens['perform'])

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
