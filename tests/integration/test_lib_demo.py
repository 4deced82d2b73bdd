# SPDX-License-Identifier: LGPL-2.1-or-later
"""The library's examples, run as a user would run them, against hosts 1
and 2 of the sandbox, their output checked line by line:
docs/examples/vmlease-demo.py, the done-when script (its own process, the
typelib and library of this build found through GI_TYPELIB_PATH and
LD_LIBRARY_PATH), and docs/examples/vmlease-virt-manager.c as built."""

import os
import subprocess

from conftest import BASE_ENV, BUILD_DIR, LOCKSPACE, PYTHON, REPO

def run_example(argv, env):
    """Run an example; on a timeout, fail with what it printed so far."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        out, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError('%s did not end within 120 s; it printed:\n%s%s'
                             % (os.path.basename(argv[0]), out, err)) from None
    print(out, err)
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


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
