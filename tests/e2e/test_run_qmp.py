# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vmleasectl run --fence pause --qmp SOCKET -- qemu-system-x86_64 ...` with
the real QEMU and guest of docs/e2e.md: a seize from the other host pauses
the guest through QMP `stop` (the QMP fence, docs/decisions.md "QMP
fence"), so QEMU stays alive and manageable: query-status says paused, the
process is not SIGSTOPped, the guest's counter stands still, and QEMU still
answers QMP. run exits 124 once QEMU ends, saying why.

QEMU gets two QMP monitors: one for the fence, one for this test. QEMU
serves one client per monitor, so a client parked on the fence's socket
would make the fence wait out its timeout and fall back to SIGSTOP."""

import os
import signal
import subprocess
import time

from conftest import it
import vmlqemu

LOST = 124


def test_seize_pauses_the_guest_through_qmp(sb, hosts, qemus, hand_leases):
    h1, h2 = hosts
    u = hand_leases()
    h1.create(u, options={'name': it.s('e2e-run-qmp')})
    h2.get_lease(u)
    fence_sock = os.path.join(qemus.dir, 'fence.qmp')
    test_sock = os.path.join(qemus.dir, 'test.qmp')
    kernel = qemus.kernel
    argv = [it.VMLEASECTL, 'run', u, '--fence', 'pause', '--qmp', fence_sock, '--',
            *vmlqemu.guest_argv('run-qmp', kernel, vmlqemu.accelerator(),
                                [fence_sock, test_sock])]
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8',
           'DBUS_SYSTEM_BUS_ADDRESS': h1.address}
    run = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    qmp = None
    try:
        qmp = vmlqemu.Qmp(test_sock)
        p = h1.lease_props(u)
        assert (p['State'], p['Fence']) == ('held', 'pause'), p
        pid = p['FencePid']
        assert it.proc_stat(pid)[1] == run.pid, 'the fence pid is not run\'s child'
        it.wait_until(lambda: vmlqemu.guest_status(qmp)['passes'] > 0, 30, what='guest up')
        assert qmp.cmd('query-status')['status'] == 'running'
        log_at = h1.log_size()

        t0 = time.monotonic()
        h2.acquire(u, {'force': it.b(True), 'wait': it.u32(60)}, timeout_ms=90000)
        print('seize took %.2f s' % (time.monotonic() - t0))

        it.wait_until(lambda: h1.lease_props(u)['State'] == 'lost', 10, what='lost on host 1')
        status = qmp.cmd('query-status')
        assert (status['status'], status['running']) == ('paused', False), status
        # Paused by QMP, not by SIGSTOP: the process runs and answers.
        assert it.proc_stat(pid)[0] != 'T', it.proc_stat(pid)
        a = vmlqemu.guest_status(qmp)
        time.sleep(0.3)
        b = vmlqemu.guest_status(qmp)
        assert a['passes'] == b['passes'] and b['errors'] == 0, (a, b)
        it.wait_until(lambda: 'guest paused with QMP stop on %s' % fence_sock
                      in h1.log_since(log_at), 10, what="vmleased's QMP fence in its log")
        # The holder fenced first (blocking is allowed there), by QMP too.
        assert 'paused VM process %d (QMP stop)' % pid in h1.log_since(log_at)
        assert 'SIGSTOP' not in h1.log_since(log_at)
        assert run.poll() is None, 'run ended while its paused QEMU lives'
        assert h2.lease_props(u)['State'] == 'held'

        # QEMU is still the manager's to end: run then exits with 124.
        qmp.cmd('quit')
        out, err = run.communicate(timeout=30)
        assert run.returncode == LOST, (run.returncode, err)
        assert 'lost (revoked)' in err and 'CMD (pid %d) fenced: pause' % pid in err, err
        h2.release(u)
    finally:
        if qmp is not None:
            qmp.close()
        if run.poll() is None:
            for child in [c for c in os.listdir('/proc') if c.isdigit()]:
                st = it.proc_stat(int(child))
                if st and st[1] == run.pid:
                    os.kill(int(child), signal.SIGKILL)
            run.kill()
            run.communicate()
