# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real QEMU for the end-to-end tests (tests/e2e) and bench/migrate: builds
the tiny guest (guest.s, assembled at run time with binutils), starts QEMU
processes with a QMP socket each, talks QMP (commands, and events with
QEMU's own timestamps), reads the guest's status block, and drives one
live migration between two QEMUs over a local unix socket, with or without
the lease steps at the instants docs/e2e.md describes.

Only Python's standard library: the lease steps are callables the caller
passes in (the tests use D-Bus through tests/integration/conftest.py,
bench/vml-bench-migrate the same), so this module knows nothing of vmlease.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
GUEST_SOURCE = os.path.join(HERE, 'guest.s')
QEMU = '/usr/bin/qemu-system-x86_64'
AS = '/usr/bin/as'
LD = '/usr/bin/ld'

# guest.s's status block (physical address) and its words
STATUS = 0x9000
GUEST_MAGIC = 0x474c4d56
CMOS_POKE = 0x40
# The guest's RAM: 32 MiB less 8 KiB, on purpose not a multiple of 256 KiB.
# QEMU 7.2's migration syncs a RAM block's dirty bitmap by whole 64-page
# words when the block's length is a multiple of 64 pages (256 KiB), and
# under TCG that fast path does not re-arm the TLB's dirty tracking: later
# guest writes through cached TLB entries go unrecorded and the destination
# gets stale pages. Any other length takes the page-by-page path, which
# does. Measured with tests/e2e/vml-stale-pages (docs/e2e.md, "Stale pages
# after a TCG pre-copy migration"). QEMU rounds -m to 8 KiB.
GUEST_RAM = '32760K'


class QemuError(Exception):
    pass


def build_guest(outdir):
    """Assembles and links guest.s into outdir/guest.elf; returns its path."""
    obj = os.path.join(outdir, 'guest.o')
    elf = os.path.join(outdir, 'guest.elf')
    for argv in ([AS, '--32', '-o', obj, GUEST_SOURCE],
                 [LD, '-m', 'elf_i386', '-N', '--no-warn-rwx-segments',
                  '-Ttext', '0x100000', '-e', '_start', '-o', elf, obj]):
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise QemuError('%s failed (exit %d): %s%s' % (
                ' '.join(argv), r.returncode, r.stdout, r.stderr))
    return elf


def kvm_usable():
    """True when /dev/kvm can be opened read-write (QEMU then uses KVM)."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def accelerator():
    return 'kvm' if kvm_usable() else 'tcg'


def event_time(ev):
    """An event's QEMU timestamp, seconds since the epoch (CLOCK_REALTIME,
    the clock of time.time())."""
    ts = ev['timestamp']
    return ts['seconds'] + ts['microseconds'] / 1e6


class Qmp:
    """A QMP connection: synchronous commands, and a reader thread that
    records every event (with QEMU's timestamp and the time it arrived)."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise QemuError('no QMP socket at %s after %d s' % (path, timeout))
                time.sleep(0.02)
        self.file = self.sock.makefile('rb')
        self.events = []
        self._cond = threading.Condition()
        self._replies = []
        self._closed = False
        greeting = json.loads(self.file.readline())
        if 'QMP' not in greeting:
            raise QemuError('not a QMP greeting: %r' % greeting)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.cmd('qmp_capabilities')

    def _read(self):
        try:
            for line in self.file:
                msg = json.loads(line)
                with self._cond:
                    if 'event' in msg:
                        msg['_received'] = time.time()
                        self.events.append(msg)
                    else:
                        self._replies.append(msg)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cmd(self, name, timeout=30, **args):
        """Runs a command; returns its 'return' value, raises QemuError on
        an 'error' reply or a closed connection."""
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        with self._cond:
            self._replies.clear()
            self.sock.sendall(json.dumps(msg).encode() + b'\n')
            end = time.monotonic() + timeout
            while not self._replies:
                if self._closed:
                    raise QemuError('QMP connection closed during %s' % name)
                left = end - time.monotonic()
                if left <= 0:
                    raise QemuError('no QMP reply to %s in %d s' % (name, timeout))
                self._cond.wait(left)
            reply = self._replies.pop(0)
        if 'error' in reply:
            raise QemuError('%s: %s' % (name, reply['error'].get('desc', reply['error'])))
        return reply.get('return')

    def hmp(self, command):
        return self.cmd('human-monitor-command', **{'command-line': command})

    def wait_event(self, pred, timeout=30, what='event', since=0):
        """The first event from index @since on for which pred(event) holds."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[since:]:
                    if pred(ev):
                        return ev
                left = end - time.monotonic()
                if left <= 0:
                    raise QemuError('timed out after %d s waiting for %s; events: %s'
                                    % (timeout, what, [e['event'] for e in self.events]))
                if self._closed:
                    raise QemuError('QMP connection closed waiting for %s' % what)
                self._cond.wait(min(left, 0.5))

    def wait_named(self, name, timeout=30, since=0, **data):
        def pred(ev):
            return ev['event'] == name and all(
                ev.get('data', {}).get(k) == v for k, v in data.items())
        return self.wait_event(pred, timeout, '%s %r' % (name, data or ''), since)

    def mark(self):
        """An index into the events: wait_event(since=mark) sees later ones."""
        with self._cond:
            return len(self.events)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)


def guest_argv(name, kernel, accel, qmp_paths, ram=GUEST_RAM):
    """The QEMU command line that runs the guest, with one QMP monitor (a
    unix socket server) per path of @qmp_paths."""
    argv = [QEMU, '-name', name, '-machine', 'pc', '-accel', accel,
            '-m', ('%dM' % ram) if isinstance(ram, int) else ram, '-smp', '1',
            '-nodefaults', '-no-user-config', '-display', 'none',
            '-kernel', kernel]
    for path in qmp_paths:
        argv += ['-qmp', 'unix:%s,server=on,wait=off' % path]
    return argv


def guest_status(qmp):
    """The guest's status block through @qmp: {'magic', 'passes', 'errors',
    'bad', 'fault'}."""
    out = qmp.hmp('xp /5wx 0x%x' % STATUS)
    words = [int(w, 16) for w in re.findall(r'0x([0-9a-fA-F]{8})\b', out)]
    if len(words) < 5:
        raise QemuError('unexpected xp output: %r' % out)
    return dict(zip(('magic', 'passes', 'errors', 'bad', 'fault'), words[:5]))


class Qemu:
    """One QEMU process running the guest (or waiting for it: incoming)."""

    def __init__(self, workdir, name, kernel, incoming=False, accel=None,
                 ram_mib=GUEST_RAM):
        self.name = name
        self.accel = accel or accelerator()
        self.qmp_path = os.path.join(workdir, name + '.qmp')
        # a second monitor, vmleased's: its pause fence and finish's resume
        self.lease_qmp_path = os.path.join(workdir, name + '.lease.qmp')
        self.log_path = os.path.join(workdir, name + '.log')
        argv = guest_argv(name, kernel, self.accel, [self.qmp_path, self.lease_qmp_path],
                          ram_mib)
        if incoming:
            # Paused until `cont`: the lease's finish comes first.
            argv += ['-S', '-incoming', 'defer']
        self.argv = argv
        for path in (self.qmp_path, self.lease_qmp_path):
            with contextlib_suppress():
                os.unlink(path)
        self._log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        try:
            self.qmp = Qmp(self.qmp_path)
        except Exception:
            self.kill()
            raise
        # MIGRATION events need the capability; set on both sides.
        self.set_capabilities(events=True)

    def __repr__(self):
        return '<qemu %s pid %d>' % (self.name, self.pid)

    def set_capabilities(self, **caps):
        self.qmp.cmd('migrate-set-capabilities', capabilities=[
            {'capability': k.replace('_', '-'), 'state': v} for k, v in caps.items()])

    def set_parameters(self, **params):
        self.qmp.cmd('migrate-set-parameters',
                     **{k.replace('_', '-'): v for k, v in params.items()})

    def status(self):
        return self.qmp.cmd('query-status')['status']

    def migration(self):
        return self.qmp.cmd('query-migrate')

    def guest(self):
        """The guest's status block: {'magic', 'passes', 'errors', 'bad',
        'fault'}."""
        return guest_status(self.qmp)

    def wait_guest_up(self, timeout=30):
        end = time.monotonic() + timeout
        while True:
            g = self.guest()
            if g['magic'] == GUEST_MAGIC and g['passes'] > 0:
                return g
            if time.monotonic() > end:
                raise QemuError('%s: the guest did not come up in %d s: %r (log %s)'
                                % (self.name, timeout, g, self.log_path))
            time.sleep(0.05)

    def poke_corruption(self):
        """Asks the guest to flip a bit of its working set (the negative
        control of guest.s)."""
        self.qmp.hmp('o /b 0x70 0x%x' % CMOS_POKE)
        self.qmp.hmp('o /b 0x71 0xa5')

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def quit(self):
        """Ends this QEMU (quit over QMP, then SIGKILL if it lingers)."""
        if self.proc.poll() is None:
            try:
                self.qmp.cmd('quit', timeout=5)
            except QemuError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        self.close()

    def close(self):
        self.qmp.close()
        self._log.close()


class contextlib_suppress:
    """contextlib.suppress(OSError), without importing it for one use."""

    def __enter__(self):
        return self

    def __exit__(self, t, v, tb):
        return t is not None and issubclass(t, OSError)


def guest_advancing(vm, seconds=0.3):
    """(before, after) status blocks @seconds apart."""
    a = vm.guest()
    time.sleep(seconds)
    return a, vm.guest()


# --- one migration --------------------------------------------------------------

class NoLease:
    """The lease hooks of a migration without vmlease (the raw series)."""

    def prepare(self, dst):
        pass

    def at_stop(self):
        pass

    def finish(self):
        pass

    def confirm(self, completed):
        pass


class Migration:
    """Drives src -> dst (both Qemu) over a unix socket, calling the lease
    hooks (an object like NoLease) at the instants the seeds require:

      1. lease.prepare(dst)       before the destination's migrate-incoming;
      2. lease.at_stop()          perform: at the source's STOP event, while
                                  QEMU still sends its last pages (or, with
                                  pause_before_switchover, at pre-switchover
                                  with QEMU waiting for us);
      3. lease.finish()           right after perform, before the
                                  destination's `cont`;
      4. lease.confirm(ok)        after the source says completed.

    The destination runs with -S, so it resumes only at our `cont`; a
    `cont` that comes while the incoming migration still runs makes QEMU
    start the guest the moment the migration completes (QEMU's autostart).
    Records wall-clock times of each step and QEMU's events for checks.
    """

    def __init__(self, src, dst, sock_path, lease=None, postcopy=False,
                 pause_before_switchover=False, max_bandwidth=None,
                 downtime_limit_ms=None, timeout=60, cont_at_stop=False):
        self.src, self.dst = src, dst
        self.sock_path = sock_path
        self.lease = lease or NoLease()
        self.postcopy = postcopy
        self.pause_before_switchover = pause_before_switchover
        self.max_bandwidth = max_bandwidth
        self.downtime_limit_ms = downtime_limit_ms
        self.timeout = timeout
        # a diagnostic (bench/migrate --lease-cpu-only), never a virt
        # manager's order: the destination's `cont` at STOP, as without a
        # lease, so that the lease's steps cost the guest only their CPU
        self.cont_at_stop = cont_at_stop
        self.times = {}       # step -> (start, end), time.time()
        self.src_mark = self.dst_mark = 0

    def _timed(self, step, fn, *args):
        t0 = time.time()
        r = fn(*args)
        self.times[step] = (t0, time.time())
        return r

    def setup(self):
        """Capabilities and parameters on both sides, the lease's prepare,
        the destination listening. Call start() next."""
        caps = {'postcopy_ram': self.postcopy}
        self.src.set_capabilities(pause_before_switchover=self.pause_before_switchover,
                                  **caps)
        self.dst.set_capabilities(**caps)
        params = {}
        if self.max_bandwidth is not None:
            params['max_bandwidth'] = self.max_bandwidth
        if self.downtime_limit_ms is not None:
            params['downtime_limit'] = self.downtime_limit_ms
        if params:
            self.src.set_parameters(**params)
        self._timed('prepare', self.lease.prepare, self.dst)
        self.src_mark, self.dst_mark = self.src.qmp.mark(), self.dst.qmp.mark()
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass
        self.dst.qmp.cmd('migrate-incoming', uri='unix:' + self.sock_path)
        self.dst.qmp.wait_named('MIGRATION', self.timeout, since=self.dst_mark,
                                status='setup')

    def start(self):
        self.times['migrate'] = (time.time(), time.time())
        self.src.qmp.cmd('migrate', uri='unix:' + self.sock_path)
        if self.postcopy:
            self.src.qmp.cmd('migrate-start-postcopy')

    def switchover(self):
        """Waits for the source's STOP, then perform, finish, `cont`, in
        that order, and returns when the destination has RESUMEd and the
        source completed (confirm called)."""
        q = self.src.qmp
        self.stop_event = q.wait_named('STOP', self.timeout, since=self.src_mark)
        if self.pause_before_switchover:
            q.wait_named('MIGRATION', self.timeout, since=self.src_mark,
                         status='pre-switchover')
        if self.cont_at_stop:
            self.dst.qmp.cmd('cont')
        self._timed('perform', self.lease.at_stop)
        if self.pause_before_switchover:
            q.cmd('migrate-continue', state='pre-switchover')
        self._timed('finish', self.lease.finish)
        self._timed('cont', self.dst.qmp.cmd, 'cont')
        self.resume_event = self.dst.qmp.wait_named('RESUME', self.timeout,
                                                    since=self.dst_mark)
        self.completed_event = q.wait_event(
            lambda ev: ev['event'] == 'MIGRATION' and
            ev['data']['status'] in ('completed', 'failed', 'cancelled'),
            self.timeout, 'the source migration to end', since=self.src_mark)
        ok = self.completed_event['data']['status'] == 'completed'
        self._timed('confirm', self.lease.confirm, ok)
        if not ok:
            raise QemuError('migration %s: %r' % (self.completed_event['data']['status'],
                                                  self.src.migration()))
        self.info = self.src.migration()
        return self

    def run(self):
        self.setup()
        self.start()
        return self.switchover()

    @property
    def pause_ms(self):
        """The guest's real pause: source STOP to destination RESUME, from
        QEMU's timestamps."""
        return (event_time(self.resume_event) - event_time(self.stop_event)) * 1000

    @property
    def qemu_downtime_ms(self):
        return self.info.get('downtime')

    def events(self, vm):
        mark = self.src_mark if vm is self.src else self.dst_mark
        return [e for e in vm.qmp.events[mark:]]
