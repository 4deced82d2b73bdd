# SPDX-License-Identifier: LGPL-2.1-or-later
"""The library's examples, run as a user would run them, against hosts 1
and 2 of the sandbox, their output checked line by line:
docs/examples/vmlease-demo.py, the done-when script (its own process, the
typelib and library of this build found through GI_TYPELIB_PATH and
LD_LIBRARY_PATH), and docs/examples/vmlease-virt-manager.c as built."""

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile

from conftest import BASE_ENV, BUILD_DIR, LOCKSPACE, PYTHON, REPO


def _allow_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _backtrace(binary, cwd):
    """gdb's backtrace of every thread from a core the example left in cwd."""
    cores = [f for f in os.listdir(cwd) if f.startswith('core')]
    if not cores or not shutil.which('gdb'):
        return '(no core file in %s%s)' % (cwd, '' if shutil.which('gdb') else ', no gdb')
    r = subprocess.run(['gdb', '-batch', '-q', '-ex', 'thread apply all bt', binary,
                        os.path.join(cwd, cores[0])], capture_output=True, text=True,
                       timeout=120)
    return r.stdout[-12000:] + r.stderr[-2000:]


def run_example(argv, env):
    """Run an example in a process group of its own, its output into files
    (the VM stand-ins it starts must not keep a pipe open after it ended);
    afterwards, or after 120 s, kill whatever of the group is left. A crash
    comes with gdb's backtrace (core files go to the working directory
    when kernel.core_pattern is a plain name)."""
    with tempfile.TemporaryDirectory(prefix='vmlexample.') as cwd, \
            tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, text=True, start_new_session=True,
                             preexec_fn=_allow_core)
        try:
            p.wait(timeout=120)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        if p.returncode < 0:
            binary = argv[0] if argv[0] != PYTHON else PYTHON
            stderr += '\n%s died of signal %d; its backtrace:\n%s' % (
                os.path.basename(argv[-4]), -p.returncode, _backtrace(binary, cwd))
    print(stdout, stderr)
    assert not timed_out, '%s did not end within 120 s; it printed:\n%s%s' % (
        os.path.basename(argv[-4]), stdout, stderr)
    return subprocess.CompletedProcess(argv, p.returncode, stdout, stderr)


DEMO = os.path.join(REPO, 'docs', 'examples', 'vmlease-demo.py')
C_EXAMPLE = os.path.join(BUILD_DIR, 'lib', 'vmlease-virt-manager')


def test_demo_script(hosts):
    h1, h2, _ = hosts
    with open(DEMO) as f:
        lines = f.read().splitlines()
    assert len(lines) < 30, 'the demo has %d lines' % len(lines)
    lib = os.path.join(BUILD_DIR, 'lib')
    env = dict(BASE_ENV, GI_TYPELIB_PATH=lib, LD_LIBRARY_PATH=lib)
    r = run_example([PYTHON, '-u', DEMO, h1.address, h2.address, LOCKSPACE], env)
    assert r.returncode == 0, 'demo failed (%d):\n%s%s' % (r.returncode, r.stdout, r.stderr)
    out = r.stdout.splitlines()
    assert len(out) == 4, out
    assert out[0].startswith('host 1 holds ') and out[0].endswith(' fence pid True'), out
    assert out[1] == 'lost: revoked kill', out
    assert out[2] == 'VM fenced: True', out
    assert out[3] == 'migrated: held', out
    assert r.stderr == '', r.stderr


def test_c_example(hosts):
    h1, h2, _ = hosts
    assert os.access(C_EXAMPLE, os.X_OK), '%s is missing: build first' % C_EXAMPLE
    r = run_example([C_EXAMPLE, h1.address, h2.address, LOCKSPACE], dict(BASE_ENV))
    assert r.returncode == 0, 'example failed (%d):\n%s%s' % (r.returncode, r.stdout, r.stderr)
    out = r.stdout.splitlines()
    assert len(out) == 4, out
    assert out[0].startswith('host 1 holds '), out
    assert out[1].startswith('lost: revoked: '), out
    assert out[2] == 'VM fenced: yes', out
    assert out[3].startswith('migrated ') and out[3].endswith(' to host 2'), out
    assert r.stderr == '', r.stderr
