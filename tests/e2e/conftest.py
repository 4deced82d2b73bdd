# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the end-to-end tests with real QEMU (docs/e2e.md).

The sandbox machinery is the integration suite's (tests/integration/
conftest.py: Sandbox, Host, Storage, start_sandbox, stop_sandbox), loaded
here under another module name, and so is its hand-off Observer
(tests/integration/test_transfer.py), so that both suites check a lease the
same way. One 2-host sandbox (io_timeout 1) serves every e2e test of a
session. A missing part (no build, no QEMU, no binutils, not root) FAILS
the tests, never skips them.
"""

import contextlib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.realpath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), 'integration')
sys.path.insert(0, HERE)

import vmlqemu  # noqa: E402


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# test_transfer.py imports its helpers as "conftest": let that name be the
# integration conftest while it loads, then give it back to pytest's.
it = _load('vml_integration_conftest', os.path.join(INTEGRATION, 'conftest.py'))
_ours = sys.modules.get('conftest')
sys.modules['conftest'] = it
try:
    transfer = _load('vml_integration_transfer', os.path.join(INTEGRATION, 'test_transfer.py'))
finally:
    if _ours is not None:
        sys.modules['conftest'] = _ours
    else:
        del sys.modules['conftest']

N_HOSTS = 2

# The integration suite's SIGTERM handling (meson's timeout still tears the
# sandbox down) and its per-test vmleased logs on failure.
pytest_configure = it.pytest_configure
pytest_runtest_makereport = it.pytest_runtest_makereport


@pytest.fixture(scope='session')
def sandbox():
    for p in (os.path.join(it.BUILD_DIR, 'service', 'vmleased'),
              os.path.join(it.BUILD_DIR, 'service', 'holder', 'vmlease-holder')):
        if not os.access(p, os.X_OK):
            pytest.fail('%s is missing: build first (VMLEASE_BUILD_DIR=%s)'
                        % (p, it.BUILD_DIR), pytrace=False)
    for p in (it.SANDBOX_TOOL, it.SANLOCK, vmlqemu.QEMU, vmlqemu.AS, vmlqemu.LD):
        if not os.path.exists(p):
            pytest.fail('%s is missing (tools/install-deps installs it)' % p, pytrace=False)
    if os.geteuid() != 0:
        pytest.fail('the e2e tests run the sandbox, which needs root', pytrace=False)
    sb = it.Sandbox(tempfile.mkdtemp(prefix='vmle2e.', dir='/tmp'))
    try:
        it.start_sandbox(sb, N_HOSTS, label='e2e sandbox')
        sb.storage = it.Storage(sb)
        it._SANDBOX = sb
        yield sb
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        it._SANDBOX = None
        res = it.stop_sandbox(sb, 'e2e')
        if not res.clean:
            sys.stderr.write('%s\n' % res)
        if res.reports:
            pytest.fail('vmleased reported memory or undefined-behaviour errors:\n  %s'
                        % '\n  '.join(res.reports), pytrace=False)


sb = it.sb
hosts = it.hosts
storage = it.storage
leases = it.leases
hand_leases = transfer.hand_leases


@pytest.fixture(scope='session')
def guest_kernel():
    """guest.s, assembled and linked now; prints the accelerator QEMU uses."""
    d = tempfile.mkdtemp(prefix='vmlguest.', dir='/tmp')
    try:
        elf = vmlqemu.build_guest(d)
        accel = vmlqemu.accelerator()
        sys.stderr.write('e2e: QEMU %s, accelerator %s (%s)\n' % (
            vmlqemu.QEMU, accel, '/dev/kvm usable' if accel == 'kvm'
            else 'no usable /dev/kvm: TCG'))
        yield elf
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def qemus(guest_kernel):
    """start(name, incoming=False) -> a Qemu running the guest (or waiting
    for it) in a short-pathed directory of this test; all of them are ended
    afterwards, their logs attached to a failure's output."""
    d = tempfile.mkdtemp(prefix='vmlq.', dir='/tmp')
    started = []

    def start(name, incoming=False):
        vm = vmlqemu.Qemu(d, name, guest_kernel, incoming=incoming)
        started.append(vm)
        return vm
    start.dir = d
    start.kernel = guest_kernel
    yield start
    for vm in started:
        with contextlib.suppress(Exception):
            vm.quit()
        with contextlib.suppress(OSError), open(vm.log_path, errors='replace') as f:
            text = f.read().strip()
            if text:
                sys.stderr.write('%s log: %s\n' % (vm.name, text[-2000:]))
    shutil.rmtree(d, ignore_errors=True)
