#!/usr/bin/env python3
# vmlease-demo.py BUS1 BUS2 [LOCKSPACE]: libvmlease from Python on two hosts (docs/libvmlease.md).
import subprocess, sys, uuid
import gi
gi.require_version('Vmlease', '1.0')
from gi.repository import Vmlease

one, two = (Vmlease.Client.new_for_address_sync(a, None) for a in sys.argv[1:3])
lockspace = sys.argv[3] if sys.argv[3:] else 'sandbox'          # joined on both hosts
vms = [subprocess.Popen(['sleep', '600']) for _ in range(3)]  # stand-ins for QEMU
a, b = str(uuid.uuid4()), str(uuid.uuid4())
lease = one.create_lease_sync(a, lockspace, 'demo-a', None)  # 1. take it, VM as fence target
lease.acquire_sync(Vmlease.AcquireOptions(pid=vms[0].pid, fence=Vmlease.Fence.KILL), None)
print('host 1 holds', a, 'fence pid', lease.inquire_sync(None).unpack()['fence_pid'] == vms[0].pid)
lease.connect('lost', lambda _, reason, d: print('lost:', reason.value_nick, d.unpack()['fence']))
two.get_lease_sync(a, None).acquire_sync(Vmlease.AcquireOptions(force=True, wait=60), None)
lease.wait_lost_sync(30000, None)                            # 2. host 2 seized it
print('VM fenced:', vms[0].wait() == -9)
one.create_lease_sync(b, lockspace, 'demo-b', None).acquire_sync(Vmlease.AcquireOptions(pid=vms[1].pid), None)
m = Vmlease.Migration.new(one, two, b)                       # 3. migrate b to host 2
m.begin_sync(None)                                           # destination QEMU up (-S -incoming)
m.prepare_sync(Vmlease.TransferOptions(pid=vms[2].pid), None)  # its pid: fence target
m.perform_sync(False, None)                                  # source STOP event
m.finish_sync(True, None)                                    # then cont on the destination
m.confirm_sync(True, None)                                   # source MIGRATION completed
print('migrated:', two.get_lease_sync(b, None).inquire_sync(None).unpack()['state'])
for u in (a, b):
    two.get_lease_sync(u, None).release_sync(None) and two.delete_lease_sync(u, None)
[vm.kill() for vm in vms]
