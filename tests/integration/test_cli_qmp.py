# test_cli_qmp.py: vmleasectl's --qmp on the hand-off commands (transfer
# prepare, transfer finish, migrate) reaches the destination's holder: when
# another host seizes the lease, that holder pauses the VM through QMP
# 'stop', not SIGSTOP. The QMP-serving VM stand-in is test_run.py's.
import os

from conftest import ctl, proc_stat, wait_until
from test_run import _commands, _seize, qmp_vm  # noqa: F401 (qmp_vm: a fixture)


def assert_qmp_paused(h_dest, h_seizer, u, vm, log):
    """h_dest holds u with vm as its pause fence through QMP: h_seizer
    seizes it, and h_dest's holder pauses vm with QMP 'stop', not SIGSTOP
    (as test_run.py's test_qmp_given_at_finish_reaches_the_holder checks)."""
    p = h_dest.lease_props(u)
    assert (p['State'], p['FencePid'], p['Fence']) == ('held', vm.pid, 'pause'), p
    at = h_dest.log_size()
    _seize(h_seizer, u)
    wait_until(lambda: 'paused VM process %d (QMP stop)' % vm.pid in h_dest.log_since(at), 10,
               what="the holder's QMP fence in host %d's log" % h_dest.id)
    assert 'stop' in _commands(log), _commands(log)
    assert 'SIGSTOP' not in h_dest.log_since(at), h_dest.log_since(at)
    assert proc_stat(vm.pid)[0] != 'T', proc_stat(vm.pid)
    h_seizer.release(u)


def _handoff(hosts, u, prepare_args, finish_args):
    h1, h2, h3 = hosts
    t1 = ctl(h1, 'transfer', 'begin', u, check=0).stdout.strip()
    t2 = ctl(h2, 'transfer', 'prepare', u, t1, *prepare_args, check=0).stdout.strip()
    t3 = ctl(h1, 'transfer', 'perform', u, t2, check=0).stdout.strip()
    t4 = ctl(h2, 'transfer', 'finish', u, t3, *finish_args, check=0).stdout.strip()
    ctl(h1, 'transfer', 'confirm', u, t4, check=0)


def _held_on_1(hosts, leases):
    h1, h2, h3 = hosts
    u = leases()
    h1.create(u)
    h2.get_lease(u)
    h3.get_lease(u)
    h1.acquire(u)
    return u


def test_transfer_prepare_qmp_reaches_the_holder(hosts, leases, qmp_vm):
    u = _held_on_1(hosts, leases)
    vm, sock, log = qmp_vm()
    _handoff(hosts, u, ['--pid', str(vm.pid), '--fence', 'pause', '--qmp', sock], [])
    assert_qmp_paused(hosts[1], hosts[2], u, vm, log)


def test_transfer_finish_qmp_reaches_the_holder(hosts, leases, qmp_vm):
    u = _held_on_1(hosts, leases)
    vm, sock, log = qmp_vm()
    _handoff(hosts, u, [], ['--pid', str(vm.pid), '--fence', 'pause', '--qmp', sock])
    assert_qmp_paused(hosts[1], hosts[2], u, vm, log)


def test_migrate_qmp_reaches_the_holder(sb, hosts, leases, qmp_vm):
    h1, h2, h3 = hosts
    u = _held_on_1(hosts, leases)
    vm, sock, log = qmp_vm()
    env = {h.id: os.path.join(sb.dir, 'host%d.env' % h.id) for h in hosts}
    ctl(h3, 'migrate', '--from', env[1], '--to', env[2], u, '--pid', str(vm.pid),
        '--fence', 'pause', '--qmp', sock, check=0)
    assert_qmp_paused(h2, h3, u, vm, log)
