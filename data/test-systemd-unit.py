#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check the generated vmleased.service with systemd's own tools.

  1. `systemd-analyze verify` must print nothing and exit 0. verify insists
     that ExecStart's program exists and that every Documentation= man page
     can be found by man(1); the unit names the installed path
     (@sbindir@/vmleased), which need not exist here, so verify runs on a
     copy in a temporary directory that differs in that one line (the built
     vmleased), with MANPATH at the man pages built by this build.
  2. `systemd-analyze security --offline=yes` on the same copy: the table is
     printed, and the overall exposure must be MAX_EXPOSURE or lower.
  3. The settings the service's correctness depends on, which a hardening
     edit could break without any other test noticing: Type=dbus with the
     bus name, KillMode=process (holders survive a stop), the runtime
     directory kept over a stop, a watchdog with NotifyAccess=main, CAP_KILL
     (fencing), block devices not hidden.

Usage: test-systemd-unit.py UNIT BUILT_VMLEASED MAN_BUILD_DIR SYSTEMD_ANALYZE MAX_EXPOSURE
"""

import os
import re
import sys
import tempfile

from vmltest_support import arguments, check, finish, run


def settings(text):
    """[(section, key, value)] of a unit file, in order."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('['):
            section = line.strip('[]')
            continue
        key, _, value = line.partition('=')
        out.append((section, key.strip(), value.strip()))
    return out


def values(items, section, key):
    return [v for s, k, v in items if s == section and k == key]


def one(items, section, key):
    v = values(items, section, key)
    return v[-1] if v else None


def test_copy(unit_text, built, tmp):
    lines = unit_text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith('ExecStart=')]
    check(len(starts) == 1, 'the unit has one ExecStart= line')
    if len(starts) != 1:
        return None
    installed = lines[starts[0]][len('ExecStart='):].split()[0]
    check(os.path.isabs(installed) and os.path.basename(installed) == 'vmleased',
          'ExecStart= runs an absolute path to vmleased: ' + installed)
    lines[starts[0]] = 'ExecStart=%s\n' % built
    path = os.path.join(tmp, 'vmleased.service')
    with open(path, 'w') as f:
        f.writelines(lines)
    return path


def man_dir(unit_items, man_build_dir, tmp):
    """A MANPATH holding the built pages that Documentation= names."""
    root = os.path.join(tmp, 'man')
    for doc in ' '.join(values(unit_items, 'Unit', 'Documentation')).split():
        m = re.fullmatch(r'man:([^()]+)\((\d)\)', doc)
        if not m:
            continue
        name, section = m.groups()
        built = os.path.join(man_build_dir, '%s.%s' % (name, section))
        check(os.path.exists(built), 'Documentation= %s is built by this build' % doc)
        os.makedirs(os.path.join(root, 'man' + section), exist_ok=True)
        if os.path.exists(built):
            os.symlink(built, os.path.join(root, 'man' + section, os.path.basename(built)))
    return root


def analyze(argv, env):
    """Runs systemd-analyze, its output shown in the log; (status, stdout, stderr)."""
    r = run(argv, show=True, timeout=60, env=env)
    return r.returncode, r.stdout, r.stderr


def main():
    unit, built, man_build_dir, systemd_analyze, max_exposure = arguments(5)
    max_exposure = float(max_exposure)
    unit_text = open(unit, encoding='utf-8').read()
    items = settings(unit_text)

    with tempfile.TemporaryDirectory(prefix='vmlease-unit-') as tmp:
        copy = test_copy(unit_text, built, tmp)
        if copy is None:
            sys.exit('cannot make the test copy of %s' % unit)

        env = dict(os.environ, MANPATH=man_dir(items, man_build_dir, tmp),
                   SYSTEMD_LOG_LEVEL='info', SYSTEMD_COLORS='0', LC_ALL='C.UTF-8')
        rc, out, err = analyze([systemd_analyze, 'verify', copy], env)
        check(rc == 0 and not (out + err).strip(),
              'systemd-analyze verify: exit %d, %s' % (rc, 'no messages' if not (out + err).strip()
                                                       else 'messages above'))

        rc, out, err = analyze([systemd_analyze, 'security', '--offline=yes', copy], env)
        m = re.search(r'Overall exposure level for vmleased\.service: (\d+(?:\.\d+)?)', out)
        check(m is not None, 'systemd-analyze security printed an overall exposure level')
        if m:
            exposure = float(m.group(1))
            check(exposure <= max_exposure,
                  'exposure %.1f is %.1f or lower' % (exposure, max_exposure))

    check(one(items, 'Service', 'Type') == 'dbus', 'Type=dbus')
    check(one(items, 'Service', 'BusName') == 'org.example.VMLease',
          'BusName=org.example.VMLease')
    check(one(items, 'Service', 'KillMode') == 'process',
          'KillMode=process: stopping vmleased leaves the holders (and leases) alone')
    check(one(items, 'Service', 'RuntimeDirectory') == 'vmleased'
          and one(items, 'Service', 'RuntimeDirectoryPreserve') == 'yes',
          'RuntimeDirectory=vmleased, kept over a stop (RuntimeDirectoryPreserve=yes)')
    check(one(items, 'Service', 'WatchdogSec') not in (None, '', '0', 'infinity')
          and one(items, 'Service', 'NotifyAccess') == 'main',
          'WatchdogSec= set, NotifyAccess=main (holders cannot notify)')
    caps = ' '.join(values(items, 'Service', 'CapabilityBoundingSet')).split()
    check('CAP_KILL' in caps and not any(c.startswith('~') for c in caps),
          'CapabilityBoundingSet= is an allow list with CAP_KILL (fencing): %s' % caps)
    check(one(items, 'Service', 'PrivateDevices') in (None, 'no', 'false')
          and any(v.startswith('block-') for v in values(items, 'Service', 'DeviceAllow')),
          'block devices stay visible and readable (no PrivateDevices=yes, DeviceAllow=block-...)')
    finish()


if __name__ == '__main__':
    main()
